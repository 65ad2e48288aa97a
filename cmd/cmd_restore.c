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
	umap_pending pending = UMAP_PENDING_INIT;
	if (umap_repo_pending_load(&pending, repo))
		die_lib(NULL);
	/* a file mv moved is restored from its old path; one rm removed comes back tracked */
	const char **from = calloc(n + 1, sizeof(*from));
	if (!from)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		const umap_pending_path *moved = umap_pending_find_to(&pending, paths[i]);
		const umap_pending_path *gone = umap_pending_find_from(&pending, paths[i]);
		if (!moved && gone && gone->to)
			die("'%s' was moved to '%s': 'umapsync mv %s %s' moves it back", paths[i],
			    gone->to, gone->to, paths[i]);
		from[i] = moved ? moved->from : paths[i];
		if (!path_list_contains(tracked, ntracked, from[i]))
			die("'%s' is not tracked at %s: there is nothing to restore it from", paths[i], source);
	}
	int unpend = 0;
	for (size_t i = 0; i < n; i++) {
		umap_snapshot *one = NULL;
		char *abs = NULL;
		if (umap_repo_read_tree(&one, repo, &tree, from[i]) ||
		    umap_repo_abspath(&abs, repo, paths[i]))
			die_lib(NULL);
		char *slash = strrchr(abs, '/');
		*slash = '\0';
		if (umap_mkdir_p(abs, 0777))
			die_lib(NULL);
		*slash = '/';
		if (umap_doc_save(one->files[0].doc, abs, UMAP_DOC_AS_READ))
			die_lib("cannot write %s", paths[i]);
		if (from[i] == paths[i] && umap_repo_index_record(repo, paths[i], NULL, &tree))
			umap_error_clear();
		if (umap_pending_find_from(&pending, paths[i]) && from[i] == paths[i]) {
			umap_pending_drop(&pending, paths[i]);
			unpend = 1;
		}
		umap_snapshot_free(one);
		free(abs);
	}
	if (unpend && umap_repo_pending_save(repo, &pending))
		die_lib("the files are restored, but their removal is still recorded");
	umap_pending_clear(&pending);
	free(from);
	if (umap_repo_index_save(repo))
		umap_error_clear();
	umap_paths_free(tracked, ntracked);
	umap_paths_free(paths, n);
	umap_repo_free(repo);
	return 0;
}
