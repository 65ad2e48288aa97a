/* umapsync validate's engine: a port of mapbox geojsonhint 3.3 (lib/object.js, lib/rhr.js)
 * with its exact messages, lines and levels, plus the uMap checks of SPEC §4.
 *
 * geojsonhint runs on JavaScript values, and several of its messages depend on JavaScript's
 * typeof, constructor names and truthiness ("should be object, but is an Array instead");
 * the js_* helpers reproduce those. Its line numbers are those of the '{' or '[' that
 * opens an object or array (jsonlint-lines' __line__); scalars have none and take their
 * container's. Where geojsonhint would throw a TypeError (null where it reads .length or
 * .__line__), we give the message it gives for any other non-array instead.
 *
 * A layer is not built as one tree: the top-level object is read member by member, and a
 * "features" (or uMap "layers") array is streamed one element at a time, each feature built
 * with positions, checked and freed. Messages of streamed features are kept aside and put
 * where geojsonhint would have produced them once the enclosing object is known. */
#include "validate.h"
#include "sync_op.h"
#include "buf.h"
#include "error.h"
#include "fs.h"
#include "strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *umap_level_name(umap_level level)
{
	return level == UMAP_LEVEL_WARNING ? "warning" : "error";
}

void umap_validation_clear(umap_validation *v)
{
	for (size_t i = 0; i < v->count; i++)
		free(v->messages[i].text);
	free(v->messages);
	memset(v, 0, sizeof(*v));
}

