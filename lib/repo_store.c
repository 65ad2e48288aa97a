/* The repository's object layer: objects, trees, feature shards, the chunked feature order
 * and the tree walk that skips equal subtrees by id. See docs/REPOSITORY.md for why. */
#include "repo_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2/sys/repository.h>

#include "error.h"
#include "strutil.h"

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown error";
}

int umap_store_open(umap_store *s, git_repository *git)
{
	memset(s, 0, sizeof(*s));
	s->git = git;
	if (git_repository_odb(&s->odb, git) < 0)
		return umap_error_set(UMAP_ECORRUPT, "cannot open the object database: %s", git_msg());
	s->gitdir = strdup(git_repository_path(git));
	if (!s->gitdir || umap_objw_new(&s->objw)) {
		umap_store_close(s);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	size_t len = strlen(s->gitdir);
	if (len > 1 && s->gitdir[len - 1] == '/')
		s->gitdir[len - 1] = '\0';
	return 0;
}

static void leaf_memo_free(struct leaf_memo *m);

void umap_store_close(umap_store *s)
{
	leaf_memo_free(s->memo);
	free(s->known);
	umap_objw_free(s->objw);
	git_odb_free(s->odb);
	free(s->gitdir);
	memset(s, 0, sizeof(*s));
}

int umap_store_release_packs(umap_store *s)
{
	umap_buf objects = UMAP_BUF_INIT;
	git_odb *empty = NULL, *fresh = NULL;
	if (umap_buf_printf(&objects, "%s/objects", s->gitdir))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	/* the old database goes first: libgit2 shares a pack, mappings and all, between
	 * databases that have it open, and a new one opened beside it would keep it */
	int rc = git_odb_new(&empty) < 0 || git_repository_set_odb(s->git, empty) < 0;
	if (!rc) {
		git_odb_free(s->odb);
		s->odb = empty;
		empty = NULL;
		rc = git_odb_open(&fresh, objects.ptr) < 0 || git_repository_set_odb(s->git, fresh) < 0;
	}
	if (!rc) {
		git_odb_free(s->odb);
		s->odb = fresh;
		fresh = NULL;
	}
	umap_buf_dispose(&objects);
	git_odb_free(empty);
	git_odb_free(fresh);
	return rc ? umap_error_set(UMAP_ECORRUPT, "cannot open the object database: %s", git_msg())
		  : 0;
}

int umap_store_read(umap_obj *out, umap_store *s, const git_oid *id, git_object_t expect,
		    const char *what)
{
	memset(out, 0, sizeof(*out));
	const void *data;
	umap_buf copy = UMAP_BUF_INIT;
	/* an object streamed into the pack is read from it, and not kept: marking an import's
	 * new trees reads each leaf once */
	int rc = umap_objw_read(&copy, &data, &out->len, &out->type, s->objw, id);
	if (!rc) {
		out->copy = copy.ptr ? umap_buf_detach(&copy) : NULL;
		out->data = out->copy ? out->copy : data;
	} else if (rc != UMAP_ENOTFOUND) {
		umap_buf_dispose(&copy);
		return rc;
	} else {
		if (git_odb_read(&out->odbobj, s->odb, id) < 0) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), id);
			return umap_error_set(UMAP_ECORRUPT, "cannot read %s (object %s): %s", what,
					      hex, git_msg());
		}
		out->data = git_odb_object_data(out->odbobj);
		out->len = git_odb_object_size(out->odbobj);
		out->type = git_odb_object_type(out->odbobj);
	}
	if (expect != GIT_OBJECT_ANY && out->type != expect) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), id);
		umap_obj_release(out);
		return umap_error_set(UMAP_ECORRUPT, "%s (object %s) is a %s, not a %s", what, hex,
				      git_object_type2string(out->type),
				      git_object_type2string(expect));
	}
	return 0;
}

void umap_obj_release(umap_obj *o)
{
	git_odb_object_free(o->odbobj);
	free(o->copy);
	o->odbobj = NULL;
	o->copy = NULL;
	o->data = NULL;
}

int umap_store_put(git_oid *out, umap_store *s, git_object_t type, const void *data, size_t len)
{
	return umap_objw_put(out, s->objw, type, data, len);
}

int umap_tree_parse(umap_tree_entry **entries, size_t *n, const umap_obj *obj, const git_oid *id)
{
	size_t count = 0, alloc = 0;
	umap_tree_entry *list = NULL;
	const char *p = obj->data, *end = obj->data + obj->len;
	while (p < end) {
		unsigned mode = 0;
		while (p < end && *p >= '0' && *p <= '7')
			mode = mode * 8 + (unsigned)(*p++ - '0');
		const char *name = p + 1;
		const char *nul = p < end && *p == ' ' ? memchr(name, '\0', (size_t)(end - name)) : NULL;
		if (!nul || end - nul < 1 + GIT_OID_RAWSZ || nul == name) {
			free(list);
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), id);
			return umap_error_set(UMAP_ECORRUPT, "tree %s is damaged (bad entry at byte %zu)",
					      hex, (size_t)(p - obj->data));
		}
		if (count == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			umap_tree_entry *more = realloc(list, alloc * sizeof(*list));
			if (!more) {
				free(list);
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			}
			list = more;
		}
		list[count].name = name;
		list[count].mode = mode;
		git_oid_fromraw(&list[count].id, (const unsigned char *)nul + 1);
		count++;
		p = nul + 1 + GIT_OID_RAWSZ;
	}
	*entries = list;
	*n = count;
	return 0;
}

static int is_tree_mode(unsigned mode)
{
	return (mode & 0170000u) == UMAP_MODE_TREE;
}

int umap_tree_entry_cmp(const void *a, const void *b)
{
	const umap_tree_entry *x = a, *y = b;
	size_t lx = strlen(x->name), ly = strlen(y->name), len = lx < ly ? lx : ly;
	int cmp = memcmp(x->name, y->name, len);
	if (cmp)
		return cmp;
	unsigned char cx = lx > len ? (unsigned char)x->name[len] : is_tree_mode(x->mode) ? '/' : 0;
	unsigned char cy = ly > len ? (unsigned char)y->name[len] : is_tree_mode(y->mode) ? '/' : 0;
	return cx < cy ? -1 : cx > cy;
}

