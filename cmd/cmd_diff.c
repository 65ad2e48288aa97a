/* umapsync diff: feature changes between two sources, in text, json, geojson, ops or --stat.
 * A source is a file or a revision; lib/diff takes streamed files or feature pairs. */
#include "builtin.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diff.h"
#include "diff_html.h"
#include "error.h"
#include "fs.h"
#include "geojsonseq.h"
#include "json_arena.h"
#include "ops.h"
#include "repo-cmd.h"

struct diff_cmd {
	const char *format;
	int stat, quiet, exit_code, precision, color;
	const char *id_property;
	const char *layer_id; /* ops: the id of a layer the files hold none for */
	struct string_list ignore;
	int max_features;
	const char *output;
	const char *title; /* html: what was compared */
};

/* Whether `arg` names something we can read as a file ("-" is stdin). */
static int is_file_source(const char *arg)
{
	struct stat st;
	return !strcmp(arg, "-") || stat(arg, &st) == 0;
}

static void write_json(umap_buf *out, const json_t *value, unsigned flags)
{
	if (umap_json_write(out, value, flags) || umap_buf_putc(out, '\n'))
		die_lib("cannot format the diff");
}

static int html_diff(umap_buf *out, const umap_diff *diff, const char *title)
{
	umap_diff_html_options opts = UMAP_DIFF_HTML_OPTIONS_INIT;
	opts.title = title;
	return umap_diff_format_html(out, diff, &opts);
}

static void format_diff(umap_buf *out, const umap_diff *diff, const struct diff_cmd *cmd)
{
	json_t *value = NULL;
	if (cmd->stat) {
		if (umap_diff_format_stat(out, diff))
			die_lib("cannot format the diff");
	} else if (!strcmp(cmd->format, "text")) {
		if (umap_diff_format_text(out, diff, want_color(stdout, cmd->color)))
			die_lib("cannot format the diff");
	} else if (!strcmp(cmd->format, "markdown")) {
		if (umap_diff_format_markdown(out, diff, (size_t)cmd->max_features))
			die_lib("cannot format the diff");
	} else if (!strcmp(cmd->format, "geojsonseq")) {
		if (umap_geojsonseq_write_diff(out, diff))
			die_lib("cannot format the diff");
	} else if (!strcmp(cmd->format, "html")) {
		if (html_diff(out, diff, cmd->title))
			die_lib(NULL);
	} else if (!strcmp(cmd->format, "json")) {
		if (umap_diff_to_json(&value, diff))
			die_lib("cannot format the diff");
		write_json(out, value, UMAP_JSON_INDENT(2));
	} else if (!strcmp(cmd->format, "geojson")) {
		if (umap_diff_to_geojson(&value, diff))
			die_lib("cannot format the diff");
		write_json(out, value, UMAP_JSON_INDENT(2));
	} else {
		/* one message per line, as a realtime client sends them */
		if (umap_ops_from_diff(&value, diff, cmd->id_property, cmd->layer_id))
			die_lib("cannot format the diff");
		size_t i;
		json_t *op;
		json_array_foreach(value, i, op) write_json(out, op, UMAP_JSON_COMPACT);
	}
	json_decref(value);
}

