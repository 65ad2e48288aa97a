/* Unit tests for the repository's object layer (lib/repo_store, lib/gitpack, lib/sha1):
 * names, shards, the chunked order, packs that git reads back, and the OID-skipping walk. */
#include "unit.h"

#include <git2.h>
#include <stdlib.h>
#include <unistd.h>

#include "error.h"
#include "gitpack.h"
#include "repo_store.h"
#include "sha1.h"

static char tmpdir[64];

static git_repository *fresh_repo(void)
{
	static int count;
	char path[128];
	snprintf(path, sizeof(path), "%s/r%d.git", tmpdir, count++);
	git_repository *repo = NULL;
	if (git_repository_init(&repo, path, 1) < 0)
		return NULL;
	return repo;
}

TEST(sha1_known_vectors)
{
	umap_sha1 ctx;
	unsigned char out[20];
	char hex[41];
	CHECK_INT(umap_sha1_init(&ctx), 0);
	umap_sha1_update(&ctx, "abc", 3);
	CHECK_INT(umap_sha1_final(&ctx, out), 0);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
	CHECK_STR(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	/* A million 'a' fed in odd pieces crosses every block boundary case. */
	static char a[999];
	memset(a, 'a', sizeof(a));
	CHECK_INT(umap_sha1_init(&ctx), 0);
	size_t left = 1000000;
	while (left) {
		size_t n = left < 999 ? left : 999;
		umap_sha1_update(&ctx, a, n);
		left -= n;
	}
	CHECK_INT(umap_sha1_final(&ctx, out), 0);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
	CHECK_STR(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(names_round_trip)
{
	umap_buf name = UMAP_BUF_INIT, back = UMAP_BUF_INIT;
	const char *ids[] = { "\"Rk3Qa\"", "42", "\"a b/c\"", "\"\"", "-1.5", "\"..\"", "\"é\"" };
	const char *names[] = { "Rk3Qa", "~42", "~%22a%20b%2Fc%22", "~%22%22", "~-1%2E5",
				"~%22%2E%2E%22", "~%22%C3%A9%22" };
	for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
		CHECK_INT(umap_name_from_id(&name, ids[i]), 0);
		CHECK_STR(name.ptr, names[i]);
		CHECK_INT(umap_id_from_name(&back, name.ptr), 0);
		CHECK_STR(back.ptr, ids[i]);
	}
	CHECK_INT(umap_name_from_layer_id(&name, "3f1c9a8e-5b7d"), 0);
	CHECK_STR(name.ptr, "3f1c9a8e-5b7d");
	CHECK_INT(umap_name_from_layer_id(&name, "my layer"), 0);
	CHECK_STR(name.ptr, "~my%20layer");
	CHECK_INT(umap_layer_id_from_name(&back, name.ptr), 0);
	CHECK_STR(back.ptr, "my layer");
	CHECK_INT(umap_id_from_name(&back, "~%2"), UMAP_ECORRUPT);
	umap_buf_dispose(&name);
	umap_buf_dispose(&back);
}

TEST(shard_depth_grows_with_the_layer)
{
	CHECK_INT(umap_shard_depth(0, -1), 0);
	CHECK_INT(umap_shard_depth(256, -1), 0);
	CHECK_INT(umap_shard_depth(257, -1), 1);
	CHECK_INT(umap_shard_depth(16384, -1), 1);
	CHECK_INT(umap_shard_depth(100000, -1), 2);
	CHECK_INT(umap_shard_depth(10000000, -1), 3);
	/* hysteresis: a layer just under the threshold keeps its depth */
	CHECK_INT(umap_shard_depth(200, 1), 1);
	CHECK_INT(umap_shard_depth(50, 1), 0);
}

static int count_blob(void *ctx, const char *name, const git_oid *blob)
{
	(void)name;
	(void)blob;
	(*(size_t *)ctx)++;
	return 0;
}

typedef struct ids_ctx {
	char **ids;
	size_t n;
	int mismatch;
} ids_ctx;

static int check_id(void *ctx, const char *id, size_t len)
{
	ids_ctx *c = ctx;
	if (strlen(c->ids[c->n]) != len || memcmp(c->ids[c->n], id, len))
		c->mismatch = 1;
	c->n++;
	return 0;
}

/* Builds n features f<i> with blob "feature i", in a layer of the given depth. */
static int build_layer(git_oid *features, git_oid *order, umap_store *s, size_t n, int depth,
		       char **ids, size_t skip)
{
	umap_fref *refs = calloc(n, sizeof(*refs));
	char **names = calloc(n, sizeof(*names));
	umap_buf name = UMAP_BUF_INIT;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == skip)
			continue;
		char id[32], blob[160];
		snprintf(id, sizeof(id), "\"f%zu\"", i);
		snprintf(blob, sizeof(blob), "{\"type\":\"Feature\",\"id\":%s,\"properties\":{\"name\":\"Feature %zu\"},\"geometry\":null}", id, i * 7919);
		umap_name_from_id(&name, id);
		names[k] = umap_buf_detach(&name);
		refs[k].name = names[k];
		refs[k].shard = umap_shard_hash(id);
		umap_store_put(&refs[k].blob, s, GIT_OBJECT_BLOB, blob, strlen(blob));
		if (ids)
			ids[k] = strdup(id);
		k++;
	}
	int rc = umap_store_features_tree(features, s, refs, k, depth);
	if (!rc && ids)
		rc = umap_store_order_tree(order, s, ids, k);
	for (size_t i = 0; i < k; i++)
		free(names[i]);
	free(names);
	free(refs);
	return rc;
}

