/* libFuzzer target for the JSON layer: the pull scanner, the tree parser with positions,
 * the writer and the shortest number printer, with round-trip properties checked.
 * fuzz-requires: lib/json.c
 * fuzz-seeds: examples tests/fixtures */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "json.h"

/* The options come from the input's last byte (xor '\n', so that the seed files, which end
 * in a newline, run with positions on and the default limits); small limits let the limit
 * paths be reached within the fuzzer's input sizes. */
static umap_json_options fuzz_options(uint8_t flags)
{
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.source_name = "fuzz";
	opts.reject_duplicates = flags & 1;
	opts.keep_positions = !(flags & 2);
	opts.max_depth = (flags & 4) ? 8 : 64;
	opts.max_string = (flags & 8) ? 16 : 4096;
	opts.max_size = 1 << 20;
	return opts;
}

static void walk_scanner(const char *data, size_t len, const umap_json_options *opts, int skip)
{
	umap_scanner *sc = NULL;
	if (umap_scanner_new(&sc, data, len, opts))
		return;
	umap_buf str = UMAP_BUF_INIT;
	umap_token tok;
	size_t ntokens = 0;
	while (umap_scanner_next(sc, &tok) == 0 && tok.type != UMAP_TOKEN_EOF) {
		if (tok.start > len || tok.end > len || tok.start > tok.end)
			abort(); /* a token outside the input */
		if (tok.type == UMAP_TOKEN_STRING || tok.type == UMAP_TOKEN_KEY) {
			if (umap_scanner_string(sc, &tok, &str))
				break;
			/* an unescaped string's value is its raw bytes between the quotes */
			if (!tok.has_escapes &&
			    (str.len != tok.end - tok.start - 2 ||
			     memcmp(str.ptr, data + tok.start + 1, str.len)))
				abort();
		}
		if (skip && (tok.type == UMAP_TOKEN_OBJECT_START || tok.type == UMAP_TOKEN_ARRAY_START) &&
		    (ntokens % 3) == 1) {
			size_t end = 0;
			if (umap_scanner_skip(sc, &tok, &end))
				break;
			if (end > len || end < tok.end)
				abort();
		}
		umap_scanner_pos_at(sc, tok.start);
		if (++ntokens > 1000000)
			break;
	}
	umap_buf_dispose(&str);
	umap_scanner_free(sc);
}

static void check_round_trip(const json_t *root, unsigned flags)
{
	char *text = umap_json_dumps(root, flags);
	if (!text)
		return; /* ENOMEM */
	json_t *again = NULL;
	if (umap_json_loadb(&again, text, strlen(text), "round-trip") != 0) {
		/* what we wrote must read back */
		abort();
	}
	if (!umap_json_equal(root, again) || umap_json_hash(root) != umap_json_hash(again))
		abort();
	json_decref(again);
	free(text);
}

static void check_number(const uint8_t *data, size_t size)
{
	double v;
	if (size < sizeof(v))
		return;
	memcpy(&v, data, sizeof(v));
	char out[UMAP_NUMBER_MAX];
	int n = umap_format_double(out, v);
	if (n <= 0 || n >= UMAP_NUMBER_MAX || (size_t)n != strlen(out))
		abort();
	if (!isfinite(v)) {
		if (strcmp(out, "null"))
			abort();
		return;
	}
	double back = strtod(out, NULL);
	if (back != v)
		abort(); /* the shortest form must read back to the same double */
	/* and it must be shortest-ish: never longer than %.17g */
	char ref[64];
	snprintf(ref, sizeof(ref), "%.17g", v);
	if ((size_t)n > strlen(ref) + 4)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[size - 1] ^ '\n';
	const char *text = (const char *)data;
	size_t len = size;
	check_number(data, size);

	umap_json_options opts = fuzz_options(flags);
	walk_scanner(text, len, &opts, !(flags & 16));

	umap_json_doc *doc = NULL;
	if (umap_json_parse(&doc, text, len, &opts) == 0) {
		json_t *root = umap_json_doc_root(doc);
		if (!root)
			abort();
		umap_pos pos;
		if (opts.keep_positions)
			umap_json_doc_pos(&pos, doc, root);
		size_t ndup = umap_json_doc_duplicate_count(doc);
		for (size_t i = 0; i < ndup && i < 16; i++) {
			const char *key;
			umap_pos a, b;
			umap_json_doc_duplicate(doc, i, &key, &a, &b);
		}
		check_round_trip(root, UMAP_JSON_COMPACT);
		check_round_trip(root, UMAP_JSON_INDENT(2) | ((flags & 0x20) ? UMAP_JSON_SORT_KEYS : 0) |
					       ((flags & 0x40) ? UMAP_JSON_ASCII : 0));
		umap_json_doc_free(doc);
	} else if (umap_error_last()[0] == '\0') {
		abort(); /* a failure must say why */
	}
	return 0;
}
