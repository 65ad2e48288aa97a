/* The sync server on libmicrohttpd: thread pool, connection and per-address limits,
 * timeouts, body limit (413), rate limit (429), bearer tokens, and long-poll pulls that
 * park the connection (suspend) instead of a thread, woken by commits or their deadline. */
#include "sync_server.h"

#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>

#include "buf.h"
#include "error.h"
#include "json.h"
#include "sync_op.h"
#include "sync_ws.h"
#include "version.h"

#define RATE_SLOTS 1024

struct rate_slot {
	char addr[INET6_ADDRSTRLEN];
	double tokens;
	uint64_t last_us;
};

struct conn_watch;

enum body_state {
	BODY_KEPT,        /* the body is being received and kept */
	BODY_TOO_BIG,     /* it outgrew max_body: dropped, 413 once it has arrived */
	BODY_OVER_BUDGET, /* it outgrew the server's budget for bodies: dropped, 503 */
	BODY_IGNORED,     /* the endpoint takes no body: whatever arrives is dropped */
	BODY_ANSWERED,    /* answered before the body: whatever arrives is dropped */
};

struct request {
	umap_buf body;
	enum body_state state;
	size_t reserved;       /* bytes of the server's body budget held by `body` */
	int waiting;           /* 1: suspended in a long-poll; 2: resumed, answer now */
	uint64_t deadline_us;
	char map[UMAP_SYNC_NAME_MAX + 1];
	struct MHD_Connection *conn;
	struct request *next_waiter;
	uint64_t start_us;
};

struct umap_sync_server {
	struct MHD_Daemon *daemon;
	umap_sync_store *store;
	umap_sync_server_options opts;
	unsigned int port;
	/* long-poll waiters; `generation` counts commits so a pull that found nothing can tell
	 * whether a commit slipped in before it parked */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	struct request *waiters;
	uint64_t generation;
	int stopping;
	pthread_t timer;
	int timer_started;
	pthread_mutex_t rate_lock;
	struct rate_slot *rates;
	pthread_mutex_t watch_lock;
	struct conn_watch *watched; /* connections, for the request deadline */
	umap_sync_ws *ws;           /* uMap's websocket endpoint, with --umap-secret-file */
	pthread_mutex_t budget_lock;
	size_t inflight;            /* bytes reserved by request bodies, at most max_inflight */
	unsigned streams;           /* large answers being sent from a stream (max_streams) */
};

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- Responses ------------------------------------------------------------------------ */

/* One request going through umap_sync_server_handle. */
struct exchange {
	const umap_sync_http_request *rq;
	umap_sync_http_response *rs;
	int stream_ok; /* the front end sends pulls and snapshots as they are read */
};

static void log_request(umap_sync_server *srv, uint64_t start_us, const char *method,
			const char *url, unsigned status)
{
	if (!srv->opts.log)
		return;
	char line[512];
	snprintf(line, sizeof(line), "%s %.300s %u %.1fms", method, url, status,
		 (double)(mono_us() - start_us) / 1000.0);
	srv->opts.log(srv->opts.log_ctx, line);
}

/* Answers with `text` (malloc'd, taken over) and status; extra header optional. */
static int send_text(struct exchange *ex, unsigned status, char *text, size_t len,
		     const char *header, const char *value)
{
	if (!text)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	free(ex->rs->body);
	ex->rs->status = status;
	ex->rs->body = text;
	ex->rs->body_len = len;
	ex->rs->header = header;
	ex->rs->header_value = value;
	return 0;
}

static int send_json(struct exchange *ex, unsigned status, json_t *value, const char *header,
		     const char *hvalue)
{
	char *text = umap_json_dumps(value, UMAP_JSON_COMPACT);
	json_decref(value);
	return send_text(ex, status, text, text ? strlen(text) : 0, header, hvalue);
}

static int send_error(struct exchange *ex, unsigned status, const char *message,
		      const char *header, const char *hvalue)
{
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE && !header) {
		header = MHD_HTTP_HEADER_RETRY_AFTER;
		hvalue = "1";
	}
	return send_json(ex, status, json_pack("{s:s}", "error", message), header, hvalue);
}

/* The first value of `name` among `fields` (compared without case for headers). */
static const char *field_value(const umap_sync_http_field *fields, size_t n, const char *name,
			       int nocase)
{
	for (size_t i = 0; i < n; i++)
		if (fields[i].name && !(nocase ? strcasecmp : strcmp)(fields[i].name, name))
			return fields[i].value;
	return NULL;
}

