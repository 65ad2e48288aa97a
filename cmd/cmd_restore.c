/* umapsync restore: put tracked files back as they are at HEAD (or --source=REV), which is
 * how a change is thrown away; each file is rewritten atomically. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"

int cmd_restore(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync restore [--source=REV] PATH...", NULL };
	const char *source = "HEAD";
	const struct option options[] = {
		OPT_STRING('s', "source", &source, "REV", "take the files from REV (default HEAD)"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc < 1)
		usage_with_options_msg(usage, options, "restore needs the files to put back");
	umap_repo *repo = open_repo_with(OPEN_REPO_REFUSE_CHECKOUT);
	git_oid commit, tree;
	if (umap_repo_resolve(&commit, repo, source) || umap_repo_commit_tree(&tree, repo, &commit))
		die_lib(NULL);
	size_t n = 0;
	char **paths = user_paths(&n, repo, &tree, argc, argv, 0);
	char **tracked = NULL;
	size_t ntracked = 0;
	if (umap_repo_tracked(&tracked, &ntracked, repo, &tree))
		die_lib(NULL);
	for (size_t i = 0; i < n; i++)
		if (!path_list_contains(tracked, ntracked, paths[i]))
			die("'%s' is not tracked at %s: there is nothing to restore it from", paths[i], source);
	for (size_t i = 0; i < n; i++) {
		umap_snapshot *one = NULL;
		char *abs = NULL;
		if (umap_repo_read_tree(&one, repo, &tree, paths[i]) ||
		    umap_repo_abspath(&abs, repo, paths[i]))
			die_lib(NULL);
		char *slash = strrchr(abs, '/');
		*slash = '\0';
		if (umap_mkdir_p(abs, 0777))
			die_lib(NULL);
		*slash = '/';
		if (umap_doc_save(one->files[0].doc, abs, UMAP_DOC_AS_READ))
			die_lib("cannot write %s", paths[i]);
		if (umap_repo_index_record(repo, paths[i], NULL, &tree))
			umap_error_clear();
		umap_snapshot_free(one);
		free(abs);
	}
	if (umap_repo_index_save(repo))
		umap_error_clear();
	umap_paths_free(tracked, ntracked);
	umap_paths_free(paths, n);
	umap_repo_free(repo);
	return 0;
}
