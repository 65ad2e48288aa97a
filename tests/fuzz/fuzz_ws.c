/* libFuzzer target for the websocket frame reader (lib/ws.c): the bytes a client sends,
 * fed in pieces whose sizes the input's first byte picks, must give messages within the
 * limit or an error, never a crash, a leak, or a message over max_message.
 * fuzz-requires: lib/ws.c lib/buf.c lib/error.c lib/sha1.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t piece = (size_t)(data[0] % 64) + 1;
	data++;
	size--;
	umap_ws_reader r = UMAP_WS_READER_INIT(MAX_MESSAGE);
	int done = 0;
	for (size_t at = 0; at < size && !done; at += piece) {
		size_t n = size - at < piece ? size - at : piece;
		if (umap_ws_reader_feed(&r, data + at, n))
			break;
		int opcode, rc;
		const char *msg;
		size_t len;
		while ((rc = umap_ws_reader_next(&r, &opcode, &msg, &len)) == 1) {
			if (len > MAX_MESSAGE || msg[len] != '\0')
				abort();
			if ((opcode >= UMAP_WS_CLOSE && len > UMAP_WS_CONTROL_MAX) ||
			    (opcode != UMAP_WS_TEXT && opcode != UMAP_WS_BINARY && opcode != UMAP_WS_CLOSE &&
			     opcode != UMAP_WS_PING && opcode != UMAP_WS_PONG))
				abort();
		}
		done = rc < 0;
	}
	umap_ws_reader_dispose(&r);
	return 0;
}
