/* The sync store on PostgreSQL (libpq): connections that run the store's prepared statements,
 * made again after a lost connection, and a LISTEN thread for wake-ups across processes. */
#include "sync_store_pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "strutil.h"

struct umap_pg {
	PGconn *conn;
	char *url;
	const char *const *sql;
	int n;
	const char *schema; /* run on the first connection that succeeds */
	int in_txn; /* a BEGIN ran and no COMMIT/ROLLBACK yet: a lost connection lost it */
};

struct umap_pg_result {
	PGresult *res;
};

int umap_pg_is_url(const char *location)
{
	return location && (!strncmp(location, "postgresql://", 13) || !strncmp(location, "postgres://", 11));
}

/* The URL without its password, for messages. */
static void url_for_message(char *out, size_t size, const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
	if (at && colon && colon < at)
		snprintf(out, size, "%.*s:***%s", (int)(colon - url), url, at);
	else
		snprintf(out, size, "%s", url);
}

/* libpq's messages end with a newline and may hold more lines: one line, for logs and JSON */
static void trim_message(char *msg)
{
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	char *out = msg;
	for (const char *p = msg; *p; p++) {
		if (*p == '\n' || *p == '\t') {
			if (out > msg && out[-1] != ' ')
				*out++ = ' ';
			continue;
		}
		*out++ = *p;
	}
	*out = '\0';
}

/* lib/ never prints: the server's notices ("relation already exists, skipping") are dropped */
static void drop_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *connect_url(const char *url)
{
	const char *keys[] = { "application_name", "connect_timeout", "dbname", NULL };
	const char *values[] = { "umapsync", "5", url, NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (conn)
		PQsetNoticeProcessor(conn, drop_notice, NULL);
	return conn;
}

static int connection_error(PGconn *conn, const char *url, const char *what)
{
	char shown[512], msg[1024];
	url_for_message(shown, sizeof(shown), url);
	snprintf(msg, sizeof(msg), "%s", conn ? PQerrorMessage(conn) : "out of memory");
	trim_message(msg);
	return umap_error_set(UMAP_ENET, "the database %s is unreachable (%s): %s; retry once it is back", shown,
			      what, msg);
}

/* Prepares every statement on a fresh connection (a new connection knows none). */
static int prepare_all(umap_pg *pg)
{
	for (int i = 0; i < pg->n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		PGresult *r = PQprepare(pg->conn, name, pg->sql[i], 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
			trim_message(msg);
			int lost = PQstatus(pg->conn) == CONNECTION_BAD;
			PQclear(r);
			if (lost)
				return connection_error(pg->conn, pg->url, "preparing statements");
			return umap_error_set(UMAP_EIO, "database: preparing statement %d: %s", i, msg);
		}
		PQclear(r);
	}
	return 0;
}

/* (Re)connects: the tables once, every statement on each new connection. */
static int pg_connect(umap_pg *pg)
{
	if (pg->conn)
		PQfinish(pg->conn);
	pg->in_txn = 0;
	pg->conn = connect_url(pg->url);
	if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK)
		return connection_error(pg->conn, pg->url, "connecting");
	if (pg->schema) {
		PGresult *r = PQexec(pg->conn, pg->schema);
		int err = 0;
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
			char shown[512], msg[1024];
			url_for_message(shown, sizeof(shown), pg->url);
			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
			trim_message(msg);
			err = PQstatus(pg->conn) == CONNECTION_BAD
				      ? connection_error(pg->conn, pg->url, "setting up tables")
				      : umap_error_set(UMAP_EIO, "cannot set up the tables in %s: %s", shown, msg);
		}
		PQclear(r);
		if (err)
			return err;
		pg->schema = NULL;
	}
	return prepare_all(pg);
}

int umap_pg_open(umap_pg **out, const char *url, const char *const *sql, int n, const char *schema, int lazy)
{
	*out = NULL;
	umap_pg *pg = calloc(1, sizeof(*pg));
	if (!pg || !(pg->url = strdup(url))) {
		free(pg);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	pg->sql = sql;
	pg->n = n;
	pg->schema = schema;
	int err = pg_connect(pg);
	if (err == UMAP_ENET && lazy)
		err = 0;
	if (err) {
		umap_pg_close(pg);
		return err;
	}
	*out = pg;
	return 0;
}

int umap_pg_schema_done(const umap_pg *pg)
{
	return !pg->schema;
}

void umap_pg_close(umap_pg *pg)
{
	if (!pg)
		return;
	if (pg->conn)
		PQfinish(pg->conn);
	free(pg->url);
	free(pg);
}

/* The library error for a failed statement, from its SQLSTATE. */
static int result_error(umap_pg *pg, PGresult *r, const char *what)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(pg->conn));
	trim_message(msg);
	if (PQstatus(pg->conn) == CONNECTION_BAD || (state && (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))))
		return connection_error(pg->conn, pg->url, what);
	if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01")))
		return umap_error_set(UMAP_ENET, "database: %s: %s: retry", what, msg);
	if (state && !strcmp(state, "53100"))
		return umap_error_set(UMAP_ENOSPC,
				      "the database's disk is full (%s): nothing was applied; the operator must free space",
				      what);
	return umap_error_set(UMAP_EIO, "database: %s: %s", what, msg);
}

static int is_word(const char *sql, const char *word)
{
	size_t n = strlen(word);
	return !strncmp(sql, word, n) && (!sql[n] || sql[n] == ' ');
}

