/* Unit tests for the base of libumapsync: errors, buffers, strings, atomic files.
 * These are the pieces every other module leans on, so their edge cases are pinned here. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "fs.h"
#include "strutil.h"

TEST(error_keeps_last_message)
{
	CHECK_INT(umap_error_set(UMAP_EINVALID, "bad %s at line %d", "thing", 3), UMAP_EINVALID);
	CHECK_STR(umap_error_last(), "bad thing at line 3");
	CHECK_INT(umap_error_last_code(), UMAP_EINVALID);
	umap_error_prefix(UMAP_EINVALID, "reading %s: ", "a.json");
	CHECK_STR(umap_error_last(), "reading a.json: bad thing at line 3");
	umap_error_clear();
	CHECK_STR(umap_error_last(), "no error");
	errno = ENOENT;
	umap_error_set_errno(UMAP_EIO, "cannot open '%s'", "x");
	CHECK_STR(umap_error_last(), "cannot open 'x': No such file or directory");
}

TEST(error_truncates_long_messages)
{
	char big[4096];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	umap_error_set(UMAP_ERROR, "%s", big);
	CHECK(strlen(umap_error_last()) < 2048);
}

TEST(buf_grows_and_formats)
{
	umap_buf buf = UMAP_BUF_INIT;
	for (int i = 0; i < 1000; i++)
		CHECK_INT(umap_buf_printf(&buf, "%d,", i), 0);
	CHECK(buf.len > 2000);
	CHECK(umap_starts_with(buf.ptr, "0,1,2,"));
	CHECK(umap_ends_with(buf.ptr, "998,999,"));
	umap_buf_clear(&buf);
	CHECK_INT(buf.len, 0);
	umap_buf_puts(&buf, "abc");
	char *s = umap_buf_detach(&buf);
	CHECK_STR(s, "abc");
	CHECK(buf.ptr == NULL);
	free(s);
	s = umap_buf_detach(&buf);
	CHECK_STR(s, "");
	free(s);
}

TEST(buf_refuses_overflow)
{
	umap_buf buf = UMAP_BUF_INIT;
	umap_buf_puts(&buf, "x");
	CHECK_INT(umap_buf_grow(&buf, (size_t)-1), UMAP_ENOMEM);
	CHECK_STR(buf.ptr, "x");
	umap_buf_dispose(&buf);
}

TEST(edit_distance)
{
	CHECK_INT(umap_edit_distance("merge", "merge", 2), 0);
	CHECK_INT(umap_edit_distance("mrege", "merge", 2), 1); /* transposition */
	CHECK_INT(umap_edit_distance("valdate", "validate", 2), 1);
	CHECK_INT(umap_edit_distance("xyz", "validate", 2), 3); /* capped at limit+1 */
	CHECK_INT(umap_edit_distance("", "ab", 5), 2);
}

TEST(secure_equal)
{
	CHECK(umap_secure_equal("abc", 3, "abc", 3));
	CHECK(!umap_secure_equal("abc", 3, "abd", 3));
	CHECK(!umap_secure_equal("abc", 3, "abcd", 4));
	CHECK(umap_secure_equal("", 0, "", 0));
}

TEST(atomic_write_replaces_whole_file)
{
	char dir[] = "/tmp/umap-unit-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/a.json", dir);
	CHECK_INT(umap_file_write_atomic(path, "old", 3), 0);
	chmod(path, 0600);
	CHECK_INT(umap_file_write_atomic(path, "new content", 11), 0);
	umap_buf buf = UMAP_BUF_INIT;
	CHECK_INT(umap_file_read(&buf, path, 100), 0);
	CHECK_STR(buf.ptr, "new content");
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	umap_buf_clear(&buf);
	CHECK_INT(umap_file_read(&buf, path, 5), UMAP_ELIMIT);
	umap_buf_clear(&buf);
	CHECK_INT(umap_file_read(&buf, dir, 100), UMAP_EIO);
	CHECK(strstr(umap_error_last(), "is a directory") != NULL);
	umap_buf_clear(&buf);
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/nope/x.json", dir);
	CHECK_INT(umap_file_write_atomic(missing, "x", 1), UMAP_EIO);
	CHECK_INT(umap_file_read(&buf, missing, 100), UMAP_ENOTFOUND);
	umap_buf_dispose(&buf);
	unlink(path);
	rmdir(dir);
}

TEST(private_write_is_0600)
{
	char dir[] = "/tmp/umap-unit-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/secret", dir);
	/* a wide umask and a file that was world-readable: the secret still ends 0600 */
	mode_t mask = umask(0);
	CHECK_INT(umap_file_write_atomic(path, "old", 3), 0);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0666);
	CHECK_INT(umap_file_write_private(path, "s3cr3t", 6), 0);
	umask(mask);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	umap_buf buf = UMAP_BUF_INIT;
	CHECK_INT(umap_file_read(&buf, path, 100), 0);
	CHECK_STR(buf.ptr, "s3cr3t");
	umap_buf_dispose(&buf);
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/nope/x", dir);
	CHECK_INT(umap_file_write_private(missing, "x", 1), UMAP_EIO);
	unlink(path);
	rmdir(dir);
}

/* Controls shown as git shows them (core.quotePath): C0, ESC, DEL, C1 as UTF-8, and bytes
 * that are not UTF-8; printable UTF-8 untouched. */
TEST(printable_escapes_controls)
{
	static const struct {
		const char *in;
		unsigned flags;
		const char *want;
	} cases[] = {
		{ "plain text", 0, "plain text" },
		{ "\x1b]0;pwned\x07\x1b[2J", 0, "\\x1b]0;pwned\\x07\\x1b[2J" },
		{ "a\nb\tc\r", 0, "a\\x0ab\\x09c\\x0d" },
		{ "a\nb\tc\r", UMAP_PRINTABLE_KEEP_LINES, "a\nb\tc\\x0d" },
		{ "del\x7f", 0, "del\\x7f" },
		{ "csi\xc2\x9b" "31m", 0, "csi\\u009b31m" },
		{ "nbsp\xc2\xa0 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x97\xba", 0, "nbsp\xc2\xa0 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x97\xba" },
		{ "raw\x9b" "c1 \xff \xc0\xaf \xe0\x80\x80 \xed\xa0\x80 \xc3", 0,
		  "raw\\x9bc1 \\xff \\xc0\\xaf \\xe0\\x80\\x80 \\xed\\xa0\\x80 \\xc3" },
		{ "back\\slash", 0, "back\\slash" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		umap_buf out = UMAP_BUF_INIT;
		CHECK_INT(umap_buf_put_printable(&out, cases[i].in, strlen(cases[i].in), cases[i].flags), 0);
		CHECK_STR(out.ptr ? out.ptr : "", cases[i].want);
		umap_buf_dispose(&out);
	}
	umap_buf out = UMAP_BUF_INIT;
	CHECK_INT(umap_buf_put_printable(&out, "a\0b", 3, 0), 0);
	CHECK_STR(out.ptr, "a\\x00b");
	umap_buf_dispose(&out);
}

int main(void)
{
	RUN(error_keeps_last_message);
	RUN(error_truncates_long_messages);
	RUN(buf_grows_and_formats);
	RUN(buf_refuses_overflow);
	RUN(edit_distance);
	RUN(secure_equal);
	RUN(printable_escapes_controls);
	RUN(atomic_write_replaces_whole_file);
	RUN(private_write_is_0600);
	return UNIT_DONE();
}
