/* Three-way merges of maps and layers (SPEC §6): per feature, per property key, geometry as
 * one unit, layer and map options per key, feature order merged; conflicts as data.
 *
 * umap_merge() is pure: it reads three documents and returns a result (merged features and
 * a conflict list) without touching any file. The result can be written as text that keeps
 * OURS' formatting (umap_merge_write: what merge-file and the git driver need, so that the
 * merged file differs from OURS only where features changed) or built as a document. */
#ifndef UMAP_MERGE_H
#define UMAP_MERGE_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "doc.h"

/* ---- Order merge ---------------------------------------------------------------------
 * Merges the order of three sequences of unique keys (feature ids) so that an item one side
 * inserted keeps its neighbours. Where both sides changed the same stretch, ours' items come
 * first (without those theirs deleted), then theirs' new ones; this gives uMap's
 * merge_features results: base [A,B] + ours [A,B,C] + theirs [A,B,D] -> [A,B,C,D];
 * ours [A,C] + theirs [A,B,D] -> [A,C,D]; ours [A,B,C] + theirs [A,D] -> [A,C,D].
 * Each output slot names the version the key was taken from and its index there. Keys
 * deleted by one side and kept by the other are dropped when the other side left them
 * where they were (the feature merge decides presence; see umap_merge). */

typedef enum umap_merge_side {
	UMAP_MERGE_BASE = 0,
	UMAP_MERGE_OURS = 1,
	UMAP_MERGE_THEIRS = 2,
} umap_merge_side;

typedef struct umap_merge_slot {
	umap_merge_side side;
	size_t index;
} umap_merge_slot;

/* The longest run of values[0..n) that grows strictly (patience): its length len; its last
 * element is tails[len - 1], each one's predecessor prev[i] (SIZE_MAX before the first).
 * tails and prev have room for n. */
size_t umap_increasing_run(size_t *tails, size_t *prev, const size_t *values, size_t n);

/* *out (malloc'd, *out_len slots) is the merged order. Keys must be unique within each
 * sequence: a repeat where the sequences differ is UMAP_EINVALID (the ends where all three
 * agree are copied without looking keys up). */
int umap_merge_order(umap_merge_slot **out, size_t *out_len,
		     const char *const *base, size_t nbase,
		     const char *const *ours, size_t nours,
		     const char *const *theirs, size_t ntheirs);

/* The same where the caller knows where each item is in the other sequences (o2b[j]: where
 * ours' item j is in base, SIZE_MAX where it is not there; t2b theirs to base, o2t ours to
 * theirs, t2o theirs to ours): no key is hashed or compared. The maps must be consistent
 * (each a partial bijection, the inverse of its counterpart). */
int umap_merge_order_mapped(umap_merge_slot **out, size_t *out_len, size_t nbase, size_t nours,
			    size_t ntheirs, const size_t *o2b, const size_t *t2b, const size_t *o2t,
			    const size_t *t2o);

/* ---- Document merge ------------------------------------------------------------------ */

typedef enum umap_merge_favor {
	UMAP_MERGE_FAVOR_OURS = 0, /* a conflicted key or feature keeps ours (default) */
	UMAP_MERGE_FAVOR_THEIRS,   /* ... keeps theirs */
	UMAP_MERGE_FAVOR_UNION,    /* ... keeps what both sides have: a modified feature over a
				    * deletion, both sides' keys of an add/add (ours where both set
				    * one), arrays' elements of both, objects merged per member */
} umap_merge_favor;

typedef enum umap_conflict_kind {
	UMAP_CONFLICT_MODIFY_MODIFY = 0, /* the same key set to different values */
	UMAP_CONFLICT_MODIFY_DELETE,     /* ours modified, theirs deleted */
	UMAP_CONFLICT_DELETE_MODIFY,     /* ours deleted, theirs modified */
	UMAP_CONFLICT_ADD_ADD,           /* the id was added on both sides with different content */
} umap_conflict_kind;

/* "modify/modify", "modify/delete", "delete/modify", "add/add". */
const char *umap_conflict_kind_name(umap_conflict_kind kind);

typedef struct umap_conflict {
	json_t *layer;   /* the layer id (string); its position (integer) for a layer without
			  * one; null for map-level options */
	json_t *id;      /* the feature id (string or number); null for layer or map options */
	char *key;       /* "properties.NAME", "geometry", another top-level member's name, or
			  * NULL for a whole-feature (or whole-layer) conflict */
	umap_conflict_kind kind;
	json_t *base;    /* the three values; NULL where that version has none */
	json_t *ours;
	json_t *theirs;
	long base_index; /* a feature without id: its place in BASE's layer (0-based, "index"
			  * in the report); -1 otherwise */
} umap_conflict;

