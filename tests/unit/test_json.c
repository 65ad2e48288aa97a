/* Unit tests for lib/json.h: scanner, positions, errors and limits, trees, the number
 * printer, the writer, equality and hashing, the value region. The hard cases of each are
 * pinned here. */
#include "unit.h"

#include <float.h>
#include <pthread.h>
#include <stdlib.h>

#include "buf.h"
#include "error.h"
#include "json.h"
#include "json_arena.h"

static const char *fmt(double v)
{
	static char out[UMAP_NUMBER_MAX];
	umap_format_double(out, v);
	return out;
}

TEST(number_printer_matches_javascript)
{
	CHECK_STR(fmt(5e-324), "5e-324");
	CHECK_STR(fmt(1.7976931348623157e308), "1.7976931348623157e+308");
	CHECK_STR(fmt(0.1 + 0.2), "0.30000000000000004");
	CHECK_STR(fmt(-0.0), "0");
	CHECK_STR(fmt(0.0), "0");
	CHECK_STR(fmt(1e21), "1e+21");
	CHECK_STR(fmt(1e20), "100000000000000000000");
	CHECK_STR(fmt(1e-7), "1e-7");
	CHECK_STR(fmt(1.5e-7), "1.5e-7");
	CHECK_STR(fmt(123456789012345680000.0), "123456789012345680000");
	CHECK_STR(fmt(1.2345), "1.2345");
	CHECK_STR(fmt(100), "100");
	CHECK_STR(fmt(0.000001), "0.000001");
	CHECK_STR(fmt(0.1), "0.1");
	CHECK_STR(fmt(-2.5), "-2.5");
	CHECK_STR(fmt(4.8357), "4.8357");
	CHECK_STR(fmt(45.7578137), "45.7578137");
	CHECK_STR(fmt(9007199254740993.0), "9007199254740992");
	CHECK_STR(fmt(2.2250738585072014e-308), "2.2250738585072014e-308");
	CHECK_STR(fmt(DBL_MIN), "2.2250738585072014e-308");
	CHECK_STR(fmt(9.5367431640625e-7), "9.5367431640625e-7");
	CHECK_STR(fmt(1.0 / 3.0), "0.3333333333333333");
	CHECK_STR(fmt(2.0 / 3.0), "0.6666666666666666");
	CHECK_STR(fmt(5e-7), "5e-7");
	CHECK_STR(fmt(123e-20), "1.23e-18");
	CHECK_STR(fmt(1e300 * 10), "1e+301");
	CHECK_STR(fmt(0.0 / 0.0), "null");
	/* 2^-1074 * k near powers of two, where the gap below is half the gap above. */
	CHECK_STR(fmt(9007199254740992.0), "9007199254740992");
	CHECK_STR(fmt(1.4411518807585587e17), "144115188075855870");
}

TEST(number_printer_round_trips)
{
	/* A deterministic sweep: every printed number reads back exactly. */
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double v;
		memcpy(&v, &x, sizeof(v));
		if (isnan(v) || isinf(v))
			continue;
		char out[UMAP_NUMBER_MAX];
		int n = umap_format_double(out, v);
		CHECK(n > 0 && n < UMAP_NUMBER_MAX);
		if (strtod(out, NULL) != v) {
			printf("# %.17g printed as %s\n", v, out);
			CHECK(0);
			break;
		}
	}
}

static int scan_all(const char *text, size_t len, size_t *ntokens)
{
	umap_scanner *s;
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.source_name = "t.json";
	int rc = umap_scanner_new(&s, text, len, &opts);
	if (rc)
		return rc;
	umap_token tok;
	size_t n = 0;
	do {
		rc = umap_scanner_next(s, &tok);
		n++;
	} while (!rc && tok.type != UMAP_TOKEN_EOF);
	umap_scanner_free(s);
	if (ntokens)
		*ntokens = n;
	return rc;
}

#define CHECK_ERROR(text, code, message)                                      \
	do {                                                                      \
		CHECK_INT(scan_all(text, sizeof(text) - 1, NULL), code);          \
		CHECK_STR(umap_error_last(), message);                            \
	} while (0)

TEST(scanner_tokens_and_positions)
{
	const char *text = "{\n  \"a\": [1, -2.5e3, \"x\\n\"],\n\t\"b\": {\"c\": null}, \"d\": true\n}\n";
	umap_scanner *s;
	CHECK_INT(umap_scanner_new(&s, text, strlen(text), NULL), 0);
	umap_token tok;
	umap_token_type want[] = { UMAP_TOKEN_OBJECT_START, UMAP_TOKEN_KEY, UMAP_TOKEN_ARRAY_START,
				   UMAP_TOKEN_NUMBER, UMAP_TOKEN_NUMBER, UMAP_TOKEN_STRING,
				   UMAP_TOKEN_ARRAY_END, UMAP_TOKEN_KEY, UMAP_TOKEN_OBJECT_START,
				   UMAP_TOKEN_KEY, UMAP_TOKEN_NULL, UMAP_TOKEN_OBJECT_END,
				   UMAP_TOKEN_KEY, UMAP_TOKEN_TRUE, UMAP_TOKEN_OBJECT_END,
				   UMAP_TOKEN_EOF };
	size_t depth[] = { 0, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 1, 1, 1, 0, 0 };
	umap_buf str = UMAP_BUF_INIT;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_INT(umap_scanner_next(s, &tok), 0);
		CHECK_INT(tok.type, want[i]);
		CHECK_INT(tok.depth, depth[i]);
		if (i == 4) {
			CHECK_INT(tok.pos.line, 2);
			CHECK_INT(tok.pos.col, 12);
			CHECK_INT(tok.end - tok.start, 6);
		}
		if (i == 5) {
			CHECK(tok.has_escapes);
			CHECK_INT(umap_scanner_string(s, &tok, &str), 0);
			CHECK_STR(str.ptr, "x\n");
		}
		if (i == 7) {
			CHECK_INT(tok.pos.line, 3);
			CHECK_INT(tok.pos.col, 2);
			CHECK_INT(umap_scanner_string(s, &tok, &str), 0);
			CHECK_STR(str.ptr, "b");
		}
	}
	umap_pos p = umap_scanner_pos_at(s, strlen(text) - 2);
	CHECK_INT(p.line, 4);
	CHECK_INT(p.col, 1);
	p = umap_scanner_pos_at(s, 3);
	CHECK_INT(p.line, 2);
	CHECK_INT(p.col, 2);
	p = umap_scanner_pos_at(s, 0);
	CHECK_INT(p.line, 1);
	CHECK_INT(p.col, 1);
	umap_buf_dispose(&str);
	umap_scanner_free(s);
}

