/* umapsync commit: record the changes of every tracked file as one commit.
 * Costs what changed: unchanged features are recognised by their bytes, not parsed. */
#include "builtin.h"
#include "repo-cmd.h"
#include "sync-cmd.h"

#include <stdlib.h>
#include <string.h>

int cmd_commit(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync commit -m MSG", NULL };
	const char *message = NULL;
	const struct option options[] = {
		OPT_STRING('m', "message", &message, "MSG", "the commit message"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 0)
		usage_with_options_msg(usage, options, "commit records every tracked file; it takes "
				       "no file arguments");
	if (!message || !*message)
		usage_with_options_msg(usage, options, "commit needs a message: -m MSG");
	umap_repo *repo = open_repo_with(OPEN_REPO_REFUSE_CHECKOUT);
	git_oid head, head_tree;
	if (read_head(&head, &head_tree, repo)) {
		fflush(stdout);
		fprintf(stderr, "fatal: nothing is tracked yet\n");
		hint("start with 'umapsync import FILE'");
		exit(EXIT_FATAL);
	}
	git_oid tree, commit;
	umap_snapshot *snap = worktree_tree(&tree, repo, &head_tree, 1);
	if (git_oid_equal(&tree, &head_tree)) {
		umap_repo_cache_save(repo);
		printf("nothing to commit, working files clean\n");
		umap_snapshot_free(snap);
		umap_repo_free(repo);
		return EXIT_DIFFERENT;
	}
	umap_tree_diff *diff = NULL;
	char *stamped = sync_stamp_message(repo, message);
	if (umap_repo_diff(&diff, repo, &head_tree, &tree) ||
	    umap_repo_commit_tree_as(&commit, repo, &tree, &head, 1, stamped, 1))
		die_lib(NULL);
	free(stamped);
	umap_repo_cache_save(repo);
	char *branch = NULL;
	umap_repo_head_branch(&branch, repo);
	printf("[%s %s] %s\n", branch ? branch : "detached HEAD", short_id(&commit),
	       subject_of(message));
	size_t added = 0, modified = 0, removed = 0;
	for (size_t i = 0; i < diff->nfeatures; i++) {
		umap_change_kind k = diff->features[i].kind;
		added += k == UMAP_CHANGE_ADDED;
		removed += k == UMAP_CHANGE_REMOVED;
		modified += k == UMAP_CHANGE_MODIFIED;
	}
	printf(" %zu added, %zu modified, %zu removed\n", added, modified, removed);
	free(branch);
	umap_tree_diff_free(diff);
	umap_snapshot_free(snap);
	umap_repo_free(repo);
	return 0;
}
