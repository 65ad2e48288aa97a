/* The three-way merge of documents: layers by id, features by id, keys one by one, and the
 * writer that keeps OURS' text wherever the merge kept OURS' features.
 *
 * Features whose bytes hash the same in two versions are equal without being parsed, so a
 * merge of two small edits to a big layer parses only the features that changed. */
#include "merge.h"
#include "error.h"
#include "fs.h"
#include "handoff.h"
#include "idless.h"
#include "json_copy.h"
#include "strmap.h"
#include "strutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIDE_MERGED 3 /* a feature built by the merge (merged_feature.tree) */
#define NSIDES 3

typedef struct merged_feature {
	int side;     /* UMAP_MERGE_OURS/THEIRS/BASE: copy that version's feature; SIDE_MERGED */
	uint32_t theirs_at; /* SIDE_MERGED: 1 + the feature's index in THEIRS, 0 if it has none */
	size_t index; /* in that version's layer; SIDE_MERGED: in OURS (SIZE_MAX: none), whose
		       * spellings of unchanged numbers the merged tree is written with */
	json_t *tree; /* owned, for SIDE_MERGED */
	const char *key; /* its merge key (borrowed from a side index: valid while merging) */
} merged_feature;

/* The features of one layer in one version as the merge sees them: the document's own
 * (umap_merge), or compact records kept while the file was streamed (umap_merge_files):
 * 24 bytes a feature, the ids in one block, a tree only for a feature whose content must
 * be compared or rewritten. */
typedef struct frec {
	uint64_t hash;   /* xxh3 of the feature's bytes */
	uint32_t offset; /* documents are at most 4 GiB (UMAP_JSON_DEFAULT_MAX_SIZE) */
	uint32_t length; /* and FREC_MULTILINE */
	uint32_t id;     /* where its id text (NUL-terminated) is in flist.ids */
	uint32_t id_hash;
} frec;

#define FREC_MULTILINE 0x80000000u /* its bytes hold a newline */
#define FREC_LENGTH 0x7fffffffu

typedef struct flist {
	umap_doc *doc;
	umap_layer *layer;
	int streamed;    /* else the features are layer->features */
	frec *recs;
	size_t n, cap;
	umap_buf ids;
	uint64_t *index; /* id_hash << 32 | record index, sorted: built once the list is read
			  * (a sort touches memory in order; a hash table filled as features come
			  * would miss the cache on every one) */
	json_t **trees;  /* n trees, allocated on first use */
} flist;

typedef struct merged_layer {
	umap_layer *src[NSIDES]; /* the layer in each version, NULL where it has none */
	flist *fl[NSIDES];       /* its features, NULL where it has none */
	int skeleton;            /* the version whose id and options key the output uses */
	long parent;             /* group layers: the index in the result of its group, or -1 */
	json_t *options;         /* merged options (owned reference; may be NULL) */
	json_t *members;         /* merged other members (owned reference; may be NULL) */
	merged_feature *features;
	size_t nfeatures, cap;
} merged_layer;

struct umap_merge_result {
	umap_doc *docs[NSIDES];
	flist *lists[NSIDES]; /* one per layer of each version (owned) */
	size_t nlists[NSIDES];
	umap_merge_options opts;
	json_t *map; /* merged map members (maps only; owned) */
	merged_layer *layers;
	size_t nlayers;
	umap_conflict *conflicts;
	size_t nconflicts, conflicts_cap;
	umap_merge_stats stats;
};

/* Where a conflict is: the layer and the feature, for the report. */
typedef struct place {
	json_t *layer; /* borrowed */
	json_t *id;    /* borrowed */
	long base_place; /* 1 + the place in BASE's layer of a feature without id; else 0 */
} place;

static void *grow_array(void *items, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return items;
	size_t ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	void *p = realloc(items, ncap * size);
	if (!p)
		return NULL;
	*cap = ncap;
	return p;
}

const char *umap_conflict_kind_name(umap_conflict_kind kind)
{
	switch (kind) {
	case UMAP_CONFLICT_MODIFY_MODIFY: return "modify/modify";
	case UMAP_CONFLICT_MODIFY_DELETE: return "modify/delete";
	case UMAP_CONFLICT_DELETE_MODIFY: return "delete/modify";
	case UMAP_CONFLICT_ADD_ADD: return "add/add";
	}
	return "unknown";
}

static json_t *ref(const json_t *value)
{
	return value ? json_incref((json_t *)value) : NULL;
}

static int add_conflict(umap_merge_result *r, const place *where, const char *key,
			umap_conflict_kind kind, const json_t *base, const json_t *ours,
			const json_t *theirs)
{
	umap_conflict *c = grow_array(r->conflicts, &r->conflicts_cap, r->nconflicts + 1,
				      sizeof(*c));
	if (!c)
		return umap_error_set(UMAP_ENOMEM, "out of memory (conflict list)");
	r->conflicts = c;
	char *key_copy = NULL;
	if (key && !(key_copy = strdup(key)))
		return umap_error_set(UMAP_ENOMEM, "out of memory (conflict key)");
	c[r->nconflicts++] = (umap_conflict){
		ref(where->layer), ref(where->id), key_copy, kind, ref(base), ref(ours), ref(theirs),
		where->base_place - 1,
	};
	return 0;
}

/* Equality where either value may be absent (NULL). */
static int same(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return a == b || umap_json_equal(a, b);
}

/* ---- Values ------------------------------------------------------------------------ */

/* Both sides' members; where both have one, ours' value (for "properties" when `deep`,
 * the union of both objects one level down). */
static int union_object(json_t **out, const json_t *ours, const json_t *theirs, int deep)
{
	json_t *res = umap_json_copy(ours, 0);
	if (!res)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	const char *key;
	size_t key_len;
	json_t *value;
	/* by length: a member name may hold a NUL */
	json_object_keylen_foreach((json_t *)theirs, key, key_len, value) {
		json_t *mine = json_object_getn(ours, key, key_len);
		int rc = 0;
		if (!mine) {
			rc = json_object_setn(res, key, key_len, value);
		} else if (deep && key_len == 10 && !strcmp(key, "properties") && json_is_object(mine) &&
			   json_is_object(value)) {
			json_t *merged;
			if (union_object(&merged, mine, value, 0))
				rc = -1;
			else
				rc = json_object_setn_new(res, key, key_len, merged);
		}
		if (rc) {
			json_decref(res);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
	}
	*out = res;
	return 0;
}

/* What --union keeps of a conflicted value: the one present over an absent one, the
 * elements of both arrays, the members of both objects (ours where both have one). */
static int union_value(json_t **out, const json_t *ours, const json_t *theirs)
{
	if (!ours || !theirs || same(ours, theirs)) {
		*out = ref(ours ? ours : theirs);
		return 0;
	}
	if (json_is_object(ours) && json_is_object(theirs))
		return union_object(out, ours, theirs, 0);
	if (json_is_array(ours) && json_is_array(theirs)) {
		json_t *res = umap_json_copy(ours, 0);
		if (!res)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		size_t i, j;
		json_t *value, *mine;
		json_array_foreach(theirs, i, value) {
			int found = 0;
			json_array_foreach(ours, j, mine) {
				if (umap_json_equal(mine, value)) {
					found = 1;
					break;
				}
			}
			if (!found && json_array_append(res, value)) {
				json_decref(res);
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			}
		}
		*out = res;
		return 0;
	}
	*out = ref(ours);
	return 0;
}

/* Three-way merge of one value as a unit. *out gets a new reference, or NULL for "absent". */
static int merge_unit(umap_merge_result *r, json_t **out, const place *where, const char *key,
		      const json_t *base, const json_t *ours, const json_t *theirs)
{
	*out = NULL;
	if (same(ours, theirs) || same(base, theirs)) {
		*out = ref(ours);
		return 0;
	}
	if (same(base, ours)) {
		*out = ref(theirs);
		return 0;
	}
	umap_conflict_kind kind = ours && theirs ? UMAP_CONFLICT_MODIFY_MODIFY
				  : ours ? UMAP_CONFLICT_MODIFY_DELETE
					 : UMAP_CONFLICT_DELETE_MODIFY;
	if (add_conflict(r, where, key, kind, base, ours, theirs))
		return UMAP_ENOMEM;
	switch (r->opts.favor) {
	case UMAP_MERGE_FAVOR_THEIRS:
		*out = ref(theirs);
		return 0;
	case UMAP_MERGE_FAVOR_UNION:
		return union_value(out, ours, theirs);
	default:
		*out = ref(ours);
		return 0;
	}
}

/* Three-way merge of an object member by member, in ours' key order then theirs' new keys,
 * each member a unit reported as PREFIX+NAME. With `split_properties`, a "properties" object
 * is itself merged per key. Any of the three may be NULL (absent); a base that is not an
 * object counts as empty. Where one side deleted the whole object or made it something else,
 * the object is one unit reported as `unit_key`. *out is NULL when the result is absent. */
static int merge_members(umap_merge_result *r, json_t **out, const place *where,
			 const char *unit_key, const char *prefix, const json_t *base,
			 const json_t *ours, const json_t *theirs, int split_properties)
{
	*out = NULL;
	if (same(ours, theirs) || same(base, theirs)) {
		*out = ref(ours);
		return 0;
	}
	if (same(base, ours)) {
		*out = ref(theirs);
		return 0;
	}
	if (!json_is_object(ours) || !json_is_object(theirs))
		return merge_unit(r, out, where, unit_key, base, ours, theirs);
	if (!json_is_object(base))
		base = NULL;
	json_t *res = json_object();
	if (!res)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	umap_buf name = UMAP_BUF_INIT;
	const json_t *sides[2] = { ours, theirs };
	int rc = 0;
	for (int s = 0; s < 2 && !rc; s++) {
		const char *key;
		size_t key_len;
		json_t *value;
		/* by length: a member name may hold a NUL */
		json_object_keylen_foreach((json_t *)sides[s], key, key_len, value) {
			(void)value;
			if (s == 1 && json_object_getn(ours, key, key_len))
				continue;
			const json_t *b = base ? json_object_getn(base, key, key_len) : NULL;
			const json_t *o = json_object_getn(ours, key, key_len);
			const json_t *t = json_object_getn(theirs, key, key_len);
			umap_buf_clear(&name);
			if ((rc = umap_buf_printf(&name, "%s%s", prefix, key)))
				break;
			json_t *merged = NULL;
			if (split_properties && key_len == 10 && !strcmp(key, "properties"))
				rc = merge_members(r, &merged, where, "properties", "properties.", b, o, t, 0);
			else
				rc = merge_unit(r, &merged, where, name.ptr, b, o, t);
			if (rc)
				break;
			if (merged && json_object_setn_new(res, key, key_len, merged)) {
				rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				break;
			}
		}
	}
	umap_buf_dispose(&name);
	if (rc) {
		json_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

/* ---- Feature lists ------------------------------------------------------------------ */

static size_t fl_count(const flist *l)
{
	return l->streamed ? l->n : l->layer->nfeatures;
}

static uint64_t fl_hash(const flist *l, size_t i)
{
	return l->streamed ? l->recs[i].hash : l->layer->features[i].hash;
}

static size_t fl_offset(const flist *l, size_t i)
{
	return l->streamed ? l->recs[i].offset : l->layer->features[i].offset;
}

/* 0 for a feature without source bytes (built in memory) */
static size_t fl_length(const flist *l, size_t i)
{
	return l->streamed ? l->recs[i].length & FREC_LENGTH : l->layer->features[i].length;
}

static const char *fl_id(const flist *l, size_t i)
{
	return l->streamed ? l->ids.ptr + l->recs[i].id : l->layer->features[i].id;
}

static long fl_find(const flist *l, const char *id)
{
	if (!l->streamed)
		return umap_layer_find(l->doc, l->layer, id);
	uint64_t h = umap_id_hash(id, strlen(id));
	size_t lo = 0, hi = l->index ? l->n : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->index[mid] >> 32 < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < l->n && l->index[lo] >> 32 == h; lo++) {
		uint32_t at = (uint32_t)l->index[lo];
		if (!strcmp(l->ids.ptr + l->recs[at].id, id))
			return (long)at;
	}
	return -1;
}

/* The feature's tree (borrowed: the list or the document keeps it). */
static int fl_tree(json_t **out, flist *l, size_t i)
{
	if (!l->streamed)
		return umap_doc_feature(out, l->doc, l->layer, i);
	if (!l->trees && !(l->trees = calloc(l->n + 1, sizeof(*l->trees))))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!l->trees[i]) {
		int rc = umap_doc_build_span(&l->trees[i], l->doc, l->recs[i].offset, fl_length(l, i));
		if (rc) {
			umap_pos pos = umap_doc_pos_at(l->doc, l->recs[i].offset);
			return umap_error_prefix(rc, "feature at %s:%u:%u: ", l->doc->source_name,
						 pos.line, pos.col);
		}
	}
	*out = l->trees[i];
	return 0;
}

/* Drops a streamed feature's tree once the merge is done with it: a big merge holds the
 * trees of the features it is looking at, not of all those it compared. */
static void fl_release(flist *l, size_t i)
{
	if (l && l->streamed && l->trees) {
		json_decref(l->trees[i]);
		l->trees[i] = NULL;
	}
}

static void fl_dispose(flist *l)
{
	for (size_t i = 0; l->trees && i < l->n; i++)
		json_decref(l->trees[i]);
	free(l->trees);
	free(l->recs);
	free(l->index);
	umap_buf_dispose(&l->ids);
}

static void lists_free(flist *lists, size_t n)
{
	for (size_t i = 0; lists && i < n; i++)
		fl_dispose(&lists[i]);
	free(lists);
}

/* ---- Features ---------------------------------------------------------------------- */

/* One layer in one version: its features' merge keys (ids, or content for features
 * without one) and an index from key to position. */
typedef struct side_index {
	umap_layer *layer; /* NULL where this version has no such layer */
	flist *fl;
	const char **keys;
	char **owned_keys;   /* the content keys we built ("\x01HASH#N") */
	char **content_keys; /* their hash part, for counting identical features */
	size_t n;
	umap_strmap map;
} side_index;

static void side_index_dispose(side_index *s)
{
	for (size_t i = 0; s->owned_keys && i < s->n; i++)
		free(s->owned_keys[i]);
	for (size_t i = 0; s->content_keys && i < s->n; i++)
		free(s->content_keys[i]);
	free(s->owned_keys);
	free(s->content_keys);
	free(s->keys);
	umap_strmap_dispose(&s->map);
}

/* BASE's features (side 0) and OURS' or THEIRS' (side 1), for lib/idless. */
typedef struct idless_sides {
	flist *fl[2];
} idless_sides;

static int idless_has_id(void *data, int side, size_t i)
{
	idless_sides *f = data;
	return fl_id(f->fl[side], i) != NULL;
}

static uint64_t idless_raw(void *data, int side, size_t i)
{
	idless_sides *f = data;
	return fl_hash(f->fl[side], i);
}

static int idless_describe(void *data, int side, size_t i, umap_idless_traits *out)
{
	idless_sides *f = data;
	json_t *tree;
	int rc = fl_tree(&tree, f->fl[side], i);
	if (!rc)
		umap_idless_traits_of(out, tree);
	return rc;
}

/* Aligns the id-less features of `s` with those of `base` (SPEC §2): paired[i] gets the
 * place in base of s' feature i, SIZE_MAX where it has none (added, or with an id). */
static int align_with_base(size_t *paired, const side_index *s, const side_index *base)
{
	idless_sides f = { { base->fl, s->fl } };
	umap_idless_source src = { { base->n, s->n }, idless_raw, idless_describe, &f,
				   idless_has_id };
	long *base_partner = malloc((base->n + 1) * sizeof(long));
	long *partner = malloc((s->n + 1) * sizeof(long));
	int rc = base_partner && partner ? umap_idless_align(base_partner, partner, &src)
		 : umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < s->n; i++)
		paired[i] = partner[i] >= 0 ? (size_t)partner[i] : SIZE_MAX;
	free(base_partner);
	free(partner);
	return rc;
}

