/* In-memory set of new git objects, flushed as one pack file with its v2 index.
 * Pack format: git's Documentation/gitformat-pack.txt; blobs as OFS_DELTAs of depth 1. */
#include "gitpack.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <zlib.h>

#include "buf.h"
#include "error.h"
#include "fs.h"
#include "sha1.h"

#define BLOCK_SIZE ((size_t)1 << 20)

/* 56 bytes an object: an import keeps one per feature (1M features: 56 MB, was 80) */
/* 48 bytes: an import of 1M features keeps one per feature blob. */
typedef struct objw_entry {
	git_oid id;
	uint32_t crc;
	char *data;
	uint32_t len;        /* an object is at most UINT32_MAX bytes (umap_objw_put) */
	uint32_t dict;       /* blobs: index+1 of the dictionary blob to delta against, 0 none */
	uint64_t offset : 56; /* in the pack being written */
	uint64_t type : 4;    /* git_object_t */
	uint64_t marked : 1;
	uint64_t written : 1; /* in a pack on disk */
	uint64_t packed : 1;  /* in the pack being written (its offset and crc are set) */
} objw_entry;

_Static_assert(sizeof(void *) != 8 || sizeof(objw_entry) == 48, "objw_entry is 48 bytes");

/* A pack being written: its bytes go to a temporary file a megabyte at a time, so that
 * neither the pack nor (when streaming, see umap_objw_stream) the blobs stay in memory. */
typedef struct pack_state {
	umap_atomic_file file; /* file.fd < 0: not open */
	umap_buf pack;         /* bytes not written to the file yet */
	uint64_t at;           /* bytes written to the file before `pack` */
	uint32_t count;        /* objects in it */
	z_stream zs, bzs;
	int zinit, bzinit, level;
	struct delta_base *base, *dict;
	size_t dict_of;        /* entry index+1 that `dict` indexes */
	umap_buf delta, base_copy;
	struct pack_async *async; /* the pack thread, NULL none (yet) */
	int no_thread;            /* none could be started */
	uint32_t first_streamed;  /* streamed objects from this number on are in this pack... */
	uint32_t nwhere;          /* ...this many of them, whose offsets are in objw's `where` */
} pack_state;

/* Bytes appended to an unlinked temporary file a megabyte at a time, read back by offset:
 * what the writer must know per streamed object without holding it in memory. */
typedef struct spill {
	int fd; /* -1: not open yet */
	uint64_t flushed; /* bytes in the file; `buf` holds those after them */
	umap_buf buf;
} spill;

typedef struct objw_block {
	struct objw_block *next;
	size_t used, size;
	char data[];
} objw_block;

struct umap_objw {
	objw_entry *entries;
	size_t count, alloc;
	uint64_t *table; /* open addressing: index+1 into entries in the low 32 bits (0 =
			  * empty), 32 more bits of the id above, compared before the entry is
			  * read: a probe of 1M objects is one cache miss, not two or three */
	size_t table_size;
	objw_block *blocks;
	size_t marked;
	uint32_t dict; /* index+1 of the current dictionary blob (umap_objw_set_dict), 0 none */
	pack_state *ps; /* the pack being written, NULL none */
	char *stream_gitdir; /* umap_objw_stream: blobs and trees go to the pack as put */
	/* Streamed objects keep no entry (48 bytes, 1M features: 48 MB): the table names
	 * them by number (STREAMED), their ids go to `ids` (20 bytes a number, read back when
	 * 32 bits of the table match), their offset and crc in the pack being written to
	 * `where` (12 bytes a number from ps->first_streamed on), and the pack's index is
	 * built from those files (write_index). */
	spill ids, where;
	uint32_t *check2; /* 32 more bits of each streamed id (bytes 12-15), by number */
	unsigned char *settled; /* a bit by number: a tree whose children are all here */
	size_t check2_alloc;
	uint32_t nstreamed;
	uint32_t (*written_ranges)[2]; /* numbers [from, to) in a flushed pack (in git) */
	size_t nranges;
	int stream_level;
	char *tree_gitdir; /* umap_objw_stream_trees: trees alone go to the pack as put */
	int tree_level;
	EVP_MD_CTX *md;
	EVP_MD *sha1; /* fetched once: OpenSSL 3 looks it up on every EVP_sha1() init */
};

static int pack_state_open(pack_state **out, const char *gitdir, int level);
static void pack_state_free(pack_state *ps);
static void pack_async_stop(pack_state *ps);
static int pack_async_wait(umap_objw *w, pack_state *ps);
typedef struct pack_add pack_add;
static int pack_async_add(umap_objw *w, pack_state *ps, uint32_t ref, const pack_add *a,
			  const void *data);
static int pack_state_add(umap_objw *w, pack_state *ps, size_t i, const void *data);

static int read_packed(umap_buf *out, git_object_t *type_out, pack_state *ps, uint64_t offset,
		       int depth);

static size_t oid_slot(const git_oid *id, size_t mask)
{
	uint64_t h;
	memcpy(&h, id->id, sizeof(h));
	return (size_t)h & mask;
}

static uint64_t oid_check(const git_oid *id)
{
	uint32_t c;
	memcpy(&c, id->id + 8, sizeof(c));
	return (uint64_t)c << 32;
}

#define SLOT_INDEX(v) ((size_t)((v) & 0xffffffffu))
/* a table slot naming streamed object number s holds STREAMED | (s + 1); an entry's, i + 1 */
#define STREAMED 0x80000000u
#define MAX_REFS (STREAMED - 2)

/* ---- Spill files --------------------------------------------------------------------- */

#define SPILL_AT ((size_t)1 << 18)

/* An unlinked file in gitdir/objects/pack (where the pack goes: same disk, no name left
 * behind by a killed writer), created with O_TMPFILE where the system has it. */
static int spill_open(spill *sp, const char *gitdir)
{
	umap_buf path = UMAP_BUF_INIT;
	int fd = -1;
	if (umap_buf_printf(&path, "%s/objects/pack", gitdir) || umap_mkdir_p(path.ptr, 0777) < 0) {
		int rc = umap_error_prefix(UMAP_EIO, "cannot create %s", path.ptr ? path.ptr : "pack dir");
		umap_buf_dispose(&path);
		return rc;
	}
#ifdef O_TMPFILE
	fd = open(path.ptr, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
	if (fd < 0 && !umap_buf_puts(&path, "/" UMAP_TEMP_MARK "objw-XXXXXX")) {
		fd = mkstemp(path.ptr);
		if (fd >= 0)
			unlink(path.ptr);
	}
	int rc = fd < 0 ? umap_error_set_errno(UMAP_EIO, "cannot create a temporary file in %s/objects/pack",
					       gitdir) : 0;
	umap_buf_dispose(&path);
	sp->fd = fd;
	sp->flushed = 0;
	umap_buf_clear(&sp->buf);
	return rc;
}

static void spill_close(spill *sp)
{
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	sp->flushed = 0;
	umap_buf_dispose(&sp->buf);
}

static int spill_write_all(int fd, const void *data, size_t len, uint64_t at)
{
	const char *p = data;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)at);
		if (n < 0)
			return umap_error_set_errno(UMAP_EIO, "cannot write a temporary file of the pack");
		p += n;
		len -= (size_t)n;
		at += (uint64_t)n;
	}
	return 0;
}

static int spill_sync(spill *sp)
{
	if (!sp->buf.len)
		return 0;
	int rc = spill_write_all(sp->fd, sp->buf.ptr, sp->buf.len, sp->flushed);
	if (!rc) {
		sp->flushed += sp->buf.len;
		umap_buf_clear(&sp->buf);
	}
	return rc;
}

static int spill_put(spill *sp, const void *data, size_t len)
{
	if (umap_buf_put(&sp->buf, data, len))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return sp->buf.len >= SPILL_AT ? spill_sync(sp) : 0;
}

static int spill_read(const spill *sp, void *out, size_t len, uint64_t at)
{
	unsigned char *o = out;
	while (len && at < sp->flushed) {
		size_t want = sp->flushed - at < len ? (size_t)(sp->flushed - at) : len;
		ssize_t n = pread(sp->fd, o, want, (off_t)at);
		if (n <= 0)
			return umap_error_set_errno(UMAP_EIO, "cannot read a temporary file of the pack");
		o += n;
		len -= (size_t)n;
		at += (uint64_t)n;
	}
	if (len && (at - sp->flushed > sp->buf.len || len > sp->buf.len - (at - sp->flushed)))
		return umap_error_set(UMAP_ECORRUPT, "a temporary file of the pack is short");
	if (len)
		memcpy(o, sp->buf.ptr + (at - sp->flushed), len);
	return 0;
}

/* Whether streamed object s is `id` (read back: a put of an object already there, rare). */
static int streamed_is(const umap_objw *w, uint32_t s, const git_oid *id)
{
	unsigned char got[GIT_OID_RAWSZ];
	return !spill_read(&w->ids, got, sizeof(got), (uint64_t)s * GIT_OID_RAWSZ) &&
	       !memcmp(got, id->id, GIT_OID_RAWSZ);
}

static int streamed_written(const umap_objw *w, uint32_t s)
{
	for (size_t r = 0; r < w->nranges; r++)
		if (s >= w->written_ranges[r][0] && s < w->written_ranges[r][1])
			return 1;
	return 0;
}

