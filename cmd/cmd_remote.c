/* umapsync remote: the sync servers this repository talks to, kept in its config
 * (section umapsync-remote, apart from git's own remotes). */
#include "builtin.h"
#include "config-cmd.h"
#include "repo-cmd.h"
#include "sync-cmd.h"
#include "umap-remote-cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "strutil.h"
#include "sync_op.h"
#include "umap_remote.h"

static const char *const remote_usage[] = {
	"umapsync remote [-v | --verbose]",
	"umapsync remote add NAME URL [--token-file FILE | --cookie-file FILE]",
	"umapsync remote remove NAME",
	"umapsync remote set-url NAME URL",
	"umapsync remote rename OLD NEW",
	"umapsync remote set-cookie-file NAME FILE",
	NULL,
};

/* The url of remote NAME, or death naming the remotes there are. */
static void require_remote(git_config *cfg, const char *name)
{
	git_buf value = GIT_BUF_INIT;
	umap_buf var = UMAP_BUF_INIT;
	umap_buf_printf(&var, "umapsync-remote.%s.url", name);
	int found = git_config_get_string_buf(&value, cfg, var.ptr) == 0;
	git_buf_dispose(&value);
	umap_buf_dispose(&var);
	if (!found) {
		fflush(stdout);
		fprintf(stderr, "fatal: no remote named '%s'\n", name);
		hint("'umapsync remote' lists them");
		exit(EXIT_FATAL);
	}
}

static void remote_set_url(umap_repo *repo, const char *name, const char *url_text)
{
	umap_sync_url url;
	if (umap_sync_url_parse(&url, url_text))
		die_lib(NULL);
	umap_sync_url_dispose(&url);
	git_config *cfg = NULL;
	if (git_repository_config(&cfg, umap_repo_git(repo)) < 0)
		die("cannot read the repository's config");
	require_remote(cfg, name);
	umap_buf var = UMAP_BUF_INIT;
	umap_buf_printf(&var, "umapsync-remote.%s.url", name);
	if (git_config_set_string(cfg, var.ptr, url_text) < 0)
		die("cannot write the repository's config: %s", git_error_last()->message);
	umap_buf_dispose(&var);
	git_config_free(cfg);
}

/* Renames the config section, the default remote and the sync state files
 * (.umapsync/sync/NAME*.json) that pull and push keep per remote. */
