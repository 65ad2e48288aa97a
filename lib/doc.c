/* Maps and layers as documents (SPEC §2): one streaming pass locates, hashes and indexes
 * every feature by id without building its tree; trees are built on demand; write-back keeps order. */
#include "doc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "geojsonseq.h"
#include "handoff.h"
#include "json_copy.h"
#include "strmap.h"
#include "strutil.h"

/* Pages behind the read cursor are handed back to the kernel in steps this big, so that
 * reading a 27 MB layer keeps about a MB of it resident instead of the whole file. Each
 * step is a madvise and a TLB flush: 64 KB steps cost diff 100k a third of its system time. */
#define DROP_STEP ((size_t)512 << 10)
#define MAX_FEATURES ((size_t)UINT32_MAX - 1)

/* Where a member (map option, layer options...) was in the source and what it held, so that
 * UMAP_DOC_KEEP_BYTES can copy the bytes of the members nobody changed. */
typedef struct member_span {
	char *name;
	size_t offset, length;
	uint64_t hash;        /* umap_json_hash of the value as read */
} member_span;

typedef struct span_list {
	member_span *items;
	size_t n;
} span_list;

typedef struct layer_priv {
	json_t *order;        /* member names of the layer object as read (NULL: a new layer) */
	span_list spans;
	uint64_t *index;      /* the id index (see below); 0 = empty */
	size_t index_cap;     /* a power of two, or 0 */
	size_t index_used;
	int index_released;   /* freed by umap_layer_release_index: built again when used */
	size_t features_cap;
} layer_priv;

typedef struct doc_priv {
	void *map_base;       /* the mmap'd file, or NULL */
	int fd;               /* its descriptor, kept for pread; -1 otherwise */
	size_t map_len;
	char *heap;           /* the copy of stdin or of a pipe, or NULL */
	size_t dropped;       /* pages below this offset were given back (mmap only) */
	size_t page;
	layer_priv *layers;
	size_t layers_cap;
	size_t layers_at;     /* maps: how many map members come before "layers" */
	span_list map_spans;
	int spaced;           /* the source writes {"a": 1, "b": 2}: edited features follow suit */
	int style_known;
	size_t first_offset;  /* the span of the first feature read (streaming keeps none) */
	size_t first_length;
	/* features whose tree was edited in place (ids assigned): where their bytes were, so
	 * that a write keeps the spelling of their numbers; in (layer, index) order */
	struct edited_span { size_t layer, index, offset, length; } *edited;
	size_t nedited, edited_cap;
	umap_layout read_layout; /* the layout of the bytes themselves (doc->layout may be set
				  * to another one, the layout a revision's copy is written in) */
	int single_feature;   /* the source was one Feature: write it back as one */
	char *id_property;
	int allow_duplicate_ids;
	umap_json_options json;
	umap_feature_fn on_feature;
	void *on_feature_data;
	umap_known_fn known_feature;
	/* the ids read from the source, packed in blocks of ID_BLOCK bytes: malloc gives
	 * each small string 32 bytes (1M ids: 32 MB where they take 10); other ids are
	 * malloc'd, and id_release tells them apart */
	char **id_blocks;     /* sorted by address when id_blocks_sorted */
	char *id_block;       /* the one being filled */
	size_t id_nblocks, id_blocks_cap, id_used;
	int id_blocks_sorted;
} doc_priv;

#define ID_BLOCK ((size_t)64 << 10)

static const char OPTIONS_PROPERTIES[] = "properties";
static const char OPTIONS_LEGACY[] = "_umap_options";
static const char OPTIONS_STORAGE[] = "_storage"; /* before uMap 1.0 */

static doc_priv *priv_of(umap_doc *doc)
{
	return doc->priv;
}

static size_t layer_index_of(umap_doc *doc, umap_layer *layer)
{
	return (size_t)(layer - doc->layers);
}

/* ---- Documents --------------------------------------------------------------------- */

static int doc_alloc(umap_doc **out, umap_doc_kind kind, const char *source_name,
		     const umap_doc_options *opts)
{
	umap_doc *doc = calloc(1, sizeof(*doc));
	doc_priv *priv = calloc(1, sizeof(*priv));
	if (!doc || !priv)
		goto nomem;
	doc->priv = priv;
	doc->kind = kind;
	doc->source_name = strdup(source_name ? source_name : "<memory>");
	if (!doc->source_name)
		goto nomem;
	umap_json_options json = UMAP_JSON_OPTIONS_INIT;
	if (opts) {
		json = opts->json;
		priv->allow_duplicate_ids = opts->allow_duplicate_ids;
		priv->on_feature = opts->on_feature;
		priv->on_feature_data = opts->on_feature_data;
		priv->known_feature = opts->on_feature ? opts->known_feature : NULL;
		if (opts->id_property && !(priv->id_property = strdup(opts->id_property)))
			goto nomem;
	}
	json.source_name = doc->source_name;
	priv->json = json;
	priv->layers_at = SIZE_MAX;
	priv->fd = -1;
	doc->layout = (umap_layout)UMAP_LAYOUT_DEFAULT;
	long page = sysconf(_SC_PAGESIZE);
	priv->page = page > 0 ? (size_t)page : 4096;
	*out = doc;
	return 0;
nomem:
	if (doc)
		free(doc->source_name);
	free(doc);
	free(priv);
	return umap_error_set(UMAP_ENOMEM, "out of memory");
}

int umap_doc_new(umap_doc **out, umap_doc_kind kind)
{
	umap_doc *doc;
	int rc = doc_alloc(&doc, kind, NULL, NULL);
	if (rc)
		return rc;
	if (kind == UMAP_DOC_MAP) {
		doc->map = json_object();
		if (!doc->map || json_object_set_new(doc->map, "type", json_string("umap"))) {
			umap_doc_free(doc);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
	}
	*out = doc;
	return 0;
}

static void spans_clear(span_list *spans)
{
	for (size_t i = 0; i < spans->n; i++)
		free(spans->items[i].name);
	free(spans->items);
	spans->items = NULL;
	spans->n = 0;
}

static const member_span *span_find(const span_list *spans, const char *name)
{
	for (size_t i = 0; spans && i < spans->n; i++)
		if (!strcmp(spans->items[i].name, name))
			return &spans->items[i];
	return NULL;
}

static int block_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(char *const *)a, y = (uintptr_t)*(char *const *)b;
	return x < y ? -1 : x > y;
}

/* Whether the id is in one of the document's id blocks. */
static int id_in_blocks(doc_priv *priv, const char *id)
{
	if (!priv || !priv->id_nblocks)
		return 0;
	if (!priv->id_blocks_sorted) {
		qsort(priv->id_blocks, priv->id_nblocks, sizeof(*priv->id_blocks), block_cmp);
		priv->id_blocks_sorted = 1;
	}
	size_t lo = 0, hi = priv->id_nblocks;
	uintptr_t p = (uintptr_t)id;
	while (lo < hi) { /* the first block above p */
		size_t mid = lo + (hi - lo) / 2;
		if ((uintptr_t)priv->id_blocks[mid] <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && p < (uintptr_t)priv->id_blocks[lo - 1] + ID_BLOCK;
}

/* Frees a feature's id, unless it is in the document's id blocks. */
static void id_release(doc_priv *priv, char *id)
{
	if (id && !id_in_blocks(priv, id))
		free(id);
}

/* A copy of the id text, NUL-terminated, in the document's id blocks (a long one is
 * malloc'd). NULL when out of memory. */
static char *id_copy(doc_priv *priv, const char *text, size_t len)
{
	if (len >= ID_BLOCK / 64)
		return strndup(text, len);
	if (!priv->id_block || ID_BLOCK - priv->id_used < len + 1) {
		if (priv->id_nblocks == priv->id_blocks_cap) {
			size_t cap = priv->id_blocks_cap ? 2 * priv->id_blocks_cap : 16;
			char **more = realloc(priv->id_blocks, cap * sizeof(*more));
			if (!more)
				return NULL;
			priv->id_blocks = more;
			priv->id_blocks_cap = cap;
		}
		char *block = malloc(ID_BLOCK);
		if (!block)
			return NULL;
		priv->id_blocks[priv->id_nblocks++] = block;
		priv->id_blocks_sorted = 0;
		priv->id_block = block;
		priv->id_used = 0;
	}
	char *id = priv->id_block + priv->id_used;
	memcpy(id, text, len);
	id[len] = '\0';
	priv->id_used += len + 1;
	return id;
}

static void layer_clear(umap_layer *layer, layer_priv *lp, doc_priv *priv)
{
	for (size_t i = 0; i < layer->nfeatures; i++) {
		id_release(priv, layer->features[i].id);
		json_decref(layer->features[i].value);
	}
	free(layer->features);
	free(layer->id);
	json_decref(layer->options);
	json_decref(layer->members);
	if (lp) {
		spans_clear(&lp->spans);
		json_decref(lp->order);
		free(lp->index);
	}
}

void umap_doc_free(umap_doc *doc)
{
	if (!doc)
		return;
	doc_priv *priv = priv_of(doc);
	for (size_t i = 0; i < doc->nlayers; i++)
		layer_clear(&doc->layers[i], priv ? &priv->layers[i] : NULL, priv);
	free(doc->layers);
	json_decref(doc->map);
	free(doc->source_name);
	if (priv) {
		if (priv->map_base)
			munmap(priv->map_base, priv->map_len);
		if (priv->fd >= 0)
			close(priv->fd);
		free(priv->heap);
		spans_clear(&priv->map_spans);
		free(priv->layers);
		free(priv->id_property);
		free(priv->edited);
		for (size_t i = 0; i < priv->id_nblocks; i++)
			free(priv->id_blocks[i]);
		free(priv->id_blocks);
		free(priv);
	}
	free(doc);
}

static int add_layer_slot(umap_layer **out, umap_doc *doc)
{
	doc_priv *priv = priv_of(doc);
	if (doc->nlayers == priv->layers_cap) {
		size_t cap = priv->layers_cap ? priv->layers_cap * 2 : 16;
		umap_layer *layers = realloc(doc->layers, cap * sizeof(*layers));
		if (!layers)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		doc->layers = layers;
		layer_priv *lps = realloc(priv->layers, cap * sizeof(*lps));
		if (!lps)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		priv->layers = lps;
		priv->layers_cap = cap;
	}
	umap_layer *layer = &doc->layers[doc->nlayers];
	memset(layer, 0, sizeof(*layer));
	memset(&priv->layers[doc->nlayers], 0, sizeof(priv->layers[0]));
	layer->options_key = OPTIONS_PROPERTIES;
	layer->parent = UMAP_LAYER_TOP;
	doc->nlayers++;
	*out = layer;
	return 0;
}

int umap_doc_add_layer(umap_layer **out, umap_doc *doc, const char *id, const json_t *options)
{
	umap_layer *layer;
	int rc = add_layer_slot(&layer, doc);
	if (rc)
		return rc;
	if (id && !(layer->id = strdup(id)))
		goto nomem;
	if (options && !(layer->options = umap_json_copy(options, 1)))
		goto nomem;
	if (!(layer->members = json_object()))
		goto nomem;
	if (out)
		*out = layer;
	return 0;
nomem:
	/* the slot stays, empty, so the document is still consistent */
	return umap_error_set(UMAP_ENOMEM, "out of memory");
}

umap_layer *umap_doc_find_layer(umap_doc *doc, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < doc->nlayers; i++)
		if (doc->layers[i].id && !strcmp(doc->layers[i].id, id))
			return &doc->layers[i];
	return NULL;
}

const char *umap_options_key(const char *key)
{
	if (key && !strcmp(key, OPTIONS_LEGACY))
		return OPTIONS_LEGACY;
	if (key && !strcmp(key, OPTIONS_STORAGE))
		return OPTIONS_STORAGE;
	return OPTIONS_PROPERTIES;
}

size_t umap_layer_rank(const umap_doc *doc, size_t index)
{
	size_t rank = 0;
	for (size_t i = 0; i < index && i < doc->nlayers; i++)
		if (doc->layers[i].parent == doc->layers[index].parent)
			rank++;
	return rank;
}

const char *umap_layer_name(const umap_layer *layer)
{
	const json_t *name = layer->options ? json_object_get(layer->options, "name") : NULL;
	return json_is_string(name) ? json_string_value(name) : NULL;
}

static int same_name(const umap_layer *a, const umap_layer *b)
{
	const char *x = umap_layer_name(a), *y = umap_layer_name(b);
	return x && y ? !strcmp(x, y) : !x && !y;
}

int umap_doc_match_layers(long **out, const umap_doc *old_doc, const umap_doc *new_doc)
{
	long *match = malloc((new_doc->nlayers + 1) * sizeof(*match));
	unsigned char *used = calloc(old_doc->nlayers + 1, 1);
	if (!match || !used) {
		free(match);
		free(used);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	size_t n = new_doc->nlayers, m = old_doc->nlayers;
	for (size_t j = 0; j < n; j++) {
		const umap_layer *b = &new_doc->layers[j];
		match[j] = -1;
		if (!b->id)
			continue;
		for (size_t i = 0; i < m; i++) {
			if (old_doc->layers[i].id && !strcmp(old_doc->layers[i].id, b->id)) {
				if (!used[i])
					match[j] = (long)i;
				break;
			}
		}
		if (match[j] >= 0)
			used[match[j]] = 1;
	}
	/* uMap's exports drop layer ids: by position when the name agrees, then by name, then
	 * by position alone (a layer renamed in place). A layer without id also pairs by
	 * position and name with one whose id the other document does not have (the same map
	 * as uMap exports it and as a server holds it, ids given) */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t j = 0; j < n; j++) {
			const umap_layer *b = &new_doc->layers[j];
			if (match[j] >= 0 || (b->id && pass == 2))
				continue;
			if (pass == 1) {
				for (size_t i = 0; i < m && match[j] < 0; i++)
					if ((!old_doc->layers[i].id || !b->id) && !used[i] &&
					    umap_layer_name(b) && same_name(&old_doc->layers[i], b))
						match[j] = (long)i;
			} else if (j < m && !used[j] &&
				   (pass == 2 ? !old_doc->layers[j].id
					      : (!old_doc->layers[j].id || !b->id) &&
							same_name(&old_doc->layers[j], b))) {
				match[j] = (long)j;
			}
			if (match[j] >= 0)
				used[match[j]] = 1;
		}
	}
	/* two one-layer files are the same layer even if only one has an id */
	if (n == 1 && m == 1 && match[0] < 0 && !(new_doc->layers[0].id && old_doc->layers[0].id))
		match[0] = 0;
	free(used);
	*out = match;
	return 0;
}