static int list_add_text(umap_validation *v, umap_pos pos, umap_level level, char *text)
{
	if (v->count == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		umap_message *m = realloc(v->messages, cap * sizeof(*m));
		if (!m) {
			free(text);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		v->messages = m;
		v->cap = cap;
	}
	v->messages[v->count].pos = pos;
	v->messages[v->count].level = level;
	v->messages[v->count].text = text;
	v->count++;
	if (level == UMAP_LEVEL_WARNING)
		v->warnings++;
	else
		v->errors++;
	return 0;
}

int umap_validation_add(umap_validation *v, umap_pos pos, umap_level level, char *text)
{
	return list_add_text(v, pos, level, text);
}

/* Moves every message of `from` to the end of `to`. */
static int list_move(umap_validation *to, umap_validation *from)
{
	int rc = 0;
	for (size_t i = 0; i < from->count; i++) {
		umap_message *m = &from->messages[i];
		if (!rc)
			rc = list_add_text(to, m->pos, m->level, m->text);
		else
			free(m->text);
		m->text = NULL;
	}
	from->count = from->errors = from->warnings = 0;
	return rc;
}

/* ---- A set of ids with the line where each was first seen --------------------------
 * 100,000 ids must cost little: entries are 24 bytes, the id texts live in one arena. */

struct id_entry {
	uint64_t hash;
	size_t key;      /* offset in the arena + 1; 0 = empty slot */
	uint32_t line;
};

struct id_set {
	struct id_entry *e;
	size_t cap, n;
	umap_buf keys;
};

static void id_set_free(struct id_set *set)
{
	free(set->e);
	umap_buf_dispose(&set->keys);
	memset(set, 0, sizeof(*set));
}

/* Adds key; when already there, sets *first_line to where it was first seen, returns 1. */
static int id_set_add(struct id_set *set, const char *key, uint32_t line, uint32_t *first_line)
{
	if ((set->n + 1) * 2 > set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct id_entry *e = calloc(cap, sizeof(*e));
		if (!e)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		for (size_t i = 0; i < set->cap; i++) {
			if (!set->e[i].key)
				continue;
			size_t j = set->e[i].hash & (cap - 1);
			while (e[j].key)
				j = (j + 1) & (cap - 1);
			e[j] = set->e[i];
		}
		free(set->e);
		set->e = e;
		set->cap = cap;
	}
	size_t len = strlen(key);
	uint64_t hash = umap_hash(key, len);
	size_t j = hash & (set->cap - 1);
	while (set->e[j].key) {
		if (set->e[j].hash == hash && strcmp(set->keys.ptr + set->e[j].key - 1, key) == 0) {
			*first_line = set->e[j].line;
			return 1;
		}
		j = (j + 1) & (set->cap - 1);
	}
	size_t offset = set->keys.len;
	if (umap_buf_put(&set->keys, key, len + 1))
		return UMAP_ENOMEM;
	set->e[j].key = offset + 1;
	set->e[j].hash = hash;
	set->e[j].line = line;
	set->n++;
	return 0;
}

/* ---- Objects read member by member ----------------------------------------------- */

/* as UMAP_DOC_MAX_LAYER_DEPTH in doc.h (whose names clash with the checks here) */
#define VALIDATE_MAX_LAYER_DEPTH 16

struct shell {
	json_t *obj;                 /* the members; a streamed array is an empty placeholder */
	umap_pos pos;
	char **dups;                 /* repeated member names, in order */
	size_t ndups;
	umap_json_doc **docs;        /* one per member value: positions inside them */
	size_t ndocs;
	/* "features", streamed */
	json_t *features;            /* placeholder, or NULL */
	umap_pos features_pos;
	int features_all_objects;
	size_t precision_delta;      /* precision warnings counted while streaming them */
	umap_validation feature_msgs;
	struct id_set ids;           /* uMap: feature ids of this layer */
	umap_validation id_msgs;
	/* "layers" of a .umap, streamed */
	json_t *layers;
	umap_pos layers_pos;
	umap_validation layer_msgs;
	struct id_set layer_ids;
};

struct ctx {
	const umap_validate_options *opts;
	int umap;
	umap_scanner *s;
	umap_validation *out;        /* where messages go now */
	size_t precision_count;
	umap_json_doc *feature_doc;  /* the feature being checked, while streaming */
	struct shell *shells[2 * VALIDATE_MAX_LAYER_DEPTH + 4]; /* the objects being read or
				      * checked (root, layer, nested layers) */
	size_t nshells;
	const char *map_base;        /* mmap'd input: pages behind the scanner are dropped */
	size_t map_dropped;
	const char *data;            /* the input, for the fast path's raw token bytes */
	/* the fast path's coordinates, reused from feature to feature */
	struct fast_position *positions;
	size_t npositions, positions_cap;
	struct fast_part *parts;     /* arrays of positions: rings, lines */
	size_t nparts, parts_cap;
	struct fast_part *groups;    /* arrays of parts: polygons of a MultiPolygon */
	size_t ngroups, groups_cap;
};

static void shell_free(struct shell *sh)
{
	json_decref(sh->obj);
	for (size_t i = 0; i < sh->ndups; i++)
		free(sh->dups[i]);
	free(sh->dups);
	for (size_t i = 0; i < sh->ndocs; i++)
		umap_json_doc_free(sh->docs[i]);
	free(sh->docs);
	json_decref(sh->features);
	json_decref(sh->layers);
	umap_validation_clear(&sh->feature_msgs);
	umap_validation_clear(&sh->id_msgs);
	umap_validation_clear(&sh->layer_msgs);
	id_set_free(&sh->ids);
	id_set_free(&sh->layer_ids);
	memset(sh, 0, sizeof(*sh));
}

static const umap_pos no_pos = { 0, 0, 0 };

/* Where a value starts, if we know (any value built with positions). */
static umap_pos value_pos(const struct ctx *c, const json_t *v)
{
	umap_pos p;
	if (!v)
		return no_pos;
	for (size_t i = c->nshells; i-- > 0;) {
		const struct shell *sh = c->shells[i];
		if (v == sh->obj)
			return sh->pos;
		if (v == sh->features)
			return sh->features_pos;
		if (v == sh->layers)
			return sh->layers_pos;
	}
	if (c->feature_doc && umap_json_doc_pos(&p, c->feature_doc, v) == 0)
		return p;
	for (size_t i = c->nshells; i-- > 0;)
		for (size_t d = 0; d < c->shells[i]->ndocs; d++)
			if (umap_json_doc_pos(&p, c->shells[i]->docs[d], v) == 0)
				return p;
	return no_pos;
}

/* jsonlint-lines' __line__: objects and arrays only. */
static umap_pos line_of(const struct ctx *c, const json_t *v)
{
	if (json_is_object(v) || json_is_array(v))
		return value_pos(c, v);
	return no_pos;
}

/* `_.__line__ || line` */
static umap_pos line_or(const struct ctx *c, const json_t *v, umap_pos fallback)
{
	umap_pos p = line_of(c, v);
	return p.line ? p : fallback;
}

static int add(struct ctx *c, umap_pos pos, umap_level level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int add(struct ctx *c, umap_pos pos, umap_level level, const char *fmt, ...)
{
	umap_buf buf = UMAP_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = umap_buf_vprintf(&buf, fmt, ap);
	va_end(ap);
	if (rc) {
		umap_buf_dispose(&buf);
		return rc;
	}
	return list_add_text(c->out, pos, level, umap_buf_detach(&buf));
}

/* ---- JavaScript semantics geojsonhint relies on ----------------------------------- */

static const char *js_typeof(const json_t *v)
{
	if (!v)
		return "undefined";
	switch (json_typeof(v)) {
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "object"; /* objects, arrays and null */
	}
}

static const char *js_constructor(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY: return "Array";
	case JSON_STRING: return "String";
	case JSON_INTEGER:
	case JSON_REAL: return "Number";
	case JSON_TRUE:
	case JSON_FALSE: return "Boolean";
	default: return "Object";
	}
}

static int js_truthy(const json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return 0;
	if (json_is_integer(v) || json_is_real(v))
		return umap_json_number(v) != 0;
	if (json_is_string(v))
		return json_string_length(v) > 0;
	return 1;
}

static int js_is_number(const json_t *v)
{
	return json_is_integer(v) || json_is_real(v);
}

/* A string's .length: UTF-16 code units. */
static size_t js_string_length(const json_t *v)
{
	const unsigned char *p = (const unsigned char *)json_string_value(v);
	size_t n = json_string_length(v), units = 0;
	for (size_t i = 0; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			units++;
		if (p[i] >= 0xf0)
			units++;
	}
	return units;
}

/* `.length` of arrays and strings; -1 for undefined. */
static long js_length(const json_t *v)
{
	if (json_is_array(v))
		return (long)json_array_size(v);
	if (json_is_string(v))
		return (long)js_string_length(v);
	return -1;
}

static json_t *member(const json_t *v, const char *name)
{
	return json_is_object(v) ? json_object_get(v, name) : NULL;
}

/* x !== null && typeof x === type, for every element */
static int every_is(const json_t *array, const char *type)
{
	for (size_t i = 0; i < json_array_size(array); i++) {
		json_t *x = json_array_get(array, i);
		if (json_is_null(x) || strcmp(js_typeof(x), type) != 0)
			return 0;
	}
	return 1;
}

/* a === b for values parsed from JSON (two objects are never the same object) */
static int js_strict_equal(const json_t *a, const json_t *b)
{
	if (js_is_number(a) && js_is_number(b))
		return umap_json_number(a) == umap_json_number(b);
	if (json_is_string(a) && json_is_string(b))
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
	if (json_is_null(a) || json_is_true(a) || json_is_false(a))
		return json_typeof(a) == json_typeof(b);
	return a == b;
}

/* ---- geojsonhint's rules (lib/object.js) ----------------------------------------- */

static const char *const nested_message =
	"a number was found where a coordinate array should have been found: this needs to be "
	"nested more deeply";

static int root(struct ctx *c, json_t *v);

/* requiredProperty: returns 1 (a truthy errors.push) when it added a message, or <0. */
static int required(struct ctx *c, json_t *v, const char *name, const char *type)
{
	json_t *m = member(v, name);
	umap_pos line = line_of(c, v);
	int rc = 0;
	if (!m)
		rc = add(c, line, UMAP_LEVEL_ERROR, "\"%s\" member required", name);
	else if (strcmp(type, "array") == 0) {
		if (!json_is_array(m))
			rc = add(c, line, UMAP_LEVEL_ERROR,
				 "\"%s\" member should be an array, but is an %s instead", name,
				 js_typeof(m));
		else
			return 0;
	} else if (strcmp(type, "object") == 0 && js_truthy(m) && !json_is_object(m)) {
		rc = add(c, line, UMAP_LEVEL_ERROR, "\"%s\" member should be %s, but is an %s instead",
			 name, type, js_constructor(m));
	} else if (strcmp(js_typeof(m), type) != 0) {
		rc = add(c, line, UMAP_LEVEL_ERROR, "\"%s\" member should be %s, but is an %s instead",
			 name, type, js_typeof(m));
	} else {
		return 0;
	}
	return rc ? rc : 1;
}

static int bbox(struct ctx *c, json_t *v)
{
	json_t *b = member(v, "bbox");
	if (!js_truthy(b))
		return 0;
	if (json_is_array(b)) {
		int rc = 0;
		if (!every_is(b, "number"))
			rc = add(c, line_of(c, b), UMAP_LEVEL_ERROR,
				 "each element in a bbox member must be a number");
		size_t n = json_array_size(b);
		if (!rc && n != 4 && n != 6)
			rc = add(c, line_of(c, b), UMAP_LEVEL_ERROR,
				 "bbox must contain 4 elements (for 2D) or 6 elements (for 3D)");
		return rc;
	}
	return add(c, line_of(c, v), UMAP_LEVEL_ERROR,
		   "bbox member must be an array of numbers, but is a %s", js_typeof(b));
}

/* position(): returns 1 when it added a message (geojsonhint returns errors.push()). */
static int position(struct ctx *c, json_t *p, umap_pos line)
{
	line = line_or(c, p, line);
	int rc;
	if (!json_is_array(p))
		rc = add(c, line, UMAP_LEVEL_ERROR, "position should be an array, is a %s instead",
			 js_typeof(p));
	else if (json_array_size(p) < 2)
		rc = add(c, line, UMAP_LEVEL_ERROR, "position must have 2 or more elements");
	else if (json_array_size(p) > 3)
		rc = add(c, line, UMAP_LEVEL_WARNING, "position should not have more than 3 elements");
	else if (!every_is(p, "number"))
		rc = add(c, line, UMAP_LEVEL_ERROR, "each element in a position must be a number");
	else {
		if (!c->opts->precision_warning)
			return 0;
		const size_t max_warnings = 10, max_precision = 6;
		if (c->precision_count == max_warnings) {
			c->precision_count++;
			rc = add(c, line, UMAP_LEVEL_WARNING,
				 "truncated warnings: we've encountered coordinate precision warning "
				 "%zu times, no more warnings will be reported", max_warnings);
			return rc ? rc : 1;
		}
		if (c->precision_count < max_warnings) {
			for (size_t i = 0; i < json_array_size(p); i++) {
				char text[UMAP_NUMBER_MAX];
				umap_format_double(text, umap_json_number(json_array_get(p, i)));
				const char *dot = strchr(text, '.');
				if (dot && strlen(dot + 1) > max_precision) {
					c->precision_count++;
					if ((rc = add(c, line, UMAP_LEVEL_WARNING,
						      "precision of coordinates should be reduced")))
						return rc;
				}
			}
		}
		return 0;
	}
	return rc ? rc : 1;
}

/* positionArray(): returns >0 for geojsonhint's truthy result, 0, or <0 on failure. */
static int position_array(struct ctx *c, json_t *coords, const char *type, int depth,
			  umap_pos line)
{
	if (!line.line)
		line = line_of(c, coords);
	if (depth == 0)
		return position(c, coords, line);
	if (depth == 1 && type[0]) {
		if (strcmp(type, "LinearRing") == 0) {
			size_t n = json_array_size(coords);
			if (!json_is_array(coords) || !n || !json_is_array(json_array_get(coords, n - 1))) {
				int rc = add(c, line, UMAP_LEVEL_ERROR, "%s", nested_message);
				return rc ? rc : 1;
			}
			int rc;
			if (n < 4 && (rc = add(c, line, UMAP_LEVEL_ERROR,
					       "a LinearRing of coordinates needs to have four or "
					       "more positions")))
				return rc;
			json_t *first = json_array_get(coords, 0), *last = json_array_get(coords, n - 1);
			int same = json_is_array(first) &&
				   json_array_size(first) == json_array_size(last);
			for (size_t i = 0; same && i < json_array_size(last); i++)
				same = js_strict_equal(json_array_get(first, i),
						       json_array_get(last, i));
			if (!same) {
				rc = add(c, line, UMAP_LEVEL_ERROR,
					 "the first and last positions in a LinearRing of coordinates "
					 "must be the same");
				return rc ? rc : 1;
			}
		} else if (strcmp(type, "Line") == 0) {
			long n = js_length(coords);
			if (n >= 0 && n < 2) {
				int rc = add(c, line, UMAP_LEVEL_ERROR,
					     "a line needs to have two or more coordinates to be valid");
				return rc ? rc : 1;
			}
		}
	}
	if (!json_is_array(coords)) {
		int rc = add(c, line, UMAP_LEVEL_ERROR, "%s", nested_message);
		return rc < 0 ? rc : 0;
	}
	int any = 0;
	for (size_t i = 0; i < json_array_size(coords); i++) {
		json_t *child = json_array_get(coords, i);
		int rc = position_array(c, child, type, depth - 1, line_or(c, child, line));
		if (rc < 0)
			return rc;
		any |= rc > 0;
	}
	return any;
}

static int geometry_semantics(struct ctx *c, json_t *g)
{
	static const char *const members[] = { "properties", "geometry", "features" };
	for (size_t i = 0; i < 3; i++) {
		int rc;
		if (member(g, members[i]) &&
		    (rc = add(c, line_of(c, g), UMAP_LEVEL_ERROR,
			      "geometry object cannot contain a \"%s\" member", members[i])))
			return rc;
	}
	return 0;
}

/* lib/rhr.js */
static int ring_clockwise(const json_t *ring)
{
	double sum = 0;
	if (js_length(ring) > 2 && json_is_array(ring)) {
		for (size_t i = 0; i + 1 < json_array_size(ring); i++) {
			const json_t *p1 = json_array_get(ring, i), *p2 = json_array_get(ring, i + 1);
			double x1 = umap_json_number(json_array_get(p1, 0));
			double y1 = umap_json_number(json_array_get(p1, 1));
			double x2 = umap_json_number(json_array_get(p2, 0));
			double y2 = umap_json_number(json_array_get(p2, 1));
			sum += (x2 - x1) * (y2 + y1);
		}
	}
	return sum >= 0;
}

static int polygon_rhr(const json_t *coords)
{
	if (js_truthy(coords) && js_length(coords) > 0) {
		if (!json_is_array(coords))
			return 0; /* a string: its first character is a "ring" of length 1 */
		if (ring_clockwise(json_array_get(coords, 0)))
			return 0;
		for (size_t i = 1; i < json_array_size(coords); i++)
			if (!ring_clockwise(json_array_get(coords, i)))
				return 0;
	}
	return 1;
}

static int right_hand_rule(struct ctx *c, json_t *g, int multi)
{
	json_t *coords = member(g, "coordinates");
	int ok = 1;
	if (!multi)
		ok = polygon_rhr(coords);
	for (size_t i = 0; multi && ok && i < json_array_size(coords); i++)
		ok = polygon_rhr(json_array_get(coords, i));
	if (ok)
		return 0;
	return add(c, line_of(c, g), UMAP_LEVEL_WARNING,
		   "Polygons and MultiPolygons should follow the right-hand rule");
}

static int geometry(struct ctx *c, json_t *g, const char *type)
{
	int rc = bbox(c, g);
	if (rc)
		return rc;
	if (strcmp(type, "Point") == 0) {
		if ((rc = geometry_semantics(c, g)))
			return rc;
		rc = required(c, g, "coordinates", "array");
		if (rc)
			return rc < 0 ? rc : 0;
		rc = position(c, member(g, "coordinates"), no_pos);
		return rc < 0 ? rc : 0;
	}
	rc = required(c, g, "coordinates", "array");
	if (rc)
		return rc < 0 ? rc : 0;
	json_t *coords = member(g, "coordinates");
	int polygon = strcmp(type, "Polygon") == 0, multipolygon = strcmp(type, "MultiPolygon") == 0;
	if (polygon || multipolygon) {
		rc = position_array(c, coords, "LinearRing", polygon ? 2 : 3, no_pos);
		if (rc)
			return rc < 0 ? rc : 0;
		if (c->opts->ignore_rhr)
			return 0;
		return right_hand_rule(c, g, multipolygon);
	}
	if (strcmp(type, "LineString") == 0)
		rc = position_array(c, coords, "Line", 1, no_pos);
	else if (strcmp(type, "MultiLineString") == 0)
		rc = position_array(c, coords, "Line", 2, no_pos);
	else
		rc = position_array(c, coords, "", 1, no_pos);
	return rc < 0 ? rc : 0;
}

static int geometry_collection(struct ctx *c, json_t *gc)
{
	int rc = bbox(c, gc);
	if (rc)
		return rc;
	rc = required(c, gc, "geometries", "array");
	if (rc)
		return rc < 0 ? rc : 0;
	json_t *geometries = member(gc, "geometries");
	if (!every_is(geometries, "object") &&
	    (rc = add(c, line_of(c, gc), UMAP_LEVEL_ERROR,
		      "The geometries array in a GeometryCollection must contain only geometry "
		      "objects")))
		return rc;
	if (json_array_size(geometries) == 1 &&
	    (rc = add(c, line_of(c, geometries), UMAP_LEVEL_ERROR,
		      "GeometryCollection with a single geometry should be avoided in favor of "
		      "single part or a single object of multi-part type")))
		return rc;
	for (size_t i = 0; i < json_array_size(geometries); i++) {
		json_t *g = json_array_get(geometries, i);
		if (!js_truthy(g))
			continue;
		json_t *type = member(g, "type");
		if (json_is_string(type) && strcmp(json_string_value(type), "GeometryCollection") == 0 &&
		    (rc = add(c, line_of(c, geometries), UMAP_LEVEL_ERROR,
			      "GeometryCollection should avoid nested geometry collections")))
			return rc;
		if ((rc = root(c, g)))
			return rc;
	}
	return 0;
}

static int feature(struct ctx *c, json_t *f)
{
	int rc = bbox(c, f);
	if (rc)
		return rc;
	umap_pos line = line_of(c, f);
	json_t *id = member(f, "id");
	if (id && !json_is_string(id) && !js_is_number(id) &&
	    (rc = add(c, line, UMAP_LEVEL_ERROR,
		      "Feature \"id\" member must have a string or number value")))
		return rc;
	if (member(f, "features") &&
	    (rc = add(c, line, UMAP_LEVEL_ERROR, "Feature object cannot contain a \"features\" member")))
		return rc;
	if (member(f, "coordinates") &&
	    (rc = add(c, line, UMAP_LEVEL_ERROR,
		      "Feature object cannot contain a \"coordinates\" member")))
		return rc;
	json_t *type = member(f, "type");
	if (!(json_is_string(type) && strcmp(json_string_value(type), "Feature") == 0) &&
	    (rc = add(c, line, UMAP_LEVEL_ERROR, "GeoJSON features must have a type=feature member")))
		return rc;
	if ((rc = required(c, f, "properties", "object")) < 0)
		return rc;
	if (c->umap) {
		json_t *options = member(member(f, "properties"), "_umap_options");
		if (options && !json_is_object(options) &&
		    (rc = add(c, line_of(c, member(f, "properties")), UMAP_LEVEL_ERROR,
			      "\"_umap_options\" in feature properties must be an object, not %s",
			      json_is_array(options) ? "an array" : js_typeof(options))))
			return rc;
	}
	rc = required(c, f, "geometry", "object");
	if (rc)
		return rc < 0 ? rc : 0;
	json_t *g = member(f, "geometry");
	if (js_truthy(g))
		return root(c, g);
	return 0;
}

static struct shell *shell_of_features(struct ctx *c, const json_t *placeholder)
{
	for (size_t i = 0; i < c->nshells; i++)
		if (placeholder && c->shells[i]->features == placeholder)
			return c->shells[i];
	return NULL;
}

static int feature_collection(struct ctx *c, json_t *fc)
{
	int rc = bbox(c, fc);
	if (rc)
		return rc;
	umap_pos line = line_of(c, fc);
	/* uMap keeps a layer's options in "properties" (SPEC §2): allowed with --umap. */
	if (!c->umap && member(fc, "properties") &&
	    (rc = add(c, line, UMAP_LEVEL_ERROR,
		      "FeatureCollection object cannot contain a \"properties\" member")))
		return rc;
	if (member(fc, "coordinates") &&
	    (rc = add(c, line, UMAP_LEVEL_ERROR,
		      "FeatureCollection object cannot contain a \"coordinates\" member")))
		return rc;
	rc = required(c, fc, "features", "array");
	if (rc)
		return rc < 0 ? rc : 0;
	json_t *features = member(fc, "features");
	struct shell *streamed = shell_of_features(c, features);
	if (streamed) {
		if (!streamed->features_all_objects)
			return add(c, line, UMAP_LEVEL_ERROR, "Every feature must be an object");
		c->precision_count += streamed->precision_delta;
		return list_move(c->out, &streamed->feature_msgs);
	}
	if (!every_is(features, "object"))
		return add(c, line, UMAP_LEVEL_ERROR, "Every feature must be an object");
	for (size_t i = 0; i < json_array_size(features); i++)
		if ((rc = feature(c, json_array_get(features, i))))
			return rc;
	return 0;
}

static const char *const type_names[] = { "Point", "Feature", "MultiPoint", "LineString",
					  "MultiLineString", "FeatureCollection",
					  "GeometryCollection", "Polygon", "MultiPolygon" };

/* The duplicate member names of object v, joined by ", ", into buf. */
static int duplicates_of(struct ctx *c, const json_t *v, umap_buf *buf)
{
	for (size_t i = 0; i < c->nshells; i++) {
		const struct shell *sh = c->shells[i];
		if (v != sh->obj)
			continue;
		for (size_t d = 0; d < sh->ndups; d++)
			if ((d && umap_buf_puts(buf, ", ")) || umap_buf_puts(buf, sh->dups[d]))
				return UMAP_ENOMEM;
		return 0;
	}
	umap_json_doc *docs[64];
	size_t ndocs = 0;
	if (c->feature_doc)
		docs[ndocs++] = c->feature_doc;
	for (size_t i = 0; i < c->nshells; i++)
		for (size_t d = 0; d < c->shells[i]->ndocs && ndocs < 64; d++)
			docs[ndocs++] = c->shells[i]->docs[d];
	for (size_t d = 0; d < ndocs; d++) {
		size_t n = umap_json_doc_duplicate_count(docs[d]);
		for (size_t i = 0; i < n; i++) {
			const char *key;
			umap_pos first, again, kp;
			umap_json_doc_duplicate(docs[d], i, &key, &first, &again);
			if (!json_object_get(v, key) ||
			    umap_json_doc_key_pos(&kp, docs[d], v, key) || kp.offset != first.offset)
				continue;
			if ((buf->len && umap_buf_puts(buf, ", ")) || umap_buf_puts(buf, key))
				return UMAP_ENOMEM;
		}
	}
	return 0;
}

static int umap_map(struct ctx *c, json_t *map);

static int root(struct ctx *c, json_t *v)
{
	int rc;
	if (!c->opts->allow_duplicate_members && json_is_object(v)) {
		umap_buf dups = UMAP_BUF_INIT;
		rc = duplicates_of(c, v, &dups);
		if (!rc && dups.len)
			rc = add(c, line_of(c, v), UMAP_LEVEL_ERROR,
				 "An object contained duplicate members, making parsing ambigous: %s",
				 dups.ptr);
		umap_buf_dispose(&dups);
		if (rc)
			return rc;
	}
	rc = required(c, v, "type", "string");
	if (rc) {
		/* geojsonhint gives no line for a scalar geometry; say where it is. */
		if (rc > 0 && !c->out->messages[c->out->count - 1].pos.line)
			c->out->messages[c->out->count - 1].pos = value_pos(c, v);
		return rc < 0 ? rc : 0;
	}
	const char *type = json_string_value(member(v, "type"));
	if (c->umap && strcmp(type, "umap") == 0 && c->nshells && v == c->shells[0]->obj)
		return umap_map(c, v);
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (strcmp(type, type_names[i]) != 0)
			continue;
		if (i == 1)
			return feature(c, v);
		if (i == 5)
			return feature_collection(c, v);
		if (i == 6)
			return geometry_collection(c, v);
		return geometry(c, v, type);
	}
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcasecmp(type, type_names[i]) == 0)
			return add(c, line_of(c, v), UMAP_LEVEL_ERROR,
				   "Expected %s but got %s (case sensitive)", type_names[i], type);
	return add(c, line_of(c, v), UMAP_LEVEL_ERROR, "The type %s is unknown", type);
}

