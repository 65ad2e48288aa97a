/* Documents in and out of the repository: reading a revision or the working files as
 * umap_docs, building a revision's tree from documents (reusing every unchanged subtree),
 * and the O(changed) comparison of two trees. Layout: docs/REPOSITORY.md. */
#include "repo.h"
#include "repo_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "error.h"
#include "fs.h"
#include "geojsonseq.h"
#include "strutil.h"
#include "json.h"

#define MANIFEST "manifest.json"
#define MAP_BLOB "map.json"
#define LAYERS "layers"
#define META "meta.json"
#define OPTIONS "options.json"
#define FEATURES "features"
#define ORDER "order"
#define DICTIONARY "dictionary"
#define DICTIONARY_MIN_FEATURES 256   /* smaller layers gain less than the blob costs */
#define DICTIONARY_BYTES 262144       /* ~1000 features: longer matches, 3-byte offsets past 64 KiB */
       /* ~250 features: half-size deltas, cheap to index */

static int oom(void)
{
	return umap_error_set(UMAP_ENOMEM, "out of memory");
}

static int hex_error(int code, const char *fmt, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	return umap_error_set(code, fmt, hex);
}

/* ---- Snapshots ----------------------------------------------------------------------- */

int umap_snapshot_new(umap_snapshot **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : oom();
}

int umap_snapshot_add(umap_snapshot *snap, const char *path, umap_doc *doc)
{
	umap_repo_file *files = realloc(snap->files, (snap->nfiles + 1) * sizeof(*files));
	if (!files)
		return oom();
	snap->files = files;
	umap_repo_file *f = &files[snap->nfiles];
	memset(f, 0, sizeof(*f));
	if (!(f->path = strdup(path)))
		return oom();
	f->doc = doc;
	snap->nfiles++;
	return 0;
}

umap_repo_file *umap_snapshot_find(umap_snapshot *snap, const char *path)
{
	for (size_t i = 0; i < snap->nfiles; i++)
		if (!strcmp(snap->files[i].path, path))
			return &snap->files[i];
	return NULL;
}

void umap_snapshot_free(umap_snapshot *snap)
{
	if (!snap)
		return;
	for (size_t i = 0; i < snap->nfiles; i++) {
		umap_repo_file *f = &snap->files[i];
		if (f->blobs && f->doc)
			for (size_t l = 0; l < f->doc->nlayers; l++)
				free(f->blobs[l]);
		free(f->blobs);
		umap_doc_free(f->doc);
		umap_layer_edit_free(f->edit);
		free(f->path);
		free(f->from);
	}
	free(snap->files);
	free(snap);
}

/* ---- The manifest ---------------------------------------------------------------------- */

typedef struct manifest_file {
	char *path;
	int is_map;
	long layers_at; /* maps: members before "layers", -1 when last */
	size_t nlayers;
	char **layers;
	json_t *layout; /* the file's layout as recorded ({"indent":2,...}); NULL: none */
	long *parents;  /* group layers (uMap 3.7+): the index in `layers` of each layer's
			 * parent, -1 at the top; NULL when no layer has one */
	unsigned char *idless; /* maps: which layers have no id in the file (their id is only
				* the manifest's); NULL when every layer has its id written */
} manifest_file;

typedef struct manifest {
	size_t nfiles;
	manifest_file *files;
} manifest;

static void manifest_clear(manifest *m)
{
	for (size_t i = 0; i < m->nfiles; i++) {
		for (size_t l = 0; l < m->files[i].nlayers; l++)
			free(m->files[i].layers[l]);
		free(m->files[i].layers);
		free(m->files[i].parents);
		free(m->files[i].idless);
		free(m->files[i].path);
		json_decref(m->files[i].layout);
	}
	free(m->files);
	memset(m, 0, sizeof(*m));
}

int umap_repo_read_json(json_t **out, umap_repo *repo, const git_oid *blob, const char *what)
{
	umap_obj obj;
	int rc = umap_store_read(&obj, umap_repo_store(repo), blob, GIT_OBJECT_BLOB, what);
	if (rc)
		return rc;
	rc = umap_json_loadb(out, obj.data, obj.len, what);
	umap_obj_release(&obj);
	if (rc) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), blob);
		return umap_error_prefix(UMAP_ECORRUPT, "%s (blob %s) is damaged: ", what, hex);
	}
	return 0;
}

static int manifest_corrupt(void)
{
	return umap_error_set(UMAP_ECORRUPT, "the manifest of the revision is damaged");
}

/* A map's "parents": each layer's parent as an index of an earlier layer, or -1; nesting
 * no deeper than a document may have. */
static int manifest_read_parents(manifest_file *mf, const json_t *parents)
{
	if (!parents)
		return 0;
	if (!json_is_array(parents) || json_array_size(parents) != mf->nlayers)
		return manifest_corrupt();
	mf->parents = calloc(mf->nlayers + 1, sizeof(*mf->parents));
	unsigned *depth = calloc(mf->nlayers + 1, sizeof(*depth));
	int rc = mf->parents && depth ? 0 : oom();
	for (size_t l = 0; l < mf->nlayers && !rc; l++) {
		const json_t *p = json_array_get(parents, l);
		json_int_t v = json_is_integer(p) ? json_integer_value(p) : -2;
		if (v < -1 || v >= (json_int_t)l)
			rc = manifest_corrupt();
		else if ((mf->parents[l] = (long)v) >= 0 &&
			 (depth[l] = depth[v] + 1) >= UMAP_DOC_MAX_LAYER_DEPTH)
			rc = manifest_corrupt();
	}
	free(depth);
	return rc;
}

/* Reads the manifest of `tree` (NULL: empty). */
/* A map's "idless": the indexes of its layers that have no id in the file. */
static int manifest_read_idless(manifest_file *mf, const json_t *idless)
{
	if (!idless)
		return 0;
	if (!json_is_array(idless))
		return manifest_corrupt();
	if (!(mf->idless = calloc(mf->nlayers + 1, 1)))
		return oom();
	for (size_t k = 0; k < json_array_size(idless); k++) {
		const json_t *at = json_array_get(idless, k);
		if (!json_is_integer(at) || json_integer_value(at) < 0 ||
		    (size_t)json_integer_value(at) >= mf->nlayers)
			return manifest_corrupt();
		mf->idless[json_integer_value(at)] = 1;
	}
	return 0;
}

/* A map's "idless" in the manifest, from its document, else (a file that did not change)
 * as the last revision had it; none when every layer has its id in the file. */
static int manifest_put_idless(json_t *entry, const umap_doc *doc, const manifest_file *old)
{
	size_t n = doc ? doc->nlayers : old ? old->nlayers : 0;
	json_t *idless = NULL;
	for (size_t l = 0; l < n; l++) {
		if (doc ? !doc->layers[l].id_outside : !old->idless || !old->idless[l])
			continue;
		if (!idless && !(idless = json_array()))
			return oom();
		if (json_array_append_new(idless, json_integer((json_int_t)l))) {
			json_decref(idless);
			return oom();
		}
	}
	return idless && json_object_set_new(entry, "idless", idless) ? oom() : 0;
}

/* The layers of a revision's copy of a map that have no id in the file take the ids the
 * manifest has at their place. */
static int bind_idless_layers(umap_doc *doc, const manifest_file *mf)
{
	for (size_t l = 0; l < doc->nlayers && l < mf->nlayers; l++) {
		if (doc->layers[l].id || !mf->idless || !mf->idless[l])
			continue;
		int rc = umap_repo_bind_layer_id(&doc->layers[l], mf->layers[l]);
		if (rc)
			return rc;
		doc->layers[l].id_outside = 1;
	}
	return 0;
}

static int manifest_read(manifest *m, umap_repo *repo, const git_oid *tree)
{
	memset(m, 0, sizeof(*m));
	if (!tree)
		return 0;
	git_oid id;
	int rc = umap_store_tree_lookup(&id, NULL, umap_repo_store(repo), tree, MANIFEST,
					"the revision's tree");
	if (rc == UMAP_ENOTFOUND)
		return hex_error(UMAP_ECORRUPT, "tree %s is not a umapsync revision (no manifest.json)",
				 tree);
	json_t *root = NULL;
	if (rc || (rc = umap_repo_read_json(&root, repo, &id, "the manifest")))
		return rc;
	json_t *files = json_object_get(root, "files");
	if (!json_is_array(files)) {
		json_decref(root);
		return manifest_corrupt();
	}
	size_t n = json_array_size(files);
	m->files = calloc(n ? n : 1, sizeof(*m->files));
	if (!m->files) {
		json_decref(root);
		return oom();
	}
	for (size_t i = 0; i < n && !rc; i++) {
		json_t *f = json_array_get(files, i), *layers = json_object_get(f, "layers");
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *kind = json_string_value(json_object_get(f, "kind"));
		if (!path || !kind || !json_is_array(layers)) {
			rc = manifest_corrupt();
			break;
		}
		manifest_file *mf = &m->files[m->nfiles++];
		mf->path = strdup(path);
		mf->is_map = !strcmp(kind, "map");
		json_t *at = json_object_get(f, "layers_at");
		mf->layers_at = json_is_integer(at) ? (long)json_integer_value(at) : -1;
		mf->layout = json_incref(json_object_get(f, "layout"));
		mf->layers = calloc(json_array_size(layers) + 1, sizeof(char *));
		if (!mf->path || !mf->layers) {
			rc = oom();
			break;
		}
		for (size_t l = 0; l < json_array_size(layers) && !rc; l++) {
			const char *lid = json_string_value(json_array_get(layers, l));
			if (!lid)
				rc = manifest_corrupt();
			else if (!(mf->layers[mf->nlayers++] = strdup(lid)))
				rc = oom();
		}
		if (!rc)
			rc = manifest_read_parents(mf, json_object_get(f, "parents"));
		if (!rc)
			rc = manifest_read_idless(mf, json_object_get(f, "idless"));
	}
	json_decref(root);
	if (rc)
		manifest_clear(m);
	return rc;
}

/* The manifests of two trees, both or neither (on an error, none is left to clear). */
static int manifest_read_pair(manifest *old, manifest *new, umap_repo *repo, const git_oid *old_tree,
			      const git_oid *new_tree)
{
	int rc = manifest_read(old, repo, old_tree);
	if (!rc && (rc = manifest_read(new, repo, new_tree)))
		manifest_clear(old);
	return rc;
}

static manifest_file *manifest_find(manifest *m, const char *path)
{
	for (size_t i = 0; i < m->nfiles; i++)
		if (!strcmp(m->files[i].path, path))
			return &m->files[i];
	return NULL;
}

/* A map's "parents" in the manifest, from its document, else (a file that did not change)
 * as the last revision had them; none when every layer is at the top. */
static int manifest_put_parents(json_t *entry, const umap_doc *doc, const manifest_file *old)
{
	size_t n = doc ? doc->nlayers : old ? old->nlayers : 0;
	int nested = 0;
	for (size_t l = 0; l < n && !nested; l++)
		nested = doc ? doc->layers[l].parent != UMAP_LAYER_TOP : old->parents && old->parents[l] >= 0;
	if (!nested)
		return 0;
	json_t *parents = json_array();
	for (size_t l = 0; parents && l < n; l++) {
		long p = doc ? (doc->layers[l].parent == UMAP_LAYER_TOP ? -1 : (long)doc->layers[l].parent)
			     : old->parents[l];
		if (doc && p >= (long)l) {
			/* the manifest lists parents before children, as documents read do */
			json_decref(parents);
			return umap_error_set(UMAP_EINVALID, "layer %zu is listed before its group", l + 1);
		}
		if (json_array_append_new(parents, json_integer(p))) {
			json_decref(parents);
			parents = NULL;
		}
	}
	return parents && !json_object_set_new(entry, "parents", parents) ? 0 : oom();
}

static long mf_layers_at(manifest *m, const char *path)
{
	manifest_file *mf = manifest_find(m, path);
	return mf ? mf->layers_at : -1;
}

static const char *manifest_layer_path(manifest *m, const char *layer)
{
	for (size_t i = 0; i < m->nfiles; i++)
		for (size_t l = 0; l < m->files[i].nlayers; l++)
			if (!strcmp(m->files[i].layers[l], layer))
				return m->files[i].path;
	return NULL;
}

int umap_repo_tracked(char ***paths, size_t *n, umap_repo *repo, const git_oid *tree)
{
	manifest m;
	*paths = NULL;
	*n = 0;
	int rc = manifest_read(&m, repo, tree);
	if (rc)
		return rc;
	char **list = calloc(m.nfiles + 1, sizeof(*list));
	if (!list) {
		manifest_clear(&m);
		return oom();
	}
	for (size_t i = 0; i < m.nfiles; i++) {
		list[i] = m.files[i].path;
		m.files[i].path = NULL;
	}
	*paths = list;
	*n = m.nfiles;
	manifest_clear(&m);
	return 0;
}

void umap_paths_free(char **paths, size_t n)
{
	if (!paths)
		return;
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* ---- Reading revisions ------------------------------------------------------------------ */

/* A layer's feature blobs by entry name, 24 bytes a feature plus its name in one arena and
 * 5.3 bytes of hash table (1M features: 36 MB, where a strdup per name and a pointer took
 * 64). Looked up through the table: a cache miss or two, where a binary search of 1M took
 * twenty (and its sort a twentieth of an export). The table keeps no hash: a probe compares
 * the name, which at three quarters load is two probes on average. */
typedef struct named_blob {
	uint32_t name_at; /* in the list's names */
	git_oid id;
} named_blob;

typedef struct blob_list {
	named_blob *items;
	size_t n, alloc;
	umap_buf names;
	uint32_t *table; /* open addressing on xxh3 of the name: index+1 into items, 0 = empty;
			  * at most three quarters full */
	size_t table_size;
} blob_list;

static int collect_blob(void *ctx, const char *name, const git_oid *blob)
{
	blob_list *list = ctx;
	if (list->n == list->alloc) {
		size_t alloc = list->alloc ? list->alloc * 2 : 256;
		named_blob *more = realloc(list->items, alloc * sizeof(*more));
		if (!more)
			return oom();
		list->items = more;
		list->alloc = alloc;
	}
	size_t len = strlen(name);
	if (list->names.len > UINT32_MAX - len - 1 || list->n >= UINT32_MAX / 2)
		return umap_error_set(UMAP_ELIMIT, "a layer's features pass 2 billion or their names 4 GB");
	named_blob *item = &list->items[list->n];
	item->name_at = (uint32_t)list->names.len;
	if (umap_buf_put(&list->names, name, len + 1))
		return oom();
	git_oid_cpy(&item->id, blob);
	list->n++;
	return 0;
}

/* A hash's first slot in a table of `size` slots (any size: the high bits scaled). */
static size_t blob_slot_of(uint64_t hash, size_t size)
{
	return (size_t)(((hash >> 32) * (uint64_t)size) >> 32);
}

/* The table over the items collected, three quarters full at most (1M features: 5.3 MB,
 * where a power of two at half load took 8 of export's and checkout's peak). */
static int blob_list_index(blob_list *list)
{
	size_t size = list->n + list->n / 3 + 64;
	if (size > UINT32_MAX)
		return umap_error_set(UMAP_ELIMIT, "a layer's features pass 2 billion");
	list->table = calloc(size, sizeof(*list->table));
	if (!list->table)
		return oom();
	list->table_size = size;
	for (size_t i = 0; i < list->n; i++) {
		const char *name = list->names.ptr + list->items[i].name_at;
		size_t slot = blob_slot_of(XXH3_64bits(name, strlen(name)), size);
		while (list->table[slot])
			slot = slot + 1 == size ? 0 : slot + 1;
		list->table[slot] = (uint32_t)(i + 1);
	}
	return 0;
}

/* The first table slot of a name (table_size 0: none). */
static size_t blob_list_slot(const blob_list *list, const char *name, size_t len)
{
	return list->table_size ? blob_slot_of(XXH3_64bits(name, len), list->table_size) : 0;
}

static const named_blob *blob_list_find_at(const blob_list *list, const char *name, size_t slot)
{
	if (!list->table_size)
		return NULL;
	for (; list->table[slot]; slot = slot + 1 == list->table_size ? 0 : slot + 1) {
		const named_blob *m = &list->items[list->table[slot] - 1];
		if (!strcmp(list->names.ptr + m->name_at, name))
			return m;
	}
	return NULL;
}

static void blob_list_clear(blob_list *list)
{
	free(list->items);
	free(list->table);
	umap_buf_dispose(&list->names);
	memset(list, 0, sizeof(*list));
}

/* A revision is read back as JSON text assembled from its blobs (features copied as
 * stored, no tree built) and scanned by umap_doc_from_buffer like any file: 100k features
 * cost a blob read and a scan each, and the document writes them back byte for byte. */
/* Where a layer's features go as RFC 8142 records (RS, the stored JSON, LF) instead of into
 * its text: to `sink` a megabyte at a time, so that an export holds one feature. */
typedef struct record_out {
	umap_buf buf;
	umap_json_sink sink;
	void *ctx;
} record_out;

#define RECORDS_FLUSH_AT ((size_t)1 << 20)

/* The order walk looks a feature's blob up a few ids after it has seen its id: the lookup
 * is three cache misses at 1M features (the table slot, the item, its name), which the
 * prefetches issued meanwhile (one stage an id, while a blob is read) take off the walk's
 * path (1M features: a seventh of the walk). */
#define ORDER_LOOKAHEAD 4

typedef struct order_pending {
	umap_buf id, name;
	size_t slot;       /* the name's first slot in the table */
} order_pending;

typedef struct order_reader {
	umap_repo *repo;
	umap_buf *text;
	record_out *records; /* NULL: features go into text */
	blob_list *features;
	git_oid *blobs;
	size_t count;
	order_pending ring[ORDER_LOOKAHEAD];
	size_t head, pending; /* next slot of the ring; ids seen but not yet read */
	const char *layer_id;
	int spill_ids;       /* blob ids go to repo->ids_fd rather than blobs */
} order_reader;

static int put_record(record_out *out, const char *json, size_t len)
{
	if (umap_buf_putc(&out->buf, '\x1e') || umap_buf_put(&out->buf, json, len) ||
	    umap_buf_putc(&out->buf, '\n'))
		return oom();
	if (out->buf.len < RECORDS_FLUSH_AT)
		return 0;
	int rc = out->sink(out->ctx, out->buf.ptr, out->buf.len);
	umap_buf_clear(&out->buf);
	return rc;
}

/* (a quarter of a megabyte: the text and the ids wait in memory while the order walk
 * holds the layer's blob list, the peak of an export) */
#define SPILL_AT ((size_t)256 << 10)

/* umap_repo_export: `buf` to one of its temporary files (see struct umap_repo), emptied. */
static int spill_buf(umap_repo *repo, int fd, umap_buf *buf, uint64_t *written)
{
	const char *p = buf->ptr;
	size_t left = buf->len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return umap_error_set_errno(UMAP_EIO, "cannot write a temporary file in %s",
						    repo->gitdir);
		p += n;
		left -= (size_t)n;
		*written += (uint64_t)n;
	}
	umap_buf_clear(buf);
	return 0;
}

/* The text assembled so far to the spill file. */
static int spill_text(umap_repo *repo, umap_buf *text)
{
	return spill_buf(repo, repo->spill_fd, text, &repo->spilled);
}

/* A feature's blob id (a zero id ends a layer) to the ids file. */
static int spill_id(umap_repo *repo, const git_oid *id)
{
	if (umap_buf_put(&repo->ids, (const char *)id->id, sizeof(id->id)))
		return oom();
	return repo->ids.len >= SPILL_AT ? spill_buf(repo, repo->ids_fd, &repo->ids, &repo->ids_spilled)
					 : 0;
}

/* The blob `found` of feature `id`, number `count` of a layer's order, read into *obj
 * with the checks every reader of an order makes (found is NULL when no blob has the
 * id's name). */
static int read_order_blob(umap_obj *obj, umap_repo *repo, const blob_list *features,
			   const named_blob *found, size_t count, const char *id, const char *layer_id)
{
	if (!found || count >= features->n)
		return umap_error_set(UMAP_ECORRUPT,
				      "layer %s: feature %s is in the order but has no blob",
				      layer_id, id);
	umap_store *s = umap_repo_store(repo);
	/* what a failed read says is only made for it (a snprintf a feature was a twentieth
	 * of an export): the read is made again with it */
	int rc = umap_store_read(obj, s, &found->id, GIT_OBJECT_BLOB, "a feature");
	if (rc) {
		char what[128];
		snprintf(what, sizeof(what), "feature %.60s of layer %.40s", id, layer_id);
		if ((rc = umap_store_read(obj, s, &found->id, GIT_OBJECT_BLOB, what)))
			return rc;
	}
	if (!obj->len || obj->data[0] != '{') {
		umap_obj_release(obj);
		return hex_error(UMAP_ECORRUPT, "blob %s is not a feature object", &found->id);
	}
	return 0;
}

/* Reads the blob of the oldest id seen and puts it into the text or the records. */
static int read_pending_feature(order_reader *r)
{
	order_pending *p = &r->ring[(r->head + ORDER_LOOKAHEAD - r->pending) % ORDER_LOOKAHEAD];
	r->pending--;
	const named_blob *found = blob_list_find_at(r->features, p->name.ptr, p->slot);
	umap_obj obj;
	int rc = read_order_blob(&obj, r->repo, r->features, found, r->count, p->id.ptr, r->layer_id);
	if (rc)
		return rc;
	if (r->records)
		rc = put_record(r->records, obj.data, obj.len);
	else
		rc = (r->count && umap_buf_puts(r->text, ",\n")) ||
		     umap_buf_put(r->text, obj.data, obj.len) ? oom() : 0;
	umap_obj_release(&obj);
	if (r->blobs)
		git_oid_cpy(&r->blobs[r->count], &found->id);
	else if (r->spill_ids && !rc)
		rc = spill_id(r->repo, &found->id);
	r->count++;
	if (!rc && r->repo->spill_fd >= 0 && r->text->len >= SPILL_AT)
		rc = spill_text(r->repo, r->text);
	return rc;
}

/* The ids seen and not yet read, read: at the end of the walk, or before its error. */
static int read_pending_features(order_reader *r)
{
	int rc = 0;
	while (r->pending && !rc)
		rc = read_pending_feature(r);
	return rc;
}

static int read_one_feature(void *ctx, const char *id, size_t len)
{
	order_reader *r = ctx;
	const blob_list *list = r->features;
	order_pending *p = &r->ring[r->head];
	umap_buf_clear(&p->id);
	if (umap_buf_put(&p->id, id, len))
		return oom();
	int rc = umap_name_from_id(&p->name, p->id.ptr);
	if (rc) {
		/* the ids before it are read first, as they were seen first */
		int read = read_pending_features(r);
		return read ? read : umap_name_from_id(&p->name, p->id.ptr);
	}
	p->slot = blob_list_slot(list, p->name.ptr, p->name.len);
	r->head = (r->head + 1) % ORDER_LOOKAHEAD;
	r->pending++;
	if (list->table_size) {
		/* this id's slot; the item of the one before; the name of the one before that */
		__builtin_prefetch(&list->table[p->slot]);
		if (r->pending >= 2) {
			const order_pending *q = &r->ring[(r->head + ORDER_LOOKAHEAD - 2) % ORDER_LOOKAHEAD];
			uint32_t at = list->table[q->slot];
			if (at)
				__builtin_prefetch(&list->items[at - 1]);
		}
		if (r->pending >= 3) {
			const order_pending *q = &r->ring[(r->head + ORDER_LOOKAHEAD - 3) % ORDER_LOOKAHEAD];
			uint32_t at = list->table[q->slot];
			if (at)
				__builtin_prefetch(list->names.ptr + list->items[at - 1].name_at);
		}
	}
	return r->pending == ORDER_LOOKAHEAD ? read_pending_feature(r) : 0;
}

static int put_member(umap_buf *text, int *first, const char *name, const json_t *value)
{
	json_t *key = json_string(name);
	int rc = !key || (!*first && umap_buf_putc(text, ',')) || umap_json_write(text, key, 0) ||
		 umap_buf_putc(text, ':') || umap_json_write(text, value, UMAP_JSON_COMPACT);
	json_decref(key);
	*first = 0;
	return rc ? oom() : 0;
}

static int key_listed(const json_t *keys, const char *name)
{
	for (size_t j = 0; j < json_array_size(keys); j++) {
		const char *k = json_string_value(json_array_get(keys, j));
		if (k && !strcmp(k, name))
			return 1;
	}
	return 0;
}

static int put_children(umap_repo *repo, umap_buf *text, int *first, const git_oid *layers_tree,
			manifest_file *mf, long parent, git_oid **blobs);

static int has_children(const manifest_file *mf, size_t index)
{
	for (size_t l = index + 1; mf->parents && l < mf->nlayers; l++)
		if (mf->parents[l] == (long)index)
			return 1;
	return 0;
}

