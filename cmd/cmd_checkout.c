/* umapsync checkout: switch revision.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_checkout(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync checkout REV|BRANCH", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("checkout");
}
