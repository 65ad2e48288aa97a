/* umapsync stash: put the working files' feature changes aside (a commit on refs/stash,
 * its reflog the stack) and bring them back later, on any branch, with a three-way merge
 * per feature and key, as git stash does with lines. */
#include "builtin.h"
#include "merge-report.h"
#include "repo-cmd.h"
#include "repo_merge.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

#define STASH_REF "refs/stash"

static const char *const stash_usage[] = {
	"umapsync stash [push] [-m MSG]",
	"umapsync stash list",
	"umapsync stash pop [stash@{N}]",
	"umapsync stash drop [stash@{N}]",
	NULL,
};

static size_t stash_count(umap_repo *repo)
{
	git_reflog *log = NULL;
	if (git_reflog_read(&log, umap_repo_git(repo), STASH_REF) < 0)
		return 0;
	size_t n = git_reflog_entrycount(log);
	git_reflog_free(log);
	return n;
}

/* Points refs/stash at `commit` and makes its reflog's newest entry say `message`, whether
 * or not libgit2 logs refs/stash itself (it does only with core.logAllRefUpdates=always). */
static void stash_ref_set(umap_repo *repo, const git_oid *commit, const char *message, size_t before)
{
	git_reference *ref = NULL;
	if (git_reference_create(&ref, umap_repo_git(repo), STASH_REF, commit, 1, message) < 0)
		die("cannot write %s: %s", STASH_REF, git_error_last()->message);
	git_reference_free(ref);
	if (stash_count(repo) > before)
		return;
	git_reflog *log = NULL;
	git_signature *sig = NULL;
	if (umap_repo_signature(&sig, repo))
		die_lib(NULL);
	if (git_reflog_read(&log, umap_repo_git(repo), STASH_REF) < 0 ||
	    git_reflog_append(log, commit, sig, message) < 0 || git_reflog_write(log) < 0)
		die("cannot write the stash list: %s", git_error_last()->message);
	git_reflog_free(log);
	git_signature_free(sig);
}

/* stash@{N} (or N) to N; the newest without an argument. */
static size_t stash_index(int argc, const char **argv, size_t count)
{
	if (!count)
		die("no stash entries");
	if (!argc)
		return 0;
	const char *s = argv[0];
	if (!strncmp(s, "stash@{", 7))
		s += 7;
	char *end;
	unsigned long n = strtoul(s, &end, 10);
	if (end == s || (*end && strcmp(end, "}")) || *s == '-')
		die("'%s' is not a stash: use stash@{N} ('umapsync stash list')", argv[0]);
	if (n >= count)
		die("stash@{%lu} does not exist: there %s %zu ('umapsync stash list')", n,
		    count == 1 ? "is" : "are", count);
	return (size_t)n;
}

static void stash_drop_entry(umap_repo *repo, size_t index)
{
	git_reflog *log = NULL;
	if (git_reflog_read(&log, umap_repo_git(repo), STASH_REF) < 0 ||
	    git_reflog_drop(log, index, 1) < 0)
		die("cannot read the stash list: %s", git_error_last()->message);
	size_t left = git_reflog_entrycount(log);
	if (!left) {
		git_reflog_free(log);
		git_reference *ref = NULL;
		if (git_reference_lookup(&ref, umap_repo_git(repo), STASH_REF) == 0) {
			git_reference_delete(ref);
			git_reference_free(ref);
		}
		git_reflog_delete(umap_repo_git(repo), STASH_REF);
		return;
	}
	git_oid top;
	git_oid_cpy(&top, git_reflog_entry_id_new(git_reflog_entry_byindex(log, 0)));
	/* the ref moves to the new top; the log written after is the one without the entry */
	git_reference *ref = NULL;
	if (git_reference_create(&ref, umap_repo_git(repo), STASH_REF, &top, 1, NULL) < 0 ||
	    git_reflog_write(log) < 0)
		die("cannot write the stash list: %s", git_error_last()->message);
	git_reference_free(ref);
	git_reflog_free(log);
}

static int stash_push(umap_repo *repo, const char *message)
{
	git_oid head, head_tree, work, commit;
	if (read_head(&head, &head_tree, repo))
		die("there is no commit yet to stash changes against");
	refuse_pending_paths(repo, "stash (it keeps feature changes, not files)");
	umap_snapshot *snap = worktree_tree(&work, repo, &head_tree, 0);
	for (size_t i = 0; i < snap->nfiles; i++)
		if (snap->files[i].missing)
			die("tracked file '%s' is missing: stash keeps feature changes, not deletions; "
			    "'umapsync restore %s' brings it back", snap->files[i].path, snap->files[i].path);
	umap_snapshot_free(snap);
	if (git_oid_equal(&work, &head_tree)) {
		printf("No local changes to save\n");
		return 0;
	}
	char *branch = NULL;
	umap_repo_head_branch(&branch, repo);
	git_commit *c = NULL;
	if (git_commit_lookup(&c, umap_repo_git(repo), &head) < 0)
		die("cannot read commit %s", short_id(&head));
	umap_buf msg = UMAP_BUF_INIT;
	if (message)
		umap_buf_printf(&msg, "On %s: %s", branch ? branch : "(no branch)", message);
	else
		umap_buf_printf(&msg, "WIP on %s: %s %s", branch ? branch : "(no branch)",
				short_id(&head), subject_of(git_commit_message(c)));
	git_commit_free(c);
	free(branch);
	size_t before = stash_count(repo);
	if (umap_repo_commit_tree_as(&commit, repo, &work, &head, 1, msg.ptr, 0))
		die_lib(NULL);
	stash_ref_set(repo, &commit, msg.ptr, before);
	write_worktree(repo, &work, &head_tree);
	umap_repo_cache_save(repo);
	printf("Saved working files and feature changes: %s\n", msg.ptr);
	umap_buf_dispose(&msg);
	return 0;
}

