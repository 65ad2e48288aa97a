/* Unit tests for the alignment of features without id (umap_idless_align). A sequence is a
 * string of two-character features: a letter (its geometry) and a digit (its version), so
 * "B1" is feature B edited; the answer is, for each new feature, its old one's index or '-'. */
#include "unit.h"

#include <stdlib.h>

#include "error.h"
#include "idless.h"

typedef struct seqs {
	const char *s[2];
	int fail_describe;
	size_t described;
} seqs;

static uint64_t raw(void *data, int side, size_t i)
{
	const seqs *q = data;
	return (uint64_t)(unsigned char)q->s[side][2 * i] * 256 + (unsigned char)q->s[side][2 * i + 1];
}

static int describe(void *data, int side, size_t i, umap_idless_traits *out)
{
	seqs *q = data;
	q->described++;
	if (q->fail_describe)
		return umap_error_set(UMAP_EINVALID, "cannot read feature %zu", i);
	out->value = raw(data, side, i);
	out->geometry = (unsigned char)q->s[side][2 * i];
	out->name = 0;
	return 0;
}

/* The pairing of new features as a string ("0-1": new 0 is old 0, new 1 is added...). */
static const char *align(const char *old, const char *new)
{
	static char result[64];
	seqs q = { { old, new }, 0, 0 };
	umap_idless_source src = { { strlen(old) / 2, strlen(new) / 2 }, raw, describe, &q, NULL };
	long o2n[32], n2o[32];
	if (umap_idless_align(o2n, n2o, &src))
		return "error";
	for (size_t j = 0; j < src.n[1]; j++) {
		result[j] = n2o[j] < 0 ? '-' : (char)('0' + n2o[j]);
		if (n2o[j] >= 0 && o2n[n2o[j]] != (long)j)
			return "inconsistent";
	}
	result[src.n[1]] = '\0';
	return result;
}

TEST(identical_and_moved_features_pair)
{
	CHECK_STR(align("A0B0C0", "A0B0C0"), "012");
	CHECK_STR(align("A0B0C0", "C0A0B0"), "201");
	CHECK_STR(align("A0B0", "A0X0B0"), "0-1");
	CHECK_STR(align("A0B0C0", "A0C0"), "02");
	CHECK_STR(align("", "A0"), "-");
	CHECK_STR(align("A0", ""), "");
}

TEST(a_feature_changed_in_place_is_paired)
{
	/* between two anchors: by position, alike or not */
	CHECK_STR(align("A0B0C0", "A0B1C0"), "012");
	CHECK_STR(align("A0B0C0", "A0X0C0"), "012");
	CHECK_STR(align("A0B0C0D0", "A0B1C1D0"), "0123");
	/* more on one side: the alike ones */
	CHECK_STR(align("A0B0C0D0", "A0C1D0"), "023");
	CHECK_STR(align("A0B0D0", "A0X0B1Y0D0"), "0-1-2");
	/* at the ends only alike ones: an appended feature is not the last one edited */
	CHECK_STR(align("A0B0", "A0B1"), "01");
	CHECK_STR(align("A0B0", "A0X0"), "0-");
	CHECK_STR(align("A0B0", "A1B0"), "01");
	CHECK_STR(align("A0B0", "B1B0"), "-1");
}

TEST(repeated_features_pair_with_their_own_copy)
{
	CHECK_STR(align("A0A0A0B0", "A0A0A0B1"), "0123");
	CHECK_STR(align("A0A0B0A0A0", "A0A0B1A0A0"), "01234");
	CHECK_STR(align("A0A0", "A0A0A0"), "01-");
}

TEST(only_features_the_bytes_left_are_described)
{
	seqs q = { { "A0B0C0", "A0B0C0" }, 0, 0 };
	umap_idless_source src = { { 3, 3 }, raw, describe, &q, NULL };
	long o2n[3], n2o[3];
	CHECK_INT(umap_idless_align(o2n, n2o, &src), 0);
	CHECK_INT(q.described, 0);
	q.s[1] = "A0B1C0";
	CHECK_INT(umap_idless_align(o2n, n2o, &src), 0);
	CHECK_INT(q.described, 2);
	q.fail_describe = 1;
	CHECK_INT(umap_idless_align(o2n, n2o, &src), UMAP_EINVALID);
	CHECK_STR(umap_error_last(), "cannot read feature 1");
}

/* In a layer, features with an id ('#' for a letter) are left out and unpaired. */
static int has_id(void *data, int side, size_t i)
{
	const seqs *q = data;
	return q->s[side][2 * i] == '#';
}

TEST(features_with_ids_are_left_out_of_a_layer)
{
	seqs q = { { "A0#1B0C0", "#1A0B1#2C0" }, 0, 0 };
	umap_idless_source src = { { 4, 5 }, raw, describe, &q, has_id };
	long o2n[4], n2o[5];
	CHECK_INT(umap_idless_align(o2n, n2o, &src), 0);
	long want_n2o[5] = { -1, 0, 2, -1, 3 }, want_o2n[4] = { 1, -1, 2, 4 };
	for (int j = 0; j < 5; j++)
		CHECK_INT(n2o[j], want_n2o[j]);
	for (int i = 0; i < 4; i++)
		CHECK_INT(o2n[i], want_o2n[i]);
}

static const char *big[2];

static uint64_t big_raw(void *data, int side, size_t i)
{
	(void)data;
	return i == 100000 && side ? 7 : i % 3; /* many repeats, one edit */
}

static int big_describe(void *data, int side, size_t i, umap_idless_traits *out)
{
	(void)data;
	out->value = big_raw(data, side, i);
	out->geometry = 0;
	out->name = 0;
	return 0;
}

TEST(large_sequences_align_fast)
{
	size_t n = 200000;
	long *o2n = malloc(n * sizeof(long)), *n2o = malloc(n * sizeof(long));
	umap_idless_source src = { { n, n }, big_raw, big_describe, big, NULL };
	CHECK_INT(umap_idless_align(o2n, n2o, &src), 0);
	size_t in_place = 0;
	for (size_t j = 0; j < n; j++)
		in_place += n2o[j] == (long)j;
	CHECK_INT(in_place, n);
	free(o2n);
	free(n2o);
}

int main(void)
{
	RUN(identical_and_moved_features_pair);
	RUN(a_feature_changed_in_place_is_paired);
	RUN(repeated_features_pair_with_their_own_copy);
	RUN(only_features_the_bytes_left_are_described);
	RUN(features_with_ids_are_left_out_of_a_layer);
	RUN(large_sequences_align_fast);
	return UNIT_DONE();
}
