/* The human formats of a feature diff: a text block per changed feature and layer, and
 * --stat counts. Kept apart from diff.c, which builds the model that every format reads. */
#include "diff.h"

#include <string.h>

#include "error.h"

#define VALUE_WIDTH 60

#define C_RESET "\033[m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"

typedef struct text_out {
	umap_buf *buf;
	int color;
	int rc;
	int blocks;
} text_out;

static void put(text_out *t, const char *s)
{
	if (!t->rc)
		t->rc = umap_buf_puts(t->buf, s);
}

static void put_color(text_out *t, const char *code)
{
	if (t->color)
		put(t, code);
}

/* A value as compact JSON, cut at VALUE_WIDTH bytes (never inside a UTF-8 sequence). */
static void put_json_value(text_out *t, const json_t *v)
{
	if (!v) {
		put(t, "(none)");
		return;
	}
	char *s = umap_json_dumps(v, UMAP_JSON_COMPACT);
	if (!s) {
		t->rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		return;
	}
	size_t len = strlen(s);
	if (len > VALUE_WIDTH) {
		size_t cut = VALUE_WIDTH;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
		s[cut] = '\0';
		put(t, s);
		put(t, "\xe2\x80\xa6"); /* … */
	} else {
		put(t, s);
	}
	free(s);
}

static const char *geometry_type(const json_t *g)
{
	const json_t *type = json_is_object(g) ? json_object_get(g, "type") : NULL;
	return json_is_string(type) ? json_string_value(type) : NULL;
}

static void put_count(text_out *t, size_t n, const char *one, const char *many)
{
	if (!t->rc)
		t->rc = umap_buf_printf(t->buf, "%zu %s", n, n == 1 ? one : many);
}

/* "Point, 1 vertex" or "null" */
static void put_geometry(text_out *t, const json_t *g)
{
	const char *type = geometry_type(g);
	if (!type) {
		put(t, "null");
		return;
	}
	put(t, type);
	put(t, ", ");
	put_count(t, umap_geometry_vertices(g), "vertex", "vertices");
}

static void put_distance(text_out *t, double metres)
{
	if (t->rc)
		return;
	if (metres < 10)
		t->rc = umap_buf_printf(t->buf, "%.1f m", metres);
	else if (metres < 1000)
		t->rc = umap_buf_printf(t->buf, "%.0f m", metres);
	else
		t->rc = umap_buf_printf(t->buf, "%.1f km", metres / 1000);
}

/* "LineString, 4 → 5 vertices, bbox moved 38 m" */
static void put_geometry_change(text_out *t, const json_t *og, const json_t *ng)
{
	const char *ot = geometry_type(og), *nt = geometry_type(ng);
	if (!ot || !nt) {
		put_geometry(t, og);
		put(t, " \xe2\x86\x92 ");
		put_geometry(t, ng);
		return;
	}
	put(t, ot);
	if (strcmp(ot, nt)) {
		put(t, " \xe2\x86\x92 ");
		put(t, nt);
	}
	put(t, ", ");
	size_t ov = umap_geometry_vertices(og), nv = umap_geometry_vertices(ng);
	if (ov != nv && !t->rc)
		t->rc = umap_buf_printf(t->buf, "%zu \xe2\x86\x92 ", ov);
	put_count(t, nv, "vertex", "vertices");
	double shift = umap_geometry_bbox_shift(og, ng);
	if (shift == 0) {
		put(t, ", bbox unchanged");
	} else if (shift > 0) {
		put(t, ", bbox moved ");
		put_distance(t, shift);
	}
}

static void put_label(text_out *t, const umap_diff_layer *l)
{
	if (l->name) {
		json_t *name = json_string(l->name);
		put_json_value(t, name);
		json_decref(name);
	} else if (l->id) {
		put(t, l->id);
	} else if (!t->rc) {
		t->rc = umap_buf_printf(t->buf, "#%ld", l->position + 1);
	}
}

static const char *kind_color(umap_change_kind kind)
{
	return kind == UMAP_CHANGE_ADDED ? C_GREEN : kind == UMAP_CHANGE_REMOVED ? C_RED : C_YELLOW;
}

static void block_start(text_out *t)
{
	if (t->blocks++)
		put(t, "\n");
}