TEST(scanner_skip_and_build_one_value)
{
	const char *text = "{\"features\": [{\"id\": 1, \"g\": [[1,2],[3,4]]}, {\"id\": \"b\"}], \"z\": 1}";
	umap_scanner *s;
	CHECK_INT(umap_scanner_new(&s, text, strlen(text), NULL), 0);
	umap_token tok;
	size_t end;
	umap_scanner_next(s, &tok);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_KEY);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_ARRAY_START);
	umap_scanner_next(s, &tok);
	CHECK_INT(umap_scanner_skip(s, &tok, &end), 0);
	CHECK_INT(tok.start, 14);
	CHECK(memcmp(text + end - 2, "]}", 2) == 0);
	umap_scanner_next(s, &tok);
	json_t *v;
	CHECK_INT(umap_scanner_build(s, &tok, &v), 0);
	CHECK_STR(json_string_value(json_object_get(v, "id")), "b");
	json_decref(v);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_ARRAY_END);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_KEY);
	umap_scanner_next(s, &tok);
	CHECK_INT(umap_scanner_skip(s, &tok, &end), 0);
	CHECK_INT(end, strlen(text) - 1);
	umap_scanner_next(s, &tok);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_EOF);
	umap_scanner_free(s);
}

/* Known bytes are skipped unread, lines and all; a scanner can start inside an array. */
TEST(scanner_skips_known_values_and_enters_arrays)
{
	const char *text = "{\"features\": [{\"a\":\n\n 1},\n {\"b\": 2}], \"z\": true}";
	umap_scanner *s;
	umap_token tok, first;
	CHECK_INT(umap_scanner_new(&s, text, strlen(text), NULL), 0);
	umap_scanner_next(s, &tok);
	umap_scanner_next(s, &tok);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_ARRAY_START);
	umap_scanner_next(s, &first);
	CHECK_INT(first.type, UMAP_TOKEN_OBJECT_START);
	size_t end = (size_t)(strstr(text, "1}") - text) + 2;
	size_t line_start = (size_t)(strstr(text, " 1}") - text);
	/* only right after the bracket, and within the text */
	CHECK_INT(umap_scanner_skip_known(s, &first, strlen(text) + 1, 0, 0), UMAP_EUSAGE);
	CHECK_INT(umap_scanner_skip_known(s, &first, end, 2, first.start), UMAP_EUSAGE);
	CHECK_INT(umap_scanner_skip_known(s, &first, end, 2, line_start), 0);
	CHECK_INT(umap_scanner_skip_known(s, &first, end, 2, line_start), UMAP_EUSAGE);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_OBJECT_START);
	CHECK_INT(tok.pos.line, 4);
	CHECK_INT(tok.pos.col, 2);
	umap_scanner_free(s);

	/* the same text entered at the second feature reads to the end */
	size_t second = (size_t)(strstr(text, "{\"b\"") - text);
	CHECK_INT(umap_scanner_new(&s, text, strlen(text), NULL), 0);
	CHECK_INT(umap_scanner_enter(s, second, "{]"), UMAP_EUSAGE);
	CHECK_INT(umap_scanner_enter(s, second, "{["), 0);
	CHECK_INT(umap_scanner_enter(s, second, "{["), UMAP_EUSAGE);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_OBJECT_START);
	CHECK_INT(tok.depth, 2);
	CHECK_INT(tok.pos.line, 1);
	CHECK_INT(umap_scanner_skip(s, &tok, &end), 0);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_ARRAY_END);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_KEY);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_TRUE);
	umap_scanner_next(s, &tok);
	CHECK_INT(tok.type, UMAP_TOKEN_OBJECT_END);
	CHECK_INT(umap_scanner_next(s, &tok), 0);
	CHECK_INT(tok.type, UMAP_TOKEN_EOF);
	umap_scanner_free(s);
}

static void *make_values(void *arg)
{
	json_t *list = json_array();
	for (int i = 0; i < 20000 && list; i++)
		json_array_append_new(list, json_pack("{s:i, s:s}", "n", i, "name", "a name"));
	*(size_t *)arg = list ? json_array_size(list) : 0;
	json_decref(list);
	return NULL;
}

/* Values made in the region, on several threads, large or small, and values made before it
 * and freed within it: all go (make valgrind sees a leak or a bad free if one goes wrong). */
TEST(json_arena_makes_and_frees_values)
{
	json_t *before = json_string("made with malloc");
	/* (under AddressSanitizer or valgrind, which cannot reserve the space, values keep
	 * using malloc: the same test then checks that nothing changed) */
	CHECK_INT(umap_json_arena_begin(), 0);
	size_t made[2] = { 0, 0 };
	pthread_t thread;
	CHECK_INT(pthread_create(&thread, NULL, make_values, &made[1]), 0);
	make_values(&made[0]);
	pthread_join(thread, NULL);
	CHECK_INT(made[0], 20000);
	CHECK_INT(made[1], 20000);
	char *big = malloc(200000);
	CHECK(big != NULL);
	if (big) {
		memset(big, 'x', 199999);
		big[199999] = '\0';
		json_t *large = json_string(big);
		CHECK_INT(json_string_length(large), 199999);
		json_decref(large);
		free(big);
	}
	CHECK_STR(json_string_value(before), "made with malloc");
	json_decref(before);
	umap_json_arena_end();
	umap_json_arena_end();
	json_t *after = json_pack("[i]", 7);
	CHECK_INT(json_integer_value(json_array_get(after, 0)), 7);
	json_decref(after);
}

