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
 * The new file keeps the mode of the file it replaces (0666 & ~umask for a new one). */
int umap_file_write_atomic(const char *path, const void *data, size_t len);

/* mkdir -p */
int umap_mkdir_p(const char *path, unsigned mode);

#endif