/* ---- uMap checks ----------------------------------------------------------------- */

/* uMap writes 5 letters or digits as a feature id (JSON text "\"Rk3Qa\""). */
static int umap_id_form(const char *text)
{
	if (strlen(text) != 7 || text[0] != '"' || text[6] != '"')
		return 0;
	for (int i = 1; i < 6; i++) {
		char ch = text[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
			return 0;
	}
	return 1;
}

/* Records a feature id (its compact JSON text) in its layer; a repeated id is an error
 * naming both lines. */
static int umap_record_id(struct ctx *c, struct shell *layer, const char *text, umap_pos pos)
{
	umap_validation *saved = c->out;
	c->out = &layer->id_msgs;
	uint32_t first;
	int rc = id_set_add(&layer->ids, text, pos.line, &first);
	if (rc == 1)
		rc = add(c, pos, UMAP_LEVEL_ERROR,
			 "duplicate feature id %s in this layer: first at line %u, again at line %u",
			 text, first, pos.line);
	else if (!rc && !umap_sync_valid_feature_id_text(text))
		rc = add(c, pos, UMAP_LEVEL_ERROR,
			 "feature id %s cannot be synced: an id must be " UMAP_SYNC_FEATURE_ID_RULE, text);
	else if (!rc && !umap_id_form(text))
		rc = add(c, pos, UMAP_LEVEL_WARNING,
			 "feature id %s is not in uMap's form (5 letters or digits)", text);
	c->out = saved;
	return rc;
}

static int umap_feature_id(struct ctx *c, struct shell *layer, json_t *f)
{
	json_t *id = member(f, "id");
	if (!json_is_string(id) && !js_is_number(id))
		return 0; /* missing (uMap assigns one) or reported by the GeoJSON rules */
	char *text = umap_json_dumps(id, 0);
	if (!text)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	int rc = umap_record_id(c, layer, text, value_pos(c, f));
	free(text);
	return rc;
}

static int umap_options_object(struct ctx *c, json_t *obj, const char *name, const char *what)
{
	json_t *options = member(obj, name);
	if (!options || json_is_object(options))
		return 0;
	return add(c, line_of(c, obj), UMAP_LEVEL_ERROR,
		   "the %s's \"%s\" member must be an object, not %s", what, name,
		   json_is_array(options) ? "an array" : js_typeof(options));
}

/* Layer-level uMap checks: options objects, layer id unique in the map, feature ids. */
static int umap_layer(struct ctx *c, struct shell *layer, struct shell *map)
{
	json_t *obj = layer->obj;
	int rc;
	if ((rc = umap_options_object(c, obj, "properties", "layer")) ||
	    (rc = umap_options_object(c, obj, "_umap_options", "layer")))
		return rc;
	if (!layer->features) {
		/* "features" was not an array to stream: look at whatever it holds. */
		json_t *features = member(obj, "features");
		for (size_t i = 0; i < json_array_size(features); i++)
			if (json_is_object(json_array_get(features, i)) &&
			    (rc = umap_feature_id(c, layer, json_array_get(features, i))))
				return rc;
	}
	if ((rc = list_move(c->out, &layer->id_msgs)) ||
	    (rc = list_move(c->out, &layer->layer_msgs)))
		return rc;
	if (!map)
		return 0;
	json_t *options = member(obj, "properties");
	if (!json_is_object(options))
		options = member(obj, "_umap_options");
	if (!json_is_object(options))
		options = member(obj, "_storage"); /* before uMap 1.0 */
	json_t *id = member(options, "id");
	if (!id)
		id = member(obj, "id");
	if (!id)
		return 0;
	umap_pos pos = layer->pos;
	if (!json_is_string(id) && !js_is_number(id))
		return add(c, pos, UMAP_LEVEL_ERROR, "layer id must be a string or a number");
	char *text = umap_json_dumps(id, 0);
	if (!text)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	uint32_t first;
	/* layer ids are unique in the whole map, at every depth */
	struct shell *root_map = c->nshells ? c->shells[0] : map;
	rc = id_set_add(&root_map->layer_ids, text, pos.line, &first);
	if (rc == 1 && js_is_number(id))
		rc = add(c, pos, UMAP_LEVEL_WARNING,
			 "duplicate legacy layer id %s: first at line %u, again at line %u; "
			 "the layers are matched by position", text, first, pos.line);
	else if (rc == 1)
		rc = add(c, pos, UMAP_LEVEL_ERROR,
			 "duplicate layer id %s: first at line %u, again at line %u", text,
			 first, pos.line);
	free(text);
	return rc;
}

static int umap_map(struct ctx *c, json_t *map)
{
	struct shell *sh = c->shells[0];
	int rc;
	if ((rc = umap_options_object(c, map, "properties", "map")))
		return rc;
	json_t *g = member(map, "geometry");
	if (js_truthy(g) && (rc = root(c, g)))
		return rc;
	rc = required(c, map, "layers", "array");
	if (rc)
		return rc < 0 ? rc : 0;
	json_t *layers = member(map, "layers");
	if (layers == sh->layers)
		return list_move(c->out, &sh->layer_msgs);
	/* "layers" came before "type": it was built as a tree; check it the same way. */
	for (size_t i = 0; i < json_array_size(layers); i++) {
		json_t *l = json_array_get(layers, i);
		if (!json_is_object(l)) {
			if ((rc = add(c, line_or(c, l, line_of(c, layers)), UMAP_LEVEL_ERROR,
				      "every layer of a uMap map must be an object")))
				return rc;
			continue;
		}
		struct shell layer = { 0 };
		layer.obj = json_incref(l);
		layer.pos = value_pos(c, l);
		c->shells[c->nshells++] = &layer;
		rc = root(c, l);
		if (!rc)
			rc = umap_layer(c, &layer, sh);
		c->nshells--;
		shell_free(&layer);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- The fast path for ordinary features ----------------------------------------
 * Building a jansson tree for each of 100,000 features costs more than everything else
 * together. Most features are plainly valid, so each one is first checked from the token
 * stream, building nothing; as soon as anything is unusual (an error, a duplicate member, an
 * unknown member in a geometry, a GeometryCollection, a bbox, precision warnings...), it
 * gives up and the feature is read again and checked by the rules above, which alone
 * decide every message. So the fast path only has to be right about "no message at all". */

enum { FAST_OK = 0, FAST_FALLBACK = 1 };

struct fast_position {
	double x, y, z;
	int dims;
};

struct fast_part {
	size_t first, count;
};

static int grow(void **ptr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 256;
	while (n < need)
		n *= 2;
	void *p = realloc(*ptr, n * size);
	if (!p)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	*ptr = p;
	*cap = n;
	return 0;
}

static int token_is(const struct ctx *c, const umap_token *tok, const char *text, size_t len)
{
	return !tok->has_escapes && tok->end - tok->start == len + 2 &&
	       memcmp(c->data + tok->start + 1, text, len) == 0;
}

#define TOKEN_IS(c, tok, lit) token_is((c), (tok), (lit), sizeof(lit) - 1)

/* The double a number token reads as. Exact: a mantissa below 2^53 and a power of ten up
 * to 22 are both exact doubles, so one multiplication or division rounds correctly, as
 * strtod does (Clinger's fast path); anything else goes to strtod. */
static double token_number(const struct ctx *c, const umap_token *tok)
{
	static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
					1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
					1e20, 1e21, 1e22 };
	const char *p = c->data + tok->start, *end = c->data + tok->end;
	int negative = *p == '-';
	p += negative;
	uint64_t mantissa = 0;
	int digits = 0, scale = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		mantissa = mantissa * 10 + (uint64_t)(*p - '0');
		digits += digits || *p != '0';
	}
	if (p < end && *p == '.')
		for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
			mantissa = mantissa * 10 + (uint64_t)(*p - '0');
			digits += digits || *p != '0';
			scale--;
		}
	if (p == end && digits <= 15 && scale >= -22) {
		double v = scale ? (double)mantissa / pow10[-scale] : (double)mantissa;
		return negative ? -v : v;
	}
	char small[64];
	size_t len = tok->end - tok->start;
	if (len >= sizeof(small))
		return NAN; /* compares unequal: the caller falls back */
	memcpy(small, c->data + tok->start, len);
	small[len] = '\0';
	return strtod(small, NULL);
}