TEST(features_and_order_round_trip_through_a_pack)
{
	git_repository *repo = fresh_repo();
	CHECK(repo != NULL);
	umap_store s;
	CHECK_INT(umap_store_open(&s, repo), 0);
	size_t n = 3000;
	char **ids = calloc(n, sizeof(*ids));
	git_oid features, order;
	CHECK_INT(build_layer(&features, &order, &s, n, 1, ids, (size_t)-1), 0);
	umap_tree_entry root[2] = { { "features", UMAP_MODE_TREE, features },
				    { "order", UMAP_MODE_TREE, order } };
	git_oid tree;
	CHECK_INT(umap_store_write_tree(&tree, &s, root, 2), 0);
	CHECK_INT(umap_store_mark_new(&s, &tree, NULL), 0);
	CHECK_INT(umap_store_flush(&s), 0);
	umap_store_close(&s);

	/* A fresh libgit2 handle reads everything from the pack. */
	git_repository *again = NULL;
	CHECK_INT(git_repository_open(&again, git_repository_path(repo)), 0);
	CHECK_INT(umap_store_open(&s, again), 0);
	CHECK(!umap_objw_has(s.objw, &tree));
	int depth = -1;
	CHECK_INT(umap_store_features_depth(&depth, &s, &features), 0);
	CHECK_INT(depth, 1);
	size_t blobs = 0;
	CHECK_INT(umap_store_features_each(&s, &features, count_blob, &blobs), 0);
	CHECK_INT(blobs, n);
	ids_ctx ctx = { ids, 0, 0 };
	CHECK_INT(umap_store_order_each(&s, &order, check_id, &ctx), 0);
	CHECK_INT(ctx.n, n);
	CHECK_INT(ctx.mismatch, 0);
	/* blobs went in as deltas: git reads every one back whole */
	git_odb *odb = NULL;
	CHECK_INT(git_repository_odb(&odb, again), 0);
	size_t deltas_ok = 0;
	for (size_t i = 0; i < n; i++) {
		char text[160];
		git_oid id;
		snprintf(text, sizeof(text), "{\"type\":\"Feature\",\"id\":%s,\"properties\":{\"name\":\"Feature %zu\"},\"geometry\":null}", ids[i], i * 7919);
		git_odb_hash(&id, text, strlen(text), GIT_OBJECT_BLOB);
		git_odb_object *obj = NULL;
		if (git_odb_read(&obj, odb, &id) == 0 && git_odb_object_size(obj) == strlen(text) &&
		    !memcmp(git_odb_object_data(obj), text, strlen(text)))
			deltas_ok++;
		git_odb_object_free(obj);
	}
	CHECK_INT(deltas_ok, n);
	git_odb_free(odb);
	git_tree *gt = NULL;
	CHECK_INT(git_tree_lookup(&gt, again, &features), 0);
	CHECK_INT(git_tree_entrycount(gt), 64);
	git_tree_free(gt);
	umap_store_close(&s);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	git_repository_free(again);
	git_repository_free(repo);
}

static int count_changes(void *ctx, const char *path, const git_oid *a, const git_oid *b)
{
	(void)path;
	(void)a;
	(void)b;
	(*(size_t *)ctx)++;
	return 0;
}

