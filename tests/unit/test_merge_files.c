/* Unit tests for umap_merge_files (merge-file's streamed merge): the same merged text and
 * conflicts as umap_merge of whole documents, its fallbacks, and the streaming writers. */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

#include "doc.h"
#include "error.h"
#include "fs.h"
#include "merge.h"

static char dir[64];

static const char *path_of(const char *name)
{
	static char paths[4][128];
	static int next;
	char *p = paths[next++ % 4];
	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

static void put_file(const char *name, const char *text)
{
	if (umap_file_write_atomic(path_of(name), text, strlen(text)))
		printf("# cannot write %s: %s\n", name, umap_error_last());
}

/* The merged text and the conflict report, written into `text` and `report` (malloc'd). */
typedef struct outcome {
	int rc;
	char *text;
	char *report;
} outcome;

static void outcome_of(outcome *o, umap_merge_result *r)
{
	umap_buf out = UMAP_BUF_INIT;
	json_t *json = NULL;
	if (!umap_merge_write(&out, r, UMAP_JSON_INDENT(2)) && !umap_merge_conflicts_json(&json, r)) {
		o->text = umap_buf_detach(&out);
		o->report = umap_json_dumps(json, UMAP_JSON_COMPACT);
	}
	umap_buf_dispose(&out);
	json_decref(json);
}

static void by_documents(outcome *o, const char *b, const char *ours, const char *t,
			 umap_merge_favor favor)
{
	umap_doc *docs[3] = { NULL, NULL, NULL };
	const char *texts[3] = { b, ours, t };
	umap_doc_options dopts = UMAP_DOC_OPTIONS_INIT;
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < 3 && !o->rc; i++)
		o->rc = umap_doc_from_buffer(&docs[i], texts[i], strlen(texts[i]), "test", &dopts);
	umap_merge_options opts = UMAP_MERGE_OPTIONS_INIT;
	opts.favor = favor;
	umap_merge_result *r = NULL;
	if (!o->rc && !(o->rc = umap_merge(&r, docs[0], docs[1], docs[2], &opts)))
		outcome_of(o, r);
	umap_merge_result_free(r);
	for (int i = 0; i < 3; i++)
		umap_doc_free(docs[i]);
}

static int collect(void *data, const char *bytes, size_t len)
{
	return umap_buf_put(data, bytes, len);
}

static void by_files(outcome *o, const char *b, const char *ours, const char *t,
		     umap_merge_favor favor)
{
	put_file("base", b);
	put_file("ours", ours);
	put_file("theirs", t);
	const char *paths[3] = { path_of("base"), path_of("ours"), path_of("theirs") };
	umap_doc *docs[3];
	umap_merge_options opts = UMAP_MERGE_OPTIONS_INIT;
	opts.favor = favor;
	umap_merge_result *r = NULL;
	memset(o, 0, sizeof(*o));
	o->rc = umap_merge_files(&r, docs, paths, NULL, &opts);
	if (!o->rc) {
		outcome_of(o, r);
		/* the pieces handed out and the saved file are the same text */
		umap_buf pieces = UMAP_BUF_INIT;
		CHECK_INT(umap_merge_write_to(r, UMAP_JSON_INDENT(2), collect, &pieces), 0);
		CHECK_STR(pieces.ptr ? pieces.ptr : "", o->text ? o->text : "");
		umap_buf_dispose(&pieces);
		umap_buf saved = UMAP_BUF_INIT;
		CHECK_INT(umap_merge_save(r, path_of("out"), UMAP_JSON_INDENT(2)), 0);
		CHECK_INT(umap_file_read(&saved, path_of("out"), 1 << 30), 0);
		CHECK_STR(saved.ptr ? saved.ptr : "", o->text ? o->text : "");
		umap_buf_dispose(&saved);
	}
	umap_merge_result_free(r);
	for (int i = 0; i < 3; i++)
		umap_doc_free(o->rc ? NULL : docs[i]);
}

static void outcome_dispose(outcome *o)
{
	free(o->text);
	free(o->report);
}

/* Both ways must agree. */
static void check_same_favoring(const char *b, const char *ours, const char *t,
				umap_merge_favor favor)
{
	outcome want, got;
	by_documents(&want, b, ours, t, favor);
	by_files(&got, b, ours, t, favor);
	CHECK_INT(got.rc, want.rc);
	CHECK(want.text && got.text);
	if (want.text && got.text) {
		CHECK_STR(got.text, want.text);
		CHECK_STR(got.report, want.report);
	}
	outcome_dispose(&want);
	outcome_dispose(&got);
}

/* ... whatever the favor. */
static void check_same(const char *b, const char *ours, const char *t)
{
	for (int favor = UMAP_MERGE_FAVOR_OURS; favor <= UMAP_MERGE_FAVOR_UNION; favor++)
		check_same_favoring(b, ours, t, (umap_merge_favor)favor);
}

/* A layer of n features, one per line; `edit` says what a version does to feature i:
 * 0 nothing, 1 change its name, 2 change its capacity, 3 delete it, 4 insert a new
 * feature after it, 5 change its name the other way. */