int umap_objw_new(umap_objw **out)
{
	umap_objw *w = calloc(1, sizeof(*w));
	if (!w)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	w->table_size = 1024;
	w->ids.fd = w->where.fd = -1;
	w->table = calloc(w->table_size, sizeof(*w->table));
	if (!w->table) {
		free(w);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	*out = w;
	return 0;
}

void umap_objw_free(umap_objw *w)
{
	if (!w)
		return;
	/* first: the pack thread may still read blobs of ours (the dictionary) */
	pack_state_free(w->ps);
	for (objw_block *b = w->blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	for (size_t i = 0; i < w->count; i++)
		if (w->entries[i].len > BLOCK_SIZE / 4)
			free(w->entries[i].data);
	free(w->stream_gitdir);
	free(w->tree_gitdir);
	spill_close(&w->ids);
	spill_close(&w->where);
	free(w->check2);
	free(w->settled);
	free(w->written_ranges);
	EVP_MD_CTX_free(w->md);
	EVP_MD_free(w->sha1);
	free(w->entries);
	free(w->table);
	free(w);
}

static uint32_t oid_check2(const git_oid *id)
{
	uint32_t c;
	memcpy(&c, id->id + 12, sizeof(c));
	return c;
}

/* The table's name for `id` (index + 1 of an entry, or STREAMED | number + 1), 0 none.
 * A streamed object is `id` when 64 bits of its id are (`exact`: all 160, read back from
 * its file): enough to know whether an object is new here (a wrong yes once in 2^64
 * lookups), not to drop one that is put or to return another's bytes. */
static uint32_t lookup_as(const umap_objw *w, const git_oid *id, int exact)
{
	size_t mask = w->table_size - 1;
	uint64_t check = oid_check(id);
	for (size_t slot = oid_slot(id, mask);; slot = (slot + 1) & mask) {
		uint64_t v = w->table[slot];
		if (!v)
			return 0;
		if ((v & ~(uint64_t)0xffffffffu) != check)
			continue;
		uint32_t ref = (uint32_t)SLOT_INDEX(v), s = (ref & ~STREAMED) - 1;
		if (ref & STREAMED ? w->check2[s] == oid_check2(id) && (!exact || streamed_is(w, s, id))
				   : !memcmp(w->entries[ref - 1].id.id, id->id, GIT_OID_RAWSZ))
			return ref;
	}
}

static uint32_t lookup(const umap_objw *w, const git_oid *id)
{
	return lookup_as(w, id, 1);
}

/* The entry of `id`, -1 none (or a streamed object, which has none). */
static long find(const umap_objw *w, const git_oid *id)
{
	uint32_t ref = lookup(w, id);
	return ref && !(ref & STREAMED) ? (long)ref - 1 : -1;
}

static int grow_table(umap_objw *w)
{
	size_t size = w->table_size * 2;
	uint64_t *table = calloc(size, sizeof(*table));
	if (!table)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	/* a slot's place came from the id's first 8 bytes, which streamed objects keep only in
	 * their file: the ids are read back in order (and entries' from memory) */
	for (size_t i = 0; i < w->count; i++) {
		size_t slot = oid_slot(&w->entries[i].id, size - 1);
		while (table[slot])
			slot = (slot + 1) & (size - 1);
		table[slot] = oid_check(&w->entries[i].id) | (i + 1);
	}
	int rc = 0;
	if (w->nstreamed)
		rc = spill_sync(&w->ids);
	unsigned char *chunk = NULL;
	size_t per = SPILL_AT / GIT_OID_RAWSZ;
	if (!rc && w->nstreamed && !(chunk = malloc(per * GIT_OID_RAWSZ)))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	for (uint32_t s = 0; s < w->nstreamed && !rc; s += (uint32_t)per) {
		size_t k = w->nstreamed - s < per ? w->nstreamed - s : per;
		if ((rc = spill_read(&w->ids, chunk, k * GIT_OID_RAWSZ, (uint64_t)s * GIT_OID_RAWSZ)))
			break;
		for (size_t j = 0; j < k; j++) {
			git_oid id;
			memcpy(id.id, chunk + j * GIT_OID_RAWSZ, GIT_OID_RAWSZ);
			size_t slot = oid_slot(&id, size - 1);
			while (table[slot])
				slot = (slot + 1) & (size - 1);
			table[slot] = oid_check(&id) | STREAMED | (s + j + 1);
		}
	}
	free(chunk);
	if (rc) {
		free(table);
		return rc;
	}
	free(w->table);
	w->table = table;
	w->table_size = size;
	return 0;
}

/* Small objects share 1 MiB blocks (one malloc per thousands of features). */
static char *store(umap_objw *w, const void *data, size_t len)
{
	char *p;
	if (len > BLOCK_SIZE / 4) {
		p = malloc(len ? len : 1);
	} else {
		if (!w->blocks || w->blocks->size - w->blocks->used < len) {
			objw_block *b = malloc(sizeof(*b) + BLOCK_SIZE);
			if (!b)
				return NULL;
			b->next = w->blocks;
			b->used = 0;
			b->size = BLOCK_SIZE;
			w->blocks = b;
		}
		p = w->blocks->data + w->blocks->used;
		w->blocks->used += len;
	}
	if (p && len)
		memcpy(p, data, len);
	return p;
}

/* A copy in a block of its own, freed with the writer's blocks (behind the current one,
 * which small objects keep filling). */
static char *keep_copy(umap_objw *w, const void *data, size_t len)
{
	objw_block *b = malloc(sizeof(*b) + (len ? len : 1));
	if (!b)
		return NULL;
	b->used = b->size = len;
	memcpy(b->data, data, len);
	if (w->blocks) {
		b->next = w->blocks->next;
		w->blocks->next = b;
	} else {
		b->next = NULL;
		w->blocks = b;
	}
	return b->data;
}

int umap_objw_hash(git_oid *out, umap_objw *w, git_object_t type, const void *data, size_t len)
{
	/* git's object id: SHA-1 of "<type> <size>\0" and the bytes. OpenSSL's SHA-1 (SHA-NI)
	 * is 3x faster than libgit2's collision-detecting one, which the ids of features we
	 * serialise ourselves do not need; a reused context avoids an allocation per object. */
	char hdr[32], digits[24];
	const char *name = git_object_type2string(type);
	size_t hlen = strlen(name), nd = 0, v = len;
	memcpy(hdr, name, hlen);
	hdr[hlen++] = ' ';
	do {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (nd)
		hdr[hlen++] = digits[--nd];
	hdr[hlen++] = '\0';
	unsigned int mdlen = 0;
	if ((!w->sha1 && !(w->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL))) ||
	    (!w->md && !(w->md = EVP_MD_CTX_new())) ||
	    EVP_DigestInit_ex(w->md, w->sha1, NULL) != 1 ||
	    EVP_DigestUpdate(w->md, hdr, hlen) != 1 ||
	    EVP_DigestUpdate(w->md, data, len) != 1 || EVP_DigestFinal_ex(w->md, out->id, &mdlen) != 1)
		return umap_error_set(UMAP_ERROR, "cannot hash an object (libcrypto failed)");
	return 0;
}

static int objw_pack_open(umap_objw *w, const char *gitdir, int level)
{
	int rc = pack_state_open(&w->ps, gitdir, level);
	if (rc)
		return rc;
	w->ps->first_streamed = w->nstreamed;
	/* `where` holds this pack's streamed objects only */
	umap_buf_clear(&w->where.buf);
	w->where.flushed = 0;
	if (w->where.fd >= 0 && ftruncate(w->where.fd, 0))
		return umap_error_set_errno(UMAP_EIO, "cannot truncate a temporary file of the pack");
	return 0;
}

static void table_add(umap_objw *w, const git_oid *id, uint32_t ref)
{
	size_t mask = w->table_size - 1, slot = oid_slot(id, mask);
	while (w->table[slot])
		slot = (slot + 1) & mask;
	w->table[slot] = oid_check(id) | ref;
}

static int stream_add(umap_objw *w, git_object_t type, const void *data, size_t len);

/* Whether every child of a tree being streamed is here: a blob streamed or kept (marked
 * now, as umap_store_mark_new would), a tree streamed and settled itself. Then marking the
 * new trees need not read this one back from the pack (inflate: 1M features' leaves are
 * 34 MB); a child from git, or none, is left for that walk to check. */
static int tree_settles(umap_objw *w, const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	while (p < end) {
		const unsigned char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul || (size_t)(end - nul) < 1 + GIT_OID_RAWSZ)
			return 0;
		int is_tree = p[0] == '4';
		git_oid id;
		memcpy(id.id, nul + 1, GIT_OID_RAWSZ);
		p = nul + 1 + GIT_OID_RAWSZ;
		uint32_t ref = lookup_as(w, &id, 0);
		if (!ref)
			return 0;
		if (ref & STREAMED) {
			uint32_t s = (ref & ~STREAMED) - 1;
			if (is_tree && !(w->settled[s / 8] & (1u << (s % 8))))
				return 0;
			continue;
		}
		if (is_tree)
			return 0; /* kept: its children are for the walk to mark */
		umap_objw_mark(w, &id);
	}
	return 1;
}

int umap_objw_put(git_oid *out, umap_objw *w, git_object_t type, const void *data, size_t len)
{
	int hashed = umap_objw_hash(out, w, type, data, len);
	if (hashed || lookup(w, out))
		return hashed;
	int rc;
	if ((w->count + w->nstreamed + 1) * 2 > w->table_size && (rc = grow_table(w)))
		return rc;
	if (len > UINT32_MAX)
		return umap_error_set(UMAP_ELIMIT, "an object of more than %u bytes", UINT32_MAX);
	/* blobs and trees stream with umap_objw_stream, trees alone with ..._stream_trees */
	const char *to = type == GIT_OBJECT_BLOB ? w->stream_gitdir
			 : type == GIT_OBJECT_TREE ? (w->stream_gitdir ? w->stream_gitdir : w->tree_gitdir)
						   : NULL;
	if (to) {
		/* into the pack now; neither its bytes nor an entry are kept */
		if (w->nstreamed >= MAX_REFS)
			return umap_error_set(UMAP_ELIMIT, "more than 2 billion new objects in one commit");
		int level = to == w->stream_gitdir ? w->stream_level : w->tree_level;
		if (!w->ps && (rc = objw_pack_open(w, to, level)))
			return rc;
		if (w->ids.fd < 0 && (rc = spill_open(&w->ids, to)))
			return rc;
		if (w->where.fd < 0 && (rc = spill_open(&w->where, to)))
			return rc;
		if (w->nstreamed == w->check2_alloc) {
			size_t alloc = w->check2_alloc ? w->check2_alloc * 2 : 4096;
			uint32_t *more = realloc(w->check2, alloc * sizeof(*more));
			if (more)
				w->check2 = more;
			unsigned char *bits = realloc(w->settled, alloc / 8);
			if (bits)
				w->settled = bits;
			if (!more || !bits)
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			memset(w->settled + w->check2_alloc / 8, 0, (alloc - w->check2_alloc) / 8);
			w->check2_alloc = alloc;
		}
		if (type == GIT_OBJECT_TREE && tree_settles(w, data, len))
			w->settled[w->nstreamed / 8] |= (unsigned char)(1u << (w->nstreamed % 8));
		if ((rc = spill_put(&w->ids, out->id, GIT_OID_RAWSZ)))
			return rc;
		w->check2[w->nstreamed] = oid_check2(out);
		table_add(w, out, STREAMED | ++w->nstreamed);
		return stream_add(w, type, data, len);
	}
	if (w->count >= MAX_REFS)
		return umap_error_set(UMAP_ELIMIT, "more than 2 billion new objects in one commit");
	if (w->count == w->alloc) {
		size_t alloc = w->alloc ? w->alloc * 2 : 256;
		objw_entry *e = realloc(w->entries, alloc * sizeof(*e));
		if (!e)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		w->entries = e;
		w->alloc = alloc;
	}
	char *copy = store(w, data, len);
	if (!copy)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	objw_entry *e = &w->entries[w->count];
	git_oid_cpy(&e->id, out);
	e->type = (unsigned char)type;
	e->data = copy;
	e->len = (uint32_t)len;
	e->marked = 0;
	e->written = 0;
	e->packed = 0;
	e->dict = type == GIT_OBJECT_BLOB ? w->dict : 0;
	e->offset = 0;
	e->crc = 0;
	table_add(w, out, (uint32_t)++w->count);
	return 0;
}

int umap_objw_set_dict(umap_objw *w, const git_oid *id)
{
	long at = id ? find(w, id) : -1;
	w->dict = at < 0 ? 0 : (uint32_t)at + 1;
	/* streaming: the deltas that follow need it before them in the pack */
	if (w->dict && w->stream_gitdir && !w->entries[at].packed && !w->entries[at].written &&
	    w->entries[at].data) {
		int rc = w->ps ? 0 : objw_pack_open(w, w->stream_gitdir, w->stream_level);
		if (!rc)
			rc = pack_state_add(w, w->ps, (size_t)at, w->entries[at].data);
		return rc;
	}
	return 0;
}

/* The bytes of streamed object s, from the pack being written. */
static int read_streamed(umap_buf *out, git_object_t *type, umap_objw *w, uint32_t s)
{
	int rc = w->ps ? pack_async_wait(w, w->ps) : 0;
	if (rc)
		return rc;
	pack_state *ps = w->ps;
	if (!ps || s < ps->first_streamed || s - ps->first_streamed >= ps->nwhere)
		return UMAP_ENOTFOUND; /* in git (or in a pack that was not written) */
	unsigned char rec[12];
	uint64_t offset = 0;
	if ((rc = spill_read(&w->where, rec, sizeof(rec), (uint64_t)(s - ps->first_streamed) * 12)))
		return rc;
	memcpy(&offset, rec, 8);
	return read_packed(out, type, ps, offset, 0);
}

int umap_objw_read(umap_buf *copy, const void **data, size_t *len, git_object_t *type,
		   umap_objw *w, const git_oid *id)
{
	uint32_t ref = lookup(w, id);
	if (!ref)
		return UMAP_ENOTFOUND;
	if (ref & STREAMED) {
		git_object_t t = GIT_OBJECT_INVALID;
		int rc = read_streamed(copy, &t, w, (ref & ~STREAMED) - 1);
		if (rc)
			return rc;
		*data = copy->ptr;
		*len = copy->len;
		if (type)
			*type = t;
		return 0;
	}
	return umap_objw_get(data, len, type, w, id);
}

int umap_objw_get(const void **data, size_t *len, git_object_t *type, umap_objw *w,
		  const git_oid *id)
{
	uint32_t ref = lookup(w, id);
	if (!ref)
		return UMAP_ENOTFOUND;
	if (ref & STREAMED) {
		/* read back from the pack being written, kept until the writer is freed */
		umap_buf bytes = UMAP_BUF_INIT;
		git_object_t t = GIT_OBJECT_INVALID;
		int rc = read_streamed(&bytes, &t, w, (ref & ~STREAMED) - 1);
		char *copy = rc ? NULL : keep_copy(w, bytes.ptr, bytes.len);
		*len = bytes.len;
		umap_buf_dispose(&bytes);
		if (rc)
			return rc;
		if (!copy)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		*data = copy;
		if (type)
			*type = t;
		return 0;
	}
	size_t i = ref - 1;
	if (!w->entries[i].data)
		return UMAP_ENOTFOUND;
	*data = w->entries[i].data;
	*len = w->entries[i].len;
	if (type)
		*type = (git_object_t)w->entries[i].type;
	return 0;
}

int umap_objw_has(const umap_objw *w, const git_oid *id)
{
	return lookup_as(w, id, 0) != 0;
}

int umap_objw_unwritten(const umap_objw *w, const git_oid *id)
{
	uint32_t ref = lookup_as(w, id, 0);
	if (ref & STREAMED)
		return !streamed_written(w, (ref & ~STREAMED) - 1);
	return ref && !w->entries[ref - 1].written;
}

void umap_objw_mark(umap_objw *w, const git_oid *id)
{
	/* a streamed object is in the pack already */
	long i = find(w, id);
	if (i >= 0 && !w->entries[i].marked) {
		w->entries[i].marked = 1;
		w->marked++;
	}
}

int umap_objw_settled(const umap_objw *w, const git_oid *id)
{
	uint32_t ref = lookup_as(w, id, 0);
	if (!(ref & STREAMED))
		return 0;
	uint32_t s = (ref & ~STREAMED) - 1;
	return (w->settled[s / 8] >> (s % 8)) & 1;
}

size_t umap_objw_marked(const umap_objw *w)
{
	return w->marked;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* A pack's bytes, and its index's, go to their files a megabyte at a time. */
#define PACK_WRITE_AT ((size_t)1 << 20)

typedef struct pack_item {
	const git_oid *id;
	uint64_t offset;
	uint32_t crc;
	uint64_t unused;
} pack_item;

/* A zlib stream of stored (uncompressed) blocks, written directly: deflate at level 0
 * costs a reset and a copy per object, which for 100k small objects is more than the
 * bytes. RFC 1950/1951: header, blocks of at most 65535 bytes, Adler-32. */
static int put_stored(umap_buf *pack, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t blocks = len ? (len + 65534) / 65535 : 1;
	if (umap_buf_grow(pack, 2 + 5 * blocks + len + 4))
		return UMAP_ENOMEM;
	unsigned char *o = (unsigned char *)pack->ptr + pack->len;
	*o++ = 0x78;
	*o++ = 0x01;
	size_t left = len;
	do {
		size_t n = left > 65535 ? 65535 : left;
		*o++ = left == n; /* BFINAL on the last block, BTYPE 00 (stored) */
		*o++ = (unsigned char)n;
		*o++ = (unsigned char)(n >> 8);
		*o++ = (unsigned char)~n;
		*o++ = (unsigned char)(~n >> 8);
		memcpy(o, p, n);
		o += n;
		p += n;
		left -= n;
	} while (left);
	uLong a = adler32_z(adler32(0, Z_NULL, 0), data, len);
	*o++ = (unsigned char)(a >> 24);
	*o++ = (unsigned char)(a >> 16);
	*o++ = (unsigned char)(a >> 8);
	*o++ = (unsigned char)a;
	pack->len = (size_t)(o - (unsigned char *)pack->ptr);
	return 0;
}

/* A tree as one deflate block of fixed codes (RFC 1951 3.2.6), written directly: each
 * entry's mode and space ("100644 ") is a match on the previous entry's, every other byte
 * a literal. That is what zlib finds in a tree (11% off), without its per-stream cost:
 * deflate() builds Huffman tables for every block even when it then sends fixed codes
 * (~200k instructions a tree, 4190 trees at 100k features). */
typedef struct bitout {
	unsigned char *o;
	uint64_t acc;
	unsigned n;
} bitout;

static void bit_put(bitout *b, uint32_t v, unsigned n) /* n <= 16 */
{
	b->acc |= (uint64_t)v << b->n;
	b->n += n;
	if (b->n >= 32) {
		for (int i = 0; i < 4; i++, b->acc >>= 8)
			*b->o++ = (unsigned char)b->acc;
		b->n -= 32;
	}
}

/* Huffman codes go most significant bit first into a stream packed from the low bit. */
static uint32_t bit_rev(uint32_t code, unsigned len)
{
	uint32_t r = 0;
	for (unsigned i = 0; i < len; i++, code >>= 1)
		r = (r << 1) | (code & 1);
	return r;
}

static void put_fixed_literal(bitout *b, const uint16_t *codes, unsigned char c)
{
	bit_put(b, codes[c], c < 144 ? 8 : 9);
}

/* A match of 3..10 bytes (length codes 257..264 have no extra bits), 1..32768 back. */
static void put_fixed_match(bitout *b, unsigned len, unsigned dist)
{
	bit_put(b, bit_rev(len - 2, 7), 7);
	unsigned code = 0, base = 1, extra = 0;
	while (dist >= base + (1u << extra)) { /* codes 0-3 are 1-4, then two per extra bit */
		base += 1u << extra;
		code++;
		if (code >= 4 && code % 2 == 0)
			extra++;
	}
	bit_put(b, bit_rev(code, 5), 5);
	if (extra)
		bit_put(b, dist - base, extra);
}

static int put_tree_fixed(umap_buf *pack, const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;
	if (umap_buf_grow(pack, 2 + len + len / 8 + 16 + 4))
		return UMAP_ENOMEM;
	uint16_t codes[256];
	for (unsigned c = 0; c < 256; c++)
		codes[c] = (uint16_t)(c < 144 ? bit_rev(0x30 + c, 8) : bit_rev(0x190 + c - 144, 9));
	/* the table is built per tree: 256 entries beside ~800 bytes, and no shared state */
	unsigned char *o = (unsigned char *)pack->ptr + pack->len;
	*o++ = 0x78;
	*o++ = 0x01;
	bitout b = { o, 0, 0 };
	bit_put(&b, 1, 1); /* BFINAL */
	bit_put(&b, 1, 2); /* BTYPE 01: fixed codes */
	const unsigned char *prev = NULL;
	size_t prev_mode = 0;
	while (p < end) {
		const unsigned char *sp = memchr(p, ' ', (size_t)(end - p));
		const unsigned char *nul = sp ? memchr(sp, '\0', (size_t)(end - sp)) : NULL;
		if (!nul || (size_t)(end - nul) < 21) { /* not a tree entry: literals to the end */
			while (p < end)
				put_fixed_literal(&b, codes, *p++);
			break;
		}
		size_t mode = (size_t)(sp - p) + 1;
		if (prev && mode == prev_mode && mode >= 3 && mode <= 10 && p - prev <= 32768 &&
		    !memcmp(prev, p, mode)) {
			put_fixed_match(&b, (unsigned)mode, (unsigned)(p - prev));
		} else {
			for (size_t i = 0; i < mode; i++)
				put_fixed_literal(&b, codes, p[i]);
		}
		prev = p;
		prev_mode = mode;
		for (p += mode; p <= nul + 20; p++)
			put_fixed_literal(&b, codes, *p);
	}
	bit_put(&b, 0, 7); /* end of block: code 256 */
	for (o = b.o; b.n; b.acc >>= 8) {
		*o++ = (unsigned char)b.acc;
		b.n = b.n > 8 ? b.n - 8 : 0;
	}
	uLong a = adler32_z(adler32(0, Z_NULL, 0), data, len);
	*o++ = (unsigned char)(a >> 24);
	*o++ = (unsigned char)(a >> 16);
	*o++ = (unsigned char)(a >> 8);
	*o++ = (unsigned char)a;
	pack->len = (size_t)(o - (unsigned char *)pack->ptr);
	return 0;
}

/* Appends one object: the type+size header, for a delta the distance back to its base,
 * then the zlib stream of the bytes. */
static int pack_object(umap_buf *pack, uint64_t at, z_stream *zs, int level, int type,
		       const void *data, size_t len, uint64_t base_distance, pack_item *item)
{
	unsigned char hdr[32];
	size_t n = 0, size = len;
	unsigned char c = (unsigned char)((type << 4) | (size & 15));
	size >>= 4;
	while (size) {
		hdr[n++] = c | 0x80;
		c = size & 0x7f;
		size >>= 7;
	}
	hdr[n++] = c;
	if (type == GIT_OBJECT_OFS_DELTA) {
		/* git's offset encoding: big-endian 7-bit groups, each but the last minus one */
		unsigned char ofs[16];
		size_t pos = sizeof(ofs) - 1;
		uint64_t d = base_distance;
		ofs[pos] = d & 127;
		while (d >>= 7)
			ofs[--pos] = (unsigned char)(128 | (--d & 127));
		memcpy(hdr + n, ofs + pos, sizeof(ofs) - pos);
		n += sizeof(ofs) - pos;
	}
	size_t start = pack->len;
	item->offset = at + start;
	if (umap_buf_put(pack, hdr, n))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	if (type == GIT_OBJECT_TREE) {
		if (put_tree_fixed(pack, data, len))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
	} else if (level == 0) {
		if (put_stored(pack, data, len))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
	} else {
		uLong bound = deflateBound(zs, (uLong)len);
		if (umap_buf_grow(pack, bound + 1))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		if (deflateReset(zs) != Z_OK)
			return umap_error_set(UMAP_ERROR, "zlib: cannot reset the compressor");
		zs->next_in = (Bytef *)data;
		zs->avail_in = (uInt)len;
		zs->next_out = (Bytef *)pack->ptr + pack->len;
		zs->avail_out = (uInt)bound;
		if (deflate(zs, Z_FINISH) != Z_STREAM_END)
			return umap_error_set(UMAP_ERROR, "zlib: cannot compress an object");
		pack->len += bound - zs->avail_out;
	}
	item->crc = (uint32_t)crc32(0, (const Bytef *)pack->ptr + start, (uInt)(pack->len - start));
	return 0;
}

/* ---- Deltas ------------------------------------------------------------------------
 * Per-object zlib barely shrinks a 300-byte feature (0.95x), and `git gc` reuses objects
 * stored whole in a pack without looking for deltas, so without deltas of our own the
 * repository would stay the size of its input. Features of a layer share most of their
 * bytes (keys, structure), so each blob is written as a git delta against the last blob
 * written whole (depth 1: reading one costs one extra object), when that saves enough. */

#define DELTA_WINDOW 8
/* Objects written whole are compressed whatever the level: there are 20 times fewer of
 * them than feature deltas. Trees by put_tree_fixed; whole blobs from 128 bytes (order
 * chunks, the dictionary, the bases of a commit's deltas) by zlib at level 1 with dynamic
 * codes: their ids and values are text, which fixed codes do not shrink. */
#define WHOLE_LEVEL 1
#define WHOLE_ZLIB_MIN 128
#define DELTA_HASH_BITS 10     /* a feature-sized base: every 4th window */
#define DICT_HASH_BITS 19      /* a dictionary: every window, chained */
#define DELTA_CHAIN 16         /* dictionary candidates tried per position */
#define DELTA_NICE 64          /* a match this long ends the search */
#define DELTA_LAZY_BELOW 0xffff /* a match shorter than this is tried one byte later too */
#define DELTA_GROUP 32         /* blobs per base */
#define DELTA_MAX_BASE 16384   /* bytes: larger objects are written whole */

typedef struct delta_base {
	const unsigned char *data;
	size_t len;
	uint64_t offset;           /* in the pack */
	int32_t *table;            /* position of an 8-byte window with this hash, -1 */
	int32_t *chain;            /* dictionary: the previous position with the same hash, -1 */
	unsigned bits;
	int uses;
} delta_base;

static uint32_t window_hash(const unsigned char *p, unsigned bits)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return (uint32_t)((v * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

/* step 4, last occurrence: cheap for a one-feature base. step 1, first occurrence: a
 * dictionary, indexed once for thousands of deltas. */
static void delta_index(delta_base *b, const unsigned char *data, size_t len, uint64_t offset,
			size_t step)
{
	b->data = data;
	b->len = len;
	b->offset = offset;
	b->uses = 0;
	memset(b->table, 0xff, sizeof(int32_t) << b->bits);
	/* backwards, so that a chain visits earlier (shorter to encode) positions first */
	if (b->chain) {
		for (size_t i = len >= DELTA_WINDOW ? len - DELTA_WINDOW + 1 : 0; i-- > 0;) {
			int32_t *slot = &b->table[window_hash(data + i, b->bits)];
			b->chain[i] = *slot;
			*slot = (int32_t)i;
		}
		return;
	}
	for (size_t i = 0; i + DELTA_WINDOW <= len && i < INT32_MAX; i += step) {
		int32_t *slot = &b->table[window_hash(data + i, b->bits)];
		*slot = (int32_t)i;
	}
}

static int put_varint(umap_buf *out, size_t v)
{
	unsigned char b[10];
	size_t n = 0;
	do {
		b[n] = v & 127;
		v >>= 7;
		if (v)
			b[n] |= 128;
		n++;
	} while (v);
	return umap_buf_put(out, b, n);
}

static int put_literal(umap_buf *out, const unsigned char *p, size_t len)
{
	while (len) {
		size_t n = len > 127 ? 127 : len;
		if (umap_buf_putc(out, (char)n) || umap_buf_put(out, p, n))
			return UMAP_ENOMEM;
		p += n;
		len -= n;
	}
	return 0;
}

static int put_copy(umap_buf *out, size_t offset, size_t size)
{
	unsigned char op[8];
	size_t n = 1;
	op[0] = 0x80;
	for (int i = 0; i < 4; i++)
		if ((offset >> (8 * i)) & 0xff) {
			op[0] |= (unsigned char)(1 << i);
			op[n++] = (unsigned char)(offset >> (8 * i));
		}
	for (int i = 0; i < 2; i++) /* size < 0x10000 here */
		if ((size >> (8 * i)) & 0xff) {
			op[0] |= (unsigned char)(0x10 << i);
			op[n++] = (unsigned char)(size >> (8 * i));
		}
	return umap_buf_put(out, op, n);
}

/* The longest match of data[i..] in the base (grown backwards down to `literal`): its
 * length, 0 if none; a feature-sized base has one candidate, a dictionary a chain. */
static size_t find_match(const delta_base *b, const unsigned char *data, size_t len, size_t i,
			 size_t literal, size_t *best_src, size_t *best_dst)
{
	uint64_t here;
	memcpy(&here, data + i, 8); /* one load, not a memcmp call per byte of input */
	int32_t at = b->table[window_hash(data + i, b->bits)];
	size_t best_n = 0, best_end = i; /* best_end: where the best match ends in data */
	for (int tries = 0; at >= 0 && tries < DELTA_CHAIN; tries++, at = b->chain ? b->chain[at] : -1) {
		uint64_t there;
		memcpy(&there, b->data + at, 8);
		if (here != there)
			continue;
		/* a candidate that cannot end past the best one is not extended (as zlib does) */
		size_t reach = best_end - i;
		if (best_n && ((size_t)at + reach >= b->len || b->data[at + reach] != data[best_end]))
			continue;
		size_t src = (size_t)at, dst = i;
		while (src > 0 && dst > literal && b->data[src - 1] == data[dst - 1]) {
			src--;
			dst--;
		}
		size_t fwd = DELTA_WINDOW, limit = b->len - (size_t)at;
		if (limit > len - i)
			limit = len - i;
		if (limit > 0xffff - (i - dst))
			limit = 0xffff - (i - dst);
		while (fwd + 8 <= limit) { /* 8 bytes a step */
			uint64_t x, y;
			memcpy(&x, b->data + at + fwd, 8);
			memcpy(&y, data + i + fwd, 8);
			if (x != y)
				break;
			fwd += 8;
		}
		while (fwd < limit && b->data[at + fwd] == data[i + fwd])
			fwd++;
		size_t n = i - dst + fwd;
		if (n > best_n) {
			*best_src = src;
			*best_dst = dst;
			best_n = n;
			best_end = i + fwd;
			if (best_end == len || fwd >= DELTA_NICE)
				break; /* long enough: a longer one saves a byte or two */
		}
	}
	return best_n;
}

/* A git delta turning base into data. Against a dictionary, the longest of its candidate
 * matches, and a match found one byte later wins when it reaches further (lazy matching,
 * as deflate does): fewer, longer copies. 0 or ENOMEM. */
static int make_delta(umap_buf *out, const delta_base *b, const unsigned char *data, size_t len)
{
	umap_buf_clear(out);
	if (put_varint(out, b->len) || put_varint(out, len))
		return UMAP_ENOMEM;
	size_t i = 0, literal = 0;
	while (i + DELTA_WINDOW <= len) {
		size_t src = 0, dst = 0;
		size_t n = find_match(b, data, len, i, literal, &src, &dst);
		if (!n) {
			i++;
			continue;
		}
		if (b->chain && n < DELTA_LAZY_BELOW && i + 1 + DELTA_WINDOW <= len) {
			size_t src2 = 0, dst2 = 0;
			size_t n2 = find_match(b, data, len, i + 1, literal, &src2, &dst2);
			if (n2 && dst2 + n2 > dst + n) {
				src = src2;
				dst = dst2;
				n = n2;
			}
		}
		if (put_literal(out, data + literal, dst - literal) || put_copy(out, src, n))
			return UMAP_ENOMEM;
		i = literal = dst + n;
	}
	return put_literal(out, data + literal, len - literal) ? UMAP_ENOMEM : 0;
}

/* Writes `e` as a delta against `b` when that saves a quarter of its bytes (*done). */
static int put_delta(umap_buf *pack, uint64_t at, z_stream *zs, int level, umap_buf *delta,
		     delta_base *b, const void *data, size_t len, pack_item *item, int *done)
{
	*done = 0;
	if (make_delta(delta, b, data, len))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	if (delta->len * 4 >= len * 3)
		return 0;
	*done = 1;
	b->uses++;
	return pack_object(pack, at, zs, level, GIT_OBJECT_OFS_DELTA, delta->ptr, delta->len,
			   at + pack->len - b->offset, item);
}

/* The index written a megabyte at a time, hashed as it goes. */
typedef struct index_writer {
	umap_atomic_file file;
	umap_buf buf;
	umap_sha1 sha;
	int rc;
} index_writer;

static void index_put(index_writer *x, const void *data, size_t len)
{
	if (x->rc)
		return;
	umap_sha1_update(&x->sha, data, len);
	if (umap_buf_put(&x->buf, data, len)) {
		x->rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		return;
	}
	if (x->buf.len >= PACK_WRITE_AT) {
		x->rc = umap_atomic_file_write(&x->file, x->buf.ptr, x->buf.len);
		umap_buf_clear(&x->buf);
	}
}

static void index_be32(index_writer *x, uint32_t v)
{
	unsigned char p[4];
	put_be32(p, v);
	index_put(x, p, 4);
}

/* ---- The pack's index ----------------------------------------------------------------
 * git's index lists the objects by id: a fan-out of counts by first byte, the ids, their
 * crcs, their offsets. The objects' (id, crc, offset) are written to a temporary file,
 * bucketed by first byte (256 buckets, places known from a count), and each bucket is
 * sorted in memory as the index is written: memory follows the largest bucket (1M
 * objects: 4k, 128 KB), not the pack (where an entry per object took 56 bytes). */

typedef struct index_rec {
	unsigned char id[GIT_OID_RAWSZ];
	uint32_t crc;
	uint64_t offset;
} index_rec;

_Static_assert(sizeof(index_rec) == 32, "index_rec is 32 bytes");

#define INDEX_CHUNK 8192 /* records read at a time */
#define BUCKET_BUF 64     /* records held per bucket before they are written */

/* The pack's objects, in chunks: its entries first, then its streamed objects in order. */
typedef struct rec_reader {
	const umap_objw *w;
	const pack_state *ps;
	size_t entry;   /* next entry to look at */
	uint32_t next;  /* next streamed object, from 0 (ps->first_streamed) */
	unsigned char *ids, *where;
} rec_reader;

static int rec_read(rec_reader *r, index_rec *out, size_t *n)
{
	const umap_objw *w = r->w;
	size_t k = 0;
	for (; r->entry < w->count && k < INDEX_CHUNK; r->entry++) {
		const objw_entry *e = &w->entries[r->entry];
		if (!e->packed)
			continue;
		memcpy(out[k].id, e->id.id, GIT_OID_RAWSZ);
		out[k].crc = e->crc;
		out[k++].offset = e->offset;
	}
	size_t m = r->ps->nwhere - r->next;
	if (m > INDEX_CHUNK - k)
		m = INDEX_CHUNK - k;
	if (m) {
		int rc = spill_read(&w->ids, r->ids, m * GIT_OID_RAWSZ,
				    (uint64_t)(r->ps->first_streamed + r->next) * GIT_OID_RAWSZ);
		if (!rc)
			rc = spill_read(&w->where, r->where, m * 12, (uint64_t)r->next * 12);
		if (rc)
			return rc;
		for (size_t j = 0; j < m; j++, k++) {
			memcpy(out[k].id, r->ids + j * GIT_OID_RAWSZ, GIT_OID_RAWSZ);
			memcpy(&out[k].offset, r->where + j * 12, 8);
			memcpy(&out[k].crc, r->where + j * 12 + 8, 4);
		}
		r->next += (uint32_t)m;
	}
	*n = k;
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	return memcmp(((const index_rec *)a)->id, ((const index_rec *)b)->id, GIT_OID_RAWSZ);
}

/* One bucket (equal first bytes) by id: radix on bytes 3, 2, 1, then the rare ties. */
static void sort_bucket(index_rec *r, index_rec *tmp, size_t m)
{
	size_t count[257];
	index_rec *from = r, *to = tmp;
	for (int byte = 3; byte >= 1; byte--) {
		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < m; i++)
			count[from[i].id[byte] + 1]++;
		for (int d = 0; d < 256; d++)
			count[d + 1] += count[d];
		for (size_t i = 0; i < m; i++)
			to[count[from[i].id[byte]]++] = from[i];
		index_rec *t = from;
		from = to;
		to = t;
	}
	if (from != r)
		memcpy(r, from, m * sizeof(*r));
	for (size_t i = 1; i < m; i++) {
		index_rec x = r[i];
		size_t j = i;
		while (j && rec_cmp(&r[j - 1], &x) > 0) {
			r[j] = r[j - 1];
			j--;
		}
		r[j] = x;
	}
}

/* Writes at `path` the version 2 index of the pack `ps` of w's objects. */
static int write_index(const char *path, const char *gitdir, umap_objw *w, pack_state *ps,
		       const unsigned char sum[20])
{
	static const unsigned char magic[8] = { 0xff, 't', 'O', 'c', 0, 0, 0, 2 };
	index_writer x = { .buf = UMAP_BUF_INIT };
	spill buckets = { -1, 0, UMAP_BUF_INIT };
	umap_buf large = UMAP_BUF_INIT;
	size_t count[256] = { 0 }, start[257], fill[256] = { 0 }, n = 0, biggest = 0;
	index_rec *chunk = malloc(INDEX_CHUNK * sizeof(*chunk));
	index_rec *held = malloc(256 * BUCKET_BUF * sizeof(*held));
	index_rec *bucket = NULL, *tmp = NULL;
	rec_reader rr = { w, ps, 0, 0, malloc(INDEX_CHUNK * GIT_OID_RAWSZ), malloc(INDEX_CHUNK * 12) };
	if (!chunk || !held || !rr.ids || !rr.where)
		x.rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!x.rc && !(x.rc = spill_sync(&w->ids)))
		x.rc = spill_sync(&w->where);
	if (!x.rc)
		x.rc = spill_open(&buckets, gitdir);
	/* the count of each bucket, then each object at its place in the bucket file */
	for (int pass = 0; pass < 2 && !x.rc; pass++) {
		rr.entry = 0;
		rr.next = 0;
		for (size_t k = 1; k && !x.rc;) {
			if ((x.rc = rec_read(&rr, chunk, &k)))
				break;
			for (size_t i = 0; i < k && !x.rc; i++) {
				unsigned b = chunk[i].id[0];
				if (!pass) {
					count[b]++;
					continue;
				}
				held[b * BUCKET_BUF + fill[b] % BUCKET_BUF] = chunk[i];
				if (++fill[b] % BUCKET_BUF == 0)
					x.rc = spill_write_all(buckets.fd, &held[b * BUCKET_BUF],
							       BUCKET_BUF * sizeof(*held),
							       (uint64_t)(start[b] + fill[b] - BUCKET_BUF) *
								       sizeof(*held));
			}
		}
		if (!pass) {
			start[0] = 0;
			for (int b = 0; b < 256; b++) {
				start[b + 1] = start[b] + count[b];
				biggest = count[b] > biggest ? count[b] : biggest;
			}
			n = start[256];
		}
	}
	for (int b = 0; b < 256 && !x.rc; b++) {
		size_t left = fill[b] % BUCKET_BUF;
		if (left)
			x.rc = spill_write_all(buckets.fd, &held[b * BUCKET_BUF], left * sizeof(*held),
					       (uint64_t)(start[b] + fill[b] - left) * sizeof(*held));
	}
	free(held);
	held = NULL;
	if (!x.rc && (!(bucket = malloc((biggest ? biggest : 1) * sizeof(*bucket))) ||
		      !(tmp = malloc((biggest ? biggest : 1) * sizeof(*tmp)))))
		x.rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!x.rc && !(x.rc = umap_atomic_file_open(&x.file, path)) && umap_sha1_init(&x.sha)) {
		umap_atomic_file_abort(&x.file);
		x.rc = umap_error_set(UMAP_ENOMEM, "cannot start SHA-1");
	}
	int opened = !x.rc;
	index_put(&x, magic, 8);
	for (int b = 0; b < 256; b++)
		index_be32(&x, (uint32_t)start[b + 1]);
	/* the ids bucket by bucket, sorted; their crcs and offsets in that order after the
	 * buckets in the same file */
	uint64_t sorted_at = (uint64_t)n * sizeof(index_rec);
	buckets.flushed = sorted_at;
	for (int b = 0; b < 256 && !x.rc; b++) {
		size_t m = count[b];
		if (!m)
			continue;
		x.rc = spill_read(&buckets, bucket, m * sizeof(*bucket), (uint64_t)start[b] * sizeof(*bucket));
		if (x.rc)
			break;
		sort_bucket(bucket, tmp, m);
		for (size_t i = 0; i < m && !x.rc; i++) {
			unsigned char rec[12];
			memcpy(rec, &bucket[i].crc, 4);
			memcpy(rec + 4, &bucket[i].offset, 8);
			index_put(&x, bucket[i].id, GIT_OID_RAWSZ);
			if (!x.rc)
				x.rc = spill_put(&buckets, rec, sizeof(rec));
		}
	}
	if (!x.rc)
		x.rc = spill_sync(&buckets);
	for (int section = 0; section < 2 && !x.rc; section++) {
		uint32_t nlarge = 0;
		for (size_t i = 0; i < n && !x.rc; i += INDEX_CHUNK) {
			size_t k = n - i < INDEX_CHUNK ? n - i : INDEX_CHUNK;
			unsigned char *recs = (unsigned char *)chunk;
			if ((x.rc = spill_read(&buckets, recs, k * 12, sorted_at + (uint64_t)i * 12)))
				break;
			for (size_t j = 0; j < k; j++) {
				uint32_t crc;
				uint64_t offset;
				memcpy(&crc, recs + j * 12, 4);
				memcpy(&offset, recs + j * 12 + 4, 8);
				if (!section) {
					index_be32(&x, crc);
					continue;
				}
				index_be32(&x, offset < 0x80000000u ? (uint32_t)offset : 0x80000000u | nlarge++);
				if (offset >= 0x80000000u) {
					unsigned char be[8];
					put_be32(be, (uint32_t)(offset >> 32));
					put_be32(be + 4, (uint32_t)offset);
					if (umap_buf_put(&large, be, 8))
						x.rc = umap_error_set(UMAP_ENOMEM, "out of memory");
				}
			}
		}
	}
	index_put(&x, large.ptr, large.len);
	index_put(&x, sum, 20);
	unsigned char idxsum[20];
	if (!x.rc && umap_sha1_final(&x.sha, idxsum))
		x.rc = umap_error_set(UMAP_ERROR, "SHA-1 failed");
	if (!x.rc && !(x.rc = umap_atomic_file_write(&x.file, x.buf.ptr, x.buf.len)))
		x.rc = umap_atomic_file_write(&x.file, idxsum, 20);
	if (!x.rc)
		x.rc = umap_atomic_file_commit(&x.file);
	else if (opened)
		umap_atomic_file_abort(&x.file);
	umap_buf_dispose(&x.buf);
	umap_buf_dispose(&large);
	spill_close(&buckets);
	free(chunk);
	free(held);
	free(bucket);
	free(tmp);
	free(rr.ids);
	free(rr.where);
	return x.rc;
}

static void pack_state_free(pack_state *ps)
{
	if (!ps)
		return;
	pack_async_stop(ps);
	if (ps->file.fd >= 0)
		umap_atomic_file_abort(&ps->file);
	if (ps->zinit)
		deflateEnd(&ps->zs);
	if (ps->bzinit)
		deflateEnd(&ps->bzs);
	delta_base *bases[2] = { ps->base, ps->dict };
	for (int i = 0; i < 2; i++) {
		if (bases[i]) {
			free(bases[i]->table);
			free(bases[i]->chain);
		}
		free(bases[i]);
	}
	umap_buf_dispose(&ps->pack);
	umap_buf_dispose(&ps->delta);
	umap_buf_dispose(&ps->base_copy);
	free(ps);
}

/* Opens a pack in a temporary file under gitdir/objects/pack (the header says 0 objects
 * until pack_state_finish knows how many). */
static int pack_state_open(pack_state **out, const char *gitdir, int level)
{
	pack_state *ps = calloc(1, sizeof(*ps));
	umap_buf path = UMAP_BUF_INIT;
	int rc = 0;
	if (!ps)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	ps->file.fd = -1;
	/* Objects are small (a feature is ~300 bytes): a 1 KiB window and memLevel 4 (a 2 KiB
	 * hash table) make deflateReset() cheap (the default 64 KiB table is cleared on every
	 * reset), while a 1024-symbol block still holds a whole feature: memLevel 1 (128-symbol
	 * blocks) built Huffman trees 3 times per feature, 128k instructions each. */
	ps->level = level < 0 || level > 9 ? 0 : level;
	ps->base = calloc(1, sizeof(*ps->base));
	ps->dict = calloc(1, sizeof(*ps->dict));
	if (!ps->base || !ps->dict) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto done;
	}
	ps->base->bits = DELTA_HASH_BITS;
	ps->dict->bits = DICT_HASH_BITS;
	ps->base->table = malloc(sizeof(int32_t) << ps->base->bits);
	ps->dict->table = malloc(sizeof(int32_t) << ps->dict->bits);
	if (!ps->base->table || !ps->dict->table) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto done;
	}
	if (deflateInit2(&ps->zs, ps->level, Z_DEFLATED, 10, 4, Z_DEFAULT_STRATEGY) != Z_OK) {
		rc = umap_error_set(UMAP_ENOMEM, "zlib: cannot start the compressor");
		goto done;
	}
	ps->zinit = 1;
	if (deflateInit2(&ps->bzs, WHOLE_LEVEL, Z_DEFLATED, 12, 4, Z_DEFAULT_STRATEGY) != Z_OK) {
		rc = umap_error_set(UMAP_ENOMEM, "zlib: cannot start the compressor");
		goto done;
	}
	ps->bzinit = 1;
	if (umap_buf_printf(&path, "%s/objects/pack", gitdir) || umap_mkdir_p(path.ptr, 0777) < 0) {
		rc = umap_error_prefix(UMAP_EIO, "cannot create %s", path.ptr ? path.ptr : "pack dir");
		goto done;
	}
	if (umap_buf_puts(&path, "/pack-new.pack")) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = umap_atomic_file_open(&ps->file, path.ptr)))
		goto done;
	unsigned char hdr[12] = { 'P', 'A', 'C', 'K' };
	put_be32(hdr + 4, 2);
	put_be32(hdr + 8, 0);
	if (umap_buf_put(&ps->pack, hdr, sizeof(hdr)))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
