/* umapsync merge-file: three-way merge of files.
 * Not built yet: it parses its options like every command and says so. */
#include "builtin.h"

int cmd_merge_file(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync merge-file [-p|-o OUT] [--conflicts=FILE] BASE OURS THEIRS", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	parse_options(argc, argv, options, usage);
	die_not_implemented("merge-file");
}
