/* The output half of lib/json.h: the shortest round-trip number printer, the JSON writer,
 * semantic equality and hashing. Not jansson's dumps: it prints reals with %.17g. */
#include "json.h"
#include "error.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- Numbers --------------------------------------------------------------------- */

/* Rounds v to `precision` significant digits; leaves the digits (no trailing zeros
 * removed yet) in `digits` and returns the decimal exponent of the first one. */
static int round_digits(double v, int precision, char *digits, int *ndigits)
{
	char tmp[40];
	snprintf(tmp, sizeof(tmp), "%.*e", precision - 1, v);
	/* tmp is "d.ddddde[+-]XX" (v is positive and finite here). */
	int n = 0;
	const char *p = tmp;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[n++] = *p;
	digits[n] = '\0';
	*ndigits = n;
	return atoi(p + 1);
}

static double digits_value(const char *digits, int exponent)
{
	char tmp[48];
	snprintf(tmp, sizeof(tmp), "%c.%se%d", digits[0], digits + 1, exponent);
	return strtod(tmp, NULL);
}

/* Adds one unit in the last place to a digit string; returns 1 when it carried out
 * ("999" -> "000", the caller bumps the exponent). */
static int increment_digits(char *digits, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		if (digits[i] != '9') {
			digits[i]++;
			return 0;
		}
		digits[i] = '0';
	}
	return 1;
}

/* Why not "%.17g": seventeen digits always read back, but are often not the shortest
 * (1.2345 prints as 1.2344999999999999, 0.1 as 0.10000000000000001); JavaScript prints
 * the shortest digit string that reads back, and so must we for a round trip to change
 * nothing. Shortest digits: any double's correctly rounded 15-digit form identifies it
 * when a string of at most 15 digits does (DBL_DIG = 15), so when 15 digits read back the
 * shortest is those 15 with trailing zeros dropped; otherwise 16, otherwise 17 digits. */
