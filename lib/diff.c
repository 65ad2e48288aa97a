/* Feature diffs by stable id (SPEC §5): builds the change model from two documents or from
 * feature pairs a caller found itself, comparing per property key and per geometry. */
#include "diff.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "handoff.h"
#include "json_copy.h"
#include "idless.h"
#include "strutil.h"

typedef struct diff_priv {
	int summary_only;
	char **ignore;
	size_t nignore;
	int ignore_geometry;
	int precision;
	char *id_property;
	int threads;
	umap_diff_reading reading;
	size_t layers_cap, changes_cap;
} diff_priv;

static diff_priv *priv_of(const umap_diff *diff)
{
	return diff->priv;
}

static int nomem(void)
{
	return umap_error_set(UMAP_ENOMEM, "out of memory");
}

const char *umap_change_name(umap_change_kind kind)
{
	switch (kind) {
	case UMAP_CHANGE_ADDED:
		return "added";
	case UMAP_CHANGE_REMOVED:
		return "removed";
	case UMAP_CHANGE_MODIFIED:
		return "modified";
	default:
		return "unchanged";
	}
}

int umap_diff_layer_changed(const umap_diff_layer *layer)
{
	return layer->kind != UMAP_CHANGE_NONE || layer->added || layer->removed || layer->modified;
}

int umap_diff_new(umap_diff **out, const umap_diff_options *opts)
{
	umap_diff *diff = calloc(1, sizeof(*diff));
	diff_priv *priv = calloc(1, sizeof(*priv));
	if (!diff || !priv) {
		free(diff);
		free(priv);
		return nomem();
	}
	diff->priv = priv;
	priv->precision = -1;
	if (opts) {
		priv->precision = opts->precision;
		priv->summary_only = opts->summary_only;
		priv->threads = opts->threads;
		if (opts->nignore && !(priv->ignore = calloc(opts->nignore, sizeof(char *))))
			goto fail;
		for (size_t i = 0; i < opts->nignore; i++) {
			if (!strcmp(opts->ignore[i], "geometry"))
				priv->ignore_geometry = 1;
			if (!(priv->ignore[priv->nignore] = strdup(opts->ignore[i])))
				goto fail;
			priv->nignore++;
		}
		if (opts->id_property && !(priv->id_property = strdup(opts->id_property)))
			goto fail;
	}
	*out = diff;
	return 0;
fail:
	umap_diff_free(diff);
	return nomem();
}

static void keys_free(umap_key_change *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(keys[i].key);
		json_decref(keys[i].old_value);
		json_decref(keys[i].new_value);
	}
	free(keys);
}

void umap_diff_free(umap_diff *diff)
{
	if (!diff)
		return;
	for (size_t i = 0; i < diff->nchanges; i++) {
		umap_feature_change *c = &diff->changes[i];
		free(c->id);
		json_decref(c->old_feature);
		json_decref(c->new_feature);
		keys_free(c->keys, c->nkeys);
	}
	free(diff->changes);
	for (size_t i = 0; i < diff->nlayers; i++) {
		umap_diff_layer *l = &diff->layers[i];
		free(l->id);
		free(l->name);
		json_decref(l->old_options);
		json_decref(l->new_options);
		json_decref(l->old_parent);
		json_decref(l->new_parent);
		json_decref(l->old_rank);
		json_decref(l->new_rank);
		keys_free(l->keys, l->nkeys);
	}
	free(diff->layers);
	keys_free(diff->map_keys, diff->nmap_keys);
	for (size_t i = 0; i < diff->nrenames; i++) {
		free(diff->renames[i].from);
		free(diff->renames[i].to);
	}
	free(diff->renames);
	diff_priv *priv = priv_of(diff);
	if (priv) {
		for (size_t i = 0; i < priv->nignore; i++)
			free(priv->ignore[i]);
		free(priv->ignore);
		free(priv->id_property);
		free(priv);
	}
	free(diff);
}

int umap_diff_add_rename(umap_diff *diff, const char *from, const char *to)
{
	umap_diff_rename *grown = realloc(diff->renames, (diff->nrenames + 1) * sizeof(*grown));
	if (!grown)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	diff->renames = grown;
	umap_diff_rename *r = &grown[diff->nrenames];
	r->from = strdup(from);
	r->to = strdup(to);
	if (!r->from || !r->to) {
		free(r->from);
		free(r->to);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	diff->nrenames++;
	return 0;
}

int umap_diff_has_changes(const umap_diff *diff)
{
	const umap_diff_summary *s = &diff->summary;
	if (s->added || s->removed || s->modified || diff->nmap_keys || diff->nrenames)
		return 1;
	for (size_t i = 0; i < diff->nlayers; i++)
		if (diff->layers[i].kind != UMAP_CHANGE_NONE)
			return 1;
	return 0;
}

static int ignored(const diff_priv *priv, const char *key)
{
	for (size_t i = 0; i < priv->nignore; i++)
		if (!strcmp(priv->ignore[i], key))
			return 1;
	return 0;
}

/* ---- Per-key comparison ------------------------------------------------------------ */

static int keys_push(umap_key_change **keys, size_t *n, const char *key, const json_t *old_value,
		     const json_t *new_value)
{
	umap_key_change *grown = realloc(*keys, (*n + 1) * sizeof(**keys));
	if (!grown)
		return nomem();
	*keys = grown;
	umap_key_change *k = &grown[*n];
	if (!(k->key = strdup(key)))
		return nomem();
	k->old_value = json_incref((json_t *)old_value);
	k->new_value = json_incref((json_t *)new_value);
	(*n)++;
	return 0;
}

/* Compares two objects key by key (NULL or a non-object counts as empty). */
static int compare_keys(const diff_priv *priv, const json_t *old_obj, const json_t *new_obj,
			umap_key_change **keys, size_t *n)
{
	if (!json_is_object(old_obj))
		old_obj = NULL;
	if (!json_is_object(new_obj))
		new_obj = NULL;
	/* keys by length, not as C strings: "a\u0000b" and "a" are different keys */
	const char *key;
	size_t key_len;
	json_t *v;
	int rc;
	if (new_obj) {
		json_object_keylen_foreach((json_t *)new_obj, key, key_len, v) {
			if (ignored(priv, key))
				continue;
			const json_t *old_value = old_obj ? json_object_getn(old_obj, key, key_len) : NULL;
			if (old_value && umap_json_equal(old_value, v))
				continue;
			if ((rc = keys_push(keys, n, key, old_value, v)))
				return rc;
		}
	}
	if (old_obj) {
		json_object_keylen_foreach((json_t *)old_obj, key, key_len, v) {
			if (ignored(priv, key) || (new_obj && json_object_getn(new_obj, key, key_len)))
				continue;
			if ((rc = keys_push(keys, n, key, v, NULL)))
				return rc;
		}
	}
	return 0;
}

/* Equality with numbers rounded to `precision` decimals (for coordinates). */
static int equal_rounded(const json_t *a, const json_t *b, double scale)
{
	if (json_is_number(a) && json_is_number(b))
		return round(umap_json_number(a) * scale) == round(umap_json_number(b) * scale);
	if (json_is_array(a) && json_is_array(b)) {
		size_t n = json_array_size(a);
		if (n != json_array_size(b))
			return 0;
		for (size_t i = 0; i < n; i++)
			if (!equal_rounded(json_array_get(a, i), json_array_get(b, i), scale))
				return 0;
		return 1;
	}
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		const char *key;
		size_t key_len;
		json_t *v;
		json_object_keylen_foreach((json_t *)a, key, key_len, v) {
			const json_t *w = json_object_getn(b, key, key_len);
			if (!w || !equal_rounded(v, w, scale))
				return 0;
		}
		return 1;
	}
	return umap_json_equal(a, b);
}

static int geometry_equal(const diff_priv *priv, const json_t *a, const json_t *b)
{
	if (!a)
		a = json_null();
	if (!b)
		b = json_null();
	if (priv->precision < 0)
		return umap_json_equal(a, b);
	return equal_rounded(a, b, pow(10.0, priv->precision));
}

/* ---- Building the model ------------------------------------------------------------ */

/* A layer's id that only one side writes is not a change (SPEC §2 "Layer identity"): uMap's
 * exports drop layer ids and a server gives them, and the layers were paired already. */
static void drop_id_given_or_dropped(umap_diff_layer *l)
{
	for (size_t k = 0; k < l->nkeys; k++) {
		umap_key_change *c = &l->keys[k];
		if (strcmp(c->key, "id") || (c->old_value && c->new_value))
			continue;
		free(c->key);
		json_decref(c->old_value);
		json_decref(c->new_value);
		memmove(c, c + 1, (l->nkeys - k - 1) * sizeof(*c));
		l->nkeys--;
		return;
	}
}

