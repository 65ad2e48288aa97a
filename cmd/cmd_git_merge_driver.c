/* umapsync git-merge-driver: the merge driver git runs for *.geojson and *.umap files
 * and GeoJSON streams (merge.umapsync.driver = "umapsync git-merge-driver %O %A %B %P", set
 * by git-setup). Merges per feature and key into %A in place; exit 0 clean, 1 with conflicts. */
#include "builtin.h"
#include "merge-report.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"

/* Files we cannot read as maps get git's own line merge, so that a merge never does worse
 * than without the driver. Returns git merge-file's status as a driver status. */
static int line_merge(const char *base, const char *ours, const char *theirs)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		die_errno("cannot run git merge-file");
	if (pid == 0) {
		execlp("git", "git", "merge-file", "-L", "ours", "-L", "base", "-L", "theirs", ours,
		       base, theirs, (char *)NULL);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		die("git merge-file did not finish");
	int code = WEXITSTATUS(status);
	if (code == 127)
		die("cannot run git merge-file: is git on PATH?");
	return code == 0 ? 0 : 1;
}

int cmd_git_merge_driver(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync git-merge-driver BASE OURS THEIRS [PATH]", NULL };
	int favor = UMAP_MERGE_FAVOR_OURS, quiet = 0;
	const struct option options[] = {
		FAVOR_OPTIONS(&favor),
		OPT_BOOL('q', "quiet", &quiet, "do not list the conflicts on standard error"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc < 3 || argc > 4)
		usage_with_options_msg(usage, options, "git-merge-driver needs BASE OURS THEIRS and optionally PATH (git passes %%O %%A %%B %%P)");
	const char *label = argc == 4 ? argv[3] : argv[1];

	umap_doc *docs[3] = { NULL, NULL, NULL };
	umap_doc_options dopts = UMAP_DOC_OPTIONS_INIT;
	/* git's temporary files have no extension: the real path (%P) tells a stream, which
	 * is then written back as one, from a document (a one-record .geojsonl is no Feature) */
	if (argc == 4)
		dopts.format_name = argv[3];
	for (int i = 0; i < 3; i++) {
		if (umap_doc_open(&docs[i], argv[i], &dopts)) {
			warning("%s: %s", label, umap_error_last());
			warning("%s: not a map file umapsync can read; using git's line merge", label);
			for (int j = 0; j < i; j++)
				umap_doc_free(docs[j]);
			return line_merge(argv[0], argv[1], argv[2]);
		}
	}
	umap_merge_options mopts = UMAP_MERGE_OPTIONS_INIT;
	mopts.favor = (umap_merge_favor)favor;
	umap_merge_result *result;
	if (umap_merge(&result, docs[0], docs[1], docs[2], &mopts))
		die_lib("%s", label);
	umap_buf merged = UMAP_BUF_INIT;
	if (umap_merge_write(&merged, result, UMAP_JSON_INDENT(2)))
		die_lib("%s: cannot write the merged document", label);
	/* OURS stays readable until the merged file replaces it in one rename. */
	if (umap_file_write_atomic(argv[1], merged.ptr, merged.len))
		die_lib("%s", label);
	size_t nconflicts;
	umap_merge_conflicts(result, &nconflicts);
	if (nconflicts && !quiet) {
		print_conflicts(stderr, result, label, docs[1]->nlayers > 1);
		hint("%s keeps %s side of %s; edit it, then 'git add %s'", label,
		     favor == UMAP_MERGE_FAVOR_THEIRS ? "their" : favor == UMAP_MERGE_FAVOR_UNION ? "each" : "our",
		     nconflicts == 1 ? "the conflict" : "each conflict", label);
	}
	umap_buf_dispose(&merged);
	umap_merge_result_free(result);
	for (int i = 0; i < 3; i++)
		umap_doc_free(docs[i]);
	return nconflicts ? EXIT_DIFFERENT : 0;
}
