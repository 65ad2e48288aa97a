/* uMap realtime operations (SPEC §5 --format=ops, §8 sync): the messages uMap's peers send
 * each other, {"verb","subject","metadata","key","value","oldValue"}, built from a diff. */
#ifndef UMAP_OPS_H
#define UMAP_OPS_H

#include <jansson.h>

#include "buf.h"
#include "diff.h"

/* uMap's feature class for a geometry: "marker", "polyline", "polygon"; NULL when none. */
const char *umap_op_feature_type(const json_t *feature);

/* One message. `metadata` is stolen; `key` may be NULL (upsert, delete); `value` and
 * `old_value` are borrowed and may be NULL: a NULL one is left out, as JSON.stringify
 * leaves out undefined (an added key has no oldValue, a removed key no value). */
json_t *umap_op_new(const char *verb, const char *subject, json_t *metadata, const char *key,
		    const json_t *value, const json_t *old_value);
/* {"id","layerId","featureType"} of a feature (ids as JSON values, null when none). */
json_t *umap_op_feature_metadata(const json_t *feature, const char *layer_id,
				 const char *id_property);

/* The upsert op of a new feature of layer `layer_json` (its id as a JSON string) from the
 * feature's blob bytes (compact canonical JSON: lib/repo.h), appended to `out` as
 * umap_json_write writes umap_op_new("upsert", "feature", its metadata, NULL, feature, NULL)
 * but without the closing brace, for the caller to add "op_id" and "hlc". The bytes are
 * spliced as "value" when they are what the parsed feature is written as (what a tree would
 * print otherwise, -0 or a number of 16 digits or more, or an escape, makes it parse them).
 * UMAP_OP_REFUSED (no message) when the op would not pass the sync checks (no id, an id sync
 * refuses, not a GeoJSON Feature): made from a diff, the same feature gets its message. */
#define UMAP_OP_REFUSED 1
int umap_op_feature_upsert_text(umap_buf *out, const char *layer_json, const char *json, size_t len);

/* The messages that replay `diff`, in order: map option updates; then per layer: a new
 * layer's upsert, option updates, feature upserts/updates/deletes, a removed layer's delete.
 * A modified feature gives one update per changed key ("properties.KEY") and one for
 * "geometry"; datalayer options are "properties.KEY" (and "parentId", "rank"), map options "properties.KEY". */
/* No op has a null layer id: a changed layer without id takes `layer_id` (NULL: none), which
 * names one layer; more than one changed layer without id, or one and no `layer_id`, is
 * UMAP_EINVALID saying so. */
int umap_ops_from_diff(json_t **out, const umap_diff *diff, const char *id_property,
		       const char *layer_id);

#endif
