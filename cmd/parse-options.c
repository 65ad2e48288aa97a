/* The one option parser of umapsync, modelled on git's parse-options:
 * every command declares a table, and -h, errors and completions all come from it. */
#include "builtin.h"
#include "parse-options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

void string_list_append(struct string_list *list, const char *item)
{
	if (list->nr == list->alloc) {
		int alloc = list->alloc ? list->alloc * 2 : 8;
		const char **items = realloc(list->items, (size_t)alloc * sizeof(*items));
		if (!items)
			die("out of memory");
		list->items = items;
		list->alloc = alloc;
	}
	list->items[list->nr++] = item;
}

void string_list_clear(struct string_list *list)
{
	free(list->items);
	list->items = NULL;
	list->nr = list->alloc = 0;
}

int color_option_cb(const struct option *opt, const char *arg, int unset)
{
	int *mode = opt->value;
	if (unset) {
		*mode = COLOR_NEVER;
		return 0;
	}
	if (!arg) {
		*mode = COLOR_ALWAYS;
		return 0;
	}
	int parsed = parse_color_mode(arg);
	if (parsed < 0)
		return -1;
	*mode = parsed;
	return 0;
}

static int takes_argument(const struct option *opt)
{
	switch (opt->type) {
	case OPTION_STRING:
	case OPTION_INT:
	case OPTION_STRING_LIST:
		return 1;
	case OPTION_CALLBACK:
		return opt->argh != NULL;
	default:
		return 0;
	}
}

static void option_name(char *out, size_t size, const struct option *opt, int as_short)
{
	if (as_short || !opt->long_name)
		snprintf(out, size, "-%c", opt->short_name);
	else
		snprintf(out, size, "--%s", opt->long_name);
}

int option_choice_ok(const char *choices, const char *arg)
{
	size_t len = strlen(arg);
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == len && !strncmp(p, arg, n))
			return 1;
		if (!bar)
			break;
		p = bar + 1;
	}
	return 0;
}

static void apply_option(const struct option *opt, const char *arg, int unset, int as_short,
			 const struct option *opts, const char *const *usagestr)
{
	char name[128];
	option_name(name, sizeof(name), opt, as_short);
	if (opt->choices && arg && !option_choice_ok(opt->choices, arg))
		usage_with_options_msg(usagestr, opts, "invalid value '%s' for %s (expected %s)",
				       arg, name, opt->choices);
	switch (opt->type) {
	case OPTION_BOOL:
		*(int *)opt->value = !unset;
		break;
	case OPTION_COUNT:
		(*(int *)opt->value)++;
		break;
	case OPTION_SET_INT:
		*(int *)opt->value = unset ? 0 : (int)opt->defval;
		break;
	case OPTION_STRING:
		*(const char **)opt->value = unset ? NULL : arg;
		break;
	case OPTION_INT: {
		if (unset) {
			*(int *)opt->value = 0;
			break;
		}
		char *end;
		errno = 0;
		long v = strtol(arg, &end, 10);
		if (errno || end == arg || *end || v < INT_MIN || v > INT_MAX)
			usage_with_options_msg(usagestr, opts, "%s expects a whole number, not '%s'",
					       name, arg);
		*(int *)opt->value = (int)v;
		break;
	}
	case OPTION_STRING_LIST:
		if (unset)
			string_list_clear(opt->value);
		else
			string_list_append(opt->value, arg);
		break;
	case OPTION_CALLBACK:
		if (opt->callback(opt, arg, unset) < 0)
			usage_with_options_msg(usagestr, opts, "invalid value '%s' for %s", arg ? arg : "",
					       name);
		break;
	default:
		break;
	}
}

/* Prints every option, one per line, for the completion scripts:
 * "--long=\tchoices\tflags" style lines that a shell can split on tabs. */
static void list_options(const struct option *opts)
{
	for (const struct option *o = opts; o->type != OPTION_END; o++) {
		if (o->type == OPTION_GROUP || (o->flags & PARSE_OPT_HIDDEN))
			continue;
		const char *kind = (o->flags & PARSE_OPT_FILE) ? "file" : takes_argument(o) ? "arg" : "flag";
		if (o->long_name)
			printf("--%s%s\t%s\t%s\t%s\n", o->long_name,
			       takes_argument(o) && !(o->flags & PARSE_OPT_OPTARG) ? "=" : "", kind,
			       o->choices ? o->choices : "", o->help ? o->help : "");
		if (o->short_name)
			printf("-%c\t%s\t%s\t%s\n", o->short_name, kind, o->choices ? o->choices : "",
			       o->help ? o->help : "");
	}
	check_stdout();
	exit(0);
}

static const struct option *closest_long(const struct option *opts, const char *name)
{
	const struct option *best = NULL;
	size_t best_dist = 3;
	for (const struct option *o = opts; o->type != OPTION_END; o++) {
		if (!o->long_name)
			continue;
		size_t d = umap_edit_distance(name, o->long_name, 2);
		if (d < best_dist || (umap_starts_with(o->long_name, name) && strlen(name) >= 2 && !best)) {
			best = o;
			best_dist = d < best_dist ? d : best_dist;
		}
	}
	return best;
}

