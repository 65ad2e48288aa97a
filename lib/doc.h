/* Maps and layers as documents (SPEC §2): a .umap map or a GeoJSON FeatureCollection,
 * its layers, their options, and features indexed by id without parsing them all.
 *
 * A document is read in one streaming pass: each feature's raw bytes are located and
 * hashed with xxh3, its id extracted, and its tree built only when someone asks for it.
 * The same type holds documents built in memory (merge results, repository revisions),
 * whose features have trees and no source bytes. */
#ifndef UMAP_DOC_H
#define UMAP_DOC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"

typedef enum umap_doc_kind {
	UMAP_DOC_LAYER = 0, /* a FeatureCollection (.geojson, .json): a map with one layer */
	UMAP_DOC_MAP,       /* a .umap file: map options and several layers */
} umap_doc_kind;

/* Where a feature starts: its line and column (its offset is the feature's). */
typedef struct umap_line_col {
	uint32_t line;
	uint32_t col;
} umap_line_col;

/* 48 bytes: a layer of 1M features keeps 1M of them while it is read and committed. */
typedef struct umap_feature {
	char *id;          /* the id as compact JSON text ("\"Rk3Qa\"", "42"); NULL when none */
	uint64_t hash;     /* xxh3 of the raw source bytes; for in-memory features, of the
			    * canonical form; equal hashes => same feature, unequal => parse and compare */
	size_t offset;     /* span of the feature in the source buffer (0/0 when in memory); */
	uint32_t length;   /* a feature is at most UMAP_FEATURE_MAX_BYTES */
	uint32_t lines;    /* streaming: how many newlines its bytes hold */
	umap_line_col pos; /* where the feature starts in the source (line 0 when in memory) */
	json_t *value;     /* the tree, owned; NULL until umap_doc_feature() builds it */
} umap_feature;

/* The longest feature a document may hold (its bytes in the source). */
#define UMAP_FEATURE_MAX_BYTES ((size_t)UINT32_MAX)

/* A feature's position as a umap_pos (line, column, offset). */
umap_pos umap_feature_pos(const umap_feature *f);

typedef struct umap_layer {
	char *id;                /* layer id (properties.id, else top-level id); NULL when none */
	int id_outside;          /* the id is the repository's, kept in its manifest and not in
				  * the file (uMap's exports drop layer ids: SPEC §2 "Layer
				  * identity"); it is never written into the file */
	json_t *options;         /* the layer's properties/_umap_options object, owned; may be NULL */
	const char *options_key; /* "properties" or "_umap_options": written back as read */
	json_t *members;         /* the FeatureCollection's other top-level members (bbox, name,
				  * crs...), key order kept, without type/features/options; owned */
	size_t nfeatures;
	umap_feature *features;  /* in document order */
	umap_pos pos;            /* where the layer starts in the source */
	size_t parent;           /* uMap 3.7+ group layers: the index in doc->layers of the
				  * layer whose "layers" array holds this one, or UMAP_LAYER_TOP.
				  * Layers are listed depth first: a parent before its children,
				  * siblings in their order (their rank) */
} umap_layer;

#define UMAP_LAYER_TOP SIZE_MAX
/* How deep group layers may nest: deeper nesting is an error, as uMap's own maps never
 * get near it and an untrusted file must not recurse without bound. */
#define UMAP_DOC_MAX_LAYER_DEPTH 16

typedef struct umap_doc {
	umap_doc_kind kind;
	json_t *map;             /* UMAP_DOC_MAP: every top-level member except "layers", in
				  * order (type, uri, properties, geometry...); owned. NULL for a layer */
	size_t nlayers;
	umap_layer *layers;
	char *source_name;       /* for messages */
	/* private: the source bytes (mmap'd file or heap copy) */
	const char *data;
	size_t size;
	void *priv;
	/* how the source laid its JSON out (read from the bytes; a revision's copy gets the
	 * layout recorded for its file); in-memory documents get UMAP_LAYOUT_DEFAULT */
	umap_layout layout;
} umap_doc;

