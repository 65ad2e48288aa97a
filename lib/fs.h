/* File helpers: bounded reads and crash-safe writes.
 * Every file umapsync writes goes through umap_file_write_atomic (temp file, fsync, rename). */
#ifndef UMAP_FS_H
#define UMAP_FS_H

#include <limits.h>
#include <stddef.h>
#include "buf.h"

/* Reads a whole file ("-" is stdin) into `out`; fails with UMAP_ELIMIT past max_size bytes
 * and with a clear message for a directory. */
int umap_file_read(umap_buf *out, const char *path, size_t max_size);

/* Writes `len` bytes to `path` through a temporary file in the same directory, fsyncs it,
 * renames it over `path` and fsyncs the directory. On failure `path` is untouched.
 * The new file keeps the mode of the file it replaces (0666 & ~umask for a new one).
 * The temporary file is DIR/.tmp-PID-XXXXXX, at most 23 bytes whatever the name (so every
 * name up to NAME_MAX can be written); the first write of a process to a directory first
 * removes the ones that killed writers left there (umap_fs_clean_temps). */
int umap_file_write_atomic(const char *path, const void *data, size_t len);
/* The same for a secret: the file is 0600 (only its owner reads it) before a byte is written,
 * whatever the umask or the mode of the file it replaces. */
int umap_file_write_private(const char *path, const void *data, size_t len);

/* The same for output written in pieces (too large to hold in memory): open, write any
 * number of times, then commit (fsync, rename, fsync the directory) or abort (the
 * temporary file is removed; `path` is untouched). Abort after a failed commit is a no-op.
 * To replace several files all or nothing, prepare each (fsync and close its temporary
 * file, and check that `path` can be replaced by a file), and commit them only once every
 * one is prepared; after a failed prepare, abort them all. A path that is not a regular
 * file (a device such as /dev/null, a FIFO, or anything under /dev/ or /proc/, such as
 * /dev/stdout) is written in place: a file renamed over it would replace the device. */
typedef struct umap_atomic_file {
	int fd;
	int pending;       /* a temporary file exists: open, or prepared and closed */
	int direct;        /* written in place: a device or a pipe (`-o /dev/null`, a FIFO) */
	char path[PATH_MAX];
	char tmp[PATH_MAX];
} umap_atomic_file;
int umap_atomic_file_open(umap_atomic_file *f, const char *path);
int umap_atomic_file_write(umap_atomic_file *f, const void *data, size_t len);
int umap_atomic_file_prepare(umap_atomic_file *f);
int umap_atomic_file_commit(umap_atomic_file *f);
void umap_atomic_file_abort(umap_atomic_file *f);

#define UMAP_TEMP_MARK ".tmp-"
#define UMAP_TEMP_MAX_AGE (24 * 3600) /* seconds: a temp file this old has no writer left */

/* Removes from `dir` the temporary files of umap_file_write_atomic whose process is gone
 * (or that are older than UMAP_TEMP_MAX_AGE); *removed (may be NULL) counts them. */
int umap_fs_clean_temps(const char *dir, unsigned *removed);

/* rm -r: removes `path` and everything under it, never following symbolic links;
 * a missing path is not an error. */
int umap_fs_remove_tree(const char *path);

/* mkdir -p */
int umap_mkdir_p(const char *path, unsigned mode);

/* 1 when `path` does not exist or is an empty directory (what clone may create or fill). */
int umap_dir_empty_or_missing(const char *path);

#endif
