/* Unit tests for the sync server's storage and op rules: validation, dotted keys, conflict
 * scopes, idempotency, retention, grants and tokens, and concurrent group commits. */
#include "unit.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "json.h"
#include "sync_op.h"
#include "sync_store.h"

static char dir_template[] = "/tmp/umapsync-store-XXXXXX";
static const char *dir;
static int dir_counter;

static uint64_t fake_now = 1700000000000;
static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static umap_sync_store *open_fresh(int64_t retain)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/s%d", dir, ++dir_counter);
	umap_sync_store_options opts = UMAP_SYNC_STORE_OPTIONS_INIT;
	opts.retain = retain;
	opts.clock = fake_clock;
	umap_sync_store *store = NULL;
	CHECK_INT(umap_sync_store_open(&store, path, &opts), 0);
	return store;
}

static const umap_sync_grant all = { 1, 1, 0, NULL, "" };

/* Pushes ops given as a JSON array text; returns the error code, *reply kept for checks. */
static int push(umap_sync_store *store, const char *client, long base, const char *ops, json_t **reply)
{
	char body[8192];
	snprintf(body, sizeof(body), "{\"client_id\":\"%s\",\"base\":%ld,\"ops\":%s}", client, base, ops);
	json_error_t jerr;
	json_t *tree = json_loads(body, JSON_ALLOW_NUL, &jerr);
	if (!tree) {
		printf("# bad test JSON: %s\n", jerr.text);
		return -100;
	}
	json_t *r = NULL;
	int err = umap_sync_store_push(&r, store, "m", &all, tree);
	json_decref(tree);
	if (reply)
		*reply = r;
	else
		json_decref(r);
	return err;
}

#define HLC "\"hlc\":\"018bcfe56800-0000-n\""
#define UPD(id, feat, key, val) \
	"{\"op_id\":\"" id "\"," HLC ",\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"" feat \
	"\",\"layerId\":\"L\"},\"key\":\"" key "\",\"value\":" val "}"
#define UPS(id, feat) \
	"{\"op_id\":\"" id "\"," HLC ",\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"" feat \
	"\",\"layerId\":\"L\"},\"value\":{\"type\":\"Feature\",\"properties\":{\"a\":{\"b\":1}},\"geometry\":null}}"

static char *snapshot(umap_sync_store *store, const umap_sync_grant *grant)
{
	umap_buf out = UMAP_BUF_INIT;
	CHECK_INT(umap_sync_store_snapshot(&out, store, "m", grant), 0);
	return umap_buf_detach(&out);
}

TEST(op_validation)
{
	const char *bad[] = {
		"[]",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"move\",\"subject\":\"feature\"}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"delete\",\"subject\":\"planet\"}",
		"{\"op_id\":\"a b\"," HLC ",\"verb\":\"delete\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\"}}",
		"{\"op_id\":\"x\",\"verb\":\"delete\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\"}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"delete\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"../L\"}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":\"\",\"layerId\":\"L\"}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":1.5,\"layerId\":\"L\"}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"delete\",\"subject\":\"map\"}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"L\"},\"key\":\"id\",\"value\":1}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"L\"},\"key\":\"a..b\",\"value\":1}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"update\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\"},\"key\":\"name\",\"value\":1}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"L\"},\"value\":{\"type\":\"Point\"}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"L\"},\"value\":{\"type\":\"Feature\",\"id\":\"g\"}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"upsert\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\",\"filename\":\"../x.geojson\"},\"value\":{}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"upsert\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\",\"filename\":\".git\"},\"value\":{}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"upsert\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\",\"optionsKey\":\"name\"},\"value\":{}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"upsert\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\",\"optionsKey\":1},\"value\":{}}",
		"{\"op_id\":\"x\"," HLC ",\"verb\":\"update\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\",\"optionsKey\":\"_storage\"},\"key\":\"properties.name\",\"value\":1}",
		NULL,
	};
	for (int i = 0; bad[i]; i++) {
		json_error_t jerr;
		json_t *op = json_loads(bad[i], 0, &jerr);
		umap_sync_op parsed;
		int err = umap_sync_op_parse(&parsed, op, 7);
		if (err != UMAP_EINVALID)
			printf("# accepted: %s\n", bad[i]);
		CHECK_INT(err, UMAP_EINVALID);
		CHECK(strncmp(umap_error_last(), "ops[7]", 6) == 0);
		umap_sync_op_dispose(&parsed);
		json_decref(op);
	}
	json_error_t jerr;
	json_t *op = json_loads(UPD("o1", "f", "properties.name", "\"x\""), 0, &jerr);
	umap_sync_op parsed;
	CHECK_INT(umap_sync_op_parse(&parsed, op, 0), 0);
	CHECK_STR(parsed.feature, "\"f\"");
	CHECK_STR(parsed.layer, "L");
	CHECK_STR(parsed.key, "properties.name");
	CHECK_INT(parsed.hlc.ms, 0x018bcfe56800);
	umap_sync_op_dispose(&parsed);
	json_decref(op);
	CHECK(umap_sync_valid_name("a-Z_9", 64));
	CHECK(!umap_sync_valid_name("", 64));
	CHECK(!umap_sync_valid_name("a.b", 64));
	CHECK(!umap_sync_valid_name("abc", 2));
}

TEST(set_path_edits_nested_keys)
{
	json_t *root = json_pack("{s:{s:i}}", "properties", "a", 1);
	json_t *v = json_string("x");
	CHECK_INT(umap_sync_set_path(root, "properties.b.c", v), 0);
	CHECK_INT(umap_sync_set_path(root, "properties.a", NULL), 0);
	CHECK_INT(umap_sync_set_path(root, "properties.none.deeper", NULL), 0);
	char *text = json_dumps(root, JSON_COMPACT);
	CHECK_STR(text, "{\"properties\":{\"b\":{\"c\":\"x\"}}}");
	free(text);
	CHECK_INT(umap_sync_set_path(root, "properties.b.c.d", v), UMAP_EINVALID);
	json_decref(v);
	json_decref(root);
}

/* uMap's websocket peers: last writer wins by parsed clock, no base, stale ops logged */
static int append_rt(umap_sync_store *store, const char *client, const char *ops_text)
{
	json_error_t jerr;
	json_t *ops = json_loads(ops_text, JSON_ALLOW_NUL, &jerr), *reply = NULL;
	if (!ops) {
		printf("# bad test JSON: %s\n", jerr.text);
		return -100;
	}
	int err = umap_sync_store_append_realtime(&reply, store, "m", client, ops);
	json_decref(reply);
	json_decref(ops);
	return err;
}

