/* Django's TimestampSigner().unsign_object(), the check uMap makes of a websocket token
 * (umap/sync/app.py), re-implemented byte for byte so umapsync serve accepts uMap's tokens. */
#ifndef UMAP_DJANGO_SIGNING_H
#define UMAP_DJANGO_SIGNING_H

#include <jansson.h>
#include <stdint.h>

#define UMAP_DJANGO_TOKEN_MAX 4096     /* bytes of a signed token */
#define UMAP_DJANGO_OBJECT_MAX 65536   /* bytes of the JSON it carries, once inflated */

/* Verifies `token` as django.core.signing.TimestampSigner(key=secret) with its default salt
 * and SHA-256, refuses it when older than max_age_s at now_s (seconds since the epoch, as
 * time.time()), and gives the object it carries (base64url JSON, zlib-compressed when it
 * starts with '.'). UMAP_EAUTH for a bad signature or an expired token, UMAP_EINVALID for
 * a token that is signed but does not hold a JSON object. */
int umap_django_unsign_object(json_t **out, const char *token, const char *secret,
			      int64_t max_age_s, double now_s);

#endif
