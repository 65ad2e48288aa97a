/* Fault tests for the crash-safe file write every command relies on: a process killed at a
 * random point of umap_file_write_atomic leaves the old file or the new one, never half. */
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "error.h"
#include "fs.h"

#define BIG (2u << 20) /* 2 MiB: several write() calls, so a kill can land inside one */

static char *make_content(char fill)
{
	char *p = malloc(BIG);
	if (p)
		memset(p, fill, BIG);
	return p;
}

/* 'A'*BIG, 'B'*BIG or absent are the only acceptable states of the file. */
static int file_state(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	static char chunk[65536];
	size_t total = 0, n;
	int fill = -1, mixed = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (fill < 0)
				fill = chunk[i];
			else if (chunk[i] != fill)
				mixed = 1;
		}
		total += n;
	}
	fclose(f);
	if (mixed || total != BIG)
		return -1;
	return fill;
}

static size_t count_temp_files(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, ".tmp-"))
			n++;
	if (d)
		closedir(d);
	return n;
}

TEST(kill_mid_write_leaves_old_or_new)
{
	char dir[] = "/tmp/umapsync-faults.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/layer.geojson", dir);
	char *a = make_content('A'), *b = make_content('B');
	CHECK(a && b);
	CHECK_INT(umap_file_write_atomic(path, a, BIG), 0);

	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	printf("# seed %u\n", seed);
	srand(seed);
	int seen_a = 0, seen_b = 0, bad = 0;
	for (int round = 0; round < 24; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			/* alternate A and B forever; the parent kills us somewhere */
			for (unsigned i = 0;; i++)
				umap_file_write_atomic(path, (i & 1) ? a : b, BIG);
		}
		CHECK(pid > 0);
		struct timespec ts = { 0, (long)(rand() % 40000) * 1000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		int state = file_state(path);
		if (state == 'A')
			seen_a++;
		else if (state == 'B')
			seen_b++;
		else
			bad++;
	}
	CHECK_INT(bad, 0);
	printf("# 24 kills: %d old (A), %d new (B), %d torn\n", seen_a, seen_b, bad);
	/* killed writers may leave their temp file; a fresh write still works over them */
	printf("# temp files left by killed writers: %zu\n", count_temp_files(dir));
	CHECK_INT(umap_file_write_atomic(path, "{}", 2), 0);
	CHECK_INT(file_state(path), -1); /* not BIG any more */
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
	free(a);
	free(b);
}

TEST(write_error_leaves_file_untouched)
{
	/* /dev/full's directory is not ours; use a path whose directory does not exist and a
	 * directory in place of the file: both fail cleanly and change nothing. */
	char dir[] = "/tmp/umapsync-faults.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/sub", dir);
	CHECK_INT(mkdir(path, 0755), 0);
	CHECK(umap_file_write_atomic(path, "x", 1) < 0); /* rename over a directory */
	CHECK(strstr(umap_error_last(), "cannot replace") != NULL);
	CHECK_INT(count_temp_files(dir), 0);
	struct stat st;
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	rmdir(path);
	rmdir(dir);
}

TEST(longest_name_writes)
{
	/* the temporary name is short and fixed: a name of NAME_MAX bytes can be written */
	char dir[] = "/tmp/umapsync-faults.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char name[256], path[512];
	memset(name, 'n', 255);
	name[255] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK_INT(umap_file_write_atomic(path, "{}", 2), 0);
	CHECK_INT(file_state(path), -1);
	CHECK_INT(count_temp_files(dir), 0);
	/* a temporary file of a writer that is gone is recognised by its name alone */
	char stale[512];
	snprintf(stale, sizeof(stale), "%s/.tmp-999999999-AbC123", dir);
	FILE *f = fopen(stale, "w");
	CHECK(f != NULL);
	fclose(f);
	unsigned removed = 0;
	CHECK_INT(umap_fs_clean_temps(dir, &removed), 0);
	CHECK_INT(removed, 1);
	CHECK_INT(umap_fs_remove_tree(dir), 0);
	CHECK(access(dir, F_OK) < 0 && errno == ENOENT);
	CHECK_INT(umap_fs_remove_tree(dir), 0); /* gone already: not an error */
}

TEST(prepared_files_abort_together)
{
	/* several files replaced all or nothing: the second cannot be, so neither is */
	char dir[] = "/tmp/umapsync-faults.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char a[300], b[300];
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	CHECK_INT(umap_file_write_atomic(a, "old", 3), 0);
	CHECK_INT(mkdir(b, 0755), 0);
	umap_atomic_file fa, fb;
	CHECK_INT(umap_atomic_file_open(&fa, a), 0);
	CHECK_INT(umap_atomic_file_write(&fa, "new", 3), 0);
	CHECK_INT(umap_atomic_file_prepare(&fa), 0);
	CHECK_INT(umap_atomic_file_open(&fb, b), 0);
	CHECK_INT(umap_atomic_file_write(&fb, "new", 3), 0);
	CHECK(umap_atomic_file_prepare(&fb) < 0);
	CHECK(strstr(umap_error_last(), "is a directory") != NULL);
	umap_atomic_file_abort(&fa);
	umap_atomic_file_abort(&fb);
	umap_atomic_file_abort(&fb); /* twice: a no-op */
	CHECK_INT(count_temp_files(dir), 0);
	umap_buf got = UMAP_BUF_INIT;
	CHECK_INT(umap_file_read(&got, a, 100), 0);
	CHECK_INT((int)got.len, 3);
	CHECK(memcmp(got.ptr, "old", 3) == 0);
	umap_buf_dispose(&got);
	/* prepared, then committed: the rename is all that is left to do */
	CHECK_INT(umap_atomic_file_open(&fa, a), 0);
	CHECK_INT(umap_atomic_file_write(&fa, "new", 3), 0);
	CHECK_INT(umap_atomic_file_prepare(&fa), 0);
	CHECK_INT(umap_atomic_file_commit(&fa), 0);
	CHECK_INT(umap_file_read(&got, a, 100), 0);
	CHECK(got.len == 3 && memcmp(got.ptr, "new", 3) == 0);
	umap_buf_dispose(&got);
	CHECK_INT(umap_fs_remove_tree(dir), 0);
}

int main(void)
{
	RUN(longest_name_writes);
	RUN(prepared_files_abort_together);
	RUN(kill_mid_write_leaves_old_or_new);
	RUN(write_error_leaves_file_untouched);
	return UNIT_DONE();
}