done:
	umap_buf_dispose(&path);
	if (rc)
		pack_state_free(ps);
	else
		*out = ps;
	return rc;
}

static int pack_state_drain(pack_state *ps, size_t at_least)
{
	if (ps->pack.len < at_least || !ps->pack.len)
		return 0;
	int rc = umap_atomic_file_write(&ps->file, ps->pack.ptr, ps->pack.len);
	ps->at += ps->pack.len;
	umap_buf_clear(&ps->pack);
	return rc;
}

/* What appending one object needs to know, apart from the pack: copied out of the
 * writer's entries, so that the pack thread never reads them while they grow. */
struct pack_add {
	git_object_t type;
	size_t len;
	size_t dict;              /* entry index+1 of the dictionary to delta against, 0 none */
	const char *dict_data;    /* its bytes, length and offset in this pack */
	size_t dict_len;
	uint64_t dict_offset;
};

/* Appends one object, whose bytes are `data`: a delta against the layer's dictionary when
 * that is in this pack, else against the last blob written whole, else whole. */
static int pack_append(pack_state *ps, const pack_add *a, const void *data, pack_item *item)
{
	int rc = 0, done = 0;
	int deltable = a->type == GIT_OBJECT_BLOB && a->len >= 64 && a->len <= DELTA_MAX_BASE;
	if (deltable && a->dict_data) {
		if (ps->dict_of != a->dict) {
			free(ps->dict->chain);
			ps->dict->chain = malloc(sizeof(int32_t) * (a->dict_len ? a->dict_len : 1));
			if (!ps->dict->chain)
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			delta_index(ps->dict, (const unsigned char *)a->dict_data, a->dict_len,
				    a->dict_offset, 1);
			ps->dict_of = a->dict;
		}
		rc = put_delta(&ps->pack, ps->at, &ps->zs, ps->level, &ps->delta, ps->dict, data,
			       a->len, item, &done);
	}
	if (!rc && !done && deltable && ps->base->data && ps->base->uses < DELTA_GROUP)
		rc = put_delta(&ps->pack, ps->at, &ps->zs, ps->level, &ps->delta, ps->base, data,
			       a->len, item, &done);
	if (!rc && !done) {
		if (a->type == GIT_OBJECT_TREE || a->len >= WHOLE_ZLIB_MIN)
			rc = pack_object(&ps->pack, ps->at, &ps->bzs, WHOLE_LEVEL, a->type, data, a->len,
					 0, item);
		else
			rc = pack_object(&ps->pack, ps->at, &ps->zs, ps->level, a->type, data, a->len, 0,
					 item);
		if (!rc && a->type == GIT_OBJECT_BLOB && a->len <= DELTA_MAX_BASE && a->len) {
			/* a copy: streamed bytes are the caller's only until put returns */
			umap_buf_clear(&ps->base_copy);
			if (umap_buf_put(&ps->base_copy, data, a->len))
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			delta_index(ps->base, (const unsigned char *)ps->base_copy.ptr, a->len,
				    item->offset, 4);
		}
	}
	return rc ? rc : pack_state_drain(ps, PACK_WRITE_AT);
}

