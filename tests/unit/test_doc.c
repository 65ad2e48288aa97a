/* Unit tests for lib/doc: reading maps, layers and single features, ids and --id=PROP,
 * duplicate ids, id assignment, trees on demand, a write-back that keeps every order, and
 * GeoJSON streams read as FeatureCollections and written back as streams. */
#include "unit.h"

#include <ctype.h>
#include <stdlib.h>

#include "doc.h"
#include "error.h"
#include "geojsonseq.h"

static umap_doc *open_buf(const char *text, const char *id_property)
{
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	opts.id_property = id_property;
	umap_doc *doc = NULL;
	if (umap_doc_from_buffer(&doc, text, strlen(text), "t.geojson", &opts)) {
		printf("# open failed: %s\n", umap_error_last());
		return NULL;
	}
	return doc;
}

static char *write_doc(umap_doc *doc, unsigned flags)
{
	umap_buf buf = UMAP_BUF_INIT;
	if (umap_doc_write(&buf, doc, flags)) {
		printf("# write failed: %s\n", umap_error_last());
		umap_buf_dispose(&buf);
		return NULL;
	}
	return umap_buf_detach(&buf);
}

TEST(reads_umap_map_with_two_layers)
{
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	umap_doc *doc = NULL;
	CHECK_INT(umap_doc_open(&doc, "examples/cycling-lyon.umap", &opts), 0);
	if (!doc)
		return;
	CHECK_INT(doc->kind, UMAP_DOC_MAP);
	CHECK_INT(doc->nlayers, 2);
	CHECK_STR(json_string_value(json_object_get(doc->map, "type")), "umap");
	CHECK(json_object_get(doc->map, "layers") == NULL);
	umap_layer *lanes = &doc->layers[0];
	CHECK_STR(lanes->id, "3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15");
	CHECK_STR(lanes->options_key, "_umap_options");
	CHECK_STR(json_string_value(json_object_get(lanes->options, "name")), "Bike lanes");
	CHECK_INT(lanes->nfeatures, 6);
	CHECK_STR(lanes->features[0].id, "\"Rk3Qa\"");
	CHECK_INT(lanes->features[0].pos.line, 26);
	CHECK(lanes->features[0].value == NULL); /* no tree until asked */
	CHECK_INT(umap_layer_find(doc, lanes, "\"b7TzP\""), 1);
	CHECK_INT(umap_layer_find(doc, lanes, "\"nope!\""), -1);
	CHECK(umap_doc_find_layer(doc, "a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03") == &doc->layers[1]);
	CHECK(umap_doc_find_layer(doc, "missing") == NULL);
	json_t *tree = NULL;
	CHECK_INT(umap_doc_feature(&tree, doc, lanes, 1), 0);
	CHECK_STR(json_string_value(json_object_get(json_object_get(tree, "properties"), "name")),
		  "Rue Garibaldi");
	CHECK(lanes->features[1].value == tree);
	umap_doc_free(doc);
}

TEST(reads_feature_collection_with_properties)
{
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	umap_doc *doc = NULL;
	CHECK_INT(umap_doc_open(&doc, "examples/bike-parking.geojson", &opts), 0);
	if (!doc)
		return;
	CHECK_INT(doc->kind, UMAP_DOC_LAYER);
	CHECK(doc->map == NULL);
	CHECK_INT(doc->nlayers, 1);
	CHECK_STR(doc->layers[0].options_key, "properties");
	CHECK_STR(doc->layers[0].id, "a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03");
	CHECK_STR(doc->layers[0].features[0].id, "\"zP5kR\"");
	CHECK_INT(doc->layers[0].features[0].pos.line, 5);
	CHECK_INT(doc->layers[0].features[0].pos.col, 5);
	umap_doc_free(doc);
}

TEST(single_feature_is_a_layer_of_one)
{
	const char *text = "{\"type\":\"Feature\",\"id\":42,\"properties\":{\"a\":1},\"geometry\":null}";
	umap_doc *doc = open_buf(text, NULL);
	if (!doc)
		return;
	CHECK_INT(doc->kind, UMAP_DOC_LAYER);
	CHECK_INT(doc->nlayers, 1);
	CHECK_INT(doc->layers[0].nfeatures, 1);
	CHECK_STR(doc->layers[0].features[0].id, "42");
	CHECK_INT(doc->layers[0].features[0].length, strlen(text));
	char *out = write_doc(doc, UMAP_JSON_COMPACT);
	CHECK_STR(out, text);
	free(out);
	umap_doc_free(doc);
}

