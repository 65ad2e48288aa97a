/* umapsync conflicts: list the conflicts a stopped merge or rebase left to settle, as text
 * (one line each), as JSON (SPEC §6 items plus "path") or as GeoJSON (the conflicted
 * features with their conflicts in properties["umapsync:conflicts"]). */
#include "builtin.h"
#include "merge-report.h"
#include "repo-cmd.h"
#include "repo_merge.h"

#include <stdlib.h>
#include <string.h>

#include "diff_html.h"
#include "error.h"
#include "fs.h"

/* The conflicted features as they are in the working files, each with its conflicts. */
static json_t *conflicts_geojson(umap_repo *repo, const json_t *conflicts)
{
	json_t *fc = json_pack("{s:s,s:[]}", "type", "FeatureCollection", "features");
	json_t *features = json_object_get(fc, "features");
	json_t *seen = json_object(); /* path \x1f layer \x1f id -> feature */
	size_t i;
	const json_t *c;
	json_array_foreach(conflicts, i, c) {
		const json_t *id = json_object_get(c, "id");
		if (!id || json_is_null(id))
			continue;
		const char *path = json_string_value(json_object_get(c, "path"));
		char *id_json = umap_json_dumps(id, UMAP_JSON_COMPACT);
		char *layer_json = umap_json_dumps(json_object_get(c, "layer"), UMAP_JSON_COMPACT);
		umap_buf key = UMAP_BUF_INIT;
		umap_buf_printf(&key, "%s\x1f%s\x1f%s", path ? path : "", layer_json ? layer_json : "", id_json ? id_json : "");
		json_t *feature = json_object_get(seen, key.ptr);
		if (!feature) {
			/* the working file's version, else whichever side has the feature */
			umap_doc *doc = NULL;
			char *abs = NULL;
			umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
			json_t *tree = NULL;
			if (path && !umap_repo_abspath(&abs, repo, path) && !umap_doc_open(&doc, abs, &opts)) {
				const json_t *lref = json_object_get(c, "layer");
				umap_layer *layer = json_is_string(lref) ? umap_doc_find_layer(doc, json_string_value(lref))
						    : json_is_integer(lref) && (size_t)json_integer_value(lref) < doc->nlayers
						    ? &doc->layers[json_integer_value(lref)] : NULL;
				long at = layer && id_json ? umap_layer_find(doc, layer, id_json) : -1;
				if (at >= 0 && !umap_doc_feature(&tree, doc, layer, (size_t)at))
					tree = json_deep_copy(tree);
			}
			umap_error_clear();
			umap_doc_free(doc);
			free(abs);
			if (!tree) {
				const json_t *side = json_object_get(c, "ours");
				if (!json_is_object(side) || json_object_get(c, "key") != NULL)
					side = json_object_get(c, "theirs");
				tree = json_is_object(side) && !json_string_value(json_object_get(c, "key"))
					? json_deep_copy(side) : json_pack("{s:s,s:O,s:{},s:n}", "type", "Feature", "id", id, "properties", "geometry");
			}
			if (!json_is_object(json_object_get(tree, "properties")))
				json_object_set_new(tree, "properties", json_object());
			json_object_set_new(json_object_get(tree, "properties"), "umapsync:conflicts", json_array());
			json_array_append_new(features, tree);
			json_object_set(seen, key.ptr, tree);
			feature = tree;
		}
		json_t *item = json_deep_copy(c);
		json_object_del(item, "id");
		json_array_append_new(json_object_get(json_object_get(feature, "properties"), "umapsync:conflicts"), item);
		umap_buf_dispose(&key);
		free(id_json);
		free(layer_json);
	}
	json_decref(seen);
	return fc;
}

int cmd_conflicts(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync conflicts [--format=text|json|geojson|html] [-o FILE]", NULL
	};
	const char *format = "text", *output = NULL;
	const struct option options[] = {
		OPT_CHOICE(0, "format", &format, "FORMAT",
			   "text (one line each), json, geojson or html (on a map)", "text|json|geojson|html"),
		OPT_FILE('o', "output", &output, "FILE", "write to FILE"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc)
		usage_with_options_msg(usage, options, "conflicts takes no arguments");
	umap_repo *repo = open_repo();
	json_t *state = NULL;
	int rc = umap_merge_state_load(&state, repo);
	if (rc == UMAP_ENOTFOUND) {
		fprintf(stderr, "no merge or rebase in progress\n");
		state = json_pack("{s:[]}", "conflicts");
	} else if (rc) {
		die_lib(NULL);
	}
	json_t *conflicts = json_object_get(state, "conflicts");
	if (!strcmp(format, "text")) {
		print_conflict_list(stdout, conflicts, NULL, 0);
	} else if (!strcmp(format, "html")) {
		json_t *features = conflicts_geojson(repo, conflicts);
		umap_buf page = UMAP_BUF_INIT;
		if (!features || umap_conflicts_format_html(&page, features, NULL))
			die_lib(NULL);
		if (output ? umap_file_write_atomic(output, page.ptr, page.len) : 0)
			die_lib(NULL);
		if (!output)
			fwrite(page.ptr, 1, page.len, stdout);
		umap_buf_dispose(&page);
		json_decref(features);
	} else {
		json_t *out = !strcmp(format, "json") ? json_pack("{s:O}", "conflicts", conflicts)
						      : conflicts_geojson(repo, conflicts);
		umap_buf text = UMAP_BUF_INIT;
		if (!out || umap_json_write(&text, out, UMAP_JSON_INDENT(2)) || umap_buf_putc(&text, '\n'))
			die_lib(NULL);
		fwrite(text.ptr, 1, text.len, stdout);
		umap_buf_dispose(&text);
		json_decref(out);
	}
	size_t left = json_array_size(conflicts);
	json_decref(state);
	umap_repo_free(repo);
	return left ? EXIT_DIFFERENT : 0;
}