static int stash_list(umap_repo *repo)
{
	git_reflog *log = NULL;
	if (git_reflog_read(&log, umap_repo_git(repo), STASH_REF) < 0)
		return 0;
	setup_pager();
	for (size_t i = 0; i < git_reflog_entrycount(log); i++) {
		const char *m = git_reflog_entry_message(git_reflog_entry_byindex(log, i));
		printf("stash@{%zu}: %s\n", i, m ? subject_of(m) : "");
	}
	git_reflog_free(log);
	return 0;
}

static int stash_pop(umap_repo *repo, int argc, const char **argv, int keep)
{
	size_t index = stash_index(argc, argv, stash_count(repo));
	git_reflog *log = NULL;
	git_oid stash, head, head_tree, stash_tree, base_tree;
	if (git_reflog_read(&log, umap_repo_git(repo), STASH_REF) < 0)
		die("cannot read the stash list: %s", git_error_last()->message);
	git_oid_cpy(&stash, git_reflog_entry_id_new(git_reflog_entry_byindex(log, index)));
	git_reflog_free(log);
	git_commit *c = NULL;
	if (git_commit_lookup(&c, umap_repo_git(repo), &stash) < 0 || git_commit_parentcount(c) != 1)
		die("stash@{%zu} is damaged: not a commit with one parent", index);
	if (read_head(&head, &head_tree, repo))
		die("there is no commit yet to apply a stash to");
	git_oid_cpy(&stash_tree, git_commit_tree_id(c));
	if (umap_repo_commit_tree(&base_tree, repo, git_commit_parent_id(c, 0)))
		die_lib(NULL);
	git_commit_free(c);
	require_clean_worktree(repo, &head_tree, "stash pop");
	umap_merge_options mopts = UMAP_MERGE_OPTIONS_INIT;
	umap_repo_merge *m = NULL;
	if (umap_repo_merge_trees(&m, repo, &base_tree, &head_tree, &stash_tree, 1, &mopts))
		die_lib("cannot apply the stash");
	if (m->nconflicts) {
		json_t *conflicts = NULL;
		if (umap_repo_merge_conflicts(&conflicts, m))
			die_lib(NULL);
		print_conflict_list(stderr, conflicts, NULL, 0);
		error("stash@{%zu} conflicts with HEAD: nothing was changed, and the stash is kept", index);
		hint("commit or change the conflicting features, or pop it on the commit it was made on");
		json_decref(conflicts);
		umap_repo_merge_free(m);
		return EXIT_DIFFERENT;
	}
	if (umap_repo_merge_write_worktree(repo, m))
		die_lib("cannot write the files");
	umap_repo_merge_free(m);
	if (!keep) {
		stash_drop_entry(repo, index);
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), &stash);
		printf("Dropped stash@{%zu} (%s)\n", index, hex);
	}
	return 0;
}

int cmd_stash(int argc, const char **argv)
{
	const char *message = NULL;
	const struct option options[] = {
		OPT_STRING('m', "message", &message, "MSG", "push: describe the stash"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, stash_usage);
	const char *sub = argc ? argv[0] : "push";
	umap_repo *repo = open_repo_with(OPEN_REPO_REFUSE_CHECKOUT);
	refuse_if_in_progress(repo);
	int rc;
	if (!strcmp(sub, "push")) {
		if (argc > 1)
			usage_with_options_msg(stash_usage, options, "push takes no arguments besides -m");
		rc = stash_push(repo, message);
	} else if (!strcmp(sub, "list")) {
		if (argc > 1 || message)
			usage_with_options_msg(stash_usage, options, "list takes no arguments");
		rc = stash_list(repo);
	} else if (!strcmp(sub, "pop") || !strcmp(sub, "apply")) {
		if (argc > 2 || message)
			usage_with_options_msg(stash_usage, options, "%s takes one stash", sub);
		rc = stash_pop(repo, argc - 1, argv + 1, !strcmp(sub, "apply"));
	} else if (!strcmp(sub, "drop")) {
		if (argc > 2 || message)
			usage_with_options_msg(stash_usage, options, "drop takes one stash");
		size_t index = stash_index(argc - 1, argv + 1, stash_count(repo));
		stash_drop_entry(repo, index);
		printf("Dropped stash@{%zu}\n", index);
		rc = 0;
	} else {
		usage_with_options_msg(stash_usage, options, "unknown subcommand '%s': use push, list, pop or drop", sub);
	}
	umap_repo_free(repo);
	return rc;
}
