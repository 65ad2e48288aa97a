/* umapsync config: read and write settings in the repository's git config
 * (user.name and user.email sign commits). */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>

int cmd_config(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync config NAME [VALUE]",
		"umapsync config --list",
		NULL,
	};
	int list = 0;
	const struct option options[] = {
		OPT_BOOL('l', "list", &list, "print every setting as name=value"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (list ? argc != 0 : argc < 1 || argc > 2)
		usage_with_options_msg(usage, options, list ? "--list takes no arguments"
						       : "config needs a NAME, and a VALUE to set it");
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
	} else if (argc == 1) {
		git_buf value = GIT_BUF_INIT;
		int err = git_config_get_string_buf(&value, cfg, argv[0]);
		if (err == GIT_ENOTFOUND)
			status = EXIT_DIFFERENT;
		else if (err < 0)
			usage_with_options_msg(usage, options, "%s", git_error_last()->message);
		else
			printf("%s\n", value.ptr);
		git_buf_dispose(&value);
	} else {
		if (git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL) < 0)
			die("cannot open the repository's configuration: %s", git_error_last()->message);
		if (git_config_set_string(local, argv[0], argv[1]) < 0)
			usage_with_options_msg(usage, options, "cannot set '%s': %s", argv[0],
					       git_error_last()->message);
		git_config_free(local);
	}
	git_config_free(cfg);
	umap_repo_free(repo);
	return status;
}
