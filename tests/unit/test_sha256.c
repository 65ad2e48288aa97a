/* Unit tests for SHA-256: the FIPS 180-4 / NIST CAVS example vectors, block boundaries,
 * and incremental updates giving the same digest as one-shot hashing. */
#include "unit.h"

#include <stdlib.h>

#include "sha256.h"

static void check_hex(const char *input, size_t len, const char *want)
{
	char got[UMAP_SHA256_HEX];
	umap_sha256_hex(got, input, len);
	CHECK_STR(got, want);
}

TEST(fips_vectors)
{
	check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	check_hex(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	const char *four = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	check_hex(four, strlen(four), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(million_a)
{
	char *a = malloc(1000000);
	CHECK(a != NULL);
	if (!a)
		return;
	memset(a, 'a', 1000000);
	check_hex(a, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(a);
}

TEST(incremental_equals_one_shot)
{
	unsigned char data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	/* every length around the 55/56/64-byte padding boundaries, split at every point */
	for (size_t len = 50; len <= 130; len++) {
		unsigned char one[UMAP_SHA256_SIZE];
		umap_sha256_digest(one, data, len);
		for (size_t cut = 0; cut <= len; cut += 13) {
			umap_sha256_ctx ctx;
			unsigned char inc[UMAP_SHA256_SIZE];
			umap_sha256_init(&ctx);
			umap_sha256_update(&ctx, data, cut);
			umap_sha256_update(&ctx, data + cut, len - cut);
			umap_sha256_final(&ctx, inc);
			if (memcmp(one, inc, sizeof(one))) {
				printf("# len %zu cut %zu differs\n", len, cut);
				CHECK(0);
			}
		}
	}
	/* 55 and 56 bytes: padding fits in one block, or needs a second */
	check_hex("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 55,
		  "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	check_hex("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 56,
		  "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
}

int main(void)
{
	RUN(fips_vectors);
	RUN(million_a);
	RUN(incremental_equals_one_shot);
	return UNIT_DONE();
}
