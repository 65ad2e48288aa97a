/* Merges in a repository (SPEC §6): three revisions merged file by file with lib/merge,
 * and the state of a merge or rebase stopped on conflicts (.umapsync/MERGE_STATE), which
 * `conflicts`, `resolve` and `--continue`/`--abort` work from. */
#ifndef UMAP_REPO_MERGE_H
#define UMAP_REPO_MERGE_H

#include <git2.h>
#include <jansson.h>

#include "merge.h"
#include "repo.h"

/* One tracked file of a three-way merge of trees. */
typedef struct umap_repo_merge_file {
	char *path;
	umap_doc *docs[3];         /* base, ours, theirs; an absent file is an empty document */
	umap_merge_result *result; /* the merge, or NULL when one side's file was taken whole */
	int take;                  /* without result: UMAP_MERGE_OURS or UMAP_MERGE_THEIRS */
	int present;               /* the merged revision has this file */
} umap_repo_merge_file;

typedef struct umap_repo_merge {
	size_t nfiles;
	umap_repo_merge_file *files;
	size_t nconflicts;
} umap_repo_merge;

/* Merges the trees file by file. A file only one side changed is taken whole without being
 * read. With `ours_from_worktree`, ours' documents are read from the working files (which
 * must equal the ours tree), so that merged files keep their formatting. */
int umap_repo_merge_trees(umap_repo_merge **out, umap_repo *repo, const git_oid *base,
			  const git_oid *ours, const git_oid *theirs, int ours_from_worktree,
			  const umap_merge_options *opts);
void umap_repo_merge_free(umap_repo_merge *merge);
/* One tracked file of a tree as a document (every feature's tree built). */
int umap_repo_read_file(umap_doc **out, umap_repo *repo, const git_oid *tree, const char *path);
/* The merged documents as a snapshot (files ours keeps as they are have doc NULL: build its
 * tree with the ours tree as base). Theirs' documents move into the snapshot: write the
 * working files first. */
int umap_repo_merge_snapshot(umap_snapshot **out, umap_repo_merge *merge);
/* Writes the merged files that differ from ours into the working directory (atomically,
 * each), and removes the ones the merge dropped. */
int umap_repo_merge_write_worktree(umap_repo *repo, umap_repo_merge *merge);
/* The conflicts as a JSON array of {"path","layer","id","key","kind","base","ours","theirs"}. */
int umap_repo_merge_conflicts(json_t **out, const umap_repo_merge *merge);

/* ---- The state of a stopped merge or rebase ---------------------------------------- */

/* The state is a JSON object: {"kind":"merge"|"rebase", "head", "theirs", "message",
 * "files":[paths], "conflicts":[...], "backups":{path: backup name or null}, and for a
 * rebase "upstream", "onto", "branch", "todo":[commits], "current"}. */
int umap_merge_state_load(json_t **out, umap_repo *repo); /* UMAP_ENOTFOUND when none */
int umap_merge_state_save(umap_repo *repo, const json_t *state);
int umap_merge_state_remove(umap_repo *repo);

/* Copies the working files `paths` into the state's backup area (a missing file is recorded
 * as null) so that an abort can put back their exact bytes. */
int umap_merge_backup(json_t *state, umap_repo *repo, char **paths, size_t npaths);
/* Puts the backed-up files back (removing those that did not exist) and drops the backups. */
int umap_merge_restore(umap_repo *repo, const json_t *state);

/* Deletes the backups (after a merge or rebase is done). */
void umap_merge_backup_drop(umap_repo *repo, const json_t *state);

/* Builds the tree of the working files `paths` (as they are on disk; a missing one is left
 * out) with `base_tree` for reuse. */
int umap_repo_files_tree(git_oid *tree, umap_repo *repo, const json_t *paths,
			 const git_oid *base_tree);

/* Settles conflicts of `state` in the working files. Selects conflicts whose feature id
 * (as displayed) is `id` (for layer options: the layer id; "map" for map options), and
 * whose key is `key` (NULL: all of them; "NAME" means "properties.NAME"). `with` is "ours",
 * "theirs", "base" or "delete"; or `value` (JSON text) is written. *resolved counts the
 * settled conflicts, removed from the state (which the caller saves). UMAP_ENOTFOUND when
 * none matches. */
int umap_merge_resolve(size_t *resolved, umap_repo *repo, json_t *state, const char *id,
		       const char *key, const char *with, const char *value);

#endif
