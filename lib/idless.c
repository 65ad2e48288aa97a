/* Features without ids (SPEC §2): aligns two versions of a layer's id-less features as a
 * sequence, so that an edited feature is modified rather than removed and added. */
#include "idless.h"

#include <stdlib.h>

#include "error.h"

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
	size_t *tails = malloc((n + 1) * sizeof(*tails)); /* tails[l]: j ending a run of l+1 */
	size_t *prev = malloc((n + 1) * sizeof(*prev));
	if (!tails || !prev) {
		free(tails);
		free(prev);
		return nomem();
	}
	size_t len = 0;
	for (size_t j = 0; j < n; j++) {
		if (new_to_old[j] < 0)
			continue;
		size_t lo = 0, hi = len;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (new_to_old[tails[mid]] < new_to_old[j])
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[j] = lo ? tails[lo - 1] : SIZE_MAX;
		tails[lo] = j;
		if (lo == len)
			len++;
	}
	for (size_t j = len ? tails[len - 1] : SIZE_MAX; j != SIZE_MAX; j = prev[j])
		anchor[j] = 1;
	free(tails);
	free(prev);
	return 0;
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

int umap_idless_align(long *old_to_new, long *new_to_old, const umap_idless_source *src)
{
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