TEST(features_without_ids_and_equal_bytes_hash_equal)
{
	const char *text = "{\"type\":\"FeatureCollection\",\"features\":["
			   "{\"type\":\"Feature\",\"properties\":{},\"geometry\":null},"
			   "{\"type\":\"Feature\",\"id\":null,\"properties\":{},\"geometry\":null},"
			   "{\"type\":\"Feature\",\"properties\":{},\"geometry\":null}]}";
	umap_doc *doc = open_buf(text, NULL);
	if (!doc)
		return;
	umap_layer *l = &doc->layers[0];
	CHECK_INT(l->nfeatures, 3);
	CHECK(l->id == NULL);
	CHECK(l->options == NULL);
	CHECK(l->features[0].id == NULL && l->features[1].id == NULL && l->features[2].id == NULL);
	CHECK(l->features[0].hash == l->features[2].hash);
	CHECK(l->features[0].hash != l->features[1].hash);
	umap_doc_free(doc);
}

TEST(id_forms_are_normalised)
{
	const char *text = "{\"type\":\"FeatureCollection\",\"features\":["
			   "{\"id\":1.0,\"type\":\"Feature\"},{\"id\":\"a\\u0062c\",\"type\":\"Feature\"},"
			   "{\"type\":\"Feature\",\"id\":\"x\"}]}";
	umap_doc *doc = open_buf(text, NULL);
	if (!doc)
		return;
	CHECK_STR(doc->layers[0].features[0].id, "1");
	CHECK_STR(doc->layers[0].features[1].id, "\"abc\"");
	CHECK_STR(doc->layers[0].features[2].id, "\"x\"");
	char *shown = umap_id_display("\"abc\"");
	CHECK_STR(shown, "abc");
	free(shown);
	shown = umap_id_display("1");
	CHECK_STR(shown, "1");
	free(shown);
	umap_doc_free(doc);
}

TEST(id_property_reads_properties_prop)
{
	const char *text = "{\"type\":\"FeatureCollection\",\"features\":["
			   "{\"type\":\"Feature\",\"id\":\"zz\",\"properties\":{\"name\":\"a\",\"ref\":\"A1\"}},"
			   "{\"type\":\"Feature\",\"properties\":{\"ref\":7,\"nested\":{\"ref\":1}}},"
			   "{\"type\":\"Feature\",\"properties\":{\"name\":\"none\"}}]}";
	umap_doc *doc = open_buf(text, "ref");
	if (!doc)
		return;
	umap_layer *l = &doc->layers[0];
	CHECK_STR(l->features[0].id, "\"A1\"");
	CHECK_STR(l->features[1].id, "7");
	CHECK(l->features[2].id == NULL);
	CHECK_INT(umap_layer_find(doc, l, "7"), 1);
	char *id = NULL;
	json_t *tree = NULL;
	CHECK_INT(umap_doc_feature(&tree, doc, l, 0), 0);
	CHECK_INT(umap_feature_id(&id, tree, "ref"), 0);
	CHECK_STR(id, "\"A1\"");
	free(id);
	CHECK_INT(umap_feature_id(&id, tree, NULL), 0);
	CHECK_STR(id, "\"zz\"");
	free(id);
	umap_doc_free(doc);
}

/* import and commit free a layer's id index while they build its tree: a later lookup or
 * added feature builds it again, and the ids (packed in the document's blocks, or
 * malloc'd when set later) are each freed once, when the document or the feature goes */
