/* Unit tests for lib/repo: the canonical fast path against umap_json_write, a document
 * written to a revision and read back, the tree diff, revisions/refs, the stat index. */
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "doc.h"
#include "error.h"
#include "fs.h"
#include "json.h"
#include "repo.h"
#include "repo_internal.h"
#include "repo_store.h"

static char tmpdir[64];

/* A feature's blob: umap_json_write's compact form, but for numbers whose shortest form
 * has another exact decimal value. */
static void check_canonical(const char *text, const char *expect)
{
	umap_buf fast = UMAP_BUF_INIT;
	CHECK_INT(umap_repo_canonical_fast(&fast, text, strlen(text)), 1);
	if (strcmp(fast.ptr, expect))
		printf("# %s\n#   got:    %s\n#   wanted: %s\n", text, fast.ptr, expect);
	CHECK_STR(fast.ptr, expect);
	umap_buf_dispose(&fast);
}

TEST(canonical_form_is_the_writers_but_keeps_what_a_double_loses)
{
	check_canonical("{ \"type\" : \"Feature\", \"id\": \"a\", \"properties\": {\"n\": 1, \"x\": [1, 2.5, -0.25, 0.000001]}}",
			"{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"n\":1,\"x\":[1,2.5,-0.25,0.000001]}}");
	check_canonical("{\"a\": 1.50, \"b\": 2.0, \"c\": -3.10, \"d\": 0.0, \"e\": 100}",
			"{\"a\":1.5,\"b\":2,\"c\":-3.1,\"d\":0,\"e\":100}");
	check_canonical("{\"a\": [true, false, null, {}, []], \"b\": \"é ü 😀\"}",
			"{\"a\":[true,false,null,{},[]],\"b\":\"é ü 😀\"}");
	check_canonical("{\"a\": 1e2, \"b\": 0.1234567890123456, \"c\": 1234567890123456, \"d\": 0.0000001, \"e\": 1E+21}",
			"{\"a\":100,\"b\":0.1234567890123456,\"c\":1234567890123456,\"d\":1e-7,\"e\":1e+21}");
	check_canonical("{\"a\": \"\\u00e9\\/\", \"b\\n\": 1}", "{\"a\":\"é/\",\"b\\n\":1}");
	/* what a double cannot hold keeps its bytes: beyond 2^53, -0 */
	check_canonical("{\"id\": 12345678901234567890, \"a\": -0, \"b\": -0.0, \"c\": 9007199254740993}",
			"{\"id\":12345678901234567890,\"a\":-0,\"b\":-0.0,\"c\":9007199254740993}");
	check_canonical("{\"a\": 12345678901234567000, \"b\": 1.2345678901234567e19}",
			"{\"a\":12345678901234567000,\"b\":12345678901234567000}");
	umap_buf out = UMAP_BUF_INIT;
	CHECK_INT(umap_repo_canonical_fast(&out, "{\"a\": [1, }", 11), 0);
	umap_buf_dispose(&out);
}

TEST(canonical_form_of_every_example_feature_reads_as_the_feature)
{
	const char *files[] = { "examples/cycling-lyon.umap", "examples/bike-parking.geojson",
				"examples/bike-parking-alice.geojson", "tests/fixtures/repo/legacy.geojson" };
	size_t fast_count = 0;
	for (size_t f = 0; f < sizeof(files) / sizeof(*files); f++) {
		umap_doc *doc = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		CHECK_INT(umap_doc_open(&doc, files[f], &opts), 0);
		if (!doc)
			continue;
		for (size_t l = 0; l < doc->nlayers; l++)
			for (size_t i = 0; i < doc->layers[l].nfeatures; i++) {
				umap_feature *feat = &doc->layers[l].features[i];
				umap_buf fast = UMAP_BUF_INIT;
				json_t *tree = NULL, *back = NULL;
				int got = umap_repo_canonical_fast(&fast, doc->data + feat->offset, feat->length);
				CHECK_INT(got, 1);
				CHECK_INT(umap_doc_feature(&tree, doc, &doc->layers[l], i), 0);
				CHECK_INT(umap_json_loadb(&back, fast.ptr, fast.len, "blob"), 0);
				CHECK(umap_json_equal(tree, back));
				char *slow = umap_json_dumps(tree, UMAP_JSON_COMPACT);
				CHECK_STR(fast.ptr, slow);
				free(slow);
				fast_count += got != 0;
				json_decref(back);
				umap_buf_dispose(&fast);
			}
		umap_doc_free(doc);
	}
	CHECK(fast_count >= 20);
}

static umap_repo *fresh_repo(void)
{
	static int count;
	char path[128];
	snprintf(path, sizeof(path), "%s/w%d", tmpdir, count++);
	umap_repo *repo = NULL;
	int existed = 0;
	CHECK_INT(umap_repo_init(&repo, path, &existed), 0);
	CHECK_INT(existed, 0);
	return repo;
}

static umap_doc *layer_doc(size_t n, const char *renamed)
{
	umap_doc *doc = NULL;
	umap_layer *layer = NULL;
	json_t *options = json_pack("{s:s,s:s}", "id", "layer-1", "name", "Layer");
	if (umap_doc_new(&doc, UMAP_DOC_LAYER) || umap_doc_add_layer(&layer, doc, "layer-1", options))
		return NULL;
	json_decref(options);
	for (size_t i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "f%zu", i);
		json_t *f = json_pack("{s:s,s:s,s:{s:s,s:f},s:n}", "type", "Feature", "id", id,
				      "properties", "name", renamed && i == 3 ? renamed : id, "w", 0.1 * (double)i,
				      "geometry");
		umap_layer_append(doc, layer, f);
	}
	return doc;
}

