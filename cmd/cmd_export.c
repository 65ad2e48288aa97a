/* umapsync export: a tracked file as it was at a revision, to stdout or a file, with the
 * features, values, key order, feature order and options it was committed with. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>

int cmd_export(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync export REV PATH [-o FILE]", NULL };
	const char *output = NULL;
	const struct option options[] = {
		OPT_FILE('o', "output", &output, "FILE", "write to FILE (atomically) instead of stdout"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc != 2)
		usage_with_options_msg(usage, options, "export needs a revision and a tracked path");
	umap_repo *repo = open_repo();
	git_oid commit, tree;
	char *rel = NULL;
	umap_snapshot *snap = NULL;
	if (umap_repo_resolve(&commit, repo, argv[0]) || umap_repo_commit_tree(&tree, repo, &commit) ||
	    umap_repo_relpath(&rel, repo, argv[1]) || umap_repo_read_tree(&snap, repo, &tree, rel))
		die_lib(NULL);
	umap_doc *doc = snap->files[0].doc;
	if (output) {
		if (umap_doc_save(doc, output, UMAP_JSON_INDENT(2)))
			die_lib(NULL);
	} else {
		umap_buf out = UMAP_BUF_INIT;
		if (umap_doc_write(&out, doc, UMAP_JSON_INDENT(2)))
			die_lib(NULL);
		fwrite(out.ptr, 1, out.len, stdout);
		if (!out.len || out.ptr[out.len - 1] != '\n')
			putchar('\n');
		umap_buf_dispose(&out);
	}
	umap_snapshot_free(snap);
	free(rel);
	umap_repo_free(repo);
	return 0;
}