/* Keys of features without id: in BASE, its place ("\x01B<place>"); in OURS and THEIRS,
 * the key of the base feature it is aligned with, or for a new one its content
 * ("\x01HASH#N", the Nth new one of that content): both sides adding the same feature add
 * one. `base` is NULL when building BASE's index. */
static int side_index_build(side_index *s, umap_layer *layer, flist *fl, const side_index *base)
{
	memset(s, 0, sizeof(*s));
	s->layer = layer;
	s->fl = fl;
	if (!layer)
		return 0;
	s->n = fl_count(fl);
	s->keys = calloc(s->n + 1, sizeof(*s->keys));
	s->owned_keys = calloc(s->n + 1, sizeof(*s->owned_keys));
	s->content_keys = calloc(s->n + 1, sizeof(*s->content_keys));
	size_t *paired = NULL;
	if (!s->keys || !s->owned_keys || !s->content_keys)
		return umap_error_set(UMAP_ENOMEM, "out of memory (index of %zu features)", s->n);
	int rc = 0;
	if (base && base->layer) {
		if (!(paired = malloc((s->n + 1) * sizeof(*paired))))
			return umap_error_set(UMAP_ENOMEM, "out of memory (index of %zu features)", s->n);
		if ((rc = align_with_base(paired, s, base))) {
			free(paired);
			return rc;
		}
	}
	umap_strmap seen = UMAP_STRMAP_INIT; /* content key -> occurrences so far */
	for (size_t i = 0; i < s->n && !rc; i++) {
		const char *id = fl_id(fl, i);
		if (id) {
			s->keys[i] = id;
		} else if (!base) {
			if (!(s->owned_keys[i] = malloc(32))) {
				rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				break;
			}
			snprintf(s->owned_keys[i], 32, "\x01" "B%zu", i);
			s->keys[i] = s->owned_keys[i];
		} else if (paired && paired[i] != SIZE_MAX) {
			s->keys[i] = base->keys[paired[i]];
		} else {
			json_t *tree;
			if ((rc = fl_tree(&tree, fl, i)))
				break;
			char key[24];
			snprintf(key, sizeof(key), "\x01%016" PRIx64, umap_json_hash(tree));
			size_t count = 0;
			umap_strmap_get(&seen, key, &count);
			if (!(s->owned_keys[i] = malloc(64))) {
				rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				break;
			}
			snprintf(s->owned_keys[i], 64, "%s#%zu", key, count);
			s->keys[i] = s->owned_keys[i];
			if (!count && !(s->content_keys[i] = strdup(key))) {
				rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				break;
			}
			/* the map borrows its keys: a new one is the copy, a known one stays */
			if ((rc = umap_strmap_put(&seen, count ? key : s->content_keys[i], count + 1, NULL)))
				break;
		}
		/* ids are found through the list's own index (fl_find) */
		if (!id && (rc = umap_strmap_put(&s->map, s->keys[i], i, NULL)))
			break;
	}
	umap_strmap_dispose(&seen);
	free(paired);
	return rc;
}

static int side_find(const side_index *s, const char *key, size_t *at)
{
	if (!s->layer)
		return 0;
	if (key[0] == '\x01')
		return umap_strmap_get(&s->map, key, at);
	long found = fl_find(s->fl, key);
	if (found >= 0 && at)
		*at = (size_t)found;
	return found >= 0;
}

static int same_key(const char *a, const char *b)
{
	return a == b || !strcmp(a, b);
}

/* Where `key` is in `s`, trying position `guess` first (versions that only edited features
 * keep every feature at the same index). -1 when absent. */
static long locate(const side_index *s, const char *key, size_t guess)
{
	size_t at;
	if (guess < s->n && same_key(s->keys[guess], key))
		return (long)guess;
	return side_find(s, key, &at) ? (long)at : -1;
}

static int tree_of(json_t **out, const side_index *s, size_t i)
{
	return fl_tree(out, s->fl, i);
}

/* Are feature a of version x and feature b of version y equal? Equal source hashes say yes
 * without parsing; otherwise the trees are compared semantically. */
static int features_equal(int *equal, const side_index *x, size_t a, const side_index *y,
			  size_t b)
{
	if (fl_hash(x->fl, a) == fl_hash(y->fl, b)) {
		*equal = 1;
		return 0;
	}
	json_t *ta, *tb;
	int rc = tree_of(&ta, x, a);
	if (!rc)
		rc = tree_of(&tb, y, b);
	if (rc)
		return rc;
	*equal = umap_json_equal(ta, tb);
	return 0;
}

static int push_feature(merged_layer *ml, int side, size_t index, json_t *tree, const char *key,
			uint32_t theirs_at)
{
	merged_feature *f = grow_array(ml->features, &ml->cap, ml->nfeatures + 1, sizeof(*f));
	if (!f) {
		json_decref(tree);
		return umap_error_set(UMAP_ENOMEM, "out of memory (merged layer)");
	}
	ml->features = f;
	f[ml->nfeatures++] = (merged_feature){ side, theirs_at, index, tree, key };
	return 0;
}

/* What the merge of one feature key keeps. */
typedef struct feature_outcome {
	int side;     /* -1: deleted */
	size_t index;
	json_t *tree; /* SIDE_MERGED */
	uint32_t theirs_at; /* SIDE_MERGED: as merged_feature's */
	const char *key;
	int placed;   /* moved into the merged layer */
} feature_outcome;

