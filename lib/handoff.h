/* Flags one thread raises and another waits for: how a reader hands what it read to the
 * thread that takes it (diff and merge-file reading their files by halves). */
#ifndef UMAP_HANDOFF_H
#define UMAP_HANDOFF_H

#include <pthread.h>

typedef struct umap_handoff {
	pthread_mutex_t lock;
	pthread_cond_t cond;
} umap_handoff;

/* 0, or non-zero when the lock or the condition could not be made. */
int umap_handoff_init(umap_handoff *handoff);
void umap_handoff_dispose(umap_handoff *handoff);
/* Sets *flag (one of the flags this handoff guards) and wakes whoever waits for it. */
void umap_handoff_raise(umap_handoff *handoff, int *flag);
/* Returns once *flag is set. */
void umap_handoff_wait(umap_handoff *handoff, const int *flag);

#endif
