/* libFuzzer target for documents and diffs: reads one or two documents (split at a NUL
 * byte), diffs them in every format and as ops, and checks that a written document reads
 * back with no difference from the original.
 * fuzz-requires: lib/json.c lib/doc.c lib/diff.c lib/ops.c
 * fuzz-seeds: examples tests/fixtures */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diff.h"
#include "doc.h"
#include "error.h"
#include "json.h"
#include "ops.h"

static umap_doc_options doc_options(uint8_t flags)
{
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	opts.id_property = (flags & 1) ? "name" : NULL;
	opts.parse_all = (flags >> 1) & 1;
	opts.allow_duplicate_ids = (flags >> 2) & 1;
	opts.json.max_depth = 64;
	opts.json.max_string = 4096;
	opts.json.max_size = 1 << 20;
	return opts;
}

static void exercise_diff(umap_diff *diff)
{
	umap_buf out = UMAP_BUF_INIT;
	umap_diff_format_text(&out, diff, 1);
	umap_buf_clear(&out);
	umap_diff_format_stat(&out, diff);
	umap_buf_dispose(&out);
	json_t *j = NULL;
	if (umap_diff_to_json(&j, diff) == 0) {
		char *s = umap_json_dumps(j, UMAP_JSON_COMPACT);
		free(s);
		json_decref(j);
	}
	j = NULL;
	if (umap_diff_to_geojson(&j, diff) == 0)
		json_decref(j);
	j = NULL;
	if (umap_ops_from_diff(&j, diff, NULL) == 0)
		json_decref(j);
}

/* A document written out must read back with no difference from itself. */
static void check_write_round_trip(umap_doc *doc, const umap_doc_options *opts, unsigned flags)
{
	umap_buf text = UMAP_BUF_INIT;
	if (umap_doc_write(&text, doc, flags) != 0) {
		umap_buf_dispose(&text);
		return;
	}
	umap_doc_options reread = *opts;
	reread.allow_duplicate_ids = 1;
	reread.json.max_string = UMAP_JSON_DEFAULT_MAX_STRING;
	umap_doc *again = NULL;
	if (umap_doc_from_buffer(&again, text.ptr, text.len, "written", &reread) != 0)
		abort(); /* we wrote something we cannot read */
	umap_diff *diff = NULL;
	umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
	dopts.id_property = opts->id_property;
	/* With duplicate ids (a library option no command uses) features are not told apart
	 * by id, and a diff of a document with its copy may pair them differently (found by
	 * this target: tests/fixtures/fuzz/duplicate-ids-round-trip.geojson). */
	if (!opts->allow_duplicate_ids && umap_diff_new(&diff, &dopts) == 0) {
		if (umap_diff_docs(diff, doc, again) == 0 && umap_diff_has_changes(diff))
			abort(); /* a round trip changed the document */
		umap_diff_free(diff);
	}
	umap_doc_free(again);
	umap_buf_dispose(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[size - 1] ^ '\n';
	const char *a = (const char *)data, *b = a;
	size_t alen = size, blen = size;
	const char *nul = memchr(data, '\0', size);
	if (nul) {
		alen = (size_t)(nul - a);
		b = nul + 1;
		blen = size - alen - 1;
	}
	umap_doc_options opts = doc_options(flags);
	umap_doc *old_doc = NULL, *new_doc = NULL;
	if (umap_doc_from_buffer(&old_doc, a, alen, "a", &opts) != 0) {
		if (!umap_error_last()[0])
			abort();
		return 0;
	}
	for (size_t l = 0; l < old_doc->nlayers; l++) {
		umap_layer *layer = &old_doc->layers[l];
		for (size_t f = 0; f < layer->nfeatures && f < 64; f++) {
			json_t *feature = NULL;
			umap_doc_feature(&feature, old_doc, layer, f);
			if (layer->features[f].id && umap_layer_find(old_doc, layer, layer->features[f].id) < 0 &&
			    !opts.allow_duplicate_ids)
				abort(); /* a feature cannot be found by its own id */
		}
	}
	if (umap_doc_from_buffer(&new_doc, b, blen, "b", &opts) == 0) {
		umap_diff *diff = NULL;
		umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
		dopts.id_property = opts.id_property;
		dopts.precision = (flags & 8) ? 5 : -1;
		if (umap_diff_new(&diff, &dopts) == 0) {
			if (umap_diff_docs(diff, old_doc, new_doc) == 0)
				exercise_diff(diff);
			umap_diff_free(diff);
		}
		umap_doc_free(new_doc);
	}
	check_write_round_trip(old_doc, &opts, (flags & 16) ? UMAP_JSON_COMPACT : UMAP_JSON_INDENT(2));
	umap_doc_free(old_doc);
	return 0;
}
