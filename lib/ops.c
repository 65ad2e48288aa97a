/* uMap realtime operations built from a diff: the messages that would replay it.
 * Shapes follow uMap's sync engine (upsert/update/delete of feature, datalayer and map). */
#include "ops.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "sync_op.h"

const char *umap_op_feature_type(const json_t *feature)
{
	const json_t *g = json_object_get(feature, "geometry");
	const json_t *type = json_is_object(g) ? json_object_get(g, "type") : NULL;
	const char *t = json_is_string(type) ? json_string_value(type) : "";
	if (!strcmp(t, "Point") || !strcmp(t, "MultiPoint"))
		return "marker";
	if (!strcmp(t, "LineString") || !strcmp(t, "MultiLineString"))
		return "polyline";
	if (!strcmp(t, "Polygon") || !strcmp(t, "MultiPolygon"))
		return "polygon";
	return NULL;
}

json_t *umap_op_new(const char *verb, const char *subject, json_t *metadata, const char *key,
		    const json_t *value, const json_t *old_value)
{
	json_t *op = json_object();
	if (!op || !metadata || json_object_set_new(op, "verb", json_string(verb)) ||
	    json_object_set_new(op, "subject", json_string(subject))) {
		json_decref(op);
		json_decref(metadata);
		return NULL;
	}
	if (json_object_set_new(op, "metadata", metadata)) {
		json_decref(op);
		return NULL;
	}
	if ((key && json_object_set_new(op, "key", json_string(key))) ||
	    (value && json_object_set(op, "value", (json_t *)value)) ||
	    (old_value && json_object_set(op, "oldValue", (json_t *)old_value))) {
		json_decref(op);
		return NULL;
	}
	return op;
}

json_t *umap_op_feature_metadata(const json_t *feature, const char *layer_id,
				 const char *id_property)
{
	const json_t *id = NULL;
	if (id_property) {
		const json_t *props = json_object_get(feature, "properties");
		id = json_is_object(props) ? json_object_get(props, id_property) : NULL;
	} else {
		id = json_object_get(feature, "id");
	}
	const char *type = umap_op_feature_type(feature);
	json_t *meta = json_object();
	if (!meta || json_object_set_new(meta, "id", id ? json_incref((json_t *)id) : json_null()) ||
	    json_object_set_new(meta, "layerId", layer_id ? json_string(layer_id) : json_null()) ||
	    json_object_set_new(meta, "featureType", type ? json_string(type) : json_null())) {
		json_decref(meta);
		return NULL;
	}
	return meta;
}

static json_t *layer_metadata(const umap_diff_layer *l)
{
	return json_pack("{s:o}", "id", l->id ? json_string(l->id) : json_null());
}

static int push(json_t *ops, json_t *op)
{
	if (!op || json_array_append_new(ops, op))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return 0;
}

static int push_key_updates(json_t *ops, const char *subject, const char *prefix,
			    json_t *(*metadata)(const void *), const void *arg,
			    const umap_key_change *keys, size_t n)
{
	umap_buf key = UMAP_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		umap_buf_clear(&key);
		if ((rc = umap_buf_printf(&key, "%s.%s", prefix, keys[i].key)))
			break;
		rc = push(ops, umap_op_new("update", subject, metadata(arg), key.ptr, keys[i].new_value,
					   keys[i].old_value));
	}
	umap_buf_dispose(&key);
	return rc;
}

static json_t *map_metadata(const void *unused)
{
	(void)unused;
	return json_object();
}

static json_t *datalayer_metadata(const void *layer)
{
	return layer_metadata(layer);
}

typedef struct feature_ctx {
	const json_t *feature;
	const char *layer_id;
	const char *id_property;
} feature_ctx;

static json_t *feature_metadata(const void *arg)
{
	const feature_ctx *ctx = arg;
	return umap_op_feature_metadata(ctx->feature, ctx->layer_id, ctx->id_property);
}

/* 1 when the feature's op metadata would have no id (uMap finds features by id only). */
static int lacks_id(const json_t *feature, const char *id_property)
{
	const json_t *id;
	if (id_property) {
		const json_t *props = json_object_get(feature, "properties");
		id = json_is_object(props) ? json_object_get(props, id_property) : NULL;
	} else {
		id = json_object_get(feature, "id");
	}
	return !id || json_is_null(id);
}