int umap_pg_exec(umap_pg_result **out, umap_pg *pg, int id, const char *const *params, int nparams,
		 const char *what)
{
	*out = NULL;
	const char *sql = pg->sql[id];
	int begins = is_word(sql, "BEGIN"), ends = is_word(sql, "COMMIT") || is_word(sql, "ROLLBACK");
	if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
		if (pg->in_txn) {
			if (ends)
				pg->in_txn = 0;
			return connection_error(pg->conn, pg->url, what);
		}
		int err = pg_connect(pg);
		if (err)
			return err;
	}
	char name[16];
	snprintf(name, sizeof(name), "s%d", id);
	PGresult *r = PQexecPrepared(pg->conn, name, nparams, params, NULL, NULL, 0);
	ExecStatusType status = PQresultStatus(r);
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		int err = r ? result_error(pg, r, what) : connection_error(pg->conn, pg->url, what);
		PQclear(r);
		if (ends)
			pg->in_txn = 0;
		return err;
	}
	if (begins)
		pg->in_txn = 1;
	else if (ends)
		pg->in_txn = 0;
	umap_pg_result *res = malloc(sizeof(*res));
	if (!res) {
		PQclear(r);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	res->res = r;
	*out = res;
	return 0;
}

size_t umap_pg_rows(const umap_pg_result *r)
{
	return r ? (size_t)PQntuples(r->res) : 0;
}

const char *umap_pg_value(const umap_pg_result *r, size_t row, int col)
{
	if (PQgetisnull(r->res, (int)row, col))
		return NULL;
	return PQgetvalue(r->res, (int)row, col);
}

size_t umap_pg_length(const umap_pg_result *r, size_t row, int col)
{
	return (size_t)PQgetlength(r->res, (int)row, col);
}

int64_t umap_pg_changes(const umap_pg_result *r)
{
	const char *n = r ? PQcmdTuples(r->res) : "";
	return *n ? strtoll(n, NULL, 10) : 0;
}

void umap_pg_clear(umap_pg_result *r)
{
	if (!r)
		return;
	PQclear(r->res);
	free(r);
}

/* ---- LISTEN ---------------------------------------------------------------------------- */

struct umap_pg_listener {
	pthread_t thread;
	char *url;
	char channel[64];
	char origin[64];
	umap_pg_notify_fn fn;
	void *ctx;
	int stop_pipe[2]; /* written to stop the thread */
};

static PGconn *listen_connect(struct umap_pg_listener *l)
{
	PGconn *conn = connect_url(l->url);
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return NULL;
	}
	char sql[96];
	snprintf(sql, sizeof(sql), "LISTEN %s", l->channel);
	PGresult *r = PQexec(conn, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

static void deliver(struct umap_pg_listener *l, const char *payload)
{
	/* "origin map head" */
	char origin[64], map[256];
	long long head;
	if (sscanf(payload, "%63s %255s %lld", origin, map, &head) != 3 || !strcmp(origin, l->origin))
		return;
	l->fn(l->ctx, map, (int64_t)head);
}

static void *listen_main(void *arg)
{
	struct umap_pg_listener *l = arg;
	PGconn *conn = NULL;
	for (;;) {
		if (!conn && !(conn = listen_connect(l))) {
			/* the database is away: try again in a second (or stop) */
			struct pollfd p = { l->stop_pipe[0], POLLIN, 0 };
			if (poll(&p, 1, 1000) > 0)
				break;
			continue;
		}
		struct pollfd p[2] = { { l->stop_pipe[0], POLLIN, 0 }, { PQsocket(conn), POLLIN, 0 } };
		int n = poll(p, 2, 5000);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (!PQconsumeInput(conn)) {
			PQfinish(conn);
			conn = NULL;
			continue;
		}
		PGnotify *note;
		while ((note = PQnotifies(conn))) {
			deliver(l, note->extra);
			PQfreemem(note);
		}
	}
	PQfinish(conn);
	return NULL;
}

int umap_pg_listen_start(umap_pg_listener **out, const char *url, const char *channel,
			 const char *origin, umap_pg_notify_fn fn, void *ctx)
{
	*out = NULL;
	struct umap_pg_listener *l = calloc(1, sizeof(*l));
	if (!l || !(l->url = strdup(url))) {
		free(l);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	snprintf(l->channel, sizeof(l->channel), "%s", channel);
	snprintf(l->origin, sizeof(l->origin), "%s", origin);
	l->fn = fn;
	l->ctx = ctx;
	if (pipe(l->stop_pipe)) {
		free(l->url);
		free(l);
		return umap_error_set_errno(UMAP_EIO, "cannot make a pipe");
	}
	if (pthread_create(&l->thread, NULL, listen_main, l)) {
		close(l->stop_pipe[0]);
		close(l->stop_pipe[1]);
		free(l->url);
		free(l);
		return umap_error_set(UMAP_EIO, "cannot start the LISTEN thread");
	}
	*out = l;
	return 0;
}

void umap_pg_listen_stop(umap_pg_listener *l)
{
	if (!l)
		return;
	ssize_t w = write(l->stop_pipe[1], "x", 1);
	(void)w;
	pthread_join(l->thread, NULL);
	close(l->stop_pipe[0]);
	close(l->stop_pipe[1]);
	free(l->url);
	free(l);
}
