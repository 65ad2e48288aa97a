/* A string -> size_t hash map with linear probing, sized to stay at most half full.
 * Used by the merge to find features by id in each version in O(1). */
#include "strmap.h"
#include "error.h"
#include "strutil.h"

#include <stdlib.h>
#include <string.h>

static int strmap_resize(umap_strmap *map, size_t cap)
{
	const char **keys = calloc(cap, sizeof(*keys));
	size_t *values = malloc(cap * sizeof(*values));
	uint64_t *hashes = malloc(cap * sizeof(*hashes));
	if (!keys || !values || !hashes) {
		free(keys);
		free(values);
		free(hashes);
		return umap_error_set(UMAP_ENOMEM, "out of memory (hash map of %zu entries)", cap);
	}
	for (size_t i = 0; i < map->cap; i++) {
		if (!map->keys[i])
			continue;
		size_t slot = map->hashes[i] & (cap - 1);
		while (keys[slot])
			slot = (slot + 1) & (cap - 1);
		keys[slot] = map->keys[i];
		values[slot] = map->values[i];
		hashes[slot] = map->hashes[i];
	}
	free(map->keys);
	free(map->values);
	free(map->hashes);
	map->keys = keys;
	map->values = values;
	map->hashes = hashes;
	map->cap = cap;
	return 0;
}

int umap_strmap_put(umap_strmap *map, const char *key, size_t value, int *existed)
{
	if ((map->count + 1) * 2 > map->cap) {
		size_t cap = map->cap ? map->cap * 2 : 16;
		if (cap < map->cap || cap > SIZE_MAX / sizeof(uint64_t))
			return umap_error_set(UMAP_ENOMEM, "out of memory: hash map too large");
		if (strmap_resize(map, cap))
			return UMAP_ENOMEM;
	}
	uint64_t hash = umap_hash(key, strlen(key));
	size_t slot = hash & (map->cap - 1);
	while (map->keys[slot]) {
		if (map->hashes[slot] == hash && !strcmp(map->keys[slot], key)) {
			map->values[slot] = value;
			if (existed)
				*existed = 1;
			return 0;
		}
		slot = (slot + 1) & (map->cap - 1);
	}
	map->keys[slot] = key;
	map->values[slot] = value;
	map->hashes[slot] = hash;
	map->count++;
	if (existed)
		*existed = 0;
	return 0;
}

int umap_strmap_get(const umap_strmap *map, const char *key, size_t *value)
{
	if (!map->cap)
		return 0;
	uint64_t hash = umap_hash(key, strlen(key));
	size_t slot = hash & (map->cap - 1);
	while (map->keys[slot]) {
		if (map->hashes[slot] == hash && !strcmp(map->keys[slot], key)) {
			if (value)
				*value = map->values[slot];
			return 1;
		}
		slot = (slot + 1) & (map->cap - 1);
	}
	return 0;
}

void umap_strmap_dispose(umap_strmap *map)
{
	free(map->keys);
	free(map->values);
	free(map->hashes);
	memset(map, 0, sizeof(*map));
}
