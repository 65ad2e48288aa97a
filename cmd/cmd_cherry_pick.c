/* umapsync cherry-pick: a new commit that makes another commit's feature changes on HEAD,
 * merged per feature and key (SPEC §6 conflicts when HEAD changed the same keys). */
#include "builtin.h"
#include "pick-cmd.h"

int cmd_cherry_pick(int argc, const char **argv)
{
	return pick_command(PICK_CHERRY, argc, argv);
}