typedef struct leaf_slices {
	umap_fref *refs; /* grouped by leaf */
	size_t n, bits;
	umap_fref buf[64];
} leaf_slices;

/* Gives a leaf's refs reversed (the store sorts them by name itself). */
static int give_leaf(void *ctx, size_t leaf, umap_fref **refs, size_t *n)
{
	leaf_slices *c = ctx;
	size_t k = 0;
	for (size_t i = c->n; i-- > 0;)
		if ((c->refs[i].shard >> (64 - c->bits)) == leaf && k < 64)
			c->buf[k++] = c->refs[i];
	*refs = c->buf;
	*n = k;
	return 0;
}

static int shard_order(const void *a, const void *b)
{
	uint64_t x = ((const umap_fref *)a)->shard, y = ((const umap_fref *)b)->shard;
	return x < y ? -1 : x > y;
}

/* import and commit build a layer's tree leaf by leaf from a function: the very trees of
 * the whole builds, and a duplicate id is still refused */
TEST(leaf_by_leaf_builds_give_the_same_trees)
{
	git_repository *repo = fresh_repo();
	CHECK(repo != NULL);
	umap_store s;
	CHECK_INT(umap_store_open(&s, repo), 0);
	size_t n = 1500;
	umap_fref *refs = calloc(n, sizeof(*refs)), *copy = calloc(n, sizeof(*copy));
	char **names = calloc(n, sizeof(*names)), **ids = calloc(n, sizeof(*ids));
	umap_buf name = UMAP_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		char id[32], blob[64];
		snprintf(id, sizeof(id), "\"g%zu\"", i);
		snprintf(blob, sizeof(blob), "{\"id\":%s,\"v\":%zu}", id, i);
		umap_name_from_id(&name, id);
		names[i] = umap_buf_detach(&name);
		ids[i] = strdup(id);
		refs[i].name = names[i];
		refs[i].shard = umap_shard_hash(id);
		umap_store_put(&refs[i].blob, &s, GIT_OBJECT_BLOB, blob, strlen(blob));
	}
	git_oid whole, leaves, order, order_at;
	memcpy(copy, refs, n * sizeof(*refs));
	CHECK_INT(umap_store_features_tree(&whole, &s, copy, n, 1), 0);
	qsort(refs, n, sizeof(*refs), shard_order);
	leaf_slices c = { refs, n, 6, { { 0 } } };
	CHECK_INT(umap_store_features_tree_leaves(&leaves, &s, 1, give_leaf, &c), 0);
	CHECK(git_oid_equal(&whole, &leaves));
	CHECK_INT(umap_store_order_tree(&order, &s, ids, n), 0);
	CHECK_INT(umap_store_order_tree_at(&order_at, &s, NULL, sizeof(*ids), 0), 0);
	CHECK_INT(umap_store_order_tree_at(&order_at, &s, ids, sizeof(*ids), n), 0);
	CHECK(git_oid_equal(&order, &order_at));

	/* a patch: two features change; the leaves they are in come from the function, every
	 * other feature of them with a zero blob (kept from the old leaf) */
	unsigned char affected[64] = { 0 };
	git_oid changed_blob;
	CHECK_INT(umap_store_put(&changed_blob, &s, GIT_OBJECT_BLOB, "{}", 2), 0);
	size_t a = 3, b = 900;
	affected[refs[a].shard >> 58] = affected[refs[b].shard >> 58] = 1;
	umap_fref *patch = calloc(n, sizeof(*patch));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == a || i == b)
			git_oid_cpy(&refs[i].blob, &changed_blob);
		if (!affected[refs[i].shard >> 58])
			continue;
		patch[k] = refs[i];
		if (i != a && i != b)
			memset(&patch[k].blob, 0, sizeof(patch[k].blob));
		k++;
	}
	git_oid patched, patched_leaves, rebuilt;
	memcpy(copy, patch, k * sizeof(*patch));
	CHECK_INT(umap_store_features_patch(&patched, &s, &whole, 1, copy, k, affected), 0);
	leaf_slices p = { patch, k, 6, { { 0 } } };
	CHECK_INT(umap_store_features_patch_leaves(&patched_leaves, &s, &whole, 1, affected, give_leaf, &p), 0);
	memcpy(copy, refs, n * sizeof(*refs));
	CHECK_INT(umap_store_features_tree(&rebuilt, &s, copy, n, 1), 0);
	CHECK(git_oid_equal(&patched, &rebuilt));
	CHECK(git_oid_equal(&patched_leaves, &rebuilt));
	CHECK(!git_oid_equal(&rebuilt, &whole));

	/* the same id twice in a leaf */
	refs[1].name = refs[0].name;
	refs[1].shard = refs[0].shard;
	qsort(refs, n, sizeof(*refs), shard_order);
	CHECK_INT(umap_store_features_tree_leaves(&leaves, &s, 1, give_leaf, &c), UMAP_EINVALID);
	umap_error_clear();
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		free(ids[i]);
	}
	free(names);
	free(ids);
	free(refs);
	free(copy);
	free(patch);
	umap_store_close(&s);
	git_repository_free(repo);
}