/* idx[side] is where the feature is in each version, -1 where it is not. */
static int merge_feature(umap_merge_result *r, feature_outcome *res, const place *layer_place,
			 const side_index *sb, const side_index *so, const side_index *st,
			 const char *key, const long idx[3])
{
	int hb = idx[0] >= 0, ho = idx[1] >= 0, ht = idx[2] >= 0;
	size_t ib = hb ? (size_t)idx[0] : 0, io = ho ? (size_t)idx[1] : 0, it = ht ? (size_t)idx[2] : 0;
	int rc = 0, eq;
	res->side = -1;
	res->tree = NULL;
	res->theirs_at = 0;
	json_t *id = NULL;
	json_t *tb = NULL, *to = NULL, *tt = NULL;
	place where = *layer_place;
#define EQ(x, a, y, b) ((rc = features_equal(&eq, (x), (a), (y), (b))) ? -1 : eq)
#define KEEP(s, i) (res->side = (s), res->index = (i))
	if (hb && ho && ht) {
		int bo = EQ(sb, ib, so, io);
		int bt = bo < 0 ? -1 : EQ(sb, ib, st, it);
		if (bo < 0 || bt < 0)
			return rc;
		if (bo && bt) {
			KEEP(UMAP_MERGE_OURS, io);
			return 0;
		}
		if (bo) {
			r->stats.from_theirs++;
			KEEP(UMAP_MERGE_THEIRS, it);
			return 0;
		}
		int ot = bt ? 1 : EQ(so, io, st, it);
		if (ot < 0)
			return rc;
		if (ot) { /* only ours changed it, or both the same way */
			r->stats.from_ours++;
			KEEP(UMAP_MERGE_OURS, io);
			return 0;
		}
		r->stats.combined++;
	}
	/* Whatever is left needs the trees. */
	if ((hb && (rc = tree_of(&tb, sb, ib))) || (ho && (rc = tree_of(&to, so, io))) ||
	    (ht && (rc = tree_of(&tt, st, it))))
		return rc;
	const char *id_text = key[0] == '\x01' ? NULL : key;
	if (id_text && (rc = umap_json_loadb(&id, id_text, strlen(id_text), "feature id")))
		return rc;
	where.id = id ? id : json_null();
	if (!id_text && hb)
		where.base_place = (long)ib + 1;
	if (hb && ho && ht) {
		json_t *merged = NULL;
		rc = merge_members(r, &merged, &where, NULL, "", tb, to, tt, 1);
		if (!rc && same(merged, to)) { /* conflicts settled for ours: keep its text */
			json_decref(merged);
			KEEP(UMAP_MERGE_OURS, io);
		} else if (!rc && same(merged, tt)) {
			json_decref(merged);
			KEEP(UMAP_MERGE_THEIRS, it);
		} else if (!rc) {
			res->side = SIDE_MERGED;
			res->tree = merged;
			res->index = io;
			res->theirs_at = (uint32_t)it + 1;
		}
	} else if (hb && ho) { /* theirs deleted it */
		int bo = EQ(sb, ib, so, io);
		if (bo < 0)
			goto done;
		if (bo) {
			r->stats.removed++;
		} else {
			if ((rc = add_conflict(r, &where, NULL, UMAP_CONFLICT_MODIFY_DELETE, tb, to, NULL)))
				goto done;
			if (r->opts.favor != UMAP_MERGE_FAVOR_THEIRS)
				KEEP(UMAP_MERGE_OURS, io);
		}
	} else if (hb && ht) { /* ours deleted it */
		int bt = EQ(sb, ib, st, it);
		if (bt < 0)
			goto done;
		if (bt) {
			r->stats.removed++;
		} else {
			if ((rc = add_conflict(r, &where, NULL, UMAP_CONFLICT_DELETE_MODIFY, tb, NULL, tt)))
				goto done;
			if (r->opts.favor != UMAP_MERGE_FAVOR_OURS)
				KEEP(UMAP_MERGE_THEIRS, it);
		}
	} else if (ho && ht) { /* added on both sides */
		int ot = EQ(so, io, st, it);
		if (ot < 0)
			goto done;
		r->stats.added++;
		if (ot) {
			KEEP(UMAP_MERGE_OURS, io);
		} else {
			if ((rc = add_conflict(r, &where, NULL, UMAP_CONFLICT_ADD_ADD, NULL, to, tt)))
				goto done;
			if (r->opts.favor == UMAP_MERGE_FAVOR_THEIRS) {
				KEEP(UMAP_MERGE_THEIRS, it);
			} else if (r->opts.favor == UMAP_MERGE_FAVOR_UNION) {
				json_t *merged = NULL;
				if ((rc = union_object(&merged, to, tt, 1)))
					goto done;
				res->side = SIDE_MERGED;
				res->tree = merged;
				res->index = io;
				res->theirs_at = (uint32_t)it + 1;
			} else {
				KEEP(UMAP_MERGE_OURS, io);
			}
		}
	} else if (ho) {
		r->stats.added++;
		KEEP(UMAP_MERGE_OURS, io);
	} else if (ht) {
		r->stats.added++;
		KEEP(UMAP_MERGE_THEIRS, it);
	} else {
		r->stats.removed++; /* deleted on both sides */
	}
done:
	json_decref(id);
	return rc;
#undef EQ
#undef KEEP
}

/* Moves an outcome into the merged layer at position `at`. */
static int place_outcome(merged_layer *ml, feature_outcome *o, size_t at)
{
	json_t *tree = o->tree;
	o->tree = NULL;
	o->placed = 1;
	int rc = push_feature(ml, o->side, o->index, tree, o->key, o->theirs_at);
	if (rc || at >= ml->nfeatures - 1)
		return rc;
	merged_feature moved = ml->features[ml->nfeatures - 1];
	memmove(&ml->features[at + 1], &ml->features[at],
		(ml->nfeatures - 1 - at) * sizeof(*ml->features));
	ml->features[at] = moved;
	return 0;
}

/* ---- Layers ------------------------------------------------------------------------ */

/* The layer as the conflict report names it: its id, else its position (ours' first). */
static json_t *layer_place_value(umap_layer *const src[NSIDES], umap_doc *const docs[NSIDES])
{
	static const int order[NSIDES] = { UMAP_MERGE_OURS, UMAP_MERGE_THEIRS, UMAP_MERGE_BASE };
	for (int i = 0; i < NSIDES; i++)
		if (src[order[i]] && src[order[i]]->id)
			return json_string(src[order[i]]->id);
	for (int i = 0; i < NSIDES; i++)
		if (src[order[i]])
			return json_integer((json_int_t)(src[order[i]] - docs[order[i]]->layers));
	return json_null();
}

/* Is this layer in version x the same as in version y (options, members and features)? */
static int layers_equal(int *equal, const side_index *x, const side_index *y)
{
	*equal = 0;
	if (!same(x->layer->options, y->layer->options) || !same(x->layer->members, y->layer->members) ||
	    x->n != y->n)
		return 0;
	for (size_t i = 0; i < x->n; i++) {
		size_t j;
		int eq;
		if (!side_find(y, x->keys[i], &j) || j != i)
			return 0;
		int rc = features_equal(&eq, x, i, y, j);
		if (rc)
			return rc;
		if (!eq)
			return 0;
	}
	*equal = 1;
	return 0;
}

static int merge_layer(umap_merge_result *r, merged_layer *ml)
{
	side_index s[NSIDES];
	memset(s, 0, sizeof(s));
	umap_merge_slot *slots = NULL;
	size_t nslots = 0;
	feature_outcome *outcomes = NULL;
	size_t *out_of[NSIDES] = { NULL, NULL, NULL }; /* each version's features -> outcome */
	size_t nout = 0, *maps = NULL;
	int rc = 0;
	place where = { layer_place_value(ml->src, r->docs), json_null(), 0 };
	if (!where.layer)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	for (int i = 0; i < NSIDES && !rc; i++)
		rc = side_index_build(&s[i], ml->src[i], ml->fl[i], i == UMAP_MERGE_BASE ? NULL : &s[0]);
	if (rc)
		goto done;

	/* A layer deleted on one side: deleted, unless the other side changed it. */
	int deleted_by = -1;
	if (ml->src[UMAP_MERGE_BASE] && (!ml->src[UMAP_MERGE_OURS] || !ml->src[UMAP_MERGE_THEIRS])) {
		int kept_side = ml->src[UMAP_MERGE_OURS] ? UMAP_MERGE_OURS
				: ml->src[UMAP_MERGE_THEIRS] ? UMAP_MERGE_THEIRS : -1;
		int eq = 1;
		if (kept_side >= 0 && (rc = layers_equal(&eq, &s[UMAP_MERGE_BASE], &s[kept_side])))
			goto done;
		if (eq) {
			ml->skeleton = -1; /* gone */
			goto done;
		}
		deleted_by = kept_side == UMAP_MERGE_OURS ? UMAP_MERGE_THEIRS : UMAP_MERGE_OURS;
		if ((rc = add_conflict(r, &where, NULL,
				       deleted_by == UMAP_MERGE_THEIRS ? UMAP_CONFLICT_MODIFY_DELETE
								       : UMAP_CONFLICT_DELETE_MODIFY,
				       ml->src[UMAP_MERGE_BASE]->options,
				       ml->src[UMAP_MERGE_OURS] ? ml->src[UMAP_MERGE_OURS]->options : NULL,
				       ml->src[UMAP_MERGE_THEIRS] ? ml->src[UMAP_MERGE_THEIRS]->options : NULL)))
			goto done;
		int keep = r->opts.favor == UMAP_MERGE_FAVOR_UNION ||
			   (r->opts.favor == UMAP_MERGE_FAVOR_OURS) == (kept_side == UMAP_MERGE_OURS);
		if (!keep) {
			ml->skeleton = -1;
			goto done;
		}
		/* Kept as the side that has it, whole. */
		ml->skeleton = kept_side;
		ml->options = ref(ml->src[kept_side]->options);
		ml->members = ref(ml->src[kept_side]->members);
		for (size_t i = 0; i < s[kept_side].n && !rc; i++)
			rc = push_feature(ml, kept_side, i, NULL, NULL, 0);
		goto done;
	}

	ml->skeleton = ml->src[UMAP_MERGE_OURS] ? UMAP_MERGE_OURS : UMAP_MERGE_THEIRS;
	const json_t *opt[NSIDES], *mem[NSIDES];
	for (int i = 0; i < NSIDES; i++) {
		opt[i] = ml->src[i] ? ml->src[i]->options : NULL;
		mem[i] = ml->src[i] ? ml->src[i]->members : NULL;
	}
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "%s.",
		 ml->src[ml->skeleton]->options_key ? ml->src[ml->skeleton]->options_key : "properties");
	prefix[strlen(prefix) - 1] = '\0';
	char *unit_key = strdup(prefix);
	prefix[strlen(prefix)] = '.';
	if (!unit_key) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto done;
	}
	rc = merge_members(r, &ml->options, &where, unit_key, prefix, opt[0], opt[1], opt[2], 0);
	free(unit_key);
	if (rc || (rc = merge_members(r, &ml->members, &where, NULL, "", mem[0], mem[1], mem[2], 0)))
		goto done;

	/* Presence and content, key by key: base's, then ours' new ones, then theirs'. */
	outcomes = calloc(s[0].n + s[1].n + s[2].n + 1, sizeof(*outcomes));
	if (!outcomes) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto done;
	}
	for (int side = 0; side < NSIDES; side++) {
		if (!(out_of[side] = malloc((s[side].n + 1) * sizeof(*out_of[side])))) {
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
			goto done;
		}
		for (size_t i = 0; i < s[side].n; i++)
			out_of[side][i] = SIZE_MAX;
	}
	/* where each of ours' and theirs' features is in the other versions, for the order */
	if (!(maps = malloc((2 * s[1].n + 2 * s[2].n + 1) * sizeof(*maps)))) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto done;
	}
	size_t *o2b = maps, *o2t = maps + s[1].n, *t2b = maps + 2 * s[1].n, *t2o = t2b + s[2].n;
	int repeated = 0;
	for (int side = 0; side < NSIDES && !rc; side++) {
		/* how far the other versions' features are from this one's: inserts and deletes
		 * shift the rest, so the next feature is guessed where the last one was found */
		long shift[NSIDES] = { 0, 0, 0 };
		for (size_t i = 0; i < s[side].n; i++) {
			if (out_of[side][i] != SIZE_MAX) /* met through an earlier version */
				continue;
			const char *key = s[side].keys[i];
			long idx[NSIDES] = { -1, -1, -1 };
			idx[side] = (long)i;
			for (int other = side + 1; other < NSIDES; other++) {
				long guess = (long)i + shift[other];
				idx[other] = locate(&s[other], key, guess > 0 ? (size_t)guess : 0);
				if (idx[other] >= 0)
					shift[other] = idx[other] - (long)i;
			}
			feature_outcome *o = &outcomes[nout];
			rc = merge_feature(r, o, &where, &s[0], &s[1], &s[2], key, idx);
			for (int k = 0; k < NSIDES; k++)
				if (idx[k] >= 0)
					fl_release(s[k].fl, (size_t)idx[k]);
			if (rc)
				break;
			o->key = key;
			for (int k = 0; k < NSIDES; k++) {
				if (idx[k] < 0)
					continue;
				repeated |= out_of[k][idx[k]] != SIZE_MAX;
				out_of[k][idx[k]] = nout;
			}
			size_t at[NSIDES];
			for (int k = 0; k < NSIDES; k++)
				at[k] = idx[k] >= 0 ? (size_t)idx[k] : SIZE_MAX;
			if (idx[1] >= 0) {
				o2b[at[1]] = at[0];
				o2t[at[1]] = at[2];
			}
			if (idx[2] >= 0) {
				t2b[at[2]] = at[0];
				t2o[at[2]] = at[1];
			}
			nout++;
		}
	}
	if (rc)
		goto done;
	/* The order merge, told where each feature is in the other versions (what the loop
	 * above found); a repeated key (which only documents built to allow them have) goes
	 * through the keyed merge, which refuses it. */
	if (repeated) {
		rc = umap_merge_order(&slots, &nslots, s[0].keys, s[0].n, s[1].keys, s[1].n,
				      s[2].keys, s[2].n);
	} else {
		rc = umap_merge_order_mapped(&slots, &nslots, s[0].n, s[1].n, s[2].n, o2b, t2b, o2t,
					     t2o);
	}
	free(maps);
	maps = NULL;
	if (rc)
		goto done;
	/* Room for every kept feature at once (doubling would leave up to half of it unused) */
	size_t kept = 0;
	for (size_t k = 0; k < nout; k++)
		kept += outcomes[k].side >= 0;
	if (kept > ml->cap) {
		merged_feature *room = realloc(ml->features, kept * sizeof(*room));
		if (!room) {
			rc = umap_error_set(UMAP_ENOMEM, "out of memory (merged layer)");
			goto done;
		}
		ml->features = room;
		ml->cap = kept;
	}
	/* The order merge places every kept key; a feature one side deleted but the merge
	 * kept (a conflict settled for the other side) goes after its predecessor there. */
	for (size_t i = 0; i < nslots && !rc; i++) {
		size_t k = out_of[slots[i].side][slots[i].index];
		if (k != SIZE_MAX && outcomes[k].side >= 0 && !outcomes[k].placed)
			rc = place_outcome(ml, &outcomes[k], ml->nfeatures);
	}
	for (size_t k = 0; k < nout && !rc; k++) {
		feature_outcome *o = &outcomes[k];
		if (o->side < 0 || o->placed)
			continue;
		int own_side = o->side == SIDE_MERGED ? UMAP_MERGE_OURS : o->side;
		long own_index = o->side == SIDE_MERGED ? locate(&s[own_side], o->key, 0) : (long)o->index;
		size_t at = 0;
		for (long j = own_index; j-- > 0 && !at;) {
			size_t pk = out_of[own_side][j];
			if (pk == SIZE_MAX || !outcomes[pk].placed)
				continue;
			for (size_t m = 0; m < ml->nfeatures; m++)
				if (ml->features[m].key == outcomes[pk].key) {
					at = m + 1;
					break;
				}
		}
		rc = place_outcome(ml, o, at);
	}
