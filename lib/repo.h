/* The repository (SPEC §7): a map's tracked files as revisioned documents in a real git
 * repository kept in .umapsync/ beside them. This is the API that the repository commands,
 * merge/rebase and sync build on; storage details are in docs/REPOSITORY.md.
 *
 * A revision's tree holds manifest.json (the tracked files and their layer ids), map.json
 * (a tracked .umap file's map options) and layers/<layer id>/ with meta.json, options.json,
 * features/ (one blob per feature, sharded) and order/ (the feature order in chunks). */
#ifndef UMAP_REPO_H
#define UMAP_REPO_H

#include <git2.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "diff.h"
#include "doc.h"
#include "progress.h"

#define UMAP_REPO_DIR ".umapsync"

typedef struct umap_repo umap_repo; /* opaque */

/* ---- Opening ------------------------------------------------------------------------ */

/* Creates DIR/.umapsync (a bare-style git dir, first branch main). *existed is set when
 * it was already there (then it is only opened). */
int umap_repo_init(umap_repo **out, const char *dir, int *existed);
/* Finds .umapsync in `start` or a parent (start NULL: the current directory).
 * UMAP_ENOTFOUND "not a umapsync repository (or any parent directory)". */
int umap_repo_open(umap_repo **out, const char *start);
void umap_repo_free(umap_repo *repo);
const char *umap_repo_workdir(const umap_repo *repo); /* absolute, no trailing slash */
const char *umap_repo_gitdir(const umap_repo *repo);
git_repository *umap_repo_git(umap_repo *repo);       /* borrowed */

/* A user's path (relative to the current directory) as a path relative to the working
 * directory; UMAP_EINVALID when it is outside. And back to an absolute path. */
int umap_repo_relpath(char **out, umap_repo *repo, const char *path);
int umap_repo_abspath(char **out, umap_repo *repo, const char *relpath);
/* umap_repo_abspath for a file about to be written or removed with a name that may come
 * from a server or a tree: UMAP_EINVALID unless `relpath` is relative, without empty, "."
 * or ".." parts, and its nearest existing directory resolves (symbolic links followed)
 * inside the working directory, so that nothing is written or unlinked outside it. */
int umap_repo_worktree_path(char **out, umap_repo *repo, const char *relpath);

/* ---- Revisions and references ------------------------------------------------------ */

/* Any git revision (HEAD~1, main, v1, abc1234, main^2, @, @~2, HEAD@{1}) to a commit.
 * UMAP_ENOTFOUND "unknown revision 'X'". */
int umap_repo_resolve(git_oid *commit, umap_repo *repo, const char *rev);
/* REV:PATH, a tracked file as it is at a revision (PATH from the top of the working
 * directory, or from the current one when it starts with ./ or ../). *path is allocated.
 * UMAP_ENOTFOUND when REV is unknown or does not track PATH; UMAP_EINVALID without ':'. */
int umap_repo_resolve_path(git_oid *commit, char **path, umap_repo *repo, const char *spec);
/* HEAD's commit; UMAP_ENOTFOUND (no message) when the branch has no commit yet. */
int umap_repo_head(git_oid *commit, umap_repo *repo);
/* The branch HEAD points to ("main"), or NULL when HEAD is detached. Allocated. */
int umap_repo_head_branch(char **branch, umap_repo *repo);
int umap_repo_commit_tree(git_oid *tree, umap_repo *repo, const git_oid *commit);
int umap_repo_merge_base(git_oid *base, umap_repo *repo, const git_oid *a, const git_oid *b);

/* Moves what HEAD points to (its branch, or HEAD itself when detached) from `expected`
 * (NULL: the branch must not exist yet) to `commit`; UMAP_ECONFLICT if someone moved it. */
int umap_repo_advance_head(umap_repo *repo, const git_oid *commit, const git_oid *expected,
			   const char *reflog_message);
