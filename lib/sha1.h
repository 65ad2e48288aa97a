/* Streaming SHA-1 for the checksums of the pack and index files the repository writes
 * (object ids themselves come from libgit2's collision-detecting git_odb_hash). */
#ifndef UMAP_SHA1_H
#define UMAP_SHA1_H

#include <stddef.h>

typedef struct umap_sha1 {
	void *md; /* EVP_MD_CTX */
} umap_sha1;

/* init and final return 0, or -1 when libcrypto fails (out of memory). */
int umap_sha1_init(umap_sha1 *ctx);
void umap_sha1_update(umap_sha1 *ctx, const void *data, size_t len);
int umap_sha1_final(umap_sha1 *ctx, unsigned char out[20]);

#endif
