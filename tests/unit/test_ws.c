/* Unit tests for lib/ws.c (RFC 6455 framing: accept key, client frame reader) and
 * lib/django_signing.c (uMap's websocket tokens, minted by Django 3.2's own signing). */
#include <stdlib.h>
#include <string.h>

#include "django_signing.h"
#include "error.h"
#include "unit.h"
#include "ws.h"

/* A client frame: masked with a fixed key. */
static size_t client_frame(unsigned char *out, int fin, int opcode, const char *payload, size_t len)
{
	static const unsigned char mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t n = 0;
	out[n++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		out[n++] = (unsigned char)(0x80 | len);
	} else if (len <= 0xffff) {
		out[n++] = 0x80 | 126;
		out[n++] = (unsigned char)(len >> 8);
		out[n++] = (unsigned char)len;
	} else {
		out[n++] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			out[n++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(out + n, mask, 4);
	n += 4;
	for (size_t i = 0; i < len; i++)
		out[n + i] = (unsigned char)(payload[i] ^ mask[i & 3]);
	return n + len;
}

TEST(accept_key_of_rfc_6455)
{
	char out[UMAP_WS_ACCEPT_LEN + 1];
	CHECK_INT(umap_ws_accept_key(out, "dGhlIHNhbXBsZSBub25jZQ=="), 0);
	CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 section 1.3 */
	CHECK_INT(umap_ws_accept_key(out, "short"), UMAP_EINVALID);
	CHECK_INT(umap_ws_accept_key(out, NULL), UMAP_EINVALID);
	CHECK_INT(umap_ws_accept_key(out, "dGhlIHNhbXBsZSBub25jZQ!="), UMAP_EINVALID);
}

TEST(reader_joins_fragments_byte_by_byte)
{
	unsigned char buf[512];
	size_t n = client_frame(buf, 0, UMAP_WS_TEXT, "{\"kind\":", 8);
	n += client_frame(buf + n, 1, UMAP_WS_PING, "hi", 2); /* control between fragments */
	n += client_frame(buf + n, 1, UMAP_WS_CONT, "\"x\"}", 4);
	umap_ws_reader r = UMAP_WS_READER_INIT(1024);
	int op, seen = 0;
	const char *data;
	size_t len;
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(umap_ws_reader_feed(&r, buf + i, 1), 0);
		int rc;
		while ((rc = umap_ws_reader_next(&r, &op, &data, &len)) == 1) {
			if (seen == 0) {
				CHECK_INT(op, UMAP_WS_PING);
				CHECK_STR(data, "hi");
			} else {
				CHECK_INT(op, UMAP_WS_TEXT);
				CHECK_STR(data, "{\"kind\":\"x\"}");
				CHECK_INT(len, 12);
			}
			seen++;
		}
		CHECK_INT(rc, 0);
	}
	CHECK_INT(seen, 2);
	umap_ws_reader_dispose(&r);
}

TEST(reader_lengths_16_and_64_bits)
{
	size_t big = 70000;
	char *payload = malloc(big);
	unsigned char *buf = malloc(big + 14);
	memset(payload, 'a', big);
	umap_ws_reader r = UMAP_WS_READER_INIT(100000);
	int op;
	const char *data;
	size_t len;
	size_t n = client_frame(buf, 1, UMAP_WS_BINARY, payload, 300);
	CHECK_INT(umap_ws_reader_feed(&r, buf, n), 0);
	CHECK_INT(umap_ws_reader_next(&r, &op, &data, &len), 1);
	CHECK_INT(len, 300);
	n = client_frame(buf, 1, UMAP_WS_TEXT, payload, big);
	CHECK_INT(umap_ws_reader_feed(&r, buf, n), 0);
	CHECK_INT(umap_ws_reader_next(&r, &op, &data, &len), 1);
	CHECK_INT(len, big);
	CHECK(data[0] == 'a' && data[big - 1] == 'a');
	umap_ws_reader_dispose(&r);
	/* over the limit: refused from the header, before the payload arrives */
	umap_ws_reader small = UMAP_WS_READER_INIT(1000);
	n = client_frame(buf, 1, UMAP_WS_TEXT, payload, big);
	CHECK_INT(umap_ws_reader_feed(&small, buf, 14), 0);
	CHECK_INT(umap_ws_reader_next(&small, &op, &data, &len), UMAP_ELIMIT);
	umap_ws_reader_dispose(&small);
	/* fragments adding up over the limit */
	umap_ws_reader frag = UMAP_WS_READER_INIT(1000);
	n = client_frame(buf, 0, UMAP_WS_TEXT, payload, 600);
	n += client_frame(buf + n, 1, UMAP_WS_CONT, payload, 600);
	CHECK_INT(umap_ws_reader_feed(&frag, buf, n), 0);
	CHECK_INT(umap_ws_reader_next(&frag, &op, &data, &len), UMAP_ELIMIT);
	umap_ws_reader_dispose(&frag);
	free(payload);
	free(buf);
}

static int first_error(const unsigned char *bytes, size_t n)
{
	umap_ws_reader r = UMAP_WS_READER_INIT(1000);
	int op, rc;
	const char *data;
	size_t len;
	if ((rc = umap_ws_reader_feed(&r, bytes, n)) == 0)
		while ((rc = umap_ws_reader_next(&r, &op, &data, &len)) == 1)
			;
	umap_ws_reader_dispose(&r);
	return rc;
}

TEST(reader_refuses_protocol_errors)
{
	unsigned char buf[64];
	size_t n = client_frame(buf, 1, UMAP_WS_TEXT, "ping", 4);
	buf[1] &= 0x7f; /* unmasked */
	CHECK_INT(first_error(buf, n), UMAP_EINVALID);
	n = client_frame(buf, 1, UMAP_WS_TEXT, "ping", 4);
	buf[0] |= 0x40; /* RSV1 */
	CHECK_INT(first_error(buf, n), UMAP_EINVALID);
	n = client_frame(buf, 1, 3, "ping", 4); /* reserved opcode */
	CHECK_INT(first_error(buf, n), UMAP_EINVALID);
	n = client_frame(buf, 1, UMAP_WS_CONT, "ping", 4); /* nothing to continue */
	CHECK_INT(first_error(buf, n), UMAP_EINVALID);
	n = client_frame(buf, 0, UMAP_WS_TEXT, "a", 1);
	n += client_frame(buf + n, 1, UMAP_WS_TEXT, "b", 1); /* new message inside one */
	CHECK_INT(first_error(buf, n), UMAP_EINVALID);
	n = client_frame(buf, 0, UMAP_WS_PING, "a", 1); /* fragmented control frame */
	CHECK_INT(first_error(buf, n), UMAP_EINVALID);
	n = client_frame(buf, 1, UMAP_WS_CLOSE, "a", 1); /* 1-byte close payload */
	CHECK_INT(first_error(buf, n), UMAP_EINVALID);
	unsigned char longer[8] = { 0x81, 0x80 | 126, 0, 5, 0, 0, 0, 0 }; /* not shortest */
	CHECK_INT(first_error(longer, sizeof(longer)), UMAP_EINVALID);
	unsigned char huge[14] = { 0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0 }; /* 2^63 */
	CHECK_INT(first_error(huge, sizeof(huge)), UMAP_EINVALID);
	n = client_frame(buf, 1, UMAP_WS_CLOSE, "\x03\xe8", 2);
	CHECK_INT(first_error(buf, n), 0);
}

TEST(frame_header_sizes)
{
	unsigned char h[UMAP_WS_HEADER_MAX];
	CHECK_INT(umap_ws_frame_header(h, UMAP_WS_TEXT, 4), 2);
	CHECK_INT(h[0], 0x81);
	CHECK_INT(h[1], 4);
	CHECK_INT(umap_ws_frame_header(h, UMAP_WS_TEXT, 126), 4);
	CHECK_INT(h[1], 126);
	CHECK_INT(h[3], 126);
	CHECK_INT(umap_ws_frame_header(h, UMAP_WS_BINARY, 65536), 10);
	CHECK_INT(h[7], 1);
}

/* Minted by Django 3.2.25 (Debian 12's python3-django) with SECRET_KEY
 * "test-secret-key-for-umapsync" at time 1796658985:
 * TimestampSigner().sign_object({"user":1,"map_id":42,"permissions":["edit","owner"]}) and the
 * same with compress=True for {"user":"anonymous","map_id":42,"permissions":["edit"]*40}. */
static const char plain_token[] = "eyJ1c2VyIjoxLCJtYXBfaWQiOjQyLCJwZXJtaXNzaW9ucyI6WyJlZGl0Iiwib3duZXIiXX0:1xab4j:FiRMT0cyT7wHNo8dzFZq41Bc3wyl73bBSbbgPiSxtN4";
static const char zipped_token[] = ".eJyrViotTi1SslJKzMvPq8zNLy1W0lHKTSyIz0xRsjIx0lEqSC3KzSwuzszPK1ayilZKTcksAaoYpVCo2FoAaZZkPw:1xab4j:TVsPUKo5glxJIL_-O0-YlbH42W8BFoYqsQLu7jHWO7E";
static const char secret[] = "test-secret-key-for-umapsync";
#define MINTED 1796658985.0

TEST(django_tokens_verified_as_django_does)
{
	json_t *obj = NULL;
	CHECK_INT(umap_django_unsign_object(&obj, plain_token, secret, 30, MINTED + 5), 0);
	CHECK_INT(json_integer_value(json_object_get(obj, "map_id")), 42);
	CHECK_STR(json_string_value(json_array_get(json_object_get(obj, "permissions"), 1)), "owner");
	json_decref(obj);
	CHECK_INT(umap_django_unsign_object(&obj, zipped_token, secret, 30, MINTED), 0);
	CHECK_STR(json_string_value(json_object_get(obj, "user")), "anonymous");
	CHECK_INT(json_array_size(json_object_get(obj, "permissions")), 40);
	json_decref(obj);
	/* 30 s is still fine, 31 s is too old (age > max_age, as Django) */
	CHECK_INT(umap_django_unsign_object(&obj, plain_token, secret, 30, MINTED + 30), 0);
	json_decref(obj);
	CHECK_INT(umap_django_unsign_object(&obj, plain_token, secret, 30, MINTED + 31), UMAP_EAUTH);
	CHECK(strstr(umap_error_last(), "expired") != NULL);
	CHECK(obj == NULL);
	/* another secret, a changed value, a changed timestamp, a cut signature */
	CHECK_INT(umap_django_unsign_object(&obj, plain_token, "other", 30, MINTED), UMAP_EAUTH);
	char bad[sizeof(plain_token)];
	memcpy(bad, plain_token, sizeof(bad));
	bad[3] ^= 1;
	CHECK_INT(umap_django_unsign_object(&obj, bad, secret, 30, MINTED), UMAP_EAUTH);
	memcpy(bad, plain_token, sizeof(bad));
	bad[strchr(plain_token, ':') - plain_token + 2] = 'b';
	CHECK_INT(umap_django_unsign_object(&obj, bad, secret, 30, MINTED), UMAP_EAUTH);
	memcpy(bad, plain_token, sizeof(bad));
	bad[sizeof(bad) - 2] = '\0';
	CHECK_INT(umap_django_unsign_object(&obj, bad, secret, 30, MINTED), UMAP_EAUTH);
	const char *junk[] = { "", "nocolon", ":", "::", "a:b:c", NULL };
	for (int i = 0; junk[i]; i++)
		CHECK_INT(umap_django_unsign_object(&obj, junk[i], secret, 30, MINTED), UMAP_EAUTH);
	CHECK_INT(umap_django_unsign_object(&obj, NULL, secret, 30, MINTED), UMAP_EAUTH);
	CHECK(obj == NULL);
}

int main(void)
{
	RUN(accept_key_of_rfc_6455);
	RUN(reader_joins_fragments_byte_by_byte);
	RUN(reader_lengths_16_and_64_bits);
	RUN(reader_refuses_protocol_errors);
	RUN(frame_header_sizes);
	RUN(django_tokens_verified_as_django_does);
	return UNIT_DONE();
}
