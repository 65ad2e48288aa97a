/* umapsync revert: a new commit that undoes another commit's feature changes, merged onto
 * HEAD per feature and key (SPEC §6 conflicts when HEAD changed the same keys since). */
#include "builtin.h"
#include "pick-cmd.h"

int cmd_revert(int argc, const char **argv)
{
	return pick_command(PICK_REVERT, argc, argv);
}