int umap_store_write_tree(git_oid *out, umap_store *s, umap_tree_entry *entries, size_t n)
{
	/* a leaf comes in name order already: checking is n compares, sorting n log n */
	size_t sorted = 1;
	while (sorted < n && umap_tree_entry_cmp(&entries[sorted - 1], &entries[sorted]) < 0)
		sorted++;
	if (sorted < n)
		qsort(entries, n, sizeof(*entries), umap_tree_entry_cmp);
	umap_buf buf = UMAP_BUF_INIT;
	int rc = umap_buf_grow(&buf, n * 48 + 1);
	for (size_t i = 0; i < n && !rc; i++)
		rc = umap_buf_puts(&buf, entries[i].mode == UMAP_MODE_TREE ? "40000 " : "100644 ") ||
		     umap_buf_put(&buf, entries[i].name, strlen(entries[i].name) + 1) ||
		     umap_buf_put(&buf, entries[i].id.id, GIT_OID_RAWSZ);
	if (rc)
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	else
		rc = umap_store_put(out, s, GIT_OBJECT_TREE, buf.ptr ? buf.ptr : "", buf.len);
	umap_buf_dispose(&buf);
	return rc;
}

int umap_store_tree_lookup(git_oid *out, unsigned *mode, umap_store *s, const git_oid *tree,
			   const char *name, const char *what)
{
	umap_obj obj;
	umap_tree_entry *entries = NULL;
	size_t n = 0;
	int rc = umap_store_read(&obj, s, tree, GIT_OBJECT_TREE, what);
	if (rc)
		return rc;
	if ((rc = umap_tree_parse(&entries, &n, &obj, tree)) == 0) {
		rc = UMAP_ENOTFOUND;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(entries[i].name, name)) {
				git_oid_cpy(out, &entries[i].id);
				if (mode)
					*mode = entries[i].mode;
				rc = 0;
				break;
			}
	}
	free(entries);
	umap_obj_release(&obj);
	return rc;
}

/* ---- Names ------------------------------------------------------------------------ */

static int safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static int percent_encode(umap_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	if (umap_buf_putc(out, '~'))
		return UMAP_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int rc = safe_char(c) ? umap_buf_putc(out, (char)c)
				      : umap_buf_putc(out, '%') || umap_buf_putc(out, hex[c >> 4]) ||
					umap_buf_putc(out, hex[c & 15]);
		if (rc)
			return UMAP_ENOMEM;
	}
	return 0;
}

static int percent_decode(umap_buf *out, const char *name)
{
	for (const char *p = name + 1; *p; p++) {
		char c = *p;
		if (c == '%') {
			unsigned v = 0;
			for (int k = 1; k <= 2; k++) {
				char h = p[k];
				unsigned d = h >= '0' && h <= '9' ? (unsigned)(h - '0')
					   : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
								  : 16;
				if (d == 16)
					return umap_error_set(UMAP_ECORRUPT, "bad entry name '%s'", name);
				v = v * 16 + d;
			}
			c = (char)v;
			p += 2;
		}
		if (umap_buf_putc(out, c))
			return UMAP_ENOMEM;
	}
	return 0;
}

#define MAX_NAME 1024

int umap_name_from_id(umap_buf *out, const char *id_json)
{
	umap_buf_clear(out);
	size_t len = strlen(id_json);
	if (len > MAX_NAME)
		return umap_error_set(UMAP_ELIMIT, "feature id longer than %d bytes: %.40s...",
				      MAX_NAME, id_json);
	int plain = len > 2 && id_json[0] == '"' && id_json[len - 1] == '"';
	for (size_t i = 1; plain && i + 1 < len; i++)
		plain = safe_char((unsigned char)id_json[i]);
	int rc = plain ? umap_buf_put(out, id_json + 1, len - 2) : percent_encode(out, id_json, len);
	if (!rc && !out->ptr)
		rc = umap_buf_puts(out, "");
	return rc ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
}

int umap_id_from_name(umap_buf *out, const char *name)
{
	umap_buf_clear(out);
	if (name[0] == '~')
		return percent_decode(out, name);
	return umap_buf_putc(out, '"') || umap_buf_puts(out, name) || umap_buf_putc(out, '"')
		       ? umap_error_set(UMAP_ENOMEM, "out of memory")
		       : 0;
}

int umap_name_from_layer_id(umap_buf *out, const char *layer_id)
{
	umap_buf_clear(out);
	size_t len = strlen(layer_id);
	if (len > MAX_NAME)
		return umap_error_set(UMAP_ELIMIT, "layer id longer than %d bytes", MAX_NAME);
	int plain = len > 0;
	for (size_t i = 0; plain && i < len; i++)
		plain = safe_char((unsigned char)layer_id[i]);
	int rc = plain ? umap_buf_put(out, layer_id, len) : percent_encode(out, layer_id, len);
	return rc ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
}

int umap_layer_id_from_name(umap_buf *out, const char *name)
{
	umap_buf_clear(out);
	if (name[0] == '~')
		return percent_decode(out, name);
	return umap_buf_puts(out, name) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
}

uint64_t umap_shard_hash(const char *id_json)
{
	return umap_hash(id_json, strlen(id_json));
}

static size_t shard_capacity(int depth)
{
	size_t cap = UMAP_SHARD_FILL;
	for (int i = 0; i < depth; i++)
		cap *= UMAP_SHARD_FANOUT;
	return cap;
}

int umap_shard_depth(size_t n, int previous)
{
	int depth = previous < 0 ? 0 : previous;
	while (depth < 5 && n > shard_capacity(depth))
		depth++;
	/* Shrink only well below the threshold, so a layer near it does not flip-flop. */
	while (depth > 0 && n < shard_capacity(depth - 1) / 4)
		depth--;
	return depth;
}

/* ---- Features tree ---------------------------------------------------------------- */

/* The shard of a feature at each level: successive 6-bit slices of its id's hash. */
static unsigned shard_byte(uint64_t hash, int level)
{
	return (unsigned)(hash >> (58 - 6 * level)) & (UMAP_SHARD_FANOUT - 1);
}

static int fref_name_cmp(const void *a, const void *b)
{
	return strcmp(((const umap_fref *)a)->name, ((const umap_fref *)b)->name);
}

