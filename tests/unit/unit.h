/* A minimal TAP-producing unit test harness for lib/ (no framework to install).
 * Each test_*.c defines tests with TEST() and lists them in main() with RUN(). */
#ifndef UMAP_UNIT_H
#define UMAP_UNIT_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int unit_count, unit_failed, unit_current_failed;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			unit_current_failed = 1;                                          \
		}                                                                         \
	} while (0)

#define CHECK_STR(got, want)                                                                   \
	do {                                                                                   \
		const char *got_ = (got), *want_ = (want);                                     \
		if (!got_ || !want_ || strcmp(got_, want_)) {                                  \
			printf("# %s:%d: %s\n#   got:  %s\n#   want: %s\n", __FILE__, __LINE__, \
			       #got, got_ ? got_ : "(null)", want_ ? want_ : "(null)");       \
			unit_current_failed = 1;                                               \
		}                                                                              \
	} while (0)

#define CHECK_INT(got, want)                                                                  \
	do {                                                                                  \
		long long got_ = (long long)(got), want_ = (long long)(want);                 \
		if (got_ != want_) {                                                          \
			printf("# %s:%d: %s == %lld, want %lld\n", __FILE__, __LINE__, #got, got_, \
			       want_);                                                        \
			unit_current_failed = 1;                                              \
		}                                                                             \
	} while (0)

static inline void unit_run(const char *file, const char *name, void (*fn)(void))
{
	unit_current_failed = 0;
	fn();
	unit_count++;
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	if (unit_current_failed)
		unit_failed++;
	printf("%s %d - %.*s: %s\n", unit_current_failed ? "not ok" : "ok", unit_count,
	       (int)(strcspn(base, ".")), base, name);
	fflush(stdout);
}

#define RUN(name) unit_run(__FILE__, #name, name)
#define UNIT_DONE() (unit_failed ? 1 : 0)

#endif
