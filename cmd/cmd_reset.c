/* umapsync reset: move the current branch (or a detached HEAD) to another commit; --hard
 * also puts the working files as they are there. There is no staging area: --soft and
 * --mixed both keep the working files as they are, and only the pending rm and mv (git's
 * index holds those) go with --mixed and --hard. */
#include "builtin.h"
#include "merge-report.h"
#include "repo-cmd.h"
#include "repo_merge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

/* reset --hard: the new name of a file mv moved is tracked, so it goes as git's would
 * (unless REV tracks that name: then write_worktree_all has just written it). */
static void remove_moved_files(umap_repo *repo, const umap_pending *pending, const git_oid *target_tree)
{
	char **tracked = NULL;
	size_t n = 0;
	if (umap_repo_tracked(&tracked, &n, repo, target_tree))
		die_lib(NULL);
	for (size_t i = 0; i < pending->n; i++) {
		const char *to = pending->paths[i].to;
		char *abs = NULL;
		if (!to || path_list_contains(tracked, n, to))
			continue;
		if (umap_repo_worktree_path(&abs, repo, to))
			die_lib(NULL);
		if (unlink(abs) < 0 && errno != ENOENT)
			die_errno("cannot remove %s", to);
		free(abs);
	}
	umap_paths_free(tracked, n);
}

int cmd_reset(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync reset [--soft|--mixed|--hard] [REV]", NULL };
	enum { RESET_SOFT = 1, RESET_MIXED, RESET_HARD };
	int mode = RESET_MIXED;
	const struct option options[] = {
		OPT_SET_INT(0, "soft", &mode, "move the branch only; the working files and pending rm and mv stay", RESET_SOFT),
		OPT_SET_INT(0, "mixed", &mode, "the same, but forget pending rm and mv (the default)", RESET_MIXED),
		OPT_SET_INT(0, "hard", &mode, "also put the working files as they are at REV, losing changes", RESET_HARD),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_with_options_msg(usage, options, "reset takes one revision");
	const char *rev = argc ? argv[0] : "HEAD";
	umap_repo *repo = open_repo_with(mode == RESET_HARD ? OPEN_REPO_OWN_CHECKOUT_NOTE : 0);
	git_oid head, head_tree, target, target_tree;
	if (read_head(&head, &head_tree, repo))
		die("there is no commit yet to reset");
	if (umap_repo_resolve(&target, repo, rev) || umap_repo_commit_tree(&target_tree, repo, &target))
		die_lib(NULL);
	json_t *state = merge_in_progress(repo);
	if (state && mode != RESET_HARD)
		die("a merge or rebase is stopped on conflicts: 'umapsync reset --hard' gives it up, or "
		    "use --abort");
	umap_pending pending = UMAP_PENDING_INIT;
	if (mode != RESET_SOFT && umap_repo_pending_load(&pending, repo)) {
		umap_error_clear(); /* a damaged record is forgotten below all the same */
		umap_pending_clear(&pending);
	}
	if (mode == RESET_HARD) {
		/* every tracked file of REV is written (changes to it are thrown away), and
		 * those only HEAD tracks are removed, as are the new names of files mv moved */
		write_worktree_all(repo, &head_tree, &target_tree);
		remove_moved_files(repo, &pending, &target_tree);
		if (state) {
			umap_merge_backup_drop(repo, state);
			if (umap_merge_state_remove(repo))
				die_lib(NULL);
		}
		char *interrupted = NULL;
		if (interrupted_checkout(&interrupted, repo) && umap_repo_checkout_state_remove(repo))
			die_lib(NULL);
		free(interrupted);
	}
	json_decref(state);
	/* like git's index, the pending rm and mv go with --mixed and --hard, stay with --soft */
	if (mode != RESET_SOFT && umap_repo_pending_remove(repo))
		die_lib(NULL);
	umap_pending_clear(&pending);
	umap_buf msg = UMAP_BUF_INIT;
	umap_buf_printf(&msg, "reset: moving to %s", rev);
	if (!git_oid_equal(&head, &target) && umap_repo_advance_head(repo, &target, &head, msg.ptr))
		die_lib(NULL);
	umap_buf_dispose(&msg);
	umap_repo_cache_save(repo);
	if (mode == RESET_HARD) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, umap_repo_git(repo), &target) < 0)
			die("cannot read commit %s", short_id(&target));
		printf("HEAD is now at %s %s\n", short_id(&target), subject_of(git_commit_message(c)));
		git_commit_free(c);
	} else {
		/* what the working files still hold, as git lists its unstaged changes */
		git_oid work;
		umap_snapshot *snap = worktree_tree(&work, repo, &target_tree, 0);
		int header = 0;
		for (size_t i = 0; i < snap->nfiles; i++) {
			const umap_repo_file *f = &snap->files[i];
			int differs = 1;
			if (!f->missing && !f->removed && !f->from &&
			    umap_repo_file_differs(&differs, repo, &target_tree, &work, f->path))
				die_lib(NULL);
			if (!differs)
				continue;
			if (!header++)
				printf("Changes not committed after reset:\n");
			if (f->from)
				printf("R\t%s -> %s\n", f->from, f->path);
			else
				printf("%s\t%s\n", f->missing || f->removed ? "D" : "M", f->path);
		}
		umap_snapshot_free(snap);
	}
	umap_repo_free(repo);
	return 0;
}
