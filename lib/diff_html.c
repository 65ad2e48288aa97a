/* diff --format=html: one self-contained page showing a feature diff on a Leaflet map,
 * readable offline; see diff_html.h for what the page holds and how data stays text. */
#include "diff_html.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "json.h"
#include "sha256.h"

#define LEAFLET_MAX_SIZE (8u << 20)

/* Leaflet is BSD-2-Clause: its copyright is in its own header, its licence goes with it. */
static const char leaflet_licence[] =
	"<!-- Leaflet (https://leafletjs.com), inlined below from Debian's libjs-leaflet.\n"
	"Copyright (c) 2010-2019, Vladimir Agafonkin. Copyright (c) 2010-2011, CloudMade.\n"
	"All rights reserved. Redistribution and use in source and binary forms, with or without\n"
	"modification, are permitted provided that the following conditions are met:\n"
	"1. Redistributions of source code must retain the above copyright notice, this list of\n"
	"conditions and the following disclaimer.\n"
	"2. Redistributions in binary form must reproduce the above copyright notice, this list\n"
	"of conditions and the following disclaimer in the documentation and/or other materials\n"
	"provided with the distribution.\n"
	"THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS \"AS IS\" AND ANY\n"
	"EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF\n"
	"MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL\n"
	"THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,\n"
	"SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT\n"
	"OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION)\n"
	"HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR\n"
	"TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS\n"
	"SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE. -->\n";

static const char page_css[] =
	"html, body { margin: 0; height: 100%; font: 14px/1.4 system-ui, sans-serif; color: #222; }\n"
	"body { display: flex; }\n"
	"#side { width: 340px; overflow: auto; padding: 10px 12px; box-sizing: border-box; border-right: 1px solid #ccc; background: #fafafa; }\n"
	"#map { flex: 1; height: 100%; background: #e8e8e8; }\n"
	"h1 { font-size: 16px; margin: 0 0 6px; word-break: break-all; }\n"
	"#summary { margin: 0 0 8px; }\n"
	"table { border-collapse: collapse; margin-bottom: 8px; }\n"
	"td, th { padding: 1px 6px; text-align: right; }\n"
	"td:first-child, th:first-child { text-align: left; }\n"
	"#list { list-style: none; margin: 0; padding: 0; }\n"
	"#list li { padding: 3px 4px; cursor: pointer; border-radius: 3px; word-break: break-word; }\n"
	"#list li:hover, #list li:focus { background: #e4ecf7; outline: none; }\n"
	".swatch { display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 6px; }\n"
	".added { color: #1a7f37; } .removed { color: #c62828; } .modified { color: #b35c00; } .conflict { color: #7b3294; }\n"
	".popup table { margin: 4px 0 0; } .popup td { text-align: left; vertical-align: top; }\n"
	".popup .old { color: #c62828; } .popup .new { color: #1a7f37; }\n"
	".popup .side { color: #666; } .popup .ours { color: #1f5fa8; } .popup .theirs { color: #7b3294; }\n"
	"#legend { margin: 0 0 8px; color: #555; } #legend .old { color: #6b3a00; text-decoration: underline dashed; }\n";

static const char page_body[] =
	"</head>\n<body>\n"
	"<div id=\"side\"><h1 id=\"title\"></h1><p id=\"summary\"></p><table id=\"layers\"></table>"
	"<p id=\"legend\"></p>"
	"<ol id=\"list\"></ol></div>\n"
	"<div id=\"map\"></div>\n";

