/* A string -> size_t hash map (open addressing, xxh3) for indexing ids and keys.
 * Keys are borrowed: they must outlive the map. */
#ifndef UMAP_STRMAP_H
#define UMAP_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct umap_strmap {
	size_t cap;    /* power of two, or 0 before the first put */
	size_t count;
	const char **keys;
	size_t *values;
	uint64_t *hashes;
} umap_strmap;

#define UMAP_STRMAP_INIT { 0, 0, NULL, NULL, NULL }

/* Sets key -> value. *existed (may be NULL) says whether the key was there (its value is
 * replaced). Returns 0 or UMAP_ENOMEM. */
int umap_strmap_put(umap_strmap *map, const char *key, size_t value, int *existed);
/* 1 and *value when found, else 0. */
int umap_strmap_get(const umap_strmap *map, const char *key, size_t *value);
void umap_strmap_dispose(umap_strmap *map);

#endif
