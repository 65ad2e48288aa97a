/* Django's signing (django/core/signing.py, django/utils/crypto.py): salted_hmac with
 * key = SHA-256(salt + "signer" + SECRET_KEY), base64url without padding, base62 times. */
#include "django_signing.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#include "buf.h"
#include "error.h"
#include "json.h"

/* TimestampSigner's default salt is its class path; signature() appends "signer" */
#define SIGNER_KEY_SALT "django.core.signing.TimestampSigner" "signer"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void b64url_encode(char *out, const unsigned char *in, size_t n)
{
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
}

/* base64url with or without padding, as Python's urlsafe_b64decode after Django re-pads. */
static int b64url_decode(umap_buf *out, const char *in, size_t n)
{
	while (n && in[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = in[i] ? strchr(b64url, in[i]) : NULL;
		if (!p)
			return -1;
		acc = acc << 6 | (uint32_t)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (umap_buf_putc(out, (char)(acc >> bits & 0xff)))
				return -1;
		}
	}
	return 0;
}

static int b62_decode(int64_t *out, const char *s, size_t n)
{
	int neg = n && s[0] == '-';
	int64_t v = 0;
	if (n == (size_t)neg || n - (size_t)neg > 10)
		return -1;
	for (size_t i = (size_t)neg; i < n; i++) {
		const char *p = s[i] ? strchr(b62, s[i]) : NULL;
		if (!p)
			return -1;
		v = v * 62 + (p - b62);
	}
	*out = neg ? -v : v;
	return 0;
}

static int inflate_bounded(umap_buf *out, const umap_buf *in)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return -1;
	unsigned char chunk[4096];
	int rc = Z_OK;
	z.next_in = (unsigned char *)in->ptr;
	z.avail_in = (uInt)in->len;
	while (rc != Z_STREAM_END) {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END)
			break;
		size_t got = sizeof(chunk) - z.avail_out;
		if (out->len + got > UMAP_DJANGO_OBJECT_MAX || umap_buf_put(out, chunk, got)) {
			rc = Z_MEM_ERROR;
			break;
		}
		if (rc == Z_OK && got == 0 && z.avail_in == 0) {
			rc = Z_DATA_ERROR; /* truncated stream */
			break;
		}
	}
	inflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

int umap_django_unsign_object(json_t **out, const char *token, const char *secret,
			      int64_t max_age_s, double now_s)
{
	*out = NULL;
	size_t n = token ? strnlen(token, UMAP_DJANGO_TOKEN_MAX + 1) : 0;
	if (n == 0 || n > UMAP_DJANGO_TOKEN_MAX)
		return umap_error_set(UMAP_EAUTH, "bad signature: the token is empty or over %d bytes",
				      UMAP_DJANGO_TOKEN_MAX);
	/* VALUE:TIMESTAMP:SIGNATURE, split from the right as rsplit(":", 1) twice */
	const char *sig = NULL, *ts = NULL;
	for (size_t i = n; i-- > 0;)
		if (token[i] == ':') {
			if (!sig)
				sig = token + i + 1;
			else {
				ts = token + i + 1;
				break;
			}
		}
	if (!sig)
		return umap_error_set(UMAP_EAUTH, "bad signature: no ':' in the token");
	/* the signed value is everything before the signature: "VALUE:TIMESTAMP" */
	size_t signed_len = (size_t)(sig - 1 - token);
	unsigned char key[32], mac[32];
	unsigned int mac_len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int key_len = 0;
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(md, SIGNER_KEY_SALT, strlen(SIGNER_KEY_SALT)) == 1 &&
		 EVP_DigestUpdate(md, secret, strlen(secret)) == 1 &&
		 EVP_DigestFinal_ex(md, key, &key_len) == 1;
	EVP_MD_CTX_free(md);
	if (!ok || !HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)token, signed_len, mac, &mac_len))
		return umap_error_set(UMAP_ENOMEM, "cannot compute an HMAC (out of memory?)");
	char expected[45];
	b64url_encode(expected, mac, mac_len);
	size_t sig_len = n - (size_t)(sig - token);
	if (sig_len != strlen(expected) || CRYPTO_memcmp(sig, expected, sig_len))
		return umap_error_set(UMAP_EAUTH, "bad signature: the token was not signed with this SECRET_KEY");
	int64_t stamp;
	if (!ts || b62_decode(&stamp, ts, (size_t)(sig - 1 - ts)))
		return umap_error_set(UMAP_EAUTH, "bad signature: the token has no valid timestamp");
	if (now_s - (double)stamp > (double)max_age_s)
		return umap_error_set(UMAP_EAUTH, "the token expired: it is %.0f s old (limit %lld s)",
				      now_s - (double)stamp, (long long)max_age_s);
	const char *value = token;
	size_t value_len = (size_t)(ts - 1 - token);
	int compressed = value_len && value[0] == '.';
	umap_buf raw = UMAP_BUF_INIT, data = UMAP_BUF_INIT;
	int err = 0;
	if (b64url_decode(&raw, value + compressed, value_len - (size_t)compressed) ||
	    (compressed && inflate_bounded(&data, &raw)))
		err = umap_error_set(UMAP_EINVALID, "the token's value is not base64%s", compressed ? " of zlib data" : "");
	const umap_buf *json = compressed ? &data : &raw;
	if (!err && json->len > UMAP_DJANGO_OBJECT_MAX)
		err = umap_error_set(UMAP_EINVALID, "the token's value is over %d bytes", UMAP_DJANGO_OBJECT_MAX);
	if (!err) {
		json_error_t jerr;
		*out = json_loadb(json->ptr ? json->ptr : "", json->len, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			err = umap_error_set(UMAP_EINVALID, "the token does not carry a JSON object");
		}
	}
	umap_buf_dispose(&raw);
	umap_buf_dispose(&data);
	return err;
}