TEST(scanner_errors_say_where_and_what)
{
	CHECK_ERROR("", UMAP_EINVALID, "t.json:1:1: empty input: expected a JSON value");
	CHECK_ERROR("  \n ", UMAP_EINVALID, "t.json:2:2: empty input: expected a JSON value");
	CHECK_ERROR("\xef\xbb\xbf{}", UMAP_EINVALID,
		    "t.json:1:1: the file starts with a UTF-8 byte order mark (BOM), which JSON "
		    "does not allow; save it as UTF-8 without BOM");
	CHECK_ERROR("{\"a\": \"x\xff\"}", UMAP_EINVALID,
		    "t.json:1:9: invalid UTF-8 byte 0xff in a string (is the file in another "
		    "encoding, such as Latin-1?)");
	CHECK_ERROR("{\"a\": \"\xc0\xaf\"}", UMAP_EINVALID,
		    "t.json:1:8: invalid UTF-8 byte 0xc0 in a string (is the file in another "
		    "encoding, such as Latin-1?)");
	CHECK_ERROR("{\"a\": \"\xed\xa0\x80\"}", UMAP_EINVALID,
		    "t.json:1:8: invalid UTF-8 byte 0xed in a string (is the file in another "
		    "encoding, such as Latin-1?)");
	CHECK_ERROR("[1,\n \0]", UMAP_EINVALID,
		    "t.json:2:2: unexpected NUL byte (is this a binary or UTF-16 file?); "
		    "expected a value");
	CHECK_ERROR("[\"a\0\"]", UMAP_EINVALID,
		    "t.json:1:4: NUL byte in a string (is this a binary or UTF-16 file?); write "
		    "it as \\u0000");
	CHECK_ERROR("[NaN]", UMAP_EINVALID,
		    "t.json:1:2: NaN is not a JSON value (JSON has no NaN or infinities; use "
		    "null or a finite number)");
	CHECK_ERROR("[1, Infinity]", UMAP_EINVALID,
		    "t.json:1:5: Infinity is not a JSON value (JSON has no NaN or infinities; "
		    "use null or a finite number)");
	CHECK_ERROR("[-Infinity]", UMAP_EINVALID,
		    "t.json:1:2: -Infinity is not a JSON value (JSON has no NaN or infinities; "
		    "use null or a finite number)");
	CHECK_ERROR("[1e400]", UMAP_EINVALID,
		    "t.json:1:2: number 1e400 is out of range (the largest is "
		    "1.7976931348623157e308)");
	CHECK_ERROR("[1.8e308]", UMAP_EINVALID,
		    "t.json:1:2: number 1.8e308 is out of range (the largest is "
		    "1.7976931348623157e308)");
	CHECK_INT(scan_all("[1.7976931348623157e308, 1e-400, 0e999999999999]", 48, NULL), 0);
	CHECK_ERROR("{\"type\": \"Feature\",\n \"geometry\": [1, 2",
		    UMAP_EINVALID,
		    "t.json:2:19: unexpected end of input: the array opened at line 2, column "
		    "14 is not closed (is the file truncated?)");
	CHECK_ERROR("{\"a\": \"abc", UMAP_EINVALID,
		    "t.json:1:7: unexpected end of input: this string is not closed");
	CHECK_ERROR("[1,]", UMAP_EINVALID, "t.json:1:4: trailing comma before ']'");
	CHECK_ERROR("{\"a\":1,}", UMAP_EINVALID, "t.json:1:8: trailing comma before '}'");
	CHECK_ERROR("[01]", UMAP_EINVALID,
		    "t.json:1:2: invalid number: leading zeros are not allowed");
	CHECK_ERROR("[1.]", UMAP_EINVALID,
		    "t.json:1:2: invalid number: expected a digit after the decimal point");
	CHECK_ERROR("[1e+]", UMAP_EINVALID,
		    "t.json:1:2: invalid number: expected a digit in the exponent");
	CHECK_ERROR("[+1]", UMAP_EINVALID,
		    "t.json:1:2: invalid number: a number cannot start with '+'");
	CHECK_ERROR("[.5]", UMAP_EINVALID,
		    "t.json:1:2: invalid number: a number needs a digit before the decimal point");
	CHECK_ERROR("{'a': 1}", UMAP_EINVALID,
		    "t.json:1:2: strings must be in double quotes, not single quotes");
	CHECK_ERROR("// hi\n{}", UMAP_EINVALID, "t.json:1:1: comments are not allowed in JSON");
	CHECK_ERROR("{\"a\" 1}", UMAP_EINVALID,
		    "t.json:1:6: unexpected '1'; expected ':' after the member name");
	CHECK_ERROR("[1 2]", UMAP_EINVALID,
		    "t.json:1:4: unexpected '2'; expected ',' or ']' after an element (is a comma "
		    "missing?)");
	CHECK_ERROR("{\"a\": 1\n \"b\": 2}", UMAP_EINVALID,
		    "t.json:2:2: unexpected string \"b\"; expected ',' or '}' after a member (is a "
		    "comma missing?)");
	CHECK_ERROR("{} {}", UMAP_EINVALID,
		    "t.json:1:4: unexpected data after the end of the JSON value (only one value "
		    "is allowed per file)");
	CHECK_ERROR("[tru]", UMAP_EINVALID, "t.json:1:2: unexpected 'tru'; expected a value");
	CHECK_ERROR("[\"a\nb\"]", UMAP_EINVALID,
		    "t.json:1:4: line break inside a string: the string is not closed, or the "
		    "break must be written \\n");
	CHECK_ERROR("[\"\\x\"]", UMAP_EINVALID,
		    "t.json:1:3: invalid escape in string: backslash followed by 'x' (valid: \\\" "
		    "\\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
	CHECK_ERROR("[\"\\ud800\"]", UMAP_EINVALID,
		    "t.json:1:3: invalid \\u escape: high surrogate \\ud800 is not followed by a "
		    "low surrogate");
	CHECK_ERROR("[\"\\u12\"]", UMAP_EINVALID,
		    "t.json:1:3: invalid \\u escape: \\u must be followed by four hexadecimal "
		    "digits");
	CHECK_ERROR("[\xc3\xa9]", UMAP_EINVALID,
		    "t.json:1:2: unexpected byte 0xc3 (text outside a string must be ASCII); "
		    "expected a value");
}

TEST(scanner_limits)
{
	/* 100,000 nested arrays: a limit error, no crash, no recursion. */
	size_t n = 100000;
	char *deep = malloc(2 * n);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	CHECK_INT(scan_all(deep, 2 * n, NULL), UMAP_ELIMIT);
	CHECK_STR(umap_error_last(),
		  "t.json:1:257: nesting is deeper than the limit of 256 levels");
	json_t *v = NULL;
	CHECK_INT(umap_json_loadb(&v, deep, 2 * n, "deep.json"), UMAP_ELIMIT);
	CHECK(v == NULL);
	/* With a raised limit the builder still does not recurse. */
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.max_depth = 200000;
	umap_json_doc *doc;
	CHECK_INT(umap_json_parse(&doc, deep, 2 * n, &opts), 0);
	umap_json_doc_free(doc);
	free(deep);

	opts = (umap_json_options)UMAP_JSON_OPTIONS_INIT;
	opts.max_string = 10;
	opts.source_name = "s.json";
	CHECK_INT(umap_json_parse(&doc, "[\"0123456789\"]", 14, &opts), 0);
	umap_json_doc_free(doc);
	CHECK_INT(umap_json_parse(&doc, "[\"0123456789a\"]", 15, &opts), UMAP_ELIMIT);
	CHECK_STR(umap_error_last(), "s.json:1:2: string longer than the limit of 10 bytes");
	/* an escape that ends past the limit (fuzz_json: the search for the closing quote
	 * started beyond its bound and read past the input) */
	static const char escape_at_limit[] = "[\"01234567\\u0000\" ";
	CHECK_INT(umap_json_parse(&doc, escape_at_limit, sizeof(escape_at_limit) - 1, &opts), UMAP_ELIMIT);
	CHECK_STR(umap_error_last(), "s.json:1:2: string longer than the limit of 10 bytes");
	opts.max_size = 4;
	CHECK_INT(umap_json_parse(&doc, "[1, 2]", 6, &opts), UMAP_ELIMIT);
	CHECK_STR(umap_error_last(), "s.json: input is 6 bytes, over the limit of 4 bytes");
}

TEST(trees_numbers_strings_and_order)
{
	const char *text = "{\"z\": 1, \"a\": [9007199254740992, 9007199254740993, -0, 1.0, 1e2, "
			   "-9007199254740992, 12345678901234567890], \"s\": \"\\u00e9\\ud83d\\ude00\\u0000x\", "
			   "\"m\": 2}";
	json_t *v;
	CHECK_INT(umap_json_loadb(&v, text, strlen(text), "t"), 0);
	json_t *a = json_object_get(v, "a");
	CHECK(json_is_integer(json_array_get(a, 0)));
	CHECK(json_is_real(json_array_get(a, 1)));
	CHECK(json_is_real(json_array_get(a, 2)));
	CHECK(signbit(json_real_value(json_array_get(a, 2))));
	CHECK(json_is_real(json_array_get(a, 3)));
	CHECK(json_is_real(json_array_get(a, 4)));
	CHECK(json_is_integer(json_array_get(a, 5)));
	CHECK(json_is_real(json_array_get(a, 6)));
	json_t *s = json_object_get(v, "s");
	CHECK_INT(json_string_length(s), 2 + 4 + 1 + 1);
	CHECK(memcmp(json_string_value(s), "\xc3\xa9\xf0\x9f\x98\x80\0x", 8) == 0);
	char *out = umap_json_dumps(v, UMAP_JSON_COMPACT);
	CHECK_STR(out, "{\"z\":1,\"a\":[9007199254740992,9007199254740992,0,1,100,"
		       "-9007199254740992,12345678901234567000],\"s\":\"\xc3\xa9\xf0\x9f\x98\x80\\u0000x\","
		       "\"m\":2}");
	free(out);
	out = umap_json_dumps(v, UMAP_JSON_SORT_KEYS | UMAP_JSON_ASCII);
	CHECK_STR(out, "{\"a\":[9007199254740992,9007199254740992,0,1,100,-9007199254740992,"
		       "12345678901234567000],\"m\":2,\"s\":\"\\u00e9\\ud83d\\ude00\\u0000x\",\"z\":1}");
	free(out);
	json_decref(v);
}

TEST(writer_indents_like_json_stringify)
{
	json_t *v;
	const char *text = "{\"a\":[1,{\"b\":\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u001f\\u007f\"}],\"e\":{},\"f\":[],\"g\":0.5}";
	CHECK_INT(umap_json_loadb(&v, text, strlen(text), "t"), 0);
	char *out = umap_json_dumps(v, UMAP_JSON_INDENT(2));
	CHECK_STR(out, "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"q\\\"\\\\/\\b\\f\\n\\r\\t\\u001f\x7f\"\n"
		       "    }\n  ],\n  \"e\": {},\n  \"f\": [],\n  \"g\": 0.5\n}");
	free(out);
	umap_buf buf = UMAP_BUF_INIT;
	umap_buf_puts(&buf, "x=");
	CHECK_INT(umap_json_write(&buf, json_object_get(v, "g"), 0), 0);
	CHECK_STR(buf.ptr, "x=0.5");
	umap_buf_dispose(&buf);
	json_decref(v);
}

TEST(doc_positions_keys_and_duplicates)
{
	const char *text = "{\n  \"type\": \"Feature\",\n  \"geometry\": {\n    \"type\": \"Point\",\n"
			   "    \"coordinates\": [1.5, 2]\n  },\n  \"type\": \"Other\",\n"
			   "  \"properties\": null\n}";
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.keep_positions = 1;
	opts.source_name = "f.geojson";
	umap_json_doc *doc;
	CHECK_INT(umap_json_parse(&doc, text, strlen(text), &opts), 0);
	json_t *root = umap_json_doc_root(doc);
	umap_pos p;
	CHECK_INT(umap_json_doc_pos(&p, doc, root), 0);
	CHECK_INT(p.line, 1);
	CHECK_INT(p.col, 1);
	json_t *geometry = json_object_get(root, "geometry");
	CHECK_INT(umap_json_doc_pos(&p, doc, geometry), 0);
	CHECK_INT(p.line, 3);
	CHECK_INT(p.col, 15);
	json_t *coords = json_object_get(geometry, "coordinates");
	CHECK_INT(umap_json_doc_pos(&p, doc, json_array_get(coords, 1)), 0);
	CHECK_INT(p.line, 5);
	CHECK_INT(p.col, 26);
	CHECK_INT(umap_json_doc_key_pos(&p, doc, geometry, "coordinates"), 0);
	CHECK_INT(p.line, 5);
	CHECK_INT(p.col, 5);
	CHECK_INT(umap_json_doc_key_pos(&p, doc, root, "missing"), UMAP_ENOTFOUND);
	/* null is a jansson singleton: no position, said so. */
	CHECK_INT(umap_json_doc_pos(&p, doc, json_object_get(root, "properties")), UMAP_ENOTFOUND);
	/* The last duplicate wins, at the first one's place; both places are listed. */
	CHECK_STR(json_string_value(json_object_get(root, "type")), "Other");
	CHECK_INT(umap_json_doc_duplicate_count(doc), 1);
	const char *key;
	umap_pos first, again;
	CHECK_INT(umap_json_doc_duplicate(doc, 0, &key, &first, &again), 0);
	CHECK_STR(key, "type");
	CHECK_INT(first.line, 2);
	CHECK_INT(again.line, 7);
	CHECK_INT(umap_json_doc_duplicate(doc, 1, &key, &first, &again), UMAP_ENOTFOUND);
	char *out = umap_json_dumps(root, 0);
	CHECK_STR(out, "{\"type\":\"Other\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[1.5,2]},"
		       "\"properties\":null}");
	free(out);
	umap_json_doc_free(doc);

	opts.reject_duplicates = 1;
	CHECK_INT(umap_json_parse(&doc, text, strlen(text), &opts), UMAP_EINVALID);
	CHECK_STR(umap_error_last(),
		  "f.geojson:7:3: duplicate member \"type\" (first at line 2, column 3)");
}

TEST(build_doc_from_the_middle_of_a_stream)
{
	const char *text = "{\"features\": [\n{\"a\": 1},\n{\"b\":\n [2]}]}";
	umap_scanner *s;
	CHECK_INT(umap_scanner_new(&s, text, strlen(text), NULL), 0);
	umap_token tok;
	for (int i = 0; i < 4; i++)
		umap_scanner_next(s, &tok);
	size_t end;
	CHECK_INT(tok.type, UMAP_TOKEN_OBJECT_START);
	CHECK_INT(umap_scanner_skip(s, &tok, &end), 0);
	CHECK_INT(end, 23);
	umap_scanner_next(s, &tok);
	umap_json_doc *doc;
	json_t *none;
	umap_token key = { .type = UMAP_TOKEN_KEY };
	CHECK_INT(umap_scanner_build(s, &key, &none), UMAP_EUSAGE);
	CHECK_INT(umap_scanner_build_doc(&doc, s, &tok, 0), 0);
	umap_pos p;
	json_t *b = json_object_get(umap_json_doc_root(doc), "b");
	CHECK_INT(umap_json_doc_pos(&p, doc, b), 0);
	CHECK_INT(p.line, 4);
	CHECK_INT(p.col, 2);
	umap_json_doc_free(doc);
	umap_scanner_free(s);
}

static int new_scanner(umap_scanner **s, const char *text, size_t len, size_t max_depth,
		       size_t max_string)
{
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.source_name = "t.json";
	if (max_depth)
		opts.max_depth = max_depth;
	if (max_string)
		opts.max_string = max_string;
	return umap_scanner_new(s, text, len, &opts);
}

/* Scans text[0..len) with one skip of its root container (after its first token), then
 * token by token to the end; the result and message must be scan_all's. *end_out gets the
 * skip's end. `member` (may be NULL): the skip also looks for that member of the root. */
static int scan_skipping(const char *text, size_t len, const char *member, umap_token *found_tok,
			 int *found, size_t *end_out, size_t max_depth, size_t max_string)
{
	umap_scanner *s;
	int rc = new_scanner(&s, text, len, max_depth, max_string);
	if (rc)
		return rc;
	umap_token tok;
	size_t end = 0;
	if (!(rc = umap_scanner_next(s, &tok))) {
		if (member && tok.type == UMAP_TOKEN_OBJECT_START)
			rc = umap_scanner_skip_member(s, &tok, member, found_tok, found, &end);
		else if (tok.type == UMAP_TOKEN_OBJECT_START || tok.type == UMAP_TOKEN_ARRAY_START)
			rc = umap_scanner_skip(s, &tok, &end);
	}
	while (!rc && tok.type != UMAP_TOKEN_EOF)
		rc = umap_scanner_next(s, &tok);
	umap_scanner_free(s);
	if (end_out)
		*end_out = end;
	return rc;
}

static int scan_all_limited(const char *text, size_t len, size_t max_depth, size_t max_string)
{
	umap_scanner *s;
	int rc = new_scanner(&s, text, len, max_depth, max_string);
	if (rc)
		return rc;
	umap_token tok;
	do
		rc = umap_scanner_next(s, &tok);
	while (!rc && tok.type != UMAP_TOKEN_EOF);
	umap_scanner_free(s);
	return rc;
}

/* The skip accepts and rejects what the token scanner does, with the same message. */
static int skip_agrees(const char *text, size_t len, size_t max_depth, size_t max_string)
{
	int want = scan_all_limited(text, len, max_depth, max_string);
	char want_msg[600];
	snprintf(want_msg, sizeof(want_msg), "%s", want ? umap_error_last() : "");
	int ok = 1;
	for (int pass = 0; pass < 2; pass++) {
		umap_token m;
		int found;
		int got = scan_skipping(text, len, pass ? "id" : NULL, &m, &found, NULL, max_depth,
					max_string);
		if (got != want || (want && strcmp(umap_error_last(), want_msg))) {
			printf("# %.*s\n#   tokens: %d %s\n#   skip%s: %d %s\n", (int)(len > 80 ? 80 : len),
			       text, want, want_msg, pass ? "_member" : "", got,
			       got ? umap_error_last() : "");
			ok = 0;
		}
	}
	return ok;
}

#define CHECK_SKIP(text) CHECK(skip_agrees(text, sizeof(text) - 1, 0, 0))

TEST(skip_rejects_what_the_scanner_rejects)
{
	/* bad escapes */
	CHECK_SKIP("[\"a\\x\"]");
	CHECK_SKIP("{\"id\": \"\\u12G4\"}");
	CHECK_SKIP("[\"\\u12\"]");
	CHECK_SKIP("[\"\\ud800\"]");
	CHECK_SKIP("[\"\\ud800\\u0041\"]");
	CHECK_SKIP("[\"\\udc00\"]");
	CHECK_SKIP("[\"abc\\");
	CHECK_SKIP("{\"a\\q\": 1}");
	/* control characters in strings */
	CHECK_SKIP("[\"a\tb\"]");
	CHECK_SKIP("[\"a\nb\"]");
	CHECK_SKIP("{\"a\": \"x\x01\"}");
	CHECK_SKIP("[\"a\x7f\"]");
	CHECK_SKIP("[\"a\0b\"]");
	/* invalid UTF-8 */
	CHECK_SKIP("[\"\xff\"]");
	CHECK_SKIP("[\"\xc0\xaf\"]");
	CHECK_SKIP("[\"\xed\xa0\x80\"]");
	CHECK_SKIP("[\"\xe2\x82\"]");
	CHECK_SKIP("[\"\xf4\x90\x80\x80\"]");
	CHECK_SKIP("[\"\xe0\x80\x80\"]");
	CHECK_SKIP("[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]");
	/* truncated and malformed numbers, leading zeros, range */
	CHECK_SKIP("[1.]");
	CHECK_SKIP("[1.e5]");
	CHECK_SKIP("[-]");
	CHECK_SKIP("[-a]");
	CHECK_SKIP("[1e]");
	CHECK_SKIP("[1e+]");
	CHECK_SKIP("[01]");
	CHECK_SKIP("[-01]");
	CHECK_SKIP("[00.5]");
	CHECK_SKIP("[-0.0, 0.000012, 1.5e-7, 2E+3]");
	CHECK_SKIP("[+1]");
	CHECK_SKIP("[.5]");
	CHECK_SKIP("[-Infinity]");
	CHECK_SKIP("[NaN]");
	CHECK_SKIP("[1e400]");
	CHECK_SKIP("[1.7976931348623157e308, 1.7976931348623159e308]");
	CHECK_SKIP("[0.00000000000000000001e330]");
	CHECK_SKIP("[1");
	CHECK_SKIP("[12345678901234567890123");
	/* structure */
	CHECK_SKIP("[1,]");
	CHECK_SKIP("{\"a\": 1,}");
	CHECK_SKIP("{\"a\" 1}");
	CHECK_SKIP("{\"a\": 1 \"b\": 2}");
	CHECK_SKIP("[1 2]");
	CHECK_SKIP("{\"a\": 1]");
	CHECK_SKIP("[1}");
	CHECK_SKIP("{1: 2}");
	CHECK_SKIP("{'a': 2}");
	CHECK_SKIP("[tru]");
	CHECK_SKIP("[nul]");
	CHECK_SKIP("[fals]");
	CHECK_SKIP("[true, false, null]");
	CHECK_SKIP("[// no\n1]");
	CHECK_SKIP("{\"a\": [1, {\"b\": [2\n");
	CHECK_SKIP("[\n  {\"a\":\n   [1,\n 2]}\n  ,\t\r\n3 ]  \n x");
	CHECK_SKIP("[1] 2");
	CHECK_SKIP("{} ");
	CHECK_SKIP("[]");

	/* depth: at the limit and one past it, with the skip starting at every level */
	char deep[700];
	for (size_t limit = 1; limit < 300; limit += 37) {
		for (size_t n = limit - (limit > 1); n <= limit + 1; n++) {
			memset(deep, '[', n);
			memset(deep + n, ']', n);
			CHECK(skip_agrees(deep, 2 * n, limit, 0));
		}
	}
	/* deeper than the scanner's first stack (32), within the default limit */
	memset(deep, '[', 200);
	memset(deep + 200, ']', 200);
	CHECK(skip_agrees(deep, 400, 0, 0));
	memset(deep, '[', 257);
	memset(deep + 257, ']', 257);
	CHECK(skip_agrees(deep, 514, 0, 0));

	/* string limit */
	CHECK(skip_agrees("[\"0123456789\"]", 14, 0, 10));
	CHECK(skip_agrees("[\"0123456789a\"]", 15, 0, 10));
	CHECK(skip_agrees("[\"01234567\\n9a\"]", 17, 0, 10));
}

/* Strings are read 8 or 16 bytes at a time: every special byte must be seen at every
 * place in the block, and past its end. */
TEST(skip_sees_special_bytes_at_every_offset)
{
	static const char *const specials[] = { "\"", "\\n", "\\x", "\x01", "\n", "\x80", "\xc3\xa9",
						"\xff", "\\u00e9", "\\ud83d\\ude00", "\x1f", "\t" };
	char text[128];
	for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
		for (size_t at = 0; at < 40; at++) {
			size_t n = 0;
			text[n++] = '[';
			text[n++] = '"';
			memset(text + n, 'a', at);
			n += at;
			size_t sl = strlen(specials[k]);
			memcpy(text + n, specials[k], sl);
			n += sl;
			memset(text + n, 'b', 20);
			n += 20;
			text[n++] = '"';
			text[n++] = ']';
			CHECK(skip_agrees(text, n, 0, 0));
			/* the same, cut short inside the string */
			CHECK(skip_agrees(text, n - 3, 0, 0));
		}
	}
	/* numbers across an 8-byte block, ended by every kind of byte */
	static const char *const numbers[] = { "1", "-12", "0.5", "12345678.123456789",
					       "-0.0000001", "123456789012345678901234", "1e5",
					       "1.5E-3", "0", "01", "1.", "1.x", "9999999999999999x" };
	static const char *const after[] = { "]", ",2]", " ]", "\n]", "x]", "", "e", "." };
	for (size_t k = 0; k < sizeof(numbers) / sizeof(numbers[0]); k++) {
		for (size_t a = 0; a < sizeof(after) / sizeof(after[0]); a++) {
			int n = snprintf(text, sizeof(text), "[%s%s", numbers[k], after[a]);
			CHECK(skip_agrees(text, (size_t)n, 0, 0));
		}
	}
}

