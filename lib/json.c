/* The positioned pull scanner and the tree builder of libumapsync's JSON layer (lib/json.h).
 * Not jansson's parser: we need file:line:col for every value, one feature at a time. */
#include "json.h"
#include "error.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* What the scanner expects next. */
enum scan_state {
	ST_VALUE,        /* a value: the root, after ':' or after ',' in an array */
	ST_ARRAY_FIRST,  /* after '[': a value or ']' */
	ST_OBJECT_FIRST, /* after '{': a member name or '}' */
	ST_KEY,          /* after ',' in an object: a member name */
	ST_COLON,        /* after a member name: ':' then a value */
	ST_AFTER,        /* after a value in a container: ',' or the closing bracket */
	ST_END,          /* after the root value: only whitespace */
	ST_DONE,         /* EOF was returned */
	ST_FAILED,       /* an error was returned; it is returned again */
};

struct umap_scanner {
	const char *data;
	size_t len;
	size_t i;               /* next byte to read */
	const char *source;
	size_t max_depth;
	size_t max_string;
	enum scan_state state;
	int failed_code;
	size_t depth;           /* open containers */
	size_t stack_cap;
	unsigned char *kinds;   /* '{' or '[' per open container */
	size_t *opened;         /* offset of each open container's bracket */
	/* Lines are counted while skipping whitespace: a raw newline cannot occur anywhere
	 * else in valid JSON, so this costs one comparison per whitespace byte. */
	uint32_t line;
	size_t line_start;
	/* umap_scanner_pos_at's cache, for offsets anywhere. */
	size_t cache_offset;
	uint32_t cache_line;
	size_t cache_line_start;
};

/* Byte classes inside a string: 0 plain ASCII, 1 quote, 2 backslash, 3 control, 4 non-ASCII. */
static const unsigned char string_class[256] = {
	[0x00 ... 0x1f] = 3,
	['"'] = 1,
	['\\'] = 2,
	[0x80 ... 0xff] = 4,
};

static const char *source_of(const umap_scanner *s)
{
	return s->source ? s->source : "<input>";
}

umap_pos umap_scanner_pos_at(umap_scanner *s, size_t offset)
{
	if (offset > s->len)
		offset = s->len;
	const char *d = s->data;
	if (offset >= s->cache_offset) {
		const char *p = d + s->cache_offset, *end = d + offset;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				break;
			s->cache_line++;
			s->cache_line_start = (size_t)(nl - d) + 1;
			p = nl + 1;
		}
	} else {
		const char *p = d + offset, *end = d + s->cache_offset;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				break;
			s->cache_line--;
			p = nl + 1;
		}
		const char *nl = offset ? memrchr(d, '\n', offset) : NULL;
		s->cache_line_start = nl ? (size_t)(nl - d) + 1 : 0;
	}
	s->cache_offset = offset;
	umap_pos pos = { s->cache_line, (uint32_t)(offset - s->cache_line_start + 1), offset };
	return pos;
}

