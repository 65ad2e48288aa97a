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

#include "error.h"

static void report(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	fflush(stdout);
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
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
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputs(": ", stderr);
	}
	fprintf(stderr, "%s\n", umap_error_last());
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

/* color.ui from the config of the repository around the current directory, else from the
 * user's git config (~/.gitconfig): COLOR_ALWAYS, COLOR_NEVER, COLOR_AUTO, or -1 when unset. */
static int configured_color_mode(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	if (!getcwd(dir, sizeof(dir)))
		return -1;
	git_libgit2_init();
	git_config *cfg = NULL;
	int mode = -1;
	if (git_config_open_default(&cfg) < 0 && git_config_new(&cfg) < 0)
		goto out;
	for (;;) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/.umapsync/config", dir);
		if (stat(path, &st) == 0) {
			/* an unreadable repository config is for the command itself to report */
			git_config_add_file_ondisk(cfg, path, GIT_CONFIG_LEVEL_LOCAL, NULL, 0);
			break;
		}
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
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
