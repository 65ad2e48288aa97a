/* umapsync mv: rename a tracked file, as git mv does. Its layers keep their ids: the
 * pending record (.umapsync/umapsync-pending) carries the new name to the next commit. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "strutil.h"

int cmd_mv(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync mv OLD NEW", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc != 2)
		usage_with_options_msg(usage, options, "mv needs the file and its new name");
	git_oid head_tree;
	umap_pending pending = UMAP_PENDING_INIT;
	umap_repo *repo = open_repo_for_paths(&head_tree, &pending);
	char *from = NULL, *old = NULL, *new = NULL, *old_abs = NULL, *new_abs = NULL;
	tracked_work_path(&from, &old, repo, &head_tree, &pending, argv[0]);
	if (umap_repo_relpath(&new, repo, argv[1]))
		die_lib(NULL);
	struct stat st;
	/* into a directory, as mv and git mv do */
	if (stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode)) {
		umap_buf joined = UMAP_BUF_INIT;
		const char *base = strrchr(old, '/');
		if (umap_buf_printf(&joined, "%s%s%s", *new ? new : "", *new ? "/" : "", base ? base + 1 : old))
			die("out of memory");
		free(new);
		new = umap_buf_detach(&joined);
	}
	if (!strcmp(new, UMAP_REPO_DIR) || umap_starts_with(new, UMAP_REPO_DIR "/"))
		die("cannot move '%s' into the repository's own directory " UMAP_REPO_DIR, old);
	if (umap_repo_abspath(&old_abs, repo, old) || umap_repo_worktree_path(&new_abs, repo, new))
		die_lib(NULL);
	if (lstat(old_abs, &st) != 0)
		die("cannot move '%s': no such file ('umapsync restore %s' brings it back)", old, old);
	if (!strcmp(old, new))
		die("cannot move '%s' onto itself", old);
	char **tracked = NULL;
	size_t ntracked = 0;
	if (umap_repo_tracked(&tracked, &ntracked, repo, &head_tree))
		die_lib(NULL);
	const umap_pending_path *at_new = umap_pending_find_from(&pending, new);
	/* a path HEAD tracks is free only once rm or mv took its file away */
	int taken = (path_list_contains(tracked, ntracked, new) && !at_new) ||
		    umap_pending_find_to(&pending, new);
	umap_paths_free(tracked, ntracked);
	if (taken || lstat(new_abs, &st) == 0) {
		fflush(stdout);
		fprintf(stderr, "fatal: cannot move '%s' to '%s': %s\n", old, new,
			taken ? "a tracked file has that name" : "a file of that name exists");
		hint("remove it first (with 'umapsync rm' when it is tracked)");
		exit(EXIT_FATAL);
	}
	char *slash = strrchr(new_abs, '/');
	*slash = '\0';
	if (stat(new_abs, &st) != 0 || !S_ISDIR(st.st_mode))
		die("cannot move '%s' to '%s': there is no directory '%.*s'", old, new,
		    (int)(strrchr(new, '/') - new), new);
	*slash = '/';
	/* the file first, then the record; put back if it cannot be recorded */
	if (rename(old_abs, new_abs) < 0)
		die_errno("cannot move '%s' to '%s'", old, new);
	if (umap_pending_set(&pending, from, new) || umap_repo_pending_save(repo, &pending)) {
		if (rename(new_abs, old_abs) < 0)
			warning("'%s' stays at '%s'", old, new);
		die_lib("cannot record the move");
	}
	free(from);
	free(old);
	free(new);
	free(old_abs);
	free(new_abs);
	umap_pending_clear(&pending);
	umap_repo_free(repo);
	return 0;
}