#define RT_NAME(id, hlc, val) \
	"{\"op_id\":\"" id "\",\"hlc\":\"" hlc "\",\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\"," \
	"\"layerId\":\"L\"},\"key\":\"properties.name\",\"value\":\"" val "\"}"

TEST(realtime_last_writer_wins_by_parsed_clock)
{
	umap_sync_store *store = open_fresh(0);
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f") "]", NULL), 0);
	/* 1700000000000:10:b is after 1700000000000:9:a, though it sorts before it as a string */
	CHECK_INT(append_rt(store, "umap-b", "[" RT_NAME("ws-1", "1700000000000:10:b", "newer") "]"), 0);
	CHECK_INT(append_rt(store, "umap-a", "[" RT_NAME("ws-2", "1700000000000:9:a", "older") "]"), 0);
	char *text = snapshot(store, &all);
	CHECK(strstr(text, "\"name\":\"newer\"") != NULL);
	free(text);
	/* both are in the log (uMap's peers got both) */
	umap_buf out = UMAP_BUF_INIT;
	int64_t cursor;
	CHECK_INT(umap_sync_store_pull(&out, &cursor, store, "m", &all, 0, 10), 0);
	CHECK_INT(cursor, 3);
	CHECK(strstr(out.ptr, "\"older\"") != NULL);
	umap_buf_dispose(&out);
	/* a later clock wins again; our former hex clocks compare by value too */
	CHECK_INT(append_rt(store, "umap-a", "[" RT_NAME("ws-3", "1700000000001:0:a", "latest") "]"), 0);
	CHECK_INT(append_rt(store, "umap-c", "[" RT_NAME("ws-4", "018bcfe56800-0000-c", "hex, older") "]"), 0);
	text = snapshot(store, &all);
	CHECK(strstr(text, "\"name\":\"latest\"") != NULL);
	free(text);
	/* no base: a key someone else changed is no conflict; a feature the server lacks is logged */
	CHECK_INT(append_rt(store, "umap-d", "[{\"op_id\":\"ws-5\",\"hlc\":\"1700000000002:0:d\",\"verb\":\"update\","
					    "\"subject\":\"feature\",\"metadata\":{\"id\":\"nowhere\",\"layerId\":\"L\"},"
					    "\"key\":\"properties.x\",\"value\":1}]"), 0);
	int64_t head;
	CHECK_INT(umap_sync_store_head(&head, store, "m"), 0);
	CHECK_INT(head, 6);
	umap_sync_store_close(store);
}

/* The websocket's path takes the push's checks: one op_id per op (also once uMap's batches
 * are expanded), no name cut short by \u0000 */
TEST(realtime_and_batches_refuse_duplicate_op_ids_and_nul_names)
{
	umap_sync_store *store = open_fresh(0);
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f") "]", NULL), 0);
	CHECK_INT(append_rt(store, "umap-b", "[" RT_NAME("ws-1", "1700000000000:1:b", "x") ","
					     RT_NAME("ws-1", "1700000000000:2:b", "y") "]"), UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "op_id 'ws-1' is already used by ops[0]") != NULL);
	/* a batch "b" gives its inner ops "b.0", "b.1": an op of its own named "b.0" clashes */
	CHECK_INT(append_rt(store, "umap-b", "[" RT_NAME("b.0", "1700000000000:3:b", "x") ","
					     "{\"op_id\":\"b\",\"hlc\":\"1700000000000:4:b\",\"verb\":\"batch\",\"operations\":["
					     RT_NAME("i", "1700000000000:4:b", "y") "]}]"), UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "op_id 'b.0' is already used by ops[0]") != NULL);
	CHECK_INT(push(store, "a", 1, "[" UPD("b.0", "f", "properties.n", "1") ",{\"op_id\":\"b\"," HLC
				      ",\"verb\":\"batch\",\"operations\":[" UPD("i", "f", "properties.n", "2") "]}]", NULL),
		  UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "op_id 'b.0' is already used by ops[0]") != NULL);
	CHECK_INT(append_rt(store, "umap-b", "[{\"op_id\":\"ws-9\",\"hlc\":\"1700000000000:5:b\",\"verb\":\"update\","
					     "\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"L\\u0000x\"},"
					     "\"key\":\"properties.name\",\"value\":\"z\"}]"), UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "metadata.layerId") != NULL);
	int64_t head, floor;
	CHECK_INT(umap_sync_store_head(&head, store, "m"), 0);
	CHECK_INT(head, 1);
	/* the floor is read through the pool of read connections, like the head */
	CHECK_INT(umap_sync_store_floor(&floor, store, "m"), 0);
	CHECK_INT(floor, 0);
	CHECK_INT(umap_sync_store_floor(&floor, store, "nowhere"), UMAP_ENOTFOUND);
	umap_sync_store_close(store);
}

TEST(push_pull_snapshot_round_trip)
{
	umap_sync_store *store = open_fresh(0);
	json_t *reply;
	int64_t head = -1, cursor;
	CHECK_INT(umap_sync_store_head(&head, store, "m"), UMAP_ENOTFOUND);
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f") "," UPS("2", "g") "," UPD("3", "f", "properties.a.b", "2") "]", &reply), 0);
	char *text = json_dumps(reply, JSON_COMPACT);
	CHECK_STR(text, "{\"ack\":[\"1\",\"2\",\"3\"],\"cursor\":3}");
	free(text);
	json_decref(reply);
	CHECK_INT(umap_sync_store_head(&head, store, "m"), 0);
	CHECK_INT(head, 3);
	umap_buf out = UMAP_BUF_INIT;
	CHECK_INT(umap_sync_store_pull(&out, &cursor, store, "m", &all, 1, 1), 0);
	CHECK_INT(cursor, 2);
	CHECK(strstr(out.ptr, "\"seq\":2,\"client_id\":\"a\",\"op_id\":\"2\"") != NULL);
	CHECK(strstr(out.ptr, "\"more\":true") != NULL);
	CHECK_INT(umap_sync_store_pull(&out, &cursor, store, "m", &all, 4, 10), UMAP_ELIMIT);
	umap_buf_dispose(&out);
	text = snapshot(store, &all);
	CHECK_STR(text, "{\"map\":\"m\",\"cursor\":3,\"properties\":null,\"layers\":[{\"id\":\"L\",\"filename\":null,"
			"\"options\":null,\"features\":[{\"type\":\"Feature\",\"properties\":{\"a\":{\"b\":2}},"
			"\"geometry\":null,\"id\":\"f\"},{\"type\":\"Feature\",\"properties\":{\"a\":{\"b\":1}},"
			"\"geometry\":null,\"id\":\"g\"}]}]}");
	free(text);
	umap_sync_store_close(store);
}