/* Groups refs by leaf (the hash's top 6*depth bits) with a counting sort: O(n). Refs
 * already in leaf order are not copied (40 bytes a feature). The leaves sort their own by
 * name as they are written. */
static int group_refs(umap_fref *refs, size_t n, int depth)
{
	int bits = 6 * depth, in_order = 1;
	if (depth == 0)
		return 0;
	for (size_t i = 1; i < n && in_order; i++)
		in_order = refs[i - 1].shard >> (64 - bits) <= refs[i].shard >> (64 - bits);
	if (in_order)
		return 0;
	size_t leaves = (size_t)1 << bits;
	size_t *start = calloc(leaves + 1, sizeof(*start));
	umap_fref *sorted = malloc((n ? n : 1) * sizeof(*sorted));
	if (!start || !sorted) {
		free(start);
		free(sorted);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		start[(refs[i].shard >> (64 - bits)) + 1]++;
	for (size_t l = 0; l < leaves; l++)
		start[l + 1] += start[l];
	for (size_t i = 0; i < n; i++)
		sorted[start[refs[i].shard >> (64 - bits)]++] = refs[i];
	memcpy(refs, sorted, n * sizeof(*refs));
	free(start);
	free(sorted);
	return 0;
}

static const char shard_names[UMAP_SHARD_FANOUT][3] = {
#define H(n) { "0123456789abcdef"[(n) >> 4], "0123456789abcdef"[(n) & 15], 0 }
#define R(n) H(n), H(n + 1), H(n + 2), H(n + 3), H(n + 4), H(n + 5), H(n + 6), H(n + 7)
	R(0), R(8), R(16), R(24), R(32), R(40), R(48), R(56)
#undef R
#undef H
};

/* ---- What a patched leaf changed ---------------------------------------------------
 * A commit would read each old leaf it patches three times: to patch it, to mark the new
 * objects (umap_store_mark_new) and to list the changes (umap_store_diff). A leaf is
 * 244 entries for 1M features, a 1% edit touches nearly every leaf, and reading one is a
 * decompression and a parse: so the patch, which has both leaves at hand, keeps the few
 * entries that differ, by (old leaf, new leaf), and the other two walk those instead. Ids
 * name contents, so a kept pair never goes stale. Bounded: past LEAF_MEMO_MAX changes
 * (3.5 MB and their names) nothing more is kept (a rewrite of the whole layer) and the
 * walks read the leaves. */

#define LEAF_MEMO_MAX 65536

typedef struct leaf_change {
	size_t name; /* offset in the memo's names */
	git_oid old_id, new_id;
	unsigned char has_old, has_new;
} leaf_change;

typedef struct leaf_pair {
	git_oid old_tree, new_tree;
	size_t first, count; /* its changes */
} leaf_pair;

struct leaf_memo {
	leaf_pair *pairs;
	size_t npairs, pairs_cap;
	leaf_change *changes;
	size_t nchanges, changes_cap;
	umap_buf names;
	int sorted, full;
};

static void leaf_memo_free(struct leaf_memo *m)
{
	if (!m)
		return;
	free(m->pairs);
	free(m->changes);
	umap_buf_dispose(&m->names);
	free(m);
}

static int leaf_pair_cmp(const void *a, const void *b)
{
	const leaf_pair *x = a, *y = b;
	int cmp = git_oid_cmp(&x->new_tree, &y->new_tree);
	return cmp ? cmp : git_oid_cmp(&x->old_tree, &y->old_tree);
}

static int leaf_change_put(struct leaf_memo *m, const umap_tree_entry *o, const umap_tree_entry *n)
{
	if (m->nchanges == LEAF_MEMO_MAX)
		return UMAP_ELIMIT;
	if (m->nchanges == m->changes_cap) {
		size_t cap = m->changes_cap ? m->changes_cap * 2 : 1024;
		leaf_change *more = realloc(m->changes, cap * sizeof(*more));
		if (!more)
			return UMAP_ENOMEM;
		m->changes = more;
		m->changes_cap = cap;
	}
	leaf_change *c = &m->changes[m->nchanges];
	const char *name = o ? o->name : n->name;
	c->name = m->names.len;
	if (umap_buf_put(&m->names, name, strlen(name) + 1))
		return UMAP_ENOMEM;
	c->has_old = o != NULL;
	c->has_new = n != NULL;
	if (o)
		git_oid_cpy(&c->old_id, &o->id);
	if (n)
		git_oid_cpy(&c->new_id, &n->id);
	m->nchanges++;
	return 0;
}

/* Keeps what leaf `new_tree` (entries `ne`) changed from `old_tree` (entries `oe`), both
 * in tree order and all blobs. Memory is no reason to fail: on none, nothing is kept. */
static void leaf_memo_add(umap_store *s, const git_oid *old_tree, const umap_tree_entry *oe,
			  size_t on, const git_oid *new_tree, const umap_tree_entry *ne, size_t nn)
{
	if (!s->memo && !(s->memo = calloc(1, sizeof(*s->memo))))
		return;
	struct leaf_memo *m = s->memo;
	if (m->full)
		return;
	for (size_t i = 0; i < on; i++)
		if (is_tree_mode(oe[i].mode))
			return; /* not a leaf: the walks read it */
	size_t first = m->nchanges, names = m->names.len, i = 0, j = 0;
	int rc = 0;
	while (!rc && (i < on || j < nn)) {
		int cmp = i == on ? 1 : j == nn ? -1 : strcmp(oe[i].name, ne[j].name);
		const umap_tree_entry *o = cmp <= 0 ? &oe[i++] : NULL, *n = cmp >= 0 ? &ne[j++] : NULL;
		if (!(o && n && git_oid_equal(&o->id, &n->id)))
			rc = leaf_change_put(m, o, n);
	}
	if (!rc && m->npairs == m->pairs_cap) {
		size_t cap = m->pairs_cap ? m->pairs_cap * 2 : 256;
		leaf_pair *more = realloc(m->pairs, cap * sizeof(*more));
		if (more) {
			m->pairs = more;
			m->pairs_cap = cap;
		} else {
			rc = UMAP_ENOMEM;
		}
	}
	if (rc) {
		m->nchanges = first;
		m->names.len = names;
		m->full = 1;
		return;
	}
	leaf_pair *p = &m->pairs[m->npairs++];
	git_oid_cpy(&p->old_tree, old_tree);
	git_oid_cpy(&p->new_tree, new_tree);
	p->first = first;
	p->count = m->nchanges - first;
	m->sorted = 0;
}

/* What leaf `new_tree` changed from `old_tree`, if a patch kept it; else NULL. */
static const leaf_pair *leaf_memo_find(umap_store *s, const git_oid *old_tree,
				       const git_oid *new_tree)
{
	struct leaf_memo *m = s->memo;
	if (!m || !m->npairs || !old_tree || !new_tree)
		return NULL;
	if (!m->sorted) {
		qsort(m->pairs, m->npairs, sizeof(*m->pairs), leaf_pair_cmp);
		m->sorted = 1;
	}
	leaf_pair key;
	git_oid_cpy(&key.old_tree, old_tree);
	git_oid_cpy(&key.new_tree, new_tree);
	return bsearch(&key, m->pairs, m->npairs, sizeof(*m->pairs), leaf_pair_cmp);
}

/* Reads and parses a tree; on success the caller frees *entries and releases *obj. */
static int tree_read(umap_obj *obj, umap_tree_entry **entries, size_t *n, umap_store *s,
		     const git_oid *tree, const char *what)
{
	*entries = NULL;
	*n = 0;
	int rc = umap_store_read(obj, s, tree, GIT_OBJECT_TREE, what);
	if (rc)
		return rc;
	if ((rc = umap_tree_parse(entries, n, obj, tree)))
		umap_obj_release(obj);
	return rc;
}

/* The old tree's entry per shard byte (names "00".."3f"), or none. */
static int read_children(git_oid *child, unsigned char *has, umap_store *s, const git_oid *tree)
{
	memset(has, 0, UMAP_SHARD_FANOUT);
	if (!tree)
		return 0;
	umap_obj obj;
	umap_tree_entry *entries;
	size_t n;
	int rc = tree_read(&obj, &entries, &n, s, tree, "a feature shard");
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		unsigned v;
		if (!is_tree_mode(entries[i].mode) || strlen(entries[i].name) != 2 ||
		    sscanf(entries[i].name, "%2x", &v) != 1 || v >= UMAP_SHARD_FANOUT) {
			rc = UMAP_ECONFLICT; /* not the shard layout expected: build it whole */
			break;
		}
		git_oid_cpy(&child[v], &entries[i].id);
		has[v] = 1;
	}
	free(entries);
	umap_obj_release(&obj);
	return rc;
}

