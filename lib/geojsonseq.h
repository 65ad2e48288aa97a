/* GeoJSON Text Sequences (RFC 8142, application/geo+json-seq) out: one record per feature,
 * RS, the feature as compact JSON, LF; written in pieces so that a large export streams. */
#ifndef UMAP_GEOJSONSEQ_H
#define UMAP_GEOJSONSEQ_H

#include "buf.h"
#include "diff.h"
#include "doc.h"

/* Where records go: called with about a megabyte at a time, and with the rest at the end;
 * returns 0 or a negative UMAP_E* after umap_error_set(). */
typedef int (*umap_seq_sink)(void *ctx, const char *data, size_t len);

/* Appends one record for `value` to `out`. */
int umap_geojsonseq_put(umap_buf *out, const json_t *value);
/* Every feature of every layer, in document order (layers and their options are not part of
 * a sequence of features). A feature not parsed yet is built, written and dropped. */
int umap_geojsonseq_write_doc(umap_doc *doc, umap_seq_sink sink, void *ctx);
/* The changed features of `diff --format=geojson`, one record each, into `out`. */
int umap_geojsonseq_write_diff(umap_buf *out, const umap_diff *diff);

#endif
