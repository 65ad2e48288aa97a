/* umapsync merge: merge a branch into the current one, per feature and key (SPEC §6).
 * Fast-forwards where it can; else makes a merge commit, or stops with the conflicts
 * recorded in .umapsync/MERGE_STATE for `conflicts`, `resolve` and --continue/--abort. */
#include "builtin.h"
#include "config-cmd.h"
#include "merge-report.h"
#include "repo-cmd.h"
#include "repo_merge.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The commit of a merge whose working files are final. */
static void commit_merge(umap_repo *repo, const json_t *paths, const git_oid *head,
			 const git_oid *head_tree, const git_oid *theirs, const char *message,
			 size_t nparents)
{
	git_oid tree, commit, parents[2] = { *head, *theirs };
	if (umap_repo_files_tree(&tree, repo, paths, head_tree) ||
	    umap_repo_commit_tree_as(&commit, repo, &tree, parents, nparents, message, 1))
		die_lib(NULL);
	umap_repo_cache_save(repo);
	print_commit_line(repo, &commit, message);
}

static int merge_continue(umap_repo *repo)
{
	json_t *state = stopped_state(repo, "merge");
	json_t *left = json_object_get(state, "conflicts");
	if (json_array_size(left)) {
		error("%zu conflict%s not settled yet:", json_array_size(left),
		      json_array_size(left) == 1 ? " is" : "s are");
		print_conflict_list(stderr, left, NULL, 0);
		hint("settle each with 'umapsync resolve ID [KEY] --with=ours|theirs|base|delete'");
		json_decref(state);
		return EXIT_DIFFERENT;
	}
	git_oid head, head_tree, recorded, theirs;
	if (read_head(&head, &head_tree, repo))
		die("HEAD has no commit");
	state_oid(&recorded, state, "head", "merge");
	state_oid(&theirs, state, "theirs", "merge");
	if (!git_oid_equal(&head, &recorded))
		die("HEAD moved since the merge started; give up with 'umapsync merge --abort'");
	commit_merge(repo, json_object_get(state, "files"), &head, &head_tree, &theirs,
		     json_string_value(json_object_get(state, "message")),
		     /* a stopped revert or cherry-pick: one parent */
		     json_is_true(json_object_get(state, "single_parent")) ? 1 : 2);
	umap_merge_backup_drop(repo, state);
	if (umap_merge_state_remove(repo))
		die_lib(NULL);
	json_decref(state);
	return 0;
}

static int merge_abort(umap_repo *repo)
{
	json_t *state = stopped_state(repo, "merge");
	if (umap_merge_restore(repo, state) || umap_merge_state_remove(repo))
		die_lib("cannot restore the working files");
	fprintf(stderr, "merge aborted: the working files are as they were before it\n");
	json_decref(state);
	return 0;
}

