/* umapsync status: which tracked files differ from HEAD, with their feature counts.
 * Cost: one pass over each file's bytes; only changed features are parsed. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>

/* A killed checkout leaves files that look modified: say why, and what finishes it. */
static void print_interrupted_checkout(umap_repo *repo)
{
	char *target = NULL;
	if (!interrupted_checkout(&target, repo))
		return;
	printf("A checkout of '%s' was interrupted: the working files may be part old, part new.\n"
	       "  (run 'umapsync checkout %s' to finish it)\n",
	       target, target);
	free(target);
}

int cmd_status(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync status", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 0)
		usage_with_options_msg(usage, options, "status takes no arguments");
	umap_repo *repo = open_repo_with(OPEN_REPO_OWN_CHECKOUT_NOTE);
	git_oid head, head_tree;
	int unborn = read_head(&head, &head_tree, repo);
	char *branch = NULL;
	if (umap_repo_head_branch(&branch, repo))
		die_lib(NULL);
	if (branch)
		printf("On branch %s\n", branch);
	else
		printf("HEAD detached at %s\n", short_id(&head));
	free(branch);
	print_interrupted_checkout(repo);
	if (unborn) {
		printf("\nNo commits yet: start tracking a map with 'umapsync import FILE'\n");
		umap_repo_free(repo);
		return 0;
	}
	git_oid tree;
	umap_snapshot *snap = worktree_tree(&tree, repo, &head_tree, 0);
	umap_repo_cache_save(repo);
	size_t missing = 0;
	for (size_t i = 0; i < snap->nfiles; i++)
		missing += snap->files[i].missing;
	if (git_oid_equal(&tree, &head_tree) && !missing) {
		printf("nothing to commit, working files clean\n");
	} else {
		umap_tree_diff *diff = NULL;
		if (umap_repo_diff(&diff, repo, &head_tree, &tree))
			die_lib(NULL);
		printf("Changes not committed:\n");
		for (size_t i = 0; i < snap->nfiles; i++) {
			size_t added, modified, removed;
			if (snap->files[i].missing) {
				printf("  deleted:    %s\n", snap->files[i].path);
				continue;
			}
			int layer_options;
			if (!file_changes(diff, snap->files[i].path, &added, &modified, &removed, &layer_options))
				continue;
			printf("  modified:   %s (%zu added, %zu modified, %zu removed%s)\n",
			       snap->files[i].path, added, modified, removed,
			       layer_options ? ", layer options changed" : "");
		}
		if (diff->map_changed)
			printf("  map options changed\n");
		umap_tree_diff_free(diff);
	}
	umap_snapshot_free(snap);
	umap_repo_free(repo);
	return 0;
}
