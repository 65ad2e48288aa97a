/* umapsync config: read and write the settings of config-cmd.h in the repository's git
 * config; names outside that table are refused, so that a typo is not stored silently. */
#include "builtin.h"
#include "config-cmd.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "strutil.h"

static const char *const usage[] = {
	"umapsync config NAME [VALUE]",
	"umapsync config --unset NAME",
	"umapsync config --list",
	NULL,
};

/* Prints the table for the completions: "name\tchoices\thelp". */
static int list_keys(void)
{
	for (const struct setting *s = settings; s->name; s++)
		printf("%s\t%s\t%s\n", s->name, s->choices, s->help);
	return 0;
}

static const struct setting *known_setting(const char *name)
{
	const struct setting *s = find_setting(name);
	if (s)
		return s;
	const struct setting *close = closest_setting(name);
	if (close)
		error("unknown setting '%s'; did you mean '%s'?", name, close->name);
	else
		error("unknown setting '%s'", name);
	if (umap_starts_with(name, "umapsync-remote."))
		hint("remotes are added and removed with 'umapsync remote'");
	else
		hint("'umapsync help config' describes the settings");
	exit(EXIT_USAGE);
}

static void check_remote_exists(git_config *cfg, const char *name)
{
	umap_buf var = UMAP_BUF_INIT;
	git_buf url = GIT_BUF_INIT;
	umap_buf_printf(&var, "umapsync-remote.%s.url", name);
	int found = git_config_get_string_buf(&url, cfg, var.ptr) == 0;
	git_buf_dispose(&url);
	umap_buf_dispose(&var);
	if (!found) {
		fflush(stdout);
		fprintf(stderr, "fatal: no remote named '%s'\n", name);
		hint("add one with 'umapsync remote add %s http://HOST:PORT/MAP' first", name);
		exit(EXIT_FATAL);
	}
}

static git_config *open_local(git_config *cfg)
{
	git_config *local = NULL;
	if (git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL) < 0)
		die("cannot open the repository's configuration: %s", git_error_last()->message);
	return local;
}

int cmd_config(int argc, const char **argv)
{
	int list = 0, unset = 0, keys = 0;
	const struct option options[] = {
		OPT_BOOL('l', "list", &list, "print every setting as name=value"),
		OPT_BOOL(0, "unset", &unset, "remove the setting NAME from the repository"),
		OPT_BOOL_F(0, "list-keys", &keys, "print the settings umapsync knows (for completions)",
			   PARSE_OPT_HIDDEN),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (keys)
		return list_keys();
	if (list + unset > 1)
		usage_with_options_msg(usage, options, "--list and --unset do not go together");
	if (list && argc != 0)
		usage_with_options_msg(usage, options, "--list takes no arguments");
	if (unset && argc != 1)
		usage_with_options_msg(usage, options, "--unset takes one NAME");
	if (!list && (argc < 1 || argc > 2))
		usage_with_options_msg(usage, options, "config needs a NAME, and a VALUE to set it");
	const struct setting *s = list ? NULL : known_setting(argv[0]);
	char *value = NULL;
	if (argc == 2 && setting_value_check(&value, s, argv[1])) {
		if (s->kind == SETTING_REMOTE)
			error("invalid remote name '%s': use A-Z a-z 0-9 _ -", argv[1]);
		else
			error("invalid value '%s' for %s (expected %s)", argv[1], s->name, s->choices);
		return EXIT_USAGE;
	}
	umap_repo *repo = open_repo();
	git_config *cfg = NULL, *local = NULL;
	if (git_repository_config(&cfg, umap_repo_git(repo)) < 0)
		die("cannot read the configuration: %s", git_error_last()->message);
	int status = 0;
	if (list) {
		git_config_iterator *it = NULL;
		git_config_entry *entry;
		if (git_config_iterator_new(&it, cfg) < 0)
			die("cannot read the configuration: %s", git_error_last()->message);
		while (git_config_next(&entry, it) == 0)
			printf("%s=%s\n", entry->name, entry->value ? entry->value : "");
		git_config_iterator_free(it);
	} else if (unset) {
		local = open_local(cfg);
		int err = git_config_delete_entry(local, s->name);
		if (err == GIT_ENOTFOUND)
			status = EXIT_DIFFERENT; /* as get: quietly, the setting was not there */
		else if (err < 0)
			die("cannot remove '%s': %s", s->name, git_error_last()->message);
	} else if (argc == 1) {
		git_buf got = GIT_BUF_INIT;
		int err = git_config_get_string_buf(&got, cfg, s->name);
		if (err == GIT_ENOTFOUND)
			status = EXIT_DIFFERENT;
		else if (err < 0)
			die("cannot read '%s': %s", s->name, git_error_last()->message);
		else
			printf("%s\n", got.ptr);
		git_buf_dispose(&got);
	} else {
		if (s->kind == SETTING_REMOTE)
			check_remote_exists(cfg, value);
		local = open_local(cfg);
		if (git_config_set_string(local, s->name, value) < 0)
			die("cannot set '%s': %s", s->name, git_error_last()->message);
	}
	free(value);
	git_config_free(local);
	git_config_free(cfg);
	umap_repo_free(repo);
	return status;
}