int umap_diff_add_layer(size_t *index, umap_diff *diff, umap_change_kind presence, const char *id,
		    long position, const json_t *old_options, const json_t *new_options)
{
	diff_priv *priv = priv_of(diff);
	if (diff->nlayers == priv->layers_cap) {
		size_t cap = priv->layers_cap ? priv->layers_cap * 2 : 8;
		umap_diff_layer *layers = realloc(diff->layers, cap * sizeof(*layers));
		if (!layers)
			return nomem();
		diff->layers = layers;
		priv->layers_cap = cap;
	}
	umap_diff_layer *l = &diff->layers[diff->nlayers];
	memset(l, 0, sizeof(*l));
	diff->nlayers++;
	l->position = position;
	if (id && !(l->id = strdup(id)))
		return nomem();
	l->old_options = json_incref((json_t *)old_options);
	l->new_options = json_incref((json_t *)new_options);
	const json_t *shown = new_options ? new_options : old_options;
	const json_t *name = json_is_object(shown) ? json_object_get(shown, "name") : NULL;
	if (json_is_string(name) && !(l->name = strdup(json_string_value(name))))
		return nomem();
	int rc;
	if (presence == UMAP_CHANGE_ADDED || presence == UMAP_CHANGE_REMOVED)
		l->kind = presence;
	else if ((rc = compare_keys(priv, old_options, new_options, &l->keys, &l->nkeys)))
		return rc;
	drop_id_given_or_dropped(l);
	if (presence != UMAP_CHANGE_ADDED && presence != UMAP_CHANGE_REMOVED && l->nkeys)
		l->kind = UMAP_CHANGE_MODIFIED;
	*index = diff->nlayers - 1;
	return 0;
}

static int change_slot(umap_feature_change **out, umap_diff *diff)
{
	diff_priv *priv = priv_of(diff);
	if (diff->nchanges == priv->changes_cap) {
		size_t cap = priv->changes_cap ? priv->changes_cap * 2 : 16;
		umap_feature_change *changes = realloc(diff->changes, cap * sizeof(*changes));
		if (!changes)
			return nomem();
		diff->changes = changes;
		priv->changes_cap = cap;
	}
	umap_feature_change *c = &diff->changes[diff->nchanges++];
	memset(c, 0, sizeof(*c));
	*out = c;
	return 0;
}

void umap_diff_add_unchanged(umap_diff *diff, size_t layer, size_t count)
{
	diff->layers[layer].unchanged += count;
	diff->summary.unchanged += count;
}

static void count_change(umap_diff *diff, umap_diff_layer *l, umap_change_kind kind)
{
	switch (kind) {
	case UMAP_CHANGE_ADDED:
		l->added++;
		diff->summary.added++;
		break;
	case UMAP_CHANGE_REMOVED:
		l->removed++;
		diff->summary.removed++;
		break;
	default:
		l->modified++;
		diff->summary.modified++;
		break;
	}
}

int umap_diff_add_feature(umap_diff *diff, size_t layer, const json_t *old_feature,
		      const json_t *new_feature, const umap_pos *old_pos, const umap_pos *new_pos)
{
	diff_priv *priv = priv_of(diff);
	umap_diff_layer *l = &diff->layers[layer];
	if (!old_feature && !new_feature)
		return 0;
	umap_key_change *keys = NULL;
	size_t nkeys = 0;
	int geometry_changed = 0, rc;
	umap_change_kind kind;
	if (old_feature && new_feature) {
		if ((rc = compare_keys(priv, json_object_get(old_feature, "properties"),
				       json_object_get(new_feature, "properties"), &keys, &nkeys))) {
			keys_free(keys, nkeys);
			return rc;
		}
		geometry_changed = !priv->ignore_geometry &&
				   !geometry_equal(priv, json_object_get(old_feature, "geometry"),
						   json_object_get(new_feature, "geometry"));
		if (!nkeys && !geometry_changed) {
			umap_diff_add_unchanged(diff, layer, 1);
			return 0;
		}
		kind = UMAP_CHANGE_MODIFIED;
	} else {
		kind = old_feature ? UMAP_CHANGE_REMOVED : UMAP_CHANGE_ADDED;
	}
	if (priv->summary_only) {
		keys_free(keys, nkeys);
		count_change(diff, l, kind);
		return 0;
	}
	umap_feature_change *c = NULL;
	if ((rc = change_slot(&c, diff))) {
		keys_free(keys, nkeys);
		return rc;
	}
	c->kind = kind;
	c->layer = layer;
	c->keys = keys;
	c->nkeys = nkeys;
	c->geometry_changed = geometry_changed;
	c->old_feature = json_incref((json_t *)old_feature);
	c->new_feature = json_incref((json_t *)new_feature);
	if (old_pos)
		c->old_pos = *old_pos;
	if (new_pos)
		c->new_pos = *new_pos;
	if ((rc = umap_feature_id(&c->id, new_feature ? new_feature : old_feature,
				  priv->id_property)))
		return rc;
	count_change(diff, l, kind);
	return 0;
}

int umap_diff_map_options(umap_diff *diff, const json_t *old_props, const json_t *new_props)
{
	return compare_keys(priv_of(diff), old_props, new_props, &diff->map_keys, &diff->nmap_keys);
}

int umap_diff_layer_moved(umap_diff *diff, size_t layer, json_t *old_parent, json_t *new_parent,
			  json_t *old_rank, json_t *new_rank)
{
	umap_diff_layer *l = &diff->layers[layer];
	l->old_parent = old_parent;
	l->new_parent = new_parent;
	l->old_rank = old_rank;
	l->new_rank = new_rank;
	if (!old_parent || !new_parent || !old_rank || !new_rank)
		return nomem();
	if (l->kind == UMAP_CHANGE_NONE)
		l->kind = UMAP_CHANGE_MODIFIED;
	return 0;
}

int umap_diff_layer_place(umap_diff *diff, size_t layer, json_t *parent, json_t *rank)
{
	umap_diff_layer *l = &diff->layers[layer];
	json_decref(l->new_parent);
	json_decref(l->new_rank);
	l->new_parent = parent;
	l->new_rank = rank;
	return parent && rank ? 0 : nomem();
}

json_t *umap_map_view(const json_t *map)
{
	if (!json_is_object(map))
		return NULL;
	const char *options_key = "properties";
	const json_t *options = json_object_get(map, options_key);
	if (!json_is_object(options)) {
		options_key = "_umap_options";
		options = json_object_get(map, options_key);
	}
	json_t *view = json_is_object(options) ? json_copy((json_t *)options) : json_object();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)map, key, v) {
		if (!view)
			break;
		if (!strcmp(key, "type") || !strcmp(key, options_key))
			continue;
		/* the centre is uMap's properties.center; an option of another member's name
		 * wins over the member */
		const char *as = key;
		if (!strcmp(key, "geometry"))
			as = "center";
		else if (json_object_get(view, key))
			continue;
		if (json_object_set(view, as, v)) {
			json_decref(view);
			view = NULL;
		}
	}
	return view;
}

json_t *umap_doc_map_view(const umap_doc *doc)
{
	return umap_map_view(doc->map);
}

json_t *umap_layer_parent_ref(const umap_doc *doc, size_t index)
{
	size_t parent = doc->layers[index].parent;
	if (parent == UMAP_LAYER_TOP)
		return json_null();
	if (doc->layers[parent].id)
		return json_string(doc->layers[parent].id);
	return json_integer((json_int_t)parent);
}

/* ---- Comparing documents ----------------------------------------------------------- */

/* Gives back a tree the diff no longer needs, if the document can build it again. */
static void release_tree(umap_feature *f)
{
	if (f->length && f->value) {
		json_decref(f->value);
		f->value = NULL;
	}
}

