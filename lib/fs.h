/* File helpers: bounded reads and crash-safe writes.
 * Every file umapsync writes goes through umap_file_write_atomic (temp file, fsync, rename). */
#ifndef UMAP_FS_H
#define UMAP_FS_H

#include <stddef.h>
#include "buf.h"

/* Reads a whole file ("-" is stdin) into `out`; fails with UMAP_ELIMIT past max_size bytes
 * and with a clear message for a directory. */
int umap_file_read(umap_buf *out, const char *path, size_t max_size);

/* Writes `len` bytes to `path` through a temporary file in the same directory, fsyncs it,
 * renames it over `path` and fsyncs the directory. On failure `path` is untouched.
 * The new file keeps the mode of the file it replaces (0666 & ~umask for a new one).
 * The temporary file is PATH.tmp-PID-XXXXXX; the first write of a process to a directory
 * first removes the ones that killed writers left there (umap_fs_clean_temps). */
int umap_file_write_atomic(const char *path, const void *data, size_t len);

#define UMAP_TEMP_MARK ".tmp-"
#define UMAP_TEMP_MAX_AGE (24 * 3600) /* seconds: a temp file this old has no writer left */

/* Removes from `dir` the temporary files of umap_file_write_atomic whose process is gone
 * (or that are older than UMAP_TEMP_MAX_AGE); *removed (may be NULL) counts them. */
int umap_fs_clean_temps(const char *dir, unsigned *removed);

/* mkdir -p */
int umap_mkdir_p(const char *path, unsigned mode);

#endif