TEST(a_released_id_index_is_built_again_when_used)
{
	const char *text = "{\"type\":\"FeatureCollection\",\"features\":["
			   "{\"type\":\"Feature\",\"id\":\"a1\",\"properties\":{}},"
			   "{\"type\":\"Feature\",\"id\":7,\"properties\":{}},"
			   "{\"type\":\"Feature\",\"properties\":{\"n\":3}},"
			   "{\"type\":\"Feature\",\"id\":\"c3\",\"properties\":{}}]}";
	umap_doc *doc = open_buf(text, NULL);
	if (!doc)
		return;
	umap_layer *l = &doc->layers[0];
	umap_layer_release_index(doc, l);
	CHECK_INT(umap_layer_find(doc, l, "\"c3\""), 3);
	CHECK_INT(umap_layer_find(doc, l, "7"), 1);
	CHECK_INT(umap_layer_find(doc, l, "\"zz\""), -1);
	umap_layer_release_index(doc, l);
	/* a feature added after a release is checked against all the others */
	json_t *dup = json_loads("{\"type\":\"Feature\",\"id\":\"a1\",\"properties\":{}}", 0, NULL);
	CHECK(umap_layer_append(doc, l, dup) != 0); /* the document took dup, and freed it */
	umap_error_clear();
	CHECK_INT(l->nfeatures, 4);
	json_t *more = json_loads("{\"type\":\"Feature\",\"id\":\"d4\",\"properties\":{}}", 0, NULL);
	CHECK_INT(umap_layer_append(doc, l, more), 0);
	umap_layer_release_index(doc, l);
	size_t assigned = 0;
	CHECK_INT(umap_layer_assign_ids(doc, l, &assigned), 0);
	CHECK_INT(assigned, 1);
	/* removing features frees ids from the blocks and from malloc alike */
	CHECK_INT(umap_layer_remove(doc, l, 0), 0);
	CHECK_INT(umap_layer_remove(doc, l, 1), 0);
	CHECK_INT(umap_layer_find(doc, l, "\"d4\""), 2);
	CHECK_INT(umap_layer_find(doc, l, "\"a1\""), -1);
	CHECK_INT(l->features[0].length > 0, 1);
	umap_doc_free(doc);
}

TEST(duplicate_ids_name_both_lines)
{
	const char *text = "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"L1\"},\"features\":[\n"
			   "{\"type\":\"Feature\",\"id\":\"abc\"},\n"
			   "{\"type\":\"Feature\",\"id\":\"other\"},\n"
			   "  {\"type\":\"Feature\",\"id\":\"abc\"}\n]}";
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	umap_doc *doc = NULL;
	CHECK_INT(umap_doc_from_buffer(&doc, text, strlen(text), "dup.geojson", &opts), UMAP_EINVALID);
	CHECK(doc == NULL);
	CHECK_STR(umap_error_last(),
		  "dup.geojson:4:3: duplicate feature id \"abc\": first on line 2, again on line 4");
	opts.allow_duplicate_ids = 1;
	CHECK_INT(umap_doc_from_buffer(&doc, text, strlen(text), "dup.geojson", &opts), 0);
	if (doc) {
		CHECK_INT(doc->layers[0].nfeatures, 3);
		CHECK_INT(umap_layer_find(doc, &doc->layers[0], "\"abc\""), 0);
	}
	umap_doc_free(doc);
}

static int umap_id_form(const char *id)
{
	if (strlen(id) != 7 || id[0] != '"' || id[6] != '"')
		return 0;
	for (int i = 1; i < 6; i++)
		if (!isalnum((unsigned char)id[i]))
			return 0;
	return 1;
}

TEST(assign_ids_gives_unique_umap_ids)
{
	const char *text = "{\"type\":\"FeatureCollection\",\"features\":["
			   "{\"type\":\"Feature\",\"properties\":{\"n\":1}},"
			   "{\"type\":\"Feature\",\"id\":\"abcde\",\"properties\":{\"n\":2}},"
			   "{\"type\":\"Feature\",\"properties\":{\"n\":3}},"
			   "{\"type\":\"Feature\",\"properties\":{\"n\":4}}]}";
	umap_doc *doc = open_buf(text, NULL);
	if (!doc)
		return;
	umap_layer *l = &doc->layers[0];
	size_t assigned = 99;
	CHECK_INT(umap_layer_assign_ids(doc, l, &assigned), 0);
	CHECK_INT(assigned, 3);
	CHECK_STR(l->features[1].id, "\"abcde\"");
	for (size_t i = 0; i < l->nfeatures; i++) {
		CHECK(umap_id_form(l->features[i].id));
		CHECK_INT(umap_layer_find(doc, l, l->features[i].id), (long)i);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(l->features[i].id, l->features[j].id) != 0);
	}
	/* the id goes at the end of the feature, where uMap writes it */
	json_t *tree = l->features[0].value;
	CHECK(tree != NULL);
	const char *last = NULL, *key;
	json_t *v;
	json_object_foreach(tree, key, v) last = key;
	CHECK_STR(last, "id");
	CHECK_INT(umap_layer_assign_ids(doc, l, &assigned), 0);
	CHECK_INT(assigned, 0);
	umap_doc_free(doc);
}

