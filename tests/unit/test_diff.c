/* Unit tests for lib/diff, lib/ops and lib/patch: the change model fed pair by pair (as the
 * repository does), documents and streamed files giving the same diff, ops, and patches. */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

#include "diff.h"
#include "doc.h"
#include "error.h"
#include "ops.h"
#include "patch.h"

static json_t *parse(const char *text)
{
	json_t *v = NULL;
	if (umap_json_loadb(&v, text, strlen(text), "test"))
		printf("# parse failed: %s\n", umap_error_last());
	return v;
}

static char *dump(const json_t *v)
{
	return umap_json_dumps(v, UMAP_JSON_COMPACT);
}

TEST(pairs_fed_one_by_one)
{
	umap_diff *diff = NULL;
	CHECK_INT(umap_diff_new(&diff, NULL), 0);
	size_t layer = 99;
	json_t *opts_a = parse("{\"id\":\"L\",\"name\":\"Parking\",\"color\":\"red\"}");
	json_t *opts_b = parse("{\"id\":\"L\",\"name\":\"Parking\",\"color\":\"blue\"}");
	CHECK_INT(umap_diff_add_layer(&layer, diff, UMAP_CHANGE_NONE, "L", 0, opts_a, opts_b), 0);
	CHECK_INT(layer, 0);
	json_t *a = parse("{\"type\":\"Feature\",\"id\":\"f1\",\"properties\":{\"name\":\"A\",\"n\":1,\"gone\":true},"
			  "\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.8320,45.7578]}}");
	/* same values in another order and spelling, a changed key, an added key, a moved point */
	json_t *b = parse("{\"geometry\":{\"coordinates\":[4.8330,45.7578],\"type\":\"Point\"},"
			  "\"properties\":{\"extra\":[1],\"n\":2,\"name\":\"A\"},\"id\":\"f1\",\"type\":\"Feature\"}");
	json_t *same = parse("{\"type\":\"Feature\",\"id\":\"f2\",\"properties\":{\"x\":1.0},\"geometry\":null}");
	json_t *same2 = parse("{\"properties\":{\"x\":1},\"type\":\"Feature\",\"id\":\"f2\",\"geometry\":null}");
	CHECK_INT(umap_diff_add_feature(diff, layer, a, b, NULL, NULL), 0);
	CHECK_INT(umap_diff_add_feature(diff, layer, same, same2, NULL, NULL), 0);
	CHECK_INT(umap_diff_add_feature(diff, layer, NULL, same, NULL, NULL), 0);
	umap_diff_add_unchanged(diff, layer, 10);
	CHECK_INT(diff->summary.modified, 1);
	CHECK_INT(diff->summary.added, 1);
	CHECK_INT(diff->summary.unchanged, 11);
	CHECK_INT(diff->layers[0].kind, UMAP_CHANGE_MODIFIED);
	CHECK_INT(diff->layers[0].nkeys, 1);
	CHECK_INT(diff->nchanges, 2);
	const umap_feature_change *c = &diff->changes[0];
	CHECK_STR(c->id, "\"f1\"");
	CHECK_INT(c->nkeys, 3);
	CHECK_STR(c->keys[0].key, "extra");
	CHECK(c->keys[0].old_value == NULL);
	CHECK_STR(c->keys[1].key, "n");
	CHECK_STR(c->keys[2].key, "gone");
	CHECK(c->keys[2].new_value == NULL);
	CHECK(c->geometry_changed);
	CHECK(umap_diff_has_changes(diff));

	json_t *out = NULL;
	CHECK_INT(umap_diff_to_json(&out, diff), 0);
	char *text = dump(out);
	CHECK_STR(text, "{\"summary\":{\"added\":1,\"removed\":0,\"modified\":1,\"unchanged\":11},"
			"\"layers\":[{\"layer\":\"L\",\"change\":\"modified\",\"properties\":{\"color\":{\"old\":\"red\",\"new\":\"blue\"}}}],"
			"\"features\":[{\"layer\":\"L\",\"id\":\"f1\",\"change\":\"modified\",\"properties\":"
			"{\"extra\":{\"new\":[1]},\"n\":{\"old\":1,\"new\":2},\"gone\":{\"old\":true}},"
			"\"geometry\":{\"old\":{\"type\":\"Point\",\"coordinates\":[4.832,45.7578]},"
			"\"new\":{\"coordinates\":[4.833,45.7578],\"type\":\"Point\"}}},"
			"{\"layer\":\"L\",\"id\":\"f2\",\"change\":\"added\",\"new\":{\"type\":\"Feature\",\"id\":\"f2\","
			"\"properties\":{\"x\":1},\"geometry\":null}}]}");
	free(text);
	json_decref(out);

	umap_buf buf = UMAP_BUF_INIT;
	CHECK_INT(umap_diff_format_text(&buf, diff, 0), 0);
	CHECK_STR(buf.ptr, "modified layer \"Parking\" (L)\n"
			   "  ~ color: \"red\" \xe2\x86\x92 \"blue\"\n"
			   "\n"
			   "modified feature f1 \"A\"\n"
			   "  + extra: [1]\n"
			   "  ~ n: 1 \xe2\x86\x92 2\n"
			   "  - gone: true\n"
			   "  ~ geometry: Point, 1 vertex, bbox moved 78 m\n"
			   "\n"
			   "added feature f2\n"
			   "  + x: 1\n"
			   "  + geometry: null\n");
	umap_buf_dispose(&buf);

	json_t *ops = NULL;
	CHECK_INT(umap_ops_from_diff(&ops, diff, NULL, NULL), 0);
	text = dump(ops);
	CHECK_STR(text, "[{\"verb\":\"update\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\"},\"key\":\"properties.color\",\"value\":\"blue\",\"oldValue\":\"red\"},"
			"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"L\",\"featureType\":\"marker\"},\"key\":\"properties.extra\",\"value\":[1]},"
			"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"L\",\"featureType\":\"marker\"},\"key\":\"properties.n\",\"value\":2,\"oldValue\":1},"
			"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"L\",\"featureType\":\"marker\"},\"key\":\"properties.gone\",\"oldValue\":true},"
			"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"L\",\"featureType\":\"marker\"},\"key\":\"geometry\",\"value\":{\"coordinates\":[4.833,45.7578],\"type\":\"Point\"},\"oldValue\":{\"type\":\"Point\",\"coordinates\":[4.832,45.7578]}},"
			"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f2\",\"layerId\":\"L\",\"featureType\":null},\"value\":{\"type\":\"Feature\",\"id\":\"f2\",\"properties\":{\"x\":1},\"geometry\":null}}]");
	free(text);
	json_decref(ops);

	umap_diff_free(diff);
	json_decref(opts_a);
	json_decref(opts_b);
	json_decref(a);
	json_decref(b);
	json_decref(same);
	json_decref(same2);
}

