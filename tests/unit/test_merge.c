/* Unit tests for lib/merge: conflicts through the API, key order, --union, features without
 * ids, whole-layer conflicts, and the writer that keeps OURS' text. */
#include "unit.h"

#include <stdlib.h>

#include "doc.h"
#include "error.h"
#include "merge.h"

static umap_doc *doc_of(const char *text)
{
	umap_doc *doc = NULL;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	if (umap_doc_from_buffer(&doc, text, strlen(text), "test", &opts))
		printf("# cannot read test document: %s\n", umap_error_last());
	return doc;
}

/* Merges three texts; returns the merged text (static) and the conflict report. */
static const char *merge3(const char *b, const char *o, const char *t, umap_merge_favor favor,
			  char **report)
{
	static char result[4096];
	umap_doc *docs[3] = { doc_of(b), doc_of(o), doc_of(t) };
	umap_merge_options opts = UMAP_MERGE_OPTIONS_INIT;
	opts.favor = favor;
	umap_merge_result *r = NULL;
	strcpy(result, "error");
	if (docs[0] && docs[1] && docs[2] && !umap_merge(&r, docs[0], docs[1], docs[2], &opts)) {
		umap_buf out = UMAP_BUF_INIT;
		if (!umap_merge_write(&out, r, UMAP_JSON_INDENT(2)) && out.len < sizeof(result))
			memcpy(result, out.ptr, out.len + 1);
		umap_buf_dispose(&out);
		json_t *json = NULL;
		if (report && !umap_merge_conflicts_json(&json, r)) {
			*report = umap_json_dumps(json_object_get(json, "conflicts"), UMAP_JSON_COMPACT);
			json_decref(json);
		}
	}
	umap_merge_result_free(r);
	for (int i = 0; i < 3; i++)
		umap_doc_free(docs[i]);
	return result;
}

#define FC(features) "{\"type\":\"FeatureCollection\",\"features\":[" features "]}"
#define F(id, props) "{\"type\":\"Feature\",\"id\":\"" id "\",\"properties\":" props ",\"geometry\":null}"

TEST(compact_files_keep_their_separators)
{
	char *report = NULL;
	const char *got = merge3(FC(F("a", "{\"n\":1}") "," F("b", "{\"n\":2}")),
				 FC(F("a", "{\"n\":1}") "," F("b", "{\"n\":2}") "," F("c", "{}")),
				 FC(F("a", "{\"n\":5}") "," F("b", "{\"n\":2}")), UMAP_MERGE_FAVOR_OURS, &report);
	CHECK_STR(got, FC(F("a", "{\"n\":5}") "," F("b", "{\"n\":2}") "," F("c", "{}")));
	CHECK_STR(report, "[]");
	free(report);
}

TEST(new_keys_of_theirs_follow_ours)
{
	char *report = NULL;
	const char *got = merge3(FC(F("a", "{\"x\":1}")), FC(F("a", "{\"x\":1,\"o\":2}")),
				 FC(F("a", "{\"t\":3,\"x\":1}")), UMAP_MERGE_FAVOR_OURS, &report);
	CHECK_STR(got, FC(F("a", "{\"x\":1,\"o\":2,\"t\":3}")));
	free(report);
}

TEST(conflict_fields_and_favors)
{
	char *report = NULL;
	const char *b = FC(F("a", "{\"tags\":[\"x\"],\"n\":1}"));
	const char *o = FC(F("a", "{\"tags\":[\"x\",\"o\"],\"n\":2}"));
	const char *t = FC(F("a", "{\"tags\":[\"x\",\"t\"],\"n\":3}"));
	const char *got = merge3(b, o, t, UMAP_MERGE_FAVOR_OURS, &report);
	CHECK_STR(got, o);
	CHECK_STR(report, "[{\"layer\":0,\"id\":\"a\",\"key\":\"properties.tags\",\"kind\":\"modify/modify\","
			  "\"base\":[\"x\"],\"ours\":[\"x\",\"o\"],\"theirs\":[\"x\",\"t\"]},"
			  "{\"layer\":0,\"id\":\"a\",\"key\":\"properties.n\",\"kind\":\"modify/modify\","
			  "\"base\":1,\"ours\":2,\"theirs\":3}]");
	free(report);
	CHECK_STR(merge3(b, o, t, UMAP_MERGE_FAVOR_THEIRS, NULL), t);
	CHECK_STR(merge3(b, o, t, UMAP_MERGE_FAVOR_UNION, NULL),
		  FC(F("a", "{\"tags\":[\"x\",\"o\",\"t\"],\"n\":2}")));
}

