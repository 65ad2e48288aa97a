/* Progress of long work on stderr, git style ("Importing features:  42% (42000/100000)"),
 * redrawn in place a few times a second, and only when stderr is a terminal. */
#ifndef UMAPSYNC_CMD_PROGRESS_H
#define UMAPSYNC_CMD_PROGRESS_H

#include <stdint.h>

struct progress;

/* Starts a progress line titled `title` (kept by pointer: pass a string that lives until
 * stop_progress). `total` 0 means unknown: the line then shows a count only. Returns NULL
 * when stderr is not a terminal; every function below accepts NULL and does nothing. */
struct progress *start_progress(const char *title, uint64_t total);

/* Records `done` units; redraws when enough time has passed since the last redraw. */
void display_progress(struct progress *progress, uint64_t done);
void progress_set_total(struct progress *progress, uint64_t total);

/* Draws the final line ("..., done.") and frees the progress; sets *progress to NULL. */
void stop_progress(struct progress **progress);

/* A umap_progress_cb (lib/progress.h) whose payload is a struct progress *:
 *   struct umap_progress cb = { progress_report, start_progress("Importing features", 0) };
 * and stop_progress() on the payload after the lib call. */
void progress_report(void *payload, uint64_t done, uint64_t total);

#endif