TEST(uuid_v4_has_the_right_form)
{
	char a[37], b[37];
	CHECK_INT(umap_uuid_v4(a), 0);
	CHECK_INT(umap_uuid_v4(b), 0);
	CHECK_INT(strlen(a), 36);
	CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
	CHECK(a[14] == '4');
	CHECK(strchr("89ab", a[19]) != NULL);
	CHECK(strcmp(a, b) != 0);
}

TEST(layer_round_trip_keeps_orders_and_values)
{
	/* features first, legacy options last, a foreign member between, odd spellings */
	const char *text = "{ \"features\": [ {\"type\":\"Feature\",\"properties\":{\"z\":1.50,\"a\":1e2},"
			   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.8320,45.7578]},\"id\":\"b\"},"
			   "{\"id\":\"a\",\"type\":\"Feature\",\"geometry\":null,\"properties\":{\"s\":\"\\u00e9\"}} ],"
			   " \"name\": \"x\", \"type\": \"FeatureCollection\", \"_umap_options\": {\"id\":\"L\",\"zoom\":3} }";
	umap_doc *doc = open_buf(text, NULL);
	if (!doc)
		return;
	CHECK_STR(doc->layers[0].options_key, "_umap_options");
	CHECK_STR(doc->layers[0].id, "L");
	char *out = write_doc(doc, UMAP_JSON_COMPACT);
	CHECK_STR(out, "{\"features\":[{\"type\":\"Feature\",\"properties\":{\"z\":1.5,\"a\":100},"
		       "\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.832,45.7578]},\"id\":\"b\"},"
		       "{\"id\":\"a\",\"type\":\"Feature\",\"geometry\":null,\"properties\":{\"s\":\"\xc3\xa9\"}}],"
		       "\"name\":\"x\",\"type\":\"FeatureCollection\",\"_umap_options\":{\"id\":\"L\",\"zoom\":3}}");
	free(out);
	out = write_doc(doc, UMAP_JSON_INDENT(2));
	CHECK_STR(out, "{\n"
		       "  \"features\": [\n"
		       "    {\n"
		       "      \"type\": \"Feature\",\n"
		       "      \"properties\": {\n"
		       "        \"z\": 1.5,\n"
		       "        \"a\": 100\n"
		       "      },\n"
		       "      \"geometry\": {\n"
		       "        \"type\": \"Point\",\n"
		       "        \"coordinates\": [\n"
		       "          4.832,\n"
		       "          45.7578\n"
		       "        ]\n"
		       "      },\n"
		       "      \"id\": \"b\"\n"
		       "    },\n"
		       "    {\n"
		       "      \"id\": \"a\",\n"
		       "      \"type\": \"Feature\",\n"
		       "      \"geometry\": null,\n"
		       "      \"properties\": {\n"
		       "        \"s\": \"\xc3\xa9\"\n"
		       "      }\n"
		       "    }\n"
		       "  ],\n"
		       "  \"name\": \"x\",\n"
		       "  \"type\": \"FeatureCollection\",\n"
		       "  \"_umap_options\": {\n"
		       "    \"id\": \"L\",\n"
		       "    \"zoom\": 3\n"
		       "  }\n"
		       "}\n");
	free(out);
	/* writing did not keep trees it had to build */
	CHECK(doc->layers[0].features[0].value == NULL);
	umap_doc_free(doc);
}

