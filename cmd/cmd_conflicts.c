/* umapsync conflicts: list conflicts.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_conflicts(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync conflicts [--format=text|json|geojson]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("conflicts");
}
