/* Unit tests for the rules both ends of sync apply alike: which feature ids the protocol
 * carries (import, validate --umap and the server use the one rule) and working-file names. */
#include "unit.h"

#include <string.h>

#include "error.h"
#include "sync_op.h"

TEST(feature_id_rule)
{
	const char *good[] = { "\"a\"", "\"Rk3Qa\"", "42", "-7", "0", "9007199254740991",
			       "-9007199254740991", "\"1.5\"", "-0", "123456789012345", "\"\\u00e9t\\u00e9\"", NULL };
	const char *bad[] = { "\"\"", "1.5", "1.0", "1e3", "12345678901234567890", "9007199254740992",
			      "-9007199254740992", "\"a\\nb\"", "\"a\\u0000b\"", "\"\\u007f\"", "null",
			      "true", "[1]", "{}", "", "nonsense", "007", "-", "\"a\"b\"", NULL };
	for (int i = 0; good[i]; i++) {
		if (!umap_sync_valid_feature_id_text(good[i]))
			printf("# refused: %s\n", good[i]);
		CHECK(umap_sync_valid_feature_id_text(good[i]));
	}
	for (int i = 0; bad[i]; i++) {
		if (umap_sync_valid_feature_id_text(bad[i]))
			printf("# accepted: %s\n", bad[i]);
		CHECK(!umap_sync_valid_feature_id_text(bad[i]));
	}
	CHECK(!umap_sync_valid_feature_id_text(NULL));
	char longest[UMAP_SYNC_FEATURE_ID_MAX + 4];
	longest[0] = '"';
	memset(longest + 1, 'x', UMAP_SYNC_FEATURE_ID_MAX);
	strcpy(longest + 1 + UMAP_SYNC_FEATURE_ID_MAX, "\"");
	CHECK(umap_sync_valid_feature_id_text(longest));
	strcpy(longest + 1 + UMAP_SYNC_FEATURE_ID_MAX, "x\"");
	CHECK(!umap_sync_valid_feature_id_text(longest)); /* one byte more */
	/* the server's op validation says the same */
	json_t *op = json_pack("{s:s, s:s, s:s, s:s, s:{s:I, s:s}}", "op_id", "x", "hlc",
			       "018bcfe56800-0000-n", "verb", "delete", "subject", "feature", "metadata", "id",
			       (json_int_t)9007199254740992, "layerId", "L");
	umap_sync_op parsed;
	CHECK_INT(umap_sync_op_parse(&parsed, op, 3), UMAP_EINVALID);
	CHECK_STR(umap_error_last(), "ops[3]: metadata.id must be " UMAP_SYNC_FEATURE_ID_RULE);
	json_object_set_new(json_object_get(op, "metadata"), "id", json_integer(9007199254740991));
	CHECK_INT(umap_sync_op_parse(&parsed, op, 3), 0);
	CHECK_STR(parsed.feature, "9007199254740991");
	umap_sync_op_dispose(&parsed);
	json_decref(op);
}

TEST(filename_rule)
{
	char name[UMAP_SYNC_FILENAME_MAX + 2];
	memset(name, 'n', sizeof(name) - 1);
	name[UMAP_SYNC_FILENAME_MAX] = '\0';
	CHECK(umap_sync_valid_filename(name));
	name[UMAP_SYNC_FILENAME_MAX] = 'n';
	name[UMAP_SYNC_FILENAME_MAX + 1] = '\0';
	CHECK(!umap_sync_valid_filename(name));
	/* with the longest suffix any client derives, the longest name fits NAME_MAX */
	CHECK_INT(UMAP_SYNC_FILENAME_MAX + UMAP_SYNC_FILENAME_SUFFIX_MAX, 255);
	CHECK_INT((int)strlen("x.tmp-4294967295-XXXXXX") - 1, UMAP_SYNC_FILENAME_SUFFIX_MAX);
	CHECK(!umap_sync_valid_filename(".hidden"));
	CHECK(!umap_sync_valid_filename("a/b"));
	CHECK(!umap_sync_valid_filename(""));
}

int main(void)
{
	RUN(feature_id_rule);
	RUN(filename_rule);
	return UNIT_DONE();
}
