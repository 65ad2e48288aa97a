/* umapsync merge-file: three-way merge of three map or layer files, per feature and key,
 * like `git merge-file` but for GeoJSON and uMap documents (SPEC §6). */
#include "builtin.h"
#include "merge-report.h"

#include <string.h>

#include "error.h"
#include "fs.h"

/* A short write is found by the check of stdout when the command ends. */
static int emit_stdout(void *data, const char *bytes, size_t len)
{
	(void)data;
	fwrite(bytes, 1, len, stdout);
	return 0;
}

int cmd_merge_file(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync merge-file [-p|-o OUT] [--conflicts=FILE] [--ours|--theirs|--union] BASE OURS THEIRS",
		NULL,
	};
	int to_stdout = 0, quiet = 0, favor = -1; /* -1: no --ours, --theirs or --union */
	const char *output = NULL, *conflicts_path = NULL, *id_property = NULL;
	const struct option options[] = {
		OPT_BOOL('p', "stdout", &to_stdout, "write the result to standard output instead of OURS"),
		OPT_FILE('o', "output", &output, "FILE", "write the result to FILE instead of OURS"),
		OPT_FILE(0, "conflicts", &conflicts_path, "FILE", "write the conflicts as JSON to FILE ('-': standard output)"),
		FAVOR_OPTIONS(&favor),
		OPT_STRING(0, "id", &id_property, "PROP", "features are identified by properties.PROP"),
		OPT_BOOL('q', "quiet", &quiet, "do not list the conflicts on standard error"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	/* as git merge-file: conflicts an option settled leave nothing to do (exit 0) */
	int settled = favor >= 0;
	if (!settled)
		favor = UMAP_MERGE_FAVOR_OURS;
	if (argc != 3)
		usage_with_options_msg(usage, options, "merge-file needs BASE, OURS and THEIRS, got %d file%s",
				       argc, argc == 1 ? "" : "s");
	if (to_stdout && output)
		usage_with_options_msg(usage, options, "-p and -o cannot be used together");
	if (conflicts_path && !strcmp(conflicts_path, "-") && (to_stdout || (output && !strcmp(output, "-"))))
		usage_with_options_msg(usage, options, "--conflicts=- and the merged document cannot both go to standard output");
	if (!to_stdout && !output && !strcmp(argv[1], "-"))
		usage_with_options_msg(usage, options, "OURS is standard input: say where the result goes with -p or -o");

	umap_doc *docs[3];
	umap_doc_options dopts = UMAP_DOC_OPTIONS_INIT;
	dopts.id_property = id_property;
	umap_merge_options mopts = UMAP_MERGE_OPTIONS_INIT;
	mopts.favor = (umap_merge_favor)favor;
	umap_merge_result *result;
	if (umap_merge_files(&result, docs, argv, &dopts, &mopts))
		die_lib(docs[0] ? "cannot merge" : NULL); /* read, then failed to merge */

	/* written as it is merged, never held whole: a merge of big files costs their index */
	const char *dest = to_stdout ? "-" : output ? output : argv[1];
	if (!strcmp(dest, "-")) {
		if (umap_merge_write_to(result, UMAP_JSON_INDENT(2), emit_stdout, NULL))
			die_lib("cannot write the merged document");
	} else if (umap_merge_save(result, dest, UMAP_JSON_INDENT(2))) {
		die_lib(NULL);
	}
	if (conflicts_path)
		write_conflict_report(result, conflicts_path);

	size_t nconflicts;
	umap_merge_conflicts(result, &nconflicts);
	if (nconflicts && !quiet) {
		print_conflicts(stderr, result, NULL, docs[1]->nlayers > 1);
		const char *kept = favor == UMAP_MERGE_FAVOR_THEIRS ? "theirs"
				   : favor == UMAP_MERGE_FAVOR_UNION ? "both sides where it could" : "ours";
		fprintf(stderr, "merged with %zu conflict%s; the result keeps %s\n", nconflicts,
			nconflicts == 1 ? "" : "s", kept);
	}
	umap_merge_result_free(result);
	for (int i = 0; i < 3; i++)
		umap_doc_free(docs[i]);
	return nconflicts && !settled ? EXIT_DIFFERENT : 0;
}
