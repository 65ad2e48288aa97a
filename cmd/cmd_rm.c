/* umapsync rm: stop tracking files, as git rm does. The removal waits in the pending record
 * (.umapsync/umapsync-pending) for the next commit, which drops the files' layers. */
#include "builtin.h"
#include "repo-cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether the working file `work` (HEAD's `from`) holds changes that HEAD does not have:
 * its layers' features or options, or the map's options when it is the map. */
static int has_local_changes(umap_repo *repo, const git_oid *head_tree, const char *work)
{
	git_oid tree;
	char *only[] = { (char *)work };
	umap_snapshot *snap = worktree_tree_of(&tree, repo, head_tree, 0, only, 1);
	int changed = 0;
	if (!git_oid_equal(&tree, head_tree)) {
		umap_tree_diff *diff = NULL;
		size_t added, modified, removed;
		int options;
		if (umap_repo_diff(&diff, repo, head_tree, &tree))
			die_lib(NULL);
		umap_repo_file *f = umap_snapshot_find(snap, work);
		changed = file_changes(diff, work, removed_at(snap, work), &added, &modified, &removed,
				       &options) ||
			  (diff->map_changed && f && f->doc && f->doc->kind == UMAP_DOC_MAP);
		umap_tree_diff_free(diff);
	}
	umap_snapshot_free(snap);
	return changed;
}

int cmd_rm(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync rm [-f] [--cached] [-q] PATH...", NULL };
	int force = 0, cached = 0, quiet = 0;
	const struct option options[] = {
		OPT_BOOL('f', "force", &force, "remove files that hold uncommitted changes too"),
		OPT_BOOL(0, "cached", &cached, "stop tracking the files but keep them in the working directory"),
		OPT_BOOL('q', "quiet", &quiet, "do not list the files removed"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc < 1)
		usage_with_options_msg(usage, options, "rm needs the files to stop tracking");
	git_oid head_tree;
	umap_pending pending = UMAP_PENDING_INIT;
	umap_repo *repo = open_repo_for_paths(&head_tree, &pending);
	char **from = calloc((size_t)argc, sizeof(*from)), **work = calloc((size_t)argc, sizeof(*work));
	if (!from || !work)
		die("out of memory");
	for (int i = 0; i < argc; i++)
		tracked_work_path(&from[i], &work[i], repo, &head_tree, &pending, argv[i]);
	/* as git rm: a file whose changes would be lost is refused, all of them before any */
	int refused = 0;
	for (int i = 0; i < argc && !force && !cached; i++) {
		char *abs = NULL;
		if (umap_repo_abspath(&abs, repo, work[i]))
			die_lib(NULL);
		int exists = access(abs, F_OK) == 0;
		free(abs);
		if (!exists || !has_local_changes(repo, &head_tree, work[i]))
			continue;
		if (!refused++)
			error("the following files have changes not committed:");
		fprintf(stderr, "    %s\n", work[i]);
	}
	if (refused) {
		hint("use --cached to keep the files, or -f to remove them with their changes");
		exit(EXIT_DIFFERENT);
	}
	/* recorded first: a file that then cannot be removed is no longer tracked, as --cached */
	for (int i = 0; i < argc; i++)
		if (umap_pending_set(&pending, from[i], NULL))
			die_lib(NULL);
	if (umap_repo_pending_save(repo, &pending))
		die_lib("cannot record the removal");
	for (int i = 0; i < argc; i++) {
		char *abs = NULL;
		/* the path may come from the pending record: never removed outside the tree */
		if (!cached && umap_repo_worktree_path(&abs, repo, work[i]))
			die_lib(NULL);
		if (!cached && unlink(abs) < 0 && errno != ENOENT)
			die_errno("cannot remove %s", work[i]);
		free(abs);
		if (!quiet)
			printf("rm '%s'\n", work[i]);
		free(from[i]);
		free(work[i]);
	}
	free(from);
	free(work);
	umap_pending_clear(&pending);
	umap_repo_free(repo);
	return 0;
}
