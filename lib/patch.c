/* Applies a JSON feature diff to a document: checks every old value against the document
 * before changing it, so that a stale or foreign patch is refused with the key that differs. */
#include "patch.h"

#include <string.h>

#include "error.h"
#include "json_copy.h"

/* Features a patch removes are marked while the patch's features are applied and removed
 * together after them (umap_layer_remove_marked): one at a time, each removal moved every
 * later feature and rebuilt the id index, which made a patch of a 1M-feature layer take a
 * minute. A marked feature is no longer there for the entries that follow. */
typedef struct removals {
	unsigned char *marked; /* one a feature of the layer when the first was marked */
	size_t n;
	size_t count;
} removals;

typedef struct patcher {
	umap_doc *doc;
	int reverse;
	const char *id_property;
	size_t applied;
	removals *removing;    /* one a layer, during the pass over the features */
} patcher;

static int nomem(void)
{
	return umap_error_set(UMAP_ENOMEM, "out of memory");
}

static removals *removals_of(patcher *p, umap_layer *layer)
{
	return p->removing ? &p->removing[layer - p->doc->layers] : NULL;
}

static int is_removed(patcher *p, umap_layer *layer, long i)
{
	removals *r = removals_of(p, layer);
	return r && i >= 0 && (size_t)i < r->n && r->marked[i];
}

static int flush_removals(patcher *p, umap_layer *layer)
{
	removals *r = removals_of(p, layer);
	if (!r || !r->count)
		return 0;
	int rc = umap_layer_remove_marked(p->doc, layer, r->marked, r->n);
	free(r->marked);
	*r = (removals){ NULL, 0, 0 };
	return rc;
}

static int mark_removed(patcher *p, umap_layer *layer, size_t i)
{
	removals *r = removals_of(p, layer);
	if (r && !r->marked) {
		if (!(r->marked = calloc(layer->nfeatures ? layer->nfeatures : 1, 1)))
			return nomem();
		r->n = layer->nfeatures;
	}
	if (!r || i >= r->n) /* not marked in this pass: removed at once */
		return umap_layer_remove(p->doc, layer, i);
	r->marked[i] = 1;
	r->count++;
	return 0;
}

static int bad_patch(const char *fmt, const char *what)
{
	return umap_error_set(UMAP_EINVALID, fmt, what);
}

/* The old and new sides of an entry, swapped when reversing. */
static const json_t *side_old(const patcher *p, const json_t *obj)
{
	return json_object_get(obj, p->reverse ? "new" : "old");
}

static const json_t *side_new(const patcher *p, const json_t *obj)
{
	return json_object_get(obj, p->reverse ? "old" : "new");
}

static int change_kind(const patcher *p, const json_t *entry, const char **kind)
{
	const json_t *c = json_object_get(entry, "change");
	const char *k = json_is_string(c) ? json_string_value(c) : "";
	if (!strcmp(k, "added"))
		*kind = p->reverse ? "removed" : "added";
	else if (!strcmp(k, "removed"))
		*kind = p->reverse ? "added" : "removed";
	else if (!strcmp(k, "modified"))
		*kind = "modified";
	else
		return bad_patch("not a umapsync diff: unknown \"change\" %s", json_is_string(c) ? k : "(missing)");
	return 0;
}

/* "Bike parking" for messages: the layer's name, else its id, else its position. */
static void layer_label(umap_buf *out, const umap_doc *doc, const umap_layer *layer)
{
	const json_t *name = layer->options ? json_object_get(layer->options, "name") : NULL;
	if (json_is_string(name))
		umap_buf_printf(out, "layer \"%s\"", json_string_value(name));
	else if (layer->id)
		umap_buf_printf(out, "layer %s", layer->id);
	else
		umap_buf_printf(out, "layer #%zu", (size_t)(layer - doc->layers) + 1);
}

static int find_layer(umap_layer **out, patcher *p, const json_t *ref)
{
	umap_doc *doc = p->doc;
	*out = NULL;
	if (json_is_string(ref)) {
		*out = umap_doc_find_layer(doc, json_string_value(ref));
		if (!*out && doc->nlayers == 1 && !doc->layers[0].id)
			*out = &doc->layers[0];
		if (!*out)
			return umap_error_set(UMAP_ECONFLICT, "%s has no layer %s", doc->source_name,
					      json_string_value(ref));
		return 0;
	}
	if (json_is_integer(ref)) {
		json_int_t i = json_integer_value(ref);
		if (i < 0 || (size_t)i >= doc->nlayers)
			return umap_error_set(UMAP_ECONFLICT, "%s has no layer #%lld", doc->source_name,
					      (long long)i + 1);
		*out = &doc->layers[i];
		return 0;
	}
	if (json_is_null(ref) && doc->nlayers == 1) {
		*out = &doc->layers[0];
		return 0;
	}
	return bad_patch("not a umapsync diff: %s", "\"layer\" must be a layer id or a position");
}