/* Every one-byte change of a small document: the skip agrees with the scanner on each. */
TEST(skip_agrees_on_every_mutation)
{
	static const char doc[] =
		"{\"type\":\"Feature\",\"id\":\"Rk3Qa\",\"properties\":{\"name\":\"Caf\xc3\xa9 \\\"Nord\\\"\","
		"\"n\":-12.5e-3,\"ok\":true,\"no\":null,\"list\":[1,2,{\"x\":[]}]},\n"
		"\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[4.97264,45.841615],[0,-0.5]]}}";
	static const char bytes[] = "\"\\{}[],:0-1e.E+tfn \n\t\x01\x80\xff" "a";
	char text[sizeof(doc)];
	size_t len = sizeof(doc) - 1;
	int failures = 0;
	for (size_t at = 0; at < len && failures < 5; at++) {
		for (size_t b = 0; b < sizeof(bytes) - 1 && failures < 5; b++) {
			memcpy(text, doc, len);
			text[at] = bytes[b];
			failures += !skip_agrees(text, len, 0, 0);
		}
		/* and cut short there */
		failures += !skip_agrees(doc, at, 0, 0);
	}
	CHECK_INT(failures, 0);
}

TEST(skip_member_finds_the_member_and_the_end)
{
	const char *text = "{\"a\": {\"id\": 1}, \"id\" :\n \"x\\u0041\", \"b\": [\"id\"], \"id\": 7.50,"
			   " \"c\": {}}";
	umap_token m;
	int found;
	size_t end;
	CHECK_INT(scan_skipping(text, strlen(text), "id", &m, &found, &end, 0, 0), 0);
	CHECK_INT(end, strlen(text));
	CHECK_INT(found, 1);
	CHECK_INT(m.type, UMAP_TOKEN_NUMBER); /* the last one */
	CHECK(memcmp(text + m.start, "7.50", m.end - m.start) == 0 && m.end - m.start == 4);
	CHECK_INT(m.pos.line, 2);
	CHECK_INT(m.pos.col, (long long)(strstr(text, "7.50") - strchr(text, '\n')));

	/* a value that is not a string, number or null is kept: it is what is wrong */
	text = "{\"id\": {\"id\": 2}, \"id\": \"b\"}";
	CHECK_INT(scan_skipping(text, strlen(text), "id", &m, &found, &end, 0, 0), 0);
	CHECK_INT(m.type, UMAP_TOKEN_OBJECT_START);
	CHECK_INT(m.start, 7);
	/* a name with escapes is compared decoded */
	text = "{\"i\\u0064\": \"e\\n\", \"x\": 1}";
	CHECK_INT(scan_skipping(text, strlen(text), "id", &m, &found, &end, 0, 0), 0);
	CHECK_INT(found, 1);
	CHECK_INT(m.type, UMAP_TOKEN_STRING);
	CHECK_INT(m.has_escapes, 1);
	CHECK_INT(m.start, 12);
	text = "{\"ids\": 1, \"x\": {\"id\": 2}}";
	CHECK_INT(scan_skipping(text, strlen(text), "id", &m, &found, &end, 0, 0), 0);
	CHECK_INT(found, 0);

	/* after a skip, positions of the next tokens are still right */
	text = "[{\"a\":\n[1,\n2]},\n  \"z\"]";
	umap_scanner *s;
	CHECK_INT(umap_scanner_new(&s, text, strlen(text), NULL), 0);
	umap_token tok;
	umap_scanner_next(s, &tok);
	umap_scanner_next(s, &tok);
	CHECK_INT(umap_scanner_skip_member(s, &tok, "a", &m, &found, &end), 0);
	CHECK_INT(m.type, UMAP_TOKEN_ARRAY_START);
	CHECK_INT(m.pos.line, 2);
	CHECK_INT(m.pos.col, 1);
	CHECK_INT(umap_scanner_next(s, &tok), 0);
	CHECK_INT(tok.type, UMAP_TOKEN_STRING);
	CHECK_INT(tok.pos.line, 4);
	CHECK_INT(tok.pos.col, 3);
	umap_token arr = { .type = UMAP_TOKEN_ARRAY_START };
	CHECK_INT(umap_scanner_skip_member(s, &arr, "a", &m, &found, &end), UMAP_EUSAGE);
	umap_scanner_free(s);
}