/* Points HEAD at a branch (refs/heads/NAME) or detaches it at a commit. */
int umap_repo_set_head_branch(umap_repo *repo, const char *branch);
int umap_repo_set_head_detached(umap_repo *repo, const git_oid *commit);
/* Creates refs/heads/NAME or refs/tags/NAME at `commit`; UMAP_EEXISTS when there. */
int umap_repo_create_ref(umap_repo *repo, const char *refname, const git_oid *commit,
			 const char *reflog_message);

/* The author for new commits: config user.name/user.email, else GIT_AUTHOR_NAME/EMAIL;
 * UMAP_ENOTFOUND with a hint otherwise. GIT_AUTHOR_DATE ("@SECONDS [+ZZZZ]") is honoured. */
int umap_repo_signature(git_signature **out, umap_repo *repo);

/* ---- Contents ---------------------------------------------------------------------- */

/* The tracked files of a revision or of the working directory, as documents. */
/* What the stat index (.umapsync/umapsync-index) keeps of a working file. */
typedef struct umap_file_stat {
	int64_t mtime_ns, ctime_ns;
	uint64_t size, ino, dev;
} umap_file_stat;
struct stat;
void umap_file_stat_from(umap_file_stat *out, const struct stat *st);

typedef struct umap_repo_file {
	char *path;      /* relative to the working directory */
	umap_doc *doc;   /* NULL: "keep this file as in the base tree" when writing */
	git_oid **blobs; /* read from a revision: the blob of each feature, per layer; or NULL */
	int missing;     /* read from the working directory: the file is gone (doc is NULL) */
	int unchanged;   /* read_worktree: the stat index says it holds the base tree's version
			  * (doc is NULL, the file was not read) */
	int have_stat;   /* read_worktree read the file: st is its stat from before reading */
	umap_file_stat st;
	char *from;      /* moved by `mv`: its path in the base tree (layer ids, layout), else
			  * NULL */
	int removed;     /* removed by `rm`: the tree built leaves it out (doc is NULL) */
	int base_features; /* read_worktree_check: a layer file whose features were found to be
			    * the base tree's (bytes, in order); doc holds none of them, and its
			    * tree takes the base's features and order */
	size_t base_count; /* how many they are */
	struct umap_layer_edit *edit; /* read for a commit (umap_repo_read_worktree_edit): a
				       * layer file read as a stream against the base tree's
				       * copy, only its changed features kept; doc holds none of
				       * its features, and its tree is the base's edited */
} umap_repo_file;

typedef struct umap_snapshot {
	size_t nfiles;
	umap_repo_file *files;
} umap_snapshot;

int umap_snapshot_new(umap_snapshot **out);
/* Adds a file; the snapshot takes `doc` (which may be NULL). */
int umap_snapshot_add(umap_snapshot *snap, const char *path, umap_doc *doc);
umap_repo_file *umap_snapshot_find(umap_snapshot *snap, const char *path);
void umap_snapshot_free(umap_snapshot *snap);

/* The tracked paths of a tree (tree NULL: none). Free with umap_paths_free. */
int umap_repo_tracked(char ***paths, size_t *n, umap_repo *repo, const git_oid *tree);
void umap_paths_free(char **paths, size_t n);
/* Reads a tree's tracked files (only_path non-NULL: that one; UMAP_ENOTFOUND when it is
 * not tracked there) as documents over the stored bytes (trees built on demand, as for a
 * file); written with UMAP_DOC_KEEP_BYTES each feature is copied as stored. */
int umap_repo_read_tree(umap_snapshot **out, umap_repo *repo, const git_oid *tree,
			const char *only_path);
/* The bytes of tracked file `path` at `tree`, as umap_doc_write(UMAP_DOC_AS_READ) of its
 * umap_repo_read_tree copy writes them, given to `sink` a megabyte at a time: in a layout
 * other than the stored one (a file read indented), laid out from the revision's text
 * without reading it into a document. UMAP_ENOTFOUND when it is not tracked there. */