/* The HTTP status for a library error. */
static unsigned status_for(int err)
{
	switch (err) {
	case UMAP_EINVALID:
	case UMAP_EUSAGE:
		return MHD_HTTP_BAD_REQUEST;
	case UMAP_ENOTFOUND:
		return MHD_HTTP_NOT_FOUND;
	case UMAP_EAUTH:
		return MHD_HTTP_FORBIDDEN;
	case UMAP_ECONFLICT:
		return MHD_HTTP_CONFLICT;
	case UMAP_ELIMIT:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case UMAP_ENOSPC:
		return MHD_HTTP_INSUFFICIENT_STORAGE;
	case UMAP_ENET: /* the store's database is away (PostgreSQL restarting): retry */
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* ---- Rate limit: a token bucket per client address ------------------------------------ */

/* 0 when allowed; else the seconds to wait. Addresses share slots by hash; a new address
 * takes over a slot with a full bucket, which errs towards letting requests through. */
static unsigned rate_check(umap_sync_server *srv, struct MHD_Connection *conn)
{
	if (srv->opts.rate <= 0)
		return 0;
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char addr[INET6_ADDRSTRLEN] = "?";
	if (info && info->client_addr) {
		const struct sockaddr *sa = info->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr, sizeof(addr));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr, sizeof(addr));
	}
	uint32_t h = 2166136261u;
	for (const char *p = addr; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	double burst = srv->opts.burst > 1 ? srv->opts.burst : 1;
	uint64_t now = mono_us();
	unsigned wait = 0;
	pthread_mutex_lock(&srv->rate_lock);
	struct rate_slot *slot = &srv->rates[h % RATE_SLOTS];
	if (strcmp(slot->addr, addr)) {
		snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
		slot->tokens = burst;
		slot->last_us = now;
	}
	slot->tokens += (double)(now - slot->last_us) / 1e6 * srv->opts.rate;
	if (slot->tokens > burst)
		slot->tokens = burst;
	slot->last_us = now;
	if (slot->tokens >= 1)
		slot->tokens -= 1;
	else
		wait = (unsigned)ceil((1 - slot->tokens) / srv->opts.rate);
	pthread_mutex_unlock(&srv->rate_lock);
	return wait ? wait : 0;
}

/* ---- The budget for request bodies ------------------------------------------------------ */

/* Reserves `n` more bytes for req's body; 0 when that would take the server over its
 * budget (nothing is reserved then). */
static int budget_take(umap_sync_server *srv, struct request *req, size_t n)
{
	pthread_mutex_lock(&srv->budget_lock);
	int ok = !srv->opts.max_inflight ||
		 (srv->inflight <= srv->opts.max_inflight && n <= srv->opts.max_inflight - srv->inflight);
	if (ok) {
		srv->inflight += n;
		req->reserved += n;
	}
	pthread_mutex_unlock(&srv->budget_lock);
	return ok;
}

/* Frees req's body and gives its bytes back to the budget. */
static void budget_release(umap_sync_server *srv, struct request *req)
{
	umap_buf_dispose(&req->body);
	pthread_mutex_lock(&srv->budget_lock);
	srv->inflight -= req->reserved;
	pthread_mutex_unlock(&srv->budget_lock);
	req->reserved = 0;
}

/* ---- Long-poll ---------------------------------------------------------------------------- */

static void on_commit(void *ctx, const char *map, int64_t head)
{
	umap_sync_server *srv = ctx;
	umap_sync_ws_on_commit(srv->ws, map, head);
	pthread_mutex_lock(&srv->wait_lock);
	srv->generation++;
	for (struct request **p = &srv->waiters; *p;) {
		struct request *req = *p;
		if (!strcmp(req->map, map)) {
			*p = req->next_waiter;
			req->waiting = 2;
			MHD_resume_connection(req->conn);
		} else {
			p = &req->next_waiter;
		}
	}
	pthread_mutex_unlock(&srv->wait_lock);
}

static void watch_expire(umap_sync_server *srv);

/* Wakes long-polls whose deadline passed (all of them when stopping), and shuts down
 * connections whose request is late. */
static void *timer_main(void *arg)
{
	umap_sync_server *srv = arg;
	pthread_mutex_lock(&srv->wait_lock);
	for (;;) {
		uint64_t now = mono_us();
		for (struct request **p = &srv->waiters; *p;) {
			struct request *req = *p;
			if (srv->stopping || req->deadline_us <= now) {
				*p = req->next_waiter;
				req->waiting = 2;
				MHD_resume_connection(req->conn);
			} else {
				p = &req->next_waiter;
			}
		}
		if (srv->stopping)
			break;
		pthread_mutex_unlock(&srv->wait_lock);
		watch_expire(srv);
		pthread_mutex_lock(&srv->wait_lock);
		if (srv->stopping)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->wait_cond, &srv->wait_lock, &ts);
	}
	pthread_mutex_unlock(&srv->wait_lock);
	return NULL;
}

/* ---- Handlers ------------------------------------------------------------------------------- */

static int handle_info(umap_sync_server *srv, struct exchange *ex)
{
	umap_sync_store_options defaults = UMAP_SYNC_STORE_OPTIONS_INIT;
	json_t *info = json_pack("{s:s, s:s, s:i, s:b, s:{s:I, s:I, s:i, s:i, s:I}}",
				 "server", "umapsync", "version", UMAPSYNC_VERSION, "protocol", 1,
				 "auth", srv->opts.force_auth || umap_sync_store_auth_required(srv->store),
				 "limits", "max_body", (json_int_t)srv->opts.max_body,
				 "max_ops", (json_int_t)defaults.max_ops, "max_wait", (int)srv->opts.max_wait_s,
				 "max_limit", (int)srv->opts.max_limit,
				 "max_skew_ms", (json_int_t)defaults.max_skew_ms);
	return send_json(ex, MHD_HTTP_OK, info, NULL, NULL);
}

/* Strict non-negative integer query argument; -1 when malformed. */
static long long query_int(struct exchange *ex, const char *name, long long dflt)
{
	const char *v = field_value(ex->rq->args, ex->rq->nargs, name, 0);
	if (!v)
		return dflt;
	if (!*v || strlen(v) > 18)
		return -1;
	long long n = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (*p - '0');
	}
	return n;
}

/* A 200 answer read from `stream` (taken over): sent as it is read by the front end, or
 * read whole through the seam. */