static int append_name(json_t *order, const char *name, size_t len);

static int has_children(const umap_doc *doc, size_t index)
{
	for (size_t i = 0; i < doc->nlayers; i++)
		if (doc->layers[i].parent == index)
			return 1;
	return 0;
}

json_t *umap_layer_member_order(umap_doc *doc, umap_layer *layer)
{
	json_t *order = priv_of(doc)->layers[layer_index_of(doc, layer)].order;
	if (order)
		return json_incref(order);
	/* A layer built in memory (a merge, a rebase) is written in put_layer's default order;
	 * say so, so that reading the written file back records the same order and a
	 * repository sees no change where there is none. */
	order = json_array();
	int rc = !order || append_name(order, "type", 4);
	if (!rc && layer->options)
		rc = append_name(order, layer->options_key, strlen(layer->options_key));
	const char *key;
	json_t *v;
	json_object_foreach(layer->members, key, v) {
		if (rc)
			break;
		if (strcmp(key, "type") && strcmp(key, "features") &&
		    !(layer->options && !strcmp(key, layer->options_key)))
			rc = append_name(order, key, strlen(key));
	}
	if (!rc)
		rc = append_name(order, "features", 8);
	if (!rc && has_children(doc, layer_index_of(doc, layer)))
		rc = append_name(order, "layers", 6);
	if (rc) {
		json_decref(order);
		return NULL;
	}
	return order;
}

int umap_layer_set_member_order(umap_doc *doc, umap_layer *layer, const json_t *names)
{
	layer_priv *lp = &priv_of(doc)->layers[layer_index_of(doc, layer)];
	json_t *copy = NULL;
	if (json_is_array(names) && !(copy = umap_json_copy(names, 1)))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	json_decref(lp->order);
	lp->order = copy;
	return 0;
}

size_t umap_doc_layers_position(umap_doc *doc)
{
	return priv_of(doc)->layers_at;
}

void umap_doc_set_layers_position(umap_doc *doc, size_t position)
{
	priv_of(doc)->layers_at = position;
}

/* ---- The id index ------------------------------------------------------------------
 * Open addressing; an entry is (32 bits of the id's hash) << 32 | (feature index + 1), so
 * that probing and growing compare hashes in the table, not strings behind pointers. */

static int index_grow(layer_priv *lp)
{
	size_t cap = lp->index_cap ? lp->index_cap * 2 : 64;
	uint64_t *index = calloc(cap, sizeof(*index));
	if (!index)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; i < lp->index_cap; i++) {
		uint64_t entry = lp->index[i];
		if (!entry)
			continue;
		size_t slot = (size_t)(entry >> 32) & (cap - 1);
		while (index[slot])
			slot = (slot + 1) & (cap - 1);
		index[slot] = entry;
	}
	free(lp->index);
	lp->index = index;
	lp->index_cap = cap;
	return 0;
}

static long index_lookup(const umap_layer *layer, const layer_priv *lp, const char *id,
			 uint32_t h, size_t *free_slot)
{
	size_t mask = lp->index_cap - 1, slot = h & mask;
	for (uint64_t entry; (entry = lp->index[slot]); slot = (slot + 1) & mask) {
		uint32_t i = (uint32_t)entry - 1;
		if ((uint32_t)(entry >> 32) == h && !strcmp(layer->features[i].id, id))
			return (long)i;
	}
	if (free_slot)
		*free_slot = slot;
	return -1;
}

static int index_add(umap_layer *layer, layer_priv *lp, size_t i, long *existing);

static void index_prefetch(const layer_priv *lp, const char *id)
{
	if (lp->index_cap)
		__builtin_prefetch(&lp->index[umap_id_hash(id, strlen(id)) & (lp->index_cap - 1)]);
}

/* Builds a released index again, at once at its final size. */
static int index_restore(umap_layer *layer, layer_priv *lp)
{
	size_t cap = 64;
	while (cap < 2 * (layer->nfeatures + 1))
		cap *= 2;
	uint64_t *index = calloc(cap, sizeof(*index));
	if (!index)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	lp->index = index;
	lp->index_cap = cap;
	lp->index_used = 0;
	lp->index_released = 0;
	for (size_t i = 0; i < layer->nfeatures; i++) {
		long existing;
		/* cannot fail: the table is already large enough for every feature */
		if (layer->features[i].id)
			index_add(layer, lp, i, &existing);
	}
	return 0;
}

/* Looks the id up; returns the index of the feature holding it, or -1. */
static long index_find(umap_layer *layer, layer_priv *lp, const char *id)
{
	if (lp->index_released && index_restore(layer, lp)) {
		/* no memory for the index: the first feature with the id, as it would give */
		umap_error_clear();
		for (size_t i = 0; i < layer->nfeatures; i++)
			if (layer->features[i].id && !strcmp(layer->features[i].id, id))
				return (long)i;
		return -1;
	}
	if (!lp->index_cap)
		return -1;
	return index_lookup(layer, lp, id, umap_id_hash(id, strlen(id)), NULL);
}

/* Indexes feature `i` (which has an id). Sets *existing to the index of an earlier feature
 * with the same id (then nothing is added), else -1. */
static int index_add(umap_layer *layer, layer_priv *lp, size_t i, long *existing)
{
	if (lp->index_released) {
		int rc = index_restore(layer, lp);
		if (rc)
			return rc;
	}
	if ((lp->index_used + 1) * 2 > lp->index_cap) {
		int rc = index_grow(lp);
		if (rc)
			return rc;
	}
	uint32_t h = umap_id_hash(layer->features[i].id, strlen(layer->features[i].id));
	size_t slot;
	*existing = index_lookup(layer, lp, layer->features[i].id, h, &slot);
	if (*existing >= 0)
		return 0;
	lp->index[slot] = (uint64_t)h << 32 | (uint64_t)(i + 1);
	lp->index_used++;
	return 0;
}

_Static_assert(sizeof(void *) != 8 || sizeof(umap_feature) == 48,
	       "a feature record is 48 bytes (doc.h): 1M of them are kept while a layer is read");

umap_pos umap_feature_pos(const umap_feature *f)
{
	return (umap_pos){ f->pos.line, f->pos.col, f->offset };
}

void umap_layer_release_index(umap_doc *doc, umap_layer *layer)
{
	layer_priv *lp = &priv_of(doc)->layers[layer_index_of(doc, layer)];
	if (!lp->index)
		return; /* none, or no feature had an id */
	free(lp->index);
	lp->index = NULL;
	lp->index_cap = 0;
	lp->index_used = 0;
	lp->index_released = 1;
}

long umap_layer_find(umap_doc *doc, umap_layer *layer, const char *id)
{
	if (!id)
		return -1;
	return index_find(layer, &priv_of(doc)->layers[layer_index_of(doc, layer)], id);
}

/* Appends a slot for a feature; the caller fills it. */
static int feature_slot(umap_feature **out, umap_doc *doc, umap_layer *layer)
{
	layer_priv *lp = &priv_of(doc)->layers[layer_index_of(doc, layer)];
	if (layer->nfeatures == lp->features_cap) {
		if (lp->features_cap >= MAX_FEATURES)
			return umap_error_set(UMAP_ELIMIT, "%s: more than %zu features in one layer",
					      doc->source_name, MAX_FEATURES);
		size_t cap = lp->features_cap ? lp->features_cap * 2 : 64;
		if (cap > MAX_FEATURES)
			cap = MAX_FEATURES;
		umap_feature *features = realloc(layer->features, cap * sizeof(*features));
		if (!features)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		layer->features = features;
		lp->features_cap = cap;
	}
	umap_feature *f = &layer->features[layer->nfeatures];
	memset(f, 0, sizeof(*f));
	*out = f;
	return 0;
}

/* Registers the feature just filled in at the end of the layer: indexes its id, failing on
 * a duplicate (naming both lines) unless duplicates are allowed. */
static int feature_commit(umap_doc *doc, umap_layer *layer)
{
	doc_priv *priv = priv_of(doc);
	layer_priv *lp = &priv->layers[layer_index_of(doc, layer)];
	size_t i = layer->nfeatures;
	umap_feature *f = &layer->features[i];
	layer->nfeatures++;
	if (!f->id)
		return 0;
	long existing;
	int rc = index_add(layer, lp, i, &existing);
	if (rc || existing < 0 || priv->allow_duplicate_ids) {
		if (rc)
			layer->nfeatures--;
		return rc;
	}
	umap_feature *first = &layer->features[existing];
	/* the layer's id may come after its features: the lines say enough */
	if (f->pos.line && first->pos.line)
		rc = umap_error_set(UMAP_EINVALID,
				    "%s:%u:%u: duplicate feature id %s: first on line %u, again on line %u",
				    doc->source_name, f->pos.line, f->pos.col, f->id, first->pos.line,
				    f->pos.line);
	else
		rc = umap_error_set(UMAP_EINVALID, "%s: duplicate feature id %s", doc->source_name,
				    f->id);
	layer->nfeatures--;
	return rc;
}