int umap_repo_export(umap_repo *repo, const git_oid *tree, const char *path,
		     umap_json_sink sink, void *ctx);
/* The same for a document umap_repo_read_tree gave (unchanged since), to `sink`. Both take
 * the bytes of each feature the working file (work_path, absolute; NULL or missing: none)
 * holds with the same value, so that its numbers keep their spelling (1.0, 1e3). */
int umap_repo_file_text(umap_json_sink sink, void *ctx, umap_doc *doc, const char *work_path);
/* Every feature of tracked file `path` at `tree`, in document order, as RFC 8142 records
 * (RS, the feature's JSON as stored, LF), to `sink` a megabyte at a time. A layer file's
 * features are read from their blobs one at a time, so that memory holds one feature and
 * the file's index, never its text; a map's are written from its document
 * (umap_geojsonseq_write_doc). UMAP_ENOTFOUND when it is not tracked there. */
int umap_repo_export_records(umap_repo *repo, const git_oid *tree, const char *path,
			     umap_json_sink sink, void *ctx);
/* umap_repo_export into `file` (open beside the working file it replaces, which lends its
 * spellings as for umap_repo_export; the caller prepares and commits it, or aborts it),
 * then the features of the text written whose bytes are not their blob noted in the
 * feature cache (as each is written, over a working file; else from the written file,
 * read a feature at a time), so that the next status need not rewrite them: what
 * checkout writes, in memory that does not grow with the file (umap_repo_cache_save
 * keeps the notes). */
struct umap_atomic_file;
int umap_repo_export_file(umap_repo *repo, const git_oid *tree, const char *path,
			  struct umap_atomic_file *file);
/* Reads the working files of the paths tracked in `tree` (streaming; trees built lazily).
 * A file that no longer exists is listed with doc NULL and `missing` set. The pending rm
 * and mv (below) are applied: a removed file is listed with `removed` set and not read, a
 * moved one is read at its new path, with `from` its path in `tree`. */
int umap_repo_read_worktree(umap_snapshot **out, umap_repo *repo, const git_oid *tree);
/* The same for a check that the files hold `tree`'s version (umap_repo_build_tree, then
 * compare): a layer file whose features are, bytes and order, those of its layer in
 * `tree` is read as a stream, keeping 8 bytes a feature, and marked base_features. Such a
 * snapshot is for building a tree to compare, not for writing files or commits. */
int umap_repo_read_worktree_check(umap_snapshot **out, umap_repo *repo, const git_oid *tree);
/* The same for a commit (issue 19): a layer file whose features have ids, once each, is
 * read as a stream against its layer in `tree`: a feature whose bytes hash as one of the
 * layer's feature set is unchanged and costs 16 bytes while the file is read; the blobs
 * of the others are made, the ids of the features it lost found, and the file gets an
 * `edit` that umap_repo_build_tree applies to the base's features tree, as a pull's edit
 * is applied (same tree as a whole read). Any other file is read whole, as
 * umap_repo_read_worktree reads it. */
int umap_repo_read_worktree_edit(umap_snapshot **out, umap_repo *repo, const git_oid *tree);

/* ---- rm and mv: path changes waiting for the next commit -------------------------------
 * There is no staging area, but `rm` and `mv` change what is tracked before a commit
 * records it: .umapsync/umapsync-pending keeps, for each path of HEAD's manifest that they
 * changed, its path in the working directory, or none when it was removed. A moved file
 * keeps its layer ids (the next commit records a rename, not a removal and an addition). */
typedef struct umap_pending_path {
	char *from; /* the path in HEAD's manifest */
	char *to;   /* its path in the working directory; NULL: removed */
} umap_pending_path;

typedef struct umap_pending {
	size_t n;
	umap_pending_path *paths;
} umap_pending;

#define UMAP_PENDING_INIT { 0, NULL }