static json_t *J(const char *text)
{
	json_t *v = NULL;
	if (umap_json_loadb(&v, text, strlen(text), "t"))
		printf("# cannot parse %s: %s\n", text, umap_error_last());
	return v;
}

TEST(equality_and_hash)
{
	const char *same[][2] = {
		{ "{\"a\":1,\"b\":[1,2,{\"c\":null}]}", "{ \"b\" : [1.0, 2e0, {\"c\": null}], \"a\": 1 }" },
		{ "0", "-0" },
		{ "1", "1.0" },
		{ "100", "1e2" },
		{ "\"\\u00e9\"", "\"\xc3\xa9\"" },
		{ "[]", "[ ]" },
		{ "{}", "{ }" },
		{ "0.30000000000000004", "3.0000000000000004e-1" },
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		json_t *a = J(same[i][0]), *b = J(same[i][1]);
		CHECK(umap_json_equal(a, b));
		CHECK(umap_json_hash(a) == umap_json_hash(b));
		json_decref(a);
		json_decref(b);
	}
	const char *differ[][2] = {
		{ "{\"a\":1}", "{\"a\":2}" },
		{ "{\"a\":1}", "{\"a\":1,\"b\":1}" },
		{ "{\"a\":1,\"b\":2}", "{\"a\":2,\"b\":1}" },
		{ "[1,2]", "[2,1]" },
		{ "1", "\"1\"" },
		{ "null", "false" },
		{ "0.3", "0.30000000000000004" },
		{ "[[]]", "[[],[]]" },
		{ "{\"a\":{}}", "{\"a\":[]}" },
	};
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		json_t *a = J(differ[i][0]), *b = J(differ[i][1]);
		CHECK(!umap_json_equal(a, b));
		CHECK(umap_json_hash(a) != umap_json_hash(b));
		json_decref(a);
		json_decref(b);
	}
	json_t *n = J("2.5");
	CHECK(umap_json_number(n) == 2.5);
	json_decref(n);
}

