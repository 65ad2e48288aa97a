/* libumapsync's JSON layer: a positioned pull scanner, a tree builder into jansson values,
 * the shortest round-trip number printer, the writer, and semantic equality and hashing.
 *
 * Why not jansson for all of it: jansson's parser loses positions (validate must say
 * file:line:col for every value), cannot yield one feature at a time from a 27 MB file
 * (diff hashes raw feature bytes without building trees), reports a duplicate key without
 * where the first one was, rejects integers beyond int64, and prints reals with %.17g
 * (1.2345 -> 1.2344999999999999). jansson still holds the trees: json_t everywhere. */
#ifndef UMAP_JSON_H
#define UMAP_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A place in the input: 1-based line and column (in bytes), 0-based byte offset. */
typedef struct umap_pos {
	uint32_t line;
	uint32_t col;
	uint64_t offset;
} umap_pos;

typedef struct umap_json_options {
	unsigned int version;
	const char *source_name;   /* file name used in messages ("a.geojson", "<stdin>") */
	int reject_duplicates;     /* duplicate object member: error (else the last one wins) */
	int keep_positions;        /* umap_json_parse(): record the position of every value */
	size_t max_depth;          /* nesting of arrays/objects */
	size_t max_string;         /* bytes in one string */
	size_t max_size;           /* bytes of the whole input */
	int header_line;           /* the first line is not the file's own (the FeatureCollection
				    * a stream is read as starts with one): it is line 0, so that
				    * every position after it is the file's */
} umap_json_options;

#define UMAP_JSON_OPTIONS_VERSION 1
#define UMAP_JSON_DEFAULT_MAX_DEPTH 256
#define UMAP_JSON_DEFAULT_MAX_STRING (64u << 20)   /* 64 MiB */
#define UMAP_JSON_DEFAULT_MAX_SIZE ((size_t)4 << 30) /* 4 GiB */
#define UMAP_JSON_OPTIONS_INIT \
	{ UMAP_JSON_OPTIONS_VERSION, NULL, 0, 0, UMAP_JSON_DEFAULT_MAX_DEPTH, \
	  UMAP_JSON_DEFAULT_MAX_STRING, UMAP_JSON_DEFAULT_MAX_SIZE, 0 }

/* ---- Pull scanner ------------------------------------------------------------------
 * Walks a buffer token by token without allocating, validating RFC 8259 syntax, UTF-8,
 * depth and sizes as it goes. Errors set umap_error_last() to
 * "SOURCE:LINE:COL: what was wrong" and return UMAP_EINVALID (or UMAP_ELIMIT). */

typedef enum umap_token_type {
	UMAP_TOKEN_EOF = 0,
	UMAP_TOKEN_OBJECT_START,
	UMAP_TOKEN_OBJECT_END,
	UMAP_TOKEN_ARRAY_START,
	UMAP_TOKEN_ARRAY_END,
	UMAP_TOKEN_KEY,     /* an object member name; the value follows as the next token */
	UMAP_TOKEN_STRING,
	UMAP_TOKEN_NUMBER,
	UMAP_TOKEN_TRUE,
	UMAP_TOKEN_FALSE,
	UMAP_TOKEN_NULL,
} umap_token_type;

typedef struct umap_token {
	umap_token_type type;
	size_t start;      /* byte offset of the token's first byte (the quote of a string) */
	size_t end;        /* one past its last byte */
	umap_pos pos;      /* where it starts */
	size_t depth;      /* nesting depth of the token (the root value is at depth 0) */
	int has_escapes;   /* string/key: contains backslash escapes (raw bytes != value) */
} umap_token;

typedef struct umap_scanner umap_scanner; /* opaque */

/* Scans data[0..len); the buffer must outlive the scanner. A leading UTF-8 BOM is an
 * error with a clear message, as RFC 8259 says. */
int umap_scanner_new(umap_scanner **out, const char *data, size_t len,
		     const umap_json_options *opts);
void umap_scanner_free(umap_scanner *scanner);
/* Next token; UMAP_TOKEN_EOF once the single root value and trailing space are consumed. */
int umap_scanner_next(umap_scanner *scanner, umap_token *tok);
/* Given the token that starts a value (as returned by next), consumes the rest of that value
 * and sets *end_offset to one past its last byte. Cheap: validates but builds nothing. */
int umap_scanner_skip(umap_scanner *scanner, const umap_token *first, size_t *end_offset);
/* umap_scanner_skip for an object (`first` is its OBJECT_START), also finding its own
 * member `name` (not those of nested objects): *found is 1 when there is one, and *member
 * is the token of its value: the last one when repeated, except that a value that is not a
 * string, number or null is kept as the first such. For an object or array value, only
 * type, start and pos are set. Costs what umap_scanner_skip costs. */
int umap_scanner_skip_member(umap_scanner *scanner, const umap_token *first, const char *name,
			     umap_token *member, int *found, size_t *end_offset);