/* A renamed file alone is a difference, printed first in text, a row of --stat, and the
 * json's "files"; the formats without files (ops) have nothing to say about it. */
TEST(renamed_files_in_every_format)
{
	umap_diff *diff = NULL;
	size_t layer;
	CHECK_INT(umap_diff_new(&diff, NULL), 0);
	CHECK_INT(umap_diff_add_layer(&layer, diff, UMAP_CHANGE_NONE, "L", 0, NULL, NULL), 0);
	umap_diff_add_unchanged(diff, layer, 4);
	CHECK(!umap_diff_has_changes(diff));
	CHECK_INT(umap_diff_add_rename(diff, "parking.geojson", "lyon/bikes.geojson"), 0);
	CHECK_INT(umap_diff_add_rename(diff, "é.umap", "m.umap"), 0);
	CHECK(umap_diff_has_changes(diff));
	umap_buf buf = UMAP_BUF_INIT;
	CHECK_INT(umap_diff_format_text(&buf, diff, 0), 0);
	CHECK_STR(buf.ptr, "renamed file parking.geojson \xe2\x86\x92 lyon/bikes.geojson\n"
			   "renamed file \xc3\xa9.umap \xe2\x86\x92 m.umap\n");
	umap_buf_clear(&buf);
	CHECK_INT(umap_diff_format_stat(&buf, diff), 0);
	CHECK_STR(buf.ptr, " parking.geojson => lyon/bikes.geojson | file renamed\n"
			   " \xc3\xa9.umap => m.umap                      | file renamed\n"
			   " 0 added, 0 removed, 0 modified, 4 unchanged\n");
	umap_buf_clear(&buf);
	CHECK_INT(umap_diff_format_markdown(&buf, diff, 20), 0);
	CHECK_STR(buf.ptr, "**umapsync diff**: 0 added, 0 removed, 0 modified, 4 unchanged\n\n"
			   "Files renamed: `parking.geojson` \xe2\x86\x92 `lyon/bikes.geojson`, "
			   "`\xc3\xa9.umap` \xe2\x86\x92 `m.umap`\n");
	umap_buf_dispose(&buf);
	json_t *out = NULL;
	CHECK_INT(umap_diff_to_json(&out, diff), 0);
	char *text = dump(out);
	CHECK_STR(text, "{\"summary\":{\"added\":0,\"removed\":0,\"modified\":0,\"unchanged\":4},"
			"\"files\":[{\"path\":\"lyon/bikes.geojson\",\"renamed_from\":\"parking.geojson\"},"
			"{\"path\":\"m.umap\",\"renamed_from\":\"\xc3\xa9.umap\"}],"
			"\"layers\":[],\"features\":[]}");
	free(text);
	json_decref(out);
	json_t *ops = NULL;
	CHECK_INT(umap_ops_from_diff(&ops, diff, NULL, NULL), 0);
	CHECK_INT(json_array_size(ops), 0);
	json_decref(ops);
	umap_diff_free(diff);
}