TEST(conflict_scopes)
{
	umap_sync_store *store = open_fresh(0);
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f") "," UPS("2", "g") "]", NULL), 0);
	CHECK_INT(push(store, "b", 2, "[" UPD("b1", "f", "properties.a", "{}") "]", NULL), 0);
	/* same key, child key and parent key conflict; a sibling key does not */
	CHECK_INT(push(store, "c", 2, "[" UPD("c1", "f", "properties.a", "1") "]", NULL), UMAP_ECONFLICT);
	CHECK_INT(push(store, "c", 2, "[" UPD("c2", "f", "properties.a.b", "1") "]", NULL), UMAP_ECONFLICT);
	CHECK_INT(push(store, "c", 2, "[" UPD("c3", "f", "properties", "{}") "]", NULL), UMAP_ECONFLICT);
	CHECK_INT(push(store, "c", 2, "[" UPD("c4", "f", "properties.ab", "1") "]", NULL), 0);
	/* the client's own change after base is no conflict */
	CHECK_INT(push(store, "b", 2, "[" UPD("b2", "f", "properties.a", "3") "]", NULL), 0);
	/* a whole-feature upsert conflicts with any key change after base (named in the reply) */
	json_t *reply = NULL;
	CHECK_INT(push(store, "d", 2, "[" UPS("d1", "g") "," UPS("d2", "f") "]", &reply), UMAP_ECONFLICT);
	char *text = json_dumps(reply, JSON_COMPACT);
	CHECK_STR(text, "{\"conflicts\":[{\"layer\":\"L\",\"id\":\"f\",\"key\":\"properties.ab\",\"op_id\":\"d2\"}]}");
	free(text);
	json_decref(reply);
	/* nothing of the refused push was applied: g's upsert (d1) is not in the log */
	umap_buf out = UMAP_BUF_INIT;
	int64_t cursor;
	CHECK_INT(umap_sync_store_pull(&out, &cursor, store, "m", &all, 0, 100), 0);
	CHECK(strstr(out.ptr, "\"d1\"") == NULL);
	CHECK_INT(cursor, 5);
	umap_buf_dispose(&out);
	/* deleting the layer conflicts with edits in it after base, and then edits conflict */
	const char *del = "[{\"op_id\":\"e1\"," HLC ",\"verb\":\"delete\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\"}}]";
	CHECK_INT(push(store, "e", 2, del, NULL), UMAP_ECONFLICT);
	CHECK_INT(push(store, "e", 5, del, NULL), 0);
	CHECK_INT(push(store, "a", 5, "[" UPD("a9", "g", "properties.x", "1") "]", NULL), UMAP_ECONFLICT);
	/* an update of a feature that no longer exists is refused, not invented */
	CHECK_INT(push(store, "a", 6, "[" UPD("a9", "g", "properties.x", "1") "]", &reply), UMAP_ECONFLICT);
	CHECK(strstr(json_string_value(json_object_get(json_array_get(json_object_get(reply, "conflicts"), 0), "reason")),
		     "does not exist") != NULL);
	json_decref(reply);
	/* a base ahead of the head is refused */
	CHECK_INT(push(store, "a", 99, "[" UPS("z", "z") "]", NULL), UMAP_EINVALID);
	umap_sync_store_close(store);
}

/* A feature's upsert is kept in its row, not in `changes` (schema 3): it still conflicts
 * with every change of the feature or its layer after base, a delete and a new upsert of
 * the feature leave the upsert its last change, and a realtime update older than the
 * upsert (by clock) does not overwrite it. */
TEST(upserts_kept_in_feature_rows_still_conflict)
{
	umap_sync_store *store = open_fresh(0);
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f") "," UPS("2", "g") "]", NULL), 0);
	json_t *reply = NULL;
	CHECK_INT(push(store, "x", 1, "[" UPD("x1", "g", "properties.z", "1") "]", &reply), UMAP_ECONFLICT);
	char *text = json_dumps(reply, JSON_COMPACT);
	CHECK_STR(text, "{\"conflicts\":[{\"layer\":\"L\",\"id\":\"g\",\"key\":\"properties.z\",\"op_id\":\"x1\"}]}");
	free(text);
	json_decref(reply);
	CHECK_INT(push(store, "x", 1, "[" UPS("x2", "g") "]", NULL), UMAP_ECONFLICT);
	CHECK_INT(push(store, "x", 1, "[" UPS("x3", "f") "]", NULL), 0);
	CHECK_INT(push(store, "a", 1, "[" UPD("a3", "g", "properties.z", "1") "]", NULL), 0);
	/* b deletes f (seq 5), a upserts it again (seq 6): for a, the delete is superseded */
	const char *del_f = "[{\"op_id\":\"b1\"," HLC ",\"verb\":\"delete\",\"subject\":\"feature\","
			    "\"metadata\":{\"id\":\"f\",\"layerId\":\"L\"}}]";
	CHECK_INT(push(store, "b", 4, del_f, NULL), 0);
	CHECK_INT(push(store, "a", 5, "[" UPS("a4", "f") "]", NULL), 0);
	CHECK_INT(push(store, "a", 4, "[" UPD("a5", "f", "properties.q", "1") "]", NULL), 0);
	CHECK_INT(push(store, "c", 5, "[" UPD("c1", "f", "properties.q", "2") "]", NULL), UMAP_ECONFLICT);
	/* a layer deleted on a base before an upsert in it conflicts; on the head it does not */
	const char *del = "[{\"op_id\":\"e1\"," HLC ",\"verb\":\"delete\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\"}}]";
	CHECK_INT(push(store, "e", 5, del, NULL), UMAP_ECONFLICT);
	/* a realtime upsert, then a realtime update stamped before it: the upsert stays */
	CHECK_INT(append_rt(store, "umap-a", "[{\"op_id\":\"ws-1\",\"hlc\":\"1700000000005:0:a\",\"verb\":\"upsert\","
					    "\"subject\":\"feature\",\"metadata\":{\"id\":\"h\",\"layerId\":\"L\"},"
					    "\"value\":{\"type\":\"Feature\",\"properties\":{\"name\":\"upserted\"},\"geometry\":null}}]"), 0);
	CHECK_INT(append_rt(store, "umap-b", "[{\"op_id\":\"ws-2\",\"hlc\":\"1700000000004:0:b\",\"verb\":\"update\","
					    "\"subject\":\"feature\",\"metadata\":{\"id\":\"h\",\"layerId\":\"L\"},"
					    "\"key\":\"properties.name\",\"value\":\"older\"}]"), 0);
	text = snapshot(store, &all);
	CHECK(strstr(text, "\"upserted\"") != NULL && strstr(text, "\"older\"") == NULL);
	free(text);
	int64_t head;
	CHECK_INT(umap_sync_store_head(&head, store, "m"), 0);
	CHECK_INT(push(store, "e", head, del, NULL), 0);
	umap_sync_store_close(store);
}

