/* libFuzzer target for the server's reading of a push body: umap_sync_push_body_parse must
 * give umap_json_parse's tree (each kept value's bytes read back in place of its stub) or
 * its error, and each kept value's bytes must be what the writer writes of them.
 * fuzz-requires: lib/sync_op.c lib/json.c */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "sync_op.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Puts each kept value's tree back in place of its stub (the "value" of one of `ops`). */
static void unstub(json_t *ops, const umap_sync_raw_values *raw)
{
	for (size_t k = 0; k < raw->n; k++) {
		json_t *tree = NULL;
		if (umap_json_loadb(&tree, raw->v[k].text, raw->v[k].len, "kept"))
			abort(); /* kept bytes are valid JSON */
		char *back = umap_json_dumps(tree, UMAP_JSON_COMPACT);
		if (!back || strlen(back) != raw->v[k].len || memcmp(back, raw->v[k].text, raw->v[k].len))
			abort(); /* and what the writer writes of them */
		free(back);
		size_t i, found = 0;
		json_t *op;
		json_array_foreach(ops, i, op) {
			if (json_object_get(op, "value") == raw->v[k].stub) {
				json_object_set(op, "value", tree);
				found++;
			}
		}
		if (found != 1)
			abort(); /* every stub is the value of one op */
		json_decref(tree);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.source_name = "request body";
	opts.reject_duplicates = 1;
	opts.max_depth = 64;
	umap_json_doc *doc = NULL;
	int whole = umap_json_parse(&doc, (const char *)data, size, &opts);
	char *whole_error = whole ? strdup(umap_error_last()) : NULL;
	umap_sync_raw_values raw = UMAP_SYNC_RAW_VALUES_INIT;
	json_t *tree = NULL;
	int quick = umap_sync_push_body_parse(&tree, &raw, (const char *)data, size, &opts);
	if (quick != whole)
		abort();
	if (whole && (!whole_error || strcmp(whole_error, umap_error_last())))
		abort(); /* the same error, word for word */
	if (!whole) {
		unstub(json_object_get(tree, "ops"), &raw);
		char *a = umap_json_dumps(umap_json_doc_root(doc), UMAP_JSON_COMPACT);
		char *b = umap_json_dumps(tree, UMAP_JSON_COMPACT);
		if (!a || !b || strcmp(a, b))
			abort();
		free(a);
		free(b);
	}
	free(whole_error);
	json_decref(tree);
	umap_sync_raw_values_dispose(&raw);
	umap_json_doc_free(doc);
	return 0;
}
