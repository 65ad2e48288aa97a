/* diff --format=markdown: a summary of a feature diff for a pull-request comment, counts per
 * layer, then the first N changed features with their key changes, then "and M more". */
#include "diff.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct md_out {
	umap_buf *buf;
	umap_buf scratch; /* one value's words, before they are escaped */
	int rc;
} md_out;

static void put(md_out *m, const char *s)
{
	if (!m->rc)
		m->rc = umap_buf_puts(m->buf, s);
}

static void put_char(md_out *m, char c)
{
	if (!m->rc)
		m->rc = umap_buf_putc(m->buf, c);
}

/* Text from the data as Markdown that renders as that text: the punctuation that could start
 * markup (emphasis, links, HTML, entities, table cells, GitHub's math, mentions and issue
 * references) is backslash-escaped, as CommonMark allows for any ASCII punctuation; line
 * breaks become spaces. The text never starts a line, so block markers need nothing. */
static void put_text(md_out *m, const char *s)
{
	for (; *s && !m->rc; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n' || c == '\r' || c == '\t')
			put_char(m, ' ');
		else if (c < 0x20 || c == 0x7f)
			continue;
		else if (strchr("\\`*_[]<>|~!&$@#", c)) {
			put_char(m, '\\');
			put_char(m, (char)c);
		} else {
			put_char(m, (char)c);
		}
	}
}

/* A code span holding `s` exactly: its fence is one backtick longer than the longest run
 * inside, and a space pads content that starts or ends with a backtick or a space. Not for
 * table cells, where '|' would still split the cell. */
static void put_code(md_out *m, const char *s)
{
	size_t longest = 0, run = 0, len = strlen(s);
	for (const char *p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		longest = run > longest ? run : longest;
	}
	int pad = len && (s[0] == '`' || s[0] == ' ' || s[len - 1] == '`' || s[len - 1] == ' ');
	for (size_t i = 0; i <= longest; i++)
		put_char(m, '`');
	if (pad)
		put_char(m, ' ');
	for (const char *p = s; *p; p++)
		put_char(m, *p == '\n' || *p == '\r' ? ' ' : *p);
	if (pad)
		put_char(m, ' ');
	for (size_t i = 0; i <= longest; i++)
		put_char(m, '`');
}

/* A key as a code span; an empty key, or one with control characters, as its JSON string. */
static void put_key(md_out *m, const char *key)
{
	int plain = *key != '\0';
	for (const char *p = key; *p; p++)
		if ((unsigned char)*p < 0x20)
			plain = 0;
	if (plain) {
		put_code(m, key);
		return;
	}
	json_t *str = json_string(key);
	if (!str) {
		m->rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		return;
	}
	umap_buf_clear(&m->scratch);
	if (!m->rc)
		m->rc = umap_diff_describe_value(&m->scratch, str);
	json_decref(str);
	if (!m->rc)
		put_code(m, m->scratch.ptr);
}

/* A value in the text format's words (compact JSON, cut at 60 bytes) as a code span. */
static void put_value(md_out *m, const json_t *value)
{
	umap_buf_clear(&m->scratch);
	if (!m->rc)
		m->rc = umap_diff_describe_value(&m->scratch, value);
	if (!m->rc)
		put_code(m, m->scratch.ptr);
}

static void put_count(md_out *m, const char *fmt, size_t n)
{
	if (!m->rc)
		m->rc = umap_buf_printf(m->buf, fmt, n);
}

static void put_layer_label(md_out *m, const umap_diff_layer *l)
{
	if (l->name)
		put_text(m, l->name);
	else if (l->id)
		put_text(m, l->id);
	else if (!m->rc)
		m->rc = umap_buf_printf(m->buf, "\\#%ld", l->position + 1);
}

static void put_layer_table(md_out *m, const umap_diff *diff)
{
	put(m, "| Layer | Added | Removed | Modified |\n| :--- | ---: | ---: | ---: |\n");
	for (size_t i = 0; i < diff->nlayers && !m->rc; i++) {
		const umap_diff_layer *l = &diff->layers[i];
		if (!umap_diff_layer_changed(l))
			continue;
		put(m, "| ");
		put_layer_label(m, l);
		if (l->kind == UMAP_CHANGE_MODIFIED)
			put_count(m, l->nkeys == 1 ? " (%zu option changed)" : " (%zu options changed)",
				  l->nkeys);
		else if (l->kind != UMAP_CHANGE_NONE) {
			put(m, " (layer ");
			put(m, umap_change_name(l->kind));
			put(m, ")");
		}
		if (!m->rc)
			m->rc = umap_buf_printf(m->buf, " | %zu | %zu | %zu |\n", l->added, l->removed,
						l->modified);
	}
}

/* "  - `key`: `old` → `new`", "added `new`", "removed `old`" */
static void put_key_change(md_out *m, const umap_key_change *k)
{
	put(m, "  - ");
	put_key(m, k->key);
	put(m, ": ");
	if (k->old_value && k->new_value) {
		put_value(m, k->old_value);
		put(m, " \xe2\x86\x92 ");
		put_value(m, k->new_value);
	} else if (k->new_value) {
		put(m, "added ");
		put_value(m, k->new_value);
	} else {
		put(m, "removed ");
		put_value(m, k->old_value);
	}
	put(m, "\n");
}