TEST(ignore_precision_and_summary_only)
{
	const char *keys[] = { "n", "geometry" };
	json_t *a = parse("{\"type\":\"Feature\",\"id\":1,\"properties\":{\"n\":1},\"geometry\":{\"type\":\"Point\",\"coordinates\":[1.000001,2]}}");
	json_t *b = parse("{\"type\":\"Feature\",\"id\":1,\"properties\":{\"n\":2},\"geometry\":{\"type\":\"Point\",\"coordinates\":[1.000002,2]}}");
	umap_diff_options opts = UMAP_DIFF_OPTIONS_INIT;
	opts.ignore = keys;
	opts.nignore = 2;
	umap_diff *diff = NULL;
	size_t layer;
	CHECK_INT(umap_diff_new(&diff, &opts), 0);
	CHECK_INT(umap_diff_add_layer(&layer, diff, UMAP_CHANGE_NONE, NULL, 0, NULL, NULL), 0);
	CHECK_INT(umap_diff_add_feature(diff, layer, a, b, NULL, NULL), 0);
	CHECK_INT(diff->summary.unchanged, 1);
	CHECK(!umap_diff_has_changes(diff));
	umap_diff_free(diff);

	umap_diff_options p5 = UMAP_DIFF_OPTIONS_INIT, p6 = UMAP_DIFF_OPTIONS_INIT;
	p5.precision = 5;
	p6.precision = 6;
	p6.summary_only = 1;
	CHECK_INT(umap_diff_new(&diff, &p5), 0);
	umap_diff_add_layer(&layer, diff, UMAP_CHANGE_NONE, NULL, 0, NULL, NULL);
	umap_diff_add_feature(diff, layer, a, b, NULL, NULL);
	CHECK_INT(diff->nchanges, 1);
	CHECK(!diff->changes[0].geometry_changed);
	CHECK_INT(diff->changes[0].nkeys, 1);
	umap_diff_free(diff);
	CHECK_INT(umap_diff_new(&diff, &p6), 0);
	umap_diff_add_layer(&layer, diff, UMAP_CHANGE_NONE, NULL, 0, NULL, NULL);
	umap_diff_add_feature(diff, layer, a, b, NULL, NULL);
	CHECK_INT(diff->nchanges, 0); /* counted, not kept */
	CHECK_INT(diff->summary.modified, 1);
	CHECK_INT(diff->layers[0].modified, 1);
	CHECK(umap_diff_has_changes(diff));
	umap_diff_free(diff);
	json_decref(a);
	json_decref(b);
}