/* Writes layer `index` of `mf` back as JSON (its children nested in its "layers"). */
static int read_layer(umap_repo *repo, umap_buf *text, const git_oid *layers_tree,
		      manifest_file *mf, size_t index, git_oid **all_blobs, record_out *records)
{
	const char *layer_id = mf->layers[index];
	git_oid **blobs_out = &all_blobs[index];
	int done_layers = !has_children(mf, index);
	umap_store *s = umap_repo_store(repo);
	umap_buf name = UMAP_BUF_INIT;
	git_oid layer_tree, meta_id, options_id, features_id, order_id;
	json_t *meta = NULL, *options = NULL, *type = json_string("FeatureCollection");
	blob_list features = { 0 };
	order_reader reader;
	memset(&reader, 0, sizeof(reader));
	char what[160];
	snprintf(what, sizeof(what), "the tree of layer %.100s", layer_id);
	int rc = type ? umap_name_from_layer_id(&name, layer_id) : oom();
	if (!rc && (rc = umap_store_tree_lookup(&layer_tree, NULL, s, layers_tree, name.ptr,
						"the layers tree")) == UMAP_ENOTFOUND)
		rc = umap_error_set(UMAP_ECORRUPT, "layer %s is in the manifest but not in the tree",
				    layer_id);
	if (!rc && !(rc = umap_store_tree_lookup(&meta_id, NULL, s, &layer_tree, META, what)))
		rc = umap_repo_read_json(&meta, repo, &meta_id, "layer metadata");
	if (!rc && !json_is_object(meta))
		rc = umap_error_set(UMAP_ECORRUPT, "the metadata of layer %s is damaged", layer_id);
	if (!rc) {
		rc = umap_store_tree_lookup(&options_id, NULL, s, &layer_tree, OPTIONS, what);
		if (rc == UMAP_ENOTFOUND)
			rc = 0;
		else if (!rc)
			rc = umap_repo_read_json(&options, repo, &options_id, "layer options");
	}
	if (rc == UMAP_ENOTFOUND)
		rc = umap_error_set(UMAP_ECORRUPT, "%s is incomplete", what);
	int has_features = 0;
	if (!rc) {
		rc = umap_store_tree_lookup(&features_id, NULL, s, &layer_tree, FEATURES, what);
		if (!rc)
			has_features = 1;
		if (rc == UMAP_ENOTFOUND)
			rc = 0;
	}
	if (!rc && has_features) {
		rc = umap_store_tree_lookup(&order_id, NULL, s, &layer_tree, ORDER, what);
		if (rc == UMAP_ENOTFOUND)
			rc = umap_error_set(UMAP_ECORRUPT, "layer %s has features but no order",
					    layer_id);
		if (!rc)
			rc = umap_store_features_each(s, &features_id, collect_blob, &features);
		if (!rc)
			rc = blob_list_index(&features);
	}
	/* an export without a document (spilled text) needs no blob ids; checkout's are
	 * spilled beside its text when they can be */
	int spill_ids = repo->spill_fd >= 0 && repo->spill_blobs && repo->ids_fd >= 0;
	int keep_blobs = repo->spill_fd < 0 || (repo->spill_blobs && !spill_ids);
	git_oid *blobs = keep_blobs ? calloc(features.n + 1, sizeof(*blobs)) : NULL;
	if (!rc && keep_blobs && !blobs)
		rc = oom();

	/* the layer object, its members in the order they were read */
	const char *options_key = umap_options_key(json_string_value(json_object_get(meta, "options_key")));
	json_t *members = json_object_get(meta, "members"), *keys = json_object_get(meta, "keys");
	int first = 1, done_type = 0, done_options = !options, done_features = 0;
	if (!rc && umap_buf_putc(text, '{'))
		rc = oom();
	for (size_t pass = 0; pass < 2 && !rc; pass++) {
		size_t nkeys = pass == 0 ? json_array_size(keys) : 0;
		for (size_t k = 0; k < nkeys + (pass ? 1 : 0) && !rc; k++) {
			const char *key = pass ? NULL : json_string_value(json_array_get(keys, k));
			if (pass == 1) {
				/* what the recorded order did not name: type, options, members, features */
				if (!done_type)
					rc = put_member(text, &first, "type", type);
				if (!rc && !done_options)
					rc = put_member(text, &first, options_key, options);
				const char *mk;
				json_t *mv;
				json_object_foreach(members, mk, mv) {
					if (!rc && !key_listed(keys, mk) && strcmp(mk, "type") && strcmp(mk, "features") &&
					    strcmp(mk, options_key))
						rc = put_member(text, &first, mk, mv);
				}
				done_type = done_options = 1;
				key = done_features ? NULL : "features";
				if (!key)
					break;
			}
			if (!key)
				continue;
			if (!strcmp(key, "type") && !done_type) {
				rc = put_member(text, &first, "type", type);
				done_type = 1;
			} else if (!strcmp(key, "features") && !done_features) {
				done_features = 1;
				if ((!first && umap_buf_putc(text, ',')) || umap_buf_puts(text, "\"features\":[")) {
					rc = oom();
					break;
				}
				first = 0;
				/* the layer's ids, then a zero id, before its children's */
				if (spill_ids)
					repo->ids_at[index] = (repo->ids_spilled + repo->ids.len) /
							      sizeof(git_oid);
				if (has_features) {
					reader.repo = repo;
					reader.text = text;
					reader.records = records;
					reader.features = &features;
					reader.blobs = blobs;
					reader.spill_ids = spill_ids;
					reader.layer_id = layer_id;
					rc = umap_store_order_each(s, &order_id, read_one_feature, &reader);
					if (!rc)
						rc = read_pending_features(&reader);
					if (!rc && reader.count != features.n)
						rc = umap_error_set(UMAP_ECORRUPT,
								    "layer %s: %zu features but %zu in the order",
								    layer_id, features.n, reader.count);
				}
				if (!rc && spill_ids) {
					git_oid zero;
					memset(&zero, 0, sizeof(zero));
					rc = spill_id(repo, &zero);
				}
				if (!rc && umap_buf_putc(text, ']'))
					rc = oom();
			} else if (options && !strcmp(key, options_key) && !done_options) {
				rc = put_member(text, &first, options_key, options);
				done_options = 1;
			} else if (!strcmp(key, "layers") && !done_layers) {
				done_layers = 1;
				rc = put_children(repo, text, &first, layers_tree, mf, (long)index, all_blobs);
			} else if (json_object_get(members, key)) {
				rc = put_member(text, &first, key, json_object_get(members, key));
			}
		}
	}
	if (!rc && !done_layers)
		rc = put_children(repo, text, &first, layers_tree, mf, (long)index, all_blobs);
	if (!rc && umap_buf_putc(text, '}'))
		rc = oom();
	if (!rc) {
		*blobs_out = blobs;
		blobs = NULL;
	}
	free(blobs);
	for (size_t i = 0; i < ORDER_LOOKAHEAD; i++) {
		umap_buf_dispose(&reader.ring[i].id);
		umap_buf_dispose(&reader.ring[i].name);
	}
	blob_list_clear(&features);
	json_decref(meta);
	json_decref(options);
	json_decref(type);
	umap_buf_dispose(&name);
	return rc;
}

/* A "layers" member, after a comma unless *first: the layers of `mf` whose parent is
 * `parent` (-1: the map's own), each read back with its children. */
static int put_children(umap_repo *repo, umap_buf *text, int *first, const git_oid *layers_tree,
			manifest_file *mf, long parent, git_oid **blobs)
{
	if ((!*first && umap_buf_putc(text, ',')) || umap_buf_puts(text, "\"layers\":["))
		return oom();
	*first = 0;
	int rc = 0;
	size_t n = 0;
	for (size_t l = 0; l < mf->nlayers && !rc; l++) {
		if ((mf->parents ? mf->parents[l] : -1) != parent)
			continue;
		if (n++ && umap_buf_puts(text, ",\n"))
			rc = oom();
		if (!rc)
			rc = read_layer(repo, text, layers_tree, mf, l, blobs, NULL);
	}
	return !rc && umap_buf_putc(text, ']') ? oom() : rc;
}

/* A map's "layers" member, after a comma when `comma`: each layer of `mf` read back. */
static int put_layers(umap_repo *repo, umap_buf *text, int comma, const git_oid *layers_tree,
		      manifest_file *mf, git_oid **blobs)
{
	int first = !comma;
	return put_children(repo, text, &first, layers_tree, mf, -1, blobs);
}

/* The JSON text of a revision's file (compact, a feature a line) and the blob ids of each
 * layer's features in order (mf->nlayers arrays, the caller's to free). */
static int assemble_file(umap_buf *text, git_oid ***blobs_out, umap_repo *repo,
			 const git_oid *tree, manifest_file *mf)
{
	umap_store *s = umap_repo_store(repo);
	json_t *map = NULL;
	git_oid layers_tree, map_id;
	int rc = 0;
	*blobs_out = NULL;
	if (!mf->is_map && mf->nlayers != 1)
		return umap_error_set(UMAP_ECORRUPT, "%s is a layer file with %zu layers in the manifest",
				      mf->path, mf->nlayers);
	if (mf->is_map) {
		rc = umap_store_tree_lookup(&map_id, NULL, s, tree, MAP_BLOB, "the revision's tree");
		if (rc == UMAP_ENOTFOUND)
			rc = umap_error_set(UMAP_ECORRUPT, "%s is a map but the revision has no map.json",
					    mf->path);
		if (!rc)
			rc = umap_repo_read_json(&map, repo, &map_id, "the map options");
		if (!rc && !json_is_object(map))
			rc = umap_error_set(UMAP_ECORRUPT, "the map options are not an object");
	}
	if (!rc && mf->nlayers) {
		rc = umap_store_tree_lookup(&layers_tree, NULL, s, tree, LAYERS, "the revision's tree");
		if (rc == UMAP_ENOTFOUND)
			rc = umap_error_set(UMAP_ECORRUPT, "the revision has no layers tree");
	}
	git_oid **blobs = calloc(mf->nlayers + 1, sizeof(*blobs));
	if (!rc && !blobs)
		rc = oom();
	if (!rc && mf->is_map) {
		/* the map's members, "layers" where it was */
		size_t i = 0, at = mf->layers_at >= 0 ? (size_t)mf->layers_at : SIZE_MAX;
		int first = 1, layers_done = 0;
		const char *key;
		json_t *value;
		rc = umap_buf_putc(text, '{') ? oom() : 0;
		json_object_foreach(map, key, value) {
			if (rc)
				break;
			if (i++ == at) {
				layers_done = 1;
				rc = put_layers(repo, text, !first, &layers_tree, mf, blobs);
				first = 0;
			}
			if (!rc)
				rc = put_member(text, &first, key, value);
		}
		if (!rc && !layers_done)
			rc = put_layers(repo, text, !first, &layers_tree, mf, blobs);
		if (!rc && umap_buf_putc(text, '}'))
			rc = oom();
	} else if (!rc) {
		rc = read_layer(repo, text, &layers_tree, mf, 0, blobs, NULL);
	}
	json_decref(map);
	if (rc && blobs) {
		for (size_t l = 0; l < mf->nlayers; l++)
			free(blobs[l]);
		free(blobs);
	} else {
		*blobs_out = blobs;
	}
	return rc;
}

/* A document read from a file's assembled text made the revision's copy: the manifest's
 * layout and layer ids (its map layers without an id in the file take the manifest's id, in
 * memory only, when `bind_idless`). */
static int revision_doc_bind(umap_doc *doc, const manifest_file *mf, int bind_idless)
{
	if (doc->nlayers != mf->nlayers)
		return umap_error_set(UMAP_ECORRUPT, "%s: layers do not match the manifest", mf->path);
	umap_layout_from_json(&doc->layout, mf->layout);
	doc->layout.known = mf->layout != NULL;
	if (!mf->is_map)
		return umap_repo_bind_layer_id(&doc->layers[0], mf->layers[0]);
	return bind_idless ? bind_idless_layers(doc, mf) : 0;
}

/* The document of a file's assembled text, which it takes with the blob ids; its map
 * layers without an id in the file take the manifest's id, in memory only, when
 * `bind_idless` (an exported copy needs none: it is written as the file was). */
static int file_doc(umap_repo_file *out, umap_buf *text, git_oid **blobs, manifest_file *mf,
		    int bind_idless)
{
	umap_doc *doc = NULL;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	int rc = 0;
	{
		size_t len = text->len;
		/* the document owns its bytes, so callers may move it out of the snapshot */
		if ((rc = umap_doc_from_owned_buffer(&doc, umap_buf_detach(text), len, mf->path, &opts)))
			umap_error_prefix(UMAP_ECORRUPT, "the revision's copy of ");
	}
	if (!rc)
		rc = revision_doc_bind(doc, mf, bind_idless);
	if (rc) {
		if (blobs)
			for (size_t l = 0; l < mf->nlayers; l++)
				free(blobs[l]);
		free(blobs);
		umap_doc_free(doc);
		umap_buf_dispose(text);
		return rc;
	}
	out->doc = doc;
	out->blobs = blobs;
	return 0;
}

/* A revision's copy of a file, its id-less map layers bound to the manifest's ids. */
static int read_file(umap_repo_file *out, umap_repo *repo, const git_oid *tree, manifest_file *mf)
{
	umap_buf text = UMAP_BUF_INIT;
	git_oid **blobs = NULL;
	int rc = assemble_file(&text, &blobs, repo, tree, mf);
	return rc ? rc : file_doc(out, &text, blobs, mf, 1);
}

int umap_repo_read_tree(umap_snapshot **out, umap_repo *repo, const git_oid *tree,
			const char *only_path)
{
	manifest m;
	umap_snapshot *snap = NULL;
	int rc = manifest_read(&m, repo, tree);
	if (!rc)
		rc = umap_snapshot_new(&snap);
	int found = 0;
	for (size_t i = 0; i < m.nfiles && !rc; i++) {
		if (only_path && strcmp(only_path, m.files[i].path))
			continue;
		found = 1;
		if (!(rc = umap_snapshot_add(snap, m.files[i].path, NULL)))
			rc = read_file(&snap->files[snap->nfiles - 1], repo, tree, &m.files[i]);
	}
	if (!rc && only_path && !found)
		rc = umap_error_set(UMAP_ENOTFOUND, "'%s' is not tracked in that revision", only_path);
	manifest_clear(&m);
	if (rc) {
		umap_snapshot_free(snap);
		return rc;
	}
	*out = snap;
	return 0;
}

/* A revision's copy written over the working file it replaces: each feature whose canonical
 * form is the revision's (the same value) is written from the working file's bytes, laid
 * out anew only where the layouts differ, so that the spelling of its numbers (1.0, 1e3,
 * 4.8320) survives a checkout or an export (docs/REPOSITORY.md "One blob per feature").
 * Equal canonical forms are equal blobs: this picks a spelling, never a value. */
#define SPELLED_CHUNK ((size_t)1 << 20)

/* A streamed document's features kept as spans of its bytes, layer by layer (16 bytes a
 * feature, and for the working file 8 of hash table): what export and checkout keep of the
 * revision's copy and of the working file, whose bytes stay in their mappings. */
typedef struct feature_span {
	uint32_t offset;      /* documents are at most 4 GiB (UMAP_JSON_DEFAULT_MAX_SIZE) */
	uint32_t length : 31;
	uint32_t has_id : 1;
	uint64_t id_hash; /* xxh3 of the id's JSON text: a feature of the working file with
			   * the same hash is only a candidate, whose value is compared */
} feature_span;

typedef struct span_layer {
	feature_span *items;
	size_t n, alloc;
	uint32_t *table;  /* open addressing on id_hash: index+1 into items, 0 = empty */
	size_t table_size;
} span_layer;

typedef struct span_doc {
	span_layer *layers;
	size_t nlayers;
} span_doc;

static void span_doc_clear(span_doc *d)
{
	for (size_t i = 0; i < d->nlayers; i++) {
		free(d->layers[i].items);
		free(d->layers[i].table);
	}
	free(d->layers);
	memset(d, 0, sizeof(*d));
}

/* on_feature: keeps the feature's span. */
static int collect_span(void *data, umap_doc *doc, size_t layer, umap_feature *f)
{
	span_doc *d = data;
	if (layer >= d->nlayers) {
		span_layer *more = realloc(d->layers, (layer + 1) * sizeof(*more));
		if (!more)
			return oom();
		memset(more + d->nlayers, 0, (layer + 1 - d->nlayers) * sizeof(*more));
		d->layers = more;
		d->nlayers = layer + 1;
	}
	span_layer *l = &d->layers[layer];
	if (f->offset > UINT32_MAX || f->length > INT32_MAX || l->n >= UINT32_MAX / 2)
		return umap_error_set(UMAP_ELIMIT,
				      "%s: a feature past 4 GB or of 2 GB, or a layer of 2 billion",
				      doc->source_name);
	if (l->n == l->alloc) {
		size_t alloc = l->alloc ? l->alloc * 2 : 1024;
		feature_span *more = realloc(l->items, alloc * sizeof(*more));
		if (!more)
			return oom();
		l->items = more;
		l->alloc = alloc;
	}
	feature_span *sp = &l->items[l->n++];
	sp->offset = (uint32_t)f->offset;
	sp->length = (uint32_t)f->length & INT32_MAX;
	sp->has_id = f->id != NULL;
	sp->id_hash = f->id ? XXH3_64bits(f->id, strlen(f->id)) : 0;
	return 0;
}

/* The id table of each layer; the first of features with the same id hash is found. */
static int span_doc_index(span_doc *d)
{
	for (size_t i = 0; i < d->nlayers; i++) {
		span_layer *l = &d->layers[i];
		size_t size = 64;
		while (size < 2 * l->n)
			size *= 2;
		if (!(l->table = calloc(size, sizeof(*l->table))))
			return oom();
		l->table_size = size;
		for (size_t j = 0; j < l->n; j++) {
			if (!l->items[j].has_id)
				continue;
			size_t slot = (size_t)l->items[j].id_hash & (size - 1);
			int seen = 0;
			while (l->table[slot] && !seen) {
				seen = l->items[l->table[slot] - 1].id_hash == l->items[j].id_hash;
				slot = (slot + 1) & (size - 1);
			}
			if (!seen)
				l->table[slot] = (uint32_t)(j + 1);
		}
	}
	return 0;
}

static const feature_span *span_find(const span_doc *d, size_t layer, uint64_t id_hash)
{
	if (layer >= d->nlayers || !d->layers[layer].table_size)
		return NULL;
	const span_layer *l = &d->layers[layer];
	size_t mask = l->table_size - 1;
	for (size_t slot = (size_t)id_hash & mask; l->table[slot]; slot = (slot + 1) & mask)
		if (l->items[l->table[slot] - 1].id_hash == id_hash)
			return &l->items[l->table[slot] - 1];
	return NULL;
}

static int bytes_canonical(const char *p, size_t n);

/* What checkout's writer notes in the feature cache as it writes (umap_repo_export_file):
 * each feature whose bytes are not its blob, with the blob id of its place (each layer's
 * ids end with a zero id). */
typedef struct cache_notes {
	umap_repo *repo;
	git_oid *const *blobs; /* NULL: nothing noted */
	size_t nlayers;
	size_t *next;          /* per layer: the index of the next feature expected */
	unsigned char *ended;  /* per layer: its zero id reached */
	int lost;              /* features came out of order: what was noted is not enough */
	size_t seen_before;    /* the repository's notes before these */
} cache_notes;

/* Notes the written bytes of feature `index` of `layer` (see cache_notes); `is_blob`: they
 * are the blob's own bytes, which the next status finds by their SHA-1 (or, for the few
 * that bytes_canonical cannot vouch for, such as a string with an escape, by making their
 * compact form once): the writer need not check them (at 100k features, as much as the
 * rest of the write). */
static int cache_notes_put(cache_notes *n, size_t layer, size_t index, const char *p, size_t len,
			   int is_blob)
{
	if (!n || !n->blobs || n->lost || layer >= n->nlayers || !n->blobs[layer] ||
	    n->ended[layer] || !len)
		return 0;
	if (index != n->next[layer]) {
		n->lost = 1;
		return 0;
	}
	const git_oid *blob = &n->blobs[layer][n->next[layer]++];
	if (git_oid_is_zero(blob)) {
		n->ended[layer] = 1;
		return 0;
	}
	/* bytes that are their blob are looked up by their SHA-1, not in the cache */
	if (is_blob || bytes_canonical(p, len))
		return 0;
	XXH128_canonical_t key;
	XXH128_canonicalFromHash(&key, XXH3_128bits(p, len));
	return umap_repo_cache_note(n->repo, key.digest, blob);
}

typedef struct spelled {
	umap_doc *rev, *work;
	const span_doc *rev_spans;  /* streamed documents: their features' spans (else NULL: */
	const span_doc *work_spans; /* their features are in their layers) */
	size_t *in_work;         /* rev layer i is work's layer in_work[i] (SIZE_MAX: none) */
	umap_layout feature_layout;
	umap_buf canonical;
	umap_json_sink sink;
	void *ctx;
	size_t taken;            /* features written from the working file */
	int copy_as_is;          /* its features are one a line, spaced as the copy's will be:
				  * a feature taken from it is copied, not laid out again */
	cache_notes *notes;      /* NULL: none */
} spelled;

static int spelled_drain(spelled *s, umap_buf *out, int last)
{
	if (!last && out->len < SPELLED_CHUNK)
		return 0;
	int rc = out->len ? s->sink(s->ctx, out->ptr, out->len) : 0;
	umap_buf_clear(out);
	return rc;
}

/* The working file's feature with the id of the revision's feature (rev layer `layer`),
 * as a span of its bytes: 1 when there is one. */
static int work_feature(spelled *s, size_t layer, const umap_feature *f, const feature_span *fs,
			size_t *offset, size_t *length)
{
	size_t wl = s->in_work[layer];
	if (wl == SIZE_MAX)
		return 0;
	if (s->work_spans) {
		const feature_span *g = fs->has_id ? span_find(s->work_spans, wl, fs->id_hash) : NULL;
		if (!g)
			return 0;
		*offset = g->offset;
		*length = g->length;
		return 1;
	}
	if (!f->id)
		return 0;
	umap_layer *w = &s->work->layers[wl];
	long j = umap_layer_find(s->work, w, f->id);
	if (j < 0)
		return 0;
	*offset = w->features[j].offset;
	*length = w->features[j].length;
	return 1;
}

static int put_spelled_feature(void *data, umap_buf *out, size_t layer, size_t index, size_t depth)
{
	spelled *s = data;
	const umap_feature *f = NULL;
	const feature_span *fs = NULL;
	size_t offset, length;
	if (s->rev_spans) {
		if (layer >= s->rev_spans->nlayers || index >= s->rev_spans->layers[layer].n)
			return umap_error_set(UMAP_ECORRUPT, "a layer lost features");
		fs = &s->rev_spans->layers[layer].items[index];
		offset = fs->offset;
		length = fs->length;
	} else {
		f = &s->rev->layers[layer].features[index];
		offset = f->offset;
		length = f->length;
	}
	const char *bytes = s->rev->data + offset, *blob = bytes;
	size_t woffset, wlength, blob_length = length;
	if (work_feature(s, layer, f, fs, &woffset, &wlength)) {
		const char *wb = s->work->data + woffset;
		umap_buf_clear(&s->canonical);
		/* the same bytes (a compact file) need no canonical form to be the same */
		if (wlength &&
		    ((wlength == length && !memcmp(wb, bytes, length)) ||
		     (umap_repo_canonical_fast(&s->canonical, wb, wlength) &&
		      s->canonical.len == length && !memcmp(s->canonical.ptr, bytes, length)))) {
			bytes = wb;
			length = wlength;
			s->taken++;
		}
		/* the working file is visited in the revision's order, mostly its own: its
		 * pages behind are given back, as the streaming read gave them back */
		umap_doc_drop_behind(s->work, woffset);
	}
	/* and the revision's copy, read once in order, is given back behind it */
	umap_doc_drop_behind(s->rev, offset);
	int as_is = bytes != s->rev->data + offset && s->copy_as_is &&
		    !memchr(bytes, '\n', length);
	size_t at = out->len;
	int rc = !as_is ? umap_json_relayout_at(out, bytes, length, &s->feature_layout, depth)
			: umap_buf_put(out, bytes, length) ? UMAP_ENOMEM : 0;
	if (!rc && s->notes)
		rc = cache_notes_put(s->notes, layer, index, out->ptr + at, out->len - at,
				     out->len - at == blob_length && !memcmp(out->ptr + at, blob, blob_length));
	return rc ? rc : spelled_drain(s, out, 0);
}

/* The working file at `path` as a document to take spellings from, or NULL (none there, or
 * one umapsync cannot read: then the revision's copy is written as it is). */