/* Streaming: a feature just read (layer is its index in doc->layers, whose options may not
 * be read yet). It may take feature->id (setting it to NULL); a non-zero return stops the
 * reading with that code. */
typedef int (*umap_feature_fn)(void *data, umap_doc *doc, size_t layer, umap_feature *feature);
/* What a caller knows of the bytes at a feature's start (see umap_known_fn). */
typedef struct umap_known {
	size_t depth;      /* in: the depth of the feature's '{' (2 in a FeatureCollection) */
	size_t index;      /* in: how many features of its layer come before it */
	size_t length;     /* out: how many bytes from feature->offset are known; 0: none */
	size_t features;   /* out: how many features they hold: 1 is this one, whose hash and id
			    * the caller set and which on_feature sees as usual; more were read by
			    * the caller already, and on_feature sees none of them */
	uint32_t lines;    /* out: newlines in those bytes */
	size_t line_start; /* out, with lines: the offset just past the last one */
} umap_known;

/* Streaming: asked before each feature is read (feature->offset and pos set) whether its
 * bytes are known, that is the very bytes of features read and checked before, in the same
 * place of a features array (one feature taken alone must be on one line). The reader skips
 * known bytes without checking them again. The id it sets is lent until the next call. */
typedef int (*umap_known_fn)(void *data, umap_doc *doc, size_t layer, umap_feature *feature,
			     umap_known *known);

typedef struct umap_doc_options {
	unsigned int version;
	const char *id_property;  /* --id=PROP: the id is properties.PROP instead of id */
	int parse_all;            /* build every feature's tree while reading */
	int allow_duplicate_ids;  /* else a duplicate id in a layer fails naming both lines */
	umap_json_options json;
	/* When set, features go to on_feature as they are read and are NOT kept in the layers
	 * (nfeatures stays 0; checking duplicate ids is then the caller's job): for diffs of
	 * files larger than the memory one wants to spend on them. feature->id is lent for
	 * the call: copy it to keep it. */
	umap_feature_fn on_feature;
	void *on_feature_data;
	umap_known_fn known_feature; /* with on_feature, called with on_feature_data */
	/* umap_doc_open: the name that tells a stream from a document (see below) when the
	 * file's own name does not (git's merge driver gets temporary files: their real path) */
	const char *format_name;
} umap_doc_options;

#define UMAP_DOC_OPTIONS_VERSION 1
#define UMAP_DOC_OPTIONS_INIT \
	{ UMAP_DOC_OPTIONS_VERSION, NULL, 0, 0, UMAP_JSON_OPTIONS_INIT, NULL, NULL, NULL, NULL }

/* Reads the features of a FeatureCollection's "features" array in the file at `path`, from
 * `offset` (a feature's '{' after a comma) to the array's end, as umap_doc_open would have,
 * giving them to opts->on_feature as features of layer 0: for a reader that guessed where
 * the second half of a file's features starts, to read it on another core. `known` says
 * what was read (not its depth and index): what the reader of the whole file may be given
 * if it reaches `offset` at depth 2. Fails, without a message worth showing, wherever the
 * guess was wrong. */
int umap_doc_read_features_at(const char *path, size_t offset, const umap_doc_options *opts,
			      umap_known *known);

/* Where the second half of a FeatureCollection's features probably starts in the file at
 * `path`: the offset of the first {"type":"Feature" after the middle that follows a '}'
 * and a comma, for umap_doc_read_features_at. A guess, which the reader of the whole file
 * confirms or ignores (see umap_known); 0 when there is none or the file is under a
 * megabyte, where reading in halves costs more than it saves. */
size_t umap_doc_guess_half(const char *path);

/* A second half of a layer's features that another thread reads (umap_half_read), for the
 * reader of the whole file to take when it gets there (umap_half_take). */
typedef struct umap_half {
	size_t offset;      /* where it begins: a guess (umap_doc_guess_half; 0: none) */
	umap_known known;   /* what its reading read */
	int rc;             /* its reading's: 0 when it can be taken */
	int done;           /* raised through `handoff` once it is read */
	int reached;        /* the whole file's reader got to its offset */
	int taken;          /* and took it, as its features from index taken_at on */
	size_t taken_at;
	struct umap_handoff *handoff;
} umap_half;

