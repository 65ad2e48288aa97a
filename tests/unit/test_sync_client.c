/* Unit tests for the sync client's pieces: remote URLs, snapshots turned into files, and
 * pulled ops applied to FeatureCollections and .umap maps. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "json.h"
#include "sync_client.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);
	if (!v)
		printf("# bad test JSON: %s\n", jerr.text);
	return v;
}

static char *dump(const json_t *v)
{
	return umap_json_dumps(v, UMAP_JSON_COMPACT);
}

static void apply(umap_sync_files *files, const char *op_text, int want_applied)
{
	json_t *op = parse(op_text);
	int applied = -1;
	CHECK_INT(umap_sync_apply_op(files, op, &applied), 0);
	CHECK_INT(applied, want_applied);
	json_decref(op);
}

TEST(url_parse)
{
	umap_sync_url url;
	CHECK_INT(umap_sync_url_parse(&url, "http://127.0.0.1:8642/lyon"), 0);
	CHECK_STR(url.base, "http://127.0.0.1:8642");
	CHECK_STR(url.map, "lyon");
	umap_sync_url_dispose(&url);
	CHECK_INT(umap_sync_url_parse(&url, "https://example.org/sync/base/my-map/"), 0);
	CHECK_STR(url.base, "https://example.org/sync/base");
	CHECK_STR(url.map, "my-map");
	umap_sync_url_dispose(&url);
	const char *bad[] = { "ftp://h/m", "http://h", "http://h/", "http:///m", "http://h/a.b", "lyon", NULL };
	for (int i = 0; bad[i]; i++)
		CHECK_INT(umap_sync_url_parse(&url, bad[i]), UMAP_EINVALID);
}

TEST(snapshot_to_files)
{
	json_t *snap = parse("{\"map\":\"m\",\"cursor\":3,\"properties\":{\"properties\":{\"zoom\":12}},\"layers\":["
			     "{\"id\":\"A\",\"filename\":\"a.geojson\",\"options\":{\"name\":\"A\"},\"features\":[{\"type\":\"Feature\",\"id\":\"f\"}]},"
			     "{\"id\":\"B\",\"filename\":null,\"options\":null,\"features\":[]},"
			     "{\"id\":\"C\",\"filename\":\"map.umap\",\"options\":{\"id\":\"C\"},\"features\":[]},"
			     "{\"id\":\"D\",\"filename\":\"map.umap\",\"options\":{\"id\":\"D\"},\"features\":[]},"
			     "{\"id\":\"E\",\"filename\":\"a.geojson\",\"options\":{},\"features\":[]}]}");
	umap_sync_files files;
	CHECK_INT(umap_sync_files_from_snapshot(&files, snap), 0);
	CHECK_INT(files.n, 4);
	CHECK_STR(files.paths[0], "a.geojson");
	CHECK_STR(files.paths[1], "B.geojson");
	CHECK_STR(files.paths[2], "map.umap");
	CHECK_STR(files.paths[3], "E.geojson"); /* a.geojson holds A already */
	char *t = dump(files.roots[0]);
	CHECK_STR(t, "{\"type\":\"FeatureCollection\",\"properties\":{\"name\":\"A\",\"id\":\"A\"},\"features\":[{\"type\":\"Feature\",\"id\":\"f\"}]}");
	free(t);
	t = dump(files.roots[2]);
	CHECK_STR(t, "{\"type\":\"umap\",\"properties\":{\"zoom\":12},\"layers\":[{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"C\"},\"features\":[]},"
		     "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"D\"},\"features\":[]}]}");
	free(t);
	umap_sync_files_dispose(&files);
	json_decref(snap);
}

