/* validate for GeoJSON Text Sequences (RFC 8142) and newline-delimited GeoJSON: each record
 * checked as a document of its own, its messages moved to the lines of the whole file. */
#include "validate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "fs.h"

#define RS '\x1e'

/* Validates one record that starts at (line, col) of the file, and moves its messages to
 * `out` with the file's positions; a message about the whole record goes to its start. */
static int validate_record(umap_validation *out, const char *data, size_t len, uint32_t line,
			   uint32_t col, uint64_t offset, const umap_validate_options *opts)
{
	umap_validation one = UMAP_VALIDATION_INIT;
	int rc = umap_validate_buffer(&one, data, len, opts);
	for (size_t i = 0; !rc && i < one.count; i++) {
		umap_message *m = &one.messages[i];
		umap_pos pos = m->pos;
		if (pos.line == 0) {
			pos.line = line;
			pos.col = col;
		} else {
			pos.col = pos.line == 1 ? pos.col + col - 1 : pos.col;
			pos.line += line - 1;
		}
		pos.offset += offset;
		rc = umap_validation_add(out, pos, m->level, m->text);
		m->text = NULL; /* taken, or freed by umap_validation_add */
	}
	umap_validation_clear(&one);
	return rc;
}

static uint32_t count_lines(const char *s, size_t len)
{
	uint32_t n = 0;
	for (const char *p = s; (p = memchr(p, '\n', len - (size_t)(p - s))) != NULL; p++)
		n++;
	return n;
}

int umap_validate_seq_buffer(umap_validation *out, const char *data, size_t len,
			     umap_seq_kind kind, const umap_validate_options *opts)
{
	if (kind == UMAP_SEQ_NONE)
		return umap_validate_buffer(out, data, len, opts);
	int rc = 0;
	uint32_t line = 1;
	size_t at = 0;
	if (kind == UMAP_SEQ_LINES) {
		while (at < len && !rc) {
			const char *nl = memchr(data + at, '\n', len - at);
			size_t end = nl ? (size_t)(nl - data) : len;
			if (!umap_seq_blank(data + at, end - at))
				rc = validate_record(out, data + at, end - at, line, 1, at, opts);
			at = end + 1;
			line++;
		}
		return rc;
	}
	/* RFC 8142: what comes before the first RS is not a record; a record runs to the next RS */
	const char *first = memchr(data, RS, len);
	if (!umap_seq_blank(data, first ? (size_t)(first - data) : len)) {
		char *text = strdup("a GeoJSON text sequence starts each record with the RS "
				    "character (0x1E)");
		umap_pos start = { 1, 1, 0 };
		return text ? umap_validation_add(out, start, UMAP_LEVEL_ERROR, text)
			    : umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	if (!first)
		return 0; /* no record: an empty sequence */
	line += count_lines(data, (size_t)(first - data));
	at = (size_t)(first - data);
	while (at < len && !rc) {
		size_t start = at + 1;
		const char *next = memchr(data + start, RS, len - start);
		size_t end = next ? (size_t)(next - data) : len;
		/* the column after the RS: bytes since the last line feed before it, plus two */
		size_t bol = at;
		while (bol > 0 && data[bol - 1] != '\n')
			bol--;
		if (!umap_seq_blank(data + start, end - start))
			rc = validate_record(out, data + start, end - start, line,
					     (uint32_t)(at - bol) + 2, start, opts);
		line += count_lines(data + start, end - start);
		at = end;
	}
	return rc;
}

int umap_validate_path(umap_validation *out, const char *path, const umap_validate_options *opts)
{
	int is_stdin = !strcmp(path, "-");
	umap_seq_kind kind = umap_seq_sniff(path);
	if (kind == UMAP_SEQ_NONE && !is_stdin)
		return umap_validate_file(out, path, opts);
	/* a stream, or standard input, which is read before its first bytes can tell */
	umap_buf buf = UMAP_BUF_INIT;
	size_t max = opts && opts->json.max_size ? opts->json.max_size : UMAP_JSON_DEFAULT_MAX_SIZE;
	int rc = umap_file_read(&buf, path, max);
	if (rc == UMAP_ELIMIT) {
		/* as for a document: a message about the input, not a failure to validate */
		umap_pos nowhere = { 0, 0, 0 };
		char *text = strdup(umap_error_last());
		rc = text ? umap_validation_add(out, nowhere, UMAP_LEVEL_ERROR, text)
			  : umap_error_set(UMAP_ENOMEM, "out of memory");
	} else if (!rc) {
		const char *data = buf.ptr ? buf.ptr : "";
		if (is_stdin)
			kind = umap_seq_kind_of_text(data, buf.len);
		rc = umap_validate_seq_buffer(out, data, buf.len, kind, opts);
	}
	umap_buf_dispose(&buf);
	return rc;
}