/* Checks that every key's old value is what `obj` holds (absent where there is no old). */
static int check_keys(patcher *p, const json_t *obj, const json_t *keys, const char *what,
		      const char *label)
{
	const char *key;
	json_t *kv;
	if (!json_is_object(keys))
		return bad_patch("not a umapsync diff: %s must be an object of keys", what);
	json_object_foreach((json_t *)keys, key, kv) {
		if (!json_is_object(kv))
			return bad_patch("not a umapsync diff: each key of %s must be {\"old\",\"new\"}", what);
		const json_t *want = side_old(p, kv);
		const json_t *have = json_is_object(obj) ? json_object_get(obj, key) : NULL;
		if (!want && !have)
			continue;
		if (want && have && umap_json_equal(want, have))
			continue;
		char *hs = have ? umap_json_dumps(have, UMAP_JSON_COMPACT) : NULL;
		char *ws = want ? umap_json_dumps(want, UMAP_JSON_COMPACT) : NULL;
		int rc = umap_error_set(UMAP_ECONFLICT, "%s: %s \"%s\" is %s in %s, the patch expects %s",
					label, what, key, hs ? hs : "absent", p->doc->source_name,
					ws ? ws : "it absent");
		free(hs);
		free(ws);
		return rc;
	}
	return 0;
}

static int set_keys(patcher *p, json_t *obj, const json_t *keys)
{
	const char *key;
	json_t *kv;
	json_object_foreach((json_t *)keys, key, kv) {
		const json_t *v = side_new(p, kv);
		if (!v) {
			json_object_del(obj, key);
		} else {
			json_t *copy = umap_json_copy(v, 1);
			if (!copy || json_object_set_new(obj, key, copy))
				return nomem();
		}
	}
	return 0;
}

static char *id_text(const json_t *id)
{
	if (!id || json_is_null(id))
		return NULL;
	return umap_json_dumps(id, UMAP_JSON_COMPACT);
}

/* Finds the patch entry's feature: by id, or for an id-less one the first equal to `like`. */
static long find_feature(patcher *p, umap_layer *layer, const json_t *id, const json_t *like)
{
	if (id && !json_is_null(id)) {
		char *text = id_text(id);
		long i = text ? umap_layer_find(p->doc, layer, text) : -1;
		free(text);
		return is_removed(p, layer, i) ? -1 : i;
	}
	for (size_t i = 0; like && i < layer->nfeatures; i++) {
		json_t *tree;
		if (layer->features[i].id || is_removed(p, layer, (long)i) ||
		    umap_doc_feature(&tree, p->doc, layer, i))
			continue;
		if (umap_json_equal(tree, like))
			return (long)i;
	}
	return -1;
}

static void feature_label(umap_buf *out, patcher *p, umap_layer *layer, const json_t *id)
{
	char *shown = NULL;
	char *text = id_text(id);
	if (text)
		shown = umap_id_display(text);
	umap_buf_printf(out, "feature %s", shown ? shown : "(no id)");
	if (p->doc->nlayers > 1) {
		umap_buf_puts(out, " in ");
		layer_label(out, p->doc, layer);
	}
	free(shown);
	free(text);
}

/* The tree changed: from now on it is an in-memory feature (written anew, hashed anew). */
static void touched(umap_feature *f)
{
	f->offset = f->length = 0;
	f->hash = umap_json_hash(f->value);
}