static int feature_ops(json_t *ops, const umap_diff_layer *l, const umap_feature_change *c,
		       const char *id_property)
{
	feature_ctx ctx = { c->new_feature ? c->new_feature : c->old_feature, l->id, id_property };
	if (lacks_id(ctx.feature, id_property)) {
		const umap_pos *pos = c->new_feature ? &c->new_pos : &c->old_pos;
		const json_t *name = json_object_get(json_object_get(ctx.feature, "properties"), "name");
		char where[64] = "";
		if (pos->line)
			snprintf(where, sizeof(where), " at line %lu of the %s source", (unsigned long)pos->line,
				 c->new_feature ? "new" : "old");
		return umap_error_set(UMAP_EINVALID,
				      "the %s feature%s%.80s%s%s without %s%s has no uMap realtime op: uMap finds "
				      "features by id; give it one (umapsync import does)%s",
				      c->kind == UMAP_CHANGE_ADDED ? "added" : c->kind == UMAP_CHANGE_REMOVED ? "removed" : "changed",
				      json_is_string(name) ? " '" : "", json_is_string(name) ? json_string_value(name) : "",
				      json_is_string(name) ? "'" : "", where,
				      id_property ? "property " : "an id", id_property ? id_property : "",
				      id_property ? "" : " or name the property that holds ids with --id=PROP");
	}
	/* uMap cannot turn a marker into a line in place: its feature classes differ, so a
	 * geometry type change is the old feature's delete and the new one's upsert */
	if (c->kind == UMAP_CHANGE_MODIFIED && c->geometry_changed) {
		const char *was = umap_op_feature_type(c->old_feature), *is = umap_op_feature_type(c->new_feature);
		if ((was || is) && (!was || !is || strcmp(was, is))) {
			feature_ctx old_ctx = { c->old_feature, l->id, id_property };
			int rc = push(ops, umap_op_new("delete", "feature", feature_metadata(&old_ctx), NULL, NULL,
						       c->old_feature));
			return rc ? rc : push(ops, umap_op_new("upsert", "feature", feature_metadata(&ctx), NULL,
							       c->new_feature, NULL));
		}
	}
	switch (c->kind) {
	case UMAP_CHANGE_ADDED:
		return push(ops, umap_op_new("upsert", "feature", feature_metadata(&ctx), NULL,
					     c->new_feature, NULL));
	case UMAP_CHANGE_REMOVED:
		return push(ops, umap_op_new("delete", "feature", feature_metadata(&ctx), NULL, NULL,
					     c->old_feature));
	default:
		break;
	}
	int rc = push_key_updates(ops, "feature", "properties", feature_metadata, &ctx, c->keys,
				  c->nkeys);
	if (!rc && c->geometry_changed)
		rc = push(ops, umap_op_new("update", "feature", feature_metadata(&ctx), "geometry",
					   json_object_get(c->new_feature, "geometry"),
					   json_object_get(c->old_feature, "geometry")));
	return rc;
}

/* uMap's datalayer upsert (app.js createDataLayer): {id, rank, parent, properties}. */
static int push_datalayer_upsert(json_t *ops, const umap_diff_layer *layer)
{
	/* every member a new reference ("o"): the defaults are made here, the rest shared */
	json_t *value = json_pack("{s:o, s:o, s:o, s:o}", "id",
				  layer->id ? json_string(layer->id) : json_null(), "rank",
				  layer->new_rank ? json_incref(layer->new_rank) : json_integer(0), "parent",
				  layer->new_parent ? json_incref(layer->new_parent) : json_null(), "properties",
				  layer->new_options ? json_incref(layer->new_options) : json_object());
	if (!value)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	int rc = push(ops, umap_op_new("upsert", "datalayer", layer_metadata(layer), NULL, value, NULL));
	json_decref(value);
	return rc;
}

/* uMap keeps the centre as properties.center = [lng, lat] (app.js: the coordinates of the
 * map's geometry, or its view's centre), so a Point's coordinates go on the wire. */
static const json_t *center_value(const json_t *v)
{
	const json_t *type = json_object_get(v, "type");
	const json_t *coordinates = json_object_get(v, "coordinates");
	if (json_is_string(type) && !strcmp(json_string_value(type), "Point") && json_is_array(coordinates))
		return coordinates;
	return v;
}