static char *layer(size_t n, int (*edit)(size_t i), const char *color, const char *sep)
{
	umap_buf b = UMAP_BUF_INIT;
	umap_buf_puts(&b, "{\"type\":\"FeatureCollection\",\"features\":[\n");
	int first = 1;
	for (size_t i = 0; i < n; i++) {
		int e = edit ? edit(i) : 0;
		if (e != 3) {
			umap_buf_printf(&b, "%s{\"type\":\"Feature\",\"id\":\"f%zu\",\"properties\":"
				       "{\"name\":\"%s %zu\",\"capacity\":%zu},\"geometry\":{\"type\":"
				       "\"Point\",\"coordinates\":[4.%zu,45.%zu]}}",
				       first ? "" : sep, i, e == 1 ? "ours" : e == 5 ? "theirs" : "base",
				       i, e == 2 ? i + 1000 : i, i, i);
			first = 0;
		}
		if (e == 4) {
			umap_buf_printf(&b, "%s{\"type\":\"Feature\",\"id\":\"n%zu%s\",\"properties\":{},"
				       "\"geometry\":null}", first ? "" : sep, i, color);
			first = 0;
		}
	}
	umap_buf_printf(&b, "\n],\"_umap_options\":{\"name\":\"layer\",\"color\":\"%s\"}}\n", color);
	return umap_buf_detach(&b);
}

static int ours_edit(size_t i)
{
	return i % 17 == 3 ? 1 : i % 23 == 5 ? 2 : i % 41 == 7 ? 3 : i % 37 == 11 ? 4 : 0;
}

static int theirs_edit(size_t i)
{
	/* some of ours' features too: names both ways (a conflict), capacities alike */
	return i % 34 == 3 ? 5 : i % 46 == 5 ? 2 : i % 43 == 9 ? 3 : i % 31 == 13 ? 4 :
	       i % 41 == 7 ? 1 : 0;
}

TEST(a_layer_with_edits_everywhere_merges_as_the_documents_do)
{
	char *b = layer(400, NULL, "red", ",\n"), *o = layer(400, ours_edit, "red", ",\n");
	char *t = layer(400, theirs_edit, "red", ",\n"), *t2 = layer(400, theirs_edit, "blue", ",\n");
	check_same(b, o, t);
	check_same(b, o, t2); /* layer options changed too: the skeleton is written anew */
	check_same(b, t2, o);
	check_same(b, b, b);
	free(b);
	free(o);
	free(t);
	free(t2);
}

/* Over a megabyte BASE is read in halves and OURS and THEIRS take from it what they did not
 * change (see open_versions_by_halves): the merge is the same, and so is an error in
 * BASE's second half. */
TEST(big_layers_read_in_halves_merge_as_the_documents_do)
{
	char *b = layer(12000, NULL, "red", ",\n"), *o = layer(12000, ours_edit, "red", ",\n");
	char *t = layer(12000, theirs_edit, "blue", ",\n");
	CHECK(strlen(b) > (1 << 20));
	check_same_favoring(b, o, t, UMAP_MERGE_FAVOR_OURS);
	outcome got;
	/* a leading zero in BASE's last feature: the message of a whole reading */
	char *bad = strstr(b + strlen(b) - 300, "45.");
	CHECK(bad != NULL);
	if (bad) {
		memcpy(bad, "045", 3);
		size_t line = 1;
		const char *line_start = b;
		for (const char *p = b; p < bad; p++)
			if (*p == '\n') {
				line++;
				line_start = p + 1;
			}
		char want_at[64];
		snprintf(want_at, sizeof(want_at), "base:%zu:%zu: invalid number: leading zeros",
			 line, (size_t)(bad - line_start) + 1);
		by_files(&got, b, o, t, UMAP_MERGE_FAVOR_OURS);
		CHECK_INT(got.rc, UMAP_EINVALID);
		CHECK(strstr(umap_error_last(), want_at) != NULL);
		outcome_dispose(&got);
	}
	free(b);
	free(o);
	free(t);
}

TEST(compact_and_spaced_files)
{
	char *b = layer(50, NULL, "red", ", "), *o = layer(50, ours_edit, "red", ", ");
	char *t = layer(50, theirs_edit, "red", ",\n    ");
	check_same(b, o, t);
	free(b);
	free(o);
	free(t);
}

#define MAP(l1, l2) "{\"type\":\"umap\",\"properties\":{\"name\":\"m\"},\"layers\":[" l1 l2 "]}"
#define L(id, feats) "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"" id "\"},\"features\":[" feats "]}"
#define F(id, props) "{\"type\":\"Feature\",\"id\":\"" id "\",\"properties\":" props ",\"geometry\":null}"