/* Reads the record (none: empty). UMAP_ECORRUPT when it is damaged. */
int umap_repo_pending_load(umap_pending *out, umap_repo *repo);
/* Writes it atomically; an empty record removes the file. */
int umap_repo_pending_save(umap_repo *repo, const umap_pending *pending);
/* Forgets every pending rm and mv (commit, reset, checkout), whatever the file holds. */
int umap_repo_pending_remove(umap_repo *repo);
/* Records that `from` (a path of HEAD) is now at `to` (NULL: removed); moving it back to
 * `from` drops the entry. */
int umap_pending_set(umap_pending *pending, const char *from, const char *to);
/* The entry of a HEAD path, or of a working path (a moved file's new path); NULL: none. */
const umap_pending_path *umap_pending_find_from(const umap_pending *pending, const char *from);
const umap_pending_path *umap_pending_find_to(const umap_pending *pending, const char *to);
void umap_pending_drop(umap_pending *pending, const char *from);
void umap_pending_clear(umap_pending *pending);

/* Gives every layer of a map without an id a UUID and every feature without an id a uMap
 * id; *assigned counts the features' ids, which go into the file. A layer's id is never
 * written in: a layer file's layer is its path, a map's layer without an id keeps the new
 * one in the manifest (id_outside) and is matched by position, then name, when the file is
 * read again (SPEC §2 "Layer identity"). The caller saves the document if *assigned. */
int umap_repo_assign_ids(umap_doc *doc, size_t *assigned);
/* The ids of `from`'s layers whose id is not in the file go to the same layers of `to`,
 * the same document read again from the bytes written with its new feature ids. */
int umap_repo_carry_layer_ids(umap_doc *to, const umap_doc *from);
/* A working file just read: its map layers without an id take the ids of the layers of
 * `path` in `tree` they match (by position, then name), as status and commit see them. */
int umap_repo_bind_file_layers(umap_doc *doc, umap_repo *repo, const git_oid *tree,
			       const char *path);
/* Writes the ids the manifest keeps for layers without one in the file into their options,
 * for a peer that names every layer by id (a sync server, as uMap gives every layer one):
 * a file synced from a server holds its layers' ids, as a clone does. */
int umap_repo_write_layer_ids(umap_doc *doc);
/* A layer file's new version as a streaming writer made it (a pull applying ops to the file
 * as it copies it), so that its commit is the base tree edited, not the file read again:
 * what is read and written follows the features that changed, not the layer. */
typedef struct umap_layer_edit umap_layer_edit;
int umap_layer_edit_new(umap_layer_edit **out, umap_repo *repo, const char *layer);
/* A feature of the old file whose bytes the new one does not copy (changed or removed):
 * its id (compact JSON) and the xxh3 of its bytes (umap_feature.hash). */
int umap_layer_edit_drop(umap_layer_edit *e, const char *id, uint64_t hash);
/* The next feature of the new file: its id, and its bytes when they are new (NULL when they
 * are an old feature's, copied). */
int umap_layer_edit_next(umap_layer_edit *e, const char *id, const char *bytes, size_t len);
/* The tree of `base` with the layer file `path` as edited: only the shard leaves of the
 * features that changed, the order chunks (their blobs written only when new), meta.json,
 * the feature set that the next commit of the file compares with, and the trees above them
 * are new. `layout` is the file's (the manifest's must be it). UMAP_ECONFLICT, without a
 * message, when the tree must be built from the file instead: no feature set for the base
 * layer, a change of shard depth, a layout to record, a layer left empty. */
int umap_repo_edit_tree(git_oid *tree, umap_repo *repo, const git_oid *base, const char *path,
			umap_layer_edit *e, const umap_layout *layout);
void umap_layer_edit_free(umap_layer_edit *e);
/* Makes `id` the layer's id in memory (the repository's id of a layer file's layer); the
 * layer's options, and so what is written to the file, are left as they are. */