/* Reads the data, draws the map and fills the side list, with textContent only. */
static const char page_js[] =
	"(function () {\n"
	"  'use strict';\n"
	"  var data = JSON.parse(document.getElementById('umapsync-diff').textContent);\n"
	"  var COLORS = { added: '#1a9641', removed: '#d7191c', modified: '#f28e00', conflict: '#7b3294' };\n"
	"  // The old geometry of a modified feature: dashed, darker, above the new one.\n"
	"  var OLD = '#6b3a00';\n"
	"  function el(tag, cls, text) {\n"
	"    var e = document.createElement(tag);\n"
	"    if (cls) e.className = cls;\n"
	"    if (text !== undefined && text !== null) e.textContent = text;\n"
	"    return e;\n"
	"  }\n"
	"  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }\n"
	"  document.title = data.title;\n"
	"  document.getElementById('title').textContent = data.title;\n"

	"  document.getElementById('summary').textContent = data.summary_text;\n"
	"  var legend = document.getElementById('legend');\n"
	"  (data.conflicts ? ['conflict'] : ['added', 'removed', 'modified']).forEach(function (kind, i) {\n"
	"    if (i) legend.appendChild(document.createTextNode(' \\u00b7 '));\n"
	"    legend.appendChild(el('span', kind, kind === 'conflict' ? 'in conflict' : kind));\n"
	"  });\n"
	"  if (!data.conflicts) {\n"
	"    legend.appendChild(document.createTextNode(', the old geometry '));\n"
	"    legend.appendChild(el('span', 'old', 'dashed'));\n"
	"  }\n"
	"\n"
	"  var table = document.getElementById('layers');\n"
	"  if (data.map.length) {\n"
	"    var mrow = el('tr');\n"
	"    mrow.appendChild(el('td', null, 'map options'));\n"
	"    var mcell = el('td', 'modified', plural(data.map.length, 'changed', 'changed'));\n"
	"    mcell.colSpan = 3;\n"
	"    mrow.appendChild(mcell);\n"
	"    table.appendChild(mrow);\n"
	"  }\n"
	"  data.layers.forEach(function (l) {\n"
	"    var row = el('tr');\n"
	"    var label = l.label + (l.kind === 'unchanged' ? '' : l.kind === 'modified' ?\n"
	"      ' (' + plural(l.options, 'option', 'options') + ' changed)' : ' (layer ' + l.kind + ')');\n"
	"    row.appendChild(el('td', null, label));\n"
	"    row.appendChild(el('td', 'added', '+' + l.added));\n"
	"    row.appendChild(el('td', 'removed', '-' + l.removed));\n"
	"    row.appendChild(el('td', 'modified', '~' + l.modified));\n"
	"    table.appendChild(row);\n"
	"  });\n"
	"\n"
	"  var map = L.map('map', { zoomSnap: 0.25 });\n"
	"  L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', {\n"
	"    maxZoom: 19,\n"
	"    attribution: '&copy; <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a> contributors'\n"
	"  }).addTo(map);\n"
	"\n"
	"  function describe(f) {\n"
	"    return f.kind + ' ' + (f.id === null ? '(no id)' : f.id) + (f.name === null ? '' : ' ' + f.name) +\n"
	"      (f.layer === null ? '' : (data.conflicts ? ' in ' : ' in layer ') + f.layer);\n"
	"  }\n"
	"  function popup(f) {\n"
	"    var box = el('div', 'popup');\n"
	"    box.appendChild(el('strong', f.kind, describe(f)));\n"
	"    var t = el('table');\n"
	"    f.keys.forEach(function (k) {\n"
	"      var row = el('tr');\n"
	"      var cell = el('td');\n"
	"      if (f.kind === 'conflict') {\n"
	"        // [key, kind, base, ours, theirs]: the three sides, one per line\n"
	"        row.appendChild(el('td', null, k[0] + ' (' + k[1] + ')'));\n"
	"        ['base', 'ours', 'theirs'].forEach(function (side, j) {\n"
	"          var line = el('div');\n"
	"          line.appendChild(el('span', 'side', side + ': '));\n"
	"          line.appendChild(el('span', side, k[j + 2] === null ? '(none)' : k[j + 2]));\n"
	"          cell.appendChild(line);\n"
	"        });\n"
	"        row.appendChild(cell);\n"
	"        t.appendChild(row);\n"
	"        return;\n"
	"      }\n"
	"      row.appendChild(el('td', null, k[0]));\n"
	"      if (k[1] !== null) cell.appendChild(el('span', 'old', k[1]));\n"
	"      if (k[1] !== null && k[2] !== null) cell.appendChild(document.createTextNode(' \\u2192 '));\n"
	"      if (k[2] !== null) cell.appendChild(el('span', 'new', k[2]));\n"
	"      if (f.kind === 'modified' && (k[1] === null || k[2] === null))\n"
	"        cell.appendChild(document.createTextNode(k[1] === null ? ' (added)' : ' (removed)'));\n"
	"      row.appendChild(cell);\n"
	"      t.appendChild(row);\n"
	"    });\n"
	"    if (f.geometry_text !== null) {\n"
	"      var grow = el('tr');\n"
	"      grow.appendChild(el('td', null, 'geometry'));\n"
	"      grow.appendChild(el('td', null, f.geometry_text));\n"
	"      t.appendChild(grow);\n"
	"    }\n"
	"    box.appendChild(t);\n"
	"    return box;\n"
	"  }\n"
	"  function draw(geometry, color, dashed) {\n"
	"    return L.geoJSON(geometry, {\n"
	"      style: function (feature) {\n"
	"        var type = feature.geometry.type;\n"
	"        if (type === 'Point' || type === 'MultiPoint') return {};\n"
	"        return { color: dashed ? OLD : color, weight: dashed ? 2.5 : 5, opacity: 0.95,\n"
	"          dashArray: dashed ? '5 7' : null, fillColor: color, fillOpacity: dashed ? 0 : 0.3 };\n"
	"      },\n"
	"      pointToLayer: function (feature, latlng) {\n"
	"        return L.circleMarker(latlng, { radius: 8, color: dashed ? OLD : '#fff',\n"
	"          weight: 2, dashArray: dashed ? '3 3' : null, fillColor: color,\n"
	"          fillOpacity: dashed ? 0 : 0.95 });\n"
	"      }\n"
	"    });\n"
	"  }\n"
	"\n"
	"  var all = L.featureGroup().addTo(map);\n"
	"  var list = document.getElementById('list');\n"
	"  var shows = [];\n"
	"  data.features.forEach(function (f, i) {\n"
	"    var color = COLORS[f.kind];\n"
	"    var group = L.featureGroup();\n"
	"    // A geometry Leaflet cannot read is listed, not drawn: one bad feature keeps the page.\n"
	"    try {\n"
	"      if (f.geometry) draw(f.geometry, color, false).addTo(group);\n"
	"      if (f.old_geometry) draw(f.old_geometry, color, true).addTo(group);\n"
	"    } catch (e) {\n"
	"      group.clearLayers();\n"
	"    }\n"
	"    group.bindPopup(popup(f), { maxWidth: 420 });\n"
	"    group.addTo(all);\n"
	"    var item = el('li');\n"
	"    item.tabIndex = 0;\n"
	"    item.id = 'change-' + i;\n"
	"    var swatch = el('span', 'swatch');\n"
	"    swatch.style.background = color;\n"
	"    item.appendChild(swatch);\n"
	"    item.appendChild(el('span', f.kind, describe(f)));\n"
	"    function show() {\n"
	"      var b = group.getBounds();\n"
	"      if (b.isValid()) map.fitBounds(b, { maxZoom: 18, padding: [40, 40] });\n"
	"      group.openPopup(b.isValid() ? b.getCenter() : undefined);\n"
	"    }\n"
	"    shows.push(show);\n"
	"    item.addEventListener('click', show);\n"
	"    item.addEventListener('keydown', function (e) { if (e.key === 'Enter') show(); });\n"
	"    list.appendChild(item);\n"
	"  });\n"
	"  var bounds = all.getBounds();\n"
	"  if (bounds.isValid()) map.fitBounds(bounds, { maxZoom: 17, padding: [30, 30] });\n"
	"  else map.setView([0, 0], 1);\n"
	"  // Where each change is drawn, for tests that look at the screenshot.\n"
	"  data.features.forEach(function (f, i) {\n"
	"    var g = f.geometry || f.old_geometry;\n"
	"    if (!g || g.type !== 'Point') return;\n"
	"    var p = map.latLngToContainerPoint([g.coordinates[1], g.coordinates[0]]);\n"
	"    var r = document.getElementById('map').getBoundingClientRect();\n"
	"    var item = document.getElementById('change-' + i);\n"
	"    item.setAttribute('data-x', Math.round(p.x + r.left));\n"
	"    item.setAttribute('data-y', Math.round(p.y + r.top));\n"
	"  });\n"
	"  // #change-N opens that change, so that a link can point at it.\n"
	"  var wanted = /^#change-([0-9]+)$/.exec(location.hash);\n"
	"  if (wanted && shows[Number(wanted[1])]) shows[Number(wanted[1])]();\n"
	"  document.body.setAttribute('data-viewport', innerWidth + 'x' + innerHeight);\n"
	"  document.body.setAttribute('data-umapsync-ready', String(data.features.length));\n"
	"})();\n";

