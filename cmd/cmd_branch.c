/* umapsync branch: list branches (the current one starred) or create one at HEAD. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>

int cmd_branch(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync branch [NAME [REV]]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 2)
		usage_with_options_msg(usage, options, "too many arguments");
	umap_repo *repo = open_repo();
	git_oid head, tree;
	int unborn = read_head(&head, &tree, repo);
	if (argc) {
		git_oid at;
		if (argc == 2 ? umap_repo_resolve(&at, repo, argv[1]) != 0 : unborn)
			die(argc == 2 ? "unknown revision '%s'" : "cannot create branch '%s': there is no "
				"commit yet", argc == 2 ? argv[1] : argv[0]);
		if (argc == 1)
			git_oid_cpy(&at, &head);
		umap_buf ref = UMAP_BUF_INIT;
		umap_buf_printf(&ref, "refs/heads/%s", argv[0]);
		if (umap_repo_create_ref(repo, ref.ptr, &at, "branch: Created from HEAD"))
			die_lib("cannot create branch '%s'", argv[0]);
		umap_buf_dispose(&ref);
		umap_repo_free(repo);
		return 0;
	}
	char *current = NULL;
	if (umap_repo_head_branch(&current, repo))
		die_lib(NULL);
	if (!current)
		printf("* (HEAD detached at %s)\n", short_id(&head));
	git_branch_iterator *it = NULL;
	git_reference *ref;
	git_branch_t type;
	if (git_branch_iterator_new(&it, umap_repo_git(repo), GIT_BRANCH_LOCAL) < 0)
		die("cannot list branches: %s", git_error_last()->message);
	while (git_branch_next(&ref, &type, it) == 0) {
		const char *name = NULL;
		git_branch_name(&name, ref);
		printf("%c %s\n", current && !strcmp(current, name) ? '*' : ' ', name);
		git_reference_free(ref);
	}
	git_branch_iterator_free(it);
	free(current);
	umap_repo_free(repo);
	return 0;
}