static void pack_add_of(pack_add *a, const umap_objw *w, size_t i)
{
	const objw_entry *e = &w->entries[i];
	const objw_entry *d = e->dict && e->dict - 1 != i ? &w->entries[e->dict - 1] : NULL;
	a->type = (git_object_t)e->type;
	a->len = e->len;
	a->dict = e->dict;
	a->dict_data = d && d->packed && d->data ? d->data : NULL;
	a->dict_len = d ? d->len : 0;
	a->dict_offset = d ? d->offset : 0;
}

/* What appending a streamed object needs: it has no entry. */
static void pack_add_streamed(pack_add *a, const umap_objw *w, git_object_t type, size_t len)
{
	const objw_entry *d = type == GIT_OBJECT_BLOB && w->dict ? &w->entries[w->dict - 1] : NULL;
	a->type = type;
	a->len = len;
	a->dict = d ? w->dict : 0;
	a->dict_data = d && d->packed && d->data ? d->data : NULL;
	a->dict_len = d ? d->len : 0;
	a->dict_offset = d ? d->offset : 0;
}

/* Notes where object `ref` (an entry's index + 1, or STREAMED | number + 1) went. */
static int entry_packed(umap_objw *w, pack_state *ps, uint32_t ref, const pack_item *item)
{
	ps->count++;
	if (ref & STREAMED) {
		/* in number order: the pack thread's results are applied in order */
		unsigned char rec[12];
		uint64_t offset = item->offset;
		memcpy(rec, &offset, 8);
		memcpy(rec + 8, &item->crc, 4);
		ps->nwhere++;
		return spill_put(&w->where, rec, sizeof(rec));
	}
	objw_entry *e = &w->entries[ref - 1];
	e->offset = item->offset;
	e->crc = item->crc;
	e->packed = 1;
	return 0;
}