/* Reads a coordinates array whose '[' was just returned: every leaf an array of 2 or 3
 * numbers, all leaves at the same depth, no empty array. Sets *leaf_depth. */
static int fast_coordinates(struct ctx *c, int *leaf_depth)
{
	c->npositions = c->nparts = c->ngroups = 0;
	int depth = 0, leaf = -1, rc;
	int in_leaf = 0, count_in_leaf = 0;
	size_t part_start = 0, group_start = 0;
	struct fast_position *pos = NULL;
	umap_token tok;
	for (;;) {
		if ((rc = umap_scanner_next(c->s, &tok)))
			return rc;
		switch (tok.type) {
		case UMAP_TOKEN_NUMBER:
			if (leaf >= 0 && depth != leaf)
				return FAST_FALLBACK;
			if (!in_leaf) {
				leaf = depth;
				in_leaf = 1;
				count_in_leaf = 0;
				if ((rc = grow((void **)&c->positions, &c->positions_cap,
					       c->npositions + 1, sizeof(*c->positions))))
					return rc;
				pos = &c->positions[c->npositions++];
				pos->dims = 0;
			}
			if (++count_in_leaf > 3)
				return FAST_FALLBACK;
			{
				double v = token_number(c, &tok);
				if (v != v)
					return FAST_FALLBACK;
				if (count_in_leaf == 1)
					pos->x = v;
				else if (count_in_leaf == 2)
					pos->y = v;
				else
					pos->z = v;
				pos->dims = count_in_leaf;
			}
			break;
		case UMAP_TOKEN_ARRAY_START:
			if (in_leaf || (leaf >= 0 && depth >= leaf))
				return FAST_FALLBACK;
			depth++;
			if (leaf >= 0 && depth == leaf - 1)
				part_start = c->npositions;
			if (leaf >= 0 && depth == leaf - 2)
				group_start = c->nparts;
			break;
		case UMAP_TOKEN_ARRAY_END: {
			int closing = depth; /* depth of the array that ends here */
			if (in_leaf) {
				if (count_in_leaf < 2)
					return FAST_FALLBACK;
				in_leaf = 0;
			} else if (leaf < 0) {
				return FAST_FALLBACK; /* an empty array */
			}
			if (closing == leaf - 1) {
				/* a part (ring, line) ends */
				if ((rc = grow((void **)&c->parts, &c->parts_cap, c->nparts + 1,
					       sizeof(*c->parts))))
					return rc;
				c->parts[c->nparts].first = part_start;
				c->parts[c->nparts].count = c->npositions - part_start;
				c->nparts++;
			} else if (closing == leaf - 2) {
				if ((rc = grow((void **)&c->groups, &c->groups_cap, c->ngroups + 1,
					       sizeof(*c->groups))))
					return rc;
				c->groups[c->ngroups].first = group_start;
				c->groups[c->ngroups].count = c->nparts - group_start;
				c->ngroups++;
			}
			if (closing == 0) {
				*leaf_depth = leaf;
				return FAST_OK;
			}
			depth--;
			break;
		}
		default:
			return FAST_FALLBACK;
		}
	}
}