/* A layer's size is bounded by the span of its places, and counted only when the span is
 * over the limit: a layer with gaps (deleted features) under the limit still takes adds. */
TEST(layer_limit_counts_past_gaps)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/s%d", dir, ++dir_counter);
	umap_sync_store_options opts = UMAP_SYNC_STORE_OPTIONS_INIT;
	opts.clock = fake_clock;
	opts.max_features = 3;
	umap_sync_store *store = NULL;
	CHECK_INT(umap_sync_store_open(&store, path, &opts), 0);
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f1") "," UPS("2", "f2") "," UPS("3", "f3") "]", NULL), 0);
	CHECK_INT(push(store, "a", 3, "[{\"op_id\":\"4\"," HLC ",\"verb\":\"delete\",\"subject\":\"feature\","
				      "\"metadata\":{\"id\":\"f2\",\"layerId\":\"L\"}}]", NULL), 0);
	CHECK_INT(push(store, "a", 4, "[" UPS("5", "f4") "]", NULL), 0); /* places 1, 3, 4 */
	CHECK_INT(push(store, "a", 5, "[" UPS("6", "f1") "]", NULL), 0);  /* replaced, not added */
	CHECK_INT(push(store, "a", 6, "[" UPS("7", "f5") "]", NULL), UMAP_ELIMIT);
	CHECK(strstr(umap_error_last(), "layer 'L' would hold 4 features, over this server's limit of 3") != NULL);
	/* refused after its ops were applied, alone in its group (no savepoint): the whole
	 * transaction is rolled back, and the store goes on from where it was */
	int64_t head = 0;
	CHECK_INT(umap_sync_store_head(&head, store, "m"), 0);
	CHECK_INT(head, 6);
	char *text = snapshot(store, &all);
	CHECK(text && !strstr(text, "f5"));
	free(text);
	CHECK_INT(push(store, "a", 6, "[" UPS("7", "f3") "]", NULL), 0);
	CHECK_INT(umap_sync_store_head(&head, store, "m"), 0);
	CHECK_INT(head, 7);
	umap_sync_store_close(store);
}

TEST(idempotent_and_retention)
{
	umap_sync_store *store = open_fresh(2);
	for (int i = 0; i < 5; i++) {
		char ops[1024];
		snprintf(ops, sizeof(ops), "[{\"op_id\":\"o%d\"," HLC ",\"verb\":\"upsert\",\"subject\":\"feature\","
			 "\"metadata\":{\"id\":%d,\"layerId\":\"L\"},\"value\":{\"type\":\"Feature\"}}]", i, i);
		CHECK_INT(push(store, "a", i, ops, NULL), 0);
	}
	json_t *reply;
	/* o0 was pruned from the log long ago; its retry is still recognised */
	CHECK_INT(push(store, "a", 0, "[{\"op_id\":\"o0\"," HLC ",\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":0,\"layerId\":\"L\"}}]", &reply), 0);
	CHECK_INT(json_integer_value(json_object_get(reply, "cursor")), 5);
	json_decref(reply);
	umap_buf out = UMAP_BUF_INIT;
	int64_t cursor;
	CHECK_INT(umap_sync_store_pull(&out, &cursor, store, "m", &all, 2, 100), UMAP_ELIMIT);
	CHECK(strstr(umap_error_last(), "older than the oldest op kept (3)") != NULL);
	CHECK_INT(umap_sync_store_pull(&out, &cursor, store, "m", &all, 3, 100), 0);
	CHECK(strstr(out.ptr, "\"o3\"") && strstr(out.ptr, "\"o4\""));
	umap_buf_dispose(&out);
	/* a different client with the same op_id is a different op */
	CHECK_INT(push(store, "b", 5, "[{\"op_id\":\"o0\"," HLC ",\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":0,\"layerId\":\"L\"}}]", &reply), 0);
	CHECK_INT(json_integer_value(json_object_get(reply, "cursor")), 6);
	json_decref(reply);
	umap_sync_store_close(store);
}

TEST(clock_skew_refused)
{
	umap_sync_store *store = open_fresh(0);
	char ops[512];
	snprintf(ops, sizeof(ops), "[{\"op_id\":\"x\",\"hlc\":\"%012llx-0000-n\",\"verb\":\"upsert\",\"subject\":\"feature\","
		 "\"metadata\":{\"id\":\"f\",\"layerId\":\"L\"},\"value\":{\"type\":\"Feature\"}}]",
		 (unsigned long long)(fake_now + 60001));
	CHECK_INT(push(store, "a", 0, ops, NULL), UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "ops[0] (op_id x): refused: time") != NULL);
	int64_t head;
	CHECK_INT(umap_sync_store_head(&head, store, "m"), UMAP_ENOTFOUND); /* not even created */
	umap_sync_store_close(store);
}

TEST(tokens_and_grants)
{
	umap_sync_store *store = open_fresh(0);
	umap_sync_grant grant;
	CHECK(!umap_sync_store_auth_required(store));
	CHECK_INT(umap_sync_store_authorize(&grant, store, "m", NULL, 0), 0);
	CHECK(grant.write && grant.all_layers);
	CHECK_INT(umap_sync_store_authorize(&grant, store, "m", NULL, 1), UMAP_EAUTH);
	char *token, id[17];
	const char *layers[] = { "L" };
	CHECK_INT(umap_sync_token_create(&token, id, store, "m", layers, 1, 0), 0);
	CHECK(umap_sync_store_auth_required(store));
	CHECK_INT(umap_sync_store_authorize(&grant, store, "m", NULL, 0), UMAP_EAUTH);
	CHECK_INT(umap_sync_store_authorize(&grant, store, "m", "umsync_nope", 0), UMAP_EAUTH);
	CHECK_INT(umap_sync_store_authorize(&grant, store, "other", token, 0), UMAP_ECONFLICT);
	CHECK_INT(umap_sync_store_authorize(&grant, store, "m", token, 0), 0);
	CHECK(!grant.write);
	CHECK(!grant.all_layers);
	CHECK_STR(grant.token_id, id);
	CHECK(umap_sync_grant_can_read(&grant, "L"));
	CHECK(!umap_sync_grant_can_read(&grant, "K"));
	CHECK(umap_sync_grant_can_read(&grant, "")); /* map options */
	CHECK(!umap_sync_grant_can_write(&grant, "L"));
	/* a layer-scoped grant sees only its layer in snapshots */
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f") ",{\"op_id\":\"2\"," HLC ",\"verb\":\"upsert\",\"subject\":\"feature\","
				      "\"metadata\":{\"id\":\"k\",\"layerId\":\"K\"},\"value\":{\"type\":\"Feature\"}}]", NULL), 0);
	char *text = snapshot(store, &grant);
	CHECK(strstr(text, "\"id\":\"L\"") != NULL);
	CHECK(strstr(text, "\"id\":\"K\"") == NULL);
	free(text);
	umap_sync_grant_dispose(&grant);
	json_t *list;
	CHECK_INT(umap_sync_token_list(&list, store), 0);
	CHECK_INT(json_array_size(list), 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "access")), "read");
	json_decref(list);
	CHECK_INT(umap_sync_token_revoke(store, id), 0);
	CHECK_INT(umap_sync_token_revoke(store, id), UMAP_ENOTFOUND);
	CHECK_INT(umap_sync_store_authorize(&grant, store, "m", token, 0), UMAP_EAUTH);
	CHECK(umap_sync_store_auth_required(store)); /* revoking does not open the server */
	free(token);
	umap_sync_store_close(store);
}