typedef struct html_out {
	umap_buf *buf;
	umap_buf scratch;
	int rc;
} html_out;

static void put(html_out *h, const char *s)
{
	if (!h->rc)
		h->rc = umap_buf_puts(h->buf, s);
}

static void put_n(html_out *h, const char *s, size_t len)
{
	if (!h->rc)
		h->rc = umap_buf_put(h->buf, s, len);
}

static int nomem(void)
{
	return umap_error_set(UMAP_ENOMEM, "out of memory");
}

/* A Content-Security-Policy source for a script element's exact text: 'sha256-BASE64'. */
static void put_script_hash(html_out *h, const char *text, size_t len)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (h->rc)
		return;
	unsigned char d[UMAP_SHA256_SIZE];
	char enc[4 * ((UMAP_SHA256_SIZE + 2) / 3) + 1], *e = enc;
	umap_sha256_digest(d, text, len);
	for (size_t i = 0; i < UMAP_SHA256_SIZE; i += 3) {
		unsigned v = (unsigned)d[i] << 16;
		v |= i + 1 < UMAP_SHA256_SIZE ? (unsigned)d[i + 1] << 8 : 0;
		v |= i + 2 < UMAP_SHA256_SIZE ? d[i + 2] : 0;
		*e++ = b64[(v >> 18) & 63];
		*e++ = b64[(v >> 12) & 63];
		*e++ = i + 1 < UMAP_SHA256_SIZE ? b64[(v >> 6) & 63] : '=';
		*e++ = i + 2 < UMAP_SHA256_SIZE ? b64[v & 63] : '=';
	}
	*e = '\0';
	put(h, " 'sha256-");
	put(h, enc);
	put(h, "'");
}

