/* Feature diffs by stable id (SPEC §5): the change model, the comparison of two documents,
 * and the text, json, geojson and stat formatters. A revision is just another source of features.
 *
 * Two ways to fill a umap_diff: umap_diff_docs() compares two documents (files), matching
 * layers and features itself; callers that find changed features on their own (the
 * repository walks two git trees and skips equal subtrees by OID) declare layers with
 * umap_diff_add_layer() and hand over each changed pair with umap_diff_add_feature(). */
#ifndef UMAP_DIFF_H
#define UMAP_DIFF_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "doc.h"
#include "json.h"

typedef enum umap_change_kind {
	UMAP_CHANGE_NONE = 0,
	UMAP_CHANGE_ADDED,
	UMAP_CHANGE_REMOVED,
	UMAP_CHANGE_MODIFIED,
} umap_change_kind;

/* "added", "removed", "modified" (and "unchanged" for NONE). */
const char *umap_change_name(umap_change_kind kind);

/* One changed key of a properties object (a feature's, a layer's options, the map's). */
typedef struct umap_key_change {
	char *key;
	json_t *old_value; /* NULL: the key was added */
	json_t *new_value; /* NULL: the key was removed */
} umap_key_change;

typedef struct umap_feature_change {
	umap_change_kind kind;
	size_t layer;             /* index into umap_diff.layers */
	char *id;                 /* compact JSON text ("\"Rk3Qa\"", "42"); NULL without id */
	json_t *old_feature;      /* removed, modified: the whole old feature (a reference) */
	json_t *new_feature;      /* added, modified */
	size_t nkeys;             /* modified: the changed property keys, in the new order, */
	umap_key_change *keys;    /* then the removed ones in the old order */
	int geometry_changed;     /* modified: compare old_feature/new_feature "geometry" */
	umap_pos old_pos, new_pos; /* where the feature is in each source (line 0: unknown) */
} umap_feature_change;

typedef struct umap_diff_layer {
	char *id;                 /* layer id, NULL when none */
	long position;            /* position in the new document (old for removed layers) */
	char *name;               /* options "name" for display, NULL when none */
	umap_change_kind kind;    /* ADDED/REMOVED: whole layer; MODIFIED: options changed */
	json_t *old_options, *new_options; /* references, may be NULL */
	size_t nkeys;             /* MODIFIED: changed option keys */
	umap_key_change *keys;
	size_t added, removed, modified, unchanged; /* feature counts in this layer */
	/* MODIFIED: the layer moved in the group tree (uMap 3.7+): its parent (the parent
	 * layer's id, else its position; JSON null at the top) or its rank among siblings
	 * changed. Old and new are references; both NULL when it did not move. ADDED: its
	 * place (new_parent, new_rank) when known, for the upsert op. */
	json_t *old_parent, *new_parent;
	json_t *old_rank, *new_rank;
} umap_diff_layer;

/* Whether a report shows the layer: it was added, removed, had options or features changed. */
int umap_diff_layer_changed(const umap_diff_layer *layer);

typedef struct umap_diff_summary {
	size_t added, removed, modified, unchanged;
} umap_diff_summary;

typedef struct umap_diff_options {
	unsigned int version;
	const char *const *ignore; /* property (and option) keys to leave out; "geometry" too */
	size_t nignore;
	int precision;             /* >= 0: coordinates compared at this many decimals; -1: exact */
	const char *id_property;   /* --id=PROP: feature ids come from properties.PROP */
	int summary_only;          /* count changes without keeping them (--stat, --quiet) */
	int threads;               /* umap_diff_files: 1 reads the files on one thread; 0: two */
} umap_diff_options;

#define UMAP_DIFF_OPTIONS_VERSION 1
#define UMAP_DIFF_OPTIONS_INIT { UMAP_DIFF_OPTIONS_VERSION, NULL, 0, -1, NULL, 0, 0 }

/* A file of a repository with another path on the new side (umapsync mv): its features
 * are compared as any others, the rename is reported beside them. */
typedef struct umap_diff_rename {
	char *from, *to;
} umap_diff_rename;

typedef struct umap_diff {
	umap_diff_summary summary;
	size_t nlayers;
	umap_diff_layer *layers;
	size_t nchanges;
	umap_feature_change *changes; /* grouped by layer, in the order they were found */
	size_t nmap_keys;             /* map-level options (a .umap's "properties") */
	umap_key_change *map_keys;
	size_t nrenames;              /* files renamed (repositories only) */
	umap_diff_rename *renames;
	void *priv;
} umap_diff;

int umap_diff_new(umap_diff **out, const umap_diff_options *opts);
void umap_diff_free(umap_diff *diff);

/* Compares two documents: layers by id (by position where both have none), features by id;
 * features without id match an identical one (raw bytes, then semantic) or are added/removed.
 * Features whose source bytes are equal are never parsed. */
int umap_diff_docs(umap_diff *diff, umap_doc *old_doc, umap_doc *new_doc);

/* Compares two files ("-" for stdin) as umap_diff_docs does, streaming both (in parallel)
 * into 24 bytes per feature: memory stays far below the size of the files. A feature whose
 * bytes are those of the old file's feature at the same place is not checked again. */
