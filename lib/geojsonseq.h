/* GeoJSON Text Sequences (RFC 8142, application/geo+json-seq) and newline-delimited GeoJSON:
 * telling them from a document, reading them as the FeatureCollection they hold, and writing
 * one record per feature (RS, compact JSON, LF) in pieces so that a large export streams. */
#ifndef UMAP_GEOJSONSEQ_H
#define UMAP_GEOJSONSEQ_H

#include <jansson.h>

#include "buf.h"

/* Declared in doc.h and diff.h; named here so that validate.h can include this header. */
struct umap_doc;
struct umap_doc_options;
struct umap_diff;

typedef enum umap_seq_kind {
	UMAP_SEQ_NONE = 0, /* one GeoJSON document */
	UMAP_SEQ_RS,       /* RFC 8142: each record starts with RS (0x1E) */
	UMAP_SEQ_LINES,    /* newline-delimited: one object per line */
} umap_seq_kind;

/* What a file named `name` holds, by its extension alone: .geojsons, .geojsonseq: RS;
 * .geojsonl, .ndjson, .jsonl: lines. */
umap_seq_kind umap_seq_kind_of_name(const char *name);
/* What a text holds, by its first bytes: RS, or a first line that is a whole JSON object
 * followed by another line starting with '{' (a FeatureCollection on one line is one
 * document). */
umap_seq_kind umap_seq_kind_of_text(const char *data, size_t len);
/* By the name (NULL: none) first, else by the text: what umap_doc_open goes by. */
umap_seq_kind umap_seq_kind_of(const char *name, const char *data, size_t len);
/* What the file at `path` holds, by its name, else by its first bytes. Standard input ("-")
 * cannot be looked at without being read: UMAP_SEQ_NONE (whoever reads it looks). */
umap_seq_kind umap_seq_sniff(const char *path);

/* Whether s[0..len) is only spaces, tabs and line breaks (an empty record). */
int umap_seq_blank(const char *s, size_t len);

/* The FeatureCollection a stream holds, as JSON text in `out`: a first line of its own,
 * then the file with RS made a comma (or a space) and a comma after each record line, so
 * that every line and column after the first line is the file's own (read it with
 * umap_json_options.header_line). UMAP_EINVALID (message with the file's name) when text
 * comes before the first RS. */
int umap_seq_to_collection(umap_buf *out, const char *data, size_t len, umap_seq_kind kind,
			   const char *source_name);

/* Where records go: called with about a megabyte at a time, and with the rest at the end;
 * returns 0 or a negative UMAP_E* after umap_error_set(). */
typedef int (*umap_seq_sink)(void *ctx, const char *data, size_t len);

/* Appends one record for `value` to `out`. */
int umap_geojsonseq_put(umap_buf *out, const json_t *value);
/* Every feature of every layer, in document order (layers and their options are not part of
 * a sequence of features). A feature not parsed yet is built, written and dropped. */
int umap_geojsonseq_write_doc(struct umap_doc *doc, umap_seq_sink sink, void *ctx);
/* The changed features of `diff --format=geojson`, one record each, into `out`. */
int umap_geojsonseq_write_diff(umap_buf *out, const struct umap_diff *diff);

#endif