int umap_format_double(char out[UMAP_NUMBER_MAX], double v)
{
	if (isnan(v) || isinf(v))
		return snprintf(out, UMAP_NUMBER_MAX, "null");
	if (v == 0)
		return snprintf(out, UMAP_NUMBER_MAX, "0");
	int negative = v < 0;
	double a = negative ? -v : v;
	char digits[24];
	int k = 0, exponent = 0, found = 0;
	/* Fast path for the usual coordinate or measure (few decimals, moderate size): the
	 * smallest f such that m / 10^f == v with m an integer below 2^50 gives the shortest
	 * digits (both m and 10^f are exact, so the division rounds the decimal m*10^-f
	 * exactly as strtod would, and below 2^50 no other f-decimal reads back as v). */
	static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
					1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17 };
	for (int f = 0; f < 18 && a * pow10[f] < 1125899906842624.0; f++) {
		double m = nearbyint(a * pow10[f]);
		if (m != 0 && m / pow10[f] == a) {
			char rev[24];
			uint64_t u = (uint64_t)m;
			k = 0;
			while (u) {
				rev[k++] = (char)('0' + u % 10);
				u /= 10;
			}
			for (int i = 0; i < k; i++)
				digits[i] = rev[k - 1 - i];
			exponent = k - f - 1;
			found = 1;
			break;
		}
	}
	/* Subnormals have fewer significant bits: the 15-digit shortcut does not hold there. */
	for (int precision = a < DBL_MIN ? 1 : 15; !found && precision <= 17; precision++) {
		exponent = round_digits(a, precision, digits, &k);
		if (digits_value(digits, exponent) == a) {
			found = 1;
		} else if (precision == 16) {
			/* At a power of two the gap below is half the gap above, so the nearest
			 * 16-digit string may miss while the one above it reads back. */
			char up[24];
			memcpy(up, digits, sizeof(up));
			int e = exponent;
			if (increment_digits(up, k)) {
				up[0] = '1';
				e++;
			}
			if (digits_value(up, e) == a) {
				memcpy(digits, up, sizeof(up));
				exponent = e;
				found = 1;
			}
		}
	}
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';

	/* Lay the digits out as Number.prototype.toString does (ECMA-262 Number::toString):
	 * n is the position of the decimal point relative to the first digit. */
	int n = exponent + 1;
	char *o = out;
	if (negative)
		*o++ = '-';
	if (k <= n && n <= 21) {
		memcpy(o, digits, (size_t)k);
		o += k;
		for (int i = k; i < n; i++)
			*o++ = '0';
	} else if (0 < n && n <= 21) {
		memcpy(o, digits, (size_t)n);
		o += n;
		*o++ = '.';
		memcpy(o, digits + n, (size_t)(k - n));
		o += k - n;
	} else if (-6 < n && n <= 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -n; i++)
			*o++ = '0';
		memcpy(o, digits, (size_t)k);
		o += k;
	} else {
		*o++ = digits[0];
		if (k > 1) {
			*o++ = '.';
			memcpy(o, digits + 1, (size_t)(k - 1));
			o += k - 1;
		}
		o += sprintf(o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	*o = '\0';
	return (int)(o - out);
}

double umap_json_number(const json_t *value)
{
	if (json_is_integer(value))
		return (double)json_integer_value(value);
	if (json_is_real(value))
		return json_real_value(value);
	return 0;
}

/* ---- Writer ---------------------------------------------------------------------- */

static int write_string(umap_buf *out, const char *s, size_t len, int ascii)
{
	static const char hex[] = "0123456789abcdef";
	if (umap_buf_putc(out, '"'))
		return UMAP_ENOMEM;
	size_t plain = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || !ascii))
			continue;
		if (umap_buf_put(out, s + plain, i - plain))
			return UMAP_ENOMEM;
		char esc[16];
		size_t n = 2;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (c < 0x80) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				n = 6;
			} else {
				/* Decode one UTF-8 sequence (strings in trees are valid UTF-8). */
				unsigned cp;
				size_t extra;
				if (c >= 0xf0) {
					cp = c & 0x07;
					extra = 3;
				} else if (c >= 0xe0) {
					cp = c & 0x0f;
					extra = 2;
				} else {
					cp = c & 0x1f;
					extra = 1;
				}
				for (size_t k = 0; k < extra && i + 1 < len; k++)
					cp = cp << 6 | ((unsigned char)s[++i] & 0x3f);
				unsigned units[2];
				int nunits = 1;
				units[0] = cp;
				if (cp >= 0x10000) {
					cp -= 0x10000;
					units[0] = 0xd800 + (cp >> 10);
					units[1] = 0xdc00 + (cp & 0x3ff);
					nunits = 2;
				}
				n = 0;
				for (int u = 0; u < nunits; u++) {
					esc[n++] = '\\';
					esc[n++] = 'u';
					for (int sh = 12; sh >= 0; sh -= 4)
						esc[n++] = hex[(units[u] >> sh) & 15];
				}
			}
		}
		if (umap_buf_put(out, esc, n))
			return UMAP_ENOMEM;
		plain = i + 1;
	}
	if (umap_buf_put(out, s + plain, len - plain) || umap_buf_putc(out, '"'))
		return UMAP_ENOMEM;
	return 0;
}

static int newline_indent(umap_buf *out, unsigned indent, unsigned level)
{
	if (!indent)
		return 0;
	if (umap_buf_putc(out, '\n') || umap_buf_grow(out, (size_t)indent * level))
		return UMAP_ENOMEM;
	memset(out->ptr + out->len, ' ', (size_t)indent * level);
	out->len += (size_t)indent * level;
	out->ptr[out->len] = '\0';
	return 0;
}

struct member {
	const char *key;
	size_t len;
	json_t *value;
};