/* Whether `text` holds `needle`, ASCII case ignored (the HTML tokenizer's view of "</script"). */
static int contains_nocase(const char *text, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (!strncasecmp(text + i, needle, n))
			return 1;
	return 0;
}

/* Leaflet's script and stylesheet from `dir`, the script without its source-map comment (the
 * map file is not in the page). */
static int read_leaflet(umap_buf *js, umap_buf *css, const char *dir)
{
	char path[4096];
	int rc = 0;
	snprintf(path, sizeof(path), "%s/leaflet.min.js", dir);
	if (umap_file_read(js, path, LEAFLET_MAX_SIZE) == UMAP_ENOTFOUND) {
		snprintf(path, sizeof(path), "%s/leaflet.js", dir);
		rc = umap_file_read(js, path, LEAFLET_MAX_SIZE);
	}
	if (!rc) {
		snprintf(path, sizeof(path), "%s/leaflet.css", dir);
		rc = umap_file_read(css, path, LEAFLET_MAX_SIZE);
	}
	if (rc == UMAP_ENOTFOUND)
		return umap_error_set(rc, "the HTML format needs Leaflet, not found in %s: install "
					  "Debian's libjs-leaflet (or set UMAPSYNC_LEAFLET_DIR)", dir);
	if (rc)
		return rc;
	const char *map = js->len ? strstr(js->ptr, "\n//# sourceMappingURL=") : NULL;
	if (map)
		js->len = (size_t)(map - js->ptr) + 1;
	map = css->len ? strstr(css->ptr, "/*# sourceMappingURL=") : NULL;
	if (map)
		css->len = (size_t)(map - css->ptr);
	if (contains_nocase(js->ptr, js->len, "</script") || contains_nocase(js->ptr, js->len, "<!--") ||
	    contains_nocase(css->ptr, css->len, "</style"))
		return umap_error_set(UMAP_EINVALID, "cannot inline Leaflet from %s: it holds an end "
						     "tag", dir);
	return 0;
}

/* ---- the data ------------------------------------------------------------------------ */

static int set_new(json_t *obj, const char *key, json_t *value)
{
	return value ? json_object_set_new(obj, key, value) : -1;
}

/* A value in the text format's words, or JSON null for no value. */
static json_t *value_text(html_out *h, const json_t *value)
{
	if (!value)
		return json_null();
	umap_buf_clear(&h->scratch);
	if (umap_diff_describe_value(&h->scratch, value))
		return NULL;
	return json_stringn_nocheck(h->scratch.ptr, h->scratch.len);
}

