/* The sync server's storage: one SQLite database per data directory holding, per map, the
 * append-only op log, the materialised state, idempotency records, and the access tokens. */
#ifndef UMAP_SYNC_STORE_H
#define UMAP_SYNC_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hlc.h"
#include "sync_op.h"

typedef struct umap_sync_store umap_sync_store; /* opaque; safe to share between threads */

typedef struct umap_sync_store_options {
	unsigned int version;
	int64_t retain;           /* ops kept per map for pull; older cursors get "too old"
				   * (410). 0 keeps every op. */
	uint64_t max_skew_ms;     /* ops stamped further ahead of the clock are refused */
	size_t max_ops;           /* ops in one push */
	umap_hlc_clock_fn clock;  /* NULL: the system clock */
	void *clock_ctx;
	/* features one layer may hold: a push that would add more is refused (413) whole */
	size_t max_features;
	/* PostgreSQL: open even when the database cannot be reached yet (requests fail with
	 * UMAP_ENET, HTTP 503, until it can) */
	int lazy_connect;
} umap_sync_store_options;

#define UMAP_SYNC_DEFAULT_MAX_FEATURES ((size_t)1000000)
#define UMAP_SYNC_STORE_OPTIONS_VERSION 1
#define UMAP_SYNC_STORE_OPTIONS_INIT \
	{ UMAP_SYNC_STORE_OPTIONS_VERSION, 0, UMAP_HLC_MAX_DRIFT_MS, 10000, NULL, NULL, \
	  UMAP_SYNC_DEFAULT_MAX_FEATURES, 0 }

#define UMAP_SYNC_DB_NAME "umapsync.db"

/* Opens a store. `location` is a directory: (creating it and the database when needed)
 * DIR/umapsync.db in WAL mode with synchronous=FULL, a commit returns only once it is on
 * disk. Or a PostgreSQL URL (postgresql://...): the tables are made when missing, and any
 * number of processes may share the database (each map's pushes are serialised by an
 * advisory lock, commits announced to the other processes by NOTIFY). A lost database
 * is UMAP_ENET (HTTP 503); the next request connects again. */
int umap_sync_store_open(umap_sync_store **out, const char *location, const umap_sync_store_options *opts);
void umap_sync_store_close(umap_sync_store *store);
/* 1 when `location` is a PostgreSQL URL (postgresql:// or postgres://). */
int umap_sync_store_url_ok(const char *location);
/* 1 when the store is on PostgreSQL. */
int umap_sync_store_is_pg(const umap_sync_store *store);
/* Copies every map (ops, state, cursors, idempotency records) and token of `src` into
 * `dst`, in one transaction. UMAP_EEXISTS when dst already holds a map or a token. */
int umap_sync_store_import(umap_sync_store *dst, umap_sync_store *src);

/* ---- Access -------------------------------------------------------------------------- */

/* What a request may do on one map. */
typedef struct umap_sync_grant {
	int write;          /* may push (else read only) */
	int all_layers;     /* not restricted to some layers */
	size_t nlayers;     /* else: the layers it may read (and write, with `write`) */
	char **layers;
	char token_id[17];  /* the public id of the token used; "" without auth */
} umap_sync_grant;

#define UMAP_SYNC_GRANT_INIT { 0, 0, 0, NULL, "" }
void umap_sync_grant_dispose(umap_sync_grant *grant);
/* Grant rules: a layer-scoped token reads and writes only its layers; map-level options are
 * readable by every token of the map and writable only by an unscoped write token. */
int umap_sync_grant_can_read(const umap_sync_grant *grant, const char *layer);
int umap_sync_grant_can_write(const umap_sync_grant *grant, const char *layer);

/* 1 when requests need a token: once any token was ever created in this data directory
 * (revoking every token does not open the server again). */
int umap_sync_store_auth_required(umap_sync_store *store);
/* Checks a bearer token (NULL when none was sent) for `map`. Without auth everything is
 * granted. UMAP_EAUTH: missing or unknown token (HTTP 401); UMAP_ECONFLICT: a valid token
 * for another map (HTTP 403). The token is hashed and compared in constant time. */
int umap_sync_store_authorize(umap_sync_grant *out, umap_sync_store *store, const char *map,
			      const char *token, int force_auth);

#define UMAP_SYNC_TOKEN_PREFIX "umsync_"
#define UMAP_SYNC_TOKEN_MAX 128
/* Creates a token for `map` (for `layers` only when nlayers > 0), write or read access.
 * *token_out (allocated) is the secret, shown once; only its SHA-256 is stored. */
int umap_sync_token_create(char **token_out, char id_out[17], umap_sync_store *store,
			   const char *map, const char *const *layers, size_t nlayers, int write);