/* umap_scanner_skip that also tells whether the value's bytes are exactly those that
 * umap_json_write(UMAP_JSON_COMPACT) writes of the tree built from them (no space between
 * tokens, numbers and strings spelled as the writer spells them) and repeat no member of
 * an object: *compact is 1 then (0 says "maybe not": build the tree). For an object,
 * found[k] is set to the token of the value of its own member names[k] (names: NULL or
 * NULL-terminated; found[k].type is UMAP_TOKEN_EOF when there is none). */
int umap_scanner_skip_compact(umap_scanner *scanner, const umap_token *first, size_t *end_offset,
			      int *compact, const char *const *names, umap_token *found);
/* Moves past the object or array that `first` (the token just returned) opens to `end`,
 * one past its closing bracket, without reading it: for bytes the caller knows to be valid,
 * because they are those of values read and checked before in the same place. `lines`
 * newlines are in them, the last one just before `line_start`. */
int umap_scanner_skip_known(umap_scanner *scanner, const umap_token *first, size_t end,
			    uint32_t lines, size_t line_start);
/* Puts a new scanner at `offset`, inside the containers `brackets` opens ("{[": an array in
 * an object), where a value follows: the next token is an element of the innermost array.
 * Lines are counted from there. */
int umap_scanner_enter(umap_scanner *scanner, size_t offset, const char *brackets);
/* The line of the next byte to read, and the offset its line starts at. */
void umap_scanner_where(const umap_scanner *scanner, uint32_t *line, size_t *line_start);
/* Decodes a STRING or KEY token's value (escapes resolved) into `out` (cleared first). */
int umap_scanner_string(umap_scanner *scanner, const umap_token *tok, umap_buf *out);
/* Builds the value that starts with `first` as a jansson tree (the scanner moves past it). */
int umap_scanner_build(umap_scanner *scanner, const umap_token *first, json_t **out);
/* The same, refusing an object that repeats a member (the error does not say where the
 * first one was: umap_scanner_build_doc does). */
int umap_scanner_build_unique(umap_scanner *scanner, const umap_token *first, json_t **out);
/* A place to come back to: a fast path may scan a value, give up, and scan it again. */
typedef struct umap_scanner_mark {
	size_t offset, depth, line_start;
	uint32_t line;
	int state;
} umap_scanner_mark;
void umap_scanner_mark_here(const umap_scanner *scanner, umap_scanner_mark *mark);
/* Goes back to `mark` (taken on this scanner, which has not failed since). */
void umap_scanner_reset(umap_scanner *scanner, const umap_scanner_mark *mark);
/* Position of a byte offset (counts lines up to it; offsets must not go backwards much). */
umap_pos umap_scanner_pos_at(umap_scanner *scanner, size_t offset);

/* ---- Trees ------------------------------------------------------------------------
 * Numbers become json_integer when written as an integer that fits in +-2^53, json_real
 * otherwise (like JavaScript, 1e400 is an error, -0 stays a real). Objects keep key order. */

typedef struct umap_json_doc umap_json_doc; /* opaque: a tree plus the positions in it */

/* Parses a whole document. With opts->keep_positions, umap_json_doc_pos() works. */
int umap_json_parse(umap_json_doc **out, const char *data, size_t len,
		    const umap_json_options *opts);
json_t *umap_json_doc_root(const umap_json_doc *doc); /* borrowed */
/* Where `value` (a node of this doc's tree) starts; 0 when unknown. */
int umap_json_doc_pos(umap_pos *out, const umap_json_doc *doc, const json_t *value);
/* Where the member name `key` of object `object` starts (for duplicate/unknown keys). */
int umap_json_doc_key_pos(umap_pos *out, const umap_json_doc *doc, const json_t *object,
			  const char *key);
/* Duplicate members seen while parsing (when reject_duplicates is off): count and each. */
size_t umap_json_doc_duplicate_count(const umap_json_doc *doc);
int umap_json_doc_duplicate(const umap_json_doc *doc, size_t i, const char **key,
			    umap_pos *first, umap_pos *again);
void umap_json_doc_free(umap_json_doc *doc);
/* Builds the value that starts with `first` as a document with positions (offsets and
 * lines are those of the whole input), so that one feature of a large file can be
 * checked with positions without building the rest. Duplicate members are listed
 * (umap_json_doc_duplicate) or, with reject_duplicates, an error. */
int umap_scanner_build_doc(umap_json_doc **out, umap_scanner *scanner, const umap_token *first,
			   int reject_duplicates);

/* Shortcut: parse a buffer into a tree, no positions kept. */
int umap_json_loadb(json_t **out, const char *data, size_t len, const char *source_name);

/* ---- Numbers ----------------------------------------------------------------------- */

#define UMAP_NUMBER_MAX 32
/* Writes the shortest decimal that reads back as exactly `v`, formatted as JavaScript's
 * Number.prototype.toString does (1e+21, 1.5e-7, 0.1, 123456789012345680000); -0 is "0".
 * Returns the length. NaN and infinities are not JSON: they write "null". */
