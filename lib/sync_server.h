/* The sync server's HTTP side (SPEC §8) on libmicrohttpd: routing, limits, auth, long-poll.
 * Storage is umap_sync_store; the command (cmd/cmd_serve.c) owns signals and printing. */
#ifndef UMAP_SYNC_SERVER_H
#define UMAP_SYNC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "sync_op.h"
#include "sync_store.h"

typedef struct umap_sync_server umap_sync_server; /* opaque */

typedef struct umap_sync_server_options {
	unsigned int version;
	const char *host;           /* numeric address or name to bind; "127.0.0.1" by default */
	unsigned int port;          /* 0: an ephemeral port (see umap_sync_server_port) */
	unsigned int threads;       /* thread pool size */
	unsigned int max_connections;
	unsigned int max_per_ip;    /* concurrent connections from one address */
	unsigned int timeout_s;     /* idle connection timeout */
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
	/* the longest a request (head and body) may take to arrive, from the connection's
	 * first byte or the end of its previous request; then the connection is closed
	 * (slowloris). 0: no limit beyond timeout_s. */
	unsigned int request_timeout_s;
	/* uMap's SECRET_KEY: opens ws://HOST:PORT/ws/sync/{map}, uMap's realtime protocol with
	 * tokens signed by that key (SPEC §8); NULL leaves the endpoint off. */
	const char *umap_secret;
	/* request bodies held at once by the whole server, in bytes: a push whose body would
	 * take the total over it gets 503 with Retry-After before its body is read. Bodies are
	 * only read once the token in the headers allows the push. */
	size_t max_inflight;
	/* large pull and snapshot answers (over 1 MiB) sent at once, each from its own read
	 * connection and read transaction; more get 503 with Retry-After. Smaller answers are
	 * read whole and never wait for a slot. */
	unsigned int max_streams;
} umap_sync_server_options;

#define UMAP_SYNC_SERVER_OPTIONS_VERSION 4
#define UMAP_SYNC_DEFAULT_MAX_INFLIGHT ((size_t)64 << 20)
#define UMAP_SYNC_SERVER_OPTIONS_INIT \
	{ UMAP_SYNC_SERVER_OPTIONS_VERSION, "127.0.0.1", 0, 4, 1024, 128, 30, (size_t)8 << 20, \
	  0, 0, 30, 1000, 10000, 0, NULL, NULL, 60, NULL, UMAP_SYNC_DEFAULT_MAX_INFLIGHT, 64 }

/* Binds and starts serving in background threads. */
int umap_sync_server_start(umap_sync_server **out, umap_sync_store *store,
			   const umap_sync_server_options *opts);
/* The port actually bound (useful with port 0). */
unsigned int umap_sync_server_port(const umap_sync_server *server);
/* A server that handles requests through umap_sync_server_handle only: no socket, no
 * thread (for fuzzing and tests). umap_sync_server_stop frees it. */
int umap_sync_server_new(umap_sync_server **out, umap_sync_store *store,
			 const umap_sync_server_options *opts);
/* Answers waiting long-polls, finishes requests in flight, closes the socket. */
void umap_sync_server_stop(umap_sync_server *server);

/* ---- One request without sockets --------------------------------------------------------
 * What the HTTP front end (libmicrohttpd) hands over once a request has arrived whole: the
 * routing, auth, limits on the body's content, push, pull and snapshot all happen behind
 * umap_sync_server_handle. Transport limits (connections, rate, body size while it
 * arrives, timeouts) stay in front of it. */

typedef struct umap_sync_http_field {
	const char *name;
	const char *value; /* NULL for a query argument without '=' */
} umap_sync_http_field;

typedef struct umap_sync_http_request {
	const char *method;
	const char *path;                    /* percent-decoded, without the query string */
	const umap_sync_http_field *args;    /* query arguments, decoded; the first one wins */
	size_t nargs;
	const umap_sync_http_field *headers; /* names compared without case; the first one wins */
	size_t nheaders;
	const char *body;
	size_t body_len;
	/* a long-poll that waited (woken by a commit or its deadline): answer with what there is */
	int resumed;
} umap_sync_http_request;

typedef struct umap_sync_http_response {
	/* 0: a long-poll found nothing new. The caller parks the request until a commit on
	 * `map` or for `wait_s` seconds, then handles it again with `resumed` set (or at once,
	 * not resumed, if a commit came after `generation`). */
	unsigned int status;
	char *body;               /* JSON, malloc'd: free it (umap_sync_http_response_dispose) */
	size_t body_len;
	const char *header;       /* one more header (Allow, WWW-Authenticate), or NULL */
	const char *header_value;
	unsigned int wait_s;
	uint64_t generation;      /* commits seen before the pull that found nothing */
	char map[UMAP_SYNC_NAME_MAX + 1];
	/* the HTTP front end only: a pull or snapshot sent as it is read (body is then NULL);
	 * umap_sync_server_handle always fills `body` instead */
	struct umap_sync_stream *stream;
} umap_sync_http_response;

/* Handles one request. 0 with *resp filled in (any HTTP status), or UMAP_ENOMEM. */
int umap_sync_server_handle(umap_sync_server *server, const umap_sync_http_request *req,
			    umap_sync_http_response *resp);
void umap_sync_http_response_dispose(umap_sync_http_response *resp);

#endif