static int note_change(void *ctx, const char *path, const git_oid *a, const git_oid *b)
{
	char ha[GIT_OID_HEXSZ + 1] = "-", hb[GIT_OID_HEXSZ + 1] = "-";
	if (a)
		git_oid_tostr(ha, sizeof(ha), a);
	if (b)
		git_oid_tostr(hb, sizeof(hb), b);
	umap_buf *out = ctx;
	return umap_buf_puts(out, path) || umap_buf_putc(out, ' ') || umap_buf_puts(out, ha) ||
	       umap_buf_putc(out, ' ') || umap_buf_puts(out, hb) || umap_buf_putc(out, '\n');
}

/* a commit's patch keeps what each leaf changed, and marking and diffing walk that instead
 * of reading the leaves again: the very changes and marks of a store that never patched */
TEST(a_patch_marks_and_diffs_as_the_leaves_read_back)
{
	git_repository *repo = fresh_repo();
	CHECK(repo != NULL);
	umap_store s, fresh;
	CHECK_INT(umap_store_open(&s, repo), 0);
	size_t n = 1500, a = 3, b = 900, c = 901;
	umap_fref *refs = calloc(n, sizeof(*refs)), *copy = calloc(n, sizeof(*copy));
	char **names = calloc(n, sizeof(*names));
	umap_buf name = UMAP_BUF_INIT, via_patch = UMAP_BUF_INIT, read_back = UMAP_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		char id[32], blob[64];
		snprintf(id, sizeof(id), "\"m%zu\"", i);
		snprintf(blob, sizeof(blob), "{\"id\":%s}", id);
		umap_name_from_id(&name, id);
		names[i] = umap_buf_detach(&name);
		refs[i].name = names[i];
		refs[i].shard = umap_shard_hash(id);
		umap_store_put(&refs[i].blob, &s, GIT_OBJECT_BLOB, blob, strlen(blob));
	}
	git_oid whole, patched, changed_blob;
	memcpy(copy, refs, n * sizeof(*refs));
	CHECK_INT(umap_store_features_tree(&whole, &s, copy, n, 1), 0);
	CHECK_INT(umap_store_mark_new(&s, &whole, NULL), 0);
	CHECK_INT(umap_store_flush(&s), 0);

	/* a changes, b is gone, c changes to a blob git already has (b's) */
	CHECK_INT(umap_store_put(&changed_blob, &s, GIT_OBJECT_BLOB, "{\"v\":1}", 7), 0);
	unsigned char affected[64] = { 0 };
	size_t leaf_a = refs[a].shard >> 58, leaf_b = refs[b].shard >> 58, leaf_c = refs[c].shard >> 58;
	affected[leaf_a] = affected[leaf_b] = affected[leaf_c] = 1;
	git_oid_cpy(&refs[a].blob, &changed_blob);
	git_oid_cpy(&refs[c].blob, &refs[b].blob);
	qsort(refs, n, sizeof(*refs), shard_order);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!affected[refs[i].shard >> 58] || refs[i].name == names[b])
			continue;
		copy[k] = refs[i];
		if (refs[i].name != names[a] && refs[i].name != names[c])
			memset(&copy[k].blob, 0, sizeof(copy[k].blob));
		k++;
	}
	leaf_slices p = { copy, k, 6, { { 0 } } };
	CHECK_INT(umap_store_features_patch_leaves(&patched, &s, &whole, 1, affected, give_leaf, &p), 0);
	CHECK_INT(umap_store_diff(&s, &whole, &patched, note_change, &via_patch), 0);
	CHECK_INT(umap_store_mark_new(&s, &patched, &whole), 0);
	size_t leaves = 1 + (leaf_b != leaf_a) + (leaf_c != leaf_a && leaf_c != leaf_b);
	/* the root, a's new blob, and b's that c names now (the store still holds it) */
	CHECK_INT(umap_objw_marked(s.objw), leaves + 1 + 2);
	CHECK_INT(umap_store_flush(&s), 0);

	CHECK_INT(umap_store_open(&fresh, repo), 0);
	CHECK_INT(umap_store_diff(&fresh, &whole, &patched, note_change, &read_back), 0);
	CHECK_STR(via_patch.ptr, read_back.ptr);
	size_t lines = 0;
	for (const char *q = via_patch.ptr; *q; q++)
		lines += *q == '\n';
	CHECK_INT(lines, 3);
	umap_store_close(&fresh);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(refs);
	free(copy);
	umap_buf_dispose(&via_patch);
	umap_buf_dispose(&read_back);
	umap_store_close(&s);
	git_repository_free(repo);
}

