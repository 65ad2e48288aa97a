/* What revert and cherry-pick share: one commit's changes (cherry-pick: parent -> commit;
 * revert: commit -> parent) merged onto HEAD with lib/repo_merge, per feature and key. */
#include "builtin.h"
#include "merge-report.h"
#include "pick-cmd.h"
#include "repo-cmd.h"
#include "repo_merge.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

int pick_command(enum pick_kind kind, int argc, const char **argv)
{
	const char *verb = kind == PICK_REVERT ? "revert" : "cherry-pick";
	static const char *const revert_usage[] = {
		"umapsync revert [--ours|--theirs|--union] REV",
		"umapsync revert --continue|--abort",
		NULL,
	};
	static const char *const pick_usage[] = {
		"umapsync cherry-pick [--ours|--theirs|--union] REV",
		"umapsync cherry-pick --continue|--abort",
		NULL,
	};
	const char *const *usage = kind == PICK_REVERT ? revert_usage : pick_usage;
	int favor = UMAP_MERGE_FAVOR_OURS, cont = 0, abort_pick = 0;
	const struct option options[] = {
		FAVOR_OPTIONS(&favor),
		OPT_BOOL(0, "continue", &cont, "commit once every conflict is settled"),
		OPT_BOOL(0, "abort", &abort_pick, "give up and put the working files back"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (cont + abort_pick > 1 || ((cont || abort_pick) && argc))
		usage_with_options_msg(usage, options, "--continue and --abort take no revision and not each other");
	if (cont || abort_pick) {
		/* a stopped revert or cherry-pick is a stopped merge with one parent */
		const char *merge_argv[] = { "merge", cont ? "--continue" : "--abort", NULL };
		return cmd_merge(2, merge_argv);
	}
	if (argc != 1)
		usage_with_options_msg(usage, options, "%s needs one commit", verb);
	umap_repo *repo = open_repo_with(OPEN_REPO_REFUSE_CHECKOUT);
	refuse_if_in_progress(repo);
	git_oid head, head_tree, picked, picked_tree, parent_tree;
	if (read_head(&head, &head_tree, repo))
		die("nothing is committed yet");
	if (umap_repo_resolve(&picked, repo, argv[0]))
		die_lib(NULL);
	git_commit *c = NULL;
	if (git_commit_lookup(&c, umap_repo_git(repo), &picked) < 0)
		die("cannot read commit %s", short_id(&picked));
	if (git_commit_parentcount(c) != 1)
		die("commit %s %s: %s takes a commit with one parent", short_id(&picked),
		    git_commit_parentcount(c) ? "is a merge" : "has no parent", verb);
	git_oid_cpy(&picked_tree, git_commit_tree_id(c));
	if (umap_repo_commit_tree(&parent_tree, repo, git_commit_parent_id(c, 0)))
		die_lib(NULL);
	require_clean_worktree(repo, &head_tree, verb);
	const git_oid *base = kind == PICK_REVERT ? &picked_tree : &parent_tree;
	const git_oid *theirs = kind == PICK_REVERT ? &parent_tree : &picked_tree;

	umap_buf msg = UMAP_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), &picked);
	if (kind == PICK_REVERT)
		umap_buf_printf(&msg, "Revert \"%s\"\n\nThis reverts commit %s.\n",
				subject_of(git_commit_message(c)), hex);
	else
		umap_buf_puts(&msg, git_commit_message(c));
	git_commit_free(c);

	umap_merge_options mopts = UMAP_MERGE_OPTIONS_INIT;
	mopts.favor = (umap_merge_favor)favor;
	umap_repo_merge *m = NULL;
	if (umap_repo_merge_trees(&m, repo, base, &head_tree, theirs, 1, &mopts))
		die_lib("cannot %s", verb);
	json_t *paths = merge_present_paths(m);
	int rc = 0;
	if (!m->nconflicts) {
		git_oid tree, commit;
		if (umap_repo_merge_write_worktree(repo, m) ||
		    umap_repo_files_tree(&tree, repo, paths, &head_tree))
			die_lib("cannot write the files");
		if (git_oid_equal(&tree, &head_tree)) {
			printf("nothing to commit: the changes of %s are already %s\n", short_id(&picked),
			       kind == PICK_REVERT ? "undone" : "there");
			rc = EXIT_DIFFERENT;
		} else {
			if (umap_repo_commit_tree_as(&commit, repo, &tree, &head, 1, msg.ptr, 1))
				die_lib(NULL);
			umap_repo_cache_save(repo);
			print_commit_line(repo, &commit, msg.ptr);
		}
	} else {
		/* stop as merge does, the state marking a commit with one parent */
		umap_buf what = UMAP_BUF_INIT;
		umap_buf_printf(&what, "%s of %s", verb, short_id(&picked));
		stop_on_conflicts(repo, m, &head, &picked, what.ptr, msg.ptr, paths, 1);
		umap_buf_dispose(&what);
		fprintf(stderr, "error: could not %s %s: %zu conflict%s; the working files keep %s side of each.\n",
			verb, short_id(&picked), m->nconflicts, m->nconflicts == 1 ? "" : "s",
			favor == UMAP_MERGE_FAVOR_THEIRS ? "their" : favor == UMAP_MERGE_FAVOR_UNION ? "both sides'" : "our");
		hint("settle them with 'umapsync resolve ID [KEY] --with=ours|theirs|base|delete' (see 'umapsync conflicts'),");
		hint("then 'umapsync %s --continue'; or 'umapsync %s --abort'", verb, verb);
		rc = EXIT_DIFFERENT;
	}
	json_decref(paths);
	umap_buf_dispose(&msg);
	umap_repo_merge_free(m);
	umap_repo_free(repo);
	return rc;
}