static int compare_members(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int write_value(umap_buf *out, const json_t *v, unsigned flags, unsigned level)
{
	unsigned indent = flags & 0x1fu;
	if (indent > 10)
		indent = 10; /* JSON.stringify's limit */
	int ascii = (flags & UMAP_JSON_ASCII) != 0;
	char num[UMAP_NUMBER_MAX];
	switch (json_typeof(v)) {
	case JSON_NULL: return umap_buf_put(out, "null", 4);
	case JSON_TRUE: return umap_buf_put(out, "true", 4);
	case JSON_FALSE: return umap_buf_put(out, "false", 5);
	case JSON_INTEGER:
		return umap_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL: {
		int n = umap_format_double(num, json_real_value(v));
		return umap_buf_put(out, num, (size_t)n);
	}
	case JSON_STRING:
		return write_string(out, json_string_value(v), json_string_length(v), ascii);
	case JSON_ARRAY: {
		size_t n = json_array_size(v);
		if (umap_buf_putc(out, '['))
			return UMAP_ENOMEM;
		for (size_t i = 0; i < n; i++) {
			if ((i && umap_buf_putc(out, ',')) || newline_indent(out, indent, level + 1))
				return UMAP_ENOMEM;
			int rc = write_value(out, json_array_get(v, i), flags, level + 1);
			if (rc)
				return rc;
		}
		if ((n && newline_indent(out, indent, level)) || umap_buf_putc(out, ']'))
			return UMAP_ENOMEM;
		return 0;
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(v), i = 0;
		struct member *members = NULL;
		if (n) {
			members = malloc(n * sizeof(*members));
			if (!members)
				return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		const char *key;
		size_t key_len;
		json_t *value;
		json_object_keylen_foreach((json_t *)v, key, key_len, value) {
			members[i].key = key;
			members[i].len = key_len;
			members[i].value = value;
			i++;
		}
		if ((flags & UMAP_JSON_SORT_KEYS) && n > 1)
			qsort(members, n, sizeof(*members), compare_members);
		int rc = umap_buf_putc(out, '{');
		for (i = 0; i < n && !rc; i++) {
			if ((i && (rc = umap_buf_putc(out, ','))) ||
			    (rc = newline_indent(out, indent, level + 1)) ||
			    (rc = write_string(out, members[i].key, members[i].len, ascii)) ||
			    (rc = umap_buf_put(out, ": ", indent ? 2 : 1)))
				break;
			rc = write_value(out, members[i].value, flags, level + 1);
		}
		if (!rc && n)
			rc = newline_indent(out, indent, level);
		if (!rc)
			rc = umap_buf_putc(out, '}');
		free(members);
		return rc;
	}
	}
	return umap_error_set(UMAP_EINVALID, "not a JSON value");
}

int umap_json_write(umap_buf *out, const json_t *value, unsigned flags)
{
	if (!value)
		return umap_error_set(UMAP_EUSAGE, "umap_json_write: no value");
	return write_value(out, value, flags, 0);
}

char *umap_json_dumps(const json_t *value, unsigned flags)
{
	umap_buf buf = UMAP_BUF_INIT;
	if (umap_json_write(&buf, value, flags)) {
		umap_buf_dispose(&buf);
		return NULL;
	}
	return umap_buf_detach(&buf);
}

/* ---- Semantics ------------------------------------------------------------------- */

static int is_number(const json_t *v)
{
	return json_is_integer(v) || json_is_real(v);
}

int umap_json_equal(const json_t *a, const json_t *b)
{
	if (a == b)
		return 1;
	if (!a || !b)
		return 0;
	if (is_number(a) && is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return umap_json_number(a) == umap_json_number(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
	case JSON_ARRAY: {
		size_t n = json_array_size(a);
		if (n != json_array_size(b))
			return 0;
		for (size_t i = 0; i < n; i++)
			if (!umap_json_equal(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	}
	case JSON_OBJECT: {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		const char *key;
		size_t key_len;
		json_t *value;
		json_object_keylen_foreach((json_t *)a, key, key_len, value) {
			json_t *other = json_object_getn(b, key, key_len);
			if (!other || !umap_json_equal(value, other))
				return 0;
		}
		return 1;
	}
	default:
		return 1; /* null, true, false: same type is same value */
	}
}

/* Canonical form for hashing: each value is tagged by kind, numbers are hashed as doubles
 * (with -0 as 0, since -0 == 0), arrays chain their elements in order, and objects add up
 * their members' hashes so that key order cannot matter without sorting anything. */
uint64_t umap_json_hash(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL: return XXH3_64bits_withSeed("n", 1, 0);
	case JSON_TRUE: return XXH3_64bits_withSeed("t", 1, 0);
	case JSON_FALSE: return XXH3_64bits_withSeed("f", 1, 0);
	case JSON_INTEGER:
	case JSON_REAL: {
		double d = umap_json_number(v);
		if (d == 0)
			d = 0;
		return XXH3_64bits_withSeed(&d, sizeof(d), 'N');
	}
	case JSON_STRING:
		return XXH3_64bits_withSeed(json_string_value(v), json_string_length(v), 'S');
	case JSON_ARRAY: {
		uint64_t h = XXH3_64bits_withSeed("[", 1, json_array_size(v));
		for (size_t i = 0; i < json_array_size(v); i++) {
			uint64_t child = umap_json_hash(json_array_get(v, i));
			h = XXH3_64bits_withSeed(&child, sizeof(child), h);
		}
		return h;
	}
	case JSON_OBJECT: {
		uint64_t sum = 0;
		const char *key;
		size_t key_len;
		json_t *value;
		json_object_keylen_foreach((json_t *)v, key, key_len, value) {
			uint64_t child = umap_json_hash(value);
			sum += XXH3_64bits_withSeed(&child, sizeof(child),
						    XXH3_64bits_withSeed(key, key_len, 'K'));
		}
		return XXH3_64bits_withSeed(&sum, sizeof(sum), 0x7b00 + json_object_size(v));
	}
	}
	return 0;
}

/* ---- Layout ------------------------------------------------------------------------ */

/* Whether the text has no byte outside ASCII, eight bytes at a time. */
static int all_ascii(const char *data, size_t len)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t word;
		memcpy(&word, data + i, 8);
		if (word & 0x8080808080808080ull)
			return 0;
	}
	for (; i < len; i++)
		if ((unsigned char)data[i] >= 0x80)
			return 0;
	return 1;
}

/* A string token's bytes with every non-ASCII character as \uXXXX (a surrogate pair above
 * U+FFFF), as Python's json.dumps writes by default; its escapes are kept as they are. */
static int put_ascii_token(umap_buf *out, const char *raw, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t plain = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c < 0x80)
			continue;
		if (umap_buf_put(out, raw + plain, i - plain))
			return UMAP_ENOMEM;
		size_t extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
		unsigned cp = c & (c >= 0xf0 ? 0x07 : c >= 0xe0 ? 0x0f : 0x1f);
		for (size_t k = 0; k < extra && i + 1 < n; k++)
			cp = cp << 6 | ((unsigned char)raw[++i] & 0x3f);
		unsigned units[2] = { cp, 0 };
		int nunits = 1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			units[0] = 0xd800 | (cp >> 10);
			units[1] = 0xdc00 | (cp & 0x3ff);
			nunits = 2;
		}
		for (int u = 0; u < nunits; u++) {
			char esc[6] = { '\\', 'u', hex[units[u] >> 12 & 15], hex[units[u] >> 8 & 15],
					hex[units[u] >> 4 & 15], hex[units[u] & 15] };
			if (umap_buf_put(out, esc, sizeof(esc)))
				return UMAP_ENOMEM;
		}
		plain = i + 1;
	}
	return umap_buf_put(out, raw + plain, n - plain) ? UMAP_ENOMEM : 0;
}

