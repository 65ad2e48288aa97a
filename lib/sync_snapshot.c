/* A snapshot answer read from a file (clone streams it there): the layer list is checked and
 * placed in files as umap_sync_files_from_snapshot does, and each file is then written
 * feature by feature from the mapped bytes, so that a clone never holds the features. */
#include "sync_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "geojsonseq.h"
#include "json.h"

/* The bytes behind the cursor are given back to the kernel every so often: the file's
 * pages would otherwise stay in the process's resident set. */
#define DROP_EVERY ((size_t)8 << 20)

typedef struct feature_span {
	size_t start, end; /* the layer's "features" array, brackets included */
} feature_span;

struct umap_sync_snapshot {
	const char *data;
	size_t len;
	json_t *skeleton;    /* the answer with every non-empty "features" holding a marker */
	umap_sync_files files;
	feature_span *spans; /* by marker number */
	size_t nspans;
	char nonce[33];      /* in every marker: a server cannot forge one in its own values */
	size_t dropped;      /* bytes of data given back while reading the layer list, from 0 */
};

static int make_nonce(char out[33])
{
	unsigned char bytes[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, bytes, sizeof(bytes));
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(bytes))
		return umap_error_set(UMAP_EIO, "cannot read /dev/urandom: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
	return 0;
}

static int put_marker(umap_buf *out, const char *nonce, size_t n)
{
	umap_buf_clear(out);
	return umap_buf_printf(out, "\x01umapsync-features:%s:%zu", nonce, n);
}

/* Whether the array at data[start..end) holds no element. */
static int array_empty(const char *data, size_t start, size_t end)
{
	for (size_t i = start + 1; i < end; i++)
		if (data[i] != ' ' && data[i] != '\t' && data[i] != '\n' && data[i] != '\r')
			return data[i] == ']';
	return 1;
}

static size_t page_floor(size_t offset)
{
	long page = sysconf(_SC_PAGESIZE);
	return offset - offset % (size_t)(page > 0 ? page : 4096);
}

/* Gives back the mapped pages from *from (a page boundary) up to the page of `offset`, once
 * DROP_EVERY bytes have been read past *from, or at once when `now`: a mapping read end to
 * end would otherwise keep every page of the file in the process's resident set. */
static void drop_behind(umap_sync_snapshot *s, size_t *from, size_t offset, int now)
{
	size_t upto = page_floor(offset);
	if (upto > *from && (now || upto - *from > DROP_EVERY)) {
		madvise((char *)s->data + *from, upto - *from, MADV_DONTNEED);
		*from = upto;
	}
}

/* A layer of "layers": its members are built, except a non-empty "features" array, whose
 * span is kept and which gets a marker instead. */