static int fast_ring_clockwise(const struct ctx *c, const struct fast_part *ring)
{
	double sum = 0;
	if (ring->count > 2) {
		const struct fast_position *p = c->positions + ring->first;
		for (size_t i = 0; i + 1 < ring->count; i++)
			sum += (p[i + 1].x - p[i].x) * (p[i + 1].y + p[i].y);
	}
	return sum >= 0;
}

/* Rings of one polygon: parts[first..first+count). */
static int fast_polygon(const struct ctx *c, size_t first, size_t count)
{
	if (!count)
		return FAST_FALLBACK;
	for (size_t i = first; i < first + count; i++) {
		const struct fast_part *ring = &c->parts[i];
		const struct fast_position *a = &c->positions[ring->first];
		const struct fast_position *b = &c->positions[ring->first + ring->count - 1];
		if (ring->count < 4 || a->dims != b->dims || a->x != b->x || a->y != b->y ||
		    (a->dims == 3 && a->z != b->z))
			return FAST_FALLBACK;
		if (!c->opts->ignore_rhr && fast_ring_clockwise(c, ring) != (i != first))
			return FAST_FALLBACK;
	}
	return FAST_OK;
}

/* The next member of an object being read: 1 with its key and value tokens, 0 at the
 * closing '}', <0 for a syntax error. */
