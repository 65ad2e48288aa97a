/* Unit tests for cmd/progress.c: silent off a terminal, git-style lines on one, throttled.
 * With arguments (--run TITLE TOTAL STEP_MS) it is the long task that progress.bats runs. */
#include "unit.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* cmd/ is not in libumapsync: compile the unit under test in, as git's test-tool does. */
#include "../../cmd/progress.c"

/* A stand-in for lib/ code: does `total` units of work, reporting through the callback. */
static void fake_lib_work(uint64_t total, long step_ms, const struct umap_progress *cb)
{
	struct timespec step = { step_ms / 1000, (step_ms % 1000) * 1000000L };
	for (uint64_t i = 1; i <= total; i++) {
		if (step_ms)
			nanosleep(&step, NULL);
		umap_progress_report(cb, i, total);
	}
}

/* Reads everything written so far: a pseudo-terminal hands over one write per read(). */
static void read_all(int fd, char *out, size_t size)
{
	size_t len = 0;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ssize_t n;
	while (len < size - 1 && (n = read(fd, out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
}

/* Runs fake work with stderr sent to `fd`; returns what was written there. */
static char *capture_stderr(int write_fd, int read_fd, uint64_t total, long step_ms)
{
	int saved = dup(STDERR_FILENO);
	dup2(write_fd, STDERR_FILENO);
	struct progress *progress = start_progress("Importing features", 0);
	struct umap_progress cb = { progress_report, progress };
	fake_lib_work(total, step_ms, &cb);
	stop_progress(&progress);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	static char out[65536];
	read_all(read_fd, out, sizeof(out));
	return out;
}

static int open_pty(int *master, int *slave)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY);
	if (*master < 0 || grantpt(*master) || unlockpt(*master))
		return -1;
	const char *name = ptsname(*master);
	*slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
	if (*slave < 0)
		return -1;
	/* Raw output: no "\n" to "\r\n" translation, so the test sees exactly what was written. */
	struct termios tio;
	if (tcgetattr(*slave, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(*slave, TCSANOW, &tio);
	}
	return 0;
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

TEST(silent_when_stderr_is_not_a_terminal)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	const char *out = capture_stderr(fds[1], fds[0], 1000, 0);
	CHECK_STR(out, "");
	close(fds[0]);
	close(fds[1]);
	if (!isatty(STDERR_FILENO))
		CHECK(start_progress("x", 1) == NULL);
	display_progress(NULL, 3); /* NULL is accepted everywhere */
	struct progress *none = NULL;
	stop_progress(&none);
	stop_progress(NULL);
}

TEST(final_line_on_a_terminal)
{
	int master, slave;
	if (open_pty(&master, &slave) < 0) {
		printf("# no pseudo-terminal here; skipped\n");
		return;
	}
	const char *out = capture_stderr(slave, master, 1000, 0);
	/* The first call draws at once, the rest within 200 ms are throttled. */
	const char *last = strrchr(out, '\r');
	CHECK(last != NULL);
	CHECK_STR(last, "\rImporting features: 100% (1000/1000), done.\n");
	CHECK(strncmp(out, "\rImporting features:   0% (1/1000)", 34) == 0);
	CHECK(count_char(out, '\r') <= 3);
	close(master);
	close(slave);
}

TEST(redraws_a_few_times_a_second)
{
	int master, slave;
	if (open_pty(&master, &slave) < 0) {
		printf("# no pseudo-terminal here; skipped\n");
		return;
	}
	/* 60 units of 10 ms: at least 0.6 s of work, so at least 3 redraws and the final line,
	 * and never more than one redraw per 200 ms of the time it really took. */
	long long start = now_ns();
	const char *out = capture_stderr(slave, master, 60, 10);
	long long elapsed_ms = (now_ns() - start) / 1000000;
	size_t draws = count_char(out, '\r');
	CHECK(draws >= 3);
	CHECK((long long)draws <= elapsed_ms / 200 + 2);
	CHECK(strstr(out, "\rImporting features: 100% (60/60), done.\n") != NULL);
	close(master);
	close(slave);
}

TEST(unknown_total_and_shorter_lines)
{
	int master, slave;
	if (open_pty(&master, &slave) < 0) {
		printf("# no pseudo-terminal here; skipped\n");
		return;
	}
	int saved = dup(STDERR_FILENO);
	dup2(slave, STDERR_FILENO);
	struct progress *progress = start_progress("Counting", 0);
	display_progress(progress, 123456);
	progress->last_draw_ns = -1; /* force the next redraw */
	display_progress(progress, 7);
	stop_progress(&progress);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char out[256];
	read_all(master, out, sizeof(out));
	/* "7" is five characters shorter than "123456": five blanks wipe the rest. */
	CHECK_STR(out, "\rCounting: 123456\rCounting: 7     \rCounting: 7, done.\n");
	CHECK(progress == NULL);
	close(master);
	close(slave);
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--run")) {
		struct progress *progress = start_progress(argv[2], 0);
		struct umap_progress cb = { progress_report, progress };
		fake_lib_work(strtoull(argv[3], NULL, 10), strtol(argv[4], NULL, 10), &cb);
		stop_progress(&progress);
		printf("work done\n");
		return 0;
	}
	RUN(silent_when_stderr_is_not_a_terminal);
	RUN(final_line_on_a_terminal);
	RUN(redraws_a_few_times_a_second);
	RUN(unknown_total_and_shorter_lines);
	return UNIT_DONE();
}