/* Reads the half from half->offset (umap_doc_read_features_at), then raises half->done. */
void umap_half_read(umap_half *half, const char *path, const umap_doc_options *opts);
/* For a known_feature hook: when `feature` is where the half begins, between two features
 * of a FeatureCollection, waits for its reading and, if it read features that stay within
 * the feature limit, calls take(data) to move its records over (0 done, > 0 not possible,
 * < 0 an error) and answers with the half in *known. 1 when taken, 0 when not (the reader
 * reads on by itself), or take's error. */
int umap_half_take(umap_half *half, const umap_feature *feature, umap_known *known,
		   int (*take)(void *data), void *data);

/* Records of another reading of a layer (another version of it), which a streaming reader
 * may take features from as known: the caller's, read through `record`. */
typedef struct umap_known_source {
	const void *records;
	size_t n;
	/* Record i: its hash, its length (0: not to be taken, as a feature on several lines
	 * is not) and its id, NUL-terminated (it may be put in `scratch`), or NULL. */
	void (*record)(const void *records, size_t i, uint64_t *hash, size_t *length,
		       const char **id, char scratch[16]);
	long shift;    /* the reading's feature j is record j + shift */
	int aligned;   /* shift was found by id once */
	long tried;    /* the record last compared in vain, or -1 */
	size_t taken;  /* features taken */
	char scratch[16];
} umap_known_source;

#define UMAP_KNOWN_SOURCE_INIT(records, n, record) { records, n, record, 0, 0, -1, 0, "" }

/* For a known_feature hook: takes the feature at feature->offset, the index-th of its
 * layer, as known when as many bytes from there hash as the record at the same place. Equal
 * hashes are equal bytes, as everywhere features are compared by hash. */
void umap_known_take(umap_known_source *source, const umap_doc *doc, size_t index,
		     umap_feature *feature, umap_known *known);
/* After the index-th feature, of id `id` (NULL: none), could not be taken: finds it among
 * the records near where it was looked for, so that the features after one added or
 * removed are looked for in the right place. */
void umap_known_align(umap_known_source *source, size_t index, const char *id);

/* Features in one layer: reading a layer with more fails with UMAP_ELIMIT at the first
 * feature over the limit. Untrusted files cost memory per feature (about 20 times the
 * size of a tiny one), so the default is far below the 2^32 - 2 the index can hold.
 * The process-wide limit applies to every document read after it is set (0: the default);
 * the command line sets it from UMAPSYNC_MAX_FEATURES. */
#define UMAP_DOC_DEFAULT_MAX_FEATURES ((size_t)1000000)
void umap_doc_set_max_features(size_t max);
size_t umap_doc_max_features(void);

/* Reads a file ("-" for stdin). Kind from the content: {"type":"umap"} is a map, a
 * FeatureCollection a layer (a single Feature is a layer of one). Errors say
 * "FILE:LINE:COL: ..." and return UMAP_EINVALID, UMAP_ENOTFOUND, UMAP_EIO or UMAP_ELIMIT. */
int umap_doc_open(umap_doc **out, const char *path, const umap_doc_options *opts);
/* umap_doc_open and umap_doc_from_file_text read GeoJSON Text Sequences (RFC 8142) and
 * newline-delimited GeoJSON (by the name's extension, else by the first bytes: see
 * geojsonseq.h) as the FeatureCollection of their records, with messages at the file's own
 * lines and columns; such a document has layout.seq set, and UMAP_DOC_AS_READ writes it
 * back as a stream, one record per feature. */
/* The text of a file held in memory (taken, as umap_doc_from_owned_buffer), read as
 * umap_doc_open would read the file `name` holding it. */
int umap_doc_from_file_text(umap_doc **out, char *data, size_t len, const char *name,
			    const umap_doc_options *opts);
/* Same as umap_doc_open from a buffer (never a stream) that must outlive the document. */
int umap_doc_from_buffer(umap_doc **out, const char *data, size_t len, const char *source_name,
			 const umap_doc_options *opts);