static void remote_rename(umap_repo *repo, const char *old_name, const char *new_name)
{
	if (!umap_sync_valid_name(new_name, UMAP_SYNC_NAME_MAX))
		die("invalid remote name '%s': use A-Z a-z 0-9 _ -", new_name);
	git_config *cfg = NULL;
	if (git_repository_config(&cfg, umap_repo_git(repo)) < 0)
		die("cannot read the repository's config");
	require_remote(cfg, old_name);
	git_buf value = GIT_BUF_INIT;
	umap_buf var = UMAP_BUF_INIT, from = UMAP_BUF_INIT, to = UMAP_BUF_INIT;
	umap_buf_printf(&var, "umapsync-remote.%s.url", new_name);
	if (git_config_get_string_buf(&value, cfg, var.ptr) == 0)
		die("remote '%s' already exists (%s)", new_name, value.ptr);
	git_buf_dispose(&value);
	umap_buf_clear(&var);
	umap_buf_printf(&var, "umapsync-remote.%s.", old_name);
	git_config_iterator *it = NULL;
	git_config_entry *entry;
	json_t *entries = json_object();
	if (!entries || git_config_iterator_new(&it, cfg) < 0)
		die("cannot read the repository's config");
	while (git_config_next(&entry, it) == 0)
		if (!strncmp(entry->name, var.ptr, var.len) &&
		    json_object_set_new(entries, entry->name + var.len, json_string(entry->value)))
			die("out of memory");
	git_config_iterator_free(it);
	const char *key;
	json_t *v;
	json_object_foreach(entries, key, v) {
		umap_buf_clear(&from);
		umap_buf_clear(&to);
		umap_buf_printf(&from, "%s%s", var.ptr, key);
		umap_buf_printf(&to, "umapsync-remote.%s.%s", new_name, key);
		if (git_config_set_string(cfg, to.ptr, json_string_value(v)) < 0 ||
		    git_config_delete_entry(cfg, from.ptr) < 0)
			die("cannot write the repository's config: %s", git_error_last()->message);
	}
	json_decref(entries);
	if (git_config_get_string_buf(&value, cfg, SETTING_DEFAULT_REMOTE) == 0 && !strcmp(value.ptr, old_name) &&
	    git_config_set_string(cfg, SETTING_DEFAULT_REMOTE, new_name) < 0)
		die("cannot write the repository's config: %s", git_error_last()->message);
	git_buf_dispose(&value);
	static const char *const suffixes[] = { ".json", ".outbox.json", ".outbox-sent.json", ".cookies" };
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		umap_buf_clear(&from);
		umap_buf_clear(&to);
		umap_buf_printf(&from, "%s/sync/%s%s", umap_repo_gitdir(repo), old_name, suffixes[i]);
		umap_buf_printf(&to, "%s/sync/%s%s", umap_repo_gitdir(repo), new_name, suffixes[i]);
		if (rename(from.ptr, to.ptr) < 0 && errno != ENOENT)
			die_errno("cannot rename %s", from.ptr);
	}
	umap_buf_dispose(&var);
	umap_buf_dispose(&from);
	umap_buf_dispose(&to);
	git_config_free(cfg);
}

static int remote_list(umap_repo *repo, int verbose)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *entry;
	/* a plain iterator filtered here: libgit2's glob iterator leaks its regex */
	if (git_repository_config(&cfg, umap_repo_git(repo)) < 0 || git_config_iterator_new(&it, cfg) < 0)
		die("cannot read the repository's config");
	while (git_config_next(&entry, it) == 0) {
		if (strncmp(entry->name, "umapsync-remote.", 16) || !umap_ends_with(entry->name, ".url"))
			continue;
		const char *name = entry->name + strlen("umapsync-remote.");
		int len = (int)(strlen(name) - strlen(".url"));
		if (verbose)
			printf("%.*s\t%s\n", len, name, entry->value);
		else
			printf("%.*s\n", len, name);
	}
	git_config_iterator_free(it);
	git_config_free(cfg);
	return 0;
}