static int scan_fail(umap_scanner *s, int code, size_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int scan_fail(umap_scanner *s, int code, size_t offset, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	umap_pos pos = umap_scanner_pos_at(s, offset);
	s->state = ST_FAILED;
	s->failed_code = code;
	return umap_error_set(code, "%s:%u:%u: %s", source_of(s), pos.line, pos.col, msg);
}

/* Describes the byte at `offset` for a message: 'x', a name, or its hex value. */
static void describe_byte(const umap_scanner *s, size_t offset, char *out, size_t size)
{
	if (offset >= s->len) {
		snprintf(out, size, "end of input");
		return;
	}
	unsigned char c = (unsigned char)s->data[offset];
	if (c == 0)
		snprintf(out, size, "NUL byte (is this a binary or UTF-16 file?)");
	else if (c >= 0x80)
		snprintf(out, size, "byte 0x%02x (text outside a string must be ASCII)", c);
	else if (c < 0x20 || c == 0x7f)
		snprintf(out, size, "control character 0x%02x", c);
	else
		snprintf(out, size, "'%c'", c);
}

int umap_scanner_new(umap_scanner **out, const char *data, size_t len,
		     const umap_json_options *opts)
{
	umap_json_options defaults = UMAP_JSON_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	*out = NULL;
	umap_scanner *s = calloc(1, sizeof(*s));
	if (!s)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	s->data = data;
	s->len = len;
	s->source = opts->source_name;
	s->max_depth = opts->max_depth ? opts->max_depth : UMAP_JSON_DEFAULT_MAX_DEPTH;
	s->max_string = opts->max_string ? opts->max_string : UMAP_JSON_DEFAULT_MAX_STRING;
	s->state = ST_VALUE;
	s->line = s->cache_line = opts->header_line ? 0 : 1;
	size_t max_size = opts->max_size ? opts->max_size : UMAP_JSON_DEFAULT_MAX_SIZE;
	int rc = 0;
	if (len > max_size)
		rc = umap_error_set(UMAP_ELIMIT, "%s: input is %zu bytes, over the limit of %zu bytes",
				    source_of(s), len, max_size);
	else if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		rc = scan_fail(s, UMAP_EINVALID, 0,
			       "the file starts with a UTF-8 byte order mark (BOM), which JSON does "
			       "not allow; save it as UTF-8 without BOM");
	else if (len >= 2 && ((unsigned char)data[0] == 0xff || (unsigned char)data[0] == 0xfe))
		rc = scan_fail(s, UMAP_EINVALID, 0,
			       "the file looks like UTF-16 text; JSON must be UTF-8");
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void umap_scanner_free(umap_scanner *s)
{
	if (!s)
		return;
	free(s->kinds);
	free(s->opened);
	free(s);
}

/* Makes room for one more open container (the caller checked max_depth). */
static int grow_stack(umap_scanner *s)
{
	size_t cap = s->stack_cap ? s->stack_cap * 2 : 32;
	if (cap > s->max_depth)
		cap = s->max_depth;
	unsigned char *kinds = realloc(s->kinds, cap);
	if (!kinds)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	s->kinds = kinds;
	size_t *opened = realloc(s->opened, cap * sizeof(*opened));
	if (!opened)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	s->opened = opened;
	s->stack_cap = cap;
	return 0;
}

static int push_container(umap_scanner *s, unsigned char kind, size_t offset)
{
	if (s->depth >= s->max_depth)
		return scan_fail(s, UMAP_ELIMIT, offset,
				 "nesting is deeper than the limit of %zu levels", s->max_depth);
	if (s->depth == s->stack_cap) {
		int rc = grow_stack(s);
		if (rc)
			return rc;
	}
	s->kinds[s->depth] = kind;
	s->opened[s->depth] = offset;
	s->depth++;
	return 0;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int read_hex4(const umap_scanner *s, size_t at, unsigned *out)
{
	if (at + 4 > s->len)
		return -1;
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		int h = hex_value((unsigned char)s->data[at + k]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	if (c >= 0xc2 && c <= 0xdf)
		return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (avail < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;
		if (c == 0xed && p[1] >= 0xa0)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (avail < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

#ifndef __SSE2__
/* The high bit of each byte of the little-endian word `w` that is a quote, a backslash, a
 * control character or non-ASCII (string_class != 0). Bits above the lowest one may be
 * false positives (borrows), so only the lowest is meaningful. */
static inline __attribute__((always_inline)) uint64_t special_bytes(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
	/* a zero byte of q or b is a quote or a backslash; w - 0x20 sets the high bit of the
	 * bytes below 0x20, and w's own high bit marks non-ASCII */
	return (((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w) & high;
}
#endif

/* The offset of the first byte of d[j..limit) that is a quote, a backslash, a control
 * character or non-ASCII (string_class != 0), else limit: 16 bytes a step with SSE2, 8
 * elsewhere, since most strings are plain ASCII up to their quote. */
static inline __attribute__((always_inline)) size_t find_special(const unsigned char *d, size_t j,
								 size_t limit)
{
	/* an escape near a length limit leaves j past it: limit - j must not wrap around
	 * (found by fuzz_json) */
	if (j >= limit)
		return j;
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(' ');
	while (limit - j >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(d + j));
		/* signed: below ' ' is a control character or (negative) non-ASCII */
		__m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
							    _mm_cmpeq_epi8(v, backslash)),
					       _mm_cmplt_epi8(v, space));
		unsigned mask = (unsigned)_mm_movemask_epi8(special);
		if (mask)
			return j + (size_t)__builtin_ctz(mask);
		j += 16;
	}
#elif __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (limit - j >= 8) {
		uint64_t w;
		memcpy(&w, d + j, sizeof(w));
		uint64_t special = special_bytes(w);
		if (special)
			return j + (size_t)__builtin_ctzll(special) / 8;
		j += 8;
	}
#endif
	while (j < limit && !string_class[d[j]])
		j++;
	return j;
}

/* Scans the string whose opening quote is at s->i; leaves s->i past the closing quote. */
static inline __attribute__((always_inline)) int scan_string(umap_scanner *s, int *has_escapes)
{
	const unsigned char *d = (const unsigned char *)s->data;
	size_t start = s->i;
	size_t i = start + 1;
	/* Bound the scan so that a 1 GB string fails after max_string bytes, not after 1 GB. */
	size_t limit = s->len;
	int limited = 0;
	if (s->max_string < limit - i) {
		limit = i + s->max_string + 1;
		limited = 1;
	}
	*has_escapes = 0;
	for (;;) {
		i = find_special(d, i, limit);
		if (i >= limit) {
			if (limited)
				return scan_fail(s, UMAP_ELIMIT, start,
						 "string longer than the limit of %zu bytes",
						 s->max_string);
			return scan_fail(s, UMAP_EINVALID, start,
					 "unexpected end of input: this string is not closed");
		}
		unsigned char c = d[i];
		switch (string_class[c]) {
		case 1:
			s->i = i + 1;
			return 0;
		case 2: {
			*has_escapes = 1;
			if (i + 1 >= s->len)
				return scan_fail(s, UMAP_EINVALID, start,
						 "unexpected end of input: this string is not closed");
			unsigned char e = d[i + 1];
			if (e == 'u') {
				unsigned cp;
				if (read_hex4(s, i + 2, &cp))
					return scan_fail(s, UMAP_EINVALID, i,
							 "invalid \\u escape: \\u must be followed by "
							 "four hexadecimal digits");
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return scan_fail(s, UMAP_EINVALID, i,
							 "invalid \\u escape: lone low surrogate "
							 "\\u%04x", cp);
				if (cp >= 0xd800 && cp <= 0xdbff) {
					unsigned lo;
					if (i + 7 >= s->len || d[i + 6] != '\\' || d[i + 7] != 'u' ||
					    read_hex4(s, i + 8, &lo) || lo < 0xdc00 || lo > 0xdfff)
						return scan_fail(s, UMAP_EINVALID, i,
								 "invalid \\u escape: high surrogate "
								 "\\u%04x is not followed by a low "
								 "surrogate", cp);
					i += 12;
				} else {
					i += 6;
				}
			} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' ||
				   e == 'n' || e == 'r' || e == 't') {
				i += 2;
			} else {
				char what[80];
				describe_byte(s, i + 1, what, sizeof(what));
				return scan_fail(s, UMAP_EINVALID, i,
						 "invalid escape in string: backslash followed by %s "
						 "(valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
						 what);
			}
			break;
		}
		case 3:
			if (c == 0)
				return scan_fail(s, UMAP_EINVALID, i,
						 "NUL byte in a string (is this a binary or UTF-16 "
						 "file?); write it as \\u0000");
			if (c == '\n' || c == '\r')
				return scan_fail(s, UMAP_EINVALID, i,
						 "line break inside a string: the string is not "
						 "closed, or the break must be written \\n");
			return scan_fail(s, UMAP_EINVALID, i,
					 "unescaped control character 0x%02x in a string; write it "
					 "as \\u%04x", c, c);
		default: {
			size_t n = utf8_sequence(d + i, s->len - i);
			if (!n)
				return scan_fail(s, UMAP_EINVALID, i,
						 "invalid UTF-8 byte 0x%02x in a string (is the file "
						 "in another encoding, such as Latin-1?)", c);
			i += n;
		}
		}
	}
}

/* The first offset from i on that is not an ASCII digit (or n). */
static inline __attribute__((always_inline)) size_t skip_digits(const unsigned char *d, size_t i,
								size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t high = 0x8080808080808080ULL;
	while (n - i >= 8) {
		uint64_t w;
		memcpy(&w, d + i, sizeof(w));
		/* the high bit of each byte above '9' (w + 0x46) or below '0' (w - 0x30);
		 * carries and borrows only reach bytes after the first such one */
		uint64_t other = ((w + 0x4646464646464646ULL) | (w - 0x3030303030303030ULL)) & high;
		if (other)
			return i + (size_t)__builtin_ctzll(other) / 8;
		i += 8;
	}
#endif
	while (i < n && d[i] >= '0' && d[i] <= '9')
		i++;
	return i;
}

/* Scans a number starting at s->i; leaves s->i past it. */
static inline __attribute__((always_inline)) int scan_number(umap_scanner *s)
{
	const unsigned char *d = (const unsigned char *)s->data;
	size_t start = s->i, i = start, n = s->len;
	if (d[i] == '-')
		i++;
	if (i >= n || d[i] < '0' || d[i] > '9') {
		if (i < n && d[i] == 'I')
			return scan_fail(s, UMAP_EINVALID, start,
					 "-Infinity is not a JSON value (JSON has no NaN or "
					 "infinities; use null or a finite number)");
		return scan_fail(s, UMAP_EINVALID, start,
				 "invalid number: expected a digit after '-'");
	}
	long magnitude; /* decimal exponent of the leading digit, plus one */
	int nonzero = 0;
	if (d[i] == '0') {
		i++;
		if (i < n && d[i] >= '0' && d[i] <= '9')
			return scan_fail(s, UMAP_EINVALID, start,
					 "invalid number: leading zeros are not allowed");
		magnitude = 0;
	} else {
		size_t digits = i;
		i = skip_digits(d, i, n);
		magnitude = (long)(i - digits);
		nonzero = 1;
	}
	if (i < n && d[i] == '.') {
		i++;
		if (i >= n || d[i] < '0' || d[i] > '9')
			return scan_fail(s, UMAP_EINVALID, start,
					 "invalid number: expected a digit after the decimal point");
		if (!nonzero) {
			/* 0.000ddd: the zeros after the point lower the magnitude */
			size_t zeros = i;
			while (i < n && d[i] == '0')
				i++;
			magnitude -= (long)(i - zeros);
			nonzero = i < n && d[i] >= '1' && d[i] <= '9';
		}
		i = skip_digits(d, i, n);
	}
	if (i < n && (d[i] == 'e' || d[i] == 'E')) {
		i++;
		int negative = 0;
		if (i < n && (d[i] == '+' || d[i] == '-'))
			negative = d[i++] == '-';
		if (i >= n || d[i] < '0' || d[i] > '9')
			return scan_fail(s, UMAP_EINVALID, start,
					 "invalid number: expected a digit in the exponent");
		long exponent = 0;
		while (i < n && d[i] >= '0' && d[i] <= '9') {
			if (exponent < 100000000)
				exponent = exponent * 10 + (d[i] - '0');
			i++;
		}
		magnitude += negative ? -exponent : exponent;
	}
	s->i = i;
	/* Only numbers near or past 1e308 are worth a strtod to see whether they overflow. */
	if (nonzero && magnitude >= 309) {
		int overflow = magnitude > 309;
		if (!overflow) {
			size_t len = i - start;
			char *copy = malloc(len + 1);
			if (!copy)
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			memcpy(copy, d + start, len);
			copy[len] = '\0';
			overflow = isinf(strtod(copy, NULL));
			free(copy);
		}
		if (overflow)
			return scan_fail(s, UMAP_EINVALID, start,
					 "number %.*s%s is out of range (the largest is "
					 "1.7976931348623157e308)",
					 (int)(i - start > 40 ? 40 : i - start), d + start,
					 i - start > 40 ? "..." : "");
	}
	return 0;
}

static int fail_unexpected(umap_scanner *s, size_t at, const char *expected)
{
	const char *d = s->data;
	if (at >= s->len) {
		if (s->depth) {
			umap_pos open = umap_scanner_pos_at(s, s->opened[s->depth - 1]);
			return scan_fail(s, UMAP_EINVALID, at,
					 "unexpected end of input: the %s opened at line %u, column "
					 "%u is not closed (is the file truncated?)",
					 s->kinds[s->depth - 1] == '{' ? "object" : "array",
					 open.line, open.col);
		}
		if (s->state == ST_VALUE)
			return scan_fail(s, UMAP_EINVALID, at, "empty input: expected a JSON value");
		return scan_fail(s, UMAP_EINVALID, at, "unexpected end of input: expected %s",
				 expected);
	}
	char c = d[at];
	if (c == 'N' || c == 'I')
		return scan_fail(s, UMAP_EINVALID, at,
				 "%s is not a JSON value (JSON has no NaN or infinities; use null "
				 "or a finite number)",
				 c == 'N' ? "NaN" : "Infinity");
	if (c == '/' && at + 1 < s->len && (d[at + 1] == '/' || d[at + 1] == '*'))
		return scan_fail(s, UMAP_EINVALID, at, "comments are not allowed in JSON");
	if (c == '\'')
		return scan_fail(s, UMAP_EINVALID, at,
				 "strings must be in double quotes, not single quotes");
	char what[80];
	size_t n = 1;
	if (c == '"') {
		while (at + n < s->len && n < 24 && d[at + n] != '"' && d[at + n] != '\n' &&
		       (unsigned char)d[at + n] >= 0x20)
			n++;
		int closed = at + n < s->len && d[at + n] == '"';
		snprintf(what, sizeof(what), "string %.*s%s", (int)(n + closed), d + at,
			 closed ? "" : "...");
	} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		   c == '-') {
		while (at + n < s->len && n < 24 &&
		       ((d[at + n] >= 'a' && d[at + n] <= 'z') || (d[at + n] >= 'A' && d[at + n] <= 'Z') ||
			(d[at + n] >= '0' && d[at + n] <= '9') || d[at + n] == '.' || d[at + n] == '_'))
			n++;
		snprintf(what, sizeof(what), "'%.*s'", (int)n, d + at);
	} else {
		describe_byte(s, at, what, sizeof(what));
	}
	/* A value where a separator belongs: almost always a forgotten comma. */
	int missing_comma = expected[0] == '\'' && expected[1] == ',' &&
			    (c == '"' || c == '{' || c == '[' || c == '-' || (c >= '0' && c <= '9') ||
			     c == 't' || c == 'f' || c == 'n');
	return scan_fail(s, UMAP_EINVALID, at, "unexpected %s; expected %s%s", what, expected,
			 missing_comma ? " (is a comma missing?)" : "");
}

static inline __attribute__((always_inline)) void skip_space(umap_scanner *s)
{
	const char *d = s->data;
	size_t i = s->i, n = s->len;
	while (i < n) {
		char c = d[i];
		if (c == ' ' || c == '\t' || c == '\r') {
			i++;
		} else if (c == '\n') {
			s->line++;
			s->line_start = ++i;
		} else {
			break;
		}
	}
	s->i = i;
}

static inline void set_token(umap_scanner *s, umap_token *tok, umap_token_type type,
			     size_t start, size_t depth)
{
	tok->type = type;
	tok->start = start;
	tok->end = s->i;
	tok->pos.line = s->line;
	tok->pos.col = (uint32_t)(start - s->line_start + 1);
	tok->pos.offset = start;
	tok->depth = depth;
	tok->has_escapes = 0;
}

static inline int after_value(umap_scanner *s)
{
	s->state = s->depth ? ST_AFTER : ST_END;
	return 0;
}

static inline __attribute__((always_inline)) int scan_next(umap_scanner *s, umap_token *tok)
{
	const char *d = s->data;
	for (;;) {
		skip_space(s);
		size_t at = s->i;
		switch (s->state) {
		case ST_FAILED:
			return s->failed_code;
		case ST_DONE:
			set_token(s, tok, UMAP_TOKEN_EOF, at, 0);
			return 0;
		case ST_END:
			if (at < s->len)
				return scan_fail(s, UMAP_EINVALID, at,
						 "unexpected data after the end of the JSON value "
						 "(only one value is allowed per file)");
			s->state = ST_DONE;
			set_token(s, tok, UMAP_TOKEN_EOF, at, 0);
			return 0;
		case ST_COLON:
			if (at >= s->len || d[at] != ':')
				return fail_unexpected(s, at, "':' after the member name");
			s->i++;
			s->state = ST_VALUE;
			continue;
		case ST_AFTER: {
			unsigned char kind = s->kinds[s->depth - 1];
			if (at < s->len && d[at] == ',') {
				s->i++;
				s->state = kind == '{' ? ST_KEY : ST_VALUE;
				continue;
			}
			if (at < s->len && d[at] == (kind == '{' ? '}' : ']')) {
				s->i++;
				s->depth--;
				set_token(s, tok, kind == '{' ? UMAP_TOKEN_OBJECT_END
							     : UMAP_TOKEN_ARRAY_END, at, s->depth);
				return after_value(s);
			}
			return fail_unexpected(s, at, kind == '{' ? "',' or '}' after a member"
								  : "',' or ']' after an element");
		}
		case ST_OBJECT_FIRST:
		case ST_KEY:
			if (at < s->len && d[at] == '"') {
				int esc;
				int rc = scan_string(s, &esc);
				if (rc)
					return rc;
				set_token(s, tok, UMAP_TOKEN_KEY, at, s->depth);
				tok->has_escapes = esc;
				s->state = ST_COLON;
				return 0;
			}
			if (at < s->len && d[at] == '}') {
				if (s->state == ST_KEY)
					return scan_fail(s, UMAP_EINVALID, at,
							 "trailing comma before '}'");
				s->i++;
				s->depth--;
				set_token(s, tok, UMAP_TOKEN_OBJECT_END, at, s->depth);
				return after_value(s);
			}
			return fail_unexpected(s, at, s->state == ST_KEY
							      ? "a member name in double quotes"
							      : "a member name in double quotes or '}'");
		case ST_ARRAY_FIRST:
			if (at < s->len && d[at] == ']') {
				s->i++;
				s->depth--;
				set_token(s, tok, UMAP_TOKEN_ARRAY_END, at, s->depth);
				return after_value(s);
			}
			/* fall through */
		case ST_VALUE: {
			if (at >= s->len)
				return fail_unexpected(s, at, "a value");
			size_t depth = s->depth;
			int rc;
			switch (d[at]) {
			case '{':
				if ((rc = push_container(s, '{', at)))
					return rc;
				s->i++;
				s->state = ST_OBJECT_FIRST;
				set_token(s, tok, UMAP_TOKEN_OBJECT_START, at, depth);
				return 0;
			case '[':
				if ((rc = push_container(s, '[', at)))
					return rc;
				s->i++;
				s->state = ST_ARRAY_FIRST;
				set_token(s, tok, UMAP_TOKEN_ARRAY_START, at, depth);
				return 0;
			case '"': {
				int esc;
				if ((rc = scan_string(s, &esc)))
					return rc;
				set_token(s, tok, UMAP_TOKEN_STRING, at, depth);
				tok->has_escapes = esc;
				return after_value(s);
			}
			case '-': case '0': case '1': case '2': case '3': case '4':
			case '5': case '6': case '7': case '8': case '9':
				if ((rc = scan_number(s)))
					return rc;
				set_token(s, tok, UMAP_TOKEN_NUMBER, at, depth);
				return after_value(s);
			case 't':
				if (s->len - at >= 4 && memcmp(d + at, "true", 4) == 0) {
					s->i += 4;
					set_token(s, tok, UMAP_TOKEN_TRUE, at, depth);
					return after_value(s);
				}
				break;
			case 'f':
				if (s->len - at >= 5 && memcmp(d + at, "false", 5) == 0) {
					s->i += 5;
					set_token(s, tok, UMAP_TOKEN_FALSE, at, depth);
					return after_value(s);
				}
				break;
			case 'n':
				if (s->len - at >= 4 && memcmp(d + at, "null", 4) == 0) {
					s->i += 4;
					set_token(s, tok, UMAP_TOKEN_NULL, at, depth);
					return after_value(s);
				}
				break;
			case ']':
				if (s->state == ST_VALUE && s->depth && s->kinds[s->depth - 1] == '[')
					return scan_fail(s, UMAP_EINVALID, at,
							 "trailing comma before ']'");
				break;
			case '+':
				return scan_fail(s, UMAP_EINVALID, at,
						 "invalid number: a number cannot start with '+'");
			case '.':
				return scan_fail(s, UMAP_EINVALID, at,
						 "invalid number: a number needs a digit before the "
						 "decimal point");
			}
			return fail_unexpected(s, at, "a value");
		}
		}
	}
}

int umap_scanner_next(umap_scanner *s, umap_token *tok)
{
	return scan_next(s, tok);
}

void umap_scanner_mark_here(const umap_scanner *s, umap_scanner_mark *mark)
{
	mark->offset = s->i;
	mark->depth = s->depth;
	mark->line_start = s->line_start;
	mark->line = s->line;
	mark->state = (int)s->state;
}

/* The container stack below mark->depth is untouched by anything scanned since the mark,
 * so restoring the counters is enough. */
void umap_scanner_reset(umap_scanner *s, const umap_scanner_mark *mark)
{
	s->i = mark->offset;
	s->depth = mark->depth;
	s->line_start = mark->line_start;
	s->line = mark->line;
	s->state = (enum scan_state)mark->state;
}

enum skip_result { SKIP_DONE, SKIP_ERROR, SKIP_SLOW };

/* The offset just past the closing quote of the string whose quote is at d[i], when it is
 * plain (no escape, control or non-ASCII byte) and within max_string; else 0. */
static inline __attribute__((always_inline)) size_t plain_string_end(const umap_scanner *s,
								     const unsigned char *d,
								     size_t i, size_t n)
{
	size_t j = find_special(d, i + 1, n);
	if (j >= n)
		return 0;
	if (d[j] != '"' || j - i - 1 > s->max_string)
		return 0;
	return j + 1;
}

/* The offset just past the string whose quote is at d[i]: a plain one at once, any other
 * through scan_string, which sets *has_escapes and fails with its message (then 0). */
static inline __attribute__((always_inline)) size_t string_end(umap_scanner *s,
							       const unsigned char *d, size_t i,
							       size_t n, int *has_escapes)
{
	size_t end = plain_string_end(s, d, i, n);
	*has_escapes = 0;
	if (end)
		return end;
	s->i = i;
	return scan_string(s, has_escapes) ? 0 : s->i;
}

/* The offset just past the number at d[i] when it is -?digits(.digits)? with no leading
 * zero and far from overflowing; else 0 (scan_number decides). */
static inline __attribute__((always_inline)) size_t plain_number_end(const unsigned char *d,
								     size_t i, size_t n)
{
	size_t start = i;
	if (d[i] == '-' && ++i >= n)
		return 0;
	if (d[i] == '0') {
		i++;
		if (i < n && d[i] >= '0' && d[i] <= '9')
			return 0;
	} else {
		size_t digits = i;
		i = skip_digits(d, i, n);
		if (i == digits || i - digits > 300)
			return 0;
	}
	if (i < n && d[i] == '.') {
		size_t point = ++i;
		i = skip_digits(d, i, n);
		if (i == point)
			return 0;
	}
	if (i < n && (d[i] == 'e' || d[i] == 'E'))
		return 0;
	return i > start ? i : 0;
}

/* What umap_scanner_skip_member looks for: the member `name` of the object being skipped. */
struct member_watch {
	const char *name;
	size_t len;
	umap_token *member;
	int *found;
};

/* Whether the value token `t` ends the search for a member (see umap_scanner_skip_member). */
static int member_final(const umap_token *t)
{
	return t->type != UMAP_TOKEN_STRING && t->type != UMAP_TOKEN_NUMBER &&
	       t->type != UMAP_TOKEN_NULL;
}

/* The rest of the container opened at depth `depth`, without tokens: the grammar as
 * scan_next has it, in one loop. Strings and numbers go through scan_string and
 * scan_number (their errors are scan_next's); anything else that is not valid JSON, or
 * that needs more stack, returns SKIP_SLOW so that the token-by-token skip says what is
 * wrong. With `watch`, members of the outer object named watch->name are reported. */
static inline __attribute__((always_inline)) enum skip_result
skip_fast(umap_scanner *s, size_t depth, size_t *end_offset, const struct member_watch *watch)
{
	const unsigned char *d = (const unsigned char *)s->data;
	const size_t n = s->len;
	size_t i = s->i, open = s->depth;
	/* the innermost open container's bracket, '{' or '[' (s->kinds[open - 1]) */
	unsigned char kind = open ? s->kinds[open - 1] : 0;
	uint32_t line = s->line;
	size_t line_start = s->line_start;
	unsigned char c;
	int esc, capture = 0, done_watching = 0;
	size_t value_start = 0, end;

#define SKIP_SPACE()                                                                      \
	while (i < n && (c = d[i]) <= ' ') {                                             \
		if (c == '\n') {                                                         \
			line++;                                                           \
			line_start = i + 1;                                               \
		} else if (c != ' ' && c != '\t' && c != '\r') {                        \
			break;                                                            \
		}                                                                         \
		i++;                                                                      \
	}
	if (s->state == ST_ARRAY_FIRST)
		goto array_first;
	if (s->state != ST_OBJECT_FIRST)
		return SKIP_SLOW;
object_first:
	SKIP_SPACE();
	if (i < n && d[i] == '}')
		goto close;
key:
	SKIP_SPACE();
	if (i >= n || d[i] != '"')
		return SKIP_SLOW;
	if (!(end = string_end(s, d, i, n, &esc)))
		return SKIP_ERROR;
	if (watch && open == depth + 1 && !done_watching) {
		/* a name with escapes may still be the one watched: the slow way decodes it */
		if (esc)
			return SKIP_SLOW;
		capture = end - i - 2 == watch->len && !memcmp(d + i + 1, watch->name, watch->len);
	}
	i = end;
	SKIP_SPACE();
	if (i >= n || d[i] != ':')
		return SKIP_SLOW;
	i++;
	goto value;
array_first:
	SKIP_SPACE();
	if (i < n && d[i] == ']')
		goto close;
value:
	SKIP_SPACE();
	if (i >= n)
		return SKIP_SLOW;
	value_start = i;
	esc = 0;
	switch (d[i]) {
	case '{':
	case '[':
		if (open >= s->max_depth || (open == s->stack_cap && grow_stack(s)))
			return SKIP_SLOW;
		s->kinds[open++] = kind = d[i];
		if (capture)
			goto captured;
		if (d[i++] == '{')
			goto object_first;
		goto array_first;
	case '"':
		if (!(i = string_end(s, d, i, n, &esc)))
			return SKIP_ERROR;
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
	number:
		if ((s->i = plain_number_end(d, i, n)) == 0) {
			s->i = i;
			if (scan_number(s))
				return SKIP_ERROR;
		}
		i = s->i;
		/* coordinates are most of a GeoJSON file: in an array, a number that follows a
		 * comma at once is the next value (capture is only ever set in an object) */
		if (kind == '[' && n - i > 1 && d[i] == ',' &&
		    ((unsigned char)(d[i + 1] - '0') <= 9 || d[i + 1] == '-')) {
			i++;
			goto number;
		}
		break;
	case 't':
		if (n - i < 4 || memcmp(d + i, "true", 4))
			return SKIP_SLOW;
		i += 4;
		break;
	case 'f':
		if (n - i < 5 || memcmp(d + i, "false", 5))
			return SKIP_SLOW;
		i += 5;
		break;
	case 'n':
		if (n - i < 4 || memcmp(d + i, "null", 4))
			return SKIP_SLOW;
		i += 4;
		break;
	default:
		return SKIP_SLOW;
	}
	if (capture) {
captured:
		capture = 0;
		umap_token *t = watch->member;
		switch (d[value_start]) {
		case '{': t->type = UMAP_TOKEN_OBJECT_START; break;
		case '[': t->type = UMAP_TOKEN_ARRAY_START; break;
		case '"': t->type = UMAP_TOKEN_STRING; break;
		case 't': t->type = UMAP_TOKEN_TRUE; break;
		case 'f': t->type = UMAP_TOKEN_FALSE; break;
		case 'n': t->type = UMAP_TOKEN_NULL; break;
		default: t->type = UMAP_TOKEN_NUMBER; break;
		}
		t->start = value_start;
		t->end = t->type == UMAP_TOKEN_OBJECT_START || t->type == UMAP_TOKEN_ARRAY_START
				 ? value_start + 1 : i;
		t->pos.line = line;
		t->pos.col = (uint32_t)(value_start - line_start + 1);
		t->pos.offset = value_start;
		t->depth = depth + 1;
		t->has_escapes = esc;
		*watch->found = 1;
		done_watching = member_final(t);
		if (t->type == UMAP_TOKEN_OBJECT_START) {
			i++;
			goto object_first;
		}
		if (t->type == UMAP_TOKEN_ARRAY_START) {
			i++;
			goto array_first;
		}
	}
after:
	SKIP_SPACE();
	if (i >= n)
		return SKIP_SLOW;
	if (d[i] == ',') {
		i++;
		if (kind == '{')
			goto key;
		goto value;
	}
	if (d[i] != (kind == '{' ? '}' : ']'))
		return SKIP_SLOW;
close:
	i++;
	if (--open > depth) {
		kind = s->kinds[open - 1];
		goto after;
	}
#undef SKIP_SPACE
	s->i = i;
	s->depth = open;
	s->line = line;
	s->line_start = line_start;
	*end_offset = i;
	after_value(s);
	return SKIP_DONE;
}

/* Skips token by token: slower, but every error comes out of scan_next with its message. */
static int skip_by_tokens(umap_scanner *s, size_t depth, size_t *end_offset,
			  const struct member_watch *watch)
{
	umap_token tok = { 0 };
	umap_buf name = UMAP_BUF_INIT;
	int rc, capture = 0, done_watching = 0;
	for (;;) {
		if ((rc = scan_next(s, &tok)))
			break;
		if (capture) {
			capture = 0;
			*watch->member = tok;
			*watch->found = 1;
			done_watching = member_final(&tok);
		}
		if (watch && !done_watching && tok.type == UMAP_TOKEN_KEY && tok.depth == depth + 1) {
			if ((rc = umap_scanner_string(s, &tok, &name)))
				break;
			capture = name.len == watch->len && !memcmp(name.ptr, watch->name, watch->len);
		}
		if (tok.depth == depth &&
		    (tok.type == UMAP_TOKEN_OBJECT_END || tok.type == UMAP_TOKEN_ARRAY_END)) {
			*end_offset = tok.end;
			break;
		}
	}
	umap_buf_dispose(&name);
	return rc;
}

static int skip_value(umap_scanner *s, const umap_token *first, size_t *end_offset,
		      const struct member_watch *watch)
{
	if (s->state == ST_FAILED)
		return s->failed_code;
	if (s->depth == first->depth + 1) {
		umap_scanner_mark mark;
		umap_scanner_mark_here(s, &mark);
		enum skip_result r = watch ? skip_fast(s, first->depth, end_offset, watch)
					   : skip_fast(s, first->depth, end_offset, NULL);
		if (r == SKIP_DONE)
			return 0;
		if (r == SKIP_ERROR)
			return s->failed_code;
		/* not valid (or too deep for the stack we have): scan it again for the message */
		umap_scanner_reset(s, &mark);
		if (watch)
			*watch->found = 0;
	}
	return skip_by_tokens(s, first->depth, end_offset, watch);
}

int umap_scanner_skip(umap_scanner *s, const umap_token *first, size_t *end_offset)
{
	if (first->type != UMAP_TOKEN_OBJECT_START && first->type != UMAP_TOKEN_ARRAY_START) {
		if (first->type == UMAP_TOKEN_KEY || first->type == UMAP_TOKEN_OBJECT_END ||
		    first->type == UMAP_TOKEN_ARRAY_END || first->type == UMAP_TOKEN_EOF)
			return umap_error_set(UMAP_EUSAGE, "umap_scanner_skip: token starts no value");
		*end_offset = first->end;
		return 0;
	}
	return skip_value(s, first, end_offset, NULL);
}

/* A number spelled as umap_json_write writes the value built from it: an integer of at most
 * 15 digits (not -0), or a decimal of at most 15 significant digits without exponent or
 * trailing zero, at least 1e-6 (JavaScript writes smaller ones with an exponent). Such a
 * decimal is the shortest that reads back as its double: no shorter one of at most 15
 * digits reads back as the same double (DBL_DIG). Anything else may be spelled otherwise. */
static int number_is_compact(const char *p, size_t n)
{
	size_t i = p[0] == '-', significant = 0, point = 0, zeros = 0;
	int leading = 1;
	for (; i < n; i++) {
		char c = p[i];
		if (c == '.') {
			if (point)
				return 0;
			point = i;
			continue;
		}
		if (c < '0' || c > '9')
			return 0; /* an exponent */
		if (leading && c == '0') {
			zeros += point != 0;
			continue;
		}
		leading = 0;
		significant++;
	}
	if (significant > 15)
		return 0;
	if (!point)
		return !(leading && p[0] == '-'); /* -0 is a real, written 0 */
	return !leading && p[n - 1] != '0' && zeros <= 5;
}

/* A string (or member name) token whose bytes are those the writer writes: its escapes are
 * only the short ones the writer uses (a \u escape may stand for what is written raw). */
static int string_is_compact(const char *p, size_t n, int has_escapes)
{
	if (!has_escapes)
		return 1;
	for (size_t i = 1; i + 1 < n; i++)
		if (p[i] == '\\' && !strchr("\"\\bfnrt", p[++i]))
			return 0;
	return 1;
}

#define COMPACT_MAX_DEPTH 64
#define COMPACT_MAX_KEYS 256

int umap_scanner_skip_compact(umap_scanner *s, const umap_token *first, size_t *end_offset, int *compact,
			      const char *const *names, umap_token *found)
{
	*compact = 1;
	for (size_t k = 0; names && names[k]; k++)
		found[k].type = UMAP_TOKEN_EOF;
	if (first->type == UMAP_TOKEN_KEY || first->type == UMAP_TOKEN_OBJECT_END ||
	    first->type == UMAP_TOKEN_ARRAY_END || first->type == UMAP_TOKEN_EOF)
		return umap_error_set(UMAP_EUSAGE, "umap_scanner_skip_compact: token starts no value");
	const char *d = s->data;
	/* the member names of the open objects, to see a repeated one: keys[base[l]..nkeys) */
	size_t key_start[COMPACT_MAX_KEYS], key_len[COMPACT_MAX_KEYS], base[COMPACT_MAX_DEPTH + 1], nkeys = 0;
	size_t level = 0, prev_end = first->start;
	umap_token tok = *first;
	int wanted = -1; /* the next token is the value of names[wanted] */
	for (;;) {
		switch (tok.type) {
		case UMAP_TOKEN_OBJECT_START:
		case UMAP_TOKEN_ARRAY_START:
			if (level < COMPACT_MAX_DEPTH)
				base[level] = nkeys;
			else
				*compact = 0;
			level++;
			break;
		case UMAP_TOKEN_OBJECT_END:
		case UMAP_TOKEN_ARRAY_END:
			level--;
			if (level < COMPACT_MAX_DEPTH)
				nkeys = base[level];
			break;
		case UMAP_TOKEN_KEY: {
			const char *k = d + tok.start;
			size_t n = tok.end - tok.start;
			if (!string_is_compact(k, n, tok.has_escapes) || level > COMPACT_MAX_DEPTH ||
			    nkeys == COMPACT_MAX_KEYS) {
				*compact = 0;
				break;
			}
			for (size_t j = base[level - 1]; j < nkeys && *compact; j++)
				if (key_len[j] == n && !memcmp(d + key_start[j], k, n))
					*compact = 0; /* repeated: the strict parse says where */
			key_start[nkeys] = tok.start;
			key_len[nkeys++] = n;
			for (size_t j = 0; level == 1 && names && names[j]; j++)
				if (strlen(names[j]) == n - 2 && !memcmp(names[j], k + 1, n - 2))
					wanted = (int)j;
			break;
		}
		case UMAP_TOKEN_STRING:
			if (!string_is_compact(d + tok.start, tok.end - tok.start, tok.has_escapes))
				*compact = 0;
			break;
		case UMAP_TOKEN_NUMBER:
			if (!number_is_compact(d + tok.start, tok.end - tok.start))
				*compact = 0;
			break;
		default:
			break;
		}
		if (tok.type != UMAP_TOKEN_KEY && wanted >= 0) {
			found[wanted] = tok;
			wanted = -1;
		}
		/* nothing but the one separator between tokens */
		if (tok.start != prev_end &&
		    (tok.start != prev_end + 1 || d[prev_end] == ' ' || d[prev_end] == '\t' ||
		     d[prev_end] == '\n' || d[prev_end] == '\r'))
			*compact = 0;
		prev_end = tok.end;
		if (!level)
			break;
		int rc = scan_next(s, &tok);
		if (rc)
			return rc;
	}
	*end_offset = prev_end;
	return 0;
}

int umap_scanner_skip_known(umap_scanner *s, const umap_token *first, size_t end, uint32_t lines,
			    size_t line_start)
{
	if (s->state == ST_FAILED)
		return s->failed_code;
	if ((first->type != UMAP_TOKEN_OBJECT_START && first->type != UMAP_TOKEN_ARRAY_START) ||
	    s->depth != first->depth + 1 || s->i != first->end || end <= first->start ||
	    end > s->len || (lines && (line_start <= first->start || line_start > end)))
		return umap_error_set(UMAP_EUSAGE,
				      "umap_scanner_skip_known: not right after the value's bracket");
	s->depth--;
	s->i = end;
	if (lines) {
		s->line += lines;
		s->line_start = line_start;
	}
	return after_value(s);
}

int umap_scanner_enter(umap_scanner *s, size_t offset, const char *brackets)
{
	size_t n = strlen(brackets);
	if (s->i || s->depth || s->state != ST_VALUE || !n || brackets[n - 1] != '[' ||
	    offset > s->len)
		return umap_error_set(UMAP_EUSAGE, "umap_scanner_enter: not a fresh scanner");
	for (size_t k = 0; k < n; k++) {
		int rc = push_container(s, (unsigned char)brackets[k], offset);
		if (rc)
			return rc;
	}
	s->i = offset;
	s->line_start = offset;
	return 0;
}

void umap_scanner_where(const umap_scanner *s, uint32_t *line, size_t *line_start)
{
	*line = s->line;
	*line_start = s->line_start;
}

int umap_scanner_skip_member(umap_scanner *s, const umap_token *first, const char *name,
			     umap_token *member, int *found, size_t *end_offset)
{
	*found = 0;
	if (first->type != UMAP_TOKEN_OBJECT_START)
		return umap_error_set(UMAP_EUSAGE, "umap_scanner_skip_member: not an object");
	struct member_watch watch = { name, strlen(name), member, found };
	return skip_value(s, first, end_offset, &watch);
}

static void put_utf8(umap_buf *out, unsigned cp, char *tmp)
{
	size_t n;
	if (cp < 0x80) {
		tmp[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xc0 | cp >> 6);
		tmp[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xe0 | cp >> 12);
		tmp[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		tmp[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		tmp[0] = (char)(0xf0 | cp >> 18);
		tmp[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		tmp[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		tmp[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	memcpy(out->ptr + out->len, tmp, n);
	out->len += n;
}

int umap_scanner_string(umap_scanner *s, const umap_token *tok, umap_buf *out)
{
	if (tok->type != UMAP_TOKEN_STRING && tok->type != UMAP_TOKEN_KEY)
		return umap_error_set(UMAP_EUSAGE, "umap_scanner_string: not a string token");
	umap_buf_clear(out);
	const char *raw = s->data + tok->start + 1;
	size_t len = tok->end - tok->start - 2;
	if (!tok->has_escapes)
		return umap_buf_put(out, raw, len);
	/* The decoded string is never longer than the raw one; the token was validated. */
	if (umap_buf_grow(out, len))
		return UMAP_ENOMEM;
	char tmp[4];
	for (size_t i = 0; i < len;) {
		const char *bs = memchr(raw + i, '\\', len - i);
		size_t plain = bs ? (size_t)(bs - (raw + i)) : len - i;
		memcpy(out->ptr + out->len, raw + i, plain);
		out->len += plain;
		i += plain;
		if (!bs)
			break;
		char e = raw[i + 1];
		i += 2;
		switch (e) {
		case 'b': out->ptr[out->len++] = '\b'; break;
		case 'f': out->ptr[out->len++] = '\f'; break;
		case 'n': out->ptr[out->len++] = '\n'; break;
		case 'r': out->ptr[out->len++] = '\r'; break;
		case 't': out->ptr[out->len++] = '\t'; break;
		case 'u': {
			unsigned cp = 0, lo = 0;
			for (int k = 0; k < 4; k++)
				cp = cp << 4 | (unsigned)hex_value((unsigned char)raw[i + k]);
			i += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				for (int k = 0; k < 4; k++)
					lo = lo << 4 | (unsigned)hex_value((unsigned char)raw[i + 2 + k]);
				i += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			put_utf8(out, cp, tmp);
			break;
		}
		default: out->ptr[out->len++] = e; break;
		}
	}
	out->ptr[out->len] = '\0';
	return 0;
}

/* ---- Trees ----------------------------------------------------------------------- */

/* Positions of values and member names, keyed by the json_t (or jansson's key string)
 * pointer. Open addressing; never shrinks; lives as long as the tree. */
struct pos_entry {
	const void *key;
	umap_pos pos;
};

struct duplicate {
	char *key;
	umap_pos first, again;
};

struct umap_json_doc {
	json_t *root;
	struct pos_entry *table;
	size_t table_cap, table_used;
	struct duplicate *dups;
	size_t ndups, dups_cap;
};

static size_t hash_pointer(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static int pos_put(umap_json_doc *doc, const void *key, umap_pos pos)
{
	if ((doc->table_used + 1) * 4 > doc->table_cap * 3) {
		size_t cap = doc->table_cap ? doc->table_cap * 2 : 256;
		struct pos_entry *table = calloc(cap, sizeof(*table));
		if (!table)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		for (size_t i = 0; i < doc->table_cap; i++) {
			if (!doc->table[i].key)
				continue;
			size_t j = hash_pointer(doc->table[i].key) & (cap - 1);
			while (table[j].key)
				j = (j + 1) & (cap - 1);
			table[j] = doc->table[i];
		}
		free(doc->table);
		doc->table = table;
		doc->table_cap = cap;
	}
	size_t j = hash_pointer(key) & (doc->table_cap - 1);
	while (doc->table[j].key && doc->table[j].key != key)
		j = (j + 1) & (doc->table_cap - 1);
	if (!doc->table[j].key)
		doc->table_used++;
	doc->table[j].key = key;
	doc->table[j].pos = pos;
	return 0;
}

static const umap_pos *pos_get(const umap_json_doc *doc, const void *key)
{
	if (!doc->table_cap || !key)
		return NULL;
	size_t j = hash_pointer(key) & (doc->table_cap - 1);
	while (doc->table[j].key) {
		if (doc->table[j].key == key)
			return &doc->table[j].pos;
		j = (j + 1) & (doc->table_cap - 1);
	}
	return NULL;
}

/* jansson keeps one true/false/null each: they cannot carry positions. */
static int is_singleton(const json_t *v)
{
	return json_is_true(v) || json_is_false(v) || json_is_null(v);
}

static json_t *number_value(umap_scanner *s, const umap_token *tok)
{
	const char *text = s->data + tok->start;
	size_t len = tok->end - tok->start;
	int integral = !memchr(text, '.', len) && !memchr(text, 'e', len) && !memchr(text, 'E', len);
	size_t digits = len - (text[0] == '-');
	/* Integers up to 2^53 (16 digits) are exact in a double and in JavaScript. */
	if (integral && digits <= 16 && !(text[0] == '-' && len == 2 && text[1] == '0')) {
		long long v = 0;
		for (size_t i = text[0] == '-'; i < len; i++)
			v = v * 10 + (text[i] - '0');
		if (v <= (1LL << 53))
			return json_integer(text[0] == '-' ? -v : v);
	}
	/* d.ddd with at most 15 digits and no exponent: both the digits as an integer and the
	 * power of ten are exact doubles, so one division rounds as strtod does (Clinger) */
	if (!memchr(text, 'e', len) && !memchr(text, 'E', len) && digits <= 16) {
		uint64_t m = 0;
		size_t ndigits = 0, frac = 0;
		int point = 0;
		for (size_t i = text[0] == '-'; i < len; i++) {
			if (text[i] == '.') {
				point = 1;
				continue;
			}
			m = m * 10 + (uint64_t)(text[i] - '0');
			ndigits++;
			frac += point;
		}
		static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
						1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
		if (ndigits <= 15) {
			double v = (double)m / pow10[frac];
			return json_real(text[0] == '-' ? -v : v);
		}
	}
	char small[64];
	char *copy = len < sizeof(small) ? small : malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	double v = strtod(copy, NULL);
	if (copy != small)
		free(copy);
	return json_real(v);
}

/* One open container while building: the container and, for an object, the pending key. */
struct build_frame {
	json_t *container;
	/* kept with the frame's slot, so that a member name costs no malloc */
	umap_buf key;
	umap_pos key_pos;
};

static int build_fail_oom(void)
{
	return umap_error_set(UMAP_ENOMEM, "out of memory while building a JSON tree");
}

/* Builds the value starting with `first`; without recursion, so depth costs heap only. */
static int build_value(umap_scanner *s, const umap_token *first, umap_json_doc *doc,
		       int reject_duplicates, json_t **out)
{
	struct build_frame *stack = NULL;
	size_t nstack = 0, cap = 0;
	umap_buf str = UMAP_BUF_INIT;
	json_t *root = NULL;
	umap_token tok = *first;
	int rc = 0;
	*out = NULL;
	if (tok.type == UMAP_TOKEN_KEY || tok.type == UMAP_TOKEN_OBJECT_END ||
	    tok.type == UMAP_TOKEN_ARRAY_END || tok.type == UMAP_TOKEN_EOF)
		return umap_error_set(UMAP_EUSAGE, "umap_scanner_build: token starts no value");

	for (;;) {
		json_t *value = NULL;
		int opens = 0;
		switch (tok.type) {
		case UMAP_TOKEN_OBJECT_START: value = json_object(); opens = 1; break;
		case UMAP_TOKEN_ARRAY_START: value = json_array(); opens = 1; break;
		case UMAP_TOKEN_STRING:
			if ((rc = umap_scanner_string(s, &tok, &str)))
				goto done;
			value = json_stringn_nocheck(str.ptr ? str.ptr : "", str.len);
			break;
		case UMAP_TOKEN_NUMBER: value = number_value(s, &tok); break;
		case UMAP_TOKEN_TRUE: value = json_true(); break;
		case UMAP_TOKEN_FALSE: value = json_false(); break;
		case UMAP_TOKEN_NULL: value = json_null(); break;
		case UMAP_TOKEN_KEY: {
			struct build_frame *top = &stack[nstack - 1];
			if ((rc = umap_scanner_string(s, &tok, &top->key)))
				goto done;
			top->key_pos = tok.pos;
			break;
		}
		case UMAP_TOKEN_OBJECT_END:
		case UMAP_TOKEN_ARRAY_END:
			nstack--;
			if (!nstack)
				goto done;
			break;
		case UMAP_TOKEN_EOF:
			rc = umap_error_set(UMAP_EUSAGE, "umap_scanner_build: token starts no value");
			goto done;
		}
		if (tok.type != UMAP_TOKEN_KEY && tok.type != UMAP_TOKEN_OBJECT_END &&
		    tok.type != UMAP_TOKEN_ARRAY_END) {
			if (!value) {
				rc = build_fail_oom();
				goto done;
			}
			if (doc && !is_singleton(value) && (rc = pos_put(doc, value, tok.pos))) {
				json_decref(value);
				goto done;
			}
			if (!nstack) {
				root = value;
			} else {
				struct build_frame *top = &stack[nstack - 1];
				if (json_is_array(top->container)) {
					if (json_array_append_new(top->container, value)) {
						rc = build_fail_oom();
						goto done;
					}
				} else {
					json_t *old = json_object_getn(top->container, top->key.ptr,
								       top->key.len);
					if (old) {
						void *iter = json_object_iter_at(top->container, top->key.ptr);
						const char *k = iter ? json_object_iter_key(iter) : NULL;
						const umap_pos *fp = doc ? pos_get(doc, k) : NULL;
						umap_pos first_pos = fp ? *fp : (umap_pos){ 0, 0, 0 };
						if (reject_duplicates) {
							json_decref(value);
							if (fp)
								rc = scan_fail(s, UMAP_EINVALID,
									       top->key_pos.offset,
									       "duplicate member \"%s\" (first at line %u, column %u)",
									       top->key.ptr, first_pos.line,
									       first_pos.col);
							else
								rc = scan_fail(s, UMAP_EINVALID,
									       top->key_pos.offset,
									       "duplicate member \"%s\"",
									       top->key.ptr);
							goto done;
						}
						if (doc) {
							if (doc->ndups == doc->dups_cap) {
								size_t c = doc->dups_cap ? doc->dups_cap * 2 : 8;
								struct duplicate *dd =
									realloc(doc->dups, c * sizeof(*dd));
								if (!dd) {
									json_decref(value);
									rc = build_fail_oom();
									goto done;
								}
								doc->dups = dd;
								doc->dups_cap = c;
							}
							char *kc = strdup(top->key.ptr);
							if (!kc) {
								json_decref(value);
								rc = build_fail_oom();
								goto done;
							}
							doc->dups[doc->ndups].key = kc;
							doc->dups[doc->ndups].first = first_pos;
							doc->dups[doc->ndups].again = top->key_pos;
							doc->ndups++;
						}
					}
					if (json_object_setn_new_nocheck(top->container, top->key.ptr,
									 top->key.len, value)) {
						rc = build_fail_oom();
						goto done;
					}
					if (doc && !old) {
						void *iter = json_object_iter_at(top->container, top->key.ptr);
						const char *k = iter ? json_object_iter_key(iter) : NULL;
						if (k && (rc = pos_put(doc, k, top->key_pos)))
							goto done;
					}
				}
			}
			if (opens) {
				if (nstack == cap) {
					size_t c = cap ? cap * 2 : 16;
					struct build_frame *st = realloc(stack, c * sizeof(*st));
					if (!st) {
						rc = build_fail_oom();
						goto done;
					}
					stack = st;
					for (size_t k = cap; k < c; k++)
						stack[k].key = (umap_buf)UMAP_BUF_INIT;
					cap = c;
				}
				stack[nstack].container = value;
				umap_buf_clear(&stack[nstack].key);
				nstack++;
			} else if (!nstack) {
				goto done;
			}
		}
		if ((rc = scan_next(s, &tok)))
			goto done;
	}
done:
	for (size_t i = 0; i < cap; i++)
		umap_buf_dispose(&stack[i].key);
	free(stack);
	umap_buf_dispose(&str);
	if (rc) {
		json_decref(root);
		return rc;
	}
	*out = root;
	return 0;
}

int umap_scanner_build(umap_scanner *s, const umap_token *first, json_t **out)
{
	return build_value(s, first, NULL, 0, out);
}

int umap_scanner_build_unique(umap_scanner *s, const umap_token *first, json_t **out)
{
	return build_value(s, first, NULL, 1, out);
}

static int parse_into(umap_json_doc *doc, const char *data, size_t len,
		      const umap_json_options *opts, json_t **out)
{
	umap_scanner *s;
	int rc = umap_scanner_new(&s, data, len, opts);
	if (rc)
		return rc;
	umap_token tok;
	json_t *root = NULL;
	if (!(rc = scan_next(s, &tok)))
		rc = build_value(s, &tok, doc, opts ? opts->reject_duplicates : 0, &root);
	if (!rc && !(rc = scan_next(s, &tok)) && tok.type != UMAP_TOKEN_EOF)
		rc = scan_fail(s, UMAP_EINVALID, tok.start, "unexpected data after the JSON value");
	umap_scanner_free(s);
	if (rc) {
		json_decref(root);
		return rc;
	}
	*out = root;
	return 0;
}

int umap_json_parse(umap_json_doc **out, const char *data, size_t len,
		    const umap_json_options *opts)
{
	*out = NULL;
	umap_json_doc *doc = calloc(1, sizeof(*doc));
	if (!doc)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	/* Duplicates are listed only where positions are kept. */
	int keep = opts && opts->keep_positions;
	int rc = parse_into(keep ? doc : NULL, data, len, opts, &doc->root);
	if (rc) {
		umap_json_doc_free(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

int umap_scanner_build_doc(umap_json_doc **out, umap_scanner *s, const umap_token *first,
			   int reject_duplicates)
{
	*out = NULL;
	umap_json_doc *doc = calloc(1, sizeof(*doc));
	if (!doc)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	int rc = build_value(s, first, doc, reject_duplicates, &doc->root);
	if (rc) {
		umap_json_doc_free(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

json_t *umap_json_doc_root(const umap_json_doc *doc)
{
	return doc ? doc->root : NULL;
}

int umap_json_doc_pos(umap_pos *out, const umap_json_doc *doc, const json_t *value)
{
	const umap_pos *p = doc ? pos_get(doc, value) : NULL;
	if (!p) {
		*out = (umap_pos){ 0, 0, 0 };
		return UMAP_ENOTFOUND;
	}
	*out = *p;
	return 0;
}

int umap_json_doc_key_pos(umap_pos *out, const umap_json_doc *doc, const json_t *object,
			  const char *key)
{
	*out = (umap_pos){ 0, 0, 0 };
	if (!doc || !json_is_object(object))
		return UMAP_ENOTFOUND;
	void *iter = json_object_iter_at((json_t *)object, key);
	const umap_pos *p = iter ? pos_get(doc, json_object_iter_key(iter)) : NULL;
	if (!p)
		return UMAP_ENOTFOUND;
	*out = *p;
	return 0;
}

size_t umap_json_doc_duplicate_count(const umap_json_doc *doc)
{
	return doc ? doc->ndups : 0;
}

int umap_json_doc_duplicate(const umap_json_doc *doc, size_t i, const char **key,
			    umap_pos *first, umap_pos *again)
{
	if (!doc || i >= doc->ndups)
		return UMAP_ENOTFOUND;
	if (key)
		*key = doc->dups[i].key;
	if (first)
		*first = doc->dups[i].first;
	if (again)
		*again = doc->dups[i].again;
	return 0;
}

void umap_json_doc_free(umap_json_doc *doc)
{
	if (!doc)
		return;
	json_decref(doc->root);
	free(doc->table);
	for (size_t i = 0; i < doc->ndups; i++)
		free(doc->dups[i].key);
	free(doc->dups);
	free(doc);
}

int umap_json_loadb(json_t **out, const char *data, size_t len, const char *source_name)
{
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.source_name = source_name;
	*out = NULL;
	return parse_into(NULL, data, len, &opts, out);
}
