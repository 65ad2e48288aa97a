/* umapsync tag: list or create tags.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_tag(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync tag [NAME [REV]]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("tag");
}