struct pusher {
	umap_sync_store *store;
	int index;
	int failures;
};

/* A stream read a byte at a time gives the whole answer; two streams read at once on the
 * same map (each its own read connection), and a push between doesn't change either. */
TEST(streams_read_in_pieces_and_side_by_side)
{
	umap_sync_store *store = open_fresh(0);
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f") "," UPS("2", "g") "," UPD("3", "f", "properties.x", "\"a\\u0000b\"") "]", NULL), 0);
	char *whole = snapshot(store, &all);
	umap_buf pulled = UMAP_BUF_INIT;
	int64_t cursor;
	CHECK_INT(umap_sync_store_pull(&pulled, &cursor, store, "m", &all, 0, 100), 0);
	umap_sync_stream *snap = NULL, *pull = NULL;
	int64_t head = 0;
	CHECK_INT(umap_sync_store_snapshot_open(&snap, store, "m", &all), 0);
	CHECK_INT(umap_sync_store_pull_open(&pull, &head, store, "m", &all, 0, 100), 0);
	CHECK_INT(head, 3);
	if (!snap || !pull)
		return;
	/* committed after the streams began: neither sees it */
	CHECK_INT(push(store, "a", 3, "[" UPS("4", "h") "]", NULL), 0);
	umap_buf a = UMAP_BUF_INIT, b = UMAP_BUF_INIT;
	char c;
	size_t n;
	do {
		CHECK_INT(umap_sync_stream_read(snap, &c, 1, &n), 0);
		if (n)
			umap_buf_putc(&a, c);
		CHECK_INT(umap_sync_stream_read(pull, &c, 1, &n), 0);
		if (n)
			umap_buf_putc(&b, c);
	} while (n || a.len < strlen(whole));
	CHECK_STR(a.ptr, whole);
	CHECK_STR(b.ptr, pulled.ptr);
	CHECK_INT(umap_sync_stream_cursor(pull), 3);
	umap_sync_stream_close(snap);
	umap_sync_stream_close(pull);
	/* the errors come from the open, before any byte */
	CHECK_INT(umap_sync_store_pull_open(&pull, &head, store, "m", &all, 9, 100), UMAP_ELIMIT);
	CHECK(pull == NULL);
	CHECK_INT(umap_sync_store_snapshot_open(&snap, store, "nosuch", &all), UMAP_ENOTFOUND);
	umap_buf_dispose(&a);
	umap_buf_dispose(&b);
	umap_buf_dispose(&pulled);
	free(whole);
	umap_sync_store_close(store);
}

static void *pusher_main(void *arg)
{
	struct pusher *p = arg;
	for (int i = 0; i < 25; i++) {
		char ops[512], client[16];
		snprintf(client, sizeof(client), "c%d", p->index);
		snprintf(ops, sizeof(ops), "[{\"op_id\":\"%d\"," HLC ",\"verb\":\"upsert\",\"subject\":\"feature\","
			 "\"metadata\":{\"id\":\"t%d-%d\",\"layerId\":\"L\"},\"value\":{\"type\":\"Feature\"}}]", i, p->index, i);
		if (push(p->store, client, 0, ops, NULL))
			p->failures++;
	}
	return NULL;
}

TEST(concurrent_pushes_group_commit)
{
	umap_sync_store *store = open_fresh(0);
	struct pusher p[8];
	pthread_t t[8];
	for (int i = 0; i < 8; i++) {
		p[i] = (struct pusher){ store, i, 0 };
		pthread_create(&t[i], NULL, pusher_main, &p[i]);
	}
	int failures = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		failures += p[i].failures;
	}
	CHECK_INT(failures, 0);
	int64_t head;
	CHECK_INT(umap_sync_store_head(&head, store, "m"), 0);
	CHECK_INT(head, 200);
	umap_sync_store_close(store);
}

/* A store as umapsync wrote it before schema 2 (features in a WITHOUT ROWID table) and
 * before schema 3 (every feature upsert a row of `changes`): made here statement by
 * statement, as a store kept from those versions would be. */
#define OLD_TABLES \
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;" \
	"CREATE TABLE maps(name TEXT PRIMARY KEY, head INTEGER NOT NULL, floor INTEGER NOT NULL," \
	" props TEXT, created INTEGER NOT NULL) WITHOUT ROWID;" \
	"CREATE TABLE ops(map TEXT NOT NULL, seq INTEGER NOT NULL, layer TEXT NOT NULL," \
	" body TEXT NOT NULL, PRIMARY KEY(map, seq)) WITHOUT ROWID;" \
	"CREATE TABLE applied(map TEXT NOT NULL, client TEXT NOT NULL, op_id TEXT NOT NULL," \
	" seq INTEGER NOT NULL, PRIMARY KEY(map, client, op_id)) WITHOUT ROWID;" \
	"CREATE TABLE changes(map TEXT NOT NULL, layer TEXT NOT NULL, feature TEXT NOT NULL," \
	" key TEXT NOT NULL, seq INTEGER NOT NULL, client TEXT NOT NULL," \
	" PRIMARY KEY(map, layer, feature, key)) WITHOUT ROWID;" \
	"CREATE TABLE layers(map TEXT NOT NULL, id TEXT NOT NULL, ord INTEGER NOT NULL," \
	" filename TEXT, options TEXT, PRIMARY KEY(map, id)) WITHOUT ROWID;" \
	"CREATE TABLE tokens(id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, map TEXT NOT NULL," \
	" layers TEXT, access TEXT NOT NULL, created INTEGER NOT NULL, revoked INTEGER) WITHOUT ROWID;"