static umap_doc *working_copy(const char *path)
{
	umap_doc *work = NULL;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	opts.allow_duplicate_ids = 1;
	if (!path || access(path, R_OK) || umap_doc_open(&work, path, &opts)) {
		umap_error_clear();
		return NULL;
	}
	return work;
}

/* `rev` written over `work`; rev_spans and work_spans: their features' spans when they
 * were streamed (NULL: in their layers). */
static int write_spelled(umap_json_sink sink, void *ctx, umap_doc *rev, umap_doc *work,
			 const span_doc *rev_spans, const span_doc *work_spans, cache_notes *notes)
{
	spelled s = { rev, work, rev_spans, work_spans, NULL, rev->layout, UMAP_BUF_INIT,
		      sink, ctx, 0, 0, notes };
	size_t *counts = NULL;
	if (rev->layout.lines || !rev->layout.indent)
		s.feature_layout = (umap_layout){ 0, rev->layout.spaced, 0, 0, rev->layout.ascii, 0, 0, 0 };
	s.copy_as_is = umap_doc_bytes_in_layout(work) && !s.feature_layout.indent &&
		       (work->layout.lines || !work->layout.indent) &&
		       work->layout.spaced == s.feature_layout.spaced &&
		       work->layout.ascii == s.feature_layout.ascii;
	long *match = NULL;
	umap_buf out = UMAP_BUF_INIT;
	int rc = umap_doc_match_layers(&match, work, rev);
	if (!rc && !(s.in_work = calloc(rev->nlayers + 1, sizeof(*s.in_work))))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < rev->nlayers; i++)
		s.in_work[i] = match[i] >= 0 ? (size_t)match[i] : SIZE_MAX;
	if (!rc && rev_spans && !(counts = calloc(rev->nlayers + 1, sizeof(*counts))))
		rc = oom();
	for (size_t i = 0; !rc && counts && i < rev->nlayers; i++)
		counts[i] = i < rev_spans->nlayers ? rev_spans->layers[i].n : 0;
	/* its members' bytes only where they are laid out as the copy will be */
	if (!rc)
		rc = umap_doc_write_framed(&out, rev, &rev->layout, counts, put_spelled_feature, &s,
					   umap_doc_bytes_in_layout(work) &&
							   work->layout.indent == rev->layout.indent &&
							   work->layout.spaced == rev->layout.spaced
						   ? work
						   : NULL,
					   s.in_work);
	if (!rc)
		rc = spelled_drain(&s, &out, 1);
	free(match);
	free(counts);
	free(s.in_work);
	umap_buf_dispose(&out);
	umap_buf_dispose(&s.canonical);
	return rc;
}

int umap_repo_file_text(umap_json_sink sink, void *ctx, umap_doc *doc, const char *work_path)
{
	/* (a stream is written as umap_doc_write lays out its records: its spellings are not
	 * taken from the working file) */
	umap_doc *work = doc->data && !doc->layout.seq ? working_copy(work_path) : NULL;
	if (work) {
		int rc = write_spelled(sink, ctx, doc, work, NULL, NULL, NULL);
		umap_doc_free(work);
		if (rc && rc != UMAP_ENOMEM && rc != UMAP_EIO)
			umap_error_prefix(UMAP_ECORRUPT, "the revision's copy of %s: ", doc->source_name);
		return rc;
	}
	/* in the copy's own layout, the document copies its features' bytes: faster than
	 * tokens (a checkout of 100k features, 20%) */
	if (doc->layout.known && doc->data && !umap_doc_bytes_in_layout(doc)) {
		/* what umap_doc_write(UMAP_DOC_AS_READ) does (the copy's compact text laid out
		 * anew), from the copy's own bytes, which are that compact text */
		int rc = umap_json_relayout_to(sink, ctx, doc->data, doc->size, &doc->layout);
		if (rc && rc != UMAP_ENOMEM && rc != UMAP_EIO)
			umap_error_prefix(UMAP_ECORRUPT, "the revision's copy of %s: ", doc->source_name);
		return rc;
	}
	umap_buf out = UMAP_BUF_INIT;
	int rc = umap_doc_write(&out, doc, UMAP_DOC_AS_READ);
	if (!rc)
		rc = sink(ctx, out.ptr ? out.ptr : "", out.len);
	umap_buf_dispose(&out);
	return rc;
}

/* The manifest of `tree` and its entry for `path` (UMAP_ENOTFOUND when it is not tracked
 * there; the manifest is cleared on failure). */
static int manifest_entry(manifest *m, manifest_file **mf, umap_repo *repo, const git_oid *tree,
			  const char *path)
{
	int rc = manifest_read(m, repo, tree);
	if (rc)
		return rc;
	if (!(*mf = manifest_find(m, path))) {
		manifest_clear(m);
		return umap_error_set(UMAP_ENOTFOUND, "'%s' is not tracked in that revision", path);
	}
	return 0;
}

/* The file umap_repo_export assembles a revision's text in (see struct umap_repo),
 * unlinked at once: nothing is left behind, whatever happens. */
static int temp_open(int *fd_out, umap_repo *repo)
{
	umap_buf path = UMAP_BUF_INIT;
	*fd_out = -1;
	if (umap_buf_printf(&path, "%s/umapsync-export-XXXXXX", repo->gitdir))
		return oom();
	int fd = mkstemp(path.ptr);
	int rc = fd < 0 ? umap_error_set_errno(UMAP_EIO, "cannot create a temporary file in %s",
					       repo->gitdir) : 0;
	if (fd >= 0)
		unlink(path.ptr);
	umap_buf_dispose(&path);
	*fd_out = fd;
	return rc;
}

static int spill_open(umap_repo *repo)
{
	repo->spilled = 0;
	return temp_open(&repo->spill_fd, repo);
}

/* The file checkout's blob ids go to, beside the text's, for `nlayers` layers. */
static int ids_open(umap_repo *repo, size_t nlayers)
{
	repo->ids_spilled = 0;
	umap_buf_clear(&repo->ids);
	if (!(repo->ids_at = malloc((nlayers + 1) * sizeof(*repo->ids_at))))
		return oom();
	for (size_t l = 0; l <= nlayers; l++)
		repo->ids_at[l] = UINT64_MAX;
	return temp_open(&repo->ids_fd, repo);
}

static void spill_close(umap_repo *repo)
{
	if (repo->spill_fd >= 0)
		close(repo->spill_fd);
	repo->spill_fd = -1;
	if (repo->ids_fd >= 0)
		close(repo->ids_fd);
	repo->ids_fd = -1;
	free(repo->ids_at);
	repo->ids_at = NULL;
	umap_buf_dispose(&repo->ids);
}

/* A revision's blob ids, each layer's in order and ending with a zero id: arrays in
 * memory, or pointers into the mapping of the ids file (checkout, 20 bytes a feature that
 * stay on disk until read). */
typedef struct revision_ids {
	git_oid **layers;
	size_t nlayers;
	void *map;
	size_t map_len;
	int noted; /* the writer noted in the cache what the file's read would (cache_notes) */
} revision_ids;

static void revision_ids_clear(revision_ids *ids)
{
	for (size_t l = 0; !ids->map && ids->layers && l < ids->nlayers; l++)
		free(ids->layers[l]);
	free(ids->layers);
	if (ids->map)
		munmap(ids->map, ids->map_len);
	memset(ids, 0, sizeof(*ids));
}

/* The ids spilled while a revision of `nlayers` layers was assembled, mapped. */
static int ids_map(revision_ids *out, umap_repo *repo, size_t nlayers)
{
	memset(out, 0, sizeof(*out));
	int rc = spill_buf(repo, repo->ids_fd, &repo->ids, &repo->ids_spilled);
	if (!rc && !(out->layers = calloc(nlayers + 1, sizeof(*out->layers))))
		rc = oom();
	out->nlayers = nlayers;
	if (!rc && repo->ids_spilled) {
		out->map_len = (size_t)repo->ids_spilled;
		out->map = mmap(NULL, out->map_len, PROT_READ, MAP_PRIVATE, repo->ids_fd, 0);
		if (out->map == MAP_FAILED) {
			out->map = NULL;
			rc = umap_error_set_errno(UMAP_EIO, "cannot map a temporary file in %s",
						  repo->gitdir);
		} else {
			madvise(out->map, out->map_len, MADV_SEQUENTIAL);
		}
	}
	for (size_t l = 0; !rc && out->map && l < nlayers; l++)
		if (repo->ids_at[l] < out->map_len / sizeof(git_oid))
			out->layers[l] = (git_oid *)out->map + repo->ids_at[l];
	if (rc)
		revision_ids_clear(out);
	return rc;
}

static int export_to_atomic(void *ctx, const char *data, size_t len)
{
	return umap_atomic_file_write(ctx, data, len);
}

#define EXPORT_WINDOW ((size_t)1 << 20)

/* The working file's read for export_spelled, which may run on another core while the
 * revision's text is read (1M features: each read a seventh of a checkout). */
typedef struct work_reading {
	const char *path;
	umap_doc_options opts;
	span_doc spans;
	umap_doc *doc;
	int opened; /* else the copy is written as it is */
	int rc;     /* the id table's (out of memory) */
} work_reading;

static void *read_working_file(void *data)
{
	work_reading *w = data;
	w->opened = !umap_doc_open(&w->doc, w->path, &w->opts);
	if (!w->opened) {
		umap_error_clear();
		span_doc_clear(&w->spans);
		return NULL;
	}
	w->rc = span_doc_index(&w->spans);
	return NULL;
}

/* The revision's text as a document keeping its features' spans: from its own mapping of
 * `text_fd` when there is one (the caller's mapping stays whole for the copy to be written
 * as it is, should the working file prove unreadable), else from *mapped (which it takes)
 * or `text`. */
static int read_revision_text(umap_doc **rev, umap_doc_options *opts, const manifest_file *mf,
			      int text_fd, char **mapped, size_t mapped_len, umap_buf *text)
{
	int rc;
	if (text_fd >= 0) {
		char *own = mmap(NULL, mapped_len, PROT_READ, MAP_PRIVATE, text_fd, 0);
		if (own == MAP_FAILED)
			return umap_error_set_errno(UMAP_EIO, "cannot map the revision's copy of %s",
						    mf->path);
		madvise(own, mapped_len, MADV_SEQUENTIAL);
		rc = umap_doc_from_mapping(rev, own, mapped_len, mf->path, opts);
	} else {
		rc = *mapped ? umap_doc_from_mapping(rev, *mapped, mapped_len, mf->path, opts)
			     : umap_doc_from_buffer(rev, text->ptr ? text->ptr : "", text->len,
						    mf->path, opts);
		*mapped = NULL; /* the document's now, or unmapped */
	}
	if (rc && rc != UMAP_ENOMEM)
		umap_error_prefix(UMAP_ECORRUPT, "the revision's copy of ");
	return rc;
}

/* umap_repo_export over the working file at `abs`: the revision's assembled text (*mapped,
 * else `text`; `text_fd`, when not -1, the file *mapped maps, which the working file's
 * read overlaps) and the working file are both read a feature at a time, keeping their
 * features' spans (umap_doc options on_feature), and written as umap_repo_file_text
 * writes a revision's copy over a working file, each feature's bytes read by span from
 * the mappings. *done is 0 when the working file cannot be read (the copy is then
 * written as it is, as umap_repo_file_text does). */
static int export_spelled(int *done, umap_json_sink sink, void *ctx, const manifest_file *mf,
			  char **mapped, size_t mapped_len, umap_buf *text, int text_fd,
			  const char *abs, cache_notes *notes)
{
	span_doc rev_spans = { NULL, 0 };
	umap_doc *rev = NULL;
	work_reading w;
	memset(&w, 0, sizeof(w));
	w.path = abs;
	w.opts = (umap_doc_options)UMAP_DOC_OPTIONS_INIT;
	w.opts.allow_duplicate_ids = 1;
	w.opts.on_feature = collect_span;
	w.opts.on_feature_data = &w.spans;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	opts.on_feature = collect_span;
	opts.on_feature_data = &rev_spans;
	*done = 0;
	pthread_t thread;
	int threaded = text_fd >= 0 && !pthread_create(&thread, NULL, read_working_file, &w);
	int rc = 0;
	if (threaded) {
		rc = read_revision_text(&rev, &opts, mf, text_fd, mapped, mapped_len, text);
		pthread_join(thread, NULL);
	} else {
		read_working_file(&w);
		if (w.opened && !w.rc)
			rc = read_revision_text(&rev, &opts, mf, -1, mapped, mapped_len, text);
	}
	if (!w.opened) {
		/* (what the revision's read said does not matter: the copy is written as it is) */
		umap_error_clear();
		umap_doc_free(rev);
		span_doc_clear(&rev_spans);
		return 0;
	}
	if (!rc && w.rc)
		rc = oom(); /* the id table, whose message was the other thread's */
	if (!rc)
		rc = revision_doc_bind(rev, mf, 0);
	if (!rc) {
		rc = write_spelled(sink, ctx, rev, w.doc, &rev_spans, &w.spans, notes);
		if (rc && rc != UMAP_ENOMEM && rc != UMAP_EIO)
			umap_error_prefix(UMAP_ECORRUPT, "the revision's copy of %s: ", mf->path);
	}
	*done = !rc;
	umap_doc_free(rev);
	umap_doc_free(w.doc);
	span_doc_clear(&rev_spans);
	span_doc_clear(&w.spans);
	return rc;
}

/* umap_repo_export, keeping the blob ids of each layer's features in order (mf->nlayers
 * arrays, each ending with a zero id) in *blobs_out when it is not NULL. */
static int export_file(umap_repo *repo, const git_oid *tree, const char *path,
		       umap_json_sink sink, void *ctx, revision_ids *ids_out, cache_notes *notes)
{
	manifest m;
	manifest_file *mf;
	int rc = manifest_entry(&m, &mf, repo, tree, path);
	if (rc)
		return rc;
	umap_buf text = UMAP_BUF_INIT;
	git_oid **blobs = NULL;
	char *abs = NULL;
	char *mapped = NULL;
	size_t mapped_len = 0;
	/* a working file there lends its spellings to the features it holds unchanged */
	if (!rc && umap_repo_abspath(&abs, repo, path))
		umap_error_clear();
	int has_work = abs && !access(abs, R_OK);
	/* a recorded layout is laid out from the text alone, which need not stay in memory:
	 * it is assembled in a temporary file and read back through a mapping whose pages are
	 * given back behind the reader (1M features: 269 MB of text) */
	int from_text = mf->layout != NULL;
	if (!rc && from_text && spill_open(repo))
		umap_error_clear(); /* a read-only repository: in memory then */
	repo->spill_blobs = ids_out != NULL;
	if (!rc && ids_out && repo->spill_fd >= 0 && ids_open(repo, mf->nlayers)) {
		umap_error_clear(); /* in memory then */
		if (repo->ids_fd >= 0)
			close(repo->ids_fd);
		repo->ids_fd = -1;
	}
	int ids_spilled = repo->ids_fd >= 0;
	revision_ids ids = { NULL, 0, NULL, 0, 0 };
	if (ids_out)
		memset(ids_out, 0, sizeof(*ids_out));
	/* the walk reads the layer's blobs in pack order, each whole or a delta on the layer's
	 * dictionary or on a blob just before it: two windows of 4 MB hold what it needs
	 * (1M features: 16 MB less resident than repo.c's 8 MB windows, 24 MB at most) */
	if (repo->spill_fd >= 0) {
		git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, EXPORT_WINDOW);
		git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, 2 * EXPORT_WINDOW);
	}
	if (!rc)
		rc = assemble_file(&text, &blobs, repo, tree, mf);
	if (repo->spill_fd >= 0)
		umap_repo_default_pack_windows();
	if (!rc && repo->spilled) {
		rc = spill_text(repo, &text);
		mapped_len = (size_t)repo->spilled;
		mapped = rc ? MAP_FAILED : mmap(NULL, mapped_len, PROT_READ, MAP_PRIVATE, repo->spill_fd, 0);
		if (!rc && mapped == MAP_FAILED)
			rc = umap_error_set_errno(UMAP_EIO, "cannot map a temporary file in %s",
						  repo->gitdir);
		if (mapped == MAP_FAILED)
			mapped = NULL;
		else
			madvise(mapped, mapped_len, MADV_SEQUENTIAL);
	}
	if (!rc && ids_spilled)
		rc = ids_map(&ids, repo, mf->nlayers);
	/* the working file's read overlaps the text's, which maps the text's file again */
	int text_fd = !rc && mapped && from_text && has_work ? dup(repo->spill_fd) : -1;
	spill_close(repo);
	/* the revision is read: what libgit2 keeps mapped of its pack (1M features: 24 MB of
	 * index and 24 of windows) is given back before the text is written */
	if (mapped && umap_store_release_packs(&repo->store))
		umap_error_clear(); /* kept mapped, then */
	const char *data = mapped ? mapped : text.ptr ? text.ptr : "";
	size_t len = mapped ? mapped_len : text.len;
	umap_layout read, recorded;
	if (!rc) {
		umap_layout_detect(&read, data, len);
		recorded = read;
		umap_layout_from_json(&recorded, mf->layout);
	}
	/* (a stream is written as its records are laid out: its spellings are not taken from
	 * the working file, as umap_repo_file_text does not) */
	int written = 0;
	/* checkout's notes are made as each feature is written, where the writer goes a
	 * feature at a time (over a working file), so that the file need not be read back */
	if (notes && !rc) {
		notes->blobs = ids_spilled ? ids.layers : blobs;
		notes->nlayers = mf->nlayers;
		notes->next = calloc(mf->nlayers + 1, sizeof(*notes->next));
		notes->ended = calloc(mf->nlayers + 1, 1);
		if (!notes->next || !notes->ended)
			rc = oom();
	}
	if (!rc && from_text && has_work && !recorded.seq)
		rc = export_spelled(&written, sink, ctx, mf, &mapped, mapped_len, &text, text_fd, abs,
				    notes);
	if (text_fd >= 0)
		close(text_fd);
	if (notes)
		ids.noted = written && !notes->lost;
	if (!rc && from_text && !written) {
		data = mapped ? mapped : text.ptr ? text.ptr : "";
		/* what umap_doc_write(UMAP_DOC_AS_READ) of the revision's copy does (its compact
		 * text laid out anew), from the assembled text, without a document of it */
		rc = mapped ? umap_json_relayout_mapped_to(sink, ctx, data, len, &recorded)
			    : umap_json_relayout_to(sink, ctx, data, len, &recorded);
		if (rc && rc != UMAP_ENOMEM && rc != UMAP_EIO)
			umap_error_prefix(UMAP_ECORRUPT, "the revision's copy of %s: ", path);
	} else if (!rc && !from_text) {
		umap_repo_file one;
		memset(&one, 0, sizeof(one));
		rc = file_doc(&one, &text, blobs, mf, 0);
		blobs = one.blobs;
		if (!rc)
			rc = umap_repo_file_text(sink, ctx, one.doc, abs);
		umap_doc_free(one.doc);
	}
	free(abs);
	if (mapped)
		munmap(mapped, mapped_len);
	if (!rc && ids_out && !ids_spilled) {
		ids.layers = blobs;
		ids.nlayers = mf->nlayers;
		blobs = NULL;
	}
	if (!rc && ids_out) {
		*ids_out = ids;
		memset(&ids, 0, sizeof(ids));
	}
	revision_ids_clear(&ids);
	for (size_t l = 0; blobs && l < mf->nlayers; l++)
		free(blobs[l]);
	free(blobs);
	umap_buf_dispose(&text); /* a file that could not be assembled */
	manifest_clear(&m);
	return rc;
}

int umap_repo_export(umap_repo *repo, const git_oid *tree, const char *path,
		     umap_json_sink sink, void *ctx)
{
	return export_file(repo, tree, path, sink, ctx, NULL, NULL);
}

/* A map's layers nest (and their features may come after their children's in its text):
 * read as a document, every feature written in document order. */
static int export_map_records(umap_repo *repo, const git_oid *tree, const char *path,
			      umap_json_sink sink, void *ctx)
{
	umap_snapshot *snap = NULL;
	int rc = umap_repo_read_tree(&snap, repo, tree, path);
	if (!rc)
		rc = umap_geojsonseq_write_doc(snap->files[0].doc, sink, ctx);
	umap_snapshot_free(snap);
	return rc;
}

int umap_repo_export_records(umap_repo *repo, const git_oid *tree, const char *path,
			     umap_json_sink sink, void *ctx)
{
	manifest m;
	manifest_file *mf;
	int rc = manifest_entry(&m, &mf, repo, tree, path);
	if (rc)
		return rc;
	if (mf->is_map || mf->nlayers != 1 || has_children(mf, 0)) {
		manifest_clear(&m);
		return export_map_records(repo, tree, path, sink, ctx);
	}
	git_oid layers_tree;
	if ((rc = umap_store_tree_lookup(&layers_tree, NULL, umap_repo_store(repo), tree, LAYERS,
						"the revision's tree")) == UMAP_ENOTFOUND)
		rc = umap_error_set(UMAP_ECORRUPT, "the revision has no layers tree");
	/* the layer's skeleton (type, options, members) goes to `skeleton`, which is dropped;
	 * its features go out one by one */
	umap_buf skeleton = UMAP_BUF_INIT;
	record_out records = { UMAP_BUF_INIT, sink, ctx };
	git_oid *blobs[2] = { NULL, NULL };
	if (!rc)
		rc = read_layer(repo, &skeleton, &layers_tree, mf, 0, blobs, &records);
	if (!rc && records.buf.len)
		rc = sink(ctx, records.buf.ptr, records.buf.len);
	free(blobs[0]);
	umap_buf_dispose(&records.buf);
	umap_buf_dispose(&skeleton);
	manifest_clear(&m);
	return rc;
}

/* A map file's layers without an id take the ids of the revision's layers they match
 * (SPEC §2 "Layer identity": by position, then name; a layer whose id the file still has
 * is matched by it): the same file downloaded again from uMap, which drops layer ids, is
 * the same layers. A layer that matches none stays id-less: a new layer. Only a file with
 * a layer without id costs the read of the revision's copy. */
static int layer_options(json_t **out, umap_repo *repo, const git_oid *tree, const char *layer);
static int layer_part(git_oid *out, umap_repo *repo, const git_oid *layer_tree, const char *name);

static int match_idless_layers(umap_doc *doc, umap_repo *repo, const git_oid *tree,
			       manifest_file *mf)
{
	size_t l = 0;
	while (l < doc->nlayers && doc->layers[l].id)
		l++;
	if (l == doc->nlayers)
		return 0;
	/* the revision's layers as the file had them: ids where written, and their options
	 * (names); their features are not read */
	umap_doc *old = NULL;
	long *match = NULL;
	int rc = umap_doc_new(&old, UMAP_DOC_MAP);
	for (size_t i = 0; !rc && i < mf->nlayers; i++) {
		json_t *options = NULL;
		rc = layer_options(&options, repo, tree, mf->layers[i]);
		if (!rc)
			rc = umap_doc_add_layer(NULL, old, mf->idless && mf->idless[i] ? NULL : mf->layers[i],
						options);
		json_decref(options);
	}
	if (!rc)
		rc = umap_doc_match_layers(&match, old, doc);
	for (size_t j = 0; !rc && j < doc->nlayers; j++) {
		long i = match[j];
		if (doc->layers[j].id || i < 0 || (size_t)i >= mf->nlayers)
			continue;
		if (!(rc = umap_repo_bind_layer_id(&doc->layers[j], mf->layers[i])))
			doc->layers[j].id_outside = 1;
	}
	free(match);
	umap_doc_free(old);
	return rc;
}

int umap_repo_bind_file_layers(umap_doc *doc, umap_repo *repo, const git_oid *tree,
			       const char *path)
{
	if (!tree || doc->kind != UMAP_DOC_MAP)
		return 0;
	manifest m;
	int rc = manifest_read(&m, repo, tree);
	if (rc)
		return rc;
	manifest_file *mf = manifest_find(&m, path);
	if (mf && mf->is_map)
		rc = match_idless_layers(doc, repo, tree, mf);
	manifest_clear(&m);
	return rc;
}

/* A pending rm or mv of the file at `path` in the base tree: *removed, or *to (borrowed)
 * its path in the working directory. */
static void pending_of(const umap_pending *pending, const char *path, int *removed, const char **to)
{
	const umap_pending_path *p = umap_pending_find_from(pending, path);
	*removed = p && !p->to;
	*to = p && p->to ? p->to : NULL;
}

/* A layer file read as a stream against the base tree's copy (issue 19): each feature's
 * bytes must hash as one the base's features tree was built from (its feature set), each
 * once, every one of them there, and the ids come in the base's stored order. Then the
 * file's features are the base's (bytes include the id: same bytes, same feature) and
 * only the rest of the file (options, members, layout) need go through the tree build.
 * Kept per feature: 8 bytes (its id's hash, for the order). */
