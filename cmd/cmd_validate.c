/* umapsync validate: check GeoJSON and uMap files as mapbox geojsonhint does (SPEC §4).
 * Prints one line per message (or one JSON array); exit 1 when anything is invalid. */
#include "builtin.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "json.h"
#include "validate.h"

/* Output is built in a buffer; running out of memory there is fatal. */
static void put(int rc)
{
	if (rc)
		die_lib("writing the report");
}

static void print_json_string(umap_buf *out, const char *s)
{
	json_t *str = json_stringn_nocheck(s, strlen(s));
	if (!str)
		die("out of memory");
	put(umap_json_write(out, str, 0));
	json_decref(str);
}

/* GitHub's workflow-command escaping: data escapes %, CR and LF; a property value (file=)
 * also escapes ':' and ',', which would otherwise end the value. */
static void put_github_escaped(umap_buf *out, const char *s, int property)
{
	for (; *s; s++) {
		switch (*s) {
		case '%': put(umap_buf_puts(out, "%25")); break;
		case '\r': put(umap_buf_puts(out, "%0D")); break;
		case '\n': put(umap_buf_puts(out, "%0A")); break;
		case ':': put(property ? umap_buf_puts(out, "%3A") : umap_buf_putc(out, *s)); break;
		case ',': put(property ? umap_buf_puts(out, "%2C") : umap_buf_putc(out, *s)); break;
		default: put(umap_buf_putc(out, *s)); break;
		}
	}
}

/* One GitHub Actions annotation: ::error file=F,line=L,col=C::message (line and col only
 * when known). */
static void put_github_annotation(umap_buf *out, const char *level, const char *file,
				  unsigned line, unsigned col, const char *text)
{
	put(umap_buf_printf(out, "::%s file=", level));
	put_github_escaped(out, file, 1);
	if (line)
		put(umap_buf_printf(out, ",line=%u,col=%u", line, col ? col : 1));
	put(umap_buf_puts(out, "::"));
	put_github_escaped(out, text, 0);
	put(umap_buf_putc(out, '\n'));
}

int cmd_validate(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync validate [--format=text|json|compact|github] [--strict] [--umap] FILE...",
		NULL,
	};
	const char *format = "text";
	int strict = 0, umap = 0, precision = 0, ignore_rhr = 0, allow_dups = 0, no_fast_path = 0;
	const struct option options[] = {
		OPT_CHOICE(0, "format", &format, "FORMAT",
			   "text (FILE:LINE:COL: level: message), json (one array), or compact "
			   "(FILE:LINE:COL level message), or github (Actions annotations)",
			   "text|json|compact|github"),
		OPT_BOOL(0, "strict", &strict, "exit 1 on warnings too"),
		OPT_BOOL(0, "umap", &umap,
			 "uMap checks: ids, layer options (automatic for {\"type\": \"umap\"})"),
		OPT_BOOL(0, "precision-warning", &precision,
			 "warn about coordinates with more than 6 decimals"),
		OPT_BOOL(0, "ignore-rhr", &ignore_rhr, "do not check the polygon winding order"),
		OPT_BOOL(0, "allow-duplicate-members", &allow_dups,
			 "accept objects that repeat a member name"),
		OPT_BOOL_F(0, "no-fast-path", &no_fast_path,
			   "check every feature as a tree (for tests)", PARSE_OPT_HIDDEN),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc < 1)
		usage_with_options_msg(usage, options, "no file given (use - to read stdin)");

	umap_validate_options opts = UMAP_VALIDATE_OPTIONS_INIT;
	opts.umap = umap;
	opts.precision_warning = precision;
	opts.ignore_rhr = ignore_rhr;
	opts.allow_duplicate_members = allow_dups;
	opts.no_fast_path = no_fast_path;

	int as_json = strcmp(format, "json") == 0, compact = strcmp(format, "compact") == 0;
	int github = strcmp(format, "github") == 0;
	int invalid = 0, unreadable = 0, first = 1, hint_umap = 0;
	umap_buf out = UMAP_BUF_INIT;
	if (as_json)
		put(umap_buf_putc(&out, '['));
	for (int i = 0; i < argc; i++) {
		const char *path = argv[i];
		const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
		umap_validation result = UMAP_VALIDATION_INIT;
		int rc = umap_validate_path(&result, path, &opts);
		if (rc == UMAP_ENOMEM)
			die_lib("validating '%s'", name);
		if (rc) {
			error("%s", umap_error_last());
			/* The job log shows stderr, but only an annotation marks the pull request. */
			if (github)
				put_github_annotation(&out, "error", name, 0, 0, umap_error_last());
			unreadable = 1;
			umap_validation_clear(&result);
			continue;
		}
		if (result.errors || (strict && result.warnings))
			invalid = 1;
		for (size_t m = 0; m < result.count; m++) {
			const umap_message *msg = &result.messages[m];
			const char *level = umap_level_name(msg->level);
			if (!umap && strcmp(msg->text, "FeatureCollection object cannot contain a "
							"\"properties\" member") == 0)
				hint_umap = 1;
			if (as_json) {
				put(umap_buf_puts(&out, first ? "\n  {\"file\": " : ",\n  {\"file\": "));
				print_json_string(&out, name);
				put(umap_buf_printf(&out, ", \"line\": %u, \"column\": %u, \"level\": "
							  "\"%s\", \"message\": ",
						    msg->pos.line, msg->pos.col, level));
				print_json_string(&out, msg->text);
				put(umap_buf_putc(&out, '}'));
			} else if (github) {
				put_github_annotation(&out, level, name, msg->pos.line, msg->pos.col,
						      msg->text);
			} else if (compact) {
				put(umap_buf_printf(&out, "%s:%u:%u %s %s\n", name, msg->pos.line,
						    msg->pos.col, level, msg->text));
			} else if (msg->pos.line) {
				put(umap_buf_printf(&out, "%s:%u:%u: %s: %s\n", name, msg->pos.line,
						    msg->pos.col, level, msg->text));
			} else {
				put(umap_buf_printf(&out, "%s: %s: %s\n", name, level, msg->text));
			}
			first = 0;
		}
		umap_validation_clear(&result);
		/* Print per file so that a long run shows progress. */
		if (!as_json && out.len) {
			fwrite(out.ptr, 1, out.len, stdout);
			umap_buf_clear(&out);
		}
	}
	if (as_json)
		put(umap_buf_puts(&out, first ? "]\n" : "\n]\n"));
	if (out.len)
		fwrite(out.ptr, 1, out.len, stdout);
	umap_buf_dispose(&out);
	check_stdout();
	if (hint_umap)
		hint("uMap keeps layer options in \"properties\": use --umap to accept them");
	if (unreadable)
		return EXIT_FATAL;
	return invalid ? EXIT_DIFFERENT : 0;
}
