/* Unit tests for the diff formats for other tools (lib/diff_markdown.c, lib/diff_html.c): code
 * spans around backticks, escaped names, "and M more", and the HTML page's data kept inert. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diff.h"
#include "diff_html.h"
#include "error.h"
#include "fs.h"

static json_t *parse(const char *text)
{
	json_t *v = NULL;
	if (umap_json_loadb(&v, text, strlen(text), "test"))
		printf("# parse failed: %s\n", umap_error_last());
	return v;
}

/* One layer of three features: f1 modified (a value with backticks, a name with markup), f2
 * added, f3 removed. */
static umap_diff *small_diff(json_t **keep)
{
	umap_diff *diff = NULL;
	size_t layer = 0;
	if (umap_diff_new(&diff, NULL) ||
	    umap_diff_add_layer(&layer, diff, UMAP_CHANGE_NONE, NULL, 0, NULL, NULL))
		return NULL;
	keep[0] = parse("{\"type\":\"Feature\",\"id\":\"f1\",\"properties\":{\"name\":\"*a* <b>\","
			"\"v\":\"x\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]}}");
	keep[1] = parse("{\"type\":\"Feature\",\"id\":\"f1\",\"properties\":{\"name\":\"*a* <b>\","
			"\"v\":\"`a``b`\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]}}");
	keep[2] = parse("{\"type\":\"Feature\",\"id\":\"f2\",\"properties\":{\"k\":\"</script>\"},"
			"\"geometry\":{\"type\":\"Point\",\"coordinates\":[3,4]}}");
	keep[3] = parse("{\"type\":\"Feature\",\"id\":\"f3\",\"properties\":{},\"geometry\":null}");
	if (umap_diff_add_feature(diff, layer, keep[0], keep[1], NULL, NULL) ||
	    umap_diff_add_feature(diff, layer, NULL, keep[2], NULL, NULL) ||
	    umap_diff_add_feature(diff, layer, keep[3], NULL, NULL, NULL)) {
		umap_diff_free(diff);
		return NULL;
	}
	return diff;
}

static void drop(umap_diff *diff, json_t **keep)
{
	umap_diff_free(diff);
	for (int i = 0; i < 4; i++)
		json_decref(keep[i]);
}

TEST(markdown_escapes_and_counts)
{
	json_t *keep[4] = { 0 };
	umap_diff *diff = small_diff(keep);
	CHECK(diff != NULL);
	if (!diff)
		return;
	umap_buf out = UMAP_BUF_INIT;
	CHECK_INT(umap_diff_format_markdown(&out, diff, 1), 0);
	CHECK_STR(out.ptr, "**umapsync diff**: 1 added, 1 removed, 1 modified, 0 unchanged\n\n"
			   "| Layer | Added | Removed | Modified |\n| :--- | ---: | ---: | ---: |\n"
			   "| \\#1 | 1 | 1 | 1 |\n\n"
			   "- **modified** `f1` \"\\*a\\* \\<b\\>\"\n"
			   "  - `v`: `\"x\"` \xe2\x86\x92 ```\"`a``b`\"```\n"
			   "\nand 2 more changed features\n");
	umap_buf_clear(&out);
	CHECK_INT(umap_diff_format_markdown(&out, diff, 0), 0);
	CHECK(strstr(out.ptr, "- **") == NULL);
	CHECK(strstr(out.ptr, "\nand 3 more changed features\n") != NULL);
	umap_buf_dispose(&out);
	drop(diff, keep);
}

/* A directory standing in for libjs-leaflet, holding `script` as leaflet.js. */
static char *fake_leaflet(const char *script)
{
	char *dir = strdup("/tmp/umapsync-unit-leaflet.XXXXXX");
	if (!dir || !mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	umap_buf path = UMAP_BUF_INIT;
	int rc = umap_buf_printf(&path, "%s/leaflet.js", dir) ||
		 umap_file_write_atomic(path.ptr, script, strlen(script));
	umap_buf_clear(&path);
	rc = rc || umap_buf_printf(&path, "%s/leaflet.css", dir) ||
	     umap_file_write_atomic(path.ptr, ".x{}", 4);
	umap_buf_dispose(&path);
	if (rc) {
		free(dir);
		return NULL;
	}
	return dir;
}

static void remove_fake(char *dir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/leaflet.js", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/leaflet.css", dir);
	unlink(path);
	rmdir(dir);
	free(dir);
}

TEST(html_data_is_inert_and_leaflet_checked)
{
	json_t *keep[4] = { 0 };
	umap_diff *diff = small_diff(keep);
	char *dir = fake_leaflet("var L = {};\n//# sourceMappingURL=leaflet.js.map\n");
	CHECK(diff != NULL && dir != NULL);
	if (!diff || !dir)
		return;
	umap_buf out = UMAP_BUF_INIT;
	umap_diff_html_options opts = UMAP_DIFF_HTML_OPTIONS_INIT;
	opts.leaflet_dir = dir;
	opts.title = "a <i> & b";
	CHECK_INT(umap_diff_format_html(&out, diff, &opts), 0);
	const char *data = strstr(out.ptr, "<script type=\"application/json\" id=\"umapsync-diff\">");
	CHECK(data != NULL);
	if (data) {
		data = strchr(data, '>') + 1;
		const char *end = strstr(data, "</script>");
		CHECK(end != NULL);
		/* no '<', '>' or '&' between the tags: the data cannot end its element */
		CHECK(end && strcspn(data, "<>&") == (size_t)(end - data));
		CHECK(strstr(data, "\"title\":\"a \\u003ci\\u003e \\u0026 b\"") != NULL);
		CHECK(strstr(data, "\\\"\\u003c/script\\u003e\\\"") != NULL);
	}
	CHECK(strstr(out.ptr, "<script>var L = {};\n</script>") != NULL); /* no source map */
	CHECK(strstr(out.ptr, "script-src 'sha256-") != NULL);
	umap_buf_dispose(&out);
	remove_fake(dir);

	/* a script that would end its element is refused, nothing is written */
	dir = fake_leaflet("var s = '</Script>';\n");
	opts.leaflet_dir = dir;
	umap_buf page = UMAP_BUF_INIT;
	CHECK_INT(umap_diff_format_html(&page, diff, &opts), UMAP_EINVALID);
	remove_fake(dir);
	opts.leaflet_dir = "/nonexistent/leaflet";
	CHECK_INT(umap_diff_format_html(&page, diff, &opts), UMAP_ENOTFOUND);
	CHECK(strstr(umap_error_last(), "install Debian's libjs-leaflet") != NULL);
	umap_buf_dispose(&page);
	drop(diff, keep);
}

int main(void)
{
	RUN(markdown_escapes_and_counts);
	RUN(html_data_is_inert_and_leaflet_checked);
	return UNIT_DONE();
}