typedef struct base_check {
	uint64_t *table; /* the set's hashes, open addressing; 0 marks an empty slot */
	unsigned char *seen;
	size_t size, count, cap;
	uint64_t *ids; /* umap_hash of each id, in file order */
	size_t at;     /* the base's order walk: how many ids matched */
} base_check;

#define BASE_CHECK_DIFFERS 1 /* stops the stream: not the base's features */

static int base_check_feature(void *data, umap_doc *doc, size_t layer, umap_feature *f)
{
	(void)doc;
	base_check *c = data;
	if (layer || !f->id || !f->length || f->value || !f->hash)
		return BASE_CHECK_DIFFERS;
	size_t slot = (size_t)f->hash & (c->size - 1);
	while (c->table[slot] && c->table[slot] != f->hash)
		slot = (slot + 1) & (c->size - 1);
	if (c->table[slot] != f->hash || c->seen[slot] || c->count == c->cap)
		return BASE_CHECK_DIFFERS;
	c->seen[slot] = 1;
	c->ids[c->count++] = umap_hash(f->id, strlen(f->id));
	return 0;
}

static int base_check_order(void *ctx, const char *id, size_t len)
{
	base_check *c = ctx;
	if (c->at == c->count || c->ids[c->at] != umap_hash(id, len))
		return BASE_CHECK_DIFFERS;
	c->at++;
	return 0;
}

/* The feature set of the one layer of the layer file `mf` in `tree`, and its order tree,
 * when the set holds the bytes of each of its features (else *set NULL): what a stream of
 * the file is read against. */
static int layer_file_set(const umap_feature_set **out, git_oid *order, umap_repo *repo,
			  const git_oid *tree, const manifest_file *mf)
{
	*out = NULL;
	if (mf->is_map || mf->nlayers != 1 || has_children(mf, 0))
		return 0;
	umap_store *s = umap_repo_store(repo);
	umap_buf name = UMAP_BUF_INIT;
	git_oid layers, layer, features;
	int rc = umap_name_from_layer_id(&name, mf->layers[0]);
	int found = !rc &&
		    !umap_store_tree_lookup(&layers, NULL, s, tree, LAYERS, "a revision's tree") &&
		    !umap_store_tree_lookup(&layer, NULL, s, &layers, name.ptr, "the layers tree") &&
		    !umap_store_tree_lookup(&features, NULL, s, &layer, FEATURES, "a layer tree") &&
		    !umap_store_tree_lookup(order, NULL, s, &layer, ORDER, "a layer tree");
	umap_buf_dispose(&name);
	umap_error_clear();
	const umap_feature_set *set = found ? umap_repo_feature_set(repo, mf->layers[0], &features)
					    : NULL;
	if (rc || !set || !set->n || set->depth > 3)
		return rc;
	size_t total = 0, nleaves = (size_t)1 << (6 * set->depth);
	for (size_t l = 0; l < nleaves; l++)
		total += set->counts[l];
	if (total == set->n) /* else some features' bytes are not in the set: read whole */
		*out = set;
	return 0;
}

/* *out: the file at `abs` read as a stream (its layer without features) when its features
 * are those of its layer in `tree`, with *count of them; else *out NULL: read it whole. */
static int read_base_features(umap_doc **out, size_t *count, umap_repo *repo,
			      const git_oid *tree, const manifest_file *mf, const char *abs)
{
	*out = NULL;
	*count = 0;
	const umap_feature_set *set;
	umap_store *s = umap_repo_store(repo);
	git_oid order;
	int found = 0, rc = layer_file_set(&set, &order, repo, tree, mf);
	if (rc || !set)
		return rc;
	base_check c = { NULL, NULL, 64, 0, set->n, NULL, 0 };
	while (c.size < 2 * set->n)
		c.size *= 2;
	/* one anonymous mapping, zeroed, given back whole: freed from malloc, 26 MB at 1M
	 * would raise glibc's mmap threshold and leave checkout's later arrays on the heap */
	size_t bytes = c.size * sizeof(*c.table) + set->n * sizeof(*c.ids) + c.size;
	void *region = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		return oom();
	c.table = region;
	c.ids = c.table + c.size;
	c.seen = (unsigned char *)(c.ids + set->n);
	for (size_t i = 0; i < set->n && !rc; i++) {
		uint64_t h = set->hashes[i];
		size_t slot = (size_t)h & (c.size - 1);
		while (h && c.table[slot] && c.table[slot] != h)
			slot = (slot + 1) & (c.size - 1);
		if (!h || c.table[slot] == h)
			break; /* a zero or repeated hash: leave it to the whole read */
		c.table[slot] = h;
		if (i + 1 == set->n)
			found = 2;
	}
	umap_doc *doc = NULL;
	if (!rc && found == 2) {
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		opts.on_feature = base_check_feature;
		opts.on_feature_data = &c;
		int read = umap_doc_open(&doc, abs, &opts);
		umap_error_clear();
		if (!read && doc->nlayers == 1 && c.count == set->n &&
		    !umap_store_order_each(s, &order, base_check_order, &c) && c.at == c.count) {
			*out = doc;
			*count = c.count;
			doc = NULL;
		}
		umap_error_clear();
	}
	umap_doc_free(doc);
	munmap(region, bytes);
	return rc;
}

static int read_edit_features(umap_doc **out, umap_layer_edit **edit, umap_repo *repo,
			      const git_oid *tree, const manifest_file *mf, const char *abs);

enum { READ_WHOLE, READ_CHECK, READ_EDIT };

static int read_worktree(umap_snapshot **out, umap_repo *repo, const git_oid *tree, int mode)
{
	manifest m;
	umap_snapshot *snap = NULL;
	umap_pending pending = UMAP_PENDING_INIT;
	int rc = manifest_read(&m, repo, tree);
	if (!rc)
		rc = umap_repo_pending_load(&pending, repo);
	if (!rc)
		rc = umap_snapshot_new(&snap);
	for (size_t i = 0; i < m.nfiles && !rc; i++) {
		char *abs = NULL;
		umap_doc *doc = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		int removed;
		const char *moved_to, *path = m.files[i].path;
		pending_of(&pending, path, &removed, &moved_to);
		if (removed) {
			if ((rc = umap_snapshot_add(snap, path, NULL)))
				break;
			snap->files[snap->nfiles - 1].removed = 1;
			continue;
		}
		if (moved_to) {
			/* a stale move onto a path the tree tracks (HEAD moved since) is not applied */
			int taken, gone;
			const char *elsewhere;
			pending_of(&pending, moved_to, &gone, &elsewhere);
			taken = manifest_find(&m, moved_to) && !gone && !elsewhere;
			path = taken ? m.files[i].path : moved_to;
			moved_to = taken ? NULL : moved_to;
		}
		if ((rc = umap_repo_abspath(&abs, repo, path)))
			break;
		/* stat before reading: a change during the read shows as a new stat next time */
		struct stat raw;
		umap_file_stat st = { 0, 0, 0, 0, 0 };
		int have_stat = stat(abs, &raw) == 0;
		if (have_stat)
			umap_file_stat_from(&st, &raw);
		/* a moved file is always read: the index knows its version by its old path */
		if (have_stat && !moved_to && umap_repo_index_fresh(repo, path, &st, tree)) {
			free(abs);
			if ((rc = umap_snapshot_add(snap, path, NULL)))
				break;
			snap->files[snap->nfiles - 1].unchanged = 1;
			repo->skipped_files = 1;
			continue;
		}
		size_t base_count = 0;
		umap_layer_edit *edit = NULL;
		if (mode == READ_CHECK && have_stat && !moved_to &&
		    (rc = read_base_features(&doc, &base_count, repo, tree, &m.files[i], abs))) {
			free(abs);
			break;
		}
		if (mode == READ_EDIT && have_stat && !moved_to &&
		    (rc = read_edit_features(&doc, &edit, repo, tree, &m.files[i], abs))) {
			free(abs);
			break;
		}
		if (!doc)
			rc = umap_doc_open(&doc, abs, &opts);
		int missing = rc == UMAP_ENOTFOUND && access(abs, F_OK) != 0;
		if (missing) {
			/* kept as in the tree; the caller decides what a missing file means */
			umap_error_clear();
			rc = 0;
		}
		free(abs);
		if (!rc && doc && !m.files[i].is_map && m.files[i].nlayers == 1 && doc->nlayers == 1)
			rc = umap_repo_bind_layer_id(&doc->layers[0], m.files[i].layers[0]);
		if (!rc && doc && m.files[i].is_map)
			rc = match_idless_layers(doc, repo, tree, &m.files[i]);
		if (!rc && (rc = umap_snapshot_add(snap, path, doc)))
			umap_doc_free(doc);
		if (rc)
			umap_layer_edit_free(edit);
		if (!rc) {
			umap_repo_file *f = &snap->files[snap->nfiles - 1];
			f->edit = edit;
			f->missing = missing;
			f->have_stat = have_stat && !missing;
			f->st = st;
			f->base_features = base_count > 0;
			f->base_count = base_count;
			if (moved_to && !(f->from = strdup(m.files[i].path)))
				rc = oom();
		}
	}
	umap_pending_clear(&pending);
	manifest_clear(&m);
	if (rc) {
		umap_snapshot_free(snap);
		return rc;
	}
	*out = snap;
	return 0;
}

int umap_repo_read_worktree(umap_snapshot **out, umap_repo *repo, const git_oid *tree)
{
	return read_worktree(out, repo, tree, READ_WHOLE);
}

int umap_repo_read_worktree_edit(umap_snapshot **out, umap_repo *repo, const git_oid *tree)
{
	/* an edit reads a leaf here and there and the order's chunks, in pack order: two
	 * windows of 4 MB hold what it needs (1M features: 16 MB less than repo.c's) */
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, EXPORT_WINDOW);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, 2 * EXPORT_WINDOW);
	/* the changed features' blobs and the new order chunks go to the pack as they are
	 * made (1M features, 1%: 13 MB), as a whole build's blobs do */
	int rc = umap_store_stream_blobs(&repo->store, 1);
	if (!rc)
		rc = read_worktree(out, repo, tree, READ_EDIT);
	if (umap_store_stream_blobs(&repo->store, 0) && !rc)
		rc = UMAP_ENOMEM;
	/* the order walks mapped the pack's index (1M features: 28 MB, most of it touched):
	 * the build maps what it needs again */
	if (!rc && umap_store_release_packs(&repo->store))
		umap_error_clear(); /* kept mapped, then */
	return rc;
}

int umap_repo_read_worktree_check(umap_snapshot **out, umap_repo *repo, const git_oid *tree)
{
	int rc = read_worktree(out, repo, tree, READ_CHECK);
	/* the order walks mapped the pack's index and windows (1M features: 24 MB and more);
	 * a checkout then reads the target revision, which maps what it needs again */
	if (!rc && umap_store_release_packs(&repo->store))
		umap_error_clear(); /* kept mapped, then */
	umap_repo_feature_sets_release(repo);
	return rc;
}

int umap_repo_assign_ids(umap_doc *doc, size_t *assigned)
{
	*assigned = 0;
	for (size_t l = 0; l < doc->nlayers; l++) {
		umap_layer *layer = &doc->layers[l];
		/* a layer file's layer is its path (see layer_file_id): nothing is written in */
		if (!layer->id && doc->kind == UMAP_DOC_MAP) {
			char uuid[37];
			int rc = umap_uuid_v4(uuid);
			if (rc)
				return rc;
			/* kept in the manifest, not written into the file (SPEC §2 "Layer
			 * identity"): uMap's exports drop layer ids, so the next download has none
			 * either, and the layer is matched by position, then name */
			if (!(layer->id = strdup(uuid)))
				return oom();
			layer->id_outside = 1;
		}
		size_t n = 0;
		int rc = umap_layer_assign_ids(doc, layer, &n);
		if (rc)
			return rc;
		*assigned += n;
	}
	return 0;
}

int umap_repo_carry_layer_ids(umap_doc *to, const umap_doc *from)
{
	for (size_t l = 0; l < from->nlayers && l < to->nlayers; l++) {
		if (!from->layers[l].id_outside || to->layers[l].id)
			continue;
		int rc = umap_repo_bind_layer_id(&to->layers[l], from->layers[l].id);
		if (rc)
			return rc;
		to->layers[l].id_outside = 1;
	}
	return 0;
}

int umap_repo_write_layer_ids(umap_doc *doc)
{
	for (size_t l = 0; l < doc->nlayers; l++) {
		umap_layer *layer = &doc->layers[l];
		if (!layer->id_outside)
			continue;
		if (!layer->options) {
			if (!(layer->options = json_object()))
				return oom();
			layer->options_key = "properties";
		}
		/* a legacy number another layer shares stays: the id goes beside it, as the
		 * layer's own top-level id */
		json_t *holder = json_object_get(layer->options, "id") && layer->members ? layer->members
											  : layer->options;
		if (json_object_set_new(holder, "id", json_string(layer->id)))
			return oom();
		layer->id_outside = 0;
	}
	return 0;
}

/* ---- Building trees ---------------------------------------------------------------------- */

static int json_blob(git_oid *out, umap_repo *repo, const json_t *value)
{
	umap_buf buf = UMAP_BUF_INIT;
	int rc = umap_json_write(&buf, value, UMAP_JSON_COMPACT);
	if (!rc)
		rc = umap_store_put(out, umap_repo_store(repo), GIT_OBJECT_BLOB, buf.ptr, buf.len);
	umap_buf_dispose(&buf);
	return rc;
}

/* How umap_json_write prints a number token, when that is certain without converting it:
 * an integer of at most 15 digits, or a plain decimal of at most 15 significant digits and
 * at least 1e-6 (where JavaScript's shortest form is the digits themselves), trailing
 * fraction zeros dropped ("1.50" -> "1.5", "2.0" -> "2"). *len is the length to keep;
 * returns 0 when the number needs the real conversion (exponents, long mantissas, -0). */
static int number_canonical_length(const char *p, size_t n, size_t *len)
{
	size_t i = p[0] == '-', int_start = i;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	size_t int_digits = i - int_start;
	int zero_int = int_digits == 1 && p[int_start] == '0';
	*len = n;
	if (i < n) {
		if (p[i] != '.')
			return 0; /* exponent */
		size_t frac_start = ++i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i != n || i == frac_start)
			return 0;
		size_t end = n;
		while (end > frac_start && p[end - 1] == '0')
			end--;
		size_t frac_digits = end - frac_start;
		if (frac_digits) {
			*len = end;
			if (!zero_int)
				return int_digits + frac_digits <= 15;
			size_t zeros = 0;
			while (p[frac_start + zeros] == '0')
				zeros++;
			return zeros <= 5 && frac_digits - zeros <= 15;
		}
		*len = frac_start - 1; /* "2.0" prints "2" */
	}
	return int_digits <= 15 && !(zero_int && p[0] == '-');
}

/* Whether the bytes of a (valid) feature are already its compact form: no white space
 * outside strings, no escapes, every number as umap_json_write prints it. One pass with
 * memchr over strings, ~10x cheaper than the token scanner; uMap and umapsync write
 * features this way, so an import usually stores the bytes as they are. */
static int bytes_canonical(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"') {
			const char *q = memchr(p + i + 1, '"', n - i - 1);
			if (!q || memchr(p + i + 1, '\\', (size_t)(q - p) - i - 1))
				return 0;
			i = (size_t)(q - p) + 1;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t j = i + 1, keep;
			while (j < n && ((p[j] >= '0' && p[j] <= '9') || p[j] == '.' || p[j] == 'e' ||
					 p[j] == 'E' || p[j] == '+' || p[j] == '-'))
				j++;
			if (!number_canonical_length(p + i, j - i, &keep) || keep != j - i)
				return 0;
			i = j;
		} else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
			return 0;
		} else {
			i++;
		}
	}
	return 1;
}

/* A number as exact decimal: sign, significant digits (no leading or trailing zeros) and
 * the power of ten of the last one. 1.0, 1e0 and 10e-1 are the same; 0 and -0 are not. */
typedef struct exact_decimal {
	int negative;
	char digits[UMAP_NUMBER_MAX + 8];
	size_t ndigits;
	long exponent;
	int too_long;
} exact_decimal;