int umap_repo_bind_layer_id(umap_layer *layer, const char *id);

/* Builds the tree of a snapshot in memory (nothing is written): files whose doc is NULL
 * keep their layers from base_tree. Unchanged features cost a hash lookup, not a parse
 * (a cache in .umapsync/umapsync-cache maps their bytes to their blob). */
int umap_repo_build_tree(git_oid *tree, umap_repo *repo, umap_snapshot *snap,
			 const git_oid *base_tree);
/* Reports the features umap_repo_build_tree has placed (the total is the caller's). */
void umap_repo_set_progress(umap_repo *repo, const struct umap_progress *progress);
/* Writes a commit of `tree` (built above) and everything new in it as ONE pack, then
 * moves HEAD (compare-and-swap on parents[0]). Nothing is visible until the ref moves. */
int umap_repo_commit_tree_as(git_oid *commit, umap_repo *repo, const git_oid *tree,
			     const git_oid *parents, size_t nparents, const char *message,
			     int move_head);
/* An interrupted checkout: .umapsync/CHECKOUT_STATE names the target (a branch name or a
 * full commit id) from before the first working file changes until HEAD has moved, so a
 * killed checkout is reported and can be finished. load gives *target NULL when no
 * checkout is in progress. */
int umap_repo_checkout_state_save(umap_repo *repo, const char *target);
int umap_repo_checkout_state_load(char **target, umap_repo *repo);
int umap_repo_checkout_state_remove(umap_repo *repo);
/* The stat index, like git's: for each working file, its stat (mtime, ctime, size, inode)
 * when it was last found to hold a revision's version of the file, and which version. A
 * file whose stat and version still match is not read by read_worktree. Racy-clean
 * aware: an entry whose mtime is not older than the index file itself is not trusted.
 * record: the file at `path` holds the version of `tree` (st NULL: stat it now, for a
 * file umapsync just wrote). save writes the index (ignoring errors is safe). */
int umap_repo_index_record(umap_repo *repo, const char *path, const umap_file_stat *st,
			   const git_oid *tree);
int umap_repo_index_save(umap_repo *repo);
/* After reading the working files into `snap` and building `tree` from it: records every
 * file that was read, then saves the index. */
int umap_repo_index_update(umap_repo *repo, const umap_snapshot *snap, const git_oid *tree);
/* Saves the feature cache after a commit, checkout or status (ignoring errors is safe). */
int umap_repo_cache_save(umap_repo *repo);
/* After writing working files from a revision snapshot (checkout, merge): records their
 * features' bytes so that the next status need not parse them. */
int umap_repo_cache_worktree(umap_repo *repo, umap_snapshot *written);

/* ---- Comparing --------------------------------------------------------------------- */

typedef struct umap_repo_change {
	char *layer;          /* layer id */
	char *id;             /* feature id, compact JSON */
	umap_change_kind kind;
	git_oid old_blob, new_blob; /* zero when absent */
} umap_repo_change;

typedef struct umap_repo_layer_change {
	char *layer;          /* layer id */
	char *path;           /* the file it is in (new side, else old) */
	umap_change_kind kind;/* ADDED/REMOVED: the whole layer; MODIFIED: see flags */
	int options_changed, meta_changed, order_changed;
	size_t old_count, new_count; /* features */
} umap_repo_layer_change;

typedef struct umap_tree_diff {
	size_t nfeatures;
	umap_repo_change *features;
	size_t nlayers;       /* every layer whose tree differs */
	umap_repo_layer_change *layers;
	int map_changed, manifest_changed;
} umap_tree_diff;

/* What changed between two trees (either may be NULL: empty), in O(changed features):
 * equal subtrees are skipped by id, never listed. */
int umap_repo_diff(umap_tree_diff **out, umap_repo *repo, const git_oid *old_tree,
		   const git_oid *new_tree);