static int read_layer(umap_sync_snapshot *s, umap_scanner *sc, const umap_token *first, json_t **out)
{
	if (first->type != UMAP_TOKEN_OBJECT_START)
		return umap_scanner_build(sc, first, out);
	json_t *layer = json_object();
	umap_buf key = UMAP_BUF_INIT, marker = UMAP_BUF_INIT;
	umap_token tok;
	int err = layer ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
	while (!err && !(err = umap_scanner_next(sc, &tok)) && tok.type == UMAP_TOKEN_KEY) {
		json_t *value = NULL;
		if ((err = umap_scanner_string(sc, &tok, &key)) || (err = umap_scanner_next(sc, &tok)))
			break;
		if (!strcmp(key.ptr, "features") && key.len == strlen("features") && tok.type == UMAP_TOKEN_ARRAY_START) {
			/* element by element, so that the pages read are given back as the scan goes */
			size_t end = 0;
			umap_token element;
			while (!(err = umap_scanner_next(sc, &element)) && element.type != UMAP_TOKEN_ARRAY_END &&
			       !(err = umap_scanner_skip(sc, &element, &end)))
				drop_behind(s, &s->dropped, end, 0);
			if (err)
				break;
			end = element.end;
			value = json_array();
			if (value && !array_empty(s->data, tok.start, end)) {
				feature_span *grown = realloc(s->spans, (s->nspans + 1) * sizeof(*grown));
				if (!grown || put_marker(&marker, s->nonce, s->nspans) ||
				    json_array_append_new(value, json_stringn(marker.ptr, marker.len))) {
					if (grown)
						s->spans = grown;
					json_decref(value);
					err = umap_error_set(UMAP_ENOMEM, "out of memory");
					break;
				}
				s->spans = grown;
				s->spans[s->nspans++] = (feature_span){ tok.start, end };
			}
		} else if ((err = umap_scanner_build(sc, &tok, &value))) {
			break;
		}
		if (!value || json_object_setn_new(layer, key.ptr, key.len, value))
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	umap_buf_dispose(&key);
	umap_buf_dispose(&marker);
	if (err) {
		json_decref(layer);
		return err;
	}
	*out = layer;
	return 0;
}

/* The answer without its features: members built as they come, "layers" layer by layer. */
static int read_skeleton(umap_sync_snapshot *s)
{
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.source_name = "snapshot";
	umap_scanner *sc = NULL;
	umap_token tok;
	umap_buf key = UMAP_BUF_INIT;
	int err = umap_scanner_new(&sc, s->data, s->len, &opts);
	if (!err)
		err = umap_scanner_next(sc, &tok);
	if (!err && tok.type != UMAP_TOKEN_OBJECT_START) {
		err = umap_scanner_build(sc, &tok, &s->skeleton); /* not an object: the check says so */
	} else if (!err && !(s->skeleton = json_object())) {
		err = umap_error_set(UMAP_ENOMEM, "out of memory");
	} else {
		while (!err && !(err = umap_scanner_next(sc, &tok)) && tok.type == UMAP_TOKEN_KEY) {
			json_t *value = NULL;
			if ((err = umap_scanner_string(sc, &tok, &key)) || (err = umap_scanner_next(sc, &tok)))
				break;
			if (!strcmp(key.ptr, "layers") && key.len == strlen("layers") &&
			    tok.type == UMAP_TOKEN_ARRAY_START) {
				s->nspans = 0; /* a repeated "layers": the last one counts */
				value = json_array();
				while (value && !err && !(err = umap_scanner_next(sc, &tok)) &&
				       tok.type != UMAP_TOKEN_ARRAY_END) {
					json_t *layer = NULL;
					if (!(err = read_layer(s, sc, &tok, &layer)) && json_array_append_new(value, layer))
						err = umap_error_set(UMAP_ENOMEM, "out of memory");
				}
				if (err) {
					json_decref(value);
					break;
				}
			} else if ((err = umap_scanner_build(sc, &tok, &value))) {
				break;
			}
			if (!value || json_object_setn_new(s->skeleton, key.ptr, key.len, value))
				err = umap_error_set(UMAP_ENOMEM, "out of memory");
		}
	}
	if (!err && (err = umap_scanner_next(sc, &tok)) == 0 && tok.type != UMAP_TOKEN_EOF)
		err = umap_error_set(UMAP_EINVALID, "snapshot: more than one JSON value");
	umap_buf_dispose(&key);
	umap_scanner_free(sc);
	return err;
}

int umap_sync_snapshot_open(umap_sync_snapshot **out, long long *cursor, const char *path)
{
	*out = NULL;
	*cursor = 0;
	umap_sync_snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	int err = make_nonce(s->nonce);
	int fd = err ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (!err && (fd < 0 || fstat(fd, &st) < 0))
		err = umap_error_set(UMAP_EIO, "cannot read %s: %s", path, strerror(errno));
	if (!err && st.st_size > 0) {
		void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED)
			err = umap_error_set(UMAP_EIO, "cannot map %s: %s", path, strerror(errno));
		else
			s->data = map, s->len = (size_t)st.st_size;
	}
	if (fd >= 0)
		close(fd);
	if (!err)
		err = read_skeleton(s);
	if (!err && s->len)
		madvise((void *)s->data, s->len, MADV_DONTNEED); /* the writes read it again, span by span */
	if (!err)
		err = umap_sync_snapshot_check(cursor, s->skeleton);
	if (!err)
		err = umap_sync_files_from_snapshot(&s->files, s->skeleton);
	if (err) {
		umap_sync_snapshot_free(s);
		return err;
	}
	*out = s;
	return 0;
}

const umap_sync_files *umap_sync_snapshot_files(const umap_sync_snapshot *s)
{
	return &s->files;
}

void umap_sync_snapshot_free(umap_sync_snapshot *s)
{
	if (!s)
		return;
	if (s->data)
		munmap((void *)s->data, s->len);
	umap_sync_files_dispose(&s->files);
	json_decref(s->skeleton);
	free(s->spans);
	free(s);
}

/* The features of span `n`, each laid out `depth` levels deep, separated as an indented
 * array separates its elements. */