/* layout.seq: a FeatureCollection laid out as its features' records, nothing else of it,
 * every token's bytes kept; recorded in the manifest's layout object and read back. */
TEST(stream_layouts_write_records_and_round_trip)
{
	const char *fc = "{\"type\":\"FeatureCollection\",\"name\":\"x\",\"features\":[\n"
			 "{\"type\":\"Feature\",\"properties\":{\"features\":[1.50, -0]}},\n"
			 "{\"type\":\"Feature\",\n \"properties\":{}}\n]}\n";
	umap_layout rs = UMAP_LAYOUT_DEFAULT, lines = UMAP_LAYOUT_DEFAULT;
	rs.seq = 1;
	lines.seq = 2;
	lines.spaced = 1;
	umap_buf out = UMAP_BUF_INIT;
	CHECK_INT(umap_json_relayout(&out, fc, strlen(fc), &rs), 0);
	CHECK_INT(umap_buf_putc(&out, '\0'), 0);
	CHECK_STR(out.ptr, "\x1e{\"type\":\"Feature\",\"properties\":{\"features\":[1.50,-0]}}\n"
			   "\x1e{\"type\":\"Feature\",\"properties\":{}}\n");
	umap_buf_clear(&out);
	CHECK_INT(umap_json_relayout(&out, fc, strlen(fc), &lines), 0);
	CHECK_INT(umap_buf_putc(&out, '\0'), 0);
	CHECK_STR(out.ptr, "{\"type\": \"Feature\", \"properties\": {\"features\": [1.50, -0]}}\n"
			   "{\"type\": \"Feature\", \"properties\": {}}\n");
	umap_buf_clear(&out);
	const char *none = "{\"type\":\"FeatureCollection\",\"features\":[]}";
	CHECK_INT(umap_json_relayout(&out, none, strlen(none), &rs), 0);
	CHECK_INT((int)out.len, 0);
	umap_buf_dispose(&out);
	json_t *recorded = umap_layout_to_json(&lines);
	umap_layout back;
	umap_layout_from_json(&back, recorded);
	CHECK_INT(back.seq, 2);
	CHECK_INT(back.spaced, 1);
	json_decref(recorded);
	json_t *bad = json_pack("{s:i,s:i}", "indent", 0, "seq", 7);
	umap_layout_from_json(&back, bad);
	CHECK_INT(back.seq, 0);
	json_decref(bad);
}