TEST(geometry_summaries)
{
	json_t *poly = parse("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]],[[0.2,0.2],[0.3,0.2],[0.2,0.3],[0.2,0.2]]]}");
	json_t *coll = parse("{\"type\":\"GeometryCollection\",\"geometries\":[{\"type\":\"Point\",\"coordinates\":[0,0]},"
			     "{\"type\":\"LineString\",\"coordinates\":[[0,0],[0,1]]}]}");
	json_t *moved = parse("{\"type\":\"Point\",\"coordinates\":[0,0.001]}");
	json_t *origin = parse("{\"type\":\"Point\",\"coordinates\":[0,0]}");
	CHECK_INT(umap_geometry_vertices(poly), 8);
	CHECK_INT(umap_geometry_vertices(coll), 3);
	CHECK_INT(umap_geometry_vertices(json_null()), 0);
	double d = umap_geometry_bbox_shift(origin, moved);
	CHECK(d > 111.1 && d < 111.3); /* 0.001 degree of latitude */
	CHECK(umap_geometry_bbox_shift(origin, origin) == 0);
	CHECK(umap_geometry_bbox_shift(json_null(), origin) < 0);
	json_decref(poly);
	json_decref(coll);
	json_decref(moved);
	json_decref(origin);
}

static char *diff_json(umap_diff *diff)
{
	json_t *out = NULL;
	if (umap_diff_to_json(&out, diff))
		return NULL;
	char *text = dump(out);
	json_decref(out);
	return text;
}

/* The diff of two documents read whole and that of the same files streamed must be the same
 * (and hold `must_contain` when given). */
static void check_streamed_agrees(const char *old_path, const char *new_path,
				  const char *must_contain)
{
	umap_doc_options o = UMAP_DOC_OPTIONS_INIT;
	umap_doc *a = NULL, *b = NULL;
	umap_diff *d1 = NULL, *d2 = NULL;
	CHECK_INT(umap_doc_open(&a, old_path, &o), 0);
	CHECK_INT(umap_doc_open(&b, new_path, &o), 0);
	CHECK_INT(umap_diff_new(&d1, NULL), 0);
	CHECK_INT(umap_diff_new(&d2, NULL), 0);
	CHECK_INT(umap_diff_docs(d1, a, b), 0);
	CHECK_INT(umap_diff_files(d2, old_path, new_path), 0);
	char *j1 = diff_json(d1), *j2 = diff_json(d2);
	CHECK_STR(j1, j2);
	if (must_contain)
		CHECK(j2 && strstr(j2, must_contain));
	free(j1);
	free(j2);
	umap_diff_free(d1);
	umap_diff_free(d2);
	umap_doc_free(a);
	umap_doc_free(b);
}

TEST(documents_and_streamed_files_agree)
{
	static const char *pairs[][2] = {
		{ "examples/cycling-lyon.umap", "tests/fixtures/diff/lyon-edited.umap" },
		{ "examples/bike-parking.geojson", "examples/bike-parking-alice.geojson" },
		{ "tests/fixtures/diff/benches-a.geojson", "tests/fixtures/diff/benches-b.geojson" },
		{ "tests/fixtures/diff/lyon-edited.umap", "examples/bike-parking-bob.geojson" },
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		check_streamed_agrees(pairs[i][0], pairs[i][1], NULL);
	}
	umap_diff *d = NULL;
	CHECK_INT(umap_diff_new(&d, NULL), 0);
	CHECK_INT(umap_diff_files(d, "examples/bike-parking.geojson", "tests/fixtures/diff/duplicate-ids.geojson"),
		  UMAP_EINVALID);
	CHECK_STR(umap_error_last(), "tests/fixtures/diff/duplicate-ids.geojson:6:5: duplicate feature id \"zP5kR\": first on line 4, again on line 6");
	umap_diff_free(d);
	CHECK_INT(umap_diff_new(&d, NULL), 0);
	CHECK_INT(umap_diff_files(d, "tests/fixtures/diff/duplicate-ids.geojson", "examples/bike-parking.geojson"),
		  UMAP_EINVALID);
	CHECK_STR(umap_error_last(), "tests/fixtures/diff/duplicate-ids.geojson:6:5: duplicate feature id \"zP5kR\": first on line 4, again on line 6");
	umap_diff_free(d);
}

/* How write_layer_as writes features: `big` gives each a name that makes it about 300
 * bytes (layers over a megabyte, which umap_diff_files reads in halves); `trap` nests
 * {"type":"Feature"} objects in each, where the guess of where a half starts may land;
 * feature `multiline` (if < n) spans lines. */
