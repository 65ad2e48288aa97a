/* Unit tests for the sync client's pieces: remote URLs, snapshots turned into files, and
 * pulled ops applied to FeatureCollections and .umap maps. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	RUN(url_parse);
	RUN(snapshot_to_files);
	RUN(apply_feature_ops);
	RUN(apply_map_ops);
	RUN(apply_ops_batch_equals_one_by_one);
	return UNIT_DONE();
}
