/* Unit tests for the feature order merge (umap_merge_order) and the string map under it.
 * Sequences are written as strings of one-letter ids: "ABC" is [A,B,C]. */
#include "unit.h"

#include <stdlib.h>

#include "error.h"
#include "merge.h"
#include "strmap.h"

static char letters[26][2];

static const char **split(const char *s, size_t *n)
{
	size_t len = strlen(s);
	const char **keys = malloc((len + 1) * sizeof(*keys));
	for (size_t i = 0; i < len; i++)
		keys[i] = letters[s[i] - 'A'];
	*n = len;
	return keys;
}

/* The merged order as a string, or "error" */
static char *order(const char *base, const char *ours, const char *theirs)
{
	size_t nb, no, nt, n;
	const char **b = split(base, &nb), **o = split(ours, &no), **t = split(theirs, &nt);
	umap_merge_slot *slots;
	static char result[64];
	if (umap_merge_order(&slots, &n, b, nb, o, no, t, nt)) {
		strcpy(result, "error");
	} else {
		for (size_t i = 0; i < n; i++)
			result[i] = (slots[i].side == UMAP_MERGE_OURS ? o : t)[slots[i].index][0];
		result[n] = '\0';
		free(slots);
	}
	free(b);
	free(o);
	free(t);
	return result;
}

TEST(umap_parity_cases)
{
	/* uMap's merge_features(reference, latest, incoming): ours = latest. */
	CHECK_STR(order("AB", "ABC", "ABD"), "ABCD");
	CHECK_STR(order("AB", "AC", "ABD"), "ACD");
	CHECK_STR(order("AB", "ABC", "AD"), "ACD");
	CHECK_STR(order("A", "A", "A"), "A");
}

TEST(one_sided_changes_apply)
{
	CHECK_STR(order("ABC", "ABC", "ABC"), "ABC");
	CHECK_STR(order("ABC", "AXBC", "ABC"), "AXBC");
	CHECK_STR(order("ABC", "ABC", "AXBC"), "AXBC");
	CHECK_STR(order("ABC", "AC", "ABC"), "AC");
	CHECK_STR(order("ABC", "ABC", "BC"), "BC");
	CHECK_STR(order("", "", "XY"), "XY");
	CHECK_STR(order("", "XY", ""), "XY");
	CHECK_STR(order("ABC", "", "ABC"), "");
}

TEST(inserts_keep_their_neighbours)
{
	/* Each side inserts in a different place: both inserts stay where they were made. */
	CHECK_STR(order("ABCD", "AXBCD", "ABCYD"), "AXBCYD");
	CHECK_STR(order("ABCD", "XABCD", "ABCDY"), "XABCDY");
	/* Same place: ours first, then theirs. */
	CHECK_STR(order("AB", "AXB", "AYB"), "AXYB");
	/* Both inserted the same id at the same place: once. */
	CHECK_STR(order("AB", "AXB", "AXB"), "AXB");
	/* ... or at different places: ours' place wins. */
	CHECK_STR(order("ABC", "AXBC", "ABXC"), "AXBC");
}

TEST(deletes_and_replacements)
{
	CHECK_STR(order("ABCD", "ACD", "ABD"), "AD");
	CHECK_STR(order("ABC", "AC", "AC"), "AC");
	/* Adjacent replacements on both sides are independent. */
	CHECK_STR(order("ABCD", "ABYD", "AXCD"), "AXYD");
	/* Insert next to what the other side deleted. */
	CHECK_STR(order("ABC", "AXBC", "AC"), "AXC");
	CHECK_STR(order("ABC", "AC", "ABXC"), "AXC");
}

TEST(moves)
{
	CHECK_STR(order("ABCD", "BCDA", "ABCD"), "BCDA");
	CHECK_STR(order("ABCD", "ABCD", "ADBC"), "ADBC");
	/* Ours moves A to the end, theirs inserts X after C. */
	CHECK_STR(order("ABCD", "BCDA", "ABCXD"), "BCXDA");
	/* Both move D to different places: ours wins, no duplicate. */
	CHECK_STR(order("ABCD", "DABC", "ADBC"), "DABC");
}

TEST(repeated_key_is_an_error)
{
	CHECK_STR(order("ABCB", "A", "A"), "error");
	CHECK(strstr(umap_error_last(), "twice") != NULL);
}

