/* libFuzzer target for sync op decoding: a push's "ops" array validated op by op with
 * umap_sync_op_parse, and every accepted edit applied to a document tree.
 * fuzz-requires: lib/sync_op.c lib/hlc.c
 * fuzz-seeds: tests/fixtures */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sync_op.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	json_t *ops = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!ops)
		return 0;
	if (!json_is_array(ops)) {
		json_t *wrapped = json_array();
		json_array_append_new(wrapped, ops);
		ops = wrapped;
	}
	json_t *state = json_pack("{s:s,s:{},s:n}", "type", "Feature", "properties", "geometry");
	size_t i;
	json_t *value;
	json_array_foreach(ops, i, value) {
		umap_sync_op op;
		if (umap_sync_op_parse(&op, value, i) != 0) {
			if (strncmp(umap_error_last(), "ops[", 4))
				abort(); /* every refusal names the op it is about */
			/* no dispose: the server does not dispose a refused op, so a refused op
			 * must own nothing (LeakSanitizer checks) */
			continue;
		}
		/* what was accepted is what the server stores and replays: check the invariants */
		if (!op.op_id || !*op.op_id || !op.layer)
			abort();
		if (op.subject != UMAP_SYNC_MAP &&
		    !umap_sync_valid_name(op.layer, UMAP_SYNC_LAYER_MAX))
			abort();
		if (op.subject == UMAP_SYNC_FEATURE && !op.feature)
			abort();
		if (op.filename && (strchr(op.filename, '/') || op.filename[0] == '.'))
			abort();
		if (op.verb == UMAP_SYNC_UPDATE) {
			if (!op.key)
				abort();
			umap_sync_set_path(state, op.key, op.value);
		}
		umap_sync_op_dispose(&op);
	}
	json_decref(state);
	json_decref(ops);
	return 0;
}
