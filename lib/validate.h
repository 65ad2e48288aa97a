/* GeoJSON and uMap validation (SPEC §4): mapbox geojsonhint's rules, messages, lines and
 * levels, plus uMap checks; streams a large layer feature by feature. */
#ifndef UMAP_VALIDATE_H
#define UMAP_VALIDATE_H

#include <stddef.h>

#include "geojsonseq.h"
#include "json.h"

typedef enum umap_level {
	UMAP_LEVEL_ERROR = 0,
	UMAP_LEVEL_WARNING,   /* geojsonhint's level "message" */
} umap_level;

typedef struct umap_message {
	umap_pos pos;       /* line 0: about the whole document (geojsonhint's line 0) */
	umap_level level;
	char *text;
} umap_message;

typedef struct umap_validation {
	size_t count;
	umap_message *messages;
	size_t errors;
	size_t warnings;
	size_t cap;         /* private */
} umap_validation;

#define UMAP_VALIDATION_INIT { 0, NULL, 0, 0, 0 }

typedef struct umap_validate_options {
	unsigned int version;
	const char *source_name;      /* for JSON syntax messages */
	int allow_duplicate_members;  /* geojsonhint noDuplicateMembers=false */
	int precision_warning;        /* geojsonhint precisionWarning */
	int ignore_rhr;               /* geojsonhint ignoreRightHandRule */
	int umap;                     /* uMap checks; automatic for {"type": "umap"} */
	umap_json_options json;       /* limits */
	int no_fast_path;             /* check every feature as a tree (tests compare both) */
} umap_validate_options;

#define UMAP_VALIDATE_OPTIONS_VERSION 1
#define UMAP_VALIDATE_OPTIONS_INIT \
	{ UMAP_VALIDATE_OPTIONS_VERSION, NULL, 0, 0, 0, 0, UMAP_JSON_OPTIONS_INIT, 0 }

/* Validates data[0..len) and appends what it finds to `out`. A JSON syntax error or a
 * limit is one error message with its position (returns 0): only failures to do the work
 * (UMAP_ENOMEM) are returned as errors. */
int umap_validate_buffer(umap_validation *out, const char *data, size_t len,
			 const umap_validate_options *opts);
/* Same for a file ("-" is stdin). A large file is mapped and read once, front to back,
 * with the pages behind dropped, so memory stays far below the file's size. Fails with
 * UMAP_ENOTFOUND or UMAP_EIO (a directory, an unreadable file) before validating. */
int umap_validate_file(umap_validation *out, const char *path,
		       const umap_validate_options *opts);
void umap_validation_clear(umap_validation *v);
/* Appends a message, taking `text` (malloc'd; freed on failure). */
int umap_validation_add(umap_validation *v, umap_pos pos, umap_level level, char *text);

/* GeoJSON Text Sequences (RFC 8142: records that start with RS) and newline-delimited
 * GeoJSON (one object per line) are validated record by record, each as a document of its
 * own, with the lines and columns of the whole file (lib/validate_seq.c). */
/* Validates a sequence in data[0..len). */
int umap_validate_seq_buffer(umap_validation *out, const char *data, size_t len,
			     umap_seq_kind kind, const umap_validate_options *opts);
/* umap_validate_file for any file: a sequence record by record, else one document. */
int umap_validate_path(umap_validation *out, const char *path, const umap_validate_options *opts);

const char *umap_level_name(umap_level level); /* "error", "warning" */

#endif