TEST(a_document_round_trips_through_a_revision)
{
	umap_repo *repo = fresh_repo();
	setenv("GIT_AUTHOR_NAME", "Unit", 1);
	setenv("GIT_AUTHOR_EMAIL", "unit@example.org", 1);
	umap_snapshot *snap = NULL;
	CHECK_INT(umap_snapshot_new(&snap), 0);
	CHECK_INT(umap_snapshot_add(snap, "a.geojson", layer_doc(700, NULL)), 0);
	git_oid tree, commit, tree2, commit2, head;
	CHECK_INT(umap_repo_build_tree(&tree, repo, snap, NULL), 0);
	CHECK_INT(umap_repo_commit_tree_as(&commit, repo, &tree, NULL, 0, "first", 1), 0);
	CHECK_INT(umap_repo_head(&head, repo), 0);
	CHECK(git_oid_equal(&head, &commit));

	umap_snapshot *back = NULL;
	CHECK_INT(umap_repo_read_tree(&back, repo, &tree, NULL), 0);
	CHECK_INT(back->nfiles, 1);
	CHECK_STR(back->files[0].path, "a.geojson");
	umap_buf a = UMAP_BUF_INIT, b = UMAP_BUF_INIT;
	CHECK_INT(umap_doc_write(&a, snap->files[0].doc, UMAP_JSON_COMPACT), 0);
	CHECK_INT(umap_doc_write(&b, back->files[0].doc, UMAP_JSON_COMPACT), 0);
	CHECK_STR(a.ptr, b.ptr);

	/* one renamed feature: a second revision differs by exactly that feature */
	umap_snapshot *snap2 = NULL;
	CHECK_INT(umap_snapshot_new(&snap2), 0);
	CHECK_INT(umap_snapshot_add(snap2, "a.geojson", layer_doc(700, "renamed")), 0);
	CHECK_INT(umap_repo_build_tree(&tree2, repo, snap2, &tree), 0);
	CHECK_INT(umap_repo_commit_tree_as(&commit2, repo, &tree2, &commit, 1, "second", 1), 0);
	umap_tree_diff *diff = NULL;
	CHECK_INT(umap_repo_diff(&diff, repo, &tree, &tree2), 0);
	CHECK_INT(diff->nfeatures, 1);
	CHECK_STR(diff->features[0].id, "\"f3\"");
	CHECK_INT(diff->features[0].kind, UMAP_CHANGE_MODIFIED);
	CHECK_INT(diff->nlayers, 1);
	CHECK_INT(diff->layers[0].new_count, 700);
	CHECK_INT(diff->layers[0].options_changed, 0);
	int differs = 0;
	CHECK_INT(umap_repo_file_differs(&differs, repo, &tree, &tree2, "a.geojson"), 0);
	CHECK_INT(differs, 1);

	/* revisions, merge base, feature lookup */
	git_oid resolved, base, blob;
	CHECK_INT(umap_repo_resolve(&resolved, repo, "HEAD~1"), 0);
	CHECK(git_oid_equal(&resolved, &commit));
	CHECK_INT(umap_repo_merge_base(&base, repo, &commit, &commit2), 0);
	CHECK(git_oid_equal(&base, &commit));
	char *layer = NULL;
	CHECK_INT(umap_repo_feature_blob(&blob, &layer, repo, &tree2, NULL, "\"f3\""), 0);
	CHECK(git_oid_equal(&blob, &diff->features[0].new_blob));
	CHECK_STR(layer, "layer-1");
	free(layer);
	CHECK_INT(umap_repo_feature_blob(&blob, NULL, repo, &tree2, NULL, "\"nope\""), UMAP_ENOTFOUND);
	CHECK_INT(umap_repo_resolve(&resolved, repo, "nope"), UMAP_ENOTFOUND);
	CHECK_STR(umap_error_last(), "unknown revision 'nope'");
	/* moving HEAD from a stale expectation is refused */
	CHECK_INT(umap_repo_advance_head(repo, &commit, &commit, "stale"), UMAP_ECONFLICT);

	umap_tree_diff_free(diff);
	umap_buf_dispose(&a);
	umap_buf_dispose(&b);
	umap_snapshot_free(snap);
	umap_snapshot_free(snap2);
	umap_snapshot_free(back);
	umap_repo_free(repo);
}

/* SPEC §2: in a layer file the path is the layer, an id inside it only data. */
TEST(layer_files_sharing_an_id_inside_are_two_layers)
{
	umap_repo *repo = fresh_repo();
	umap_snapshot *snap = NULL;
	git_oid tree;
	char *path = NULL;
	CHECK_INT(umap_snapshot_new(&snap), 0);
	CHECK_INT(umap_snapshot_add(snap, "a.geojson", layer_doc(3, NULL)), 0);
	CHECK_INT(umap_snapshot_add(snap, "b.geojson", layer_doc(3, NULL)), 0);
	CHECK_INT(umap_repo_build_tree(&tree, repo, snap, NULL), 0);
	/* the first keeps the id it brings, the second gets one of its own */
	CHECK_INT(umap_repo_layer_path(&path, repo, &tree, "layer-1"), 0);
	CHECK_STR(path, "a.geojson");
	CHECK(snap->files[1].doc->layers[0].id && strcmp(snap->files[1].doc->layers[0].id, "layer-1"));
	free(path);
	umap_snapshot *back = NULL;
	CHECK_INT(umap_repo_read_tree(&back, repo, &tree, "b.geojson"), 0);
	CHECK_STR(back->files[0].doc->layers[0].id, snap->files[1].doc->layers[0].id);
	CHECK_STR(json_string_value(json_object_get(back->files[0].doc->layers[0].options, "id")),
		  "layer-1");
	umap_snapshot_free(back);
	umap_snapshot_free(snap);
	umap_repo_free(repo);
}

/* A file moved (its layer ids kept) is a rename between the two trees, either way round;
 * a file that only changed or stayed is none. */
TEST(renames_between_trees_follow_layer_ids)
{
	umap_repo *repo = fresh_repo();
	umap_snapshot *snap = NULL, *moved = NULL;
	git_oid tree, tree2;
	CHECK_INT(umap_snapshot_new(&snap), 0);
	CHECK_INT(umap_snapshot_add(snap, "a.geojson", layer_doc(3, NULL)), 0);
	CHECK_INT(umap_snapshot_add(snap, "b.geojson", layer_doc(2, NULL)), 0);
	CHECK_INT(umap_repo_build_tree(&tree, repo, snap, NULL), 0);
	CHECK_INT(umap_snapshot_new(&moved), 0);
	CHECK_INT(umap_snapshot_add(moved, "b.geojson", NULL), 0);
	CHECK_INT(umap_snapshot_add(moved, "dir/c.geojson", NULL), 0);
	CHECK((moved->files[1].from = strdup("a.geojson")) != NULL);
	CHECK_INT(umap_repo_build_tree(&tree2, repo, moved, &tree), 0);
	umap_file_rename *r = NULL;
	size_t n = 9;
	CHECK_INT(umap_repo_renames(&r, &n, repo, &tree, &tree2), 0);
	CHECK_INT(n, 1);
	CHECK_STR(r[0].from, "a.geojson");
	CHECK_STR(r[0].to, "dir/c.geojson");
	umap_file_renames_free(r, n);
	CHECK_INT(umap_repo_renames(&r, &n, repo, &tree2, &tree), 0);
	CHECK_INT(n, 1);
	CHECK_STR(r[0].from, "dir/c.geojson");
	CHECK_STR(r[0].to, "a.geojson");
	umap_file_renames_free(r, n);
	CHECK_INT(umap_repo_renames(&r, &n, repo, &tree, &tree), 0);
	CHECK_INT(n, 0);
	umap_file_renames_free(r, n);
	CHECK_INT(umap_repo_renames(&r, &n, repo, NULL, &tree), 0);
	CHECK_INT(n, 0);
	umap_file_renames_free(r, n);
	umap_snapshot_free(moved);
	umap_snapshot_free(snap);
	umap_repo_free(repo);
}