done:
	for (size_t k = 0; k < nout; k++)
		json_decref(outcomes[k].tree);
	free(outcomes);
	free(maps);
	free(slots);
	for (int i = 0; i < NSIDES; i++)
		free(out_of[i]);
	for (int i = 0; i < NSIDES; i++)
		side_index_dispose(&s[i]);
	json_decref(where.layer);
	if (!rc && ml->skeleton >= 0)
		r->stats.features += ml->nfeatures;
	return rc;
}

/* The layers' merge keys: id, else position. */
static int layer_keys(char ***out, umap_doc *doc)
{
	char **keys = calloc(doc->nlayers + 1, sizeof(*keys));
	if (!keys)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; i < doc->nlayers; i++) {
		umap_layer *l = &doc->layers[i];
		size_t len = (l->id ? strlen(l->id) : 0) + 32;
		if (!(keys[i] = malloc(len))) {
			for (size_t j = 0; j < i; j++)
				free(keys[j]);
			free(keys);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		if (l->id)
			snprintf(keys[i], len, "id:%s", l->id);
		else
			snprintf(keys[i], len, "#%zu", i);
	}
	*out = keys;
	return 0;
}

/* The key of a merged layer's group on side s: NULL when the side lacks the layer, "" at
 * the top. */
static const char *parent_key(umap_merge_result *r, char **keys[NSIDES], const merged_layer *ml,
			      int s)
{
	if (!ml->src[s])
		return NULL;
	size_t p = ml->src[s]->parent;
	return p == UMAP_LAYER_TOP ? "" : keys[s][p];
}

/* Each merged layer's group (uMap 3.7+), merged three-way: a side that moved it wins over
 * one that did not; when both moved it, ours. A group that is gone, or a cycle, puts the
 * layer at the top. */
static int merge_parents(umap_merge_result *r, char **keys[NSIDES])
{
	umap_strmap at = UMAP_STRMAP_INIT;
	int rc = 0;
	for (size_t i = 0; i < r->nlayers && !rc; i++) {
		merged_layer *ml = &r->layers[i];
		ml->parent = -1;
		for (int s = 0; s < NSIDES && !rc; s++)
			if (ml->src[s])
				rc = umap_strmap_put(&at, keys[s][ml->src[s] - r->docs[s]->layers], i, NULL);
	}
	for (size_t i = 0; i < r->nlayers && !rc; i++) {
		merged_layer *ml = &r->layers[i];
		const char *b = parent_key(r, keys, ml, UMAP_MERGE_BASE);
		const char *o = parent_key(r, keys, ml, UMAP_MERGE_OURS);
		const char *t = parent_key(r, keys, ml, UMAP_MERGE_THEIRS);
		const char *k = o && t ? (b && !strcmp(o, b) ? t : o) : o ? o : t ? t : b;
		size_t p;
		if (k && *k && umap_strmap_get(&at, k, &p) && p != i)
			ml->parent = (long)p;
	}
	for (size_t i = 0; i < r->nlayers && !rc; i++) {
		size_t steps = 0;
		for (long p = r->layers[i].parent; p >= 0 && steps <= r->nlayers; p = r->layers[p].parent)
			steps++;
		if (steps > r->nlayers || steps >= UMAP_DOC_MAX_LAYER_DEPTH)
			r->layers[i].parent = -1;
	}
	umap_strmap_dispose(&at);
	return rc;
}

/* A side's layers without id take the key of the base layer they match (by position, then
 * name: SPEC §2), or one of their own when they are new. keys[j] is replaced. */
static int side_layer_keys(char **keys, umap_doc *base, umap_doc *side, int which)
{
	long *match = NULL;
	int rc = umap_doc_match_layers(&match, base, side);
	for (size_t j = 0; j < side->nlayers && !rc; j++) {
		if (side->layers[j].id)
			continue;
		char buf[48];
		if (match[j] >= 0 && !base->layers[match[j]].id)
			snprintf(buf, sizeof(buf), "#%ld", match[j]);
		else
			snprintf(buf, sizeof(buf), "+%d:%zu", which, j);
		char *key = strdup(buf);
		if (!key) {
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
			break;
		}
		free(keys[j]);
		keys[j] = key;
	}
	free(match);
	return rc;
}

/* The merge of three documents given their feature lists (one per layer; the result takes
 * them, or frees them on failure). */
