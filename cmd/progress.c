/* Progress lines on stderr for long work, drawn only on a terminal: a pipe or a log file
 * gets nothing, so scripts and CI see clean stderr. Modelled on git's progress.c. */
#include "progress.h"
/* lib/progress.h by path: -Icmd and -Ilib both have a progress.h. */
#include "../lib/progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* At most this many redraws a second: enough to look alive, cheap enough to call per unit. */
#define PROGRESS_REDRAW_NS (200 * 1000 * 1000LL)

struct progress {
	const char *title;
	uint64_t done, total;
	long long last_draw_ns; /* -1: never drawn */
	size_t last_len;        /* length of the last line drawn, to blank what a shorter one leaves */
};

/* Compile-time check that progress_report fits lib/'s callback type. */
static const umap_progress_cb progress_report_is_a_callback = progress_report;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct progress *start_progress(const char *title, uint64_t total)
{
	(void)progress_report_is_a_callback;
	if (!isatty(STDERR_FILENO))
		return NULL;
	struct progress *progress = calloc(1, sizeof(*progress));
	if (!progress)
		return NULL; /* progress is a courtesy: no memory for it is no reason to stop */
	progress->title = title;
	progress->total = total;
	progress->last_draw_ns = -1;
	return progress;
}

static void draw(struct progress *progress, const char *end)
{
	char line[256];
	int n;
	if (progress->total) {
		uint64_t done = progress->done;
		unsigned percent = done >= progress->total
					   ? 100
					   : (unsigned)((long double)done * 100 / progress->total);
		n = snprintf(line, sizeof(line), "%s: %3u%% (%" PRIu64 "/%" PRIu64 ")%s",
			     progress->title, percent, done, progress->total, end);
	} else {
		n = snprintf(line, sizeof(line), "%s: %" PRIu64 "%s", progress->title, progress->done,
			     end);
	}
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	size_t visible = len - strlen(end);
	/* Blank what is left of a longer previous line before the final text. */
	size_t pad = progress->last_len > visible ? progress->last_len - visible : 0;
	fprintf(stderr, "\r%.*s%*s%s", (int)visible, line, (int)pad, "", line + visible);
	fflush(stderr);
	progress->last_len = visible;
}

void display_progress(struct progress *progress, uint64_t done)
{
	if (!progress)
		return;
	progress->done = done;
	long long now = now_ns();
	if (progress->last_draw_ns >= 0 && now - progress->last_draw_ns < PROGRESS_REDRAW_NS)
		return;
	progress->last_draw_ns = now;
	draw(progress, "");
}

void progress_set_total(struct progress *progress, uint64_t total)
{
	if (progress)
		progress->total = total;
}

void stop_progress(struct progress **progressp)
{
	struct progress *progress = progressp ? *progressp : NULL;
	if (!progress)
		return;
	draw(progress, ", done.\n");
	free(progress);
	*progressp = NULL;
}

void progress_report(void *payload, uint64_t done, uint64_t total)
{
	struct progress *progress = payload;
	if (!progress)
		return;
	if (total)
		progress->total = total;
	display_progress(progress, done);
}