#define OLD_FEATURES(without_rowid) \
	"CREATE TABLE features(map TEXT NOT NULL, layer TEXT NOT NULL, id TEXT NOT NULL," \
	" ord INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY(map, layer, id))" without_rowid ";" \
	"CREATE INDEX features_order ON features(map, layer, ord);"
#define OLD_ROWS \
	"INSERT INTO maps VALUES('m', 2, 0, NULL, 1700000000000);" \
	"INSERT INTO layers VALUES('m', 'L', 1, NULL, NULL);" \
	/* in the order pushed: z before a, which the key order would swap */ \
	"INSERT INTO features VALUES('m', 'L', '\"z\"', 1, '{\"type\":\"Feature\",\"geometry\":null,\"id\":\"z\"}');" \
	"INSERT INTO features VALUES('m', 'L', '\"a\"', 2, '{\"type\":\"Feature\",\"geometry\":null,\"id\":\"a\"}');" \
	"INSERT INTO ops VALUES('m', 1, 'L', '{\"seq\":1}'), ('m', 2, 'L', '{\"seq\":2}');" \
	"INSERT INTO applied VALUES('m', 'a', '1', 1), ('m', 'a', '2', 2);" \
	"INSERT INTO changes VALUES('m', 'L', '\"z\"', '', 1, 'a'), ('m', 'L', '\"a\"', '', 2, 'a');"
static const char schema_1_store[] =
	OLD_TABLES OLD_FEATURES(" WITHOUT ROWID") "INSERT INTO meta VALUES('schema', '1');" OLD_ROWS;
static const char schema_2_store[] =
	OLD_TABLES OLD_FEATURES("") "INSERT INTO meta VALUES('schema', '2');" OLD_ROWS;

static void sql_run(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* The first column of the first row of a query, or "" (freed by the caller). */
static char *sql_value(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	const unsigned char *v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
	char *value = strdup(v ? (const char *)v : "");
	sqlite3_finalize(s);
	sqlite3_close(db);
	return value;
}

/* An older store is brought to schema 3 at open, and serves as before. */
static void check_migrated(const char *old_store)
{
	char path[256], db[300];
	snprintf(path, sizeof(path), "%s/s%d", dir, ++dir_counter);
	snprintf(db, sizeof(db), "%s/" UMAP_SYNC_DB_NAME, path);
	CHECK_INT(mkdir(path, 0700), 0);
	sql_run(db, old_store);
	umap_sync_store_options opts = UMAP_SYNC_STORE_OPTIONS_INIT;
	opts.clock = fake_clock;
	umap_sync_store *store = NULL;
	CHECK_INT(umap_sync_store_open(&store, path, &opts), 0);
	/* the features keep their order; a retried op still applies once; a new feature goes
	 * last; another client's stale base still conflicts */
	char *text = snapshot(store, &all);
	CHECK_STR(text, "{\"map\":\"m\",\"cursor\":2,\"properties\":null,\"layers\":[{\"id\":\"L\",\"filename\":null,"
			"\"options\":null,\"features\":[{\"type\":\"Feature\",\"geometry\":null,\"id\":\"z\"},"
			"{\"type\":\"Feature\",\"geometry\":null,\"id\":\"a\"}]}]}");
	free(text);
	json_t *reply = NULL;
	CHECK_INT(push(store, "a", 2, "[" UPS("2", "a") "," UPS("3", "b") "]", &reply), 0);
	CHECK_INT(json_integer_value(json_object_get(reply, "cursor")), 3);
	json_decref(reply);
	CHECK_INT(push(store, "c", 0, "[" UPD("c1", "z", "properties.x", "1") "]", NULL), UMAP_ECONFLICT);
	CHECK_INT(push(store, "c", 3, "[" UPD("c1", "z", "properties.x", "1") "]", NULL), 0);
	umap_sync_store_close(store);
	char *value = sql_value(db, "SELECT value FROM meta WHERE key = 'schema'");
	CHECK_STR(value, "3");
	free(value);
	value = sql_value(db, "SELECT sql FROM sqlite_schema WHERE name = 'features'");
	CHECK(strstr(value, "PRIMARY KEY(map, layer, id))") && !strstr(value, "WITHOUT ROWID"));
	free(value);
	/* the new upsert (op 2 was a retry) is in its feature's row, not in `changes` */
	value = sql_value(db, "SELECT group_concat(id || ' ' || seq || ' ' || client) FROM features WHERE seq IS NOT NULL");
	CHECK_STR(value, "\"b\" 3 a");
	free(value);
	value = sql_value(db, "SELECT group_concat(c) FROM (SELECT feature || ' ' || key || ' ' || seq AS c FROM changes ORDER BY 1)");
	CHECK_STR(value, "\"a\"  2,\"z\"  1,\"z\" properties.x 4");
	free(value);
	/* opened again (already at schema 3), then as a later version would leave it */
	CHECK_INT(umap_sync_store_open(&store, path, &opts), 0);
	text = snapshot(store, &all);
	CHECK_STR(text, "{\"map\":\"m\",\"cursor\":4,\"properties\":null,\"layers\":[{\"id\":\"L\",\"filename\":null,"
			"\"options\":null,\"features\":[{\"type\":\"Feature\",\"geometry\":null,\"id\":\"z\","
			"\"properties\":{\"x\":1}},{\"type\":\"Feature\",\"geometry\":null,\"id\":\"a\"},"
			"{\"type\":\"Feature\",\"properties\":{\"a\":{\"b\":1}},\"geometry\":null,\"id\":\"b\"}]}]}");
	free(text);
	umap_sync_store_close(store);
	sql_run(db, "UPDATE meta SET value = '4' WHERE key = 'schema'");
	CHECK_INT(umap_sync_store_open(&store, path, &opts), UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "has schema 4, which this umapsync (schema 3) does not know") != NULL);
	CHECK(store == NULL);
}

/* A server's memory grows with its concurrent readers by their page caches: a snapshot of a
 * map larger than SQLite's default cache (2 MB) keeps its read connection's cache small, and
 * the check of every page at open does not leave the whole database in the writer's cache. */