TEST(map_round_trip_keeps_layers_place)
{
	const char *text = "{\"type\":\"umap\",\"properties\":{\"name\":\"m\"},\"layers\":["
			   "{\"type\":\"FeatureCollection\",\"features\":[],\"_umap_options\":{\"name\":\"a\"}},"
			   "{\"_umap_options\":{\"id\":\"B\"},\"type\":\"FeatureCollection\",\"features\":["
			   "{\"type\":\"Feature\",\"id\":\"x1\",\"properties\":{},\"geometry\":null}]}],"
			   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]},\"uri\":\"u\"}";
	umap_doc *doc = open_buf(text, NULL);
	if (!doc)
		return;
	CHECK_INT(doc->kind, UMAP_DOC_MAP);
	CHECK_INT(doc->nlayers, 2);
	CHECK(doc->layers[0].id == NULL);
	CHECK_STR(doc->layers[1].id, "B");
	char *out = write_doc(doc, UMAP_JSON_COMPACT);
	CHECK_STR(out, text);
	free(out);
	umap_doc_free(doc);
}

TEST(example_files_round_trip_semantically)
{
	const char *files[] = { "examples/cycling-lyon.umap", "examples/bike-parking.geojson" };
	for (size_t i = 0; i < 2; i++) {
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		umap_doc *doc = NULL;
		CHECK_INT(umap_doc_open(&doc, files[i], &opts), 0);
		if (!doc)
			continue;
		char *out = write_doc(doc, UMAP_JSON_INDENT(2));
		json_t *again = NULL, *orig = NULL;
		CHECK_INT(umap_json_loadb(&again, out, strlen(out), "out"), 0);
		CHECK_INT(umap_json_loadb(&orig, doc->data, doc->size, "in"), 0);
		CHECK(umap_json_equal(again, orig));
		/* and a second write is byte for byte the first */
		umap_doc *doc2 = NULL;
		CHECK_INT(umap_doc_from_buffer(&doc2, out, strlen(out), "out", &opts), 0);
		char *out2 = doc2 ? write_doc(doc2, UMAP_JSON_INDENT(2)) : NULL;
		CHECK_STR(out2, out);
		free(out2);
		umap_doc_free(doc2);
		json_decref(again);
		json_decref(orig);
		free(out);
		umap_doc_free(doc);
	}
}

TEST(documents_built_in_memory)
{
	umap_doc *doc = NULL;
	CHECK_INT(umap_doc_new(&doc, UMAP_DOC_MAP), 0);
	if (!doc)
		return;
	json_t *opts = json_pack("{s:s,s:s}", "id", "L9", "name", "new");
	umap_layer *layer = NULL;
	CHECK_INT(umap_doc_add_layer(&layer, doc, "L9", opts), 0);
	json_decref(opts);
	CHECK_INT(umap_layer_append(doc, layer, json_pack("{s:s,s:s,s:{},s:n}", "type", "Feature", "id", "f1",
							  "properties", "geometry")), 0);
	CHECK_INT(umap_layer_append(doc, layer, json_pack("{s:s,s:s}", "type", "Feature", "id", "f1")),
		  UMAP_EINVALID);
	CHECK_INT(layer->nfeatures, 1);
	CHECK_STR(layer->features[0].id, "\"f1\"");
	CHECK_INT(umap_layer_find(doc, layer, "\"f1\""), 0);
	char *out = write_doc(doc, UMAP_JSON_COMPACT);
	CHECK_STR(out, "{\"type\":\"umap\",\"layers\":[{\"type\":\"FeatureCollection\",\"properties\":"
		       "{\"id\":\"L9\",\"name\":\"new\"},\"features\":[{\"type\":\"Feature\",\"id\":\"f1\","
		       "\"properties\":{},\"geometry\":null}]}]}");
	free(out);
	umap_doc_free(doc);

	CHECK_INT(umap_doc_new(&doc, UMAP_DOC_LAYER), 0);
	out = doc ? write_doc(doc, UMAP_JSON_COMPACT) : NULL;
	CHECK_STR(out, "{\"type\":\"FeatureCollection\",\"features\":[]}");
	free(out);
	umap_doc_free(doc);
}