/* ---- The pack thread ----------------------------------------------------------------
 * Streamed blobs (an import, a large commit) are appended by a thread of their own: the
 * delta search is half of an import's time, and the caller meanwhile reads, hashes and
 * sorts the next features. Jobs are taken and their results applied in order, so the pack
 * is byte for byte the one a single thread writes. Whatever else touches the pack (a
 * dictionary, reading a blob back, the flush) waits for the thread to be idle first
 * (pack_async_wait). */

#define PACK_JOBS 256

typedef struct pack_job {
	pack_add add;
	uint32_t ref; /* entry_packed's */
	umap_buf bytes;
	pack_item item;
	int rc;
	char *message; /* the pack thread's error message, for the caller's thread */
} pack_job;

struct pack_async {
	pthread_t thread;
	pthread_mutex_t lock; /* only to sleep and wake: the ring itself takes no lock */
	pthread_cond_t work, done_cond;
	pack_job jobs[PACK_JOBS];
	_Atomic size_t submitted, done; /* jobs given by the caller, appended by the thread */
	size_t applied;                 /* jobs whose results the caller applied */
	atomic_int quit, idle, waiting; /* the thread sleeps for work; the caller for it */
	_Atomic size_t ahead;           /* the caller waits until no more jobs than this wait */
};