typedef struct layer_style {
	int big, trap;
	size_t multiline;
} layer_style;

/* Writes a layer of the features `ids` names (-1: a feature without id), the value of
 * feature k being `values[k]`; ids over 8 bytes are kept apart from short ones by diff. */
static void write_layer_as(const char *path, const int *ids, const int *values, size_t n,
			   layer_style style)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fputs("{\"type\":\"FeatureCollection\",\"features\":[\n", f);
	for (size_t k = 0; k < n; k++) {
		fputs(k ? ",\n" : "", f);
		fputs(k == style.multiline ? "{\n  \"type\":\"Feature\"," : "{\"type\":\"Feature\",", f);
		if (ids[k] >= 0)
			fprintf(f, ids[k] % 3 ? "\"id\":\"f%d\"," : "\"id\":\"feature-number-%d\",", ids[k]);
		int at = ids[k] < 0 ? values[k] : ids[k];
		if (!style.big) {
			fprintf(f, "\"properties\":{\"v\":%d},\"geometry\":{\"type\":\"Point\",\"coordinates\":[%d,1]}}",
				values[k], at);
			continue;
		}
		fprintf(f, "\"properties\":{\"v\":%d,\"name\":\"Rue de la R\u00e9publique %d, a name long "
			   "enough to make the layer large, with some more words to be sure\"",
			values[k], values[k]);
		if (style.trap)
			fputs(",\"parts\":[{\"a\":1},{\"type\":\"Feature\",\"properties\":{}}]", f);
		fprintf(f, "},\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[4.%06d,45.1],[4.2,45.%06d]]}}",
			values[k], at);
	}
	fputs("\n]}\n", f);
	fclose(f);
}

static void write_layer(const char *path, const int *ids, const int *values, size_t n)
{
	write_layer_as(path, ids, values, n, (layer_style){ 0, 0, n });
}

static void write_big_layer(const char *path, const int *ids, const int *values, size_t n,
			    int trap, size_t multiline)
{
	write_layer_as(path, ids, values, n, (layer_style){ 1, trap, multiline });
}

/* An edit of the layer of n features ids/values into new_ids/new_values (room for cap):
 * per thousand features, `removed` are removed, `added` get a new one (id added_base + k)
 * before them and `modified` a new value.
 * Returns the new count. */
static size_t edit_layer(const int *ids, const int *values, size_t n, int *new_ids,
			 int *new_values, size_t cap, unsigned seed, unsigned removed,
			 unsigned added, unsigned modified, int added_base)
{
	size_t m = 0;
	for (size_t k = 0; k < n && m + 2 <= cap; k++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = (seed >> 16) % 1000;
		if (r < removed)
			continue;
		if (r < removed + added) {
			new_ids[m] = added_base + (int)k;
			new_values[m++] = (int)k;
		}
		new_ids[m] = ids[k];
		new_values[m++] = values[k] + (r >= 1000 - modified);
	}
	return m;
}

/* diff pairs features by id trying first the old record next in order: moves, removals,
 * additions, long ids and features without id must come out as the document path has them */