/* GDAL's layout: line breaks without indentation. Detected as `flat`, recorded and read
 * back so, and written so: members and features at column 0, each feature on its line. */
TEST(flat_layout_of_gdal_detected_recorded_and_written)
{
	const char *gdal = "{\n\"type\": \"FeatureCollection\",\n\"features\": [\n"
			   "{ \"type\": \"Feature\", \"properties\": { \"n\": 1.0 }, \"geometry\": null }\n]\n}\n";
	umap_layout layout;
	umap_layout_detect(&layout, gdal, strlen(gdal));
	CHECK_INT(layout.flat, 1);
	CHECK(layout.indent != 0);
	json_t *recorded = umap_layout_to_json(&layout);
	umap_layout back;
	umap_layout_from_json(&back, recorded);
	CHECK_INT(back.flat, 1);
	json_decref(recorded);
	back.lines = 1;
	back.spaced = 1;
	const char *compact = "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\","
			      "\"properties\":{\"n\":1.0},\"geometry\":null}]}";
	umap_buf out = UMAP_BUF_INIT;
	CHECK_INT(umap_json_relayout(&out, compact, strlen(compact), &back), 0);
	CHECK_INT(umap_buf_putc(&out, '\0'), 0);
	CHECK_STR(out.ptr, "{\n\"type\": \"FeatureCollection\",\n\"features\": [\n"
			   "{\"type\": \"Feature\", \"properties\": {\"n\": 1.0}, \"geometry\": null}\n]\n}\n");
	umap_buf_dispose(&out);
	/* two spaces after the break: indented, not flat */
	const char *indented = "{\n  \"type\": \"FeatureCollection\"\n}\n";
	umap_layout_detect(&layout, indented, strlen(indented));
	CHECK_INT(layout.flat, 0);
	CHECK_INT((int)layout.indent, 2);
}