TEST(marked_features_are_removed_in_one_pass_and_the_index_follows)
{
	umap_doc *doc = NULL;
	CHECK_INT(umap_doc_new(&doc, UMAP_DOC_MAP), 0);
	if (!doc)
		return;
	umap_layer *layer = NULL;
	CHECK_INT(umap_doc_add_layer(&layer, doc, "L1", NULL), 0);
	if (!layer) {
		umap_doc_free(doc);
		return;
	}
	char id[16];
	for (int i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "f%d", i);
		/* every tenth without an id */
		json_t *f = i % 10 == 9 ? json_pack("{s:s,s:{s:i}}", "type", "Feature", "properties", "n", i)
					: json_pack("{s:s,s:s,s:{s:i}}", "type", "Feature", "id", id, "properties", "n", i);
		CHECK_INT(umap_layer_append(doc, layer, f), 0);
	}
	unsigned char marked[200] = { 0 };
	for (int i = 0; i < 200; i += 3)
		marked[i] = 1;
	/* only the first 150 are looked at: the rest stay, marked or not */
	CHECK_INT(umap_layer_remove_marked(doc, layer, marked, 150), 0);
	CHECK_INT(layer->nfeatures, 200 - 50);
	size_t k = 0;
	for (int i = 0; i < 200; i++) {
		if (i < 150 && i % 3 == 0)
			continue;
		json_t *tree = NULL;
		CHECK_INT(umap_doc_feature(&tree, doc, layer, k), 0);
		CHECK_INT(json_integer_value(json_object_get(json_object_get(tree, "properties"), "n")), i);
		snprintf(id, sizeof(id), "\"f%d\"", i);
		CHECK_INT(umap_layer_find(doc, layer, id), i % 10 == 9 ? -1 : (long)k);
		k++;
	}
	CHECK_INT(umap_layer_find(doc, layer, "\"f3\""), -1);
	/* a removed id can come back */
	CHECK_INT(umap_layer_append(doc, layer, json_pack("{s:s,s:s}", "type", "Feature", "id", "f3")), 0);
	CHECK_INT(umap_layer_find(doc, layer, "\"f3\""), 150);
	umap_doc_free(doc);
}

TEST(bad_documents_say_where)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{ "[1]", "t.geojson:1:1: expected a GeoJSON FeatureCollection or Feature, or a uMap map (a JSON object)" },
		{ "{\"type\":\"Point\",\"coordinates\":[1,2]}",
		  "t.geojson:1:1: expected a FeatureCollection, a Feature or a uMap map (\"type\": \"umap\"), found \"type\": \"Point\"" },
		{ "{\"type\":\"FeatureCollection\"}", "t.geojson:1:1: a FeatureCollection needs a \"features\" array" },
		{ "{\"type\":\"FeatureCollection\",\"features\":[1]}",
		  "t.geojson:1:41: expected a feature (a JSON object) in \"features\"" },
		{ "{\"type\":\"FeatureCollection\",\"features\":[{\"id\":true}]}",
		  "t.geojson:1:47: a feature id must be a string or a number" },
		{ "{\"type\":\"umap\",\"layers\":[{\"type\":\"FeatureCollection\"}]}",
		  "t.geojson:1:26: a layer needs a \"features\" array" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		umap_doc *doc = NULL;
		CHECK_INT(umap_doc_from_buffer(&doc, cases[i].text, strlen(cases[i].text), "t.geojson", &opts),
			  UMAP_EINVALID);
		CHECK_STR(umap_error_last(), cases[i].message);
		umap_doc_free(doc);
	}
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	umap_doc *doc = NULL;
	CHECK_INT(umap_doc_open(&doc, "tests/fixtures/diff/does-not-exist.geojson", &opts), UMAP_ENOTFOUND);
	CHECK_STR(umap_error_last(),
		  "cannot open 'tests/fixtures/diff/does-not-exist.geojson': No such file or directory");
}

/* uMap 3.7+ group layers: child layers are layers of the document, depth first, with their
 * parent; the writer nests them back where they were; removing a group lifts its children. */