/* Sets a file's mtime `offset` seconds from now (its ctime becomes now, as any change). */
static void set_mtime(const char *path, long offset)
{
	struct timespec ts[2];
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec += offset;
	ts[1] = ts[0];
	CHECK_INT(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static int read_unchanged(umap_repo *repo, const git_oid *tree, git_oid *work)
{
	umap_snapshot *w = NULL;
	CHECK_INT(umap_repo_read_worktree(&w, repo, tree), 0);
	CHECK_INT(w->nfiles, 1);
	int unchanged = w->files[0].unchanged;
	CHECK_INT(!w->files[0].doc, unchanged);
	CHECK_INT(umap_repo_build_tree(work, repo, w, tree), 0);
	CHECK_INT(umap_repo_index_update(repo, w, work), 0);
	umap_snapshot_free(w);
	return unchanged;
}

TEST(the_stat_index_skips_unchanged_files_and_sees_every_change)
{
	umap_repo *repo = fresh_repo();
	char path[256];
	snprintf(path, sizeof(path), "%s/a.geojson", umap_repo_workdir(repo));
	umap_doc *doc = layer_doc(50, NULL);
	CHECK_INT(umap_doc_save(doc, path, UMAP_JSON_INDENT(2)), 0);
	set_mtime(path, -3600);
	umap_snapshot *snap = NULL;
	git_oid tree, work;
	CHECK_INT(umap_snapshot_new(&snap), 0);
	CHECK_INT(umap_snapshot_add(snap, "a.geojson", doc), 0);
	CHECK_INT(umap_repo_build_tree(&tree, repo, snap, NULL), 0);
	git_oid commit;
	setenv("GIT_AUTHOR_NAME", "Unit", 1);
	setenv("GIT_AUTHOR_EMAIL", "unit@example.org", 1);
	CHECK_INT(umap_repo_commit_tree_as(&commit, repo, &tree, NULL, 0, "one", 1), 0);

	CHECK_INT(read_unchanged(repo, &tree, &work), 0); /* no index yet: read */
	CHECK(git_oid_equal(&work, &tree));
	CHECK_INT(read_unchanged(repo, &tree, &work), 1); /* same stat, same version: skipped */
	CHECK(git_oid_equal(&work, &tree));

	/* an edit, even with the old mtime put back, changes the ctime: read again */
	umap_doc *edited = layer_doc(50, "renamed");
	CHECK_INT(umap_doc_save(edited, path, UMAP_JSON_INDENT(2)), 0);
	umap_doc_free(edited);
	set_mtime(path, -3600);
	CHECK_INT(read_unchanged(repo, &tree, &work), 0);
	CHECK(!git_oid_equal(&work, &tree));
	/* the index now knows the edited version, which is not HEAD's: still read */
	CHECK_INT(read_unchanged(repo, &tree, &work), 0);
	CHECK(!git_oid_equal(&work, &tree));

	/* racy: a file not older than the index may change unseen within one tick */
	set_mtime(path, 3600);
	git_oid edited_tree = work;
	CHECK_INT(read_unchanged(repo, &edited_tree, &work), 0);
	CHECK_INT(read_unchanged(repo, &edited_tree, &work), 0);
	CHECK(git_oid_equal(&work, &edited_tree));

	umap_snapshot_free(snap);
	umap_repo_free(repo);
}

/* A layer of n features f<i>; every feature with i % edit_mod == 0 renamed by `tag`,
 * every one with i % drop_mod == 0 left out, `extra` features g<i> added at the end. */
static char *layer_text(size_t n, size_t edit_mod, const char *tag, size_t drop_mod, size_t extra)
{
	umap_buf b = UMAP_BUF_INIT;
	umap_buf_puts(&b, "{\"type\":\"FeatureCollection\",\"id\":\"layer-x\",\"features\":[\n");
	int first = 1;
	for (size_t i = 0; i < n + extra; i++) {
		if (i < n && drop_mod && i % drop_mod == 0)
			continue;
		umap_buf_printf(&b, "%s{\"type\":\"Feature\",\"id\":\"%c%zu\",\"properties\":{\"name\":\"%s %zu\"},"
				"\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.%zu,45.%zu]}}\n",
				first ? "" : ",", i < n ? 'f' : 'g', i,
				i < n && edit_mod && i % edit_mod == 0 ? tag : "n", i, i * 7 % 1000, i * 13 % 1000);
		first = 0;
	}
	umap_buf_puts(&b, "]}\n");
	return umap_buf_detach(&b);
}

static void features_of(git_oid *out, umap_repo *repo, const git_oid *tree)
{
	umap_store *s = umap_repo_store(repo);
	git_oid layers, layer;
	CHECK_INT(umap_store_tree_lookup(&layers, NULL, s, tree, "layers", "a tree"), 0);
	CHECK_INT(umap_store_tree_lookup(&layer, NULL, s, &layers, "layer-x", "a tree"), 0);
	CHECK_INT(umap_store_tree_lookup(out, NULL, s, &layer, "features", "a tree"), 0);
}

static void build_text(git_oid *tree, umap_repo *repo, const char *text, const git_oid *base)
{
	umap_doc *doc = NULL;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	CHECK_INT(umap_doc_from_buffer(&doc, text, strlen(text), "l.geojson", &opts), 0);
	umap_snapshot *snap = NULL;
	CHECK_INT(umap_snapshot_new(&snap), 0);
	CHECK_INT(umap_snapshot_add(snap, "l.geojson", doc), 0);
	CHECK_INT(umap_repo_build_tree(tree, repo, snap, base), 0);
	umap_snapshot_free(snap);
}

TEST(a_commit_rebuilds_only_changed_leaves_and_gets_the_same_tree)
{
	setenv("GIT_AUTHOR_NAME", "Unit", 1);
	setenv("GIT_AUTHOR_EMAIL", "unit@example.org", 1);
	static const struct {
		size_t edit_mod, drop_mod, extra;
	} edits[] = { { 97, 0, 0 }, { 0, 53, 0 }, { 0, 0, 40 }, { 31, 29, 300 }, { 1, 0, 0 }, { 0, 0, 0 } };
	char *base_text = layer_text(3000, 0, "", 0, 0);
	for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		umap_repo *repo = fresh_repo(), *scratch = fresh_repo();
		git_oid tree, commit, tree2, whole, a, b;
		build_text(&tree, repo, base_text, NULL);
		CHECK_INT(umap_repo_commit_tree_as(&commit, repo, &tree, NULL, 0, "one", 1), 0);
		features_of(&a, repo, &tree);
		CHECK(umap_repo_feature_set(repo, "layer-x", &a) != NULL);
		char *text = layer_text(3000, edits[e].edit_mod, "renamed", edits[e].drop_mod, edits[e].extra);
		build_text(&tree2, repo, text, &tree);
		build_text(&whole, scratch, text, NULL);
		features_of(&a, repo, &tree2);
		features_of(&b, scratch, &whole);
		CHECK(git_oid_equal(&a, &b));
		free(text);
		umap_repo_free(repo);
		umap_repo_free(scratch);
	}
	free(base_text);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK_INT(fclose(f), 0);
}

/* A layer text written to `path`: with a member added (member), or its first two
 * features' lines swapped (swap, the commas kept in place). */
static void write_case(const char *path, const char *text, int member, int swap)
{
	umap_buf b = UMAP_BUF_INIT;
	const char *first = strchr(text, '\n') + 1, *second = strchr(first, '\n') + 1;
	const char *third = strchr(second, '\n') + 1;
	if (member) {
		umap_buf_puts(&b, "{\"type\":\"FeatureCollection\",\"name\":\"N\",");
		umap_buf_puts(&b, text + strlen("{\"type\":\"FeatureCollection\","));
	} else if (swap) {
		umap_buf_put(&b, text, (size_t)(first - text));
		umap_buf_put(&b, second + 1, (size_t)(third - second - 1));
		umap_buf_puts(&b, ",");
		umap_buf_put(&b, first, (size_t)(second - first));
		umap_buf_puts(&b, third);
	} else {
		umap_buf_puts(&b, text);
	}
	write_text(path, b.ptr);
	umap_buf_dispose(&b);
}

/* Checkout's check of a file the stat index cannot vouch for (umap_repo_read_worktree_check):
 * a layer file with HEAD's features in HEAD's order is read as a stream and gets, as any
 * other file gets from the whole read, the tree umap_repo_read_worktree gives (issue 19). */
TEST(the_check_for_changes_gives_the_tree_of_the_whole_read)
{
	setenv("GIT_AUTHOR_NAME", "Unit", 1);
	setenv("GIT_AUTHOR_EMAIL", "unit@example.org", 1);
	static const struct {
		size_t edit_mod, drop_mod, extra;
		int member, swap, streamed;
	} cases[] = { { 0, 0, 0, 0, 0, 1 }, { 0, 0, 0, 1, 0, 1 }, { 97, 0, 0, 0, 0, 0 },
		      { 0, 53, 0, 0, 0, 0 }, { 0, 0, 40, 0, 0, 0 }, { 0, 0, 0, 0, 1, 0 } };
	char *base_text = layer_text(3000, 0, "", 0, 0);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		umap_repo *repo = fresh_repo();
		char path[256];
		snprintf(path, sizeof(path), "%s/l.geojson", umap_repo_workdir(repo));
		git_oid tree, commit, checked, whole;
		build_text(&tree, repo, base_text, NULL);
		CHECK_INT(umap_repo_commit_tree_as(&commit, repo, &tree, NULL, 0, "one", 1), 0);
		char *text = layer_text(3000, cases[c].edit_mod, "renamed", cases[c].drop_mod,
					cases[c].extra);
		write_case(path, text, cases[c].member, cases[c].swap);
		umap_snapshot *w = NULL;
		CHECK_INT(umap_repo_read_worktree_check(&w, repo, &tree), 0);
		CHECK_INT(w->nfiles, 1);
		CHECK_INT(w->files[0].base_features, cases[c].streamed);
		CHECK_INT(w->files[0].base_count, cases[c].streamed ? 3000 : 0);
		CHECK_INT(umap_repo_build_tree(&checked, repo, w, &tree), 0);
		umap_snapshot_free(w);
		CHECK_INT(umap_repo_read_worktree(&w, repo, &tree), 0);
		CHECK_INT(umap_repo_build_tree(&whole, repo, w, &tree), 0);
		umap_snapshot_free(w);
		CHECK(git_oid_equal(&checked, &whole));
		CHECK_INT(git_oid_equal(&checked, &tree), c == 0);
		free(text);
		umap_repo_free(repo);
	}
	free(base_text);
}

