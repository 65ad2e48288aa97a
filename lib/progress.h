/* How lib/ reports progress of long work (import, clone, push) without printing:
 * the caller passes a callback, cmd/progress.c draws it on a terminal. */
#ifndef UMAP_PROGRESS_H
#define UMAP_PROGRESS_H

#include <stdint.h>

/* Called with the units done so far and the total (0 when the total is not known yet).
 * Cheap to call for every unit: the receiver throttles what it draws. A NULL callback
 * means nobody listens. */
typedef void (*umap_progress_cb)(void *payload, uint64_t done, uint64_t total);

/* Put this in a *_OPTIONS struct: `struct umap_progress progress;` zeroed by the INIT macro. */
struct umap_progress {
	umap_progress_cb fn;
	void *payload;
};

static inline void umap_progress_report(const struct umap_progress *progress, uint64_t done,
					uint64_t total)
{
	if (progress && progress->fn)
		progress->fn(progress->payload, done, total);
}

#endif
