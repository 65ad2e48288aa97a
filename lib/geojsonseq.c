/* GeoJSON Text Sequences (RFC 8142) out: records of RS, compact JSON, LF, for features of a
 * document (streamed to a sink) and for the changed features of a diff. */
#include "geojsonseq.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "diff.h"
#include "doc.h"
#include "error.h"
#include "fs.h"

#define RS '\x1e'
#define FLUSH_AT (1u << 20)
#define SNIFF_BYTES 65536

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcasecmp(s + n - m, suffix);
}

/* Whether data[0..len) is one whole JSON object (only whitespace around it). */
static int whole_object(const char *data, size_t len)
{
	while (len && (data[0] == ' ' || data[0] == '\t'))
		data++, len--;
	if (!len || data[0] != '{')
		return 0;
	json_t *v = NULL;
	int ok = !umap_json_loadb(&v, data, len, "sniff") && json_is_object(v);
	json_decref(v);
	umap_error_clear();
	return ok;
}

umap_seq_kind umap_seq_kind_of_name(const char *name)
{
	if (ends_with(name, ".geojsons") || ends_with(name, ".geojsonseq"))
		return UMAP_SEQ_RS;
	if (ends_with(name, ".geojsonl") || ends_with(name, ".ndjson") || ends_with(name, ".jsonl"))
		return UMAP_SEQ_LINES;
	return UMAP_SEQ_NONE;
}

umap_seq_kind umap_seq_kind_of_text(const char *data, size_t len)
{
	if (len > SNIFF_BYTES)
		len = SNIFF_BYTES;
	if (len && data[0] == RS)
		return UMAP_SEQ_RS;
	const char *nl = len ? memchr(data, '\n', len) : NULL;
	if (!nl || !whole_object(data, (size_t)(nl - data)))
		return UMAP_SEQ_NONE;
	const char *next = nl + 1, *end = data + len;
	while (next < end && (*next == ' ' || *next == '\t' || *next == '\r' || *next == '\n'))
		next++;
	return next < end && *next == '{' ? UMAP_SEQ_LINES : UMAP_SEQ_NONE;
}

umap_seq_kind umap_seq_kind_of(const char *name, const char *data, size_t len)
{
	umap_seq_kind kind = name ? umap_seq_kind_of_name(name) : UMAP_SEQ_NONE;
	return kind ? kind : umap_seq_kind_of_text(data, len);
}

umap_seq_kind umap_seq_sniff(const char *path)
{
	umap_seq_kind kind = umap_seq_kind_of_name(path);
	if (kind || !strcmp(path, "-"))
		return kind;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UMAP_SEQ_NONE; /* whoever reads it says why */
	char *head = malloc(SNIFF_BYTES);
	ssize_t got = head ? read(fd, head, SNIFF_BYTES) : -1;
	close(fd);
	if (got > 0)
		kind = umap_seq_kind_of_text(head, (size_t)got);
	free(head);
	return kind;
}

int umap_seq_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

int umap_seq_to_collection(umap_buf *out, const char *data, size_t len, umap_seq_kind kind,
			   const char *source_name)
{
	/* a line of its own (line 0 for a reader with header_line), and every byte of the file
	 * at its place: RS becomes a comma or a space, a line's record gets a comma after it */
	int rc = umap_buf_puts(out, "{\"type\":\"FeatureCollection\",\"features\":[\n");
	if (kind == UMAP_SEQ_LINES) {
		/* where the last record ends: no comma after it */
		size_t last = 0, at = 0;
		while (at < len) {
			const char *nl = memchr(data + at, '\n', len - at);
			size_t end = nl ? (size_t)(nl - data) : len;
			if (!umap_seq_blank(data + at, end - at))
				last = at + 1;
			at = end + 1;
		}
		for (at = 0; at < len && !rc;) {
			const char *nl = memchr(data + at, '\n', len - at);
			size_t end = nl ? (size_t)(nl - data) : len;
			rc = umap_buf_put(out, data + at, end - at);
			if (!rc && at + 1 < last && !umap_seq_blank(data + at, end - at))
				rc = umap_buf_putc(out, ',');
			if (!rc && nl)
				rc = umap_buf_putc(out, '\n');
			at = end + 1;
		}
	} else {
		/* no record at all (an empty file) is an empty sequence */
		const char *first = memchr(data, '\x1e', len);
		if (!umap_seq_blank(data, first ? (size_t)(first - data) : len))
			return umap_error_set(UMAP_EINVALID, "%s:1:1: a GeoJSON text sequence starts "
							     "each record with the RS character (0x1E)",
					      source_name);
		int records = 0;
		size_t at = 0;
		while (at < len && !rc) {
			if (data[at] != RS) {
				rc = umap_buf_putc(out, data[at++]);
				continue;
			}
			const char *next = memchr(data + at + 1, RS, len - at - 1);
			size_t end = next ? (size_t)(next - data) : len;
			int empty = umap_seq_blank(data + at + 1, end - at - 1);
			rc = umap_buf_putc(out, empty || !records ? ' ' : ',');
			records += !empty;
			if (!rc)
				rc = umap_buf_put(out, data + at + 1, end - at - 1);
			at = end;
		}
	}
	if (!rc)
		rc = umap_buf_puts(out, "]}\n");
	return rc;
}

int umap_geojsonseq_put(umap_buf *out, const json_t *value)
{
	int rc = umap_buf_putc(out, RS);
	if (!rc)
		rc = umap_json_write(out, value, UMAP_JSON_COMPACT);
	if (!rc)
		rc = umap_buf_putc(out, '\n');
	return rc;
}

int umap_geojsonseq_write_doc(umap_doc *doc, umap_seq_sink sink, void *ctx)
{
	umap_buf out = UMAP_BUF_INIT;
	int rc = 0;
	for (size_t l = 0; l < doc->nlayers && !rc; l++) {
		umap_layer *layer = &doc->layers[l];
		for (size_t i = 0; i < layer->nfeatures && !rc; i++) {
			const umap_feature *f = &layer->features[i];
			json_t *tree = NULL;
			if (f->value) {
				rc = umap_geojsonseq_put(&out, f->value);
			} else if (!(rc = umap_doc_build_span(&tree, doc, f->offset, f->length))) {
				/* built for this record only: memory stays that of one feature */
				rc = umap_geojsonseq_put(&out, tree);
				json_decref(tree);
				umap_doc_drop_behind(doc, f->offset);
			}
			if (!rc && out.len >= FLUSH_AT) {
				rc = sink(ctx, out.ptr, out.len);
				umap_buf_clear(&out);
			}
		}
	}
	if (!rc && out.len)
		rc = sink(ctx, out.ptr, out.len);
	umap_buf_dispose(&out);
	return rc;
}

int umap_geojsonseq_write_diff(umap_buf *out, const umap_diff *diff)
{
	json_t *fc = NULL;
	int rc = umap_diff_to_geojson(&fc, diff);
	size_t i;
	const json_t *feature;
	json_array_foreach(json_object_get(fc, "features"), i, feature) {
		if (rc)
			break;
		rc = umap_geojsonseq_put(out, feature);
	}
	json_decref(fc);
	return rc;
}
