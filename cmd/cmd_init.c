/* umapsync init: create an empty repository (.umapsync, a git repository whose first
 * branch is main) in DIR or the current directory. */
#include "builtin.h"

#include "repo.h"

int cmd_init(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync init [DIR]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_with_options_msg(usage, options, "too many arguments: init takes one directory");
	umap_repo *repo = NULL;
	int existed = 0;
	if (umap_repo_init(&repo, argc ? argv[0] : NULL, &existed))
		die_lib(NULL);
	printf("%s umapsync repository in %s/\n", existed ? "Reinitialized existing" : "Initialized empty",
	       umap_repo_gitdir(repo));
	umap_repo_free(repo);
	return 0;
}