static void exact_decimal_of(exact_decimal *d, const char *p, size_t n)
{
	size_t i = 0;
	long point = 0, exponent = 0;
	int seen_point = 0;
	memset(d, 0, sizeof(*d));
	d->negative = n && p[0] == '-';
	i = d->negative;
	for (; i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.'); i++) {
		if (p[i] == '.') {
			seen_point = 1;
			continue;
		}
		if (seen_point)
			point--;
		if (p[i] == '0' && !d->ndigits)
			continue;
		if (d->ndigits == sizeof(d->digits))
			d->too_long = 1;
		else
			d->digits[d->ndigits++] = p[i];
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E'))
		exponent = strtol(p + i + 1, NULL, 10);
	d->exponent = point + exponent;
	while (d->ndigits && d->digits[d->ndigits - 1] == '0') {
		d->ndigits--;
		d->exponent++;
	}
}

/* A number as its blob keeps it: the form umap_json_write prints (shortest round trip),
 * unless that form has another exact decimal value, as 12345678901234567890 (printed
 * 12345678901234567000) or -0 (printed 0) have: then its bytes as written, so that an id or
 * a sign survives the repository (SPEC §2 "Writing"). */
static int put_number(umap_buf *out, const char *raw, size_t n)
{
	size_t keep;
	if (number_canonical_length(raw, n, &keep))
		return umap_buf_put(out, raw, keep);
	char text[UMAP_NUMBER_MAX + 1], printed[UMAP_NUMBER_MAX];
	if (n > UMAP_NUMBER_MAX)
		return umap_buf_put(out, raw, n);
	memcpy(text, raw, n);
	text[n] = '\0';
	int len = umap_format_double(printed, strtod(text, NULL));
	exact_decimal a, b;
	exact_decimal_of(&a, raw, n);
	exact_decimal_of(&b, printed, (size_t)len);
	int same = !a.too_long && a.negative == b.negative && a.ndigits == b.ndigits &&
		   (!a.ndigits || a.exponent == b.exponent) && !memcmp(a.digits, b.digits, a.ndigits);
	return same ? umap_buf_put(out, printed, (size_t)len) : umap_buf_put(out, raw, n);
}

/* A string or member name as umap_json_write escapes it. */
static int put_string(umap_buf *out, umap_scanner *sc, const umap_token *tok, const char *raw,
		      size_t n, umap_buf *text)
{
	if (!tok->has_escapes)
		return umap_buf_put(out, raw, n);
	if (umap_scanner_string(sc, tok, text))
		return -1;
	json_t *value = json_stringn(text->ptr ? text->ptr : "", text->len);
	int rc = value ? umap_json_write(out, value, UMAP_JSON_COMPACT) : -1;
	json_decref(value);
	return rc;
}

int umap_repo_canonical_fast(umap_buf *out, const char *data, size_t len)
{
	if (bytes_canonical(data, len))
		return !umap_buf_put(out, data, len);
	umap_scanner *sc = NULL;
	umap_json_options opts = UMAP_JSON_OPTIONS_INIT;
	if (umap_scanner_new(&sc, data, len, &opts)) {
		umap_error_clear();
		return 0;
	}
	unsigned char first[64];
	int top = -1, after_key = 0, ok = 1;
	umap_buf text = UMAP_BUF_INIT;
	umap_token tok;
	while (ok) {
		if (umap_scanner_next(sc, &tok)) {
			umap_error_clear();
			ok = 0;
			break;
		}
		if (tok.type == UMAP_TOKEN_EOF)
			break;
		const char *raw = data + tok.start;
		size_t n = tok.end - tok.start;
		if (tok.type == UMAP_TOKEN_OBJECT_END || tok.type == UMAP_TOKEN_ARRAY_END) {
			ok = umap_buf_putc(out, tok.type == UMAP_TOKEN_OBJECT_END ? '}' : ']') == 0;
			top--;
			continue;
		}
		if (top >= 0 && !after_key) {
			if (!first[top] && umap_buf_putc(out, ','))
				ok = 0;
			first[top] = 0;
		}
		after_key = 0;
		switch (tok.type) {
		case UMAP_TOKEN_KEY:
			ok = !put_string(out, sc, &tok, raw, n, &text) && !umap_buf_putc(out, ':');
			after_key = 1;
			break;
		case UMAP_TOKEN_OBJECT_START:
		case UMAP_TOKEN_ARRAY_START:
			if (++top == (int)sizeof(first)) {
				ok = 0;
				break;
			}
			first[top] = 1;
			ok = !umap_buf_putc(out, tok.type == UMAP_TOKEN_OBJECT_START ? '{' : '[');
			break;
		case UMAP_TOKEN_STRING:
			ok = !put_string(out, sc, &tok, raw, n, &text);
			break;
		case UMAP_TOKEN_NUMBER:
			ok = !put_number(out, raw, n);
			break;
		default: /* true, false, null */
			ok = !umap_buf_put(out, raw, n);
			break;
		}
	}
	umap_scanner_free(sc);
	umap_buf_dispose(&text);
	return ok;
}

static int feature_blob(git_oid *out, umap_repo *repo, umap_doc *doc, umap_layer *layer,
			size_t i, umap_buf *scratch)
{
	umap_feature *f = &layer->features[i];
	int has_bytes = doc->data && f->length > 0;
	int had_tree = f->value != NULL;
	/* Bytes already in compact form are the blob: hashing them (SHA-1, with SHA-NI) costs
	 * about what a cache lookup does, so the cache keeps only features that need rewriting
	 * (indented files, escapes) and stays out of the repository's size otherwise. */
	if (has_bytes && !had_tree && bytes_canonical(doc->data + f->offset, f->length))
		return umap_store_put(out, umap_repo_store(repo), GIT_OBJECT_BLOB, doc->data + f->offset,
				      f->length);
	XXH128_canonical_t key;
	if (has_bytes) {
		XXH128_canonicalFromHash(&key, XXH3_128bits(doc->data + f->offset, f->length));
		if (umap_repo_cache_lookup(out, repo, key.digest))
			return umap_repo_cache_note(repo, key.digest, out);
	}
	umap_buf_clear(scratch);
	if (has_bytes && !had_tree &&
	    umap_repo_canonical_fast(scratch, doc->data + f->offset, f->length)) {
		int rc = umap_store_put(out, umap_repo_store(repo), GIT_OBJECT_BLOB, scratch->ptr,
					scratch->len);
		return rc ? rc : umap_repo_cache_note(repo, key.digest, out);
	}
	json_t *value = NULL;
	int rc = umap_doc_feature(&value, doc, layer, i);
	if (rc)
		return rc;
	umap_buf_clear(scratch);
	rc = umap_json_write(scratch, value, UMAP_JSON_COMPACT);
	if (!rc)
		rc = umap_store_put(out, umap_repo_store(repo), GIT_OBJECT_BLOB, scratch->ptr,
				    scratch->len);
	if (has_bytes && !had_tree) {
		/* the file still has it: do not hold 100k trees in memory */
		json_decref(f->value);
		f->value = NULL;
	}
	if (!rc && has_bytes)
		rc = umap_repo_cache_note(repo, key.digest, out);
	return rc;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* MSD radix sort in place (American flag sort), 8 bits a level: 1M hashes in ~30M
 * instructions and no second array (an LSD sort's 8 MB at 1M, the peak of an import). */
static void radix_sort(uint64_t *v, size_t n, int shift)
{
	if (n <= 32) {
		for (size_t i = 1; i < n; i++) {
			uint64_t x = v[i];
			size_t j = i;
			for (; j && v[j - 1] > x; j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
		return;
	}
	size_t count[256] = { 0 }, next[256], end[256];
	for (size_t i = 0; i < n; i++)
		count[(v[i] >> shift) & 255]++;
	for (size_t d = 0, at = 0; d < 256; d++) {
		next[d] = at;
		at += count[d];
		end[d] = at;
	}
	for (size_t d = 0; d < 256; d++) {
		while (next[d] < end[d]) {
			uint64_t x = v[next[d]];
			size_t to = (x >> shift) & 255;
			while (to != d) { /* put x in its bucket, take what was there */
				uint64_t y = v[next[to]];
				v[next[to]++] = x;
				x = y;
				to = (x >> shift) & 255;
			}
			v[next[d]++] = x;
		}
	}
	if (shift)
		for (size_t d = 0, at = 0; d < 256; at += count[d], d++)
			radix_sort(v + at, count[d], shift - 8);
}

/* The features of a layer built from a file's bytes, for the next commit: the sorted xxh3
 * of each feature's bytes (doc_open computed it) and the count of each leaf, from the
 * features' shards (in any order). */
static int note_feature_set(umap_repo *repo, umap_layer *layer, const uint64_t *shards,
			    const git_oid *features, int depth)
{
	if (depth > 3)
		return 0; /* 10M+ features: 16M leaf counts is more than a whole build saves */
	size_t n = layer->nfeatures, nleaves = (size_t)1 << (6 * depth), k = 0;
	uint32_t *counts = calloc(nleaves, sizeof(*counts));
	uint64_t *hashes = malloc((n ? n : 1) * sizeof(*hashes));
	if (!counts || !hashes || !layer->id) {
		free(counts);
		free(hashes);
		return layer->id ? oom() : 0;
	}
	for (size_t i = 0; i < n; i++) {
		const umap_feature *f = &layer->features[i];
		counts[depth ? shards[i] >> (64 - 6 * depth) : 0]++;
		if (f->length && !f->value) /* bytes that are this feature's blob (or its source) */
			hashes[k++] = f->hash;
	}
	radix_sort(hashes, k, 56);
	return umap_repo_feature_set_note(repo, layer->id, features, depth, counts, hashes, k);
}

/* A layer's features handed to the tree writer leaf by leaf (umap_leaf_fn): a tree entry
 * is made for the features of one leaf at a time, from each feature's shard and its blob,
 * so that a layer of 1M features never holds 1M entries and their names (60 MB). */
typedef struct leaf_source {
	const umap_layer *layer;
	int depth;
	const uint64_t *shards; /* umap_shard_hash of each feature's id */
	uint32_t *order;        /* feature indices leaf by leaf, in file order within a leaf */
	size_t *start;          /* leaf l's: order[start[l] .. start[l + 1]) */
	/* the blob of feature i: blobs[i] (a whole build), or for a patch, a zero id (kept from
	 * the old leaf) when same[i], else the one of changed_at[j] == i in changed[j] */
	const git_oid *blobs;
	const unsigned char *same;
	const uint32_t *changed_at;
	const git_oid *changed;
	size_t nchanged;
	umap_fref *refs;
	size_t cap;
	size_t *name_at;
	umap_buf names, name;
} leaf_source;

/* Groups the features of the leaves marked in `only` (NULL: all) by leaf: src->order and
 * src->start, a counting sort in file order. */
static int leaf_source_group(leaf_source *src, int depth, const unsigned char *only)
{
	size_t n = src->layer->nfeatures, nleaves = (size_t)1 << (6 * depth), k = 0;
	int shift = depth ? 64 - 6 * depth : 0;
	src->start = calloc(nleaves + 1, sizeof(*src->start));
	if (!src->start)
		return oom();
	for (size_t i = 0; i < n; i++) {
		size_t leaf = depth ? src->shards[i] >> shift : 0;
		if (!only || only[leaf])
			src->start[leaf + 1]++;
	}
	for (size_t l = 0; l < nleaves; l++)
		src->start[l + 1] += src->start[l];
	k = src->start[nleaves];
	if (!(src->order = malloc((k ? k : 1) * sizeof(*src->order))))
		return oom();
	for (size_t i = 0; i < n; i++) {
		size_t leaf = depth ? src->shards[i] >> shift : 0;
		if (!only || only[leaf])
			src->order[src->start[leaf]++] = (uint32_t)i;
	}
	/* start[l] is now where leaf l ends: shift back to where it begins */
	memmove(src->start + 1, src->start, nleaves * sizeof(*src->start));
	src->start[0] = 0;
	return 0;
}

static void leaf_source_dispose(leaf_source *src)
{
	free(src->order);
	free(src->start);
	free(src->refs);
	free(src->name_at);
	umap_buf_dispose(&src->names);
	umap_buf_dispose(&src->name);
}

static const git_oid *changed_blob(const leaf_source *src, uint32_t i)
{
	size_t lo = 0, hi = src->nchanged;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (src->changed_at[mid] < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < src->nchanged && src->changed_at[lo] == i ? &src->changed[lo] : NULL;
}

/* Room for the refs of a leaf of `count` features; its names emptied. */
static int leaf_source_reserve(leaf_source *src, size_t count)
{
	if (count > src->cap) {
		umap_fref *more = realloc(src->refs, count * sizeof(*more));
		size_t *at = realloc(src->name_at, count * sizeof(*at));
		if (more)
			src->refs = more;
		if (at)
			src->name_at = at;
		if (!more || !at)
			return oom();
		src->cap = count;
	}
	umap_buf_clear(&src->names);
	return 0;
}

/* The entry name of feature i, as the leaf's j-th ref's (pointed to once all are made). */
static int leaf_source_name(leaf_source *src, size_t j, size_t i)
{
	int rc = umap_name_from_id(&src->name, src->layer->features[i].id);
	if (rc)
		return rc;
	src->name_at[j] = src->names.len;
	return umap_buf_put(&src->names, src->name.ptr, src->name.len + 1) ? oom() : 0;
}

static int leaf_refs(void *ctx, size_t leaf, umap_fref **refs, size_t *n)
{
	leaf_source *src = ctx;
	size_t from = src->start[leaf], count = src->start[leaf + 1] - from;
	int rc;
	if ((rc = leaf_source_reserve(src, count)))
		return rc;
	const umap_feature *features = src->layer->features;
	size_t end = src->start[(size_t)1 << (6 * src->depth)];
	for (size_t j = 0; j < count; j++) {
		uint32_t i = src->order[from + j];
		umap_fref *r = &src->refs[j];
		/* a leaf's features are all over the file: fetch the records, then their ids,
		 * ahead of use (a cache miss each, 1M of them) */
		if (from + j + 16 < end)
			__builtin_prefetch(&features[src->order[from + j + 16]]);
		if (from + j + 8 < end)
			__builtin_prefetch(features[src->order[from + j + 8]].id);
		if ((rc = leaf_source_name(src, j, i)))
			return rc;
		r->shard = src->shards[i];
		if (src->blobs) {
			git_oid_cpy(&r->blob, &src->blobs[i]);
		} else if (src->same[i]) {
			memset(&r->blob, 0, sizeof(r->blob));
		} else {
			const git_oid *blob = changed_blob(src, i);
			if (!blob)
				return UMAP_ECONFLICT; /* not made: build the layer whole */
			git_oid_cpy(&r->blob, blob);
		}
	}
	for (size_t j = 0; j < count; j++)
		src->refs[j].name = src->names.ptr + src->name_at[j];
	*refs = src->refs;
	*n = count;
	return 0;
}

/* The features tree of a layer from the old one, rebuilding only the leaves that gained,
 * lost or changed a feature: a feature whose bytes hash as one the old tree was built from
 * is unchanged (its bytes include its id: same bytes, same feature) and is not hashed,
 * parsed or even looked up unless its leaf must be rebuilt. The changed features' blobs are
 * made reading the file once, in order, behind which its pages are given back; the tree
 * entries only leaf by leaf (leaf_source). UMAP_ECONFLICT: build whole. */
static int features_patch(git_oid *out, umap_repo *repo, umap_doc *doc, umap_layer *layer,
			  const uint64_t *shards, const git_oid *old_features, int depth,
			  const umap_feature_set *set, umap_buf *scratch)
{
	size_t n = layer->nfeatures, nleaves = (size_t)1 << (6 * depth), k = 0;
	if (set->depth != depth || !doc->data || depth > 3)
		return UMAP_ECONFLICT;
	/* the old hashes in an open-addressing table: one probe where a binary search over
	 * 100k took 17 cache misses (0 marks an empty slot; a hash of 0 is looked up apart) */
	size_t size = 64;
	while (size < 2 * set->n)
		size *= 2;
	uint64_t *table = calloc(size, sizeof(*table));
	uint32_t *now = calloc(nleaves, sizeof(*now));
	unsigned char *affected = calloc(nleaves, 1), *same = malloc(n ? n : 1);
	int rc = table && now && affected && same ? 0 : oom();
	int has_zero = 0;
	for (size_t i = 0; i < set->n && !rc; i++) {
		uint64_t h = set->hashes[i];
		size_t slot = (size_t)h & (size - 1);
		has_zero |= h == 0;
		while (h && table[slot] && table[slot] != h)
			slot = (slot + 1) & (size - 1);
		if (h)
			table[slot] = h;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		const umap_feature *f = &layer->features[i];
		size_t leaf = shards[i] >> (64 - 6 * depth), slot = (size_t)f->hash & (size - 1);
		while (table[slot] && table[slot] != f->hash)
			slot = (slot + 1) & (size - 1);
		same[i] = f->length && !f->value && (f->hash ? table[slot] == f->hash : has_zero);
		if (same[i])
			now[leaf]++;
		else
			k++;
		if (!same[i])
			affected[leaf] = 1;
	}
	free(table);
	for (size_t l = 0; l < nleaves && !rc; l++)
		if (now[l] != set->counts[l])
			affected[l] = 1; /* lost a feature */
	free(now);
	leaf_source src = { layer, depth, shards, NULL, NULL, NULL, same, NULL, NULL, 0, NULL, 0,
			    NULL, UMAP_BUF_INIT, UMAP_BUF_INIT };
	uint32_t *changed_at = rc ? NULL : malloc((k ? k : 1) * sizeof(*changed_at));
	git_oid *changed = rc ? NULL : malloc((k ? k : 1) * sizeof(*changed));
	if (!rc && (!changed_at || !changed))
		rc = oom();
	for (size_t i = 0; i < n && !rc; i++) {
		if (same[i])
			continue;
		changed_at[src.nchanged] = (uint32_t)i;
		if ((rc = feature_blob(&changed[src.nchanged], repo, doc, layer, i, scratch)))
			break;
		src.nchanged++;
		/* a changed feature every few dozen: each read would map 64 KB around it, and
		 * 1% of 1M features then maps the whole file back */
		umap_doc_drop_behind(doc, layer->features[i].offset);
	}
	src.changed_at = changed_at;
	src.changed = changed;
	repo->progress_done += n;
	umap_progress_report(&repo->progress, repo->progress_done, 0);
	if (!rc)
		rc = leaf_source_group(&src, depth, affected);
	if (!rc)
		rc = umap_store_features_patch_leaves(out, umap_repo_store(repo), old_features, depth,
						      affected, leaf_refs, &src);
	leaf_source_dispose(&src);
	free(changed_at);
	free(changed);
	free(affected);
	free(same);
	return rc;
}

/* A whole build's (feature, blob) pairs, bucketed by leaf in an unlinked temporary file as
 * the blobs are made, and read back a bucket at a time to give the leaves: a layer of 1M
 * features holds no blob id (20 bytes) nor leaf order (4 bytes) per feature. A bucket is
 * up to 256 consecutive leaves (the first 8 bits of the shards), its pairs in file order. */
typedef struct leaf_pair {
	uint32_t feature;
	git_oid blob;
} leaf_pair;

#define LEAF_BUCKETS_HELD 64 /* pairs a bucket holds before they are written */

typedef struct leaf_spill {
	leaf_source *src;
	int fd;
	int shift;             /* bucket of a shard: shard >> shift (0 buckets bits: one) */
	size_t nbuckets, leaves_per_bucket;
	size_t *start, *fill;  /* per bucket: first pair in the file, pairs given */
	leaf_pair *held;       /* LEAF_BUCKETS_HELD per bucket, not written yet */
	size_t loaded;         /* bucket whose pairs are in `pairs`, nbuckets none */
	leaf_pair *pairs;
	size_t npairs, cap;
	uint32_t *order;       /* its pairs by leaf, and where each leaf's begin */
	size_t *leaf_start;
} leaf_spill;

static void leaf_spill_dispose(leaf_spill *ls)
{
	if (ls->fd >= 0)
		close(ls->fd);
	free(ls->start);
	free(ls->fill);
	free(ls->held);
	free(ls->pairs);
	free(ls->order);
	free(ls->leaf_start);
}

static int leaf_spill_write(leaf_spill *ls, const leaf_pair *p, size_t n, size_t at)
{
	const char *b = (const char *)p;
	size_t len = n * sizeof(*p);
	off_t off = (off_t)(at * sizeof(*p));
	while (len) {
		ssize_t w = pwrite(ls->fd, b, len, off);
		if (w < 0)
			return umap_error_set_errno(UMAP_EIO, "cannot write a temporary file");
		b += w;
		len -= (size_t)w;
		off += w;
	}
	return 0;
}

static int leaf_spill_open(leaf_spill *ls, umap_repo *repo, leaf_source *src, int depth)
{
	size_t n = src->layer->nfeatures;
	int bits = 6 * depth < 8 ? 6 * depth : 8;
	memset(ls, 0, sizeof(*ls));
	ls->fd = -1;
	ls->src = src;
	ls->nbuckets = (size_t)1 << bits;
	ls->shift = 64 - bits;
	ls->leaves_per_bucket = ((size_t)1 << (6 * depth)) / ls->nbuckets;
	ls->loaded = ls->nbuckets;
	ls->start = calloc(ls->nbuckets + 1, sizeof(*ls->start));
	ls->fill = calloc(ls->nbuckets, sizeof(*ls->fill));
	ls->held = malloc(ls->nbuckets * LEAF_BUCKETS_HELD * sizeof(*ls->held));
	ls->leaf_start = calloc(ls->leaves_per_bucket + 1, sizeof(*ls->leaf_start));
	if (!ls->start || !ls->fill || !ls->held || !ls->leaf_start)
		return oom();
	for (size_t i = 0; i < n; i++)
		ls->start[(bits ? src->shards[i] >> ls->shift : 0) + 1]++;
	for (size_t b = 0; b < ls->nbuckets; b++)
		ls->start[b + 1] += ls->start[b];
	return temp_open(&ls->fd, repo);
}

static int leaf_spill_add(leaf_spill *ls, size_t i, const git_oid *blob)
{
	size_t b = ls->nbuckets > 1 ? ls->src->shards[i] >> ls->shift : 0;
	leaf_pair *p = &ls->held[b * LEAF_BUCKETS_HELD + ls->fill[b] % LEAF_BUCKETS_HELD];
	p->feature = (uint32_t)i;
	git_oid_cpy(&p->blob, blob);
	if (++ls->fill[b] % LEAF_BUCKETS_HELD)
		return 0;
	return leaf_spill_write(ls, &ls->held[b * LEAF_BUCKETS_HELD], LEAF_BUCKETS_HELD,
				ls->start[b] + ls->fill[b] - LEAF_BUCKETS_HELD);
}

static int leaf_spill_finish(leaf_spill *ls)
{
	int rc = 0;
	for (size_t b = 0; b < ls->nbuckets && !rc; b++) {
		size_t left = ls->fill[b] % LEAF_BUCKETS_HELD;
		if (left)
			rc = leaf_spill_write(ls, &ls->held[b * LEAF_BUCKETS_HELD], left,
					      ls->start[b] + ls->fill[b] - left);
	}
	free(ls->held);
	ls->held = NULL;
	return rc;
}

/* Reads bucket b back and groups its pairs by leaf (a counting sort, file order kept). */
static int leaf_spill_load(leaf_spill *ls, size_t b)
{
	const leaf_source *src = ls->src;
	size_t m = ls->start[b + 1] - ls->start[b];
	if (m > ls->cap) {
		leaf_pair *more = realloc(ls->pairs, m * sizeof(*more));
		uint32_t *order = realloc(ls->order, m * sizeof(*order));
		if (more)
			ls->pairs = more;
		if (order)
			ls->order = order;
		if (!more || !order)
			return oom();
		ls->cap = m;
	}
	char *p = (char *)ls->pairs;
	size_t len = m * sizeof(*ls->pairs);
	off_t off = (off_t)(ls->start[b] * sizeof(*ls->pairs));
	while (len) {
		ssize_t got = pread(ls->fd, p, len, off);
		if (got <= 0)
			return umap_error_set_errno(UMAP_EIO, "cannot read back a temporary file");
		p += got;
		len -= (size_t)got;
		off += got;
	}
	size_t per = ls->leaves_per_bucket, first = b * per;
	int leaf_shift = src->depth ? 64 - 6 * src->depth : 0;
	memset(ls->leaf_start, 0, (per + 1) * sizeof(*ls->leaf_start));
	for (size_t j = 0; j < m; j++) {
		size_t leaf = src->depth ? src->shards[ls->pairs[j].feature] >> leaf_shift : 0;
		ls->leaf_start[leaf - first + 1]++;
	}
	for (size_t l = 0; l < per; l++)
		ls->leaf_start[l + 1] += ls->leaf_start[l];
	for (size_t j = 0; j < m; j++) {
		size_t leaf = src->depth ? src->shards[ls->pairs[j].feature] >> leaf_shift : 0;
		ls->order[ls->leaf_start[leaf - first]++] = (uint32_t)j;
	}
	memmove(ls->leaf_start + 1, ls->leaf_start, per * sizeof(*ls->leaf_start));
	ls->leaf_start[0] = 0;
	ls->npairs = m;
	ls->loaded = b;
	return 0;
}

/* umap_leaf_fn of a whole build: the refs of one leaf, from its bucket. */
static int leaf_refs_spilled(void *ctx, size_t leaf, umap_fref **refs, size_t *n)
{
	leaf_spill *ls = ctx;
	leaf_source *src = ls->src;
	size_t b = leaf / ls->leaves_per_bucket, in = leaf % ls->leaves_per_bucket;
	int rc = ls->loaded == b ? 0 : leaf_spill_load(ls, b);
	if (rc)
		return rc;
	size_t from = ls->leaf_start[in], count = ls->leaf_start[in + 1] - from;
	if ((rc = leaf_source_reserve(src, count)))
		return rc;
	const umap_feature *features = src->layer->features;
	for (size_t j = 0; j < count; j++) {
		const leaf_pair *p = &ls->pairs[ls->order[from + j]];
		/* a leaf's features are all over the file: fetch their ids ahead of use */
		if (j + 8 < count)
			__builtin_prefetch(features[ls->pairs[ls->order[from + j + 8]].feature].id);
		if ((rc = leaf_source_name(src, j, p->feature)))
			return rc;
		src->refs[j].shard = src->shards[p->feature];
		git_oid_cpy(&src->refs[j].blob, &p->blob);
	}
	for (size_t j = 0; j < count; j++)
		src->refs[j].name = src->names.ptr + src->name_at[j];
	*refs = src->refs;
	*n = count;
	return 0;
}

/* The features tree of a layer built whole: every feature's blob, made reading the file
 * once in order (its pages given back behind) and bucketed by leaf (leaf_spill), then the
 * tree leaf by leaf. */
static int features_build(git_oid *out, umap_repo *repo, umap_doc *doc, umap_layer *layer,
			  const uint64_t *shards, int depth, umap_buf *scratch)
{
	size_t n = layer->nfeatures;
	depth = n ? depth : 0;
	leaf_source src = { layer, depth, shards, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0,
			    NULL, UMAP_BUF_INIT, UMAP_BUF_INIT };
	leaf_spill ls;
	int rc = leaf_spill_open(&ls, repo, &src, depth);
	for (size_t i = 0; i < n && !rc; i++) {
		git_oid blob;
		if ((rc = feature_blob(&blob, repo, doc, layer, i, scratch)) ||
		    (rc = leaf_spill_add(&ls, i, &blob)))
			break;
		/* the file is read once, in order: its pages need not stay (1M features: 269 MB) */
		umap_doc_drop_behind(doc, layer->features[i].offset);
		if (!(++repo->progress_done & 255))
			umap_progress_report(&repo->progress, repo->progress_done, 0);
	}
	if (!rc)
		rc = leaf_spill_finish(&ls);
	if (!rc)
		rc = umap_store_features_tree_leaves(out, umap_repo_store(repo), depth,
						     leaf_refs_spilled, &ls);
	leaf_spill_dispose(&ls);
	leaf_source_dispose(&src);
	return rc;
}

/* A layer's dictionary: the compact bytes of its first features, one blob that every
 * feature blob of the import is written as a delta against (git's OFS_DELTA: any run of 8+
 * bytes is copied from it), so that keys, structure and common values are stored once:
 * ~75 bytes a feature instead of ~160 against a neighbouring feature. It is a tree entry
 * so that git keeps it (and the deltas) through gc; later commits carry it over unchanged.
 * Old repositories have none: their layers simply keep none. */
static int layer_dictionary(git_oid *out, int *has, umap_repo *repo, umap_doc *doc,
			    umap_layer *layer, const git_oid *old_layer)
{
	umap_store *s = umap_repo_store(repo);
	*has = 0;
	if (old_layer) {
		int rc = umap_store_tree_lookup(out, NULL, s, old_layer, DICTIONARY, "a layer tree");
		*has = rc == 0;
		umap_error_clear();
		return rc == 0 || rc == UMAP_ENOTFOUND ? 0 : rc;
	}
	if (layer->nfeatures < DICTIONARY_MIN_FEATURES || !doc->data)
		return 0;
	/* at most 16 bytes per feature of the layer: a small layer gets a small dictionary */
	size_t limit = layer->nfeatures < DICTIONARY_BYTES / 16 ? layer->nfeatures * 16 : DICTIONARY_BYTES;
	umap_buf text = UMAP_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < layer->nfeatures && text.len < limit && !rc; i++) {
		const umap_feature *f = &layer->features[i];
		size_t at = text.len;
		if (f->length && !umap_repo_canonical_fast(&text, doc->data + f->offset, f->length))
			text.len = at; /* not in compact form as it is: leave it out */
		else if (umap_buf_putc(&text, '\n'))
			rc = oom();
	}
	if (!rc && text.len >= limit / 2) {
		if (!(rc = umap_store_put(out, s, GIT_OBJECT_BLOB, text.ptr, text.len))) {
			*has = 1;
			umap_objw_set_dict(s->objw, out);
		}
	}
	umap_buf_dispose(&text);
	return rc;
}

/* The features and order trees of the old layer, for a layer whose features a check found
 * to be its (umap_repo_read_worktree_check): the tree the whole read would build. */
static int base_layer_parts(git_oid *features, git_oid *order, umap_repo *repo,
			    const git_oid *old_layer)
{
	umap_store *s = umap_repo_store(repo);
	if (!old_layer)
		return umap_error_set(UMAP_ECORRUPT, "a checked layer is not in the base tree");
	int rc = umap_store_tree_lookup(features, NULL, s, old_layer, FEATURES, "a layer tree");
	return rc ? rc : umap_store_tree_lookup(order, NULL, s, old_layer, ORDER, "a layer tree");
}

/* A layer file's changes as an edit of its base's tree: a streaming pull's, a commit's. */
struct umap_layer_edit {
	umap_repo *repo;
	char *layer;
	umap_order_builder order; /* the ids of the new file, in order */
	umap_fref *refs;          /* features written anew (their blob) or gone (zero blob) */
	size_t nrefs, refs_cap;
	uint64_t *gone, *made;    /* the hashes of bytes the file lost, and of its new bytes */
	size_t ngone, nmade, gone_cap, made_cap;
	size_t count;             /* a commit's edit (read_edit_features): the file's features */
	umap_buf scratch, name;
};

static int edit_layer_parts(git_oid *features, git_oid *order, umap_repo *repo,
			    umap_layer_edit *e, const char *layer, const git_oid *old_layer);

/* A layer's tree from the document: its features, or those of the old layer (a check
 * found them there: base_count), or those of the old layer edited (a commit's `edit`). */
static int build_layer(git_oid *out, umap_repo *repo, umap_doc *doc, umap_layer *layer,
		       const git_oid *old_layer, const char *path, const size_t *base_count,
		       umap_layer_edit *edit)
{
	umap_store *s = umap_repo_store(repo);
	size_t n = base_count ? *base_count : edit ? edit->count : layer->nfeatures;
	/* the reading checked the ids for duplicates; the tree checks them again by leaf */
	umap_layer_release_index(doc, layer);
	/* a commit that patches the old tree needs each feature's shard, not its tree entry */
	uint64_t *shards = malloc((n + 1) * sizeof(*shards));
	umap_buf scratch = UMAP_BUF_INIT;
	int rc = shards ? 0 : oom();
	git_oid dictionary;
	int has_dictionary = 0;
	if (!rc)
		rc = layer_dictionary(&dictionary, &has_dictionary, repo, doc, layer, old_layer);
	/* feature blobs go to the pack as they are made: 1M features, 269 MB of bytes */
	if (!rc)
		rc = umap_store_stream_blobs(s, 1);
	for (size_t i = 0; i < n && !rc && !base_count && !edit; i++) {
		umap_feature *f = &layer->features[i];
		if (!f->id) {
			rc = umap_error_set(UMAP_EINVALID, "%s: feature %zu of layer %s has no id", path,
					    i + 1, layer->id);
			break;
		}
		shards[i] = umap_shard_hash(f->id);
	}
	git_oid features, order, old_features, meta_id, options_id;
	int depth = -1, patched = base_count || edit;
	if (base_count && !rc)
		rc = base_layer_parts(&features, &order, repo, old_layer);
	if (edit && !rc)
		rc = edit_layer_parts(&features, &order, repo, edit, layer->id, old_layer);
	if (!rc && !patched && old_layer &&
	    umap_store_tree_lookup(&old_features, NULL, s, old_layer, FEATURES, "a layer tree") == 0)
		rc = umap_store_features_depth(&depth, s, &old_features);
	if (!rc)
		umap_error_clear();
	int new_depth = umap_shard_depth(n, depth);
	if (!rc && depth >= 1 && new_depth == depth) {
		/* only the leaves whose features changed, when we know what the old tree holds */
		const umap_feature_set *set = umap_repo_feature_set(repo, layer->id, &old_features);
		if (set) {
			rc = features_patch(&features, repo, doc, layer, shards, &old_features, depth, set,
					    &scratch);
			patched = rc == 0;
			if (rc == UMAP_ECONFLICT) {
				umap_error_clear();
				rc = 0;
			}
		}
	}
	if (!rc && !patched)
		rc = features_build(&features, repo, doc, layer, shards, new_depth, &scratch);
	umap_objw_set_dict(s->objw, NULL);
	if (umap_store_stream_blobs(s, 0) && !rc)
		rc = UMAP_ENOMEM;
	if (!rc && doc->data && !base_count && !edit)
		rc = note_feature_set(repo, layer, shards, &features, n ? new_depth : 0);
	free(shards);
	shards = NULL;
	if (rc == UMAP_EINVALID)
		umap_error_prefix(rc, "%s: layer %s: ", path, layer->id);
	if (!rc && !base_count && !edit)
		rc = umap_store_order_tree_at(&order, s, n ? &layer->features[0].id : NULL,
					      sizeof(*layer->features), n);
	json_t *meta = json_object(), *keys = umap_layer_member_order(doc, layer);
	if (!keys && (keys = json_array())) {
		/* a layer built in memory: the order umap_doc_write gives it, so that the file
		 * written from it reads back with the same metadata */
		const char *mk;
		json_t *mv;
		int bad = json_array_append_new(keys, json_string("type"));
		if (layer->options)
			bad |= json_array_append_new(keys, json_string(layer->options_key ? layer->options_key
											 : "properties"));
		json_object_foreach(layer->members, mk, mv) {
			if (strcmp(mk, "type") && strcmp(mk, "features") &&
			    !(layer->options && layer->options_key && !strcmp(mk, layer->options_key)))
				bad |= json_array_append_new(keys, json_string(mk));
		}
		bad |= json_array_append_new(keys, json_string("features"));
		if (bad)
			rc = oom();
	}
	if (!rc && (!meta ||
		    json_object_set_new(meta, "options_key",
					layer->options_key ? json_string(layer->options_key) : json_null()) ||
		    json_object_set_new(meta, "members",
					layer->members ? json_incref(layer->members) : json_null()) ||
		    json_object_set_new(meta, "count", json_integer((json_int_t)n)) ||
		    json_object_set_new(meta, "keys", keys ? keys : json_null())))
		rc = oom();
	keys = NULL;
	if (!rc)
		rc = json_blob(&meta_id, repo, meta);
	if (!rc && layer->options)
		rc = json_blob(&options_id, repo, layer->options);
	json_decref(meta);
	json_decref(keys);
	if (!rc) {
		umap_tree_entry entries[5];
		size_t k = 0;
		entries[k++] = (umap_tree_entry){ META, UMAP_MODE_BLOB, meta_id };
		if (has_dictionary)
			entries[k++] = (umap_tree_entry){ DICTIONARY, UMAP_MODE_BLOB, dictionary };
		if (layer->options)
			entries[k++] = (umap_tree_entry){ OPTIONS, UMAP_MODE_BLOB, options_id };
		if (n) {
			entries[k++] = (umap_tree_entry){ FEATURES, UMAP_MODE_TREE, features };
			entries[k++] = (umap_tree_entry){ ORDER, UMAP_MODE_TREE, order };
		}
		rc = umap_store_write_tree(out, s, entries, k);
	}
	free(shards);
	umap_buf_dispose(&scratch);
	return rc;
}

typedef struct layer_entry {
	char *name;
	char *layer;
	const char *path;
	git_oid id;
} layer_entry;

static int add_layer_entry(layer_entry **list, size_t *n, const char *layer, const char *path,
			   const git_oid *id)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*list)[i].layer, layer))
			return umap_error_set(UMAP_EINVALID,
					      "layer id %s is in both %s and %s; layer ids must be "
					      "unique in a repository", layer, (*list)[i].path, path);
	layer_entry *more = realloc(*list, (*n + 1) * sizeof(*more));
	if (!more)
		return oom();
	*list = more;
	umap_buf name = UMAP_BUF_INIT;
	int rc = umap_name_from_layer_id(&name, layer);
	if (rc)
		return rc;
	more[*n].name = umap_buf_detach(&name);
	more[*n].layer = strdup(layer);
	more[*n].path = path;
	git_oid_cpy(&more[*n].id, id);
	(*n)++;
	return more[*n - 1].layer ? 0 : oom();
}

/* Sets the repository's id of the one layer of a layer file (.geojson, .json) in the
 * document: in such a file the path is the layer (SPEC §2 "Layer identity"), so the id
 * the manifest has for the path wins over any id inside the file, which is only data
 * (uMap's exports drop it, other tools change it). A file tracked for the first time
 * brings its own id when it has one no other layer has, else gets a new UUID that is
 * never written into it (GeoJSON has no place for one). */
static int layer_file_id(umap_layer *layer, const char *path, manifest *old,
			 const layer_entry *taken, size_t ntaken)
{
	manifest_file *mf = manifest_find(old, path);
	const char *id = mf && !mf->is_map && mf->nlayers == 1 ? mf->layers[0] : NULL;
	char uuid[37];
	if (!id && layer->id && !manifest_layer_path(old, layer->id)) {
		id = layer->id;
		for (size_t i = 0; i < ntaken && id; i++)
			if (!strcmp(taken[i].layer, id))
				id = NULL;
	}
	if (!id) {
		int rc = umap_uuid_v4(uuid);
		if (rc)
			return rc;
		id = uuid;
	}
	return umap_repo_bind_layer_id(layer, id);
}

int umap_repo_bind_layer_id(umap_layer *layer, const char *id)
{
	if (layer->id && !strcmp(layer->id, id))
		return 0;
	char *copy = strdup(id);
	if (!copy)
		return oom();
	free(layer->id);
	layer->id = copy;
	return 0;
}

/* The layout a file was read in goes with it into the manifest, so that export and
 * checkout of any revision write the file as the user had it (SPEC §2 "Writing"). A file
 * not read this time, or built in memory (a merge), keeps what its last revision recorded. */
static int record_layout(json_t *entry, const umap_repo_file *f, manifest *old, int changed)
{
	json_t *layout = NULL;
	manifest_file *before = manifest_find(old, f->from ? f->from : f->path);
	/* a layout alone is not a change (status stays clean after another tool reformats a
	 * file); it is recorded with the next change of the file's layers */
	if (f->doc && f->doc->layout.known && (changed || !before)) {
		layout = umap_layout_to_json(&f->doc->layout);
	} else {
		if (!before || !before->layout)
			return 0;
		layout = json_incref(before->layout);
	}
	return !layout || json_object_set_new(entry, "layout", layout) ? oom() : 0;
}

/* A file read as an edit (umap_repo_read_worktree_edit) read again whole, its layer with
 * the same id. */
static int edit_read_whole(umap_repo_file *f, umap_repo *repo)
{
	char *abs = NULL;
	umap_doc *doc = NULL;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	int rc = umap_repo_abspath(&abs, repo, f->path);
	if (!rc)
		rc = umap_doc_open(&doc, abs, &opts);
	free(abs);
	if (!rc && (doc->kind == UMAP_DOC_MAP || doc->nlayers != 1))
		rc = umap_error_set(UMAP_ECONFLICT, "%s changed while it was read", f->path);
	if (!rc)
		rc = umap_repo_bind_layer_id(&doc->layers[0], f->edit->layer);
	if (rc) {
		umap_doc_free(doc);
		return rc;
	}
	umap_doc_free(f->doc);
	f->doc = doc;
	f->have_stat = 0; /* its stat from before the first reading may not be this file's */
	umap_layer_edit_free(f->edit);
	f->edit = NULL;
	return 0;
}

static int build_once(git_oid *tree, umap_repo *repo, umap_snapshot *snap, const git_oid *base)
{
	umap_store *s = umap_repo_store(repo);
	manifest old;
	int rc = manifest_read(&old, repo, base);
	if (rc)
		return rc;
	git_oid base_layers, map_id;
	int have_base_layers = base && umap_store_tree_lookup(&base_layers, NULL, s, base, LAYERS,
							      "the base tree") == 0;
	umap_error_clear();
	int have_map = 0;
	const char *map_path = NULL;
	layer_entry *layers = NULL;
	size_t nlayers = 0;
	json_t *files = json_array(), *root = json_object();
	if (!files || !root || json_object_set_new(root, "format", json_integer(1)) ||
	    json_object_set(root, "files", files))
		rc = oom();
	for (size_t i = 0; i < snap->nfiles && !rc; i++) {
		umap_repo_file *f = &snap->files[i];
		if (f->removed)
			continue;
		/* where the file was in the base tree: a moved file keeps its layers and layout */
		const char *base_path = f->from ? f->from : f->path;
		json_t *entry = json_object(), *ids = json_array();
		int is_map, layers_changed = 0;
		if (!entry || !ids || json_array_append_new(files, entry) ||
		    json_object_set_new(entry, "path", json_string(f->path))) {
			json_decref(ids);
			rc = oom();
			break;
		}
		if (!f->doc) {
			manifest_file *mf = manifest_find(&old, base_path);
			if (!mf) {
				json_decref(ids);
				rc = umap_error_set(UMAP_ENOTFOUND, "'%s' is not tracked", f->path);
				break;
			}
			is_map = mf->is_map;
			if (is_map && umap_store_tree_lookup(&map_id, NULL, s, base, MAP_BLOB,
							     "the base tree")) {
				json_decref(ids);
				rc = umap_error_set(UMAP_ECORRUPT, "the base revision has no map.json");
				break;
			}
			for (size_t l = 0; l < mf->nlayers && !rc; l++) {
				umap_buf name = UMAP_BUF_INIT;
				git_oid lt;
				rc = umap_name_from_layer_id(&name, mf->layers[l]);
				if (!rc && (!have_base_layers ||
					    umap_store_tree_lookup(&lt, NULL, s, &base_layers, name.ptr,
								   "the layers tree")))
					rc = umap_error_set(UMAP_ECORRUPT, "layer %s is missing from the base",
							    mf->layers[l]);
				if (!rc)
					rc = add_layer_entry(&layers, &nlayers, mf->layers[l], f->path, &lt);
				if (!rc && json_array_append_new(ids, json_string(mf->layers[l])))
					rc = oom();
				umap_buf_dispose(&name);
			}
		} else {
			is_map = f->doc->kind == UMAP_DOC_MAP;
			if (is_map) {
				json_t *map = f->doc->map ? json_incref(f->doc->map) : json_object();
				rc = map ? json_blob(&map_id, repo, map) : oom();
				json_decref(map);
			}
			if (!is_map && f->doc->nlayers == 1)
				rc = layer_file_id(&f->doc->layers[0], base_path, &old, layers, nlayers);
			for (size_t l = 0; l < f->doc->nlayers && !rc; l++) {
				umap_layer *layer = &f->doc->layers[l];
				if (!layer->id) {
					rc = umap_error_set(UMAP_EINVALID, "%s: layer %zu has no id", f->path,
							    l + 1);
					break;
				}
				umap_buf name = UMAP_BUF_INIT;
				git_oid old_lt, lt;
				int have_old = 0;
				rc = umap_name_from_layer_id(&name, layer->id);
				if (!rc && have_base_layers)
					have_old = umap_store_tree_lookup(&old_lt, NULL, s, &base_layers,
									  name.ptr, "the layers tree") == 0;
				umap_error_clear();
				if (!rc)
					rc = build_layer(&lt, repo, f->doc, layer, have_old ? &old_lt : NULL,
							 f->path, f->base_features ? &f->base_count : NULL,
							 f->edit);
				if (rc == UMAP_ECONFLICT && f->edit) {
					/* the edit does not fit the base after all: read the file whole */
					umap_error_clear();
					rc = edit_read_whole(f, repo);
					layer = rc ? NULL : &f->doc->layers[0];
					if (!rc)
						rc = build_layer(&lt, repo, f->doc, layer,
								 have_old ? &old_lt : NULL, f->path, NULL,
								 NULL);
				}
				layers_changed |= !have_old || (!rc && !git_oid_equal(&lt, &old_lt));
				if (!rc)
					rc = add_layer_entry(&layers, &nlayers, layer->id, f->path, &lt);
				if (!rc && json_array_append_new(ids, json_string(layer->id)))
					rc = oom();
				umap_buf_dispose(&name);
			}
		}
		if (!rc && is_map) {
			if (have_map)
				rc = umap_error_set(UMAP_EINVALID,
						    "%s and %s are both maps; a repository holds one map "
						    "(track its other layers as .geojson files)",
						    map_path, f->path);
			have_map = 1;
			map_path = f->path;
		}
		if (!rc && (json_object_set_new(entry, "kind", json_string(is_map ? "map" : "layer")) ||
			    json_object_set_new(entry, "layers", ids)))
			rc = oom();
		else if (!rc && is_map && (rc = manifest_put_parents(entry, f->doc,
								      manifest_find(&old, base_path))))
			;
		else if (!rc && is_map && (rc = manifest_put_idless(entry, f->doc,
								     manifest_find(&old, base_path))))
			;
		else if (!rc && is_map && f->doc && umap_doc_layers_position(f->doc) != SIZE_MAX &&
			 json_object_set_new(entry, "layers_at",
					     json_integer((json_int_t)umap_doc_layers_position(f->doc))))
			rc = oom();
		else if (!rc && is_map && !f->doc && mf_layers_at(&old, base_path) >= 0 &&
			 json_object_set_new(entry, "layers_at",
					     json_integer(mf_layers_at(&old, base_path))))
			rc = oom();
		else if (rc)
			json_decref(ids);
		if (!rc && (rc = record_layout(entry, f, &old, layers_changed)))
			break;
	}
	git_oid manifest_id, layers_id;
	umap_tree_entry *entries = calloc(nlayers + 1, sizeof(*entries));
	if (!rc && !entries)
		rc = oom();
	for (size_t i = 0; i < nlayers && !rc; i++)
		entries[i] = (umap_tree_entry){ layers[i].name, UMAP_MODE_TREE, layers[i].id };
	if (!rc)
		rc = umap_store_write_tree(&layers_id, s, entries, nlayers);
	if (!rc)
		rc = json_blob(&manifest_id, repo, root);
	if (!rc) {
		umap_tree_entry top[3];
		size_t k = 0;
		top[k++] = (umap_tree_entry){ MANIFEST, UMAP_MODE_BLOB, manifest_id };
		if (have_map)
			top[k++] = (umap_tree_entry){ MAP_BLOB, UMAP_MODE_BLOB, map_id };
		top[k++] = (umap_tree_entry){ LAYERS, UMAP_MODE_TREE, layers_id };
		rc = umap_store_write_tree(tree, s, top, k);
	}
	if (!rc)
		rc = umap_store_mark_new(s, tree, base);
	free(entries);
	for (size_t i = 0; i < nlayers; i++) {
		free(layers[i].name);
		free(layers[i].layer);
	}
	free(layers);
	json_decref(files);
	json_decref(root);
	manifest_clear(&old);
	return rc;
}

int umap_repo_build_tree(git_oid *tree, umap_repo *repo, umap_snapshot *snap,
			 const git_oid *base_tree)
{
	umap_repo_cache_reset_seen(repo);
	repo->progress_done = 0;
	int rc = build_once(tree, repo, snap, base_tree), edited = 0;
	for (size_t i = 0; i < snap->nfiles; i++)
		edited |= snap->files[i].edit != NULL;
	/* an edit read the old leaves it changed, which mapped most of the pack's index (1M
	 * features: 28 MB): give it back before the commit writes its pack */
	if (!rc && edited && umap_store_release_packs(&repo->store))
		umap_error_clear(); /* kept mapped, then */
	if (rc == UMAP_ENOTFOUND && strstr(umap_error_last(), "is missing")) {
		/* a cached blob git no longer has (pruned): rebuild from the documents */
		umap_repo_cache_disable(repo, 1);
		umap_repo_cache_reset_seen(repo);
		repo->progress_done = 0;
		rc = build_once(tree, repo, snap, base_tree);
		umap_repo_cache_disable(repo, 0);
	}
	return rc;
}

/* ---- A layer file edited in place (a streaming pull) ----------------------------------- */


int umap_layer_edit_new(umap_layer_edit **out, umap_repo *repo, const char *layer)
{
	umap_layer_edit *e = calloc(1, sizeof(*e));
	if (!e || !(e->layer = strdup(layer))) {
		free(e);
		return oom();
	}
	e->repo = repo;
	e->order = (umap_order_builder)UMAP_ORDER_BUILDER_INIT(umap_repo_store(repo));
	*out = e;
	return 0;
}

void umap_layer_edit_free(umap_layer_edit *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nrefs; i++)
		free((char *)e->refs[i].name);
	free(e->refs);
	free(e->gone);
	free(e->made);
	free(e->layer);
	umap_order_builder_dispose(&e->order);
	umap_buf_dispose(&e->scratch);
	umap_buf_dispose(&e->name);
	free(e);
}

