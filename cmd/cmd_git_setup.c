/* umapsync git-setup: configure git so that `git merge` and `git diff` of *.geojson and
 * *.umap files go through umapsync's per-feature merge and diff drivers. */
#include "builtin.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "gitsetup.h"

/* How git should call us: "umapsync" when that name on PATH is this very program, else our
 * absolute path, quoted for the shell git runs drivers with. */
static char *program_for_git(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return strdup("umapsync");
	exe[n] = '\0';
	struct stat self;
	const char *path = getenv("PATH");
	if (path && stat(exe, &self) == 0) {
		char *dirs = strdup(path);
		for (char *dir = dirs ? strtok(dirs, ":") : NULL; dir; dir = strtok(NULL, ":")) {
			char candidate[PATH_MAX];
			struct stat st;
			if (snprintf(candidate, sizeof(candidate), "%s/umapsync", dir) < (int)sizeof(candidate) &&
			    stat(candidate, &st) == 0 && st.st_dev == self.st_dev && st.st_ino == self.st_ino) {
				free(dirs);
				return strdup("umapsync");
			}
		}
		free(dirs);
	}
	if (!strpbrk(exe, " \t\n'\"\\$`!*?[]{}()<>|&;#~"))
		return strdup(exe);
	umap_buf quoted = UMAP_BUF_INIT;
	umap_buf_putc(&quoted, '\'');
	for (const char *p = exe; *p; p++)
		if (*p == '\'' ? umap_buf_puts(&quoted, "'\\''") : umap_buf_putc(&quoted, *p))
			break;
	umap_buf_putc(&quoted, '\'');
	return umap_buf_detach(&quoted);
}

int cmd_git_setup(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync git-setup [--global] [--command=CMD]", NULL };
	int global = 0;
	const char *command = NULL;
	const struct option options[] = {
		OPT_BOOL(0, "global", &global, "configure the user's git (~/.gitconfig) instead of this repository"),
		OPT_STRING(0, "command", &command, "CMD", "how git should run umapsync (default: this program)"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc)
		usage_with_options_msg(usage, options, "git-setup takes no arguments");
	char *program = command ? strdup(command) : program_for_git();
	if (!program)
		die("out of memory");
	umap_git_setup_options opts = UMAP_GIT_SETUP_OPTIONS_INIT;
	opts.global = global;
	opts.program = program;
	umap_git_setup_result result = UMAP_GIT_SETUP_RESULT_INIT;
	if (umap_git_setup(&result, ".", &opts))
		die_lib(NULL);
	printf("merge and diff drivers 'umapsync' set in %s\n", result.config_path.ptr);
	if (result.attributes_added)
		printf("added %d line%s to %s:\n", result.attributes_added,
		       result.attributes_added == 1 ? "" : "s", result.attributes_path.ptr);
	else
		printf("%s already routes map files to umapsync:\n", result.attributes_path.ptr);
	for (const char *const *line = umap_git_attribute_lines; *line; line++)
		printf("    %s\n", *line);
	if (!global)
		printf("commit .gitattributes so that everyone who clones gets the same merges\n");
	umap_git_setup_result_dispose(&result);
	free(program);
	return 0;
}