TEST(streamed_pairing_follows_moves)
{
	enum { N = 300 };
	int a_ids[N], a_values[N], b_ids[N + 40], b_values[N + 40];
	for (int k = 0; k < N; k++) {
		a_ids[k] = k % 17 == 5 ? -1 : k;
		a_values[k] = k;
	}
	size_t nb = edit_layer(a_ids, a_values, N, b_ids, b_values, N + 39, 12345, 40, 40, 50, 1000);
	/* a block moved from the end to the front */
	int moved_ids[20], moved_values[20];
	memcpy(moved_ids, b_ids + nb - 20, sizeof(moved_ids));
	memcpy(moved_values, b_values + nb - 20, sizeof(moved_values));
	memmove(b_ids + 20, b_ids, (nb - 20) * sizeof(int));
	memmove(b_values + 20, b_values, (nb - 20) * sizeof(int));
	memcpy(b_ids, moved_ids, sizeof(moved_ids));
	memcpy(b_values, moved_values, sizeof(moved_values));
	char dir[] = "/tmp/umapsync-unit-XXXXXX", a_path[64], b_path[64];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(a_path, sizeof(a_path), "%s/a.geojson", dir);
	snprintf(b_path, sizeof(b_path), "%s/b.geojson", dir);
	write_layer(a_path, a_ids, a_values, N);
	write_layer(b_path, b_ids, b_values, nb);
	check_streamed_agrees(a_path, b_path, "feature-number-");
	umap_diff *d = NULL;

	/* an id the old side has, twice on the new side: the second is the duplicate */
	size_t j = 30;
	while (b_ids[j] < 0 || b_ids[j] >= 1000)
		j++;
	b_ids[nb] = b_ids[j];
	b_values[nb] = 7;
	write_layer(b_path, b_ids, b_values, nb + 1);
	CHECK_INT(umap_diff_new(&d, NULL), 0);
	CHECK_INT(umap_diff_files(d, a_path, b_path), UMAP_EINVALID);
	char want[256];
	snprintf(want, sizeof(want),
		 "%s:%zu:1: duplicate feature id \"%s%d\": first on line %zu, again on line %zu",
		 b_path, nb + 2, b_ids[j] % 3 ? "f" : "feature-number-", b_ids[j], j + 2, nb + 2);
	CHECK_STR(umap_error_last(), want);
	umap_diff_free(d);
	unlink(a_path);
	unlink(b_path);
	rmdir(dir);
}

static char *files_json(const char *a, const char *b, int threads, umap_diff_reading *reading)
{
	umap_diff_options o = UMAP_DIFF_OPTIONS_INIT;
	o.threads = threads;
	umap_diff *d = NULL;
	char *json = NULL;
	CHECK_INT(umap_diff_new(&d, &o), 0);
	if (d && !umap_diff_files(d, a, b)) {
		json = diff_json(d);
		umap_diff_reading_get(d, reading);
	}
	umap_diff_free(d);
	return json;
}

/* umap_diff_files on a pair fails with `code` and `message`. */
static void check_files_error(const char *a, const char *b, int threads, int code,
			      const char *message)
{
	umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
	dopts.threads = threads;
	umap_diff *d = NULL;
	CHECK_INT(umap_diff_new(&d, &dopts), 0);
	CHECK_INT(umap_diff_files(d, a, b), code);
	CHECK_STR(umap_error_last(), message);
	umap_diff_free(d);
}

/* The error of umap_diff_files on a pair is that of reading `path` as a document. */
static void check_same_error(const char *a, const char *b, const char *path, int threads)
{
	umap_doc_options o = UMAP_DOC_OPTIONS_INIT;
	umap_doc *doc = NULL;
	int want = umap_doc_open(&doc, path, &o);
	CHECK(want != 0);
	char *message = strdup(umap_error_last());
	check_files_error(a, b, threads, want, message);
	free(message);
	umap_doc_free(doc);
}

/* Reading in halves, and taking the new file's features that did not change from the old
 * one, gives the diff that reading each document whole gives, errors included. */
