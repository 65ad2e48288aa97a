/* RFC 6455 websocket framing for the sync server's uMap endpoint (SPEC §8): the handshake's
 * accept key, a bounded reader of client frames, server frame headers. No I/O here. */
#ifndef UMAP_WS_H
#define UMAP_WS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define UMAP_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */
#define UMAP_WS_HEADER_MAX 10 /* a server frame's header: no mask */
#define UMAP_WS_CONTROL_MAX 125

enum umap_ws_opcode {
	UMAP_WS_CONT = 0x0,
	UMAP_WS_TEXT = 0x1,
	UMAP_WS_BINARY = 0x2,
	UMAP_WS_CLOSE = 0x8,
	UMAP_WS_PING = 0x9,
	UMAP_WS_PONG = 0xa,
};

/* Close codes the server sends. */
#define UMAP_WS_CLOSE_NORMAL 1000
#define UMAP_WS_CLOSE_GOING_AWAY 1001
#define UMAP_WS_CLOSE_PROTOCOL 1002
#define UMAP_WS_CLOSE_POLICY 1008
#define UMAP_WS_CLOSE_TOO_BIG 1009

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (which must be base64 of 16 bytes). */
int umap_ws_accept_key(char out[UMAP_WS_ACCEPT_LEN + 1], const char *client_key);

/* Reads the frames a client sends: masked, fragments joined, control frames between them. */
typedef struct umap_ws_reader {
	size_t max_message;  /* bytes of one (joined) message; larger is UMAP_ELIMIT */
	umap_buf in;         /* bytes received and not parsed yet, from `pos` */
	size_t pos;
	umap_buf message;    /* a fragmented message being joined */
	int fragmented;      /* the opcode of that message, 0 when none */
	umap_buf out;        /* the last message returned */
} umap_ws_reader;

#define UMAP_WS_READER_INIT(max) { (max), UMAP_BUF_INIT, 0, UMAP_BUF_INIT, 0, UMAP_BUF_INIT }

/* Adds received bytes. UMAP_ELIMIT when more than a message's worth waits unparsed. */
int umap_ws_reader_feed(umap_ws_reader *r, const void *data, size_t len);
/* The next whole message: 1 with *opcode (TEXT, BINARY, CLOSE, PING, PONG) and *data, *len
 * (NUL-terminated, valid until the next call); 0 when more bytes are needed. UMAP_EINVALID
 * for a protocol error (close with 1002), UMAP_ELIMIT for a message over max_message
 * (1009); after an error the reader is done. */
int umap_ws_reader_next(umap_ws_reader *r, int *opcode, const char **data, size_t *len);
void umap_ws_reader_dispose(umap_ws_reader *r);

/* The header of a final, unmasked frame of `len` payload bytes; returns its size. */
size_t umap_ws_frame_header(unsigned char out[UMAP_WS_HEADER_MAX], int opcode, size_t len);

#endif
