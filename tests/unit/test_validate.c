/* Unit tests for lib/validate.h: the library's contract apart from the command
 * (messages with positions and levels, syntax errors as messages, file errors as codes). */
#include "unit.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "validate.h"

static umap_validation run(const char *text, int umap)
{
	umap_validation v = UMAP_VALIDATION_INIT;
	umap_validate_options opts = UMAP_VALIDATE_OPTIONS_INIT;
	opts.umap = umap;
	if (umap_validate_buffer(&v, text, strlen(text), &opts))
		printf("# validate failed: %s\n", umap_error_last());
	return v;
}

TEST(messages_have_positions_and_levels)
{
	umap_validation v = run("{\"type\": \"FeatureCollection\", \"features\": [\n"
				"  {\"type\": \"Feature\", \"properties\": {}, \"geometry\":\n"
				"    {\"type\": \"Polygon\", \"coordinates\": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}},\n"
				"  {\"type\": \"Feature\", \"properties\": {}, \"geometry\": {\"type\": \"Point\", \"coordinates\": [1]}}\n"
				"]}", 0);
	CHECK_INT(v.count, 2);
	CHECK_INT(v.errors, 1);
	CHECK_INT(v.warnings, 1);
	if (v.count == 2) {
		CHECK_STR(v.messages[0].text, "Polygons and MultiPolygons should follow the right-hand rule");
		CHECK_INT(v.messages[0].level, UMAP_LEVEL_WARNING);
		CHECK_INT(v.messages[0].pos.line, 3);
		CHECK_INT(v.messages[0].pos.col, 5);
		CHECK_STR(v.messages[1].text, "position must have 2 or more elements");
		CHECK_INT(v.messages[1].pos.line, 4);
		CHECK_INT(v.messages[1].pos.col, 86);
	}
	umap_validation_clear(&v);
	CHECK_INT(v.count, 0);
}

TEST(syntax_errors_and_limits_are_one_message)
{
	umap_validation v = run("{\"type\": \"Point\",\n \"coordinates\": [1, 2]", 0);
	CHECK_INT(v.count, 1);
	CHECK_INT(v.messages[0].pos.line, 2);
	CHECK_INT(v.messages[0].pos.col, 23);
	CHECK(strstr(v.messages[0].text, "unexpected end of input") != NULL);
	umap_validation_clear(&v);

	umap_validate_options opts = UMAP_VALIDATE_OPTIONS_INIT;
	opts.json.max_size = 4;
	CHECK_INT(umap_validate_buffer(&v, "[1, 2]", 6, &opts), 0);
	CHECK_INT(v.count, 1);
	CHECK_INT(v.messages[0].pos.line, 0);
	CHECK_STR(v.messages[0].text, "input is 6 bytes, over the limit of 4 bytes");
	umap_validation_clear(&v);

	v = run("\"just a string\"", 0);
	CHECK_INT(v.count, 1);
	CHECK_STR(v.messages[0].text, "The root of a GeoJSON object must be an object.");
	CHECK_INT(v.messages[0].pos.line, 0);
	umap_validation_clear(&v);
}

TEST(umap_type_turns_umap_checks_on)
{
	const char *map = "{\"type\": \"umap\", \"layers\": [\n"
			  " {\"type\": \"FeatureCollection\", \"properties\": {\"id\": \"L\"}, \"features\": [\n"
			  "  {\"type\": \"Feature\", \"id\": \"aaaaa\", \"properties\": {}, \"geometry\": null},\n"
			  "  {\"type\": \"Feature\", \"id\": \"aaaaa\", \"properties\": {}, \"geometry\": null}]}]}";
	umap_validation v = run(map, 0);
	CHECK_INT(v.count, 1);
	if (v.count)
		CHECK_STR(v.messages[0].text,
			  "duplicate feature id \"aaaaa\" in this layer: first at line 3, again at line 4");
	umap_validation_clear(&v);
}

TEST(file_errors_are_codes)
{
	umap_validation v = UMAP_VALIDATION_INIT;
	char dir[] = "/tmp/umap-validate-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(umap_validate_file(&v, dir, NULL), UMAP_EIO);
	CHECK(strstr(umap_error_last(), "is a directory") != NULL);
	char path[64];
	snprintf(path, sizeof(path), "%s/missing.geojson", dir);
	CHECK_INT(umap_validate_file(&v, path, NULL), UMAP_ENOTFOUND);
	snprintf(path, sizeof(path), "%s/empty.geojson", dir);
	FILE *f = fopen(path, "w");
	fclose(f);
	CHECK_INT(umap_validate_file(&v, path, NULL), 0);
	CHECK_INT(v.count, 1);
	CHECK_STR(v.messages[0].text, "empty input: expected a JSON value");
	umap_validation_clear(&v);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	RUN(messages_have_positions_and_levels);
	RUN(syntax_errors_and_limits_are_one_message);
	RUN(umap_type_turns_umap_checks_on);
	RUN(file_errors_are_codes);
	return UNIT_DONE();
}
