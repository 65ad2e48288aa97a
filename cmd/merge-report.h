/* What merge-file, the git merge driver and the repository merges share in cmd/: reading
 * the three versions, printing conflicts for people, writing the JSON report. */
#ifndef UMAPSYNC_MERGE_REPORT_H
#define UMAPSYNC_MERGE_REPORT_H

#include <stdio.h>

#include "merge.h"
#include "repo.h"

/* "--ours", "--theirs", "--union" as OPT_SET_INT values. */
#define FAVOR_OPTIONS(v)                                                                     \
	OPT_SET_INT(0, "ours", (v), "keep our side of each conflict (default)", UMAP_MERGE_FAVOR_OURS), \
	OPT_SET_INT(0, "theirs", (v), "keep their side of each conflict", UMAP_MERGE_FAVOR_THEIRS), \
	OPT_SET_INT(0, "union", (v), "keep what both sides have (see the manual)", UMAP_MERGE_FAVOR_UNION)

/* Opens a version for merging; dies with the library's message (exit 128) on failure. */
umap_doc *open_merge_input(const char *path, const char *id_property);

/* One line per conflict on `out`: "CONFLICT (modify/modify): feature zP5kR: properties.capacity
 * is 64 in ours, 50 in theirs (base 40)". `label` names the file when not NULL. */
void print_conflicts(FILE *out, const umap_merge_result *result, const char *label, int show_layer);
/* The same from a JSON list of conflicts (as in the report; an item's "path" names its file). */
void print_conflict_list(FILE *out, const json_t *list, const char *label, int show_layer);

/* The SPEC §6 JSON report of `result` into `path` ("-" for stdout). Dies on failure. */
void write_conflict_report(const umap_merge_result *result, const char *path);


/* ---- Repository merges -------------------------------------------------------------- */

/* Dies (exit 1) naming the files with uncommitted changes, if any: `what` would lose them. */
void require_clean_worktree(umap_repo *repo, const git_oid *head_tree, const char *what);
/* The state of a merge or rebase stopped on conflicts (.umapsync/MERGE_STATE), or NULL when
 * none is; dies when it cannot be read. The caller decrefs it. */
json_t *merge_in_progress(umap_repo *repo);
/* The state of the stopped `kind` ("merge" or "rebase") that --continue, --skip or --abort
 * goes on with; dies when none is stopped or the other kind is, naming its command. */
json_t *stopped_state(umap_repo *repo, const char *kind);
/* Dies when a merge or rebase is stopped on conflicts. */
void refuse_if_in_progress(umap_repo *repo);
/* INDENT then PATH (a file's name, from a tree or a server) with control characters shown
 * escaped, then a newline. */
void print_path_line(FILE *out, const char *indent, const char *path);
/* "[main 1a2b3c4] subject" after a commit. */
void print_commit_line(umap_repo *repo, const git_oid *commit, const char *message);

/* Commit ids in the stopped merge or rebase state (.umapsync/MERGE_STATE): as hex strings;
 * a missing or bad one dies telling to `umapsync KIND --abort`. */
json_t *oid_json(const git_oid *oid);
void state_oid(git_oid *out, const json_t *state, const char *name, const char *kind);

struct umap_repo_merge;
/* The paths of the files a merge keeps, as a JSON array. */
json_t *merge_present_paths(const struct umap_repo_merge *m);
/* Stops a merge on its conflicts: records .umapsync/MERGE_STATE (what merge --continue and
 * --abort read; single_parent for a revert or cherry-pick, whose commit has one parent),
 * backs up and writes the merged files, and lists the conflicts on stderr. */
void stop_on_conflicts(umap_repo *repo, struct umap_repo_merge *m, const git_oid *head,
		       const git_oid *theirs, const char *label, const char *message,
		       json_t *paths, int single_parent);

#endif
