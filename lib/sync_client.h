/* The sync client's building blocks: remote URLs, HTTP over libcurl, and applying pulled ops
 * (or a snapshot) to map files held as JSON trees. The commands in cmd/ tie them together. */
#ifndef UMAP_SYNC_CLIENT_H
#define UMAP_SYNC_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "doc.h"
#include "json.h"
#include "progress.h"

/* http://HOST:PORT/MAP split into the server's base URL and the map name. */
typedef struct umap_sync_url {
	char *base; /* "http://127.0.0.1:8642" */
	char *map;
} umap_sync_url;

int umap_sync_url_parse(umap_sync_url *out, const char *url);
void umap_sync_url_dispose(umap_sync_url *url);

typedef struct umap_http_response {
	long status;
	umap_buf body;
	long retry_after; /* seconds, from Retry-After; 0 when none */
} umap_http_response;

#define UMAP_HTTP_RESPONSE_INIT { 0, UMAP_BUF_INIT, 0 }

/* One request: method GET or POST (with a JSON body), bearer token when non-NULL, bounded
 * in time. UMAP_ENET (message says why) when no HTTP answer came back. `progress` (may be
 * NULL) hears the bytes of the answer received so far and their total (0 when unknown). */
int umap_sync_http(umap_http_response *out, const char *method, const char *url, const char *token,
		   const char *body, size_t len, long timeout_s, const struct umap_progress *progress);
void umap_http_response_dispose(umap_http_response *resp);

/* Where the body of a 200 answer goes instead of the response's buffer (other answers, such
 * as an error's, stay there): `write` takes each piece as it arrives; `reset` (called before
 * a request is sent again) drops what it took. Both return 0 or a negative UMAP_E*. */
typedef struct umap_http_sink {
	int (*write)(void *ctx, const char *data, size_t len);
	int (*reset)(void *ctx);
	void *ctx;
} umap_http_sink;

/* umap_sync_http with the body of a 200 answer given to `sink` (NULL: kept in out->body). */
int umap_sync_http_to(umap_http_response *out, const char *method, const char *url, const char *token,
		      const char *body, size_t len, long timeout_s, const struct umap_progress *progress,
		      const umap_http_sink *sink);

/* Map files as JSON trees (FeatureCollections, or .umap maps with "layers"), by path. */
typedef struct umap_sync_files {
	size_t n;
	char **paths;
	json_t **roots;  /* NULL: the file was removed */
} umap_sync_files;

void umap_sync_files_dispose(umap_sync_files *files);
/* Adds a file (the set takes `root`). */
int umap_sync_files_add(umap_sync_files *files, const char *path, json_t *root);

/* A pull reply ({"ops":[...],"cursor":N,"more":BOOL}) checked as the server checks a push:
 * a JSON object, "ops" an array of ops that umap_sync_op_parse accepts, "cursor" an integer
 * >= since (> since when "more" is true, so that a server cannot keep a pull looping).
 * UMAP_EINVALID "the server's answer is not a pull reply: ..." otherwise. */
typedef struct umap_sync_pull_reply {
	json_t *root;   /* owned */
	json_t *ops;    /* borrowed from root */
	long long cursor;
	int more;
} umap_sync_pull_reply;

int umap_sync_pull_reply_parse(umap_sync_pull_reply *out, const char *body, size_t len, long long since);
void umap_sync_pull_reply_dispose(umap_sync_pull_reply *reply);

/* A push's acknowledgement ({"ack":[...],"cursor":N}): a JSON object with "cursor" an
 * integer >= 0 and "ack" an array when present. UMAP_EINVALID "the server's answer is not a
 * push reply: ..." otherwise. */
int umap_sync_push_reply_check(long long *cursor, const json_t *reply);

/* What one pull may receive in all before it stops (a server that sends ops forever with an
 * advancing cursor): the pulled ops are held in memory until they are applied, about ten
 * times their text. A legitimate pull that needs more is better served by a fresh clone. */
#define UMAP_SYNC_PULL_MAX_BYTES ((unsigned long long)64 << 20)

/* Checks a snapshot reply: a JSON object with "layers" (each with a valid "id", a valid
 * "filename" when it has one, "features" an array), "cursor" an integer >= 0 and
 * "properties" an object when present. UMAP_EINVALID "the server's answer is not a
 * snapshot: ..." otherwise; *cursor gets the snapshot's cursor. */
