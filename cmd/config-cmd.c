/* The table of settings umapsync knows, their checks, and reading one from the repository's
 * git config: `config` and the commands that take a preference from it share these. */
#include "builtin.h"
#include "config-cmd.h"

#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strutil.h"
#include "sync_op.h"

const struct setting settings[] = {
	{ "user.name", SETTING_TEXT, "", "the author and committer of commits" },
	{ "user.email", SETTING_TEXT, "", "the author's and committer's email" },
	{ "color.ui", SETTING_COLOR, "auto|always|never", "colour: on a terminal only, always, or never" },
	{ SETTING_DEFAULT_REMOTE, SETTING_REMOTE, "", "the remote of push and pull when none is named" },
	{ "pull.strategy", SETTING_CHOICE, "rebase|lww", "pull's --strategy when none is given" },
	{ "merge.ff", SETTING_FF, "true|false|only",
	  "merge: fast-forward where possible, always make a merge commit, or only fast-forward" },
	{ NULL, SETTING_TEXT, NULL, NULL },
};

const struct setting *find_setting(const char *name)
{
	for (const struct setting *s = settings; s->name; s++)
		if (!strcasecmp(s->name, name))
			return s;
	return NULL;
}

const struct setting *closest_setting(const char *name)
{
	const struct setting *best = NULL;
	size_t best_dist = 3;
	const char *dot = strchr(name, '.');
	for (const struct setting *s = settings; s->name; s++) {
		size_t d = umap_edit_distance(name, s->name, 2);
		/* the right key in a wrong section ("merge.strategy" for pull.strategy) */
		const char *key = strchr(s->name, '.');
		if (d > 2 && dot && key && !strcasecmp(dot, key))
			d = 2;
		if (d < best_dist) {
			best = s;
			best_dist = d;
		}
	}
	return best;
}

/* git's booleans; not git_config_parse_bool, which needs libgit2 set up to report. */
static int parse_bool(const char *value)
{
	static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(value, yes[i]))
			return 1;
		if (!strcasecmp(value, no[i]))
			return 0;
	}
	return -1;
}

int setting_value_check(char **out, const struct setting *s, const char *value)
{
	const char *canonical = value;
	int flag;
	*out = NULL;
	switch (s->kind) {
	case SETTING_TEXT:
		break;
	case SETTING_CHOICE:
		if (!option_choice_ok(s->choices, value))
			return -1;
		break;
	case SETTING_FF:
		if (!strcmp(value, "only"))
			break;
		if ((flag = parse_bool(value)) < 0)
			return -1;
		canonical = flag ? "true" : "false";
		break;
	case SETTING_COLOR:
		if (parse_color_mode(value) < 0)
			return -1;
		break;
	case SETTING_REMOTE:
		if (!umap_sync_valid_name(value, UMAP_SYNC_NAME_MAX))
			return -1;
		break;
	}
	if (!(*out = strdup(canonical)))
		die("out of memory");
	return 0;
}

char *setting_get(umap_repo *repo, const char *name)
{
	const struct setting *s = find_setting(name);
	git_config *cfg = NULL;
	git_buf value = GIT_BUF_INIT;
	char *out = NULL;
	if (git_repository_config(&cfg, umap_repo_git(repo)) < 0)
		die("cannot read the repository's config: %s", git_error_last() ? git_error_last()->message : "?");
	if (git_config_get_string_buf(&value, cfg, name) == 0 && s && setting_value_check(&out, s, value.ptr)) {
		fflush(stdout);
		fprintf(stderr, "fatal: bad value '%s' for %s in the config\n", value.ptr, name);
		hint("set it with 'umapsync config %s %s', or remove it with 'umapsync config --unset %s'", name,
		     *s->choices ? s->choices : "NAME", name);
		exit(EXIT_FATAL);
	}
	git_buf_dispose(&value);
	git_config_free(cfg);
	return out;
}
