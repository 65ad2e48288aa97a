/* File helpers: bounded reads and crash-safe writes (temp file, fsync, rename).
 * A killed process leaves either the old file or the new one, never half of one. */
#include "fs.h"
#include "error.h"
#include "strutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* The pid in a temporary file's name .tmp-PID-XXXXXX (or NAME.tmp-PID-XXXXXX, as earlier
 * builds named them), or 0 when the name is not one. */
static pid_t temp_owner(const char *name)
{
	size_t len = strlen(name);
	if (len < 6 + 1 + 1 + 1)
		return 0;
	const char *rand = name + len - 6;
	for (const char *p = rand; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return 0;
	if (rand[-1] != '-')
		return 0;
	const char *digits = rand - 1;
	while (digits > name && digits[-1] >= '0' && digits[-1] <= '9')
		digits--;
	size_t ndigits = (size_t)(rand - 1 - digits);
	if (ndigits == 0 || ndigits > 9 || (size_t)(digits - name) < sizeof(UMAP_TEMP_MARK) - 1 ||
	    memcmp(digits - (sizeof(UMAP_TEMP_MARK) - 1), UMAP_TEMP_MARK, sizeof(UMAP_TEMP_MARK) - 1))
		return 0;
	return (pid_t)strtol(digits, NULL, 10);
}

int umap_fs_clean_temps(const char *dir, unsigned *removed)
{
	if (removed)
		*removed = 0;
	DIR *d = opendir(dir);
	if (!d)
		return umap_error_set_errno(UMAP_EIO, "cannot read directory '%s'", dir);
	int dfd = dirfd(d);
	time_t now = time(NULL);
	struct dirent *e;
	while ((e = readdir(d))) {
		pid_t pid = temp_owner(e->d_name);
		struct stat st;
		if (pid <= 0 || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		/* a live writer's file stays, unless it is so old that its pid must be reused */
		int dead = pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH;
		if ((dead || now - st.st_mtime > UMAP_TEMP_MAX_AGE) &&
		    unlinkat(dfd, e->d_name, 0) == 0 && removed)
			(*removed)++;
	}
	closedir(d);
	return 0;
}

/* Cleans each directory once per thread (a checkout writes many files to few directories):
 * the last few directories cleaned are remembered by a hash of their path. */
static void clean_temps_once(const char *dir)
{
	static _Thread_local uint64_t seen[8];
	static _Thread_local unsigned next;
	uint64_t h = umap_hash(dir, strlen(dir)) | 1; /* never 0, the empty slot */
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		if (seen[i] == h)
			return;
	seen[next++ % (sizeof(seen) / sizeof(seen[0]))] = h;
	umap_fs_clean_temps(dir, NULL); /* best effort: the write says what goes wrong */
}

/* secret: the temporary file is made 0600 before anything is written to it */
static int write_whole(const char *path, const void *data, size_t len, int secret)
{
	umap_atomic_file f;
	int rc = umap_atomic_file_open(&f, path);
	if (!rc && secret && fchmod(f.fd, 0600) < 0)
		rc = umap_error_set_errno(UMAP_EIO, "cannot write '%s'", path);
	if (!rc)
		rc = umap_atomic_file_write(&f, data, len);
	if (!rc)
		return umap_atomic_file_commit(&f);
	umap_atomic_file_abort(&f);
	return rc;
}

int umap_file_write_atomic(const char *path, const void *data, size_t len)
{
	return write_whole(path, data, len, 0);
}

int umap_file_write_private(const char *path, const void *data, size_t len)
{
	return write_whole(path, data, len, 1);
}

/* A device, a pipe or a socket, or a path in /dev or /proc (/dev/stdout is a link to the
 * process's own descriptor, whatever that is): no temporary file can stand in for it. */
static int written_in_place(const char *path, const struct stat *st, int exists)
{
	if (!strncmp(path, "/dev/", 5) || !strncmp(path, "/proc/", 6))
		return 1;
	return exists && !S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode);
}

int umap_atomic_file_open(umap_atomic_file *f, const char *path)
{
	f->fd = -1;
	f->pending = 0;
	f->direct = 0;
	struct stat st;
	int exists = stat(path, &st) == 0;
	if (written_in_place(path, &st, exists)) {
		if ((size_t)snprintf(f->path, sizeof(f->path), "%s", path) >= sizeof(f->path))
			return umap_error_set(UMAP_EUSAGE, "path too long: '%s'", path);
		int trunc = exists && S_ISREG(st.st_mode) ? O_TRUNC : 0;
		f->fd = open(path, O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC | trunc, 0666);
		if (f->fd < 0)
			return umap_error_set_errno(UMAP_EIO, "cannot write '%s'", path);
		f->direct = 1;
		return 0;
	}
	char dir[PATH_MAX];
	split_dir(path, dir, sizeof(dir));
	/* the temp name does not grow with the file's: any name that fits NAME_MAX can be written */
	if ((size_t)snprintf(f->path, sizeof(f->path), "%s", path) >= sizeof(f->path) ||
	    (size_t)snprintf(f->tmp, sizeof(f->tmp), "%s/" UMAP_TEMP_MARK "%ld-XXXXXX", dir,
			     (long)getpid()) >= sizeof(f->tmp))
		return umap_error_set(UMAP_EUSAGE, "path too long: '%s'", path);
	clean_temps_once(dir);
	int fd = mkstemp(f->tmp);
	if (fd < 0)
		return umap_error_set_errno(UMAP_EIO, "cannot create a temporary file beside '%s'", path);
	mode_t mode;
	if (exists) {
		mode = st.st_mode & 07777;
	} else {
		mode_t mask = umask(0);
		umask(mask);
		mode = 0666 & ~mask;
	}
	f->fd = fd;
	f->pending = 1;
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

/* On failure the temporary file stays for umap_atomic_file_abort to remove. */
int umap_atomic_file_prepare(umap_atomic_file *f)
{
	if (f->fd < 0)
		return 0; /* prepared already */
	int fd = f->fd;
	f->fd = -1;
	if (f->direct) {
		/* nothing to fsync or rename: a device or pipe takes the bytes as written */
		if (close(fd) < 0)
			return umap_error_set_errno(UMAP_EIO, "cannot write '%s'", f->path);
		return 0;
	}
	if (fsync(fd) < 0) {
		int rc = umap_error_set_errno(UMAP_EIO, "cannot write '%s'", f->path);
		close(fd);
		return rc;
	}
	if (close(fd) < 0)
		return umap_error_set_errno(UMAP_EIO, "cannot write '%s'", f->path);
	struct stat st;
	if (lstat(f->path, &st) == 0 && S_ISDIR(st.st_mode))
		return umap_error_set(UMAP_EIO, "cannot replace '%s': it is a directory", f->path);
	return 0;
}

int umap_atomic_file_commit(umap_atomic_file *f)
{
	int rc = umap_atomic_file_prepare(f);
	if (rc) {
		umap_atomic_file_abort(f);
		return rc;
	}
	if (f->direct)
		return 0;
	if (rename(f->tmp, f->path) < 0) {
		rc = umap_error_set_errno(UMAP_EIO, "cannot replace '%s'", f->path);
		umap_atomic_file_abort(f);
		return rc;
	}
	f->pending = 0;
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
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->pending)
		unlink(f->tmp);
	f->pending = 0;
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

int umap_dir_empty_or_missing(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT;
	struct dirent *e;
	int empty = 1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int umap_fs_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return umap_error_set_errno(UMAP_EIO, "cannot remove '%s'", path);
	return 0;
}