TEST(maps_with_layers_deleted_and_changed)
{
	check_same(MAP(L("a", F("x", "{\"n\":1}") "," F("y", "{}")), "," L("b", F("x", "{}"))),
		   MAP(L("a", F("x", "{\"n\":2}") "," F("y", "{}")), ""),
		   MAP(L("a", F("x", "{\"n\":1}") "," F("z", "{}")), "," L("b", F("x", "{}"))));
	check_same(MAP(L("a", F("x", "{\"n\":1}")), "," L("b", F("x", "{}"))),
		   MAP(L("a", F("x", "{\"n\":1}")), ""),
		   MAP(L("a", F("x", "{\"n\":1}")), "," L("b", F("x", "{\"m\":1}"))));
	check_same(MAP(L("a", ""), ""), MAP(L("a", F("x", "{}")), ""), MAP(L("a", ""), "," L("c", "")));
}

TEST(features_without_ids_and_repeated_ids_read_the_documents)
{
	const char *idless = "{\"type\":\"FeatureCollection\",\"features\":["
			     "{\"type\":\"Feature\",\"properties\":{\"a\":1},\"geometry\":null}]}";
	const char *more = "{\"type\":\"FeatureCollection\",\"features\":["
			   "{\"type\":\"Feature\",\"properties\":{\"a\":1},\"geometry\":null},"
			   "{\"type\":\"Feature\",\"properties\":{\"a\":2},\"geometry\":null}]}";
	check_same(idless, more, idless);
	const char *dup = "{\"type\":\"FeatureCollection\",\"features\":[\n" F("x", "{}") ",\n" F("x", "{}") "]}";
	outcome got;
	by_files(&got, dup, dup, dup, UMAP_MERGE_FAVOR_OURS);
	CHECK_INT(got.rc, UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "duplicate feature id \"x\": first on line 2, again on line 3") != NULL);
	outcome_dispose(&got);
}

TEST(a_merge_failure_keeps_the_documents_a_read_failure_does_not)
{
	put_file("layer", "{\"type\":\"FeatureCollection\",\"features\":[]}");
	put_file("map", "{\"type\":\"umap\",\"layers\":[]}");
	put_file("bad", "{\"type\":");
	const char *mixed[3] = { path_of("layer"), path_of("layer"), path_of("map") };
	umap_doc *docs[3];
	umap_merge_result *r = NULL;
	CHECK_INT(umap_merge_files(&r, docs, mixed, NULL, NULL), UMAP_EINVALID);
	CHECK(r == NULL && docs[0] && docs[1] && docs[2]);
	for (int i = 0; i < 3; i++)
		umap_doc_free(docs[i]);
	const char *bad[3] = { path_of("layer"), path_of("bad"), path_of("nowhere") };
	CHECK_INT(umap_merge_files(&r, docs, bad, NULL, NULL), UMAP_EINVALID);
	CHECK(r == NULL && !docs[0] && !docs[1] && !docs[2]);
	CHECK(strstr(umap_error_last(), "bad") != NULL); /* OURS' error, not THEIRS' */
}

TEST(standard_input_is_read_once_even_when_features_have_no_ids)
{
	const char *one = "{\"type\":\"FeatureCollection\",\"features\":["
			  "{\"type\":\"Feature\",\"properties\":{\"a\":1},\"geometry\":null}]}";
	const char *two = "{\"type\":\"FeatureCollection\",\"features\":["
			  "{\"type\":\"Feature\",\"properties\":{\"a\":1},\"geometry\":null},"
			  "{\"type\":\"Feature\",\"properties\":{\"a\":2},\"geometry\":null}]}";
	outcome want, got;
	by_documents(&want, one, two, one, UMAP_MERGE_FAVOR_OURS);
	put_file("base", one);
	put_file("ours", two);
	CHECK(freopen(path_of("ours"), "r", stdin) != NULL);
	const char *paths[3] = { path_of("base"), "-", path_of("base") };
	umap_doc *docs[3];
	umap_merge_result *r = NULL;
	memset(&got, 0, sizeof(got));
	CHECK_INT(umap_merge_files(&r, docs, paths, NULL, NULL), 0);
	if (r) {
		outcome_of(&got, r);
		CHECK_STR(got.text ? got.text : "", want.text ? want.text : "none");
		umap_merge_result_free(r);
		for (int i = 0; i < 3; i++)
			umap_doc_free(docs[i]);
	}
	outcome_dispose(&want);
	outcome_dispose(&got);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/umapsync-merge-files-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("not ok - cannot make a temporary directory\n");
		return 1;
	}
	RUN(a_layer_with_edits_everywhere_merges_as_the_documents_do);
	RUN(big_layers_read_in_halves_merge_as_the_documents_do);
	RUN(compact_and_spaced_files);
	RUN(maps_with_layers_deleted_and_changed);
	RUN(features_without_ids_and_repeated_ids_read_the_documents);
	RUN(a_merge_failure_keeps_the_documents_a_read_failure_does_not);
	RUN(standard_input_is_read_once_even_when_features_have_no_ids);
	const char *names[] = { "base", "ours", "theirs", "out", "layer", "map", "bad" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path_of(names[i]));
	rmdir(dir);
	return UNIT_DONE();
}