static int name_cmp(const void *key, const void *entry)
{
	return strcmp(key, ((const umap_tree_entry *)entry)->name);
}

/* A leaf from refs; zero blob ids are taken from the old leaf by name. */
static int patch_leaf(git_oid *out, int *empty, umap_store *s, const git_oid *old, umap_fref *refs,
		      size_t n, umap_tree_entry *scratch)
{
	umap_obj obj;
	umap_tree_entry *old_entries = NULL;
	size_t nold = 0;
	int loaded = 0, rc = 0;
	size_t at = 0; /* refs and the old leaf are both in name order: walk them together */
	for (size_t i = 0; i < n && !rc; i++) {
		if (i && !strcmp(refs[i].name, refs[i - 1].name))
			rc = umap_error_set(UMAP_EINVALID, "duplicate feature id '%s'", refs[i].name);
		scratch[i].name = refs[i].name;
		scratch[i].mode = UMAP_MODE_BLOB;
		git_oid_cpy(&scratch[i].id, &refs[i].blob);
		if (rc || !git_oid_is_zero(&refs[i].blob))
			continue;
		if (!loaded) {
			if (!old) {
				rc = UMAP_ECONFLICT;
				break;
			}
			if ((rc = tree_read(&obj, &old_entries, &nold, s, old, "a feature shard")))
				break;
			loaded = 1;
		}
		int cmp = -1;
		while (at < nold && (cmp = strcmp(old_entries[at].name, refs[i].name)) < 0)
			at++;
		const umap_tree_entry *e =
			cmp == 0 ? &old_entries[at]
				 : bsearch(refs[i].name, old_entries, nold, sizeof(*old_entries), name_cmp);
		if (!e)
			rc = UMAP_ECONFLICT; /* said unchanged, but not there: build it whole */
		else
			git_oid_cpy(&scratch[i].id, &e->id);
	}
	/* the old leaf is wanted for what it changed, even when every ref names its blob */
	if (!rc && !loaded && old && n && !(s->memo && s->memo->full)) {
		if ((rc = tree_read(&obj, &old_entries, &nold, s, old, "a feature shard")) == 0)
			loaded = 1;
	}
	*empty = n == 0;
	if (!rc && n && !(rc = umap_store_write_tree(out, s, scratch, n)) && loaded)
		leaf_memo_add(s, old, old_entries, nold, out, scratch, n);
	free(old_entries);
	if (loaded)
		umap_obj_release(&obj);
	return rc;
}

/* Entries for the largest leaf met so far: memory follows a leaf, not the layer. */
typedef struct leaf_scratch {
	umap_tree_entry *entries;
	size_t cap;
} leaf_scratch;

static int merge_leaf(git_oid *out, int *empty, umap_store *s, const git_oid *old, const umap_fref *refs,
		      size_t n);

/* The tree of the shard `prefix` at `level` from the old one (NULL: none), asking `leaf`
 * for the refs of every leaf under it that `affected` marks (NULL: every leaf); the
 * others are reused by id. A leaf is made from its refs alone (patch_leaf), or when
 * `merge` is set from the old leaf and its refs as edits of it (merge_leaf). *empty when
 * nothing is left under it (no tree written but at level 0 above the leaves). */