static int send_stream(struct exchange *ex, umap_sync_stream *stream)
{
	if (ex->stream_ok) {
		ex->rs->status = MHD_HTTP_OK;
		ex->rs->stream = stream;
		return 0;
	}
	umap_buf out = UMAP_BUF_INIT;
	int err = umap_sync_stream_read_all(&out, stream);
	umap_sync_stream_close(stream);
	if (err) {
		umap_buf_dispose(&out);
		return send_error(ex, status_for(err), umap_error_last(), NULL, NULL);
	}
	size_t len = out.len;
	return send_text(ex, MHD_HTTP_OK, umap_buf_detach(&out), len, NULL, NULL);
}

static int handle_pull(umap_sync_server *srv, struct exchange *ex, const umap_sync_grant *grant)
{
	long long since = query_int(ex, "since", 0), limit = query_int(ex, "limit", srv->opts.default_limit);
	long long wait = query_int(ex, "wait", 0);
	if (since < 0 || limit < 0 || wait < 0)
		return send_error(ex, MHD_HTTP_BAD_REQUEST,
				  "since, limit and wait must be non-negative integers", NULL, NULL);
	if (limit == 0 || limit > srv->opts.max_limit)
		limit = srv->opts.max_limit;
	if (wait > srv->opts.max_wait_s)
		wait = srv->opts.max_wait_s;
	for (;;) {
		pthread_mutex_lock(&srv->wait_lock);
		uint64_t generation = srv->generation;
		pthread_mutex_unlock(&srv->wait_lock);
		umap_sync_stream *stream;
		int64_t head;
		int err = umap_sync_store_pull_open(&stream, &head, srv->store, ex->rs->map, grant, since, limit);
		if (err)
			return send_error(ex, err == UMAP_ELIMIT ? MHD_HTTP_GONE : status_for(err),
					  umap_error_last(), NULL, NULL);
		/* every op after `since` up to the head is kept: the answer has ops when head > since */
		if (head > since || wait == 0 || ex->rq->resumed)
			return send_stream(ex, stream);
		umap_sync_stream_close(stream);
		/* nothing new: the caller parks the request until a commit or the deadline (status
		 * 0), unless a commit happened since the read above (then read again) */
		pthread_mutex_lock(&srv->wait_lock);
		int stopping = srv->stopping, changed = generation != srv->generation;
		pthread_mutex_unlock(&srv->wait_lock);
		if (stopping) {
			wait = 0; /* read again and answer now */
			continue;
		}
		if (!changed) {
			ex->rs->status = 0;
			ex->rs->wait_s = (unsigned)wait;
			ex->rs->generation = generation;
			return 0;
		}
	}
}

/* The grant of the request's bearer token on ex->rs->map. A refusal is answered (401 for
 * a missing or unknown token, 403 for another map's) and sets *refused. */
static int authorize(umap_sync_server *srv, struct exchange *ex, umap_sync_grant *grant, int *refused)
{
	const char *auth = field_value(ex->rq->headers, ex->rq->nheaders, MHD_HTTP_HEADER_AUTHORIZATION, 1);
	const char *token = NULL;
	if (auth && !strncasecmp(auth, "Bearer ", 7))
		for (token = auth + 7; *token == ' ';)
			token++;
	*refused = 0;
	int err = umap_sync_store_authorize(grant, srv->store, ex->rs->map, token, srv->opts.force_auth);
	if (!err)
		return 0;
	*refused = 1;
	if (err == UMAP_EAUTH)
		return send_error(ex, MHD_HTTP_UNAUTHORIZED,
				  umap_error_last(), MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				  "Bearer realm=\"umapsync\"");
	return send_error(ex, err == UMAP_ECONFLICT ? MHD_HTTP_FORBIDDEN : status_for(err),
			  umap_error_last(), NULL, NULL);
}

static int handle_map(umap_sync_server *srv, struct exchange *ex, const char *method, const char *action)
{
	int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	int is_post = !strcmp(method, "POST");
	if (!strcmp(action, "push") ? !is_post : (strcmp(action, "pull") && strcmp(action, "snapshot"))) {
		if (strcmp(action, "push") && strcmp(action, "pull") && strcmp(action, "snapshot"))
			return send_error(ex, MHD_HTTP_NOT_FOUND,
					  "no such endpoint: use /v1/maps/MAP/snapshot, /push or /pull", NULL, NULL);
		return send_error(ex, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "push takes POST", MHD_HTTP_HEADER_ALLOW, "POST");
	}
	if (strcmp(action, "push") && !is_get)
		return send_error(ex, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "pull and snapshot take GET", MHD_HTTP_HEADER_ALLOW, "GET");

	umap_sync_grant grant = UMAP_SYNC_GRANT_INIT;
	int refused, err = authorize(srv, ex, &grant, &refused);
	if (err || refused)
		return err;

	int ret;
	if (!strcmp(action, "snapshot")) {
		umap_sync_stream *stream;
		err = umap_sync_store_snapshot_open(&stream, srv->store, ex->rs->map, &grant);
		ret = err ? send_error(ex, status_for(err), umap_error_last(), NULL, NULL) : send_stream(ex, stream);
	} else if (!strcmp(action, "pull")) {
		ret = handle_pull(srv, ex, &grant);
	} else if (!grant.write) {
		ret = send_error(ex, MHD_HTTP_FORBIDDEN, "this token is read-only", NULL, NULL);
	} else {
		/* strict parse: duplicate members refused, depth and sizes bounded */
		umap_json_options jopts = UMAP_JSON_OPTIONS_INIT;
		jopts.source_name = "request body";
		jopts.reject_duplicates = 1;
		jopts.max_depth = 64;
		jopts.max_size = srv->opts.max_body;
		/* feature upserts' values are kept as their bytes, not built (umap_sync_push_body_parse) */
		umap_sync_raw_values raw = UMAP_SYNC_RAW_VALUES_INIT;
		json_t *body = NULL;
		umap_sync_push_body_parse(&body, &raw, ex->rq->body ? ex->rq->body : "", ex->rq->body_len, &jopts);
		if (!body) {
			char msg[600];
			snprintf(msg, sizeof(msg), "request body is not valid JSON: %s", umap_error_last());
			ret = send_error(ex, MHD_HTTP_BAD_REQUEST, msg, NULL, NULL);
		} else {
			json_t *reply = NULL;
			err = umap_sync_store_push_raw(&reply, srv->store, ex->rs->map, &grant, body, &raw);
			json_decref(body);
			if (!err) {
				ret = send_json(ex, MHD_HTTP_OK, reply, NULL, NULL);
			} else if (err == UMAP_ECONFLICT && reply) {
				json_object_set_new(reply, "error", json_string(umap_error_last()));
				ret = send_json(ex, MHD_HTTP_CONFLICT, reply, NULL, NULL);
			} else {
				json_decref(reply);
				ret = send_error(ex, err == UMAP_ELIMIT ? MHD_HTTP_CONTENT_TOO_LARGE : status_for(err),
						  umap_error_last(), NULL, NULL);
			}
		}
		umap_sync_raw_values_dispose(&raw);
	}
	umap_sync_grant_dispose(&grant);
	return ret;
}