/* The map's keys as uMap's ops name them: its options and its centre ("center") are
 * "properties.NAME"; the map's address ("uri") is a member of its own. */
static int push_map_updates(json_t *ops, const umap_diff *diff)
{
	umap_buf key = UMAP_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < diff->nmap_keys && !rc; i++) {
		const umap_key_change *k = &diff->map_keys[i];
		umap_buf_clear(&key);
		if ((rc = umap_buf_printf(&key, "%s%s", strcmp(k->key, "uri") ? "properties." : "",
					  k->key)))
			break;
		int center = !strcmp(k->key, "center");
		rc = push(ops, umap_op_new("update", "map", map_metadata(NULL), key.ptr,
					   center ? center_value(k->new_value) : k->new_value,
					   center ? center_value(k->old_value) : k->old_value));
	}
	umap_buf_dispose(&key);
	return rc;
}

/* uMap's datalayer keys: "properties.NAME", and "parentId" and "rank" for its place among
 * group layers (umap/static/umap/js/modules/data/layer.js). */
static int datalayer_updates(json_t *ops, const umap_diff_layer *layer)
{
	int rc = 0;
	for (size_t i = 0; i < layer->nkeys && !rc; i++) {
		/* uMap's DataLayer drops properties.rank and .id: its rank is its place, sent
		 * as "rank" below; an op on them would put them back into its properties */
		if (!strcmp(layer->keys[i].key, "rank") || !strcmp(layer->keys[i].key, "id"))
			continue;
		rc = push_key_updates(ops, "datalayer", "properties", datalayer_metadata, layer,
				      &layer->keys[i], 1);
	}
	if (!rc && layer->old_parent && !json_equal(layer->old_parent, layer->new_parent))
		rc = push(ops, umap_op_new("update", "datalayer", layer_metadata(layer), "parentId",
					   layer->new_parent, layer->old_parent));
	if (!rc && layer->old_rank && !json_equal(layer->old_rank, layer->new_rank))
		rc = push(ops, umap_op_new("update", "datalayer", layer_metadata(layer), "rank",
					   layer->new_rank, layer->old_rank));
	return rc;
}

/* uMap finds a layer by its id only (SPEC §5: never a null id). A plain GeoJSON file holds
 * none: its id is the repository manifest's, or the caller's `layer_id`, given for one layer. */
static int check_layer_ids(const umap_diff *diff, const char *layer_id)
{
	const umap_diff_layer *first = NULL;
	size_t lacking = 0, last = SIZE_MAX;
	for (size_t l = 0; l < diff->nlayers; l++)
		if (!diff->layers[l].id && diff->layers[l].kind != UMAP_CHANGE_NONE && !lacking++)
			first = &diff->layers[l];
	/* a layer whose options did not change has ops when its features did (changes are
	 * grouped by layer) */
	for (size_t i = 0; i < diff->nchanges; i++) {
		const umap_diff_layer *layer = &diff->layers[diff->changes[i].layer];
		if (diff->changes[i].layer == last || layer->id || layer->kind != UMAP_CHANGE_NONE)
			continue;
		last = diff->changes[i].layer;
		if (!lacking++)
			first = layer;
	}
	/* uMap's parentId is the group's id; a diff names a group without id by its position */
	for (size_t l = 0; l < diff->nlayers; l++) {
		const umap_diff_layer *layer = &diff->layers[l];
		const json_t *parent = json_is_integer(layer->new_parent) ? layer->new_parent : layer->old_parent;
		if (json_is_integer(parent))
			return umap_error_set(UMAP_EINVALID,
					      "the group of layer %ld%s%.80s%s (layer %" JSON_INTEGER_FORMAT
					      ") has no id, and uMap finds a layer's group by id only: give it "
					      "one (\"id\" in its properties; umapsync import does)",
					      layer->position + 1, layer->name ? " '" : "",
					      layer->name ? layer->name : "", layer->name ? "'" : "",
					      json_integer_value(parent) + 1);
	}
	if (!lacking || (layer_id && lacking == 1))
		return 0;
	if (layer_id)
		return umap_error_set(UMAP_EINVALID,
				      "%zu changed layers have no id, and one layer id names only one of "
				      "them: give each layer its id (\"id\" in its _umap_options)",
				      lacking);
	return umap_error_set(UMAP_EINVALID,
			      "layer %ld%s%.80s%s has no id, and uMap finds layers by id only: pass the "
			      "layer's uMap id with --layer-id=ID, or diff revisions of a repository (its "
			      "manifest holds the id of a GeoJSON file's layer)",
			      first->position + 1, first->name ? " '" : "", first->name ? first->name : "",
			      first->name ? "'" : "");
}

