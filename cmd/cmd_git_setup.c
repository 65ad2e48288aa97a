/* umapsync git-setup: set up git drivers.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_git_setup(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync git-setup [--global]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("git-setup");
}
