/* umapsync export: a tracked file as it was at a revision, to stdout or a file, with the
 * features, values, key order, feature order and options it was committed with. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"

/* Sinks for a streamed export: standard output, or a file that appears whole at the end. */
static int to_stdout(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	if (fwrite(data, 1, len, stdout) != len)
		return umap_error_set_errno(UMAP_EIO, "cannot write to standard output");
	return 0;
}

static int to_file(void *ctx, const char *data, size_t len)
{
	return umap_atomic_file_write(ctx, data, len);
}

int cmd_export(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync export [--format=geojson|geojsonseq] REV PATH [-o FILE]",
		"umapsync export [--format=geojson|geojsonseq] REV:PATH [-o FILE]",
		NULL,
	};
	const char *output = NULL, *format = "geojson";
	const struct option options[] = {
		OPT_CHOICE(0, "format", &format, "FORMAT",
			   "geojson (the file as committed) or geojsonseq (one RFC 8142 record per feature)",
			   "geojson|geojsonseq"),
		OPT_FILE('o', "output", &output, "FILE", "write to FILE (atomically) instead of stdout"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	int rev_path = argc == 1 && strchr(argv[0], ':');
	if (argc != 2 && !rev_path)
		usage_with_options_msg(usage, options, "export needs a revision and a tracked path");
	umap_repo *repo = open_repo();
	git_oid commit, tree;
	char *rel = NULL;
	if (rev_path ? umap_repo_resolve_path(&commit, &rel, repo, argv[0])
		     : umap_repo_resolve(&commit, repo, argv[0]) || umap_repo_relpath(&rel, repo, argv[1]))
		die_lib(NULL);
	if (umap_repo_commit_tree(&tree, repo, &commit))
		die_lib(NULL);
	/* geojsonseq: a layer's features straight from their blobs, one record each, never
	 * the whole file in memory; geojson: the file as it is laid out, its final newline or
	 * lack of one included */
	int records = !strcmp(format, "geojsonseq");
	if (output) {
		umap_atomic_file file;
		if (umap_atomic_file_open(&file, output))
			die_lib(NULL);
		if ((records ? umap_repo_export_records(repo, &tree, rel, to_file, &file)
			     : umap_repo_export(repo, &tree, rel, to_file, &file)) ||
		    umap_atomic_file_commit(&file)) {
			umap_atomic_file_abort(&file);
			die_lib(NULL);
		}
	} else {
		if (records ? umap_repo_export_records(repo, &tree, rel, to_stdout, NULL)
			    : umap_repo_export(repo, &tree, rel, to_stdout, NULL))
			die_lib(NULL);
		check_stdout();
	}
	free(rel);
	umap_repo_free(repo);
	return 0;
}
