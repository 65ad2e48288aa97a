/* libFuzzer target for the client's side of a hostile server: bytes taken as a pull reply
 * (checked, then applied to a map and a layer) and as a snapshot (turned into files), and
 * shown escaped. Whatever the bytes, nothing names a file outside the work tree, the map
 * keeps its layers, and no control character survives the escaping.
 * fuzz-requires: lib/sync_client.c lib/sync_op.c lib/strutil.c
 * fuzz-seeds: tests/fuzz/seeds/sync_op */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "json.h"
#include "strutil.h"
#include "sync_client.h"
#include "sync_op.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every file of the set has a plain name: one component, no leading dot, bounded. */
static void check_files(const umap_sync_files *files)
{
	for (size_t f = 0; f < files->n; f++) {
		if (!umap_sync_valid_filename(files->paths[f]))
			abort();
		const json_t *root = files->roots[f];
		const char *type = json_string_value(json_object_get(root, "type"));
		if (root && type && !strcmp(type, "umap") && !json_is_array(json_object_get(root, "layers")))
			abort(); /* a map op must never take a map's layers away */
	}
}

static void start_files(umap_sync_files *files)
{
	json_error_t err;
	json_t *map = json_loads("{\"type\":\"umap\",\"properties\":{\"name\":\"M\"},\"layers\":[{\"type\":"
				 "\"FeatureCollection\",\"_umap_options\":{\"id\":\"A\"},\"features\":[{\"type\":"
				 "\"Feature\",\"id\":\"f1\",\"properties\":{}}]}]}",
				 0, &err);
	json_t *layer = json_loads("{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"B\"},\"features\":[]}", 0,
				   &err);
	if (!map || !layer || umap_sync_files_add(files, "m.umap", map) || umap_sync_files_add(files, "b.geojson", layer))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	long long since = size ? (long long)(data[0] % 4) : 0;

	umap_sync_pull_reply reply;
	if (umap_sync_pull_reply_parse(&reply, text, size, since) == 0) {
		if (reply.cursor < since || (reply.more && reply.cursor == since) || !json_is_array(reply.ops))
			abort();
		umap_sync_files files = { 0, NULL, NULL };
		size_t applied = 0;
		start_files(&files);
		umap_sync_apply_ops(&files, reply.ops, &applied, NULL);
		check_files(&files);
		umap_sync_files_dispose(&files);
		umap_sync_pull_reply_dispose(&reply);
	} else if (strncmp(umap_error_last(), "the server's answer is not a pull reply: ", 41)) {
		abort(); /* every refusal says what it refused */
	}

	json_t *snapshot = NULL;
	if (umap_json_loadb(&snapshot, text, size, "snapshot") == 0) {
		umap_sync_files files;
		if (umap_sync_files_from_snapshot(&files, snapshot) == 0) {
			check_files(&files);
			umap_sync_files_dispose(&files);
		}
		json_decref(snapshot);
	}

	umap_buf shown = UMAP_BUF_INIT;
	if (umap_buf_put_printable(&shown, text, size, 0))
		abort();
	for (size_t i = 0; i < shown.len; i++) {
		unsigned char c = (unsigned char)shown.ptr[i];
		if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < shown.len &&
					      (unsigned char)shown.ptr[i + 1] >= 0x80 &&
					      (unsigned char)shown.ptr[i + 1] <= 0x9f))
			abort();
	}
	umap_buf_dispose(&shown);
	return 0;
}