/* The same without the features: only the layers that differ (counts, flags) and the map
 * and manifest flags, for a caller that walks the features otherwise. */
int umap_repo_diff_layers(umap_tree_diff **out, umap_repo *repo, const git_oid *old_tree,
			  const git_oid *new_tree);
void umap_tree_diff_free(umap_tree_diff *diff);
/* Feeds lib/diff with a tree diff: every layer of both trees (unchanged ones counted,
 * not read), the changed features read from their blobs, and the map options. */
int umap_repo_fill_diff(umap_diff *out, umap_repo *repo, const umap_tree_diff *diff,
			const git_oid *old_tree, const git_oid *new_tree);
/* The same, only for the layers of the tracked file `only_path` (NULL: all); the map
 * options count only when that file is the map. */
int umap_repo_fill_diff_path(umap_diff *out, umap_repo *repo, const umap_tree_diff *diff,
			     const git_oid *old_tree, const git_oid *new_tree, const char *only_path);
/* A JSON blob (a feature, options) as a tree; UMAP_ECORRUPT naming `what` when damaged. */
int umap_repo_read_json(json_t **out, umap_repo *repo, const git_oid *blob, const char *what);
/* The blob of feature `id_json` in `tree` (layer NULL: any layer; *layer_out gets its id,
 * allocated, when non-NULL). UMAP_ENOTFOUND when absent. */
int umap_repo_feature_blob(git_oid *blob, char **layer_out, umap_repo *repo,
			   const git_oid *tree, const char *layer, const char *id_json);
/* Whether a tracked file (its layers, their contents, its map options) differs between two
 * trees, by subtree ids; a file tracked in only one of them differs. */
int umap_repo_file_differs(int *differs, umap_repo *repo, const git_oid *a, const git_oid *b,
			   const char *path);
/* Calls cb(ctx, id_json, len) for each feature id of `layer` in `tree`, in the layer's
 * order, read from the stored order alone (no feature is read); nothing when the tree has
 * no such layer. */
int umap_repo_layer_order(umap_repo *repo, const git_oid *tree, const char *layer,
			  int (*cb)(void *ctx, const char *id, size_t len), void *ctx);
/* Every feature of `layer` in `tree`, in the layer's order, as its blob's bytes (compact
 * canonical JSON, what umap_repo_read_json parses), to cb(ctx, json, len). A layer file that
 * the stat index says holds `tree`'s version is read as a stream (nothing kept per feature),
 * else the blobs are read in order (an index of the layer's blobs is held). Nothing when the
 * tree has no such layer. */
typedef int (*umap_feature_bytes_fn)(void *ctx, const char *json, size_t len);
int umap_repo_layer_features(umap_repo *repo, const git_oid *tree, const char *layer,
			     umap_feature_bytes_fn cb, void *ctx);
/* Which file holds a layer in a tree (allocated), or NULL. */
int umap_repo_layer_path(char **path, umap_repo *repo, const git_oid *tree, const char *layer);
/* The key a layer's options are written under in its file ("properties", "_umap_options"
 * or "_storage"; a static string), as the layer's meta.json in `tree` records it. */
int umap_repo_layer_options_key(const char **key, umap_repo *repo, const git_oid *tree,
				const char *layer);

/* A tracked file that has another path in the new tree: the same layers (ids), or the map. */
typedef struct umap_file_rename {
	char *from, *to;
} umap_file_rename;
/* The files renamed between two trees (either may be NULL: empty), in the new tree's file
 * order: a file of the new tree that holds a layer (or the map) an old file held at a path
 * the new tree no longer tracks. Reads the two manifests only. Free with
 * umap_file_renames_free. */
int umap_repo_renames(umap_file_rename **out, size_t *n, umap_repo *repo, const git_oid *old_tree,
		      const git_oid *new_tree);
void umap_file_renames_free(umap_file_rename *renames, size_t n);

#endif
