/* umapsync import: start tracking files.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_import(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync import FILE...", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("import");
}
