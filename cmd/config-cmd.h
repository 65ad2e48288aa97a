/* The settings umapsync reads from the repository's git config: one table for `config`
 * (which refuses other names), its completions and manual page, and the commands that read them. */
#ifndef UMAPSYNC_CONFIG_CMD_H
#define UMAPSYNC_CONFIG_CMD_H

#include "repo.h"

enum setting_kind {
	SETTING_TEXT,   /* any value */
	SETTING_CHOICE, /* one of `choices` */
	SETTING_FF,     /* true|false|only, where true and false may be any git boolean */
	SETTING_COLOR,  /* auto|always|never (true and false too, as parse_color_mode reads) */
	SETTING_REMOTE, /* the name of a remote of `umapsync remote` */
};

struct setting {
	const char *name;
	enum setting_kind kind;
	const char *choices; /* "a|b|c": shown by --list-keys and completed */
	const char *help;
};

/* Lives beside the remotes (umapsync-remote.NAME.url), away from git's own remote section. */
#define SETTING_DEFAULT_REMOTE "umapsync-remote.default"

/* Every setting, ending with a NULL name. */
extern const struct setting settings[];
/* The setting called `name` (section and key compared without case, as git does), or NULL. */
const struct setting *find_setting(const char *name);
/* The known setting `name` is most likely a typo of, or NULL. */
const struct setting *closest_setting(const char *name);
/* Checks `value` for setting `s`: 0 with its canonical spelling in *out (malloc'd; merge.ff
 * "yes" is "true"), or -1 with no allocation. Remote names are checked for syntax only. */
int setting_value_check(char **out, const struct setting *s, const char *value);
/* The value of setting `name` in the repository's config (user's and system's included),
 * canonical; NULL when unset. Dies, naming the setting and the accepted values, when the
 * value is not one of them: a preference set wrong must not be silently ignored. */
char *setting_get(umap_repo *repo, const char *name);

#endif