void umap_layout_detect(umap_layout *out, const char *data, size_t len)
{
	*out = (umap_layout)UMAP_LAYOUT_DEFAULT;
	size_t i = 0;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	if (i >= len || (data[i] != '{' && data[i] != '['))
		return;
	size_t end = len;
	while (end > i && (data[end - 1] == ' ' || data[end - 1] == '\t' || data[end - 1] == '\n' ||
			   data[end - 1] == '\r'))
		end--;
	out->newline = end < len && memchr(data + end, '\n', len - end) != NULL;
	/* the white space after the opening bracket says whether the file is indented */
	size_t j = i + 1, last_break = SIZE_MAX;
	while (j < end && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r')) {
		if (data[j] == '\n')
			last_break = j;
		j++;
	}
	if (last_break != SIZE_MAX) {
		size_t spaces = j - last_break - 1;
		out->indent = spaces ? (unsigned)(spaces > 10 ? 10 : spaces) : 2;
		out->flat = !spaces;
		out->ascii = all_ascii(data, len) && memmem(data, len, "\\u", 2) != NULL;
		return;
	}
	out->indent = 0;
	/* the first member's colon: ": " is Python's json.dumps, ":" JSON.stringify's */
	if (j < end && data[j] == '"') {
		size_t k = j + 1;
		while (k < end && data[k] != '"')
			k += data[k] == '\\' ? 2 : 1;
		k++;
		while (k < end && data[k] == ' ')
			k++;
		out->spaced = k + 1 < end && data[k] == ':' && data[k + 1] == ' ';
	}
	out->lines = memchr(data + i, '\n', end - i) != NULL;
	/* only escapes for what is not ASCII (Python's json.dumps, so uMap's .umap downloads) */
	out->ascii = all_ascii(data, len) && memmem(data, len, "\\u", 2) != NULL;
}