TEST(an_insert_rewrites_few_order_chunks)
{
	git_repository *repo = fresh_repo();
	umap_store s;
	CHECK_INT(umap_store_open(&s, repo), 0);
	size_t n = 20000;
	char **ids = calloc(n + 1, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "\"f%zu\"", i);
		ids[i] = strdup(id);
	}
	git_oid before, after;
	CHECK_INT(umap_store_order_tree(&before, &s, ids, n), 0);
	memmove(ids + 10001, ids + 10000, (n - 10000) * sizeof(*ids));
	ids[10000] = strdup("\"new\"");
	CHECK_INT(umap_store_order_tree(&after, &s, ids, n + 1), 0);
	/* Blobs that differ between the two orders: the chunk that got the id, maybe its
	 * neighbour when the new id is a boundary. */
	size_t changed = 0;
	CHECK_INT(umap_store_diff(&s, &before, &after, count_changes, &changed), 0);
	CHECK(changed >= 1 && changed <= 4);
	/* and the new objects to write: those chunks plus a path of small index trees */
	CHECK_INT(umap_store_mark_new(&s, &after, &before), 0);
	CHECK(umap_objw_marked(s.objw) <= 10);
	for (size_t i = 0; i <= n; i++)
		free(ids[i]);
	free(ids);
	umap_store_close(&s);
	git_repository_free(repo);
}

TEST(diff_skips_equal_subtrees_and_marks_only_changes)
{
	git_repository *repo = fresh_repo();
	umap_store s;
	CHECK_INT(umap_store_open(&s, repo), 0);
	git_oid a, b, unused;
	CHECK_INT(build_layer(&a, &unused, &s, 2000, 1, NULL, (size_t)-1), 0);
	CHECK_INT(umap_store_mark_new(&s, &a, NULL), 0);
	size_t first = umap_objw_marked(s.objw);
	CHECK_INT(first, 2000 + 64 + 1);
	CHECK_INT(umap_store_flush(&s), 0);
	CHECK_INT(build_layer(&b, &unused, &s, 2000, 1, NULL, 7), 0);
	size_t changed = 0;
	CHECK_INT(umap_store_diff(&s, &a, &b, count_changes, &changed), 0);
	CHECK_INT(changed, 1);
	CHECK_INT(umap_store_mark_new(&s, &b, &a), 0);
	CHECK_INT(umap_objw_marked(s.objw), 2); /* one shard and the root */
	/* A depth change is every path at once, but still the same blobs. */
	git_oid flat;
	CHECK_INT(build_layer(&flat, &unused, &s, 2000, 0, NULL, (size_t)-1), 0);
	changed = 0;
	CHECK_INT(umap_store_diff(&s, &a, &flat, count_changes, &changed), 0);
	CHECK_INT(changed, 4000);
	umap_store_close(&s);
	git_repository_free(repo);
}

TEST(damaged_objects_say_what_is_wrong)
{
	git_repository *repo = fresh_repo();
	umap_store s;
	CHECK_INT(umap_store_open(&s, repo), 0);
	git_oid bad, missing;
	CHECK_INT(umap_store_put(&bad, &s, GIT_OBJECT_TREE, "100644 x", 8), 0);
	size_t changed = 0;
	CHECK_INT(umap_store_diff(&s, NULL, &bad, count_changes, &changed), UMAP_ECORRUPT);
	CHECK(strstr(umap_error_last(), "is damaged") != NULL);
	git_oid_fromstr(&missing, "0123456789012345678901234567890123456789");
	umap_obj obj;
	CHECK_INT(umap_store_read(&obj, &s, &missing, GIT_OBJECT_TREE, "the tree of layer x"),
		  UMAP_ECORRUPT);
	CHECK(strstr(umap_error_last(), "cannot read the tree of layer x (object 0123456789") != NULL);
	umap_store_close(&s);
	git_repository_free(repo);
}