static void put_feature(md_out *m, const umap_diff *diff, const umap_feature_change *c)
{
	const json_t *f = c->new_feature ? c->new_feature : c->old_feature;
	put(m, "- **");
	put(m, umap_change_name(c->kind));
	put(m, "** ");
	if (c->id) {
		char *shown = umap_id_display(c->id);
		if (!shown) {
			m->rc = umap_error_set(UMAP_ENOMEM, "out of memory");
			return;
		}
		put_code(m, shown);
		free(shown);
	} else {
		put(m, "(no id)");
	}
	const json_t *props = json_object_get(f, "properties");
	const json_t *name = json_is_object(props) ? json_object_get(props, "name") : NULL;
	if (json_is_string(name)) {
		umap_buf_clear(&m->scratch);
		if (!m->rc)
			m->rc = umap_diff_describe_value(&m->scratch, name);
		put(m, " ");
		if (!m->rc)
			put_text(m, m->scratch.ptr);
	}
	if (diff->nlayers > 1) {
		put(m, " in layer ");
		put_layer_label(m, &diff->layers[c->layer]);
	}
	put(m, "\n");
	if (c->kind == UMAP_CHANGE_MODIFIED) {
		for (size_t i = 0; i < c->nkeys; i++)
			put_key_change(m, &c->keys[i]);
		if (c->geometry_changed) {
			put(m, "  - geometry: ");
			umap_buf_clear(&m->scratch);
			if (!m->rc)
				m->rc = umap_diff_describe_geometry_change(
					&m->scratch, json_object_get(c->old_feature, "geometry"),
					json_object_get(c->new_feature, "geometry"));
			if (!m->rc)
				put_text(m, m->scratch.ptr);
			put(m, "\n");
		}
		return;
	}
	const char *key;
	json_t *v;
	if (json_is_object(props))
		json_object_foreach((json_t *)props, key, v) {
			put(m, "  - ");
			put_key(m, key);
			put(m, ": ");
			put_value(m, v);
			put(m, "\n");
		}
	put(m, "  - geometry: ");
	umap_buf_clear(&m->scratch);
	if (!m->rc)
		m->rc = umap_diff_describe_geometry(&m->scratch, json_object_get(f, "geometry"));
	if (!m->rc)
		put_text(m, m->scratch.ptr);
	put(m, "\n");
}

int umap_diff_format_markdown(umap_buf *out, const umap_diff *diff, size_t max_features)
{
	md_out m = { out, UMAP_BUF_INIT, 0 };
	const umap_diff_summary *s = &diff->summary;
	if (!umap_diff_has_changes(diff)) {
		put(&m, "**umapsync diff**: no change\n");
		return m.rc;
	}
	if (!m.rc)
		m.rc = umap_buf_printf(out, "**umapsync diff**: %zu added, %zu removed, %zu modified, "
					    "%zu unchanged\n\n",
				       s->added, s->removed, s->modified, s->unchanged);
	if (diff->nmap_keys) {
		put(&m, "Map options changed:");
		for (size_t i = 0; i < diff->nmap_keys; i++) {
			put(&m, i ? ", " : " ");
			put_key(&m, diff->map_keys[i].key);
		}
		put(&m, "\n\n");
	}
	if (diff->nrenames) {
		put(&m, "Files renamed:");
		for (size_t i = 0; i < diff->nrenames; i++) {
			put(&m, i ? ", " : " ");
			put_key(&m, diff->renames[i].from);
			put(&m, " \xe2\x86\x92 ");
			put_key(&m, diff->renames[i].to);
		}
		put(&m, "\n");
	}
	int layers_changed = 0;
	for (size_t i = 0; i < diff->nlayers; i++)
		layers_changed |= umap_diff_layer_changed(&diff->layers[i]);
	/* a rename alone changes no layer: no empty table */
	if (layers_changed || diff->nmap_keys) {
		if (diff->nrenames)
			put(&m, "\n");
		put_layer_table(&m, diff);
	}
	size_t shown = 0;
	for (size_t l = 0, next = 0; l < diff->nlayers && shown < max_features && !m.rc; l++) {
		/* changes are grouped by layer, in layer order, as the text format shows them */
		for (size_t i = next; i < diff->nchanges && !m.rc; i++) {
			if (diff->changes[i].layer != l)
				continue;
			next = i + 1;
			if (shown == max_features)
				break;
			if (!shown++)
				put(&m, "\n");
			put_feature(&m, diff, &diff->changes[i]);
		}
	}
	if (diff->nchanges > shown)
		put_count(&m, diff->nchanges - shown == 1 ? "\nand %zu more changed feature\n"
							   : "\nand %zu more changed features\n",
			  diff->nchanges - shown);
	umap_buf_dispose(&m.scratch);
	return m.rc;
}