/* Same, taking ownership of a malloc'd buffer: it is freed with the document (or at
 * once on failure). For documents assembled in memory, such as a repository revision. */
int umap_doc_from_owned_buffer(umap_doc **out, char *data, size_t len, const char *source_name,
			       const umap_doc_options *opts);
/* Same, taking a whole private read-only mapping of a file (munmap'd with the document, or
 * at once on failure) whose pages behind a streaming reader, or behind
 * umap_doc_drop_behind, are given back as those of an opened file are: a text too large to
 * keep resident that is not at a path (an unlinked temporary file). */
int umap_doc_from_mapping(umap_doc **out, void *base, size_t len, const char *source_name,
			  const umap_doc_options *opts);
/* A new empty document of `kind` (a map gets {"type":"umap"}). */
int umap_doc_new(umap_doc **out, umap_doc_kind kind);
void umap_doc_free(umap_doc *doc);

/* The feature's tree, built on first use (borrowed: the document owns it). */
int umap_doc_feature(json_t **out, umap_doc *doc, umap_layer *layer, size_t index);
/* The tree of the feature at data[offset, offset + length) of the source, as on_feature saw
 * it (new reference); the pages it read are given back to the kernel (mmap'd files). */
int umap_doc_build_span(json_t **out, umap_doc *doc, size_t offset, size_t length);
/* Where data[offset] is in the source, for a message: lines are counted from the start, so
 * call it rarely (streamed features keep offsets, not positions). */
umap_pos umap_doc_pos_at(const umap_doc *doc, size_t offset);
/* Builds every feature's tree (for commands that edit documents in memory). */
int umap_doc_load_all(umap_doc *doc);

/* Adds an empty layer (id and options may be NULL; options is borrowed and copied). */
int umap_doc_add_layer(umap_layer **out, umap_doc *doc, const char *id, const json_t *options);
/* Appends a feature (the document takes the reference to `feature`), computing id and hash. */
int umap_layer_append(umap_doc *doc, umap_layer *layer, json_t *feature);
/* Removes the feature at `index`; later features move up and the id index follows. */
int umap_layer_remove(umap_doc *doc, umap_layer *layer, size_t index);
/* Removes every feature i < n with marked[i] set, in one pass (removing features one at a
 * time moves the later ones and rebuilds the id index each time: quadratic in a big layer). */
int umap_layer_remove_marked(umap_doc *doc, umap_layer *layer, const unsigned char *marked, size_t n);
/* Removes the layer at `index` with its features (pointers to later layers move). */
int umap_doc_remove_layer(umap_doc *doc, size_t index);
/* Index of the feature with this id (compact JSON text), or -1. O(1) after the first call. */
long umap_layer_find(umap_doc *doc, umap_layer *layer, const char *id);
/* Frees the layer's id index (16 bytes a feature) until the next umap_layer_find or added
 * feature, which build it again: for a caller done with looking features up by id. */
void umap_layer_release_index(umap_doc *doc, umap_layer *layer);
/* Layer with this id, else NULL. */
umap_layer *umap_doc_find_layer(umap_doc *doc, const char *id);
/* The layer options key as the library spells it ("properties", "_umap_options" or, before
 * uMap 1.0, "_storage": a static string), for a key read elsewhere; "properties" for any
 * other. */
const char *umap_options_key(const char *key);
/* A layer's rank: its place among the layers of the same parent (0 first). */
size_t umap_layer_rank(const umap_doc *doc, size_t index);
/* The layer's name (options.name), or NULL. */
const char *umap_layer_name(const umap_layer *layer);
/* Pairs the layers of two documents (SPEC §2): by id; layers without one by position
 * (their index, when the name is the same or neither has one), then by name (with a layer
 * of either kind whose id the other document lacks), then by position alone (with a layer
 * without id); two one-layer documents with each other. match[j] (new_doc->nlayers
 * entries, allocated) is the index in old_doc of new layer j, or -1. */
int umap_doc_match_layers(long **match, const umap_doc *old_doc, const umap_doc *new_doc);

