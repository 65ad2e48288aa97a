/* What the repository commands share: opening the repository or dying with a hint, HEAD,
 * the working files as a tree, and git-style dates and short ids. */
#ifndef UMAPSYNC_REPO_CMD_H
#define UMAPSYNC_REPO_CMD_H

#include <git2.h>

#include "repo.h"

/* The repository around the current directory; dies (128) with a hint when there is none. */
umap_repo *open_repo(void);
/* open_repo, and what to do about a checkout that was killed (.umapsync/CHECKOUT_STATE):
 * by default a warning and a hint to finish it; OPEN_REPO_REFUSE_CHECKOUT dies instead
 * (commands that would record half-switched files); OPEN_REPO_OWN_CHECKOUT_NOTE says
 * nothing (checkout and status report it themselves). */
enum { OPEN_REPO_REFUSE_CHECKOUT = 1, OPEN_REPO_OWN_CHECKOUT_NOTE = 2 };
umap_repo *open_repo_with(int flags);
/* Whether a checkout was interrupted; *target (freed by the caller) is what to check out
 * to finish it. Dies on a damaged state file. */
int interrupted_checkout(char **target, umap_repo *repo);
/* HEAD's commit and tree: 0, or 1 when the branch has no commit yet. Dies on damage. */
int read_head(git_oid *commit, git_oid *tree, umap_repo *repo);
/* Reads the tracked files and builds their tree in memory. With save_ids, features and
 * layers without ids get them and the files are rewritten (reported on stdout); without,
 * the ids live only in memory (status, diff). The caller frees the snapshot. */
umap_snapshot *worktree_tree(git_oid *tree, umap_repo *repo, const git_oid *head_tree, int save_ids);
/* The same with only the tracked files `only` (relative paths) as they are on disk, the
 * others as in head_tree (only NULL: every file). */
umap_snapshot *worktree_tree_of(git_oid *tree, umap_repo *repo, const git_oid *head_tree,
				int save_ids, char **only, size_t nonly);
/* worktree_tree without save_ids, for comparing *tree with head_tree only: a layer file
 * whose features are head_tree's is read as a stream (umap_repo_read_worktree_check), so
 * that the check costs what diff does, not what commit does (issue 19). */
umap_snapshot *worktree_tree_check(git_oid *tree, umap_repo *repo, const git_oid *head_tree);
/* A user's paths as paths relative to the working directory, each tracked in `tree` (or
 * present on disk when must_track is 0); dies "no such file" / "not tracked" otherwise. */
char **user_paths(size_t *n, umap_repo *repo, const git_oid *tree, int argc, const char **argv,
		  int must_track);
/* rm and mv: the repository (refused while a checkout, merge or rebase is stopped), HEAD's
 * tree (dies when there is no commit) and the pending rm and mv. */
umap_repo *open_repo_for_paths(git_oid *head_tree, umap_pending *pending);
/* rm and mv: a user's path of a tracked file as the working directory has it (a file
 * moved by mv is tracked under its new name). *from gets its path in HEAD and *work its
 * path in the working directory (both allocated). Dies saying what is wrong: no such
 * file, not tracked, removed already, or a layer inside a map (not a file). */
void tracked_work_path(char **from, char **work, umap_repo *repo, const git_oid *head_tree,
		       const umap_pending *pending, const char *arg);
/* checkout and stash keep no pending rm or mv: they refuse, naming them, while any is. */
void refuse_pending_paths(umap_repo *repo, const char *what);
/* Adds to `diff` the files renamed between two trees (old NULL: none), as git diff shows
 * them: those whose old or new path is one of `paths` (npaths 0: every file). */
void diff_add_renames(umap_diff *diff, umap_repo *repo, const git_oid *old_tree,
		      const git_oid *new_tree, char **paths, size_t npaths);
/* The feature diff of a commit against its first parent, as text or --stat, into out. */
void format_commit_diff(umap_buf *out, umap_repo *repo, const git_commit *c, int stat, int color);
/* The change counts of one file in a tree diff; returns whether anything changed in it.
 * The layers a tree diff lists removed carry the path they had; with kept_only they are
 * left out (a file moved onto the path of a file rm removed is not that file). */
int file_changes(const umap_tree_diff *diff, const char *path, int kept_only, size_t *added,
		 size_t *modified, size_t *removed, int *options);
/* Whether rm removed a file at `path` in a snapshot of the working files. */
int removed_at(const umap_snapshot *snap, const char *path);
/* "Tue Nov 14 22:13:20 2023 +0100", as git log prints dates. */
void format_git_date(char *out, size_t size, const git_time *when);
/* 7-hex-digit id (one of four rotating static buffers). */
const char *short_id(const git_oid *id);
/* The first line of a message (static buffer). */
const char *subject_of(const char *message);

/* diff's revision sources: no argument (working files vs HEAD), REV (REV vs working files)
 * or REV REV, each of which may be REV:PATH, then paths to limit the diff to. The first
 * nrevs_max arguments (-1: no "--" was given) are revisions only, the rest paths. Fills
 * `diff` from the two trees in O(changed features). */
void diff_from_revisions(umap_diff *diff, int argc, const char **argv, int nrevs_max);

/* Writes the working files that differ between two trees (old NULL: all), removes those the
 * new tree drops, and seeds the status cache. Dies on failure. */
void write_worktree(umap_repo *repo, const git_oid *old_tree, const git_oid *new_tree);
/* The same, writing every file of the new tree, changed or not (reset --hard). */
void write_worktree_all(umap_repo *repo, const git_oid *old_tree, const git_oid *new_tree);
int path_list_contains(char **list, size_t n, const char *s);
/* A user's feature id as the compact JSON the repository keys features by: a string,
 * unless it is a number that head_tree has (allocated). */
char *feature_id_json(umap_repo *repo, const git_oid *head_tree, const char *id);
/* Leaving a detached HEAD for `target`: warns, as git does, about the commits that no
 * branch or tag (nor target) contains, which only the reflog would find after. */
void warn_leaving_detached(umap_repo *repo, const git_oid *old_head, const git_oid *target);

#endif
