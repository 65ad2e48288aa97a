/* umapsync git-diff-driver: the diff driver git runs for *.geojson and *.umap files
 * (diff.umapsync.command, set by git-setup). git passes the 7 GIT_EXTERNAL_DIFF arguments;
 * we print which features were added, removed or modified, and which keys changed. */
#include "builtin.h"

#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "error.h"

static umap_doc *open_side(const char *path, const char *label, umap_doc_kind kind)
{
	umap_doc *doc;
	if (!strcmp(path, "/dev/null")) { /* added or deleted file: compare with nothing */
		umap_layer *layer;
		if (umap_doc_new(&doc, kind) || (kind == UMAP_DOC_LAYER && umap_doc_add_layer(&layer, doc, NULL, NULL)))
			die_lib("%s", label);
		return doc;
	}
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	if (umap_doc_open(&doc, path, &opts))
		die_lib("%s", label);
	return doc;
}

static char *feature_name(umap_doc *doc, umap_layer *layer, size_t i)
{
	json_t *tree;
	if (umap_doc_feature(&tree, doc, layer, i))
		die_lib(NULL);
	const char *name = json_string_value(json_object_get(json_object_get(tree, "properties"), "name"));
	char *id = layer->features[i].id ? umap_id_display(layer->features[i].id) : strdup("(no id)");
	umap_buf line = UMAP_BUF_INIT;
	umap_buf_printf(&line, "%s%s%s", id ? id : "?", name ? " " : "", name ? name : "");
	free(id);
	return umap_buf_detach(&line);
}

static void print_value_change(const char *key, const json_t *old, const json_t *new)
{
	char *a = old ? umap_json_dumps(old, UMAP_JSON_COMPACT) : NULL;
	char *b = new ? umap_json_dumps(new, UMAP_JSON_COMPACT) : NULL;
	if (a && b)
		printf("    %s: %s \u2192 %s\n", key, a, b);
	else if (b)
		printf("    %s: added %s\n", key, b);
	else
		printf("    %s: removed %s\n", key, a ? a : "null");
	free(a);
	free(b);
}

/* The keys that changed between two versions of a feature: per property, geometry whole. */
static void print_feature_changes(const json_t *old, const json_t *new)
{
	const json_t *sides[2] = { old, new };
	for (int s = 0; s < 2; s++) {
		const char *key;
		json_t *value;
		json_object_foreach((json_t *)sides[s], key, value) {
			if (s == 1 && json_object_get(old, key))
				continue;
			const json_t *a = json_object_get(old, key), *b = json_object_get(new, key);
			if (!strcmp(key, "properties") && json_is_object(a) && json_is_object(b)) {
				const json_t *props[2] = { a, b };
				for (int p = 0; p < 2; p++) {
					const char *pk;
					json_t *pv;
					json_object_foreach((json_t *)props[p], pk, pv) {
						if (p == 1 && json_object_get(a, pk))
							continue;
						const json_t *x = json_object_get(a, pk), *y = json_object_get(b, pk);
						if (x && y && umap_json_equal(x, y))
							continue;
						char name[600];
						snprintf(name, sizeof(name), "properties.%s", pk);
						print_value_change(name, x, y);
					}
				}
			} else if (!(a && b && umap_json_equal(a, b))) {
				print_value_change(key, a, b);
			}
		}
	}
}

static void diff_layers(umap_doc *old, umap_layer *ol, umap_doc *new, umap_layer *nl)
{
	if (ol && nl && !(ol->options && nl->options && umap_json_equal(ol->options, nl->options)) &&
	    (ol->options || nl->options)) {
		printf("~ layer %s\n", nl->id ? nl->id : ol->id ? ol->id : "");
		print_feature_changes(ol->options ? ol->options : json_object(), nl->options ? nl->options : json_object());
	}
	for (size_t i = 0; ol && i < ol->nfeatures; i++) {
		long j = ol->features[i].id && nl ? umap_layer_find(new, nl, ol->features[i].id) : -1;
		char *name = feature_name(old, ol, i);
		if (j < 0) {
			printf("- %s\n", name);
		} else if (ol->features[i].hash != nl->features[j].hash) {
			json_t *a, *b;
			if (umap_doc_feature(&a, old, ol, i) || umap_doc_feature(&b, new, nl, (size_t)j))
				die_lib(NULL);
			if (!umap_json_equal(a, b)) {
				printf("~ %s\n", name);
				print_feature_changes(a, b);
			}
		}
		free(name);
	}
	for (size_t j = 0; nl && j < nl->nfeatures; j++) {
		if (ol && nl->features[j].id && umap_layer_find(old, ol, nl->features[j].id) >= 0)
			continue;
		char *name = feature_name(new, nl, j);
		printf("+ %s\n", name);
		free(name);
	}
}

int cmd_git_diff_driver(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync git-diff-driver PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE", NULL,
	};
	const struct option options[] = {
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc == 1) { /* git's call for an unmerged path */
		printf("* Unmerged path %s\n", argv[0]);
		return 0;
	}
	if (argc != 7 && argc != 9)
		usage_with_options_msg(usage, options, "git-diff-driver expects the 7 arguments git passes to GIT_EXTERNAL_DIFF");
	const char *path = argv[0];
	int old_missing = !strcmp(argv[1], "/dev/null"), new_missing = !strcmp(argv[4], "/dev/null");
	umap_doc *probe = open_side(old_missing ? argv[4] : argv[1], path, UMAP_DOC_LAYER);
	umap_doc_kind kind = probe->kind;
	umap_doc_free(probe);
	umap_doc *old = open_side(argv[1], path, kind), *new = open_side(argv[4], path, kind);
	printf("diff --umapsync a/%s b/%s\n", path, argc == 9 ? argv[7] : path);
	if (old_missing)
		printf("new file\n");
	if (new_missing)
		printf("deleted file\n");
	if (old->kind == UMAP_DOC_MAP && new->kind == UMAP_DOC_MAP && old->map && new->map &&
	    !umap_json_equal(old->map, new->map)) {
		printf("~ map\n");
		print_feature_changes(old->map, new->map);
	}
	for (size_t i = 0; i < new->nlayers; i++) {
		umap_layer *nl = &new->layers[i];
		umap_layer *ol = nl->id ? umap_doc_find_layer(old, nl->id) : i < old->nlayers ? &old->layers[i] : NULL;
		diff_layers(old, ol, new, nl);
	}
	for (size_t i = 0; i < old->nlayers; i++) {
		umap_layer *ol = &old->layers[i];
		if (ol->id ? !umap_doc_find_layer(new, ol->id) : i >= new->nlayers)
			diff_layers(old, ol, new, NULL);
	}
	umap_doc_free(old);
	umap_doc_free(new);
	return 0;
}
