/* umapsync serve: run a sync server.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_serve(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync serve [--listen ADDR:PORT] [--data DIR]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("serve");
}