static int merge_lists(umap_merge_result **out, umap_doc *base, umap_doc *ours, umap_doc *theirs,
		       const umap_merge_options *opts, flist *lists[NSIDES])
{
	static const umap_merge_options defaults = UMAP_MERGE_OPTIONS_INIT;
	*out = NULL;
	if (!opts)
		opts = &defaults;
	umap_merge_result *r = NULL;
	if (base->kind == ours->kind && base->kind == theirs->kind)
		r = calloc(1, sizeof(*r));
	umap_doc *docs[NSIDES] = { base, ours, theirs };
	for (int i = 0; i < NSIDES; i++) {
		if (r) {
			r->lists[i] = lists[i];
			r->nlists[i] = docs[i]->nlayers;
		} else {
			lists_free(lists[i], docs[i]->nlayers);
		}
		lists[i] = NULL;
	}
	if (base->kind != ours->kind || base->kind != theirs->kind)
		return umap_error_set(UMAP_EINVALID,
				      "cannot merge a uMap map with a GeoJSON layer (%s is a %s, %s a %s)",
				      ours->source_name ? ours->source_name : "ours",
				      ours->kind == UMAP_DOC_MAP ? "map" : "layer",
				      (base->kind != ours->kind ? base : theirs)->source_name
					      ? (base->kind != ours->kind ? base : theirs)->source_name
					      : "the other",
				      (base->kind != ours->kind ? base : theirs)->kind == UMAP_DOC_MAP
					      ? "map" : "layer");
	if (!r)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	r->docs[0] = base;
	r->docs[1] = ours;
	r->docs[2] = theirs;
	r->opts = *opts;
	char **keys[NSIDES] = { NULL, NULL, NULL };
	umap_strmap maps[NSIDES] = { UMAP_STRMAP_INIT, UMAP_STRMAP_INIT, UMAP_STRMAP_INIT };
	umap_merge_slot *slots = NULL;
	size_t nslots = 0;
	int rc = 0;
	if (ours->kind == UMAP_DOC_MAP) {
		place where = { json_null(), json_null(), 0 };
		rc = merge_members(r, &r->map, &where, NULL, "", base->map, ours->map, theirs->map, 1);
		if (!rc && !r->map)
			r->map = json_object();
		if (!rc && !r->map)
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	for (int i = 0; i < NSIDES && !rc; i++) {
		if ((rc = layer_keys(&keys[i], r->docs[i])) ||
		    (i != UMAP_MERGE_BASE && (rc = side_layer_keys(keys[i], base, r->docs[i], i))))
			break;
		for (size_t j = 0; j < r->docs[i]->nlayers && !rc; j++) {
			int existed;
			rc = umap_strmap_put(&maps[i], keys[i][j], j, &existed);
			if (!rc && existed)
				rc = umap_error_set(UMAP_EINVALID, "%s: layer id %s appears twice",
						    r->docs[i]->source_name ? r->docs[i]->source_name : "document",
						    keys[i][j] + 3);
		}
	}
	if (!rc)
		rc = umap_merge_order(&slots, &nslots, (const char *const *)keys[0], base->nlayers,
				      (const char *const *)keys[1], ours->nlayers,
				      (const char *const *)keys[2], theirs->nlayers);
	/* Layers every version dropped are gone; the order merge lists the others. Layers in
	 * base only whose deletion was contested are appended at their base place below. */
	size_t cap = base->nlayers + ours->nlayers + theirs->nlayers + 1;
	if (!rc && !(r->layers = calloc(cap, sizeof(*r->layers))))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	umap_strmap done_keys = UMAP_STRMAP_INIT;
	for (size_t i = 0; i < nslots && !rc; i++) {
		const char *key = keys[slots[i].side][slots[i].index];
		merged_layer *ml = &r->layers[r->nlayers];
		for (int s = 0; s < NSIDES; s++) {
			size_t at;
			int has = umap_strmap_get(&maps[s], key, &at);
			ml->src[s] = has ? &r->docs[s]->layers[at] : NULL;
			ml->fl[s] = has ? &r->lists[s][at] : NULL;
		}
		if ((rc = umap_strmap_put(&done_keys, key, 0, NULL)) || (rc = merge_layer(r, ml)))
			break;
		if (ml->skeleton >= 0)
			r->nlayers++;
		else
			memset(ml, 0, sizeof(*ml));
	}
	/* A layer one side deleted and the other changed without moving it was dropped from
	 * the order by the deletion: bring it back for the conflict. */
	for (size_t i = 0; i < base->nlayers && !rc; i++) {
		const char *key = keys[0][i];
		if (umap_strmap_get(&done_keys, key, NULL))
			continue;
		merged_layer *ml = &r->layers[r->nlayers];
		for (int s = 0; s < NSIDES; s++) {
			size_t at;
			int has = umap_strmap_get(&maps[s], key, &at);
			ml->src[s] = has ? &r->docs[s]->layers[at] : NULL;
			ml->fl[s] = has ? &r->lists[s][at] : NULL;
		}
		if ((rc = merge_layer(r, ml)))
			break;
		if (ml->skeleton >= 0) {
			merged_layer moved = *ml;
			size_t at = i < r->nlayers ? i : r->nlayers;
			memmove(&r->layers[at + 1], &r->layers[at], (r->nlayers - at) * sizeof(*ml));
			r->layers[at] = moved;
			r->nlayers++;
		} else {
			memset(ml, 0, sizeof(*ml));
		}
	}
	umap_strmap_dispose(&done_keys);
	if (!rc)
		rc = merge_parents(r, keys);
	free(slots);
	for (int i = 0; i < NSIDES; i++) {
		if (keys[i])
			for (size_t j = 0; j < r->docs[i]->nlayers; j++)
				free(keys[i][j]);
		free(keys[i]);
		umap_strmap_dispose(&maps[i]);
	}
	if (rc) {
		umap_merge_result_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* ---- Reading the versions ----------------------------------------------------------- */

/* on_feature's answer when a file needs the full reading after all (see umap_merge_files) */
#define NEEDS_FULL_READ 1

/* The feature lists of one version being streamed. */
typedef struct collector {
	flist *lists;
	size_t n;
} collector;

/* Sorts the list's ids by hash (radix, a byte at a time) into its index; 1 when an id
 * is there twice. */
static int index_build(flist *l)
{
	uint64_t *a = malloc((l->n + 1) * sizeof(*a)), *b = malloc((l->n + 1) * sizeof(*b));
	if (!a || !b) {
		free(a);
		free(b);
		return umap_error_set(UMAP_ENOMEM, "out of memory (index of %zu features)", l->n);
	}
	for (size_t i = 0; i < l->n; i++)
		a[i] = (uint64_t)l->recs[i].id_hash << 32 | i;
	for (unsigned shift = 32; shift < 64; shift += 8) {
		size_t count[257] = { 0 };
		for (size_t i = 0; i < l->n; i++)
			count[((a[i] >> shift) & 0xff) + 1]++;
		for (size_t k = 1; k < 257; k++)
			count[k] += count[k - 1];
		for (size_t i = 0; i < l->n; i++)
			b[count[(a[i] >> shift) & 0xff]++] = a[i];
		uint64_t *t = a;
		a = b;
		b = t;
	}
	free(b);
	l->index = a;
	for (size_t i = 1; i < l->n; i++) {
		if (a[i] >> 32 != a[i - 1] >> 32)
			continue;
		/* the same hash: the same id, unless two ids collide */
		for (size_t j = i; j-- > 0 && a[j] >> 32 == a[i] >> 32;)
			if (!strcmp(l->ids.ptr + l->recs[(uint32_t)a[j]].id,
				    l->ids.ptr + l->recs[(uint32_t)a[i]].id))
				return 1;
	}
	return 0;
}

/* Keeps a streamed feature's record. A feature without an id (matched by content, which
 * needs its tree) or a document past 4 GiB sends the whole merge to the full reading, as
 * does a repeated id (found by index_build; the full reading names both lines). */
static int collect(collector *c, size_t layer, const umap_feature *f)
{
	if (!f->id || f->offset > UINT32_MAX || f->length > FREC_LENGTH)
		return NEEDS_FULL_READ;
	if (layer >= c->n) {
		flist *grown = realloc(c->lists, (layer + 1) * sizeof(*grown));
		if (!grown)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		memset(grown + c->n, 0, (layer + 1 - c->n) * sizeof(*grown));
		c->lists = grown;
		c->n = layer + 1;
	}
	flist *l = &c->lists[layer];
	if (l->n == l->cap) {
		if (l->n >= UINT32_MAX - 1)
			return NEEDS_FULL_READ;
		size_t cap = l->cap ? 2 * l->cap : 1024;
		frec *recs = realloc(l->recs, cap * sizeof(*recs));
		if (!recs)
			return umap_error_set(UMAP_ENOMEM, "out of memory (%zu features)", l->n);
		l->recs = recs;
		l->cap = cap;
	}
	size_t len = strlen(f->id);
	if (l->ids.len + len + 1 > UINT32_MAX)
		return NEEDS_FULL_READ;
	uint32_t at = (uint32_t)l->ids.len;
	if (umap_buf_put(&l->ids, f->id, len + 1))
		return UMAP_ENOMEM;
	l->recs[l->n++] = (frec){ f->hash, (uint32_t)f->offset,
				  (uint32_t)f->length | (f->lines ? FREC_MULTILINE : 0), at,
				  umap_id_hash(f->id, len) };
	return 0;
}

typedef struct base_half base_half;

typedef struct open_job {
	const char *path;
	umap_doc_options opts;
	collector col;
	umap_doc *doc;
	int rc;
	char error[1024];
	umap_known_source from; /* OURS, THEIRS: BASE's first layer, to take features from */
	base_half *half;        /* BASE: what the helper read of its second half, or NULL */
} open_job;

/* BASE is read on two cores by halves, and OURS and THEIRS take from it what they did not
 * change, as diff does with its two files (see lib/diff.c): the helper reads the second
 * half of BASE while this thread reads BASE whole, taking the helper's half where it finds
 * it begins; then this thread reads OURS and the helper THEIRS. */
struct base_half {
	umap_half h;
	open_job job;           /* its reading: job.col holds the second half's records */
	int base_read;          /* raised through handoff */
	umap_handoff handoff;
	open_job *jobs;
};

/* umap_known_source's view of a layer's records. */
static void frec_record(const void *records, size_t i, uint64_t *hash, size_t *length,
			const char **id, char scratch[16])
{
	(void)scratch;
	const flist *l = records;
	const frec *r = &l->recs[i];
	*hash = r->hash;
	*length = r->length & FREC_MULTILINE ? 0 : r->length;
	*id = l->ids.ptr + r->id;
}

static int collect_feature(void *data, umap_doc *doc, size_t layer, umap_feature *f)
{
	(void)doc;
	open_job *job = data;
	int rc = collect(&job->col, layer, f);
	if (!rc && !layer && job->from.tried >= 0)
		umap_known_align(&job->from, job->col.lists[0].n - 1, f->id);
	return rc;
}

/* Appends the helper's records of BASE's second half to the reading's first layer; 1 when
 * they do not fit in its 32-bit offsets (then nothing changed). */
static int adopt_half(void *data)
{
	open_job *job = data;
	collector *c = &job->col, *half = &job->half->job.col;
	if (!c->n)
		return 1;
	flist *to = &c->lists[0], *from = &half->lists[0];
	if (to->ids.len + from->ids.len > UINT32_MAX || to->n + from->n >= UINT32_MAX - 1)
		return 1;
	if (to->n + from->n > to->cap) {
		frec *recs = realloc(to->recs, (to->n + from->n) * sizeof(*recs));
		if (!recs)
			return umap_error_set(UMAP_ENOMEM, "out of memory (%zu features)", to->n + from->n);
		to->recs = recs;
		to->cap = to->n + from->n;
	}
	uint32_t base = (uint32_t)to->ids.len;
	if (umap_buf_put(&to->ids, from->ids.ptr, from->ids.len))
		return UMAP_ENOMEM;
	for (size_t i = 0; i < from->n; i++) {
		to->recs[to->n] = from->recs[i];
		to->recs[to->n++].id += base;
	}
	lists_free(half->lists, half->n);
	half->lists = NULL;
	half->n = 0;
	return 0;
}

static int take_known(void *data, umap_doc *doc, size_t layer, umap_feature *f, umap_known *known)
{
	open_job *job = data;
	if (layer)
		return 0;
	int rc = job->half ? umap_half_take(&job->half->h, f, known, adopt_half, job) : 0;
	if (rc)
		return rc < 0 ? rc : 0;
	if (job->from.records)
		umap_known_take(&job->from, doc, job->col.n ? job->col.lists[0].n : 0, f, known);
	return 0;
}

static void *open_version(void *arg)
{
	open_job *job = arg;
	job->rc = umap_doc_open(&job->doc, job->path, &job->opts);
	/* streamed: each layer's id index, which finds repeated ids (on this thread too) */
	for (size_t l = 0; !job->rc && l < job->col.n; l++)
		job->rc = index_build(&job->col.lists[l]);
	if (job->rc < 0)
		snprintf(job->error, sizeof(job->error), "%s", umap_error_last());
	return NULL;
}

/* OURS and THEIRS take features from BASE's first layer once BASE is read. */
static void from_base(open_job *job, const open_job *base)
{
	if (!base->rc && base->col.n && base->col.lists[0].n)
		job->from = (umap_known_source)UMAP_KNOWN_SOURCE_INIT(&base->col.lists[0],
								      base->col.lists[0].n, frec_record);
}

/* The helper: BASE's second half, then THEIRS once BASE is read. */
static void *read_half_then_theirs(void *arg)
{
	base_half *h = arg;
	open_job *jobs = h->jobs;
	umap_half_read(&h->h, h->job.path, &h->job.opts);
	umap_handoff_wait(&h->handoff, &h->base_read);
	from_base(&jobs[UMAP_MERGE_THEIRS], &jobs[UMAP_MERGE_BASE]);
	open_version(&jobs[UMAP_MERGE_THEIRS]);
	return NULL;
}

/* Reads BASE in halves on two cores, then OURS and THEIRS one a core, taking what they did
 * not change from BASE; 0 when it could not start (nothing was read then). */
static int open_versions_by_halves(open_job jobs[NSIDES], size_t offset)
{
	base_half h;
	memset(&h, 0, sizeof(h));
	h.h.offset = offset;
	h.h.handoff = &h.handoff;
	h.jobs = jobs;
	h.job.path = jobs[UMAP_MERGE_BASE].path;
	h.job.opts = jobs[UMAP_MERGE_BASE].opts;
	h.job.opts.on_feature_data = &h.job;
	h.job.from = (umap_known_source)UMAP_KNOWN_SOURCE_INIT(NULL, 0, frec_record);
	pthread_t thread;
	if (umap_handoff_init(&h.handoff))
		return 0;
	int started = !pthread_create(&thread, NULL, read_half_then_theirs, &h);
	if (started) {
		jobs[UMAP_MERGE_BASE].half = &h;
		open_version(&jobs[UMAP_MERGE_BASE]);
		jobs[UMAP_MERGE_BASE].half = NULL;
		umap_handoff_raise(&h.handoff, &h.base_read);
		from_base(&jobs[UMAP_MERGE_OURS], &jobs[UMAP_MERGE_BASE]);
		open_version(&jobs[UMAP_MERGE_OURS]);
		pthread_join(thread, NULL);
		lists_free(h.job.col.lists, h.job.col.n);
	}
	umap_handoff_dispose(&h.handoff);
	return started;
}

/* Opens the three versions at the same time, one thread each (this one reading BASE):
 * reading is most of a file merge's work. Standard input named twice is read in order, as
 * one reader would (the second gets nothing). With `streamed`, features go to each job's
 * collector, and big layers are read by halves (open_versions_by_halves). */
static void open_versions(open_job jobs[NSIDES], const char *const paths[NSIDES],
			  const umap_doc_options *opts, int streamed)
{
	static const umap_doc_options defaults = UMAP_DOC_OPTIONS_INIT;
	pthread_t threads[NSIDES];
	int threaded[NSIDES] = { 0, 0, 0 };
	memset(jobs, 0, NSIDES * sizeof(*jobs));
	int stdin_users = 0;
	for (int i = 0; i < NSIDES; i++) {
		jobs[i].path = paths[i];
		jobs[i].opts = opts ? *opts : defaults;
		jobs[i].from = (umap_known_source)UMAP_KNOWN_SOURCE_INIT(NULL, 0, frec_record);
		if (streamed) {
			jobs[i].opts.on_feature = collect_feature;
			jobs[i].opts.on_feature_data = &jobs[i];
			jobs[i].opts.known_feature = take_known;
		}
		stdin_users += !strcmp(paths[i], "-");
	}
	size_t half;
	if (streamed && !stdin_users && (half = umap_doc_guess_half(paths[UMAP_MERGE_BASE])) &&
	    open_versions_by_halves(jobs, half))
		return;
	for (int i = 1; i < NSIDES && stdin_users < 2; i++)
		threaded[i] = pthread_create(&threads[i], NULL, open_version, &jobs[i]) == 0;
	for (int i = 0; i < NSIDES; i++) {
		if (threaded[i])
			pthread_join(threads[i], NULL);
		else
			open_version(&jobs[i]);
	}
}

static void jobs_free(open_job jobs[NSIDES])
{
	for (int i = 0; i < NSIDES; i++) {
		umap_doc_free(jobs[i].doc);
		jobs[i].doc = NULL;
		lists_free(jobs[i].col.lists, jobs[i].col.n);
		jobs[i].col.lists = NULL;
		jobs[i].col.n = 0;
	}
}

/* The first failure in the order BASE, OURS, THEIRS, as if read one after the other. */
static int first_error(open_job jobs[NSIDES])
{
	for (int i = 0; i < NSIDES; i++)
		if (jobs[i].rc < 0)
			return umap_error_set(jobs[i].rc, "%s", jobs[i].error);
	return 0;
}

int umap_merge_open(umap_doc *docs[3], const char *const paths[3], const umap_doc_options *opts)
{
	open_job jobs[NSIDES];
	open_versions(jobs, paths, opts, 0);
	int rc = first_error(jobs);
	if (rc)
		jobs_free(jobs);
	for (int i = 0; i < NSIDES; i++)
		docs[i] = jobs[i].doc;
	return rc;
}

int umap_merge_files(umap_merge_result **out, umap_doc *docs[3], const char *const paths[3],
		     const umap_doc_options *dopts, const umap_merge_options *opts)
{
	*out = NULL;
	for (int i = 0; i < NSIDES; i++)
		docs[i] = NULL;
	int rc = 0, full = dopts && (dopts->parse_all || dopts->on_feature || dopts->allow_duplicate_ids);
	/* standard input cannot be read a second time if the streamed reading must give way */
	for (int i = 0; i < NSIDES; i++)
		full |= !strcmp(paths[i], "-");
	if (!full) {
		open_job jobs[NSIDES];
		open_versions(jobs, paths, dopts, 1);
		for (int i = 0; i < NSIDES; i++)
			full |= jobs[i].rc == NEEDS_FULL_READ;
		flist *lists[NSIDES] = { NULL, NULL, NULL };
		if (!full && !(rc = first_error(jobs))) {
			for (int i = 0; i < NSIDES && !rc; i++) {
				umap_doc *doc = jobs[i].doc;
				collector *c = &jobs[i].col;
				if (c->n > doc->nlayers) { /* features come in the document's layers */
					rc = umap_error_set(UMAP_ERROR, "%s: features outside its layers",
							    doc->source_name);
					break;
				}
				if (!(lists[i] = calloc(doc->nlayers + 1, sizeof(*lists[i])))) {
					rc = umap_error_set(UMAP_ENOMEM, "out of memory");
					break;
				}
				if (c->n)
					memcpy(lists[i], c->lists, c->n * sizeof(*c->lists));
				free(c->lists);
				c->lists = NULL;
				c->n = 0;
				for (size_t l = 0; l < doc->nlayers; l++) {
					lists[i][l].doc = doc;
					lists[i][l].layer = &doc->layers[l];
					lists[i][l].streamed = 1;
				}
			}
			for (int i = 0; i < NSIDES && rc; i++)
				lists_free(lists[i], jobs[i].doc->nlayers);
			if (!rc) {
				/* read: the documents are the caller's, merged or not */
				for (int i = 0; i < NSIDES; i++) {
					docs[i] = jobs[i].doc;
					jobs[i].doc = NULL;
				}
				return merge_lists(out, docs[0], docs[1], docs[2], opts, lists);
			}
		}
		jobs_free(jobs);
		if (!full)
			return rc;
	}
	/* features without ids, repeated ids: the documents' own reading and indexes */
	if ((rc = umap_merge_open(docs, paths, dopts)))
		return rc;
	return umap_merge(out, docs[0], docs[1], docs[2], opts);
}

int umap_merge(umap_merge_result **out, umap_doc *base, umap_doc *ours, umap_doc *theirs,
	       const umap_merge_options *opts)
{
	umap_doc *docs[NSIDES] = { base, ours, theirs };
	flist *lists[NSIDES] = { NULL, NULL, NULL };
	for (int i = 0; i < NSIDES; i++) {
		if (!(lists[i] = calloc(docs[i]->nlayers + 1, sizeof(*lists[i])))) {
			for (int j = 0; j < i; j++)
				free(lists[j]);
			*out = NULL;
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		for (size_t l = 0; l < docs[i]->nlayers; l++) {
			lists[i][l].doc = docs[i];
			lists[i][l].layer = &docs[i]->layers[l];
		}
	}
	return merge_lists(out, base, ours, theirs, opts, lists);
}

void umap_merge_result_free(umap_merge_result *r)
{
	if (!r)
		return;
	for (int i = 0; i < NSIDES; i++)
		lists_free(r->lists[i], r->nlists[i]);
	for (size_t i = 0; i < r->nconflicts; i++) {
		umap_conflict *c = &r->conflicts[i];
		json_decref(c->layer);
		json_decref(c->id);
		free(c->key);
		json_decref(c->base);
		json_decref(c->ours);
		json_decref(c->theirs);
	}
	free(r->conflicts);
	/* r->layers has room for every layer; entries past nlayers are zeroed. */
	for (size_t i = 0; i < r->nlayers; i++) {
		merged_layer *ml = &r->layers[i];
		for (size_t j = 0; j < ml->nfeatures; j++)
			json_decref(ml->features[j].tree);
		free(ml->features);
		json_decref(ml->options);
		json_decref(ml->members);
	}
	free(r->layers);
	json_decref(r->map);
	free(r);
}

const umap_conflict *umap_merge_conflicts(const umap_merge_result *r, size_t *count)
{
	*count = r->nconflicts;
	return r->conflicts;
}

void umap_merge_get_stats(const umap_merge_result *r, umap_merge_stats *stats)
{
	*stats = r->stats;
}

int umap_merge_conflicts_json(json_t **out, const umap_merge_result *r)
{
	json_t *root = json_object(), *list = json_array();
	if (!root || !list || json_object_set_new(root, "conflicts", list)) {
		json_decref(root);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < r->nconflicts; i++) {
		const umap_conflict *c = &r->conflicts[i];
		json_t *item = json_object();
#define NUL(v) ((v) ? json_incref(v) : json_null())
		if (!item || json_array_append_new(list, item) ||
		    json_object_set_new(item, "layer", NUL(c->layer)) ||
		    json_object_set_new(item, "id", NUL(c->id)) ||
		    (c->base_index >= 0 &&
		     json_object_set_new(item, "index", json_integer((json_int_t)c->base_index))) ||
		    json_object_set_new(item, "key", c->key ? json_string(c->key) : json_null()) ||
		    json_object_set_new(item, "kind", json_string(umap_conflict_kind_name(c->kind))) ||
		    json_object_set_new(item, "base", NUL(c->base)) ||
		    json_object_set_new(item, "ours", NUL(c->ours)) ||
		    json_object_set_new(item, "theirs", NUL(c->theirs))) {
			json_decref(root);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
#undef NUL
	}
	*out = root;
	return 0;
}

/* ---- Output ------------------------------------------------------------------------ */

static int feature_tree(json_t **out, umap_merge_result *r, merged_layer *ml,
			const merged_feature *f)
{
	if (f->side == SIDE_MERGED) {
		*out = f->tree;
		return 0;
	}
	return fl_tree(out, ml->fl[f->side], f->index);
}

static int any_nested(umap_merge_result *r);

/* The merged document, with its features or only its skeleton (for the writer). */
static int build_doc(umap_doc **out, umap_merge_result *r, int with_features)
{
	int nested = any_nested(r);
	umap_doc *doc;
	int rc = umap_doc_new(&doc, r->docs[UMAP_MERGE_OURS]->kind);
	if (rc)
		return rc;
	if (r->map) {
		json_t *copy = umap_json_copy(r->map, 1);
		if (!copy) {
			umap_doc_free(doc);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		json_decref(doc->map);
		doc->map = copy;
		umap_doc_set_layers_position(doc,
					     umap_doc_layers_position(r->docs[UMAP_MERGE_OURS]));
	}
	for (size_t i = 0; i < r->nlayers && !rc; i++) {
		merged_layer *ml = &r->layers[i];
		umap_layer *src = ml->src[ml->skeleton], *layer;
		if ((rc = umap_doc_add_layer(&layer, doc, src->id, ml->options)))
			break;
		layer->options_key = umap_options_key(src->options_key);
		if (!with_features || nested) {
			/* the members in the skeleton's key order (a group layer keeps where its
			 * "layers" were) */
			json_t *order = umap_layer_member_order(r->docs[ml->skeleton], src);
			rc = order ? umap_layer_set_member_order(doc, layer, order) : 0;
			json_decref(order);
			if (rc)
				break;
		}
		if (ml->members) {
			json_t *copy = umap_json_copy(ml->members, 1);
			if (!copy) {
				rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				break;
			}
			json_decref(layer->members);
			layer->members = copy;
		}
		for (size_t j = 0; with_features && j < ml->nfeatures && !rc; j++) {
			json_t *tree;
			if (!(rc = feature_tree(&tree, r, ml, &ml->features[j])))
				rc = umap_layer_append(doc, layer, json_incref(tree));
		}
	}
	for (size_t i = 0; i < r->nlayers && i < doc->nlayers && !rc; i++)
		doc->layers[i].parent = r->layers[i].parent >= 0 ? (size_t)r->layers[i].parent
								 : UMAP_LAYER_TOP;
	if (rc) {
		umap_doc_free(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

int umap_merge_doc(umap_doc **out, umap_merge_result *r)
{
	return build_doc(out, r, 1);
}

/* How OURS writes its features, so that merged ones look like their neighbours. */
typedef struct feature_style {
	int multiline;
	int space_after_colon, space_after_comma;
	unsigned indent;   /* multi-line: spaces per level */
	const char *lead;  /* multi-line: the indentation of the feature's first line */
	size_t lead_len;
	const char *sep;   /* between two features */
	size_t sep_len;
	char sep_buf[8];
} feature_style;

static void detect_style(feature_style *st, const char *data, const flist *layer)
{
	memset(st, 0, sizeof(*st));
	size_t f_offset = fl_offset(layer, 0), f_length = fl_length(layer, 0);
	const char *p = data + f_offset, *end = p + f_length;
	const char *line = p;
	while (line > data && (line[-1] == ' ' || line[-1] == '\t'))
		line--;
	st->lead = line;
	st->lead_len = (size_t)(p - line);
	st->multiline = memchr(p, '\n', f_length) != NULL;
	int in_string = 0, seen_colon = 0, seen_comma = 0;
	for (const char *q = p; q < end; q++) {
		if (in_string) {
			if (*q == '\\')
				q++;
			else if (*q == '"')
				in_string = 0;
		} else if (*q == '"') {
			in_string = 1;
		} else if (*q == ':' && !seen_colon) {
			seen_colon = 1;
			st->space_after_colon = q + 1 < end && q[1] == ' ';
		} else if (*q == ',' && !seen_comma) {
			seen_comma = 1;
			st->space_after_comma = q + 1 < end && (q[1] == ' ' || q[1] == '\n');
		}
	}
	if (st->multiline) {
		const char *nl = memchr(p, '\n', f_length);
		size_t n = 0;
		while (nl + 1 + n < end && nl[1 + n] == ' ')
			n++;
		st->indent = n > st->lead_len ? (unsigned)(n - st->lead_len) : 2;
		if (st->indent > 16)
			st->indent = 2;
	}
	if (fl_count(layer) >= 2) {
		st->sep = data + f_offset + f_length;
		st->sep_len = fl_offset(layer, 1) - (f_offset + f_length);
	} else if (line > data && line[-1] == '\n') {
		/* ",\n" + the same indentation */
		st->sep = NULL;
	} else {
		memcpy(st->sep_buf, ", ", 2);
		st->sep_len = st->space_after_comma ? 2 : 1;
		st->sep = st->sep_buf;
	}
}

static int write_separator(umap_buf *out, const feature_style *st)
{
	if (st->sep)
		return umap_buf_put(out, st->sep, st->sep_len);
	if (umap_buf_puts(out, ",\n"))
		return UMAP_ENOMEM;
	return umap_buf_put(out, st->lead, st->lead_len);
}

/* A merged feature's compact text, its numbers spelled as THEIRS, then OURS, spelled them
 * where their value did not change (SPEC §2 "Writing": 1.0 stays 1.0, -0 and integers
 * beyond 2^53 keep their digits). */
static int merged_text(umap_buf *out, umap_merge_result *r, merged_layer *ml,
		       const merged_feature *f, const json_t *tree)
{
	umap_buf text = UMAP_BUF_INIT, respelled = UMAP_BUF_INIT;
	int rc = umap_json_write(&text, tree, UMAP_JSON_COMPACT);
	const flist *theirs = ml->fl[UMAP_MERGE_THEIRS], *ours = ml->fl[UMAP_MERGE_OURS];
	const umap_doc *dt = r->docs[UMAP_MERGE_THEIRS], *dour = r->docs[UMAP_MERGE_OURS];
	if (!rc && f->theirs_at && theirs && dt->data && fl_length(theirs, f->theirs_at - 1)) {
		rc = umap_json_respell(&respelled, text.ptr, text.len,
				       dt->data + fl_offset(theirs, f->theirs_at - 1),
				       fl_length(theirs, f->theirs_at - 1));
		umap_buf swap = text;
		text = respelled;
		respelled = swap;
		umap_buf_clear(&respelled);
	}
	if (!rc && f->index != SIZE_MAX && ours && dour->data && fl_length(ours, f->index))
		rc = umap_json_respell(out, text.ptr, text.len, dour->data + fl_offset(ours, f->index),
				       fl_length(ours, f->index));
	else if (!rc && umap_buf_put(out, text.ptr, text.len))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	umap_buf_dispose(&text);
	umap_buf_dispose(&respelled);
	return rc;
}

/* A feature's compact text: a merged one spelled as its sides spelled it, another from its
 * tree. */
static int feature_text(umap_buf *text, umap_merge_result *r, merged_layer *ml,
			const merged_feature *f)
{
	json_t *tree;
	int rc = feature_tree(&tree, r, ml, f);
	if (!rc)
		rc = f->side == SIDE_MERGED ? merged_text(text, r, ml, f, tree)
					    : umap_json_write(text, tree, UMAP_JSON_COMPACT);
	return rc;
}

/* A feature's compact text written in the style of OURS' features. */
static int write_styled(umap_buf *out, const char *compact, size_t len, const feature_style *st)
{
	umap_buf laid = UMAP_BUF_INIT;
	const char *text = compact;
	if (st->multiline) {
		umap_layout layout = { st->indent, 0, 0, 0, 0, 0, 0, 0 };
		int rc = umap_json_relayout_at(&laid, compact, len, &layout, 0);
		if (rc) {
			umap_buf_dispose(&laid);
			return rc;
		}
		text = laid.ptr;
		len = laid.len;
	}
	int rc = 0, in_string = 0;
	for (size_t i = 0; i < len && !rc; i++) {
		char c = text[i];
		rc = umap_buf_putc(out, c);
		if (in_string) {
			if (c == '\\' && i + 1 < len)
				rc = rc ? rc : umap_buf_putc(out, text[++i]);
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '\n') {
			rc = rc ? rc : umap_buf_put(out, st->lead, st->lead_len);
		} else if (!st->multiline && ((c == ':' && st->space_after_colon) ||
					      (c == ',' && st->space_after_comma))) {
			rc = rc ? rc : umap_buf_putc(out, ' ');
		}
	}
	umap_buf_dispose(&laid);
	return rc;
}

/* Where the merged text goes: `out`, which is handed to `emit` (when set) each time it holds
 * OUT_CHUNK bytes, so that writing a merge of big files holds a chunk and not the document.
 * hi[side] is how far the source bytes of that version were copied: pages behind are given
 * back (each version is copied in order, but for features that moved). */
#define OUT_CHUNK ((size_t)256 << 10)
typedef struct writer {
	umap_buf *out;
	umap_merge_result *r;
	umap_merge_emit_fn emit;
	void *emit_data;
	size_t hi[NSIDES];
} writer;

static void copied(writer *w, int side, size_t end)
{
	if (end > w->hi[side])
		w->hi[side] = end;
}

static int drain(writer *w, int last)
{
	if (!w->emit || (!last && w->out->len < OUT_CHUNK))
		return 0;
	int rc = w->out->len ? w->emit(w->emit_data, w->out->ptr, w->out->len) : 0;
	umap_buf_clear(w->out);
	for (int s = 0; s < NSIDES && !rc; s++)
		umap_doc_drop_behind(w->r->docs[s], w->hi[s]);
	return rc;
}

/* A feature taken from BASE or THEIRS, revision copies (spell_as_ours): its text with
 * OURS' spelling of the numbers whose value OURS' version of it has. 1 when `out` holds
 * that text, 0 when the bytes are to be written as they are. */
static int spelled_as_ours(umap_buf *out, umap_merge_result *r, merged_layer *ml,
			   const merged_feature *f, int *rc)
{
	*rc = 0;
	if (!r->opts.spell_as_ours || f->side == UMAP_MERGE_OURS || f->side == SIDE_MERGED)
		return 0;
	const flist *src = ml->fl[f->side], *ours = ml->fl[UMAP_MERGE_OURS];
	const umap_doc *ds = r->docs[f->side], *dour = r->docs[UMAP_MERGE_OURS];
	if (!ours || !src || !ds->data || !dour->data || !fl_length(src, f->index))
		return 0;
	const char *id = fl_id(src, f->index);
	long j = id && id[0] != '\x01' ? fl_find(ours, id) : -1;
	if (j < 0 || !fl_length(ours, (size_t)j))
		return 0;
	const char *bytes = ds->data + fl_offset(src, f->index);
	size_t length = fl_length(src, f->index);
	umap_buf_clear(out);
	*rc = umap_json_respell(out, bytes, length, dour->data + fl_offset(ours, (size_t)j),
				fl_length(ours, (size_t)j));
	if (!*rc && (out->len != length || memcmp(out->ptr, bytes, length)))
		return 1;
	umap_buf_clear(out); /* nothing to respell: the caller writes the bytes, in `out` too */
	return 0;
}

static int write_feature(writer *w, merged_layer *ml, const merged_feature *f,
			 const feature_style *st)
{
	umap_merge_result *r = w->r;
	umap_buf text = UMAP_BUF_INIT;
	int rc;
	if (spelled_as_ours(&text, r, ml, f, &rc) || rc) {
		if (!rc)
			rc = write_styled(w->out, text.ptr, text.len, st);
		umap_buf_dispose(&text);
		return rc ? rc : drain(w, 0);
	}
	if (f->side != SIDE_MERGED) {
		umap_doc *doc = r->docs[f->side];
		const flist *src = ml->fl[f->side];
		size_t offset = fl_offset(src, f->index), length = fl_length(src, f->index);
		if (doc->data && length &&
		    (memchr(doc->data + offset, '\n', length) != NULL) == st->multiline) {
			copied(w, f->side, offset + length);
			rc = umap_buf_put(w->out, doc->data + offset, length);
			return rc ? rc : drain(w, 0);
		}
	}
	rc = feature_text(&text, r, ml, f);
	if (!rc)
		rc = write_styled(w->out, text.ptr ? text.ptr : "", text.len, st);
	umap_buf_dispose(&text);
	if (f->side != SIDE_MERGED)
		fl_release(ml->fl[f->side], f->index);
	if (!rc)
		rc = drain(w, 0);
	return rc;
}

/* Can the output be OURS' text with only the features replaced? */
static int splice_possible(umap_merge_result *r)
{
	umap_doc *ours = r->docs[UMAP_MERGE_OURS];
	if (!ours->data || r->nlayers != ours->nlayers)
		return 0;
	if (ours->kind == UMAP_DOC_MAP && !same(r->map, ours->map))
		return 0;
	for (size_t i = 0; i < r->nlayers; i++) {
		merged_layer *ml = &r->layers[i];
		umap_layer *ol = &ours->layers[i];
		const flist *of = &r->lists[UMAP_MERGE_OURS][i];
		if (ml->src[UMAP_MERGE_OURS] != ol || ml->skeleton != UMAP_MERGE_OURS ||
		    !same(ml->options, ol->options) || !same(ml->members, ol->members))
			return 0;
		size_t n = fl_count(of);
		if (!n && ml->nfeatures)
			return 0;
		for (size_t j = 0; j < n; j++)
			if (!fl_length(of, j))
				return 0;
	}
	return 1;
}

/* Whether the first ':' outside a string of a one-line text is followed by a space, as
 * Python's json.dumps writes. */
static int spaced_text(const char *p, size_t len)
{
	int in_string = 0;
	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_string = 0;
		} else if (p[i] == '"') {
			in_string = 1;
		} else if (p[i] == ':') {
			return i + 1 < len && p[i + 1] == ' ';
		}
	}
	return 0;
}

/* Are a feature's source bytes already laid out as `as` lays out a feature `depth` deep? One
 * line (spaced or not) for a one-line layout; else its first line at the depth's indentation
 * and its second one level further. Otherwise they are laid out anew, token by token. */
static int bytes_fit(const char *data, size_t offset, size_t length, const umap_layout *as,
		     size_t depth)
{
	const char *p = data + offset, *nl = memchr(p, '\n', length);
	if (!as->indent)
		return !nl && spaced_text(p, length) == as->spaced;
	if (!nl)
		return 0;
	size_t col = 0, want = depth * as->indent, next = 0;
	while (col < offset && p[-1 - (long)col] == ' ')
		col++;
	if (col != want || (col < offset && p[-1 - (long)col] != '\n'))
		return 0;
	while (nl + 1 + next < p + length && nl[1 + next] == ' ')
		next++;
	return next == want + as->indent;
}

/* The rebuilt output (see write_framed): one feature `depth` deep in the layout. */
typedef struct framed {
	writer *w;
	umap_layout feature_layout; /* the file's layout, or one line in a one-feature-a-line one */
} framed;

static int put_framed_feature(void *data, umap_buf *out, size_t layer, size_t index, size_t depth)
{
	framed *fr = data;
	writer *w = fr->w;
	umap_merge_result *r = w->r;
	merged_layer *ml = &r->layers[layer];
	const merged_feature *f = &ml->features[index];
	const umap_layout *as = &fr->feature_layout;
	umap_buf text = UMAP_BUF_INIT;
	int rc;
	if (spelled_as_ours(&text, r, ml, f, &rc) || rc) {
		if (!rc)
			rc = umap_json_relayout_at(out, text.ptr, text.len, as, depth);
		umap_buf_dispose(&text);
		return rc ? rc : drain(w, 0);
	}
	if (f->side != SIDE_MERGED && r->docs[f->side]->data &&
	    fl_length(ml->fl[f->side], f->index)) {
		const char *bytes = r->docs[f->side]->data;
		size_t offset = fl_offset(ml->fl[f->side], f->index);
		size_t length = fl_length(ml->fl[f->side], f->index);
		copied(w, f->side, offset + length);
		rc = bytes_fit(bytes, offset, length, as, depth)
			     ? umap_buf_put(out, bytes + offset, length)
			     : umap_json_relayout_at(out, bytes + offset, length, as, depth);
		return rc ? rc : drain(w, 0);
	}
	rc = feature_text(&text, r, ml, f);
	if (!rc)
		rc = umap_json_relayout_at(out, text.ptr ? text.ptr : "", text.len, as, depth);
	umap_buf_dispose(&text);
	if (f->side != SIDE_MERGED)
		fl_release(ml->fl[f->side], f->index);
	return rc ? rc : drain(w, 0);
}

/* The layer or map options changed, or layers are nested in groups: the document is written
 * anew around its features by the document writer, in OURS' layout (SPEC §2 "Writing":
 * the layout the file was read in), each feature copied from its file when its bytes are
 * already so laid out. A revision's copy (compact bytes) gets the layout `flags` say. */
static int write_framed(writer *w, unsigned flags)
{
	umap_merge_result *r = w->r;
	umap_doc *ours = r->docs[UMAP_MERGE_OURS];
	umap_layout layout = UMAP_LAYOUT_DEFAULT;
	if (umap_doc_bytes_in_layout(ours)) {
		layout = ours->layout;
	} else {
		layout.indent = UMAP_JSON_INDENT(flags);
		layout.newline = layout.indent != 0;
		layout.ascii = (flags & UMAP_JSON_ASCII) != 0;
	}
	/* an indented file may hold one feature a line (its first feature says; a streamed read
	 * does not look) */
	for (size_t i = 0; layout.indent && ours->data && i < r->nlists[UMAP_MERGE_OURS]; i++) {
		const flist *ol = &r->lists[UMAP_MERGE_OURS][i];
		if (!fl_count(ol) || !fl_length(ol, 0))
			continue;
		const char *p = ours->data + fl_offset(ol, 0);
		layout.lines = !memchr(p, '\n', fl_length(ol, 0));
		layout.spaced = layout.lines && spaced_text(p, fl_length(ol, 0));
		break;
	}
	/* a stream's records are made from this text afterwards (write_merged) */
	layout.seq = 0;
	framed fr = { w, layout };
	if (layout.lines || !layout.indent)
		fr.feature_layout = (umap_layout){ 0, layout.spaced, 0, 0, layout.ascii, 0, 0, 0 };
	umap_doc *skeleton = NULL;
	size_t *counts = calloc(2 * r->nlayers + 1, sizeof(*counts));
	size_t *in_ours = counts ? counts + r->nlayers : NULL;
	int rc = counts ? build_doc(&skeleton, r, 0) : umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < r->nlayers; i++) {
		const umap_layer *src = r->layers[i].src[UMAP_MERGE_OURS];
		counts[i] = r->layers[i].nfeatures;
		in_ours[i] = src ? (size_t)(src - ours->layers) : SIZE_MAX;
	}
	if (!rc)
		rc = umap_doc_write_framed(w->out, skeleton, &layout, counts, put_framed_feature, &fr,
					   umap_doc_bytes_in_layout(ours) ? ours : NULL, in_ours);
	free(counts);
	umap_doc_free(skeleton);
	return rc;
}

/* Group layers nest features arrays in other layers: written by write_framed. */
static int any_nested(umap_merge_result *r)
{
	for (size_t i = 0; i < r->nlayers; i++)
		if (r->layers[i].parent >= 0)
			return 1;
	for (int s = 0; s < NSIDES; s++)
		for (size_t i = 0; i < r->docs[s]->nlayers; i++)
			if (r->docs[s]->layers[i].parent != UMAP_LAYER_TOP)
				return 1;
	return 0;
}

static int write_merged_document(writer *w, unsigned flags);

/* OURS is a stream (RFC 8142 or one feature a line): the merged FeatureCollection, then
 * each of its features a record, as OURS writes them. */
static int write_merged(writer *w, unsigned flags)
{
	const umap_layout *records = &w->r->docs[UMAP_MERGE_OURS]->layout;
	if (!records->seq)
		return write_merged_document(w, flags);
	umap_buf fc = UMAP_BUF_INIT, *out = w->out;
	umap_merge_emit_fn emit = w->emit;
	w->out = &fc;
	w->emit = NULL; /* the records are emitted, not the document */
	int rc = write_merged_document(w, flags);
	w->out = out;
	w->emit = emit;
	if (!rc)
		rc = umap_json_relayout(out, fc.ptr ? fc.ptr : "", fc.len, records);
	umap_buf_dispose(&fc);
	return rc;
}

static int write_merged_document(writer *w, unsigned flags)
{
	umap_merge_result *r = w->r;
	if (any_nested(r) || !splice_possible(r))
		return write_framed(w, flags);
	umap_doc *ours = r->docs[UMAP_MERGE_OURS];
	size_t cursor = 0;
	for (size_t i = 0; i < r->nlayers; i++) {
		merged_layer *ml = &r->layers[i];
		const flist *ol = &r->lists[UMAP_MERGE_OURS][i];
		size_t n = fl_count(ol);
		if (!n)
			continue;
		feature_style st;
		detect_style(&st, ours->data, ol);
		size_t start = fl_offset(ol, 0);
		if (umap_buf_put(w->out, ours->data + cursor, start - cursor))
			return UMAP_ENOMEM;
		copied(w, UMAP_MERGE_OURS, start);
		for (size_t j = 0; j < ml->nfeatures; j++) {
			int rc = (j ? write_separator(w->out, &st) : 0);
			if (!rc)
				rc = write_feature(w, ml, &ml->features[j], &st);
			if (rc)
				return rc;
		}
		cursor = fl_offset(ol, n - 1) + fl_length(ol, n - 1);
	}
	return umap_buf_put(w->out, ours->data + cursor, ours->size - cursor);
}

int umap_merge_write(umap_buf *out, umap_merge_result *r, unsigned flags)
{
	writer w = { out, r, NULL, NULL, { 0, 0, 0 } };
	return write_merged(&w, flags);
}

int umap_merge_write_to(umap_merge_result *r, unsigned flags, umap_merge_emit_fn emit,
			void *emit_data)
{
	umap_buf out = UMAP_BUF_INIT;
	writer w = { &out, r, emit, emit_data, { 0, 0, 0 } };
	int rc = write_merged(&w, flags);
	if (!rc)
		rc = drain(&w, 1);
	umap_buf_dispose(&out);
	return rc;
}

static int emit_to_file(void *data, const char *bytes, size_t len)
{
	return umap_atomic_file_write(data, bytes, len);
}

int umap_merge_save(umap_merge_result *r, const char *path, unsigned flags)
{
	umap_atomic_file f;
	int rc = umap_atomic_file_open(&f, path);
	if (!rc)
		rc = umap_merge_write_to(r, flags, emit_to_file, &f);
	if (!rc)
		return umap_atomic_file_commit(&f);
	umap_atomic_file_abort(&f);
	return rc;
}