static int fast_next_member(struct ctx *c, umap_token *key, umap_token *value)
{
	int rc = umap_scanner_next(c->s, key);
	if (rc)
		return rc;
	if (key->type == UMAP_TOKEN_OBJECT_END)
		return 0;
	rc = umap_scanner_next(c->s, value);
	return rc ? rc : 1;
}

/* A geometry object whose '{' was just returned: exactly "type" and "coordinates". */
static int fast_geometry(struct ctx *c)
{
	static const char *const types[] = { "Point", "MultiPoint", "LineString",
					     "MultiLineString", "Polygon", "MultiPolygon" };
	static const int depths[] = { 0, 1, 1, 2, 2, 3 };
	int type = -1, leaf = -2, rc;
	umap_token key, value;
	while ((rc = fast_next_member(c, &key, &value)) == 1) {
		if (TOKEN_IS(c, &key, "type") && type < 0 && value.type == UMAP_TOKEN_STRING) {
			for (int i = 0; i < 6; i++)
				if (token_is(c, &value, types[i], strlen(types[i])))
					type = i;
			if (type < 0)
				return FAST_FALLBACK;
		} else if (TOKEN_IS(c, &key, "coordinates") && leaf == -2 &&
			   value.type == UMAP_TOKEN_ARRAY_START) {
			if ((rc = fast_coordinates(c, &leaf)))
				return rc;
		} else {
			return FAST_FALLBACK;
		}
	}
	if (rc)
		return rc;
	if (type < 0 || leaf != depths[type])
		return FAST_FALLBACK;
	switch (type) {
	case 2:
		return c->npositions >= 2 ? FAST_OK : FAST_FALLBACK;
	case 3:
		for (size_t i = 0; i < c->nparts; i++)
			if (c->parts[i].count < 2)
				return FAST_FALLBACK;
		return FAST_OK;
	case 4:
		return fast_polygon(c, 0, c->nparts);
	case 5:
		for (size_t g = 0; g < c->ngroups; g++)
			if (fast_polygon(c, c->groups[g].first, c->groups[g].count))
				return FAST_FALLBACK;
		return FAST_OK;
	default:
		return FAST_OK;
	}
}

/* A feature whose '{' (`open`) was just returned. FAST_OK: it gives no message (its id is
 * recorded); FAST_FALLBACK: check it with the rules; <0: a syntax error or no memory. */