/* A sleeping thread is woken once this many jobs wait, not for each: a wake-up (and a
 * lock) per feature cost a fifth of an import in futex calls and context switches. */
#define PACK_BATCH 32

static void *pack_thread(void *arg)
{
	pack_state *ps = arg;
	struct pack_async *as = ps->async;
	/* quit: the pack is being dropped (flushed ones have waited for every job) */
	while (!atomic_load(&as->quit)) {
		size_t d = atomic_load(&as->done);
		if (d == atomic_load(&as->submitted)) {
			/* idle is set before submitted is read again: a caller that gives a job
			 * after that read sees idle and wakes us */
			pthread_mutex_lock(&as->lock);
			atomic_store(&as->idle, 1);
			while (d == atomic_load(&as->submitted) && !atomic_load(&as->quit))
				pthread_cond_wait(&as->work, &as->lock);
			atomic_store(&as->idle, 0);
			int stop = d == atomic_load(&as->submitted);
			pthread_mutex_unlock(&as->lock);
			if (stop)
				break;
			continue;
		}
		pack_job *job = &as->jobs[d % PACK_JOBS];
		job->rc = pack_append(ps, &job->add, job->bytes.ptr, &job->item);
		if (job->rc)
			job->message = strdup(umap_error_last());
		atomic_store(&as->done, d + 1);
		if (atomic_load(&as->waiting) &&
		    atomic_load(&as->submitted) - (d + 1) <= atomic_load(&as->ahead)) {
			pthread_mutex_lock(&as->lock);
			pthread_cond_signal(&as->done_cond);
			pthread_mutex_unlock(&as->lock);
		}
	}
	return NULL;
}