/* "  ~ key: old → new", "  + key: new", "  - key: old" */
static void put_key_line(text_out *t, const char *key, const json_t *old_value,
			 const json_t *new_value)
{
	if (old_value && new_value) {
		put(t, "  ~ ");
		put(t, key);
		put(t, ": ");
		put_color(t, C_RED);
		put_json_value(t, old_value);
		put_color(t, C_RESET);
		put(t, " \xe2\x86\x92 ");
		put_color(t, C_GREEN);
		put_json_value(t, new_value);
		put_color(t, C_RESET);
	} else {
		put_color(t, new_value ? C_GREEN : C_RED);
		put(t, new_value ? "  + " : "  - ");
		put(t, key);
		put(t, ": ");
		put_json_value(t, new_value ? new_value : old_value);
		put_color(t, C_RESET);
	}
	put(t, "\n");
}

static void put_keys(text_out *t, const umap_key_change *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_key_line(t, keys[i].key, keys[i].old_value, keys[i].new_value);
}

static void put_all_keys(text_out *t, const json_t *obj, int added)
{
	const char *key;
	json_t *v;
	if (json_is_object(obj))
		json_object_foreach((json_t *)obj, key, v)
			put_key_line(t, key, added ? NULL : v, added ? v : NULL);
}

static void put_layer_block(text_out *t, const umap_diff_layer *l)
{
	block_start(t);
	put_color(t, C_BOLD);
	put_color(t, kind_color(l->kind));
	put(t, umap_change_name(l->kind));
	put(t, " layer ");
	put_label(t, l);
	if (l->name && l->id) {
		put(t, " (");
		put(t, l->id);
		put(t, ")");
	}
	put_color(t, C_RESET);
	put(t, "\n");
	if (l->kind == UMAP_CHANGE_MODIFIED) {
		put_keys(t, l->keys, l->nkeys);
		if (l->old_parent && !json_equal(l->old_parent, l->new_parent))
			put_key_line(t, "parentId", l->old_parent, l->new_parent);
		if (l->old_rank && !json_equal(l->old_rank, l->new_rank))
			put_key_line(t, "rank", l->old_rank, l->new_rank);
	} else
		put_all_keys(t, l->kind == UMAP_CHANGE_ADDED ? l->new_options : l->old_options,
			     l->kind == UMAP_CHANGE_ADDED);
}

static void put_feature_block(text_out *t, const umap_diff *diff, const umap_feature_change *c)
{
	const json_t *f = c->new_feature ? c->new_feature : c->old_feature;
	block_start(t);
	put_color(t, C_BOLD);
	put_color(t, kind_color(c->kind));
	put(t, umap_change_name(c->kind));
	put(t, " feature ");
	char *shown = umap_id_display(c->id);
	if (!shown) {
		t->rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		return;
	}
	put(t, c->id ? shown : "(no id)");
	free(shown);
	const json_t *props = json_object_get(f, "properties");
	const json_t *name = json_is_object(props) ? json_object_get(props, "name") : NULL;
	if (json_is_string(name)) {
		put(t, " ");
		put_json_value(t, name);
	}
	if (diff->nlayers > 1) {
		put(t, " in layer ");
		put_label(t, &diff->layers[c->layer]);
	}
	put_color(t, C_RESET);
	put(t, "\n");
	if (c->kind == UMAP_CHANGE_MODIFIED) {
		put_keys(t, c->keys, c->nkeys);
		if (c->geometry_changed) {
			put(t, "  ~ geometry: ");
			put_geometry_change(t, json_object_get(c->old_feature, "geometry"),
					    json_object_get(c->new_feature, "geometry"));
			put(t, "\n");
		}
		return;
	}
	int added = c->kind == UMAP_CHANGE_ADDED;
	put_all_keys(t, props, added);
	put_color(t, added ? C_GREEN : C_RED);
	put(t, added ? "  + geometry: " : "  - geometry: ");
	put_geometry(t, json_object_get(f, "geometry"));
	put_color(t, C_RESET);
	put(t, "\n");
}

int umap_diff_format_text(umap_buf *out, const umap_diff *diff, int color)
{
	text_out t = { out, color, 0, 0 };
	/* what a file is called comes before what it holds: one header for all renames */
	for (size_t i = 0; i < diff->nrenames; i++) {
		if (!i)
			block_start(&t);
		put_color(&t, C_BOLD);
		put_color(&t, C_YELLOW);
		put(&t, "renamed file ");
		put(&t, diff->renames[i].from);
		put(&t, " \xe2\x86\x92 ");
		put(&t, diff->renames[i].to);
		put_color(&t, C_RESET);
		put(&t, "\n");
	}
	if (diff->nmap_keys) {
		block_start(&t);
		put_color(&t, C_BOLD);
		put_color(&t, C_YELLOW);
		put(&t, "modified map options");
		put_color(&t, C_RESET);
		put(&t, "\n");
		put_keys(&t, diff->map_keys, diff->nmap_keys);
	}
	size_t next = 0; /* changes are grouped by layer, in layer order */
	for (size_t l = 0; l < diff->nlayers && !t.rc; l++) {
		if (diff->layers[l].kind != UMAP_CHANGE_NONE)
			put_layer_block(&t, &diff->layers[l]);
		for (size_t i = next; i < diff->nchanges && !t.rc; i++) {
			if (diff->changes[i].layer != l)
				continue;
			put_feature_block(&t, diff, &diff->changes[i]);
			next = i + 1;
		}
	}
	return t.rc;
}

