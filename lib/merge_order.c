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

#define NONE SIZE_MAX

/* Where each side's items are in the others (o2b[j]: ours' item j in base, NONE where it is
 * not there; t2b theirs to base, o2t ours to theirs, t2o theirs to ours), positions counted
 * from `shift` (the start of the stretch being merged). */
typedef struct order_maps {
	const size_t *o2b, *t2b, *o2t, *t2o;
	size_t shift;
} order_maps;

static size_t pos_in(const size_t *map, size_t j, size_t shift)
{
	return map[j] == NONE ? NONE : map[j] - shift;
}

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

size_t umap_increasing_run(size_t *tails, size_t *prev, const size_t *values, size_t n)
{
	/* patience: tails[k] is the element ending the best increasing run of length k+1 */
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		/* most items stay in order: extending the longest run needs no search */
		if (len && values[tails[len - 1]] < values[i]) {
			prev[i] = tails[len - 1];
			tails[len++] = i;
			continue;
		}
		size_t lo = 0, hi = len;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (values[tails[mid]] < values[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[i] = lo ? tails[lo - 1] : SIZE_MAX;
		tails[lo] = i;
		if (lo == len)
			len++;
	}
	return len;
}

/* The hunks that turn base into `side` (to_base, shift: as in order_maps): the matched
 * pairs are the longest run of side's items whose base positions increase; everything
 * between two matched pairs is a hunk. */
static int diff_side(hunk_list *out, size_t nbase, const size_t *to_base, size_t shift,
		     size_t nside)
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
		if (to_base[j] != NONE) {
			base_pos[m] = to_base[j] - shift;
			side_pos[m] = j;
			m++;
		}
	}
	size_t len = umap_increasing_run(tails, prev, base_pos, m);
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

static int in_range(size_t at, size_t lo, size_t hi)
{
	return at != NONE && at >= lo && at < hi;
}

/* The merge of the stretch where the sequences differ, given where each side's items are in
 * the others; slots get the offsets of where that stretch starts in ours and theirs. */
static int merge_middle(order_out *res, size_t nbase, size_t nours, size_t ntheirs,
			const order_maps *m, size_t ooff, size_t toff)
{
	hunk_list oh = { NULL, 0 }, th = { NULL, 0 };
	unsigned char *emitted = calloc(nours + 1, 1); /* ours' items placed */
	size_t first_slot = res->count;
	int rc = emitted ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory (order merge)");
	if (rc || (rc = diff_side(&oh, nbase, m->o2b, m->shift, nours)) ||
	    (rc = diff_side(&th, nbase, m->t2b, m->shift, ntheirs)))
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
				if (in_range(pos_in(m->o2b, j, m->shift), start, end) &&
				    !in_range(pos_in(m->o2t, j, m->shift), ts, te))
					continue;
				emit(res, UMAP_MERGE_OURS, ooff + j);
			}
			for (size_t j = ts; j < te; j++) {
				if (in_range(pos_in(m->t2b, j, m->shift), start, end) ||
				    in_range(pos_in(m->t2o, j, m->shift), os, oe))
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
		if (res->slots[i].side == UMAP_MERGE_OURS)
			emitted[res->slots[i].index - ooff] = 1;
	size_t w = first_slot;
	for (size_t i = first_slot; i < res->count; i++) {
		if (res->slots[i].side == UMAP_MERGE_THEIRS) {
			size_t o = pos_in(m->t2o, res->slots[i].index - toff, m->shift);
			if (o != NONE && emitted[o])
				continue;
		}
		res->slots[w++] = res->slots[i];
	}
	res->count = w;
done:
	free(oh.items);
	free(th.items);
	free(emitted);
	return rc;
}

/* Where each item of `from` is in `to` (NONE where absent). */
static int map_keys(size_t **out, const umap_strmap *to, const char *const *from, size_t n)
{
	size_t *map = malloc((n + 1) * sizeof(*map));
	if (!map)
		return umap_error_set(UMAP_ENOMEM, "out of memory (order merge of %zu items)", n);
	for (size_t j = 0; j < n; j++)
		if (!umap_strmap_get(to, from[j], &map[j]))
			map[j] = NONE;
	*out = map;
	return 0;
}

