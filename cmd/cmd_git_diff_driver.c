/* umapsync git-diff-driver: the diff driver git runs for *.geojson and *.umap files
 * (diff.umapsync.command, set by git-setup). git passes the 7 GIT_EXTERNAL_DIFF arguments
 * (9 for a rename); we print the feature diff of `umapsync diff` under a header line. */
#include "builtin.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diff.h"
#include "doc.h"
#include "error.h"

/* "/dev/null" (an added or deleted file) is an empty document of the other side's kind.
 * NULL, the error kept, for a file that is not a map or layer. */
static umap_doc *open_side(const char *path, umap_doc_kind kind)
{
	umap_doc *doc;
	if (!strcmp(path, "/dev/null")) {
		umap_layer *layer;
		if (umap_doc_new(&doc, kind) ||
		    (kind == UMAP_DOC_LAYER && umap_doc_add_layer(&layer, doc, NULL, NULL)))
			die_lib(NULL);
		return doc;
	}
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	return umap_doc_open(&doc, path, &opts) ? NULL : doc;
}

/* A file the driver cannot read must not stop `git diff` ("external diff died"): it is
 * shown as text by diff -u, after a warning that says why. */
static int text_diff(const char *path, const char *new_path, const char *old_file,
		     const char *new_file)
{
	fprintf(stderr, "warning: %s: %s; showing a text diff\n", path, umap_error_last());
	printf("diff --umapsync a/%s b/%s\n", path, new_path);
	fflush(stdout);
	char old_label[4096], new_label[4096];
	snprintf(old_label, sizeof(old_label), "a/%s", path);
	snprintf(new_label, sizeof(new_label), "b/%s", new_path);
	pid_t pid = fork();
	if (pid < 0)
		die_errno("cannot run diff for %s", path);
	if (!pid) {
		execlp("diff", "diff", "-u", "--label", old_label, "--label", new_label, old_file,
		       new_file, (char *)NULL);
		fprintf(stderr, "fatal: cannot run diff: %s\n", strerror(errno));
		_exit(128);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die_errno("cannot wait for diff");
	/* diff exits 1 when the files differ: that is its answer, not a failure */
	return WIFEXITED(status) && WEXITSTATUS(status) <= 1 ? 0 : 128;
}

int cmd_git_diff_driver(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync git-diff-driver PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE", NULL,
	};
	int color = COLOR_AUTO;
	const struct option options[] = {
		OPT_COLOR(&color),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc == 1) { /* git's call for an unmerged path */
		printf("* Unmerged path %s\n", argv[0]);
		return 0;
	}
	if (argc != 7 && argc != 9)
		usage_with_options_msg(usage, options, "git-diff-driver expects the 7 arguments git passes to GIT_EXTERNAL_DIFF");
	const char *path = argv[0];
	int old_missing = !strcmp(argv[1], "/dev/null"), new_missing = !strcmp(argv[4], "/dev/null");
	if (old_missing && new_missing)
		return 0;
	const char *new_path = argc == 9 ? argv[7] : path;
	umap_doc *old = NULL, *new = NULL;
	if (old_missing) {
		if ((new = open_side(argv[4], UMAP_DOC_LAYER)))
			old = open_side(argv[1], new->kind);
	} else {
		if ((old = open_side(argv[1], UMAP_DOC_LAYER)))
			new = open_side(argv[4], old->kind);
	}
	if (!old || !new) {
		umap_doc_free(old);
		umap_doc_free(new);
		return text_diff(path, new_path, argv[1], argv[4]);
	}
	umap_diff *diff;
	umap_buf text = UMAP_BUF_INIT;
	if (umap_diff_new(&diff, NULL) || umap_diff_docs(diff, old, new) ||
	    umap_diff_format_text(&text, diff, want_color(stdout, (enum color_mode)color)))
		die_lib("%s", path);
	printf("diff --umapsync a/%s b/%s\n", path, new_path);
	if (old_missing)
		printf("new file\n");
	else if (new_missing)
		printf("deleted file\n");
	fwrite(text.ptr ? text.ptr : "", 1, text.len, stdout);
	umap_buf_dispose(&text);
	umap_diff_free(diff);
	umap_doc_free(old);
	umap_doc_free(new);
	return 0;
}
