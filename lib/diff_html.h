/* diff --format=html: one self-contained page that shows a feature diff on a Leaflet map and
 * opens offline (Leaflet inlined from Debian's libjs-leaflet, the changes as JSON data). */
#ifndef UMAP_DIFF_HTML_H
#define UMAP_DIFF_HTML_H

#include "buf.h"
#include "diff.h"

/* Where Debian's libjs-leaflet installs Leaflet. */
#define UMAP_LEAFLET_DIR "/usr/share/javascript/leaflet"

typedef struct umap_diff_html_options {
	unsigned int version;
	const char *title;       /* the page's heading and title ("a.geojson → b.geojson") */
	const char *leaflet_dir; /* holds leaflet.min.js (or leaflet.js) and leaflet.css;
				  * NULL: $UMAPSYNC_LEAFLET_DIR, else UMAP_LEAFLET_DIR */
} umap_diff_html_options;

#define UMAP_DIFF_HTML_OPTIONS_VERSION 1
#define UMAP_DIFF_HTML_OPTIONS_INIT { UMAP_DIFF_HTML_OPTIONS_VERSION, NULL, NULL }

/* Appends the page to `out`: a side list of the changes with the summary counts and the
 * changed layers, a map with added features green, removed red, modified orange (the old
 * geometry dashed), a popup per feature with each key old → new. Only changed features are
 * in the page. Text from the data is JSON in a <script type="application/json"> with '<',
 * '>' and '&' escaped, and the page's script shows it with textContent only; a
 * Content-Security-Policy allows no script but the page's own two. UMAP_ENOTFOUND when
 * Leaflet is not installed. */
int umap_diff_format_html(umap_buf *out, const umap_diff *diff,
			  const umap_diff_html_options *opts);

/* The same page for the conflicts of a stopped merge: `conflicted` is what
 * `conflicts --format=geojson` prints (features with properties["umapsync:conflicts"]); each
 * is drawn purple with a popup giving base, ours and theirs per conflicting key. */
int umap_conflicts_format_html(umap_buf *out, const json_t *conflicted,
			       const umap_diff_html_options *opts);

#endif
