/* The sync server's SQLite storage: op log, materialised state, idempotency, conflicts,
 * tokens. One writer connection commits pushes in groups (one fsync per group); one reader
 * connection serves pulls and snapshots from committed (hence durable) data only. */
#include "sync_store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "json.h"
#include "sha256.h"
#include "json_copy.h"
#include "strmap.h"
#include "strutil.h"
#include "sync_op.h"
#include "sync_store_pg.h"

#define STORE_SCHEMA "3"
#define READER_CACHE_KB "256"
#define FEATURES_TABLE(name) \
	"CREATE TABLE IF NOT EXISTS " name "(map TEXT NOT NULL, layer TEXT NOT NULL, id TEXT NOT NULL," \
	" ord INTEGER NOT NULL, body TEXT NOT NULL, seq INTEGER, client TEXT, PRIMARY KEY(map, layer, id));"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS maps(name TEXT PRIMARY KEY, head INTEGER NOT NULL,"
	" floor INTEGER NOT NULL, props TEXT, created INTEGER NOT NULL) WITHOUT ROWID;"
	/* the op log: seq is the cursor; layer is kept apart to filter pulls by grant */
	"CREATE TABLE IF NOT EXISTS ops(map TEXT NOT NULL, seq INTEGER NOT NULL, layer TEXT NOT NULL,"
	" body TEXT NOT NULL, PRIMARY KEY(map, seq)) WITHOUT ROWID;"
	/* idempotency: never pruned with the log, so a late retry still applies once */
	"CREATE TABLE IF NOT EXISTS applied(map TEXT NOT NULL, client TEXT NOT NULL, op_id TEXT NOT NULL,"
	" seq INTEGER NOT NULL, PRIMARY KEY(map, client, op_id)) WITHOUT ROWID;"
	/* the last change of every key, for conflict detection against a push's base:
	 * feature '' = the layer's options, feature '*' = the layer deleted, key '' = whole */
	"CREATE TABLE IF NOT EXISTS changes(map TEXT NOT NULL, layer TEXT NOT NULL, feature TEXT NOT NULL,"
	" key TEXT NOT NULL, seq INTEGER NOT NULL, client TEXT NOT NULL,"
	" PRIMARY KEY(map, layer, feature, key)) WITHOUT ROWID;"
	/* options_key: the key the layer's options are under in its file (NULL: "properties") */
	"CREATE TABLE IF NOT EXISTS layers(map TEXT NOT NULL, id TEXT NOT NULL, ord INTEGER NOT NULL,"
	" filename TEXT, options TEXT, options_key TEXT, PRIMARY KEY(map, id)) WITHOUT ROWID;"
	/* a rowid table (schema 2): a feature's body is written once, where rows are appended,
	 * and only the small key index by id takes the random inserts of uMap's random ids;
	 * seq, client (schema 3): the feature's last upsert, which leaves no row in `changes`
	 * (NULL: an upsert before schema 3, whose row is in `changes`) */
	FEATURES_TABLE("features")
	"CREATE INDEX IF NOT EXISTS features_order ON features(map, layer, ord);"
	"CREATE TABLE IF NOT EXISTS tokens(id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
	" map TEXT NOT NULL, layers TEXT, access TEXT NOT NULL, created INTEGER NOT NULL,"
	" revoked INTEGER) WITHOUT ROWID;"
	"INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '" STORE_SCHEMA "');";

/* Schema 1 kept the features' bodies in a WITHOUT ROWID table ordered by (map, layer, id):
 * a push of new features with random ids dirtied a page of that big tree per feature, each
 * copied to the WAL at every commit and back at every checkpoint. Schema 2 moves the rows,
 * in their order, into a rowid table; everything else is as it was. */
static const char migrate_1_to_3[] =
	FEATURES_TABLE("features_v2")
	"INSERT INTO features_v2(map, layer, id, ord, body)"
	" SELECT map, layer, id, ord, body FROM features ORDER BY map, layer, ord;"
	"DROP TABLE features;"
	"ALTER TABLE features_v2 RENAME TO features;"
	"CREATE INDEX features_order ON features(map, layer, ord);"
	"UPDATE meta SET value = '3' WHERE key = 'schema';";

/* Schema 2 recorded every feature upsert as a row of `changes` too: a second random-key
 * insert per feature, as costly as the feature's own (a page of each index dirtied per
 * feature per commit, written to the WAL and again at the checkpoint). Schema 3 keeps the
 * upsert's seq and client in the feature's row, which the 409 check reads by the same key;
 * the rows of earlier upserts stay in `changes` and are read as before. */
static const char migrate_2_to_3[] =
	"ALTER TABLE features ADD COLUMN seq INTEGER;"
	"ALTER TABLE features ADD COLUMN client TEXT;"
	"UPDATE meta SET value = '3' WHERE key = 'schema';";

enum stmt_id {
	S_MAP_GET,
	S_MAP_INSERT,
	S_MAP_SET_HEAD,
	S_MAP_SET_PROPS,
	S_OP_INSERT,
	S_OP_RANGE,
	S_OP_PRUNE,
	S_APPLIED_GET,
	S_APPLIED_INSERT,
	S_CHANGE_SET,
	S_CONFLICT_KEY,
	S_CONFLICT_WHOLE,
	S_CONFLICT_LAYER,
	S_LATEST_KEY,
	S_LAYER_ENSURE,
	S_LAYER_GET,
	S_LAYER_SET,
	S_LAYER_DELETE,
	S_LAYER_LIST,
	S_FEATURE_GET,
	S_FEATURE_UPSERT,
	S_FEATURE_UPDATE,
	S_FEATURE_DELETE,
	S_FEATURE_DELETE_LAYER,
	S_FEATURE_LIST,
	S_FEATURE_COUNT,
	S_FEATURE_SPAN,
	S_TOKEN_ANY,
	S_TOKEN_ACTIVE,
	S_TOKEN_INSERT,
	S_TOKEN_LIST,
	S_TOKEN_REVOKE,
	S_BEGIN,
	S_BEGIN_IMMEDIATE,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_LOCK_MAP,
	S_NOTIFY,
	S_COUNT_ALL,
	S_DUMP_MAPS, S_DUMP_OPS, S_DUMP_APPLIED, S_DUMP_CHANGES, S_DUMP_LAYERS, S_DUMP_FEATURES, S_DUMP_TOKENS,
	S_LOAD_MAPS, S_LOAD_OPS, S_LOAD_APPLIED, S_LOAD_CHANGES, S_LOAD_LAYERS, S_LOAD_FEATURES, S_LOAD_TOKENS,
	N_STMT
};

/* what a store keeps, table by table, for --import-from: (table, columns, how many) */
static const struct {
	enum stmt_id dump, load;
	const char *name;
} store_tables[] = {
	{ S_DUMP_MAPS, S_LOAD_MAPS, "maps" },		{ S_DUMP_OPS, S_LOAD_OPS, "ops" },
	{ S_DUMP_APPLIED, S_LOAD_APPLIED, "applied" }, { S_DUMP_CHANGES, S_LOAD_CHANGES, "changes" },
	{ S_DUMP_LAYERS, S_LOAD_LAYERS, "layers" },	{ S_DUMP_FEATURES, S_LOAD_FEATURES, "features" },
	{ S_DUMP_TOKENS, S_LOAD_TOKENS, "tokens" },
};

#define MAPS_COLS "name, head, floor, props, created"
#define OPS_COLS "map, seq, layer, body"
#define APPLIED_COLS "map, client, op_id, seq"
#define CHANGES_COLS "map, layer, feature, key, seq, client"
#define LAYERS_COLS "map, id, ord, filename, options, options_key"
#define FEATURES_COLS "map, layer, id, ord, body, seq, client"
#define TOKENS_COLS "id, hash, map, layers, access, created, revoked"


/* A row `c` of `changes` for a whole feature that the feature's upsert came after. */
#define UPSERTED_SINCE \
	"(c.key = '' AND EXISTS(SELECT 1 FROM features f WHERE f.map = c.map AND f.layer = c.layer" \
	" AND f.id = c.feature AND f.seq > c.seq))"

static const char *const stmt_sql[N_STMT] = {
	[S_MAP_GET] = "SELECT head, floor, props FROM maps WHERE name = ?1",
	[S_MAP_INSERT] = "INSERT INTO maps(name, head, floor, props, created) VALUES(?1, 0, 0, NULL, ?2)",
	[S_MAP_SET_HEAD] = "UPDATE maps SET head = ?2, floor = ?3 WHERE name = ?1",
	[S_MAP_SET_PROPS] = "UPDATE maps SET props = ?2 WHERE name = ?1",
	[S_OP_INSERT] = "INSERT INTO ops(map, seq, layer, body) VALUES(?1, ?2, ?3, ?4)",
	[S_OP_RANGE] = "SELECT seq, layer, body FROM ops WHERE map = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
	[S_OP_PRUNE] = "DELETE FROM ops WHERE map = ?1 AND seq <= ?2",
	[S_APPLIED_GET] = "SELECT seq FROM applied WHERE map = ?1 AND client = ?2 AND op_id = ?3",
	[S_APPLIED_INSERT] = "INSERT INTO applied(map, client, op_id, seq) VALUES(?1, ?2, ?3, ?4)",
	[S_CHANGE_SET] = "INSERT INTO changes(map, layer, feature, key, seq, client) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
			 " ON CONFLICT(map, layer, feature, key) DO UPDATE SET seq = excluded.seq, client = excluded.client",
	/* a key conflicts with the same key, a parent or child key, the whole entity, or its
	 * layer's deletion, changed by another client after base ("feature IN" keeps these on
	 * the primary key: an OR across features would scan the whole layer). A feature's last
	 * upsert is in its row (schema 3); a whole-feature row of `changes` that an upsert
	 * made since (a delete, or an upsert before schema 3) is no longer the last change of
	 * the feature, as when the upsert overwrote it */
	[S_CONFLICT_KEY] = "SELECT key, seq FROM changes c WHERE map = ?1 AND layer = ?2 AND feature IN (?3, '*')"
			   " AND seq > ?5 AND client <> ?6"
			   " AND ((feature = ?3 AND (key = ?4 OR key = '' OR substr(?4, 1, length(key) + 1) = key || '.'"
			   " OR substr(key, 1, length(?4) + 1) = ?4 || '.')) OR (feature = '*' AND key = ''))"
			   " AND NOT " UPSERTED_SINCE
			   " UNION ALL SELECT '', seq FROM features WHERE map = ?1 AND layer = ?2 AND id = ?3"
			   " AND seq > ?5 AND client <> ?6 ORDER BY seq LIMIT 1",
	[S_CONFLICT_WHOLE] = "SELECT key, seq FROM changes c WHERE map = ?1 AND layer = ?2 AND feature IN (?3, '*')"
			     " AND seq > ?4 AND client <> ?5 AND (feature = ?3 OR key = '') AND NOT " UPSERTED_SINCE
			     " UNION ALL SELECT '', seq FROM features WHERE map = ?1 AND layer = ?2 AND id = ?3"
			     " AND seq > ?4 AND client <> ?5 ORDER BY seq LIMIT 1",
	/* (a stale base's layer delete reads the layer's features: rare, and bounded by it) */
	[S_CONFLICT_LAYER] = "SELECT key, seq FROM changes c WHERE map = ?1 AND layer = ?2 AND seq > ?3 AND client <> ?4"
			     " AND NOT " UPSERTED_SINCE
			     " UNION ALL SELECT '', seq FROM features WHERE map = ?1 AND layer = ?2 AND seq > ?3"
			     " AND client <> ?4 ORDER BY seq LIMIT 1",
	/* the latest change of a key, of a parent key, or of the whole entity (for realtime
	 * ops, which win by clock, not by arrival); a feature's last upsert is in its row */
	[S_LATEST_KEY] = "SELECT o.body, c.seq FROM changes c JOIN ops o ON o.map = c.map AND o.seq = c.seq"
			 " WHERE c.map = ?1 AND c.layer = ?2 AND c.feature = ?3"
			 " AND (c.key = ?4 OR c.key = '' OR substr(?4, 1, length(c.key) + 1) = c.key || '.')"
			 " UNION ALL SELECT o.body, f.seq FROM features f JOIN ops o ON o.map = f.map AND o.seq = f.seq"
			 " WHERE f.map = ?1 AND f.layer = ?2 AND f.id = ?3"
			 " ORDER BY 2 DESC LIMIT 1",
	[S_LAYER_ENSURE] = "INSERT OR IGNORE INTO layers(map, id, ord, filename, options) VALUES(?1, ?2,"
			   " (SELECT COALESCE(MAX(ord), 0) + 1 FROM layers WHERE map = ?1), NULL, NULL)",
	[S_LAYER_GET] = "SELECT options FROM layers WHERE map = ?1 AND id = ?2",
	[S_LAYER_SET] = "UPDATE layers SET options = ?3, filename = COALESCE(?4, filename),"
			" options_key = COALESCE(?5, options_key) WHERE map = ?1 AND id = ?2",
	[S_LAYER_DELETE] = "DELETE FROM layers WHERE map = ?1 AND id = ?2",
	[S_LAYER_LIST] = "SELECT id, filename, options, options_key FROM layers WHERE map = ?1 ORDER BY ord",
	[S_FEATURE_GET] = "SELECT body FROM features WHERE map = ?1 AND layer = ?2 AND id = ?3",
	/* a new feature goes last in its layer; a replaced one keeps its place */
	[S_FEATURE_UPSERT] = "INSERT INTO features(map, layer, id, ord, body, seq, client) VALUES(?1, ?2, ?3,"
			     " (SELECT COALESCE(MAX(ord), 0) + 1 FROM features WHERE map = ?1 AND layer = ?2), ?4, ?5, ?6)"
			     " ON CONFLICT(map, layer, id) DO UPDATE SET body = excluded.body, seq = excluded.seq,"
			     " client = excluded.client",
	[S_FEATURE_UPDATE] = "UPDATE features SET body = ?4 WHERE map = ?1 AND layer = ?2 AND id = ?3",
	[S_FEATURE_DELETE] = "DELETE FROM features WHERE map = ?1 AND layer = ?2 AND id = ?3",
	[S_FEATURE_DELETE_LAYER] = "DELETE FROM features WHERE map = ?1 AND layer = ?2",
	[S_FEATURE_LIST] = "SELECT body, ord FROM features WHERE map = ?1 AND layer = ?2 AND ord > ?3 ORDER BY ord LIMIT ?4",
	[S_FEATURE_COUNT] = "SELECT COUNT(*) FROM features WHERE map = ?1 AND layer = ?2",
	/* a bound on the count: a layer's places are distinct. Two lookups at the ends of the
	 * order index (one MIN or MAX a SELECT, as SQLite's min/max optimisation wants) */
	[S_FEATURE_SPAN] = "SELECT COALESCE((SELECT MAX(ord) FROM features WHERE map = ?1 AND layer = ?2)"
			   " - (SELECT MIN(ord) FROM features WHERE map = ?1 AND layer = ?2) + 1, 0)",
	[S_TOKEN_ANY] = "SELECT EXISTS(SELECT 1 FROM tokens)",
	/* one lookup on the hash's unique index, however many tokens there are */
	[S_TOKEN_ACTIVE] = "SELECT id, hash, map, layers, access FROM tokens WHERE hash = ?1 AND revoked IS NULL",
	[S_TOKEN_INSERT] = "INSERT INTO tokens(id, hash, map, layers, access, created, revoked)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, NULL)",
	[S_TOKEN_LIST] = "SELECT id, map, layers, access, created, revoked FROM tokens ORDER BY created, id",
	[S_TOKEN_REVOKE] = "UPDATE tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
	[S_BEGIN] = "BEGIN",
	[S_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT push",
	[S_RELEASE] = "RELEASE push",
	[S_ROLLBACK_TO] = "ROLLBACK TO push",
	/* one writer connection: SQLite's BEGIN IMMEDIATE already serialises pushes */
	[S_LOCK_MAP] = "SELECT ?1",
	[S_NOTIFY] = "SELECT ?1",
	[S_COUNT_ALL] = "SELECT (SELECT COUNT(*) FROM maps) + (SELECT COUNT(*) FROM tokens)",
	[S_DUMP_MAPS] = "SELECT " MAPS_COLS " FROM maps",
	[S_DUMP_OPS] = "SELECT " OPS_COLS " FROM ops",
	[S_DUMP_APPLIED] = "SELECT " APPLIED_COLS " FROM applied",
	[S_DUMP_CHANGES] = "SELECT " CHANGES_COLS " FROM changes",
	[S_DUMP_LAYERS] = "SELECT " LAYERS_COLS " FROM layers",
	[S_DUMP_FEATURES] = "SELECT " FEATURES_COLS " FROM features",
	[S_DUMP_TOKENS] = "SELECT " TOKENS_COLS " FROM tokens",
	[S_LOAD_MAPS] = "INSERT INTO maps(" MAPS_COLS ") VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_LOAD_OPS] = "INSERT INTO ops(" OPS_COLS ") VALUES(?1, ?2, ?3, ?4)",
	[S_LOAD_APPLIED] = "INSERT INTO applied(" APPLIED_COLS ") VALUES(?1, ?2, ?3, ?4)",
	[S_LOAD_CHANGES] = "INSERT INTO changes(" CHANGES_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[S_LOAD_LAYERS] = "INSERT INTO layers(" LAYERS_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[S_LOAD_FEATURES] = "INSERT INTO features(" FEATURES_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_LOAD_TOKENS] = "INSERT INTO tokens(" TOKENS_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};

/* The same tables on PostgreSQL. The first statement makes processes that start together
 * set the tables up one after the other (CREATE ... IF NOT EXISTS races otherwise). */
static const char pg_schema[] =
	"SELECT pg_advisory_xact_lock(8317203411);"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS maps(name TEXT PRIMARY KEY, head BIGINT NOT NULL,"
	" floor BIGINT NOT NULL, props TEXT, created BIGINT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS ops(map TEXT NOT NULL, seq BIGINT NOT NULL, layer TEXT NOT NULL,"
	" body TEXT NOT NULL, PRIMARY KEY(map, seq));"
	"CREATE TABLE IF NOT EXISTS applied(map TEXT NOT NULL, client TEXT NOT NULL, op_id TEXT NOT NULL,"
	" seq BIGINT NOT NULL, PRIMARY KEY(map, client, op_id));"
	"CREATE TABLE IF NOT EXISTS changes(map TEXT NOT NULL, layer TEXT NOT NULL, feature TEXT NOT NULL,"
	" key TEXT NOT NULL, seq BIGINT NOT NULL, client TEXT NOT NULL, PRIMARY KEY(map, layer, feature, key));"
	"CREATE TABLE IF NOT EXISTS layers(map TEXT NOT NULL, id TEXT NOT NULL, ord BIGINT NOT NULL,"
	" filename TEXT, options TEXT, options_key TEXT, PRIMARY KEY(map, id));"
	/* a database set up before layers kept their options key */
	"ALTER TABLE layers ADD COLUMN IF NOT EXISTS options_key TEXT;"
	"CREATE TABLE IF NOT EXISTS features(map TEXT NOT NULL, layer TEXT NOT NULL, id TEXT NOT NULL,"
	" ord BIGINT NOT NULL, body TEXT NOT NULL, seq BIGINT, client TEXT, PRIMARY KEY(map, layer, id));"
	/* a database set up before a feature's row kept its last upsert (SQLite's schema 3) */
	"ALTER TABLE features ADD COLUMN IF NOT EXISTS seq BIGINT;"
	"ALTER TABLE features ADD COLUMN IF NOT EXISTS client TEXT;"
	"CREATE INDEX IF NOT EXISTS features_order ON features(map, layer, ord);"
	"CREATE TABLE IF NOT EXISTS tokens(id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
	" map TEXT NOT NULL, layers TEXT, access TEXT NOT NULL, created BIGINT NOT NULL, revoked BIGINT);"
	"INSERT INTO meta(key, value) VALUES('schema', '1') ON CONFLICT DO NOTHING;";

/* PostgreSQL's text of a statement where it differs from SQLite's by more than its
 * placeholders (?N there, $N here); the others are translated (pg_statements()). */
static const char *const pg_sql_own[N_STMT] = {
	[S_MAP_GET] = "SELECT head, floor, props FROM maps WHERE name = $1::text",
	[S_MAP_INSERT] = "INSERT INTO maps(name, head, floor, props, created) VALUES($1::text, 0, 0, NULL, $2::bigint)",
	[S_MAP_SET_HEAD] = "UPDATE maps SET head = $2::bigint, floor = $3::bigint WHERE name = $1::text",
	[S_MAP_SET_PROPS] = "UPDATE maps SET props = $2::text WHERE name = $1::text",
	[S_OP_INSERT] = "INSERT INTO ops(map, seq, layer, body) VALUES($1::text, $2::bigint, $3::text, $4::text)",
	[S_OP_RANGE] = "SELECT seq, layer, body FROM ops WHERE map = $1::text AND seq > $2::bigint ORDER BY seq LIMIT $3::bigint",
	[S_OP_PRUNE] = "DELETE FROM ops WHERE map = $1::text AND seq <= $2::bigint",
	[S_APPLIED_GET] = "SELECT seq FROM applied WHERE map = $1::text AND client = $2::text AND op_id = $3::text",
	[S_APPLIED_INSERT] = "INSERT INTO applied(map, client, op_id, seq) VALUES($1::text, $2::text, $3::text, $4::bigint)",
	[S_CHANGE_SET] = "INSERT INTO changes(map, layer, feature, key, seq, client) VALUES($1::text, $2::text, $3::text,"
			 " $4::text, $5::bigint, $6::text)"
			 " ON CONFLICT(map, layer, feature, key) DO UPDATE SET seq = excluded.seq, client = excluded.client",
	[S_CONFLICT_KEY] = "SELECT key, seq FROM changes c WHERE map = $1::text AND layer = $2::text"
			   " AND feature IN ($3::text, '*') AND seq > $5::bigint AND client <> $6::text"
			   " AND ((feature = $3::text AND (key = $4::text OR key = ''"
			   " OR substr($4::text, 1, length(key) + 1) = key || '.'"
			   " OR substr(key, 1, length($4::text) + 1) = $4::text || '.')) OR (feature = '*' AND key = ''))"
			   " AND NOT " UPSERTED_SINCE
			   " UNION ALL SELECT '', seq FROM features WHERE map = $1::text AND layer = $2::text AND id = $3::text"
			   " AND seq > $5::bigint AND client <> $6::text ORDER BY seq LIMIT 1",
	[S_CONFLICT_WHOLE] = "SELECT key, seq FROM changes c WHERE map = $1::text AND layer = $2::text"
			     " AND feature IN ($3::text, '*') AND seq > $4::bigint AND client <> $5::text"
			     " AND (feature = $3::text OR key = '') AND NOT " UPSERTED_SINCE
			     " UNION ALL SELECT '', seq FROM features WHERE map = $1::text AND layer = $2::text AND id = $3::text"
			     " AND seq > $4::bigint AND client <> $5::text ORDER BY seq LIMIT 1",
	[S_CONFLICT_LAYER] = "SELECT key, seq FROM changes c WHERE map = $1::text AND layer = $2::text"
			     " AND seq > $3::bigint AND client <> $4::text AND NOT " UPSERTED_SINCE
			     " UNION ALL SELECT '', seq FROM features WHERE map = $1::text AND layer = $2::text"
			     " AND seq > $3::bigint AND client <> $4::text ORDER BY seq LIMIT 1",
	[S_LATEST_KEY] = "SELECT o.body, c.seq FROM changes c JOIN ops o ON o.map = c.map AND o.seq = c.seq"
			 " WHERE c.map = $1::text AND c.layer = $2::text AND c.feature = $3::text"
			 " AND (c.key = $4::text OR c.key = '' OR substr($4::text, 1, length(c.key) + 1) = c.key || '.')"
			 " UNION ALL SELECT o.body, f.seq FROM features f JOIN ops o ON o.map = f.map AND o.seq = f.seq"
			 " WHERE f.map = $1::text AND f.layer = $2::text AND f.id = $3::text"
			 " ORDER BY 2 DESC LIMIT 1",
	[S_LAYER_ENSURE] = "INSERT INTO layers(map, id, ord, filename, options) VALUES($1::text, $2::text,"
			   " (SELECT COALESCE(MAX(ord), 0) + 1 FROM layers WHERE map = $1::text), NULL, NULL)"
			   " ON CONFLICT DO NOTHING",
	[S_LAYER_GET] = "SELECT options FROM layers WHERE map = $1::text AND id = $2::text",
	[S_LAYER_SET] = "UPDATE layers SET options = $3::text, filename = COALESCE($4::text, filename),"
			" options_key = COALESCE($5::text, options_key) WHERE map = $1::text AND id = $2::text",
	[S_LAYER_DELETE] = "DELETE FROM layers WHERE map = $1::text AND id = $2::text",
	[S_LAYER_LIST] = "SELECT id, filename, options, options_key FROM layers WHERE map = $1::text ORDER BY ord",
	[S_FEATURE_GET] = "SELECT body FROM features WHERE map = $1::text AND layer = $2::text AND id = $3::text",
	[S_FEATURE_UPSERT] = "INSERT INTO features(map, layer, id, ord, body, seq, client) VALUES($1::text, $2::text, $3::text,"
			     " (SELECT COALESCE(MAX(ord), 0) + 1 FROM features WHERE map = $1::text AND layer = $2::text),"
			     " $4::text, $5::bigint, $6::text) ON CONFLICT(map, layer, id) DO UPDATE SET body = excluded.body,"
			     " seq = excluded.seq, client = excluded.client",
	[S_FEATURE_UPDATE] = "UPDATE features SET body = $4::text WHERE map = $1::text AND layer = $2::text AND id = $3::text",
	[S_FEATURE_DELETE] = "DELETE FROM features WHERE map = $1::text AND layer = $2::text AND id = $3::text",
	[S_FEATURE_DELETE_LAYER] = "DELETE FROM features WHERE map = $1::text AND layer = $2::text",
	[S_FEATURE_LIST] = "SELECT body, ord FROM features WHERE map = $1::text AND layer = $2::text AND ord > $3::bigint"
			   " ORDER BY ord LIMIT $4::bigint",
	[S_FEATURE_COUNT] = "SELECT COUNT(*) FROM features WHERE map = $1::text AND layer = $2::text",
	[S_FEATURE_SPAN] = "SELECT COALESCE((SELECT MAX(ord) FROM features WHERE map = $1::text AND layer = $2::text)"
			   " - (SELECT MIN(ord) FROM features WHERE map = $1::text AND layer = $2::text) + 1, 0)",
	[S_TOKEN_ANY] = "SELECT CASE WHEN EXISTS(SELECT 1 FROM tokens) THEN 1 ELSE 0 END",
	[S_TOKEN_ACTIVE] = "SELECT id, hash, map, layers, access FROM tokens WHERE hash = $1::text AND revoked IS NULL",
	[S_TOKEN_INSERT] = "INSERT INTO tokens(id, hash, map, layers, access, created, revoked)"
			   " VALUES($1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, NULL)",
	[S_TOKEN_LIST] = "SELECT id, map, layers, access, created, revoked FROM tokens ORDER BY created, id COLLATE \"C\"",
	[S_TOKEN_REVOKE] = "UPDATE tokens SET revoked = $2::bigint WHERE id = $1::text AND revoked IS NULL",
	/* a stream's statements all read one snapshot, as in SQLite's read transaction */
	[S_BEGIN] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	/* pushes: READ COMMITTED, each map serialised by its advisory lock (S_LOCK_MAP) */
	[S_BEGIN_IMMEDIATE] = "BEGIN",
	[S_LOCK_MAP] = "SELECT pg_advisory_xact_lock($1::bigint)",
	/* delivered to the listeners of every process at COMMIT, never if it rolls back */
	[S_NOTIFY] = "SELECT pg_notify('umapsync', $1::text)",
};

static char *pg_sql[N_STMT];
static pthread_once_t pg_sql_once = PTHREAD_ONCE_INIT;

/* The statements on PostgreSQL: their own text, or SQLite's with ?N written $N. Made once;
 * a statement that cannot be made stays NULL and fails to prepare. */
static void pg_sql_make(void)
{
	for (int i = 0; i < N_STMT; i++) {
		if (pg_sql_own[i]) {
			pg_sql[i] = (char *)pg_sql_own[i];
			continue;
		}
		if (!(pg_sql[i] = strdup(stmt_sql[i])))
			continue;
		for (char *q = pg_sql[i]; (q = strchr(q, '?')); q++)
			*q = '$';
	}
}

static const char *const *pg_statements(void)
{
	pthread_once(&pg_sql_once, pg_sql_make);
	return (const char *const *)pg_sql;
}


#define Q_PARAMS 8

/* One prepared statement of a connection, on either database: SQLite steps through its rows
 * as they come; PostgreSQL runs it on the first step and hands its rows out one by one. */
struct q {
	struct conn *c;
	enum stmt_id id;
	sqlite3_stmt *lite;
	const char *param[Q_PARAMS]; /* PostgreSQL: the values bound, as text */
	char *owned[Q_PARAMS];
	char num[Q_PARAMS][24];
	int nparams;
	umap_pg_result *res;
	size_t row;
	int started;
};

enum { Q_DONE = 0, Q_ROW = 1 };

struct conn {
	sqlite3 *db;  /* one of db and pg */
	umap_pg *pg;
	struct q q[N_STMT];
	int pg_err;      /* the error of the last failed PostgreSQL statement */
	int64_t changes; /* rows the last statement changed */
	pthread_mutex_t lock;
	int lock_ready;
};

struct push_job {
	/* input, validated by the pushing thread */
	const char *map;
	const char *client;
	int64_t base;
	int realtime;           /* uMap's peers: last writer wins, no base (see append_realtime) */
	umap_sync_op *ops;
	size_t nops;
	const umap_sync_raw_value **raw; /* per op: its value's bytes, when the body kept them */
	/* output, set by whichever thread commits the group */
	json_t *reply;
	int rc;
	char err[1024];
	int64_t head;
	int done;
	struct push_job *next;
};

/* A read connection of the pool: pulls, snapshots and token checks each take one, so
 * readers never wait for each other (WAL lets them read while the writer commits). */
struct reader {
	struct conn c; /* first: a struct conn * of a reader is the reader */
	struct reader *next;
};

#define READERS_KEPT 8 /* idle connections kept open for the next request */

struct umap_sync_store {
	struct conn w;
	char *path;      /* the SQLite database, or the PostgreSQL URL */
	int pg;          /* on PostgreSQL */
	char origin[40]; /* this process among those sharing a PostgreSQL database */
	umap_pg_listener *listener;
	int schema_ready; /* PostgreSQL: the tables exist (atomic) */
	int tokens_exist; /* a token was seen: auth is required from now on (atomic) */
	pthread_mutex_t readers_lock;
	struct reader *idle;
	unsigned nidle;
	umap_sync_store_options opts;
	pthread_mutex_t queue_lock;
	pthread_cond_t queue_cond;
	struct push_job *queue, **queue_tail;
	int leader;
	umap_sync_commit_fn on_commit;
	void *on_commit_ctx;
};

/* ---- Database plumbing ----------------------------------------------------------------- */

static int db_error(struct conn *c, const char *what)
{
	if (c->pg) /* umap_pg_exec said what happened */
		return umap_error_set(c->pg_err, "%s", umap_error_last());
	int code = sqlite3_errcode(c->db);
	if (code == SQLITE_FULL)
		return umap_error_set(UMAP_ENOSPC,
				      "the server's disk is full (database: %s): nothing was applied; the operator must free space",
				      what);
	return umap_error_set(code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? UMAP_ECORRUPT : UMAP_EIO,
			      "database: %s: %s", what, sqlite3_errmsg(c->db));
}

static void q_reset(struct q *q)
{
	if (q->lite) {
		sqlite3_reset(q->lite);
		return;
	}
	umap_pg_clear(q->res);
	q->res = NULL;
	q->started = 0;
	q->row = 0;
}

static struct q *stmt(struct conn *c, enum stmt_id id)
{
	struct q *q = &c->q[id];
	q_reset(q);
	if (q->lite) {
		sqlite3_clear_bindings(q->lite);
		return q;
	}
	for (int i = 0; i < Q_PARAMS; i++) {
		free(q->owned[i]);
		q->owned[i] = NULL;
		q->param[i] = NULL;
	}
	return q;
}

static void bind_text(struct q *q, int i, const char *text)
{
	if (q->lite) {
		if (text)
			sqlite3_bind_text(q->lite, i, text, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(q->lite, i);
	} else {
		q->param[i - 1] = text;
	}
}

static void bind_int64(struct q *q, int i, int64_t v)
{
	if (q->lite) {
		sqlite3_bind_int64(q->lite, i, v);
		return;
	}
	snprintf(q->num[i - 1], sizeof(q->num[i - 1]), "%lld", (long long)v);
	q->param[i - 1] = q->num[i - 1];
}

/* Binds `text`, which the statement frees once done with it. */
static void bind_owned(struct q *q, int i, char *text)
{
	if (q->lite) {
		sqlite3_bind_text(q->lite, i, text, -1, free);
		return;
	}
	free(q->owned[i - 1]);
	q->owned[i - 1] = text;
	q->param[i - 1] = text;
}

static void bind_copy(struct q *q, int i, const char *text)
{
	if (q->lite) {
		sqlite3_bind_text(q->lite, i, text, -1, SQLITE_TRANSIENT);
		return;
	}
	char *copy = strdup(text);
	bind_owned(q, i, copy); /* out of memory: bound as NULL, which the NOT NULL column refuses */
}

/* Q_ROW, Q_DONE, or a negative error (db_error() tells it). */
static int q_step(struct q *q)
{
	if (q->lite) {
		int rc = sqlite3_step(q->lite);
		if (rc == SQLITE_ROW)
			return Q_ROW;
		if (rc == SQLITE_DONE) {
			q->c->changes = sqlite3_changes(q->c->db);
			return Q_DONE;
		}
		return UMAP_EIO;
	}
	if (!q->started) {
		q->started = 1;
		int err = umap_pg_exec(&q->res, q->c->pg, (int)q->id, q->param, q->nparams, "running a statement");
		if (err) {
			q->c->pg_err = err;
			return err;
		}
		q->c->changes = umap_pg_changes(q->res);
	} else {
		q->row++;
	}
	return q->row < umap_pg_rows(q->res) ? Q_ROW : Q_DONE;
}

static const char *q_text(struct q *q, int col)
{
	if (q->lite)
		return (const char *)sqlite3_column_text(q->lite, col);
	return umap_pg_value(q->res, q->row, col);
}

static size_t q_bytes(struct q *q, int col)
{
	if (q->lite)
		return (size_t)sqlite3_column_bytes(q->lite, col);
	return umap_pg_length(q->res, q->row, col);
}

static int q_isnull(struct q *q, int col)
{
	if (q->lite)
		return sqlite3_column_type(q->lite, col) == SQLITE_NULL;
	return !umap_pg_value(q->res, q->row, col);
}

static int64_t q_int64(struct q *q, int col)
{
	if (q->lite)
		return sqlite3_column_int64(q->lite, col);
	const char *v = umap_pg_value(q->res, q->row, col);
	return v ? strtoll(v, NULL, 10) : 0;
}

/* Runs a statement that returns no rows. */
static int step_done(struct conn *c, struct q *s, const char *what)
{
	int rc = q_step(s);
	q_reset(s);
	if (rc != Q_DONE && rc != Q_ROW)
		return db_error(c, what);
	return 0;
}

static int exec_simple(struct conn *c, enum stmt_id id)
{
	return step_done(c, stmt(c, id), stmt_sql[id]);
}

static int64_t now_ms(const umap_sync_store *store)
{
	return (int64_t)store->opts.clock(store->opts.clock_ctx);
}

/* The parameters a PostgreSQL statement takes: its highest $N. */
static int pg_param_count(const char *sql)
{
	int n = 0;
	for (const char *p = strchr(sql, '$'); p; p = strchr(p + 1, '$'))
		if (atoi(p + 1) > n)
			n = atoi(p + 1);
	return n;
}

static void conn_close(struct conn *c)
{
	for (int i = 0; i < N_STMT; i++) {
		struct q *q = &c->q[i];
		if (q->lite)
			sqlite3_finalize(q->lite);
		umap_pg_clear(q->res);
		for (int j = 0; j < Q_PARAMS; j++)
			free(q->owned[j]);
	}
	if (c->db)
		sqlite3_close(c->db);
	umap_pg_close(c->pg);
	if (c->lock_ready)
		pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

static void conn_init_statements(struct conn *c)
{
	for (int i = 0; i < N_STMT; i++) {
		c->q[i].c = c;
		c->q[i].id = (enum stmt_id)i;
		c->q[i].nparams = pg_param_count(pg_statements()[i]);
	}
	pthread_mutex_init(&c->lock, NULL);
	c->lock_ready = 1;
}

/* A PostgreSQL connection, which sets the tables up until one connection of the store has
 * (a reader may be the first to reach a database that was away at start). With `lazy`, an
 * unreachable database is not an error yet: the connection is made by the first statement,
 * and until then requests fail with UMAP_ENET (503: clients retry). */
static int conn_open_pg(struct conn *c, umap_sync_store *store, int lazy)
{
	memset(c, 0, sizeof(*c));
	conn_init_statements(c);
	int ready = __atomic_load_n(&store->schema_ready, __ATOMIC_ACQUIRE);
	const char *const *sql = pg_statements();
	int err = umap_pg_open(&c->pg, store->path, sql, N_STMT, ready ? NULL : pg_schema, lazy);
	if (!err && umap_pg_schema_done(c->pg))
		__atomic_store_n(&store->schema_ready, 1, __ATOMIC_RELEASE);
	return err;
}

/* Stores made before layers kept the key their options are written under get the column
 * (NULL: "properties"); a store that has it already is left alone. */
static int add_options_key_column(sqlite3 *db, char **msg)
{
	sqlite3_stmt *s = NULL;
	int found = 0, rc = sqlite3_prepare_v2(db, "PRAGMA table_info(layers)", -1, &s, NULL);
	while (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 1);
		found |= name && !strcmp(name, "options_key");
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_OK)
		return rc;
	return found ? 0 : sqlite3_exec(db, "ALTER TABLE layers ADD COLUMN options_key TEXT", NULL, NULL, msg);
}

/* Brings a store made by an earlier umapsync to this schema, in one transaction (a crash
 * leaves it as it was); a store from a later umapsync is refused rather than misread. */
static int migrate_schema(struct conn *c, const char *path)
{
	char *msg = NULL, *version = NULL;
	sqlite3_stmt *s = NULL;
	int err = 0;
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) ||
	    sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = 'schema'", -1, &s, NULL))
		goto db_failed;
	const unsigned char *text = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
	if (text && !(version = strdup((const char *)text)))
		err = umap_error_set(UMAP_ENOMEM, "out of memory");
	else if (!text)
		err = umap_error_set(UMAP_ECORRUPT, "database '%s' has no schema version: restore it from a backup", path);
	sqlite3_finalize(s);
	if (err) {
		/* reported below */
	} else if (!strcmp(version, "1") || !strcmp(version, "2")) {
		if (sqlite3_exec(c->db, *version == '1' ? migrate_1_to_3 : migrate_2_to_3, NULL, NULL, &msg) ||
		    sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg))
			goto db_failed;
		free(version);
		return 0;
	} else if (strcmp(version, STORE_SCHEMA)) {
		err = umap_error_set(UMAP_EINVALID,
				     "database '%s' has schema %s, which this umapsync (schema " STORE_SCHEMA
				     ") does not know: serve it with the umapsync that wrote it, or a later one",
				     path, version);
	}
	free(version);
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL); /* nothing was written */
	return err;
db_failed:
	err = umap_error_set(UMAP_EIO, "cannot bring database '%s' to schema " STORE_SCHEMA ": %s", path,
			     msg ? msg : sqlite3_errmsg(c->db));
	sqlite3_free(msg);
	free(version);
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

static int conn_open(struct conn *c, const char *path, int readonly)
{
	memset(c, 0, sizeof(*c));
	int flags = SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		int err = umap_error_set(UMAP_EIO, "cannot open database '%s': %s", path,
					 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		sqlite3_close(c->db);
		c->db = NULL;
		return err;
	}
	conn_init_statements(c);
	sqlite3_busy_timeout(c->db, 10000); /* `token create` may write while serving */
	sqlite3_extended_result_codes(c->db, 0);
	/* a reader's page cache (SQLite's default 2 MB) is memory per concurrent reader: a pull or
	 * snapshot reads its pages once, in key order, and the kernel's page cache keeps the
	 * file; the index pages that every lookup walks fit in this */
	if (readonly && sqlite3_exec(c->db, "PRAGMA cache_size=-" READER_CACHE_KB, NULL, NULL, NULL))
		return db_error(c, "setting up a read connection");
	if (!readonly) {
		char *msg = NULL;
		/* WAL: readers never block the writer; synchronous=FULL: COMMIT returns only once
		 * the WAL is fsynced, so an acknowledged push survives a crash or power cut. */
		/* a 32 MiB page cache: a push of thousands of ops touches many pages of the same
		 * B-trees in one transaction, which a small cache would spill and read back */
		/* the WAL cannot start over while a pull or snapshot holds a read transaction from
		 * before its last frames: pushes beside long reads grow it; once it starts over
		 * it is cut back to 16 MiB instead of keeping its largest size on disk */
		if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-32768;"
					"PRAGMA journal_size_limit=16777216;",
				 NULL, NULL, &msg) ||
		    sqlite3_exec(c->db, schema, NULL, NULL, &msg)) {
			int err = umap_error_set(UMAP_ECORRUPT, "cannot set up database '%s': %s", path,
						 msg ? msg : sqlite3_errmsg(c->db));
			sqlite3_free(msg);
			return err;
		}
		/* a store of a later schema is refused before anything is added to it */
		int err = migrate_schema(c, path);
		if (err)
			return err;
		if (add_options_key_column(c->db, &msg)) {
			err = umap_error_set(UMAP_ECORRUPT, "cannot set up database '%s': %s", path,
					     msg ? msg : sqlite3_errmsg(c->db));
			sqlite3_free(msg);
			return err;
		}
	}
	for (int i = 0; i < N_STMT; i++)
		if (sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->q[i].lite, NULL))
			return db_error(c, "preparing statements");
	return 0;
}

