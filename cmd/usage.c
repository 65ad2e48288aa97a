/* How umapsync reports to the user: fatal:/error:/warning:/hint: on stderr, exit codes,
 * colour decisions, and detection of write errors on stdout. */
#include "builtin.h"

#include <errno.h>
#include <git2.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "strutil.h"

/* Writes a formatted message to stderr with control characters made visible (a message
 * may carry names and text from a server or a file: they must not drive the terminal);
 * line breaks and tabs stay: messages of several lines are ours. */
static void put_printable(const char *text, size_t len)
{
	umap_buf shown = UMAP_BUF_INIT;
	if (umap_buf_put_printable(&shown, text, len, UMAP_PRINTABLE_KEEP_LINES))
		fputs("(out of memory)", stderr);
	else if (shown.len)
		fwrite(shown.ptr, 1, shown.len, stderr);
	umap_buf_dispose(&shown);
}

static void put_message(const char *fmt, va_list ap)
{
	umap_buf raw = UMAP_BUF_INIT;
	if (umap_buf_vprintf(&raw, fmt, ap))
		fputs("(out of memory)", stderr);
	else if (raw.len)
		put_printable(raw.ptr, raw.len);
	umap_buf_dispose(&raw);
}

static void report(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	fflush(stdout);
	fputs(prefix, stderr);
	put_message(fmt, ap);
	if (suffix)
		fprintf(stderr, ": %s", suffix);
	fputc('\n', stderr);
}

_Noreturn void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("fatal: ", fmt, ap, NULL);
	va_end(ap);
	exit(EXIT_FATAL);
}

_Noreturn void die_errno(const char *fmt, ...)
{
	const char *reason = strerror(errno);
	va_list ap;
	va_start(ap, fmt);
	report("fatal: ", fmt, ap, reason);
	va_end(ap);
	exit(EXIT_FATAL);
}

_Noreturn void die_lib(const char *fmt, ...)
{
	fflush(stdout);
	fputs("fatal: ", stderr);
	if (fmt && *fmt) {
		va_list ap;
		va_start(ap, fmt);
		put_message(fmt, ap);
		va_end(ap);
		fputs(": ", stderr);
	}
	put_printable(umap_error_last(), strlen(umap_error_last()));
	fputc('\n', stderr);
	exit(EXIT_FATAL);
}

int error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("error: ", fmt, ap, NULL);
	va_end(ap);
	return -1;
}

void warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("warning: ", fmt, ap, NULL);
	va_end(ap);
}

void hint(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("hint: ", fmt, ap, NULL);
	va_end(ap);
}

_Noreturn void usage_with_options_msg(const char *const *usagestr, const struct option *opts,
				      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("error: ", fmt, ap, NULL);
	va_end(ap);
	fputc('\n', stderr);
	print_usage(stderr, usagestr, opts);
	exit(EXIT_USAGE);
}

_Noreturn void die_not_implemented(const char *name)
{
	die("'%s' is not implemented yet", name);
}

void check_stdout(void)
{
	/* A closed or full stdout must not look like success to a script. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			exit(EXIT_FATAL);
		die_errno("cannot write to standard output");
	}
}

int parse_color_mode(const char *arg)
{
	if (!strcmp(arg, "auto"))
		return COLOR_AUTO;
	if (!strcmp(arg, "always") || !strcmp(arg, "true"))
		return COLOR_ALWAYS;
	if (!strcmp(arg, "never") || !strcmp(arg, "false"))
		return COLOR_NEVER;
	return -1;
}

/* Whether the git config file at `path` may set color.ui: it mentions "color" or includes
 * another file (any case, even in a comment: a cheap, safe over-approximation). A file
 * that cannot be read is for libgit2 to judge. */
static int may_set_color(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return errno != ENOENT && errno != ENOTDIR;
	char line[4096];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strcasestr(line, "color") || strcasestr(line, "include") ||
			(!strchr(line, '\n') && !feof(f)); /* a line too long to look at */
	fclose(f);
	return found;
}

/* Whether any config file that libgit2 reads for color.ui could set it. libgit2 is loaded
 * on first use (scripts/lazy-stubs.sh): asking it loads it and the libraries it brings,
 * 4 MB and 8 M instructions, a third of the memory of a 100k-feature diff, so a run
 * without any such setting does not ask. */
static int color_may_be_configured(const char *repo_config)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char path[PATH_MAX + 32];
	if (!home || !*home)
		return 1;
	for (char **e = environ; *e; e++)
		if (!strncmp(*e, "GIT_CONFIG", 10))
			return 1;
	if ((repo_config && may_set_color(repo_config)) || may_set_color("/etc/gitconfig"))
		return 1;
	snprintf(path, sizeof(path), "%s/.gitconfig", home);
	if (may_set_color(path))
		return 1;
	if (xdg && *xdg)
		snprintf(path, sizeof(path), "%s/git/config", xdg);
	else
		snprintf(path, sizeof(path), "%s/.config/git/config", home);
	return may_set_color(path);
}

/* color.ui from the config of the repository around the current directory, else from the
 * user's git config (~/.gitconfig): COLOR_ALWAYS, COLOR_NEVER, COLOR_AUTO, or -1 when unset. */
static int configured_color_mode(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	if (!getcwd(dir, sizeof(dir)))
		return -1;
	int found = 0;
	for (;;) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/.umapsync/config", dir);
		if (stat(path, &st) == 0) {
			found = 1;
			break;
		}
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
	if (!color_may_be_configured(found ? path : NULL))
		return -1;
	git_libgit2_init();
	git_config *cfg = NULL;
	int mode = -1;
	if (git_config_open_default(&cfg) < 0 && git_config_new(&cfg) < 0)
		goto out;
	/* an unreadable repository config is for the command itself to report */
	if (found)
		git_config_add_file_ondisk(cfg, path, GIT_CONFIG_LEVEL_LOCAL, NULL, 0);
	git_buf value = { 0 };
	if (git_config_get_string_buf(&value, cfg, "color.ui") == 0) {
		mode = parse_color_mode(value.ptr);
		if (mode < 0)
			warning("ignoring color.ui = '%s': use auto, always or never", value.ptr);
	}
	git_buf_dispose(&value);
out:
	git_config_free(cfg);
	git_libgit2_shutdown();
	return mode;
}

int want_color(FILE *stream, enum color_mode mode)
{
	if (mode == COLOR_AUTO) {
		/* An explicit setting beats NO_COLOR, as no-color.org asks. */
		int configured = configured_color_mode();
		if (configured == COLOR_ALWAYS || configured == COLOR_NEVER)
			mode = configured;
	}
	if (mode == COLOR_ALWAYS)
		return 1;
	if (mode == COLOR_NEVER)
		return 0;
	const char *no_color = getenv("NO_COLOR");
	if (no_color && *no_color)
		return 0;
	const char *term = getenv("TERM");
	if (term && !strcmp(term, "dumb"))
		return 0;
	if (stream == stdout && pager_in_use())
		return 1; /* the pager shows the terminal's colours */
	return isatty(fileno(stream));
}