static int leaves_shard(git_oid *out, int *empty, umap_store *s, const git_oid *old,
			size_t prefix, int level, int depth, const unsigned char *affected,
			umap_leaf_fn leaf, void *ctx, leaf_scratch *scratch, int merge)
{
	if (level == depth) {
		umap_fref *refs = NULL;
		size_t n = 0;
		int rc = leaf(ctx, prefix, &refs, &n);
		if (rc)
			return rc;
		if (n > 1)
			qsort(refs, n, sizeof(*refs), fref_name_cmp);
		if (merge)
			return merge_leaf(out, empty, s, old, refs, n);
		if (n > scratch->cap) {
			umap_tree_entry *more = realloc(scratch->entries, n * sizeof(*more));
			if (!more)
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			scratch->entries = more;
			scratch->cap = n;
		}
		return patch_leaf(out, empty, s, old, refs, n, scratch->entries);
	}
	git_oid child[UMAP_SHARD_FANOUT];
	unsigned char has[UMAP_SHARD_FANOUT];
	int rc = read_children(child, has, s, old);
	umap_tree_entry entries[UMAP_SHARD_FANOUT];
	size_t count = 0, span = (size_t)1 << (6 * (depth - level - 1));
	for (unsigned b = 0; b < UMAP_SHARD_FANOUT && !rc; b++) {
		size_t first = ((prefix << 6) | b) * span;
		int touched = !affected;
		for (size_t l = first; l < first + span && !touched; l++)
			touched = affected[l];
		entries[count].name = shard_names[b];
		entries[count].mode = UMAP_MODE_TREE;
		int gone = 0;
		if (!touched) {
			if (has[b])
				git_oid_cpy(&entries[count++].id, &child[b]);
		} else {
			rc = leaves_shard(&entries[count].id, &gone, s, has[b] ? &child[b] : NULL,
					  (prefix << 6) | b, level + 1, depth, affected, leaf, ctx, scratch,
					  merge);
			if (!rc && !gone)
				count++;
			/* an edit touching every leaf looks up thousands of leaves in the pack's
			 * index, which libgit2 maps whole (1M features: 28 MB), and reads them
			 * through its windows: given back after each 64th of the tree (64 times,
			 * each a reopening of the object database), only what a 64th of the
			 * leaves touched stays resident (1M features: a commit peaks at 67 MB, 83
			 * when they are given back after each eighth) */
			if (!rc && old && level == 0 && depth >= 2 && umap_store_release_packs(s))
				umap_error_clear(); /* kept mapped, then */
		}
	}
	*empty = count == 0;
	if (rc || (!count && level))
		return rc;
	return umap_store_write_tree(out, s, entries, count);
}

static int leaves_tree(git_oid *out, umap_store *s, const git_oid *old_tree, int depth,
		       const unsigned char *affected, umap_leaf_fn leaf, void *ctx, int merge)
{
	leaf_scratch scratch = { NULL, 0 };
	int empty = 0;
	int rc = leaves_shard(out, &empty, s, old_tree, 0, 0, depth, affected, leaf, ctx, &scratch,
			      merge);
	free(scratch.entries);
	if (!rc && empty && depth == 0) {
		umap_tree_entry none;
		rc = umap_store_write_tree(out, s, &none, 0);
	}
	return rc;
}

int umap_store_features_tree_leaves(git_oid *out, umap_store *s, int depth, umap_leaf_fn leaf,
				    void *ctx)
{
	return leaves_tree(out, s, NULL, depth, NULL, leaf, ctx, 0);
}

int umap_store_features_patch_leaves(git_oid *out, umap_store *s, const git_oid *old_tree,
				     int depth, const unsigned char *affected, umap_leaf_fn leaf,
				     void *ctx)
{
	if (depth < 1)
		return UMAP_ECONFLICT;
	return leaves_tree(out, s, old_tree, depth, affected, leaf, ctx, 0);
}

/* Refs in leaf order, handed out leaf by leaf as the tree is built in that order. */
typedef struct ref_cursor {
	umap_fref *refs;
	size_t n, at;
	int bits;
} ref_cursor;

static int next_leaf(void *ctx, size_t leaf, umap_fref **refs, size_t *n)
{
	ref_cursor *c = ctx;
	size_t from = c->at;
	if (c->bits && from < c->n && (c->refs[from].shard >> (64 - c->bits)) < leaf)
		return UMAP_ECONFLICT; /* refs outside the affected leaves: a caller bug */
	while (c->at < c->n && (!c->bits || (c->refs[c->at].shard >> (64 - c->bits)) == leaf))
		c->at++;
	*refs = c->refs + from;
	*n = c->at - from;
	return 0;
}

int umap_store_features_tree(git_oid *out, umap_store *s, umap_fref *refs, size_t n, int depth)
{
	depth = n ? depth : 0;
	int rc = group_refs(refs, n, depth);
	ref_cursor c = { refs, n, 0, 6 * depth };
	return rc ? rc : umap_store_features_tree_leaves(out, s, depth, next_leaf, &c);
}

int umap_store_features_patch(git_oid *out, umap_store *s, const git_oid *old_tree, int depth,
			      umap_fref *refs, size_t n, const unsigned char *affected)
{
	if (depth < 1)
		return UMAP_ECONFLICT;
	int rc = group_refs(refs, n, depth);
	ref_cursor c = { refs, n, 0, 6 * depth };
	if (!rc)
		rc = umap_store_features_patch_leaves(out, s, old_tree, depth, affected, next_leaf, &c);
	if (!rc && c.at < n)
		rc = UMAP_ECONFLICT; /* refs outside the affected leaves: a caller bug */
	return rc;
}

int umap_store_features_edit(git_oid *out, umap_store *s, const git_oid *old_tree, int depth,
			     umap_fref *refs, size_t n)
{
	if (depth < 1 || depth > 3)
		return UMAP_ECONFLICT;
	if (!n) {
		git_oid_cpy(out, old_tree);
		return 0;
	}
	int rc = group_refs(refs, n, depth);
	if (rc)
		return rc;
	unsigned char *affected = calloc((size_t)1 << (6 * depth), 1);
	if (!affected)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		affected[refs[i].shard >> (64 - 6 * depth)] = 1;
	ref_cursor c = { refs, n, 0, 6 * depth };
	rc = leaves_tree(out, s, old_tree, depth, affected, next_leaf, &c, 1);
	free(affected);
	return rc;
}

/* A leaf from the old one and refs sorted by name: a ref's blob replaces or adds the entry of
 * its name, a zero blob removes it (UMAP_ECONFLICT, no message, when it is not there). */
