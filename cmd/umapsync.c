/* umapsync's entry point: the one command table, global options, help and dispatch.
 * Every command lives in cmd_<verb>.c; this file only finds it and checks stdout after. */
#include "builtin.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doc.h"
#include "man-text.h"
#include "strutil.h"
#include "version.h"

#define GROUP_FILES "files"
#define GROUP_REPO "repo"
#define GROUP_MERGE "merge"
#define GROUP_SYNC "sync"
#define GROUP_GIT "git"
#define GROUP_HELP "help"

static const struct {
	const char *id;
	const char *title;
} groups[] = {
	{ GROUP_FILES, "Work on files (no repository needed)" },
	{ GROUP_REPO, "Record history in a repository" },
	{ GROUP_MERGE, "Merge concurrent edits" },
	{ GROUP_SYNC, "Collaborate through a sync server" },
	{ GROUP_GIT, "Use umapsync inside plain git" },
	{ GROUP_HELP, "Help" },
};

const struct command commands[] = {
	{ "validate", cmd_validate, GROUP_FILES, "Check GeoJSON and uMap files (geojsonhint rules)" },
	{ "diff", cmd_diff, GROUP_FILES, "Show feature changes between files, revisions or the working files" },
	{ "apply", cmd_apply, GROUP_FILES, "Apply a JSON feature diff to a file" },
	{ "merge-file", cmd_merge_file, GROUP_FILES, "Three-way merge of three files, per feature and property" },
	{ "init", cmd_init, GROUP_REPO, "Create an empty repository" },
	{ "import", cmd_import, GROUP_REPO, "Start tracking map files and commit them" },
	{ "status", cmd_status, GROUP_REPO, "Show which tracked files changed since HEAD" },
	{ "commit", cmd_commit, GROUP_REPO, "Record the changes of every tracked file" },
	{ "log", cmd_log, GROUP_REPO, "Show the history of the map or of one feature" },
	{ "show", cmd_show, GROUP_REPO, "Show a commit and its feature diff" },
	{ "checkout", cmd_checkout, GROUP_REPO, "Switch the working files to a revision or branch" },
	{ "switch", cmd_switch, GROUP_REPO, "Switch to a branch, or create one and switch to it" },
	{ "rm", cmd_rm, GROUP_REPO, "Stop tracking files and remove them" },
	{ "mv", cmd_mv, GROUP_REPO, "Rename a tracked file; its layers keep their ids" },
	{ "restore", cmd_restore, GROUP_REPO, "Put tracked files back as they are at HEAD or a revision" },
	{ "reset", cmd_reset, GROUP_REPO, "Move the current branch to a commit, and with --hard the files" },
	{ "revert", cmd_revert, GROUP_REPO, "Make a commit that undoes another commit's feature changes" },
	{ "cherry-pick", cmd_cherry_pick, GROUP_REPO, "Make a commit with another commit's feature changes" },
	{ "stash", cmd_stash, GROUP_REPO, "Put the working files' changes aside and bring them back" },
	{ "reflog", cmd_reflog, GROUP_REPO, "Show where HEAD or a branch has been (HEAD@{N})" },
	{ "blame", cmd_blame, GROUP_REPO, "Show which commit last set each feature or property" },
	{ "export", cmd_export, GROUP_REPO, "Write a layer or map as it was at a revision" },
	{ "branch", cmd_branch, GROUP_REPO, "List or create branches" },
	{ "tag", cmd_tag, GROUP_REPO, "List or create tags" },
	{ "config", cmd_config, GROUP_REPO, "Read and write repository settings" },
	{ "merge", cmd_merge, GROUP_MERGE, "Merge a branch into the current one" },
	{ "conflicts", cmd_conflicts, GROUP_MERGE, "List the conflicts of a merge, rebase or pull" },
	{ "resolve", cmd_resolve, GROUP_MERGE, "Settle one conflict" },
	{ "rebase", cmd_rebase, GROUP_MERGE, "Replay local commits on top of another branch" },
	{ "remote", cmd_remote, GROUP_SYNC, "Manage the sync servers and uMap maps this repository talks to" },
	{ "clone", cmd_clone, GROUP_SYNC, "Copy a map from a sync server into a new repository" },
	{ "push", cmd_push, GROUP_SYNC, "Send local commits to the sync server" },
	{ "pull", cmd_pull, GROUP_SYNC, "Fetch and merge what others pushed" },
	{ "serve", cmd_serve, GROUP_SYNC, "Run a sync server" },
	{ "token", cmd_token, GROUP_SYNC, "Create, list and revoke access tokens of a server" },
	{ "git-setup", cmd_git_setup, GROUP_GIT, "Make git merge and diff map files per feature" },
	{ "git-merge-driver", cmd_git_merge_driver, GROUP_GIT, "The merge driver git calls (set up by git-setup)" },
	{ "git-diff-driver", cmd_git_diff_driver, GROUP_GIT, "The diff driver git calls (set up by git-setup)" },
	{ "git-textconv", cmd_git_textconv, GROUP_GIT, "The text git log -p and git show give a map file (set up by git-setup)" },
	{ "help", cmd_help, GROUP_HELP, "Show help for umapsync or one of its commands" },
	{ NULL, NULL, NULL, NULL },
};