static json_t *key_row(html_out *h, const char *key, const json_t *old_value,
		       const json_t *new_value)
{
	json_t *row = json_array();
	if (!row || json_array_append_new(row, json_string_nocheck(key)) ||
	    json_array_append_new(row, value_text(h, old_value)) ||
	    json_array_append_new(row, value_text(h, new_value))) {
		json_decref(row);
		return NULL;
	}
	return row;
}

static json_t *key_rows(html_out *h, const umap_key_change *keys, size_t n)
{
	json_t *rows = json_array();
	for (size_t i = 0; rows && i < n; i++)
		if (json_array_append_new(rows, key_row(h, keys[i].key, keys[i].old_value,
							 keys[i].new_value))) {
			json_decref(rows);
			return NULL;
		}
	return rows;
}

static json_t *layer_label(const umap_diff_layer *l)
{
	if (l->name)
		return json_string_nocheck(l->name);
	if (l->id)
		return json_string_nocheck(l->id);
	char num[32];
	snprintf(num, sizeof(num), "#%ld", l->position + 1);
	return json_string(num);
}

static json_t *geometry_text(html_out *h, const umap_feature_change *c)
{
	umap_buf_clear(&h->scratch);
	int rc;
	if (c->kind == UMAP_CHANGE_MODIFIED) {
		if (!c->geometry_changed)
			return json_null();
		rc = umap_diff_describe_geometry_change(&h->scratch,
							json_object_get(c->old_feature, "geometry"),
							json_object_get(c->new_feature, "geometry"));
	} else {
		const json_t *f = c->new_feature ? c->new_feature : c->old_feature;
		rc = umap_diff_describe_geometry(&h->scratch, json_object_get(f, "geometry"));
	}
	return rc ? NULL : json_stringn_nocheck(h->scratch.ptr, h->scratch.len);
}

/* A geometry object to draw, as it is in the data (Leaflet reads GeoJSON), or null. */
static json_t *drawable(const json_t *feature)
{
	json_t *g = json_object_get(feature, "geometry");
	return json_is_object(g) ? json_incref(g) : json_null();
}

static json_t *feature_entry(html_out *h, const umap_diff *diff, const umap_feature_change *c)
{
	const json_t *f = c->new_feature ? c->new_feature : c->old_feature;
	const json_t *props = json_object_get(f, "properties");
	const json_t *name = json_is_object(props) ? json_object_get(props, "name") : NULL;
	json_t *e = json_object();
	json_t *id = json_null();
	if (c->id) {
		char *shown = umap_id_display(c->id);
		id = shown ? json_string_nocheck(shown) : NULL;
		free(shown);
	}
	json_t *keys;
	if (c->kind == UMAP_CHANGE_MODIFIED) {
		keys = key_rows(h, c->keys, c->nkeys);
	} else {
		int added = c->kind == UMAP_CHANGE_ADDED;
		const char *key;
		json_t *v;
		keys = json_array();
		if (keys && json_is_object(props))
			json_object_foreach((json_t *)props, key, v)
				if (json_array_append_new(keys, key_row(h, key, added ? NULL : v,
									 added ? v : NULL))) {
					json_decref(keys);
					keys = NULL;
					break;
				}
	}
	int geometry_moved = c->kind == UMAP_CHANGE_MODIFIED && c->geometry_changed;
	if (!e || set_new(e, "kind", json_string(umap_change_name(c->kind))) || set_new(e, "id", id) ||
	    set_new(e, "name", json_is_string(name) ? json_incref((json_t *)name) : json_null()) ||
	    set_new(e, "layer", diff->nlayers > 1 ? layer_label(&diff->layers[c->layer]) : json_null()) ||
	    set_new(e, "keys", keys) || set_new(e, "geometry_text", geometry_text(h, c)) ||
	    set_new(e, "geometry", drawable(f)) ||
	    set_new(e, "old_geometry", geometry_moved ? drawable(c->old_feature) : json_null())) {
		json_decref(e);
		return NULL;
	}
	return e;
}

