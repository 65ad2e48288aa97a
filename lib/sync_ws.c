/* uMap's realtime protocol (umap/sync/app.py, payloads.py) on the sync server: a thread per
 * peer reads frames, every OperationMessage is appended to the op log before a relay thread
 * sends the log's new ops to the map's room, and the server is a peer that answers from it. */
#include "sync_ws.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "django_signing.h"
#include "error.h"
#include "hlc.h"
#include "json.h"
#include "sync_op.h"
#include "ws.h"

#define ENDPOINT "/ws/sync/"
#define CLIENT_PREFIX "umap-"
/* a peer id is also the op log's client id once prefixed */
#define PEER_ID_MAX (UMAP_SYNC_NAME_MAX - 5) /* minus CLIENT_PREFIX */
#define USERNAME_MAX 256
#define RELAY_PAGE 500

struct peer;

struct room {
	char map[UMAP_SYNC_NAME_MAX + 1];
	int64_t cursor;        /* the log's ops up to here were relayed (or predate every peer) */
	struct room *next;
};

struct pending_map {
	char map[UMAP_SYNC_NAME_MAX + 1];
	struct pending_map *next;
};

/* What the 101 response carries to the upgrade handler. */
struct upgrade {
	umap_sync_ws *ws;
	char map[UMAP_SYNC_NAME_MAX + 1];
	struct upgrade *prev, *next;
};

struct peer {
	umap_sync_ws *ws;
	int fd;
	struct MHD_UpgradeResponseHandle *urh;
	char map[UMAP_SYNC_NAME_MAX + 1];
	char id[PEER_ID_MAX + 1];
	char *username;        /* JSON text of the name it joined with */
	int joined;
	int refs;              /* under ws->lock: its thread and every sender holding it */
	pthread_mutex_t send_lock;
	int dead;              /* under send_lock: nothing is written any more */
	struct peer *prev, *next;
};

struct umap_sync_ws {
	umap_sync_store *store;
	char *secret;
	size_t max_message;
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
	pthread_mutex_t lock;
	pthread_cond_t cond;          /* the relay's work, and the last peer's exit */
	struct peer *peers;
	struct room *rooms;
	struct pending_map *pending;
	struct upgrade *upgrades;     /* 101 queued, handler not called yet */
	unsigned threads;             /* peer threads running */
	int stopping;
	pthread_t relay;
	int relay_started;
};