/* header_line: the first line is line 0, so a stream's FeatureCollection gives the file's
 * own lines. */
TEST(header_line_is_line_zero)
{
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.header_line = 1;
	opts.source_name = "s.ndjson";
	umap_json_doc *doc = NULL;
	const char *text = "[\n{\"a\":1,}]";
	CHECK_INT(umap_json_parse(&doc, text, strlen(text), &opts), UMAP_EINVALID);
	CHECK_STR(umap_error_last(), "s.ndjson:1:8: trailing comma before '}'");
	umap_json_doc_free(doc);
}

/* Scans `text` with umap_scanner_skip_compact: -1 on a scan error, else the compact flag;
 * a "compact" answer must be right: the writer writes the tree back as the same bytes. */
static int compact_of(const char *text)
{
	umap_scanner *s;
	umap_token tok, found[2];
	static const char *const names[] = { "type", "id", NULL };
	size_t end = 0;
	int compact = -1;
	if (umap_scanner_new(&s, text, strlen(text), NULL))
		return -1;
	if (umap_scanner_next(s, &tok) || umap_scanner_skip_compact(s, &tok, &end, &compact, names, found))
		compact = -1;
	umap_scanner_free(s);
	if (compact == 1) {
		json_t *tree = NULL;
		CHECK_INT(end, strlen(text));
		CHECK_INT(umap_json_loadb(&tree, text, strlen(text), "t"), 0);
		char *back = tree ? umap_json_dumps(tree, UMAP_JSON_COMPACT) : NULL;
		if (!back || strcmp(back, text))
			printf("# said compact, written back otherwise: %s -> %s\n", text, back ? back : "(null)");
		CHECK(back && !strcmp(back, text));
		free(back);
		json_decref(tree);
	}
	return compact;
}

TEST(compact_skip_tells_the_bytes_the_writer_writes)
{
	const char *yes[] = {
		"{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"n\":1,\"x\":-2.5,\"s\":\"caf\xc3\xa9 \\\"q\\\" \\\\ \\n\"},"
		"\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.863485,45.742361]}}",
		"[0,-1,0.5,-0.000001,123456789012345,12345678901234.5,true,false,null,[],{}]",
		"{\"a\":{\"b\":1},\"c\":{\"b\":2}}", /* the same name in two objects */
		"\"\\t\\r\\b\\f/\x7f\"",
		"17",
	};
	const char *no[] = {
		"{ \"a\":1}", "{\"a\": 1}", "[1 ,2]",
		"1.50", "1.0", "-0", "-0.0", "1e5", "1E5", "0.0000001", "1234567890123456",
		"0.1234567890123456", "12345678901234567890", "[9007199254740993]",
		"\"\\u0041\"", "\"\\/\"", "{\"\\u0061\":1}",
		"{\"a\":1,\"a\":2}", "{\"x\":{\"a\":1,\"b\":{},\"a\":2}}",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		int c = compact_of(yes[i]);
		if (c != 1)
			printf("# not seen compact: %s\n", yes[i]);
		CHECK_INT(c, 1);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		int c = compact_of(no[i]);
		if (c != 0)
			printf("# seen compact: %s\n", no[i]);
		CHECK_INT(c, 0);
	}
	/* numbers as people and programs write them: never a wrong "compact" */
	char text[64];
	unsigned seed = 12345;
	for (int i = 0; i < 200000; i++) {
		seed = seed * 1103515245u + 12345u;
		double v = (double)(seed >> 8) / (double)(1u << (seed % 24)) * ((seed & 1) ? -1 : 1);
		static const char *const formats[] = { "%.1f", "%.6f", "%.15g", "%.17g", "%g", "%.3f", "%.0f", "%.10e" };
		snprintf(text, sizeof(text), formats[i % 8], v);
		compact_of(text);
	}
	/* found: the root object's own members only */
	umap_scanner *s;
	umap_token tok, found[2];
	static const char *const names[] = { "type", "id", NULL };
	const char *feature = "{\"properties\":{\"id\":7},\"id\":42,\"geometry\":null}";
	size_t end;
	int compact;
	CHECK_INT(umap_scanner_new(&s, feature, strlen(feature), NULL), 0);
	CHECK_INT(umap_scanner_next(s, &tok), 0);
	CHECK_INT(umap_scanner_skip_compact(s, &tok, &end, &compact, names, found), 0);
	CHECK_INT(found[0].type, UMAP_TOKEN_EOF);
	CHECK_INT(found[1].type, UMAP_TOKEN_NUMBER);
	CHECK_INT(found[1].end - found[1].start, 2);
	CHECK(!memcmp(feature + found[1].start, "42", 2));
	CHECK_INT(umap_scanner_next(s, &tok), 0);
	CHECK_INT(tok.type, UMAP_TOKEN_EOF);
	umap_scanner_free(s);
}

int main(void)
{
	RUN(compact_skip_tells_the_bytes_the_writer_writes);
	RUN(number_printer_matches_javascript);
	RUN(stream_layouts_write_records_and_round_trip);
	RUN(flat_layout_of_gdal_detected_recorded_and_written);
	RUN(header_line_is_line_zero);
	RUN(number_printer_round_trips);
	RUN(scanner_tokens_and_positions);
	RUN(scanner_skip_and_build_one_value);
	RUN(scanner_errors_say_where_and_what);
	RUN(scanner_limits);
	RUN(trees_numbers_strings_and_order);
	RUN(writer_indents_like_json_stringify);
	RUN(doc_positions_keys_and_duplicates);
	RUN(build_doc_from_the_middle_of_a_stream);
	RUN(skip_rejects_what_the_scanner_rejects);
	RUN(skip_sees_special_bytes_at_every_offset);
	RUN(skip_agrees_on_every_mutation);
	RUN(skip_member_finds_the_member_and_the_end);
	RUN(equality_and_hash);
	RUN(scanner_skips_known_values_and_enters_arrays);
	RUN(json_arena_makes_and_frees_values);
	return UNIT_DONE();
}