TEST(files_read_in_halves_agree)
{
	enum { N = 5000 };
	static int a_ids[N], a_values[N], b_ids[N + 200], b_values[N + 200];
	for (int k = 0; k < N; k++) {
		a_ids[k] = k % 41 == 7 ? -1 : k;
		a_values[k] = k;
	}
	size_t nb = edit_layer(a_ids, a_values, N, b_ids, b_values, N + 200, 777, 10, 10, 20, 100000);
	char dir[] = "/tmp/umapsync-unit-XXXXXX", a_path[64], b_path[64];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(a_path, sizeof(a_path), "%s/a.geojson", dir);
	snprintf(b_path, sizeof(b_path), "%s/b.geojson", dir);
	write_big_layer(a_path, a_ids, a_values, N, 0, 3 * N / 4);
	write_big_layer(b_path, b_ids, b_values, nb, 0, 3 * nb / 4);
	umap_doc_options o = UMAP_DOC_OPTIONS_INIT;
	umap_doc *a = NULL, *b = NULL;
	umap_diff *d = NULL;
	CHECK_INT(umap_doc_open(&a, a_path, &o), 0);
	CHECK_INT(umap_doc_open(&b, b_path, &o), 0);
	CHECK_INT(umap_diff_new(&d, NULL), 0);
	CHECK_INT(umap_diff_docs(d, a, b), 0);
	char *whole = diff_json(d);
	umap_diff_free(d);
	umap_doc_free(a);
	umap_doc_free(b);
	CHECK(whole && strstr(whole, "feature-number-") && strstr(whole, "\"added\"") &&
	      strstr(whole, "\"removed\""));
	for (int threads = 0; threads <= 1; threads++) {
		umap_diff_reading reading = { 0, 0 };
		char *json = files_json(a_path, b_path, threads, &reading);
		CHECK_STR(json, whole);
		free(json);
		/* both halves taken; the unchanged features of the new file not checked again,
		 * but for the one on several lines and a few around each change */
		CHECK_INT(reading.halves, 2);
		CHECK(reading.known > nb * 9 / 10 && reading.known < nb);
	}
	free(whole);

	/* a guess that lands inside a feature is never taken */
	write_big_layer(a_path, a_ids, a_values, N, 1, N);
	write_big_layer(b_path, b_ids, b_values, nb, 1, nb);
	check_streamed_agrees(a_path, b_path, NULL);
	umap_diff_reading reading = { 9, 9 };
	char *json = files_json(a_path, b_path, 1, &reading);
	CHECK(json != NULL);
	free(json);
	CHECK_INT(reading.halves, 0);
	CHECK(reading.known > nb * 9 / 10);

	/* errors in the second half, and after it, say where they are as reading whole does */
	write_big_layer(a_path, a_ids, a_values, N, 0, N);
	write_big_layer(b_path, b_ids, b_values, nb, 0, nb);
	FILE *f = fopen(b_path, "r+");
	CHECK(f != NULL);
	if (f) {
		fseek(f, -40, SEEK_END);
		fputs("\n01", f); /* a leading zero in a coordinate of the last feature */
		fclose(f);
	}
	for (int threads = 0; threads <= 1; threads++)
		check_same_error(a_path, b_path, b_path, threads);
	write_big_layer(b_path, b_ids, b_values, nb, 0, nb);
	f = fopen(b_path, "a");
	CHECK(f != NULL);
	if (f) {
		fputs("\n\n  ,", f); /* after the root value */
		fclose(f);
	}
	for (int threads = 0; threads <= 1; threads++)
		check_same_error(a_path, b_path, b_path, threads);
	umap_doc_set_max_features(N - 10);
	for (int threads = 0; threads <= 1; threads++)
		check_same_error(a_path, b_path, a_path, threads);
	umap_doc_set_max_features(0);

	/* a duplicate in the second half of a feature of the first */
	write_big_layer(a_path, a_ids, a_values, N, 0, N);
	b_ids[nb - 5] = b_ids[1];
	write_big_layer(b_path, b_ids, b_values, nb, 0, nb);
	char want[256];
	snprintf(want, sizeof(want),
		 "%s:%zu:1: duplicate feature id \"f%d\": first on line 3, again on line %zu",
		 b_path, nb - 3, b_ids[1], nb - 3);
	for (int threads = 0; threads <= 1; threads++)
		check_files_error(a_path, b_path, threads, UMAP_EINVALID, want);
	unlink(a_path);
	unlink(b_path);
	rmdir(dir);
}