/* Sleeps until the thread has done all but `ahead` of the jobs given. */
static void pack_async_sleep(struct pack_async *as, size_t ahead)
{
	if (atomic_load(&as->submitted) - atomic_load(&as->done) <= ahead)
		return;
	pthread_mutex_lock(&as->lock);
	atomic_store(&as->ahead, ahead);
	atomic_store(&as->waiting, 1);
	while (atomic_load(&as->submitted) - atomic_load(&as->done) > ahead) {
		if (atomic_load(&as->idle))
			pthread_cond_signal(&as->work);
		pthread_cond_wait(&as->done_cond, &as->lock);
	}
	atomic_store(&as->waiting, 0);
	pthread_mutex_unlock(&as->lock);
}

/* Applies the results of the jobs the thread has done, in order; with `all`, waits for
 * every job given. The first failure is returned (with its message). */
static int pack_async_apply(umap_objw *w, pack_state *ps, int all)
{
	struct pack_async *as = ps->async;
	int rc = 0;
	if (!as)
		return 0;
	if (all)
		pack_async_sleep(as, 0);
	size_t done = atomic_load(&as->done);
	for (; as->applied < done; as->applied++) {
		pack_job *job = &as->jobs[as->applied % PACK_JOBS];
		if (job->rc && !rc)
			rc = umap_error_set(job->rc, "%s", job->message ? job->message : "cannot write a pack");
		free(job->message);
		job->message = NULL;
		if (!job->rc) {
			int noted = entry_packed(w, ps, job->ref, &job->item);
			rc = rc ? rc : noted;
		}
	}
	return rc;
}

static int pack_async_wait(umap_objw *w, pack_state *ps)
{
	return pack_async_apply(w, ps, 1);
}

static void pack_async_stop(pack_state *ps)
{
	struct pack_async *as = ps->async;
	if (!as)
		return;
	pthread_mutex_lock(&as->lock);
	atomic_store(&as->quit, 1);
	pthread_cond_signal(&as->work);
	pthread_mutex_unlock(&as->lock);
	pthread_join(as->thread, NULL);
	for (size_t j = 0; j < PACK_JOBS; j++) {
		umap_buf_dispose(&as->jobs[j].bytes);
		free(as->jobs[j].message);
	}
	pthread_mutex_destroy(&as->lock);
	pthread_cond_destroy(&as->work);
	pthread_cond_destroy(&as->done_cond);
	free(as);
	ps->async = NULL;
}

/* Gives object `ref` (bytes `data`, the caller's only until this returns) to the pack
 * thread, starting it the first time; without a thread, appends it here. */
static int pack_async_add(umap_objw *w, pack_state *ps, uint32_t ref, const pack_add *a,
			  const void *data)
{
	struct pack_async *as = ps->async;
	if (!as && !ps->no_thread) {
		as = calloc(1, sizeof(*as));
		int ok = as && !pthread_mutex_init(&as->lock, NULL);
		ps->async = as; /* before the thread starts: it reads it */
		if (ok && (pthread_cond_init(&as->work, NULL) || pthread_cond_init(&as->done_cond, NULL) ||
			   pthread_create(&as->thread, NULL, pack_thread, ps))) {
			pthread_mutex_destroy(&as->lock);
			ok = 0;
		}
		if (!ok) {
			free(as);
			as = ps->async = NULL;
			ps->no_thread = 1; /* no thread: one thread does it all, as before */
		}
	}
	if (!as) {
		pack_item item = { NULL, 0, 0, 0 };
		int rc = pack_append(ps, a, data, &item);
		return rc ? rc : entry_packed(w, ps, ref, &item);
	}
	/* a full ring: wait until it is half empty, not for one slot (a wake-up a job) */
	if (atomic_load(&as->submitted) - atomic_load(&as->done) >= PACK_JOBS)
		pack_async_sleep(as, PACK_JOBS / 2);
	int rc = pack_async_apply(w, ps, 0);
	size_t at = atomic_load(&as->submitted);
	pack_job *job = &as->jobs[at % PACK_JOBS];
	umap_buf_clear(&job->bytes);
	if (!rc && umap_buf_put(&job->bytes, data, a->len))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	if (rc)
		return rc;
	job->add = *a;
	job->ref = ref;
	job->rc = 0;
	job->item = (pack_item){ NULL, 0, 0, 0 };
	atomic_store(&as->submitted, at + 1);
	if (atomic_load(&as->idle) && at + 1 - atomic_load(&as->done) >= PACK_BATCH) {
		pthread_mutex_lock(&as->lock);
		pthread_cond_signal(&as->work);
		pthread_mutex_unlock(&as->lock);
	}
	return 0;
}

/* The object just numbered, into the pack being written. */
static int stream_add(umap_objw *w, git_object_t type, const void *data, size_t len)
{
	pack_add a;
	pack_add_streamed(&a, w, type, len);
	return pack_async_add(w, w->ps, STREAMED | w->nstreamed, &a, data);
}

/* Appends entry i, whose bytes are `data` (its own, or those being put when it keeps
 * none), here and now: after the pack thread is done with what it was given. */
static int pack_state_add(umap_objw *w, pack_state *ps, size_t i, const void *data)
{
	pack_add a;
	pack_item item = { NULL, 0, 0, 0 };
	int rc = pack_async_wait(w, ps);
	if (rc)
		return rc;
	pack_add_of(&a, w, i);
	if (!(rc = pack_append(ps, &a, data, &item)))
		rc = entry_packed(w, ps, (uint32_t)i + 1, &item);
	return rc;
}