static int push_hash(uint64_t **v, size_t *n, size_t *cap, uint64_t h)
{
	if (*n == *cap) {
		size_t more = *cap ? 2 * *cap : 64;
		uint64_t *grown = realloc(*v, more * sizeof(*grown));
		if (!grown)
			return oom();
		*v = grown;
		*cap = more;
	}
	(*v)[(*n)++] = h;
	return 0;
}

static int push_ref(umap_layer_edit *e, const char *id, const git_oid *blob)
{
	if (e->nrefs == e->refs_cap) {
		size_t more = e->refs_cap ? 2 * e->refs_cap : 64;
		umap_fref *grown = realloc(e->refs, more * sizeof(*grown));
		if (!grown)
			return oom();
		e->refs = grown;
		e->refs_cap = more;
	}
	int rc = umap_name_from_id(&e->name, id);
	char *name = rc ? NULL : strdup(e->name.ptr);
	if (rc || !name)
		return rc ? rc : oom();
	umap_fref *r = &e->refs[e->nrefs++];
	r->name = name;
	r->shard = umap_shard_hash(id);
	if (blob)
		git_oid_cpy(&r->blob, blob);
	else
		memset(&r->blob, 0, sizeof(r->blob));
	return 0;
}

int umap_layer_edit_drop(umap_layer_edit *e, const char *id, uint64_t hash)
{
	if (!id)
		return umap_error_set(UMAP_EINVALID, "layer %s: a feature without id", e->layer);
	int rc = push_ref(e, id, NULL);
	return rc ? rc : push_hash(&e->gone, &e->ngone, &e->gone_cap, hash);
}

/* The blob of a feature's bytes as a file holds them (feature_blob's ways without a tree):
 * UMAP_ECONFLICT, no message, when only a parse would do. Not through the feature cache:
 * these are bytes the writer has just made, which it cannot hold, and loading it costs
 * 36 bytes a feature of every file the cache knows (100 MB at 1M features, file and
 * table) for a pull of a few features. */
static int blob_of_bytes(git_oid *out, umap_repo *repo, const char *p, size_t len, umap_buf *scratch)
{
	if (bytes_canonical(p, len))
		return umap_store_put(out, umap_repo_store(repo), GIT_OBJECT_BLOB, p, len);
	umap_buf_clear(scratch);
	if (!umap_repo_canonical_fast(scratch, p, len))
		return UMAP_ECONFLICT;
	return umap_store_put(out, umap_repo_store(repo), GIT_OBJECT_BLOB, scratch->ptr, scratch->len);
}

int umap_layer_edit_next(umap_layer_edit *e, const char *id, const char *bytes, size_t len)
{
	if (!id)
		return umap_error_set(UMAP_EINVALID, "layer %s: a feature without id", e->layer);
	int rc = umap_order_builder_add(&e->order, id, strlen(id));
	if (rc || !bytes)
		return rc;
	git_oid blob;
	if ((rc = blob_of_bytes(&blob, e->repo, bytes, len, &e->scratch)) || (rc = push_ref(e, id, &blob)))
		return rc;
	return push_hash(&e->made, &e->nmade, &e->made_cap, umap_hash(bytes, len));
}

/* The feature set of the edited layer: the old one without the hashes of the bytes the
 * file lost, with those of its new bytes, leaf counts moved by the features that went and
 * came. UMAP_ECONFLICT when a lost hash is not in the set (it was not this file's). */
static int edit_feature_set(umap_layer_edit *e, const umap_feature_set *set, const git_oid *features)
{
	size_t nleaves = (size_t)1 << (6 * set->depth);
	uint32_t *counts = malloc(nleaves * sizeof(*counts));
	if (!counts)
		return oom();
	memcpy(counts, set->counts, nleaves * sizeof(*counts));
	/* the set is edited in place (1M features: 8 MB not copied), the few that went and
	 * came sorted apart */
	if (e->ngone)
		qsort(e->gone, e->ngone, sizeof(*e->gone), u64_cmp);
	if (e->nmade)
		qsort(e->made, e->nmade, sizeof(*e->made), u64_cmp);
	int rc = 0;
	for (size_t i = 0; i < e->nrefs && !rc; i++) {
		uint32_t *c = &counts[e->refs[i].shard >> (64 - 6 * set->depth)];
		if (git_oid_is_zero(&e->refs[i].blob) ? (*c)-- == 0 : ++*c == 0)
			rc = UMAP_ECONFLICT;
	}
	if (rc) {
		free(counts);
		return rc;
	}
	return umap_repo_feature_set_edit(e->repo, e->layer, features, counts, e->gone, e->ngone, e->made,
					  e->nmade);
}

/* `tree` with the entry `name` (a tree) made `id`. */
static int tree_with(git_oid *out, umap_store *s, const git_oid *tree, const char *name, const git_oid *id)
{
	umap_obj obj;
	umap_tree_entry *entries = NULL;
	size_t n = 0;
	int rc = umap_store_read(&obj, s, tree, GIT_OBJECT_TREE, "a tree");
	if (rc)
		return rc;
	if (!(rc = umap_tree_parse(&entries, &n, &obj, tree))) {
		size_t i = 0;
		while (i < n && strcmp(entries[i].name, name))
			i++;
		if (i == n)
			rc = UMAP_ECONFLICT;
		else
			git_oid_cpy(&entries[i].id, id);
		if (!rc)
			rc = umap_store_write_tree(out, s, entries, n);
	}
	free(entries);
	umap_obj_release(&obj);
	return rc;
}

#define EDIT_WINDOW ((size_t)1 << 20)

int umap_repo_edit_tree(git_oid *tree, umap_repo *repo, const git_oid *base_tree, const char *path,
			umap_layer_edit *e, const umap_layout *layout)
{
	umap_store *s = umap_repo_store(repo);
	git_oid base_copy = *base_tree; /* tree may be base_tree */
	const git_oid *base = &base_copy;
	manifest m;
	int rc = manifest_read(&m, repo, base);
	if (rc)
		return rc;
	/* a commit from the file records its layout with the change: when that would differ,
	 * let it */
	manifest_file *mf = manifest_find(&m, path);
	json_t *now = layout && layout->known ? umap_layout_to_json(layout) : NULL;
	if (!mf || mf->is_map || mf->nlayers != 1 || strcmp(mf->layers[0], e->layer) ||
	    (now && (!mf->layout || !umap_json_equal(now, mf->layout))))
		rc = UMAP_ECONFLICT;
	json_decref(now);
	manifest_clear(&m);
	git_oid layers, layer, old_features, meta_id, features, order;
	umap_buf name = UMAP_BUF_INIT;
	json_t *meta = NULL;
	if (!rc)
		rc = umap_name_from_layer_id(&name, e->layer);
	if (!rc)
		rc = umap_store_tree_lookup(&layers, NULL, s, base, LAYERS, "the base tree");
	if (!rc)
		rc = umap_store_tree_lookup(&layer, NULL, s, &layers, name.ptr, "the layers tree");
	if (!rc)
		rc = layer_part(&old_features, repo, &layer, FEATURES);
	if (!rc)
		rc = layer_part(&meta_id, repo, &layer, META);
	if (!rc)
		rc = umap_repo_read_json(&meta, repo, &meta_id, "a layer's meta.json");
	const umap_feature_set *set = rc ? NULL : umap_repo_feature_set(repo, e->layer, &old_features);
	json_t *count = json_object_get(meta, "count");
	size_t was = (size_t)json_integer_value(count), gone = e->ngone, made = e->nmade;
	if (!rc && (!set || set->depth < 1 || !json_is_integer(count) || was + made < gone + 1 ||
		    umap_shard_depth(was + made - gone, set->depth) != set->depth))
		rc = UMAP_ECONFLICT; /* no set to edit, an emptied layer or a depth change */
	/* the rebuilt leaves (33 MB for a 1% edit of 1M features: 4096 of them) go to the
	 * pack as they are made; marking the tree reads what they changed from the store's
	 * memo, not them */
	if (!rc)
		rc = umap_store_stream_trees(s, 1);
	if (!rc) {
		/* the old leaves are read one by one from all over the pack: a window of 1 MB
		 * each is enough, and four of them keep what is mapped of the pack small */
		git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, EDIT_WINDOW);
		git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, 4 * EDIT_WINDOW);
		rc = umap_store_features_edit(&features, s, &old_features, set->depth, e->refs, e->nrefs);
		umap_repo_default_pack_windows();
		int off = umap_store_stream_trees(s, 0);
		rc = rc ? rc : off;
	}
	if (!rc)
		rc = umap_order_builder_finish(&order, &e->order);
	if (!rc && json_object_set_new(meta, "count", json_integer((json_int_t)(was + made - gone))))
		rc = oom();
	if (!rc)
		rc = json_blob(&meta_id, repo, meta);
	if (!rc)
		rc = tree_with(&layer, s, &layer, FEATURES, &features);
	if (!rc)
		rc = tree_with(&layer, s, &layer, ORDER, &order);
	if (!rc)
		rc = tree_with(&layer, s, &layer, META, &meta_id);
	if (!rc)
		rc = tree_with(&layers, s, &layers, name.ptr, &layer);
	if (!rc)
		rc = tree_with(tree, s, base, LAYERS, &layers);
	if (!rc)
		rc = edit_feature_set(e, set, &features);
	if (!rc)
		rc = umap_store_mark_new(s, tree, base);
	json_decref(meta);
	umap_buf_dispose(&name);
	return rc;
}