static int fast_feature(struct ctx *c, struct shell *sh, const umap_token *open)
{
	enum { TYPE = 1, ID = 2, PROPERTIES = 4, GEOMETRY = 8 };
	unsigned seen = 0;
	umap_token key, value, id = { 0 };
	size_t end;
	int rc;
	while ((rc = fast_next_member(c, &key, &value)) == 1) {
		unsigned which = TOKEN_IS(c, &key, "type") ? TYPE
				 : TOKEN_IS(c, &key, "id") ? ID
				 : TOKEN_IS(c, &key, "properties") ? PROPERTIES
				 : TOKEN_IS(c, &key, "geometry") ? GEOMETRY : 0;
		if (key.has_escapes || (seen & which) || TOKEN_IS(c, &key, "features") ||
		    TOKEN_IS(c, &key, "coordinates") || TOKEN_IS(c, &key, "bbox"))
			return FAST_FALLBACK;
		seen |= which;
		switch (which) {
		case TYPE:
			if (value.type != UMAP_TOKEN_STRING || !TOKEN_IS(c, &value, "Feature"))
				return FAST_FALLBACK;
			break;
		case ID:
			if (value.has_escapes || (value.type != UMAP_TOKEN_STRING &&
						  (value.type != UMAP_TOKEN_NUMBER || c->umap)))
				return FAST_FALLBACK;
			id = value;
			break;
		case PROPERTIES:
			if (value.type == UMAP_TOKEN_NULL)
				break;
			if (value.type != UMAP_TOKEN_OBJECT_START)
				return FAST_FALLBACK;
			if (!c->umap) {
				if ((rc = umap_scanner_skip(c->s, &value, &end)))
					return rc;
				break;
			}
			/* uMap: properties._umap_options must be an object */
			umap_token pk, pv;
			while ((rc = fast_next_member(c, &pk, &pv)) == 1) {
				if ((pk.has_escapes || TOKEN_IS(c, &pk, "_umap_options")) &&
				    pv.type != UMAP_TOKEN_OBJECT_START)
					return FAST_FALLBACK;
				if ((rc = umap_scanner_skip(c->s, &pv, &end)))
					return rc;
			}
			if (rc)
				return rc;
			break;
		case GEOMETRY:
			if (value.type == UMAP_TOKEN_NULL)
				break;
			if (value.type != UMAP_TOKEN_OBJECT_START)
				return FAST_FALLBACK;
			if ((rc = fast_geometry(c)))
				return rc;
			break;
		default:
			if ((rc = umap_scanner_skip(c->s, &value, &end)))
				return rc;
		}
	}
	if (rc)
		return rc;
	if ((seen & (TYPE | PROPERTIES | GEOMETRY)) != (TYPE | PROPERTIES | GEOMETRY))
		return FAST_FALLBACK;
	if (c->umap && (seen & ID)) {
		size_t len = id.end - id.start;
		char small[128];
		char *text = len < sizeof(small) ? small : malloc(len + 1);
		if (!text)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		memcpy(text, c->data + id.start, len);
		text[len] = '\0';
		rc = umap_record_id(c, sh, text, open->pos);
		if (text != small)
			free(text);
		if (rc)
			return rc;
	}
	return FAST_OK;
}

/* ---- Reading ----------------------------------------------------------------------- */

/* Drops the mapped pages the scanner has left behind (they are read again if needed). */
static void drop_behind(struct ctx *c, size_t offset)
{
	const size_t chunk = 1u << 20;
	if (!c->map_base || offset < c->map_dropped + 2 * chunk)
		return;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t upto = (offset - chunk) / page * page;
	if (upto > c->map_dropped) {
		madvise((void *)(c->map_base + c->map_dropped), upto - c->map_dropped, MADV_DONTNEED);
		c->map_dropped = upto;
	}
}

static int read_shell(struct ctx *c, const umap_token *open, struct shell *sh, int level);