/* Blobs streamed into the pack as they are put (an import) are the objects kept in memory
 * would have been: the same ids, read back byte for byte before the flush (from the pack
 * being written, deltas against the dictionary and a neighbour included) and after it
 * (from git), in a pack git verifies. */
TEST(streamed_blobs_read_back_as_put)
{
	enum { N = 3000 };
	git_repository *repo = fresh_repo();
	CHECK(repo != NULL);
	umap_store s;
	CHECK_INT(umap_store_open(&s, repo), 0);
	char **blobs = calloc(N, sizeof(*blobs));
	git_oid *ids = calloc(N, sizeof(*ids)), dict;
	umap_buf text = UMAP_BUF_INIT;
	for (size_t i = 0; i < 20; i++)
		umap_buf_printf(&text, "{\"type\":\"Feature\",\"id\":\"f%zu\",\"properties\":{\"name\":\"Street\",\"capacity\":%zu}}\n", i, i);
	CHECK_INT(umap_store_put(&dict, &s, GIT_OBJECT_BLOB, text.ptr, text.len), 0);
	CHECK_INT(umap_objw_set_dict(s.objw, &dict), 0);
	CHECK_INT(umap_store_stream_blobs(&s, 1), 0);
	for (size_t i = 0; i < N; i++) {
		umap_buf_clear(&text);
		/* small, dictionary-like, unlike anything before, and one past DELTA_MAX_BASE */
		if (i % 500 == 7) {
			for (size_t k = 0; k < 1200; k++)
				umap_buf_printf(&text, "%zu,", k * i);
		} else {
			umap_buf_printf(&text, "{\"type\":\"Feature\",\"id\":\"f%zu\",\"properties\":{\"name\":\"%s\",\"capacity\":%zu}}",
					i, i % 3 ? "Street" : "Something else entirely", i * 7919 % 1000);
		}
		blobs[i] = umap_buf_detach(&text);
		CHECK_INT(umap_store_put(&ids[i], &s, GIT_OBJECT_BLOB, blobs[i], strlen(blobs[i])), 0);
	}
	umap_objw_set_dict(s.objw, NULL);
	CHECK_INT(umap_store_stream_blobs(&s, 0), 0);
	for (size_t i = 0; i < N; i += 37) {
		umap_obj o;
		CHECK_INT(umap_store_read(&o, &s, &ids[i], GIT_OBJECT_BLOB, "a blob"), 0);
		CHECK(o.len == strlen(blobs[i]) && !memcmp(o.data, blobs[i], o.len));
		umap_obj_release(&o);
	}
	/* a tree of them all, committed as an import is */
	umap_tree_entry *entries = calloc(N, sizeof(*entries));
	char (*names)[16] = calloc(N, sizeof(*names));
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "b%05zu", i);
		entries[i] = (umap_tree_entry){ names[i], UMAP_MODE_BLOB, ids[i] };
	}
	git_oid tree;
	CHECK_INT(umap_store_write_tree(&tree, &s, entries, N), 0);
	CHECK_INT(umap_store_mark_new(&s, &tree, NULL), 0);
	CHECK_INT(umap_store_flush(&s), 0);
	umap_store_close(&s);
	/* a new store has nothing in memory: every blob comes from git */
	CHECK_INT(umap_store_open(&s, repo), 0);
	for (size_t i = 0; i < N; i++) {
		umap_obj o;
		CHECK_INT(umap_store_read(&o, &s, &ids[i], GIT_OBJECT_BLOB, "a blob"), 0);
		CHECK(o.len == strlen(blobs[i]) && !memcmp(o.data, blobs[i], o.len));
		umap_obj_release(&o);
	}
	umap_store_close(&s);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "git --git-dir='%s' fsck --full --strict >/dev/null 2>&1",
		 git_repository_path(repo));
	CHECK_INT(system(cmd), 0);
	for (size_t i = 0; i < N; i++)
		free(blobs[i]);
	free(blobs);
	free(ids);
	free(entries);
	free(names);
	umap_buf_dispose(&text);
	git_repository_free(repo);
}