int cmd_remote(int argc, const char **argv)
{
	int verbose = 0;
	const char *token_file = NULL, *cookie_file = NULL;
	const struct option options[] = {
		OPT_BOOL('v', "verbose", &verbose, "show the URLs too"),
		OPT_STRING(0, "token-file", &token_file, "FILE", "add: read the access token from FILE"),
		OPT_STRING(0, "cookie-file", &cookie_file, "FILE", "add: a uMap map's session cookies (Netscape format)"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, remote_usage);
	umap_repo *repo = open_repo();
	if (argc == 0 || !strcmp(argv[0], "list")) {
		if (argc > 1)
			usage_with_options_msg(remote_usage, options, "list takes no arguments");
		remote_list(repo, verbose);
	} else if (!strcmp(argv[0], "add")) {
		if (argc != 3)
			usage_with_options_msg(remote_usage, options, "add needs NAME and URL");
		if (!umap_sync_valid_name(argv[1], UMAP_SYNC_NAME_MAX))
			usage_with_options_msg(remote_usage, options, "invalid remote name '%s': use A-Z a-z 0-9 _ -", argv[1]);
		int is_umap = umap_remote_url_is_umap(argv[2]) || umap_remote_url_is_edit_link(argv[2]);
		umap_sync_url url;
		if (!is_umap && umap_sync_url_parse(&url, argv[2]))
			die_lib(NULL);
		if (!is_umap)
			umap_sync_url_dispose(&url);
		if (cookie_file && !is_umap)
			usage_with_options_msg(remote_usage, options, "--cookie-file is for uMap map URLs");
		git_config *cfg = NULL;
		git_buf value = GIT_BUF_INIT;
		umap_buf var = UMAP_BUF_INIT;
		umap_buf_printf(&var, "umapsync-remote.%s.url", argv[1]);
		if (git_repository_config(&cfg, umap_repo_git(repo)) == 0 &&
		    git_config_get_string_buf(&value, cfg, var.ptr) == 0)
			die("remote '%s' already exists (%s)", argv[1], value.ptr);
		git_buf_dispose(&value);
		git_config_free(cfg);
		umap_buf_dispose(&var);
		if (is_umap) {
			umap_remote_cmd_add(repo, argv[1], argv[2], cookie_file);
			umap_repo_free(repo);
			return 0;
		}
		char *abs = NULL;
		if (token_file && !(abs = realpath(token_file, NULL)))
			die_errno("cannot read the token file '%s'", token_file);
		sync_remote_save(repo, argv[1], argv[2], abs);
		free(abs);
	} else if (!strcmp(argv[0], "set-cookie-file")) {
		if (argc != 3)
			usage_with_options_msg(remote_usage, options, "set-cookie-file needs NAME and FILE");
		umap_remote_cmd_set_cookie_file(repo, argv[1], argv[2]);
	} else if (!strcmp(argv[0], "remove") || !strcmp(argv[0], "rm")) {
		if (argc != 2)
			usage_with_options_msg(remote_usage, options, "remove needs NAME");
		git_config *cfg = NULL;
		umap_buf var = UMAP_BUF_INIT;
		umap_buf_printf(&var, "umapsync-remote.%s.", argv[1]);
		if (git_repository_config(&cfg, umap_repo_git(repo)) < 0)
			die("cannot read the repository's config");
		git_config_iterator *it = NULL;
		git_config_entry *entry;
		int found = 0;
		char *names[16];
		if (git_config_iterator_new(&it, cfg) == 0) {
			while (git_config_next(&entry, it) == 0 && found < 16)
				if (!strncmp(entry->name, var.ptr, var.len))
					names[found++] = strdup(entry->name);
			git_config_iterator_free(it);
		}
		if (!found)
			die("no remote named '%s'", argv[1]);
		umap_remote_cmd_forget(repo, argv[1]);
		for (int i = 0; i < found; i++) {
			git_config_delete_entry(cfg, names[i]);
			free(names[i]);
		}
		/* as git remote remove drops remote.pushDefault: a default naming nothing would
		 * only make the next push fail */
		git_buf def = GIT_BUF_INIT;
		if (git_config_get_string_buf(&def, cfg, SETTING_DEFAULT_REMOTE) == 0 && !strcmp(def.ptr, argv[1]))
			git_config_delete_entry(cfg, SETTING_DEFAULT_REMOTE);
		git_buf_dispose(&def);
		git_config_free(cfg);
		umap_buf_dispose(&var);
	} else if (!strcmp(argv[0], "set-url")) {
		if (argc != 3)
			usage_with_options_msg(remote_usage, options, "set-url needs NAME and URL");
		if (umap_remote_url_is_edit_link(argv[2]))
			umap_remote_cmd_set_edit_link(repo, argv[1], argv[2]);
		else
			remote_set_url(repo, argv[1], argv[2]);
	} else if (!strcmp(argv[0], "rename")) {
		if (argc != 3)
			usage_with_options_msg(remote_usage, options, "rename needs OLD and NEW");
		remote_rename(repo, argv[1], argv[2]);
	} else {
		usage_with_options_msg(remote_usage, options, "unknown subcommand '%s': use add, remove, set-url, rename, set-cookie-file or list", argv[0]);
	}
	umap_repo_free(repo);
	return 0;
}
