/* Features without ids (SPEC §2): aligns two versions of a layer's id-less features as a
 * sequence, so that an edited feature is modified rather than removed and added. */
#include "idless.h"

#include <stdlib.h>

#include "error.h"
#include "json.h"
#include "merge.h"

/* Gaps with more candidate pairs than this are not searched for alike features: their
 * features stay added and removed (bounded time on hostile input). */
#define LIKENESS_PAIRS_MAX (1u << 22)

typedef struct hashed {
	uint64_t hash;
	size_t index;
} hashed;

static int by_hash(const void *a, const void *b)
{
	const hashed *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

void umap_idless_traits_of(umap_idless_traits *out, const json_t *feature)
{
	const json_t *geometry = json_object_get(feature, "geometry");
	const json_t *name = json_object_get(json_object_get(feature, "properties"), "name");
	out->value = umap_json_hash(feature);
	/* | 1: never 0, which is "none" */
	out->geometry = geometry && !json_is_null(geometry) ? umap_json_hash(geometry) | 1 : 0;
	out->name = name && !json_is_null(name) ? umap_json_hash(name) | 1 : 0;
}

static int nomem(void)
{
	return umap_error_set(UMAP_ENOMEM, "out of memory (aligning features without id)");
}

/* Pairs the unpaired features of both sides whose hash (hashes[side][i]) is equal, old ones
 * of a hash taken in order. */
static int pair_equal(long *old_to_new, long *new_to_old, const size_t n[2],
		      uint64_t *const hashes[2])
{
	size_t nold = 0;
	for (size_t i = 0; i < n[0]; i++)
		nold += old_to_new[i] < 0;
	if (!nold)
		return 0;
	hashed *list = malloc(nold * sizeof(*list));
	size_t *taken = calloc(nold, sizeof(*taken)); /* at a run's start: how many are taken */
	if (!list || !taken) {
		free(list);
		free(taken);
		return nomem();
	}
	size_t k = 0;
	for (size_t i = 0; i < n[0]; i++)
		if (old_to_new[i] < 0)
			list[k++] = (hashed){ hashes[0][i], i };
	qsort(list, nold, sizeof(*list), by_hash);
	for (size_t j = 0; j < n[1]; j++) {
		if (new_to_old[j] >= 0)
			continue;
		uint64_t h = hashes[1][j];
		size_t lo = 0, hi = nold;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (list[mid].hash < h)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo >= nold || list[lo].hash != h)
			continue;
		size_t next = lo + taken[lo];
		if (next >= nold || list[next].hash != h)
			continue;
		taken[lo]++;
		old_to_new[list[next].index] = (long)j;
		new_to_old[j] = (long)list[next].index;
	}
	free(list);
	free(taken);
	return 0;
}

/* Marks anchor[j] the pairs (j, new_to_old[j]) of a longest run whose old indexes grow
 * with j: the pairs that kept their order. */
static int mark_anchors(unsigned char *anchor, const long *new_to_old, size_t n)
{
	size_t *at = malloc((n + 1) * sizeof(*at)); /* the paired j, in order */
	size_t *old = malloc((n + 1) * sizeof(*old));
	size_t *tails = malloc((n + 1) * sizeof(*tails));
	size_t *prev = malloc((n + 1) * sizeof(*prev));
	int rc = at && old && tails && prev ? 0 : nomem();
	size_t m = 0;
	for (size_t j = 0; !rc && j < n; j++) {
		if (new_to_old[j] >= 0) {
			at[m] = j;
			old[m++] = (size_t)new_to_old[j];
		}
	}
	size_t len = rc ? 0 : umap_increasing_run(tails, prev, old, m);
	for (size_t k = len ? tails[len - 1] : SIZE_MAX; k != SIZE_MAX; k = prev[k])
		anchor[at[k]] = 1;
	free(at);
	free(old);
	free(tails);
	free(prev);
	return rc;
}

static int likeness(const umap_idless_traits *a, const umap_idless_traits *b)
{
	return 2 * (a->geometry && a->geometry == b->geometry) + (a->name && a->name == b->name);
}

/* The unpaired features of one gap: old ones in [a0, a1), new ones in [b0, b1). `closed`:
 * it lies between two pairs, not at an end of the layer, where features are appended: a
 * feature deleted at the end and another appended are not one feature changed. */
static void pair_gap(long *old_to_new, long *new_to_old, const umap_idless_traits *const t[2],
		     size_t a0, size_t a1, size_t b0, size_t b1, int closed)
{
	size_t na = 0, nb = 0;
	for (size_t i = a0; i < a1; i++)
		na += old_to_new[i] < 0;
	for (size_t j = b0; j < b1; j++)
		nb += new_to_old[j] < 0;
	if (!na || !nb)
		return;
	if (na == nb && closed) { /* changed in place: by position */
		size_t i = a0;
		for (size_t j = b0; j < b1; j++) {
			if (new_to_old[j] >= 0)
				continue;
			while (old_to_new[i] >= 0)
				i++;
			old_to_new[i] = (long)j;
			new_to_old[j] = (long)i;
			i++;
		}
		return;
	}
	if ((uint64_t)na * nb > LIKENESS_PAIRS_MAX)
		return;
	size_t from = a0; /* pairs keep their order */
	for (size_t j = b0; j < b1 && from < a1; j++) {
		if (new_to_old[j] >= 0)
			continue;
		int best_score = 0;
		size_t best = 0;
		for (size_t i = from; i < a1; i++) {
			if (old_to_new[i] >= 0)
				continue;
			int score = likeness(&t[0][i], &t[1][j]);
			if (score > best_score) {
				best_score = score;
				best = i;
			}
		}
		if (best_score) {
			old_to_new[best] = (long)j;
			new_to_old[j] = (long)best;
			from = best + 1;
		}
	}
}

