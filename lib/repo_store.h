/* The repository's object layer: reading objects (pending or in git), building trees,
 * the sharded feature trees, the chunked feature order, and the OID-skipping tree walk.
 * Internal to lib/repo*.c and its unit tests; other code uses lib/repo.h. */
#ifndef UMAP_REPO_STORE_H
#define UMAP_REPO_STORE_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "gitpack.h"

#define UMAP_MODE_BLOB 0100644u
#define UMAP_MODE_TREE 0040000u

/* Feature trees shard by 6-bit slices of xxh3(id): 64 subtrees per level. A layer gets one
 * more level when its leaves would average more than UMAP_SHARD_FILL entries
 * (see docs/REPOSITORY.md: 100k features -> 4096 leaves of ~24, 10M -> 262144 of ~38). */
#define UMAP_SHARD_FANOUT 64
#define UMAP_SHARD_FILL 256
/* Feature order chunks: a boundary after an id whose hash has these low bits clear. */
#define UMAP_ORDER_BITS 6
#define UMAP_ORDER_MAX 256

typedef struct umap_store {
	git_repository *git; /* borrowed */
	git_odb *odb;        /* owned */
	umap_objw *objw;     /* objects built this session, written by umap_store_flush */
	char *gitdir;
	struct leaf_memo *memo; /* what the leaves patched this session changed (repo_store.c) */
	git_oid *known;         /* sorted: blobs known to be in git (umap_store_know_order) */
	size_t nknown;
} umap_store;

int umap_store_open(umap_store *s, git_repository *git);
void umap_store_close(umap_store *s);
/* Gives back what libgit2 keeps mapped of the packs read so far (their indexes, 28 MB for
 * 1M objects, and windows of up to 24 MB) by opening the object database anew: for a
 * command done reading objects for a while (export, once a revision is assembled). */
int umap_store_release_packs(umap_store *s);

/* An object's bytes, from the pending set or from git. */
typedef struct umap_obj {
	const char *data;
	size_t len;
	git_object_t type;
	git_odb_object *odbobj;
	char *copy; /* bytes read back from the pack being written */
} umap_obj;
/* `what` names the object in errors ("tree of layer X"): a missing or damaged object is
 * UMAP_ECORRUPT with the id and `what`. */
int umap_store_read(umap_obj *out, umap_store *s, const git_oid *id, git_object_t expect,
		    const char *what);
void umap_obj_release(umap_obj *o);

int umap_store_put(git_oid *out, umap_store *s, git_object_t type, const void *data, size_t len);

typedef struct umap_tree_entry {
	const char *name; /* NUL-terminated, inside the tree's bytes or owned by the caller */
	unsigned mode;
	git_oid id;
} umap_tree_entry;

/* Parses a tree object (UMAP_ECORRUPT when malformed). *entries is allocated; names point
 * into obj, which must outlive them. */
int umap_tree_parse(umap_tree_entry **entries, size_t *n, const umap_obj *obj,
		    const git_oid *id);
/* git's tree order (a tree sorts as if its name ended with '/'). */
int umap_tree_entry_cmp(const void *a, const void *b);
/* Sorts the entries and stores the tree. */
int umap_store_write_tree(git_oid *out, umap_store *s, umap_tree_entry *entries, size_t n);
/* The id of the entry `name` of a tree; UMAP_ENOTFOUND when absent. */
int umap_store_tree_lookup(git_oid *out, unsigned *mode, umap_store *s, const git_oid *tree,
			   const char *name, const char *what);

/* ---- Feature names and shards ---------------------------------------------------- */

/* A feature id (compact JSON text) as a tree entry name: a string of [A-Za-z0-9_-] is
 * itself; anything else is "~" and the JSON text with other bytes as %XX. */
int umap_name_from_id(umap_buf *out, const char *id_json);
int umap_id_from_name(umap_buf *out, const char *name);
/* Same for a layer id (a plain string). */
int umap_name_from_layer_id(umap_buf *out, const char *layer_id);
int umap_layer_id_from_name(umap_buf *out, const char *name);
uint64_t umap_shard_hash(const char *id_json);
/* Levels of 64 shards for a layer of n features (keeps `previous` unless n is far off). */
int umap_shard_depth(size_t n, int previous);

typedef struct umap_fref {
	const char *name; /* entry name (umap_name_from_id) */
	git_oid blob;
	uint64_t shard;   /* umap_shard_hash of the id */
} umap_fref;

/* Builds the sharded features tree of a layer; sorts refs. n == 0 gives the empty tree. */
int umap_store_features_tree(git_oid *out, umap_store *s, umap_fref *refs, size_t n, int depth);
/* The refs of one leaf (0 .. 64^depth - 1), in any order (the store sorts them by name),
 * lent until the next call: for a layer too large to hold a tree entry per feature at
 * once. Leaves are asked for in increasing order. */
typedef int (*umap_leaf_fn)(void *ctx, size_t leaf, umap_fref **refs, size_t *n);
/* umap_store_features_tree asking `leaf` for each leaf's refs: the memory of one leaf. */
int umap_store_features_tree_leaves(git_oid *out, umap_store *s, int depth, umap_leaf_fn leaf,
				    void *ctx);
