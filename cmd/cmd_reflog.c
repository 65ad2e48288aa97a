/* umapsync reflog: where HEAD (or a branch) has been, newest first, as git reflog prints
 * it; each line's HEAD@{N} is a revision every command takes. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>

int cmd_reflog(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync reflog [-n N] [REF]", NULL };
	int max_count = -1;
	const struct option options[] = {
		OPT_INT('n', "max-count", &max_count, "N", "show at most N entries"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_with_options_msg(usage, options, "reflog takes one reference");
	umap_repo *repo = open_repo();
	const char *name = argc ? argv[0] : "HEAD";
	umap_buf full = UMAP_BUF_INIT;
	git_reference *ref = NULL;
	if (!strcmp(name, "HEAD")) {
		umap_buf_puts(&full, "HEAD"); /* dwim would name the branch HEAD points to */
	} else {
		if (git_reference_dwim(&ref, umap_repo_git(repo), name) < 0)
			die("unknown reference '%s'", name);
		umap_buf_puts(&full, git_reference_name(ref));
		git_reference_free(ref);
	}
	git_reflog *log = NULL;
	if (git_reflog_read(&log, umap_repo_git(repo), full.ptr) < 0)
		die("cannot read the reflog of '%s': %s", name, git_error_last()->message);
	const char *shown = full.ptr;
	if (!strncmp(shown, "refs/heads/", 11))
		shown += 11;
	setup_pager();
	size_t n = git_reflog_entrycount(log);
	for (size_t i = 0; i < n && (max_count < 0 || (int)i < max_count); i++) {
		const git_reflog_entry *e = git_reflog_entry_byindex(log, i);
		const char *msg = git_reflog_entry_message(e);
		printf("%s %s@{%zu}: %s\n", short_id(git_reflog_entry_id_new(e)), shown, i,
		       msg ? subject_of(msg) : "");
	}
	git_reflog_free(log);
	umap_buf_dispose(&full);
	umap_repo_free(repo);
	check_stdout();
	return 0;
}
