/* umapsync validate: check GeoJSON and uMap files.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_validate(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync validate [--format=text|json|compact] [--strict] [--umap] FILE...", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("validate");
}
