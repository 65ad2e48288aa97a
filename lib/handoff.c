/* Flags one thread raises and another waits for, under one lock: enough to hand a reading
 * over, and the only way threads here wait on each other's progress. */
#include "handoff.h"

int umap_handoff_init(umap_handoff *h)
{
	if (pthread_mutex_init(&h->lock, NULL))
		return -1;
	if (pthread_cond_init(&h->cond, NULL)) {
		pthread_mutex_destroy(&h->lock);
		return -1;
	}
	return 0;
}

void umap_handoff_dispose(umap_handoff *h)
{
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
}

void umap_handoff_raise(umap_handoff *h, int *flag)
{
	pthread_mutex_lock(&h->lock);
	*flag = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

void umap_handoff_wait(umap_handoff *h, const int *flag)
{
	pthread_mutex_lock(&h->lock);
	while (!*flag)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}