static int route(umap_sync_server *srv, struct exchange *ex, const char *url, const char *method)
{
	if (!strcmp(url, "/v1/info")) {
		if (strcmp(method, "GET") && strcmp(method, "HEAD"))
			return send_error(ex, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "info takes GET", MHD_HTTP_HEADER_ALLOW, "GET");
		return handle_info(srv, ex);
	}
	static const char prefix[] = "/v1/maps/";
	if (strncmp(url, prefix, sizeof(prefix) - 1))
		return send_error(ex, MHD_HTTP_NOT_FOUND,
				  "no such endpoint: see /v1/info and /v1/maps/MAP/{snapshot,push,pull}",
				  NULL, NULL);
	const char *name = url + sizeof(prefix) - 1, *slash = strchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : strlen(name);
	if (n == 0 || n > UMAP_SYNC_NAME_MAX || !slash)
		return send_error(ex, n > UMAP_SYNC_NAME_MAX ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_NOT_FOUND,
				  "expected /v1/maps/MAP/ACTION with MAP of 1 to 64 characters of A-Z a-z 0-9 _ -",
				  NULL, NULL);
	memcpy(ex->rs->map, name, n);
	ex->rs->map[n] = '\0';
	if (!umap_sync_valid_name(ex->rs->map, UMAP_SYNC_NAME_MAX))
		return send_error(ex, MHD_HTTP_BAD_REQUEST,
				  "invalid map name: use 1 to 64 characters of A-Z a-z 0-9 _ -", NULL, NULL);
	return handle_map(srv, ex, method, slash + 1);
}

/* The map of a push URL, "/v1/maps/MAP/push"; 0 for any other URL. */
static int push_url_map(char map[UMAP_SYNC_NAME_MAX + 1], const char *url)
{
	static const char prefix[] = "/v1/maps/";
	if (strncmp(url, prefix, sizeof(prefix) - 1))
		return 0;
	const char *name = url + sizeof(prefix) - 1, *slash = strchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : 0;
	if (n == 0 || n > UMAP_SYNC_NAME_MAX || strcmp(slash, "/push"))
		return 0;
	memcpy(map, name, n);
	map[n] = '\0';
	return umap_sync_valid_name(map, UMAP_SYNC_NAME_MAX);
}

/* Only a push reads its body, and only once its token (in the headers) allows it: an
 * unauthenticated client cannot make the server hold a body. rs->status 0: read the body
 * (*wants_body says whether the endpoint needs it); else the answer, to send now. */
static int precheck(umap_sync_server *srv, struct exchange *ex, int *wants_body)
{
	*wants_body = !strcmp(ex->rq->method, "POST") && push_url_map(ex->rs->map, ex->rq->path);
	if (!*wants_body)
		return 0;
	umap_sync_grant grant = UMAP_SYNC_GRANT_INIT;
	int refused, err = authorize(srv, ex, &grant, &refused);
	if (!err && !refused && !grant.write)
		err = send_error(ex, MHD_HTTP_FORBIDDEN, "this token is read-only", NULL, NULL);
	umap_sync_grant_dispose(&grant);
	return err;
}

/* ---- The seam ------------------------------------------------------------------------------ */

static int handle(umap_sync_server *srv, const umap_sync_http_request *rq, umap_sync_http_response *rs,
		  int stream_ok)
{
	memset(rs, 0, sizeof(*rs));
	struct exchange ex = { rq, rs, stream_ok };
	int err = route(srv, &ex, rq->path ? rq->path : "", rq->method ? rq->method : "");
	if (err)
		umap_sync_http_response_dispose(rs);
	return err;
}

int umap_sync_server_handle(umap_sync_server *srv, const umap_sync_http_request *rq,
			    umap_sync_http_response *rs)
{
	return handle(srv, rq, rs, 0);
}

