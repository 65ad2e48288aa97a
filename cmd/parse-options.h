/* The one option parser every command uses: short and long options, --opt=value,
 * bundled short flags, "--", -h, and a hidden --list-options for completions. */
#ifndef UMAPSYNC_PARSE_OPTIONS_H
#define UMAPSYNC_PARSE_OPTIONS_H

#include <stdio.h>

enum option_type {
	OPTION_END,
	OPTION_GROUP,       /* a heading in -h output */
	OPTION_BOOL,        /* int *: set to 1, or 0 with --no-NAME */
	OPTION_COUNT,       /* int *: incremented */
	OPTION_SET_INT,     /* int *: set to `defval` */
	OPTION_STRING,      /* const char **: takes an argument */
	OPTION_INT,         /* int *: takes an integer argument */
	OPTION_STRING_LIST, /* struct string_list *: each use appends */
	OPTION_CALLBACK,    /* calls cb(opt, arg, unset) */
};

#define PARSE_OPT_NONEG 1    /* no --no-NAME form */
#define PARSE_OPT_OPTARG 2   /* argument is optional (only as --name=value) */
#define PARSE_OPT_HIDDEN 4   /* left out of -h */
#define PARSE_OPT_FILE 8     /* argument is a map file: completions offer .geojson/.json/.umap */

struct string_list {
	const char **items;
	int nr, alloc;
};
#define STRING_LIST_INIT { 0 }
void string_list_append(struct string_list *list, const char *item);
void string_list_clear(struct string_list *list);

struct option;
typedef int (*option_cb)(const struct option *opt, const char *arg, int unset);

struct option {
	enum option_type type;
	int short_name;
	const char *long_name;
	void *value;
	const char *argh;    /* argument placeholder in help: "FILE", "N" */
	const char *help;
	const char *choices; /* "text|json|compact": checked, shown in help, used by completions */
	int flags;
	option_cb callback;
	long defval;
};

#define OPT_END() { OPTION_END, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0 }
#define OPT_GROUP(h) { OPTION_GROUP, 0, NULL, NULL, NULL, (h), NULL, 0, NULL, 0 }
#define OPT_BOOL(s, l, v, h) { OPTION_BOOL, (s), (l), (v), NULL, (h), NULL, 0, NULL, 0 }
#define OPT_BOOL_F(s, l, v, h, f) { OPTION_BOOL, (s), (l), (v), NULL, (h), NULL, (f), NULL, 0 }
#define OPT_COUNT(s, l, v, h) { OPTION_COUNT, (s), (l), (v), NULL, (h), NULL, PARSE_OPT_NONEG, NULL, 0 }
#define OPT_SET_INT(s, l, v, h, i) { OPTION_SET_INT, (s), (l), (v), NULL, (h), NULL, PARSE_OPT_NONEG, NULL, (i) }
#define OPT_STRING(s, l, v, a, h) { OPTION_STRING, (s), (l), (v), (a), (h), NULL, 0, NULL, 0 }
#define OPT_STRING_F(s, l, v, a, h, f) { OPTION_STRING, (s), (l), (v), (a), (h), NULL, (f), NULL, 0 }
#define OPT_FILE(s, l, v, a, h) { OPTION_STRING, (s), (l), (v), (a), (h), NULL, PARSE_OPT_FILE, NULL, 0 }
#define OPT_CHOICE(s, l, v, a, h, c) { OPTION_STRING, (s), (l), (v), (a), (h), (c), 0, NULL, 0 }
#define OPT_INT(s, l, v, a, h) { OPTION_INT, (s), (l), (v), (a), (h), NULL, 0, NULL, 0 }
#define OPT_STRING_LIST(s, l, v, a, h) { OPTION_STRING_LIST, (s), (l), (v), (a), (h), NULL, 0, NULL, 0 }
#define OPT_CALLBACK(s, l, v, a, h, cb) { OPTION_CALLBACK, (s), (l), (v), (a), (h), NULL, 0, (cb), 0 }
/* --color[=WHEN] and --no-color: store an enum color_mode in an int. */
int color_option_cb(const struct option *opt, const char *arg, int unset);
#define OPT_COLOR(v) { OPTION_CALLBACK, 0, "color", (v), "WHEN", "colour the output: auto, always or never", \
		       "auto|always|never", PARSE_OPT_OPTARG, color_option_cb, 0 }

/* Parses argv[1..] (argv[0] is the command name) against `opts`. Options and arguments
 * may be mixed; everything after "--" is an argument. On return, argv[0..result) holds the
 * arguments. -h prints usage to stdout and exits 0; a bad option prints a message with a
 * suggestion and exits 129. */
int parse_options(int argc, const char **argv, const struct option *opts,
		  const char *const *usagestr);

/* Whether `arg` is one of "a|b|c". */
int option_choice_ok(const char *choices, const char *arg);

/* Prints "usage: ..." and the option list to `stream`. */
void print_usage(FILE *stream, const char *const *usagestr, const struct option *opts);
_Noreturn void usage_with_options(const char *const *usagestr, const struct option *opts);

#endif