static int add_whole(umap_diff *diff, size_t index, umap_doc *doc, umap_layer *layer,
		     int removed)
{
	for (size_t i = 0; i < layer->nfeatures; i++) {
		json_t *tree;
		umap_pos pos = umap_feature_pos(&layer->features[i]);
		int rc = umap_doc_feature(&tree, doc, layer, i);
		if (!rc)
			rc = umap_diff_add_feature(diff, index, removed ? tree : NULL, removed ? NULL : tree,
					       removed ? &pos : NULL, removed ? NULL : &pos);
		release_tree(&layer->features[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- Features without id: aligned as a sequence (lib/idless.h) ----------------------- */

/* `v` with every number rounded to `scale` (times it): a new reference, NULL when out of
 * memory. */
static json_t *rounded_copy(const json_t *v, double scale)
{
	if (json_is_number(v))
		return json_real(round(umap_json_number(v) * scale));
	if (json_is_array(v)) {
		json_t *out = json_array();
		for (size_t i = 0; out && i < json_array_size(v); i++)
			if (json_array_append_new(out, rounded_copy(json_array_get(v, i), scale))) {
				json_decref(out);
				return NULL;
			}
		return out;
	}
	if (json_is_object(v)) {
		json_t *out = json_object();
		const char *key;
		size_t key_len;
		json_t *member;
		json_object_keylen_foreach((json_t *)v, key, key_len, member) {
			if (!out || json_object_setn_new(out, key, key_len, rounded_copy(member, scale))) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	return json_incref((json_t *)v);
}

/* The feature as this diff compares it: without the ignored keys, coordinates rounded to
 * the precision. A new reference, NULL when out of memory. */
static json_t *as_compared(const diff_priv *priv, const json_t *feature)
{
	if (!priv->nignore && priv->precision < 0)
		return json_incref((json_t *)feature);
	json_t *out = json_object();
	const char *key;
	size_t key_len;
	json_t *member;
	json_object_keylen_foreach((json_t *)feature, key, key_len, member) {
		json_t *value;
		if (!strcmp(key, "geometry") && key_len == 8) {
			if (priv->ignore_geometry)
				continue;
			value = priv->precision < 0 ? json_incref(member)
				: rounded_copy(member, pow(10.0, priv->precision));
		} else if (!strcmp(key, "properties") && key_len == 10 && json_is_object(member)) {
			value = json_object();
			const char *name;
			size_t name_len;
			json_t *v;
			json_object_keylen_foreach(member, name, name_len, v) {
				if (value && !ignored(priv, name) &&
				    json_object_setn(value, name, name_len, v)) {
					json_decref(value);
					value = NULL;
				}
			}
		} else {
			value = json_incref(member);
		}
		if (!out || json_object_setn_new(out, key, key_len, value)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static int describe_tree(const diff_priv *priv, const json_t *tree, umap_idless_traits *out)
{
	json_t *compared = as_compared(priv, tree);
	if (!compared)
		return nomem();
	umap_idless_traits_of(out, compared);
	json_decref(compared);
	return 0;
}

/* Two layers of documents, for lib/idless. */
typedef struct idless_features {
	const diff_priv *priv;
	umap_doc *doc[2];
	umap_layer *layer[2];
} idless_features;

static int feature_has_id(void *data, int side, size_t i)
{
	idless_features *f = data;
	return f->layer[side]->features[i].id != NULL;
}

static uint64_t feature_raw(void *data, int side, size_t i)
{
	idless_features *f = data;
	return f->layer[side]->features[i].hash;
}

static int feature_describe(void *data, int side, size_t i, umap_idless_traits *out)
{
	idless_features *f = data;
	json_t *tree;
	int rc = umap_doc_feature(&tree, f->doc[side], f->layer[side], i);
	if (!rc)
		rc = describe_tree(f->priv, tree, out);
	release_tree(&f->layer[side]->features[i]);
	return rc;
}

/* Pairs the features without id of layers a and b (SPEC §2): b_partner[j] gets the place
 * of new feature j's old one, a_partner[i] old feature i's new one; -1 where unpaired. */
static int align_idless(const diff_priv *priv, long *a_partner, long *b_partner,
			umap_doc *old_doc, umap_layer *a, umap_doc *new_doc, umap_layer *b)
{
	idless_features f = { priv, { old_doc, new_doc }, { a, b } };
	umap_idless_source src = { { a->nfeatures, b->nfeatures }, feature_raw, feature_describe,
				   &f, feature_has_id };
	return umap_idless_align(a_partner, b_partner, &src);
}

static int compare_layers(umap_diff *diff, umap_doc *old_doc, umap_layer *a, umap_doc *new_doc,
			  umap_layer *b, long position)
{
	size_t index;
	int rc = umap_diff_add_layer(&index, diff, UMAP_CHANGE_NONE, b->id ? b->id : a->id, position,
				 a->options, b->options);
	if (rc)
		return rc;
	unsigned char *a_matched = calloc(a->nfeatures + 1, 1);
	long *a_partner = malloc((a->nfeatures + 1) * sizeof(*a_partner));
	long *b_partner = malloc((b->nfeatures + 1) * sizeof(*b_partner));
	if (!a_matched || !a_partner || !b_partner) {
		free(a_matched);
		free(a_partner);
		free(b_partner);
		return nomem();
	}
	size_t unchanged = 0;
	for (size_t i = 0; i < b->nfeatures && !rc; i++) {
		umap_feature *fb = &b->features[i];
		if (!fb->id)
			continue;
		long k = umap_layer_find(old_doc, a, fb->id);
		json_t *tb, *ta;
		umap_pos pb = umap_feature_pos(fb), pa;
		if (k < 0) {
			if (!(rc = umap_doc_feature(&tb, new_doc, b, i)))
				rc = umap_diff_add_feature(diff, index, NULL, tb, NULL, &pb);
			release_tree(fb);
			continue;
		}
		umap_feature *fa = &a->features[k];
		a_matched[k] = 1;
		if (fa->hash == fb->hash && (fa->length != 0) == (fb->length != 0)) {
			unchanged++;
			continue;
		}
		pa = umap_feature_pos(fa);
		if (!(rc = umap_doc_feature(&ta, old_doc, a, (size_t)k)) &&
		    !(rc = umap_doc_feature(&tb, new_doc, b, i)))
			rc = umap_diff_add_feature(diff, index, ta, tb, &pa, &pb);
		release_tree(fa);
		release_tree(fb);
	}
	if (!rc)
		rc = align_idless(priv_of(diff), a_partner, b_partner, old_doc, a, new_doc, b);
	/* new features without id after those with one: modified in place, or added */
	for (size_t i = 0; i < b->nfeatures && !rc; i++) {
		umap_feature *fb = &b->features[i];
		if (fb->id)
			continue;
		json_t *ta = NULL, *tb;
		long k = b_partner[i];
		if (k >= 0) {
			umap_feature *fa = &a->features[k];
			a_matched[k] = 1;
			if (fa->hash == fb->hash && (fa->length != 0) == (fb->length != 0)) {
				unchanged++;
				continue;
			}
			rc = umap_doc_feature(&ta, old_doc, a, (size_t)k);
		}
		umap_pos pa = k >= 0 ? umap_feature_pos(&a->features[k]) : (umap_pos){ 0, 0, 0 };
		umap_pos pb = umap_feature_pos(fb);
		if (!rc && !(rc = umap_doc_feature(&tb, new_doc, b, i)))
			rc = umap_diff_add_feature(diff, index, ta, tb, k >= 0 ? &pa : NULL, &pb);
		if (k >= 0)
			release_tree(&a->features[k]);
		release_tree(fb);
	}
	for (size_t i = 0; i < a->nfeatures && !rc; i++) {
		if (a_matched[i])
			continue;
		json_t *ta;
		umap_pos pa = umap_feature_pos(&a->features[i]);
		if (!(rc = umap_doc_feature(&ta, old_doc, a, i)))
			rc = umap_diff_add_feature(diff, index, ta, NULL, &pa, NULL);
		release_tree(&a->features[i]);
	}
	umap_diff_add_unchanged(diff, index, unchanged);
	free(a_matched);
	free(a_partner);
	free(b_partner);
	return rc;
}

/* Reports layer j of new_doc as moved when its parent is not the match of its old one's
 * or its rank among siblings changed. */
static int compare_places(umap_diff *diff, size_t index, const long *match, umap_doc *old_doc,
			  size_t i, umap_doc *new_doc, size_t j)
{
	size_t op = old_doc->layers[i].parent, np = new_doc->layers[j].parent;
	int same_parent = np == UMAP_LAYER_TOP ? op == UMAP_LAYER_TOP
					       : op != UMAP_LAYER_TOP && match[np] == (long)op;
	size_t orank = umap_layer_rank(old_doc, i), nrank = umap_layer_rank(new_doc, j);
	if (same_parent && orank == nrank)
		return 0;
	return umap_diff_layer_moved(diff, index, umap_layer_parent_ref(old_doc, i),
				     umap_layer_parent_ref(new_doc, j), json_integer((json_int_t)orank),
				     json_integer((json_int_t)nrank));
}

static int match_layers(long **out, umap_doc *old_doc, umap_doc *new_doc)
{
	return umap_doc_match_layers(out, old_doc, new_doc);
}

static int layer_unmatched(const long *match, size_t nnew, size_t old_index)
{
	for (size_t j = 0; j < nnew; j++)
		if (match[j] == (long)old_index)
			return 0;
	return 1;
}

static int diff_maps(umap_diff *diff, const umap_doc *old_doc, const umap_doc *new_doc)
{
	json_t *a = umap_doc_map_view(old_doc), *b = umap_doc_map_view(new_doc);
	if ((old_doc->map && !a) || (new_doc->map && !b)) {
		json_decref(a);
		json_decref(b);
		return nomem();
	}
	int rc = umap_diff_map_options(diff, a, b);
	json_decref(a);
	json_decref(b);
	return rc;
}

int umap_diff_docs(umap_diff *diff, umap_doc *old_doc, umap_doc *new_doc)
{
	int rc = 0;
	if (old_doc->kind == UMAP_DOC_MAP || new_doc->kind == UMAP_DOC_MAP) {
		if ((rc = diff_maps(diff, old_doc, new_doc)))
			return rc;
	}
	long *match;
	if ((rc = match_layers(&match, old_doc, new_doc)))
		return rc;
	for (size_t j = 0; j < new_doc->nlayers && !rc; j++) {
		umap_layer *b = &new_doc->layers[j];
		if (match[j] >= 0) {
			rc = compare_layers(diff, old_doc, &old_doc->layers[match[j]], new_doc, b, (long)j);
			if (!rc)
				rc = compare_places(diff, diff->nlayers - 1, match, old_doc,
						    (size_t)match[j], new_doc, j);
			continue;
		}
		size_t index;
		if (!(rc = umap_diff_add_layer(&index, diff, UMAP_CHANGE_ADDED, b->id, (long)j, NULL,
					       b->options)) &&
		    !(rc = umap_diff_layer_place(diff, index, umap_layer_parent_ref(new_doc, j),
						 json_integer((json_int_t)umap_layer_rank(new_doc, j)))))
			rc = add_whole(diff, index, new_doc, b, 0);
	}
	for (size_t i = 0; i < old_doc->nlayers && !rc; i++) {
		if (!layer_unmatched(match, new_doc->nlayers, i))
			continue;
		umap_layer *a = &old_doc->layers[i];
		size_t index;
		if (!(rc = umap_diff_add_layer(&index, diff, UMAP_CHANGE_REMOVED, a->id, (long)i,
					       a->options, NULL)))
			rc = add_whole(diff, index, old_doc, a, 1);
	}
	free(match);
	return rc;
}

/* ---- Diffs of files, streamed ------------------------------------------------------
 * Each file is read once (both at the same time, on two threads) into a compact table of
 * 24 bytes per feature: xxh3 of its bytes, its span, and its id (inline up to 8 bytes,
 * which holds uMap's "Rk3Qa" with its quotes). Tables are sorted by id and merged; only
 * features whose bytes differ are parsed. No per-feature tree or struct is kept. */

#define REC_HEAP_ID 0x80000000u
#define REC_NO_ID 0x40000000u
#define REC_MULTILINE 0x20000000u /* its bytes hold a newline: never taken as known */
#define REC_LENGTH 0x1fffffffu

typedef struct rec {
	uint64_t hash;
	uint32_t offset; /* documents are at most 4 GiB (UMAP_JSON_DEFAULT_MAX_SIZE) */
	uint32_t length; /* and the REC_ flags */
	union {
		char inline_id[8]; /* NUL-padded; not NUL-terminated when 8 bytes long */
		char *heap_id;
	} id;
} rec;

/* Open addressing over the records of one layer (record index + 1; 0 = empty), keyed by
 * rec_key: a hash join, cheaper than sorting both sides by id. */
typedef struct id_table {
	uint32_t *slots;
	size_t mask;
	size_t used;
} id_table;

enum { IDS_NONE, IDS_BUILT, IDS_DUPLICATE, IDS_NOMEM };

typedef struct rec_layer {
	rec *recs;
	size_t n, cap;
	id_table ids;            /* the old side's index, built by its reader (index_layer) */
	int ids_state;           /* IDS_* */
	uint32_t dup_first, dup_again; /* IDS_DUPLICATE: the records sharing an id */
} rec_layer;

typedef struct rec_table {
	rec_layer *layers;
	size_t nlayers;
	int lent_ids;  /* the heap ids are another table's */
} rec_table;

static void table_free(rec_table *t)
{
	for (size_t l = 0; l < t->nlayers; l++) {
		for (size_t i = 0; i < t->layers[l].n && !t->lent_ids; i++)
			if (t->layers[l].recs[i].length & REC_HEAP_ID)
				free(t->layers[l].recs[i].id.heap_id);
		if (t->layers[l].recs)
			munmap(t->layers[l].recs, t->layers[l].cap * sizeof(rec));
		free(t->layers[l].ids.slots);
	}
	free(t->layers);
	t->layers = NULL;
	t->nlayers = 0;
}

static const char *rec_id(const rec *r, size_t *len)
{
	if (r->length & REC_NO_ID) {
		*len = 0;
		return "";
	}
	if (r->length & REC_HEAP_ID) {
		*len = strlen(r->id.heap_id);
		return r->id.heap_id;
	}
	*len = strnlen(r->id.inline_id, sizeof(r->id.inline_id));
	return r->id.inline_id;
}

/* A new record at the end of layer `layer` of `t`, zeroed. */
static int push_rec(rec **out, rec_table *t, size_t layer)
{
	if (layer >= t->nlayers) {
		rec_layer *grown = realloc(t->layers, (layer + 1) * sizeof(*grown));
		if (!grown)
			return nomem();
		memset(grown + t->nlayers, 0, (layer + 1 - t->nlayers) * sizeof(*grown));
		t->layers = grown;
		t->nlayers = layer + 1;
	}
	rec_layer *l = &t->layers[layer];
	if (l->n == l->cap) {
		/* mremap moves pages instead of copying them: growing never holds two copies,
		 * which realloc from the heap would (and keep the old one resident) */
		size_t cap = l->cap ? l->cap * 2 : 65536 / sizeof(rec);
		void *grown = l->recs ? mremap(l->recs, l->cap * sizeof(rec), cap * sizeof(rec),
					       MREMAP_MAYMOVE)
				      : mmap(NULL, cap * sizeof(rec), PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (grown == MAP_FAILED)
			return nomem();
		l->recs = grown;
		l->cap = cap;
	}
	if (l->n >= INT32_MAX)
		return umap_error_set(UMAP_ELIMIT, "more than %d features in a layer to compare", INT32_MAX);
	*out = &l->recs[l->n++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

static int add_rec(rec_table *t, umap_doc *doc, size_t layer, const umap_feature *f)
{
	if (f->length > REC_LENGTH || f->offset > UINT32_MAX)
		return umap_error_set(UMAP_ELIMIT, "%s:%u:%u: feature too large to compare (%zu bytes at offset %zu)",
				      doc->source_name, f->pos.line, f->pos.col, (size_t)f->length, f->offset);
	rec *r;
	int rc = push_rec(&r, t, layer);
	if (rc)
		return rc;
	r->hash = f->hash;
	r->offset = (uint32_t)f->offset;
	r->length = (uint32_t)f->length | (f->lines ? REC_MULTILINE : 0);
	if (!f->id) {
		r->length |= REC_NO_ID;
	} else if (strlen(f->id) <= sizeof(r->id.inline_id)) {
		memcpy(r->id.inline_id, f->id, strlen(f->id));
	} else {
		/* the id is lent for the call */
		if (!(r->id.heap_id = strdup(f->id))) {
			t->layers[layer].n--;
			return nomem();
		}
		r->length |= REC_HEAP_ID;
	}
	return 0;
}

static int id_order(const rec *a, const rec *b)
{
	size_t la, lb;
	const char *x = rec_id(a, &la), *y = rec_id(b, &lb);
	int c = memcmp(x, y, la < lb ? la : lb);
	if (!c && la != lb)
		c = la < lb ? -1 : 1;
	return c;
}

/* The first 8 bytes of the id, big-endian: comparing keys is comparing ids, except that two
 * ids of more than 8 bytes (on the heap) may share a key. JSON text holds no NUL, so the
 * NUL padding of short ids sorts them before their extensions, as memcmp would. */
static inline uint64_t rec_key(const rec *r)
{
	uint64_t k;
	memcpy(&k, (r->length & REC_HEAP_ID) ? r->id.heap_id : r->id.inline_id, sizeof(k));
	return __builtin_bswap64(k);
}

static inline int rec_cmp(const rec *a, const rec *b)
{
	uint64_t ka = rec_key(a), kb = rec_key(b);
	if (ka != kb)
		return ka < kb ? -1 : 1;
	if ((a->length | b->length) & REC_HEAP_ID)
		return id_order(a, b);
	return 0;
}

static int duplicate_error(const umap_doc *doc, const rec *first, const rec *again)
{
	umap_pos pos = umap_doc_pos_at(doc, again->offset), first_pos = umap_doc_pos_at(doc, first->offset);
	size_t len;
	const char *id = rec_id(again, &len);
	return umap_error_set(UMAP_EINVALID,
			      "%s:%u:%u: duplicate feature id %.*s: first on line %u, again on line %u",
			      doc->source_name, pos.line, pos.col, (int)len, id, first_pos.line,
			      pos.line);
}

static size_t key_slot(uint64_t k, size_t mask)
{
	k ^= k >> 33; /* murmur3's finaliser: ids differ mostly in their last bytes */
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k & mask;
}

static int id_table_init(id_table *t, size_t n)
{
	size_t cap = 64;
	while (cap < 2 * n)
		cap *= 2;
	/* zeroed by writing, not calloc: calloc's fresh pages are the shared zero page until
	 * written, and a lookup that reads one before the first insert writes it costs a
	 * second fault and a TLB flush on the other core (the other file's reader) */
	t->slots = malloc(cap * sizeof(*t->slots));
	if (!t->slots)
		return nomem();
	memset(t->slots, 0, cap * sizeof(*t->slots));
	t->mask = cap - 1;
	t->used = 0;
	return 0;
}

/* The record of `recs` in `t` with the id of `r`, or -1; *slot is where it would go. */
static long id_table_find(const id_table *t, const rec *recs, const rec *r, size_t *slot)
{
	size_t i = key_slot(rec_key(r), t->mask);
	for (uint32_t e; (e = t->slots[i]); i = (i + 1) & t->mask)
		if (!rec_cmp(&recs[e - 1], r))
			return (long)(e - 1);
	if (slot)
		*slot = i;
	return -1;
}

static int id_table_add(id_table *t, const rec *recs, uint32_t index)
{
	if (2 * (t->used + 1) > t->mask + 1) {
		id_table bigger;
		if (id_table_init(&bigger, 2 * (t->used + 1)))
			return nomem();
		for (size_t i = 0; i <= t->mask; i++) {
			uint32_t e = t->slots[i];
			if (!e)
				continue;
			size_t j = key_slot(rec_key(&recs[e - 1]), bigger.mask);
			while (bigger.slots[j])
				j = (j + 1) & bigger.mask;
			bigger.slots[j] = e;
		}
		bigger.used = t->used;
		free(t->slots);
		*t = bigger;
	}
	size_t slot;
	id_table_find(t, recs, &recs[index], &slot);
	t->slots[slot] = index + 1;
	t->used++;
	return 0;
}

/* Fetches ahead what id_table_find(t, recs, &keys[i]) will read: the records are bigger
 * than the L2 cache and a lookup read them at random, a cache miss each (half of the time
 * of indexing and of looking up 100k ids). The slot comes first, its record later. */
static inline void id_table_prefetch(const id_table *t, const rec *recs, const rec *keys,
				     size_t i, size_t n)
{
	if (i + 16 < n)
		__builtin_prefetch(&t->slots[key_slot(rec_key(&keys[i + 16]), t->mask)]);
	if (i + 8 < n) {
		uint32_t e = t->slots[key_slot(rec_key(&keys[i + 8]), t->mask)];
		if (e)
			__builtin_prefetch(&recs[e - 1]);
	}
}

/* Indexes the ids of a layer; the first duplicate stops it and is kept for index_old to
 * report (messages are per thread, and this runs on the reader's). */
static void index_layer(rec_layer *l)
{
	if (id_table_init(&l->ids, l->n)) {
		l->ids_state = IDS_NOMEM;
		return;
	}
	l->ids_state = IDS_BUILT;
	for (size_t i = 0; i < l->n; i++) {
		const rec *r = &l->recs[i];
		id_table_prefetch(&l->ids, l->recs, l->recs, i, l->n);
		if (r->length & REC_NO_ID)
			continue;
		long first = id_table_find(&l->ids, l->recs, r, NULL);
		if (first >= 0) {
			l->ids_state = IDS_DUPLICATE;
			l->dup_first = (uint32_t)first;
			l->dup_again = (uint32_t)i;
			return;
		}
		if (id_table_add(&l->ids, l->recs, (uint32_t)i)) {
			l->ids_state = IDS_NOMEM;
			return;
		}
	}
}

/* The old side's id index, failing on a duplicate. */
static int index_old(const id_table **t, const umap_doc *doc, rec_layer *l)
{
	static uint32_t no_slot[1];
	static const id_table no_ids = { no_slot, 0, 0 };
	*t = &no_ids;
	if (!l->n)
		return 0; /* (the shared empty layer of table_layer is never written) */
	if (l->ids_state == IDS_NONE)
		index_layer(l);
	if (l->ids_state == IDS_DUPLICATE)
		return duplicate_error(doc, &l->recs[l->dup_first], &l->recs[l->dup_again]);
	if (l->ids_state == IDS_NOMEM)
		return nomem();
	*t = &l->ids;
	return 0;
}

/* The earlier record of `l` with the id of record `j` (for duplicate messages). */
static const rec *earlier_same_id(rec_layer *l, size_t j)
{
	for (size_t i = 0; i < j; i++)
		if (!(l->recs[i].length & REC_NO_ID) && !rec_cmp(&l->recs[i], &l->recs[j]))
			return &l->recs[i];
	return &l->recs[j];
}

static int rec_tree(json_t **out, umap_doc *doc, const rec *r)
{
	return umap_doc_build_span(out, doc, r->offset, r->length & REC_LENGTH);
}

/* A changed pair found while the tables are there, compared once they are gone: the
 * trees of the changes then have the memory the tables had. */
typedef struct pending {
	size_t layer;
	uint32_t old_offset, old_length, new_offset, new_length; /* length 0: no such side */
} pending;

/* Appends a pending pair to `todo` (an array of them in a byte buffer). */
static int todo_push(umap_buf *todo, size_t layer, const rec *a, const rec *b)
{
	pending t = { layer, a ? a->offset : 0, a ? a->length & REC_LENGTH : 0,
		      b ? b->offset : 0, b ? b->length & REC_LENGTH : 0 };
	return umap_buf_put(todo, &t, sizeof(t)) ? nomem() : 0;
}

/* The trees of the changed pairs, built on two threads: parsing them is most of what
 * remains once both files are read, and one core would otherwise sit idle. Items are
 * claimed from a shared counter; the caller adds them to the diff in order as they become
 * ready, so that the changes come out as one thread would have found them. */
typedef struct todo_work {
	umap_doc *old_doc, *new_doc;
	const pending *items;
	size_t n;
	json_t **trees;              /* 2 per item: old, new */
	_Atomic unsigned char *state; /* TODO_* per item */
	atomic_size_t next;
	atomic_int stop;
	int worker_rc;
	char worker_error[1024];
} todo_work;

enum { TODO_PENDING, TODO_BUILT, TODO_FAILED };

static int todo_build(todo_work *w, size_t i)
{
	const pending *t = &w->items[i];
	json_t **tree = &w->trees[2 * i];
	int rc = 0;
	/* a feature is at least "{}": length 0 is no feature */
	if (t->old_length)
		rc = umap_doc_build_span(&tree[0], w->old_doc, t->old_offset, t->old_length);
	if (!rc && t->new_length)
		rc = umap_doc_build_span(&tree[1], w->new_doc, t->new_offset, t->new_length);
	atomic_store_explicit(&w->state[i], rc ? TODO_FAILED : TODO_BUILT, memory_order_release);
	return rc;
}

/* Claims and builds items until none is left or either side failed; 0 or the error. */
static int todo_claim(todo_work *w)
{
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		size_t i = atomic_fetch_add_explicit(&w->next, 1, memory_order_relaxed);
		if (i >= w->n)
			return 0;
		int rc = todo_build(w, i);
		if (rc) {
			atomic_store(&w->stop, 1);
			return rc;
		}
	}
	return 0;
}

static void *todo_worker(void *arg)
{
	todo_work *w = arg;
	if ((w->worker_rc = todo_claim(w)))
		snprintf(w->worker_error, sizeof(w->worker_error), "%s", umap_error_last());
	return NULL;
}

/* Adds item i, whose trees are built, to the diff. */
static int todo_add(umap_diff *diff, todo_work *w, size_t i)
{
	json_t **tree = &w->trees[2 * i];
	/* positions are left unknown: counting lines for each change would cost a pass */
	int rc = umap_diff_add_feature(diff, w->items[i].layer, tree[0], tree[1], NULL, NULL);
	json_decref(tree[0]);
	json_decref(tree[1]);
	tree[0] = tree[1] = NULL;
	return rc;
}

static int add_pending(umap_diff *diff, umap_doc *old_doc, umap_doc *new_doc,
		       const pending *items, size_t n)
{
	if (!n)
		return 0;
	todo_work w = { old_doc, new_doc, items, n, calloc(2 * n, sizeof(json_t *)),
			calloc(n, sizeof(*w.state)), 0, 0, 0, "" };
	if (!w.trees || !w.state) {
		free(w.trees);
		free((void *)w.state);
		return nomem();
	}
	pthread_t thread;
	/* for a few changes a thread costs more than it saves */
	int threaded = n >= 64 && pthread_create(&thread, NULL, todo_worker, &w) == 0;
	int rc = 0;
	size_t added = 0;
	while (!rc && added < n) {
		if (!atomic_load_explicit(&w.stop, memory_order_relaxed)) {
			size_t i = atomic_fetch_add_explicit(&w.next, 1, memory_order_relaxed);
			if (i < n && (rc = todo_build(&w, i)))
				atomic_store(&w.stop, 1);
		}
		unsigned char st;
		while (!rc && added < n &&
		       (st = atomic_load_explicit(&w.state[added], memory_order_acquire)) != TODO_PENDING) {
			if (st == TODO_FAILED)
				break;
			rc = todo_add(diff, &w, added++);
		}
		if (rc || added == n)
			break;
		if (atomic_load_explicit(&w.next, memory_order_relaxed) >= n ||
		    atomic_load_explicit(&w.stop, memory_order_relaxed)) {
			/* nothing left to claim: what is not built is the worker's */
			if (threaded) {
				pthread_join(thread, NULL);
				threaded = 0;
			}
			/* built or failed, all of them: a failure below `added` is the worker's */
			if (atomic_load(&w.state[added]) != TODO_BUILT)
				rc = umap_error_set(w.worker_rc, "%s", w.worker_error);
		}
	}
	if (rc)
		atomic_store(&w.stop, 1);
	if (threaded)
		pthread_join(thread, NULL);
	for (size_t i = 0; i < 2 * n; i++)
		json_decref(w.trees[i]);
	free(w.trees);
	free((void *)w.state);
	return rc;
}

/* Two layers' records, for lib/idless. */
typedef struct idless_recs {
	const diff_priv *priv;
	umap_doc *doc[2];
	rec_layer *layer[2];
} idless_recs;

static int rec_has_id(void *data, int side, size_t i)
{
	idless_recs *f = data;
	return !(f->layer[side]->recs[i].length & REC_NO_ID);
}

static uint64_t rec_raw(void *data, int side, size_t i)
{
	idless_recs *f = data;
	const rec *r = &f->layer[side]->recs[i];
	return r->hash ^ (r->length & REC_LENGTH);
}

static int rec_describe(void *data, int side, size_t i, umap_idless_traits *out)
{
	idless_recs *f = data;
	json_t *tree = NULL;
	int rc = rec_tree(&tree, f->doc[side], &f->layer[side]->recs[i]);
	if (!rc)
		rc = describe_tree(f->priv, tree, out);
	json_decref(tree);
	return rc;
}

/* Features without id, aligned as a sequence (SPEC §2): b_match[j] gets new feature j's
 * old partner, and a_matched[] is raised for it. */
static int align_idless_recs(const diff_priv *priv, umap_doc *old_doc, rec_layer *a,
			     unsigned char *a_matched, umap_doc *new_doc, rec_layer *b,
			     int32_t *b_match)
{
	idless_recs f = { priv, { old_doc, new_doc }, { a, b } };
	umap_idless_source src = { { a->n, b->n }, rec_raw, rec_describe, &f, rec_has_id };
	long *a_partner = malloc((a->n + 1) * sizeof(long));
	long *b_partner = malloc((b->n + 1) * sizeof(long));
	int rc = a_partner && b_partner ? umap_idless_align(a_partner, b_partner, &src) : nomem();
	for (size_t j = 0; !rc && j < b->n; j++) {
		if (b_partner[j] < 0)
			continue;
		a_matched[b_partner[j]] = 1;
		b_match[j] = (int32_t)b_partner[j];
	}
	free(a_partner);
	free(b_partner);
	return rc;
}

/* Pairs features by id (a hash join on the old side's ids), then id-less ones by content.
 * Duplicate ids on either side are an error naming both lines. */
static int pair_recs(const diff_priv *priv, umap_doc *old_doc, rec_layer *a, unsigned char *a_matched,
		     umap_doc *new_doc, rec_layer *b, int32_t *b_match)
{
	const id_table *old_ids;
	id_table added_ids = { NULL, 0, 0 };
	int rc = index_old(&old_ids, old_doc, a);
	if (!rc)
		rc = id_table_init(&added_ids, 16);
	/* features mostly keep their order: the old record `shift` places on from the last
	 * match is tried before the index, one sequential read instead of a random one */
	long shift = 0;
	for (size_t j = 0; !rc && j < b->n; j++) {
		const rec *r = &b->recs[j];
		if (r->length & REC_NO_ID)
			continue;
		long k = (long)j + shift;
		if (k < 0 || (size_t)k >= a->n || (a->recs[k].length & REC_NO_ID) ||
		    rec_cmp(&a->recs[k], r)) {
			id_table_prefetch(old_ids, a->recs, b->recs, j, b->n);
			k = id_table_find(old_ids, a->recs, r, NULL);
		}
		if (k >= 0)
			shift = k - (long)j;
		if (k >= 0 && !a_matched[k]) {
			a_matched[k] = 1;
			b_match[j] = (int32_t)k;
		} else if (k >= 0 || id_table_find(&added_ids, b->recs, r, NULL) >= 0) {
			rc = duplicate_error(new_doc, earlier_same_id(b, j), r);
		} else {
			rc = id_table_add(&added_ids, b->recs, (uint32_t)j);
		}
	}
	free(added_ids.slots);
	if (!rc)
		rc = align_idless_recs(priv, old_doc, a, a_matched, new_doc, b, b_match);
	return rc;
}

static int compare_rec_layers(umap_diff *diff, size_t index, umap_doc *old_doc, rec_layer *a,
			      umap_doc *new_doc, rec_layer *b, umap_buf *todo)
{
	unsigned char *a_matched = calloc(a->n + 1, 1);
	int32_t *b_match = malloc((b->n + 1) * sizeof(*b_match));
	if (!a_matched || !b_match) {
		free(a_matched);
		free(b_match);
		return nomem();
	}
	for (size_t j = 0; j < b->n; j++)
		b_match[j] = -1;
	int rc = pair_recs(priv_of(diff), old_doc, a, a_matched, new_doc, b, b_match);
	size_t unchanged = 0;
	for (size_t j = 0; !rc && j < b->n; j++) {
		const rec *rb = &b->recs[j];
		if (rb->length & REC_NO_ID)
			continue;
		if (b_match[j] < 0) {
			rc = todo_push(todo, index, NULL, rb);
			continue;
		}
		const rec *ra = &a->recs[b_match[j]];
		if (ra->hash == rb->hash && (ra->length & REC_LENGTH) == (rb->length & REC_LENGTH))
			unchanged++;
		else
			rc = todo_push(todo, index, ra, rb);
	}
	/* as compare_layers has them: new features without id after those with one */
	for (size_t j = 0; !rc && j < b->n; j++) {
		const rec *rb = &b->recs[j];
		if (!(rb->length & REC_NO_ID))
			continue;
		const rec *ra = b_match[j] >= 0 ? &a->recs[b_match[j]] : NULL;
		if (ra && ra->hash == rb->hash && (ra->length & REC_LENGTH) == (rb->length & REC_LENGTH))
			unchanged++;
		else
			rc = todo_push(todo, index, ra, rb);
	}
	for (size_t i = 0; !rc && i < a->n; i++)
		if (!a_matched[i])
			rc = todo_push(todo, index, &a->recs[i], NULL);
	if (!rc)
		umap_diff_add_unchanged(diff, index, unchanged);
	free(a_matched);
	free(b_match);
	return rc;
}

/* ---- Reading both files ------------------------------------------------------------
 * Two versions of a layer mostly hold the same features, byte for byte, and checking that
 * a feature is valid JSON is most of the cost of reading it. So the files are read on two
 * cores like this: a helper guesses where the second half of each file's features starts,
 * and reads the old file's second half while the main thread reads its first half; then
 * each reads the same half of the new file against the old file's records (the main
 * thread's, which hold the helper's half by then), taking every feature whose bytes hash
 * as those of the old feature at the same place without checking it again; the helper
 * ends with the old file's id index. The main thread reads each file whole, as always: when
 * it reaches the guessed start of a second half, at the depth of a FeatureCollection's
 * features, it takes what the helper read from there; anywhere else the guess was wrong
 * and it reads on by itself. */

typedef struct split split;

typedef struct read_job {
	const char *path;
	const char *id_property;
	umap_doc *doc;
	rec_table table;
	umap_known_source from; /* the old file's records, when this is the new file */
	struct half *half;      /* the helper's reading of this file's second half, or NULL */
	int rc;
	char error[1024];
} read_job;

/* What the helper read of a file's second half. */
typedef struct half {
	umap_half h;
	read_job job;           /* its records are job.table's layer 0 */
} half;

struct split {
	umap_handoff handoff;
	half halves[2];         /* old file, new file */
	read_job *jobs;         /* the main thread's, old and new */
	int old_read;           /* raised: jobs[0] is read, its table complete */
	int synced;             /* the handoff is there */
};

/* umap_known_source's view of a layer's records. */
static void rec_record(const void *records, size_t i, uint64_t *hash, size_t *length,
		       const char **id, char scratch[16])
{
	const rec *r = &((const rec_layer *)records)->recs[i];
	size_t len;
	const char *text = rec_id(r, &len);
	*hash = r->hash;
	*length = (r->length & REC_MULTILINE) ? 0 : r->length & REC_LENGTH;
	if (r->length & (REC_NO_ID | REC_HEAP_ID)) {
		*id = r->length & REC_NO_ID ? NULL : text;
	} else {
		memcpy(scratch, text, len); /* inline ids are not NUL-terminated at 8 bytes */
		scratch[len] = '\0';
		*id = scratch;
	}
}

static int collect_feature(void *data, umap_doc *doc, size_t layer, umap_feature *f)
{
	read_job *job = data;
	int rc = add_rec(&job->table, doc, layer, f);
	if (!rc && !layer && job->from.tried >= 0)
		umap_known_align(&job->from, job->table.layers[0].n - 1, f->id);
	return rc;
}

/* Moves the helper's records of a second half to the end of the reading's layer 0, giving
 * back their pages as they are copied: the two copies are never whole at once. */
static int adopt_half(void *data)
{
	read_job *job = data;
	rec_table *t = &job->table;
	half *h = job->half;
	rec_layer *from = &h->job.table.layers[0];
	const size_t page = (size_t)sysconf(_SC_PAGESIZE), step = 64 * page;
	size_t released = 0;
	for (size_t i = 0; i < from->n; i++) {
		rec *r;
		int rc = push_rec(&r, t, 0);
		if (rc)
			return rc;
		*r = from->recs[i];
		/* whole pages of records already copied (the array starts on a page) */
		size_t copied = (i + 1) * sizeof(rec) / page * page;
		if (copied >= released + step) {
			madvise((char *)from->recs + released, copied - released, MADV_DONTNEED);
			released = copied;
		}
	}
	h->job.table.lent_ids = 1; /* the heap ids are t's now */
	h->job.table.layers[0].n = 0; /* and the records, whose pages are gone */
	return 0;
}

static int take_known(void *data, umap_doc *doc, size_t layer, umap_feature *f, umap_known *known)
{
	read_job *job = data;
	if (layer)
		return 0;
	int rc = job->half ? umap_half_take(&job->half->h, f, known, adopt_half, job) : 0;
	if (rc)
		return rc < 0 ? rc : 0;
	if (job->from.records)
		umap_known_take(&job->from, doc, job->table.nlayers ? job->table.layers[0].n : 0, f,
				known);
	return 0;
}

static void read_job_init(read_job *job, const char *path, const char *id_property)
{
	memset(job, 0, sizeof(*job));
	job->path = path;
	job->id_property = id_property;
	job->from = (umap_known_source)UMAP_KNOWN_SOURCE_INIT(NULL, 0, rec_record);
}

static void read_job_dispose(read_job *job)
{
	table_free(&job->table);
	umap_doc_free(job->doc);
	job->doc = NULL;
}

/* Compares the features to come with those of layer 0 of `t`. */
static void known_from(umap_known_source *k, const rec_table *t)
{
	if (t->nlayers && t->layers[0].n) {
		k->records = &t->layers[0];
		k->n = t->layers[0].n;
	}
}

static umap_doc_options read_options(read_job *job)
{
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	opts.id_property = job->id_property;
	opts.on_feature = collect_feature;
	opts.on_feature_data = job;
	opts.known_feature = take_known;
	return opts;
}

static void read_whole(read_job *job)
{
	umap_doc_options opts = read_options(job);
	if ((job->rc = umap_doc_open(&job->doc, job->path, &opts)))
		snprintf(job->error, sizeof(job->error), "%s", umap_error_last());
}

static void index_table(rec_table *t)
{
	for (size_t l = 0; l < t->nlayers; l++)
		if (t->layers[l].n)
			index_layer(&t->layers[l]);
}

/* The simple way: each file on its own core; the old one's ids are indexed while the other
 * file is still read. */
static void *read_old_and_index(void *arg)
{
	read_job *job = arg;
	read_whole(job);
	if (!job->rc)
		index_table(&job->table);
	return NULL;
}

static void *read_new(void *arg)
{
	read_whole(arg);
	return NULL;
}

static void read_half(half *h)
{
	umap_doc_options opts = read_options(&h->job);
	umap_half_read(&h->h, h->job.path, &opts);
}

/* The new file's second half, taking what did not change from the old file as the main
 * thread read it: from the first feature of its second half on, if it took the helper's. */
static void read_new_half(split *sp)
{
	half *old_half = &sp->halves[0], *new_half = &sp->halves[1];
	if (!sp->jobs[0].rc) {
		known_from(&new_half->job.from, &sp->jobs[0].table);
		new_half->job.from.shift = old_half->h.taken ? (long)old_half->h.taken_at : 0;
	}
	read_half(new_half);
}

/* The helper: the old file's second half, then the new file's; then the old file's id
 * index while the main thread reads on. */
static void *read_halves(void *arg)
{
	split *sp = arg;
	read_half(&sp->halves[0]);
	umap_handoff_wait(&sp->handoff, &sp->old_read);
	read_new_half(sp);
	if (!sp->jobs[0].rc)
		index_table(&sp->jobs[0].table);
	return NULL;
}

/* The main thread's part: both files whole, taking the helper's halves. */
static void read_old_whole(split *sp)
{
	read_whole(&sp->jobs[0]);
	if (sp->synced)
		umap_handoff_raise(&sp->handoff, &sp->old_read);
}

static void read_new_whole(split *sp)
{
	read_job *jobs = sp->jobs;
	if (!jobs[0].rc)
		known_from(&jobs[1].from, &jobs[0].table);
	read_whole(&jobs[1]);
}

/* Reads both files into jobs[0] (old) and jobs[1] (new), saying how in *reading. */
static void read_files(read_job *jobs, int threads, umap_diff_reading *reading)
{
	split sp;
	memset(&sp, 0, sizeof(sp));
	sp.jobs = jobs;
	for (int k = 0; k < 2; k++) {
		read_job_init(&sp.halves[k].job, jobs[k].path, jobs[k].id_property);
		sp.halves[k].h.handoff = &sp.handoff;
	}
	sp.synced = !umap_handoff_init(&sp.handoff);
	int halves = sp.synced && (sp.halves[0].h.offset = umap_doc_guess_half(jobs[0].path)) &&
		     (sp.halves[1].h.offset = umap_doc_guess_half(jobs[1].path));
	for (int k = 0; k < 2 && halves; k++)
		jobs[k].half = &sp.halves[k];
	pthread_t thread;
	if (threads == 1) {
		/* each part of the helper's before the main thread's that takes it */
		if (halves)
			read_half(&sp.halves[0]);
		read_old_whole(&sp);
		if (halves)
			read_new_half(&sp);
		read_new_whole(&sp);
	} else if (halves && !pthread_create(&thread, NULL, read_halves, &sp)) {
		read_old_whole(&sp);
		read_new_whole(&sp);
		pthread_join(thread, NULL);
	} else {
		jobs[0].half = jobs[1].half = NULL;
		if (!pthread_create(&thread, NULL, read_new, &jobs[1])) {
			read_old_and_index(&jobs[0]);
			pthread_join(thread, NULL);
		} else {
			read_old_whole(&sp);
			read_new_whole(&sp);
		}
	}
	reading->halves = (size_t)(sp.halves[0].h.taken + sp.halves[1].h.taken);
	reading->known = jobs[1].from.taken + (sp.halves[1].h.taken ? sp.halves[1].job.from.taken : 0);
	for (int k = 0; k < 2; k++)
		read_job_dispose(&sp.halves[k].job);
	if (sp.synced)
		umap_handoff_dispose(&sp.handoff);
}

static rec_layer *table_layer(rec_table *t, size_t i)
{
	static rec_layer empty;
	return i < t->nlayers ? &t->layers[i] : &empty;
}

static int diff_tables(umap_diff *diff, read_job *old_job, read_job *new_job, umap_buf *todo)
{
	umap_doc *old_doc = old_job->doc, *new_doc = new_job->doc;
	int rc = 0;
	if (old_doc->kind == UMAP_DOC_MAP || new_doc->kind == UMAP_DOC_MAP) {
		if ((rc = diff_maps(diff, old_doc, new_doc)))
			return rc;
	}
	long *match;
	if ((rc = match_layers(&match, old_doc, new_doc)))
		return rc;
	rec_layer none = { 0 };
	for (size_t j = 0; j < new_doc->nlayers && !rc; j++) {
		umap_layer *b = &new_doc->layers[j];
		size_t index;
		if (match[j] >= 0) {
			umap_layer *a = &old_doc->layers[match[j]];
			if (!(rc = umap_diff_add_layer(&index, diff, UMAP_CHANGE_NONE, b->id ? b->id : a->id,
						       (long)j, a->options, b->options)) &&
			    !(rc = compare_places(diff, index, match, old_doc, (size_t)match[j],
						  new_doc, j)))
				rc = compare_rec_layers(diff, index, old_doc,
							table_layer(&old_job->table, (size_t)match[j]),
							new_doc, table_layer(&new_job->table, j), todo);
		} else if (!(rc = umap_diff_add_layer(&index, diff, UMAP_CHANGE_ADDED, b->id, (long)j,
						      NULL, b->options)) &&
			   !(rc = umap_diff_layer_place(diff, index, umap_layer_parent_ref(new_doc, j),
							json_integer((json_int_t)umap_layer_rank(new_doc, j))))) {
			rc = compare_rec_layers(diff, index, old_doc, &none, new_doc,
						table_layer(&new_job->table, j), todo);
		}
	}
	for (size_t i = 0; i < old_doc->nlayers && !rc; i++) {
		if (!layer_unmatched(match, new_doc->nlayers, i))
			continue;
		umap_layer *a = &old_doc->layers[i];
		size_t index;
		if (!(rc = umap_diff_add_layer(&index, diff, UMAP_CHANGE_REMOVED, a->id, (long)i,
					       a->options, NULL)))
			rc = compare_rec_layers(diff, index, old_doc, table_layer(&old_job->table, i),
						new_doc, &none, todo);
	}
	free(match);
	return rc;
}

void umap_diff_reading_get(const umap_diff *diff, umap_diff_reading *out)
{
	*out = priv_of(diff)->reading;
}

int umap_diff_files(umap_diff *diff, const char *old_path, const char *new_path)
{
	diff_priv *priv = priv_of(diff);
	read_job jobs[2];
	read_job_init(&jobs[0], old_path, priv->id_property);
	read_job_init(&jobs[1], new_path, priv->id_property);
	read_files(jobs, priv->threads, &priv->reading);
	int rc = 0;
	for (int k = 0; k < 2 && !rc; k++)
		if (jobs[k].rc)
			rc = umap_error_set(jobs[k].rc, "%s", jobs[k].error);
	umap_buf todo = UMAP_BUF_INIT;
	if (!rc)
		rc = diff_tables(diff, &jobs[0], &jobs[1], &todo);
	for (int k = 0; k < 2; k++)
		table_free(&jobs[k].table);
	if (!rc)
		rc = add_pending(diff, jobs[0].doc, jobs[1].doc, (const pending *)(const void *)todo.ptr,
				 todo.len / sizeof(pending));
	umap_buf_dispose(&todo);
	for (int k = 0; k < 2; k++)
		read_job_dispose(&jobs[k]);
	return rc;
}

/* ---- Geometry summaries ------------------------------------------------------------ */

static int is_position(const json_t *v)
{
	return json_is_array(v) && json_array_size(v) >= 2 && json_is_number(json_array_get(v, 0));
}

static size_t count_positions(const json_t *coords)
{
	if (is_position(coords))
		return 1;
	size_t n = 0, i;
	json_t *v;
	if (json_is_array(coords))
		json_array_foreach(coords, i, v) n += count_positions(v);
	return n;
}

size_t umap_geometry_vertices(const json_t *geometry)
{
	if (!json_is_object(geometry))
		return 0;
	const json_t *parts = json_object_get(geometry, "geometries");
	if (json_is_array(parts)) {
		size_t n = 0, i;
		json_t *g;
		json_array_foreach(parts, i, g) n += umap_geometry_vertices(g);
		return n;
	}
	return count_positions(json_object_get(geometry, "coordinates"));
}

typedef struct bbox {
	double west, south, east, north;
	int empty;
} bbox;

static void bbox_add(bbox *box, const json_t *coords)
{
	if (is_position(coords)) {
		double x = umap_json_number(json_array_get(coords, 0));
		double y = umap_json_number(json_array_get(coords, 1));
		if (!json_is_number(json_array_get(coords, 1)))
			return;
		if (box->empty) {
			box->west = box->east = x;
			box->south = box->north = y;
			box->empty = 0;
			return;
		}
		box->west = fmin(box->west, x);
		box->east = fmax(box->east, x);
		box->south = fmin(box->south, y);
		box->north = fmax(box->north, y);
		return;
	}
	size_t i;
	json_t *v;
	if (json_is_array(coords))
		json_array_foreach(coords, i, v) bbox_add(box, v);
}

static void geometry_bbox(bbox *box, const json_t *geometry)
{
	if (!json_is_object(geometry))
		return;
	const json_t *parts = json_object_get(geometry, "geometries");
	if (json_is_array(parts)) {
		size_t i;
		json_t *g;
		json_array_foreach(parts, i, g) geometry_bbox(box, g);
		return;
	}
	bbox_add(box, json_object_get(geometry, "coordinates"));
}

/* Great-circle distance in metres between two lon/lat points (mean Earth radius). */
static double haversine(double lon1, double lat1, double lon2, double lat2)
{
	const double r = 6371008.8, rad = M_PI / 180.0;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double h = sin(dlat / 2) * sin(dlat / 2) +
		   cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
	return 2 * r * asin(fmin(1.0, sqrt(h)));
}

double umap_geometry_bbox_shift(const json_t *old_geometry, const json_t *new_geometry)
{
	bbox a = { 0, 0, 0, 0, 1 }, b = { 0, 0, 0, 0, 1 };
	geometry_bbox(&a, old_geometry);
	geometry_bbox(&b, new_geometry);
	if (a.empty || b.empty)
		return -1;
	return fmax(haversine(a.west, a.south, b.west, b.south),
		    haversine(a.east, a.north, b.east, b.north));
}

/* ---- JSON and GeoJSON -------------------------------------------------------------- */

/* A layer's move in the group tree as {"old","new"}, when that part of it changed. */
static int set_moved(json_t *entry, const char *key, json_t *old_value, json_t *new_value)
{
	if (!old_value || json_equal(old_value, new_value))
		return 0;
	json_t *change = json_pack("{sOsO}", "old", old_value, "new", new_value);
	return !change || json_object_set_new(entry, key, change);
}

json_t *umap_diff_layer_ref(const umap_diff_layer *layer)
{
	if (layer->id)
		return json_string(layer->id);
	return json_integer(layer->position);
}

static json_t *id_value(const char *id)
{
	json_t *v = NULL;
	if (!id || umap_json_loadb(&v, id, strlen(id), "id")) {
		umap_error_clear();
		return json_null();
	}
	return v;
}

static json_t *keys_json(const umap_key_change *keys, size_t n)
{
	json_t *obj = json_object();
	for (size_t i = 0; obj && i < n; i++) {
		json_t *kv = json_object();
		if (!kv || (keys[i].old_value && json_object_set(kv, "old", keys[i].old_value)) ||
		    (keys[i].new_value && json_object_set(kv, "new", keys[i].new_value)) ||
		    json_object_set_new(obj, keys[i].key, kv)) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

static int set_new(json_t *obj, const char *key, json_t *value)
{
	return !value || json_object_set_new(obj, key, value);
}

int umap_diff_to_json(json_t **out, const umap_diff *diff)
{
	json_t *root = json_object(), *summary = json_object(), *layers = json_array(),
	       *features = json_array();
	int bad = !root || !summary || !layers || !features;
	if (!bad)
		bad = set_new(summary, "added", json_integer((json_int_t)diff->summary.added)) ||
		      set_new(summary, "removed", json_integer((json_int_t)diff->summary.removed)) ||
		      set_new(summary, "modified", json_integer((json_int_t)diff->summary.modified)) ||
		      set_new(summary, "unchanged", json_integer((json_int_t)diff->summary.unchanged)) ||
		      json_object_set(root, "summary", summary);
	if (!bad && diff->nmap_keys) {
		json_t *map = json_object();
		bad = !map || set_new(map, "change", json_string("modified")) ||
		      set_new(map, "properties", keys_json(diff->map_keys, diff->nmap_keys)) ||
		      json_object_set_new(root, "map", map);
	}
	if (!bad && diff->nrenames) {
		json_t *files = json_array();
		bad = !files || json_object_set_new(root, "files", files);
		for (size_t i = 0; !bad && i < diff->nrenames; i++) {
			json_t *entry = json_object();
			bad = !entry || set_new(entry, "path", json_string(diff->renames[i].to)) ||
			      set_new(entry, "renamed_from", json_string(diff->renames[i].from)) ||
			      json_array_append(files, entry);
			json_decref(entry);
		}
	}
	for (size_t i = 0; !bad && i < diff->nlayers; i++) {
		const umap_diff_layer *l = &diff->layers[i];
		if (l->kind == UMAP_CHANGE_NONE)
			continue;
		json_t *entry = json_object();
		bad = !entry || set_new(entry, "layer", umap_diff_layer_ref(l)) ||
		      set_new(entry, "change", json_string(umap_change_name(l->kind)));
		if (!bad && l->kind == UMAP_CHANGE_MODIFIED)
			bad = set_new(entry, "properties", keys_json(l->keys, l->nkeys)) ||
			      set_moved(entry, "parentId", l->old_parent, l->new_parent) ||
			      set_moved(entry, "rank", l->old_rank, l->new_rank);
		else if (!bad && l->kind == UMAP_CHANGE_ADDED)
			bad = json_object_set(entry, "new", l->new_options ? l->new_options : json_null());
		else if (!bad)
			bad = json_object_set(entry, "old", l->old_options ? l->old_options : json_null());
		if (!bad)
			bad = json_array_append(layers, entry);
		json_decref(entry);
	}
	for (size_t i = 0; !bad && i < diff->nchanges; i++) {
		const umap_feature_change *c = &diff->changes[i];
		json_t *entry = json_object();
		bad = !entry || set_new(entry, "layer", umap_diff_layer_ref(&diff->layers[c->layer])) ||
		      set_new(entry, "id", id_value(c->id)) ||
		      set_new(entry, "change", json_string(umap_change_name(c->kind)));
		if (!bad && c->kind == UMAP_CHANGE_ADDED)
			bad = json_object_set(entry, "new", c->new_feature);
		else if (!bad && c->kind == UMAP_CHANGE_REMOVED)
			bad = json_object_set(entry, "old", c->old_feature);
		else if (!bad) {
			bad = set_new(entry, "properties", keys_json(c->keys, c->nkeys));
			if (!bad && c->geometry_changed) {
				json_t *g = json_object();
				json_t *og = json_object_get(c->old_feature, "geometry");
				json_t *ng = json_object_get(c->new_feature, "geometry");
				bad = !g || json_object_set(g, "old", og ? og : json_null()) ||
				      json_object_set(g, "new", ng ? ng : json_null()) ||
				      json_object_set_new(entry, "geometry", g);
			}
		}
		if (!bad)
			bad = json_array_append(features, entry);
		json_decref(entry);
	}
	if (!bad)
		bad = json_object_set(root, "layers", layers) || json_object_set(root, "features", features);
	json_decref(summary);
	json_decref(layers);
	json_decref(features);
	if (bad) {
		json_decref(root);
		return nomem();
	}
	*out = root;
	return 0;
}

int umap_diff_to_geojson(json_t **out, const umap_diff *diff)
{
	json_t *features = json_array();
	json_t *root = json_pack("{s:s}", "type", "FeatureCollection");
	int bad = !features || !root;
	for (size_t i = 0; !bad && i < diff->nchanges; i++) {
		const umap_feature_change *c = &diff->changes[i];
		const json_t *f = c->new_feature ? c->new_feature : c->old_feature;
		json_t *copy = umap_json_copy(f, 0);
		json_t *props = json_object_get(f, "properties");
		props = json_is_object(props) ? umap_json_copy(props, 0) : json_object();
		bad = !copy || !props ||
		      set_new(props, "umapsync:change", json_string(umap_change_name(c->kind))) ||
		      json_object_set(copy, "properties", props) || json_array_append(features, copy);
		json_decref(props);
		json_decref(copy);
	}
	if (!bad)
		bad = json_object_set(root, "features", features);
	json_decref(features);
	if (bad) {
		json_decref(root);
		return nomem();
	}
	*out = root;
	return 0;
}