/* Every token: [{"id","map","layers":[..]|null,"access":"read|write","created":ISO,"revoked":ISO|null}]. */
int umap_sync_token_list(json_t **out, umap_sync_store *store);
/* Revokes by public id; UMAP_ENOTFOUND when there is none. */
int umap_sync_token_revoke(umap_sync_store *store, const char *id);

/* ---- Maps ---------------------------------------------------------------------------- */

/* The head cursor of a map (the sequence number of its last op); UMAP_ENOTFOUND. */
int umap_sync_store_head(int64_t *out, umap_sync_store *store, const char *map);
/* The oldest cursor a pull of the map may start from (ops up to it were pruned, --retain);
 * 0 while every op is kept. UMAP_ENOTFOUND. */
int umap_sync_store_floor(int64_t *out, umap_sync_store *store, const char *map);

/* Applies a push {"client_id","base","ops"} to `map` (created by its first push).
 * 0: *reply = {"ack":[op_id...],"cursor":N}, sent only after the ops are durable.
 * UMAP_ECONFLICT: *reply = {"conflicts":[{"layer","id","key","op_id"}...]}, nothing applied.
 * UMAP_EINVALID (400), UMAP_EAUTH (403: a layer the grant cannot write), UMAP_ELIMIT.
 * A retried op (same client_id and op_id) is acknowledged again and applied once.
 * Concurrent pushes are committed together (one fsync for the group). */
int umap_sync_store_push(json_t **reply, umap_sync_store *store, const char *map,
			 const umap_sync_grant *grant, json_t *body);
/* The same for a body read by umap_sync_push_body_parse: the values it kept as bytes are
 * stored as those bytes (they are what the tree's compact text would be). */
int umap_sync_store_push_raw(json_t **reply, umap_sync_store *store, const char *map,
			     const umap_sync_grant *grant, json_t *body, const umap_sync_raw_values *raw);

/* Appends ops that uMap's realtime peers sent over the websocket endpoint, as uMap relays
 * them: last writer wins, so there is no base and no conflict, and an update of a feature
 * this server does not hold is logged (and relayed) without changing the state. The caller
 * has checked the peer's token. Same reply and errors as umap_sync_store_push otherwise. */
int umap_sync_store_append_realtime(json_t **reply, umap_sync_store *store, const char *map,
				    const char *client, json_t *ops);

/* Ops after `since` (at most `limit`), as {"ops":[...],"cursor":N,"more":bool} JSON text.
 * Ops on layers the grant cannot read are left out (the cursor still moves past them).
 * UMAP_ENOTFOUND: no such map; UMAP_ELIMIT: `since` is older than the retained log (410)
 * or ahead of the head (the server lost its data or this is another server). */
int umap_sync_store_pull(umap_buf *out, int64_t *cursor, umap_sync_store *store, const char *map,
			 const umap_sync_grant *grant, int64_t since, int64_t limit);

/* The materialised state as JSON text: {"map","cursor","properties","layers":[{"id",
 * "filename","options","features":[...]}]}, only the layers the grant can read. */
int umap_sync_store_snapshot(umap_buf *out, umap_sync_store *store, const char *map,
			     const umap_sync_grant *grant);

/* The same answers produced a piece at a time, for a server to send as they come: each
 * stream holds its own read connection and read transaction (readers do not wait for
 * each other), and about one row of the answer in memory. The errors of pull and snapshot
 * come from the _open functions, before any byte. *head: the map's head cursor. */
typedef struct umap_sync_stream umap_sync_stream;
int umap_sync_store_pull_open(umap_sync_stream **out, int64_t *head, umap_sync_store *store,
			      const char *map, const umap_sync_grant *grant, int64_t since, int64_t limit);
int umap_sync_store_snapshot_open(umap_sync_stream **out, umap_sync_store *store, const char *map,
				  const umap_sync_grant *grant);
/* Up to `max` next bytes of the answer into buf; *n = 0 at its end. */
int umap_sync_stream_read(umap_sync_stream *stream, char *buf, size_t max, size_t *n);
/* The rest of the answer, appended to `out`. */
int umap_sync_stream_read_all(umap_buf *out, umap_sync_stream *stream);
/* A pull's cursor once it has been read to its end. */
int64_t umap_sync_stream_cursor(const umap_sync_stream *stream);
void umap_sync_stream_close(umap_sync_stream *stream);
/* The memory of SQLite's page caches: a stream's read connection, and the store's writer
 * and idle readers. Each concurrent reader costs its cache, so it is kept small; 0 on
 * PostgreSQL. */
int64_t umap_sync_stream_cache_bytes(const umap_sync_stream *stream);
int64_t umap_sync_store_cache_bytes(umap_sync_store *store);

/* Called after every commit with the maps it changed (for long-poll wake-ups). */
typedef void (*umap_sync_commit_fn)(void *ctx, const char *map, int64_t head);
void umap_sync_store_on_commit(umap_sync_store *store, umap_sync_commit_fn fn, void *ctx);

#endif