static void ws_log(umap_sync_ws *ws, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ws_log(umap_sync_ws *ws, const char *fmt, ...)
{
	if (!ws->log)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ws->log(ws->log_ctx, line);
}

/* ---- Sending ---------------------------------------------------------------------------- */

static int send_all(int fd, const void *data, size_t len, int flags)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One frame to one peer; a peer that cannot take it (gone, or slower than the send timeout)
 * is shut down, which ends its thread. */
static void peer_send(struct peer *p, int opcode, const char *data, size_t len)
{
	unsigned char hdr[UMAP_WS_HEADER_MAX];
	size_t h = umap_ws_frame_header(hdr, opcode, len);
	pthread_mutex_lock(&p->send_lock);
	/* header and payload leave in one segment: sent apart, Nagle held the payload until the
	 * peer acked the header, a delayed ACK of 40 ms and more (the relay's p99 in bench) */
	if (!p->dead && (send_all(p->fd, hdr, h, len ? MSG_MORE : 0) || send_all(p->fd, data, len, 0))) {
		p->dead = 1;
		shutdown(p->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&p->send_lock);
}

static void peer_send_text(struct peer *p, const char *text)
{
	peer_send(p, UMAP_WS_TEXT, text, strlen(text));
}

static void peer_close(struct peer *p, unsigned code, const char *reason)
{
	char payload[UMAP_WS_CONTROL_MAX];
	size_t n = strlen(reason);
	if (n > sizeof(payload) - 2)
		n = sizeof(payload) - 2;
	payload[0] = (char)(code >> 8);
	payload[1] = (char)(code & 0xff);
	memcpy(payload + 2, reason, n);
	peer_send(p, UMAP_WS_CLOSE, payload, n + 2);
	pthread_mutex_lock(&p->send_lock);
	p->dead = 1;
	pthread_mutex_unlock(&p->send_lock);
}

static void peer_unref(umap_sync_ws *ws, struct peer *p)
{
	pthread_mutex_lock(&ws->lock);
	int last = --p->refs == 0;
	pthread_mutex_unlock(&ws->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&p->send_lock);
	free(p->username);
	free(p);
}

/* The joined peers of `map`, each with a reference taken (under ws->lock). */
static struct peer **room_targets(umap_sync_ws *ws, const char *map, const struct peer *except, size_t *n)
{
	size_t count = 0, i = 0;
	for (struct peer *p = ws->peers; p; p = p->next)
		count += p->joined && p != except && !strcmp(p->map, map);
	*n = 0;
	struct peer **out = calloc(count ? count : 1, sizeof(*out));
	if (!out)
		return NULL;
	for (struct peer *p = ws->peers; p; p = p->next)
		if (p->joined && p != except && !strcmp(p->map, map)) {
			p->refs++;
			out[i++] = p;
		}
	*n = i;
	return out;
}

static void send_to_room(umap_sync_ws *ws, const char *map, const char *text)
{
	size_t n;
	pthread_mutex_lock(&ws->lock);
	struct peer **targets = room_targets(ws, map, NULL, &n);
	pthread_mutex_unlock(&ws->lock);
	for (size_t i = 0; i < n; i++) {
		peer_send_text(targets[i], text);
		peer_unref(ws, targets[i]);
	}
	free(targets);
}

/* {"umapsync": "umapsync", PEER: USERNAME...} of a room, as JSON text (under ws->lock). */
static int peers_json(umap_buf *out, umap_sync_ws *ws, const char *map)
{
	int err = umap_buf_puts(out, "{\"" UMAP_SYNC_WS_SERVER_PEER "\":\"" UMAP_SYNC_WS_SERVER_PEER "\"");
	for (struct peer *p = ws->peers; !err && p; p = p->next)
		if (p->joined && !strcmp(p->map, map))
			err = umap_buf_printf(out, ",\"%s\":%s", p->id, p->username);
	return err || umap_buf_putc(out, '}');
}

static void send_peer_list(umap_sync_ws *ws, const char *map)
{
	umap_buf text = UMAP_BUF_INIT;
	pthread_mutex_lock(&ws->lock);
	int err = umap_buf_puts(&text, "{\"kind\":\"ListPeersResponse\",\"peers\":") ||
		  peers_json(&text, ws, map) || umap_buf_putc(&text, '}');
	pthread_mutex_unlock(&ws->lock);
	if (!err)
		send_to_room(ws, map, text.ptr);
	umap_buf_dispose(&text);
}

/* ---- Rooms and the relay --------------------------------------------------------------- */

static struct room *room_find(umap_sync_ws *ws, const char *map)
{
	for (struct room *r = ws->rooms; r; r = r->next)
		if (!strcmp(r->map, map))
			return r;
	return NULL;
}

/* A stored op (pull's form) as uMap's peers take it: without our bookkeeping, its clock
 * in uMap's form (a log may hold our former one), and a sender (the server when the op
 * came over HTTP). */
static json_t *umap_op_of(json_t *stored)
{
	json_t *op = json_deep_copy(stored);
	if (!op)
		return NULL;
	json_object_del(op, "seq");
	json_object_del(op, "client_id");
	json_object_del(op, "op_id");
	json_object_del(op, "kind");
	umap_hlc_ts ts;
	if (!umap_hlc_parse(&ts, json_string_value(json_object_get(op, "hlc")))) {
		char enc[UMAP_HLC_STR_MAX];
		umap_hlc_encode(enc, &ts);
		json_object_set_new(op, "hlc", json_string(enc));
	}
	if (!json_is_string(json_object_get(op, "sender")))
		json_object_set_new(op, "sender", json_string(UMAP_SYNC_WS_SERVER_PEER));
	return op;
}

/* A page of the log after `since`: {"ops","cursor","more"} parsed; NULL on error. A `since`
 * that the log no longer reaches (pruned by --retain) starts at the log's floor: what was
 * pruned before it could be relayed is lost to live peers, as to any pull. */
static json_t *pull_page(umap_sync_ws *ws, const char *map, int64_t since, int64_t limit)
{
	umap_sync_grant all = { 1, 1, 0, NULL, "" };
	umap_buf text = UMAP_BUF_INIT;
	int64_t cursor, floor;
	json_t *page = NULL;
	int err = umap_sync_store_pull(&text, &cursor, ws->store, map, &all, since, limit);
	if (err == UMAP_ELIMIT && !umap_sync_store_floor(&floor, ws->store, map) && floor > since)
		err = umap_sync_store_pull(&text, &cursor, ws->store, map, &all, floor, limit);
	if (!err)
		umap_json_loadb(&page, text.ptr, text.len, "the op log");
	else
		ws_log(ws, "uMap peers of map '%s': reading the op log: %s", map, umap_error_last());
	umap_buf_dispose(&text);
	return page;
}

static void relay_map(umap_sync_ws *ws, const char *map)
{
	for (;;) {
		pthread_mutex_lock(&ws->lock);
		struct room *room = room_find(ws, map);
		int64_t since = room ? room->cursor : -1;
		pthread_mutex_unlock(&ws->lock);
		if (since < 0)
			return;
		json_t *page = pull_page(ws, map, since, RELAY_PAGE);
		if (!page)
			return;
		int64_t cursor = json_integer_value(json_object_get(page, "cursor"));
		int more = json_is_true(json_object_get(page, "more"));
		size_t n = 0;
		pthread_mutex_lock(&ws->lock);
		room = room_find(ws, map);
		struct peer **targets = NULL;
		if (room && room->cursor == since) {
			room->cursor = cursor;
			targets = room_targets(ws, map, NULL, &n);
		}
		pthread_mutex_unlock(&ws->lock);
		size_t i;
		json_t *stored;
		json_array_foreach(json_object_get(page, "ops"), i, stored) {
			json_t *op = umap_op_of(stored);
			char *text = NULL;
			if (op && !json_object_set_new(op, "kind", json_string("OperationMessage")))
				text = umap_json_dumps(op, UMAP_JSON_COMPACT);
			for (size_t t = 0; text && t < n; t++)
				peer_send_text(targets[t], text);
			free(text);
			json_decref(op);
		}
		for (size_t t = 0; t < n; t++)
			peer_unref(ws, targets[t]);
		free(targets);
		json_decref(page);
		if (!more || cursor == since)
			return;
	}
}

static void *relay_main(void *arg)
{
	umap_sync_ws *ws = arg;
	pthread_mutex_lock(&ws->lock);
	while (!ws->stopping) {
		if (!ws->pending) {
			pthread_cond_wait(&ws->cond, &ws->lock);
			continue;
		}
		struct pending_map *work = ws->pending;
		ws->pending = NULL;
		pthread_mutex_unlock(&ws->lock);
		while (work) {
			struct pending_map *next = work->next;
			relay_map(ws, work->map);
			free(work);
			work = next;
		}
		pthread_mutex_lock(&ws->lock);
	}
	pthread_mutex_unlock(&ws->lock);
	return NULL;
}

void umap_sync_ws_on_commit(umap_sync_ws *ws, const char *map, int64_t head)
{
	(void)head;
	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	int wanted = room_find(ws, map) != NULL;
	for (struct pending_map *p = ws->pending; wanted && p; p = p->next)
		if (!strcmp(p->map, map))
			wanted = 0;
	struct pending_map *p = wanted ? calloc(1, sizeof(*p)) : NULL;
	if (p) {
		snprintf(p->map, sizeof(p->map), "%s", map);
		p->next = ws->pending;
		ws->pending = p;
		pthread_cond_broadcast(&ws->cond);
	}
	pthread_mutex_unlock(&ws->lock);
}

/* ---- What a peer says ------------------------------------------------------------------ */

/* Where payloads.py would refuse a message (pydantic validation), app.py closes. */
static int is_string_or_null(const json_t *v)
{
	return !v || json_is_string(v) || json_is_null(v);
}

static const char *const verbs[] = { "upsert", "update", "delete", "batch", NULL };
static const char *const subjects[] = { "map", "datalayer", "feature", NULL };

static int one_of(const char *const *list, const char *s)
{
	for (int i = 0; s && list[i]; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

static int valid_operation_message(const json_t *msg)
{
	json_t *meta = json_object_get(msg, "metadata"), *ops = json_object_get(msg, "operations");
	return one_of(verbs, json_string_value(json_object_get(msg, "verb"))) &&
	       one_of(subjects, json_string_value(json_object_get(msg, "subject"))) &&
	       (!meta || json_is_object(meta) || json_is_null(meta)) &&
	       is_string_or_null(json_object_get(msg, "key")) &&
	       (!ops || json_is_array(ops) || json_is_null(ops));
}

/* The log's form of an op a peer sent: without "kind", with an op id (unique per peer: its
 * clock never repeats); the store takes a batch as its inner ops (umap_sync_ops_expand). */
static int log_ops_of(json_t *ops, const json_t *msg)
{
	const char *hlc = json_string_value(json_object_get(msg, "hlc"));
	if (!hlc)
		return umap_error_set(UMAP_EINVALID, "an OperationMessage without \"hlc\"");
	json_t *op = json_copy((json_t *)msg);
	if (!op)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	json_object_del(op, "kind");
	if (json_object_set_new(op, "op_id", json_sprintf("ws-%s", hlc)) || json_array_append_new(ops, op))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return 0;
}

static void on_operation(struct peer *p, const json_t *msg)
{
	umap_sync_ws *ws = p->ws;
	json_t *ops = json_array(), *reply = NULL;
	char client[UMAP_SYNC_NAME_MAX + 1];
	snprintf(client, sizeof(client), CLIENT_PREFIX "%s", p->id);
	int err = ops ? log_ops_of(ops, msg) : UMAP_ENOMEM;
	if (!err && json_array_size(ops))
		err = umap_sync_store_append_realtime(&reply, ws->store, p->map, client, ops);
	/* relayed by the relay thread once in the log: an op the log refused is not relayed */
	if (err)
		ws_log(ws, "uMap peer '%s' of map '%s': op not stored, so not relayed: %s", p->id, p->map,
		       umap_error_last());
	json_decref(reply);
	json_decref(ops);
}

/* A ListOperationsRequest sent to the server: the log's ops after the asker's last clock. */
static void on_list_operations(struct peer *p, const json_t *message)
{
	umap_sync_ws *ws = p->ws;
	umap_hlc_ts last;
	int has_last = !umap_hlc_parse(&last, json_string_value(json_object_get(message, "lastKnownHLC")));
	json_t *operations = json_array();
	int64_t since = 0; /* pull_page starts at the floor of a pruned log */
	for (int more = 1; operations && more;) {
		json_t *page = pull_page(ws, p->map, since, RELAY_PAGE * 10);
		if (!page)
			break;
		size_t i;
		json_t *stored;
		json_array_foreach(json_object_get(page, "ops"), i, stored) {
			umap_hlc_ts ts;
			if (has_last && !umap_hlc_parse(&ts, json_string_value(json_object_get(stored, "hlc"))) &&
			    umap_hlc_compare(&ts, &last) <= 0)
				continue;
			json_array_append_new(operations, umap_op_of(stored));
		}
		more = json_is_true(json_object_get(page, "more"));
		since = json_integer_value(json_object_get(page, "cursor"));
		json_decref(page);
	}
	/* the latest ones when there are too many */
	while (json_array_size(operations) > UMAP_SYNC_WS_REPLAY_MAX)
		json_array_remove(operations, 0);
	json_t *reply = operations ? json_pack("{s:s, s:s, s:s, s:{s:s, s:o}}", "kind", "PeerMessage",
					       "sender", UMAP_SYNC_WS_SERVER_PEER, "recipient", p->id,
					       "message", "verb", "ListOperationsResponse",
					       "operations", operations)
				   : NULL;
	char *text = reply ? umap_json_dumps(reply, UMAP_JSON_COMPACT) : NULL;
	if (text)
		peer_send_text(p, text);
	free(text);
	json_decref(reply);
}

static void on_peer_message(struct peer *p, const json_t *msg, const char *raw)
{
	umap_sync_ws *ws = p->ws;
	/* "a\u0000b" would otherwise reach peer "a" */
	const char *recipient = umap_sync_json_name(json_object_get(msg, "recipient"));
	if (!recipient)
		return;
	if (!strcmp(recipient, UMAP_SYNC_WS_SERVER_PEER)) {
		const json_t *message = json_object_get(msg, "message");
		const char *verb = json_string_value(json_object_get(message, "verb"));
		if (verb && !strcmp(verb, "ListOperationsRequest"))
			on_list_operations(p, message);
		return;
	}
	struct peer *to = NULL;
	pthread_mutex_lock(&ws->lock);
	for (struct peer *q = ws->peers; q && !to; q = q->next)
		if (q->joined && !strcmp(q->map, p->map) && !strcmp(q->id, recipient)) {
			to = q;
			q->refs++;
		}
	pthread_mutex_unlock(&ws->lock);
	if (to) {
		peer_send_text(to, raw);
		peer_unref(ws, to);
	}
}

/* The first message: a JoinRequest whose token uMap signed for this map with "edit". */
static int on_join(struct peer *p, const json_t *msg)
{
	umap_sync_ws *ws = p->ws;
	const char *kind = json_string_value(json_object_get(msg, "kind"));
	const char *token = json_string_value(json_object_get(msg, "token"));
	const char *id = umap_sync_json_name(json_object_get(msg, "peer"));
	json_t *username = json_object_get(msg, "username");
	if ((json_object_get(msg, "kind") && (!kind || strcmp(kind, "JoinRequest"))) || !token || !id ||
	    !is_string_or_null(username))
		return umap_error_set(UMAP_EINVALID, "the first message must be a JoinRequest {token, peer, username}");
	if (!umap_sync_valid_name(id, (size_t)PEER_ID_MAX) || !strcmp(id, UMAP_SYNC_WS_SERVER_PEER))
		return umap_error_set(UMAP_EINVALID, "peer ids are 1 to %d characters of A-Z a-z 0-9 _ - (not \"%s\")",
				      PEER_ID_MAX, UMAP_SYNC_WS_SERVER_PEER);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	json_t *signed_obj = NULL;
	int err = umap_django_unsign_object(&signed_obj, token, ws->secret, UMAP_SYNC_WS_TOKEN_MAX_AGE,
					    (double)now.tv_sec + (double)now.tv_nsec / 1e9);
	if (err)
		return err;
	json_t *map_id = json_object_get(signed_obj, "map_id"), *perms = json_object_get(signed_obj, "permissions");
	char map_text[32];
	const char *token_map = umap_sync_json_name(map_id);
	if (json_is_integer(map_id)) {
		snprintf(map_text, sizeof(map_text), "%lld", (long long)json_integer_value(map_id));
		token_map = map_text;
	}
	int edit = 0;
	size_t i;
	json_t *perm;
	json_array_foreach(perms, i, perm)
		edit |= json_is_string(perm) && !strcmp(json_string_value(perm), "edit");
	if (!token_map || strcmp(token_map, p->map))
		err = umap_error_set(UMAP_EAUTH, "the token is for another map");
	else if (!edit)
		err = umap_error_set(UMAP_EAUTH, "the token does not allow \"edit\"");
	json_decref(signed_obj);
	if (err)
		return err;
	json_t *name = json_is_string(username) ? json_incref(username) : json_string("");
	char *name_text = name && json_string_length(name) <= USERNAME_MAX ? umap_json_dumps(name, UMAP_JSON_COMPACT) : NULL;
	json_decref(name);
	if (!name_text)
		return umap_error_set(UMAP_EINVALID, "the username is over %d bytes", USERNAME_MAX);
	umap_buf text = UMAP_BUF_INIT;
	pthread_mutex_lock(&ws->lock);
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->username = name_text;
	struct room *room = room_find(ws, p->map);
	if (!room && (room = calloc(1, sizeof(*room)))) {
		int64_t head = 0;
		snprintf(room->map, sizeof(room->map), "%s", p->map);
		if (umap_sync_store_head(&head, ws->store, p->map))
			head = 0;
		room->cursor = head;
		room->next = ws->rooms;
		ws->rooms = room;
	}
	if (room)
		p->joined = 1;
	err = !room || umap_buf_puts(&text, "{\"kind\":\"JoinResponse\",\"peers\":") ||
	      peers_json(&text, ws, p->map) || umap_buf_printf(&text, ",\"peer\":\"%s\"}", p->id);
	pthread_mutex_unlock(&ws->lock);
	if (err) {
		umap_buf_dispose(&text);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	peer_send_text(p, text.ptr);
	umap_buf_dispose(&text);
	send_peer_list(ws, p->map);
	ws_log(ws, "uMap peer '%s' joined map '%s'", p->id, p->map);
	return 0;
}

/* One text message; nonzero when the peer must be closed (as app.py's reject). */
static int on_text(struct peer *p, const char *text, size_t len)
{
	if (len == 4 && !memcmp(text, "ping", 4)) {
		peer_send_text(p, "pong");
		return 0;
	}
	json_t *msg = NULL;
	if (umap_json_loadb(&msg, text, len, "message") || !json_is_object(msg)) {
		json_decref(msg);
		return umap_error_set(UMAP_EINVALID, "a message that is not a JSON object");
	}
	int err = 0;
	if (!p->joined) {
		err = on_join(p, msg);
		json_decref(msg);
		return err;
	}
	const char *kind = json_string_value(json_object_get(msg, "kind"));
	if (kind && !strcmp(kind, "OperationMessage") && valid_operation_message(msg)) {
		on_operation(p, msg);
	} else if (kind && !strcmp(kind, "SavedMessage") &&
		   json_is_string(json_object_get(msg, "lastKnownHLC"))) {
		send_to_room(p->ws, p->map, text);
	} else if (kind && !strcmp(kind, "PeerMessage") && json_is_string(json_object_get(msg, "sender")) &&
		   json_is_string(json_object_get(msg, "recipient")) &&
		   json_is_object(json_object_get(msg, "message"))) {
		on_peer_message(p, msg, text);
	} else {
		err = umap_error_set(UMAP_EINVALID, "not a PeerMessage, OperationMessage or SavedMessage");
	}
	json_decref(msg);
	return err;
}

/* ---- A peer's thread ------------------------------------------------------------------- */

static uint64_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static void serve_peer(struct peer *p, const char *extra, size_t extra_len)
{
	umap_sync_ws *ws = p->ws;
	umap_ws_reader reader = UMAP_WS_READER_INIT(ws->max_message);
	char *buf = malloc(65536);
	uint64_t last = mono_s();
	int err = !buf || (extra_len && umap_ws_reader_feed(&reader, extra, extra_len));
	while (!err) {
		int opcode;
		const char *data;
		size_t len;
		int rc;
		while ((rc = umap_ws_reader_next(&reader, &opcode, &data, &len)) == 1) {
			if (opcode == UMAP_WS_TEXT) {
				if ((err = on_text(p, data, len))) {
					ws_log(ws, "uMap peer of map '%s' refused: %s", p->map, umap_error_last());
					peer_close(p, UMAP_WS_CLOSE_POLICY, umap_error_last());
					break;
				}
			} else if (opcode == UMAP_WS_PING) {
				peer_send(p, UMAP_WS_PONG, data, len);
			} else if (opcode == UMAP_WS_CLOSE) {
				peer_close(p, len >= 2 ? ((unsigned char)data[0] << 8 | (unsigned char)data[1])
						       : UMAP_WS_CLOSE_NORMAL, "");
				err = 1;
				break;
			} else if (opcode == UMAP_WS_BINARY) {
				peer_close(p, UMAP_WS_CLOSE_POLICY, "binary messages are not part of uMap's protocol");
				err = 1;
				break;
			}
		}
		if (err)
			break;
		if (rc < 0) {
			ws_log(ws, "uMap peer of map '%s': %s", p->map, umap_error_last());
			peer_close(p, rc == UMAP_ELIMIT ? UMAP_WS_CLOSE_TOO_BIG : UMAP_WS_CLOSE_PROTOCOL,
				   umap_error_last());
			break;
		}
		pthread_mutex_lock(&ws->lock);
		int stopping = ws->stopping;
		pthread_mutex_unlock(&ws->lock);
		if (stopping) {
			peer_close(p, UMAP_WS_CLOSE_GOING_AWAY, "the server is stopping");
			break;
		}
		ssize_t n = recv(p->fd, buf, 65536, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (mono_s() - last > UMAP_SYNC_WS_IDLE_S)
				break;
			continue;
		}
		if (n <= 0)
			break;
		last = mono_s();
		if (umap_ws_reader_feed(&reader, buf, (size_t)n)) {
			peer_close(p, UMAP_WS_CLOSE_TOO_BIG, umap_error_last());
			break;
		}
	}
	free(buf);
	umap_ws_reader_dispose(&reader);
}

struct peer_start {
	struct peer *peer;
	char *extra;
	size_t extra_len;
};

static void *peer_main(void *arg)
{
	struct peer_start *start = arg;
	struct peer *p = start->peer;
	umap_sync_ws *ws = p->ws;
	serve_peer(p, start->extra, start->extra_len);
	free(start->extra);
	free(start);
	pthread_mutex_lock(&ws->lock);
	int was_joined = p->joined;
	p->joined = 0;
	if (p->prev)
		p->prev->next = p->next;
	else
		ws->peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	int others = 0;
	for (struct peer *q = ws->peers; q; q = q->next)
		others |= !strcmp(q->map, p->map);
	if (!others) /* the last peer of the map left: its room goes */
		for (struct room **r = &ws->rooms; *r; r = &(*r)->next)
			if (!strcmp((*r)->map, p->map)) {
				struct room *gone = *r;
				*r = gone->next;
				free(gone);
				break;
			}
	pthread_mutex_unlock(&ws->lock);
	pthread_mutex_lock(&p->send_lock);
	p->dead = 1;
	pthread_mutex_unlock(&p->send_lock);
	MHD_upgrade_action(p->urh, MHD_UPGRADE_ACTION_CLOSE);
	if (was_joined) {
		ws_log(ws, "uMap peer '%s' left map '%s'", p->id, p->map);
		send_peer_list(ws, p->map);
	}
	peer_unref(ws, p);
	pthread_mutex_lock(&ws->lock);
	ws->threads--;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
	return NULL;
}

static void upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
		     size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct upgrade *up = cls;
	umap_sync_ws *ws = up->ws;
	(void)conn;
	(void)req_cls;
	struct peer *p = calloc(1, sizeof(*p));
	struct peer_start *start = calloc(1, sizeof(*start));
	if (start && extra_in_size && (start->extra = malloc(extra_in_size)))
		memcpy(start->extra, extra_in, extra_in_size);
	pthread_mutex_lock(&ws->lock);
	if (up->prev)
		up->prev->next = up->next;
	else
		ws->upgrades = up->next;
	if (up->next)
		up->next->prev = up->prev;
	int stopping = ws->stopping;
	pthread_mutex_unlock(&ws->lock);
	if (!p || !start || (extra_in_size && !start->extra) || stopping) {
		free(p);
		if (start)
			free(start->extra);
		free(start);
		free(up);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	/* blocking with timeouts: reads wake up every second to see a stop, and a peer that
	 * does not take what is sent to it within the send timeout is dropped */
	int flags = fcntl(sock, F_GETFL);
	if (flags >= 0)
		fcntl(sock, F_SETFL, flags & ~O_NONBLOCK);
	struct timeval rcv = { 1, 0 }, snd = { UMAP_SYNC_WS_SEND_TIMEOUT_S, 0 };
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
	/* a frame is a whole message: nothing gains from waiting to coalesce it with the next */
	int nodelay = 1;
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay));
	p->ws = ws;
	p->fd = sock;
	p->urh = urh;
	p->refs = 1;
	snprintf(p->map, sizeof(p->map), "%s", up->map);
	free(up);
	pthread_mutex_init(&p->send_lock, NULL);
	start->peer = p;
	start->extra_len = extra_in_size;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* JSON is read without recursion and at most 256 deep: 1 MiB of stack is plenty, and
	 * a few hundred peers do not reserve 8 MiB each */
	pthread_attr_setstacksize(&attr, (size_t)1 << 20);
	pthread_mutex_lock(&ws->lock);
	p->next = ws->peers;
	if (p->next)
		p->next->prev = p;
	ws->peers = p;
	ws->threads++;
	pthread_t thread;
	int failed = pthread_create(&thread, &attr, peer_main, start);
	if (failed) {
		ws->threads--;
		ws->peers = p->next;
		if (p->next)
			p->next->prev = NULL;
	}
	pthread_mutex_unlock(&ws->lock);
	pthread_attr_destroy(&attr);
	if (failed) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		pthread_mutex_destroy(&p->send_lock);
		free(start->extra);
		free(start);
		free(p);
	}
}

/* ---- The handshake --------------------------------------------------------------------- */

int umap_sync_ws_is_endpoint(const char *url)
{
	return url && !strncmp(url, ENDPOINT, strlen(ENDPOINT));
}

/* 1 when the comma-separated header value holds `token` (compared without case). */
static int header_has(struct MHD_Connection *conn, const char *name, const char *token)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
	size_t n = strlen(token);
	while (v && *v) {
		v += strspn(v, " \t,");
		size_t len = strcspn(v, ",");
		size_t end = len;
		while (end && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end == n && !strncasecmp(v, token, n))
			return 1;
		v += len;
	}
	return 0;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status, const char *message)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", message);
	struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result umap_sync_ws_answer(umap_sync_ws *ws, struct MHD_Connection *conn, const char *url,
				    const char *method, unsigned *status)
{
	const char *map = url + strlen(ENDPOINT);
	char accept[UMAP_WS_ACCEPT_LEN + 1];
	if (!ws || !umap_sync_valid_name(map, UMAP_SYNC_NAME_MAX))
		return answer_text(conn, *status = MHD_HTTP_NOT_FOUND,
				   ws ? "no such map name: use 1 to 64 characters of A-Z a-z 0-9 _ -"
				      : "the uMap websocket endpoint is off: start serve with --umap-secret-file");
	if (strcmp(method, "GET"))
		return answer_text(conn, *status = MHD_HTTP_METHOD_NOT_ALLOWED, "a websocket handshake is a GET");
	const char *version = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	if (!header_has(conn, MHD_HTTP_HEADER_UPGRADE, "websocket") ||
	    !header_has(conn, MHD_HTTP_HEADER_CONNECTION, "upgrade") || !version || strcmp(version, "13") ||
	    umap_ws_accept_key(accept, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key")))
		return answer_text(conn, *status = MHD_HTTP_BAD_REQUEST,
				   "not a websocket handshake (RFC 6455, version 13)");
	struct upgrade *up = calloc(1, sizeof(*up));
	if (!up)
		return MHD_NO;
	up->ws = ws;
	snprintf(up->map, sizeof(up->map), "%s", map);
	pthread_mutex_lock(&ws->lock);
	int stopping = ws->stopping;
	if (!stopping) {
		up->next = ws->upgrades;
		if (up->next)
			up->next->prev = up;
		ws->upgrades = up;
	}
	pthread_mutex_unlock(&ws->lock);
	if (stopping) {
		free(up);
		return answer_text(conn, *status = MHD_HTTP_SERVICE_UNAVAILABLE, "the server is stopping");
	}
	struct MHD_Response *resp = MHD_create_response_for_upgrade(upgraded, up);
	enum MHD_Result ret = MHD_NO;
	if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket") == MHD_YES &&
	    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept) == MHD_YES)
		ret = MHD_queue_response(conn, *status = MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	if (resp)
		MHD_destroy_response(resp);
	/* an upgrade that never happens is freed with the server (umap_sync_ws_free) */
	return ret;
}

/* ---- Life -------------------------------------------------------------------------------- */

int umap_sync_ws_new(umap_sync_ws **out, umap_sync_store *store, const char *secret,
		     size_t max_message, void (*log)(void *ctx, const char *line), void *log_ctx)
{
	*out = NULL;
	if (!secret || !*secret)
		return umap_error_set(UMAP_EUSAGE, "uMap's SECRET_KEY is empty");
	umap_sync_ws *ws = calloc(1, sizeof(*ws));
	if (!ws || !(ws->secret = strdup(secret))) {
		free(ws);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	ws->store = store;
	ws->max_message = max_message;
	ws->log = log;
	ws->log_ctx = log_ctx;
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->cond, NULL);
	if (pthread_create(&ws->relay, NULL, relay_main, ws)) {
		umap_sync_ws_free(ws);
		return umap_error_set(UMAP_ERROR, "cannot start the websocket relay thread");
	}
	ws->relay_started = 1;
	*out = ws;
	return 0;
}

void umap_sync_ws_stop(umap_sync_ws *ws)
{
	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	ws->stopping = 1;
	pthread_cond_broadcast(&ws->cond);
	/* every peer thread sees `stopping` within a second (its read timeout) */
	while (ws->threads)
		pthread_cond_wait(&ws->cond, &ws->lock);
	pthread_mutex_unlock(&ws->lock);
	if (ws->relay_started)
		pthread_join(ws->relay, NULL);
	ws->relay_started = 0;
}

void umap_sync_ws_free(umap_sync_ws *ws)
{
	if (!ws)
		return;
	umap_sync_ws_stop(ws);
	while (ws->pending) {
		struct pending_map *next = ws->pending->next;
		free(ws->pending);
		ws->pending = next;
	}
	while (ws->rooms) {
		struct room *next = ws->rooms->next;
		free(ws->rooms);
		ws->rooms = next;
	}
	while (ws->upgrades) {
		struct upgrade *next = ws->upgrades->next;
		free(ws->upgrades);
		ws->upgrades = next;
	}
	pthread_mutex_destroy(&ws->lock);
	pthread_cond_destroy(&ws->cond);
	free(ws->secret);
	free(ws);
}
