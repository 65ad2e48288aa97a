/* In-memory set of new git objects, flushed as one pack file with its v2 index.
 * Pack format: git's Documentation/gitformat-pack.txt; blobs as OFS_DELTAs of depth 1. */
#include "gitpack.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "error.h"
#include "fs.h"
#include "sha1.h"

#define BLOCK_SIZE ((size_t)1 << 20)

typedef struct objw_entry {
	git_oid id;
	git_object_t type;
	char *data;
	size_t len;
	int marked;
	int written;     /* in a pack on disk */
	size_t dict;     /* blobs: index+1 of the dictionary blob to delta against, 0 none */
	uint64_t offset; /* in the pack being written */
} objw_entry;

typedef struct objw_block {
	struct objw_block *next;
	size_t used, size;
	char data[];
} objw_block;

struct umap_objw {
	objw_entry *entries;
	size_t count, alloc;
	size_t *table; /* open addressing: index+1 into entries, 0 = empty */
	size_t table_size;
	objw_block *blocks;
	size_t marked;
	size_t dict;  /* index+1 of the current dictionary blob (umap_objw_set_dict), 0 none */
	EVP_MD_CTX *md;
	EVP_MD *sha1; /* fetched once: OpenSSL 3 looks it up on every EVP_sha1() init */
};

static size_t oid_slot(const git_oid *id, size_t mask)
{
	uint64_t h;
	memcpy(&h, id->id, sizeof(h));
	return (size_t)h & mask;
}

