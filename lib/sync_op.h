/* Sync ops as the server receives them: uMap realtime messages plus "hlc" and "op_id",
 * validated into a flat form, and the dotted-key edits they make to JSON trees. */
#ifndef UMAP_SYNC_OP_H
#define UMAP_SYNC_OP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hlc.h"
#include "json.h"

#define UMAP_SYNC_NAME_MAX 64      /* map names, client ids */
#define UMAP_SYNC_LAYER_MAX 128    /* layer ids (uMap uses UUIDs) */
#define UMAP_SYNC_OP_ID_MAX 128
#define UMAP_SYNC_FEATURE_ID_MAX 256
/* integer feature ids: those JavaScript (uMap's client) holds exactly, 2^53 - 1 */
#define UMAP_SYNC_FEATURE_ID_INT_MAX INT64_C(9007199254740991)
/* The rule, as a sentence for messages. */
#define UMAP_SYNC_FEATURE_ID_RULE \
	"a non-empty string of at most 256 bytes without control characters, or an integer within +-(2^53 - 1)"
#define UMAP_SYNC_KEY_MAX 256
#define UMAP_SYNC_KEY_DEPTH 16
/* A working-file name plus the longest suffix umapsync ever derived from one (the temporary
 * NAME.tmp-PID-XXXXXX of earlier builds: 22 bytes with a 10-digit pid) fits NAME_MAX (255),
 * so no client, old or new, is given a name it cannot write. Today's temporary names are
 * .tmp-PID-XXXXXX whatever the name. */
#define UMAP_SYNC_FILENAME_SUFFIX_MAX 22
#define UMAP_SYNC_FILENAME_MAX (255 - UMAP_SYNC_FILENAME_SUFFIX_MAX)

typedef enum umap_sync_verb { UMAP_SYNC_UPSERT, UMAP_SYNC_UPDATE, UMAP_SYNC_DELETE } umap_sync_verb;
typedef enum umap_sync_subject { UMAP_SYNC_MAP, UMAP_SYNC_DATALAYER, UMAP_SYNC_FEATURE } umap_sync_subject;

/* One validated op. Strings and `value` are borrowed from the op's JSON tree. */
typedef struct umap_sync_op {
	json_t *json;             /* the whole op as received */
	const char *op_id;
	umap_hlc_ts hlc;
	umap_sync_verb verb;
	umap_sync_subject subject;
	const char *layer;        /* datalayer and feature ops: the layer id; "" for map ops */
	char *feature;            /* feature ops: the id as compact JSON text (owned); else NULL */
	const char *key;          /* update: the dotted key ("properties.name"); else NULL */
	json_t *value;            /* upsert: the new object; update: the value, NULL = remove key */
	const char *filename;     /* datalayer upsert: optional working-file name (extension) */
	const char *options_key;  /* datalayer upsert: optional key the layer's options are
				   * written under in its file ("properties", "_umap_options",
				   * legacy "_storage"); umapsync-only, uMap peers ignore it */
} umap_sync_op;

/* The keys a layer's options may be written under in a file (metadata.optionsKey). */
int umap_sync_valid_options_key(const char *key);

/* Map names and client ids: 1..UMAP_SYNC_NAME_MAX bytes of [A-Za-z0-9_-]; layer ids the
 * same up to UMAP_SYNC_LAYER_MAX. Nothing that could walk a path or break a URL. */
int umap_sync_valid_name(const char *name, size_t max);
/* The text of a JSON string without NUL ("\u0000"), else NULL (not a string, or one that
 * C string checks would read cut short). Every name taken from an op goes through it. */
const char *umap_sync_json_name(const json_t *value);
/* A working-file name: one path component of 1..UMAP_SYNC_FILENAME_MAX bytes, no leading
 * dot, no control characters. The server checks the names it is sent, and the client the
 * names it is given, with this one rule. */
int umap_sync_valid_filename(const char *name);

/* A feature id the sync protocol carries (UMAP_SYNC_FEATURE_ID_RULE): the one rule of the
 * server's op validation, import and validate --umap. Returns 1 when `id` is one. */
int umap_sync_valid_feature_id(const json_t *id);
/* The same for an id as JSON text (umap_feature.id: "\"Rk3Qa\"", "42"). */
int umap_sync_valid_feature_id_text(const char *id_json);

/* Validates ops[index]; on error the message starts with "ops[INDEX]" and *out owns nothing. */
int umap_sync_op_parse(umap_sync_op *out, json_t *op, size_t index);
void umap_sync_op_dispose(umap_sync_op *op);

/* A new array of `ops` where each uMap "batch" op is replaced by its inner "operations",
 * which take the batch's "hlc" and "sender" unless they have their own, and op ids
 * "BATCH_OP_ID.N". A batch inside a batch is refused; UMAP_ELIMIT past `max` ops. */
int umap_sync_ops_expand(json_t **out, json_t *ops, size_t max);

/* Sets the dotted `key` in `root` to `value` (a new reference is taken), creating objects on
 * the way; value NULL removes the key. "properties.a.b" walks properties, then a. */
int umap_sync_set_path(json_t *root, const char *key, json_t *value);

/* A push body as the server reads it: the tree umap_json_parse builds, except that the
 * "value" of a feature upsert (an op of "ops", not inside a batch) whose bytes are already
 * what the server would store (compact, as umap_json_write writes it) is not built: it is
 * a stub {"type","id"} and its bytes are kept here, for the store to write as they are.
 * Building a million features' trees only to write them back as they came was a quarter
 * of the server's work on a large push. */
typedef struct umap_sync_raw_value {
	const json_t *stub; /* the op's "value" */
	const char *text;   /* its bytes, inside the body */
	size_t len;
} umap_sync_raw_value;
typedef struct umap_sync_raw_values {
	umap_sync_raw_value *v;
	size_t n, cap;
} umap_sync_raw_values;
#define UMAP_SYNC_RAW_VALUES_INIT { NULL, 0, 0 }
void umap_sync_raw_values_dispose(umap_sync_raw_values *values);
/* Parses `data` with `opts` (same tree but the stubs, same errors as umap_json_parse);
 * the listed bytes point into `data`. */
int umap_sync_push_body_parse(json_t **out, umap_sync_raw_values *values, const char *data, size_t len,
			      const umap_json_options *opts);

#endif