/* ---- Ids ------------------------------------------------------------------------------- */

static int id_value_text(char **out, const json_t *v)
{
	*out = NULL;
	if (!v || !(json_is_string(v) || json_is_number(v)))
		return 0;
	*out = umap_json_dumps(v, UMAP_JSON_COMPACT);
	return *out ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
}

int umap_feature_id(char **out, const json_t *feature, const char *id_property)
{
	*out = NULL;
	if (!json_is_object(feature))
		return 0;
	if (id_property) {
		const json_t *props = json_object_get(feature, "properties");
		return id_value_text(out, json_is_object(props) ? json_object_get(props, id_property)
								: NULL);
	}
	return id_value_text(out, json_object_get(feature, "id"));
}

char *umap_id_display(const char *id_json)
{
	if (!id_json)
		return strdup("(none)");
	if (id_json[0] == '"') {
		json_t *v = NULL;
		if (umap_json_loadb(&v, id_json, strlen(id_json), "id") == 0 && json_is_string(v)) {
			char *s = strdup(json_string_value(v));
			json_decref(v);
			return s;
		}
		json_decref(v);
		umap_error_clear();
	}
	return strdup(id_json);
}

static int random_bytes(unsigned char *out, size_t len)
{
	while (len) {
		ssize_t n = getrandom(out, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return umap_error_set_errno(UMAP_EIO, "cannot get random bytes");
		}
		out += n;
		len -= (size_t)n;
	}
	return 0;
}

int umap_uuid_v4(char out[37])
{
	unsigned char b[16];
	int rc = random_bytes(b, sizeof(b));
	if (rc)
		return rc;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

static int note_edited(doc_priv *priv, size_t layer, size_t index, const umap_feature *f)
{
	if (priv->nedited == priv->edited_cap) {
		size_t cap = priv->edited_cap ? 2 * priv->edited_cap : 16;
		struct edited_span *more = realloc(priv->edited, cap * sizeof(*more));
		if (!more)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		priv->edited = more;
		priv->edited_cap = cap;
	}
	priv->edited[priv->nedited++] = (struct edited_span){ layer, index, f->offset, f->length };
	return 0;
}

/* Where the bytes of an edited feature were (length 0: not known). */
static const struct edited_span *edited_find(const doc_priv *priv, size_t layer, size_t index)
{
	size_t lo = 0, hi = priv->nedited;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct edited_span *e = &priv->edited[mid];
		if (e->layer < layer || (e->layer == layer && e->index < index))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < priv->nedited && priv->edited[lo].layer == layer &&
		       priv->edited[lo].index == index ? &priv->edited[lo] : NULL;
}

int umap_layer_assign_ids(umap_doc *doc, umap_layer *layer, size_t *assigned)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	doc_priv *priv = priv_of(doc);
	layer_priv *lp = &priv->layers[layer_index_of(doc, layer)];
	size_t count = 0;
	if (assigned)
		*assigned = 0;
	for (size_t i = 0; i < layer->nfeatures; i++) {
		umap_feature *f = &layer->features[i];
		if (f->id)
			continue;
		json_t *tree;
		int rc = umap_doc_feature(&tree, doc, layer, i);
		if (rc)
			return rc;
		if (!json_is_object(tree))
			return umap_error_set(UMAP_EINVALID, "%s:%u:%u: a feature must be an object",
					      doc->source_name, f->pos.line, f->pos.col);
		/* 62^5 ids: a few random draws always find a free one in a real layer */
		char text[8];
		for (int attempt = 0;; attempt++) {
			if (attempt == 1000)
				return umap_error_set(UMAP_ELIMIT, "cannot find a free feature id");
			unsigned char r[5];
			if ((rc = random_bytes(r, sizeof(r))))
				return rc;
			text[0] = '"';
			for (int k = 0; k < 5; k++)
				text[1 + k] = alphabet[r[k] % 62];
			text[6] = '"';
			text[7] = '\0';
			if (index_find(layer, lp, text) < 0)
				break;
		}
		char bare[6];
		memcpy(bare, text + 1, 5);
		bare[5] = '\0';
		json_t *idv = json_string(bare);
		if (!idv)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		if (priv->id_property) {
			json_t *props = json_object_get(tree, "properties");
			if (!json_is_object(props)) {
				props = json_object();
				if (!props || json_object_set_new(tree, "properties", props)) {
					json_decref(idv);
					return umap_error_set(UMAP_ENOMEM, "out of memory");
				}
			}
			rc = json_object_set_new(props, priv->id_property, idv);
		} else {
			rc = json_object_set_new(tree, "id", idv); /* at the end, where uMap puts it */
		}
		if (rc || !(f->id = strdup(text)))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		/* the tree no longer matches the source bytes: it is an in-memory feature now */
		if (f->length && (rc = note_edited(priv, layer_index_of(doc, layer), i, f)))
			return rc;
		f->hash = umap_json_hash(tree);
		f->offset = f->length = 0;
		long existing;
		if ((rc = index_add(layer, lp, i, &existing)))
			return rc;
		count++;
	}
	if (assigned)
		*assigned = count;
	return 0;
}

/* ---- Reading ----------------------------------------------------------------------- */

typedef struct reader {
	umap_doc *doc;
	umap_scanner *scanner;
	const char *data;
	size_t len;
	umap_buf name;     /* a decoded member name */
	umap_buf lent_id;  /* streaming: the id on_feature sees, lent for the call (no malloc) */
	size_t features;   /* read by read_features, and where the last one ended: */
	size_t last_end;
	uint32_t last_line;
	size_t last_line_start;
	umap_strmap layer_ids; /* a map's layer ids: index in doc->layers */
} reader;

static int expected(reader *r, const umap_token *tok, const char *what)
{
	return umap_error_set(UMAP_EINVALID, "%s:%u:%u: expected %s", r->doc->source_name,
			      tok->pos.line, tok->pos.col, what);
}

/* The member name of a KEY token, decoded when it has escapes. */
static int key_name(reader *r, const umap_token *tok, const char **name, size_t *len)
{
	if (!tok->has_escapes) {
		*name = r->data + tok->start + 1;
		*len = tok->end - tok->start - 2;
		return 0;
	}
	int rc = umap_scanner_string(r->scanner, tok, &r->name);
	if (rc)
		return rc;
	*name = r->name.ptr ? r->name.ptr : "";
	*len = r->name.len;
	return 0;
}

static int key_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && !memcmp(name, want, len);
}

static int is_value_start(umap_token_type t)
{
	return t == UMAP_TOKEN_OBJECT_START || t == UMAP_TOKEN_ARRAY_START;
}

/* Consumes the value that starts with `tok`. */
static int skip_value(reader *r, const umap_token *tok, size_t *end)
{
	if (is_value_start(tok->type))
		return umap_scanner_skip(r->scanner, tok, end);
	*end = tok->end;
	return 0;
}

/* Turns an id value token into compact JSON text, or NULL for null; the scanner moves past it. */
/* Frees an id of token_id. */
static void id_free(reader *r, char *id)
{
	if (id != r->lent_id.ptr)
		id_release(priv_of(r->doc), id);
}

