/* uMap's realtime endpoint of the sync server (SPEC §8): ws://HOST:PORT/ws/sync/{map} speaks
 * umap/sync/app.py's protocol on the HTTP port (libmicrohttpd's upgrade), op log first. */
#ifndef UMAP_SYNC_WS_H
#define UMAP_SYNC_WS_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "sync_store.h"

typedef struct umap_sync_ws umap_sync_ws; /* opaque; lib-internal (sync_server.c uses it) */

/* The peer id the server takes in every map's room: it never leaves, and it answers a
 * ListOperationsRequest sent to it from the op log. */
#define UMAP_SYNC_WS_SERVER_PEER "umapsync"
#define UMAP_SYNC_WS_TOKEN_MAX_AGE 30   /* seconds, as uMap's unsign_object(max_age=30) */
#define UMAP_SYNC_WS_IDLE_S 90          /* uMap's client pings every 30 s */
#define UMAP_SYNC_WS_SEND_TIMEOUT_S 10  /* a peer that takes longer to take a message is dropped */
#define UMAP_SYNC_WS_REPLAY_MAX 100000  /* ops in one ListOperationsResponse */

/* `secret` is uMap's SECRET_KEY (copied); messages over max_message bytes close the peer. */
int umap_sync_ws_new(umap_sync_ws **out, umap_sync_store *store, const char *secret,
		     size_t max_message, void (*log)(void *ctx, const char *line), void *log_ctx);
/* Closes every peer (close frame 1001) and waits for their threads: before MHD_stop_daemon.
 * An upgrade that completes after it is closed at once. */
void umap_sync_ws_stop(umap_sync_ws *ws);
/* Stops if needed and frees everything: after MHD_stop_daemon (no upgrade can come). */
void umap_sync_ws_free(umap_sync_ws *ws);

/* 1 when `url` is the endpoint's path ("/ws/sync/..."). */
int umap_sync_ws_is_endpoint(const char *url);
/* Answers a request for the endpoint: 101 and an upgrade (then a thread serves the peer),
 * or 400/404/405/503. Called from the access handler on its first call. */
enum MHD_Result umap_sync_ws_answer(umap_sync_ws *ws, struct MHD_Connection *conn,
				    const char *url, const char *method, unsigned *status);
/* After a commit to `map` (any push: HTTP or websocket), relays the new ops to its peers. */
void umap_sync_ws_on_commit(umap_sync_ws *ws, const char *map, int64_t head);

#endif