static json_t *page_data(html_out *h, const umap_diff *diff, const char *title)
{
	const umap_diff_summary *s = &diff->summary;
	json_t *root = json_object(), *layers = json_array(), *features = json_array();
	int bad = !root || !layers || !features;
	json_t *heading = json_string(title); /* NULL for a file name that is not UTF-8 */
	char counts[160];
	snprintf(counts, sizeof(counts), "%zu added, %zu removed, %zu modified, %zu unchanged",
		 s->added, s->removed, s->modified, s->unchanged);
	bad = bad || set_new(root, "title", heading ? heading : json_string("umapsync diff")) ||
	      set_new(root, "summary_text", json_string(counts)) ||
	      set_new(root, "summary", json_pack("{sIsIsIsI}", "added", (json_int_t)s->added,
						 "removed", (json_int_t)s->removed, "modified",
						 (json_int_t)s->modified, "unchanged",
						 (json_int_t)s->unchanged)) ||
	      set_new(root, "map", key_rows(h, diff->map_keys, diff->nmap_keys));
	for (size_t i = 0; !bad && i < diff->nlayers; i++) {
		const umap_diff_layer *l = &diff->layers[i];
		if (!umap_diff_layer_changed(l))
			continue;
		json_t *entry = json_pack("{sosssIsIsIsI}", "label", layer_label(l), "kind",
					  umap_change_name(l->kind), "options", (json_int_t)l->nkeys,
					  "added", (json_int_t)l->added, "removed",
					  (json_int_t)l->removed, "modified", (json_int_t)l->modified);
		bad = json_array_append_new(layers, entry);
	}
	for (size_t i = 0; !bad && i < diff->nchanges; i++)
		bad = json_array_append_new(features, feature_entry(h, diff, &diff->changes[i]));
	if (!bad)
		bad = json_object_set(root, "layers", layers) ||
		      json_object_set(root, "features", features);
	json_decref(layers);
	json_decref(features);
	if (bad) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* JSON inside <script type="application/json">: '<', '>' and '&' can only be in strings
 * there, and written \u003c, \u003e, \u0026 no end tag or comment can form. */
static void put_data(html_out *h, const char *json, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		const char *esc = json[i] == '<' ? "\\u003c" : json[i] == '>' ? "\\u003e" :
				  json[i] == '&' ? "\\u0026" : NULL;
		if (!esc)
			continue;
		put_n(h, json + start, i - start);
		put(h, esc);
		start = i + 1;
	}
	put_n(h, json + start, len - start);
}

/* The page around `data` (a new reference, or NULL when making it failed: ENOMEM). */
static int write_page(html_out *h, json_t *data, const char *leaflet_dir)
{
	const char *dir = leaflet_dir ? leaflet_dir : getenv("UMAPSYNC_LEAFLET_DIR");
	if (!dir || !*dir)
		dir = UMAP_LEAFLET_DIR;
	umap_buf js = UMAP_BUF_INIT, css = UMAP_BUF_INIT, text = UMAP_BUF_INIT;
	if (!h->rc && !data)
		h->rc = nomem();
	if (!h->rc)
		h->rc = read_leaflet(&js, &css, dir);
	if (!h->rc)
		h->rc = umap_json_write(&text, data, UMAP_JSON_COMPACT);
	put(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	       "img-src https://tile.openstreetmap.org data:; style-src 'unsafe-inline'; script-src");
	put_script_hash(h, js.ptr, js.len);
	put_script_hash(h, page_js, sizeof(page_js) - 1);
	put(h, "\">\n<title>umapsync</title>\n<style>\n");
	put_n(h, css.ptr, css.len);
	put(h, "</style>\n<style>\n");
	put(h, page_css);
	put(h, "</style>\n");
	put(h, page_body);
	put(h, "<script type=\"application/json\" id=\"umapsync-diff\">");
	put_data(h, text.ptr, text.len);
	put(h, "</script>\n");
	put(h, leaflet_licence);
	put(h, "<script>");
	put_n(h, js.ptr, js.len);
	put(h, "</script>\n<script>");
	put(h, page_js);
	put(h, "</script>\n</body>\n</html>\n");
	json_decref(data);
	umap_buf_dispose(&js);
	umap_buf_dispose(&css);
	umap_buf_dispose(&text);
	umap_buf_dispose(&h->scratch);
	return h->rc;
}

int umap_diff_format_html(umap_buf *out, const umap_diff *diff,
			  const umap_diff_html_options *opts)
{
	html_out h = { out, UMAP_BUF_INIT, 0 };
	const char *title = opts && opts->title ? opts->title : "umapsync diff";
	return write_page(&h, page_data(&h, diff, title), opts ? opts->leaflet_dir : NULL);
}