void umap_sync_http_response_dispose(umap_sync_http_response *rs)
{
	free(rs->body);
	rs->body = NULL;
	rs->body_len = 0;
	umap_sync_stream_close(rs->stream);
	rs->stream = NULL;
}

/* ---- Request deadline (slowloris) ------------------------------------------------------------ */

/* MHD's own timeout is an idle timeout: a byte now and then resets it. Each connection is
 * therefore watched from its first byte (or the end of its previous request) until its
 * request has arrived whole; one that takes longer than request_timeout_s is shut down. */
struct conn_watch {
	int fd;
	uint64_t since_us; /* when the request being received began; 0 while it is answered */
	int cut;
	int upgraded;      /* a websocket now: no more requests, no deadline */
	struct conn_watch *prev, *next;
};

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	umap_sync_server *srv = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct conn_watch *w = info ? calloc(1, sizeof(*w)) : NULL;
		if (!w)
			return; /* out of memory: only the idle timeout bounds this one */
		w->fd = info->connect_fd;
		w->since_us = mono_us();
		pthread_mutex_lock(&srv->watch_lock);
		w->next = srv->watched;
		if (w->next)
			w->next->prev = w;
		srv->watched = w;
		pthread_mutex_unlock(&srv->watch_lock);
		*socket_context = w;
		return;
	}
	/* MHD tells of the close before it closes the descriptor: once unlinked here, the
	 * watchdog can no longer shut down a descriptor that a new connection reuses */
	struct conn_watch *w = *socket_context;
	if (!w)
		return;
	pthread_mutex_lock(&srv->watch_lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		srv->watched = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&srv->watch_lock);
	free(w);
	*socket_context = NULL;
}

/* since_us: when the next request starts arriving (now), 0 while one is answered, or
 * UINT64_MAX: the connection became a websocket and is never cut for a slow request. */
static void watch_set(umap_sync_server *srv, struct MHD_Connection *conn, uint64_t since_us)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_watch *w = info ? info->socket_context : NULL;
	if (!w)
		return;
	pthread_mutex_lock(&srv->watch_lock);
	if (since_us == UINT64_MAX)
		w->upgraded = 1;
	w->since_us = w->upgraded ? 0 : since_us;
	pthread_mutex_unlock(&srv->watch_lock);
}

/* shutdown() lets MHD see the end of the stream and close the connection itself. */
static void watch_expire(umap_sync_server *srv)
{
	if (!srv->opts.request_timeout_s)
		return;
	uint64_t now = mono_us(), limit = (uint64_t)srv->opts.request_timeout_s * 1000000u;
	unsigned cut = 0;
	pthread_mutex_lock(&srv->watch_lock);
	for (struct conn_watch *w = srv->watched; w; w = w->next)
		if (!w->cut && w->since_us && now - w->since_us > limit) {
			shutdown(w->fd, SHUT_RDWR);
			w->cut = 1;
			cut++;
		}
	pthread_mutex_unlock(&srv->watch_lock);
	if (cut && srv->opts.log) {
		char line[160];
		snprintf(line, sizeof(line),
			 "closed %u connection%s whose request took more than %u s to arrive", cut,
			 cut == 1 ? "" : "s", srv->opts.request_timeout_s);
		srv->opts.log(srv->opts.log_ctx, line);
	}
}

/* ---- The HTTP front end: libmicrohttpd --------------------------------------------------------- */

struct fields {
	umap_sync_http_field *items;
	size_t n, cap;
};

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct fields *f = cls;
	(void)kind;
	if (f->n < f->cap) {
		f->items[f->n].name = key;
		f->items[f->n].value = value;
		f->n++;
	}
	return MHD_YES;
}

/* The connection's headers or query arguments, in order (pointing into MHD's memory). */
static int get_fields(struct fields *out, struct MHD_Connection *conn, enum MHD_ValueKind kind)
{
	int n = MHD_get_connection_values(conn, kind, NULL, NULL);
	out->n = 0;
	out->cap = n > 0 ? (size_t)n : 0;
	out->items = NULL;
	if (out->cap && !(out->items = calloc(out->cap, sizeof(*out->items))))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	MHD_get_connection_values(conn, kind, collect_field, out);
	return 0;
}

/* A streamed answer being sent; it holds one of the server's stream slots. */
struct sending {
	umap_sync_server *srv;
	umap_sync_stream *stream;
	umap_buf head; /* its start, read to see whether it is small */
	size_t head_sent;
};

/* Answers up to this size are read whole and sent with their Content-Length (a client can
 * show a percentage); larger ones are sent as they are read, in chunks. */
#define WHOLE_ANSWER_MAX ((size_t)1 << 20)