/* A layer's features without id as a sequence of their own: at[side][k] is the place in the
 * layer of the k-th. */
typedef struct in_layer {
	const umap_idless_source *layer;
	size_t *at[2];
} in_layer;

static uint64_t in_layer_raw(void *data, int side, size_t i)
{
	in_layer *l = data;
	return l->layer->raw(l->layer->data, side, l->at[side][i]);
}

static int in_layer_describe(void *data, int side, size_t i, umap_idless_traits *out)
{
	in_layer *l = data;
	return l->layer->describe(l->layer->data, side, l->at[side][i], out);
}

static int align_in_layer(long *old_to_new, long *new_to_old, const umap_idless_source *src)
{
	in_layer l = { src, { NULL, NULL } };
	long *partner[2] = { NULL, NULL }, *out[2] = { old_to_new, new_to_old };
	umap_idless_source seq = { { 0, 0 }, in_layer_raw, in_layer_describe, &l, NULL };
	int rc = 0;
	for (int side = 0; side < 2 && !rc; side++) {
		l.at[side] = malloc((src->n[side] + 1) * sizeof(size_t));
		if (!l.at[side]) {
			rc = nomem();
			break;
		}
		for (size_t i = 0; i < src->n[side]; i++) {
			out[side][i] = -1;
			if (!src->has_id(src->data, side, i))
				l.at[side][seq.n[side]++] = i;
		}
		if (!(partner[side] = malloc((seq.n[side] + 1) * sizeof(long))))
			rc = nomem();
	}
	if (!rc)
		rc = umap_idless_align(partner[0], partner[1], &seq);
	for (int side = 0; side < 2 && !rc; side++)
		for (size_t k = 0; k < seq.n[side]; k++)
			if (partner[side][k] >= 0)
				out[side][l.at[side][k]] = (long)l.at[!side][partner[side][k]];
	for (int side = 0; side < 2; side++) {
		free(l.at[side]);
		free(partner[side]);
	}
	return rc;
}

int umap_idless_align(long *old_to_new, long *new_to_old, const umap_idless_source *src)
{
	if (src->has_id)
		return align_in_layer(old_to_new, new_to_old, src);
	const size_t *n = src->n;
	for (size_t i = 0; i < n[0]; i++)
		old_to_new[i] = -1;
	for (size_t j = 0; j < n[1]; j++)
		new_to_old[j] = -1;
	if (!n[0] || !n[1])
		return 0;
	uint64_t *hashes[2] = { malloc(n[0] * sizeof(uint64_t)), malloc(n[1] * sizeof(uint64_t)) };
	umap_idless_traits *traits[2] = { NULL, NULL };
	unsigned char *anchor = NULL;
	int rc = 0;
	if (!hashes[0] || !hashes[1]) {
		rc = nomem();
		goto done;
	}
	for (int side = 0; side < 2; side++)
		for (size_t i = 0; i < n[side]; i++)
			hashes[side][i] = src->raw(src->data, side, i);
	/* the ends both keep first, in place: repeated features pair with their own copy */
	size_t head = 0, tail = 0;
	while (head < n[0] && head < n[1] && hashes[0][head] == hashes[1][head]) {
		old_to_new[head] = (long)head;
		new_to_old[head] = (long)head;
		head++;
	}
	while (tail < n[0] - head && tail < n[1] - head &&
	       hashes[0][n[0] - 1 - tail] == hashes[1][n[1] - 1 - tail]) {
		old_to_new[n[0] - 1 - tail] = (long)(n[1] - 1 - tail);
		new_to_old[n[1] - 1 - tail] = (long)(n[0] - 1 - tail);
		tail++;
	}
	if ((rc = pair_equal(old_to_new, new_to_old, n, hashes)))
		goto done;

	/* what the bytes left: by value (another spelling, or only what is ignored differs) */
	size_t left[2] = { 0, 0 };
	for (size_t i = 0; i < n[0]; i++)
		left[0] += old_to_new[i] < 0;
	for (size_t j = 0; j < n[1]; j++)
		left[1] += new_to_old[j] < 0;
	if (!left[0] || !left[1])
		goto done;
	const long *partner[2] = { old_to_new, new_to_old };
	for (int side = 0; side < 2 && !rc; side++) {
		if (!(traits[side] = calloc(n[side], sizeof(*traits[side])))) {
			rc = nomem();
			break;
		}
		for (size_t i = 0; i < n[side] && !rc; i++) {
			if (partner[side][i] >= 0)
				continue;
			rc = src->describe(src->data, side, i, &traits[side][i]);
			hashes[side][i] = traits[side][i].value;
		}
	}
	if (rc || (rc = pair_equal(old_to_new, new_to_old, n, hashes)))
		goto done;

	/* between anchors, what is left on both sides was changed in place */
	if (!(anchor = calloc(n[1], 1))) {
		rc = nomem();
		goto done;
	}
	if ((rc = mark_anchors(anchor, new_to_old, n[1])))
		goto done;
	const umap_idless_traits *t[2] = { traits[0], traits[1] };
	size_t a0 = 0, b0 = 0;
	for (size_t j = 0; j <= n[1]; j++) {
		if (j < n[1] && !anchor[j])
			continue;
		size_t a1 = j < n[1] ? (size_t)new_to_old[j] : n[0];
		pair_gap(old_to_new, new_to_old, t, a0, a1, b0, j, b0 > 0 && j < n[1]);
		if (j < n[1]) {
			a0 = a1 + 1;
			b0 = j + 1;
		}
	}
done:
	free(hashes[0]);
	free(hashes[1]);
	free(traits[0]);
	free(traits[1]);
	free(anchor);
	return rc;
}
