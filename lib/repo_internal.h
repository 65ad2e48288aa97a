/* What lib/repo.c and lib/repo_doc.c share about a umap_repo; nothing outside lib/repo*.c
 * includes this. */
#ifndef UMAP_REPO_INTERNAL_H
#define UMAP_REPO_INTERNAL_H

#include <stdint.h>

#include "repo.h"
#include "repo_store.h"

typedef struct umap_cache_entry {
	unsigned char key[16]; /* xxh3-128 of the feature's bytes in the working file */
	git_oid id;            /* blob of its canonical form */
} umap_cache_entry;

typedef struct umap_index_entry {
	char *path;
	umap_file_stat st;
	unsigned char sig[16]; /* xxh3-128 of the file's signature in the tree it matched */
} umap_index_entry;

/* What a layer's features tree was built from (see umap_repo_feature_set). */
typedef struct umap_feature_set {
	char *layer;
	git_oid features; /* the features tree */
	int depth;
	size_t n;
	uint32_t *counts; /* features per leaf (64^depth leaves) */
	uint64_t *hashes; /* sorted xxh3-64 of the bytes of its features in the file */
	int noted;        /* built by this process */
} umap_feature_set;

struct umap_repo {
	git_repository *git;
	umap_store store;
	char *workdir;
	char *gitdir;
	umap_cache_entry *cache; /* as loaded */
	size_t ncache;
	uint32_t *cache_table;   /* open addressing over cache: index + 1, 0 = empty */
	size_t cache_size;
	int cache_loaded, cache_disabled;
	umap_cache_entry *seen;  /* what this run hashed: the next cache */
	size_t nseen, aseen;
	umap_index_entry *index;       /* the stat index, as loaded and recorded since */
	size_t nindex;
	int index_loaded, index_dirty;
	int64_t index_mtime_ns;        /* of the index file: newer entries are racy */
	int skipped_files;             /* read_worktree trusted the index for some file */
	umap_feature_set *sets;        /* .umapsync/umapsync-features, and sets noted since */
	size_t nsets;
	int sets_loaded;
	int spill_fd;                  /* umap_repo_export: the assembled text goes to this
					* unlinked file a megabyte at a time (-1: kept in memory) */
	uint64_t spilled;              /* bytes written to it */
	int spill_blobs;               /* and the blob ids of its features are kept: */
	int ids_fd;                    /* in this unlinked file, each layer's ids then a zero id
					* (-1: in memory, an array a layer) */
	umap_buf ids;                  /* ids not written to it yet */
	uint64_t ids_spilled;          /* bytes written to it */
	uint64_t *ids_at;              /* per layer of the file: where its ids start, in ids */
	struct umap_progress progress; /* features put into a tree by umap_repo_build_tree */
	uint64_t progress_done;
};

const char *umap_git_msg(void);
/* .umapsync/umapsync-features: for the last committed version of each layer built from a
 * file, the hashes of its features' bytes, so that the next commit rebuilds only the leaves
 * that changed. The set for a layer whose features tree is `features`, or NULL. */
const umap_feature_set *umap_repo_feature_set(umap_repo *repo, const char *layer,
					      const git_oid *features);
/* Frees the sets read from the file (1M features: 8 MB) unless one was noted since, which
 * is kept for saving; a later umap_repo_feature_set reads them again. */
void umap_repo_feature_sets_release(umap_repo *repo);
/* Takes counts and hashes (malloc'd) even on failure. */
int umap_repo_feature_set_note(umap_repo *repo, const char *layer, const git_oid *features,
			       int depth, uint32_t *counts, uint64_t *hashes, size_t n);
/* The set of `layer` (which umap_repo_feature_set gave) edited in place, without a copy of
 * its hashes: those in `gone` out (one each), those in `made` in (both sorted), for the
 * features tree `features` with `counts` (taken, even on failure). UMAP_ECONFLICT, no
 * message and the set untouched, when a hash of `gone` is not in it. */
int umap_repo_feature_set_edit(umap_repo *repo, const char *layer, const git_oid *features,
			       uint32_t *counts, const uint64_t *gone, size_t ngone, const uint64_t *made,
			       size_t nmade);
/* Writes the sets after a commit (ignoring errors is safe: a missing set means a full build). */
int umap_repo_feature_sets_save(umap_repo *repo);
/* xxh3-128 of what identifies a file's version in a tree (its layers' subtrees, map blob). */
int umap_repo_file_sig(unsigned char sig[16], umap_repo *repo, const git_oid *tree, const char *path);
/* Whether the stat index says the working file `path` (stat `st`) holds tree's version. */
int umap_repo_index_fresh(umap_repo *repo, const char *path, const umap_file_stat *st,
			  const git_oid *tree);
umap_store *umap_repo_store(umap_repo *repo);
int umap_repo_cache_lookup(git_oid *out, umap_repo *repo, const unsigned char key[16]);
int umap_repo_cache_note(umap_repo *repo, const unsigned char key[16], const git_oid *id);
void umap_repo_cache_reset_seen(umap_repo *repo);
void umap_repo_cache_disable(umap_repo *repo, int disabled);

/* A feature's blob straight from its source bytes (no tree): the compact form
 * umap_json_write gives, except that a number whose shortest form has another exact
 * decimal value (12345678901234567890, -0) keeps its bytes. Returns 1 when done, 0 when
 * it cannot be (then build the tree). `data` must be valid JSON, as a document's feature
 * bytes are (umap_doc_open checked). */
int umap_repo_canonical_fast(umap_buf *out, const char *data, size_t len);

/* libgit2's pack windows as repo.c sets them up (8 MB, at most 24 MB mapped), after a
 * walk that narrowed them (git_libgit2_opts: process-wide). */
void umap_repo_default_pack_windows(void);

#endif