TEST(group_layers_are_layers_with_parents)
{
	const char *text =
		"{\"type\":\"umap\",\"layers\":[{\"layers\":[{\"type\":\"FeatureCollection\","
		"\"features\":[{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{},\"geometry\":null}],"
		"\"properties\":{\"name\":\"A\"}},{\"type\":\"FeatureCollection\",\"features\":[],"
		"\"_storage\":{\"name\":\"B\"}}],\"type\":\"FeatureCollection\",\"features\":[],"
		"\"properties\":{\"name\":\"G\"}},{\"type\":\"FeatureCollection\",\"features\":[],"
		"\"properties\":{\"name\":\"T\"}}]}";
	umap_doc *doc = open_buf(text, NULL);
	CHECK(doc != NULL);
	if (!doc)
		return;
	CHECK_INT((int)doc->nlayers, 4);
	CHECK(doc->layers[0].parent == UMAP_LAYER_TOP);
	CHECK_INT((int)doc->layers[1].parent, 0);
	CHECK_INT((int)doc->layers[2].parent, 0);
	CHECK(doc->layers[3].parent == UMAP_LAYER_TOP);
	CHECK_INT((int)umap_layer_rank(doc, 2), 1);
	CHECK_INT((int)umap_layer_rank(doc, 3), 1);
	CHECK_STR(umap_layer_name(&doc->layers[1]), "A");
	CHECK_STR(doc->layers[2].options_key, "_storage");
	CHECK_STR(umap_layer_name(&doc->layers[2]), "B");
	char *out = write_doc(doc, UMAP_JSON_COMPACT);
	CHECK_STR(out, text);
	free(out);
	CHECK_INT(umap_doc_remove_layer(doc, 0), 0);
	CHECK_INT((int)doc->nlayers, 3);
	CHECK(doc->layers[0].parent == UMAP_LAYER_TOP && doc->layers[1].parent == UMAP_LAYER_TOP);
	umap_doc_free(doc);
}

/* Layers without ids (uMap's exports): by position when the name agrees, then by name,
 * then by position alone. */
TEST(layers_without_ids_match_by_position_then_name)
{
	umap_doc *a = open_buf("{\"type\":\"umap\",\"layers\":["
			       "{\"type\":\"FeatureCollection\",\"features\":[],\"properties\":{\"name\":\"x\"}},"
			       "{\"type\":\"FeatureCollection\",\"features\":[],\"properties\":{\"name\":\"y\"}},"
			       "{\"type\":\"FeatureCollection\",\"features\":[],\"properties\":{\"name\":\"z\"}}]}", NULL);
	umap_doc *b = open_buf("{\"type\":\"umap\",\"layers\":["
			       "{\"type\":\"FeatureCollection\",\"features\":[],\"properties\":{\"name\":\"y\"}},"
			       "{\"type\":\"FeatureCollection\",\"features\":[],\"properties\":{\"name\":\"x\"}},"
			       "{\"type\":\"FeatureCollection\",\"features\":[],\"properties\":{\"name\":\"w\"}}]}", NULL);
	CHECK(a && b);
	long *match = NULL;
	if (a && b && !umap_doc_match_layers(&match, a, b)) {
		CHECK_INT((int)match[0], 1);
		CHECK_INT((int)match[1], 0);
		CHECK_INT((int)match[2], 2);
	}
	free(match);
	umap_doc_free(a);
	umap_doc_free(b);
}

/* A stream read from a file's text: by name or first bytes, a layer of its records at the
 * file's own lines, written back as the same records. */
static umap_doc *open_text(const char *text, const char *name)
{
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	umap_doc *doc = NULL;
	char *copy = strdup(text);
	if (!copy || umap_doc_from_file_text(&doc, copy, strlen(text), name, &opts)) {
		printf("# open failed: %s\n", umap_error_last());
		return NULL;
	}
	return doc;
}

TEST(streams_are_told_by_name_or_first_bytes)
{
	CHECK_INT(umap_seq_kind_of_name("a.geojsons"), UMAP_SEQ_RS);
	CHECK_INT(umap_seq_kind_of_name("a.NDJSON"), UMAP_SEQ_LINES);
	CHECK_INT(umap_seq_kind_of_name("a.geojson"), UMAP_SEQ_NONE);
	CHECK_INT(umap_seq_kind_of_text("\x1e{}", 3), UMAP_SEQ_RS);
	const char *lines = "{\"type\":\"Feature\"}\n{\"type\":\"Feature\"}\n";
	CHECK_INT(umap_seq_kind_of_text(lines, strlen(lines)), UMAP_SEQ_LINES);
	const char *one = "{\"type\":\"Feature\"}\n";
	CHECK_INT(umap_seq_kind_of_text(one, strlen(one)), UMAP_SEQ_NONE);
	const char *fc = "{\"type\":\"FeatureCollection\",\"features\":[\n{\"type\":\"Feature\"}\n]}\n";
	CHECK_INT(umap_seq_kind_of_text(fc, strlen(fc)), UMAP_SEQ_NONE);
	CHECK_INT(umap_seq_kind_of("x.geojsonl", one, strlen(one)), UMAP_SEQ_LINES);
}

