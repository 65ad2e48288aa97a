/* umapsync git-diff-driver: git diff driver.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_git_diff_driver(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync git-diff-driver PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("git-diff-driver");
}