/* ---- A layer file read for a commit as an edit of its base (issue 19) ------------------ */

/* What a commit keeps of a layer file while it reads it: a feature whose bytes hash as one
 * of the base layer's feature set is unchanged (its bytes include its id: same bytes, same
 * feature) and leaves only its id to the order builder and 8 bytes in a table of ids; a
 * changed or new one has its blob made at once. The ids the file lost are found after,
 * walking the base's order. Then the base's features tree is edited as a pull edits it
 * (umap_store_features_edit), which is the tree of the whole file. Each table is one
 * array of 8-byte slots filled to 3/4, so that a feature costs a cache miss in each. */
typedef struct edit_read {
	umap_layer_edit *e;
	uint64_t *set;  /* the base's feature set, open addressing: 0 an empty slot, EDIT_SEEN
			 * one whose bytes a feature of the file had */
	size_t set_size;
	uint64_t *ids;  /* umap_hash of the file's ids, its 2 low bits EDIT_SAME or EDIT_NEW,
			 * open addressing (0: an empty slot) */
	size_t ids_size, nids, nsame;
	size_t walked, dropped, met_same; /* the walk of the base's order */
	/* the feature (or id of the walk) read last, taken when the next one is read: its
	 * slots, a cache miss each, are fetched while the reader scans the next */
	struct {
		int has;
		uint64_t id_hash, hash;
		size_t offset;
		uint32_t length;
		umap_buf id;
	} next;
} edit_read;

#define EDIT_DIFFERS 1 /* stops the stream: read the file whole */
#define EDIT_SEEN 1    /* a set slot whose hash was found (a hash of 1 is left to the whole read) */
enum { EDIT_SAME = 1, EDIT_NEW = 2, EDIT_MET = 3, EDIT_FLAGS = 3 };

/* Where hash h is, or goes, in a table of `size` slots (any size: the slot is the high
 * bits of h * size, so that the tables are filled to 3/4 rather than to a power of 2);
 * `ignore` masks the bits that are not the hash. A found slot is passed over only when it
 * holds neither 0 nor h. */
static size_t edit_slot(const uint64_t *table, size_t size, uint64_t h, uint64_t ignore)
{
	size_t slot = (size_t)(((unsigned __int128)h * size) >> 64);
	while (table[slot] && (table[slot] & ~ignore) != h)
		slot = slot + 1 == size ? 0 : slot + 1;
	return slot;
}

/* An id's hash as the table of ids holds it (its 2 low bits cleared, never 0). */
static uint64_t edit_id_hash(const char *id, size_t len)
{
	uint64_t h = umap_hash(id, len) & ~(uint64_t)EDIT_FLAGS;
	return h ? h : EDIT_FLAGS + 1;
}

static void *edit_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	/* a probe a feature anywhere in 12 MB: with 4 KB pages each is a TLB miss too */
	madvise(p, bytes, MADV_HUGEPAGE);
#endif
	return p;
}

/* The table of ids twice as large: a file with more features than its base. */
static int edit_ids_grow(edit_read *r)
{
	size_t size = 2 * r->ids_size;
	uint64_t *ids = edit_map(size * sizeof(*ids));
	if (!ids)
		return oom();
	for (size_t i = 0; i < r->ids_size; i++)
		if (r->ids[i])
			ids[edit_slot(ids, size, r->ids[i] & ~(uint64_t)EDIT_FLAGS, EDIT_FLAGS)] = r->ids[i];
	munmap(r->ids, r->ids_size * sizeof(*r->ids));
	r->ids = ids;
	r->ids_size = size;
	return 0;
}

/* A changed feature's blob, as feature_blob makes it from a file's bytes. */
static int edit_blob(git_oid *out, umap_layer_edit *e, umap_doc *doc, size_t offset,
		     uint32_t length)
{
	const char *bytes = doc->data + offset;
	int rc = blob_of_bytes(out, e->repo, bytes, length, &e->scratch);
	if (rc != UMAP_ECONFLICT)
		return rc;
	json_t *value = NULL;
	if ((rc = umap_doc_build_span(&value, doc, offset, length)))
		return rc;
	umap_buf_clear(&e->scratch);
	rc = umap_json_write(&e->scratch, value, UMAP_JSON_COMPACT);
	json_decref(value);
	if (!rc)
		rc = umap_store_put(out, umap_repo_store(e->repo), GIT_OBJECT_BLOB, e->scratch.ptr,
				    e->scratch.len);
	XXH128_canonical_t key;
	XXH128_canonicalFromHash(&key, XXH3_128bits(bytes, length));
	return rc ? rc : umap_repo_cache_note(e->repo, key.digest, out);
}

/* The feature read before the one being read (r->next): unchanged, or its blob made. */
static int edit_take(edit_read *r, umap_doc *doc)
{
	umap_layer_edit *e = r->e;
	r->next.has = 0;
	if (r->nids >= r->ids_size / 4 * 3 && edit_ids_grow(r))
		return EDIT_DIFFERS;
	const char *id = r->next.id.ptr;
	uint64_t h = r->next.id_hash, hash = r->next.hash;
	size_t at = edit_slot(r->ids, r->ids_size, h, EDIT_FLAGS);
	if (r->ids[at])
		return EDIT_DIFFERS; /* a repeated id (or id hash): the whole read tells */
	/* bytes found once are EDIT_SEEN: found again (they hold the same id) they read as
	 * new, and the id as repeated */
	size_t slot = edit_slot(r->set, r->set_size, hash, 0);
	int same = hash > EDIT_SEEN && r->set[slot] == hash;
	r->nids++;
	e->count++;
	if (umap_order_builder_add(&e->order, id, r->next.id.len))
		return EDIT_DIFFERS;
	if (same) {
		r->set[slot] = EDIT_SEEN;
		r->ids[at] = h | EDIT_SAME;
		r->nsame++;
		return 0;
	}
	r->ids[at] = h | EDIT_NEW;
	git_oid blob;
	if (edit_blob(&blob, e, doc, r->next.offset, r->next.length) || push_ref(e, id, &blob) ||
	    push_hash(&e->made, &e->nmade, &e->made_cap, hash))
		return EDIT_DIFFERS;
	return 0;
}

static int edit_feature(void *data, umap_doc *doc, size_t layer, umap_feature *f)
{
	edit_read *r = data;
	if (layer || !f->id || !f->length || f->value || (r->next.has && edit_take(r, doc)))
		return EDIT_DIFFERS;
	size_t len = strlen(f->id);
	umap_buf_clear(&r->next.id);
	if (umap_buf_put(&r->next.id, f->id, len) || umap_buf_putc(&r->next.id, '\0'))
		return EDIT_DIFFERS;
	r->next.id.len = len;
	r->next.has = 1;
	r->next.id_hash = edit_id_hash(f->id, len);
	r->next.hash = f->hash;
	r->next.offset = f->offset;
	r->next.length = f->length;
	__builtin_prefetch(&r->ids[(size_t)(((unsigned __int128)r->next.id_hash * r->ids_size) >> 64)]);
	__builtin_prefetch(&r->set[(size_t)(((unsigned __int128)f->hash * r->set_size) >> 64)]);
	return 0;
}

/* An id of the base's order (r->next, as edit_feature keeps a feature): one the file does
 * not hold, or holds with new bytes, is removed from its leaf (a new blob then replaces it). */
static int edit_walk_take(edit_read *r)
{
	uint64_t h = r->next.id_hash;
	size_t at = edit_slot(r->ids, r->ids_size, h, EDIT_FLAGS);
	int flags = (int)(r->ids[at] & EDIT_FLAGS);
	r->next.has = 0;
	r->walked++;
	if (flags == EDIT_MET)
		return EDIT_DIFFERS; /* the base repeats an id */
	if (flags)
		r->ids[at] |= EDIT_MET;
	if (flags == EDIT_SAME) {
		r->met_same++;
		return 0;
	}
	r->dropped++;
	return push_ref(r->e, r->next.id.ptr, NULL);
}

static int edit_walk(void *ctx, const char *id, size_t len)
{
	edit_read *r = ctx;
	int rc = r->next.has ? edit_walk_take(r) : 0;
	if (rc)
		return rc;
	umap_buf_clear(&r->next.id);
	if (umap_buf_put(&r->next.id, id, len) || umap_buf_putc(&r->next.id, '\0'))
		return oom();
	r->next.has = 1;
	r->next.id_hash = edit_id_hash(id, len);
	__builtin_prefetch(&r->ids[(size_t)(((unsigned __int128)r->next.id_hash * r->ids_size) >> 64)]);
	return 0;
}

/* *edit and *out (the file's layer without features) when the layer file at `abs` reads
 * as an edit of its layer in `tree`; else both NULL: read it whole. */
static int read_edit_features(umap_doc **out, umap_layer_edit **edit, umap_repo *repo,
			      const git_oid *tree, const manifest_file *mf, const char *abs)
{
	*out = NULL;
	*edit = NULL;
	const umap_feature_set *set;
	umap_store *s = umap_repo_store(repo);
	git_oid order;
	int rc = layer_file_set(&set, &order, repo, tree, mf);
	if (rc || !set || set->depth < 1)
		return rc;
	edit_read r = { NULL, NULL, 0, NULL, 0, 0, 0, 0, 0, 0, { 0, 0, 0, 0, 0, UMAP_BUF_INIT } };
	r.set_size = r.ids_size = set->n + set->n / 3 + 64;
	/* anonymous mappings, zeroed, each given back whole as soon as it is done with */
	size_t set_bytes = r.set_size * sizeof(*r.set);
	r.set = edit_map(set_bytes);
	r.ids = edit_map(r.ids_size * sizeof(*r.ids));
	if (!r.set || !r.ids || umap_layer_edit_new(&r.e, repo, mf->layers[0])) {
		if (r.set)
			munmap(r.set, set_bytes);
		if (r.ids)
			munmap(r.ids, r.ids_size * sizeof(*r.ids));
		return oom();
	}
	int usable = 1;
	for (size_t i = 0; i < set->n && usable; i++) {
		uint64_t h = set->hashes[i];
		size_t slot = h > EDIT_SEEN ? edit_slot(r.set, r.set_size, h, 0) : 0;
		/* a hash of 0 or 1, or a repeated one: leave it to the whole read */
		usable = h > EDIT_SEEN && r.set[slot] != h;
		r.set[slot] = h;
	}
	umap_doc *doc = NULL;
	/* the new order's chunks that HEAD has are taken as they are without a lookup each */
	if (usable && umap_store_know_order(s, &order))
		usable = 0;
	if (usable) {
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		opts.on_feature = edit_feature;
		opts.on_feature_data = &r;
		usable = !umap_doc_open(&doc, abs, &opts) && (!r.next.has || !edit_take(&r, doc)) &&
			 doc->kind != UMAP_DOC_MAP && doc->nlayers == 1 &&
			 umap_shard_depth(r.e->count, set->depth) == set->depth;
		umap_error_clear();
	}
	/* the bytes of the base's features the file no longer holds */
	for (size_t slot = 0; slot < r.set_size && usable; slot++)
		if (r.set[slot] > EDIT_SEEN &&
		    push_hash(&r.e->gone, &r.e->ngone, &r.e->gone_cap, r.set[slot]))
			usable = 0;
	munmap(r.set, set_bytes);
	if (usable)
		usable = !umap_store_order_each(s, &order, edit_walk, &r) &&
			 (!r.next.has || !edit_walk_take(&r)) && r.walked == set->n &&
			 r.met_same == r.nsame && r.dropped == r.e->ngone;
	umap_error_clear();
	munmap(r.ids, r.ids_size * sizeof(*r.ids));
	umap_buf_dispose(&r.next.id);
	if (!usable) {
		umap_doc_free(doc);
		umap_layer_edit_free(r.e);
		return 0;
	}
	*out = doc;
	*edit = r.e;
	return 0;
}

/* The features and order trees of a layer edited for a commit (read_edit_features), and
 * its feature set noted. UMAP_ECONFLICT, no message: the edit does not fit the base. */
static int edit_layer_parts(git_oid *features, git_oid *order, umap_repo *repo,
			    umap_layer_edit *e, const char *layer, const git_oid *old_layer)
{
	umap_store *s = umap_repo_store(repo);
	git_oid old_features;
	if (!old_layer || !layer || strcmp(layer, e->layer))
		return UMAP_ECONFLICT;
	int rc = umap_store_tree_lookup(&old_features, NULL, s, old_layer, FEATURES, "a layer tree");
	const umap_feature_set *set = rc ? NULL : umap_repo_feature_set(repo, e->layer, &old_features);
	if (!rc && (!set || set->depth < 1))
		rc = UMAP_ECONFLICT;
	if (!rc)
		rc = umap_store_features_edit(features, s, &old_features, set->depth, e->refs, e->nrefs);
	if (!rc)
		rc = umap_order_builder_finish(order, &e->order);
	/* the leaves read mapped most of the pack's index (1M features: 28 MB): give it back
	 * before the new feature set is made beside the old */
	if (!rc && umap_store_release_packs(s))
		umap_error_clear(); /* kept mapped, then */
	if (!rc)
		rc = edit_feature_set(e, set, features);
	return rc;
}

void umap_repo_set_progress(umap_repo *repo, const struct umap_progress *progress)
{
	repo->progress = progress ? *progress : (struct umap_progress){ NULL, NULL };
}

/* The read of a written file notes what its writer did not (cache_notes). */
static int seed_feature(void *data, umap_doc *doc, size_t layer, umap_feature *f)
{
	cache_notes *n = data;
	if (layer >= n->nlayers)
		return 0;
	return cache_notes_put(n, layer, n->next[layer], doc->data + f->offset, f->length, 0);
}

int umap_repo_export_file(umap_repo *repo, const git_oid *tree, const char *path,
			  umap_atomic_file *file)
{
	revision_ids ids = { NULL, 0, NULL, 0, 0 };
	cache_notes notes = { repo, NULL, 0, NULL, NULL, 0, repo->nseen };
	int rc = export_file(repo, tree, path, export_to_atomic, file, &ids, &notes);
	if (!rc && !ids.noted) {
		/* the text as written, read back a feature at a time (none kept), noting what
		 * the writer did not */
		repo->nseen = notes.seen_before;
		memset(notes.next, 0, (ids.nlayers + 1) * sizeof(size_t));
		memset(notes.ended, 0, ids.nlayers + 1);
		notes.blobs = ids.layers;
		notes.nlayers = ids.nlayers;
		notes.lost = 0;
		umap_doc *doc = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		opts.on_feature = seed_feature;
		opts.on_feature_data = &notes;
		opts.allow_duplicate_ids = 1;
		if (umap_doc_open(&doc, file->tmp, &opts))
			umap_error_clear(); /* the cache is only a speed-up */
		umap_doc_free(doc);
	}
	revision_ids_clear(&ids);
	free(notes.next);
	free(notes.ended);
	return rc;
}

int umap_repo_cache_worktree(umap_repo *repo, umap_snapshot *written)
{
	int rc = 0;
	for (size_t i = 0; i < written->nfiles && !rc; i++) {
		umap_repo_file *f = &written->files[i];
		if (!f->doc || !f->blobs)
			continue;
		char *abs = NULL;
		umap_doc *doc = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		if ((rc = umap_repo_abspath(&abs, repo, f->path)))
			break;
		rc = umap_doc_open(&doc, abs, &opts);
		free(abs);
		if (rc)
			break;
		for (size_t l = 0; l < doc->nlayers && l < f->doc->nlayers && !rc; l++) {
			umap_layer *layer = &doc->layers[l];
			if (layer->nfeatures != f->doc->layers[l].nfeatures)
				break;
			for (size_t k = 0; k < layer->nfeatures && !rc; k++) {
				XXH128_canonical_t key;
				XXH128_canonicalFromHash(&key, XXH3_128bits(doc->data + layer->features[k].offset,
									    layer->features[k].length));
				rc = umap_repo_cache_note(repo, key.digest, &f->blobs[l][k]);
			}
		}
		umap_doc_free(doc);
	}
	return rc;
}

/* ---- Comparing ---------------------------------------------------------------------------- */

typedef struct diff_builder {
	umap_tree_diff *diff;
	const char *layer;
	size_t first; /* this layer's first change */
	umap_buf id;
} diff_builder;

static int add_change(diff_builder *b, const char *path, const git_oid *old, const git_oid *new)
{
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	int rc = umap_id_from_name(&b->id, name);
	if (rc)
		return rc;
	umap_tree_diff *d = b->diff;
	umap_repo_change *more = realloc(d->features, (d->nfeatures + 1) * sizeof(*more));
	if (!more)
		return oom();
	d->features = more;
	umap_repo_change *c = &more[d->nfeatures];
	memset(c, 0, sizeof(*c));
	c->layer = strdup(b->layer);
	c->id = strdup(b->id.ptr);
	if (!c->layer || !c->id) {
		free(c->layer);
		free(c->id);
		return oom();
	}
	c->kind = old && new ? UMAP_CHANGE_MODIFIED : old ? UMAP_CHANGE_REMOVED : UMAP_CHANGE_ADDED;
	if (old)
		git_oid_cpy(&c->old_blob, old);
	if (new)
		git_oid_cpy(&c->new_blob, new);
	d->nfeatures++;
	return 0;
}

static int change_cmp(const void *a, const void *b)
{
	const umap_repo_change *x = a, *y = b;
	int cmp = strcmp(x->id, y->id);
	return cmp ? cmp : (int)x->kind - (int)y->kind;
}

/* A layer whose shard depth changed lists its features as removed and added again:
 * pair them up by id (equal blobs: no change). */
static void pair_moves(umap_tree_diff *d, size_t first)
{
	size_t n = d->nfeatures - first;
	if (n < 2)
		return; /* nothing to pair (and no array at all when the layers hold none) */
	umap_repo_change *c = d->features + first;
	qsort(c, n, sizeof(*c), change_cmp);
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && !strcmp(c[i].id, c[i + 1].id) && c[i].kind == UMAP_CHANGE_ADDED &&
		    c[i + 1].kind == UMAP_CHANGE_REMOVED) {
			git_oid_cpy(&c[i].old_blob, &c[i + 1].old_blob);
			free(c[i + 1].id);
			free(c[i + 1].layer);
			if (git_oid_equal(&c[i].old_blob, &c[i].new_blob)) {
				free(c[i].id);
				free(c[i].layer);
				i++;
				continue;
			}
			c[i].kind = UMAP_CHANGE_MODIFIED;
			c[out++] = c[i];
			i++;
			continue;
		}
		c[out++] = c[i];
	}
	d->nfeatures = first + out;
}

static int layer_part(git_oid *out, umap_repo *repo, const git_oid *layer_tree, const char *name)
{
	if (!layer_tree)
		return UMAP_ENOTFOUND;
	int rc = umap_store_tree_lookup(out, NULL, umap_repo_store(repo), layer_tree, name,
					"a layer tree");
	if (rc == UMAP_ENOTFOUND)
		umap_error_clear();
	return rc;
}

static size_t layer_count(umap_repo *repo, const git_oid *layer_tree)
{
	git_oid meta_id;
	json_t *meta = NULL;
	if (layer_part(&meta_id, repo, layer_tree, META) ||
	    umap_repo_read_json(&meta, repo, &meta_id, "layer metadata"))
		return 0;
	size_t n = (size_t)json_integer_value(json_object_get(meta, "count"));
	json_decref(meta);
	return n;
}

static int meta_differs(umap_repo *repo, const git_oid *a, const git_oid *b)
{
	json_t *x = NULL, *y = NULL;
	int differs = 1;
	if (!umap_repo_read_json(&x, repo, a, "layer metadata") &&
	    !umap_repo_read_json(&y, repo, b, "layer metadata"))
		differs = !umap_json_equal(json_object_get(x, "options_key"),
					   json_object_get(y, "options_key")) ||
			  !umap_json_equal(json_object_get(x, "members"), json_object_get(y, "members"));
	json_decref(x);
	json_decref(y);
	return differs;
}

static int diff_layer(umap_repo *repo, umap_tree_diff *d, const char *layer,
		      const git_oid *old_tree, const git_oid *new_tree, const char *path, int features)
{
	umap_repo_layer_change *more = realloc(d->layers, (d->nlayers + 1) * sizeof(*more));
	if (!more)
		return oom();
	d->layers = more;
	umap_repo_layer_change *lc = &more[d->nlayers];
	memset(lc, 0, sizeof(*lc));
	lc->layer = strdup(layer);
	lc->path = path ? strdup(path) : NULL;
	if (!lc->layer || (path && !lc->path)) {
		free(lc->layer);
		free(lc->path);
		return oom();
	}
	d->nlayers++;
	lc->kind = old_tree && new_tree ? UMAP_CHANGE_MODIFIED
		   : old_tree          ? UMAP_CHANGE_REMOVED
				       : UMAP_CHANGE_ADDED;
	lc->old_count = old_tree ? layer_count(repo, old_tree) : 0;
	lc->new_count = new_tree ? layer_count(repo, new_tree) : 0;
	git_oid a, b;
	int ha, hb;
	ha = layer_part(&a, repo, old_tree, OPTIONS) == 0;
	hb = layer_part(&b, repo, new_tree, OPTIONS) == 0;
	lc->options_changed = ha != hb || (ha && !git_oid_equal(&a, &b));
	ha = layer_part(&a, repo, old_tree, META) == 0;
	hb = layer_part(&b, repo, new_tree, META) == 0;
	lc->meta_changed = ha != hb || (ha && !git_oid_equal(&a, &b) && meta_differs(repo, &a, &b));
	ha = layer_part(&a, repo, old_tree, ORDER) == 0;
	hb = layer_part(&b, repo, new_tree, ORDER) == 0;
	lc->order_changed = ha != hb || (ha && !git_oid_equal(&a, &b));
	if (!features)
		return 0;
	ha = layer_part(&a, repo, old_tree, FEATURES) == 0;
	hb = layer_part(&b, repo, new_tree, FEATURES) == 0;
	diff_builder builder = { d, layer, d->nfeatures, UMAP_BUF_INIT };
	int rc = umap_store_diff(umap_repo_store(repo), ha ? &a : NULL, hb ? &b : NULL,
				 (umap_diff_cb)add_change, &builder);
	umap_buf_dispose(&builder.id);
	if (!rc)
		pair_moves(d, builder.first);
	return rc;
}

void umap_tree_diff_free(umap_tree_diff *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nfeatures; i++) {
		free(d->features[i].layer);
		free(d->features[i].id);
	}
	for (size_t i = 0; i < d->nlayers; i++) {
		free(d->layers[i].layer);
		free(d->layers[i].path);
	}
	free(d->features);
	free(d->layers);
	free(d);
}

static int part_equal(umap_repo *repo, const git_oid *a, const git_oid *b, const char *name)
{
	git_oid x, y;
	umap_store *s = umap_repo_store(repo);
	int hx = a && umap_store_tree_lookup(&x, NULL, s, a, name, "a revision's tree") == 0;
	int hy = b && umap_store_tree_lookup(&y, NULL, s, b, name, "a revision's tree") == 0;
	umap_error_clear();
	return hx == hy && (!hx || git_oid_equal(&x, &y));
}