static int merge_leaf(git_oid *out, int *empty, umap_store *s, const git_oid *old, const umap_fref *refs,
		      size_t n)
{
	umap_obj obj;
	umap_tree_entry *old_entries = NULL;
	size_t nold = 0, i = 0, j = 0, k = 0;
	int rc = old ? tree_read(&obj, &old_entries, &nold, s, old, "a feature shard") : 0;
	if (rc)
		return rc;
	umap_tree_entry *merged = malloc((nold + n + 1) * sizeof(*merged));
	if (!merged)
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	while (!rc && (i < nold || j < n)) {
		int cmp = i == nold ? 1 : j == n ? -1 : strcmp(old_entries[i].name, refs[j].name);
		if (cmp < 0) {
			if (is_tree_mode(old_entries[i].mode))
				rc = UMAP_ECONFLICT; /* not a leaf: build it whole */
			merged[k++] = old_entries[i++];
			continue;
		}
		/* the refs of one name: a removal and at most one blob (a feature removed and
		 * written again) */
		const umap_fref *put = NULL;
		size_t end = j;
		for (; end < n && !strcmp(refs[end].name, refs[j].name) && !rc; end++) {
			if (git_oid_is_zero(&refs[end].blob))
				continue;
			if (put)
				rc = umap_error_set(UMAP_EINVALID, "duplicate feature id '%s'", refs[j].name);
			put = &refs[end];
		}
		if (!rc && !put && cmp > 0)
			rc = UMAP_ECONFLICT; /* removing what the old leaf does not hold */
		else if (!rc && put)
			merged[k++] = (umap_tree_entry){ put->name, UMAP_MODE_BLOB, put->blob };
		i += cmp == 0;
		j = end;
	}
	*empty = k == 0;
	if (!rc && k)
		rc = umap_store_write_tree(out, s, merged, k);
	/* what it changed, for marking the new objects and for the diff (patch_leaf's memo),
	 * so that neither reads the leaf back (one streamed to the pack is not kept) */
	if (!rc && k && old)
		leaf_memo_add(s, old, old_entries, nold, out, merged, k);
	free(merged);
	free(old_entries);
	if (old)
		umap_obj_release(&obj);
	return rc;
}

int umap_store_features_depth(int *depth, umap_store *s, const git_oid *tree)
{
	*depth = 0;
	git_oid at;
	git_oid_cpy(&at, tree);
	for (int level = 0; level < 8; level++) {
		umap_obj obj;
		umap_tree_entry *entries = NULL;
		size_t n = 0;
		int rc = umap_store_read(&obj, s, &at, GIT_OBJECT_TREE, "a feature shard");
		if (rc)
			return rc;
		rc = umap_tree_parse(&entries, &n, &obj, &at);
		int deeper = !rc && n && is_tree_mode(entries[0].mode);
		if (deeper)
			git_oid_cpy(&at, &entries[0].id);
		free(entries);
		umap_obj_release(&obj);
		if (rc || !deeper)
			return rc;
		(*depth)++;
	}
	return umap_error_set(UMAP_ECORRUPT, "feature shards nested too deep");
}

int umap_store_features_each(umap_store *s, const git_oid *tree, umap_blob_cb cb, void *ctx)
{
	umap_obj obj;
	umap_tree_entry *entries;
	size_t n;
	int rc = tree_read(&obj, &entries, &n, s, tree, "a feature shard");
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++)
		rc = is_tree_mode(entries[i].mode) ? umap_store_features_each(s, &entries[i].id, cb, ctx)
						   : cb(ctx, entries[i].name, &entries[i].id);
	free(entries);
	umap_obj_release(&obj);
	return rc;
}

/* ---- Feature order ---------------------------------------------------------------- */

typedef umap_order_node order_node;

static int order_level(order_node *nodes, size_t *n, umap_store *s, int level)
{
	size_t out = 0;
	umap_tree_entry entries[UMAP_ORDER_MAX];
	char names[UMAP_ORDER_MAX][8];
	int shift = UMAP_ORDER_BITS * level;
	uint64_t mask = ((uint64_t)1 << UMAP_ORDER_BITS) - 1;
	for (size_t i = 0; i < *n;) {
		size_t count = 0;
		uint64_t key = 0;
		while (i < *n) {
			snprintf(names[count], sizeof(names[count]), "%04zx", count);
			entries[count].name = names[count];
			entries[count].mode = level == 1 ? UMAP_MODE_BLOB : UMAP_MODE_TREE;
			git_oid_cpy(&entries[count].id, &nodes[i].id);
			key = nodes[i].key;
			count++;
			i++;
			if (count == UMAP_ORDER_MAX || (shift < 58 && ((key >> shift) & mask) == 0))
				break;
		}
		int rc = umap_store_write_tree(&nodes[out].id, s, entries, count);
		if (rc)
			return rc;
		nodes[out].key = key;
		out++;
	}
	*n = out;
	return 0;
}

static int oid_cmp(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

static int store_knows(const umap_store *s, const git_oid *id)
{
	return s->known && bsearch(id, s->known, s->nknown, sizeof(*s->known), oid_cmp);
}

static int know_chunks(umap_store *s, const git_oid *tree, size_t *cap, int depth)
{
	umap_obj obj;
	umap_tree_entry *entries;
	size_t n;
	if (depth > 8)
		return umap_error_set(UMAP_ECORRUPT, "the feature order is nested too deep");
	int rc = tree_read(&obj, &entries, &n, s, tree, "the feature order");
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		if (is_tree_mode(entries[i].mode)) {
			rc = know_chunks(s, &entries[i].id, cap, depth + 1);
			continue;
		}
		if (s->nknown == *cap) {
			size_t more = *cap ? 2 * *cap : 256;
			git_oid *grown = realloc(s->known, more * sizeof(*grown));
			if (!grown) {
				rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				break;
			}
			s->known = grown;
			*cap = more;
		}
		git_oid_cpy(&s->known[s->nknown++], &entries[i].id);
	}
	free(entries);
	umap_obj_release(&obj);
	return rc;
}

int umap_store_know_order(umap_store *s, const git_oid *tree)
{
	size_t cap = s->nknown, was = s->nknown;
	int rc = know_chunks(s, tree, &cap, 0);
	if (rc) {
		s->nknown = was; /* the chunks of orders noted before stay known */
		return rc;
	}
	if (!s->known && !(s->known = malloc(sizeof(*s->known))))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	qsort(s->known, s->nknown, sizeof(*s->known), oid_cmp);
	return 0;
}