/* The middle stretch of sequences of keys: their indexes, then merge_middle. */
static int merge_middle_keys(order_out *res, const char *const *base, size_t nbase,
			     const char *const *ours, size_t nours, const char *const *theirs,
			     size_t ntheirs, size_t ooff, size_t toff)
{
	umap_strmap bmap = UMAP_STRMAP_INIT, omap = UMAP_STRMAP_INIT, tmap = UMAP_STRMAP_INIT;
	size_t *o2b = NULL, *t2b = NULL, *o2t = NULL, *t2o = NULL;
	int rc;
	if (!(rc = index_keys(&bmap, base, nbase, "the base")) &&
	    !(rc = index_keys(&omap, ours, nours, "our")) &&
	    !(rc = index_keys(&tmap, theirs, ntheirs, "their")) &&
	    !(rc = map_keys(&o2b, &bmap, ours, nours)) && !(rc = map_keys(&t2b, &bmap, theirs, ntheirs)) &&
	    !(rc = map_keys(&o2t, &tmap, ours, nours)) && !(rc = map_keys(&t2o, &omap, theirs, ntheirs)))
		rc = merge_middle(res, nbase, nours, ntheirs, &(order_maps){ o2b, t2b, o2t, t2o, 0 },
				  ooff, toff);
	free(o2b);
	free(t2b);
	free(o2t);
	free(t2o);
	umap_strmap_dispose(&bmap);
	umap_strmap_dispose(&omap);
	umap_strmap_dispose(&tmap);
	return rc;
}

/* What both order merges share: the `prefix` and `suffix` items where the three agree are
 * ours' as they are; the middle is merged from its keys (`seqs`) or from `maps`. */
static int merge_with_ends(umap_merge_slot **out, size_t *out_len, size_t nbase, size_t nours,
			   size_t ntheirs, size_t prefix, size_t suffix,
			   const char *const *const seqs[3], const order_maps *maps)
{
	*out = NULL;
	*out_len = 0;
	/* Every output item is an item of ours or of theirs, each at most once. */
	order_out res = { malloc((nours + ntheirs + 1) * sizeof(*res.slots)), 0 };
	if (!res.slots)
		return umap_error_set(UMAP_ENOMEM, "out of memory (order merge)");
	for (size_t i = 0; i < prefix; i++)
		emit(&res, UMAP_MERGE_OURS, i);
	size_t mb = nbase - prefix - suffix, mo = nours - prefix - suffix, mt = ntheirs - prefix - suffix;
	int rc;
	if (seqs) {
		rc = merge_middle_keys(&res, seqs[0] + prefix, mb, seqs[1] + prefix, mo,
				       seqs[2] + prefix, mt, prefix, prefix);
	} else {
		/* an item of the middle is nowhere in the ends: keys are unique */
		order_maps middle = { maps->o2b + prefix, maps->t2b + prefix, maps->o2t + prefix,
				      maps->t2o + prefix, prefix };
		rc = merge_middle(&res, mb, mo, mt, &middle, prefix, prefix);
	}
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

static size_t smallest(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;
	return c < m ? c : m;
}

int umap_merge_order(umap_merge_slot **out, size_t *out_len,
		     const char *const *base, size_t nbase,
		     const char *const *ours, size_t nours,
		     const char *const *theirs, size_t ntheirs)
{
	/* an empty list may come as NULL, and NULL + 0 is undefined (found by fuzz_merge) */
	static const char *const none[1] = { NULL };
	base = base ? base : none;
	ours = ours ? ours : none;
	theirs = theirs ? theirs : none;
	/* Most merges change few features and move none: the stretches at both ends where the
	 * three agree are copied without hashing a key. */
	size_t shortest = smallest(nbase, nours, ntheirs), prefix = 0, suffix = 0;
	while (prefix < shortest && !strcmp(base[prefix], ours[prefix]) &&
	       !strcmp(base[prefix], theirs[prefix]))
		prefix++;
	while (suffix < shortest - prefix && !strcmp(base[nbase - 1 - suffix], ours[nours - 1 - suffix]) &&
	       !strcmp(base[nbase - 1 - suffix], theirs[ntheirs - 1 - suffix]))
		suffix++;
	const char *const *const seqs[3] = { base, ours, theirs };
	return merge_with_ends(out, out_len, nbase, nours, ntheirs, prefix, suffix, seqs, NULL);
}

int umap_merge_order_mapped(umap_merge_slot **out, size_t *out_len, size_t nbase, size_t nours,
			    size_t ntheirs, const size_t *o2b, const size_t *t2b, const size_t *o2t,
			    const size_t *t2o)
{
	static const size_t none[1] = { 0 }; /* as in umap_merge_order: no NULL + 0 */
	o2b = o2b ? o2b : none;
	t2b = t2b ? t2b : none;
	o2t = o2t ? o2t : none;
	t2o = t2o ? t2o : none;
	size_t shortest = smallest(nbase, nours, ntheirs), prefix = 0, suffix = 0;
	while (prefix < shortest && o2b[prefix] == prefix && t2b[prefix] == prefix)
		prefix++;
	while (suffix < shortest - prefix && o2b[nours - 1 - suffix] == nbase - 1 - suffix &&
	       t2b[ntheirs - 1 - suffix] == nbase - 1 - suffix)
		suffix++;
	const order_maps maps = { o2b, t2b, o2t, t2o, 0 };
	return merge_with_ends(out, out_len, nbase, nours, ntheirs, prefix, suffix, NULL, &maps);
}