TEST(patches_apply_reverse_and_refuse)
{
	const char *base = "{\"type\":\"FeatureCollection\",\"features\":["
			   "{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"n\":1},\"geometry\":null},"
			   "{\"type\":\"Feature\",\"id\":\"b\",\"properties\":{\"n\":2},\"geometry\":null}]}";
	json_t *patch = parse("{\"summary\":{},\"layers\":[],\"features\":["
			      "{\"layer\":0,\"id\":\"a\",\"change\":\"modified\",\"properties\":{\"n\":{\"old\":1,\"new\":5},\"m\":{\"new\":true}}},"
			      "{\"layer\":0,\"id\":\"b\",\"change\":\"removed\",\"old\":{\"type\":\"Feature\",\"id\":\"b\",\"properties\":{\"n\":2},\"geometry\":null}},"
			      "{\"layer\":0,\"id\":\"c\",\"change\":\"added\",\"new\":{\"type\":\"Feature\",\"id\":\"c\",\"properties\":{},\"geometry\":null}}]}");
	umap_doc_options o = UMAP_DOC_OPTIONS_INIT;
	umap_doc *doc = NULL;
	CHECK_INT(umap_doc_from_buffer(&doc, base, strlen(base), "base.geojson", &o), 0);
	umap_patch_options po = UMAP_PATCH_OPTIONS_INIT;
	size_t applied = 0;
	CHECK_INT(umap_patch_apply(doc, patch, &po, &applied), 0);
	CHECK_INT(applied, 3);
	umap_buf buf = UMAP_BUF_INIT;
	CHECK_INT(umap_doc_write(&buf, doc, UMAP_JSON_COMPACT), 0);
	CHECK_STR(buf.ptr, "{\"type\":\"FeatureCollection\",\"features\":["
			   "{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"n\":5,\"m\":true},\"geometry\":null},"
			   "{\"type\":\"Feature\",\"id\":\"c\",\"properties\":{},\"geometry\":null}]}");
	/* again: the old values no longer match */
	CHECK_INT(umap_patch_apply(doc, patch, &po, NULL), UMAP_ECONFLICT);
	CHECK_STR(umap_error_last(), "feature a: property \"n\" is 5 in base.geojson, the patch expects 1");
	umap_doc_free(doc);
	doc = NULL;
	CHECK_INT(umap_doc_from_buffer(&doc, buf.ptr, buf.len, "new.geojson", &o), 0);
	po.reverse = 1;
	CHECK_INT(umap_patch_apply(doc, patch, &po, NULL), 0);
	umap_buf_clear(&buf);
	CHECK_INT(umap_doc_write(&buf, doc, UMAP_JSON_COMPACT), 0);
	json_t *got = parse(buf.ptr), *want = parse(base);
	CHECK(umap_json_equal(got, want));
	json_decref(got);
	json_decref(want);
	umap_buf_dispose(&buf);
	umap_doc_free(doc);
	json_decref(patch);
}

/* uMap finds layers by id: no op carries a null layer id; the caller's id names one layer */
TEST(ops_never_have_a_null_layer_id)
{
	umap_diff *diff = NULL;
	CHECK_INT(umap_diff_new(&diff, NULL), 0);
	size_t layer = 99;
	CHECK_INT(umap_diff_add_layer(&layer, diff, UMAP_CHANGE_NONE, NULL, 0, NULL, NULL), 0);
	json_t *f = parse("{\"type\":\"Feature\",\"id\":\"f1\",\"properties\":{},\"geometry\":null}");
	CHECK_INT(umap_diff_add_feature(diff, layer, NULL, f, NULL, NULL), 0);
	json_t *ops = NULL;
	CHECK_INT(umap_ops_from_diff(&ops, diff, NULL, NULL), UMAP_EINVALID);
	CHECK(ops == NULL);
	CHECK(strstr(umap_error_last(), "layer 1 has no id") != NULL);
	CHECK_INT(umap_ops_from_diff(&ops, diff, NULL, "L9"), 0);
	char *text = dump(ops);
	CHECK_STR(text, "[{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"L9\",\"featureType\":null},"
			"\"value\":{\"type\":\"Feature\",\"id\":\"f1\",\"properties\":{},\"geometry\":null}}]");
	free(text);
	json_decref(ops);
	/* a second changed layer without id: one id cannot name both */
	CHECK_INT(umap_diff_add_layer(&layer, diff, UMAP_CHANGE_ADDED, NULL, 1, NULL, NULL), 0);
	ops = NULL;
	CHECK_INT(umap_ops_from_diff(&ops, diff, NULL, "L9"), UMAP_EINVALID);
	CHECK(ops == NULL);
	CHECK(strstr(umap_error_last(), "2 changed layers have no id") != NULL);
	umap_diff_free(diff);
	json_decref(f);
}

int main(void)
{
	RUN(pairs_fed_one_by_one);
	RUN(renamed_files_in_every_format);
	RUN(ignore_precision_and_summary_only);
	RUN(geometry_summaries);
	RUN(documents_and_streamed_files_agree);
	RUN(streamed_pairing_follows_moves);
	RUN(files_read_in_halves_agree);
	RUN(patches_apply_reverse_and_refuse);
	RUN(ops_never_have_a_null_layer_id);
	return UNIT_DONE();
}