/* The same tree and feature set from a whole read and from an edit read */
static void check_edit_read(umap_repo *repo, const git_oid *base, int expect_edit, git_oid *out)
{
	git_oid edited, whole, a;
	umap_snapshot *w = NULL;
	CHECK_INT(umap_repo_read_worktree_edit(&w, repo, base), 0);
	CHECK_INT(w->nfiles, 1);
	CHECK_INT(w->files[0].edit != NULL, expect_edit);
	CHECK_INT(umap_repo_build_tree(&edited, repo, w, base), 0);
	umap_snapshot_free(w);
	features_of(&a, repo, &edited);
	const umap_feature_set *set = umap_repo_feature_set(repo, "layer-x", &a);
	CHECK(set != NULL);
	size_t n = set ? set->n : 0;
	uint64_t *hashes = malloc((n + 1) * sizeof(*hashes));
	CHECK(hashes != NULL);
	if (set)
		memcpy(hashes, set->hashes, n * sizeof(*hashes));
	CHECK_INT(umap_repo_read_worktree(&w, repo, base), 0);
	CHECK_INT(umap_repo_build_tree(&whole, repo, w, base), 0);
	umap_snapshot_free(w);
	CHECK(git_oid_equal(&edited, &whole));
	set = umap_repo_feature_set(repo, "layer-x", &a);
	CHECK(set && set->n == n && !memcmp(set->hashes, hashes, n * sizeof(*hashes)));
	free(hashes);
	*out = edited;
}

/* A commit reads a changed layer file as a stream against HEAD's feature set and edits
 * HEAD's tree with the changed features (umap_repo_read_worktree_edit, issue 19): the same
 * tree and feature set as the whole read, for changed, removed, added and moved features,
 * a new member, a file changed back to HEAD's bytes; a repeated id or repeated bytes are
 * left to the whole read, which names them. */
TEST(a_commit_read_as_an_edit_gives_the_tree_of_the_whole_read)
{
	setenv("GIT_AUTHOR_NAME", "Unit", 1);
	setenv("GIT_AUTHOR_EMAIL", "unit@example.org", 1);
	static const struct {
		size_t edit_mod, drop_mod, extra;
		int member, swap;
	} cases[] = { { 0, 0, 0, 0, 0 },  { 97, 0, 0, 0, 0 }, { 0, 53, 0, 0, 0 }, { 0, 0, 40, 0, 0 },
		      { 31, 29, 300, 0, 0 }, { 0, 0, 0, 1, 0 }, { 0, 0, 0, 0, 1 },  { 7, 0, 0, 0, 1 } };
	char *base_text = layer_text(3000, 0, "", 0, 0);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		umap_repo *repo = fresh_repo();
		char path[256];
		snprintf(path, sizeof(path), "%s/l.geojson", umap_repo_workdir(repo));
		git_oid tree, commit, edited, back;
		build_text(&tree, repo, base_text, NULL);
		CHECK_INT(umap_repo_commit_tree_as(&commit, repo, &tree, NULL, 0, "one", 1), 0);
		char *text = layer_text(3000, cases[c].edit_mod, "renamed", cases[c].drop_mod,
					cases[c].extra);
		write_case(path, text, cases[c].member, cases[c].swap);
		check_edit_read(repo, &tree, 1, &edited);
		CHECK_INT(git_oid_equal(&edited, &tree), c == 0);
		/* committed, then changed back to the base's bytes */
		git_oid parent = commit;
		CHECK_INT(umap_repo_commit_tree_as(&commit, repo, &edited, &parent, 1, "two", 1), 0);
		write_text(path, base_text);
		check_edit_read(repo, &edited, 1, &back);
		git_oid fa, fb;
		features_of(&fa, repo, &back);
		features_of(&fb, repo, &tree);
		CHECK(git_oid_equal(&fa, &fb));
		free(text);
		umap_repo_free(repo);
	}
	/* a feature's line repeated (same bytes, same id), or its id given to another */
	for (int dup = 0; dup < 2; dup++) {
		umap_repo *repo = fresh_repo();
		char path[256];
		snprintf(path, sizeof(path), "%s/l.geojson", umap_repo_workdir(repo));
		git_oid tree, commit;
		build_text(&tree, repo, base_text, NULL);
		CHECK_INT(umap_repo_commit_tree_as(&commit, repo, &tree, NULL, 0, "one", 1), 0);
		umap_buf b = UMAP_BUF_INIT;
		const char *first = strchr(base_text, '\n') + 1, *second = strchr(first, '\n') + 1;
		umap_buf_put(&b, base_text, (size_t)(second - base_text));
		if (dup)
			umap_buf_puts(&b, ",{\"type\":\"Feature\",\"id\":\"f0\",\"properties\":{},"
					  "\"geometry\":null}\n");
		else
			umap_buf_printf(&b, ",%.*s", (int)(second - first), first);
		umap_buf_puts(&b, second);
		write_text(path, b.ptr);
		umap_snapshot *w = NULL;
		int rc = umap_repo_read_worktree(&w, repo, &tree);
		char *whole_error = strdup(umap_error_last());
		umap_snapshot_free(w);
		w = NULL;
		CHECK(rc != 0);
		CHECK_INT(umap_repo_read_worktree_edit(&w, repo, &tree), rc);
		CHECK_STR(umap_error_last(), whole_error);
		umap_snapshot_free(w);
		free(whole_error);
		umap_buf_dispose(&b);
		umap_repo_free(repo);
	}
	free(base_text);
}