TEST(apply_feature_ops)
{
	umap_sync_files files = { 0, NULL, NULL };
	CHECK_INT(umap_sync_files_add(&files, "a.geojson",
				      parse("{\"type\":\"FeatureCollection\",\"_umap_options\":{\"id\":\"A\"},\"features\":["
					    "{\"type\":\"Feature\",\"id\":\"f\",\"properties\":{\"name\":\"x\",\"n\":1}},"
					    "{\"type\":\"Feature\",\"id\":7,\"properties\":{}}]}")), 0);
	apply(&files, "{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"A\"},\"key\":\"properties.name\",\"value\":\"y\"}", 1);
	apply(&files, "{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"A\"},\"key\":\"properties.n\"}", 1);
	apply(&files, "{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":7,\"layerId\":\"A\"}}", 1);
	apply(&files, "{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"g\",\"layerId\":\"A\"},\"value\":{\"type\":\"Feature\",\"properties\":{}}}", 1);
	apply(&files, "{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"gone\",\"layerId\":\"A\"},\"key\":\"properties.x\",\"value\":1}", 0);
	apply(&files, "{\"verb\":\"update\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"A\"},\"key\":\"options.color\",\"value\":\"red\"}", 1);
	char *t = dump(files.roots[0]);
	CHECK_STR(t, "{\"type\":\"FeatureCollection\",\"_umap_options\":{\"id\":\"A\",\"color\":\"red\"},\"features\":["
		     "{\"type\":\"Feature\",\"id\":\"f\",\"properties\":{\"name\":\"y\"}},{\"type\":\"Feature\",\"properties\":{},\"id\":\"g\"}]}");
	free(t);
	/* a new layer with its file name, and a feature of an unknown layer */
	apply(&files, "{\"verb\":\"upsert\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"B\",\"filename\":\"b.geojson\"},\"value\":{\"name\":\"B\"}}", 1);
	apply(&files, "{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"h\",\"layerId\":\"C\"},\"value\":{\"type\":\"Feature\"}}", 1);
	CHECK_INT(files.n, 3);
	CHECK_STR(files.paths[1], "b.geojson");
	CHECK_STR(files.paths[2], "C.geojson");
	/* deleting a layer that is a whole file removes the file */
	apply(&files, "{\"verb\":\"delete\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"B\"}}", 1);
	CHECK(files.roots[1] == NULL);
	apply(&files, "{\"verb\":\"update\",\"subject\":\"map\",\"metadata\":{},\"key\":\"properties.zoom\",\"value\":3}", 0);
	json_t *bad = parse("{\"verb\":\"fly\",\"subject\":\"feature\"}");
	int applied;
	CHECK_INT(umap_sync_apply_op(&files, bad, &applied), UMAP_EINVALID);
	json_decref(bad);
	umap_sync_files_dispose(&files);
}

TEST(apply_map_ops)
{
	umap_sync_files files = { 0, NULL, NULL };
	CHECK_INT(umap_sync_files_add(&files, "m.umap",
				      parse("{\"type\":\"umap\",\"properties\":{\"name\":\"M\"},\"layers\":["
					    "{\"type\":\"FeatureCollection\",\"_umap_options\":{\"id\":\"A\"},\"features\":[]},"
					    "{\"type\":\"FeatureCollection\",\"_umap_options\":{\"id\":\"B\"},\"features\":[]}]}")), 0);
	apply(&files, "{\"verb\":\"update\",\"subject\":\"map\",\"metadata\":{},\"key\":\"properties.zoom\",\"value\":3}", 1);
	apply(&files, "{\"verb\":\"delete\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"A\"}}", 1);
	char *t = dump(files.roots[0]);
	CHECK_STR(t, "{\"type\":\"umap\",\"properties\":{\"name\":\"M\",\"zoom\":3},\"layers\":["
		     "{\"type\":\"FeatureCollection\",\"_umap_options\":{\"id\":\"B\"},\"features\":[]}]}");
	free(t);
	umap_sync_files_dispose(&files);
}

/* A batch gives what the same ops give one by one: deletions in the middle, a feature
 * deleted then upserted again (it goes last), a layer deleted and made again. */