static int write_features(umap_sync_snapshot *s, size_t n, size_t depth, const umap_layout *layout,
			  umap_json_sink sink, void *ctx)
{
	const feature_span *span = &s->spans[n];
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	opts.source_name = "snapshot";
	umap_scanner *sc = NULL;
	umap_token tok;
	umap_buf out = UMAP_BUF_INIT, sep = UMAP_BUF_INIT;
	size_t count = 0, dropped = page_floor(span->start);
	int err = umap_scanner_new(&sc, s->data + span->start, span->end - span->start, &opts);
	if (!err && !(err = umap_scanner_next(sc, &tok)) && tok.type != UMAP_TOKEN_ARRAY_START)
		err = umap_error_set(UMAP_ECORRUPT, "snapshot: the features moved");
	if (!err && (umap_buf_putc(&sep, ',') || umap_buf_putc(&sep, '\n')))
		err = umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; !err && i < depth * layout->indent; i++)
		err = umap_buf_putc(&sep, ' ');
	while (!err && !(err = umap_scanner_next(sc, &tok)) && tok.type != UMAP_TOKEN_ARRAY_END) {
		size_t end = 0;
		if ((err = umap_scanner_skip(sc, &tok, &end)))
			break;
		if (count++ && (err = umap_buf_put(&out, sep.ptr, sep.len)))
			break;
		if ((err = umap_json_relayout_at(&out, s->data + span->start + tok.start, end - tok.start, layout, depth)))
			break;
		if (out.len >= ((size_t)1 << 20)) {
			if ((err = sink(ctx, out.ptr, out.len)))
				break;
			umap_buf_clear(&out);
			drop_behind(s, &dropped, span->start + end, 0);
		}
	}
	if (!err && out.len)
		err = sink(ctx, out.ptr, out.len);
	drop_behind(s, &dropped, span->end, 1);
	umap_buf_dispose(&out);
	umap_buf_dispose(&sep);
	umap_scanner_free(sc);
	return err;
}

static int collect(void *ctx, const char *data, size_t len)
{
	return umap_buf_put(ctx, data, len) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
}

static int write_layout(umap_sync_snapshot *s, size_t file, umap_json_sink sink, void *ctx);

/* A stream file (.geojsonl, .geojsons) is written as its records: the document laid out
 * whole first, then relaid as records (streams are rare in clones; their size is held). */
int umap_sync_snapshot_write(umap_sync_snapshot *s, size_t file, umap_json_sink sink, void *ctx)
{
	if (file >= s->files.n || !s->files.roots[file])
		return umap_error_set(UMAP_EUSAGE, "no file %zu in the snapshot", file);
	umap_seq_kind seq = umap_seq_kind_of_name(s->files.paths[file]);
	if (!seq)
		return write_layout(s, file, sink, ctx);
	umap_buf whole = UMAP_BUF_INIT;
	umap_layout layout = UMAP_LAYOUT_DEFAULT;
	layout.seq = (int)seq;
	int err = write_layout(s, file, collect, &whole);
	if (!err)
		err = umap_json_relayout_to(sink, ctx, whole.ptr ? whole.ptr : "", whole.len, &layout);
	umap_buf_dispose(&whole);
	return err;
}

static int write_layout(umap_sync_snapshot *s, size_t file, umap_json_sink sink, void *ctx)
{
	static const umap_layout layout = UMAP_LAYOUT_DEFAULT;
	char *text = umap_json_dumps_as(s->files.roots[file], &layout);
	if (!text)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	umap_buf marker = UMAP_BUF_INIT;
	const char *from = text;
	int err = umap_buf_printf(&marker, "\"\\u0001umapsync-features:%s:", s->nonce);
	size_t prefix = marker.len;
	const char *at;
	while (!err && (at = strstr(from, marker.ptr))) {
		char *endp = NULL;
		unsigned long long n = strtoull(at + prefix, &endp, 10);
		if (!endp || *endp != '"' || n >= s->nspans) {
			err = umap_error_set(UMAP_ECORRUPT, "snapshot: a feature list was lost on the way");
			break;
		}
		/* the marker is the array's only element: its indentation is the features' depth */
		size_t spaces = 0;
		while (at - spaces > text && at[-(ptrdiff_t)spaces - 1] == ' ')
			spaces++;
		if ((err = sink(ctx, from, (size_t)(at - from))) ||
		    (err = write_features(s, (size_t)n, layout.indent ? spaces / layout.indent : 0, &layout, sink, ctx)))
			break;
		from = endp + 1;
	}
	if (!err)
		err = sink(ctx, from, strlen(from));
	umap_buf_dispose(&marker);
	free(text);
	return err;
}
