/* libFuzzer target for validate: geojsonhint's rules and the uMap checks on any input, and a
 * differential check: the streaming fast path and the tree path give the same messages.
 * fuzz-requires: lib/validate.c lib/json.c
 * fuzz-seeds: examples tests/fixtures */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[size - 1] ^ '\n';
	umap_validate_options opts = UMAP_VALIDATE_OPTIONS_INIT;
	opts.source_name = "fuzz";
	opts.allow_duplicate_members = flags & 1;
	opts.precision_warning = (flags >> 1) & 1;
	opts.ignore_rhr = (flags >> 2) & 1;
	opts.umap = (flags >> 3) & 1;
	opts.json.max_depth = 64;
	opts.json.max_string = 4096;
	umap_validation fast = UMAP_VALIDATION_INIT, slow = UMAP_VALIDATION_INIT;
	int rc1 = umap_validate_buffer(&fast, (const char *)data, size, &opts);
	opts.no_fast_path = 1;
	int rc2 = umap_validate_buffer(&slow, (const char *)data, size, &opts);
	if (rc1 == 0 && rc2 == 0) {
		if (fast.count != slow.count || fast.errors != slow.errors)
			abort(); /* the fast path and the tree path disagree */
		for (size_t i = 0; i < fast.count; i++)
			if (strcmp(fast.messages[i].text, slow.messages[i].text) ||
			    fast.messages[i].pos.line != slow.messages[i].pos.line)
				abort();
	}
	umap_validation_clear(&fast);
	umap_validation_clear(&slow);
	return 0;
}