TEST(apply_ops_batch_equals_one_by_one)
{
	const char *layer = "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"A\"},\"features\":["
			    "{\"type\":\"Feature\",\"id\":\"f1\",\"properties\":{}},{\"type\":\"Feature\",\"id\":\"f2\",\"properties\":{}},"
			    "{\"type\":\"Feature\",\"id\":\"f3\",\"properties\":{}},{\"type\":\"Feature\",\"id\":4,\"properties\":{}}]}";
	json_t *ops = parse("["
		"{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f2\",\"layerId\":\"A\"}},"
		"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f3\",\"layerId\":\"A\"},\"key\":\"properties.n\",\"value\":3},"
		"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f2\",\"layerId\":\"A\"},\"key\":\"properties.n\",\"value\":2},"
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f2\",\"layerId\":\"A\"},\"value\":{\"type\":\"Feature\",\"properties\":{\"again\":true}}},"
		"{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":4,\"layerId\":\"A\"}},"
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f5\",\"layerId\":\"A\"},\"value\":{\"type\":\"Feature\",\"properties\":{}}},"
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"A\"},\"value\":{\"type\":\"Feature\",\"properties\":{\"n\":1}}},"
		"{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f5\",\"layerId\":\"A\"}},"
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"b1\",\"layerId\":\"B\"},\"value\":{\"type\":\"Feature\"}},"
		"{\"verb\":\"delete\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"B\"}},"
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"b2\",\"layerId\":\"B\"},\"value\":{\"type\":\"Feature\"}},"
		"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f3\",\"layerId\":\"A\"},\"key\":\"properties.m\",\"value\":4}]");
	umap_sync_files one = { 0, NULL, NULL }, batch = { 0, NULL, NULL };
	CHECK_INT(umap_sync_files_add(&one, "a.geojson", parse(layer)), 0);
	CHECK_INT(umap_sync_files_add(&batch, "a.geojson", parse(layer)), 0);
	size_t i, applied = 0;
	json_t *op;
	json_array_foreach(ops, i, op) {
		int did = 0;
		CHECK_INT(umap_sync_apply_op(&one, op, &did), 0);
		applied += (size_t)did;
	}
	size_t batch_applied = 0;
	CHECK_INT(umap_sync_apply_ops(&batch, ops, &batch_applied, NULL), 0);
	CHECK_INT(batch_applied, applied);
	CHECK_INT(applied, 11); /* the update of the deleted f2 has nothing to act on */
	CHECK_INT(batch.n, one.n);
	for (size_t f = 0; f < one.n && f < batch.n; f++) {
		char *a = one.roots[f] ? dump(one.roots[f]) : NULL, *b = batch.roots[f] ? dump(batch.roots[f]) : NULL;
		CHECK_STR(b ? b : "(removed)", a ? a : "(removed)");
		free(a);
		free(b);
	}
	char *t = dump(batch.roots[0]);
	CHECK_STR(t, "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"A\"},\"features\":["
		     "{\"type\":\"Feature\",\"properties\":{\"n\":1},\"id\":\"f1\"},"
		     "{\"type\":\"Feature\",\"id\":\"f3\",\"properties\":{\"n\":3,\"m\":4}},"
		     "{\"type\":\"Feature\",\"properties\":{\"again\":true},\"id\":\"f2\"}]}");
	free(t);
	/* an op it cannot apply is named by its op_id */
	json_t *bad = parse("[{\"op_id\":\"c1-9\",\"verb\":\"fly\",\"subject\":\"feature\"}]");
	CHECK_INT(umap_sync_apply_ops(&batch, bad, &batch_applied, NULL), UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "applying op c1-9: ") != NULL);
	json_decref(bad);
	umap_sync_files_dispose(&one);
	umap_sync_files_dispose(&batch);
	json_decref(ops);
}

static int collect_text(void *ctx, const char *data, size_t len)
{
	return umap_buf_put(ctx, data, len) ? UMAP_ENOMEM : 0;
}

/* A pull applied to a layer file as it streams gives the features a batch gives, in the
 * same places: an update of a kept feature among additions, a feature deleted then
 * upserted again (it goes last, with what came after), a new feature deleted again, a
 * feature removed for good, and the ops counted alike. */
TEST(apply_ops_to_file_equals_batch)
{
	const char *layer = "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"A\"},\"features\":[\n"
			    "{\"type\":\"Feature\",\"id\":\"f1\",\"properties\":{}},\n{\"type\":\"Feature\",\"id\":\"f2\",\"properties\":{}},\n"
			    "{\"type\":\"Feature\",\"id\":\"f3\",\"properties\":{}},\n{\"type\":\"Feature\",\"id\":4,\"properties\":{}},\n"
			    "{\"type\":\"Feature\",\"id\":\"f9\",\"properties\":{\"k\":1}}\n]}\n";
	json_t *ops = parse("["
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f6\",\"layerId\":\"A\"},\"value\":{\"type\":\"Feature\",\"properties\":{\"n\":6}}},"
		"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f2\",\"layerId\":\"A\"},\"key\":\"properties.n\",\"value\":2},"
		"{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f2\",\"layerId\":\"A\"}},"
		"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f3\",\"layerId\":\"A\"},\"key\":\"properties.n\",\"value\":3},"
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f2\",\"layerId\":\"A\"},\"value\":{\"type\":\"Feature\",\"properties\":{\"again\":true}}},"
		"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f2\",\"layerId\":\"A\"},\"key\":\"properties.m\",\"value\":1},"
		"{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":4,\"layerId\":\"A\"}},"
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f5\",\"layerId\":\"A\"},\"value\":{\"type\":\"Feature\",\"properties\":{}}},"
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"A\"},\"value\":{\"type\":\"Feature\",\"properties\":{\"n\":1}}},"
		"{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f5\",\"layerId\":\"A\"}},"
		"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f6\",\"layerId\":\"A\"},\"key\":\"properties.m\",\"value\":6},"
		"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f3\",\"layerId\":\"A\"},\"key\":\"properties.m\",\"value\":4}]");
	umap_sync_files batch = { 0, NULL, NULL };
	CHECK_INT(umap_sync_files_add(&batch, "a.geojson", parse(layer)), 0);
	size_t batch_applied = 0, applied = 0;
	CHECK_INT(umap_sync_apply_ops(&batch, ops, &batch_applied, NULL), 0);
	char path[] = "/tmp/umapsync-test-layer-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, layer, strlen(layer)) == (ssize_t)strlen(layer));
	close(fd);
	umap_buf out = UMAP_BUF_INIT;
	CHECK_INT(umap_sync_apply_ops_to_file(&applied, NULL, path, "A", ops, collect_text, &out, NULL), 0);
	CHECK_INT(applied, batch_applied);
	json_t *streamed = out.ptr ? parse(out.ptr) : NULL;
	char *want = dump(json_object_get(batch.roots[0], "features"));
	char *got = streamed ? dump(json_object_get(streamed, "features")) : NULL;
	CHECK_STR(got ? got : "(none)", want);
	CHECK(strstr(want, "\"f9\"") < strstr(want, "\"f6\"") && strstr(want, "\"f6\"") < strstr(want, "\"again\""));
	/* the untouched feature's bytes are the file's */
	CHECK(out.ptr && strstr(out.ptr, "{\"type\":\"Feature\",\"id\":\"f9\",\"properties\":{\"k\":1}}"));
	free(want);
	free(got);
	json_decref(streamed);
	umap_buf_dispose(&out);
	umap_sync_files_dispose(&batch);
	json_decref(ops);
	unlink(path);
}

