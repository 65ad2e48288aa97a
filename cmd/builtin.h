/* The command table's types and the helpers every cmd_<verb>.c uses.
 * Only cmd/ prints usage, prints to stdout, and exits; lib/ returns error codes. */
#ifndef UMAPSYNC_BUILTIN_H
#define UMAPSYNC_BUILTIN_H

#include <stdio.h>

#include "parse-options.h"

/* Exit codes (SPEC §3). */
#define EXIT_DIFFERENT 1 /* differences, conflicts or invalid input, where a command says so */
#define EXIT_FATAL 128
#define EXIT_USAGE 129

struct command {
	const char *name;
	int (*fn)(int argc, const char **argv);
	const char *group;   /* one of the group ids in umapsync.c's help listing */
	const char *summary; /* one line for `umapsync --help` */
};

/* Every command, in help order; ends with a NULL name. */
extern const struct command commands[];
const struct command *find_command(const char *name);

/* die(): "fatal: ..." on stderr, exit 128. die_lib() reports libumapsync's last error. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_lib(const char *context_fmt, ...) __attribute__((format(printf, 1, 2)));
/* "error: ..." and "warning: ..." and "hint: ..." on stderr; error() returns -1. */
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message, then the command's usage, exit 129. */
_Noreturn void usage_with_options_msg(const char *const *usagestr, const struct option *opts,
				      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* For commands that are specified but not built yet. */
_Noreturn void die_not_implemented(const char *name);

/* Checks stdout for write errors (ENOSPC, EPIPE...) and dies with a message if any. */
void check_stdout(void);

/* Pager: setup_pager() sends stdout through UMAPSYNC_PAGER/PAGER/less when stdout is a
 * terminal and --no-pager was not given. Call it before printing long output. */
extern int pager_disabled;
void setup_pager(void);
int pager_in_use(void);

/* Colour: resolved once from --color, NO_COLOR and isatty. */
enum color_mode { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };
int want_color(FILE *stream, enum color_mode mode);
/* Parses "auto|always|never" (also true/false); returns -1 when unknown. */
int parse_color_mode(const char *arg);

#define DECLARE_COMMAND(verb) int cmd_##verb(int argc, const char **argv)
DECLARE_COMMAND(validate);
DECLARE_COMMAND(diff);
DECLARE_COMMAND(apply);
DECLARE_COMMAND(merge_file);
DECLARE_COMMAND(init);
DECLARE_COMMAND(import);
DECLARE_COMMAND(status);
DECLARE_COMMAND(commit);
DECLARE_COMMAND(log);
DECLARE_COMMAND(show);
DECLARE_COMMAND(checkout);
DECLARE_COMMAND(rm);
DECLARE_COMMAND(mv);
DECLARE_COMMAND(export);
DECLARE_COMMAND(branch);
DECLARE_COMMAND(tag);
DECLARE_COMMAND(merge);
DECLARE_COMMAND(conflicts);
DECLARE_COMMAND(resolve);
DECLARE_COMMAND(rebase);
DECLARE_COMMAND(remote);
DECLARE_COMMAND(clone);
DECLARE_COMMAND(push);
DECLARE_COMMAND(pull);
DECLARE_COMMAND(serve);
DECLARE_COMMAND(token);
DECLARE_COMMAND(config);
DECLARE_COMMAND(git_setup);
DECLARE_COMMAND(git_merge_driver);
DECLARE_COMMAND(git_diff_driver);
DECLARE_COMMAND(git_textconv);
DECLARE_COMMAND(help);
DECLARE_COMMAND(restore);
DECLARE_COMMAND(reset);
DECLARE_COMMAND(revert);
DECLARE_COMMAND(cherry_pick);
DECLARE_COMMAND(reflog);
DECLARE_COMMAND(switch);
DECLARE_COMMAND(blame);
DECLARE_COMMAND(stash);

#endif