/* A pull that writes a layer file as it streams makes its commit from what it wrote
 * (umap_repo_edit_tree): the same tree, and the same feature set for the next commit, as
 * a commit of the new file, for updates, removals, additions and a feature moved. */
TEST(an_edited_layer_tree_is_the_tree_of_the_new_file)
{
	static const struct {
		size_t edit_mod, drop_mod, extra;
	} edits[] = { { 97, 0, 0 }, { 0, 53, 0 }, { 0, 0, 40 }, { 31, 29, 300 }, { 0, 0, 0 } };
	char *base_text = layer_text(3000, 0, "", 0, 0);
	for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		umap_repo *repo = fresh_repo(), *scratch = fresh_repo();
		git_oid tree, commit, edited, whole, a, b;
		build_text(&tree, repo, base_text, NULL);
		CHECK_INT(umap_repo_commit_tree_as(&commit, repo, &tree, NULL, 0, "one", 1), 0);
		char *text = layer_text(3000, edits[e].edit_mod, "renamed", edits[e].drop_mod, edits[e].extra);
		umap_doc *old = NULL, *now = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		CHECK_INT(umap_doc_from_buffer(&old, base_text, strlen(base_text), "l.geojson", &opts), 0);
		CHECK_INT(umap_doc_from_buffer(&now, text, strlen(text), "l.geojson", &opts), 0);
		umap_layer *ol = &old->layers[0], *nl = &now->layers[0];
		/* f1 moves to the end, as a pull writes a feature removed and added again */
		size_t n = nl->nfeatures, moved = SIZE_MAX;
		for (size_t i = 0; i < n && e == 4; i++)
			if (!strcmp(nl->features[i].id, "\"f1\""))
				moved = i;
		if (moved != SIZE_MAX) {
			umap_buf rest = UMAP_BUF_INIT;
			umap_buf_puts(&rest, "{\"type\":\"FeatureCollection\",\"id\":\"layer-x\",\"features\":[\n");
			for (size_t i = 0; i <= n; i++) {
				size_t k = i == n ? moved : i;
				if (k == moved && i != n)
					continue;
				umap_buf_printf(&rest, "%s%.*s\n", i ? "," : "", (int)nl->features[k].length,
						text + nl->features[k].offset);
			}
			umap_buf_puts(&rest, "]}\n");
			umap_doc_free(now);
			free(text);
			text = umap_buf_detach(&rest);
			CHECK_INT(umap_doc_from_buffer(&now, text, strlen(text), "l.geojson", &opts), 0);
			nl = &now->layers[0];
		}
		umap_layer_edit *edit = NULL;
		CHECK_INT(umap_layer_edit_new(&edit, repo, "layer-x"), 0);
		/* what the streaming writer tells: the old features whose bytes are not copied... */
		for (size_t i = 0; i < ol->nfeatures; i++) {
			const umap_feature *f = &ol->features[i];
			int kept = 0;
			for (size_t k = 0; k < nl->nfeatures && !kept; k++)
				kept = nl->features[k].hash == f->hash && (e != 4 || strcmp(f->id, "\"f1\""));
			if (!kept)
				CHECK_INT(umap_layer_edit_drop(edit, f->id, f->hash), 0);
		}
		/* ...and the new file's features in order, with the bytes of those not copied */
		for (size_t k = 0; k < nl->nfeatures; k++) {
			const umap_feature *f = &nl->features[k];
			int copied = 0;
			for (size_t i = 0; i < ol->nfeatures && !copied; i++)
				copied = ol->features[i].hash == f->hash && (e != 4 || strcmp(f->id, "\"f1\""));
			CHECK_INT(umap_layer_edit_next(edit, f->id, copied ? NULL : text + f->offset, copied ? 0 : f->length), 0);
		}
		CHECK_INT(umap_repo_edit_tree(&edited, repo, &tree, "l.geojson", edit, &now->layout), 0);
		umap_layer_edit_free(edit);
		/* its rebuilt leaves went to the pack as they were made: the commit has them all */
		git_oid pulled;
		CHECK_INT(umap_repo_commit_tree_as(&pulled, repo, &edited, &commit, 1, "pull", 1), 0);
		char fsck[512];
		snprintf(fsck, sizeof(fsck), "git --git-dir='%s' fsck --full --strict >/dev/null 2>&1",
			 git_repository_path(umap_repo_git(repo)));
		CHECK_INT(system(fsck), 0);
		/* what a commit of the file makes (the dictionary and the rest kept from the base) */
		git_oid base2, commit2;
		build_text(&base2, scratch, base_text, NULL);
		CHECK_INT(umap_repo_commit_tree_as(&commit2, scratch, &base2, NULL, 0, "one", 1), 0);
		build_text(&whole, scratch, text, &base2);
		CHECK(git_oid_equal(&edited, &whole));
		features_of(&a, repo, &edited);
		features_of(&b, scratch, &whole);
		const umap_feature_set *sa = umap_repo_feature_set(repo, "layer-x", &a);
		const umap_feature_set *sb = umap_repo_feature_set(scratch, "layer-x", &b);
		CHECK(sa && sb && sa->n == sb->n && sa->depth == sb->depth);
		CHECK(!memcmp(sa->hashes, sb->hashes, sa->n * sizeof(*sa->hashes)));
		CHECK(!memcmp(sa->counts, sb->counts, ((size_t)1 << (6 * sa->depth)) * sizeof(*sa->counts)));
		umap_doc_free(old);
		umap_doc_free(now);
		free(text);
		umap_repo_free(repo);
		umap_repo_free(scratch);
	}
	free(base_text);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The feature sets are Rice-coded on disk: every hash comes back, whatever the spread
 * (0, the largest value, duplicates, one hash: the 63-bit parameter), and a file of the
 * earlier format (raw hashes) is still read. */