/* Pull replies are checked as the server checks pushes: shape, cursor, every op. */
TEST(pull_reply_parse)
{
	static const struct {
		const char *body;
		long long since;
		const char *error; /* NULL: accepted */
	} cases[] = {
		{ "{\"ops\":[],\"cursor\":7,\"more\":false}", 7, NULL },
		{ "{\"ops\":[],\"cursor\":9}", 7, NULL },
		{ "[]", 0, "it is not a JSON object" },
		{ "-5", 0, "it is not a JSON object" },
		{ "\"abc\"", 0, "it is not a JSON object" },
		{ "{\"ops\":{},\"cursor\":1}", 0, "\"ops\" must be an array" },
		{ "{\"ops\":[]}", 0, "\"cursor\" must be an integer >= 0" },
		{ "{\"ops\":[],\"cursor\":-1}", 0, "\"cursor\" must be an integer >= 0" },
		{ "{\"ops\":[],\"cursor\":1.5}", 0, "\"cursor\" must be an integer >= 0" },
		{ "{\"ops\":[],\"cursor\":\"3\"}", 0, "\"cursor\" must be an integer >= 0" },
		{ "{\"ops\":[],\"cursor\":3,\"more\":1}", 0, "\"more\" must be true or false" },
		{ "{\"ops\":[],\"cursor\":2}", 5, "the cursor went back from 5 to 2" },
		{ "{\"ops\":[],\"cursor\":5,\"more\":true}", 5, "\"more\" is true but the cursor did not move past 5" },
		{ "{\"ops\":[{\"op_id\":\"a\",\"hlc\":\"000000000001-0000-n\",\"verb\":\"upsert\",\"subject\":\"datalayer\","
		  "\"metadata\":{\"id\":\"../../etc/x\"},\"value\":{}}],\"cursor\":1}",
		  0, "ops[0]: metadata.id of a datalayer must be 1 to 128 characters of A-Z a-z 0-9 _ -" },
		{ "{\"ops\":[{\"op_id\":\"a\",\"hlc\":\"000000000001-0000-n\",\"verb\":\"update\",\"subject\":\"map\","
		  "\"metadata\":{},\"key\":\"layers\",\"value\":[]}],\"cursor\":1}",
		  0, "ops[0]: a map update may only set \"properties\", \"properties.*\", \"geometry\" or \"uri\"" },
		{ "{\"ops\":[{\"op_id\":\"a\",\"hlc\":\"000000000001-0000-n\",\"verb\":\"update\",\"subject\":\"feature\","
		  "\"metadata\":{\"id\":\"f\",\"layerId\":\"L\"},\"key\":\"bbox\",\"value\":[]}],\"cursor\":1}",
		  0, "ops[0]: a feature update may only set \"properties\", \"properties.*\" or \"geometry\"" },
		{ "{\"ops\":[1],\"cursor\":1}", 0, "ops[0]: an op must be a JSON object" },
		{ "{\"ops\":[", 0, NULL /* a JSON error: checked below by prefix only */ },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		umap_sync_pull_reply reply;
		int rc = umap_sync_pull_reply_parse(&reply, cases[i].body, strlen(cases[i].body), cases[i].since);
		if (!cases[i].error && strcmp(cases[i].body, "{\"ops\":[")) {
			CHECK_INT(rc, 0);
			CHECK(json_is_array(reply.ops));
			umap_sync_pull_reply_dispose(&reply);
			continue;
		}
		CHECK_INT(rc, UMAP_EINVALID);
		CHECK(reply.root == NULL);
		const char *prefix = "the server's answer is not a pull reply: ";
		CHECK(!strncmp(umap_error_last(), prefix, strlen(prefix)));
		if (cases[i].error)
			CHECK_STR(umap_error_last() + strlen(prefix), cases[i].error);
	}
	const char *good = "{\"ops\":[{\"op_id\":\"a\",\"hlc\":\"000000000001-0000-n\",\"verb\":\"update\",\"subject\":\"map\","
			   "\"metadata\":{},\"key\":\"properties.zoom\",\"value\":3}],\"cursor\":4,\"more\":true}";
	umap_sync_pull_reply reply;
	CHECK_INT(umap_sync_pull_reply_parse(&reply, good, strlen(good), 1), 0);
	CHECK_INT(reply.cursor, 4);
	CHECK_INT(reply.more, 1);
	CHECK_INT(json_array_size(reply.ops), 1);
	umap_sync_pull_reply_dispose(&reply);
}