/* Where members go when a document is written: a layer's top-level member names in source
 * order (a new reference; NULL for a layer built in memory) and the number of map members
 * before "layers" (SIZE_MAX: last). The repository stores both so that a revision is
 * written back in the key order it was read in. */
json_t *umap_layer_member_order(umap_doc *doc, umap_layer *layer);
int umap_layer_set_member_order(umap_doc *doc, umap_layer *layer, const json_t *names);
size_t umap_doc_layers_position(umap_doc *doc);
void umap_doc_set_layers_position(umap_doc *doc, size_t position);

/* The id of a feature tree as compact JSON text (allocated), honouring id_property;
 * NULL (no error) when it has none. */
int umap_feature_id(char **out, const json_t *feature, const char *id_property);
/* The id for display: a string id without quotes, a number as written. Allocated. */
char *umap_id_display(const char *id_json);

/* uMap-style ids: 5 characters of [A-Za-z0-9], unique within the layer.
 * Gives every feature without an id one; *assigned is how many got one. */
int umap_layer_assign_ids(umap_doc *doc, umap_layer *layer, size_t *assigned);
/* A new random UUID v4 for a layer without an id. */
int umap_uuid_v4(char out[37]);

/* Writes the document back as JSON: same member order, feature order, options key.
 * flags are umap_json_write's (UMAP_JSON_INDENT(2) for files people edit), plus
 * UMAP_DOC_KEEP_BYTES: features that still have their source bytes (length > 0) are copied
 * as they were and the others written compact on one line, so that an edit touches only
 * the lines it changed. Whoever edits a feature's tree sets its length to 0. */
#define UMAP_DOC_KEEP_BYTES 0x100u
/* UMAP_DOC_AS_READ: as KEEP_BYTES, laid out as doc->layout says (SPEC §2 "Writing"): the
 * layout of the file it was read from, every number and string spelled as read in
 * features that did not change. Other layout flags are ignored. */
#define UMAP_DOC_AS_READ 0x200u
int umap_doc_write(umap_buf *out, umap_doc *doc, unsigned flags);
/* Writes a document built in memory whose features the caller holds elsewhere (a merge's
 * skeleton, or a revision's copy written over a working file), laid out as `layout` says:
 * layer i gets counts[i] features (counts NULL: its own number), each appended to
 * `out` by put(put_data, out, i, j, depth), where depth is the feature's nesting in the
 * document (for umap_json_relayout_at). `out` only ever grows at its end, so `put` may hand
 * its bytes on and empty it (a merge written as it goes). `like` (or NULL) is the file the
 * text replaces, read in that layout: a map or layer member whose value it holds unchanged
 * is written from its bytes (numbers keep their spelling); doc's layer i is like's layer
 * like_layers[i] (SIZE_MAX: none). Other members are laid out from doc's own bytes. */
typedef int (*umap_doc_feature_fn)(void *data, umap_buf *out, size_t layer, size_t index,
				   size_t depth);
int umap_doc_write_framed(umap_buf *out, umap_doc *doc, const umap_layout *layout,
			  const size_t *counts, umap_doc_feature_fn put, void *put_data,
			  umap_doc *like, const size_t *like_layers);
/* Whether the document's bytes are laid out as doc->layout says (a file as read), rather
 * than a revision's compact copy to be laid out anew. */
int umap_doc_bytes_in_layout(const umap_doc *doc);
/* umap_doc_write to a file, atomically (temp file, fsync, rename). */
int umap_doc_save(umap_doc *doc, const char *path, unsigned flags);
/* Writes the text the document was read from (umap_doc_from_file_text, umap_doc_open) to
 * `path`, atomically: its bytes, or for a stream its records. */
int umap_doc_save_source(umap_doc *doc, const char *path);

/* For a pass through doc->data in order (the streaming read itself, or copying features'
 * bytes to an output): gives the pages of an mmap'd source below `offset` back to the kernel
 * in 512 KB steps, so that the pass does not keep the whole file resident. No-op for sources
 * in memory. */
void umap_doc_drop_behind(umap_doc *doc, size_t offset);

#endif