TEST(large_sequences_are_linearithmic)
{
	size_t n = 200000;
	char **names = malloc(n * sizeof(*names));
	const char **b = malloc(n * sizeof(*b)), **o = malloc(n * sizeof(*o)),
		   **t = malloc((n + 1) * sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		names[i] = malloc(16);
		snprintf(names[i], 16, "f%zu", i);
		b[i] = o[i] = t[i] = names[i];
	}
	o[10] = names[n - 1]; /* a swap in ours */
	o[n - 1] = names[10];
	t[n] = "new";          /* an append in theirs */
	umap_merge_slot *slots;
	size_t len;
	CHECK_INT(umap_merge_order(&slots, &len, b, n, o, n, t, n + 1), 0);
	CHECK_INT(len, n + 1);
	if (len == n + 1) {
		CHECK_INT(slots[n].side, UMAP_MERGE_THEIRS);
		CHECK_INT(slots[n].index, n);
	}
	free(slots);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(b);
	free(o);
	free(t);
}

/* Random edits of a random base: the result never repeats an id and keeps every id both
 * sides have and every id one side added. */
TEST(random_edits_keep_invariants)
{
	unsigned seed = 12345;
	for (int round = 0; round < 3000; round++) {
		char seqs[3][27];
		for (int s = 0; s < 3; s++) {
			int used[26] = { 0 }, len = 0, want = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 9;
			for (int i = 0; i < want; i++) {
				int c = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
				if (!used[c]) {
					used[c] = 1;
					seqs[s][len++] = (char)('A' + c);
				}
			}
			seqs[s][len] = '\0';
		}
		char *got = order(seqs[0], seqs[1], seqs[2]);
		int seen[26] = { 0 };
		for (char *p = got; *p; p++)
			CHECK(!seen[*p - 'A']++);
		for (int c = 0; c < 26; c++) {
			int in_b = strchr(seqs[0], 'A' + c) != NULL, in_o = strchr(seqs[1], 'A' + c) != NULL,
			    in_t = strchr(seqs[2], 'A' + c) != NULL;
			if ((in_o && in_t) || (in_o && !in_b) || (in_t && !in_b))
				CHECK(seen[c]);
			if (!in_o && !in_t)
				CHECK(!seen[c]);
		}
	}
}

/* fuzz_merge: a layer on one side only gives NULL lists, and NULL + 0 is undefined. */
TEST(empty_lists_may_be_null)
{
	umap_merge_slot *slots = NULL;
	size_t len = 1;
	const char *o[] = { "A", "B" };
	CHECK_INT(umap_merge_order(&slots, &len, NULL, 0, o, 2, NULL, 0), 0);
	CHECK_INT((int)len, 2);
	free(slots);
	CHECK_INT(umap_merge_order(&slots, &len, NULL, 0, NULL, 0, NULL, 0), 0);
	CHECK_INT((int)len, 0);
	free(slots);
}

TEST(strmap_puts_gets_and_replaces)
{
	umap_strmap map = UMAP_STRMAP_INIT;
	size_t v = 0;
	int existed = -1;
	CHECK_INT(umap_strmap_get(&map, "x", &v), 0);
	char keys[1000][16];
	for (int i = 0; i < 1000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		CHECK_INT(umap_strmap_put(&map, keys[i], (size_t)i, &existed), 0);
		CHECK_INT(existed, 0);
	}
	CHECK_INT(map.count, 1000);
	CHECK_INT(umap_strmap_get(&map, "k777", &v), 1);
	CHECK_INT(v, 777);
	CHECK_INT(umap_strmap_put(&map, keys[5], 42, &existed), 0);
	CHECK_INT(existed, 1);
	CHECK_INT(umap_strmap_get(&map, "k5", &v), 1);
	CHECK_INT(v, 42);
	CHECK_INT(umap_strmap_get(&map, "k1000", &v), 0);
	umap_strmap_dispose(&map);
}

int main(void)
{
	for (int i = 0; i < 26; i++)
		letters[i][0] = (char)('A' + i);
	RUN(umap_parity_cases);
	RUN(one_sided_changes_apply);
	RUN(inserts_keep_their_neighbours);
	RUN(deletes_and_replacements);
	RUN(moves);
	RUN(repeated_key_is_an_error);
	RUN(large_sequences_are_linearithmic);
	RUN(empty_lists_may_be_null);
	RUN(random_edits_keep_invariants);
	RUN(strmap_puts_gets_and_replaces);
	return UNIT_DONE();
}
