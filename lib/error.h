/* Error codes and the per-thread error message of libumapsync.
 * lib/ never prints or exits: it returns a negative code and keeps a message here. */
#ifndef UMAP_ERROR_H
#define UMAP_ERROR_H

#include <stdarg.h>

enum umap_error_code {
	UMAP_OK = 0,
	UMAP_ERROR = -1,      /* generic failure */
	UMAP_ENOMEM = -2,     /* allocation failed */
	UMAP_EIO = -3,        /* read/write/system call failed (errno kept in the message) */
	UMAP_ENOTFOUND = -4,  /* file, revision, feature, map... does not exist */
	UMAP_EINVALID = -5,   /* input is not valid (JSON syntax, GeoJSON shape, patch) */
	UMAP_ELIMIT = -6,     /* a size/depth/count limit was hit */
	UMAP_ECONFLICT = -7,  /* merge conflict, refused patch, concurrent change */
	UMAP_EEXISTS = -8,    /* would overwrite something */
	UMAP_ECORRUPT = -9,   /* repository or stored data is damaged */
	UMAP_EUSAGE = -10,    /* caller passed arguments that make no sense */
	UMAP_EAUTH = -11,     /* missing or insufficient credentials */
	UMAP_ENET = -12,      /* network failure */
	UMAP_ENOSPC = -13,    /* the disk (or the database's size limit) is full */
};

/* Stores a formatted message for the calling thread and returns `code`,
 * so that lib/ code can write `return umap_error_set(UMAP_EIO, "...")`. */
int umap_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int umap_error_setv(int code, const char *fmt, va_list ap);
/* Like umap_error_set, with ": strerror(errno)" appended. */
int umap_error_set_errno(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prepends context ("reading a.geojson: ") to the current message. */
int umap_error_prefix(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last message set on this thread; never NULL. */
const char *umap_error_last(void);
int umap_error_last_code(void);
void umap_error_clear(void);

/* A short name for a code ("out of memory", "not found"), for messages without detail. */
const char *umap_error_name(int code);

#endif
