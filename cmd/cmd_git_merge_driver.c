/* umapsync git-merge-driver: git merge driver.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_git_merge_driver(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync git-merge-driver BASE OURS THEIRS [PATH]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("git-merge-driver");
}
