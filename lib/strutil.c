/* Small string utilities: edit distance for "did you mean", prefix/suffix tests,
 * and a constant-time comparison for secrets. */
#include "strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "buf.h"
#include "error.h"
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>
#define HASH_DISPATCH 1
#endif
#endif

size_t umap_edit_distance(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return limit + 1; /* command and option names are short; refuse silly work */
	size_t d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t row_min = (size_t)-1;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
			if (best < row_min)
				row_min = best;
		}
		if (row_min > limit)
			return limit + 1;
	}
	return d[la][lb] > limit ? limit + 1 : d[la][lb];
}

int umap_starts_with(const char *str, const char *prefix)
{
	return strncmp(str, prefix, strlen(prefix)) == 0;
}

int umap_ends_with(const char *str, const char *suffix)
{
	size_t ls = strlen(str), lx = strlen(suffix);
	return ls >= lx && memcmp(str + ls - lx, suffix, lx) == 0;
}

int umap_secure_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile unsigned char *pa = a, *pb = b;
	unsigned char diff = alen != blen;
	size_t n = alen < blen ? alen : blen;
	for (size_t i = 0; i < n; i++)
		diff |= pa[i] ^ pb[i];
	return diff == 0;
}

uint64_t umap_hash(const void *data, size_t len)
{
#ifdef HASH_DISPATCH
	return XXH3_64bits_dispatch(data, len);
#else
	return XXH3_64bits(data, len);
#endif
}

uint32_t umap_id_hash(const char *id, size_t len)
{
	uint64_t h = umap_hash(id, len);
	return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/* The length of the UTF-8 sequence at s (at most `left` bytes), 0 when it is not one. */
static size_t utf8_length(const unsigned char *s, size_t left, unsigned *cp)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : 0;
	if (!n || n > left || s[0] >= 0xf5)
		return 0;
	unsigned c = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	*cp = c;
	return n;
}

int umap_buf_put_printable(umap_buf *out, const char *s, size_t len, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, plain = 0;
	int err = 0;
	while (i < len && !err) {
		unsigned c = p[i], cp = 0;
		size_t n = 1;
		const char *escape = NULL;
		char text[8];
		if (c < 0x20 || c == 0x7f) {
			if (!((flags & UMAP_PRINTABLE_KEEP_LINES) && (c == '\n' || c == '\t')))
				escape = "\\x%02x";
		} else if (c >= 0x80) {
			n = utf8_length(p + i, len - i, &cp);
			if (!n) {
				n = 1;
				escape = "\\x%02x";
			} else if (cp <= 0x9f) {
				c = cp;
				escape = "\\u%04x";
			}
		}
		if (!escape) {
			i += n;
			continue;
		}
		snprintf(text, sizeof(text), escape, c);
		err = umap_buf_put(out, s + plain, i - plain) || umap_buf_puts(out, text);
		i += n;
		plain = i;
	}
	if (!err)
		err = umap_buf_put(out, s + plain, len - plain);
	return err ? UMAP_ENOMEM : 0;
}