TEST(streams_read_as_layers_at_their_own_lines_and_write_back)
{
	const char *lines = "{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{},\"geometry\":null}\n"
			    "\n"
			    "{\"type\":\"Feature\",\"id\":\"b\",\"properties\":{\"n\":1.50},\"geometry\":null}\n";
	umap_doc *doc = open_text(lines, "<stdin>");
	CHECK(doc != NULL);
	if (doc) {
		CHECK_INT(doc->layout.seq, UMAP_SEQ_LINES);
		CHECK_INT(doc->nlayers, 1);
		CHECK_INT(doc->layers[0].nfeatures, 2);
		CHECK_INT(doc->layers[0].features[1].pos.line, 3);
		CHECK_INT(doc->layers[0].features[1].pos.col, 1);
		char *back = write_doc(doc, UMAP_DOC_AS_READ);
		/* the blank line is not a record; every number keeps its spelling */
		CHECK_STR(back, "{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{},\"geometry\":null}\n"
				"{\"type\":\"Feature\",\"id\":\"b\",\"properties\":{\"n\":1.50},\"geometry\":null}\n");
		free(back);
		umap_doc_free(doc);
	}
	const char *rs = "\x1e{\"type\":\"Feature\",\n \"id\":1,\"properties\":{},\"geometry\":null}\n"
			 "\x1e{\"type\":\"Feature\",\"id\":2,\"properties\":{},\"geometry\":null}\n";
	doc = open_text(rs, "t.txt");
	CHECK(doc != NULL);
	if (doc) {
		CHECK_INT(doc->layout.seq, UMAP_SEQ_RS);
		CHECK_INT(doc->layers[0].features[0].pos.col, 2); /* after the RS */
		CHECK_INT(doc->layers[0].features[1].pos.line, 3);
		char *back = write_doc(doc, UMAP_DOC_AS_READ);
		CHECK_STR(back, "\x1e{\"type\":\"Feature\",\"id\":1,\"properties\":{},\"geometry\":null}\n"
				"\x1e{\"type\":\"Feature\",\"id\":2,\"properties\":{},\"geometry\":null}\n");
		free(back);
		umap_doc_free(doc);
	}
	/* a bad record on the first line: the file's column, not the header's */
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	const char *bad = "{\"type\":\"Feature\",}\n{\"type\":\"Feature\"}\n";
	char *copy = strdup(bad);
	CHECK_INT(umap_doc_from_file_text(&doc, copy, strlen(bad), "bad.ndjson", &opts), UMAP_EINVALID);
	CHECK_STR(umap_error_last(), "bad.ndjson:1:19: trailing comma before '}'");
	/* what comes before the first RS of a sequence is not a record */
	copy = strdup("x\x1e{}");
	CHECK_INT(umap_doc_from_file_text(&doc, copy, 4, "j.geojsons", &opts), UMAP_EINVALID);
}

int main(void)
{
	RUN(reads_umap_map_with_two_layers);
	RUN(reads_feature_collection_with_properties);
	RUN(single_feature_is_a_layer_of_one);
	RUN(features_without_ids_and_equal_bytes_hash_equal);
	RUN(id_forms_are_normalised);
	RUN(id_property_reads_properties_prop);
	RUN(a_released_id_index_is_built_again_when_used);
	RUN(duplicate_ids_name_both_lines);
	RUN(assign_ids_gives_unique_umap_ids);
	RUN(uuid_v4_has_the_right_form);
	RUN(layer_round_trip_keeps_orders_and_values);
	RUN(map_round_trip_keeps_layers_place);
	RUN(example_files_round_trip_semantically);
	RUN(documents_built_in_memory);
	RUN(marked_features_are_removed_in_one_pass_and_the_index_follows);
	RUN(bad_documents_say_where);
	RUN(group_layers_are_layers_with_parents);
	RUN(layers_without_ids_match_by_position_then_name);
	RUN(streams_are_told_by_name_or_first_bytes);
	RUN(streams_read_as_layers_at_their_own_lines_and_write_back);
	return UNIT_DONE();
}