TEST(snapshot_refuses_bad_names)
{
	static const struct {
		const char *snapshot, *error;
	} cases[] = {
		{ "[]", "it is not a JSON object" },
		{ "{\"layers\":{},\"cursor\":0}", "\"layers\" must be an array" },
		{ "{\"layers\":[]}", "\"cursor\" must be an integer >= 0" },
		{ "{\"layers\":[],\"cursor\":0,\"properties\":[]}", "\"properties\" must be an object" },
		{ "{\"layers\":[{\"id\":\"../x\",\"features\":[]}],\"cursor\":0}",
		  "layers[0].id must be 1 to 128 characters of A-Z a-z 0-9 _ -" },
		{ "{\"layers\":[{\"id\":\"A\",\"filename\":\"../../x.geojson\",\"features\":[]}],\"cursor\":0}",
		  "layers[0].filename must be a file name without '/' or a leading '.'" },
		{ "{\"layers\":[{\"id\":\"A\",\"filename\":\".git\",\"features\":[]}],\"cursor\":0}",
		  "layers[0].filename must be a file name without '/' or a leading '.'" },
		{ "{\"layers\":[{\"id\":\"A\",\"filename\":7,\"features\":[]}],\"cursor\":0}",
		  "layers[0].filename must be a file name without '/' or a leading '.'" },
		{ "{\"layers\":[{\"id\":\"A\",\"options\":3,\"features\":[]}],\"cursor\":0}",
		  "layers[0].options must be an object" },
		{ "{\"layers\":[{\"id\":\"A\",\"optionsKey\":\"features\",\"features\":[]}],\"cursor\":0}",
		  "layers[0].optionsKey must be \"properties\", \"_umap_options\" or \"_storage\"" },
		{ "{\"layers\":[{\"id\":\"A\"}],\"cursor\":0}", "layers[0].features must be an array" },
		{ "{\"layers\":[7],\"cursor\":0}", "layers[0] must be an object" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *snap = parse(cases[i].snapshot);
		umap_sync_files files;
		CHECK_INT(umap_sync_files_from_snapshot(&files, snap), UMAP_EINVALID);
		CHECK_INT(files.n, 0);
		const char *prefix = "the server's answer is not a snapshot: ";
		CHECK(!strncmp(umap_error_last(), prefix, strlen(prefix)));
		CHECK_STR(umap_error_last() + strlen(prefix), cases[i].error);
		json_decref(snap);
	}
}

/* Names that reach apply without the reply check (a caller's own ops) still never walk out
 * of the work tree nor lose their suffix; a map op never replaces the layers. */
TEST(apply_refuses_paths_and_layers)
{
	umap_sync_files files = { 0, NULL, NULL };
	char op[512], id[200];
	memset(id, 'a', 143);
	id[143] = '\0';
	const char *ids[] = { "../../tmp/evil", id, "", NULL };
	for (int i = 0; ids[i]; i++) {
		snprintf(op, sizeof(op), "{\"verb\":\"upsert\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"%s\"},\"value\":{}}", ids[i]);
		json_t *o = parse(op);
		int applied = -1;
		CHECK_INT(umap_sync_apply_op(&files, o, &applied), UMAP_EINVALID);
		json_decref(o);
		snprintf(op, sizeof(op), "{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"%s\"},"
			 "\"value\":{\"type\":\"Feature\"}}", ids[i]);
		o = parse(op);
		CHECK_INT(umap_sync_apply_op(&files, o, &applied), UMAP_EINVALID);
		json_decref(o);
	}
	json_t *o = parse("{\"verb\":\"upsert\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"A\",\"filename\":\"../a.geojson\"},\"value\":{}}");
	int applied = -1;
	CHECK_INT(umap_sync_apply_op(&files, o, &applied), UMAP_EINVALID);
	json_decref(o);
	CHECK_INT(files.n, 0);
	CHECK_INT(umap_sync_files_add(&files, "m.umap", parse("{\"type\":\"umap\",\"layers\":[{\"type\":\"FeatureCollection\","
							       "\"_umap_options\":{\"id\":\"A\"},\"features\":[]}]}")), 0);
	o = parse("{\"verb\":\"update\",\"subject\":\"map\",\"metadata\":{},\"key\":\"layers\",\"value\":[]}");
	CHECK_INT(umap_sync_apply_op(&files, o, &applied), UMAP_EINVALID);
	json_decref(o);
	CHECK_INT(json_array_size(json_object_get(files.roots[0], "layers")), 1);
	umap_sync_files_dispose(&files);
}

TEST(apply_umap_batch)
{
	/* uMap's journal sends {"verb":"batch","operations":[...]}: its inner ops, in order */
	umap_sync_files files = { 0, NULL, NULL };
	CHECK_INT(umap_sync_files_add(&files, "a.geojson",
				      parse("{\"type\":\"FeatureCollection\",\"_umap_options\":{\"id\":\"A\"},\"features\":["
					    "{\"type\":\"Feature\",\"id\":\"f\",\"properties\":{\"name\":\"x\"}}]}")), 0);
	apply(&files, "{\"verb\":\"batch\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"A\"},\"operations\":["
		      "{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"A\"},\"key\":\"properties.name\",\"value\":\"y\"},"
		      "{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"A\"},\"key\":\"properties.n\",\"value\":2}]}", 1);
	char *t = dump(files.roots[0]);
	CHECK_STR(t, "{\"type\":\"FeatureCollection\",\"_umap_options\":{\"id\":\"A\"},\"features\":["
		     "{\"type\":\"Feature\",\"id\":\"f\",\"properties\":{\"name\":\"y\",\"n\":2}}]}");
	free(t);
	int applied;
	json_t *nested = parse("{\"verb\":\"batch\",\"subject\":\"map\",\"operations\":[{\"verb\":\"batch\",\"operations\":[]}]}");
	CHECK_INT(umap_sync_apply_op(&files, nested, &applied), UMAP_EINVALID);
	json_decref(nested);
	json_t *bare = parse("{\"verb\":\"batch\",\"subject\":\"map\"}");
	CHECK_INT(umap_sync_apply_op(&files, bare, &applied), UMAP_EINVALID);
	json_decref(bare);
	umap_sync_files_dispose(&files);
	/* a pull reply holding a batch gives its inner ops, each checked as a pushed op */
	umap_sync_pull_reply reply;
	const char *body = "{\"ops\":[{\"op_id\":\"b\",\"hlc\":\"1700000000000:0:a\",\"verb\":\"batch\",\"subject\":\"feature\","
			   "\"operations\":[{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"A\"}},"
			   "{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":\"g\",\"layerId\":\"A\"}}]}],\"cursor\":1}";
	CHECK_INT(umap_sync_pull_reply_parse(&reply, body, strlen(body), 0), 0);
	CHECK_INT(json_array_size(reply.ops), 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(reply.ops, 1), "op_id")), "b.1");
	umap_sync_pull_reply_dispose(&reply);
	const char *bad = "{\"ops\":[{\"op_id\":\"b\",\"hlc\":\"1700000000000:0:a\",\"verb\":\"batch\",\"subject\":\"feature\","
			  "\"operations\":[{\"verb\":\"delete\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f\",\"layerId\":\"../x\"}}]}],\"cursor\":1}";
	CHECK_INT(umap_sync_pull_reply_parse(&reply, bad, strlen(bad), 0), UMAP_EINVALID);
}