/* A damaged database would serve garbage or fail request by request: it is checked once
 * at open (every page's structure, not the contents of its records: PRAGMA quick_check). */
static int check_integrity(struct conn *c, const char *path)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(c->db, "PRAGMA quick_check(1)", -1, &s, NULL))
		return umap_error_set(UMAP_ECORRUPT, "database '%s' is damaged: %s: restore it from a backup",
				      path, sqlite3_errmsg(c->db));
	int rc = sqlite3_step(s), err = 0;
	const char *result = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
	if (!result || strcmp(result, "ok"))
		err = umap_error_set(UMAP_ECORRUPT, "database '%s' is damaged (%s): restore it from a backup",
				     path, result ? result : sqlite3_errmsg(c->db));
	sqlite3_finalize(s);
	/* the check read every page into the writer's cache: pages of no use to the pushes to
	 * come, which would stay in the server's memory until pushes pushed them out */
	sqlite3_db_release_memory(c->db);
	return err;
}

static int random_bytes(unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = getrandom(buf, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return umap_error_set_errno(UMAP_EIO, "cannot get random bytes");
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int store_new(umap_sync_store **out, const umap_sync_store_options *opts)
{
	umap_sync_store_options defaults = UMAP_SYNC_STORE_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	if (opts->version != UMAP_SYNC_STORE_OPTIONS_VERSION)
		return umap_error_set(UMAP_EUSAGE, "umap_sync_store_options: unknown version %u", opts->version);
	umap_sync_store *store = calloc(1, sizeof(*store));
	if (!store)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	store->opts = *opts;
	if (!store->opts.clock)
		store->opts.clock = umap_hlc_system_clock;
	pthread_mutex_init(&store->readers_lock, NULL);
	pthread_mutex_init(&store->queue_lock, NULL);
	pthread_cond_init(&store->queue_cond, NULL);
	store->queue_tail = &store->queue;
	*out = store;
	return 0;
}

static int store_open_pg(umap_sync_store **out, const char *url, const umap_sync_store_options *opts, int lazy)
{
	umap_sync_store *store;
	int err = store_new(&store, opts);
	if (err)
		return err;
	store->pg = 1;
	unsigned char nonce[6];
	if ((err = random_bytes(nonce, sizeof(nonce))) || !(store->path = strdup(url)) ||
	    (err = conn_open_pg(&store->w, store, lazy))) {
		if (!err)
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
		umap_sync_store_close(store);
		return err;
	}
	snprintf(store->origin, sizeof(store->origin), "%ld-%02x%02x%02x%02x%02x%02x", (long)getpid(), nonce[0],
		 nonce[1], nonce[2], nonce[3], nonce[4], nonce[5]);
	*out = store;
	return 0;
}

int umap_sync_store_open(umap_sync_store **out, const char *dir, const umap_sync_store_options *opts)
{
	*out = NULL;
	if (umap_pg_is_url(dir))
		return store_open_pg(out, dir, opts, opts && opts->lazy_connect);
	umap_sync_store *store;
	int err = store_new(&store, opts);
	if (err)
		return err;
	if ((err = umap_mkdir_p(dir, 0700))) {
		umap_sync_store_close(store);
		return err;
	}
	umap_buf path = UMAP_BUF_INIT;
	if (umap_buf_printf(&path, "%s/%s", dir, UMAP_SYNC_DB_NAME)) {
		umap_sync_store_close(store);
		return UMAP_ENOMEM;
	}
	store->path = umap_buf_detach(&path);
	if ((err = conn_open(&store->w, store->path, 0)) || (err = check_integrity(&store->w, store->path))) {
		umap_sync_store_close(store);
		return err;
	}
	*out = store;
	return 0;
}

int umap_sync_store_url_ok(const char *location)
{
	return umap_pg_is_url(location);
}

int umap_sync_store_is_pg(const umap_sync_store *store)
{
	return store->pg;
}

void umap_sync_store_close(umap_sync_store *store)
{
	if (!store)
		return;
	umap_pg_listen_stop(store->listener);
	for (struct reader *r = store->idle, *next; r; r = next) {
		next = r->next;
		conn_close(&r->c);
		free(r);
	}
	conn_close(&store->w); /* the last connection checkpoints the WAL */
	free(store->path);
	pthread_mutex_destroy(&store->readers_lock);
	pthread_mutex_destroy(&store->queue_lock);
	pthread_cond_destroy(&store->queue_cond);
	free(store);
}

/* A read connection for this thread: an idle one of the pool, or a new one. */
static int reader_get(struct conn **out, umap_sync_store *store)
{
	*out = NULL;
	pthread_mutex_lock(&store->readers_lock);
	struct reader *r = store->idle;
	if (r) {
		store->idle = r->next;
		store->nidle--;
	}
	pthread_mutex_unlock(&store->readers_lock);
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		int err = store->pg ? conn_open_pg(&r->c, store, 0) : conn_open(&r->c, store->path, 1);
		if (err) {
			conn_close(&r->c);
			free(r);
			return err;
		}
	}
	*out = &r->c;
	return 0;
}

static void reader_put(umap_sync_store *store, struct conn *c)
{
	if (!c)
		return;
	struct reader *r = (struct reader *)(void *)c;
	pthread_mutex_lock(&store->readers_lock);
	if (store->nidle < READERS_KEPT) {
		r->next = store->idle;
		store->idle = r;
		store->nidle++;
		r = NULL;
	}
	pthread_mutex_unlock(&store->readers_lock);
	if (r) {
		conn_close(&r->c);
		free(r);
	}
}

/* A commit another process announced through PostgreSQL. */
static void on_remote_commit(void *ctx, const char *map, int64_t head)
{
	umap_sync_store *store = ctx;
	if (store->on_commit)
		store->on_commit(store->on_commit_ctx, map, head);
}

void umap_sync_store_on_commit(umap_sync_store *store, umap_sync_commit_fn fn, void *ctx)
{
	umap_pg_listen_stop(store->listener); /* before the callback it calls changes */
	store->listener = NULL;
	store->on_commit = fn;
	store->on_commit_ctx = ctx;
	if (fn && store->pg &&
	    umap_pg_listen_start(&store->listener, store->path, "umapsync", store->origin, on_remote_commit, store))
		store->listener = NULL; /* without it, long-polls still end at their deadline */
}

/* One place that turns trees into stored text: numbers in their shortest round-trip form
 * (as JavaScript prints them), key order kept. */
static char *dump_compact(const json_t *value)
{
	return umap_json_dumps(value, UMAP_JSON_COMPACT);
}

/* Stored text is read back with the project's parser, which keeps a "\u0000" inside a
 * string or a member name (jansson's json_loads refuses it without JSON_ALLOW_NUL and cuts
 * member names at it), so a value holding one can still be updated later. */
static json_t *load_stored(const char *text)
{
	json_t *value = NULL;
	if (text)
		umap_json_loadb(&value, text, strlen(text), "stored state");
	return value;
}

/* ---- Access ---------------------------------------------------------------------------- */

void umap_sync_grant_dispose(umap_sync_grant *grant)
{
	for (size_t i = 0; i < grant->nlayers; i++)
		free(grant->layers[i]);
	free(grant->layers);
	grant->layers = NULL;
	grant->nlayers = 0;
}

int umap_sync_grant_can_read(const umap_sync_grant *grant, const char *layer)
{
	if (grant->all_layers || !layer || !*layer)
		return 1;
	for (size_t i = 0; i < grant->nlayers; i++)
		if (!strcmp(grant->layers[i], layer))
			return 1;
	return 0;
}

int umap_sync_grant_can_write(const umap_sync_grant *grant, const char *layer)
{
	if (!grant->write)
		return 0;
	if (!layer || !*layer)
		return grant->all_layers;
	return umap_sync_grant_can_read(grant, layer);
}

/* Whether a token was ever created. Once one was, it stays so (revoking does not delete
 * rows), so a yes is kept and later requests ask the database no more. */
static int auth_required(umap_sync_store *store, int *required)
{
	if (__atomic_load_n(&store->tokens_exist, __ATOMIC_ACQUIRE)) {
		*required = 1;
		return 0;
	}
	*required = 1; /* fail closed */
	struct conn *c;
	int err = reader_get(&c, store);
	if (err)
		return err;
	struct q *s = stmt(c, S_TOKEN_ANY);
	int rc = q_step(s);
	if (rc == Q_ROW)
		*required = q_int64(s, 0) != 0;
	else
		err = db_error(c, "reading tokens");
	q_reset(s);
	reader_put(store, c);
	if (!err && *required)
		__atomic_store_n(&store->tokens_exist, 1, __ATOMIC_RELEASE);
	return err;
}

int umap_sync_store_auth_required(umap_sync_store *store)
{
	int required;
	auth_required(store, &required);
	return required;
}

static int grant_set_layers(umap_sync_grant *grant, const char *layers_json)
{
	grant->all_layers = 1;
	if (!layers_json)
		return 0;
	json_t *arr = load_stored(layers_json);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return umap_error_set(UMAP_ECORRUPT, "stored token has a damaged layer list");
	}
	grant->all_layers = 0;
	size_t n = json_array_size(arr);
	grant->layers = calloc(n ? n : 1, sizeof(char *));
	if (!grant->layers) {
		json_decref(arr);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const char *l = json_string_value(json_array_get(arr, i));
		if (!l || !(grant->layers[grant->nlayers] = strdup(l))) {
			json_decref(arr);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		grant->nlayers++;
	}
	json_decref(arr);
	return 0;
}

int umap_sync_store_authorize(umap_sync_grant *out, umap_sync_store *store, const char *map,
			      const char *token, int force_auth)
{
	umap_sync_grant empty = UMAP_SYNC_GRANT_INIT;
	*out = empty;
	int required = 1, err = force_auth ? 0 : auth_required(store, &required);
	if (err)
		return err; /* the database is away: not a refusal (503, not 401) */
	if (!required) {
		out->write = out->all_layers = 1;
		return 0;
	}
	if (!token || !*token)
		return umap_error_set(UMAP_EAUTH, "this server needs a token: send \"Authorization: Bearer TOKEN\"");
	if (strlen(token) > UMAP_SYNC_TOKEN_MAX)
		return umap_error_set(UMAP_EAUTH, "invalid or revoked token");
	char hash[UMAP_SHA256_HEX];
	umap_sha256_hex(hash, token, strlen(token));

	struct conn *c;
	int found = 0;
	err = reader_get(&c, store);
	char *token_map = NULL, *layers = NULL;
	if (err) {
		memset(hash, 0, sizeof(hash));
		return err;
	}
	struct q *s = stmt(c, S_TOKEN_ACTIVE);
	bind_text(s, 1, hash);
	int rc;
	/* looked up by the SHA-256 of the token: the index's timing can only tell about a
	 * hash, which says nothing of the secret; the row found is still compared in
	 * constant time so that no code path compares secrets byte by byte */
	while ((rc = q_step(s)) == Q_ROW) {
		const char *h = q_text(s, 1);
		if (h && umap_secure_equal(h, strlen(h), hash, strlen(hash)) && !found) {
			found = 1;
			const char *id = q_text(s, 0);
			snprintf(out->token_id, sizeof(out->token_id), "%s", id ? id : "");
			token_map = strdup(q_text(s, 2));
			const char *l = q_text(s, 3);
			layers = l ? strdup(l) : NULL;
			const char *access = q_text(s, 4);
			out->write = access && !strcmp(access, "write");
			if (!token_map || (l && !layers))
				err = umap_error_set(UMAP_ENOMEM, "out of memory");
		}
	}
	if (rc != Q_DONE && !err)
		err = db_error(c, "reading tokens");
	q_reset(s);
	reader_put(store, c);
	memset(hash, 0, sizeof(hash));
	if (!err && !found)
		err = umap_error_set(UMAP_EAUTH, "invalid or revoked token");
	if (!err && strcmp(token_map, map))
		err = umap_error_set(UMAP_ECONFLICT, "this token does not give access to map '%s'", map);
	if (!err)
		err = grant_set_layers(out, layers);
	free(token_map);
	free(layers);
	if (err)
		umap_sync_grant_dispose(out);
	return err;
}

int umap_sync_token_create(char **token_out, char id_out[17], umap_sync_store *store,
			   const char *map, const char *const *layers, size_t nlayers, int write)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	*token_out = NULL;
	if (!umap_sync_valid_name(map, UMAP_SYNC_NAME_MAX))
		return umap_error_set(UMAP_EINVALID, "invalid map name '%s': use 1 to %d characters of A-Z a-z 0-9 _ -",
				      map, UMAP_SYNC_NAME_MAX);
	for (size_t i = 0; i < nlayers; i++)
		if (!umap_sync_valid_name(layers[i], UMAP_SYNC_LAYER_MAX))
			return umap_error_set(UMAP_EINVALID, "invalid layer id '%s': use 1 to %d characters of A-Z a-z 0-9 _ -",
					      layers[i], UMAP_SYNC_LAYER_MAX);
	unsigned char secret[32], idbytes[8];
	int err = random_bytes(secret, sizeof(secret));
	if (err || (err = random_bytes(idbytes, sizeof(idbytes))))
		return err;
	/* prefix + 43 base64url characters = 256 random bits */
	char token[sizeof(UMAP_SYNC_TOKEN_PREFIX) + 44];
	size_t n = strlen(UMAP_SYNC_TOKEN_PREFIX);
	memcpy(token, UMAP_SYNC_TOKEN_PREFIX, n);
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < sizeof(secret); i++) {
		acc = acc << 8 | secret[i];
		bits += 8;
		while (bits >= 6) {
			token[n++] = b64url[(acc >> (bits - 6)) & 63];
			bits -= 6;
		}
	}
	if (bits)
		token[n++] = b64url[(acc << (6 - bits)) & 63];
	token[n] = '\0';
	memset(secret, 0, sizeof(secret));
	for (int i = 0; i < 8; i++)
		snprintf(id_out + 2 * i, 3, "%02x", idbytes[i]);
	char hash[UMAP_SHA256_HEX];
	umap_sha256_hex(hash, token, n);

	char *layers_json = NULL;
	if (nlayers) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < nlayers; i++)
			json_array_append_new(arr, json_string(layers[i]));
		layers_json = arr ? dump_compact(arr) : NULL;
		json_decref(arr);
		if (!layers_json)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	struct conn *c = &store->w;
	pthread_mutex_lock(&c->lock);
	struct q *s = stmt(c, S_TOKEN_INSERT);
	bind_text(s, 1, id_out);
	bind_text(s, 2, hash);
	bind_text(s, 3, map);
	bind_text(s, 4, layers_json);
	bind_text(s, 5, write ? "write" : "read");
	bind_int64(s, 6, now_ms(store));
	err = step_done(c, s, "storing the token");
	pthread_mutex_unlock(&c->lock);
	free(layers_json);
	if (err)
		return err;
	if (!(*token_out = strdup(token)))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	memset(token, 0, sizeof(token));
	return 0;
}

