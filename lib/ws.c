/* RFC 6455 framing: the accept key, a reader of masked client frames that joins fragments
 * and never holds more than one bounded message, and unmasked server frame headers. */
#include "ws.h"

#include <string.h>

#include <openssl/evp.h>

#include "error.h"
#include "sha1.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int umap_ws_accept_key(char out[UMAP_WS_ACCEPT_LEN + 1], const char *client_key)
{
	unsigned char raw[18], digest[20];
	size_t n = client_key ? strlen(client_key) : 0;
	/* 16 random bytes in base64: 24 characters ending in "==" */
	if (n != 24 || client_key[22] != '=' || client_key[23] != '=' ||
	    EVP_DecodeBlock(raw, (const unsigned char *)client_key, 24) != 18)
		return umap_error_set(UMAP_EINVALID, "Sec-WebSocket-Key must be base64 of 16 bytes");
	umap_sha1 sha;
	if (umap_sha1_init(&sha))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	umap_sha1_update(&sha, client_key, n);
	umap_sha1_update(&sha, WS_GUID, strlen(WS_GUID));
	if (umap_sha1_final(&sha, digest))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	EVP_EncodeBlock((unsigned char *)out, digest, sizeof(digest));
	return 0;
}

int umap_ws_reader_feed(umap_ws_reader *r, const void *data, size_t len)
{
	if (r->pos && r->pos == r->in.len) {
		r->pos = 0;
		r->in.len = 0;
	} else if (r->pos > r->in.len / 2) {
		memmove(r->in.ptr, r->in.ptr + r->pos, r->in.len - r->pos);
		r->in.len -= r->pos;
		r->pos = 0;
	}
	/* one frame header, one message and one read's worth at most */
	if (r->in.len - r->pos + len > r->max_message + 14 + 65536)
		return umap_error_set(UMAP_ELIMIT, "websocket message over %zu bytes", r->max_message);
	return umap_buf_put(&r->in, data, len);
}

static int is_control(int opcode)
{
	return opcode >= UMAP_WS_CLOSE;
}

int umap_ws_reader_next(umap_ws_reader *r, int *opcode, const char **data, size_t *len)
{
	for (;;) {
		const unsigned char *p = (const unsigned char *)r->in.ptr + r->pos;
		size_t have = r->in.len - r->pos;
		if (have < 2)
			return 0;
		int fin = p[0] & 0x80, op = p[0] & 0x0f, masked = p[1] & 0x80;
		uint64_t plen = p[1] & 0x7f;
		size_t hdr = 2;
		if (p[0] & 0x70)
			return umap_error_set(UMAP_EINVALID, "websocket frame with reserved bits set (no extension was agreed)");
		if (op != UMAP_WS_CONT && op != UMAP_WS_TEXT && op != UMAP_WS_BINARY && op != UMAP_WS_CLOSE &&
		    op != UMAP_WS_PING && op != UMAP_WS_PONG)
			return umap_error_set(UMAP_EINVALID, "websocket frame with unknown opcode %d", op);
		if (!masked)
			return umap_error_set(UMAP_EINVALID, "websocket frame from a client without a mask");
		if (is_control(op) && (!fin || plen > UMAP_WS_CONTROL_MAX))
			return umap_error_set(UMAP_EINVALID, "websocket control frame fragmented or over 125 bytes");
		if (plen == 126) {
			if (have < 4)
				return 0;
			plen = (uint64_t)p[2] << 8 | p[3];
			hdr = 4;
			if (plen < 126)
				return umap_error_set(UMAP_EINVALID, "websocket frame length not in its shortest form");
		} else if (plen == 127) {
			if (have < 10)
				return 0;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = plen << 8 | p[2 + i];
			hdr = 10;
			if (plen >> 63 || plen <= 0xffff)
				return umap_error_set(UMAP_EINVALID, "websocket frame length not in its shortest form");
		}
		size_t pending = r->fragmented && !is_control(op) ? r->message.len : 0;
		if (plen > r->max_message || pending + plen > r->max_message)
			return umap_error_set(UMAP_ELIMIT, "websocket message over %zu bytes", r->max_message);
		if (have < hdr + 4 + plen)
			return 0;
		const unsigned char *mask = p + hdr, *payload = p + hdr + 4;
		if (op == UMAP_WS_CONT && !r->fragmented)
			return umap_error_set(UMAP_EINVALID, "websocket continuation frame without a message to continue");
		if ((op == UMAP_WS_TEXT || op == UMAP_WS_BINARY) && r->fragmented)
			return umap_error_set(UMAP_EINVALID, "websocket message started inside another one");
		umap_buf *dst = &r->out;
		if (!is_control(op) && (r->fragmented || !fin))
			dst = &r->message;
		if (dst == &r->out)
			umap_buf_clear(&r->out);
		size_t start = dst->len;
		if (umap_buf_grow(dst, (size_t)plen + 1))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		for (size_t i = 0; i < plen; i++)
			dst->ptr[start + i] = (char)(payload[i] ^ mask[i & 3]);
		dst->len = start + (size_t)plen;
		dst->ptr[dst->len] = '\0';
		r->pos += hdr + 4 + (size_t)plen;
		if (op == UMAP_WS_TEXT || op == UMAP_WS_BINARY) {
			if (!fin) {
				r->fragmented = op;
				continue;
			}
		} else if (op == UMAP_WS_CONT) {
			if (!fin)
				continue;
			/* the joined message becomes the one returned */
			umap_buf t = r->out;
			r->out = r->message;
			r->message = t;
			umap_buf_clear(&r->message);
			op = r->fragmented;
			r->fragmented = 0;
		} else if (op == UMAP_WS_CLOSE && plen == 1) {
			return umap_error_set(UMAP_EINVALID, "websocket close frame with a 1-byte payload");
		}
		*opcode = op;
		*data = r->out.ptr ? r->out.ptr : "";
		*len = r->out.len;
		return 1;
	}
}

void umap_ws_reader_dispose(umap_ws_reader *r)
{
	umap_buf_dispose(&r->in);
	umap_buf_dispose(&r->message);
	umap_buf_dispose(&r->out);
	r->pos = 0;
	r->fragmented = 0;
}

size_t umap_ws_frame_header(unsigned char out[UMAP_WS_HEADER_MAX], int opcode, size_t len)
{
	out[0] = (unsigned char)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}