static int collect(void *ctx, const char *data, size_t len)
{
	return umap_buf_put(ctx, data, len);
}

/* A snapshot answer written feature by feature from a file (clone) gives the bytes that the
 * whole answer parsed and laid out gives: several layers, a .umap map gathering two with a
 * group, empty layers, escapes and non-ASCII text, and a layer large enough to cross the
 * writer's megabyte flushes and the dropping of mapped pages behind it. The features are in
 * the canonical form a umapsync server stores and sends (shortest numbers, UTF-8 as is):
 * their bytes are laid out, not parsed and written again. */
TEST(snapshot_streamed_equals_whole)
{
	umap_buf text = UMAP_BUF_INIT;
	umap_buf_puts(&text, "{\"map\":\"m\",\"cursor\":7,\"properties\":{\"properties\":{\"zoom\":12,\"center\":[4.8,45.7]}},"
			     "\"layers\":[{\"id\":\"A\",\"filename\":\"a.geojson\",\"options\":{\"name\":\"A \\u00e9\\n\"},\"features\":[");
	for (int i = 0; i < 60000; i++)
		umap_buf_printf(&text, "%s{\"type\":\"Feature\",\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[%d.5,45.25],[4.125,-%d.75]]},"
				       "\"properties\":{\"name\":\"f\\\"%d \xe2\x98\x83\",\"n\":%d,\"tags\":[\"a\",{\"b\":null}],\"e\":{}},\"id\":\"f%d\"}",
				i ? "," : "", i, i, i, i * 7, i);
	umap_buf_puts(&text, "]},{\"id\":\"B\",\"filename\":null,\"options\":null,\"features\":[ ]},"
			     "{\"id\":\"C\",\"filename\":\"map.umap\",\"options\":{\"id\":\"C\"},\"features\":[{\"type\":\"Feature\",\"geometry\":null,\"properties\":{},\"id\":1}]},"
			     "{\"id\":\"G\",\"filename\":\"map.umap\",\"options\":{\"id\":\"G\",\"properties\":{\"name\":\"group\"},\"rank\":1},\"features\":[]},"
			     "{\"id\":\"D\",\"filename\":\"map.umap\",\"options\":{\"properties\":{\"id\":\"D\"},\"parent\":\"G\",\"rank\":2},"
			     "\"features\":[{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]},\"properties\":{\"x\":[]},\"id\":\"d\"},"
			     "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[3,4.5]},\"properties\":{},\"id\":\"e\"}]}]}");
	char path[] = "/tmp/umapsync-test-snapshot-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, text.ptr, text.len) == (ssize_t)text.len);
	close(fd);

	json_t *whole = NULL;
	CHECK_INT(umap_json_loadb(&whole, text.ptr, text.len, "snapshot"), 0);
	umap_sync_files want;
	CHECK_INT(umap_sync_files_from_snapshot(&want, whole), 0);
	umap_sync_snapshot *snap = NULL;
	long long cursor = 0;
	CHECK_INT(umap_sync_snapshot_open(&snap, &cursor, path), 0);
	unlink(path);
	CHECK_INT(cursor, 7);
	const umap_sync_files *got = snap ? umap_sync_snapshot_files(snap) : NULL;
	CHECK(got && got->n == want.n && want.n == 3);
	for (size_t i = 0; got && i < want.n && i < got->n; i++) {
		static const umap_layout layout = UMAP_LAYOUT_DEFAULT;
		char *expected = umap_json_dumps_as(want.roots[i], &layout);
		umap_buf written = UMAP_BUF_INIT;
		CHECK_STR(got->paths[i], want.paths[i]);
		CHECK_INT(umap_sync_snapshot_write(snap, i, collect, &written), 0);
		CHECK(expected && written.ptr && !strcmp(written.ptr, expected));
		free(expected);
		umap_buf_dispose(&written);
	}
	umap_sync_snapshot_free(snap);
	umap_sync_files_dispose(&want);
	json_decref(whole);
	umap_buf_dispose(&text);
}