/* Writes the pack's count and checksum, renames it to pack-<sha>.pack and writes its
 * index beside it: the pack first, its index last, so a killed writer leaves at most an
 * unused file. */
static int pack_state_finish(umap_objw *w, pack_state *ps, const char *gitdir)
{
	umap_buf path = UMAP_BUF_INIT;
	unsigned char *chunk = malloc(PACK_WRITE_AT);
	unsigned char sum[20], count[4];
	umap_sha1 ctx;
	int rc = chunk ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!rc)
		rc = pack_state_drain(ps, 0);
	put_be32(count, ps->count);
	if (!rc && pwrite(ps->file.fd, count, 4, 8) != 4)
		rc = umap_error_set_errno(UMAP_EIO, "cannot write '%s'", ps->file.tmp);
	/* the checksum covers the header, known only now: the file is read back (from the
	 * page cache, at SHA-1 speed) rather than kept in memory */
	if (!rc && umap_sha1_init(&ctx))
		rc = umap_error_set(UMAP_ENOMEM, "cannot start SHA-1");
	for (uint64_t off = 0; !rc && off < ps->at;) {
		ssize_t got = pread(ps->file.fd, chunk, PACK_WRITE_AT, (off_t)off);
		if (got <= 0) {
			rc = umap_error_set_errno(UMAP_EIO, "cannot read back '%s'", ps->file.tmp);
			break;
		}
		umap_sha1_update(&ctx, chunk, (size_t)got);
		off += (uint64_t)got;
	}
	if (!rc && umap_sha1_final(&ctx, sum))
		rc = umap_error_set(UMAP_ERROR, "SHA-1 failed");
	if (!rc)
		rc = umap_atomic_file_write(&ps->file, sum, 20);
	char hex[41];
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	if (!rc && (size_t)snprintf(ps->file.path, sizeof(ps->file.path),
				    "%s/objects/pack/pack-%s.pack", gitdir, hex) >= sizeof(ps->file.path))
		rc = umap_error_set(UMAP_EUSAGE, "path too long: '%s'", gitdir);
	if (!rc)
		rc = umap_atomic_file_commit(&ps->file);
	if (!rc && umap_buf_printf(&path, "%s/objects/pack/pack-%s.idx", gitdir, hex))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	/* the pack's buffers are not needed for its index */
	free(chunk);
	chunk = NULL;
	umap_buf_dispose(&ps->pack);
	umap_buf_dispose(&ps->delta);
	umap_buf_dispose(&ps->base_copy);
	if (!rc)
		rc = write_index(path.ptr, gitdir, w, ps, sum);
	umap_buf_dispose(&path);
	return rc;
}

int umap_objw_flush(umap_objw *w, const char *gitdir, int level)
{
	/* the pack thread's blobs first: their offsets, and how many there are */
	int rc = w->ps ? pack_async_wait(w, w->ps) : 0;
	if (!rc && !w->marked && (!w->ps || !w->ps->count)) {
		pack_state_free(w->ps);
		w->ps = NULL;
		return 0;
	}
	if (!rc && !w->ps)
		rc = objw_pack_open(w, gitdir, level);
	for (size_t i = 0; i < w->count && !rc; i++) {
		objw_entry *e = &w->entries[i];
		/* streamed blobs are in the pack already, or (without their bytes) in git */
		if (e->marked && !e->packed && e->data)
			rc = pack_state_add(w, w->ps, i, e->data);
	}
	if (!rc)
		rc = pack_state_finish(w, w->ps, gitdir);
	for (size_t i = 0; i < w->count; i++) {
		objw_entry *e = &w->entries[i];
		if (!rc) {
			e->written |= e->packed;
			e->marked = 0;
		}
		e->packed = 0;
	}
	if (!rc)
		w->marked = 0;
	if (!rc && w->ps->nwhere) {
		uint32_t (*more)[2] = realloc(w->written_ranges, (w->nranges + 1) * sizeof(*more));
		if (more) {
			w->written_ranges = more;
			more[w->nranges][0] = w->ps->first_streamed;
			more[w->nranges++][1] = w->ps->first_streamed + w->ps->nwhere;
		} else {
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		}
	}
	pack_state_free(w->ps);
	w->ps = NULL;
	return rc;
}

int umap_objw_stream(umap_objw *w, const char *gitdir, int level)
{
	free(w->stream_gitdir);
	w->stream_gitdir = NULL;
	if (!gitdir)
		return 0;
	if (!(w->stream_gitdir = strdup(gitdir)))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	w->stream_level = level;
	return umap_objw_set_dict(w, w->dict ? &w->entries[w->dict - 1].id : NULL);
}

int umap_objw_stream_trees(umap_objw *w, const char *gitdir, int level)
{
	free(w->tree_gitdir);
	w->tree_gitdir = NULL;
	if (gitdir && !(w->tree_gitdir = strdup(gitdir)))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	w->tree_level = level;
	return 0;
}

/* ---- Reading back a streamed blob or tree --------------------------------------------- */

static int pack_damaged(void)
{
	return umap_error_set(UMAP_ECORRUPT, "the pack being written cannot be read back");
}

/* Applies a git delta (varint base size, varint result size, copy and insert opcodes). */
static int apply_delta(umap_buf *out, const unsigned char *base, size_t base_len,
		       const unsigned char *d, size_t n)
{
	size_t at = 0, sizes[2];
	for (int k = 0; k < 2; k++) {
		size_t v = 0;
		unsigned shift = 0;
		unsigned char c;
		do {
			if (at >= n || shift > 56)
				return pack_damaged();
			c = d[at++];
			v |= (size_t)(c & 127) << shift;
			shift += 7;
		} while (c & 128);
		sizes[k] = v;
	}
	if (sizes[0] != base_len)
		return pack_damaged();
	umap_buf_clear(out);
	if (umap_buf_grow(out, sizes[1] + 1))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	while (at < n) {
		unsigned char op = d[at++];
		if (op & 128) {
			size_t off = 0, size = 0;
			for (int i = 0; i < 4; i++)
				if (op & (1 << i)) {
					if (at >= n)
						return pack_damaged();
					off |= (size_t)d[at++] << (8 * i);
				}
			for (int i = 0; i < 3; i++)
				if (op & (16 << i)) {
					if (at >= n)
						return pack_damaged();
					size |= (size_t)d[at++] << (8 * i);
				}
			if (!size)
				size = 0x10000;
			if (off > base_len || size > base_len - off || umap_buf_put(out, base + off, size))
				return pack_damaged();
		} else if (op) {
			if (op > n - at || umap_buf_put(out, d + at, op))
				return pack_damaged();
			at += op;
		} else {
			return pack_damaged();
		}
	}
	return out->len == sizes[1] ? 0 : pack_damaged();
}

/* The bytes of the object at `offset` of the pack being written (a blob or a tree, or a
 * delta of depth 1 against a blob). */
static int read_packed(umap_buf *out, git_object_t *type_out, pack_state *ps, uint64_t offset,
		       int depth)
{
	int rc = pack_state_drain(ps, 0);
	if (rc)
		return rc;
	unsigned char hdr[32];
	ssize_t got = pread(ps->file.fd, hdr, sizeof(hdr), (off_t)offset);
	if (got < 2)
		return pack_damaged();
	size_t h = 0, size;
	unsigned char c = hdr[h++];
	int type = (c >> 4) & 7;
	unsigned shift = 4;
	size = c & 15;
	while (c & 128) {
		if (h >= (size_t)got || shift > 56)
			return pack_damaged();
		c = hdr[h++];
		size |= (size_t)(c & 127) << shift;
		shift += 7;
	}
	uint64_t base_at = 0;
	if (type == GIT_OBJECT_OFS_DELTA) {
		if (depth > 0 || h >= (size_t)got)
			return pack_damaged();
		c = hdr[h++];
		uint64_t dist = c & 127;
		while (c & 128) {
			if (h >= (size_t)got || dist > (UINT64_MAX >> 8))
				return pack_damaged();
			c = hdr[h++];
			dist = ((dist + 1) << 7) | (c & 127);
		}
		if (dist > offset)
			return pack_damaged();
		base_at = offset - dist;
	} else if (type != GIT_OBJECT_BLOB && (type != GIT_OBJECT_TREE || depth > 0)) {
		return pack_damaged(); /* a tree is never a delta's base here */
	}
	if (type_out)
		*type_out = type == GIT_OBJECT_TREE ? GIT_OBJECT_TREE : GIT_OBJECT_BLOB;
	if (size > ((size_t)1 << 30))
		return pack_damaged();
	/* a zlib stream of `size` bytes is at most this long (stored blocks, or deflate's) */
	size_t room = size + size / 8 + 5 * (size / 65535 + 1) + 64;
	unsigned char *z = malloc(room), *bytes = malloc(size ? size : 1);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (!z || !bytes) {
		free(z);
		free(bytes);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	got = pread(ps->file.fd, z, room, (off_t)(offset + h));
	if (got <= 0 || inflateInit(&zs) != Z_OK) {
		rc = pack_damaged();
	} else {
		zs.next_in = z;
		zs.avail_in = (uInt)got;
		zs.next_out = bytes;
		zs.avail_out = (uInt)size;
		if (inflate(&zs, Z_FINISH) != Z_STREAM_END || zs.total_out != size)
			rc = pack_damaged();
		inflateEnd(&zs);
	}
	if (!rc && type != GIT_OBJECT_OFS_DELTA) {
		umap_buf_clear(out);
		if (umap_buf_put(out, bytes, size))
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	} else if (!rc) {
		umap_buf base = UMAP_BUF_INIT;
		const unsigned char *bp = NULL;
		size_t blen = 0;
		if (ps->dict->data && ps->dict->offset == base_at) {
			bp = ps->dict->data;
			blen = ps->dict->len;
		} else if (!(rc = read_packed(&base, NULL, ps, base_at, depth + 1))) {
			bp = (const unsigned char *)base.ptr;
			blen = base.len;
		}
		if (!rc)
			rc = apply_delta(out, bp, blen, bytes, size);
		umap_buf_dispose(&base);
	}
	free(z);
	free(bytes);
	return rc;
}
