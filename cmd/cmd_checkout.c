/* umapsync checkout: switch the working files to a branch or a revision. Refuses to lose
 * uncommitted changes; each file is replaced atomically, and only files that differ. */
#include "builtin.h"
#include "repo-cmd.h"
#include "error.h"
#include "fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_branch(umap_repo *repo, const char *name, git_oid *tip)
{
	umap_buf ref = UMAP_BUF_INIT;
	umap_buf_printf(&ref, "refs/heads/%s", name);
	int ok = git_reference_name_to_id(tip, umap_repo_git(repo), ref.ptr) == 0;
	umap_buf_dispose(&ref);
	return ok;
}

int cmd_checkout(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync checkout BRANCH|REV",
		"umapsync checkout -b NEW [REV]",
		NULL,
	};
	const char *new_branch = NULL;
	const struct option options[] = {
		OPT_STRING('b', NULL, &new_branch, "NEW", "create the branch NEW at REV (default HEAD) and switch to it"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (new_branch ? argc > 1 : argc != 1)
		usage_with_options_msg(usage, options, "checkout needs one branch or revision");
	umap_repo *repo = open_repo_with(OPEN_REPO_OWN_CHECKOUT_NOTE);
	refuse_pending_paths(repo, "checkout");
	git_oid head, head_tree, target, target_tree;
	int unborn = read_head(&head, &head_tree, repo);
	const char *new_argv[] = { new_branch, NULL };
	git_oid start;
	if (new_branch) {
		/* -b: a checkout of where the branch starts, the branch made only once the
		 * files are written, so that a refused checkout leaves no branch behind */
		if (is_branch(repo, new_branch, &start))
			die("a branch named '%s' already exists", new_branch);
		if (umap_repo_resolve(&start, repo, argc ? argv[0] : "HEAD"))
			die_lib(NULL);
		argv = new_argv;
	}
	char *old_branch = NULL;
	if (!unborn && umap_repo_head_branch(&old_branch, repo))
		die_lib(NULL);
	int branch = new_branch ? 1 : is_branch(repo, argv[0], &target);
	if (new_branch)
		git_oid_cpy(&target, &start);
	if (!branch && umap_repo_resolve(&target, repo, argv[0]))
		die_lib(NULL);
	if (umap_repo_commit_tree(&target_tree, repo, &target))
		die_lib(NULL);
	/* A killed checkout left files holding its target's version: not changes to lose. */
	char *interrupted = NULL;
	git_oid interrupted_tree, interrupted_commit;
	int have_interrupted = interrupted_checkout(&interrupted, repo) &&
			       !umap_repo_resolve(&interrupted_commit, repo, interrupted) &&
			       !umap_repo_commit_tree(&interrupted_tree, repo, &interrupted_commit);
	umap_error_clear();

	char **old_paths = NULL, **new_paths = NULL;
	size_t nold = 0, nnew = 0;
	if (umap_repo_tracked(&old_paths, &nold, repo, unborn ? NULL : &head_tree) ||
	    umap_repo_tracked(&new_paths, &nnew, repo, &target_tree))
		die_lib(NULL);
	if (!unborn) {
		git_oid work;
		umap_snapshot *snap = worktree_tree_check(&work, repo, &head_tree);
		if (!git_oid_equal(&work, &head_tree)) {
			int any = 0;
			for (size_t i = 0; i < nold; i++) {
				int differs = 0;
				if (umap_repo_file_differs(&differs, repo, &head_tree, &work, old_paths[i]))
					die_lib(NULL);
				if (!differs)
					continue;
				/* A file that already holds the target's version loses nothing (a
				 * checkout killed after writing it and before moving HEAD). */
				if (umap_repo_file_differs(&differs, repo, &target_tree, &work, old_paths[i]))
					die_lib(NULL);
				if (!differs)
					continue;
				if (have_interrupted &&
				    umap_repo_file_differs(&differs, repo, &interrupted_tree, &work, old_paths[i]))
					die_lib(NULL);
				if (have_interrupted && !differs)
					continue;
				if (!any)
					error("your changes to these files would be lost by checkout:");
				fprintf(stderr, "\t%s\n", old_paths[i]);
				any = 1;
			}
			if (any) {
				hint("commit them with 'umapsync commit -m MSG' first");
				umap_snapshot_free(snap);
				umap_paths_free(old_paths, nold);
				umap_paths_free(new_paths, nnew);
				umap_repo_free(repo);
				free(interrupted);
				free(old_branch);
				exit(EXIT_DIFFERENT);
			}
		}
		umap_snapshot_free(snap);
	}
	/* a file the target tracks must not clobber an untracked one */
	for (size_t i = 0; i < nnew; i++) {
		char *abs = NULL;
		struct stat st;
		umap_repo_abspath(&abs, repo, new_paths[i]);
		if (!path_list_contains(old_paths, nold, new_paths[i]) && stat(abs, &st) == 0) {
			error("'%s' is not tracked here and would be overwritten by checkout", new_paths[i]);
			hint("move it away, or import it first");
			free(abs);
			umap_paths_free(old_paths, nold);
			umap_paths_free(new_paths, nnew);
			umap_repo_free(repo);
			free(interrupted);
			free(old_branch);
			exit(EXIT_DIFFERENT);
		}
		free(abs);
	}

	/* Recorded before the first file changes, removed once HEAD has moved: a killed
	 * checkout is reported by the next command (open_repo) with what to run. */
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), &target);
	if (umap_repo_checkout_state_save(repo, branch ? argv[0] : hex))
		die_lib(NULL);
	write_worktree(repo, unborn ? NULL : &head_tree, &target_tree);
	/* files the killed checkout already wrote differ from HEAD's without the trees saying so */
	if (have_interrupted)
		write_worktree(repo, &interrupted_tree, &target_tree);
	if (!unborn && !old_branch)
		warn_leaving_detached(repo, &head, &target);
	free(old_branch);
	if (new_branch) {
		umap_buf ref = UMAP_BUF_INIT;
		umap_buf_printf(&ref, "refs/heads/%s", new_branch);
		if (umap_repo_create_ref(repo, ref.ptr, &target, "branch: Created from checkout -b"))
			die_lib("cannot create branch '%s'", new_branch);
		umap_buf_dispose(&ref);
	}
	if (branch ? umap_repo_set_head_branch(repo, argv[0]) : umap_repo_set_head_detached(repo, &target))
		die_lib(NULL);
	if (umap_repo_checkout_state_remove(repo))
		die_lib(NULL);
	free(interrupted);
	git_commit *c = NULL;
	git_commit_lookup(&c, umap_repo_git(repo), &target);
	if (branch)
		fprintf(stderr, "Switched to %sbranch '%s'\n", new_branch ? "a new " : "", argv[0]);
	else
		fprintf(stderr, "HEAD is now at %s %s\n", short_id(&target),
			c ? subject_of(git_commit_message(c)) : "");
	git_commit_free(c);
	umap_paths_free(old_paths, nold);
	umap_paths_free(new_paths, nnew);
	umap_repo_free(repo);
	return 0;
}