/* The chunk the builder holds is complete: its blob becomes a node of level 1. */
static int order_chunk_end(umap_order_builder *b)
{
	if (b->count == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 256;
		umap_order_node *more = realloc(b->nodes, (cap + 1) * sizeof(*more));
		if (!more)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		b->nodes = more;
		b->cap = cap;
	}
	/* a chunk git has (an edit leaves most of them as they were) is not kept again; one
	 * it does not have must not make libgit2 read the pack directory again (it does on
	 * every miss: 0.3 s for the thousand new chunks of a 1% edit of 1M features), and a
	 * pack another process wrote meanwhile would only save a copy */
	git_oid *id = &b->nodes[b->count].id;
	int rc = umap_objw_hash(id, b->s->objw, GIT_OBJECT_BLOB, b->chunk.ptr, b->chunk.len);
	if (!rc && !store_knows(b->s, id) &&
	    (b->s->known || umap_objw_has(b->s->objw, id) ||
	     !git_odb_exists_ext(b->s->odb, id, GIT_ODB_LOOKUP_NO_REFRESH)))
		rc = umap_store_put(id, b->s, GIT_OBJECT_BLOB, b->chunk.ptr, b->chunk.len);
	b->nodes[b->count++].key = b->last_key;
	umap_buf_clear(&b->chunk);
	b->in_chunk = 0;
	return rc;
}

int umap_order_builder_add(umap_order_builder *b, const char *id, size_t len)
{
	uint64_t key = umap_hash(id, len);
	uint64_t mask = ((uint64_t)1 << UMAP_ORDER_BITS) - 1;
	if (umap_buf_put(&b->chunk, id, len) || umap_buf_putc(&b->chunk, '\n'))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	b->last_key = key;
	if (++b->in_chunk < UMAP_ORDER_MAX && (key & mask) != 0)
		return 0;
	return order_chunk_end(b);
}

int umap_order_builder_finish(git_oid *out, umap_order_builder *b)
{
	int rc = b->in_chunk ? order_chunk_end(b) : 0;
	int level = 1;
	while (!rc && (level == 1 || b->count > 1))
		rc = order_level(b->nodes, &b->count, b->s, level++);
	if (!rc && b->count == 0) {
		umap_tree_entry none;
		rc = umap_store_write_tree(out, b->s, &none, 0);
	} else if (!rc) {
		git_oid_cpy(out, &b->nodes[0].id);
	}
	umap_order_builder_dispose(b);
	return rc;
}

void umap_order_builder_dispose(umap_order_builder *b)
{
	free(b->nodes);
	b->nodes = NULL;
	b->count = b->cap = b->in_chunk = 0;
	umap_buf_dispose(&b->chunk);
}

int umap_store_order_tree(git_oid *out, umap_store *s, char *const *ids, size_t n)
{
	return umap_store_order_tree_at(out, s, ids, sizeof(*ids), n);
}

int umap_store_order_tree_at(git_oid *out, umap_store *s, char *const *first, size_t stride,
			     size_t n)
{
	/* a node per chunk (64 ids on average), not per id: 1M ids, 0.5 MB instead of 32 */
	umap_order_builder b = UMAP_ORDER_BUILDER_INIT(s);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *id = *(char *const *)((const char *)first + i * stride);
		rc = umap_order_builder_add(&b, id, strlen(id));
	}
	if (rc) {
		umap_order_builder_dispose(&b);
		return rc;
	}
	return umap_order_builder_finish(out, &b);
}

int umap_store_order_each(umap_store *s, const git_oid *tree, umap_id_cb cb, void *ctx)
{
	umap_obj obj;
	umap_tree_entry *entries;
	size_t n;
	int rc = tree_read(&obj, &entries, &n, s, tree, "the feature order");
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		if (is_tree_mode(entries[i].mode)) {
			rc = umap_store_order_each(s, &entries[i].id, cb, ctx);
			continue;
		}
		umap_obj chunk;
		if ((rc = umap_store_read(&chunk, s, &entries[i].id, GIT_OBJECT_BLOB,
					  "a chunk of the feature order")))
			break;
		const char *p = chunk.data, *end = chunk.data + chunk.len;
		while (p < end && !rc) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl || nl == p) {
				rc = umap_error_set(UMAP_ECORRUPT, "a chunk of the feature order is damaged");
				break;
			}
			rc = cb(ctx, p, (size_t)(nl - p));
			p = nl + 1;
		}
		umap_obj_release(&chunk);
	}
	free(entries);
	umap_obj_release(&obj);
	return rc;
}

/* ---- Writing and comparing -------------------------------------------------------- */

/* Marks a blob of a new tree for the pack when it is new here; else git must have it. */
static int mark_blob(umap_store *s, const git_oid *id, const char *name)
{
	if (umap_objw_has(s->objw, id)) {
		umap_objw_mark(s->objw, id);
	} else if (!store_knows(s, id) && !git_odb_exists(s->odb, id)) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), id);
		return umap_error_set(UMAP_ENOTFOUND, "blob %s of '%s' is missing", hex, name);
	}
	return 0;
}

int umap_store_mark_new(umap_store *s, const git_oid *new_tree, const git_oid *old_tree)
{
	if (old_tree && git_oid_equal(new_tree, old_tree))
		return 0;
	if (!umap_objw_has(s->objw, new_tree))
		return 0; /* already in git: reused as a whole */
	if (umap_objw_settled(s->objw, new_tree))
		return 0; /* in the pack, its children marked or there when it was put */
	umap_objw_mark(s->objw, new_tree);
	const leaf_pair *p = leaf_memo_find(s, old_tree, new_tree);
	for (size_t i = 0; p && i < p->count; i++) {
		const leaf_change *c = &s->memo->changes[p->first + i];
		int rc = c->has_new ? mark_blob(s, &c->new_id, s->memo->names.ptr + c->name) : 0;
		if (rc)
			return rc;
	}
	if (p)
		return 0;
	umap_obj nobj, oobj = { 0 };
	umap_tree_entry *ne = NULL, *oe = NULL;
	size_t nn = 0, on = 0;
	int rc = umap_store_read(&nobj, s, new_tree, GIT_OBJECT_TREE, "a new tree");
	if (rc)
		return rc;
	rc = umap_tree_parse(&ne, &nn, &nobj, new_tree);
	if (!rc && old_tree && !(rc = umap_store_read(&oobj, s, old_tree, GIT_OBJECT_TREE, "a tree")))
		rc = umap_tree_parse(&oe, &on, &oobj, old_tree);
	size_t j = 0;
	for (size_t i = 0; i < nn && !rc; i++) {
		int cmp = 1;
		while (j < on && (cmp = umap_tree_entry_cmp(&oe[j], &ne[i])) < 0)
			j++;
		const git_oid *old = j < on && cmp == 0 ? &oe[j].id : NULL;
		if (old && git_oid_equal(old, &ne[i].id))
			continue;
		if (is_tree_mode(ne[i].mode))
			rc = umap_store_mark_new(s, &ne[i].id, old);
		else
			rc = mark_blob(s, &ne[i].id, ne[i].name);
	}
	free(ne);
	free(oe);
	umap_obj_release(&nobj);
	umap_obj_release(&oobj);
	return rc;
}

