/* SHA-256 (FIPS 180-4), used to store sync tokens hashed.
 * Why our own: of the libraries umapsync links, none exposes SHA-256 publicly (libgit2
 * keeps its hash internal, jansson/xxhash/sqlite have none) and linking OpenSSL for one
 * hash is not worth a new dependency; the tests check the FIPS/NIST vectors. */
#ifndef UMAP_SHA256_H
#define UMAP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define UMAP_SHA256_SIZE 32
#define UMAP_SHA256_HEX (2 * UMAP_SHA256_SIZE + 1)

typedef struct umap_sha256_ctx {
	uint32_t state[8];
	uint64_t length;       /* bytes hashed so far */
	unsigned char block[64];
	size_t used;           /* bytes waiting in block */
} umap_sha256_ctx;

void umap_sha256_init(umap_sha256_ctx *ctx);
void umap_sha256_update(umap_sha256_ctx *ctx, const void *data, size_t len);
void umap_sha256_final(umap_sha256_ctx *ctx, unsigned char out[UMAP_SHA256_SIZE]);
/* One-shot helpers. */
void umap_sha256_digest(unsigned char out[UMAP_SHA256_SIZE], const void *data, size_t len);
void umap_sha256_hex(char out[UMAP_SHA256_HEX], const void *data, size_t len);

#endif