int umap_ops_from_diff(json_t **out, const umap_diff *diff, const char *id_property,
		       const char *layer_id)
{
	int rc = check_layer_ids(diff, layer_id);
	if (rc)
		return rc;
	json_t *ops = json_array();
	if (!ops)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	rc = push_map_updates(ops, diff);
	size_t next = 0;
	for (size_t l = 0; l < diff->nlayers && !rc; l++) {
		umap_diff_layer named = diff->layers[l];
		if (!named.id)
			named.id = (char *)layer_id; /* checked above: the only changed layer without */
		const umap_diff_layer *layer = &named;
		if (layer->kind == UMAP_CHANGE_ADDED)
			rc = push_datalayer_upsert(ops, layer);
		else if (layer->kind == UMAP_CHANGE_MODIFIED)
			rc = datalayer_updates(ops, layer);
		for (size_t i = next; i < diff->nchanges && !rc; i++) {
			if (diff->changes[i].layer != l)
				continue;
			rc = feature_ops(ops, layer, &diff->changes[i], id_property);
			next = i + 1;
		}
		if (!rc && layer->kind == UMAP_CHANGE_REMOVED)
			rc = push(ops, umap_op_new("delete", "datalayer", layer_metadata(layer), NULL, NULL,
						   layer->old_options ? layer->old_options : json_null()));
	}
	if (rc) {
		json_decref(ops);
		return rc;
	}
	*out = ops;
	return 0;
}

/* ---- Upserts of new features from their bytes, without a tree ----------------------- */