static int keep_doc(struct shell *sh, umap_json_doc *doc)
{
	umap_json_doc **docs = realloc(sh->docs, (sh->ndocs + 1) * sizeof(*docs));
	if (!docs) {
		umap_json_doc_free(doc);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	sh->docs = docs;
	sh->docs[sh->ndocs++] = doc;
	return 0;
}

static int stream_features(struct ctx *c, struct shell *sh, const umap_token *open)
{
	/* A repeated "features" member: the last one wins, as in JSON.parse. */
	umap_validation_clear(&sh->feature_msgs);
	umap_validation_clear(&sh->id_msgs);
	id_set_free(&sh->ids);
	sh->features_all_objects = 1;
	sh->features_pos = open->pos;
	size_t precision_before = c->precision_count;
	umap_validation *saved = c->out;
	c->out = &sh->feature_msgs;
	umap_token tok;
	int rc;
	while (!(rc = umap_scanner_next(c->s, &tok)) && tok.type != UMAP_TOKEN_ARRAY_END) {
		if (tok.type != UMAP_TOKEN_OBJECT_START && tok.type != UMAP_TOKEN_ARRAY_START) {
			/* null, a number...: geojsonhint then checks no feature at all */
			sh->features_all_objects = 0;
			umap_validation_clear(&sh->feature_msgs);
			continue;
		}
		if (!sh->features_all_objects && !c->umap) {
			size_t end;
			if ((rc = umap_scanner_skip(c->s, &tok, &end)))
				break;
			continue;
		}
		if (tok.type == UMAP_TOKEN_OBJECT_START && sh->features_all_objects &&
		    !c->opts->precision_warning && !c->opts->no_fast_path) {
			umap_scanner_mark mark;
			umap_scanner_mark_here(c->s, &mark);
			rc = fast_feature(c, sh, &tok);
			if (rc < 0)
				break;
			if (rc == FAST_OK) {
				drop_behind(c, tok.start);
				continue;
			}
			umap_scanner_reset(c->s, &mark);
		}
		umap_json_doc *doc;
		if ((rc = umap_scanner_build_doc(&doc, c->s, &tok, 0)))
			break;
		c->feature_doc = doc;
		json_t *f = umap_json_doc_root(doc);
		if (sh->features_all_objects)
			rc = feature(c, f);
		if (!rc && c->umap && json_is_object(f))
			rc = umap_feature_id(c, sh, f);
		c->feature_doc = NULL;
		umap_json_doc_free(doc);
		if (rc)
			break;
		drop_behind(c, tok.start);
	}
	c->out = saved;
	sh->precision_delta = c->precision_count - precision_before;
	c->precision_count = precision_before;
	if (rc)
		return rc;
	json_decref(sh->features);
	sh->features = json_array();
	return sh->features ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
}

static int stream_layers(struct ctx *c, struct shell *map, const umap_token *open, int level)
{
	umap_validation_clear(&map->layer_msgs);
	if (level == 0)
		id_set_free(&map->layer_ids);
	map->layers_pos = open->pos;
	umap_token tok;
	int rc;
	int saved_umap = c->umap;
	c->umap = 1;
	while (!(rc = umap_scanner_next(c->s, &tok)) && tok.type != UMAP_TOKEN_ARRAY_END) {
		umap_validation *saved = c->out;
		c->out = &map->layer_msgs;
		if (tok.type != UMAP_TOKEN_OBJECT_START) {
			rc = add(c, tok.pos, UMAP_LEVEL_ERROR, "every layer of a uMap map must be an object");
			size_t end;
			if (!rc)
				rc = umap_scanner_skip(c->s, &tok, &end);
		} else {
			struct shell layer = { 0 };
			rc = read_shell(c, &tok, &layer, level + 1);
			if (!rc) {
				c->shells[c->nshells++] = &layer;
				c->out = &map->layer_msgs;
				rc = root(c, layer.obj);
				if (!rc)
					rc = umap_layer(c, &layer, map);
				c->nshells--;
			}
			shell_free(&layer);
		}
		c->out = saved;
		if (rc)
			break;
	}
	c->umap = saved_umap;
	if (rc)
		return rc;
	json_decref(map->layers);
	map->layers = json_array();
	return map->layers ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
}

/* Reads the object opened by `open` into sh, streaming its "features" (and at the top,
 * "layers") arrays. */
static int read_shell(struct ctx *c, const umap_token *open, struct shell *sh, int level)
{
	sh->obj = json_object();
	if (!sh->obj)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	sh->pos = open->pos;
	c->shells[c->nshells++] = sh;
	umap_buf key = UMAP_BUF_INIT;
	umap_token tok;
	int rc;
	while (!(rc = umap_scanner_next(c->s, &tok)) && tok.type == UMAP_TOKEN_KEY) {
		if ((rc = umap_scanner_string(c->s, &tok, &key)) ||
		    (rc = umap_scanner_next(c->s, &tok)))
			break;
		const char *name = key.ptr ? key.ptr : "";
		if (json_object_getn(sh->obj, name, key.len)) {
			char **dups = realloc(sh->dups, (sh->ndups + 1) * sizeof(*dups));
			if (!dups) {
				rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				break;
			}
			sh->dups = dups;
			if (!(sh->dups[sh->ndups] = strdup(name))) {
				rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				break;
			}
			sh->ndups++;
		}
		json_t *value;
		if (tok.type == UMAP_TOKEN_ARRAY_START && strcmp(name, "features") == 0 &&
		    key.len == 8) {
			if ((rc = stream_features(c, sh, &tok)))
				break;
			value = sh->features;
		} else if (tok.type == UMAP_TOKEN_ARRAY_START && (level == 0 || c->umap) &&
			   strcmp(name, "layers") == 0 && key.len == 6) {
			/* uMap 3.7+ group layers: child layers nested in a layer, checked as
			 * layers of the map at every depth */
			if (level >= VALIDATE_MAX_LAYER_DEPTH) {
				rc = umap_error_set(UMAP_ELIMIT,
						    "%u:%u: layers nested more than %d deep; flatten the group layers",
						    tok.pos.line, tok.pos.col, VALIDATE_MAX_LAYER_DEPTH);
				break;
			}
			if ((rc = stream_layers(c, sh, &tok, level)))
				break;
			value = sh->layers;
		} else {
			umap_json_doc *doc;
			if ((rc = umap_scanner_build_doc(&doc, c->s, &tok, 0)) ||
			    (rc = keep_doc(sh, doc)))
				break;
			value = umap_json_doc_root(doc);
		}
		if (json_object_setn_nocheck(sh->obj, name, key.len, value)) {
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
			break;
		}
	}
	c->nshells--;
	umap_buf_dispose(&key);
	return rc;
}

/* Turns the scanner's "\x01:LINE:COL: text" into a message. */
static int syntax_message(umap_validation *out)
{
	const char *msg = umap_error_last();
	umap_pos pos = no_pos;
	const char *text = msg;
	unsigned line, col;
	int n = 0;
	if (msg[0] == '\x01' && msg[1] == ':') {
		if (sscanf(msg + 2, "%u:%u: %n", &line, &col, &n) == 2 && n > 0) {
			pos.line = line;
			pos.col = col;
			text = msg + 2 + n;
		} else {
			text = msg + 2 + (msg[2] == ' ');
		}
	}
	char *copy = strdup(text);
	if (!copy)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return list_add_text(out, pos, UMAP_LEVEL_ERROR, copy);
}

static int validate(umap_validation *out, const char *data, size_t len,
		    const umap_validate_options *opts, const char *map_base)
{
	umap_validate_options defaults = UMAP_VALIDATE_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	umap_validation_clear(out);
	umap_json_options jopts = opts->json;
	jopts.source_name = "\x01";
	struct ctx c = { 0 };
	c.opts = opts;
	c.umap = opts->umap;
	c.out = out;
	c.map_base = map_base;
	c.data = data;
	struct shell top = { 0 };
	umap_json_doc *doc = NULL;
	int rc = umap_scanner_new(&c.s, data, len, &jopts);
	umap_token tok;
	if (!rc)
		rc = umap_scanner_next(c.s, &tok);
	if (!rc && tok.type == UMAP_TOKEN_OBJECT_START) {
		rc = read_shell(&c, &tok, &top, 0);
	} else if (!rc) {
		rc = umap_scanner_build_doc(&doc, c.s, &tok, 0);
		if (!rc)
			rc = keep_doc(&top, doc);
	}
	if (!rc && !(rc = umap_scanner_next(c.s, &tok)) && tok.type != UMAP_TOKEN_EOF)
		rc = umap_error_set(UMAP_EINVALID, "unexpected data after the JSON value");
	if (rc == UMAP_EINVALID || rc == UMAP_ELIMIT) {
		/* geojsonhint reports a syntax error alone */
		umap_validation_clear(out);
		rc = syntax_message(out);
	} else if (!rc) {
		c.shells[c.nshells++] = &top;
		json_t *root_value = top.obj ? top.obj : umap_json_doc_root(top.docs[0]);
		json_t *type = member(root_value, "type");
		if (json_is_string(type) && strcmp(json_string_value(type), "umap") == 0)
			c.umap = 1;
		if (!json_is_object(root_value) && !json_is_array(root_value)) {
			rc = add(&c, no_pos, UMAP_LEVEL_ERROR,
				 "The root of a GeoJSON object must be an object.");
		} else {
			rc = root(&c, root_value);
			if (!rc && c.umap && json_is_string(type) &&
			    strcmp(json_string_value(type), "FeatureCollection") == 0)
				rc = umap_layer(&c, &top, NULL);
		}
		c.nshells--;
	}
	shell_free(&top);
	umap_scanner_free(c.s);
	free(c.positions);
	free(c.parts);
	free(c.groups);
	return rc;
}

int umap_validate_buffer(umap_validation *out, const char *data, size_t len,
			 const umap_validate_options *opts)
{
	return validate(out, data, len, opts, NULL);
}

int umap_validate_file(umap_validation *out, const char *path,
		       const umap_validate_options *opts)
{
	int rc;
	if (strcmp(path, "-") != 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return umap_error_set_errno(errno == ENOENT ? UMAP_ENOTFOUND : UMAP_EIO,
						    "cannot open '%s'", path);
		struct stat st;
		if (fstat(fd, &st) < 0) {
			rc = umap_error_set_errno(UMAP_EIO, "cannot stat '%s'", path);
			close(fd);
			return rc;
		}
		if (S_ISDIR(st.st_mode)) {
			close(fd);
			return umap_error_set(UMAP_EIO, "'%s' is a directory, not a file", path);
		}
		if (S_ISREG(st.st_mode) && st.st_size > 0) {
			size_t len = (size_t)st.st_size;
			const char *data = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
			close(fd);
			if (data == MAP_FAILED)
				return umap_error_set_errno(UMAP_EIO, "cannot read '%s'", path);
			madvise((void *)data, len, MADV_SEQUENTIAL);
			rc = validate(out, data, len, opts, data);
			munmap((void *)data, len);
			return rc;
		}
		close(fd);
	}
	umap_buf buf = UMAP_BUF_INIT;
	size_t max = opts ? opts->json.max_size : UMAP_JSON_DEFAULT_MAX_SIZE;
	rc = umap_file_read(&buf, path, max ? max : UMAP_JSON_DEFAULT_MAX_SIZE);
	if (rc == UMAP_ELIMIT) {
		umap_validation_clear(out);
		char *text = strdup(umap_error_last());
		rc = text ? list_add_text(out, no_pos, UMAP_LEVEL_ERROR, text)
			  : umap_error_set(UMAP_ENOMEM, "out of memory");
	} else if (!rc) {
		rc = validate(out, buf.ptr ? buf.ptr : "", buf.len, opts, NULL);
	}
	umap_buf_dispose(&buf);
	return rc;
}