TEST(readers_and_open_keep_page_caches_small)
{
	char path[256], db[300];
	snprintf(path, sizeof(path), "%s/s%d", dir, ++dir_counter);
	snprintf(db, sizeof(db), "%s/" UMAP_SYNC_DB_NAME, path);
	umap_sync_store_options opts = UMAP_SYNC_STORE_OPTIONS_INIT;
	opts.clock = fake_clock;
	umap_sync_store *store = NULL;
	CHECK_INT(umap_sync_store_open(&store, path, &opts), 0);
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f") "]", NULL), 0);
	umap_sync_store_close(store);
	/* 6 MB of features in layer L, written straight into the database */
	sql_run(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
		    " INSERT INTO features(map, layer, id, ord, body) SELECT 'm', 'L', 'x' || i, i,"
		    " '{\"type\":\"Feature\",\"properties\":{\"p\":\"' || hex(randomblob(1000)) || '\"},\"geometry\":null}'"
		    " FROM n");
	CHECK_INT(umap_sync_store_open(&store, path, &opts), 0);
	if (!store)
		return;
	CHECK(umap_sync_store_cache_bytes(store) < 1000000);
	umap_sync_stream *snap = NULL;
	CHECK_INT(umap_sync_store_snapshot_open(&snap, store, "m", &all), 0);
	if (!snap)
		return;
	umap_buf out = UMAP_BUF_INIT;
	CHECK_INT(umap_sync_stream_read_all(&out, snap), 0);
	CHECK(out.len > 6000000);
	CHECK(umap_sync_stream_cache_bytes(snap) > 0);
	CHECK(umap_sync_stream_cache_bytes(snap) <= 300000);
	umap_sync_stream_close(snap);
	umap_buf_dispose(&out);
	umap_sync_store_close(store);
}

/* A snapshot being sent keeps its read transaction, and the WAL cannot start over while it
 * does: pushes meanwhile grow the file past the store's WAL limit (16 MiB). Once the
 * reader is gone and the WAL starts over, the file goes back under the limit instead of
 * keeping its largest size on disk for good. */
TEST(wal_goes_back_under_its_limit_after_a_long_read)
{
	char path[256], wal[300];
	snprintf(path, sizeof(path), "%s/s%d", dir, ++dir_counter);
	snprintf(wal, sizeof(wal), "%s/" UMAP_SYNC_DB_NAME "-wal", path);
	umap_sync_store_options opts = UMAP_SYNC_STORE_OPTIONS_INIT;
	opts.clock = fake_clock;
	umap_sync_store *store = NULL;
	CHECK_INT(umap_sync_store_open(&store, path, &opts), 0);
	if (!store)
		return;
	CHECK_INT(push(store, "a", 0, "[" UPS("1", "f") "]", NULL), 0);
	umap_sync_stream *snap = NULL;
	CHECK_INT(umap_sync_store_snapshot_open(&snap, store, "m", &all), 0);
	char *text = malloc(100001);
	if (!text || !snap)
		return;
	memset(text, 'x', 100000);
	text[100000] = '\0';
	/* 24 MB of features, 20 a push, while the snapshot's read transaction is open */
	long base = 1;
	for (int k = 0; k < 12; k++) {
		json_t *ops = json_array();
		for (int i = 0; i < 20; i++) {
			char op_id[32], id[32];
			snprintf(op_id, sizeof(op_id), "w%d-%d", k, i);
			snprintf(id, sizeof(id), "g%d-%d", k, i);
			json_array_append_new(ops, json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:{s:s}, s:n}}",
							     "op_id", op_id, "hlc", "018bcfe56800-0000-a",
							     "verb", "upsert", "subject", "feature", "metadata",
							     "id", id, "layerId", "L", "value", "type", "Feature",
							     "properties", "p", text, "geometry"));
		}
		json_t *body = json_pack("{s:s, s:I, s:o}", "client_id", "a", "base", (json_int_t)base, "ops", ops);
		json_t *reply = NULL;
		CHECK_INT(umap_sync_store_push(&reply, store, "m", &all, body), 0);
		base = (long)json_integer_value(json_object_get(reply, "cursor"));
		json_decref(reply);
		json_decref(body);
	}
	struct stat st;
	CHECK_INT(stat(wal, &st), 0);
	CHECK(st.st_size > 20 << 20);
	umap_sync_stream_close(snap);
	/* the next pushes checkpoint the whole WAL, then start it over */
	for (int k = 0; k < 3; k++) {
		char ops[512], op_id[16];
		snprintf(op_id, sizeof(op_id), "z%d", k);
		snprintf(ops, sizeof(ops), "[{\"op_id\":\"%s\"," HLC ",\"verb\":\"update\",\"subject\":\"feature\","
			 "\"metadata\":{\"id\":\"f\",\"layerId\":\"L\"},\"key\":\"properties.n\",\"value\":%d}]", op_id, k);
		CHECK_INT(push(store, "a", base, ops, NULL), 0);
		base++;
	}
	CHECK_INT(stat(wal, &st), 0);
	CHECK(st.st_size <= 16 << 20);
	free(text);
	umap_sync_store_close(store);
}

TEST(schema_1_store_is_migrated)
{
	check_migrated(schema_1_store);
}

TEST(schema_2_store_is_migrated)
{
	check_migrated(schema_2_store);
}

/* Pushes `body` to `a` as a tree and to `b` as the server reads it (feature values kept as
 * bytes); both must answer alike. Returns the error; *kept: values kept as bytes. */
static int push_both(umap_sync_store *a, umap_sync_store *b, const char *body, size_t *kept)
{
	umap_json_options jopts = UMAP_JSON_OPTIONS_INIT;
	jopts.source_name = "request body";
	jopts.reject_duplicates = 1;
	jopts.max_depth = 64;
	umap_json_doc *doc = NULL;
	int parsed = umap_json_parse(&doc, body, strlen(body), &jopts);
	char first_error[600];
	snprintf(first_error, sizeof(first_error), "%s", parsed ? umap_error_last() : "");
	umap_sync_raw_values raw = UMAP_SYNC_RAW_VALUES_INIT;
	json_t *tree = NULL, *ra = NULL, *rb = NULL;
	int quick = umap_sync_push_body_parse(&tree, &raw, body, strlen(body), &jopts);
	*kept = raw.n;
	CHECK_INT(quick, parsed);
	if (parsed) {
		CHECK_STR(umap_error_last(), first_error);
		umap_json_doc_free(doc);
		umap_sync_raw_values_dispose(&raw);
		return parsed;
	}
	int ea = umap_sync_store_push(&ra, a, "m", &all, umap_json_doc_root(doc));
	char ma[600];
	snprintf(ma, sizeof(ma), "%s", ea ? umap_error_last() : "");
	int eb = umap_sync_store_push_raw(&rb, b, "m", &all, tree, &raw);
	CHECK_INT(eb, ea);
	if (ea)
		CHECK_STR(umap_error_last(), ma);
	char *ta = ra ? json_dumps(ra, JSON_COMPACT) : NULL, *tb = rb ? json_dumps(rb, JSON_COMPACT) : NULL;
	CHECK((!ta && !tb) || (ta && tb && !strcmp(ta, tb)));
	free(ta);
	free(tb);
	json_decref(ra);
	json_decref(rb);
	json_decref(tree);
	umap_json_doc_free(doc);
	umap_sync_raw_values_dispose(&raw);
	return ea;
}