/* ---- conflicts ----------------------------------------------------------------------- */

/* One conflicted feature of `conflicts --format=geojson` as a page entry: its conflicts as
 * rows [key, kind, base, ours, theirs]. */
static json_t *conflict_entry(html_out *h, const json_t *feature)
{
	const json_t *props = json_object_get(feature, "properties");
	const json_t *items = json_is_object(props) ? json_object_get(props, "umapsync:conflicts") : NULL;
	const json_t *name = json_is_object(props) ? json_object_get(props, "name") : NULL;
	const json_t *id = json_object_get(feature, "id");
	json_t *rows = json_array(), *e = json_object(), *shown_id = json_null(), *where = json_null();
	if (json_is_string(id) || json_is_integer(id)) {
		char *text = umap_json_dumps(id, UMAP_JSON_COMPACT);
		char *shown = text ? umap_id_display(text) : NULL;
		shown_id = shown ? json_string(shown) : NULL;
		free(shown);
		free(text);
	}
	size_t i;
	const json_t *c;
	int bad = !rows || !e;
	json_array_foreach(items, i, c) {
		if (bad)
			break;
		const json_t *key = json_object_get(c, "key"), *kind = json_object_get(c, "kind");
		const json_t *path = json_object_get(c, "path");
		if (json_is_null(where) && json_is_string(path)) {
			json_decref(where);
			where = json_incref((json_t *)path);
		}
		json_t *row = json_pack("[sso?o?o?]", json_is_string(key) ? json_string_value(key)
									   : "(the feature)",
					json_is_string(kind) ? json_string_value(kind) : "conflict",
					json_object_get(c, "base") ? value_text(h, json_object_get(c, "base")) : NULL,
					json_object_get(c, "ours") ? value_text(h, json_object_get(c, "ours")) : NULL,
					json_object_get(c, "theirs") ? value_text(h, json_object_get(c, "theirs")) : NULL);
		bad = json_array_append_new(rows, row);
	}
	if (bad) {
		json_decref(rows);
		json_decref(shown_id);
		json_decref(where);
		json_decref(e);
		return NULL;
	}
	/* each of these takes its value, even when it fails */
	int failed = set_new(e, "id", shown_id);
	failed |= set_new(e, "layer", where);
	failed |= set_new(e, "keys", rows);
	if (failed || set_new(e, "kind", json_string("conflict")) ||
	    set_new(e, "name", json_is_string(name) ? json_incref((json_t *)name) : json_null()) ||
	    set_new(e, "geometry_text", json_null()) || set_new(e, "geometry", drawable(feature)) ||
	    set_new(e, "old_geometry", json_null())) {
		json_decref(e);
		return NULL;
	}
	return e;
}

int umap_conflicts_format_html(umap_buf *out, const json_t *conflicted,
			       const umap_diff_html_options *opts)
{
	html_out h = { out, UMAP_BUF_INIT, 0 };
	const char *title = opts && opts->title ? opts->title : "umapsync conflicts";
	const json_t *list = json_object_get(conflicted, "features");
	json_t *root = json_object(), *features = json_array();
	size_t i, count = 0;
	const json_t *f;
	int bad = !root || !features;
	json_array_foreach(list, i, f) {
		if (bad)
			break;
		const json_t *props = json_object_get(f, "properties");
		count += json_array_size(json_object_get(props, "umapsync:conflicts"));
		bad = json_array_append_new(features, conflict_entry(&h, f));
	}
	char counts[120];
	snprintf(counts, sizeof(counts), "%zu conflict%s in %zu feature%s", count,
		 count == 1 ? "" : "s", json_array_size(list), json_array_size(list) == 1 ? "" : "s");
	if (bad || set_new(root, "title", json_string(title)) ||
	    set_new(root, "summary_text", json_string(counts)) ||
	    set_new(root, "conflicts", json_true()) || set_new(root, "map", json_array()) ||
	    set_new(root, "layers", json_array()) || json_object_set(root, "features", features)) {
		json_decref(root);
		root = NULL;
	}
	json_decref(features);
	return write_page(&h, root, opts ? opts->leaflet_dir : NULL);
}