int cmd_merge(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync merge [--ours|--theirs|--union] [--ff|--no-ff|--ff-only] [-m MSG] BRANCH",
		"umapsync merge --continue|--abort",
		NULL,
	};
	int favor = UMAP_MERGE_FAVOR_OURS, cont = 0, abort_merge = 0, ff = -1; /* ff: 0 no, 1 yes, 2 only */
	const char *message = NULL;
	const struct option options[] = {
		FAVOR_OPTIONS(&favor),
		OPT_SET_INT(0, "ff", &ff, "fast-forward when the branch contains HEAD (default; merge.ff)", 1),
		OPT_SET_INT(0, "no-ff", &ff, "make a merge commit even where a fast-forward would do", 0),
		OPT_SET_INT(0, "ff-only", &ff, "fast-forward or refuse, never make a merge commit", 2),
		OPT_STRING('m', "message", &message, "MSG", "the merge commit's message"),
		OPT_BOOL(0, "continue", &cont, "commit the merge once every conflict is settled"),
		OPT_BOOL(0, "abort", &abort_merge, "give up the merge and put the working files back"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (cont + abort_merge > 1 || ((cont || abort_merge) && argc))
		usage_with_options_msg(usage, options, "--continue and --abort take no branch and not each other");
	umap_repo *repo = NULL;
	if (cont || abort_merge) {
		repo = open_repo();
		int rc = cont ? merge_continue(repo) : merge_abort(repo);
		umap_repo_free(repo);
		return rc;
	}
	if (argc != 1)
		usage_with_options_msg(usage, options, "merge needs one branch (or revision) to merge");
	repo = open_repo();
	refuse_if_in_progress(repo);
	if (ff < 0) {
		char *pref = setting_get(repo, "merge.ff");
		ff = !pref || !strcmp(pref, "true") ? 1 : !strcmp(pref, "only") ? 2 : 0;
		free(pref);
	}
	git_oid head, head_tree, theirs, theirs_tree, base, base_tree;
	if (read_head(&head, &head_tree, repo))
		die("nothing is committed yet: there is nothing to merge into");
	if (umap_repo_resolve(&theirs, repo, argv[0]) || umap_repo_commit_tree(&theirs_tree, repo, &theirs))
		die_lib(NULL);
	int have_base = umap_repo_merge_base(&base, repo, &head, &theirs) == 0;
	umap_error_clear();
	if (have_base && git_oid_equal(&base, &theirs)) {
		printf("Already up to date.\n");
		umap_repo_free(repo);
		return 0;
	}
	require_clean_worktree(repo, &head_tree, "merge");
	if (ff == 2 && !(have_base && git_oid_equal(&base, &head))) {
		fflush(stdout);
		fprintf(stderr, "fatal: not possible to fast-forward to '%s': the branches have diverged\n", argv[0]);
		hint("'umapsync merge --ff %s' makes a merge commit; 'umapsync rebase %s' replays your commits on it",
		     argv[0], argv[0]);
		exit(EXIT_FATAL);
	}
	if (ff && have_base && git_oid_equal(&base, &head)) {
		write_worktree(repo, &head_tree, &theirs_tree);
		if (umap_repo_advance_head(repo, &theirs, &head, "merge: fast-forward"))
			die_lib(NULL);
		umap_repo_cache_save(repo);
		printf("Updating %s..%s\nFast-forward\n", short_id(&head), short_id(&theirs));
		umap_repo_free(repo);
		return 0;
	}
	if (have_base && umap_repo_commit_tree(&base_tree, repo, &base))
		die_lib(NULL);

	umap_merge_options mopts = UMAP_MERGE_OPTIONS_INIT;
	mopts.favor = (umap_merge_favor)favor;
	umap_repo_merge *m = NULL;
	if (umap_repo_merge_trees(&m, repo, have_base ? &base_tree : NULL, &head_tree, &theirs_tree, 1, &mopts))
		die_lib("cannot merge");
	umap_buf msg = UMAP_BUF_INIT;
	if (message)
		umap_buf_puts(&msg, message);
	else
		umap_buf_printf(&msg, "Merge %s '%s'", strncmp(argv[0], "refs/", 5) ? "branch" : "ref", argv[0]);
	json_t *paths = merge_present_paths(m);
	int rc = 0;
	if (!m->nconflicts) {
		if (umap_repo_merge_write_worktree(repo, m))
			die_lib("cannot write the merged files");
		commit_merge(repo, paths, &head, &head_tree, &theirs, msg.ptr, 2);
	} else {
		stop_on_conflicts(repo, m, &head, &theirs, argv[0], msg.ptr, paths, 0);
		fprintf(stderr, "Automatic merge failed: %zu conflict%s; the working files keep %s side of each.\n",
			m->nconflicts, m->nconflicts == 1 ? "" : "s",
			favor == UMAP_MERGE_FAVOR_THEIRS ? "their" : favor == UMAP_MERGE_FAVOR_UNION ? "both sides'" : "our");
		hint("settle them with 'umapsync resolve ID [KEY] --with=ours|theirs|base|delete' (see 'umapsync conflicts'),");
		hint("then 'umapsync merge --continue'; or 'umapsync merge --abort'");
		rc = EXIT_DIFFERENT;
	}
	json_decref(paths);
	umap_buf_dispose(&msg);
	umap_repo_merge_free(m);
	umap_repo_free(repo);
	return rc;
}