int umap_sync_snapshot_check(long long *cursor, const json_t *snapshot);

/* Builds the files of a snapshot reply ({"layers":[{"id","filename","options","features"}],
 * "properties"}): layers grouped by file name (a .umap name gathers its layers into one map
 * with the map's properties; a layer without a name gets LAYER.geojson). The snapshot is
 * checked first (umap_sync_snapshot_check). */
int umap_sync_files_from_snapshot(umap_sync_files *out, const json_t *snapshot);

/* A snapshot answer saved in a file, read without holding its features: the layer list is
 * checked (umap_sync_snapshot_check) and placed in files as umap_sync_files_from_snapshot
 * does; each file is then written in uMap's layout (UMAP_LAYOUT_DEFAULT) feature by feature
 * from the file's bytes, which are given back to the kernel behind the writer. A feature's
 * tokens are laid out as they came: for the canonical text a umapsync server sends
 * (shortest numbers, UTF-8 unescaped) the file is byte for byte what umap_json_dumps_as
 * writes for the whole answer's tree. *cursor gets the snapshot's cursor. */
typedef struct umap_sync_snapshot umap_sync_snapshot;
int umap_sync_snapshot_open(umap_sync_snapshot **out, long long *cursor, const char *path);
/* The files (their roots hold placeholders for the features: write them with the function
 * below, never with a JSON writer). */
const umap_sync_files *umap_sync_snapshot_files(const umap_sync_snapshot *snapshot);
int umap_sync_snapshot_write(umap_sync_snapshot *snapshot, size_t file, int (*sink)(void *ctx, const char *data, size_t len),
			     void *ctx);
void umap_sync_snapshot_free(umap_sync_snapshot *snapshot);

/* Applies a pulled op. *applied is 0 when it had nothing to act on (an update of a feature
 * that is gone, a map op without a .umap file), which is not an error. */
int umap_sync_apply_op(umap_sync_files *files, const json_t *op, int *applied);
/* Applies an array of pulled ops in order, as umap_sync_apply_op would one by one, in time
 * proportional to the ops and the features of the layers they touch (each layer is indexed
 * once). *applied counts the ops that acted; an error message names the op's op_id.
 * `progress` (may be NULL) hears the ops done. */
int umap_sync_apply_ops(umap_sync_files *files, const json_t *ops, size_t *applied,
			const struct umap_progress *progress);

/* What umap_sync_apply_ops_to_file tells as it writes (each may be NULL). */
typedef struct umap_sync_stream_hooks {
	/* each feature of the file that the ops name (its bytes are not copied: changed or
	 * removed): its id (compact JSON) and umap_feature.hash */
	int (*named)(void *ctx, const char *id, uint64_t hash);
	/* each feature of the result, in order: its id, and its bytes as written when they are
	 * new (NULL when an old feature's bytes are copied) */
	int (*wrote)(void *ctx, const char *id, const char *bytes, size_t len);
	void *ctx;
} umap_sync_stream_hooks;
/* A pull of a few changes to a large layer file, applied as the file streams (SPEC: memory
 * follows the change, not the map): `ops`, each a feature upsert, update or delete on
 * `layer`, applied as umap_sync_apply_ops would to the file's tree, the resulting file
 * written to `sink` in one pass over the file at `path`, keeping nothing per feature: only
 * the features the ops name are parsed; the others' bytes are copied as they are, in their
 * places; changed and new features (new ones at the end, as the server places them) are
 * laid out as the file is (*layout, may be NULL, gets that layout); the separators, and
 * what comes before the first feature and after the last, are the file's own. `hooks` (may
 * be NULL) hear what is written, for a commit made from the change alone. UMAP_EUSAGE when
 * the ops or the file do not allow it (not a FeatureCollection of at least two features, a
 * stream, an id twice): whatever the sink got is to be thrown away. */
int umap_sync_apply_ops_to_file(size_t *applied, umap_layout *layout, const char *path, const char *layer,
				const json_t *ops, umap_json_sink sink, void *ctx,
				const umap_sync_stream_hooks *hooks);

#endif
