/* The three-way merge of feature order: diff3 over sequences of unique ids.
 * Each side is diffed against base by the longest increasing subsequence (ids are unique,
 * so the LCS is an LIS: O(n log n)); the hunks of both sides are merged in base order. */
#include "merge.h"
#include "error.h"
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

/* A stretch of base [bs,be) that one side replaced by its own [ss,se). */
typedef struct hunk {
	size_t bs, be, ss, se;
} hunk;

typedef struct hunk_list {
	hunk *items;
	size_t count;
} hunk_list;

static int index_keys(umap_strmap *map, const char *const *keys, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		int existed;
		if (umap_strmap_put(map, keys[i], i, &existed))
			return UMAP_ENOMEM;
		if (existed)
			return umap_error_set(UMAP_EINVALID, "%s order lists %s twice", what, keys[i]);
	}
	return 0;
}

/* The hunks that turn base into `side`: the matched pairs are the longest run of side's
 * items whose base positions increase; everything between two matched pairs is a hunk. */
static int diff_side(hunk_list *out, const umap_strmap *base_index, size_t nbase,
		     const char *const *side, size_t nside)
{
	size_t *base_pos = malloc((nside + 1) * sizeof(*base_pos));
	size_t *side_pos = malloc((nside + 1) * sizeof(*side_pos));
	size_t *tails = malloc((nside + 1) * sizeof(*tails));  /* index into base_pos */
	size_t *prev = malloc((nside + 1) * sizeof(*prev));
	size_t *match_b = malloc((nside + 2) * sizeof(*match_b));
	size_t *match_s = malloc((nside + 2) * sizeof(*match_s));
	hunk *hunks = malloc((nside + 2) * sizeof(*hunks));
	int rc = 0;
	if (!base_pos || !side_pos || !tails || !prev || !match_b || !match_s || !hunks) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory (order merge of %zu items)", nside);
		goto done;
	}
	size_t m = 0;
	for (size_t j = 0; j < nside; j++) {
		size_t b;
		if (umap_strmap_get(base_index, side[j], &b)) {
			base_pos[m] = b;
			side_pos[m] = j;
			m++;
		}
	}
	/* Patience LIS: tails[k] is the element ending the best increasing run of length k+1. */
	size_t len = 0;
	for (size_t i = 0; i < m; i++) {
		size_t lo = 0, hi = len;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (base_pos[tails[mid]] < base_pos[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[i] = lo ? tails[lo - 1] : SIZE_MAX;
		tails[lo] = i;
		if (lo == len)
			len++;
	}
	size_t k = len;
	for (size_t i = len ? tails[len - 1] : SIZE_MAX; i != SIZE_MAX; i = prev[i]) {
		k--;
		match_b[k] = base_pos[i];
		match_s[k] = side_pos[i];
	}
	match_b[len] = nbase; /* sentinel: both ends match */
	match_s[len] = nside;
	size_t nh = 0, pb = 0, ps = 0;
	for (size_t i = 0; i <= len; i++) {
		if (match_b[i] > pb || match_s[i] > ps)
			hunks[nh++] = (hunk){ pb, match_b[i], ps, match_s[i] };
		pb = match_b[i] + 1;
		ps = match_s[i] + 1;
	}
	out->items = hunks;
	out->count = nh;
	hunks = NULL;
done:
	free(base_pos);
	free(side_pos);
	free(tails);
	free(prev);
	free(match_b);
	free(match_s);
	free(hunks);
	return rc;
}

typedef struct order_out {
	umap_merge_slot *slots;
	size_t count;
} order_out;

static void emit(order_out *out, umap_merge_side side, size_t index)
{
	out->slots[out->count++] = (umap_merge_slot){ side, index };
}

static int in_range(const umap_strmap *map, const char *key, size_t lo, size_t hi)
{
	size_t at;
	return umap_strmap_get(map, key, &at) && at >= lo && at < hi;
}

/* The merge of the stretch where the sequences differ; slots get the offsets of where that
 * stretch starts in ours and theirs. */
static int merge_middle(order_out *res, const char *const *base, size_t nbase,
			const char *const *ours, size_t nours, const char *const *theirs,
			size_t ntheirs, size_t ooff, size_t toff)
{
	umap_strmap bmap = UMAP_STRMAP_INIT, omap = UMAP_STRMAP_INIT, tmap = UMAP_STRMAP_INIT;
	hunk_list oh = { NULL, 0 }, th = { NULL, 0 };
	umap_strmap kept = UMAP_STRMAP_INIT;
	size_t first_slot = res->count;
	int rc;
	if ((rc = index_keys(&bmap, base, nbase, "the base")) ||
	    (rc = index_keys(&omap, ours, nours, "our")) ||
	    (rc = index_keys(&tmap, theirs, ntheirs, "their")) ||
	    (rc = diff_side(&oh, &bmap, nbase, ours, nours)) ||
	    (rc = diff_side(&th, &bmap, nbase, theirs, ntheirs)))
		goto done;
	size_t oi = 0, ti = 0, pos = 0;
	long long odelta = 0, tdelta = 0; /* side index - base index, outside hunks */
	while (oi < oh.count || ti < th.count) {
		/* A group: hunks of both sides that overlap, or where an insertion touches. */
		int take_ours = ti >= th.count || (oi < oh.count && oh.items[oi].bs <= th.items[ti].bs);
		const hunk *first = take_ours ? &oh.items[oi] : &th.items[ti];
		size_t start = first->bs, end = first->be;
		int end_is_insertion = first->bs == first->be;
		size_t o0 = oi, t0 = ti;
		long long odelta0 = odelta, tdelta0 = tdelta;
		for (;;) {
			const hunk *h = NULL;
			int from_ours = 0;
			if (oi < oh.count && (ti >= th.count || oh.items[oi].bs <= th.items[ti].bs)) {
				h = &oh.items[oi];
				from_ours = 1;
			} else if (ti < th.count) {
				h = &th.items[ti];
			}
			if (!h)
				break;
			int joins = h->bs < end || (h->bs == end && (h->bs == h->be || end_is_insertion)) ||
				    h == first;
			if (!joins)
				break;
			if (h->be > end) {
				end = h->be;
				end_is_insertion = 0;
			} else if (h->be == end && h->bs == h->be) {
				end_is_insertion = 1;
			}
			long long d = (long long)(h->se - h->ss) - (long long)(h->be - h->bs);
			if (from_ours) {
				odelta += d;
				oi++;
			} else {
				tdelta += d;
				ti++;
			}
		}
		/* The stable stretch before the group: in base, ours and theirs alike. */
		for (; pos < start; pos++)
			emit(res, UMAP_MERGE_OURS, ooff + (size_t)((long long)pos + odelta0));
		size_t os = (size_t)((long long)start + odelta0), oe = (size_t)((long long)end + odelta);
		size_t ts = (size_t)((long long)start + tdelta0), te = (size_t)((long long)end + tdelta);
		int has_ours = oi > o0, has_theirs = ti > t0;
		if (has_ours && !has_theirs) {
			for (size_t j = os; j < oe; j++)
				emit(res, UMAP_MERGE_OURS, ooff + j);
		} else if (has_theirs && !has_ours) {
			for (size_t j = ts; j < te; j++)
				emit(res, UMAP_MERGE_THEIRS, toff + j);
		} else {
			/* Both changed this stretch: ours' items without those theirs deleted from it,
			 * then theirs' new items (as uMap appends the incoming additions). */
			for (size_t j = os; j < oe; j++) {
				if (in_range(&bmap, ours[j], start, end) &&
				    !in_range(&tmap, ours[j], ts, te))
					continue;
				emit(res, UMAP_MERGE_OURS, ooff + j);
			}
			for (size_t j = ts; j < te; j++) {
				if (in_range(&bmap, theirs[j], start, end) ||
				    in_range(&omap, theirs[j], os, oe))
					continue;
				emit(res, UMAP_MERGE_THEIRS, toff + j);
			}
		}
		pos = end;
	}
	for (; pos < nbase; pos++)
		emit(res, UMAP_MERGE_OURS, ooff + (size_t)((long long)pos + odelta));

	/* An item both sides moved to different places appears twice: ours' place wins. */
	for (size_t i = first_slot; i < res->count; i++)
		if (res->slots[i].side == UMAP_MERGE_OURS &&
		    (rc = umap_strmap_put(&kept, ours[res->slots[i].index - ooff], i, NULL)))
			goto done;
	size_t w = first_slot;
	for (size_t i = first_slot; i < res->count; i++) {
		if (res->slots[i].side == UMAP_MERGE_THEIRS) {
			const char *key = theirs[res->slots[i].index - toff];
			if (umap_strmap_get(&kept, key, NULL))
				continue;
			if ((rc = umap_strmap_put(&kept, key, i, NULL)))
				goto done;
		}
		res->slots[w++] = res->slots[i];
	}
	res->count = w;
done:
	free(oh.items);
	free(th.items);
	umap_strmap_dispose(&bmap);
	umap_strmap_dispose(&omap);
	umap_strmap_dispose(&tmap);
	umap_strmap_dispose(&kept);
	return rc;
}

int umap_merge_order(umap_merge_slot **out, size_t *out_len,
		     const char *const *base, size_t nbase,
		     const char *const *ours, size_t nours,
		     const char *const *theirs, size_t ntheirs)
{
	*out = NULL;
	*out_len = 0;
	/* an empty list may come as NULL, and NULL + 0 is undefined (found by fuzz_merge) */
	static const char *const none[1] = { NULL };
	base = base ? base : none;
	ours = ours ? ours : none;
	theirs = theirs ? theirs : none;
	/* Every output item is an item of ours or of theirs, each at most once. */
	order_out res = { malloc((nours + ntheirs + 1) * sizeof(*res.slots)), 0 };
	if (!res.slots)
		return umap_error_set(UMAP_ENOMEM, "out of memory (order merge)");
	/* Most merges change few features and move none: the stretches at both ends where the
	 * three agree are copied without hashing a key. */
	size_t shortest = nbase < nours ? nbase : nours;
	shortest = ntheirs < shortest ? ntheirs : shortest;
	size_t prefix = 0, suffix = 0;
	while (prefix < shortest && !strcmp(base[prefix], ours[prefix]) &&
	       !strcmp(base[prefix], theirs[prefix]))
		prefix++;
	while (suffix < shortest - prefix && !strcmp(base[nbase - 1 - suffix], ours[nours - 1 - suffix]) &&
	       !strcmp(base[nbase - 1 - suffix], theirs[ntheirs - 1 - suffix]))
		suffix++;
	for (size_t i = 0; i < prefix; i++)
		emit(&res, UMAP_MERGE_OURS, i);
	int rc = merge_middle(&res, base + prefix, nbase - prefix - suffix, ours + prefix,
			      nours - prefix - suffix, theirs + prefix, ntheirs - prefix - suffix,
			      prefix, prefix);
	if (rc) {
		free(res.slots);
		return rc;
	}
	for (size_t i = nours - suffix; i < nours; i++)
		emit(&res, UMAP_MERGE_OURS, i);
	*out = res.slots;
	*out_len = res.count;
	return 0;
}