static int token_id(reader *r, const umap_token *tok, char **out)
{
	*out = NULL;
	if (tok->type == UMAP_TOKEN_NULL)
		return 0;
	if (tok->type == UMAP_TOKEN_STRING && !tok->has_escapes) {
		if (priv_of(r->doc)->on_feature) {
			/* a strndup and a free per feature were 3% of a streamed read */
			umap_buf_clear(&r->lent_id);
			if (umap_buf_put(&r->lent_id, r->data + tok->start, tok->end - tok->start))
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			*out = r->lent_id.ptr;
			return 0;
		}
		*out = id_copy(priv_of(r->doc), r->data + tok->start, tok->end - tok->start);
		return *out ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	if (tok->type == UMAP_TOKEN_STRING || tok->type == UMAP_TOKEN_NUMBER) {
		/* escapes or a number spelling (1.0, 1e0): the same id must give the same text */
		json_t *v = NULL;
		int rc = umap_scanner_build(r->scanner, tok, &v);
		if (rc)
			return rc;
		rc = id_value_text(out, v);
		json_decref(v);
		return rc;
	}
	return umap_error_set(UMAP_EINVALID, "%s:%u:%u: a feature id must be a string or a number",
			      r->doc->source_name, tok->pos.line, tok->pos.col);
}

/* The next member of the object being read: its name token, its name (decoded) and its
 * value token; *done at the closing '}' (then `key` is that token). */
static int next_member(reader *r, umap_token *key, const char **name, size_t *len,
		       umap_token *val, int *done)
{
	int rc = umap_scanner_next(r->scanner, key);
	*done = !rc && key->type == UMAP_TOKEN_OBJECT_END;
	if (rc || *done)
		return rc;
	if ((rc = key_name(r, key, name, len)))
		return rc;
	return umap_scanner_next(r->scanner, val);
}

/* The next element of an array of objects (`what` names them for the error); *done at
 * the closing ']'. */
static int next_object(reader *r, umap_token *tok, const char *what, int *done)
{
	int rc = umap_scanner_next(r->scanner, tok);
	*done = !rc && tok->type == UMAP_TOKEN_ARRAY_END;
	if (rc || *done)
		return rc;
	return tok->type == UMAP_TOKEN_OBJECT_START ? 0 : expected(r, tok, what);
}

/* The id of an object (a feature, or its properties for --id=PROP): its member `name`,
 * found while the object is skipped. */
static int member_id(reader *r, const umap_token *object, const char *name, char **id,
		     size_t *end)
{
	umap_token tok;
	int found;
	int rc = umap_scanner_skip_member(r->scanner, object, name, &tok, &found, end);
	if (!rc && found) {
		id_free(r, *id);
		*id = NULL;
		rc = token_id(r, &tok, id);
	}
	return rc;
}

static size_t max_features = UMAP_DOC_DEFAULT_MAX_FEATURES;

void umap_doc_set_max_features(size_t max)
{
	max_features = !max ? UMAP_DOC_DEFAULT_MAX_FEATURES : max < MAX_FEATURES ? max : MAX_FEATURES;
}

size_t umap_doc_max_features(void)
{
	return max_features;
}

/* Asks known_feature what it knows of the feature that `tok` opens, and moves past what it
 * knows; for one feature, lends its id in r->lent_id. */
static int known_feature(reader *r, umap_layer *layer, umap_feature *f, const umap_token *tok,
			 umap_known *known, char **id)
{
	doc_priv *priv = priv_of(r->doc);
	f->id = NULL;
	int rc = priv->known_feature(priv->on_feature_data, r->doc, layer_index_of(r->doc, layer),
				     f, known);
	if (rc || !known->length)
		return rc;
	if (!known->features || known->length > r->len - f->offset ||
	    (known->features == 1 && known->lines))
		return umap_error_set(UMAP_EUSAGE, "%s: known_feature gave an impossible span",
				      r->doc->source_name);
	size_t end = f->offset + known->length;
	if ((rc = umap_scanner_skip_known(r->scanner, tok, end, known->lines, known->line_start)))
		return rc;
	if (known->features == 1 && f->id) {
		umap_buf_clear(&r->lent_id);
		if (umap_buf_put(&r->lent_id, f->id, strlen(f->id)))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		*id = r->lent_id.ptr;
	}
	return 0;
}

static int too_long(const umap_doc *doc, const umap_feature *f)
{
	return umap_error_set(UMAP_ELIMIT, "%s:%u:%u: a feature of more than %zu bytes: split it",
			      doc->source_name, f->pos.line, f->pos.col, UMAP_FEATURE_MAX_BYTES);
}

/* Reads a "features" array (its ARRAY_START consumed): span, hash and id of each feature. */
static int read_features(reader *r, umap_layer *layer)
{
	umap_doc *doc = r->doc;
	doc_priv *priv = priv_of(doc);
	umap_token tok;
	int rc, done;
	for (size_t count = 0;; count++) {
		if ((rc = next_object(r, &tok, "a feature (a JSON object) in \"features\"", &done)) ||
		    done)
			return rc;
		if (count == max_features)
			return umap_error_set(UMAP_ELIMIT,
					      "%s:%u:%u: more than %zu features in one layer, the limit: set UMAPSYNC_MAX_FEATURES to raise it",
					      doc->source_name, tok.pos.line, tok.pos.col, max_features);
		umap_feature streamed, *f = &streamed;
		if (priv->on_feature)
			memset(f, 0, sizeof(*f));
		else if ((rc = feature_slot(&f, doc, layer)))
			return rc;
		f->offset = tok.start;
		f->pos = (umap_line_col){ tok.pos.line, tok.pos.col };
		char *id = NULL;
		size_t end = tok.end;
		umap_known known = { tok.depth, count, 0, 0, 0, 0 };
		if (priv->known_feature && (rc = known_feature(r, layer, f, &tok, &known, &id)))
			goto fail;
		if (known.features > 1) {
			/* the caller has them: on to what follows the last one */
			count += known.features - 1;
			r->features += known.features;
			r->last_end = f->offset + known.length;
			umap_scanner_where(r->scanner, &r->last_line, &r->last_line_start);
			umap_doc_drop_behind(doc, r->last_end);
			continue;
		}
		end = f->offset + known.length;
		/* one pass over the feature's bytes finds its id and its end */
		if (!known.length && !priv->id_property && (rc = member_id(r, &tok, "id", &id, &end)))
			goto fail;
		while (!known.length && priv->id_property) {
			umap_token key, val;
			const char *name;
			size_t len, vend;
			if ((rc = next_member(r, &key, &name, &len, &val, &done)))
				goto fail;
			if (done) {
				end = key.end;
				break;
			}
			if (key_is(name, len, "properties") && val.type == UMAP_TOKEN_OBJECT_START)
				rc = member_id(r, &val, priv->id_property, &id, &vend);
			else
				rc = skip_value(r, &val, &vend);
			if (rc)
				goto fail;
		}
		f->id = id;
		/* the id's slot in the index is a cache miss (16 MB for 1M ids): ask for it now,
		 * hashing the feature's bytes while it comes */
		if (id && !priv->on_feature)
			index_prefetch(&priv->layers[layer_index_of(doc, layer)], id);
		if (end - f->offset > UMAP_FEATURE_MAX_BYTES) {
			rc = too_long(doc, f);
			goto fail;
		}
		f->length = (uint32_t)(end - f->offset);
		umap_scanner_where(r->scanner, &r->last_line, &r->last_line_start);
		r->last_end = end;
		r->features++;
		if (!known.length) {
			f->hash = umap_hash(r->data + f->offset, f->length);
			f->lines = r->last_line - f->pos.line;
		}
		if (!priv->style_known) {
			priv->style_known = 1;
			priv->spaced = memmem(r->data + f->offset, f->length, "\": ", 3) != NULL;
			priv->first_offset = f->offset;
			priv->first_length = f->length;
		}
		if (priv->on_feature) {
			rc = priv->on_feature(priv->on_feature_data, doc, layer_index_of(doc, layer), f);
			id_free(r, f->id);
			if (rc)
				return rc;
		} else if ((rc = feature_commit(doc, layer))) {
			id_release(priv, f->id);
			return rc;
		}
		umap_doc_drop_behind(doc, end);
		continue;
fail:
		id_free(r, id);
		return rc;
	}
}

/* Builds the member value that starts with `val`, noting its span in `spans`. */
static int build_member(reader *r, const umap_token *val, const char *name, size_t len,
			span_list *spans, json_t **out)
{
	size_t end = val->end;
	int rc;
	if (is_value_start(val->type)) {
		if ((rc = umap_scanner_skip(r->scanner, val, &end)))
			return rc;
		rc = umap_json_loadb(out, r->data + val->start, end - val->start,
				     r->doc->source_name);
	} else {
		rc = umap_scanner_build(r->scanner, val, out);
	}
	if (rc)
		return rc;
	member_span *grown = realloc(spans->items, (spans->n + 1) * sizeof(*grown));
	if (!grown)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	spans->items = grown;
	member_span *sp = &grown[spans->n];
	if (!(sp->name = strndup(name, len)))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	sp->offset = val->start;
	sp->length = end - val->start;
	sp->hash = umap_json_hash(*out);
	spans->n++;
	return 0;
}

static int set_member(reader *r, json_t *obj, const char *name, size_t len, json_t *value,
		      const umap_token *at)
{
	/* all len bytes, not strndup(): a name may hold "\u0000", and json_object_setn_new
	 * reads len bytes of it */
	char *key = malloc(len + 1);
	if (!key) {
		json_decref(value);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	memcpy(key, name, len);
	key[len] = '\0';
	int rc = 0;
	if (r->doc && priv_of(r->doc)->json.reject_duplicates && json_object_getn(obj, key, len))
		rc = umap_error_set(UMAP_EINVALID, "%s:%u:%u: duplicate member \"%s\"",
				    r->doc->source_name, at->pos.line, at->pos.col, key);
	else if (json_object_setn_new(obj, key, len, value))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	else
		value = NULL;
	json_decref(value);
	free(key);
	return rc;
}

static int append_name(json_t *order, const char *name, size_t len)
{
	if (json_array_append_new(order, json_stringn(name, len)))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return 0;
}

/* Fills in a layer from its object's members (the features are already read). */
static int finish_layer(reader *r, umap_layer *layer, json_t *top, const umap_token *start)
{
	umap_doc *doc = r->doc;
	json_t *type = json_object_get(top, "type");
	if (type && !(json_is_string(type) && !strcmp(json_string_value(type), "FeatureCollection")))
		return umap_error_set(UMAP_EINVALID,
				      "%s:%u:%u: a layer must be a FeatureCollection (\"type\": \"FeatureCollection\")",
				      doc->source_name, start->pos.line, start->pos.col);
	const char *key = NULL;
	if (json_is_object(json_object_get(top, OPTIONS_PROPERTIES)))
		key = OPTIONS_PROPERTIES;
	else if (json_is_object(json_object_get(top, OPTIONS_LEGACY)))
		key = OPTIONS_LEGACY;
	else if (json_is_object(json_object_get(top, OPTIONS_STORAGE)))
		key = OPTIONS_STORAGE;
	layer->options_key = key ? key : OPTIONS_PROPERTIES;
	if (key) {
		layer->options = json_incref(json_object_get(top, key));
		json_object_del(top, key);
	}
	json_object_del(top, "type");
	const json_t *idv = layer->options ? json_object_get(layer->options, "id") : NULL;
	if (!(json_is_string(idv) || json_is_number(idv)))
		idv = json_object_get(top, "id");
	if (json_is_string(idv)) {
		if (!(layer->id = strdup(json_string_value(idv))))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
	} else if (json_is_number(idv)) {
		if (!(layer->id = umap_json_dumps(idv, UMAP_JSON_COMPACT)))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	layer->members = json_incref(top);
	return 0;
}

static int read_layers(reader *r, size_t parent, unsigned depth);

/* Reads one layer object of a "layers" array (its OBJECT_START is `start`), and the layers
 * nested in it. Reading them moves doc->layers: the layer is found again by its index. */
static int read_layer(reader *r, const umap_token *start, size_t parent, unsigned depth)
{
	umap_layer *layer;
	int rc = add_layer_slot(&layer, r->doc);
	if (rc)
		return rc;
	size_t index = r->doc->nlayers - 1;
	layer->pos = start->pos;
	layer->parent = parent;
	json_t *top = json_object();
	json_t *order = json_array();
	priv_of(r->doc)->layers[index].order = order;
	if (!top || !order) {
		json_decref(top);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	int have_features = 0, have_layers = 0, done;
	umap_token tok, val;
	for (;;) {
		const char *name;
		size_t len;
		if ((rc = next_member(r, &tok, &name, &len, &val, &done)))
			goto out;
		if (done)
			break;
		if ((rc = append_name(order, name, len)))
			goto out;
		if (key_is(name, len, "features") && val.type == UMAP_TOKEN_ARRAY_START &&
		    !have_features) {
			have_features = 1;
			if ((rc = read_features(r, &r->doc->layers[index])))
				goto out;
		} else if (key_is(name, len, "layers") && val.type == UMAP_TOKEN_ARRAY_START &&
			   !have_layers) {
			have_layers = 1;
			if (depth + 1 >= UMAP_DOC_MAX_LAYER_DEPTH) {
				rc = umap_error_set(UMAP_ELIMIT,
						    "%s:%u:%u: layers nested more than %d deep; "
						    "flatten the group layers",
						    r->doc->source_name, val.pos.line, val.pos.col,
						    UMAP_DOC_MAX_LAYER_DEPTH);
				goto out;
			}
			if ((rc = read_layers(r, index, depth + 1)))
				goto out;
		} else {
			json_t *v;
			if ((rc = build_member(r, &val, name, len,
					       &priv_of(r->doc)->layers[index].spans, &v)) ||
			    (rc = set_member(r, top, name, len, v, &tok)))
				goto out;
		}
	}
	if (!have_features) {
		rc = umap_error_set(UMAP_EINVALID, "%s:%u:%u: a layer needs a \"features\" array",
				    r->doc->source_name, start->pos.line, start->pos.col);
		goto out;
	}
	rc = finish_layer(r, &r->doc->layers[index], top, start);
out:
	json_decref(top);
	return rc;
}

/* Whether the layer's id was written as a JSON number (uMap before 2.0 numbered layers,
 * and templates copied with them share numbers). */
static int numeric_id(const umap_layer *layer)
{
	const json_t *idv = layer->options ? json_object_get(layer->options, "id") : NULL;
	if (!(json_is_string(idv) || json_is_number(idv)))
		idv = json_object_get(layer->members, "id");
	return json_is_number(idv);
}

static int read_layers(reader *r, size_t parent, unsigned depth)
{
	umap_doc *doc = r->doc;
	umap_token tok;
	int rc, done;
	for (;;) {
		if ((rc = next_object(r, &tok, "a layer (a FeatureCollection object) in \"layers\"",
				      &done)) || done)
			break;
		size_t index = doc->nlayers;
		if ((rc = read_layer(r, &tok, parent, depth)))
			break;
		/* layers are paired by id: one id, one layer, at any depth */
		umap_layer *layer = &doc->layers[index];
		size_t first;
		if (layer->id && umap_strmap_get(&r->layer_ids, layer->id, &first)) {
			if (!numeric_id(layer) || !numeric_id(&doc->layers[first])) {
				rc = umap_error_set(UMAP_EINVALID,
						    "%s:%u:%u: duplicate layer id \"%s\": first on line %u, again on line %u",
						    doc->source_name, layer->pos.line, layer->pos.col,
						    layer->id, doc->layers[first].pos.line, layer->pos.line);
				break;
			}
			/* a shared legacy number is kept as data; the layer is known by its
			 * top-level id when it has one of its own (import gives it one), else
			 * matched as layers without an id are (validate --umap warns) */
			free(layer->id);
			layer->id = NULL;
			const json_t *own = json_object_get(layer->members, "id");
			if (json_is_string(own) &&
			    !umap_strmap_get(&r->layer_ids, json_string_value(own), NULL) &&
			    !(layer->id = strdup(json_string_value(own)))) {
				rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				break;
			}
		}
		if (layer->id && (rc = umap_strmap_put(&r->layer_ids, layer->id, index, NULL)))
			break;
	}
	return rc;
}

static const char *type_of(const json_t *top)
{
	const json_t *type = json_object_get(top, "type");
	return json_is_string(type) ? json_string_value(type) : NULL;
}

static int read_root(reader *r)
{
	umap_doc *doc = r->doc;
	doc_priv *priv = priv_of(doc);
	umap_token root, tok, val;
	int rc = umap_scanner_next(r->scanner, &root);
	if (rc)
		return rc;
	if (root.type != UMAP_TOKEN_OBJECT_START)
		return expected(r, &root,
				"a GeoJSON FeatureCollection or Feature, or a uMap map (a JSON object)");
	json_t *top = json_object();
	json_t *order = json_array();
	if (!top || !order) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto out;
	}
	umap_layer *first = NULL; /* the layer a root "features" array goes to */
	int have_features = 0, have_layers = 0, done;
	size_t layers_at = SIZE_MAX, end = root.end;
	for (;;) {
		const char *name;
		size_t len;
		if ((rc = next_member(r, &tok, &name, &len, &val, &done)))
			goto out;
		if (done) {
			end = tok.end;
			break;
		}
		if ((rc = append_name(order, name, len)))
			goto out;
		const char *type = type_of(top);
		if (key_is(name, len, "features") && val.type == UMAP_TOKEN_ARRAY_START &&
		    !have_features && !have_layers && (!type || !strcmp(type, "FeatureCollection"))) {
			have_features = 1;
			if ((rc = add_layer_slot(&first, doc)))
				goto out;
			first->pos = root.pos;
			if ((rc = read_features(r, first)))
				goto out;
		} else if (key_is(name, len, "layers") && val.type == UMAP_TOKEN_ARRAY_START &&
			   !have_features && !have_layers && (!type || !strcmp(type, "umap"))) {
			have_layers = 1;
			layers_at = json_object_size(top);
			if ((rc = read_layers(r, UMAP_LAYER_TOP, 0)))
				goto out;
		} else {
			json_t *v;
			if ((rc = build_member(r, &val, name, len, &priv->map_spans, &v)) ||
			    (rc = set_member(r, top, name, len, v, &tok)))
				goto out;
		}
	}
	if ((rc = umap_scanner_next(r->scanner, &tok)))
		goto out;
	if (tok.type != UMAP_TOKEN_EOF) {
		rc = expected(r, &tok, "the end of the input after the root object");
		goto out;
	}

	const char *type = type_of(top);
	if (type && !strcmp(type, "umap") && !have_features) {
		doc->kind = UMAP_DOC_MAP;
		doc->map = json_incref(top);
		priv->layers_at = layers_at;
	} else if (type && !strcmp(type, "FeatureCollection") && !have_layers) {
		if (!have_features) {
			rc = umap_error_set(UMAP_EINVALID,
					    "%s:%u:%u: a FeatureCollection needs a \"features\" array",
					    doc->source_name, root.pos.line, root.pos.col);
			goto out;
		}
		doc->kind = UMAP_DOC_LAYER;
		priv->layers[0].order = json_incref(order);
		priv->layers[0].spans = priv->map_spans;
		priv->map_spans.items = NULL;
		priv->map_spans.n = 0;
		rc = finish_layer(r, first, top, &root);
	} else if (type && !strcmp(type, "Feature") && !have_features && !have_layers) {
		/* a single Feature is a layer of one; its members were built as `top` already */
		doc->kind = UMAP_DOC_LAYER;
		priv->single_feature = 1;
		umap_layer *layer;
		umap_feature *f;
		if ((rc = add_layer_slot(&layer, doc)))
			goto out;
		layer->pos = root.pos;
		if (!(layer->members = json_object())) {
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = feature_slot(&f, doc, layer)))
			goto out;
		f->offset = root.start;
		f->pos = (umap_line_col){ root.pos.line, root.pos.col };
		if (end - root.start > UMAP_FEATURE_MAX_BYTES) {
			rc = too_long(doc, f);
			goto out;
		}
		f->length = (uint32_t)(end - root.start);
		f->hash = umap_hash(r->data + f->offset, f->length);
		f->value = json_incref(top);
		if ((rc = umap_feature_id(&f->id, top, priv->id_property)))
			goto out;
		if (priv->on_feature) {
			umap_feature streamed = *f;
			memset(f, 0, sizeof(*f));
			rc = priv->on_feature(priv->on_feature_data, doc, 0, &streamed);
			free(streamed.id);
			json_decref(streamed.value);
		} else {
			rc = feature_commit(doc, layer);
		}
	} else {
		rc = umap_error_set(UMAP_EINVALID,
				    "%s:%u:%u: expected a FeatureCollection, a Feature or a uMap map "
				    "(\"type\": \"umap\")%s%s%s",
				    doc->source_name, root.pos.line, root.pos.col,
				    type ? ", found \"type\": \"" : "", type ? type : "", type ? "\"" : "");
	}
out:
	json_decref(top);
	json_decref(order);
	return rc;
}

/* An indented file may still hold each feature on one line (as people and some tools
 * write them): its first feature says so, and how it spaces its tokens. */
static void detect_feature_lines(umap_doc *doc)
{
	doc_priv *priv = priv_of(doc);
	if (!doc->layout.indent)
		return;
	for (size_t l = 0; l < doc->nlayers; l++) {
		const umap_feature *f = doc->layers[l].nfeatures ? &doc->layers[l].features[0] : NULL;
		if (!f || !f->length)
			continue;
		doc->layout.lines = !memchr(doc->data + f->offset, '\n', f->length);
		doc->layout.spaced = doc->layout.lines && priv->spaced;
		priv->read_layout = doc->layout;
		return;
	}
	/* streamed (no features kept): the first one read says it */
	if (priv->on_feature && priv->first_length) {
		doc->layout.lines = !memchr(doc->data + priv->first_offset, '\n', priv->first_length);
		doc->layout.spaced = doc->layout.lines && priv->spaced;
	}
	priv->read_layout = doc->layout;
}

static int doc_read(umap_doc *doc)
{
	doc_priv *priv = priv_of(doc);
	reader r = { doc, NULL, doc->data, doc->size, UMAP_BUF_INIT, UMAP_BUF_INIT, 0, 0, 0, 0,
		     UMAP_STRMAP_INIT };
	umap_layout_detect(&doc->layout, doc->data, doc->size);
	priv->read_layout = doc->layout;
	int rc = umap_scanner_new(&r.scanner, doc->data, doc->size, &priv->json);
	if (!rc)
		rc = read_root(&r);
	umap_scanner_free(r.scanner);
	umap_strmap_dispose(&r.layer_ids);
	umap_buf_dispose(&r.name);
	umap_buf_dispose(&r.lent_id);
	if (!rc)
		detect_feature_lines(doc);
	if (!rc && priv->map_base && priv->dropped < priv->map_len) {
		size_t upto = priv->map_len & ~(priv->page - 1);
		if (upto > priv->dropped)
			madvise((char *)priv->map_base + priv->dropped, upto - priv->dropped,
				MADV_DONTNEED);
		priv->dropped = 0;
		/* trees are built with pread (parse_span); whatever still touches the mapping
		 * (KEEP_BYTES writes) reads it in order */
	}
	return rc;
}

static int finish_open(umap_doc **out, umap_doc *doc, const umap_doc_options *opts)
{
	int rc = doc_read(doc);
	if (!rc && opts && opts->parse_all)
		rc = umap_doc_load_all(doc);
	if (rc) {
		umap_doc_free(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

/* Makes data[0..len) doc's source, within the size limit; frees doc on failure. */
static int set_source(umap_doc *doc, const char *data, size_t len)
{
	if (len > priv_of(doc)->json.max_size) {
		int rc = umap_error_set(UMAP_ELIMIT, "%s: larger than the limit of %zu bytes",
					doc->source_name, priv_of(doc)->json.max_size);
		umap_doc_free(doc);
		return rc;
	}
	doc->data = data;
	doc->size = len;
	return 0;
}

/* Reads data[0..len) into `doc` (freed on failure), within the size limit. */
static int open_buffer(umap_doc **out, umap_doc *doc, const char *data, size_t len,
		       const umap_doc_options *opts)
{
	int rc = set_source(doc, data, len);
	return rc ? rc : finish_open(out, doc, opts);
}

/* A new document that owns `data`: freed with it, or at once on failure. */
static int doc_alloc_owning(umap_doc **out, char *data, const char *source_name,
			    const umap_doc_options *opts)
{
	int rc = doc_alloc(out, UMAP_DOC_LAYER, source_name, opts);
	if (rc) {
		free(data);
		return rc;
	}
	priv_of(*out)->heap = data;
	return 0;
}

int umap_doc_from_buffer(umap_doc **out, const char *data, size_t len, const char *source_name,
			 const umap_doc_options *opts)
{
	umap_doc *doc;
	int rc = doc_alloc(&doc, UMAP_DOC_LAYER, source_name, opts);
	return rc ? rc : open_buffer(out, doc, data, len, opts);
}

int umap_doc_from_owned_buffer(umap_doc **out, char *data, size_t len, const char *source_name,
			       const umap_doc_options *opts)
{
	umap_doc *doc;
	int rc = doc_alloc_owning(&doc, data, source_name, opts);
	return rc ? rc : open_buffer(out, doc, data, len, opts);
}

int umap_doc_from_mapping(umap_doc **out, void *base, size_t len, const char *source_name,
			  const umap_doc_options *opts)
{
	umap_doc *doc;
	int rc = doc_alloc(&doc, UMAP_DOC_LAYER, source_name, opts);
	if (rc) {
		munmap(base, len);
		return rc;
	}
	doc_priv *priv = priv_of(doc);
	priv->map_base = base;
	priv->map_len = len;
	return open_buffer(out, doc, base, len, opts);
}

/* Maps the file at `path` into `doc`, or copies it when it cannot be mapped (stdin, pipes). */
static int load_source(umap_doc *doc, const char *path)
{
	int is_stdin = !strcmp(path, "-");
	doc_priv *priv = priv_of(doc);
	size_t max = priv->json.max_size;
	int fd = -1, rc = 0;
	struct stat st;
	if (!is_stdin) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = umap_error_set_errno(errno == ENOENT ? UMAP_ENOTFOUND : UMAP_EIO,
						  "cannot open '%s'", path);
			goto fail;
		}
		if (fstat(fd, &st) < 0) {
			rc = umap_error_set_errno(UMAP_EIO, "cannot read '%s'", path);
			goto fail;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = umap_error_set(UMAP_EIO, "'%s' is a directory, not a file", path);
			goto fail;
		}
	}
	if (!is_stdin && S_ISREG(st.st_mode) && st.st_size > 0) {
		if ((uint64_t)st.st_size > max) {
			rc = umap_error_set(UMAP_ELIMIT, "'%s' is larger than the limit of %zu bytes",
					    path, max);
			goto fail;
		}
		void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (base == MAP_FAILED) {
			rc = umap_error_set_errno(UMAP_EIO, "cannot map '%s'", path);
			goto fail;
		}
		madvise(base, (size_t)st.st_size, MADV_SEQUENTIAL);
		madvise(base, (size_t)st.st_size, MADV_NOHUGEPAGE);
		priv->map_base = base;
		priv->map_len = (size_t)st.st_size;
		priv->fd = fd;
		fd = -1;
		doc->data = base;
		doc->size = priv->map_len;
	} else {
		/* stdin, pipes, process substitution, empty files: a heap copy */
		umap_buf buf = UMAP_BUF_INIT;
		if ((rc = umap_file_read(&buf, path, max))) {
			umap_buf_dispose(&buf);
			goto fail;
		}
		priv->heap = buf.ptr;
		doc->data = buf.ptr ? buf.ptr : "";
		doc->size = buf.len;
	}
fail:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A stream (RFC 8142 or one feature a line) is read as the FeatureCollection it holds: its
 * source becomes that text, whose header line is line 0, so that messages give the file's
 * own lines and columns. */
static int source_to_collection(umap_doc *doc, umap_seq_kind kind)
{
	doc_priv *priv = priv_of(doc);
	umap_buf fc = UMAP_BUF_INIT;
	int rc = umap_seq_to_collection(&fc, doc->data, doc->size, kind, doc->source_name);
	if (rc) {
		umap_buf_dispose(&fc);
		return rc;
	}
	if (priv->map_base)
		munmap(priv->map_base, priv->map_len);
	if (priv->fd >= 0)
		close(priv->fd);
	priv->map_base = NULL;
	priv->map_len = 0;
	priv->fd = -1;
	free(priv->heap);
	doc->size = fc.len;
	doc->data = priv->heap = umap_buf_detach(&fc);
	priv->json.header_line = 1;
	return 0;
}

/* Reads doc's source (a file's text, as read): a stream as the FeatureCollection it holds,
 * written back as a stream (layout.seq). */
static int finish_file(umap_doc **out, umap_doc *doc, const char *name,
		       const umap_doc_options *opts)
{
	umap_seq_kind kind = umap_seq_kind_of(name, doc->data, doc->size);
	int rc = kind ? source_to_collection(doc, kind) : 0;
	if (rc) {
		umap_doc_free(doc);
		return rc;
	}
	if (!(rc = finish_open(out, doc, opts)) && kind) {
		/* one record a line, compact (or spaced as the records were) */
		umap_layout records = { 0, priv_of(*out)->spaced, 1, 1, (*out)->layout.ascii, 1,
					(int)kind, 0 };
		(*out)->layout = priv_of(*out)->read_layout = records;
	}
	if (!rc)
		(*out)->layout.known = 1; /* a file's own layout: what the repository records */
	return rc;
}

int umap_doc_open(umap_doc **out, const char *path, const umap_doc_options *opts)
{
	umap_doc *doc;
	int is_stdin = !strcmp(path, "-");
	int rc = doc_alloc(&doc, UMAP_DOC_LAYER, is_stdin ? "<stdin>" : path, opts);
	if (rc)
		return rc;
	if ((rc = load_source(doc, path))) {
		umap_doc_free(doc);
		return rc;
	}
	const char *name = opts && opts->format_name ? opts->format_name : is_stdin ? NULL : path;
	return finish_file(out, doc, name, opts);
}

int umap_doc_from_file_text(umap_doc **out, char *data, size_t len, const char *name,
			    const umap_doc_options *opts)
{
	umap_doc *doc;
	int rc = doc_alloc_owning(&doc, data, name, opts);
	if (!rc)
		rc = set_source(doc, data ? data : "", len);
	return rc ? rc : finish_file(out, doc, name, opts);
}

/* load_source for a file that is read again: never stdin or a pipe, which their first
 * reader consumed. */
static int map_again(umap_doc *doc, const char *path)
{
	struct stat st;
	int rc = 0;
	if (!strcmp(path, "-") || stat(path, &st) || !S_ISREG(st.st_mode) || !st.st_size ||
	    (!(rc = load_source(doc, path)) && !priv_of(doc)->map_base))
		rc = umap_error_set(UMAP_EUSAGE, "'%s' is not a file that can be mapped", path);
	return rc;
}

/* Smaller files are not split: the guess and the hand-over cost more than they save. */
#define HALVES_MIN_SIZE ((size_t)1 << 20)

static int is_blank(char c)
{
	return c == '\n' || c == '\r' || c == ' ' || c == '\t';
}

size_t umap_doc_guess_half(const char *path)
{
	static const char feature[] = "{\"type\":\"Feature\"";
	char head[4096], middle[65536];
	size_t at = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size < HALVES_MIN_SIZE)
		goto done;
	/* a uMap map's layers are deeper than the depth the halves are read at */
	ssize_t n = pread(fd, head, sizeof(head), 0);
	if (n <= 0 || !memmem(head, (size_t)n, "\"FeatureCollection\"", 19) ||
	    memmem(head, (size_t)n, "\"umap\"", 6))
		goto done;
	size_t from = (size_t)st.st_size / 2;
	n = pread(fd, middle, sizeof(middle), (off_t)from);
	for (const char *p = n > 0 ? memmem(middle, (size_t)n, feature, sizeof(feature) - 1) : NULL;
	     p; p = memmem(p + 1, (size_t)(middle + n - p - 1), feature, sizeof(feature) - 1)) {
		const char *q = p;
		while (q > middle && is_blank(q[-1]))
			q--;
		if (q == middle || *--q != ',')
			continue;
		while (q > middle && is_blank(q[-1]))
			q--;
		if (q > middle && q[-1] == '}') {
			at = from + (size_t)(p - middle);
			break;
		}
	}
done:
	close(fd);
	return at;
}

void umap_half_read(umap_half *h, const char *path, const umap_doc_options *opts)
{
	h->rc = h->offset ? umap_doc_read_features_at(path, h->offset, opts, &h->known)
			  : UMAP_ENOTFOUND;
	umap_handoff_raise(h->handoff, &h->done);
}

int umap_half_take(umap_half *h, const umap_feature *f, umap_known *known,
		   int (*take)(void *data), void *data)
{
	if (h->reached || !h->offset || f->offset != h->offset || known->depth != 2)
		return 0;
	h->reached = 1;
	umap_handoff_wait(h->handoff, &h->done);
	if (h->rc || !h->known.features || known->index + h->known.features > max_features)
		return 0;
	int rc = take(data);
	if (rc)
		return rc < 0 ? rc : 0;
	h->taken = 1;
	h->taken_at = known->index;
	*known = h->known;
	return 1;
}

void umap_known_take(umap_known_source *k, const umap_doc *doc, size_t index, umap_feature *f,
		     umap_known *known)
{
	long at = (long)index + k->shift;
	k->tried = -1;
	if (at < 0 || (size_t)at >= k->n)
		return;
	uint64_t hash;
	size_t len;
	const char *id;
	k->record(k->records, (size_t)at, &hash, &len, &id, k->scratch);
	k->tried = at;
	if (!len || len > doc->size - f->offset || umap_hash(doc->data + f->offset, len) != hash)
		return;
	k->tried = -1;
	k->taken++;
	f->hash = hash;
	f->id = (char *)id;
	known->length = len;
	known->features = 1;
}

void umap_known_align(umap_known_source *k, size_t index, const char *id)
{
	long at = k->tried, n = (long)k->n;
	k->tried = -1;
	if (!id || at < 0)
		return;
	/* the first time, the halves of two versions may start a few hundred features apart */
	long reach = k->aligned ? 32 : 1024;
	for (long d = 0; d <= reach; d++) {
		for (long m = at - d; m <= at + d; m += d ? 2 * d : 1) {
			uint64_t hash;
			size_t len;
			const char *theirs;
			if (m < 0 || m >= n)
				continue;
			k->record(k->records, (size_t)m, &hash, &len, &theirs, k->scratch);
			if (theirs && !strcmp(theirs, id)) {
				k->shift = m - (long)index;
				k->aligned = 1;
				return;
			}
		}
	}
}

int umap_doc_read_features_at(const char *path, size_t offset, const umap_doc_options *opts,
			      umap_known *known)
{
	memset(known, 0, sizeof(*known));
	umap_doc *doc;
	int rc = doc_alloc(&doc, UMAP_DOC_LAYER, path, opts);
	if (rc)
		return rc;
	doc_priv *priv = priv_of(doc);
	reader r = { doc, NULL, NULL, 0, UMAP_BUF_INIT, UMAP_BUF_INIT, 0, 0, 0, 0,
		     UMAP_STRMAP_INIT };
	umap_layer *layer;
	if ((rc = map_again(doc, path)))
		goto done;
	if (offset >= doc->size) {
		rc = umap_error_set(UMAP_EUSAGE, "%s: cannot read from offset %zu", path, offset);
		goto done;
	}
	r.data = doc->data;
	r.len = doc->size;
	priv->dropped = offset & ~(priv->page - 1);
	if (!(rc = umap_scanner_new(&r.scanner, doc->data, doc->size, &priv->json)) &&
	    !(rc = umap_scanner_enter(r.scanner, offset, "{[")) &&
	    !(rc = add_layer_slot(&layer, doc)))
		rc = read_features(&r, layer);
	if (!rc && !r.features)
		rc = umap_error_set(UMAP_EINVALID, "%s: no feature at offset %zu", path, offset);
	if (!rc) {
		known->length = r.last_end - offset;
		known->features = r.features;
		known->lines = r.last_line - 1;
		known->line_start = r.last_line_start;
	}
done:
	umap_scanner_free(r.scanner);
	umap_strmap_dispose(&r.layer_ids);
	umap_buf_dispose(&r.name);
	umap_buf_dispose(&r.lent_id);
	umap_doc_free(doc);
	return rc;
}

/* ---- Trees on demand --------------------------------------------------------------- */

/* Parses data[offset, offset + length). For an mmap'd file the bytes are read with pread
 * rather than through the mapping: touching the mapping would map whole page-cache folios
 * (megabytes on file systems with large folios) for a feature of a few hundred bytes. */
static int parse_span(json_t **out, umap_doc *doc, size_t offset, size_t length)
{
	doc_priv *priv = priv_of(doc);
	if (priv->fd < 0)
		return umap_json_loadb(out, doc->data + offset, length, doc->source_name);
	char *copy = malloc(length ? length : 1);
	if (!copy)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	size_t got = 0;
	while (got < length) {
		ssize_t n = pread(priv->fd, copy + got, length - got, (off_t)(offset + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(copy);
			return umap_error_set_errno(UMAP_EIO, "cannot read '%s'", doc->source_name);
		}
		got += (size_t)n;
	}
	int rc = umap_json_loadb(out, copy, length, doc->source_name);
	free(copy);
	return rc;
}

static int build_from_source(json_t **out, umap_doc *doc, const umap_feature *f)
{
	int rc = parse_span(out, doc, f->offset, f->length);
	if (rc)
		return umap_error_prefix(rc, "feature at %s:%u:%u: ", doc->source_name, f->pos.line,
					 f->pos.col);
	return 0;
}

int umap_doc_build_span(json_t **out, umap_doc *doc, size_t offset, size_t length)
{
	*out = NULL;
	if (offset > doc->size || length > doc->size - offset)
		return umap_error_set(UMAP_EUSAGE, "span %zu+%zu is outside %s", offset, length,
				      doc->source_name);
	return parse_span(out, doc, offset, length);
}

int umap_doc_feature(json_t **out, umap_doc *doc, umap_layer *layer, size_t index)
{
	*out = NULL;
	if (index >= layer->nfeatures)
		return umap_error_set(UMAP_EUSAGE, "feature index %zu out of range", index);
	umap_feature *f = &layer->features[index];
	if (!f->value) {
		int rc = build_from_source(&f->value, doc, f);
		if (rc)
			return rc;
	}
	*out = f->value;
	return 0;
}

int umap_doc_load_all(umap_doc *doc)
{
	for (size_t l = 0; l < doc->nlayers; l++) {
		for (size_t i = 0; i < doc->layers[l].nfeatures; i++) {
			json_t *tree;
			int rc = umap_doc_feature(&tree, doc, &doc->layers[l], i);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int umap_layer_append(umap_doc *doc, umap_layer *layer, json_t *feature)
{
	if (!feature)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	umap_feature *f;
	int rc = feature_slot(&f, doc, layer);
	if (!rc)
		rc = umap_feature_id(&f->id, feature, priv_of(doc)->id_property);
	if (rc) {
		json_decref(feature);
		return rc;
	}
	f->hash = umap_json_hash(feature);
	f->value = feature;
	if ((rc = feature_commit(doc, layer))) {
		id_release(priv_of(doc), f->id);
		json_decref(feature);
		f->id = NULL;
		f->value = NULL;
	}
	return rc;
}

static void index_rebuild(umap_layer *layer, layer_priv *lp)
{
	if (!lp->index)
		return; /* no feature had an id */
	memset(lp->index, 0, lp->index_cap * sizeof(*lp->index));
	lp->index_used = 0;
	for (size_t i = 0; i < layer->nfeatures; i++) {
		long existing;
		/* cannot fail: the table is already large enough for every feature */
		if (layer->features[i].id)
			index_add(layer, lp, i, &existing);
	}
}

int umap_layer_remove(umap_doc *doc, umap_layer *layer, size_t index)
{
	if (index >= layer->nfeatures)
		return umap_error_set(UMAP_EUSAGE, "feature index %zu out of range", index);
	layer_priv *lp = &priv_of(doc)->layers[layer_index_of(doc, layer)];
	umap_feature *f = &layer->features[index];
	id_release(priv_of(doc), f->id);
	json_decref(f->value);
	memmove(f, f + 1, (layer->nfeatures - index - 1) * sizeof(*f));
	layer->nfeatures--;
	index_rebuild(layer, lp);
	return 0;
}

int umap_layer_remove_marked(umap_doc *doc, umap_layer *layer, const unsigned char *marked, size_t n)
{
	layer_priv *lp = &priv_of(doc)->layers[layer_index_of(doc, layer)];
	size_t kept = 0;
	for (size_t i = 0; i < layer->nfeatures; i++) {
		umap_feature *f = &layer->features[i];
		if (i < n && marked[i]) {
			id_release(priv_of(doc), f->id);
			json_decref(f->value);
		} else {
			layer->features[kept++] = *f;
		}
	}
	if (kept == layer->nfeatures)
		return 0;
	layer->nfeatures = kept;
	index_rebuild(layer, lp);
	return 0;
}

int umap_doc_remove_layer(umap_doc *doc, size_t index)
{
	if (index >= doc->nlayers)
		return umap_error_set(UMAP_EUSAGE, "layer index %zu out of range", index);
	doc_priv *priv = priv_of(doc);
	size_t up = doc->layers[index].parent;
	layer_clear(&doc->layers[index], &priv->layers[index], priv);
	size_t after = doc->nlayers - index - 1;
	memmove(&doc->layers[index], &doc->layers[index + 1], after * sizeof(doc->layers[0]));
	memmove(&priv->layers[index], &priv->layers[index + 1], after * sizeof(priv->layers[0]));
	doc->nlayers--;
	/* its children go to its parent, in its place */
	for (size_t i = index; i < doc->nlayers; i++) {
		if (doc->layers[i].parent == index)
			doc->layers[i].parent = up;
		else if (doc->layers[i].parent != UMAP_LAYER_TOP && doc->layers[i].parent > index)
			doc->layers[i].parent--;
	}
	return 0;
}

/* ---- Writing ----------------------------------------------------------------------- */

typedef struct writer {
	umap_buf *out;
	unsigned flags;
	unsigned indent;
	int keep_bytes;
	umap_buf tmp;
	const umap_layout *layout; /* UMAP_DOC_AS_READ in the source's own layout; else NULL */
	/* umap_doc_write_framed: the features come from the caller, counts[layer] of them */
	const size_t *counts;
	umap_doc_feature_fn put;
	void *put_data;
	/* and the file it replaces, whose bytes a member keeps where its value is unchanged:
	 * layer i is like's layer like_layers[i] (SIZE_MAX: none) */
	umap_doc *like;
	const size_t *like_layers;
} writer;

/* One line per element of "features" and "layers" (a one-line layout's `lines`). */
static int lines_of(const writer *w)
{
	return w->layout && !w->indent && w->layout->lines;
}

static int spaced_of(const writer *w)
{
	return w->layout && !w->indent && w->layout->spaced;
}

/* A separator between elements: ',' then the line break or space the layout puts. */
static int put_comma(writer *w, int element_lines)
{
	if (umap_buf_putc(w->out, ','))
		return UMAP_ENOMEM;
	return spaced_of(w) && !element_lines ? umap_buf_putc(w->out, ' ') : 0;
}

static int put_break(writer *w, size_t depth)
{
	if (!w->indent)
		return 0;
	int rc = umap_buf_putc(w->out, '\n');
	size_t pad = w->layout && w->layout->flat ? 0 : w->indent;
	for (size_t i = 0; !rc && i < depth * pad; i++)
		rc = umap_buf_putc(w->out, ' ');
	return rc;
}

/* Writes a value nested `depth` levels deep: the writer starts at column 0, so every line
 * break it made gets the indentation of the place the value goes (JSON strings hold no raw
 * newline, so every '\n' in the output is the writer's). */
static int put_value(writer *w, const json_t *v, size_t depth)
{
	if (w->layout) {
		umap_buf_clear(&w->tmp);
		int rc = umap_json_write(&w->tmp, v, w->flags & ~(unsigned)UMAP_JSON_INDENT(31));
		return rc ? rc : umap_json_relayout_at(w->out, w->tmp.ptr ? w->tmp.ptr : "", w->tmp.len,
						       w->layout, depth);
	}
	if (!w->indent || !depth)
		return umap_json_write(w->out, v, w->flags);
	umap_buf_clear(&w->tmp);
	int rc = umap_json_write(&w->tmp, v, w->flags);
	if (rc)
		return rc;
	const char *p = w->tmp.ptr ? w->tmp.ptr : "", *end = p + w->tmp.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if ((rc = umap_buf_put(w->out, p, n)))
			return rc;
		if (!nl)
			break;
		if ((rc = put_break(w, depth)))
			return rc;
		p = nl + 1;
		/* the writer's own indentation follows the newline: keep it */
	}
	return 0;
}

/* How many groups a layer is in. */
static size_t nesting(const umap_doc *doc, size_t layer)
{
	size_t n = 0;
	while (doc->layers[layer].parent != UMAP_LAYER_TOP && n <= doc->nlayers) {
		layer = doc->layers[layer].parent;
		n++;
	}
	return n;
}

/* A member's value: the bytes of the file the text replaces (w->like) when they still say
 * the same, else its source bytes when they do, else written anew. `layer` is the layer's
 * index, SIZE_MAX for a map member. */
static int put_member(writer *w, umap_doc *doc, size_t layer, const char *name,
		      const json_t *v, size_t depth)
{
	const span_list *spans;
	const member_span *sp;
	size_t like_layer = layer == SIZE_MAX || !w->like_layers ? layer : w->like_layers[layer];
	if (w->like && w->like->data && w->layout &&
	    (layer == SIZE_MAX || (like_layer != SIZE_MAX && like_layer < w->like->nlayers))) {
		spans = like_layer == SIZE_MAX ? &priv_of(w->like)->map_spans
					       : &priv_of(w->like)->layers[like_layer].spans;
		sp = span_find(spans, name);
		/* as they were where the value is as deep as it was; else laid out anew */
		if (sp && sp->hash == umap_json_hash(v))
			return layer == SIZE_MAX || nesting(doc, layer) == nesting(w->like, like_layer)
				       ? umap_buf_put(w->out, w->like->data + sp->offset, sp->length)
				       : umap_json_relayout_at(w->out, w->like->data + sp->offset,
							       sp->length, w->layout, depth);
	}
	spans = layer == SIZE_MAX ? &priv_of(doc)->map_spans : &priv_of(doc)->layers[layer].spans;
	sp = w->keep_bytes ? span_find(spans, name) : NULL;
	if (sp && sp->hash == umap_json_hash(v))
		/* a framed write's source is compact (a revision's copy): laid out, tokens kept */
		return w->put ? umap_json_relayout_at(w->out, doc->data + sp->offset, sp->length,
						      w->layout, depth)
			      : umap_buf_put(w->out, doc->data + sp->offset, sp->length);
	return put_value(w, v, depth);
}

/* Compact JSON with a space after each ':' and ',' outside strings: {"a": 1, "b": [1, 2]}. */
static int put_spaced(writer *w, const json_t *v)
{
	umap_buf_clear(&w->tmp);
	int rc = umap_json_write(&w->tmp, v, w->flags & ~(unsigned)UMAP_JSON_INDENT(31));
	int in_string = 0;
	for (size_t i = 0; !rc && i < w->tmp.len; i++) {
		char c = w->tmp.ptr[i];
		rc = umap_buf_putc(w->out, c);
		if (in_string) {
			if (c == '\\' && i + 1 < w->tmp.len)
				rc = rc ? rc : umap_buf_putc(w->out, w->tmp.ptr[++i]);
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if ((c == ':' || c == ',') && !rc) {
			rc = umap_buf_putc(w->out, ' ');
		}
	}
	return rc;
}

static int put_key(writer *w, const char *key, size_t depth, int *first)
{
	int rc = 0;
	if (!*first)
		rc = put_comma(w, 0);
	*first = 0;
	if (!rc)
		rc = put_break(w, depth);
	json_t *k = json_string(key);
	if (!k)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!rc)
		rc = umap_json_write(w->out, k, w->flags);
	json_decref(k);
	if (!rc)
		rc = umap_buf_puts(w->out, w->indent || spaced_of(w) ? ": " : ":");
	return rc;
}

/* A feature whose tree changed, in the layout: one line when the file has one feature a
 * line; its numbers spelled as they were where their value did not change. */
static int put_changed(writer *w, umap_doc *doc, umap_feature *f, size_t depth)
{
	doc_priv *priv = priv_of(doc);
	const struct edited_span *was = NULL;
	for (size_t l = 0; priv->nedited && l < doc->nlayers && !was; l++) {
		const umap_layer *layer = &doc->layers[l];
		if (f >= layer->features && f < layer->features + layer->nfeatures)
			was = edited_find(priv, l, (size_t)(f - layer->features));
	}
	umap_buf_clear(&w->tmp);
	int rc = umap_json_write(&w->tmp, f->value, w->flags & ~(unsigned)UMAP_JSON_INDENT(31));
	umap_buf respelled = UMAP_BUF_INIT;
	const umap_buf *text = &w->tmp;
	if (!rc && was && was->offset + was->length <= doc->size) {
		rc = umap_json_respell(&respelled, w->tmp.ptr, w->tmp.len, doc->data + was->offset,
				       was->length);
		text = &respelled;
	}
	umap_layout one_line = { 0, w->layout->spaced, 0, 0, w->layout->ascii, 0, 0, 0 };
	if (!rc)
		rc = umap_json_relayout_at(w->out, text->ptr ? text->ptr : "", text->len,
					   w->layout->lines ? &one_line : w->layout, depth);
	umap_buf_dispose(&respelled);
	return rc;
}

static int put_feature(writer *w, umap_doc *doc, umap_feature *f, size_t depth)
{
	if (w->keep_bytes && f->length)
		return umap_buf_put(w->out, doc->data + f->offset, f->length);
	if (w->layout && f->value)
		return put_changed(w, doc, f, depth);
	if (w->keep_bytes && priv_of(doc)->spaced)
		return put_spaced(w, f->value);
	if (w->keep_bytes)
		return umap_json_write(w->out, f->value, w->flags & ~(unsigned)UMAP_JSON_INDENT(31));
	if (f->value)
		return put_value(w, f->value, depth);
	json_t *tree;
	int rc = build_from_source(&tree, doc, f);
	if (rc)
		return rc;
	rc = put_value(w, tree, depth);
	json_decref(tree);
	return rc;
}

static int put_features(writer *w, umap_doc *doc, umap_layer *layer, size_t depth)
{
	size_t li = layer_index_of(doc, layer), n = w->counts ? w->counts[li] : layer->nfeatures;
	if (!n)
		return umap_buf_puts(w->out, "[]");
	int rc = umap_buf_putc(w->out, '['), lines = lines_of(w);
	for (size_t i = 0; !rc && i < n; i++) {
		if (i)
			rc = put_comma(w, lines);
		if (!rc)
			rc = lines ? umap_buf_putc(w->out, '\n') : put_break(w, depth + 1);
		if (!rc)
			rc = w->put ? w->put(w->put_data, w->out, li, i, depth + 1)
				    : put_feature(w, doc, &layer->features[i], depth + 1);
	}
	if (!rc)
		rc = lines ? umap_buf_putc(w->out, '\n') : put_break(w, depth);
	if (!rc)
		rc = umap_buf_putc(w->out, ']');
	return rc;
}

static int in_order(const json_t *order, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(order, i, v) {
		if (!strcmp(json_string_value(v), name))
			return 1;
	}
	return 0;
}

static int put_layers(writer *w, umap_doc *doc, size_t parent, size_t depth);

/* One layer member by name; *done says whether anything was written for it. */
static int put_layer_member(writer *w, umap_doc *doc, umap_layer *layer, const char *name,
			    size_t depth, int *first, int done[4])
{
	int rc = 0;
	if (!strcmp(name, "type") && !done[0]) {
		done[0] = 1;
		json_t *t = json_string("FeatureCollection");
		if (!t)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		rc = put_key(w, "type", depth + 1, first);
		if (!rc)
			rc = put_value(w, t, depth + 1);
		json_decref(t);
	} else if (!strcmp(name, "features") && !done[1]) {
		done[1] = 1;
		rc = put_key(w, "features", depth + 1, first);
		if (!rc)
			rc = put_features(w, doc, layer, depth + 1);
	} else if (!strcmp(name, "layers") && !done[3]) {
		/* a group layer's children, from doc->layers (the layer's own index is its
		 * children's parent); an empty group keeps its empty array */
		done[3] = 1;
		rc = put_key(w, "layers", depth + 1, first);
		if (!rc)
			rc = put_layers(w, doc, layer_index_of(doc, layer), depth + 1);
	} else if (layer->options && !strcmp(name, layer->options_key) && !done[2]) {
		done[2] = 1;
		rc = put_key(w, name, depth + 1, first);
		if (!rc)
			rc = put_member(w, doc, layer_index_of(doc, layer), name, layer->options,
					depth + 1);
	} else if (json_object_get(layer->members, name)) {
		rc = put_key(w, name, depth + 1, first);
		if (!rc)
			rc = put_member(w, doc, layer_index_of(doc, layer), name,
					json_object_get(layer->members, name),
					depth + 1);
	}
	return rc;
}

static int put_layer(writer *w, umap_doc *doc, size_t index, size_t depth)
{
	umap_layer *layer = &doc->layers[index];
	json_t *order = priv_of(doc)->layers[index].order;
	int first = 1, done[4] = { 0, 0, 0, 0 };
	int rc = umap_buf_putc(w->out, '{');
	size_t i;
	json_t *v;
	if (order) {
		json_array_foreach(order, i, v) {
			if ((rc = put_layer_member(w, doc, layer, json_string_value(v), depth, &first,
						   done)))
				return rc;
		}
	}
	/* what the source did not have (a new layer, or members added since) */
	if (!rc)
		rc = put_layer_member(w, doc, layer, "type", depth, &first, done);
	if (!rc && layer->options)
		rc = put_layer_member(w, doc, layer, layer->options_key, depth, &first, done);
	const char *key;
	json_object_foreach(layer->members, key, v) {
		if (rc)
			break;
		if (order && in_order(order, key))
			continue;
		if (!strcmp(key, "type") || !strcmp(key, "features") || !strcmp(key, "layers") ||
		    (layer->options && !strcmp(key, layer->options_key)))
			continue;
		rc = put_key(w, key, depth + 1, &first);
		if (!rc)
			rc = put_member(w, doc, index, key, v, depth + 1);
	}
	if (!rc)
		rc = put_layer_member(w, doc, layer, "features", depth, &first, done);
	if (!rc && !done[3] && has_children(doc, index))
		rc = put_layer_member(w, doc, layer, "layers", depth, &first, done);
	if (!rc)
		rc = put_break(w, depth);
	if (!rc)
		rc = umap_buf_putc(w->out, '}');
	return rc;
}

static int put_layers(writer *w, umap_doc *doc, size_t parent, size_t depth)
{
	int rc = umap_buf_putc(w->out, '['), lines = lines_of(w);
	size_t n = 0;
	/* from the start: a document built in memory (a merge) may list a child before its
	 * group; parents form no cycle (see umap_layer.parent) */
	for (size_t i = 0; !rc && i < doc->nlayers; i++) {
		if (doc->layers[i].parent != parent)
			continue;
		if (n++)
			rc = put_comma(w, lines);
		if (!rc)
			rc = lines ? umap_buf_putc(w->out, '\n') : put_break(w, depth + 1);
		if (!rc)
			rc = put_layer(w, doc, i, depth + 1);
	}
	if (!rc && n)
		rc = lines ? umap_buf_putc(w->out, '\n') : put_break(w, depth);
	if (!rc)
		rc = umap_buf_putc(w->out, ']');
	return rc;
}

static int put_map(writer *w, umap_doc *doc)
{
	size_t at = priv_of(doc)->layers_at, i = 0;
	int first = 1, rc = umap_buf_putc(w->out, '{');
	const char *key;
	json_t *v;
	json_object_foreach(doc->map, key, v) {
		if (rc)
			break;
		if (i++ == at) {
			rc = put_key(w, "layers", 1, &first);
			if (!rc)
				rc = put_layers(w, doc, UMAP_LAYER_TOP, 1);
		}
		if (!rc)
			rc = put_key(w, key, 1, &first);
		if (!rc)
			rc = put_member(w, doc, SIZE_MAX, key, v, 1);
	}
	if (!rc && i <= at) {
		rc = put_key(w, "layers", 1, &first);
		if (!rc)
			rc = put_layers(w, doc, UMAP_LAYER_TOP, 1);
	}
	if (!rc)
		rc = put_break(w, 0);
	if (!rc)
		rc = umap_buf_putc(w->out, '}');
	return rc;
}

static int write_doc(writer *w, umap_doc *doc)
{
	int rc;
	if (doc->kind == UMAP_DOC_MAP) {
		rc = put_map(w, doc);
	} else if (!doc->nlayers) {
		json_t *empty = json_pack("{s:s,s:[]}", "type", "FeatureCollection", "features");
		rc = empty ? umap_json_write(w->out, empty, w->flags)
			   : umap_error_set(UMAP_ENOMEM, "out of memory");
		json_decref(empty);
	} else if (priv_of(doc)->single_feature && doc->nlayers == 1 &&
		   doc->layers[0].nfeatures == 1 && !doc->layers[0].options &&
		   !json_object_size(doc->layers[0].members)) {
		rc = put_feature(w, doc, &doc->layers[0].features[0], 0);
	} else {
		/* several layers cannot be one FeatureCollection: the first is written */
		rc = put_layer(w, doc, 0, 0);
	}
	if (!rc && (w->layout ? w->layout->newline : w->indent != 0))
		rc = umap_buf_putc(w->out, '\n');
	return rc;
}

static int same_layout(const umap_layout *a, const umap_layout *b)
{
	return a->indent == b->indent && a->spaced == b->spaced && a->lines == b->lines &&
	       a->flat == b->flat;
}

int umap_doc_bytes_in_layout(const umap_doc *doc)
{
	return doc->data && same_layout(&doc->layout, &((const doc_priv *)doc->priv)->read_layout);
}

int umap_doc_write(umap_buf *out, umap_doc *doc, unsigned flags)
{
	if ((flags & UMAP_DOC_AS_READ) && doc->layout.seq) {
		/* a stream: the FeatureCollection, one feature a line with the bytes kept, then
		 * each feature a record */
		umap_layout records = doc->layout, one_per_line = doc->layout;
		one_per_line.seq = 0;
		doc->layout = one_per_line;
		umap_buf fc = UMAP_BUF_INIT;
		int rc = umap_doc_write(&fc, doc, flags);
		doc->layout = records;
		if (!rc)
			rc = umap_json_relayout(out, fc.ptr ? fc.ptr : "", fc.len, &records);
		umap_buf_dispose(&fc);
		return rc;
	}
	if ((flags & UMAP_DOC_AS_READ) && umap_doc_bytes_in_layout(doc)) {
		/* the source's own layout: its bytes where nothing changed (an edit touches only
		 * the lines it changed), the layout for the rest */
		writer w = { out, (flags & UMAP_JSON_ASCII) | (doc->layout.ascii ? UMAP_JSON_ASCII : 0u),
			     doc->layout.indent, 1, UMAP_BUF_INIT,
			     &doc->layout, NULL, NULL, NULL, NULL, NULL };
		int rc = write_doc(&w, doc);
		umap_buf_dispose(&w.tmp);
		return rc;
	}
	if (flags & UMAP_DOC_AS_READ) {
		/* a revision's copy (features compact, one a line): compact with the kept bytes
		 * first, then the layout over it, one pass each */
		umap_buf compact = UMAP_BUF_INIT;
		int rc = umap_doc_write(&compact, doc, UMAP_JSON_COMPACT | UMAP_DOC_KEEP_BYTES |
							(flags & UMAP_JSON_ASCII));
		if (!rc)
			rc = umap_json_relayout(out, compact.ptr ? compact.ptr : "", compact.len,
						&doc->layout);
		umap_buf_dispose(&compact);
		return rc;
	}
	writer w = { out, flags & ~UMAP_DOC_KEEP_BYTES, UMAP_JSON_INDENT(flags),
		     (flags & UMAP_DOC_KEEP_BYTES) != 0, UMAP_BUF_INIT, NULL, NULL, NULL, NULL, NULL,
		     NULL };
	int rc = write_doc(&w, doc);
	umap_buf_dispose(&w.tmp);
	return rc;
}

int umap_doc_write_framed(umap_buf *out, umap_doc *doc, const umap_layout *layout,
			  const size_t *counts, umap_doc_feature_fn put, void *put_data,
			  umap_doc *like, const size_t *like_layers)
{
	writer w = { out, layout->ascii ? UMAP_JSON_ASCII : 0u, layout->indent, doc->data != NULL,
		     UMAP_BUF_INIT, layout, counts, put, put_data, like, like_layers };
	int rc = write_doc(&w, doc);
	umap_buf_dispose(&w.tmp);
	return rc;
}

int umap_doc_save(umap_doc *doc, const char *path, unsigned flags)
{
	umap_buf buf = UMAP_BUF_INIT;
	int rc = umap_doc_write(&buf, doc, flags);
	if (!rc)
		rc = umap_file_write_atomic(path, buf.ptr ? buf.ptr : "", buf.len);
	umap_buf_dispose(&buf);
	return rc;
}

int umap_doc_save_source(umap_doc *doc, const char *path)
{
	if (doc->layout.seq) /* its source is the FeatureCollection the records make */
		return umap_doc_save(doc, path, UMAP_DOC_AS_READ);
	return umap_file_write_atomic(path, doc->data ? doc->data : "", doc->size);
}

umap_pos umap_doc_pos_at(const umap_doc *doc, size_t offset)
{
	umap_pos pos = { ((const doc_priv *)doc->priv)->json.header_line ? 0 : 1,
			 (uint32_t)offset + 1, offset };
	for (const char *p = doc->data, *end = doc->data + offset;
	     (p = memchr(p, '\n', (size_t)(end - p))); p++) {
		pos.line++;
		pos.col = (uint32_t)(end - p);
	}
	return pos;
}

void umap_doc_drop_behind(umap_doc *doc, size_t offset)
{
	doc_priv *priv = priv_of(doc);
	if (!priv->map_base || offset > priv->map_len || offset < priv->dropped + DROP_STEP)
		return;
	size_t upto = offset & ~(priv->page - 1);
	/* clean file-backed pages: the kernel reads them again if they are touched later */
	madvise((char *)priv->map_base + priv->dropped, upto - priv->dropped, MADV_DONTNEED);
	priv->dropped = upto;
}