static int tree_diff(umap_tree_diff **out, umap_repo *repo, const git_oid *old_tree,
		     const git_oid *new_tree, int features)
{
	umap_tree_diff *d = calloc(1, sizeof(*d));
	if (!d)
		return oom();
	*out = d;
	if (old_tree && new_tree && git_oid_equal(old_tree, new_tree))
		return 0;
	umap_store *s = umap_repo_store(repo);
	manifest om, nm;
	int rc = manifest_read_pair(&om, &nm, repo, old_tree, new_tree);
	if (rc) {
		*out = NULL;
		umap_tree_diff_free(d);
		return rc;
	}
	d->manifest_changed = !part_equal(repo, old_tree, new_tree, MANIFEST);
	d->map_changed = !part_equal(repo, old_tree, new_tree, MAP_BLOB);
	git_oid ol, nl;
	int hol = old_tree && umap_store_tree_lookup(&ol, NULL, s, old_tree, LAYERS, "a tree") == 0;
	int hnl = new_tree && umap_store_tree_lookup(&nl, NULL, s, new_tree, LAYERS, "a tree") == 0;
	umap_error_clear();
	if (!(hol && hnl && git_oid_equal(&ol, &nl))) {
		umap_obj oobj = { 0 }, nobj = { 0 };
		umap_tree_entry *oe = NULL, *ne = NULL;
		size_t on = 0, nn = 0, i = 0, j = 0;
		if (hol && !(rc = umap_store_read(&oobj, s, &ol, GIT_OBJECT_TREE, "the layers tree")))
			rc = umap_tree_parse(&oe, &on, &oobj, &ol);
		if (!rc && hnl && !(rc = umap_store_read(&nobj, s, &nl, GIT_OBJECT_TREE, "the layers tree")))
			rc = umap_tree_parse(&ne, &nn, &nobj, &nl);
		umap_buf layer = UMAP_BUF_INIT;
		while (!rc && (i < on || j < nn)) {
			int cmp = i == on ? 1 : j == nn ? -1 : umap_tree_entry_cmp(&oe[i], &ne[j]);
			const umap_tree_entry *o = cmp <= 0 ? &oe[i++] : NULL;
			const umap_tree_entry *n = cmp >= 0 ? &ne[j++] : NULL;
			if (o && n && git_oid_equal(&o->id, &n->id))
				continue;
			if ((rc = umap_layer_id_from_name(&layer, o ? o->name : n->name)))
				break;
			const char *path = manifest_layer_path(n ? &nm : &om, layer.ptr);
			rc = diff_layer(repo, d, layer.ptr, o ? &o->id : NULL, n ? &n->id : NULL, path, features);
		}
		umap_buf_dispose(&layer);
		free(oe);
		free(ne);
		umap_obj_release(&oobj);
		umap_obj_release(&nobj);
	}
	manifest_clear(&om);
	manifest_clear(&nm);
	if (rc) {
		*out = NULL;
		umap_tree_diff_free(d);
	}
	return rc;
}

int umap_repo_diff(umap_tree_diff **out, umap_repo *repo, const git_oid *old_tree,
		   const git_oid *new_tree)
{
	return tree_diff(out, repo, old_tree, new_tree, 1);
}

int umap_repo_diff_layers(umap_tree_diff **out, umap_repo *repo, const git_oid *old_tree,
			  const git_oid *new_tree)
{
	return tree_diff(out, repo, old_tree, new_tree, 0);
}

static int layer_tree_of(git_oid *out, umap_repo *repo, const git_oid *tree, const char *layer)
{
	if (!tree)
		return UMAP_ENOTFOUND;
	umap_store *s = umap_repo_store(repo);
	umap_buf name = UMAP_BUF_INIT;
	git_oid layers;
	int rc = umap_name_from_layer_id(&name, layer);
	if (!rc)
		rc = umap_store_tree_lookup(&layers, NULL, s, tree, LAYERS, "a revision's tree");
	if (!rc)
		rc = umap_store_tree_lookup(out, NULL, s, &layers, name.ptr, "the layers tree");
	umap_buf_dispose(&name);
	return rc;
}

int umap_repo_layer_order(umap_repo *repo, const git_oid *tree, const char *layer, umap_id_cb cb, void *ctx)
{
	git_oid lt, order;
	int rc = layer_tree_of(&lt, repo, tree, layer);
	if (rc == UMAP_ENOTFOUND)
		umap_error_clear();
	if (!rc)
		rc = layer_part(&order, repo, &lt, ORDER);
	if (rc == UMAP_ENOTFOUND)
		return 0; /* no such layer, or no features: nothing to list */
	return rc ? rc : umap_store_order_each(umap_repo_store(repo), &order, cb, ctx);
}

/* umap_repo_layer_features from the working file: its features' bytes, made canonical. */
typedef struct feature_stream {
	umap_feature_bytes_fn cb;
	void *ctx;
	umap_buf canonical;
	size_t given;
} feature_stream;

static int stream_working_feature(void *data, umap_doc *doc, size_t layer, umap_feature *f)
{
	feature_stream *st = data;
	const char *bytes = doc->data + f->offset;
	(void)layer;
	st->given++;
	if (bytes_canonical(bytes, f->length))
		return st->cb(st->ctx, bytes, f->length);
	umap_buf_clear(&st->canonical);
	if (!umap_repo_canonical_fast(&st->canonical, bytes, f->length)) {
		/* what a commit stores when the fast form cannot be made (feature_blob) */
		json_t *value = NULL;
		int rc = umap_doc_build_span(&value, doc, f->offset, f->length);
		umap_buf_clear(&st->canonical);
		if (!rc && umap_json_write(&st->canonical, value, UMAP_JSON_COMPACT))
			rc = oom();
		json_decref(value);
		if (rc)
			return rc;
	}
	return st->cb(st->ctx, st->canonical.ptr, st->canonical.len);
}

/* The working file of a layer file whose stat index entry vouches for `tree`'s version,
 * read as a stream; 1 when there is none (the revision must be read). */
static int layer_features_from_file(umap_repo *repo, const git_oid *tree, const char *layer,
				    umap_feature_bytes_fn cb, void *ctx)
{
	char *path = NULL, *abs = NULL;
	manifest m;
	manifest_file *mf = NULL;
	struct stat raw;
	int rc = umap_repo_layer_path(&path, repo, tree, layer);
	if (rc || !path) {
		free(path);
		return rc ? rc : 1;
	}
	if ((rc = manifest_entry(&m, &mf, repo, tree, path))) {
		free(path);
		return rc;
	}
	int usable = !mf->is_map && mf->nlayers == 1 && !has_children(mf, 0) && !strcmp(mf->layers[0], layer);
	manifest_clear(&m);
	umap_file_stat st;
	git_oid lt;
	/* a file the feature limit now refuses is read from its blobs, as the diff reads it */
	if (usable && (layer_tree_of(&lt, repo, tree, layer) || layer_count(repo, &lt) > umap_doc_max_features()))
		usable = 0;
	if (usable && !umap_repo_abspath(&abs, repo, path) && !stat(abs, &raw)) {
		umap_file_stat_from(&st, &raw);
		usable = umap_repo_index_fresh(repo, path, &st, tree);
	} else {
		usable = 0;
	}
	umap_error_clear();
	rc = 1;
	if (usable) {
		feature_stream fs = { cb, ctx, UMAP_BUF_INIT, 0 };
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		umap_doc *doc = NULL;
		opts.allow_duplicate_ids = 1;
		opts.on_feature = stream_working_feature;
		opts.on_feature_data = &fs;
		rc = umap_doc_open(&doc, abs, &opts);
		umap_doc_free(doc);
		umap_buf_dispose(&fs.canonical);
		if (rc && !fs.given) {
			umap_error_clear(); /* nothing given yet: the blobs can still be read */
			rc = 1;
		}
	}
	free(abs);
	free(path);
	return rc;
}

typedef struct blob_stream {
	umap_repo *repo;
	blob_list *features;
	const char *layer;
	umap_feature_bytes_fn cb;
	void *ctx;
	umap_buf id, name;
	size_t count;
} blob_stream;

static int stream_blob(void *ctx, const char *id, size_t len)
{
	blob_stream *b = ctx;
	umap_obj obj;
	umap_buf_clear(&b->id);
	if (umap_buf_put(&b->id, id, len))
		return oom();
	int rc = umap_name_from_id(&b->name, b->id.ptr);
	if (rc)
		return rc;
	const named_blob *found = blob_list_find_at(b->features, b->name.ptr,
						    blob_list_slot(b->features, b->name.ptr, b->name.len));
	if ((rc = read_order_blob(&obj, b->repo, b->features, found, b->count++, b->id.ptr, b->layer)))
		return rc;
	rc = b->cb(b->ctx, obj.data, obj.len);
	umap_obj_release(&obj);
	return rc;
}

int umap_repo_layer_features(umap_repo *repo, const git_oid *tree, const char *layer,
			     umap_feature_bytes_fn cb, void *ctx)
{
	int rc = layer_features_from_file(repo, tree, layer, cb, ctx);
	if (rc <= 0)
		return rc;
	git_oid lt, order, features_tree;
	blob_list features = { 0 };
	rc = layer_tree_of(&lt, repo, tree, layer);
	if (!rc)
		rc = layer_part(&order, repo, &lt, ORDER);
	if (!rc)
		rc = layer_part(&features_tree, repo, &lt, FEATURES);
	if (rc == UMAP_ENOTFOUND) {
		umap_error_clear();
		return 0; /* no such layer, or no features */
	}
	if (!rc)
		rc = umap_store_features_each(umap_repo_store(repo), &features_tree, collect_blob, &features);
	if (!rc)
		rc = blob_list_index(&features);
	blob_stream b = { repo, &features, layer, cb, ctx, UMAP_BUF_INIT, UMAP_BUF_INIT, 0 };
	if (!rc)
		rc = umap_store_order_each(umap_repo_store(repo), &order, stream_blob, &b);
	if (!rc && b.count != features.n)
		rc = umap_error_set(UMAP_ECORRUPT, "layer %s: %zu features but %zu in the order", layer,
				    features.n, b.count);
	umap_buf_dispose(&b.id);
	umap_buf_dispose(&b.name);
	blob_list_clear(&features);
	return rc;
}

static int layer_options(json_t **out, umap_repo *repo, const git_oid *tree, const char *layer)
{
	git_oid lt, id;
	*out = NULL;
	if (layer_tree_of(&lt, repo, tree, layer) || layer_part(&id, repo, &lt, OPTIONS)) {
		umap_error_clear();
		return 0;
	}
	return umap_repo_read_json(out, repo, &id, "layer options");
}

static int map_properties(json_t **out, umap_repo *repo, const git_oid *tree)
{
	git_oid id;
	json_t *map = NULL;
	*out = NULL;
	if (!tree || umap_store_tree_lookup(&id, NULL, umap_repo_store(repo), tree, MAP_BLOB, "a tree")) {
		umap_error_clear();
		return 0;
	}
	int rc = umap_repo_read_json(&map, repo, &id, "the map options");
	/* every member of the map is map data, the centre as "center" (as in file diffs) */
	if (!rc && json_is_object(map) && !(*out = umap_map_view(map)))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	json_decref(map);
	return rc;
}

/* A layer's group (its id; JSON null at the top) and rank in a revision's manifest; 0
 * when the revision does not have it. */
static int manifest_place(const manifest *m, const char *layer, json_t **parent, json_t **rank)
{
	for (size_t f = 0; f < m->nfiles; f++) {
		const manifest_file *mf = &m->files[f];
		for (size_t l = 0; l < mf->nlayers; l++) {
			if (strcmp(mf->layers[l], layer))
				continue;
			long p = mf->parents ? mf->parents[l] : -1;
			size_t rank_of = 0;
			for (size_t k = 0; k < l; k++)
				rank_of += (mf->parents ? mf->parents[k] : -1) == p;
			*parent = p >= 0 ? json_string(mf->layers[p]) : json_null();
			*rank = json_integer((json_int_t)rank_of);
			return 1;
		}
	}
	return 0;
}

/* The place of the layer last added to `out`: where an added one goes, or how a kept one
 * moved among group layers. */
static int fill_place(umap_diff *out, const manifest *om, const manifest *nm, const char *layer)
{
	json_t *op = NULL, *orank = NULL, *np = NULL, *nrank = NULL;
	size_t index = out->nlayers - 1;
	int in_old = manifest_place(om, layer, &op, &orank);
	if (!manifest_place(nm, layer, &np, &nrank))
		return 0;
	int rc = 0;
	if (!in_old) {
		rc = umap_diff_layer_place(out, index, np, nrank);
		np = nrank = NULL;
	} else if (!umap_json_equal(op, np) || !umap_json_equal(orank, nrank)) {
		rc = umap_diff_layer_moved(out, index, op, np, orank, nrank);
		op = orank = np = nrank = NULL;
	}
	json_decref(op);
	json_decref(orank);
	json_decref(np);
	json_decref(nrank);
	return rc;
}

static int fill_layer(umap_diff *out, umap_repo *repo, const umap_tree_diff *d, const char *layer,
		      int in_old, int in_new, long position, const git_oid *old_tree,
		      const git_oid *new_tree)
{
	const umap_repo_layer_change *lc = NULL;
	for (size_t i = 0; i < d->nlayers; i++)
		if (!strcmp(d->layers[i].layer, layer))
			lc = &d->layers[i];
	json_t *old_options = NULL, *new_options = NULL;
	int rc = 0;
	if (in_old)
		rc = layer_options(&old_options, repo, old_tree, layer);
	if (!rc && in_new)
		rc = layer_options(&new_options, repo, new_tree, layer);
	size_t index = 0;
	if (!rc)
		rc = umap_diff_add_layer(&index, out, in_old && in_new ? UMAP_CHANGE_NONE
						   : in_old ? UMAP_CHANGE_REMOVED : UMAP_CHANGE_ADDED,
					 layer, position, old_options, new_options);
	json_decref(old_options);
	json_decref(new_options);
	if (rc)
		return rc;
	if (!lc) {
		git_oid lt;
		if (in_new && !layer_tree_of(&lt, repo, new_tree, layer))
			umap_diff_add_unchanged(out, index, layer_count(repo, &lt));
		umap_error_clear();
		return 0;
	}
	size_t touched = 0;
	for (size_t i = 0; i < d->nfeatures && !rc; i++) {
		const umap_repo_change *c = &d->features[i];
		if (strcmp(c->layer, layer))
			continue;
		json_t *old_f = NULL, *new_f = NULL;
		if (c->kind != UMAP_CHANGE_ADDED)
			rc = umap_repo_read_json(&old_f, repo, &c->old_blob, "a feature");
		if (!rc && c->kind != UMAP_CHANGE_REMOVED) {
			rc = umap_repo_read_json(&new_f, repo, &c->new_blob, "a feature");
			touched++;
		}
		if (!rc)
			rc = umap_diff_add_feature(out, index, old_f, new_f, NULL, NULL);
		json_decref(old_f);
		json_decref(new_f);
	}
	if (!rc && in_old && in_new && lc->new_count > touched)
		umap_diff_add_unchanged(out, index, lc->new_count - touched);
	return rc;
}

int umap_repo_fill_diff(umap_diff *out, umap_repo *repo, const umap_tree_diff *d,
			const git_oid *old_tree, const git_oid *new_tree)
{
	return umap_repo_fill_diff_path(out, repo, d, old_tree, new_tree, NULL);
}

int umap_repo_fill_diff_path(umap_diff *out, umap_repo *repo, const umap_tree_diff *d,
			     const git_oid *old_tree, const git_oid *new_tree, const char *only_path)
{
	manifest om, nm;
	int rc = manifest_read_pair(&om, &nm, repo, old_tree, new_tree);
	if (rc)
		return rc;
	long position = 0;
	int map_wanted = !only_path;
	for (size_t f = 0; f < nm.nfiles && !rc; f++) {
		if (only_path && strcmp(nm.files[f].path, only_path)) {
			position += (long)nm.files[f].nlayers;
			continue;
		}
		map_wanted |= nm.files[f].is_map;
		for (size_t l = 0; l < nm.files[f].nlayers && !rc; l++) {
			const char *layer = nm.files[f].layers[l];
			rc = fill_layer(out, repo, d, layer, manifest_layer_path(&om, layer) != NULL, 1,
					position++, old_tree, new_tree);
			if (!rc)
				rc = fill_place(out, &om, &nm, layer);
		}
	}
	position = 0;
	for (size_t f = 0; f < om.nfiles && !rc; f++) {
		if (only_path && strcmp(om.files[f].path, only_path)) {
			position += (long)om.files[f].nlayers;
			continue;
		}
		map_wanted |= om.files[f].is_map;
		for (size_t l = 0; l < om.files[f].nlayers && !rc; l++, position++) {
			const char *layer = om.files[f].layers[l];
			if (!manifest_layer_path(&nm, layer))
				rc = fill_layer(out, repo, d, layer, 1, 0, position, old_tree, new_tree);
		}
	}
	if (!rc && d->map_changed && map_wanted) {
		json_t *a = NULL, *b = NULL;
		rc = map_properties(&a, repo, old_tree);
		if (!rc)
			rc = map_properties(&b, repo, new_tree);
		if (!rc)
			rc = umap_diff_map_options(out, a, b);
		json_decref(a);
		json_decref(b);
	}
	manifest_clear(&om);
	manifest_clear(&nm);
	return rc;
}

int umap_repo_feature_blob(git_oid *blob, char **layer_out, umap_repo *repo,
			   const git_oid *tree, const char *layer, const char *id_json)
{
	umap_store *s = umap_repo_store(repo);
	git_oid layers;
	if (layer_out)
		*layer_out = NULL;
	int rc = umap_store_tree_lookup(&layers, NULL, s, tree, LAYERS, "a revision's tree");
	if (rc == UMAP_ENOTFOUND)
		return rc;
	umap_obj obj;
	umap_tree_entry *entries = NULL;
	size_t n = 0;
	if (rc || (rc = umap_store_read(&obj, s, &layers, GIT_OBJECT_TREE, "the layers tree")))
		return rc;
	umap_buf want = UMAP_BUF_INIT, lid = UMAP_BUF_INIT;
	if (layer)
		rc = umap_name_from_layer_id(&want, layer);
	if (!rc)
		rc = umap_tree_parse(&entries, &n, &obj, &layers);
	int found = 0;
	for (size_t i = 0; i < n && !rc && !found; i++) {
		if (layer && strcmp(entries[i].name, want.ptr))
			continue;
		git_oid features;
		if (layer_part(&features, repo, &entries[i].id, FEATURES))
			continue;
		int r = umap_store_feature_lookup(blob, s, &features, id_json);
		if (r == 0) {
			found = 1;
			if (layer_out && !(rc = umap_layer_id_from_name(&lid, entries[i].name)))
				*layer_out = umap_buf_detach(&lid);
		} else if (r != UMAP_ENOTFOUND) {
			rc = r;
		}
	}
	free(entries);
	umap_obj_release(&obj);
	umap_buf_dispose(&want);
	umap_buf_dispose(&lid);
	if (!rc && !found) {
		umap_error_clear();
		rc = UMAP_ENOTFOUND;
	}
	return rc;
}

int umap_repo_layer_path(char **path, umap_repo *repo, const git_oid *tree, const char *layer)
{
	manifest m;
	*path = NULL;
	int rc = manifest_read(&m, repo, tree);
	if (rc)
		return rc;
	const char *p = manifest_layer_path(&m, layer);
	if (p && !(*path = strdup(p)))
		rc = oom();
	manifest_clear(&m);
	return rc;
}

/* Whether two manifest entries are one file: the map, or a layer id in common. */
static int same_file(const manifest_file *a, const manifest_file *b)
{
	if (a->is_map || b->is_map)
		return a->is_map && b->is_map;
	for (size_t i = 0; i < a->nlayers; i++)
		for (size_t j = 0; j < b->nlayers; j++)
			if (!strcmp(a->layers[i], b->layers[j]))
				return 1;
	return 0;
}

void umap_file_renames_free(umap_file_rename *renames, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(renames[i].from);
		free(renames[i].to);
	}
	free(renames);
}

int umap_repo_renames(umap_file_rename **out, size_t *n, umap_repo *repo, const git_oid *old_tree,
		      const git_oid *new_tree)
{
	manifest old, new;
	*out = NULL;
	*n = 0;
	int rc = manifest_read_pair(&old, &new, repo, old_tree, new_tree);
	if (rc)
		return rc;
	umap_file_rename *renames = calloc(new.nfiles + 1, sizeof(*renames));
	size_t count = 0;
	if (!renames)
		rc = oom();
	for (size_t i = 0; i < new.nfiles && !rc; i++) {
		for (size_t j = 0; j < old.nfiles; j++) {
			const manifest_file *was = &old.files[j];
			if (!same_file(&new.files[i], was) || manifest_find(&new, was->path))
				continue;
			renames[count].from = strdup(was->path);
			renames[count].to = strdup(new.files[i].path);
			if (!renames[count++].from || !renames[count - 1].to)
				rc = oom();
			break;
		}
	}
	manifest_clear(&old);
	manifest_clear(&new);
	if (rc) {
		umap_file_renames_free(renames, count);
		return rc;
	}
	*out = renames;
	*n = count;
	return 0;
}

int umap_repo_layer_options_key(const char **key, umap_repo *repo, const git_oid *tree,
				const char *layer)
{
	*key = umap_options_key(NULL);
	git_oid layer_tree, meta_id;
	json_t *meta = NULL;
	int rc = layer_tree_of(&layer_tree, repo, tree, layer);
	if (!rc)
		rc = umap_store_tree_lookup(&meta_id, NULL, umap_repo_store(repo), &layer_tree, META,
					    "a layer's tree");
	if (!rc)
		rc = umap_repo_read_json(&meta, repo, &meta_id, "layer metadata");
	if (!rc)
		*key = umap_options_key(json_string_value(json_object_get(meta, "options_key")));
	json_decref(meta);
	return rc;
}

/* A file's identity in a tree: its kind, its layer ids and their subtrees, the map blob. */
static int file_signature(umap_buf *out, umap_repo *repo, const git_oid *tree, manifest *m,
			  const char *path)
{
	umap_buf_clear(out);
	manifest_file *mf = manifest_find(m, path);
	if (!mf)
		return 0;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid id;
	if (umap_buf_printf(out, "%s\n", mf->is_map ? "map" : "layer"))
		return oom();
	if (mf->is_map && umap_store_tree_lookup(&id, NULL, umap_repo_store(repo), tree, MAP_BLOB,
						 "a tree") == 0 &&
	    umap_buf_printf(out, "%s\n", git_oid_tostr(hex, sizeof(hex), &id)))
		return oom();
	for (size_t l = 0; l < mf->nlayers; l++) {
		if (layer_tree_of(&id, repo, tree, mf->layers[l]))
			git_oid_fromstr(&id, "0000000000000000000000000000000000000000");
		if (umap_buf_printf(out, "%s %s\n", mf->layers[l], git_oid_tostr(hex, sizeof(hex), &id)))
			return oom();
	}
	umap_error_clear();
	return 0;
}

int umap_repo_file_sig(unsigned char sig[16], umap_repo *repo, const git_oid *tree, const char *path)
{
	manifest m;
	umap_buf text = UMAP_BUF_INIT;
	int rc = manifest_read(&m, repo, tree);
	if (rc)
		return rc;
	rc = file_signature(&text, repo, tree, &m, path);
	manifest_clear(&m);
	if (!rc) {
		XXH128_canonical_t c;
		XXH128_canonicalFromHash(&c, XXH3_128bits(text.ptr ? text.ptr : "", text.len));
		memcpy(sig, c.digest, 16);
	}
	umap_buf_dispose(&text);
	return rc;
}

int umap_repo_index_update(umap_repo *repo, const umap_snapshot *snap, const git_oid *tree)
{
	int rc = 0;
	for (size_t i = 0; i < snap->nfiles && !rc; i++)
		if (snap->files[i].have_stat && snap->files[i].doc)
			rc = umap_repo_index_record(repo, snap->files[i].path, &snap->files[i].st, tree);
	return rc ? rc : umap_repo_index_save(repo);
}

int umap_repo_file_differs(int *differs, umap_repo *repo, const git_oid *a, const git_oid *b,
			   const char *path)
{
	*differs = 0;
	if (a && b && git_oid_equal(a, b))
		return 0;
	manifest ma, mb;
	umap_buf sa = UMAP_BUF_INIT, sb = UMAP_BUF_INIT;
	int rc = manifest_read_pair(&ma, &mb, repo, a, b);
	if (rc)
		return rc;
	rc = file_signature(&sa, repo, a, &ma, path);
	if (!rc)
		rc = file_signature(&sb, repo, b, &mb, path);
	*differs = sa.len != sb.len || (sa.len && memcmp(sa.ptr, sb.ptr, sa.len));
	manifest_clear(&mb);
	manifest_clear(&ma);
	umap_buf_dispose(&sa);
	umap_buf_dispose(&sb);
	return rc;
}
