/* umapsync resolve: settle a conflict.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_resolve(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync resolve ID [KEY] --with=ours|theirs|base|delete|--value=JSON", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("resolve");
}