TEST(feature_sets_come_back_from_disk_in_both_formats)
{
	static const size_t sizes[] = { 0, 1, 2, 5, 1000, 20000 };
	for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
		size_t n = sizes[t];
		uint64_t *hashes = malloc((n ? n : 1) * sizeof(*hashes)), x = 0x9E3779B97F4A7C15ull * (t + 1);
		uint32_t *counts = calloc(64, sizeof(*counts));
		CHECK(hashes && counts);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			hashes[i] = i == 0 ? 0 : i == 1 ? UINT64_MAX : i % 7 == 3 ? hashes[i - 1] : x;
		}
		qsort(hashes, n, sizeof(*hashes), cmp_u64);
		uint64_t *want = malloc((n ? n : 1) * sizeof(*want));
		CHECK(want != NULL);
		memcpy(want, hashes, n * sizeof(*want));
		counts[5] = (uint32_t)n;
		umap_repo *repo = fresh_repo();
		git_oid features;
		memset(&features, 0x42, sizeof(features));
		CHECK_INT(umap_repo_feature_set_note(repo, "layer-x", &features, 1, counts, hashes, n), 0);
		CHECK_INT(umap_repo_feature_sets_save(repo), 0);
		char gitdir[1024];
		snprintf(gitdir, sizeof(gitdir), "%s", repo->gitdir);
		for (int format = 2; format >= 1; format--) {
			if (format == 1) { /* the same set as the earlier format wrote it */
				umap_buf v1 = UMAP_BUF_INIT, path = UMAP_BUF_INIT;
				uint32_t idlen = 7, depth = 1;
				uint64_t count = n;
				uint32_t c64[64] = { 0 };
				c64[5] = (uint32_t)n;
				CHECK_INT(umap_buf_put(&v1, "UMAPFS01", 8), 0);
				CHECK_INT(umap_buf_put(&v1, &idlen, 4) || umap_buf_put(&v1, "layer-x", 7) ||
						  umap_buf_put(&v1, features.id, 20) || umap_buf_put(&v1, &depth, 4) ||
						  umap_buf_put(&v1, &count, 8) || umap_buf_put(&v1, c64, sizeof(c64)) ||
						  umap_buf_put(&v1, want, n * 8),
					  0);
				uint64_t sum = XXH3_64bits(v1.ptr, v1.len);
				CHECK_INT(umap_buf_put(&v1, &sum, 8), 0);
				CHECK_INT(umap_buf_printf(&path, "%s/umapsync-features", gitdir), 0);
				CHECK_INT(umap_file_write_atomic(path.ptr, v1.ptr, v1.len), 0);
				umap_buf_dispose(&v1);
				umap_buf_dispose(&path);
			}
			umap_repo *again = NULL;
			CHECK_INT(umap_repo_open(&again, repo->workdir), 0);
			const umap_feature_set *set = umap_repo_feature_set(again, "layer-x", &features);
			CHECK(set != NULL);
			if (set) {
				CHECK_INT((int)set->n, (int)n);
				CHECK_INT(set->depth, 1);
				CHECK_INT((int)set->counts[5], (int)n);
				CHECK(n == 0 || !memcmp(set->hashes, want, n * sizeof(*want)));
			}
			umap_repo_free(again);
		}
		free(want);
		umap_repo_free(repo);
	}
}

/* Files written for a server's names stay inside the work tree: no absolute path, no "..",
 * no symbolic link that leads out; a directory still to be made is fine. */
