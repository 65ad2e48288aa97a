/* The sync server's HTTP side (SPEC §8) on libmicrohttpd: routing, limits, auth, long-poll.
 * Storage is umap_sync_store; the command (cmd/cmd_serve.c) owns signals and printing. */
#ifndef UMAP_SYNC_SERVER_H
#define UMAP_SYNC_SERVER_H

#include <stddef.h>

#include "sync_store.h"

typedef struct umap_sync_server umap_sync_server; /* opaque */

typedef struct umap_sync_server_options {
	unsigned int version;
	const char *host;           /* numeric address or name to bind; "127.0.0.1" by default */
	unsigned int port;          /* 0: an ephemeral port (see umap_sync_server_port) */
	unsigned int threads;       /* thread pool size */
	unsigned int max_connections;
	unsigned int max_per_ip;    /* concurrent connections from one address */
	unsigned int timeout_s;     /* idle connection timeout (slowloris) */
	size_t max_body;            /* bytes; larger bodies get 413 */
	double rate;                /* requests per second per address; 0: no limit (429) */
	double burst;               /* requests allowed at once above the rate */
	unsigned int max_wait_s;    /* longest long-poll */
	unsigned int default_limit; /* ops per pull without ?limit */
	unsigned int max_limit;
	int force_auth;             /* require tokens even before any token exists */
	/* one line per request when set (never contains a token) */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
} umap_sync_server_options;

#define UMAP_SYNC_SERVER_OPTIONS_VERSION 1
#define UMAP_SYNC_SERVER_OPTIONS_INIT \
	{ UMAP_SYNC_SERVER_OPTIONS_VERSION, "127.0.0.1", 0, 4, 1024, 128, 30, (size_t)8 << 20, \
	  0, 0, 30, 1000, 10000, 0, NULL, NULL }

/* Binds and starts serving in background threads. */
int umap_sync_server_start(umap_sync_server **out, umap_sync_store *store,
			   const umap_sync_server_options *opts);
/* The port actually bound (useful with port 0). */
unsigned int umap_sync_server_port(const umap_sync_server *server);
/* Answers waiting long-polls, finishes requests in flight, closes the socket. */
void umap_sync_server_stop(umap_sync_server *server);

#endif