/* ---- --stat ---------------------------------------------------------------------- */

static char *label_text(const umap_diff_layer *l)
{
	umap_buf b = UMAP_BUF_INIT;
	int rc;
	if (l->name)
		rc = umap_buf_puts(&b, l->name);
	else if (l->id)
		rc = umap_buf_puts(&b, l->id);
	else
		rc = umap_buf_printf(&b, "#%ld", l->position + 1);
	if (rc) {
		umap_buf_dispose(&b);
		return NULL;
	}
	return umap_buf_detach(&b);
}

/* Display width of UTF-8 text: one column per code point (good enough for names). */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

int umap_diff_format_stat(umap_buf *out, const umap_diff *diff)
{
	size_t width = diff->nmap_keys ? 3 : 0;
	for (size_t i = 0; i < diff->nrenames; i++) {
		/* "OLD => NEW", as git's --stat names a rename */
		size_t w = text_width(diff->renames[i].from) + 4 + text_width(diff->renames[i].to);
		width = w > width ? w : width;
	}
	for (size_t i = 0; i < diff->nlayers; i++) {
		if (!umap_diff_layer_changed(&diff->layers[i]))
			continue;
		char *label = label_text(&diff->layers[i]);
		if (!label)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		size_t w = text_width(label);
		width = w > width ? w : width;
		free(label);
	}
	int rc = 0;
	for (size_t i = 0; i < diff->nrenames && !rc; i++) {
		const umap_diff_rename *r = &diff->renames[i];
		size_t pad = width - (text_width(r->from) + 4 + text_width(r->to));
		rc = umap_buf_printf(out, " %s => %s%*s | file renamed\n", r->from, r->to, (int)pad, "");
	}
	if (!rc && diff->nmap_keys)
		rc = umap_buf_printf(out, " %-*s | %zu option%s changed\n", (int)width, "map",
				     diff->nmap_keys, diff->nmap_keys == 1 ? "" : "s");
	for (size_t i = 0; i < diff->nlayers && !rc; i++) {
		const umap_diff_layer *l = &diff->layers[i];
		if (!umap_diff_layer_changed(l))
			continue;
		char *label = label_text(l);
		if (!label)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		size_t pad = width - text_width(label);
		rc = umap_buf_printf(out, " %s%*s | %zu added, %zu removed, %zu modified", label,
				     (int)pad, "", l->added, l->removed, l->modified);
		free(label);
		if (!rc && l->kind == UMAP_CHANGE_MODIFIED)
			rc = umap_buf_printf(out, ", %zu option%s changed", l->nkeys,
					     l->nkeys == 1 ? "" : "s");
		else if (!rc && l->kind != UMAP_CHANGE_NONE)
			rc = umap_buf_printf(out, " (layer %s)", umap_change_name(l->kind));
		if (!rc)
			rc = umap_buf_putc(out, '\n');
	}
	if (!rc)
		rc = umap_buf_printf(out, " %zu added, %zu removed, %zu modified, %zu unchanged\n",
				     diff->summary.added, diff->summary.removed,
				     diff->summary.modified, diff->summary.unchanged);
	return rc;
}

/* ---- pieces other formatters share ------------------------------------------------ */

int umap_diff_describe_value(umap_buf *out, const json_t *value)
{
	text_out t = { out, 0, 0, 0 };
	put_json_value(&t, value);
	return t.rc;
}

int umap_diff_describe_geometry(umap_buf *out, const json_t *geometry)
{
	text_out t = { out, 0, 0, 0 };
	put_geometry(&t, geometry);
	return t.rc;
}

int umap_diff_describe_geometry_change(umap_buf *out, const json_t *old_geometry,
				       const json_t *new_geometry)
{
	text_out t = { out, 0, 0, 0 };
	put_geometry_change(&t, old_geometry, new_geometry);
	return t.rc;
}
