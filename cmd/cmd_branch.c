/* umapsync branch: list or create branches.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_branch(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync branch [NAME]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("branch");
}
