/* umapsync commit: record the changes of every tracked file as one commit.
 * Costs what changed: unchanged features are recognised by their bytes, not parsed. */
#include "builtin.h"
#include "repo-cmd.h"
#include "sync-cmd.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"

/* The editor git would start: GIT_EDITOR, VISUAL, EDITOR, then vi. */
static const char *editor_command(void)
{
	static const char *const vars[] = { "GIT_EDITOR", "VISUAL", "EDITOR" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return v;
	}
	return "vi";
}

/* Writes the template to .umapsync/COMMIT_EDITMSG, runs the editor on it (through the
 * shell, as git does, so EDITOR may hold arguments) and returns the message without its
 * comment lines and surrounding blank lines; NULL when that leaves nothing. */
static char *edit_message(umap_repo *repo, const umap_tree_diff *diff, umap_snapshot *snap,
			  const char *branch)
{
	umap_buf text = UMAP_BUF_INIT, path = UMAP_BUF_INIT;
	umap_buf_puts(&text, "\n# Please enter the commit message for your changes. Lines starting\n"
			     "# with '#' will be ignored, and an empty message aborts the commit.\n#\n");
	umap_buf_printf(&text, "# On branch %s\n# Changes to be committed:\n", branch ? branch : "(detached HEAD)");
	for (size_t i = 0; i < snap->nfiles; i++) {
		if (snap->files[i].removed)
			umap_buf_printf(&text, "#\tdeleted:    %s\n", snap->files[i].path);
		else if (snap->files[i].from)
			umap_buf_printf(&text, "#\trenamed:    %s -> %s\n", snap->files[i].from,
					snap->files[i].path);
	}
	for (size_t l = 0; l < diff->nlayers; l++) {
		size_t added, modified, removed;
		int options;
		const char *p = diff->layers[l].path;
		int seen = 0;
		for (size_t k = 0; k < l; k++)
			seen |= diff->layers[k].path && p && !strcmp(diff->layers[k].path, p);
		if (!p || seen || !file_changes(diff, p, removed_at(snap, p), &added, &modified, &removed,
						 &options))
			continue;
		umap_buf_printf(&text, "#\tmodified:   %s (%zu added, %zu modified, %zu removed)\n", p,
				added, modified, removed);
	}
	if (umap_buf_printf(&path, "%s/COMMIT_EDITMSG", umap_repo_gitdir(repo)) ||
	    umap_file_write_atomic(path.ptr, text.ptr, text.len))
		die_lib("cannot write the commit message template");
	const char *editor = editor_command();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exec $0 \"$@\"", editor, path.ptr, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("there was a problem with the editor '%s'; commit with -m MSG instead", editor);
	umap_buf_clear(&text);
	if (umap_file_read(&text, path.ptr, 1 << 20))
		die_lib("cannot read the commit message");
	umap_buf msg = UMAP_BUF_INIT;
	for (const char *p = text.ptr; p && *p;) {
		size_t len = strcspn(p, "\n");
		if (*p != '#') {
			size_t keep = len;
			while (keep && (p[keep - 1] == ' ' || p[keep - 1] == '\t' || p[keep - 1] == '\r'))
				keep--;
			if (keep || msg.len)
				umap_buf_printf(&msg, "%.*s\n", (int)keep, p);
		}
		p += len;
		if (*p)
			p++;
	}
	while (msg.len && msg.ptr[msg.len - 1] == '\n' && (msg.len == 1 || msg.ptr[msg.len - 2] == '\n'))
		msg.len--;
	if (msg.len)
		msg.ptr[msg.len] = '\0';
	umap_buf_dispose(&text);
	umap_buf_dispose(&path);
	if (!msg.len) {
		umap_buf_dispose(&msg);
		return NULL;
	}
	return umap_buf_detach(&msg);
}

/* The rm and mv that the commit just recorded leave the pending record; those of files a
 * `commit PATH...` left out wait for the next commit. */
static void forget_committed_moves(umap_repo *repo, const umap_snapshot *snap)
{
	umap_pending pending = UMAP_PENDING_INIT;
	if (umap_repo_pending_load(&pending, repo))
		die_lib(NULL);
	if (!pending.n)
		return;
	for (size_t i = 0; i < snap->nfiles; i++) {
		const umap_repo_file *f = &snap->files[i];
		if (f->removed || f->from)
			umap_pending_drop(&pending, f->removed ? f->path : f->from);
	}
	if (umap_repo_pending_save(repo, &pending))
		die_lib("the commit is made, but the rm and mv it recorded are still listed");
	umap_pending_clear(&pending);
}

int cmd_commit(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync commit [-m MSG] [PATH...]", NULL };
	const char *message = NULL;
	const struct option options[] = {
		OPT_STRING('m', "message", &message, "MSG", "the commit message (else an editor opens)"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (message && !*message)
		usage_with_options_msg(usage, options, "the message of -m is empty");
	umap_repo *repo = open_repo_with(OPEN_REPO_REFUSE_CHECKOUT);
	git_oid head, head_tree;
	if (read_head(&head, &head_tree, repo)) {
		fflush(stdout);
		fprintf(stderr, "fatal: nothing is tracked yet\n");
		hint("start with 'umapsync import FILE'");
		exit(EXIT_FATAL);
	}
	git_oid tree, commit;
	size_t nonly = 0;
	char **only = argc ? user_paths(&nonly, repo, &head_tree, argc, argv, 1) : NULL;
	umap_snapshot *snap = worktree_tree_of(&tree, repo, &head_tree, 1, only, nonly);
	umap_paths_free(only, nonly);
	only = NULL;
	if (git_oid_equal(&tree, &head_tree)) {
		umap_repo_cache_save(repo);
		printf("nothing to commit, working files clean\n");
		umap_snapshot_free(snap);
		umap_repo_free(repo);
		return EXIT_DIFFERENT;
	}
	umap_tree_diff *diff = NULL;
	char *branch = NULL, *edited = NULL;
	umap_repo_head_branch(&branch, repo);
	if (umap_repo_diff(&diff, repo, &head_tree, &tree))
		die_lib(NULL);
	if (!message && !(message = edited = edit_message(repo, diff, snap, branch))) {
		fprintf(stderr, "Aborting commit due to empty commit message.\n");
		free(branch);
		umap_tree_diff_free(diff);
		umap_snapshot_free(snap);
		umap_repo_free(repo);
		return EXIT_DIFFERENT;
	}
	char *stamped = sync_stamp_message(repo, message);
	if (umap_repo_commit_tree_as(&commit, repo, &tree, &head, 1, stamped, 1))
		die_lib(NULL);
	free(stamped);
	forget_committed_moves(repo, snap);
	umap_repo_cache_save(repo);
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
	for (size_t i = 0; i < snap->nfiles; i++) {
		if (snap->files[i].removed)
			printf(" delete %s\n", snap->files[i].path);
		else if (snap->files[i].from)
			printf(" rename %s => %s\n", snap->files[i].from, snap->files[i].path);
	}
	free(branch);
	free(edited);
	umap_tree_diff_free(diff);
	umap_snapshot_free(snap);
	umap_repo_free(repo);
	return 0;
}