TEST(worktree_paths_stay_inside)
{
	umap_repo *repo = fresh_repo();
	char outside[256], link[512];
	snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
	CHECK_INT(mkdir(outside, 0777), 0);
	snprintf(link, sizeof(link), "%s/out", umap_repo_workdir(repo));
	CHECK_INT(symlink(outside, link), 0);
	snprintf(link, sizeof(link), "%s/in", umap_repo_workdir(repo));
	CHECK_INT(symlink(".", link), 0);
	static const struct {
		const char *path;
		int ok;
	} cases[] = {
		{ "a.geojson", 1 }, { "sub/dir/a.geojson", 1 }, { "in/a.geojson", 1 },
		{ "../a.geojson", 0 }, { "/tmp/a.geojson", 0 }, { "sub/../../a", 0 }, { "./a", 0 },
		{ "a//b", 0 }, { "", 0 }, { "out/a.geojson", 0 }, { "out/new/a.geojson", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *abs = NULL;
		int rc = umap_repo_worktree_path(&abs, repo, cases[i].path);
		if (rc != (cases[i].ok ? 0 : UMAP_EINVALID))
			printf("# %s\n", cases[i].path);
		CHECK_INT(rc, cases[i].ok ? 0 : UMAP_EINVALID);
		CHECK(cases[i].ok ? abs != NULL : abs == NULL);
		free(abs);
	}
	umap_repo_free(repo);
}

/* git's revision forms (issue 20): @, @~N, HEAD@{N} from HEAD's reflog, REV:PATH, and a
 * revision diff limited to one file. */
TEST(revision_forms_name_commits_files_and_reflog_entries)
{
	umap_repo *repo = fresh_repo();
	setenv("GIT_AUTHOR_NAME", "Unit", 1);
	setenv("GIT_AUTHOR_EMAIL", "unit@example.org", 1);
	umap_snapshot *snap = NULL, *snap2 = NULL;
	git_oid t1, t2, c1, c2, got;
	CHECK_INT(umap_snapshot_new(&snap), 0);
	CHECK_INT(umap_snapshot_add(snap, "a.geojson", layer_doc(10, NULL)), 0);
	CHECK_INT(umap_snapshot_add(snap, "b.geojson", layer_doc(10, NULL)), 0);
	CHECK_INT(umap_repo_build_tree(&t1, repo, snap, NULL), 0);
	CHECK_INT(umap_repo_commit_tree_as(&c1, repo, &t1, NULL, 0, "first", 1), 0);
	CHECK_INT(umap_snapshot_new(&snap2), 0);
	CHECK_INT(umap_snapshot_add(snap2, "a.geojson", layer_doc(10, "renamed")), 0);
	CHECK_INT(umap_snapshot_add(snap2, "b.geojson", layer_doc(10, NULL)), 0);
	CHECK_INT(umap_repo_build_tree(&t2, repo, snap2, &t1), 0);
	CHECK_INT(umap_repo_commit_tree_as(&c2, repo, &t2, &c1, 1, "second", 1), 0);

	CHECK_INT(umap_repo_resolve(&got, repo, "@"), 0);
	CHECK(git_oid_equal(&got, &c2));
	CHECK_INT(umap_repo_resolve(&got, repo, "@~1"), 0);
	CHECK(git_oid_equal(&got, &c1));
	CHECK_INT(umap_repo_resolve(&got, repo, "HEAD@{1}"), 0);
	CHECK(git_oid_equal(&got, &c1));
	CHECK_INT(umap_repo_resolve(&got, repo, "main@{0}"), 0);
	CHECK(git_oid_equal(&got, &c2));
	CHECK_INT(umap_repo_resolve(&got, repo, "HEAD@{0}~1"), 0);
	CHECK(git_oid_equal(&got, &c1));
	CHECK_INT(umap_repo_resolve(&got, repo, "HEAD@{9}"), UMAP_ENOTFOUND);

	char *path = NULL;
	CHECK_INT(umap_repo_resolve_path(&got, &path, repo, "HEAD~1:b.geojson"), 0);
	CHECK(git_oid_equal(&got, &c1));
	CHECK_STR(path, "b.geojson");
	free(path);
	CHECK_INT(umap_repo_resolve_path(&got, &path, repo, "@:nope.geojson"), UMAP_ENOTFOUND);
	CHECK_STR(umap_error_last(), "path 'nope.geojson' is not tracked in '@'");
	CHECK(path == NULL);
	CHECK_INT(umap_repo_resolve_path(&got, &path, repo, "HEAD"), UMAP_EINVALID);
	CHECK_INT(umap_repo_resolve_path(&got, &path, repo, "HEAD:"), UMAP_EINVALID);

	/* the change is in a.geojson: limited to b.geojson the diff is empty */
	umap_tree_diff *tdiff = NULL;
	umap_diff *only_a = NULL, *only_b = NULL;
	umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
	CHECK_INT(umap_repo_diff(&tdiff, repo, &t1, &t2), 0);
	CHECK_INT(umap_diff_new(&only_a, &dopts), 0);
	CHECK_INT(umap_diff_new(&only_b, &dopts), 0);
	CHECK_INT(umap_repo_fill_diff_path(only_a, repo, tdiff, &t1, &t2, "a.geojson"), 0);
	CHECK_INT(umap_repo_fill_diff_path(only_b, repo, tdiff, &t1, &t2, "b.geojson"), 0);
	CHECK_INT(only_a->summary.modified, 1);
	CHECK_INT(only_a->summary.unchanged, 9);
	CHECK_INT(umap_diff_has_changes(only_b), 0);
	CHECK_INT(only_b->summary.unchanged, 10);
	umap_diff_free(only_a);
	umap_diff_free(only_b);
	umap_tree_diff_free(tdiff);
	umap_snapshot_free(snap);
	umap_snapshot_free(snap2);
	umap_repo_free(repo);
}

static int to_buf(void *ctx, const char *data, size_t len)
{
	return umap_buf_put(ctx, data, len) ? UMAP_ENOMEM : 0;
}

/* export streams a revision's file laid out from its text, without a document of it, and
 * checkout lays out the document's own bytes: the bytes must be those of the document path
 * (read_tree, then umap_doc_write as read), in every layout files come in. */
TEST(export_streams_the_bytes_the_document_writes)
{
	static const char *files[] = {
		"tests/fixtures/umap/layout-categorized_highway.geojson",
		"tests/fixtures/umap/layout-choropleth.geojson",
		"tests/fixtures/umap/layout-circles.geojson",
		"tests/fixtures/umap/layout-display_on_load.umap",
		"examples/cycling-lyon.umap",
		"examples/bike-parking.geojson",
		"tests/fixtures/repo/legacy.geojson",
		"tests/fixtures/repo/no-ids.geojson",
		"tests/fixtures/umap/group_layers.umap",
		"tests/fixtures/umap/legacy_storage.umap",
		"tests/fixtures/umap/test_upload_data.umap",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		umap_repo *repo = fresh_repo();
		umap_doc *doc = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		size_t assigned = 0;
		CHECK_INT(umap_doc_open(&doc, files[i], &opts), 0);
		CHECK_INT(umap_repo_assign_ids(doc, &assigned), 0);
		const char *path = strrchr(files[i], '/') + 1;
		umap_snapshot *snap = NULL;
		git_oid tree;
		CHECK_INT(umap_snapshot_new(&snap), 0);
		CHECK_INT(umap_snapshot_add(snap, path, doc), 0);
		CHECK_INT(umap_repo_build_tree(&tree, repo, snap, NULL), 0);
		umap_snapshot *back = NULL;
		umap_buf want = UMAP_BUF_INIT, got = UMAP_BUF_INIT;
		CHECK_INT(umap_repo_read_tree(&back, repo, &tree, path), 0);
		CHECK_INT(umap_doc_write(&want, back->files[0].doc, UMAP_DOC_AS_READ), 0);
		CHECK_INT(umap_repo_export(repo, &tree, path, to_buf, &got), 0);
		CHECK_INT(got.len, want.len);
		CHECK(got.len == want.len && !memcmp(got.ptr, want.ptr, got.len));
		/* and checkout's path: the document read back, laid out from its own bytes */
		umap_buf_clear(&got);
		CHECK_INT(umap_repo_file_text(to_buf, &got, back->files[0].doc, NULL), 0);
		CHECK(got.len == want.len && !memcmp(got.ptr, want.ptr, got.len));
		/* over a working file holding those very bytes, both take its features' bytes
		 * and its members' (the spelling path): the same bytes again */
		char *abs = NULL;
		CHECK_INT(umap_repo_abspath(&abs, repo, path), 0);
		CHECK_INT(umap_file_write_atomic(abs, want.ptr, want.len), 0);
		umap_buf_clear(&got);
		CHECK_INT(umap_repo_export(repo, &tree, path, to_buf, &got), 0);
		CHECK(got.len == want.len && !memcmp(got.ptr, want.ptr, got.len));
		umap_buf_clear(&got);
		CHECK_INT(umap_repo_file_text(to_buf, &got, back->files[0].doc, abs), 0);
		CHECK(got.len == want.len && !memcmp(got.ptr, want.ptr, got.len));
		free(abs);
		CHECK_INT(umap_repo_export(repo, &tree, "nope.geojson", to_buf, &got), UMAP_ENOTFOUND);
		umap_buf_dispose(&want);
		umap_buf_dispose(&got);
		umap_snapshot_free(back);
		umap_snapshot_free(snap);
		umap_repo_free(repo);
	}
}

/* rm and mv's record (issue 20): moves chain into one entry, moving back drops it, the
 * file round-trips and is removed when empty, and a damaged one is refused whole. */
TEST(pending_rm_and_mv_chain_round_trip_and_refuse_damage)
{
	umap_repo *repo = fresh_repo();
	umap_pending p = UMAP_PENDING_INIT, back = UMAP_PENDING_INIT;
	CHECK_INT(umap_repo_pending_load(&p, repo), 0);
	CHECK_INT((int)p.n, 0);
	CHECK_INT(umap_pending_set(&p, "a.geojson", "b.geojson"), 0);
	CHECK_INT(umap_pending_set(&p, "a.geojson", "c.geojson"), 0); /* mv a b, mv b c */
	CHECK_INT(umap_pending_set(&p, "gone.umap", NULL), 0);
	CHECK_INT((int)p.n, 2);
	CHECK_STR(umap_pending_find_to(&p, "c.geojson")->from, "a.geojson");
	CHECK(umap_pending_find_to(&p, "b.geojson") == NULL);
	CHECK(umap_pending_find_from(&p, "gone.umap")->to == NULL);
	CHECK_INT(umap_repo_pending_save(repo, &p), 0);
	CHECK_INT(umap_repo_pending_load(&back, repo), 0);
	CHECK_INT((int)back.n, 2);
	CHECK_STR(umap_pending_find_from(&back, "a.geojson")->to, "c.geojson");
	umap_pending_clear(&back);
	/* moved back, and the removal dropped: nothing waits, and the file is gone */
	CHECK_INT(umap_pending_set(&p, "a.geojson", "a.geojson"), 0);
	umap_pending_drop(&p, "gone.umap");
	CHECK_INT((int)p.n, 0);
	CHECK_INT(umap_repo_pending_save(repo, &p), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/umapsync-pending", umap_repo_gitdir(repo));
	CHECK(access(path, F_OK) != 0);
	static const char *const damaged[] = {
		"{", "[]", "{\"format\":2,\"paths\":[]}", "{\"format\":1}",
		"{\"format\":1,\"paths\":[{\"from\":\"../x\",\"to\":null}]}",
		"{\"format\":1,\"paths\":[{\"from\":\"a\",\"to\":\"/etc/passwd\"}]}",
		"{\"format\":1,\"paths\":[{\"from\":\"a\",\"to\":null},{\"from\":\"a\",\"to\":\"b\"}]}",
		"{\"format\":1,\"paths\":[{\"from\":\"a\",\"to\":\"c\"},{\"from\":\"b\",\"to\":\"c\"}]}",
		"{\"format\":1,\"paths\":[{\"from\":\"a\",\"to\":3}]}",
	};
	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		CHECK_INT(umap_file_write_atomic(path, damaged[i], strlen(damaged[i])), 0);
		int rc = umap_repo_pending_load(&back, repo);
		if (rc != UMAP_ECORRUPT)
			printf("# %s\n", damaged[i]);
		CHECK_INT(rc, UMAP_ECORRUPT);
		CHECK_INT((int)back.n, 0);
		umap_error_clear();
	}
	CHECK_INT(umap_repo_pending_remove(repo), 0);
	CHECK_INT(umap_repo_pending_remove(repo), 0); /* none is no error */
	umap_pending_clear(&p);
	umap_repo_free(repo);
}

/* A layer of some megabytes goes through export's temporary file (a megabyte at a time,
 * pages given back every 8 MB) and checkout's (umap_repo_export_file): the same bytes as
 * the document of the revision writes, in a compact and an indented layout; checkout notes
 * in the feature cache exactly the features whose written bytes are not their blob. */
TEST(a_large_layer_exports_and_checks_out_through_temporary_files)
{
	const size_t n = 60000;
	umap_buf compact = UMAP_BUF_INIT;
	CHECK_INT(umap_buf_puts(&compact, "{\"type\":\"FeatureCollection\",\"_umap_options\":{\"name\":\"big\"},\"features\":[\n"), 0);
	for (size_t i = 0; i < n; i++)
		CHECK_INT(umap_buf_printf(&compact,
					  "%s{\"type\":\"Feature\",\"id\":\"f%06zu\",\"properties\":{\"name\":\"caf\xc3\xa9 %zu\","
					  "\"n\":%zu.50,%s\"note\":\"%.*s\"},\"geometry\":"
					  "{\"type\":\"Point\",\"coordinates\":[%zu.125,45.%06zu]}}",
					  i ? ",\n" : "", i, i, i % 97,
					  i % 1000 ? "" : "\"big\":12345678901234567890,", (int)(i % 61), "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij",
					  i % 180, i), 0);
	CHECK_INT(umap_buf_puts(&compact, "\n]}\n"), 0);
	umap_layout indented = UMAP_LAYOUT_DEFAULT;
	indented.known = 1;
	umap_buf pretty = UMAP_BUF_INIT;
	CHECK_INT(umap_json_relayout(&pretty, compact.ptr, compact.len, &indented), 0);
	const umap_buf *texts[] = { &compact, &pretty };
	for (size_t t = 0; t < 2; t++) {
		umap_repo *repo = fresh_repo();
		umap_doc *doc = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		CHECK_INT(umap_doc_from_buffer(&doc, texts[t]->ptr, texts[t]->len, "big.geojson", &opts), 0);
		doc->layout.known = 1;
		umap_snapshot *snap = NULL, *back = NULL;
		git_oid tree;
		CHECK_INT(umap_snapshot_new(&snap), 0);
		CHECK_INT(umap_snapshot_add(snap, "big.geojson", doc), 0);
		CHECK_INT(umap_repo_build_tree(&tree, repo, snap, NULL), 0);
		umap_buf want = UMAP_BUF_INIT, got = UMAP_BUF_INIT;
		CHECK_INT(umap_repo_read_tree(&back, repo, &tree, "big.geojson"), 0);
		CHECK_INT(umap_doc_write(&want, back->files[0].doc, UMAP_DOC_AS_READ), 0);
		CHECK(want.len > 9u << 20); /* past the 8 MB after which pages are given back */
		CHECK_INT(umap_repo_export(repo, &tree, "big.geojson", to_buf, &got), 0);
		CHECK_INT(got.len, want.len);
		CHECK(got.len == want.len && !memcmp(got.ptr, want.ptr, got.len));
		/* checkout's way: into a temporary file, the cache seeded from it */
		char path[160];
		snprintf(path, sizeof(path), "%s/big-%zu.geojson", tmpdir, t);
		umap_atomic_file file;
		size_t seen = repo->nseen;
		CHECK_INT(umap_atomic_file_open(&file, path), 0);
		CHECK_INT(umap_repo_export_file(repo, &tree, "big.geojson", &file), 0);
		CHECK_INT(umap_atomic_file_commit(&file), 0);
		umap_buf written = UMAP_BUF_INIT;
		CHECK_INT(umap_file_read(&written, path, 64u << 20), 0);
		CHECK(written.len == want.len && !memcmp(written.ptr, want.ptr, want.len));
		/* compact features are their blobs but for a number a double cannot hold, one in
		 * a thousand: only those are noted; indented ones all are */
		CHECK_INT(repo->nseen - seen, t ? n : n / 1000);
		if (repo->nseen - seen == n) {
			CHECK(git_oid_equal(&repo->seen[seen].id, &back->files[0].blobs[0][0]));
			CHECK(git_oid_equal(&repo->seen[seen + n - 1].id, &back->files[0].blobs[0][n - 1]));
		}
		umap_buf_dispose(&written);
		umap_buf_dispose(&want);
		umap_buf_dispose(&got);
		umap_snapshot_free(back);
		umap_snapshot_free(snap);
		umap_repo_free(repo);
	}
	umap_buf_dispose(&compact);
	umap_buf_dispose(&pretty);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/umap-unit-repo.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	RUN(canonical_form_is_the_writers_but_keeps_what_a_double_loses);
	RUN(canonical_form_of_every_example_feature_reads_as_the_feature);
	RUN(a_document_round_trips_through_a_revision);
	RUN(layer_files_sharing_an_id_inside_are_two_layers);
	RUN(renames_between_trees_follow_layer_ids);
	RUN(the_stat_index_skips_unchanged_files_and_sees_every_change);
	RUN(a_commit_rebuilds_only_changed_leaves_and_gets_the_same_tree);
	RUN(the_check_for_changes_gives_the_tree_of_the_whole_read);
	RUN(a_commit_read_as_an_edit_gives_the_tree_of_the_whole_read);
	RUN(an_edited_layer_tree_is_the_tree_of_the_new_file);
	RUN(feature_sets_come_back_from_disk_in_both_formats);
	RUN(worktree_paths_stay_inside);
	RUN(revision_forms_name_commits_files_and_reflog_entries);
	RUN(export_streams_the_bytes_the_document_writes);
	RUN(pending_rm_and_mv_chain_round_trip_and_refuse_damage);
	RUN(a_large_layer_exports_and_checks_out_through_temporary_files);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return UNIT_DONE();
}