int umap_format_double(char out[UMAP_NUMBER_MAX], double v);

/* ---- Writer ------------------------------------------------------------------------ */

#define UMAP_JSON_COMPACT 0u
#define UMAP_JSON_INDENT(n) ((unsigned)(n) & 0x1fu) /* like JSON.stringify(v, null, n) */
#define UMAP_JSON_SORT_KEYS 0x20u                   /* canonical form, for hashing/tests */
#define UMAP_JSON_ASCII 0x40u                       /* escape non-ASCII as \uXXXX */

/* Appends `value` as JSON to `out`. Reals use umap_format_double; strings are escaped as
 * JSON.stringify does. */
int umap_json_write(umap_buf *out, const json_t *value, unsigned flags);
/* Same, into a new NUL-terminated string (NULL on ENOMEM). */
char *umap_json_dumps(const json_t *value, unsigned flags);

/* ---- Layout -------------------------------------------------------------------------
 * How a file lays its JSON out, so that a command writes it back the way it was read
 * (SPEC §2 "Writing"): all on one line (compact, or spaced as Python's json.dumps writes
 * {"a": 1, "b": 2}), one feature (or layer) per line, or indented with coordinate arrays
 * kept on one line. Re-laying out copies every string and number token byte for byte. */

typedef struct umap_layout {
	unsigned indent; /* spaces per level; 0: no line breaks but those of `lines` */
	int spaced;      /* ", " and ": " between tokens on one line */
	int lines;       /* each feature on one line of its own (in a one-line layout, each
			  * element of "features" and "layers") */
	int newline;     /* the file ends with a newline */
	int ascii;       /* only escapes for what is not ASCII (\u00e9), as Python writes */
	int known;       /* read from a file the user has, or recorded for it: the layout to
			  * record (that of bytes umapsync made in memory is not) */
	int seq;         /* a stream of features (umap_seq_kind in geojsonseq.h): the elements of
			  * a FeatureCollection's "features", one record each (RS-prefixed, or
			  * one a line), compact, and nothing else; 0: one JSON document */
	int flat;        /* an indented layout's line breaks without its spaces: members and
			  * elements one a line at column 0 (GDAL's ogr2ogr writes GeoJSON so) */
} umap_layout;

/* What a file that nobody looked at gets: indent 2 with coordinate arrays on one line,
 * ending in a newline (uMap's GeoJSON downloads are JSON.stringify(v, null, 2)). */
#define UMAP_LAYOUT_DEFAULT { 2, 0, 0, 1, 0, 0, 0, 0 }

/* Guesses the layout of a JSON text from its first bytes and its line breaks. */
void umap_layout_detect(umap_layout *out, const char *data, size_t len);
/* Appends the (valid) JSON text data[0..len) laid out as `layout` says. */
int umap_json_relayout(umap_buf *out, const char *data, size_t len, const umap_layout *layout);
/* The same for a value that goes `depth` levels deep into a document laid out so (its
 * line breaks get that indentation; no final newline). */
int umap_json_relayout_at(umap_buf *out, const char *data, size_t len, const umap_layout *layout,
			  size_t depth);
/* The same, given to `sink` a megabyte at a time instead of kept: a whole file's text. */
typedef int (*umap_json_sink)(void *ctx, const char *data, size_t len);
int umap_json_relayout_to(umap_json_sink sink, void *ctx, const char *data, size_t len,
			  const umap_layout *layout);
/* The same for text that is a whole private read-only file mapping (its start page-aligned)
 * which the caller does not read again: its pages behind the scanner are given back, so
 * that a text of any size costs a few megabytes of memory. */
int umap_json_relayout_mapped_to(umap_json_sink sink, void *ctx, const char *data, size_t len,
				 const umap_layout *layout);
/* `value` laid out so, as a new NUL-terminated string (NULL on ENOMEM). */
char *umap_json_dumps_as(const json_t *value, const umap_layout *layout);
/* Appends text[0..len), a changed version of the value old[0..old_len), with every number
 * whose value did not change at its place (same path) spelled as in old: 1.50 stays 1.50,
 * 12345678901234567890 and -0 stay so (SPEC §2 "Writing"). Both must be valid JSON. */
int umap_json_respell(umap_buf *out, const char *text, size_t len, const char *old,
		      size_t old_len);
/* The layout as a JSON object for the repository ({"indent":2,...}), and back (NULL or a
 * damaged value gives the default). */
json_t *umap_layout_to_json(const umap_layout *layout);
void umap_layout_from_json(umap_layout *out, const json_t *value);

/* ---- Semantics --------------------------------------------------------------------- */

/* Semantic equality: key order ignored, numbers compared as doubles (1 == 1.0 == 1e0). */
int umap_json_equal(const json_t *a, const json_t *b);
/* A 64-bit hash consistent with umap_json_equal (xxh3 over a canonical form). */
uint64_t umap_json_hash(const json_t *value);
/* Number value of an integer or real, as a double. */
double umap_json_number(const json_t *value);

#endif