static int parse_long(const char *arg, int argc, const char **argv, int *i,
		      const struct option *opts, const char *const *usagestr)
{
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
	int unset = 0;
	const struct option *match = NULL;
	for (int pass = 0; pass < 2 && !match; pass++) {
		const char *n = name;
		size_t nl = name_len;
		if (pass == 1) {
			if (nl <= 3 || strncmp(n, "no-", 3))
				break;
			n += 3;
			nl -= 3;
			unset = 1;
		}
		for (const struct option *o = opts; o->type != OPTION_END; o++)
			if (o->long_name && strlen(o->long_name) == nl && !strncmp(o->long_name, n, nl))
				match = o;
		if (match && unset && (match->flags & PARSE_OPT_NONEG))
			usage_with_options_msg(usagestr, opts, "option '--%s' cannot be negated",
					       match->long_name);
	}
	if (!match) {
		char bad[256];
		snprintf(bad, sizeof(bad), "%.*s", (int)name_len, name);
		const struct option *hint_opt = closest_long(opts, bad);
		if (hint_opt)
			usage_with_options_msg(usagestr, opts,
					       "unknown option '--%s'; did you mean '--%s'?", bad,
					       hint_opt->long_name);
		usage_with_options_msg(usagestr, opts, "unknown option '--%s'", bad);
	}
	const char *value = NULL;
	if (eq) {
		if (!takes_argument(match) || unset)
			usage_with_options_msg(usagestr, opts, "option '--%s' takes no value",
					       match->long_name);
		value = eq + 1;
	} else if (takes_argument(match) && !unset && !(match->flags & PARSE_OPT_OPTARG)) {
		if (*i + 1 >= argc)
			usage_with_options_msg(usagestr, opts, "option '--%s' requires a value",
					       match->long_name);
		value = argv[++*i];
	}
	apply_option(match, value, unset, 0, opts, usagestr);
	return 0;
}

static void parse_short(const char *arg, int argc, const char **argv, int *i,
			const struct option *opts, const char *const *usagestr)
{
	for (const char *p = arg + 1; *p; p++) {
		const struct option *match = NULL;
		for (const struct option *o = opts; o->type != OPTION_END; o++)
			if (o->short_name == *p)
				match = o;
		if (!match)
			usage_with_options_msg(usagestr, opts, "unknown switch '%c'", *p);
		if (takes_argument(match) && !(match->flags & PARSE_OPT_OPTARG)) {
			const char *value = p[1] ? p + 1 : NULL;
			if (!value) {
				if (*i + 1 >= argc)
					usage_with_options_msg(usagestr, opts,
							       "switch '%c' requires a value", *p);
				value = argv[++*i];
			}
			apply_option(match, value, 0, 1, opts, usagestr);
			return;
		}
		apply_option(match, NULL, 0, 1, opts, usagestr);
	}
}

int parse_options(int argc, const char **argv, const struct option *opts,
		  const char *const *usagestr)
{
	int out = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "--")) {
			while (++i < argc)
				argv[out++] = argv[i];
			break;
		}
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			print_usage(stdout, usagestr, opts);
			check_stdout();
			exit(0);
		}
		if (!strcmp(arg, "--list-options"))
			list_options(opts);
		if (arg[0] == '-' && arg[1] == '-')
			parse_long(arg, argc, argv, &i, opts, usagestr);
		else if (arg[0] == '-' && arg[1])
			parse_short(arg, argc, argv, &i, opts, usagestr);
		else
			argv[out++] = arg;
	}
	argv[out] = NULL;
	return out;
}

/* Whether a help text already names each value of "a|b|c", as "colour the output: auto,
 * always or never" does; -h shows the values of those that do not ("output format"). */
static int names_every_choice(const char *help, const char *choices)
{
	char value[64];
	for (const char *p = choices; *p;) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n >= sizeof(value))
			return 0;
		memcpy(value, p, n);
		value[n] = '\0';
		if (!strstr(help, value))
			return 0;
		if (!bar)
			break;
		p = bar + 1;
	}
	return 1;
}

void print_usage(FILE *stream, const char *const *usagestr, const struct option *opts)
{
	for (int i = 0; usagestr && usagestr[i]; i++)
		fprintf(stream, "%s%s\n", i ? "   or: " : "usage: ", usagestr[i]);
	if (!opts || opts->type == OPTION_END)
		return;
	fputc('\n', stream);
	for (const struct option *o = opts; o->type != OPTION_END; o++) {
		if (o->flags & PARSE_OPT_HIDDEN)
			continue;
		if (o->type == OPTION_GROUP) {
			fprintf(stream, "\n%s\n", o->help);
			continue;
		}
		char left[128];
		int n = 0;
		if (o->short_name && o->long_name)
			n = snprintf(left, sizeof(left), "    -%c, --%s", o->short_name, o->long_name);
		else if (o->short_name)
			n = snprintf(left, sizeof(left), "    -%c", o->short_name);
		else
			n = snprintf(left, sizeof(left), "    --%s", o->long_name);
		if (takes_argument(o) && n > 0 && (size_t)n < sizeof(left)) {
			const char *argh = o->argh ? o->argh : "VALUE";
			if (o->flags & PARSE_OPT_OPTARG)
				snprintf(left + n, sizeof(left) - (size_t)n, "[=%s]", argh);
			else if (o->long_name)
				snprintf(left + n, sizeof(left) - (size_t)n, "=%s", argh);
			else
				snprintf(left + n, sizeof(left) - (size_t)n, " %s", argh);
		}
		const char *help = o->help ? o->help : "";
		if (strlen(left) > 28)
			fprintf(stream, "%s\n%30s%s", left, "", help);
		else
			fprintf(stream, "%-30s%s", left, help);
		if (o->choices && !names_every_choice(help, o->choices))
			fprintf(stream, " (%s)", o->choices);
		fputc('\n', stream);
	}
}

_Noreturn void usage_with_options(const char *const *usagestr, const struct option *opts)
{
	print_usage(stderr, usagestr, opts);
	exit(EXIT_USAGE);
}
