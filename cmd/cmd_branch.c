/* umapsync branch: list branches (the current one starred), create one at HEAD or a
 * revision, delete (-d/-D) or rename (-m/-M) them. */
#include "builtin.h"
#include "repo-cmd.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

/* git branch -d/-D: the current branch is never deleted; without force, one whose commits
 * HEAD does not contain is refused, so that no commit is lost. */
static int delete_branch(umap_repo *repo, const char *name, int force)
{
	git_reference *ref = NULL;
	if (git_branch_lookup(&ref, umap_repo_git(repo), name, GIT_BRANCH_LOCAL) < 0) {
		error("branch '%s' not found", name);
		return EXIT_DIFFERENT;
	}
	char *current = NULL;
	if (umap_repo_head_branch(&current, repo))
		die_lib(NULL);
	int is_current = current && !strcmp(current, name);
	free(current);
	if (is_current) {
		git_reference_free(ref);
		error("cannot delete branch '%s': it is the current branch", name);
		hint("switch to another branch first ('umapsync switch BRANCH')");
		return EXIT_DIFFERENT;
	}
	git_oid tip, head, tree, base;
	git_oid_cpy(&tip, git_reference_target(ref));
	if (!force) {
		int merged = !read_head(&head, &tree, repo) &&
			     !umap_repo_merge_base(&base, repo, &head, &tip) && git_oid_equal(&base, &tip);
		umap_error_clear();
		if (!merged) {
			git_reference_free(ref);
			error("the branch '%s' is not fully merged", name);
			hint("if you are sure you want to delete it, run 'umapsync branch -D %s'", name);
			return EXIT_DIFFERENT;
		}
	}
	/* not git_branch_delete: its removal of branch.NAME.* config leaks libgit2's regex, and
	 * umapsync keeps no branch config */
	if (git_reference_delete(ref) < 0)
		die("cannot delete branch '%s': %s", name, git_error_last()->message);
	git_reference_free(ref);
	printf("Deleted branch %s (was %s).\n", name, short_id(&tip));
	return 0;
}

/* git branch -m [OLD] NEW: HEAD follows when OLD is the current branch. */
static int rename_branch(umap_repo *repo, const char *old_name, const char *new_name, int force)
{
	char *current = NULL;
	if (!old_name) {
		if (umap_repo_head_branch(&current, repo))
			die_lib(NULL);
		if (!current)
			die("cannot rename: HEAD is detached; name the branch to rename");
		old_name = current;
	}
	git_reference *ref = NULL, *moved = NULL;
	if (git_branch_lookup(&ref, umap_repo_git(repo), old_name, GIT_BRANCH_LOCAL) < 0) {
		error("branch '%s' not found", old_name);
		free(current);
		return EXIT_DIFFERENT;
	}
	int valid = 0;
	git_branch_name_is_valid(&valid, new_name);
	if (!valid)
		die("'%s' is not a valid branch name", new_name);
	umap_buf target = UMAP_BUF_INIT, msg = UMAP_BUF_INIT;
	umap_buf_printf(&target, "refs/heads/%s", new_name);
	umap_buf_printf(&msg, "Branch: renamed %s to %s", git_reference_name(ref), target.ptr);
	/* HEAD follows the rename; not git_branch_move, for the reason delete_branch says */
	int err = git_reference_rename(&moved, ref, target.ptr, force, msg.ptr);
	umap_buf_dispose(&target);
	umap_buf_dispose(&msg);
	if (err < 0) {
		const git_error *e = git_error_last();
		die("cannot rename branch '%s' to '%s': %s", old_name, new_name,
		    e && e->klass == GIT_ERROR_REFERENCE ? "a branch of that name exists (-M replaces it)"
							 : e ? e->message : "unknown error");
	}
	git_reference_free(moved);
	git_reference_free(ref);
	free(current);
	return 0;
}

int cmd_branch(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync branch [NAME [REV]]",
		"umapsync branch (-d | -D) NAME...",
		"umapsync branch (-m | -M) [OLD] NEW",
		NULL,
	};
	int del = 0, force_del = 0, move = 0, force_move = 0;
	const struct option options[] = {
		OPT_BOOL('d', "delete", &del, "delete branches whose commits HEAD contains"),
		OPT_BOOL('D', NULL, &force_del, "delete branches, even with commits HEAD does not have"),
		OPT_BOOL('m', "move", &move, "rename a branch (the current one by default)"),
		OPT_BOOL('M', NULL, &force_move, "rename, replacing a branch of the new name"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if ((del || force_del) + (move || force_move) > 1)
		usage_with_options_msg(usage, options, "-d and -m do not go together");
	if (del || force_del || move || force_move) {
		umap_repo *repo = open_repo();
		int rc = 0;
		if (del || force_del) {
			if (!argc)
				usage_with_options_msg(usage, options, "-d needs the branches to delete");
			for (int i = 0; i < argc; i++)
				rc |= delete_branch(repo, argv[i], force_del);
		} else {
			if (argc < 1 || argc > 2)
				usage_with_options_msg(usage, options, "-m needs the new name (and the old one)");
			rc = rename_branch(repo, argc == 2 ? argv[0] : NULL, argv[argc - 1], force_move);
		}
		umap_repo_free(repo);
		return rc;
	}
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