const struct command *find_command(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static const char *const main_usage[] = {
	"umapsync [--version] [--help] [-C DIR] [--no-pager] <command> [<args>]",
	NULL,
};

static void print_main_help(FILE *out)
{
	fprintf(out, "usage: %s\n", main_usage[0]);
	fprintf(out, "\nGit-like history, feature diffs, merges and sync for uMap maps and GeoJSON layers.\n");
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		fprintf(out, "\n%s\n", groups[g].title);
		for (const struct command *c = commands; c->name; c++)
			if (!strcmp(c->group, groups[g].id))
				fprintf(out, "   %-18s %s\n", c->name, c->summary);
	}
	fprintf(out, "\n'umapsync help <command>' or 'umapsync <command> -h' tells more about a command.\n");
}

static void suggest_command(const char *name)
{
	const struct command *best[8];
	size_t nbest = 0, best_dist = 3;
	for (const struct command *c = commands; c->name; c++) {
		size_t d = umap_edit_distance(name, c->name, 2);
		if (umap_starts_with(c->name, name) && strlen(name) >= 3 && d > 1)
			d = 1; /* a prefix is as good as a typo */
		if (d < best_dist) {
			best_dist = d;
			nbest = 0;
		}
		if (d == best_dist && nbest < 8)
			best[nbest++] = c;
	}
	if (!nbest || best_dist > 2)
		return;
	fprintf(stderr, "\n%s\n", nbest == 1 ? "The most similar command is" : "The most similar commands are");
	for (size_t i = 0; i < nbest; i++)
		fprintf(stderr, "\t%s\n", best[i]->name);
}

int cmd_help(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync help [<command>]", NULL };
	int no_man = 0;
	const struct option options[] = {
		OPT_BOOL(0, "no-man", &no_man, "print the manual page's text instead of opening it with man"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc == 0) {
		print_main_help(stdout);
		return 0;
	}
	if (argc > 1)
		usage_with_options(usage, options);
	const struct command *c = find_command(argv[0]);
	if (!c) {
		fprintf(stderr, "umapsync: '%s' is not a umapsync command. See 'umapsync --help'.\n", argv[0]);
		suggest_command(argv[0]);
		return EXIT_USAGE;
	}
	char page[128];
	snprintf(page, sizeof(page), "umapsync-%s", c->name);
	if (!no_man && isatty(STDOUT_FILENO) && !getenv("UMAPSYNC_NO_MAN")) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			int devnull_fd = open("/dev/null", 1);
			if (devnull_fd >= 0)
				dup2(devnull_fd, STDERR_FILENO);
			execlp("man", "man", page, (char *)NULL);
			_exit(127);
		}
		int status;
		if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			return 0;
	}
	/* as git help does where man cannot show the page: its text (built in) */
	for (const struct man_text *t = man_texts; t->name; t++) {
		if (strcmp(t->name, page))
			continue;
		setup_pager();
		fputs(t->text, stdout);
		return 0;
	}
	const char *sub_argv[] = { c->name, "-h", NULL };
	return c->fn(2, sub_argv);
}

/* UMAPSYNC_MAX_FEATURES: the most features one layer of a file read may have. */
static void set_limits_from_environment(void)
{
	const char *v = getenv("UMAPSYNC_MAX_FEATURES");
	if (!v || !*v)
		return;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (*end || errno || *v == '-' || n == 0)
		die("UMAPSYNC_MAX_FEATURES must be a number of features (at least 1), not '%s'", v);
	umap_doc_set_max_features(n > SIZE_MAX ? SIZE_MAX : (size_t)n);
}

int main(int argc, const char **argv)
{
	/* SIGPIPE's default action ends us quietly when a reader such as `head` goes away. */
	signal(SIGPIPE, SIG_DFL);
	if (argc < 2) {
		print_main_help(stderr);
		return EXIT_USAGE;
	}
	/* Global options come before the command, as in git. */
	while (argc > 1) {
		if (!strcmp(argv[1], "--no-pager")) {
			pager_disabled = 1;
		} else if (!strcmp(argv[1], "-C")) {
			if (argc < 3) {
				fprintf(stderr, "error: -C requires a directory\n");
				return EXIT_USAGE;
			}
			if (chdir(argv[2]) < 0)
				die_errno("cannot change to '%s'", argv[2]);
			argc--;
			argv++;
		} else {
			break;
		}
		argc--;
		argv++;
	}
	if (argc < 2) {
		print_main_help(stderr);
		return EXIT_USAGE;
	}
	set_limits_from_environment();
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
		print_main_help(stdout);
		check_stdout();
		return 0;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "version")) {
		printf("umapsync version %s\n", UMAPSYNC_VERSION);
		check_stdout();
		return 0;
	}
	if (!strcmp(name, "--list-commands")) {
		for (const struct command *c = commands; c->name; c++)
			printf("%s\t%s\n", c->name, c->summary);
		check_stdout();
		return 0;
	}
	if (name[0] == '-') {
		fprintf(stderr, "error: unknown option '%s'\n", name);
		fprintf(stderr, "usage: %s\n", main_usage[0]);
		return EXIT_USAGE;
	}
	const struct command *c = find_command(name);
	if (!c) {
		fprintf(stderr, "umapsync: '%s' is not a umapsync command. See 'umapsync --help'.\n", name);
		suggest_command(name);
		return EXIT_USAGE;
	}
	int rc = c->fn(argc - 1, argv + 1);
	check_stdout();
	return rc;
}