/* A features tree like old_tree (same depth, >= 1) but with the leaves marked in
 * `affected` (one byte per leaf, 64^depth) rebuilt from refs, which must be exactly the
 * features of those leaves; a ref with the zero blob id keeps its blob from the old leaf.
 * Every other subtree is reused by id, unread. UMAP_ECONFLICT (no message) when old_tree
 * does not fit: build the tree whole instead. Sorts refs. */
int umap_store_features_patch(git_oid *out, umap_store *s, const git_oid *old_tree, int depth,
			      umap_fref *refs, size_t n, const unsigned char *affected);
/* umap_store_features_patch asking `leaf` for the refs of each affected leaf. */
int umap_store_features_patch_leaves(git_oid *out, umap_store *s, const git_oid *old_tree,
				     int depth, const unsigned char *affected, umap_leaf_fn leaf,
				     void *ctx);
/* A features tree like old_tree (same depth, 1 to 3) with refs as edits: a ref's blob replaces
 * or adds the feature of its name, a zero blob id removes it. Only the leaves refs fall in
 * are read and rewritten. UMAP_ECONFLICT (no message) when old_tree does not fit (a removed
 * feature it does not hold, another layout): build the tree whole instead. Sorts refs. */
int umap_store_features_edit(git_oid *out, umap_store *s, const git_oid *old_tree, int depth,
			     umap_fref *refs, size_t n);
/* Levels of shards in an existing features tree. */
int umap_store_features_depth(int *depth, umap_store *s, const git_oid *tree);
/* Calls cb for every feature blob under a features tree (order unspecified). */
typedef int (*umap_blob_cb)(void *ctx, const char *name, const git_oid *blob);
int umap_store_features_each(umap_store *s, const git_oid *tree, umap_blob_cb cb, void *ctx);

/* The blob of one feature (UMAP_ENOTFOUND when the layer has no such id): O(depth). */
int umap_store_feature_lookup(git_oid *blob, umap_store *s, const git_oid *features_tree,
			      const char *id_json);

/* The feature order: content-defined chunks of ids (one per line) in a prolly tree. */
int umap_store_order_tree(git_oid *out, umap_store *s, char *const *ids, size_t n);
/* The same with the ids at `first`, then every `stride` bytes (the id member of an array of
 * records, without a copy of the pointers). */
int umap_store_order_tree_at(git_oid *out, umap_store *s, char *const *first, size_t stride,
			     size_t n);
/* The same tree from ids given one at a time, holding one chunk and a node per chunk (28
 * bytes per ~64 ids), not the ids. */
typedef struct umap_order_node {
	git_oid id;
	uint64_t key; /* hash of the last id below it: decides the boundaries above */
} umap_order_node;
typedef struct umap_order_builder {
	umap_store *s;
	umap_order_node *nodes; /* the chunks made so far */
	size_t count, cap;
	umap_buf chunk;         /* the ids of the chunk being filled, one a line */
	size_t in_chunk;
	uint64_t last_key;
} umap_order_builder;
#define UMAP_ORDER_BUILDER_INIT(store) { (store), NULL, 0, 0, UMAP_BUF_INIT, 0, 0 }
int umap_order_builder_add(umap_order_builder *b, const char *id, size_t len);
/* The tree's id; disposes of the builder, as umap_order_builder_dispose does on failure. */
int umap_order_builder_finish(git_oid *out, umap_order_builder *b);
void umap_order_builder_dispose(umap_order_builder *b);
/* Calls cb(ctx, id_json, len) for every id in order. */
typedef int (*umap_id_cb)(void *ctx, const char *id, size_t len);
int umap_store_order_each(umap_store *s, const git_oid *tree, umap_id_cb cb, void *ctx);
/* Notes the chunks of an order tree (its trees read, not its chunks) as in git: an order
 * built from now on takes such a chunk as it is and puts any other without asking git
 * whether it has it, and marking a new tree's objects does not ask either (an edit of a
 * large layer: 16k chunks at 1M features, each lookup a page of the pack's index that
 * libgit2 maps whole). */
int umap_store_know_order(umap_store *s, const git_oid *tree);

/* ---- Writing and comparing ------------------------------------------------------- */

/* Marks for writing every pending object reachable from new_tree that the old tree does
 * not have at the same path; equal subtrees are skipped by id without reading them.
 * A blob neither pending nor in git gives UMAP_ENOTFOUND. */
int umap_store_mark_new(umap_store *s, const git_oid *new_tree, const git_oid *old_tree);
int umap_store_flush(umap_store *s);
/* on: blobs put from now on go straight into the pack the next flush completes, keeping
 * none of their bytes in memory (umap_objw_stream): for the features of a layer, which
 * nothing reads back before the commit. off: kept until the flush again. */
int umap_store_stream_blobs(umap_store *s, int on);

/* on: trees put from now on go straight into the pack the next flush completes
 * (umap_objw_stream_trees): for a features tree edited leaf by leaf, whose leaves the
 * store remembers the changes of and so never reads back. off: kept until the flush. */
int umap_store_stream_trees(umap_store *s, int on);

/* Recursive diff of two trees by path, skipping equal subtrees by id: cb gets every blob
 * path (relative, '/'-separated) whose id differs; old or new is NULL when absent.
 * Either tree may be NULL (empty). */
typedef int (*umap_diff_cb)(void *ctx, const char *path, const git_oid *old_blob,
			    const git_oid *new_blob);
int umap_store_diff(umap_store *s, const git_oid *old_tree, const git_oid *new_tree,
		    umap_diff_cb cb, void *ctx);

#endif