typedef struct umap_merge_options {
	unsigned int version;
	umap_merge_favor favor;
	/* BASE and THEIRS are a repository's revision copies (numbers in their canonical
	 * form) and OURS the user's file: a feature taken from them is written with OURS'
	 * spelling of each number whose value it kept there (1.0 stays 1.0) */
	int spell_as_ours;
} umap_merge_options;

#define UMAP_MERGE_OPTIONS_VERSION 1
#define UMAP_MERGE_OPTIONS_INIT { UMAP_MERGE_OPTIONS_VERSION, UMAP_MERGE_FAVOR_OURS, 0 }

typedef struct umap_merge_result umap_merge_result; /* opaque */

/* Opens BASE, OURS and THEIRS (paths, "-" for standard input) at the same time, one thread
 * each. On failure no document is kept and the error is the first failing version's, in
 * that order, as if they were opened one after the other. */
int umap_merge_open(umap_doc *docs[3], const char *const paths[3], const umap_doc_options *opts);

/* Opens BASE, OURS and THEIRS (paths) and merges them, keeping of each feature only its
 * id, hash and place in the file (about 30 bytes) and building trees only for features that
 * both sides changed: for files, what umap_merge does with less memory and time. The
 * documents (docs[], for the caller to free after the result) hold no features. Features
 * without ids, a repeated id, or standard input ("-") among the paths: the documents are
 * read whole and umap_merge'd, with the same result and messages. *out is NULL on failure, and so are docs[] when reading failed
 * (not when the merge did: the caller frees them then too). */
int umap_merge_files(umap_merge_result **out, umap_doc *docs[3], const char *const paths[3],
		     const umap_doc_options *dopts, const umap_merge_options *opts);

/* Merges the changes base->ours and base->theirs. Layers are matched by id (by position
 * when they have none), features by id (by content when they have none). The documents
 * must be of the same kind (all layers or all maps) and must outlive the result. Fails with
 * UMAP_EINVALID for a kind mismatch, UMAP_ENOMEM. Conflicts are not an error. */
int umap_merge(umap_merge_result **out, umap_doc *base, umap_doc *ours, umap_doc *theirs,
	       const umap_merge_options *opts);
void umap_merge_result_free(umap_merge_result *result);

/* The conflicts, in document order (layer, then feature order, then key). */
const umap_conflict *umap_merge_conflicts(const umap_merge_result *result, size_t *count);
/* Counts of features taken per outcome, for messages ("merged 3 features, 1 conflict"). */
typedef struct umap_merge_stats {
	size_t features;  /* features in the merged document */
	size_t from_ours; /* changed on ours only (or both the same way) */
	size_t from_theirs;
	size_t combined;  /* merged key by key from both sides */
	size_t added, removed;
} umap_merge_stats;
void umap_merge_get_stats(const umap_merge_result *result, umap_merge_stats *stats);

/* The merged document as text, keeping OURS' bytes where the merge kept them: features taken
 * unchanged are copied as they are written in their file, merged ones are written in the
 * style of OURS' features, each number whose value a side had spelled as that side did
 * (OURS first). Where the layer or map options changed, or layers nest in groups, the
 * document is written anew around its features in OURS' layout (SPEC §2 "Writing": one
 * line stays one line, indented stays indented), unchanged members from OURS' bytes; when
 * OURS is not a file's bytes (a revision's compact copy), in the layout `flags` say. */
int umap_merge_write(umap_buf *out, umap_merge_result *result, unsigned flags);
/* The same text handed to `emit` in pieces of a few hundred KiB as it is written (for files
 * too large to hold twice in memory); a non-zero return from emit stops and is returned. */
typedef int (*umap_merge_emit_fn)(void *data, const char *bytes, size_t len);
int umap_merge_write_to(umap_merge_result *result, unsigned flags, umap_merge_emit_fn emit,
			void *emit_data);
/* The same text written to `path` through a temporary file (fsync, rename): on failure
 * `path` is untouched. */
int umap_merge_save(umap_merge_result *result, const char *path, unsigned flags);
/* The merged document built in memory (every feature parsed; the caller frees it). */
int umap_merge_doc(umap_doc **out, umap_merge_result *result);
/* The SPEC §6 report: {"conflicts":[{"layer","id","key","kind","base","ours","theirs"}]}. */
int umap_merge_conflicts_json(json_t **out, const umap_merge_result *result);

#endif