/* Kilobytes of mapped file pages this process holds (Linux), or -1. */
static long rss_file_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "RssFile:", 8))
			kb = strtol(line + 8, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static int count_bytes(void *ctx, const char *data, size_t len)
{
	(void)data;
	*(size_t *)ctx += len;
	return 0;
}

/* A mapping read end to end keeps its pages in the resident set: reading the layer list and
 * writing the layers give them back as they go (a 1M-feature clone held all 269 MB). */
TEST(snapshot_gives_its_pages_back)
{
	char path[] = "/tmp/umapsync-test-snapshot-XXXXXX";
	int fd = mkstemp(path);
	FILE *out = fd < 0 ? NULL : fdopen(fd, "w");
	CHECK(out != NULL);
	if (!out)
		return;
	fputs("{\"cursor\":3,\"layers\":[{\"id\":\"A\",\"filename\":\"a.geojson\",\"features\":[", out);
	for (int i = 0; i < 200000; i++)
		fprintf(out, "%s{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[%d.25,45.5]},"
			     "\"properties\":{\"name\":\"a feature with a name long enough to fill the page %d\"},\"id\":\"f%d\"}",
			i ? "," : "", i, i, i);
	fputs("]}]}", out);
	long size = ftell(out);
	CHECK(fclose(out) == 0 && size > (32L << 20));
	long before = rss_file_kb();
	umap_sync_snapshot *snap = NULL;
	long long cursor = 0;
	CHECK_INT(umap_sync_snapshot_open(&snap, &cursor, path), 0);
	unlink(path);
	long opened = rss_file_kb();
	size_t written = 0;
	CHECK_INT(snap ? umap_sync_snapshot_write(snap, 0, count_bytes, &written) : -1, 0);
	long after = rss_file_kb();
	CHECK(written > (size_t)size);
	if (before >= 0) {
		CHECK(opened - before < (16L << 10));
		CHECK(after - before < (16L << 10));
	}
	umap_sync_snapshot_free(snap);
}

/* What the whole answer's check refuses, the streamed one refuses with the same words; a
 * server cannot forge the placeholder of a feature list in its own values. */
TEST(snapshot_streamed_refuses_as_whole)
{
	const char *bad[] = {
		"[1]",
		"{\"cursor\":1,\"layers\":[{\"id\":\"A\",\"features\":{}}]}",
		"{\"cursor\":1,\"layers\":[{\"id\":\"../x\",\"features\":[{}]}]}",
		"{\"cursor\":-1,\"layers\":[]}",
		"{\"cursor\":1,\"layers\":[{\"id\":\"A\",\"features\":[{]}]}",
		"{\"cursor\":1,\"layers\":[]} {}",
		NULL,
	};
	for (int i = 0; bad[i]; i++) {
		char path[] = "/tmp/umapsync-test-snapshot-XXXXXX";
		int fd = mkstemp(path);
		CHECK(fd >= 0 && write(fd, bad[i], strlen(bad[i])) == (ssize_t)strlen(bad[i]));
		close(fd);
		umap_sync_snapshot *snap = NULL;
		long long cursor = 0;
		CHECK(umap_sync_snapshot_open(&snap, &cursor, path) < 0);
		CHECK(snap == NULL);
		json_t *whole = NULL;
		if (!umap_json_loadb(&whole, bad[i], strlen(bad[i]), "snapshot")) {
			char *streamed = strdup(umap_error_last());
			CHECK_INT(umap_sync_snapshot_check(&cursor, whole), UMAP_EINVALID);
			CHECK_STR(streamed, umap_error_last());
			free(streamed);
		}
		json_decref(whole);
		unlink(path);
	}
	/* a value holding what looks like a placeholder is written as the value it is */
	const char *forged = "{\"cursor\":1,\"layers\":[{\"id\":\"A\",\"options\":{\"name\":\"\\u0001umapsync-features:00:0\"},"
			     "\"features\":[{\"type\":\"Feature\",\"properties\":{},\"geometry\":null,\"id\":\"x\"}]}]}";
	char path[] = "/tmp/umapsync-test-snapshot-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, forged, strlen(forged)) == (ssize_t)strlen(forged));
	close(fd);
	umap_sync_snapshot *snap = NULL;
	long long cursor = 0;
	umap_buf written = UMAP_BUF_INIT;
	CHECK_INT(umap_sync_snapshot_open(&snap, &cursor, path), 0);
	CHECK_INT(snap ? umap_sync_snapshot_write(snap, 0, collect, &written) : -1, 0);
	CHECK(written.ptr && strstr(written.ptr, "\"name\": \"\\u0001umapsync-features:00:0\"") &&
	      strstr(written.ptr, "\"id\": \"x\""));
	umap_buf_dispose(&written);
	umap_sync_snapshot_free(snap);
	unlink(path);
}

int main(void)
{
	RUN(url_parse);
	RUN(snapshot_to_files);
	RUN(snapshot_streamed_equals_whole);
	RUN(snapshot_streamed_refuses_as_whole);
	RUN(snapshot_gives_its_pages_back);
	RUN(apply_feature_ops);
	RUN(apply_map_ops);
	RUN(apply_ops_batch_equals_one_by_one);
	RUN(apply_ops_to_file_equals_batch);
	RUN(pull_reply_parse);
	RUN(snapshot_refuses_bad_names);
	RUN(apply_refuses_paths_and_layers);
	RUN(apply_umap_batch);
	return UNIT_DONE();
}
