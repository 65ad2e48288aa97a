/* A live uMap instance as a remote (SPEC §9): map URLs, and uMap's own HTTP API over libcurl
 * (map geojson, settings, datalayers with their versions, saves with the CSRF token). */
#ifndef UMAP_REMOTE_H
#define UMAP_REMOTE_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

/* https://HOST/LANG/map/SLUG_ID, or https://HOST/LANG/map/ID/geojson/ (any path prefix
 * before /map/, as instances differ in script name and language). */
typedef struct umap_remote_url {
	char *origin;   /* "https://host:port" */
	char *prefix;   /* the path before "/map/": "/fr", "/umap/en", "" */
	char *slug;     /* NULL for the /geojson/ form */
	long map_id;
} umap_remote_url;

/* 1 when `url` has the shape of a uMap map URL (then umap_remote_url_parse accepts it). */
int umap_remote_url_is_umap(const char *url);
int umap_remote_url_parse(umap_remote_url *out, const char *url);
void umap_remote_url_dispose(umap_remote_url *url);

/* 1 when `url` is an anonymous edit link, https://HOST/LANG/map/anonymous-edit/SIGNATURE (any
 * path before /map/): what uMap gives the creator of a map without owner. Its signature is
 * a secret: anyone holding the link may edit the map. */
int umap_remote_url_is_edit_link(const char *url);

/* A session with one instance: one libcurl handle whose cookie engine reads the cookie files
 * (Netscape format, never written back) and keeps what the server sets (csrftoken). */
typedef struct umap_remote umap_remote;

typedef struct umap_remote_options {
	const char *cookie_file;      /* a signed-in session's cookies; NULL: none */
	const char *edit_cookie_file; /* the cookie an anonymous edit link set (umap_remote_edit_cookie) */
} umap_remote_options;
#define UMAP_REMOTE_OPTIONS_INIT { NULL, NULL }

/* Bytes one answer may hold: a datalayer of several hundred thousand features fits. */
#define UMAP_REMOTE_MAX_BODY ((size_t)256 << 20)

/* Opens a session and reads the map's geojson (properties.urls, datalayers). opts may be
 * NULL. Errors: UMAP_ENOTFOUND (no such map), UMAP_EINVALID (not a uMap: no properties.urls),
 * UMAP_EAUTH (a login page or 403), UMAP_ENET. */
int umap_remote_open(umap_remote **out, const umap_remote_url *url, const umap_remote_options *opts);
/* Opens a session through an anonymous edit link, as uMap's MapAnonymousEditUrl view answers
 * it: the link's redirect (followed on the same origin only) names the map, returned in *map,
 * and sets the signed anonymous_owner|ID cookie, which the session keeps and sends. No message
 * holds the link's signature. Errors: UMAP_EAUTH (403: a wrong signature; a login page; or,
 * with *map set, no cookie: the map has an owner now, whose signed-in session may edit it),
 * UMAP_ENOTFOUND (no such map), UMAP_EINVALID (not a uMap answer, a redirect elsewhere),
 * UMAP_ENET; then as umap_remote_open. *map is empty on failure but in that one case. */
int umap_remote_open_edit_link(umap_remote **out, umap_remote_url *map, const char *link,
			       const umap_remote_options *opts);
/* The anonymous owner cookie of the session's map, as a Netscape cookie file's text (what
 * edit_cookie_file reads back). A secret: keep it 0600 and wipe the buffer. UMAP_ENOTFOUND
 * when the session has none. */
int umap_remote_edit_cookie(umap_buf *out, const umap_remote *remote);
void umap_remote_free(umap_remote *remote);
/* The map's geojson as read by open (borrowed): properties.datalayers is the layers' tree. */
const json_t *umap_remote_map(const umap_remote *remote);
/* Reads the map's geojson again (after a save, to see the versions). */
int umap_remote_reload(umap_remote *remote);

/* The layers of the geojson's datalayers tree in order, flattened (each a new object
 * {"id","name","rank","parent","version","settings"}; parent null at the top). */
int umap_remote_layers(json_t **out, const umap_remote *remote);

/* The map's own settings ({"type":"Feature","geometry","properties"}) from
 * download/?include_data=0, without what the server injects (urls, tilelayers, user...). */
int umap_remote_settings(json_t **out, umap_remote *remote);
/* Removes the server-injected keys from settings' properties (in place). */
void umap_remote_strip_settings(json_t *settings);

/* A datalayer's geojson (the FeatureCollection as stored) and its X-Datalayer-Version. */
int umap_remote_layer_get(json_t **geojson, char **version, umap_remote *remote, const char *uuid);
/* One of its kept versions, by ref. */
int umap_remote_layer_get_version(json_t **geojson, umap_remote *remote, const char *uuid, const char *ref);
/* Its kept versions ({"versions":[{"ref","at","size"}]}, newest first). */
int umap_remote_layer_versions(json_t **out, umap_remote *remote, const char *uuid);

typedef struct umap_remote_save {
	const char *uuid;
	int create;              /* datalayer_create (client-chosen UUID), else datalayer_update */
	const char *name;
	long rank;
	const char *parent;      /* NULL at the top */
	const json_t *settings;
	const json_t *geojson;   /* the FeatureCollection sent as the `geojson` file */
	const char *reference;   /* X-Datalayer-Reference; NULL: none */
} umap_remote_save;

/* Saves a datalayer as uMap's editor does. 0 with *conflict 1 on 412 (the server could not
 * merge); else 0 with *version the new X-Datalayer-Version and *merged the geojson the server
 * merged ours into (NULL when it kept ours as sent). A stale CSRF token is renewed once. */
int umap_remote_layer_save(char **version, json_t **merged, int *conflict, umap_remote *remote,
			   const umap_remote_save *save);
int umap_remote_layer_delete(umap_remote *remote, const char *uuid);
/* Saves the map's settings (map_update). */
int umap_remote_settings_save(umap_remote *remote, const json_t *settings);

#endif