static json_t *iso_time(struct q *s, int col)
{
	if (q_isnull(s, col))
		return json_null();
	time_t t = (time_t)(q_int64(s, col) / 1000);
	struct tm tm;
	char buf[32];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

int umap_sync_token_list(json_t **out, umap_sync_store *store)
{
	struct conn *c;
	int rc, err = reader_get(&c, store);
	if (err)
		return err;
	json_t *list = json_array();
	if (!list) {
		reader_put(store, c);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	struct q *s = stmt(c, S_TOKEN_LIST);
	while ((rc = q_step(s)) == Q_ROW) {
		const char *layers = q_text(s, 2);
		json_t *row = json_pack("{s:s, s:s, s:o, s:s, s:o, s:o}",
					"id", q_text(s, 0),
					"map", q_text(s, 1),
					"layers", layers ? load_stored(layers) : json_null(),
					"access", q_text(s, 3),
					"created", iso_time(s, 4), "revoked", iso_time(s, 5));
		if (!row || json_array_append_new(list, row)) {
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
			break;
		}
	}
	if (!err && rc != Q_DONE)
		err = db_error(c, "listing tokens");
	q_reset(s);
	reader_put(store, c);
	if (err) {
		json_decref(list);
		return err;
	}
	*out = list;
	return 0;
}

int umap_sync_token_revoke(umap_sync_store *store, const char *id)
{
	struct conn *c = &store->w;
	pthread_mutex_lock(&c->lock);
	struct q *s = stmt(c, S_TOKEN_REVOKE);
	bind_text(s, 1, id);
	bind_int64(s, 2, now_ms(store));
	int err = step_done(c, s, "revoking the token");
	int changed = c->changes;
	pthread_mutex_unlock(&c->lock);
	if (err)
		return err;
	if (!changed)
		return umap_error_set(UMAP_ENOTFOUND, "no active token with id '%s' (see 'umapsync token list')", id);
	return 0;
}

/* ---- Reading maps ----------------------------------------------------------------------- */

/* head/floor/props of a map; UMAP_ENOTFOUND when it does not exist. */
static int map_get(struct conn *c, const char *map, int64_t *head, int64_t *floor, char **props)
{
	struct q *s = stmt(c, S_MAP_GET);
	bind_text(s, 1, map);
	int rc = q_step(s), err = 0;
	if (rc == Q_ROW) {
		*head = q_int64(s, 0);
		*floor = q_int64(s, 1);
		if (props) {
			const char *p = q_text(s, 2);
			*props = p ? strdup(p) : NULL;
			if (p && !*props)
				err = umap_error_set(UMAP_ENOMEM, "out of memory");
		}
	} else if (rc == Q_DONE) {
		err = umap_error_set(UMAP_ENOTFOUND, "no map named '%s' on this server (the first push creates it)", map);
	} else {
		err = db_error(c, "reading the map");
	}
	q_reset(s);
	return err;
}

int umap_sync_store_floor(int64_t *out, umap_sync_store *store, const char *map)
{
	int64_t head;
	struct conn *c;
	int err = reader_get(&c, store);
	if (!err)
		err = map_get(c, map, &head, out, NULL);
	reader_put(store, c);
	return err;
}

int umap_sync_store_head(int64_t *out, umap_sync_store *store, const char *map)
{
	int64_t floor;
	struct conn *c;
	int err = reader_get(&c, store);
	if (!err)
		err = map_get(c, map, out, &floor, NULL);
	reader_put(store, c);
	return err;
}

static int put_json_string(umap_buf *out, const char *s)
{
	json_t *str = json_string(s);
	char *text = str ? dump_compact(str) : NULL;
	json_decref(str);
	if (!text)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	int err = umap_buf_puts(out, text);
	free(text);
	return err;
}

static int put_column(umap_buf *out, struct q *s, int col)
{
	if (q_isnull(s, col))
		return umap_buf_puts(out, "null");
	return umap_buf_put(out, q_text(s, col), q_bytes(s, col));
}

/* ---- Streamed answers ------------------------------------------------------------------ */

/* A pull or snapshot answer, produced a piece at a time from its own read connection and
 * read transaction (one consistent committed state, however slowly the client reads). */
struct umap_sync_stream {
	umap_sync_store *store;
	struct conn *c;
	int snapshot;
	int in_txn;
	char map[UMAP_SYNC_NAME_MAX + 1];
	umap_sync_grant grant;
	umap_buf pending; /* produced, not yet read; from `sent` on */
	size_t sent;
	int done;
	/* pull */
	struct q *ops;
	int64_t since, limit, head, last;
	size_t count;
	int written;
	/* snapshot: the readable layers as [id, filename, options, options_key] rows, the one being written */
	json_t *layers;
	size_t layer;
	struct q *features;
	int64_t ord;       /* the last feature's place in its layer */
	size_t page_rows;  /* rows of the current page (of ops or of features) read so far */
};

/* Streams read their rows a page at a time (keyset pages, inside the stream's one read
 * transaction, so they see one state): libpq takes a whole result into memory, so a
 * snapshot of a layer of a million features on PostgreSQL holds this many, not all. */
#define STREAM_PAGE_ROWS 512

static int grant_copy(umap_sync_grant *out, const umap_sync_grant *grant)
{
	*out = *grant;
	out->layers = NULL;
	out->nlayers = 0;
	if (!grant->nlayers)
		return 0;
	if (!(out->layers = calloc(grant->nlayers, sizeof(char *))))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; i < grant->nlayers; i++, out->nlayers++)
		if (!(out->layers[i] = strdup(grant->layers[i])))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
	return 0;
}

void umap_sync_stream_close(umap_sync_stream *st)
{
	if (!st)
		return;
	if (st->ops)
		q_reset(st->ops);
	if (st->features)
		q_reset(st->features);
	if (st->in_txn)
		exec_simple(st->c, S_COMMIT);
	reader_put(st->store, st->c);
	umap_sync_grant_dispose(&st->grant);
	umap_buf_dispose(&st->pending);
	json_decref(st->layers);
	free(st);
}

/* A stream on a read connection inside a read transaction, and the map's row. */
static int stream_open(umap_sync_stream **out, umap_sync_store *store, const char *map,
		       const umap_sync_grant *grant, int64_t *head, int64_t *floor, char **props)
{
	*out = NULL;
	if (!umap_sync_valid_name(map, UMAP_SYNC_NAME_MAX))
		return umap_error_set(UMAP_EINVALID, "invalid map name: use 1 to %d characters of A-Z a-z 0-9 _ -",
				      UMAP_SYNC_NAME_MAX);
	umap_sync_stream *st = calloc(1, sizeof(*st));
	if (!st)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	st->store = store;
	snprintf(st->map, sizeof(st->map), "%s", map);
	int err = grant_copy(&st->grant, grant);
	if (!err)
		err = reader_get(&st->c, store);
	/* one read transaction: the map's row and everything after come from one state */
	if (!err && !(err = exec_simple(st->c, S_BEGIN)))
		st->in_txn = 1;
	if (!err)
		err = map_get(st->c, map, head, floor, props);
	if (err) {
		umap_sync_stream_close(st);
		return err;
	}
	*out = st;
	return 0;
}

int umap_sync_store_pull_open(umap_sync_stream **out, int64_t *head, umap_sync_store *store,
			      const char *map, const umap_sync_grant *grant, int64_t since, int64_t limit)
{
	int64_t floor = 0;
	umap_sync_stream *st;
	*out = NULL;
	*head = 0;
	int err = stream_open(&st, store, map, grant, head, &floor, NULL);
	if (err)
		return err;
	if (since < floor)
		err = umap_error_set(UMAP_ELIMIT,
				     "cursor %lld is older than the oldest op kept (%lld): take a snapshot",
				     (long long)since, (long long)floor);
	else if (since > *head)
		err = umap_error_set(UMAP_ELIMIT,
				     "cursor %lld is ahead of this map's head (%lld): the server was reset or is another one; take a snapshot",
				     (long long)since, (long long)*head);
	else
		err = umap_buf_puts(&st->pending, "{\"ops\":[");
	if (err) {
		umap_sync_stream_close(st);
		return err;
	}
	st->since = st->last = since;
	st->limit = limit;
	st->head = *head;
	*out = st;
	return 0;
}

/* The next page of a pull's ops, after the last one read. */
static void pull_page(umap_sync_stream *st)
{
	int64_t left = st->limit - (int64_t)st->count;
	st->ops = stmt(st->c, S_OP_RANGE);
	bind_text(st->ops, 1, st->map);
	bind_int64(st->ops, 2, st->last);
	bind_int64(st->ops, 3, left < STREAM_PAGE_ROWS ? left : STREAM_PAGE_ROWS);
	st->page_rows = 0;
}

/* The next op (or the end) of a pull. */
static int pull_step(umap_sync_stream *st)
{
	umap_buf *out = &st->pending;
	if (!st->ops)
		pull_page(st);
	int rc = q_step(st->ops);
	if (rc == Q_DONE && st->page_rows == STREAM_PAGE_ROWS && (int64_t)st->count < st->limit) {
		pull_page(st); /* a full page: there may be more */
		rc = q_step(st->ops);
	}
	if (rc == Q_ROW) {
		st->page_rows++;
		st->last = q_int64(st->ops, 0);
		st->count++;
		if (!umap_sync_grant_can_read(&st->grant, q_text(st->ops, 1)))
			return 0;
		int err = st->written++ ? umap_buf_putc(out, ',') : 0;
		return err ? err : umap_buf_put(out, q_text(st->ops, 2),
					       q_bytes(st->ops, 2));
	}
	if (rc != Q_DONE)
		return db_error(st->c, "reading ops");
	q_reset(st->ops);
	st->ops = NULL;
	st->done = 1;
	int more = (int64_t)st->count == st->limit && st->last < st->head;
	return umap_buf_printf(out, "],\"cursor\":%lld,\"more\":%s}", (long long)st->last, more ? "true" : "false");
}

int umap_sync_store_snapshot_open(umap_sync_stream **out, umap_sync_store *store, const char *map,
				  const umap_sync_grant *grant)
{
	int64_t head = 0, floor = 0;
	char *props = NULL;
	umap_sync_stream *st;
	*out = NULL;
	int err = stream_open(&st, store, map, grant, &head, &floor, &props), rc = Q_DONE;
	if (err)
		return err;
	st->snapshot = 1;
	umap_buf *text = &st->pending;
	err = umap_buf_puts(text, "{\"map\":");
	if (!err)
		err = put_json_string(text, map);
	if (!err)
		err = umap_buf_printf(text, ",\"cursor\":%lld,\"properties\":%s,\"layers\":[", (long long)head,
				      props ? props : "null");
	free(props);
	/* the layer list (small) is copied out first; each layer's features are then read
	 * as the answer is sent */
	if (!err && !(st->layers = json_array()))
		err = umap_error_set(UMAP_ENOMEM, "out of memory");
	struct q *s = stmt(st->c, S_LAYER_LIST);
	bind_text(s, 1, st->map);
	while (!err && (rc = q_step(s)) == Q_ROW) {
		const char *id = q_text(s, 0);
		if (!umap_sync_grant_can_read(&st->grant, id))
			continue;
		const char *filename = q_text(s, 1);
		const char *options = q_text(s, 2);
		const char *options_key = q_text(s, 3);
		json_t *row = json_pack("[s, s?, s?, s?]", id, filename, options, options_key);
		if (!row || json_array_append_new(st->layers, row))
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	if (!err && rc != Q_DONE && rc != Q_ROW)
		err = db_error(st->c, "reading layers");
	q_reset(s);
	if (err) {
		umap_sync_stream_close(st);
		return err;
	}
	*out = st;
	return 0;
}

/* The next page of the features of the snapshot's current layer, after the last one read. */
static void feature_page(umap_sync_stream *st)
{
	const char *id = json_string_value(json_array_get(json_array_get(st->layers, st->layer), 0));
	st->features = stmt(st->c, S_FEATURE_LIST);
	bind_text(st->features, 1, st->map);
	bind_text(st->features, 2, id);
	bind_int64(st->features, 3, st->ord);
	bind_int64(st->features, 4, STREAM_PAGE_ROWS);
	st->page_rows = 0;
}

/* The next feature of a snapshot, or the head or end of a layer, or the end. */
static int snapshot_step(umap_sync_stream *st)
{
	umap_buf *out = &st->pending;
	int err = 0;
	if (!st->features) {
		if (st->layer == json_array_size(st->layers)) {
			st->done = 1;
			return umap_buf_puts(out, "]}");
		}
		json_t *row = json_array_get(st->layers, st->layer);
		const char *id = json_string_value(json_array_get(row, 0));
		const char *filename = json_string_value(json_array_get(row, 1));
		const char *options = json_string_value(json_array_get(row, 2));
		const char *options_key = json_string_value(json_array_get(row, 3));
		err = umap_buf_printf(out, "%s{\"id\":", st->layer ? "," : "");
		if (!err)
			err = put_json_string(out, id);
		if (!err)
			err = umap_buf_puts(out, ",\"filename\":");
		if (!err)
			err = filename ? put_json_string(out, filename) : umap_buf_puts(out, "null");
		/* umapsync's own: uMap clients ignore a member they do not know */
		if (!err && options_key && umap_sync_valid_options_key(options_key))
			err = umap_buf_printf(out, ",\"optionsKey\":\"%s\"", options_key);
		if (!err)
			err = umap_buf_printf(out, ",\"options\":%s,\"features\":[", options ? options : "null");
		st->ord = INT64_MIN;
		feature_page(st);
		st->written = 0;
		return err;
	}
	int rc = q_step(st->features);
	if (rc == Q_DONE && st->page_rows == STREAM_PAGE_ROWS) {
		feature_page(st); /* a full page: there may be more */
		rc = q_step(st->features);
	}
	if (rc == Q_ROW) {
		st->page_rows++;
		st->ord = q_int64(st->features, 1);
		err = st->written++ ? umap_buf_putc(out, ',') : 0;
		return err ? err : put_column(out, st->features, 0);
	}
	if (rc != Q_DONE)
		return db_error(st->c, "reading features");
	q_reset(st->features);
	st->features = NULL;
	st->layer++;
	return umap_buf_puts(out, "]}");
}

int umap_sync_stream_read(umap_sync_stream *st, char *buf, size_t max, size_t *n)
{
	*n = 0;
	if (st->sent) { /* what was read goes: the answer in memory stays about one row */
		memmove(st->pending.ptr, st->pending.ptr + st->sent, st->pending.len - st->sent);
		st->pending.len -= st->sent;
		st->sent = 0;
	}
	while (st->pending.len < max && !st->done) {
		int err = st->snapshot ? snapshot_step(st) : pull_step(st);
		if (err)
			return err;
	}
	size_t avail = st->pending.len - st->sent;
	*n = avail < max ? avail : max;
	memcpy(buf, st->pending.ptr + st->sent, *n);
	st->sent += *n;
	return 0;
}

int64_t umap_sync_stream_cursor(const umap_sync_stream *st)
{
	return st->last;
}

/* Bytes of SQLite page cache a connection holds now (PostgreSQL's are the database's). */
static int64_t conn_cache_bytes(const struct conn *c)
{
	int used = 0, highest = 0;
	if (!c || !c->db || sqlite3_db_status(c->db, SQLITE_DBSTATUS_CACHE_USED, &used, &highest, 0))
		return 0;
	return used;
}

int64_t umap_sync_stream_cache_bytes(const umap_sync_stream *st)
{
	return conn_cache_bytes(st->c);
}

int64_t umap_sync_store_cache_bytes(umap_sync_store *store)
{
	int64_t bytes = conn_cache_bytes(&store->w);
	pthread_mutex_lock(&store->readers_lock);
	for (const struct reader *r = store->idle; r; r = r->next)
		bytes += conn_cache_bytes(&r->c);
	pthread_mutex_unlock(&store->readers_lock);
	return bytes;
}

int umap_sync_stream_read_all(umap_buf *out, umap_sync_stream *st)
{
	char chunk[65536];
	size_t n;
	int err;
	while (!(err = umap_sync_stream_read(st, chunk, sizeof(chunk), &n)) && n)
		if ((err = umap_buf_put(out, chunk, n)))
			break;
	return err;
}

int umap_sync_store_pull(umap_buf *out, int64_t *cursor, umap_sync_store *store, const char *map,
			 const umap_sync_grant *grant, int64_t since, int64_t limit)
{
	umap_sync_stream *st;
	int64_t head;
	umap_buf_clear(out);
	*cursor = since;
	int err = umap_sync_store_pull_open(&st, &head, store, map, grant, since, limit);
	if (err)
		return err;
	err = umap_sync_stream_read_all(out, st);
	*cursor = umap_sync_stream_cursor(st);
	umap_sync_stream_close(st);
	return err;
}

int umap_sync_store_snapshot(umap_buf *out, umap_sync_store *store, const char *map,
			     const umap_sync_grant *grant)
{
	umap_sync_stream *st;
	umap_buf_clear(out);
	int err = umap_sync_store_snapshot_open(&st, store, map, grant);
	if (err)
		return err;
	err = umap_sync_stream_read_all(out, st);
	umap_sync_stream_close(st);
	return err;
}

/* ---- Pushing ---------------------------------------------------------------------------- */

static int add_conflict(json_t *conflicts, const umap_sync_op *op, const char *key, const char *reason)
{
	json_t *entry = json_object();
	json_t *id = op->feature ? load_stored(op->feature) : json_null();
	const char *k = op->key ? op->key : key && *key ? key : NULL;
	if (!entry || !id ||
	    json_object_set_new(entry, "layer", *op->layer ? json_string(op->layer) : json_null()) ||
	    json_object_set_new(entry, "id", id) ||
	    json_object_set_new(entry, "key", k ? json_string(k) : json_null()) ||
	    json_object_set_new(entry, "op_id", json_string(op->op_id)) ||
	    (reason && json_object_set_new(entry, "reason", json_string(reason))) ||
	    json_array_append_new(conflicts, entry)) {
		json_decref(entry);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	return 0;
}

/* The row an op leaves in `changes`: (feature, key) under its layer. */
static void change_scope(const umap_sync_op *op, const char **feature, const char **key)
{
	*feature = op->subject == UMAP_SYNC_FEATURE ? op->feature : "";
	*key = op->verb == UMAP_SYNC_UPDATE ? op->key : "";
	if (op->subject == UMAP_SYNC_DATALAYER && op->verb == UMAP_SYNC_DELETE)
		*feature = "*";
}

/* 1 when a realtime update is older (by parsed clock) than the latest logged change of its
 * key, parent key or entity: uMap's peers settle such races by clock, so the state keeps
 * the newer value (the op is still logged and relayed). Changes pruned from the log count
 * as older. */
static int is_stale(struct conn *c, const struct push_job *job, const umap_sync_op *op)
{
	if (op->verb != UMAP_SYNC_UPDATE)
		return 0;
	const char *feature, *key;
	change_scope(op, &feature, &key);
	struct q *s = stmt(c, S_LATEST_KEY);
	bind_text(s, 1, job->map);
	bind_text(s, 2, op->layer);
	bind_text(s, 3, feature);
	bind_text(s, 4, key);
	int stale = 0, rc = q_step(s);
	if (rc == Q_ROW) {
		json_t *body = load_stored(q_text(s, 0));
		umap_hlc_ts latest;
		stale = body && !umap_hlc_parse(&latest, json_string_value(json_object_get(body, "hlc"))) &&
			umap_hlc_compare(&latest, &op->hlc) > 0;
		json_decref(body);
	} else if (rc != Q_DONE) {
		stale = db_error(c, "reading the latest change of a key");
	}
	q_reset(s);
	return stale;
}

/* Another client's change after `base` that this op would overwrite: 1 and its key. */
static int find_conflict(struct conn *c, const struct push_job *job, const umap_sync_op *op,
			 char *key_out, size_t key_size)
{
	const char *feature, *key;
	change_scope(op, &feature, &key);
	struct q *s;
	if (op->verb == UMAP_SYNC_UPDATE) {
		s = stmt(c, S_CONFLICT_KEY);
		bind_text(s, 1, job->map);
		bind_text(s, 2, op->layer);
		bind_text(s, 3, feature);
		bind_text(s, 4, key);
		bind_int64(s, 5, job->base);
		bind_text(s, 6, job->client);
	} else if (op->subject == UMAP_SYNC_DATALAYER && op->verb == UMAP_SYNC_DELETE) {
		s = stmt(c, S_CONFLICT_LAYER);
		bind_text(s, 1, job->map);
		bind_text(s, 2, op->layer);
		bind_int64(s, 3, job->base);
		bind_text(s, 4, job->client);
	} else {
		s = stmt(c, S_CONFLICT_WHOLE);
		bind_text(s, 1, job->map);
		bind_text(s, 2, op->layer);
		bind_text(s, 3, feature);
		bind_int64(s, 4, job->base);
		bind_text(s, 5, job->client);
	}
	int rc = q_step(s), found = 0;
	if (rc == Q_ROW) {
		found = 1;
		snprintf(key_out, key_size, "%s", q_text(s, 0));
	} else if (rc != Q_DONE) {
		found = db_error(c, "checking conflicts");
	}
	q_reset(s);
	return found;
}

static int applied_seq(struct conn *c, const struct push_job *job, const umap_sync_op *op, int64_t *seq)
{
	struct q *s = stmt(c, S_APPLIED_GET);
	bind_text(s, 1, job->map);
	bind_text(s, 2, job->client);
	bind_text(s, 3, op->op_id);
	int rc = q_step(s), found = 0;
	if (rc == Q_ROW) {
		found = 1;
		*seq = q_int64(s, 0);
	} else if (rc != Q_DONE) {
		found = db_error(c, "checking retried ops");
	}
	q_reset(s);
	return found;
}

/* Reads a stored JSON object (NULL column: an empty object). */
static int load_object(struct conn *c, struct q *s, json_t **out, int *exists)
{
	int rc = q_step(s), err = 0;
	*out = NULL;
	*exists = rc == Q_ROW;
	if (rc == Q_ROW) {
		const char *text = q_text(s, 0);
		*out = text ? load_stored(text) : json_object();
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			err = umap_error_set(UMAP_ECORRUPT, "stored state is damaged (not a JSON object)");
		}
	} else if (rc != Q_DONE) {
		err = db_error(c, "reading state");
	}
	q_reset(s);
	return err;
}

static int store_text(struct conn *c, struct q *s, int col, const json_t *value, const char *what)
{
	char *text = dump_compact(value);
	if (!text)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	bind_copy(s, col, text);
	free(text);
	return step_done(c, s, what);
}

static int ensure_layer(struct conn *c, const char *map, const char *layer)
{
	struct q *s = stmt(c, S_LAYER_ENSURE);
	bind_text(s, 1, map);
	bind_text(s, 2, layer);
	return step_done(c, s, "creating the layer");
}

/* Whether a stored layer is uMap's datalayer value {id, rank, parent, properties} (clients
 * that know group layers send that) rather than its options alone. */
static int layer_is_spec(const json_t *obj)
{
	return json_is_object(json_object_get(obj, "properties")) &&
	       (json_object_get(obj, "rank") || json_object_get(obj, "parent"));
}

/* Where a datalayer key goes in the stored layer: "parentId" and "rank" are the place of
 * a group layer's child ("parent", "rank" of the spec); an option key without its first
 * part ("options.color" edits options.color), or within the spec's "properties". */
static const char *layer_option_key(const json_t *obj, const char *key, char *buf, size_t size)
{
	if (!strcmp(key, "parentId"))
		return "parent";
	if (!strcmp(key, "rank"))
		return "rank";
	const char *dot = strchr(key, '.');
	if (!dot)
		return key;
	if (!layer_is_spec(obj))
		return dot + 1;
	snprintf(buf, size, "properties.%s", dot + 1);
	return buf;
}

/* Applies one op to the materialised state. *missing is set for an update of a feature
 * that does not exist (reported as a conflict: the client's view is stale); *added for an
 * upsert, which may add a feature (its layer's size is checked after the push). A feature
 * upsert keeps `seq` (the op's place in the log) and `client` in the feature's row. */
static int apply_op(struct conn *c, const struct push_job *job, const umap_sync_op *op, int64_t seq,
		    int *missing, int *added, char ensured[UMAP_SYNC_LAYER_MAX + 1], const char *value_text)
{
	const char *map = job->map;
	struct q *s;
	json_t *obj = NULL;
	int exists = 0, err = 0;
	*missing = 0;
	*added = 0;
	switch (op->subject) {
	case UMAP_SYNC_FEATURE:
		if (op->verb == UMAP_SYNC_DELETE) {
			s = stmt(c, S_FEATURE_DELETE);
			bind_text(s, 1, map);
			bind_text(s, 2, op->layer);
			bind_text(s, 3, op->feature);
			return step_done(c, s, "deleting a feature");
		}
		if (op->verb == UMAP_SYNC_UPDATE) {
			s = stmt(c, S_FEATURE_GET);
			bind_text(s, 1, map);
			bind_text(s, 2, op->layer);
			bind_text(s, 3, op->feature);
			if ((err = load_object(c, s, &obj, &exists)))
				return err;
			if (!exists) {
				*missing = 1;
				return 0;
			}
			err = umap_sync_set_path(obj, op->key, op->value);
		} else if (json_object_get(op->value, "id")) {
			obj = json_incref(op->value); /* stored as sent: no copy needed */
		} else {
			obj = umap_json_copy(op->value, 1);
			if (!obj)
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			err = json_object_set_new(obj, "id", load_stored(op->feature)) ? UMAP_ENOMEM : 0;
		}
		*added = op->verb == UMAP_SYNC_UPSERT;
		/* an upsert inserts or replaces in one statement; its layer is made to exist once
		 * per push (a layer deleted by the push forgets that) */
		if (!err && op->verb == UMAP_SYNC_UPSERT && strcmp(ensured, op->layer)) {
			err = ensure_layer(c, map, op->layer);
			snprintf(ensured, UMAP_SYNC_LAYER_MAX + 1, "%s", op->layer);
		}
		if (!err) {
			s = stmt(c, op->verb == UMAP_SYNC_UPDATE ? S_FEATURE_UPDATE : S_FEATURE_UPSERT);
			bind_text(s, 1, map);
			bind_text(s, 2, op->layer);
			bind_text(s, 3, op->feature);
			if (op->verb == UMAP_SYNC_UPSERT) {
				bind_int64(s, 5, seq);
				bind_text(s, 6, job->client);
			}
			if (obj == op->value && value_text) {
				bind_text(s, 4, value_text);
				err = step_done(c, s, "writing a feature");
			} else {
				err = store_text(c, s, 4, obj, "writing a feature");
			}
		}
		json_decref(obj);
		return err;
	case UMAP_SYNC_DATALAYER:
		if (op->verb == UMAP_SYNC_DELETE) {
			ensured[0] = '\0';
			s = stmt(c, S_FEATURE_DELETE_LAYER);
			bind_text(s, 1, map);
			bind_text(s, 2, op->layer);
			if ((err = step_done(c, s, "deleting a layer")))
				return err;
			s = stmt(c, S_LAYER_DELETE);
			bind_text(s, 1, map);
			bind_text(s, 2, op->layer);
			return step_done(c, s, "deleting a layer");
		}
		if ((err = ensure_layer(c, map, op->layer)))
			return err;
		if (op->verb == UMAP_SYNC_UPDATE && !strcmp(op->key, "referenceVersion")) {
			return 0; /* uMap's: logged and relayed, not materialised */
		} else if (op->verb == UMAP_SYNC_UPDATE) {
			s = stmt(c, S_LAYER_GET);
			bind_text(s, 1, map);
			bind_text(s, 2, op->layer);
			if ((err = load_object(c, s, &obj, &exists)))
				return err;
			char path[UMAP_SYNC_KEY_MAX + 16];
			if (!json_is_object(obj)) {
				json_decref(obj);
				if (!(obj = json_object()))
					return umap_error_set(UMAP_ENOMEM, "out of memory");
			}
			if (!strcmp(op->key, "properties")) {
				/* uMap sends a layer's whole properties: they are the options, or the
				 * spec's "properties" */
				json_t *props = json_is_object(op->value) ? json_incref(op->value) : json_object();
				if (!props) {
					err = umap_error_set(UMAP_ENOMEM, "out of memory");
				} else if (layer_is_spec(obj)) {
					err = json_object_set_new(obj, "properties", props) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
				} else {
					json_decref(obj);
					obj = props;
				}
			} else {
				err = umap_sync_set_path(obj, layer_option_key(obj, op->key, path, sizeof(path)),
							 op->value);
			}
		} else {
			obj = json_incref(op->value);
		}
		if (!err) {
			s = stmt(c, S_LAYER_SET);
			bind_text(s, 1, map);
			bind_text(s, 2, op->layer);
			bind_text(s, 4, op->filename);
			bind_text(s, 5, op->options_key);
			if (json_is_null(obj))
				err = step_done(c, s, "writing a layer");
			else
				err = store_text(c, s, 3, obj, "writing a layer");
		}
		json_decref(obj);
		return err;
	case UMAP_SYNC_MAP: {
		int64_t head, floor;
		char *props = NULL;
		if ((err = map_get(c, map, &head, &floor, &props)))
			return err;
		if (op->verb == UMAP_SYNC_UPDATE) {
			obj = props ? load_stored(props) : json_object();
			if (!json_is_object(obj))
				err = umap_error_set(UMAP_ECORRUPT, "stored map properties are damaged");
			else
				err = umap_sync_set_path(obj, op->key, op->value);
		} else {
			obj = json_incref(op->value);
		}
		free(props);
		if (!err) {
			s = stmt(c, S_MAP_SET_PROPS);
			bind_text(s, 1, map);
			err = store_text(c, s, 2, obj, "writing map properties");
		}
		json_decref(obj);
		return err;
	}
	}
	return 0;
}

/* The op as logged and pulled: "seq" and "client_id" first, then the op's own members,
 * written as dump_compact would write that object; value_text (may be NULL) is the op's
 * value already written, so that a feature is serialised once for the state and the log. */
static char *log_body(const umap_sync_op *op, int64_t seq, const char *client, const char *value_text)
{
	umap_buf out = UMAP_BUF_INIT;
	int err = umap_buf_printf(&out, "{\"seq\":%lld,\"client_id\":", (long long)seq) ||
		  put_json_string(&out, client);
	const char *k;
	json_t *v;
	json_object_foreach(op->json, k, v) {
		if (err)
			break;
		if (!strcmp(k, "seq") || !strcmp(k, "client_id"))
			continue;
		char *own = v == op->value && value_text ? NULL : dump_compact(v);
		const char *text = own ? own : v == op->value ? value_text : NULL;
		err = !text || umap_buf_putc(&out, ',') || put_json_string(&out, k) || umap_buf_putc(&out, ':') ||
		      umap_buf_puts(&out, text);
		free(own);
	}
	if (err || umap_buf_putc(&out, '}')) {
		umap_buf_dispose(&out);
		return NULL;
	}
	return umap_buf_detach(&out);
}

/* One number about a layer's features (S_FEATURE_COUNT, S_FEATURE_SPAN). */
static int layer_number(int64_t *n, struct conn *c, enum stmt_id id, const char *map, const char *layer)
{
	struct q *s = stmt(c, id);
	bind_text(s, 1, map);
	bind_text(s, 2, layer);
	int err = 0;
	*n = 0;
	if (q_step(s) == Q_ROW)
		*n = q_int64(s, 0);
	else
		err = db_error(c, "counting a layer's features");
	q_reset(s);
	return err;
}

/* Fails when a layer that the push added features to now holds more than the limit.
 * Each such layer is counted once per push (adds[i]: ops[i] added a feature), and only
 * when the span of its places is over the limit: counting a large layer at every push of
 * a large upload cost as much as the rest of it. */
static int check_layer_sizes(umap_sync_store *store, struct conn *c, struct push_job *job, const char *adds)
{
	int err = 0;
	for (size_t i = 0; !err && i < job->nops; i++) {
		if (!adds[i])
			continue;
		const char *layer = job->ops[i].layer;
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = adds[j] && !strcmp(job->ops[j].layer, layer);
		if (seen)
			continue;
		int64_t n = 0;
		err = layer_number(&n, c, S_FEATURE_SPAN, job->map, layer);
		if (!err && (uint64_t)n > store->opts.max_features)
			err = layer_number(&n, c, S_FEATURE_COUNT, job->map, layer);
		if (!err && (uint64_t)n > store->opts.max_features)
			err = umap_error_set(UMAP_ELIMIT,
					     "layer '%s' would hold %lld features, over this server's limit of %zu (serve --max-features): nothing was applied",
					     layer, (long long)n, store->opts.max_features);
	}
	return err;
}

/* Runs one push inside the group's transaction (its own savepoint is handled by the caller). */
static int run_push(umap_sync_store *store, struct conn *c, struct push_job *job)
{
	int64_t head, floor;
	int err = map_get(c, job->map, &head, &floor, NULL);
	if (err == UMAP_ENOTFOUND) {
		struct q *s = stmt(c, S_MAP_INSERT);
		bind_text(s, 1, job->map);
		bind_int64(s, 2, now_ms(store));
		if ((err = step_done(c, s, "creating the map")))
			return err;
		head = floor = 0;
	} else if (err) {
		return err;
	}
	if (job->realtime)
		job->base = head;
	if (job->base > head)
		return umap_error_set(UMAP_EINVALID,
				      "base %lld is ahead of this map's cursor %lld: the server was reset or is another one; clone again",
				      (long long)job->base, (long long)head);

	json_t *conflicts = json_array();
	if (!conflicts)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	char *skip = calloc(job->nops ? job->nops : 1, 2), *adds = skip ? skip + job->nops : NULL;
	if (!skip) {
		json_decref(conflicts);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	/* pass 1: retried ops are skipped; every other op is checked against what other
	 * clients changed after base, and all conflicts are reported at once (a push based
	 * on the head has nothing to check: every change has a seq <= head) */
	int current = job->base >= head;
	for (size_t i = 0; !err && i < job->nops; i++) {
		int64_t seq;
		char key[UMAP_SYNC_KEY_MAX + 1];
		int r = applied_seq(c, job, &job->ops[i], &seq);
		if (r < 0) {
			err = r;
		} else if (r) {
			skip[i] = 1;
		} else if (current) {
			continue;
		} else if ((r = find_conflict(c, job, &job->ops[i], key, sizeof(key))) < 0) {
			err = r;
		} else if (r) {
			err = add_conflict(conflicts, &job->ops[i], key, NULL);
		}
	}
	/* pass 2: apply and log, in order */
	char ensured[UMAP_SYNC_LAYER_MAX + 1] = "";
	for (size_t i = 0; !err && !json_array_size(conflicts) && i < job->nops; i++) {
		const umap_sync_op *op = &job->ops[i];
		int missing, added;
		if (skip[i])
			continue;
		/* a feature upsert stores its value as sent: written once, for the state and the log */
		char *value_text = NULL;
		if (op->subject == UMAP_SYNC_FEATURE && op->verb == UMAP_SYNC_UPSERT &&
		    json_object_get(op->value, "id") &&
		    !(value_text = job->raw[i] ? strndup(job->raw[i]->text, job->raw[i]->len) : dump_compact(op->value))) {
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
			break;
		}
		int stale = job->realtime ? is_stale(c, job, op) : 0;
		if (stale < 0) {
			free(value_text);
			err = stale;
			break;
		}
		missing = added = 0;
		if (!stale && (err = apply_op(c, job, op, head + 1, &missing, &added, ensured, value_text))) {
			free(value_text);
			break;
		}
		adds[i] = (char)added;
		if (missing && !job->realtime) {
			free(value_text);
			err = add_conflict(conflicts, op, NULL, "the feature does not exist (any more): pull first");
			continue;
		}
		int64_t seq = ++head;
		char *body = log_body(op, seq, job->client, value_text);
		free(value_text);
		if (!body) {
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
			break;
		}
		struct q *s = stmt(c, S_OP_INSERT);
		bind_text(s, 1, job->map);
		bind_int64(s, 2, seq);
		bind_text(s, 3, op->layer);
		bind_owned(s, 4, body);
		if ((err = step_done(c, s, "appending to the op log")))
			break;
		s = stmt(c, S_APPLIED_INSERT);
		bind_text(s, 1, job->map);
		bind_text(s, 2, job->client);
		bind_text(s, 3, op->op_id);
		bind_int64(s, 4, seq);
		if ((err = step_done(c, s, "recording the op")))
			break;
		if (stale)
			continue; /* logged and relayed, but the newer change stays the key's last */
		if (op->subject == UMAP_SYNC_FEATURE && op->verb == UMAP_SYNC_UPSERT)
			continue; /* its feature's row keeps it (schema 3) */
		const char *feature, *key;
		change_scope(op, &feature, &key);
		s = stmt(c, S_CHANGE_SET);
		bind_text(s, 1, job->map);
		bind_text(s, 2, op->layer);
		bind_text(s, 3, feature);
		bind_text(s, 4, key);
		bind_int64(s, 5, seq);
		bind_text(s, 6, job->client);
		err = step_done(c, s, "recording the change");
	}
	if (!err && !json_array_size(conflicts) && store->opts.max_features)
		err = check_layer_sizes(store, c, job, adds);
	free(skip);
	if (!err && json_array_size(conflicts)) {
		job->reply = json_pack("{s:o}", "conflicts", conflicts);
		conflicts = NULL;
		err = job->reply ? umap_error_set(UMAP_ECONFLICT, "%zu conflicting change(s): pull, then push again",
						  json_array_size(json_object_get(job->reply, "conflicts")))
				 : umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	json_decref(conflicts);
	if (err)
		return err;
	if (store->opts.retain > 0 && head - floor > store->opts.retain) {
		floor = head - store->opts.retain;
		struct q *s = stmt(c, S_OP_PRUNE);
		bind_text(s, 1, job->map);
		bind_int64(s, 2, floor);
		if ((err = step_done(c, s, "pruning the op log")))
			return err;
	}
	struct q *s = stmt(c, S_MAP_SET_HEAD);
	bind_text(s, 1, job->map);
	bind_int64(s, 2, head);
	bind_int64(s, 3, floor);
	if ((err = step_done(c, s, "moving the map's cursor")))
		return err;
	job->head = head;
	json_t *ack = json_array();
	for (size_t i = 0; ack && i < job->nops; i++)
		if (json_array_append_new(ack, json_string(job->ops[i].op_id)))
			break;
	job->reply = ack ? json_pack("{s:o, s:I}", "ack", ack, "cursor", (json_int_t)head) : NULL;
	return job->reply ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
}

static void job_fail(struct push_job *job, int err)
{
	job->rc = err;
	snprintf(job->err, sizeof(job->err), "%s", umap_error_last());
}

static int compare_keys(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* PostgreSQL: the maps of a group are locked for the transaction, in one order in every
 * process (no deadlock), before anything of them is read: two processes pushing to one
 * map take turns, as the pushes of one process do. */
static int lock_maps(struct conn *c, const struct push_job *group)
{
	size_t n = 0, i = 0;
	for (const struct push_job *job = group; job; job = job->next)
		n++;
	int64_t *keys = calloc(n, sizeof(*keys));
	if (!keys)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	for (const struct push_job *job = group; job; job = job->next) {
		uint64_t h = 14695981039346656037u; /* FNV-1a of the map's name */
		for (const char *p = job->map; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211u;
		keys[i++] = (int64_t)(h >> 1);
	}
	qsort(keys, n, sizeof(*keys), compare_keys);
	int err = 0;
	for (i = 0; !err && i < n; i++) {
		if (i && keys[i] == keys[i - 1])
			continue;
		struct q *s = stmt(c, S_LOCK_MAP);
		bind_int64(s, 1, keys[i]);
		err = step_done(c, s, "locking the map");
	}
	free(keys);
	return err;
}

/* PostgreSQL: tells the other processes (at COMMIT) that the map moved, for their long-polls. */
static int notify_commit(umap_sync_store *store, struct conn *c, const struct push_job *job)
{
	char payload[sizeof(store->origin) + UMAP_SYNC_NAME_MAX + 32];
	snprintf(payload, sizeof(payload), "%s %s %lld", store->origin, job->map, (long long)job->head);
	struct q *s = stmt(c, S_NOTIFY);
	bind_text(s, 1, payload);
	return step_done(c, s, "announcing the commit");
}

/* Group commit: every push queued while the previous group was committing goes into one
 * transaction, each in its own savepoint when there are several (a refused push rolls back
 * alone), and one COMMIT (one fsync) makes the whole group durable before any of them is acknowledged. */
static void run_group(umap_sync_store *store, struct conn *c, struct push_job *group)
{
	pthread_mutex_lock(&c->lock);
	int err = exec_simple(c, S_BEGIN_IMMEDIATE);
	if (!err && store->pg)
		err = lock_maps(c, group);
	/* a push alone in its group (on PostgreSQL, always) needs no savepoint: a refused one
	 * rolls the transaction back. A savepoint costs a copy of every page the push changes
	 * (SQLite's sub-journal, to roll back to): for a push of 5000 new features into a
	 * large layer, thousands of pages of the features' key index, as many as the WAL */
	int savepoints = !store->pg && group->next;
	for (struct push_job *job = group; job; job = job->next) {
		if (err) {
			job_fail(job, err);
			continue;
		}
		int e = savepoints ? exec_simple(c, S_SAVEPOINT) : 0;
		if (!e)
			e = run_push(store, c, job);
		if (e) {
			job_fail(job, e);
			if (!savepoints || exec_simple(c, S_ROLLBACK_TO) || exec_simple(c, S_RELEASE))
				err = e;
		} else if (savepoints && (e = exec_simple(c, S_RELEASE))) {
			job_fail(job, e);
			err = e;
		}
	}
	int late = 0; /* an error after the pushes ran: none of them is acknowledged */
	for (struct push_job *job = group; !err && store->pg && job; job = job->next)
		if (!job->rc)
			err = late = notify_commit(store, c, job);
	if (!err)
		err = late = exec_simple(c, S_COMMIT);
	if (late)
		for (struct push_job *job = group; job; job = job->next)
			if (!job->rc) {
				json_decref(job->reply);
				job->reply = NULL;
				job_fail(job, err);
			}
	if (err)
		exec_simple(c, S_ROLLBACK);
	pthread_mutex_unlock(&c->lock);
	if (!err && store->on_commit)
		for (struct push_job *job = group; job; job = job->next)
			if (!job->rc)
				store->on_commit(store->on_commit_ctx, job->map, job->head);
}

/* PostgreSQL: a push runs on a connection of the pool, side by side with the others (the
 * database orders pushes to one map by its lock, and groups the commits of concurrent
 * transactions into one WAL flush by itself). */
static int submit_pg(umap_sync_store *store, struct push_job *job)
{
	struct conn *c;
	int err = reader_get(&c, store);
	if (err)
		return err;
	run_group(store, c, job);
	reader_put(store, c);
	if (job->rc)
		umap_error_set(job->rc, "%s", job->err);
	return job->rc;
}

static int submit(umap_sync_store *store, struct push_job *job)
{
	if (store->pg)
		return submit_pg(store, job);
	pthread_mutex_lock(&store->queue_lock);
	*store->queue_tail = job;
	store->queue_tail = &job->next;
	while (!job->done) {
		if (store->leader) {
			pthread_cond_wait(&store->queue_cond, &store->queue_lock);
			continue;
		}
		store->leader = 1;
		struct push_job *group = store->queue;
		store->queue = NULL;
		store->queue_tail = &store->queue;
		pthread_mutex_unlock(&store->queue_lock);
		run_group(store, &store->w, group);
		pthread_mutex_lock(&store->queue_lock);
		for (struct push_job *j = group, *next; j; j = next) {
			next = j->next;
			j->done = 1;
		}
		store->leader = 0;
		pthread_cond_broadcast(&store->queue_cond);
	}
	pthread_mutex_unlock(&store->queue_lock);
	if (job->rc)
		umap_error_set(job->rc, "%s", job->err);
	return job->rc;
}

/* An op_id names one op of a client: two in one push would make the second a "retry" of
 * the first inside the same transaction (the idempotency record refuses it). */
static int check_unique_op_ids(const struct push_job *job)
{
	umap_strmap seen = UMAP_STRMAP_INIT;
	int err = 0;
	for (size_t i = 0; !err && i < job->nops; i++) {
		size_t first;
		if (umap_strmap_get(&seen, job->ops[i].op_id, &first))
			err = umap_error_set(UMAP_EINVALID,
					     "ops[%zu]: op_id '%s' is already used by ops[%zu] of this push: each op needs its own op_id",
					     i, job->ops[i].op_id, first);
		else if (umap_strmap_put(&seen, job->ops[i].op_id, i, NULL))
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	umap_strmap_dispose(&seen);
	return err;
}

static int push_flat_ops(json_t **reply, umap_sync_store *store, const char *map,
			 const umap_sync_grant *grant, const char *client, int64_t base, int realtime,
			 json_t *ops, const umap_sync_raw_values *raw);

/* uMap's batches are stored as their inner ops (the log and pull know no batch). */
static int push_ops(json_t **reply, umap_sync_store *store, const char *map,
		    const umap_sync_grant *grant, const char *client, int64_t base, int realtime,
		    json_t *ops, const umap_sync_raw_values *raw)
{
	size_t nops = json_array_size(ops);
	if (nops > store->opts.max_ops)
		return umap_error_set(UMAP_ELIMIT, "too many ops in one push (%zu, limit %zu): push in batches",
				      nops, store->opts.max_ops);
	json_t *flat = NULL;
	int err = umap_sync_ops_expand(&flat, ops, store->opts.max_ops);
	if (!err)
		err = push_flat_ops(reply, store, map, grant, client, base, realtime, flat, raw);
	json_decref(flat);
	return err;
}

static int push_flat_ops(json_t **reply, umap_sync_store *store, const char *map,
			 const umap_sync_grant *grant, const char *client, int64_t base, int realtime,
			 json_t *ops, const umap_sync_raw_values *raw)
{
	size_t nops = json_array_size(ops);
	struct push_job job;
	memset(&job, 0, sizeof(job));
	job.map = map;
	job.client = client;
	job.base = base;
	job.realtime = realtime;
	job.ops = calloc(nops ? nops : 1, sizeof(umap_sync_op));
	job.raw = calloc(nops ? nops : 1, sizeof(*job.raw));
	if (!job.ops || !job.raw) {
		free(job.ops);
		free(job.raw);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	uint64_t now = (uint64_t)now_ms(store);
	int err = 0;
	for (size_t i = 0; !err && i < nops; i++) {
		umap_sync_op *op = &job.ops[i];
		if ((err = umap_sync_op_parse(op, json_array_get(ops, i), i)))
			break;
		job.nops = i + 1;
		if ((err = umap_hlc_check_drift(&op->hlc, now, store->opts.max_skew_ms))) {
			umap_error_prefix(err, "ops[%zu] (op_id %s): refused: ", i, op->op_id);
			break;
		}
		if (!umap_sync_grant_can_write(grant, op->layer))
			err = umap_error_set(UMAP_EAUTH, "ops[%zu]: this token cannot write %s%s%s", i,
					     *op->layer ? "layer '" : "the map's options",
					     op->layer, *op->layer ? "'" : "");
	}
	/* the kept bytes of each stub value: stubs are in the order of their ops (a batch's
	 * inner ops have none), and a stub that is not matched would be stored as a stub */
	size_t k = 0;
	for (size_t i = 0; !err && raw && i < job.nops && k < raw->n; i++)
		if (job.ops[i].value == raw->v[k].stub)
			job.raw[i] = &raw->v[k++];
	if (!err && raw && k < raw->n)
		err = umap_error_set(UMAP_EINVALID, "ops: a feature's value was not read as an op's: push again");
	if (!err)
		err = check_unique_op_ids(&job);
	if (!err)
		err = submit(store, &job);
	for (size_t i = 0; i < job.nops; i++)
		umap_sync_op_dispose(&job.ops[i]);
	free(job.ops);
	free(job.raw);
	*reply = job.reply;
	return err;
}

int umap_sync_store_push(json_t **reply, umap_sync_store *store, const char *map,
			 const umap_sync_grant *grant, json_t *body)
{
	return umap_sync_store_push_raw(reply, store, map, grant, body, NULL);
}

int umap_sync_store_push_raw(json_t **reply, umap_sync_store *store, const char *map,
			     const umap_sync_grant *grant, json_t *body, const umap_sync_raw_values *raw)
{
	*reply = NULL;
	if (!umap_sync_valid_name(map, UMAP_SYNC_NAME_MAX))
		return umap_error_set(UMAP_EINVALID, "invalid map name: use 1 to %d characters of A-Z a-z 0-9 _ -",
				      UMAP_SYNC_NAME_MAX);
	if (!json_is_object(body))
		return umap_error_set(UMAP_EINVALID, "a push must be a JSON object {\"client_id\",\"base\",\"ops\"}");
	const char *client = umap_sync_json_name(json_object_get(body, "client_id"));
	json_t *base = json_object_get(body, "base"), *ops = json_object_get(body, "ops");
	if (!client || !umap_sync_valid_name(client, UMAP_SYNC_NAME_MAX))
		return umap_error_set(UMAP_EINVALID, "\"client_id\" must be 1 to %d characters of A-Z a-z 0-9 _ -",
				      UMAP_SYNC_NAME_MAX);
	if (!json_is_integer(base) || json_integer_value(base) < 0)
		return umap_error_set(UMAP_EINVALID, "\"base\" must be the cursor (an integer >= 0) the client last pulled");
	if (!json_is_array(ops))
		return umap_error_set(UMAP_EINVALID, "\"ops\" must be an array");
	return push_ops(reply, store, map, grant, client, json_integer_value(base), 0, ops, raw);
}

int umap_sync_store_append_realtime(json_t **reply, umap_sync_store *store, const char *map,
				    const char *client, json_t *ops)
{
	*reply = NULL;
	if (!umap_sync_valid_name(map, UMAP_SYNC_NAME_MAX) || !umap_sync_valid_name(client, UMAP_SYNC_NAME_MAX))
		return umap_error_set(UMAP_EINVALID, "invalid map or client name: use 1 to %d characters of A-Z a-z 0-9 _ -",
				      UMAP_SYNC_NAME_MAX);
	if (!json_is_array(ops))
		return umap_error_set(UMAP_EINVALID, "\"ops\" must be an array");
	umap_sync_grant all = { 1, 1, 0, NULL, "" };
	return push_ops(reply, store, map, &all, client, 0, 1, ops, NULL);
}

/* ---- Moving a store --------------------------------------------------------------------- */

static int copy_table(struct conn *to, struct conn *from, enum stmt_id dump, enum stmt_id load, const char *name)
{
	struct q *src = stmt(from, dump);
	int rc, err = 0, ncols = from->q[dump].lite ? sqlite3_column_count(from->q[dump].lite) : 0;
	if (!ncols)
		ncols = pg_param_count(pg_statements()[load]);
	while (!err && (rc = q_step(src)) == Q_ROW) {
		struct q *dst = stmt(to, load);
		for (int i = 0; i < ncols && i < Q_PARAMS; i++)
			bind_text(dst, i + 1, q_text(src, i));
		if ((err = step_done(to, dst, name)))
			umap_error_prefix(err, "copying table %s: ", name);
	}
	if (!err && rc != Q_DONE)
		err = db_error(from, name);
	q_reset(src);
	return err;
}

int umap_sync_store_import(umap_sync_store *dst, umap_sync_store *src)
{
	struct conn *from;
	int err = reader_get(&from, src);
	if (err)
		return err;
	struct conn *to = &dst->w;
	pthread_mutex_lock(&to->lock);
	err = exec_simple(from, S_BEGIN);
	if (!err && !(err = exec_simple(to, S_BEGIN_IMMEDIATE))) {
		struct q *s = stmt(to, S_COUNT_ALL);
		int rc = q_step(s);
		if (rc != Q_ROW)
			err = db_error(to, "counting maps and tokens");
		else if (q_int64(s, 0) > 0)
			err = umap_error_set(UMAP_EEXISTS,
					     "the store to import into already holds maps or tokens: import only into an empty one");
		q_reset(s);
		for (size_t i = 0; !err && i < sizeof(store_tables) / sizeof(store_tables[0]); i++)
			err = copy_table(to, from, store_tables[i].dump, store_tables[i].load, store_tables[i].name);
		if (!err)
			err = exec_simple(to, S_COMMIT);
		if (err)
			exec_simple(to, S_ROLLBACK);
	}
	pthread_mutex_unlock(&to->lock);
	exec_simple(from, S_COMMIT);
	reader_put(src, from);
	return err;
}