int cmd_diff(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync diff [options] A B",
		"umapsync diff [options] [REV [REV]] [[--] PATH...]",
		NULL,
	};
	struct diff_cmd cmd = { "text", 0, 0, 0, -1, COLOR_AUTO, NULL, NULL, STRING_LIST_INIT, 20, NULL, NULL };
	const struct option options[] = {
		OPT_CHOICE(0, "format", &cmd.format, "FORMAT", "output format",
			   "text|json|geojson|geojsonseq|ops|markdown|html"),
		OPT_BOOL(0, "stat", &cmd.stat, "show only how many features changed per layer"),
		OPT_BOOL('q', "quiet", &cmd.quiet, "print nothing; exit 1 where anything differs"),
		OPT_BOOL(0, "exit-code", &cmd.exit_code, "exit 1 where anything differs"),
		OPT_STRING_LIST(0, "ignore", &cmd.ignore, "KEY",
				"leave property KEY (or \"geometry\") out; repeatable"),
		OPT_INT(0, "precision", &cmd.precision, "N", "compare coordinates at N decimals"),
		OPT_STRING(0, "id", &cmd.id_property, "PROP", "feature ids are properties.PROP"),
		OPT_STRING(0, "layer-id", &cmd.layer_id, "ID",
			   "ops: the uMap id of the layer when the files hold none"),
		OPT_INT(0, "max-features", &cmd.max_features, "N",
			"markdown: list at most N changed features (default 20)"),
		OPT_FILE('o', "output", &cmd.output, "FILE", "write the diff to FILE"),
		OPT_COLOR(&cmd.color),
		OPT_END(),
	};
	/* what follows "--" is paths: parse_options drops the "--", so count first */
	int before_dashdash = -1;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			before_dashdash = 0;
			for (int j = 1; j < i; j++)
				before_dashdash += argv[j][0] != '-' || !argv[j][1];
			break;
		}
	argc = parse_options(argc, argv, options, usage);
	if (cmd.precision < -1 || cmd.precision > 17)
		usage_with_options_msg(usage, options, "--precision expects 0 to 17 decimals, not %d",
				       cmd.precision);
	if (cmd.max_features < 0)
		usage_with_options_msg(usage, options, "--max-features expects 0 or more, not %d",
				       cmd.max_features);
	if (cmd.id_property && !*cmd.id_property)
		usage_with_options_msg(usage, options, "--id needs a property name");
	if (cmd.layer_id && (!*cmd.layer_id || strcmp(cmd.format, "ops") || cmd.stat))
		usage_with_options_msg(usage, options, "--layer-id needs an id and applies to --format=ops");
	if (argc > 2 && before_dashdash < 0) {
		/* more than two sources is only a revision diff limited to paths */
		umap_repo *repo = NULL;
		if (umap_repo_open(&repo, NULL))
			usage_with_options_msg(usage, options, "too many arguments: diff compares two sources");
		umap_repo_free(repo);
	}
	umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
	dopts.ignore = cmd.ignore.items;
	dopts.nignore = (size_t)cmd.ignore.nr;
	dopts.precision = cmd.precision;
	dopts.id_property = cmd.id_property;
	dopts.summary_only = cmd.stat || cmd.quiet;
	umap_diff *diff;
	umap_buf heading = UMAP_BUF_INIT;
	int title;
	if (umap_diff_new(&diff, &dopts))
		die_lib(NULL);
	if (argc != 2 || before_dashdash >= 0 || !is_file_source(argv[0]) ||
	    !is_file_source(argv[1])) {
		/* revisions (HEAD~1, branches, tags), REV:PATH, and the working files of a
		 * repository, for all tracked files or the PATHs given */
		if (cmd.id_property)
			usage_with_options_msg(usage, options, "--id applies to files, not revisions");
		if (cmd.layer_id)
			usage_with_options_msg(usage, options,
					       "--layer-id applies to files: a repository's manifest has the ids of its layers");
		diff_from_revisions(diff, argc, argv, before_dashdash);
		title = umap_buf_printf(&heading, "%s \xe2\x86\x92 %s", argc ? argv[0] : "HEAD",
					argc > 1 ? argv[1] : "working files");
	} else if (!strcmp(argv[0], "-") && !strcmp(argv[1], "-")) {
		die("only one side of a diff can be standard input");
	} else {
		/* both files are streamed, in parallel, into a few bytes per feature; the trees
		 * of what changed are all freed at the end: one region holds them (a GeoJSON
		 * stream is read as the FeatureCollection it holds) */
		if (umap_json_arena_begin() || umap_diff_files(diff, argv[0], argv[1]))
			die_lib(NULL);
		title = umap_buf_printf(&heading, "%s \xe2\x86\x92 %s", argv[0], argv[1]);
	}

	if (title)
		die("out of memory");
	cmd.title = heading.ptr;
	int changed = umap_diff_has_changes(diff);
	if (!cmd.quiet) {
		umap_buf out = UMAP_BUF_INIT;
		if (!cmd.output)
			setup_pager();
		format_diff(&out, diff, &cmd);
		if (cmd.output) {
			if (umap_file_write_atomic(cmd.output, out.ptr, out.len))
				die_lib(NULL);
		} else {
			if (out.len)
				fwrite(out.ptr, 1, out.len, stdout);
			check_stdout();
		}
		umap_buf_dispose(&out);
	}
	umap_buf_dispose(&heading);
	umap_diff_free(diff);
	umap_json_arena_end();
	string_list_clear(&cmd.ignore);
	return changed && (cmd.exit_code || cmd.quiet) ? EXIT_DIFFERENT : 0;
}
