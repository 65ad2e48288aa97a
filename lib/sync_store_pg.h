/* The PostgreSQL side of the sync store (private to lib/sync_store.c): connections on libpq
 * that run the store's prepared statements, and the LISTEN thread for wake-ups across processes. */
#ifndef UMAP_SYNC_STORE_PG_H
#define UMAP_SYNC_STORE_PG_H

#include <stddef.h>
#include <stdint.h>

/* 1 when `location` names a PostgreSQL database (postgres:// or postgresql://) */
int umap_pg_is_url(const char *location);

typedef struct umap_pg umap_pg;       /* one connection and its prepared statements */
typedef struct umap_pg_result umap_pg_result;

/* Connects to `url` and prepares sql[0..n) as statements s0..s(n-1); with `schema`, first
 * runs it. Connection failures are UMAP_ENET (the server answers 503 and clients retry);
 * with `lazy` they are not an error: the first statement connects. */
int umap_pg_open(umap_pg **out, const char *url, const char *const *sql, int n, const char *schema, int lazy);
void umap_pg_close(umap_pg *pg);
/* 1 once the schema given to umap_pg_open was run (or when none was given) */
int umap_pg_schema_done(const umap_pg *pg);
/* Runs prepared statement `id` with text parameters (NULL: SQL NULL). A lost connection is
 * made again first, unless a transaction was open on it (then UMAP_ENET: the caller's
 * transaction is gone). Errors: UMAP_ENET (connection, deadlock, serialisation: retry),
 * UMAP_ENOSPC (disk full), UMAP_EIO. `what` says what was being done. */
int umap_pg_exec(umap_pg_result **out, umap_pg *pg, int id, const char *const *params, int nparams,
		 const char *what);
size_t umap_pg_rows(const umap_pg_result *r);
const char *umap_pg_value(const umap_pg_result *r, size_t row, int col); /* NULL: SQL NULL */
size_t umap_pg_length(const umap_pg_result *r, size_t row, int col);
int64_t umap_pg_changes(const umap_pg_result *r);
void umap_pg_clear(umap_pg_result *r);

/* Wake-ups: a thread LISTENs on `channel` and calls fn(ctx, map, head) for each commit
 * another process announced (payload "origin map head"; its own origin is skipped). */
typedef struct umap_pg_listener umap_pg_listener;
typedef void (*umap_pg_notify_fn)(void *ctx, const char *map, int64_t head);
int umap_pg_listen_start(umap_pg_listener **out, const char *url, const char *channel,
			 const char *origin, umap_pg_notify_fn fn, void *ctx);
void umap_pg_listen_stop(umap_pg_listener *l);

#endif