TEST(identical_features_without_ids_count_one_by_one)
{
	const char *p = "{\"type\":\"Feature\",\"properties\":{\"k\":1},\"geometry\":null}";
	const char *q = "{\"type\":\"Feature\",\"properties\":{\"k\":2},\"geometry\":null}";
	char b[512], o[512], t[512], want[512];
	snprintf(b, sizeof(b), FC("%s,%s,%s"), p, p, q);
	snprintf(o, sizeof(o), FC("%s,%s"), p, q);    /* ours drops one of the twins */
	snprintf(t, sizeof(t), FC("%s,%s,%s,%s"), p, p, q, q); /* theirs adds a twin of q */
	snprintf(want, sizeof(want), FC("%s,%s,%s"), p, q, q);
	CHECK_STR(merge3(b, o, t, UMAP_MERGE_FAVOR_OURS, NULL), want);
}

TEST(a_layer_one_side_deleted_and_the_other_changed_is_a_conflict)
{
	const char *l1 = "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"L1\"},\"features\":[" F("a", "{}") "]}";
	const char *l1x = "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"L1\"},\"features\":[" F("a", "{\"x\":1}") "]}";
	const char *l2 = "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"L2\"},\"features\":[]}";
	char b[1024], o[1024], t[1024];
	snprintf(b, sizeof(b), "{\"type\":\"umap\",\"properties\":{},\"layers\":[%s,%s]}", l1, l2);
	snprintf(o, sizeof(o), "{\"type\":\"umap\",\"properties\":{},\"layers\":[%s,%s]}", l1x, l2);
	snprintf(t, sizeof(t), "{\"type\":\"umap\",\"properties\":{},\"layers\":[%s]}", l2);
	char *report = NULL;
	merge3(b, o, t, UMAP_MERGE_FAVOR_OURS, &report);
	CHECK_STR(report, "[{\"layer\":\"L1\",\"id\":null,\"key\":null,\"kind\":\"modify/delete\","
			  "\"base\":{\"id\":\"L1\"},\"ours\":{\"id\":\"L1\"},\"theirs\":null}]");
	free(report);
	/* unchanged on the other side: the deletion applies */
	snprintf(o, sizeof(o), "{\"type\":\"umap\",\"properties\":{\"zoom\":3},\"layers\":[%s,%s]}", l1, l2);
	const char *got = merge3(b, o, t, UMAP_MERGE_FAVOR_OURS, &report);
	CHECK(strstr(got, "\"L1\"") == NULL);
	CHECK(strstr(got, "\"L2\"") != NULL);
	CHECK(strstr(got, "\"zoom\":3") != NULL); /* in OURS' layout: one line */
	free(report);
}

TEST(mixed_kinds_are_refused)
{
	umap_doc *layer = doc_of(FC("")), *map = doc_of("{\"type\":\"umap\",\"layers\":[]}");
	umap_merge_result *r = NULL;
	CHECK_INT(umap_merge(&r, layer, layer, map, NULL), UMAP_EINVALID);
	CHECK(r == NULL);
	umap_doc_free(layer);
	umap_doc_free(map);
}

TEST(conflict_kind_names)
{
	CHECK_STR(umap_conflict_kind_name(UMAP_CONFLICT_MODIFY_MODIFY), "modify/modify");
	CHECK_STR(umap_conflict_kind_name(UMAP_CONFLICT_MODIFY_DELETE), "modify/delete");
	CHECK_STR(umap_conflict_kind_name(UMAP_CONFLICT_DELETE_MODIFY), "delete/modify");
	CHECK_STR(umap_conflict_kind_name(UMAP_CONFLICT_ADD_ADD), "add/add");
}

int main(void)
{
	RUN(compact_files_keep_their_separators);
	RUN(new_keys_of_theirs_follow_ours);
	RUN(conflict_fields_and_favors);
	RUN(identical_features_without_ids_count_one_by_one);
	RUN(a_layer_one_side_deleted_and_the_other_changed_is_a_conflict);
	RUN(mixed_kinds_are_refused);
	RUN(conflict_kind_names);
	return UNIT_DONE();
}