static ssize_t send_more(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sending *sending = cls;
	size_t n;
	(void)pos;
	if (sending->head_sent < sending->head.len) {
		n = sending->head.len - sending->head_sent;
		n = n < max ? n : max;
		memcpy(buf, sending->head.ptr + sending->head_sent, n);
		sending->head_sent += n;
		if (sending->head_sent == sending->head.len) {
			/* the rest comes from the stream: the head (a MiB) is not kept for as long
			 * as a slow client takes to read the whole answer */
			umap_buf_dispose(&sending->head);
			sending->head_sent = 0;
		}
		return (ssize_t)n;
	}
	if (umap_sync_stream_read(sending->stream, buf, max, &n)) {
		if (sending->srv->opts.log)
			sending->srv->opts.log(sending->srv->opts.log_ctx, umap_error_last());
		return MHD_CONTENT_READER_END_WITH_ERROR; /* the client sees a cut answer */
	}
	return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void free_sending(struct sending *sending)
{
	umap_sync_stream_close(sending->stream);
	umap_buf_dispose(&sending->head);
	free(sending);
}

/* The answer was sent, or its connection closed: its stream and slot go. */
static void sent(void *cls)
{
	struct sending *sending = cls;
	umap_sync_server *srv = sending->srv;
	free_sending(sending);
	pthread_mutex_lock(&srv->budget_lock);
	srv->streams--;
	pthread_mutex_unlock(&srv->budget_lock);
}

/* A stream's answer is read up to WHOLE_ANSWER_MAX: a small one becomes the response's body
 * (*out NULL), a large one is kept with its head in *out, to be sent as it is read. Small
 * answers hold no stream slot: a small pull goes through however many large ones are being
 * sent. */
static int read_head(struct sending **out, umap_sync_server *srv, umap_sync_http_response *rs)
{
	*out = NULL;
	struct sending *sending = calloc(1, sizeof(*sending));
	if (!sending)
		return UMAP_ENOMEM;
	sending->srv = srv;
	size_t n = 0;
	int err;
	do {
		err = umap_buf_grow(&sending->head, 65536);
		if (!err)
			err = umap_sync_stream_read(rs->stream, sending->head.ptr + sending->head.len, 65536, &n);
		sending->head.len += err ? 0 : n;
	} while (!err && n && sending->head.len <= WHOLE_ANSWER_MAX);
	if (err) { /* out of memory or a read error, before any byte was sent */
		umap_buf_dispose(&sending->head);
		free(sending);
		return err;
	}
	if (!n) { /* small: sent whole, with its length */
		size_t len = sending->head.len;
		free(rs->body);
		rs->body = umap_buf_detach(&sending->head);
		rs->body_len = len;
		free(sending);
		umap_sync_stream_close(rs->stream);
	} else {
		sending->stream = rs->stream;
		*out = sending;
	}
	rs->stream = NULL;
	return 0;
}

/* Takes one of the server's stream slots, if one is free. */
static int stream_slot_take(umap_sync_server *srv)
{
	pthread_mutex_lock(&srv->budget_lock);
	int taken = srv->streams < srv->opts.max_streams;
	srv->streams += (unsigned)taken;
	pthread_mutex_unlock(&srv->budget_lock);
	return taken;
}

/* Queues the response: its body, or the large answer in `sending` (its slot taken), which
 * goes to MHD. */
static enum MHD_Result queue_response(struct MHD_Connection *conn, umap_sync_http_response *rs,
				      struct sending *sending)
{
	struct MHD_Response *resp;
	if (sending) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, send_more, sending, sent);
		if (!resp) {
			sent(sending); /* gives the slot back */
			return MHD_NO;
		}
	} else {
		resp = MHD_create_response_from_buffer(rs->body_len, rs->body, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			return MHD_NO;
		rs->body = NULL;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (rs->header)
		MHD_add_response_header(resp, rs->header, rs->header_value);
	enum MHD_Result ret = MHD_queue_response(conn, rs->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* An error answered by the front end itself (rate, body size). */
static enum MHD_Result answer_error(umap_sync_server *srv, struct MHD_Connection *conn,
				    struct request *req, const char *method, const char *url,
				    unsigned status, const char *message, const char *header,
				    const char *value)
{
	umap_sync_http_response rs;
	memset(&rs, 0, sizeof(rs));
	struct exchange ex = { NULL, &rs, 0 };
	enum MHD_Result ret = send_error(&ex, status, message, header, value) ? MHD_NO
									: queue_response(conn, &rs, NULL);
	umap_sync_http_response_dispose(&rs);
	log_request(srv, req->start_us, method, url, status);
	return ret;
}

/* The request has arrived whole: through the seam, then queued or parked (long-poll). */
static enum MHD_Result answer(umap_sync_server *srv, struct MHD_Connection *conn,
			      struct request *req, const char *url, const char *method)
{
	struct fields headers, args = { NULL, 0, 0 };
	if (get_fields(&headers, conn, MHD_HEADER_KIND) ||
	    get_fields(&args, conn, MHD_GET_ARGUMENT_KIND)) {
		free(headers.items);
		return MHD_NO;
	}
	umap_sync_http_request rq = {
		method, url, args.items, args.n, headers.items, headers.n,
		req->body.ptr, req->body.len, req->waiting == 2,
	};
	umap_sync_http_response rs;
	enum MHD_Result ret = MHD_NO;
	for (;;) {
		if (handle(srv, &rq, &rs, 1))
			break;
		struct sending *sending = NULL;
		if (rs.stream && read_head(&sending, srv, &rs))
			break;
		if (sending && !stream_slot_take(srv)) {
			/* each large answer being sent holds a read connection and its snapshot of
			 * the database: their number is bounded */
			free_sending(sending);
			sending = NULL;
			umap_sync_http_response_dispose(&rs);
			struct exchange ex = { &rq, &rs, 0 };
			if (send_error(&ex, MHD_HTTP_SERVICE_UNAVAILABLE,
				       "the server is busy sending other answers: retry in a moment",
				       MHD_HTTP_HEADER_RETRY_AFTER, "1"))
				break;
		}
		if (rs.status) {
			ret = queue_response(conn, &rs, sending);
			log_request(srv, req->start_us, method, url, rs.status);
			break;
		}
		/* park until a commit on the map or the deadline, unless a commit slipped in
		 * since the pull (then pull again) or the server is stopping (answer now) */
		pthread_mutex_lock(&srv->wait_lock);
		if (!srv->stopping && rs.generation == srv->generation) {
			req->waiting = 1;
			req->deadline_us = mono_us() + (uint64_t)rs.wait_s * 1000000u;
			req->conn = conn;
			memcpy(req->map, rs.map, sizeof(req->map));
			req->next_waiter = srv->waiters;
			srv->waiters = req;
			MHD_suspend_connection(conn);
			pthread_mutex_unlock(&srv->wait_lock);
			ret = MHD_YES;
			break;
		}
		rq.resumed = srv->stopping;
		pthread_mutex_unlock(&srv->wait_lock);
		umap_sync_http_response_dispose(&rs);
	}
	umap_sync_http_response_dispose(&rs);
	free(headers.items);
	free(args.items);
	return ret;
}

/* The Content-Length headers: MHD reads the first one; a second one with another value is
 * how a request is smuggled past a proxy that reads the other one. */
struct content_length {
	const char *first;
	int conflicting;
};

static enum MHD_Result check_content_length(void *cls, enum MHD_ValueKind kind, const char *key,
					    const char *value)
{
	struct content_length *cl = cls;
	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		return MHD_YES;
	if (!cl->first)
		cl->first = value ? value : "";
	else if (strcmp(cl->first, value ? value : ""))
		cl->conflicting = 1;
	return MHD_YES;
}

/* The first call of a request: its headers have arrived, not its body. Whatever can be
 * refused from the headers is answered now, before a byte of the body is kept. */
static enum MHD_Result request_head(umap_sync_server *srv, struct MHD_Connection *conn,
				    struct request *req, const char *url, const char *method)
{
	unsigned retry = rate_check(srv, conn);
	if (retry) {
		char value[16];
		snprintf(value, sizeof(value), "%u", retry);
		req->state = BODY_ANSWERED;
		return answer_error(srv, conn, req, method, url, MHD_HTTP_TOO_MANY_REQUESTS,
				    "too many requests: slow down and retry later",
				    MHD_HTTP_HEADER_RETRY_AFTER, value);
	}
	if (umap_sync_ws_is_endpoint(url)) {
		unsigned status = 0;
		req->state = BODY_ANSWERED;
		watch_set(srv, conn, UINT64_MAX);
		enum MHD_Result ret = umap_sync_ws_answer(srv->ws, conn, url, method, &status);
		log_request(srv, req->start_us, method, url, status);
		return ret;
	}
	struct content_length cl = { NULL, 0 };
	MHD_get_connection_values(conn, MHD_HEADER_KIND, check_content_length, &cl);
	if (cl.conflicting) {
		req->state = BODY_ANSWERED;
		return answer_error(srv, conn, req, method, url, MHD_HTTP_BAD_REQUEST,
				    "conflicting Content-Length headers: send one", NULL, NULL);
	}
	unsigned long long length = cl.first ? strtoull(cl.first, NULL, 10) : 0;
	if (length > srv->opts.max_body) {
		/* answered before the body is read; the connection is closed after */
		req->state = BODY_ANSWERED;
		return answer_error(srv, conn, req, method, url, MHD_HTTP_CONTENT_TOO_LARGE,
				    "request body too large", NULL, NULL);
	}

	struct fields headers;
	if (get_fields(&headers, conn, MHD_HEADER_KIND))
		return MHD_NO;
	umap_sync_http_request rq = { method, url, NULL, 0, headers.items, headers.n, NULL, 0, 0 };
	umap_sync_http_response rs;
	memset(&rs, 0, sizeof(rs));
	struct exchange ex = { &rq, &rs, 0 };
	int wants_body;
	int err = precheck(srv, &ex, &wants_body);
	free(headers.items);
	enum MHD_Result ret = MHD_YES;
	if (err) {
		ret = MHD_NO;
	} else if (rs.status) {
		req->state = BODY_ANSWERED;
		ret = queue_response(conn, &rs, NULL);
		log_request(srv, req->start_us, method, url, rs.status);
	} else if (!wants_body) {
		req->state = BODY_IGNORED;
	} else if (length && !budget_take(srv, req, (size_t)length + 1)) {
		req->state = BODY_ANSWERED;
		ret = answer_error(srv, conn, req, method, url, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "the server is busy receiving other pushes: retry in a moment",
				   MHD_HTTP_HEADER_RETRY_AFTER, "1");
	} else if (length && !(req->body.ptr = malloc((size_t)length + 1))) {
		ret = MHD_NO;
	} else if (length) {
		req->body.cap = (size_t)length + 1; /* exactly the announced body: no doubling */
		req->body.ptr[0] = '\0';
	}
	umap_sync_http_response_dispose(&rs);
	return ret;
}

/* A piece of the body: kept within max_body and the server's budget, else dropped. */
static enum MHD_Result request_body(umap_sync_server *srv, struct request *req, const char *data,
				    size_t size)
{
	if (req->state == BODY_KEPT && req->body.len + size > srv->opts.max_body) {
		req->state = BODY_TOO_BIG;
		budget_release(srv, req);
	}
	if (req->state != BODY_KEPT)
		return MHD_YES;
	if (umap_buf_grow(&req->body, size))
		return MHD_NO;
	/* a body without Content-Length grows: the budget follows what is allocated */
	if (req->body.cap > req->reserved && !budget_take(srv, req, req->body.cap - req->reserved)) {
		req->state = BODY_OVER_BUDGET;
		budget_release(srv, req);
		return MHD_YES;
	}
	return umap_buf_put(&req->body, data, size) ? MHD_NO : MHD_YES;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version, const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	umap_sync_server *srv = cls;
	(void)version;
	struct request *req = *con_cls;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->start_us = mono_us();
		*con_cls = req;
		return request_head(srv, conn, req, url, method);
	}
	if (req->state == BODY_ANSWERED) { /* drop whatever body still arrives */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t size = *upload_data_size;
		*upload_data_size = 0;
		return request_body(srv, req, upload_data, size);
	}
	watch_set(srv, conn, 0); /* arrived whole: no deadline while it is answered */
	if (req->state == BODY_TOO_BIG)
		return answer_error(srv, conn, req, method, url, MHD_HTTP_CONTENT_TOO_LARGE,
				    "request body too large", NULL, NULL);
	if (req->state == BODY_OVER_BUDGET)
		return answer_error(srv, conn, req, method, url, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "the server is busy receiving other pushes: retry in a moment",
				    MHD_HTTP_HEADER_RETRY_AFTER, "1");
	return answer(srv, conn, req, url, method);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode code)
{
	umap_sync_server *srv = cls;
	(void)code;
	watch_set(srv, conn, mono_us()); /* a kept-alive connection's next request starts now */
	struct request *req = *con_cls;
	if (!req)
		return;
	budget_release(srv, req);
	free(req);
	*con_cls = NULL;
}

int umap_sync_server_new(umap_sync_server **out, umap_sync_store *store,
			 const umap_sync_server_options *opts)
{
	*out = NULL;
	if (!opts || opts->version != UMAP_SYNC_SERVER_OPTIONS_VERSION)
		return umap_error_set(UMAP_EUSAGE, "umap_sync_server_options: unknown version");
	umap_sync_server *srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->rates = calloc(RATE_SLOTS, sizeof(struct rate_slot)))) {
		free(srv);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	srv->store = store;
	srv->opts = *opts;
	pthread_mutex_init(&srv->wait_lock, NULL);
	pthread_cond_init(&srv->wait_cond, NULL);
	pthread_mutex_init(&srv->rate_lock, NULL);
	pthread_mutex_init(&srv->watch_lock, NULL);
	pthread_mutex_init(&srv->budget_lock, NULL);
	*out = srv;
	return 0;
}

int umap_sync_server_start(umap_sync_server **out, umap_sync_store *store, const umap_sync_server_options *opts)
{
	*out = NULL;
	umap_sync_server *srv;
	int err = umap_sync_server_new(&srv, store, opts);
	if (err)
		return err;
	char port[8];
	snprintf(port, sizeof(port), "%u", opts->port);
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	const char *host = opts->host && *opts->host ? opts->host : "127.0.0.1";
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai) {
		umap_sync_server_stop(srv);
		return umap_error_set(UMAP_EINVALID, "cannot listen on '%s': %s", host, gai_strerror(gai));
	}
	if (opts->umap_secret && (err = umap_sync_ws_new(&srv->ws, store, opts->umap_secret, opts->max_body,
							 opts->log, opts->log_ctx))) {
		umap_sync_server_stop(srv);
		return err;
	}
	unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			 (srv->ws ? MHD_ALLOW_UPGRADE : 0);
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	srv->daemon = MHD_start_daemon(
		flags, (uint16_t)opts->port, NULL, NULL, access_handler, srv,
		MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_THREAD_POOL_SIZE, opts->threads > 1 ? opts->threads : 1u,
		MHD_OPTION_CONNECTION_LIMIT, opts->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->max_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
		MHD_OPTION_END);
	int saved = errno;
	freeaddrinfo(ai);
	if (!srv->daemon) {
		errno = saved ? saved : EADDRINUSE;
		err = umap_error_set_errno(UMAP_EIO, "cannot listen on %s:%u", host, opts->port);
		umap_sync_server_stop(srv);
		return err;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : opts->port;
	umap_sync_store_on_commit(store, on_commit, srv);
	if (pthread_create(&srv->timer, NULL, timer_main, srv)) {
		umap_sync_server_stop(srv);
		return umap_error_set(UMAP_ERROR, "cannot start the long-poll timer thread");
	}
	srv->timer_started = 1;
	*out = srv;
	return 0;
}

unsigned int umap_sync_server_port(const umap_sync_server *server)
{
	return server->port;
}

void umap_sync_server_stop(umap_sync_server *srv)
{
	if (!srv)
		return;
	pthread_mutex_lock(&srv->wait_lock);
	srv->stopping = 1;
	pthread_cond_broadcast(&srv->wait_cond);
	pthread_mutex_unlock(&srv->wait_lock);
	if (srv->timer_started)
		pthread_join(srv->timer, NULL); /* it resumes every parked long-poll on its way out */
	umap_sync_ws_stop(srv->ws);
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	umap_sync_ws_free(srv->ws);
	if (srv->store && srv->daemon)
		umap_sync_store_on_commit(srv->store, NULL, NULL);
	pthread_mutex_destroy(&srv->wait_lock);
	pthread_cond_destroy(&srv->wait_cond);
	pthread_mutex_destroy(&srv->rate_lock);
	pthread_mutex_destroy(&srv->watch_lock);
	pthread_mutex_destroy(&srv->budget_lock);
	free(srv->rates);
	free(srv);
}
