/* A small streaming SHA-1, for the checksums of the pack and index files the repository
 * writes (object ids themselves come from libgit2's collision-detecting git_odb_hash). */
#ifndef UMAP_SHA1_H
#define UMAP_SHA1_H

#include <stddef.h>
#include <stdint.h>

typedef struct umap_sha1 {
	uint32_t h[5];
	uint64_t length;     /* bytes hashed so far */
	unsigned char block[64];
	size_t used;         /* bytes waiting in block */
} umap_sha1;

void umap_sha1_init(umap_sha1 *ctx);
void umap_sha1_update(umap_sha1 *ctx, const void *data, size_t len);
void umap_sha1_final(umap_sha1 *ctx, unsigned char out[20]);

#endif
