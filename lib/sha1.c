/* A small streaming SHA-1 (FIPS 180-4), for pack and index file checksums.
 * Written out here because libgit2 keeps its own hashing API private. */
#include "sha1.h"

#include <string.h>

#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5A827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ED9EBA1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDC;
		} else {
			f = b ^ c ^ d;
			k = 0xCA62C1D6;
		}
		uint32_t t = ROL(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = ROL(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void umap_sha1_init(umap_sha1 *ctx)
{
	static const uint32_t init[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
					  0xC3D2E1F0 };
	memcpy(ctx->h, init, sizeof(init));
	ctx->length = 0;
	ctx->used = 0;
}

void umap_sha1_update(umap_sha1 *ctx, const void *data, size_t len)
{
	const unsigned char *p = data;
	ctx->length += len;
	if (ctx->used) {
		size_t take = 64 - ctx->used < len ? 64 - ctx->used : len;
		memcpy(ctx->block + ctx->used, p, take);
		ctx->used += take;
		p += take;
		len -= take;
		if (ctx->used < 64)
			return;
		sha1_block(ctx->h, ctx->block);
		ctx->used = 0;
	}
	while (len >= 64) {
		sha1_block(ctx->h, p);
		p += 64;
		len -= 64;
	}
	memcpy(ctx->block, p, len);
	ctx->used = len;
}

void umap_sha1_final(umap_sha1 *ctx, unsigned char out[20])
{
	uint64_t bits = ctx->length * 8;
	unsigned char pad[72] = { 0x80 };
	size_t padlen = ctx->used < 56 ? 56 - ctx->used : 120 - ctx->used;
	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
	umap_sha1_update(ctx, pad, padlen + 8);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(ctx->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(ctx->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(ctx->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)ctx->h[i];
	}
}
