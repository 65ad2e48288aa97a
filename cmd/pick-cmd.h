/* What revert and cherry-pick share: applying one commit's feature changes (or their
 * inverse) onto HEAD as a three-way merge, stopping on SPEC §6 conflicts as merge does. */
#ifndef UMAPSYNC_PICK_CMD_H
#define UMAPSYNC_PICK_CMD_H

enum pick_kind { PICK_CHERRY, PICK_REVERT };

/* The whole command: options (--ours/--theirs/--union, --continue, --abort) and REV. */
int pick_command(enum pick_kind kind, int argc, const char **argv);

#endif
