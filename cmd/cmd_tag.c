/* umapsync tag: list tags, or name a revision (HEAD by default) with a lightweight tag. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>

int cmd_tag(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync tag [NAME [REV]]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 2)
		usage_with_options_msg(usage, options, "too many arguments");
	umap_repo *repo = open_repo();
	if (argc) {
		git_oid at;
		if (umap_repo_resolve(&at, repo, argc == 2 ? argv[1] : "HEAD"))
			die(argc == 2 ? "unknown revision '%s'" : "cannot tag: there is no commit yet%s",
			    argc == 2 ? argv[1] : "");
		umap_buf ref = UMAP_BUF_INIT;
		umap_buf_printf(&ref, "refs/tags/%s", argv[0]);
		if (umap_repo_create_ref(repo, ref.ptr, &at, "tag"))
			die_lib("cannot create tag '%s'", argv[0]);
		umap_buf_dispose(&ref);
		umap_repo_free(repo);
		return 0;
	}
	git_strarray names = { 0 };
	if (git_tag_list(&names, umap_repo_git(repo)) < 0)
		die("cannot list tags: %s", git_error_last()->message);
	for (size_t i = 0; i < names.count; i++)
		printf("%s\n", names.strings[i]);
	git_strarray_dispose(&names);
	umap_repo_free(repo);
	return 0;
}