int umap_diff_files(umap_diff *diff, const char *old_path, const char *new_path);

/* How umap_diff_files read its files, for tests and benchmarks: how many second halves of
 * a file another core read for it, and how many of the new file's features were taken as
 * known (the same bytes as the old file's) without being checked again. */
typedef struct umap_diff_reading {
	size_t halves;
	size_t known;
} umap_diff_reading;
void umap_diff_reading_get(const umap_diff *diff, umap_diff_reading *out);

/* Declares a layer and sets *index for umap_diff_add_feature(). `presence` is
 * UMAP_CHANGE_ADDED (only new), UMAP_CHANGE_REMOVED (only old) or UMAP_CHANGE_NONE (in
 * both: its options, either of which may be NULL, are compared per key). */
int umap_diff_add_layer(size_t *index, umap_diff *diff, umap_change_kind presence, const char *id,
		    long position, const json_t *old_options, const json_t *new_options);
/* One feature pair of a layer: old NULL = added, new NULL = removed, both = compared
 * (counted unchanged when equal after --ignore and --precision). Takes no references:
 * the diff keeps its own. Positions may be NULL. */
int umap_diff_add_feature(umap_diff *diff, size_t layer, const json_t *old_feature,
		      const json_t *new_feature, const umap_pos *old_pos, const umap_pos *new_pos);
/* Counts features known to be equal without looking at them (equal hashes or OIDs). */
void umap_diff_add_unchanged(umap_diff *diff, size_t layer, size_t count);
/* Map-level options (a .umap's "properties"), compared per key. */
int umap_diff_map_options(umap_diff *diff, const json_t *old_props, const json_t *new_props);
/* A layer's place in the group tree changed (references taken); the layer becomes
 * MODIFIED. */
int umap_diff_layer_moved(umap_diff *diff, size_t layer, json_t *old_parent, json_t *new_parent,
			  json_t *old_rank, json_t *new_rank);
/* Where an added layer goes (references taken): its group and rank. */
int umap_diff_layer_place(umap_diff *diff, size_t layer, json_t *parent, json_t *rank);
/* The map data of a .umap compared as uMap's ops name it: its options ("properties" or
 * "_umap_options") with every other top-level member but "type" and "layers" as a key,
 * the centre ("geometry") as "center", over an older options.center. New reference; NULL
 * when `doc` is not a map. */
json_t *umap_doc_map_view(const umap_doc *doc);
/* The same of a map's members (without "layers"), as a repository stores them. */
json_t *umap_map_view(const json_t *map);
/* The parent and rank of layer `index` of `doc` as a diff reports them (new references). */
json_t *umap_layer_parent_ref(const umap_doc *doc, size_t index);

/* A file renamed from `from` to `to` (copied). */
int umap_diff_add_rename(umap_diff *diff, const char *from, const char *to);

/* Whether anything differs (features, layers, map options or file names). */
int umap_diff_has_changes(const umap_diff *diff);

/* ---- Formats ----------------------------------------------------------------------- */

/* A block per changed layer/feature: id and name, "old → new" per key, geometry as type,
 * vertex count and how far its bbox moved. ANSI colour when `color`. */
int umap_diff_format_text(umap_buf *out, const umap_diff *diff, int color);
/* Counts per layer and in total. */
int umap_diff_format_stat(umap_buf *out, const umap_diff *diff);
/* SPEC §5 json: {"summary","layers","features"} (plus "map" when map options changed, and
 * "files": [{"path","renamed_from"}] when files were renamed). */
int umap_diff_to_json(json_t **out, const umap_diff *diff);
/* A FeatureCollection of the changed features (new version, old for removals) with
 * properties["umapsync:change"]. */
int umap_diff_to_geojson(json_t **out, const umap_diff *diff);

/* The value used as "layer" in outputs: the layer id, else its position. New reference. */
json_t *umap_diff_layer_ref(const umap_diff_layer *layer);

/* The words of the text format, for other formatters (appended to `out`, no colour): a
 * value as compact JSON cut at 60 bytes with "…"; "Point, 1 vertex" (or "null"); "LineString,
 * 4 → 5 vertices, bbox moved 38 m". */
int umap_diff_describe_value(umap_buf *out, const json_t *value);
int umap_diff_describe_geometry(umap_buf *out, const json_t *geometry);
int umap_diff_describe_geometry_change(umap_buf *out, const json_t *old_geometry,
				       const json_t *new_geometry);
/* A pull-request comment: counts per layer, then up to `max_features` changed features
 * with their key changes, then "and M more" (lib/diff_markdown.c). */
int umap_diff_format_markdown(umap_buf *out, const umap_diff *diff, size_t max_features);

/* Geometry summary helpers, shared with other formatters. */
size_t umap_geometry_vertices(const json_t *geometry);
/* How far the bbox moved, in metres (the larger shift of its two corners); -1 if unknown. */
double umap_geometry_bbox_shift(const json_t *old_geometry, const json_t *new_geometry);

#endif