static int apply_feature(patcher *p, const json_t *entry)
{
	const char *kind;
	umap_layer *layer;
	int rc = change_kind(p, entry, &kind);
	if (!rc)
		rc = find_layer(&layer, p, json_object_get(entry, "layer"));
	if (rc)
		return rc;
	const json_t *id = json_object_get(entry, "id");
	umap_buf label = UMAP_BUF_INIT;
	feature_label(&label, p, layer, id);
	const char *what = label.ptr ? label.ptr : "feature";
	if (!strcmp(kind, "added")) {
		const json_t *f = side_new(p, entry);
		if (!json_is_object(f)) {
			rc = bad_patch("not a umapsync diff: %s has no feature", what);
		} else if (id && !json_is_null(id) && find_feature(p, layer, id, NULL) >= 0) {
			rc = umap_error_set(UMAP_ECONFLICT, "%s: already in %s", what, p->doc->source_name);
		} else {
			/* an id the patch removed before adding it again: the old one goes first */
			char *text = id_text(id);
			if (text && umap_layer_find(p->doc, layer, text) >= 0)
				rc = flush_removals(p, layer);
			free(text);
			json_t *copy = rc ? NULL : umap_json_copy(f, 1);
			if (!rc)
				rc = copy ? umap_layer_append(p->doc, layer, copy) : nomem();
		}
	} else if (!strcmp(kind, "removed")) {
		const json_t *old = side_old(p, entry);
		long i = find_feature(p, layer, id, old);
		json_t *tree = NULL;
		if (!json_is_object(old))
			rc = bad_patch("not a umapsync diff: %s has no feature", what);
		else if (i < 0)
			rc = umap_error_set(UMAP_ECONFLICT, "%s: not in %s", what, p->doc->source_name);
		else if (!(rc = umap_doc_feature(&tree, p->doc, layer, (size_t)i)) &&
			 !umap_json_equal(tree, old))
			rc = umap_error_set(UMAP_ECONFLICT,
					    "%s: differs in %s from the version the patch removes", what,
					    p->doc->source_name);
		if (!rc)
			rc = mark_removed(p, layer, (size_t)i);
	} else {
		long i = find_feature(p, layer, id, NULL);
		json_t *tree = NULL;
		const json_t *keys = json_object_get(entry, "properties");
		const json_t *geometry = json_object_get(entry, "geometry");
		if (!id || json_is_null(id))
			rc = bad_patch("not a umapsync diff: %s", "a modified feature needs an id");
		else if (i < 0)
			rc = umap_error_set(UMAP_ECONFLICT, "%s: not in %s", what, p->doc->source_name);
		else
			rc = umap_doc_feature(&tree, p->doc, layer, (size_t)i);
		json_t *props = rc ? NULL : json_object_get(tree, "properties");
		if (!rc && keys)
			rc = check_keys(p, props, keys, "property", what);
		if (!rc && geometry) {
			const json_t *want = side_old(p, geometry), *have = json_object_get(tree, "geometry");
			if (!want || !json_is_object(geometry))
				rc = bad_patch("not a umapsync diff: %s", "\"geometry\" must be {\"old\",\"new\"}");
			else if (!umap_json_equal(want, have ? have : json_null()))
				rc = umap_error_set(UMAP_ECONFLICT,
						    "%s: geometry differs in %s from the patch's old geometry",
						    what, p->doc->source_name);
		}
		if (!rc && keys && json_object_size(keys)) {
			if (!json_is_object(props)) {
				props = json_object();
				if (!props || json_object_set_new(tree, "properties", props))
					rc = nomem();
			}
			if (!rc)
				rc = set_keys(p, props, keys);
		}
		if (!rc && geometry) {
			const json_t *g = side_new(p, geometry);
			json_t *copy = g ? umap_json_copy(g, 1) : json_null();
			if (!copy || json_object_set_new(tree, "geometry", copy))
				rc = nomem();
		}
		if (!rc)
			touched(&layer->features[i]);
	}
	umap_buf_dispose(&label);
	if (!rc)
		p->applied++;
	return rc;
}