json_t *umap_layout_to_json(const umap_layout *layout)
{
	json_t *v = json_pack("{s:i,s:b,s:b,s:b}", "indent", (int)layout->indent, "spaced",
			      layout->spaced, "lines", layout->lines, "newline", layout->newline);
	if (v && ((layout->ascii && json_object_set_new(v, "ascii", json_true())) ||
		  (layout->flat && json_object_set_new(v, "flat", json_true())) ||
		  (layout->seq && json_object_set_new(v, "seq", json_integer(layout->seq))))) {
		json_decref(v);
		return NULL;
	}
	return v;
}

void umap_layout_from_json(umap_layout *out, const json_t *value)
{
	*out = (umap_layout)UMAP_LAYOUT_DEFAULT;
	json_t *indent = json_object_get(value, "indent");
	if (!json_is_object(value) || !json_is_integer(indent) || json_integer_value(indent) < 0 ||
	    json_integer_value(indent) > 10)
		return;
	out->indent = (unsigned)json_integer_value(indent);
	out->spaced = json_is_true(json_object_get(value, "spaced"));
	out->lines = json_is_true(json_object_get(value, "lines"));
	out->newline = !json_is_false(json_object_get(value, "newline"));
	out->ascii = json_is_true(json_object_get(value, "ascii"));
	out->flat = out->indent && json_is_true(json_object_get(value, "flat"));
	json_t *seq = json_object_get(value, "seq");
	/* 1 RS records, 2 one a line (umap_seq_kind); anything else is one document */
	if (json_is_integer(seq) && json_integer_value(seq) >= 1 && json_integer_value(seq) <= 2)
		out->seq = (int)json_integer_value(seq);
}

enum { LEVEL_INLINE = 1, LEVEL_LINES = 2, LEVEL_USED = 4 };

static int relayout_break(umap_buf *out, unsigned indent, size_t depth)
{
	if (umap_buf_putc(out, '\n'))
		return UMAP_ENOMEM;
	for (size_t i = 0; i < depth * indent; i++)
		if (umap_buf_putc(out, ' '))
			return UMAP_ENOMEM;
	return 0;
}

/* Why tokens and not a tree: a tree loses the spelling of numbers (12345678901234567890,
 * -0, 1.0) and of strings (escapes); the tokens' bytes are copied as they are, and only
 * the white space between them is made anew. */
int umap_json_relayout(umap_buf *out, const char *data, size_t len, const umap_layout *layout)
{
	return umap_json_relayout_at(out, data, len, layout, 0);
}

#define RELAYOUT_SINK_AT ((size_t)1 << 20)

static int relayout(umap_buf *out, const char *data, size_t len, const umap_layout *layout,
		    size_t depth, umap_json_sink sink, void *ctx, int release);

int umap_json_relayout_at(umap_buf *out, const char *data, size_t len, const umap_layout *layout,
			  size_t depth)
{
	return relayout(out, data, len, layout, depth, NULL, NULL, 0);
}

/* layout->seq: each element of the root's "features" array as one record, on one line (RS
 * before it for RFC 8142), and nothing else of the document. */
static int relayout_records(umap_buf *out, const char *data, size_t len, const umap_layout *layout,
			    umap_json_sink sink, void *ctx)
{
	umap_scanner *sc = NULL;
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	int rc = umap_scanner_new(&sc, data, len, &opts);
	if (rc)
		return rc;
	umap_layout one_line = { 0, layout->spaced, 0, 0, layout->ascii, 0, 0, 0 };
	size_t top = 0, start = 0;
	int features_next = 0, in_features = 0;
	umap_token tok;
	while (!rc && !(rc = umap_scanner_next(sc, &tok)) && tok.type != UMAP_TOKEN_EOF) {
		int closing = tok.type == UMAP_TOKEN_OBJECT_END || tok.type == UMAP_TOKEN_ARRAY_END;
		int opening = tok.type == UMAP_TOKEN_OBJECT_START || tok.type == UMAP_TOKEN_ARRAY_START;
		if (closing)
			top--;
		if (tok.type == UMAP_TOKEN_KEY) {
			features_next = top == 1 && tok.end - tok.start == 10 &&
					!memcmp(data + tok.start, "\"features\"", 10);
			continue;
		}
		if (top == 1 && tok.type == UMAP_TOKEN_ARRAY_START && features_next) {
			in_features = 1;
		} else if (in_features && top == 1 && closing) {
			in_features = 0;
		} else if (in_features && top == 2 && !closing) {
			start = tok.start; /* an element begins */
		}
		if (in_features && top == 2 && (closing || !opening)) {
			/* an element ends: its bytes, laid out on one line */
			if (layout->seq == 1 && umap_buf_putc(out, '\x1e'))
				rc = UMAP_ENOMEM;
			if (!rc)
				rc = relayout(out, data + start, tok.end - start, &one_line, 1, NULL, NULL, 0);
			if (!rc && umap_buf_putc(out, '\n'))
				rc = UMAP_ENOMEM;
			if (!rc && sink && out->len >= RELAYOUT_SINK_AT) {
				rc = sink(ctx, out->ptr, out->len);
				umap_buf_clear(out);
			}
		}
		features_next = 0;
		if (opening)
			top++;
	}
	umap_scanner_free(sc);
	if (rc == UMAP_ENOMEM)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return rc;
}

