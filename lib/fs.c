/* File helpers: bounded reads and crash-safe writes (temp file, fsync, rename).
 * A killed process leaves either the old file or the new one, never half of one. */
#include "fs.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int umap_file_read(umap_buf *out, const char *path, size_t max_size)
{
	int is_stdin = strcmp(path, "-") == 0;
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return umap_error_set_errno(errno == ENOENT ? UMAP_ENOTFOUND : UMAP_EIO,
					    "cannot open '%s'", path);
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!is_stdin)
			close(fd);
		return umap_error_set(UMAP_EIO, "'%s' is a directory, not a file", path);
	}
	int rc = 0;
	for (;;) {
		if (umap_buf_grow(out, 65536)) {
			rc = UMAP_ENOMEM;
			break;
		}
		ssize_t n = read(fd, out->ptr + out->len, out->cap - out->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = umap_error_set_errno(UMAP_EIO, "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->ptr[out->len] = '\0';
		if (out->len > max_size) {
			rc = umap_error_set(UMAP_ELIMIT, "'%s' is larger than the limit of %zu bytes",
					    path, max_size);
			break;
		}
	}
	if (!is_stdin)
		close(fd);
	return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void split_dir(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

int umap_file_write_atomic(const char *path, const void *data, size_t len)
{
	umap_atomic_file f;
	int rc = umap_atomic_file_open(&f, path);
	if (!rc)
		rc = umap_atomic_file_write(&f, data, len);
	if (!rc)
		return umap_atomic_file_commit(&f);
	umap_atomic_file_abort(&f);
	return rc;
}

int umap_atomic_file_open(umap_atomic_file *f, const char *path)
{
	f->fd = -1;
	if ((size_t)snprintf(f->path, sizeof(f->path), "%s", path) >= sizeof(f->path) ||
	    (size_t)snprintf(f->tmp, sizeof(f->tmp), "%s.tmp-XXXXXX", path) >= sizeof(f->tmp))
		return umap_error_set(UMAP_EUSAGE, "path too long: '%s'", path);
	int fd = mkstemp(f->tmp);
	if (fd < 0)
		return umap_error_set_errno(UMAP_EIO, "cannot create a temporary file beside '%s'", path);
	struct stat st;
	mode_t mode;
	if (stat(path, &st) == 0) {
		mode = st.st_mode & 07777;
	} else {
		mode_t mask = umask(0);
		umask(mask);
		mode = 0666 & ~mask;
	}
	f->fd = fd;
	if (fchmod(fd, mode) < 0) {
		int rc = umap_error_set_errno(UMAP_EIO, "cannot write '%s'", path);
		umap_atomic_file_abort(f);
		return rc;
	}
	return 0;
}

int umap_atomic_file_write(umap_atomic_file *f, const void *data, size_t len)
{
	if (write_all(f->fd, data, len) < 0)
		return umap_error_set_errno(UMAP_EIO, "cannot write '%s'", f->path);
	return 0;
}

int umap_atomic_file_commit(umap_atomic_file *f)
{
	int fd = f->fd;
	f->fd = -1;
	if (fsync(fd) < 0) {
		int rc = umap_error_set_errno(UMAP_EIO, "cannot write '%s'", f->path);
		close(fd);
		unlink(f->tmp);
		return rc;
	}
	if (close(fd) < 0) {
		int rc = umap_error_set_errno(UMAP_EIO, "cannot write '%s'", f->path);
		unlink(f->tmp);
		return rc;
	}
	if (rename(f->tmp, f->path) < 0) {
		int rc = umap_error_set_errno(UMAP_EIO, "cannot replace '%s'", f->path);
		unlink(f->tmp);
		return rc;
	}
	char dir[PATH_MAX];
	split_dir(f->path, dir, sizeof(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd); /* best effort: some file systems refuse fsync on directories */
		close(dfd);
	}
	return 0;
}

void umap_atomic_file_abort(umap_atomic_file *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	unlink(f->tmp);
	f->fd = -1;
}

int umap_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", path) >= sizeof(tmp))
		return umap_error_set(UMAP_EUSAGE, "path too long: '%s'", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return umap_error_set_errno(UMAP_EIO, "cannot create directory '%s'", tmp);
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return umap_error_set_errno(UMAP_EIO, "cannot create directory '%s'", tmp);
	return 0;
}
