/* umapsync switch: go to a branch (or, with -c, a new one), as git switch does; a revision
 * without a branch needs --detach. The work is checkout's. */
#include "builtin.h"
#include "repo-cmd.h"

#include <string.h>

int cmd_switch(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync switch BRANCH",
		"umapsync switch -c NEW [REV]",
		"umapsync switch --detach REV",
		NULL,
	};
	const char *create = NULL;
	int detach = 0;
	const struct option options[] = {
		OPT_STRING('c', "create", &create, "NEW", "create the branch NEW at REV (default HEAD) and switch to it"),
		OPT_BOOL(0, "detach", &detach, "switch to a revision without a branch (detached HEAD)"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (create && detach)
		usage_with_options_msg(usage, options, "-c and --detach do not go together");
	if (create) {
		if (argc > 1)
			usage_with_options_msg(usage, options, "-c takes the new branch and where it starts");
		const char *sub[] = { "checkout", "-b", create, argc ? argv[0] : NULL, NULL };
		return cmd_checkout(argc ? 4 : 3, sub);
	}
	if (argc != 1)
		usage_with_options_msg(usage, options, "switch needs one branch");
	if (!detach) {
		umap_repo *repo = open_repo_with(OPEN_REPO_OWN_CHECKOUT_NOTE);
		umap_buf ref = UMAP_BUF_INIT;
		git_oid tip;
		umap_buf_printf(&ref, "refs/heads/%s", argv[0]);
		int found = git_reference_name_to_id(&tip, umap_repo_git(repo), ref.ptr) == 0;
		umap_buf_dispose(&ref);
		umap_repo_free(repo);
		if (!found) {
			fflush(stdout);
			fprintf(stderr, "fatal: a branch is expected, got '%s'\n", argv[0]);
			hint("to look at a revision without a branch, use 'umapsync switch --detach %s';",
			     argv[0]);
			hint("to make a branch there, 'umapsync switch -c NEW %s'", argv[0]);
			return EXIT_FATAL;
		}
	}
	/* --detach BRANCH detaches at its tip: checkout is given the commit, not the name */
	char hex[GIT_OID_HEXSZ + 1];
	if (detach) {
		umap_repo *repo = open_repo_with(OPEN_REPO_OWN_CHECKOUT_NOTE);
		git_oid at;
		if (umap_repo_resolve(&at, repo, argv[0]))
			die_lib(NULL);
		git_oid_tostr(hex, sizeof(hex), &at);
		umap_repo_free(repo);
	}
	const char *sub[] = { "checkout", detach ? hex : argv[0], NULL };
	return cmd_checkout(2, sub);
}