static int relayout_to(umap_json_sink sink, void *ctx, const char *data, size_t len,
		       const umap_layout *layout, int release)
{
	umap_buf out = UMAP_BUF_INIT;
	int rc = relayout(&out, data, len, layout, 0, sink, ctx, release);
	if (!rc && out.len)
		rc = sink(ctx, out.ptr, out.len);
	umap_buf_dispose(&out);
	return rc;
}

int umap_json_relayout_to(umap_json_sink sink, void *ctx, const char *data, size_t len,
			  const umap_layout *layout)
{
	return relayout_to(sink, ctx, data, len, layout, 0);
}

int umap_json_relayout_mapped_to(umap_json_sink sink, void *ctx, const char *data, size_t len,
				 const umap_layout *layout)
{
	return relayout_to(sink, ctx, data, len, layout, 1);
}

#define RELEASE_STEP ((size_t)8 << 20)

static int relayout(umap_buf *out, const char *data, size_t len, const umap_layout *layout,
		    size_t depth, umap_json_sink sink, void *ctx, int release)
{
	size_t released = 0, page = (size_t)sysconf(_SC_PAGESIZE);
	if (layout->seq && !depth)
		return relayout_records(out, data, len, layout, sink, ctx);
	umap_scanner *sc = NULL;
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	int rc = umap_scanner_new(&sc, data, len, &opts);
	if (rc)
		return rc;
	unsigned char level[UMAP_JSON_DEFAULT_MAX_DEPTH + 2];
	size_t top = 0; /* levels in use; level[top - 1] is the innermost container */
	int after_key = 0, next_inline = 0, next_lines = 0;
	umap_token tok;
	while (!rc && !(rc = umap_scanner_next(sc, &tok)) && tok.type != UMAP_TOKEN_EOF) {
		if (sink && out->len >= RELAYOUT_SINK_AT) {
			if ((rc = sink(ctx, out->ptr, out->len)))
				break;
			umap_buf_clear(out);
			/* clean file-backed pages behind the scanner: read again if touched */
			size_t upto = tok.start & ~(page - 1);
			if (release && upto >= released + RELEASE_STEP) {
				madvise((char *)data + released, upto - released, MADV_DONTNEED);
				released = upto;
			}
		}
		int closing = tok.type == UMAP_TOKEN_OBJECT_END || tok.type == UMAP_TOKEN_ARRAY_END;
		unsigned char *cur = top ? &level[top - 1] : NULL;
		int in_line = cur && (*cur & LEVEL_INLINE);
		unsigned indent = in_line ? 0 : layout->indent;
		int spaced = layout->spaced && (!layout->indent || in_line);
		if (closing) {
			if (*cur & LEVEL_USED) {
				if (indent)
					rc = relayout_break(out, layout->flat ? 0 : indent, depth + top - 1);
				else if ((*cur & LEVEL_LINES) && !layout->indent)
					rc = relayout_break(out, 0, 0);
			}
			top--;
			if (!rc && umap_buf_putc(out, tok.type == UMAP_TOKEN_OBJECT_END ? '}' : ']'))
				rc = UMAP_ENOMEM;
			continue;
		}
		if (cur && !after_key) {
			if ((*cur & LEVEL_USED) &&
			    umap_buf_puts(out, spaced && !indent && !(*cur & LEVEL_LINES) ? ", " : ","))
				rc = UMAP_ENOMEM;
			*cur |= LEVEL_USED;
			if (!rc && indent)
				rc = relayout_break(out, layout->flat ? 0 : indent, depth + top);
			else if (!rc && (*cur & LEVEL_LINES) && !layout->indent)
				rc = relayout_break(out, 0, 0);
		}
		after_key = 0;
		if (rc)
			break;
		const char *raw = data + tok.start;
		size_t n = tok.end - tok.start;
		if (tok.type == UMAP_TOKEN_OBJECT_START || tok.type == UMAP_TOKEN_ARRAY_START) {
			/* an indented file with one feature a line: each element of "features" is
			 * one line */
			int whole_line = cur && (*cur & LEVEL_LINES) && layout->indent;
			level[top++] = (unsigned char)((in_line || next_inline || whole_line
							? LEVEL_INLINE : 0) |
						       (next_lines && layout->lines ? LEVEL_LINES : 0));
			rc = umap_buf_putc(out, tok.type == UMAP_TOKEN_OBJECT_START ? '{' : '[')
				     ? UMAP_ENOMEM : 0;
		} else if (tok.type == UMAP_TOKEN_KEY) {
			after_key = 1;
			rc = layout->ascii ? put_ascii_token(out, raw, n) : umap_buf_put(out, raw, n);
			if (!rc && umap_buf_puts(out, indent || spaced ? ": " : ":"))
				rc = UMAP_ENOMEM;
			next_inline = n == 13 && !memcmp(raw, "\"coordinates\"", 13);
			/* in an indented file, only features are one a line: a layer, which holds
			 * them, stays indented */
			next_lines = (n == 10 && !memcmp(raw, "\"features\"", 10)) ||
				     (n == 8 && !memcmp(raw, "\"layers\"", 8) && !layout->indent);
			continue;
		} else if (tok.type == UMAP_TOKEN_STRING && layout->ascii) {
			rc = put_ascii_token(out, raw, n);
		} else {
			rc = umap_buf_put(out, raw, n) ? UMAP_ENOMEM : 0;
		}
		next_inline = next_lines = 0;
	}
	umap_scanner_free(sc);
	if (rc == UMAP_ENOMEM)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!rc && !depth && layout->newline && umap_buf_putc(out, '\n'))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return rc;
}