int umap_objw_new(umap_objw **out)
{
	umap_objw *w = calloc(1, sizeof(*w));
	if (!w)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	w->table_size = 1024;
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
	for (objw_block *b = w->blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	for (size_t i = 0; i < w->count; i++)
		if (w->entries[i].len > BLOCK_SIZE / 4)
			free(w->entries[i].data);
	EVP_MD_CTX_free(w->md);
	EVP_MD_free(w->sha1);
	free(w->entries);
	free(w->table);
	free(w);
}

static long find(const umap_objw *w, const git_oid *id)
{
	size_t mask = w->table_size - 1;
	for (size_t slot = oid_slot(id, mask);; slot = (slot + 1) & mask) {
		size_t v = w->table[slot];
		if (!v)
			return -1;
		if (!git_oid_cmp(&w->entries[v - 1].id, id))
			return (long)(v - 1);
	}
}

static int grow_table(umap_objw *w)
{
	size_t size = w->table_size * 2;
	size_t *table = calloc(size, sizeof(*table));
	if (!table)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; i < w->count; i++) {
		size_t slot = oid_slot(&w->entries[i].id, size - 1);
		while (table[slot])
			slot = (slot + 1) & (size - 1);
		table[slot] = i + 1;
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

int umap_objw_put(git_oid *out, umap_objw *w, git_object_t type, const void *data, size_t len)
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
	if (find(w, out) >= 0)
		return 0;
	if ((w->count + 1) * 2 > w->table_size && grow_table(w))
		return UMAP_ENOMEM;
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
	e->type = type;
	e->data = copy;
	e->len = len;
	e->marked = 0;
	e->written = 0;
	e->dict = type == GIT_OBJECT_BLOB ? w->dict : 0;
	e->offset = 0;
	size_t mask = w->table_size - 1, slot = oid_slot(out, mask);
	while (w->table[slot])
		slot = (slot + 1) & mask;
	w->table[slot] = ++w->count;
	return 0;
}

int umap_objw_set_dict(umap_objw *w, const git_oid *id)
{
	long at = id ? find(w, id) : -1;
	w->dict = at < 0 ? 0 : (size_t)at + 1;
	return 0;
}

int umap_objw_get(const void **data, size_t *len, git_object_t *type, const umap_objw *w,
		  const git_oid *id)
{
	long i = find(w, id);
	if (i < 0)
		return UMAP_ENOTFOUND;
	*data = w->entries[i].data;
	*len = w->entries[i].len;
	if (type)
		*type = w->entries[i].type;
	return 0;
}

int umap_objw_has(const umap_objw *w, const git_oid *id)
{
	return find(w, id) >= 0;
}

int umap_objw_unwritten(const umap_objw *w, const git_oid *id)
{
	long i = find(w, id);
	return i >= 0 && !w->entries[i].written;
}

void umap_objw_mark(umap_objw *w, const git_oid *id)
{
	long i = find(w, id);
	if (i >= 0 && !w->entries[i].marked) {
		w->entries[i].marked = 1;
		w->marked++;
	}
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

static int buf_be32(umap_buf *b, uint32_t v)
{
	unsigned char p[4];
	put_be32(p, v);
	return umap_buf_put(b, p, 4);
}

typedef struct pack_item {
	const git_oid *id;
	uint64_t offset;
	uint32_t crc;
} pack_item;

static int item_cmp(const void *a, const void *b)
{
	return git_oid_cmp(((const pack_item *)a)->id, ((const pack_item *)b)->id);
}

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
static int pack_object(umap_buf *pack, z_stream *zs, int level, int type, const void *data,
		       size_t len, uint64_t base_distance, pack_item *item)
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
	item->offset = pack->len;
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
	item->crc = (uint32_t)crc32(0, (const Bytef *)pack->ptr + item->offset,
				    (uInt)(pack->len - item->offset));
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
static int put_delta(umap_buf *pack, z_stream *zs, int level, umap_buf *delta, delta_base *b,
		     const objw_entry *e, pack_item *item, int *done)
{
	*done = 0;
	if (make_delta(delta, b, (const unsigned char *)e->data, e->len))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	if (delta->len * 4 >= e->len * 3)
		return 0;
	*done = 1;
	b->uses++;
	return pack_object(pack, zs, level, GIT_OBJECT_OFS_DELTA, delta->ptr, delta->len,
			   pack->len - b->offset, item);
}

static int write_index(umap_buf *idx, pack_item *items, size_t n, const unsigned char sum[20])
{
	static const unsigned char magic[8] = { 0xff, 't', 'O', 'c', 0, 0, 0, 2 };
	int rc = umap_buf_put(idx, magic, 8);
	size_t at = 0;
	for (int b = 0; b < 256 && !rc; b++) {
		while (at < n && items[at].id->id[0] <= b)
			at++;
		rc = buf_be32(idx, (uint32_t)at);
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = umap_buf_put(idx, items[i].id->id, GIT_OID_RAWSZ);
	for (size_t i = 0; i < n && !rc; i++)
		rc = buf_be32(idx, items[i].crc);
	uint32_t large = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = buf_be32(idx, items[i].offset < 0x80000000u ? (uint32_t)items[i].offset
								 : 0x80000000u | large++);
	for (size_t i = 0; i < n && !rc; i++)
		if (items[i].offset >= 0x80000000u)
			rc = buf_be32(idx, (uint32_t)(items[i].offset >> 32)) ||
			     buf_be32(idx, (uint32_t)items[i].offset);
	if (!rc)
		rc = umap_buf_put(idx, sum, 20);
	if (rc)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	umap_sha1 ctx;
	unsigned char idxsum[20];
	if (umap_sha1_init(&ctx))
		return umap_error_set(UMAP_ENOMEM, "cannot start SHA-1");
	umap_sha1_update(&ctx, idx->ptr, idx->len);
	if (umap_sha1_final(&ctx, idxsum))
		return umap_error_set(UMAP_ERROR, "SHA-1 failed");
	return umap_buf_put(idx, idxsum, 20) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
}

int umap_objw_flush(umap_objw *w, const char *gitdir, int level)
{
	if (!w->marked)
		return 0;
	size_t n = w->marked;
	pack_item *items = calloc(n, sizeof(*items));
	umap_buf pack = UMAP_BUF_INIT, idx = UMAP_BUF_INIT, path = UMAP_BUF_INIT;
	z_stream zs, bzs;
	memset(&zs, 0, sizeof(zs));
	memset(&bzs, 0, sizeof(bzs));
	int rc = 0, zinit = 0, bzinit = 0;
	if (!items) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto done;
	}
	/* Objects are small (a feature is ~300 bytes): a 1 KiB window and memLevel 4 (a 2 KiB
	 * hash table) make deflateReset() cheap (the default 64 KiB table is cleared on every
	 * reset), while a 1024-symbol block still holds a whole feature: memLevel 1 (128-symbol
	 * blocks) built Huffman trees 3 times per feature, 128k instructions each. */
	if (level < 0 || level > 9)
		level = 0;
	if (deflateInit2(&zs, level, Z_DEFLATED, 10, 4, Z_DEFAULT_STRATEGY) != Z_OK) {
		rc = umap_error_set(UMAP_ENOMEM, "zlib: cannot start the compressor");
		goto done;
	}
	zinit = 1;
	if (deflateInit2(&bzs, WHOLE_LEVEL, Z_DEFLATED, 12, 4, Z_DEFAULT_STRATEGY) != Z_OK) {
		rc = umap_error_set(UMAP_ENOMEM, "zlib: cannot start the compressor");
		goto done;
	}
	bzinit = 1;
	unsigned char hdr[12] = { 'P', 'A', 'C', 'K' };
	put_be32(hdr + 4, 2);
	put_be32(hdr + 8, (uint32_t)n);
	if (umap_buf_put(&pack, hdr, sizeof(hdr))) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto done;
	}
	size_t k = 0, dict_of = 0; /* entry index+1 that `dict` indexes */
	delta_base base = { NULL, 0, 0, NULL, NULL, DELTA_HASH_BITS, 0 };
	delta_base dict = { NULL, 0, 0, NULL, NULL, DICT_HASH_BITS, 0 };
	base.table = malloc(sizeof(int32_t) << base.bits);
	dict.table = malloc(sizeof(int32_t) << dict.bits);
	umap_buf delta = UMAP_BUF_INIT;
	if (!base.table || !dict.table)
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; i < w->count && !rc; i++) {
		objw_entry *e = &w->entries[i];
		if (!e->marked)
			continue;
		items[k].id = &e->id;
		int done = 0;
		int deltable = e->type == GIT_OBJECT_BLOB && e->len >= 64 && e->len <= DELTA_MAX_BASE;
		/* the layer's dictionary, when it is earlier in this pack: the best base */
		if (deltable && e->dict && e->dict - 1 < i && w->entries[e->dict - 1].marked) {
			if (dict_of != e->dict) {
				const objw_entry *d = &w->entries[e->dict - 1];
				free(dict.chain);
				dict.chain = malloc(sizeof(int32_t) * (d->len ? d->len : 1));
				if (!dict.chain) {
					rc = umap_error_set(UMAP_ENOMEM, "out of memory");
					break;
				}
				delta_index(&dict, (const unsigned char *)d->data, d->len, d->offset, 1);
				dict_of = e->dict;
			}
			rc = put_delta(&pack, &zs, level, &delta, &dict, e, &items[k], &done);
		}
		if (!rc && !done && deltable && base.data && base.uses < DELTA_GROUP)
			rc = put_delta(&pack, &zs, level, &delta, &base, e, &items[k], &done);
		if (!rc && !done) {
			if (e->type == GIT_OBJECT_TREE || e->len >= WHOLE_ZLIB_MIN)
				rc = pack_object(&pack, &bzs, WHOLE_LEVEL, e->type, e->data, e->len,
						 0, &items[k]);
			else
				rc = pack_object(&pack, &zs, level, e->type, e->data, e->len, 0, &items[k]);
			if (e->type == GIT_OBJECT_BLOB && e->len <= DELTA_MAX_BASE)
				delta_index(&base, (const unsigned char *)e->data, e->len, items[k].offset, 4);
		}
		e->offset = items[k].offset;
		k++;
	}
	free(base.table);
	free(dict.table);
	free(dict.chain);
	umap_buf_dispose(&delta);
	if (rc)
		goto done;
	unsigned char sum[20];
	umap_sha1 ctx;
	if (umap_sha1_init(&ctx)) {
		rc = umap_error_set(UMAP_ENOMEM, "cannot start SHA-1");
		goto done;
	}
	umap_sha1_update(&ctx, pack.ptr, pack.len);
	if (umap_sha1_final(&ctx, sum)) {
		rc = umap_error_set(UMAP_ERROR, "SHA-1 failed");
		goto done;
	}
	if (umap_buf_put(&pack, sum, 20)) {
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		goto done;
	}
	qsort(items, n, sizeof(*items), item_cmp);
	if ((rc = write_index(&idx, items, n, sum)))
		goto done;
	char hex[41];
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	if (umap_buf_printf(&path, "%s/objects/pack", gitdir) ||
	    umap_mkdir_p(path.ptr, 0777) < 0) {
		rc = umap_error_prefix(UMAP_EIO, "cannot create %s", path.ptr ? path.ptr : "pack dir");
		goto done;
	}
	umap_buf_clear(&path);
	umap_buf_printf(&path, "%s/objects/pack/pack-%s.pack", gitdir, hex);
	if ((rc = umap_file_write_atomic(path.ptr, pack.ptr, pack.len)))
		goto done;
	umap_buf_clear(&path);
	umap_buf_printf(&path, "%s/objects/pack/pack-%s.idx", gitdir, hex);
	if ((rc = umap_file_write_atomic(path.ptr, idx.ptr, idx.len)))
		goto done;
	for (size_t i = 0; i < w->count; i++) {
		w->entries[i].written |= w->entries[i].marked;
		w->entries[i].marked = 0;
	}
	w->marked = 0;
done:
	if (zinit)
		deflateEnd(&zs);
	if (bzinit)
		deflateEnd(&bzs);
	free(items);
	umap_buf_dispose(&pack);
	umap_buf_dispose(&idx);
	umap_buf_dispose(&path);
	return rc;
}
