/* umapsync show: show a commit.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_show(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync show REV", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("show");
}