char *umap_json_dumps_as(const json_t *value, const umap_layout *layout)
{
	umap_buf compact = UMAP_BUF_INIT, out = UMAP_BUF_INIT;
	int rc = umap_json_write(&compact, value, UMAP_JSON_COMPACT);
	if (!rc)
		rc = umap_json_relayout(&out, compact.ptr ? compact.ptr : "", compact.len, layout);
	if (!rc)
		rc = umap_buf_putc(&out, '\0');
	umap_buf_dispose(&compact);
	if (rc) {
		umap_buf_dispose(&out);
		return NULL;
	}
	return umap_buf_detach(&out);
}

/* ---- Spelling of numbers in a changed value ------------------------------------------ */

typedef int (*number_fn)(void *ctx, const char *path, size_t path_len, size_t offset, size_t n);

/* Calls fn for every number of a (valid) JSON text with its path: "\1" + a member name's
 * bytes, or "\2" + an array index, per level. */
static int walk_numbers(const char *data, size_t len, umap_buf *path, number_fn fn, void *ctx)
{
	umap_scanner *sc = NULL;
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	int rc = umap_scanner_new(&sc, data, len, &opts);
	if (rc)
		return rc;
	size_t base[UMAP_JSON_DEFAULT_MAX_DEPTH + 2], index[UMAP_JSON_DEFAULT_MAX_DEPTH + 2];
	unsigned char is_array[UMAP_JSON_DEFAULT_MAX_DEPTH + 2];
	size_t top = 0;
	int after_key = 0;
	umap_token tok;
	umap_buf_clear(path);
	while (!rc && !(rc = umap_scanner_next(sc, &tok)) && tok.type != UMAP_TOKEN_EOF) {
		if (tok.type == UMAP_TOKEN_OBJECT_END || tok.type == UMAP_TOKEN_ARRAY_END) {
			top--;
			continue;
		}
		if (tok.type == UMAP_TOKEN_KEY) {
			path->len = base[top - 1];
			after_key = 1;
			if (umap_buf_putc(path, '\1') || umap_buf_put(path, data + tok.start, tok.end - tok.start))
				rc = UMAP_ENOMEM;
			continue;
		}
		if (top && is_array[top - 1] && !after_key) {
			path->len = base[top - 1];
			/* digits by hand: printf per array element was most of a respell */
			char digits[24];
			size_t n = sizeof(digits), v = index[top - 1]++;
			do
				digits[--n] = (char)('0' + v % 10);
			while ((v /= 10) && n > 1);
			digits[--n] = '\2';
			if (umap_buf_put(path, digits + n, sizeof(digits) - n))
				rc = UMAP_ENOMEM;
		}
		after_key = 0;
		if (rc)
			break;
		if (tok.type == UMAP_TOKEN_OBJECT_START || tok.type == UMAP_TOKEN_ARRAY_START) {
			base[top] = path->len;
			index[top] = 0;
			is_array[top++] = tok.type == UMAP_TOKEN_ARRAY_START;
		} else if (tok.type == UMAP_TOKEN_NUMBER) {
			rc = fn(ctx, path->ptr ? path->ptr : "", path->len, tok.start, tok.end - tok.start);
		}
	}
	umap_scanner_free(sc);
	return rc;
}