static const char *skip_string(const char *p, const char *end, int *doubt)
{
	const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
	if (q && !memchr(p + 1, '\\', (size_t)(q - p - 1)))
		return q + 1;
	*doubt = 1; /* an escape: the tree's writer decides how it is spelled */
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

static int number_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* A number is printed from its tree as its bytes unless it is -0 (printed 0) or has
 * digits a double or int64 may not keep (the blob keeps such bytes). */
static const char *skip_number(const char *p, const char *end, int *doubt)
{
	const char *start = p;
	size_t digits = 0;
	int nonzero = 0, exponent = 0;
	for (; p < end && number_char(*p); p++) {
		if (*p == 'e' || *p == 'E')
			exponent = 1;
		else if (*p >= '0' && *p <= '9' && !exponent) {
			digits++;
			nonzero |= *p != '0';
		}
	}
	if (digits >= 16 || (*start == '-' && !nonzero))
		*doubt = 1;
	return p;
}

/* Past one JSON value of valid compact text; NULL when it is cut short. */
static const char *skip_value(const char *p, const char *end, int *doubt)
{
	size_t depth = 0;
	do {
		if (p >= end)
			return NULL;
		char c = *p;
		if (c == '"') {
			if (!(p = skip_string(p, end, doubt)))
				return NULL;
		} else if (c == '{' || c == '[') {
			depth++;
			p++;
		} else if (c == '}' || c == ']') {
			if (!depth)
				return NULL;
			depth--;
			p++;
		} else if (c == ',' || c == ':') {
			p++;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			p = skip_number(p, end, doubt);
		} else if (c >= 'a' && c <= 'z') {
			while (p < end && *p >= 'a' && *p <= 'z')
				p++;
		} else {
			return NULL;
		}
	} while (depth);
	return p;
}

typedef struct member_span {
	const char *at;
	size_t len;
} member_span;

/* The values of `names` (at most 3) in the object at p..end; *doubt when a key is escaped
 * or named twice. 0, or -1 when the text is not an object. */
static int object_members(member_span *found, const char *const *names, const char *p, const char *end,
			  int *doubt)
{
	if (p >= end || *p != '{')
		return -1;
	p++;
	while (p < end && *p != '}') {
		if (*p == ',')
			p++;
		if (p >= end || *p != '"')
			return -1;
		const char *key = p + 1, *after = skip_string(p, end, doubt);
		if (!after || after >= end || *after != ':')
			return -1;
		size_t key_len = (size_t)(after - 1 - key);
		const char *value = after + 1, *value_end = skip_value(value, end, doubt);
		if (!value_end)
			return -1;
		for (size_t i = 0; names[i]; i++) {
			if (strlen(names[i]) != key_len || memcmp(names[i], key, key_len))
				continue;
			if (found[i].at)
				*doubt = 1;
			found[i] = (member_span){ value, (size_t)(value_end - value) };
		}
		p = value_end;
	}
	return p < end ? 0 : -1;
}

static int span_is(const member_span *m, const char *text)
{
	return m->at && m->len == strlen(text) && !memcmp(m->at, text, m->len);
}

/* The op made from the feature's tree, as umap_ops_from_diff makes it. */
static int upsert_text_from_tree(umap_buf *out, const char *layer_json, const char *json, size_t len)
{
	json_t *feature = NULL, *layer = NULL;
	if (umap_json_loadb(&feature, json, len, "a feature")) {
		umap_error_clear();
		return UMAP_OP_REFUSED;
	}
	int rc = umap_json_loadb(&layer, layer_json, strlen(layer_json), "a layer id");
	if (rc) {
		json_decref(feature);
		return rc;
	}
	const json_t *id = json_object_get(feature, "id");
	const char *type = json_string_value(json_object_get(feature, "type"));
	if (!json_is_object(feature) || !umap_sync_valid_feature_id(id) || !type || strcmp(type, "Feature")) {
		json_decref(feature);
		json_decref(layer);
		return UMAP_OP_REFUSED;
	}
	json_t *op = umap_op_new("upsert", "feature", umap_op_feature_metadata(feature, json_string_value(layer), NULL),
				 NULL, feature, NULL);
	size_t at = out->len;
	rc = !op || umap_json_write(out, op, UMAP_JSON_COMPACT) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
	if (!rc)
		out->ptr[--out->len] = '\0'; /* the closing brace: "op_id" and "hlc" come after */
	else
		out->len = at;
	json_decref(op);
	json_decref(feature);
	json_decref(layer);
	return rc;
}

int umap_op_feature_upsert_text(umap_buf *out, const char *layer_json, const char *json, size_t len)
{
	static const char *const feature_names[] = { "type", "id", "geometry", NULL };
	static const char *const geometry_names[] = { "type", NULL };
	member_span m[3] = { { NULL, 0 } }, g[1] = { { NULL, 0 } };
	int doubt = 0;
	const char *end = json + len;
	if (object_members(m, feature_names, json, end, &doubt) || !span_is(&m[0], "\"Feature\""))
		return UMAP_OP_REFUSED;
	if (m[2].at && m[2].at[0] == '{' && object_members(g, geometry_names, m[2].at, m[2].at + m[2].len, &doubt))
		return UMAP_OP_REFUSED;
	char id[UMAP_SYNC_FEATURE_ID_MAX + 8];
	if (!m[1].at || m[1].len >= sizeof(id))
		return UMAP_OP_REFUSED;
	memcpy(id, m[1].at, m[1].len);
	id[m[1].len] = '\0';
	if (doubt || (m[1].at[0] != '"' && (m[1].at[0] < '0' || m[1].at[0] > '9') && m[1].at[0] != '-'))
		return upsert_text_from_tree(out, layer_json, json, len);
	if (!umap_sync_valid_feature_id_text(id))
		return UMAP_OP_REFUSED;
	const char *type = NULL;
	if (span_is(&g[0], "\"Point\"") || span_is(&g[0], "\"MultiPoint\""))
		type = "\"marker\"";
	else if (span_is(&g[0], "\"LineString\"") || span_is(&g[0], "\"MultiLineString\""))
		type = "\"polyline\"";
	else if (span_is(&g[0], "\"Polygon\"") || span_is(&g[0], "\"MultiPolygon\""))
		type = "\"polygon\"";
	if (umap_buf_puts(out, "{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":") ||
	    umap_buf_put(out, m[1].at, m[1].len) || umap_buf_puts(out, ",\"layerId\":") ||
	    umap_buf_puts(out, layer_json) || umap_buf_puts(out, ",\"featureType\":") ||
	    umap_buf_puts(out, type ? type : "null") || umap_buf_puts(out, "},\"value\":") ||
	    umap_buf_put(out, json, len))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return 0;
}
