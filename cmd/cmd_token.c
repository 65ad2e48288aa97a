/* umapsync token: manage tokens.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_token(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync token create --data DIR --map MAP [--layer ID]... --read|--write", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("token");
}