static double number_of(const char *raw, size_t n)
{
	char text[64];
	if (n >= sizeof(text))
		n = sizeof(text) - 1;
	memcpy(text, raw, n);
	text[n] = '\0';
	return strtod(text, NULL);
}

typedef struct spelling {
	size_t path_at, path_len, offset, n;
} spelling;

typedef struct respeller {
	const char *old, *new_text;
	umap_buf paths, list; /* spellings: their paths, and the records */
	size_t cursor, copied;
	umap_buf *out;
} respeller;

static int note_spelling(void *ctx, const char *path, size_t path_len, size_t offset, size_t n)
{
	respeller *r = ctx;
	char shortest[UMAP_NUMBER_MAX];
	int len = umap_format_double(shortest, number_of(r->old + offset, n));
	if ((size_t)len == n && !memcmp(shortest, r->old + offset, n))
		return 0; /* the writer spells it so anyway */
	spelling s = { r->paths.len, path_len, offset, n };
	return umap_buf_put(&r->paths, path, path_len) || umap_buf_put(&r->list, &s, sizeof(s))
		       ? UMAP_ENOMEM : 0;
}

static int put_spelling(void *ctx, const char *path, size_t path_len, size_t offset, size_t n)
{
	respeller *r = ctx;
	const spelling *list = (const spelling *)(void *)r->list.ptr;
	size_t count = r->list.len / sizeof(spelling);
	if (umap_buf_put(r->out, r->new_text + r->copied, offset - r->copied))
		return UMAP_ENOMEM;
	r->copied = offset + n;
	/* both texts list their numbers in document order: look a few records ahead */
	for (size_t j = r->cursor; j < count && j < r->cursor + 8; j++) {
		const spelling *s = &list[j];
		/* -0 == 0: a tree keeps -0 but the writer prints it 0 */
		if (s->path_len != path_len || memcmp(r->paths.ptr + s->path_at, path, path_len) ||
		    number_of(r->old + s->offset, s->n) != number_of(r->new_text + offset, n))
			continue;
		r->cursor = j + 1;
		return umap_buf_put(r->out, r->old + s->offset, s->n) ? UMAP_ENOMEM : 0;
	}
	return umap_buf_put(r->out, r->new_text + offset, n) ? UMAP_ENOMEM : 0;
}

int umap_json_respell(umap_buf *out, const char *text, size_t len, const char *old, size_t old_len)
{
	respeller r = { old, text, UMAP_BUF_INIT, UMAP_BUF_INIT, 0, 0, out };
	umap_buf path = UMAP_BUF_INIT;
	int rc = walk_numbers(old, old_len, &path, note_spelling, &r);
	if (!rc && r.list.len)
		rc = walk_numbers(text, len, &path, put_spelling, &r);
	if (!rc && umap_buf_put(out, text + r.copied, len - r.copied))
		rc = UMAP_ENOMEM;
	umap_buf_dispose(&path);
	umap_buf_dispose(&r.paths);
	umap_buf_dispose(&r.list);
	if (rc == UMAP_ENOMEM)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return rc;
}