static int apply_layer(patcher *p, const json_t *entry, int pass)
{
	const char *kind;
	int rc = change_kind(p, entry, &kind);
	if (rc)
		return rc;
	const json_t *ref = json_object_get(entry, "layer");
	/* pass 0: new layers before their features; pass 1: the rest after the features */
	if ((pass == 0) != !strcmp(kind, "added"))
		return 0;
	umap_layer *layer = NULL;
	if (!strcmp(kind, "added")) {
		const json_t *options = side_new(p, entry);
		const char *id = json_is_string(ref) ? json_string_value(ref) : NULL;
		if (id && umap_doc_find_layer(p->doc, id))
			return umap_error_set(UMAP_ECONFLICT, "layer %s: already in %s", id,
					      p->doc->source_name);
		if (p->doc->kind != UMAP_DOC_MAP && p->doc->nlayers)
			return umap_error_set(UMAP_ECONFLICT, "%s is a single layer: cannot add layer %s",
					      p->doc->source_name, id ? id : "(no id)");
		rc = umap_doc_add_layer(&layer, p->doc, id, json_is_object(options) ? options : NULL);
		if (!rc && p->doc->kind == UMAP_DOC_MAP)
			layer->options_key = "_umap_options"; /* as uMap writes its layers */
		if (!rc)
			p->applied++;
		return rc;
	}
	if ((rc = find_layer(&layer, p, ref)))
		return rc;
	umap_buf label = UMAP_BUF_INIT;
	layer_label(&label, p->doc, layer);
	const char *what = label.ptr ? label.ptr : "layer";
	if (!strcmp(kind, "modified")) {
		const json_t *keys = json_object_get(entry, "properties");
		rc = check_keys(p, layer->options, keys, "option", what);
		if (!rc && !layer->options && !(layer->options = json_object()))
			rc = nomem();
		if (!rc)
			rc = set_keys(p, layer->options, keys);
	} else {
		const json_t *old = side_old(p, entry);
		int same = !old || json_is_null(old) ||
			   (layer->options ? umap_json_equal(old, layer->options)
					   : json_is_object(old) && !json_object_size(old));
		if (!same)
			rc = umap_error_set(UMAP_ECONFLICT, "%s: options differ in %s from the patch's",
					    what, p->doc->source_name);
		else if (layer->nfeatures)
			rc = umap_error_set(UMAP_ECONFLICT,
					    "%s: still has %zu feature%s in %s that the patch does not remove",
					    what, layer->nfeatures, layer->nfeatures == 1 ? "" : "s",
					    p->doc->source_name);
		else
			rc = umap_doc_remove_layer(p->doc, (size_t)(layer - p->doc->layers));
	}
	umap_buf_dispose(&label);
	if (!rc)
		p->applied++;
	return rc;
}

static int apply_map(patcher *p, const json_t *map)
{
	const json_t *keys = json_object_get(map, "properties");
	if (!keys)
		return 0;
	if (p->doc->kind != UMAP_DOC_MAP)
		return umap_error_set(UMAP_ECONFLICT, "%s is not a uMap map: cannot change map options",
				      p->doc->source_name);
	json_t *props = json_object_get(p->doc->map, "properties");
	int rc = check_keys(p, props, keys, "map option", "map");
	if (!rc && !json_is_object(props)) {
		props = json_object();
		if (!props || json_object_set_new(p->doc->map, "properties", props))
			rc = nomem();
	}
	if (!rc)
		rc = set_keys(p, props, keys);
	if (!rc)
		p->applied++;
	return rc;
}

int umap_patch_apply(umap_doc *doc, const json_t *patch, const umap_patch_options *opts,
		     size_t *applied)
{
	patcher p = { doc, opts ? opts->reverse : 0, opts ? opts->id_property : NULL, 0, NULL };
	const json_t *layers = json_object_get(patch, "layers");
	const json_t *features = json_object_get(patch, "features");
	if (!json_is_object(patch) || !json_is_array(features) || (layers && !json_is_array(layers)))
		return bad_patch("not a umapsync diff: %s",
				 "expected {\"summary\",\"layers\",\"features\"} from diff --format=json");
	int rc = 0;
	const json_t *map = json_object_get(patch, "map");
	if (map)
		rc = apply_map(&p, map);
	size_t i;
	json_t *entry;
	json_array_foreach(layers, i, entry) {
		if (rc || (rc = apply_layer(&p, entry, 0)))
			break;
	}
	if (!rc && doc->nlayers && !(p.removing = calloc(doc->nlayers, sizeof(*p.removing))))
		rc = nomem();
	json_array_foreach(features, i, entry) {
		if (rc || (rc = apply_feature(&p, entry)))
			break;
	}
	for (size_t l = 0; p.removing && l < doc->nlayers; l++) {
		int flushed = flush_removals(&p, &doc->layers[l]);
		rc = rc ? rc : flushed;
	}
	free(p.removing);
	p.removing = NULL;
	json_array_foreach(layers, i, entry) {
		if (rc || (rc = apply_layer(&p, entry, 1)))
			break;
	}
	if (applied)
		*applied = p.applied;
	return rc;
}