/* git's own pack.compression, when the user set one, wins over our choice */
static int pack_level(umap_store *s)
{
	int level = -1;
	git_config *cfg = NULL;
	if (git_repository_config_snapshot(&cfg, s->git) == 0 &&
	    git_config_get_int32(&level, cfg, "pack.compression") < 0)
		level = -1;
	git_config_free(cfg);
	git_error_clear();
	return level;
}

int umap_store_stream_blobs(umap_store *s, int on)
{
	return umap_objw_stream(s->objw, on ? s->gitdir : NULL, on ? pack_level(s) : 0);
}

int umap_store_stream_trees(umap_store *s, int on)
{
	return umap_objw_stream_trees(s->objw, on ? s->gitdir : NULL, on ? pack_level(s) : 0);
}

int umap_store_flush(umap_store *s)
{
	int rc = umap_objw_flush(s->objw, s->gitdir, pack_level(s));
	if (!rc && git_odb_refresh(s->odb) < 0)
		rc = umap_error_set(UMAP_EIO, "cannot reload the object database: %s", git_msg());
	return rc;
}

static int diff_rec(umap_store *s, const git_oid *old_tree, const git_oid *new_tree,
		    umap_buf *path, umap_diff_cb cb, void *ctx)
{
	if (old_tree && new_tree && git_oid_equal(old_tree, new_tree))
		return 0;
	size_t base = path->len;
	const leaf_pair *p = leaf_memo_find(s, old_tree, new_tree);
	for (size_t i = 0; p && i < p->count; i++) {
		const leaf_change *c = &s->memo->changes[p->first + i];
		path->len = base;
		if ((base && umap_buf_putc(path, '/')) ||
		    umap_buf_puts(path, s->memo->names.ptr + c->name)) {
			path->len = base;
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		int rc = cb(ctx, path->ptr, c->has_old ? &c->old_id : NULL,
			    c->has_new ? &c->new_id : NULL);
		path->len = base;
		path->ptr[base] = '\0';
		if (rc)
			return rc;
	}
	if (p)
		return 0;
	umap_obj oobj = { 0 }, nobj = { 0 };
	umap_tree_entry *oe = NULL, *ne = NULL;
	size_t on = 0, nn = 0;
	int rc = 0;
	if (old_tree && !(rc = umap_store_read(&oobj, s, old_tree, GIT_OBJECT_TREE, "a tree")))
		rc = umap_tree_parse(&oe, &on, &oobj, old_tree);
	if (!rc && new_tree && !(rc = umap_store_read(&nobj, s, new_tree, GIT_OBJECT_TREE, "a tree")))
		rc = umap_tree_parse(&ne, &nn, &nobj, new_tree);
	size_t i = 0, j = 0;
	while (!rc && (i < on || j < nn)) {
		int cmp = i == on ? 1 : j == nn ? -1 : umap_tree_entry_cmp(&oe[i], &ne[j]);
		const umap_tree_entry *o = cmp <= 0 ? &oe[i] : NULL, *n = cmp >= 0 ? &ne[j] : NULL;
		if (o)
			i++;
		if (n)
			j++;
		if (o && n && git_oid_equal(&o->id, &n->id))
			continue;
		const char *name = o ? o->name : n->name;
		path->len = base;
		if ((base && umap_buf_putc(path, '/')) || umap_buf_puts(path, name)) {
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
			break;
		}
		int otree = o && is_tree_mode(o->mode), ntree = n && is_tree_mode(n->mode);
		if (otree || ntree)
			rc = diff_rec(s, otree ? &o->id : NULL, ntree ? &n->id : NULL, path, cb, ctx);
		if (!rc && ((o && !otree) || (n && !ntree)))
			rc = cb(ctx, path->ptr, o && !otree ? &o->id : NULL, n && !ntree ? &n->id : NULL);
	}
	path->len = base;
	if (path->ptr)
		path->ptr[base] = '\0';
	free(oe);
	free(ne);
	umap_obj_release(&oobj);
	umap_obj_release(&nobj);
	return rc;
}

int umap_store_diff(umap_store *s, const git_oid *old_tree, const git_oid *new_tree,
		    umap_diff_cb cb, void *ctx)
{
	umap_buf path = UMAP_BUF_INIT;
	int rc = umap_buf_puts(&path, "") ? umap_error_set(UMAP_ENOMEM, "out of memory")
					   : diff_rec(s, old_tree, new_tree, &path, cb, ctx);
	umap_buf_dispose(&path);
	return rc;
}

int umap_store_feature_lookup(git_oid *blob, umap_store *s, const git_oid *features_tree,
			      const char *id_json)
{
	int depth = 0;
	int rc = umap_store_features_depth(&depth, s, features_tree);
	if (rc)
		return rc;
	umap_buf name = UMAP_BUF_INIT;
	if ((rc = umap_name_from_id(&name, id_json)))
		return rc;
	uint64_t hash = umap_shard_hash(id_json);
	git_oid at;
	git_oid_cpy(&at, features_tree);
	for (int level = 0; level < depth && !rc; level++)
		rc = umap_store_tree_lookup(&at, NULL, s, &at, shard_names[shard_byte(hash, level)],
					    "a feature shard");
	if (!rc)
		rc = umap_store_tree_lookup(blob, NULL, s, &at, name.ptr, "a feature shard");
	umap_buf_dispose(&name);
	return rc;
}