#define RAWUPS(id, feat, props) \
	"{\"op_id\":\"" id "\"," HLC ",\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"" feat \
	"\",\"layerId\":\"L\"},\"value\":{\"type\":\"Feature\",\"id\":\"" feat "\",\"properties\":" props \
	",\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.863485,-45.5]}}}"

TEST(feature_values_kept_as_bytes_store_and_pull_as_trees_do)
{
	umap_sync_store *a = open_fresh(0), *b = open_fresh(0);
	size_t kept = 0;
	/* compact values: kept (an op whose value comes first, too); a value without an id, a
	 * layer's options, an update's object and a batch's ops are built as before */
	CHECK_INT(push_both(a, b, "{\"client_id\":\"c\",\"base\":0,\"ops\":[" RAWUPS("1", "f", "{\"n\":\"caf\xc3\xa9 \\\"q\\\"\\n\",\"k\":12}")
			     ",{\"value\":{\"type\":\"Feature\",\"id\":\"g\",\"properties\":{}},\"op_id\":\"2\"," HLC
			     ",\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"layerId\":\"L\",\"id\":\"g\"}}"
			     "," UPS("3", "h")
			     ",{\"op_id\":\"4\"," HLC ",\"verb\":\"upsert\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"L\"},"
			     "\"value\":{\"name\":\"l\"}}"
			     "," UPD("5", "h", "properties.a", "{\"z\":[1,2]}")
			     ",{\"op_id\":\"6\"," HLC ",\"verb\":\"batch\",\"operations\":[" RAWUPS("x", "i", "{}") "]}"
			     "]}", &kept), 0);
	CHECK_INT(kept, 2);
	/* a value the writer would write otherwise (1.50, a space, \u escapes): the whole body is
	 * built, and stored as it always was */
	CHECK_INT(push_both(a, b, "{\"client_id\":\"c\",\"base\":6,\"ops\":[" RAWUPS("7", "j", "{\"n\":1.50}") ","
			     RAWUPS("8", "k", "{\"n\": 1}") "," RAWUPS("9", "l", "{\"n\":\"\\u0041\"}") "]}", &kept), 0);
	CHECK_INT(kept, 0);
	/* later updates and deletes of kept features, and pulls from before them */
	CHECK_INT(push_both(a, b, "{\"client_id\":\"d\",\"base\":9,\"ops\":[" UPD("u1", "f", "properties.k", "13")
			     ",{\"op_id\":\"u2\"," HLC ",\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":\"g\",\"layerId\":\"L\"}}"
			     "," RAWUPS("u3", "f", "{\"again\":true}") "]}", &kept), 0);
	CHECK_INT(kept, 1);
	/* refused alike: a repeated member in a value, an id that is not metadata.id, bad JSON,
	 * a retry, a stale base */
	CHECK_INT(push_both(a, b, "{\"client_id\":\"c\",\"base\":12,\"ops\":[" RAWUPS("r1", "m", "{\"a\":1,\"a\":2}") "]}", &kept),
		  UMAP_EINVALID);
	CHECK_INT(push_both(a, b, "{\"client_id\":\"c\",\"base\":12,\"ops\":[{\"op_id\":\"r2\"," HLC ",\"verb\":\"upsert\","
			     "\"subject\":\"feature\",\"metadata\":{\"id\":\"m\",\"layerId\":\"L\"},\"value\":{\"type\":\"Feature\",\"id\":\"n\"}}]}",
			     &kept), UMAP_EINVALID);
	CHECK_INT(push_both(a, b, "{\"client_id\":\"c\",\"base\":12,\"ops\":[" RAWUPS("r3", "m", "{}") "", &kept), UMAP_EINVALID);
	CHECK_INT(push_both(a, b, "{\"client_id\":\"c\",\"base\":12,\"ops\":[" RAWUPS("1", "f", "{}") "]}", &kept), 0);
	CHECK_INT(push_both(a, b, "{\"client_id\":\"e\",\"base\":1,\"ops\":[" RAWUPS("e1", "f", "{}") "]}", &kept), UMAP_ECONFLICT);
	for (int64_t since = 0; since <= 12; since++) {
		umap_buf pa = UMAP_BUF_INIT, pb = UMAP_BUF_INIT;
		int64_t ca, cb;
		CHECK_INT(umap_sync_store_pull(&pa, &ca, a, "m", &all, since, 1000), 0);
		CHECK_INT(umap_sync_store_pull(&pb, &cb, b, "m", &all, since, 1000), 0);
		CHECK_STR(pb.ptr, pa.ptr);
		CHECK_INT(cb, ca);
		umap_buf_dispose(&pa);
		umap_buf_dispose(&pb);
	}
	char *sa = snapshot(a, &all), *sb = snapshot(b, &all);
	CHECK_STR(sb, sa);
	CHECK(strstr(sa, "{\"type\":\"Feature\",\"id\":\"f\",\"properties\":{\"again\":true}") != NULL);
	free(sa);
	free(sb);
	umap_sync_store_close(a);
	umap_sync_store_close(b);
}

int main(void)
{
	dir = mkdtemp(dir_template);
	if (!dir)
		return 1;
	RUN(op_validation);
	RUN(set_path_edits_nested_keys);
	RUN(push_pull_snapshot_round_trip);
	RUN(feature_values_kept_as_bytes_store_and_pull_as_trees_do);
	RUN(realtime_last_writer_wins_by_parsed_clock);
	RUN(realtime_and_batches_refuse_duplicate_op_ids_and_nul_names);
	RUN(conflict_scopes);
	RUN(upserts_kept_in_feature_rows_still_conflict);
	RUN(layer_limit_counts_past_gaps);
	RUN(idempotent_and_retention);
	RUN(clock_skew_refused);
	RUN(tokens_and_grants);
	RUN(concurrent_pushes_group_commit);
	RUN(streams_read_in_pieces_and_side_by_side);
	RUN(schema_1_store_is_migrated);
	RUN(schema_2_store_is_migrated);
	RUN(readers_and_open_keep_page_caches_small);
	RUN(wal_goes_back_under_its_limit_after_a_long_read);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return UNIT_DONE();
}
