/* Unit tests for the server's socket-free seam, umap_sync_server_handle: routing, auth,
 * push, pull (with a long-poll that parks) and snapshot, without libmicrohttpd. */
#include "unit.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "sync_server.h"
#include "sync_store.h"

static char dir_template[] = "/tmp/umapsync-test-server.XXXXXX";
static umap_sync_store *store;
static umap_sync_server *server;

/* One request; *status and the body's "error" (or "") are what tests check. */
static json_t *request(unsigned *status, const char *method, const char *path,
		       const umap_sync_http_field *args, size_t nargs, const char *auth,
		       const char *body)
{
	umap_sync_http_field headers[1] = { { "authorization", auth } };
	umap_sync_http_request rq = { method, path, args, nargs, headers, auth ? 1 : 0,
				      body, body ? strlen(body) : 0, 0 };
	umap_sync_http_response rs;
	CHECK_INT(umap_sync_server_handle(server, &rq, &rs), 0);
	if (rs.status == 0) {
		CHECK_STR(rs.map, "m");
		rq.resumed = 1;
		CHECK_INT(umap_sync_server_handle(server, &rq, &rs), 0);
		*status = 1000 + rs.status; /* parked first */
	} else {
		*status = rs.status;
	}
	json_t *reply = json_loadb(rs.body, rs.body_len, 0, NULL);
	CHECK(json_is_object(reply));
	umap_sync_http_response_dispose(&rs);
	return reply;
}

static const char *error_of(const json_t *reply)
{
	const char *e = json_string_value(json_object_get(reply, "error"));
	return e ? e : "";
}

TEST(routes_without_sockets)
{
	unsigned status;
	json_t *r = request(&status, "GET", "/v1/info", NULL, 0, NULL, NULL);
	CHECK_INT(status, 200);
	CHECK_STR(json_string_value(json_object_get(r, "server")), "umapsync");
	json_decref(r);
	r = request(&status, "POST", "/v1/info", NULL, 0, NULL, NULL);
	CHECK_INT(status, 405);
	json_decref(r);
	r = request(&status, "GET", "/v2/nothing", NULL, 0, NULL, NULL);
	CHECK_INT(status, 404);
	json_decref(r);
	r = request(&status, "GET", "/v1/maps/../etc/snapshot", NULL, 0, NULL, NULL);
	CHECK_INT(status, 400);
	CHECK_STR(error_of(r), "invalid map name: use 1 to 64 characters of A-Z a-z 0-9 _ -");
	json_decref(r);
}

TEST(push_pull_snapshot_and_long_poll)
{
	unsigned status;
	json_t *r = request(&status, "POST", "/v1/maps/m/push", NULL, 0, NULL,
			    "{\"client_id\":\"alice\",\"base\":0,\"ops\":[{\"op_id\":\"a1\","
			    "\"hlc\":\"018f3a2b4c5d-0000-alice\",\"verb\":\"upsert\",\"subject\":\"feature\","
			    "\"metadata\":{\"id\":\"f1\",\"layerId\":\"L1\"},\"value\":{\"type\":\"Feature\","
			    "\"geometry\":null,\"properties\":{\"name\":\"A\"}}}]}");
	CHECK_INT(status, 200);
	CHECK_INT(json_integer_value(json_object_get(r, "cursor")), 1);
	json_decref(r);
	r = request(&status, "POST", "/v1/maps/m/push", NULL, 0, NULL, "{\"client_id\":");
	CHECK_INT(status, 400);
	json_decref(r);
	umap_sync_http_field since0[] = { { "since", "0" } };
	r = request(&status, "GET", "/v1/maps/m/pull", since0, 1, NULL, NULL);
	CHECK_INT(status, 200);
	CHECK_INT(json_array_size(json_object_get(r, "ops")), 1);
	json_decref(r);
	/* nothing after cursor 1: a long-poll parks (status 0), then answers empty */
	umap_sync_http_field wait[] = { { "since", "1" }, { "wait", "5" } };
	r = request(&status, "GET", "/v1/maps/m/pull", wait, 2, NULL, NULL);
	CHECK_INT(status, 1000 + 200);
	CHECK_INT(json_array_size(json_object_get(r, "ops")), 0);
	json_decref(r);
	umap_sync_http_field bad[] = { { "since", "-1" } };
	r = request(&status, "GET", "/v1/maps/m/pull", bad, 1, NULL, NULL);
	CHECK_INT(status, 400);
	json_decref(r);
	r = request(&status, "HEAD", "/v1/maps/m/snapshot", NULL, 0, NULL, NULL);
	CHECK_INT(status, 200);
	CHECK_INT(json_array_size(json_object_get(r, "layers")), 1);
	json_decref(r);
}

TEST(tokens_are_checked_behind_the_seam)
{
	char *token = NULL, id[17];
	CHECK_INT(umap_sync_token_create(&token, id, store, "m", NULL, 0, 0), 0);
	unsigned status;
	json_t *r = request(&status, "GET", "/v1/maps/m/snapshot", NULL, 0, NULL, NULL);
	CHECK_INT(status, 401);
	json_decref(r);
	char auth[128];
	snprintf(auth, sizeof(auth), "Bearer %s", token);
	r = request(&status, "GET", "/v1/maps/m/snapshot", NULL, 0, auth, NULL);
	CHECK_INT(status, 200);
	json_decref(r);
	r = request(&status, "GET", "/v1/maps/other/snapshot", NULL, 0, auth, NULL);
	CHECK_INT(status, 403);
	json_decref(r);
	r = request(&status, "POST", "/v1/maps/m/push", NULL, 0, auth,
		    "{\"client_id\":\"alice\",\"base\":1,\"ops\":[]}");
	CHECK_INT(status, 403);
	CHECK_STR(error_of(r), "this token is read-only");
	json_decref(r);
	free(token);
}

int main(void)
{
	if (!mkdtemp(dir_template))
		return 1;
	umap_sync_store_options sopts = UMAP_SYNC_STORE_OPTIONS_INIT;
	umap_sync_server_options opts = UMAP_SYNC_SERVER_OPTIONS_INIT;
	if (umap_sync_store_open(&store, dir_template, &sopts) ||
	    umap_sync_server_new(&server, store, &opts))
		return 1;
	RUN(routes_without_sockets);
	RUN(push_pull_snapshot_and_long_poll);
	RUN(tokens_are_checked_behind_the_seam);
	umap_sync_server_stop(server);
	umap_sync_store_close(store);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir_template);
	if (system(cmd) != 0)
		return 1;
	return UNIT_DONE();
}
