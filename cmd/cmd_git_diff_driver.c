/* umapsync git-diff-driver: the diff driver git runs for *.geojson and *.umap files
 * (diff.umapsync.command, set by git-setup). git passes the 7 GIT_EXTERNAL_DIFF arguments
 * (9 for a rename); we print the feature diff of `umapsync diff` under a header line. */
#include "builtin.h"

#include <string.h>

#include "diff.h"
#include "doc.h"
#include "error.h"

/* "/dev/null" (an added or deleted file) is an empty document of the other side's kind. */
static umap_doc *open_side(const char *path, const char *label, umap_doc_kind kind)
{
	umap_doc *doc;
	if (!strcmp(path, "/dev/null")) {
		umap_layer *layer;
		if (umap_doc_new(&doc, kind) ||
		    (kind == UMAP_DOC_LAYER && umap_doc_add_layer(&layer, doc, NULL, NULL)))
			die_lib("%s", label);
		return doc;
	}
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	if (umap_doc_open(&doc, path, &opts))
		die_lib("%s", label);
	return doc;
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
	umap_doc *old = NULL, *new = NULL;
	if (old_missing) {
		new = open_side(argv[4], path, UMAP_DOC_LAYER);
		old = open_side(argv[1], path, new->kind);
	} else {
		old = open_side(argv[1], path, UMAP_DOC_LAYER);
		new = open_side(argv[4], path, old->kind);
	}
	umap_diff *diff;
	umap_buf text = UMAP_BUF_INIT;
	if (umap_diff_new(&diff, NULL) || umap_diff_docs(diff, old, new) ||
	    umap_diff_format_text(&text, diff, want_color(stdout, (enum color_mode)color)))
		die_lib("%s", path);
	printf("diff --umapsync a/%s b/%s\n", path, argc == 9 ? argv[7] : path);
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