/* Streamed objects keep no entry: their ids and places go to temporary files, and the
 * pack's index is built from those, bucket by bucket. Blobs and trees put while streaming
 * are found again (a blob put twice is written once), read back before the flush, and
 * make a pack whose index git checks against it object by object. */
TEST(streamed_trees_and_the_index_from_temp_files)
{
	enum { N = 20000 };
	git_repository *repo = fresh_repo();
	CHECK(repo != NULL);
	umap_store s;
	CHECK_INT(umap_store_open(&s, repo), 0);
	git_oid *ids = calloc(N, sizeof(*ids)), again, tree, small_tree, root;
	char (*names)[16] = calloc(N, sizeof(*names));
	umap_tree_entry *entries = calloc(N, sizeof(*entries));
	char blob[64];
	CHECK_INT(umap_store_stream_blobs(&s, 1), 0);
	for (size_t i = 0; i < N; i++) {
		int len = snprintf(blob, sizeof(blob), "{\"id\":%zu}", i);
		CHECK_INT(umap_store_put(&ids[i], &s, GIT_OBJECT_BLOB, blob, (size_t)len), 0);
		snprintf(names[i], sizeof(names[i]), "b%05zu", i);
		entries[i] = (umap_tree_entry){ names[i], UMAP_MODE_BLOB, ids[i] };
	}
	CHECK_INT(umap_store_put(&again, &s, GIT_OBJECT_BLOB, "{\"id\":7}", 8), 0);
	CHECK(git_oid_equal(&again, &ids[7]));
	CHECK(umap_objw_has(s.objw, &ids[N - 1]) && umap_objw_unwritten(s.objw, &ids[N - 1]));
	CHECK_INT(umap_store_write_tree(&tree, &s, entries, N), 0);
	CHECK_INT(umap_store_write_tree(&small_tree, &s, entries, 3), 0);
	umap_tree_entry top[2] = { { "all", UMAP_MODE_TREE, tree }, { "some", UMAP_MODE_TREE, small_tree } };
	CHECK_INT(umap_store_write_tree(&root, &s, top, 2), 0);
	CHECK_INT(umap_store_stream_blobs(&s, 0), 0);
	umap_obj o;
	CHECK_INT(umap_store_read(&o, &s, &small_tree, GIT_OBJECT_TREE, "a tree"), 0);
	umap_tree_entry *back = NULL;
	size_t nback = 0;
	CHECK_INT(umap_tree_parse(&back, &nback, &o, &small_tree), 0);
	CHECK_INT(nback, 3);
	CHECK(nback == 3 && !strcmp(back[2].name, "b00002") && git_oid_equal(&back[2].id, &ids[2]));
	free(back);
	umap_obj_release(&o);
	CHECK_INT(umap_store_mark_new(&s, &root, NULL), 0);
	CHECK_INT(umap_store_flush(&s), 0);
	CHECK(umap_objw_has(s.objw, &ids[3]) && !umap_objw_unwritten(s.objw, &ids[3]));
	umap_store_close(&s);
	/* every object once: N blobs and 3 trees */
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && git verify-pack -v objects/pack/*.idx | grep -c -E ' (blob|tree) ' | grep -qx %d"
		 " && git fsck --full --strict >/dev/null 2>&1",
		 git_repository_path(repo), N + 3);
	CHECK_INT(system(cmd), 0);
	free(ids);
	free(names);
	free(entries);
	git_repository_free(repo);
}

int main(void)
{
	git_libgit2_init();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/umap-unit-store.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	RUN(sha1_known_vectors);
	RUN(names_round_trip);
	RUN(shard_depth_grows_with_the_layer);
	RUN(features_and_order_round_trip_through_a_pack);
	RUN(leaf_by_leaf_builds_give_the_same_trees);
	RUN(a_patch_marks_and_diffs_as_the_leaves_read_back);
	RUN(an_insert_rewrites_few_order_chunks);
	RUN(diff_skips_equal_subtrees_and_marks_only_changes);
	RUN(damaged_objects_say_what_is_wrong);
	RUN(streamed_blobs_read_back_as_put);
	RUN(streamed_trees_and_the_index_from_temp_files);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (getenv("UMAP_UNIT_KEEP"))
		printf("# kept %s\n", tmpdir);
	else if (system(cmd) != 0)
		return 1;
	git_libgit2_shutdown();
	return UNIT_DONE();
}
