/* umapsync show: a commit (author, date, message) and its feature diff against its first
 * parent, found by walking the two trees and skipping equal subtrees. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "diff_html.h"
#include "error.h"
#include "fs.h"

int cmd_show(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync show [--format=text|html] [-o FILE] [--stat] [--color[=WHEN]] [REV]",
		"umapsync show REV:PATH",
		NULL,
	};
	int color = COLOR_AUTO, stat = 0;
	const char *format = "text", *output = NULL;
	const struct option options[] = {
		OPT_BOOL(0, "stat", &stat, "show how many features changed per layer, not the changes"),
		OPT_CHOICE(0, "format", &format, "FORMAT",
			   "text (the commit, then its diff) or html (its diff on a map)", "text|html"),
		OPT_FILE('o', "output", &output, "FILE", "write to FILE"),
		OPT_COLOR(&color),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_with_options_msg(usage, options, "show takes one revision");
	if (argc && strchr(argv[0], ':')) {
		/* REV:PATH is the file as it was committed, as export prints it */
		const char *export_argv[] = { "export", argv[0], NULL };
		return cmd_export(2, export_argv);
	}
	umap_repo *repo = open_repo();
	git_oid commit_id, tree, parent_tree;
	if (umap_repo_resolve(&commit_id, repo, argc ? argv[0] : "HEAD"))
		die_lib(NULL);
	git_commit *c = NULL;
	if (git_commit_lookup(&c, umap_repo_git(repo), &commit_id) < 0)
		die("cannot read commit %s: %s", short_id(&commit_id), git_error_last()->message);
	git_oid_cpy(&tree, git_commit_tree_id(c));
	int has_parent = git_commit_parentcount(c) > 0;
	if (has_parent && umap_repo_commit_tree(&parent_tree, repo, git_commit_parent_id(c, 0)))
		die_lib(NULL);
	const git_signature *author = git_commit_author(c);
	char hex[GIT_OID_HEXSZ + 1], date[64];
	git_oid_tostr(hex, sizeof(hex), &commit_id);
	format_git_date(date, sizeof(date), &author->when);
	int html = !strcmp(format, "html");
	if (!output)
		setup_pager();
	umap_buf out = UMAP_BUF_INIT;
	umap_buf_printf(&out, "commit %s\n", hex);
	if (git_commit_parentcount(c) > 1) {
		umap_buf_puts(&out, "Merge:");
		for (unsigned i = 0; i < git_commit_parentcount(c); i++)
			umap_buf_printf(&out, " %s", short_id(git_commit_parent_id(c, i)));
		umap_buf_putc(&out, '\n');
	}
	umap_buf_printf(&out, "Author: %s <%s>\nDate:   %s\n\n", author->name, author->email, date);
	for (const char *p = git_commit_message(c); *p;) {
		size_t len = strcspn(p, "\n");
		umap_buf_printf(&out, "    %.*s\n", (int)len, p);
		p += len;
		if (*p)
			p++;
	}
	umap_tree_diff *tdiff = NULL;
	umap_diff *diff = NULL;
	umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
	dopts.summary_only = stat && !html;
	if (umap_repo_diff(&tdiff, repo, has_parent ? &parent_tree : NULL, &tree) ||
	    umap_diff_new(&diff, &dopts) ||
	    umap_repo_fill_diff(diff, repo, tdiff, has_parent ? &parent_tree : NULL, &tree))
		die_lib(NULL);
	diff_add_renames(diff, repo, has_parent ? &parent_tree : NULL, &tree, NULL, 0);
	if (html) {
		/* the page's heading is the commit; its diff is the map */
		umap_buf title = UMAP_BUF_INIT;
		const char *summary = git_commit_summary(c);
		umap_diff_html_options hopts = UMAP_DIFF_HTML_OPTIONS_INIT;
		if (umap_buf_printf(&title, "commit %s %s (%s, %s)", short_id(&commit_id),
				    summary ? summary : "", author->name, date))
			die("out of memory");
		hopts.title = title.ptr;
		umap_buf_clear(&out);
		if (umap_diff_format_html(&out, diff, &hopts))
			die_lib(NULL);
		umap_buf_dispose(&title);
	} else if (umap_diff_has_changes(diff)) {
		umap_buf_putc(&out, '\n');
		if (stat ? umap_diff_format_stat(&out, diff)
			 : umap_diff_format_text(&out, diff, want_color(stdout, color)))
			die_lib("cannot format the diff");
	}
	if (output) {
		if (umap_file_write_atomic(output, out.ptr, out.len))
			die_lib(NULL);
	} else {
		fwrite(out.ptr, 1, out.len, stdout);
	}
	umap_buf_dispose(&out);
	umap_diff_free(diff);
	umap_tree_diff_free(tdiff);
	git_commit_free(c);
	umap_repo_free(repo);
	return 0;
}
