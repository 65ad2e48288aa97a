/* umapsync remote: manage remotes.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_remote(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync remote [add NAME URL|remove NAME|list]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("remote");
}
