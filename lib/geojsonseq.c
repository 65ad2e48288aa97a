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

umap_seq_kind umap_seq_sniff(const char *path)
{
	if (ends_with(path, ".geojsons") || ends_with(path, ".geojsonseq"))
		return UMAP_SEQ_RS;
	if (ends_with(path, ".geojsonl") || ends_with(path, ".ndjson") || ends_with(path, ".jsonl"))
		return UMAP_SEQ_LINES;
	if (!strcmp(path, "-"))
		return UMAP_SEQ_NONE;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UMAP_SEQ_NONE; /* umap_validate_file says why */
	char *head = malloc(SNIFF_BYTES);
	ssize_t got = head ? read(fd, head, SNIFF_BYTES) : -1;
	close(fd);
	umap_seq_kind kind = UMAP_SEQ_NONE;
	if (got > 0 && head[0] == RS) {
		kind = UMAP_SEQ_RS;
	} else if (got > 0) {
		const char *nl = memchr(head, '\n', (size_t)got);
		if (nl && whole_object(head, (size_t)(nl - head))) {
			const char *next = nl + 1, *end = head + got;
			while (next < end && (*next == ' ' || *next == '\t' || *next == '\r' || *next == '\n'))
				next++;
			if (next < end && *next == '{')
				kind = UMAP_SEQ_LINES;
		}
	}
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
	int rc = umap_buf_puts(out, "{\"type\":\"FeatureCollection\",\"features\":[");
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
		const char *first = memchr(data, '\x1e', len);
		if (!first || !umap_seq_blank(data, (size_t)(first - data)))
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

int umap_doc_open_any(umap_doc **out, const char *path, const umap_doc_options *opts)
{
	umap_seq_kind kind = umap_seq_sniff(path);
	if (kind == UMAP_SEQ_NONE)
		return umap_doc_open(out, path, opts);
	umap_buf raw = UMAP_BUF_INIT, fc = UMAP_BUF_INIT;
	int rc = umap_file_read(&raw, path, UMAP_JSON_DEFAULT_MAX_SIZE);
	if (!rc)
		rc = umap_seq_to_collection(&fc, raw.ptr ? raw.ptr : "", raw.len, kind, path);
	umap_buf_dispose(&raw);
	if (rc) {
		umap_buf_dispose(&fc);
		return rc;
	}
	size_t n = fc.len;
	return umap_doc_from_owned_buffer(out, umap_buf_detach(&fc), n, path, opts);
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
