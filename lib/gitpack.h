/* A set of new git objects kept in memory and written out as ONE pack (+ index) file, blobs
 * as deltas against a similar blob:
 * the way the repository stores thousands of feature blobs per commit at disk speed,
 * instead of one zlib'd, fsync'd loose file per object. */
#ifndef UMAP_GITPACK_H
#define UMAP_GITPACK_H

#include <git2.h>
#include <stddef.h>

#include "buf.h"

typedef struct umap_objw umap_objw; /* opaque */

int umap_objw_new(umap_objw **out);
void umap_objw_free(umap_objw *w);

/* Hashes an object (git_odb_hash), keeps a copy unless one with the same id is there.
 * The object is only written by umap_objw_flush() once marked. */
int umap_objw_put(git_oid *out, umap_objw *w, git_object_t type, const void *data, size_t len);
/* The object's id, as umap_objw_put gives it, without keeping the object. */
int umap_objw_hash(git_oid *out, umap_objw *w, git_object_t type, const void *data, size_t len);
/* Blobs put from now on are written as deltas against the blob `id` (put before them)
 * when both are in the same pack: a layer's dictionary of typical feature bytes gives
 * deltas half the size of those against a neighbouring feature. NULL: no dictionary. */
int umap_objw_set_dict(umap_objw *w, const git_oid *id);
/* Streaming (an import or commit of a large layer): from now on blobs and trees put are
 * written at once to a pack being written under `gitdir` (zlib `level` as for
 * umap_objw_flush); neither their bytes nor an entry are kept: their ids, offsets and
 * crcs go to temporary files beside the pack, and memory is the table that finds them
 * (8 bytes a slot, 16 an object). Such an object read back (umap_objw_get) is read from
 * that pack and kept from then on (umap_objw_read: not kept).
 * NULL: blobs and trees are kept again until the flush. */
int umap_objw_stream(umap_objw *w, const char *gitdir, int level);
/* The same for trees (a pull's rebuilt shard leaves, which nothing reads back when the
 * store knows what they changed): from now on trees put are written at once to the pack
 * being written under `gitdir` and their bytes are not kept; read back (umap_objw_get),
 * they are read from that pack. NULL: trees are kept again until the flush. */
int umap_objw_stream_trees(umap_objw *w, const char *gitdir, int level);
/* Pending object with this id: its bytes (borrowed, valid until the writer is freed). */
int umap_objw_get(const void **data, size_t *len, git_object_t *type, umap_objw *w,
		  const git_oid *id);
/* As umap_objw_get, but a streamed object is read into `copy` (*data points into it),
 * not kept by the writer. */
int umap_objw_read(umap_buf *copy, const void **data, size_t *len, git_object_t *type,
		   umap_objw *w, const git_oid *id);
int umap_objw_has(const umap_objw *w, const git_oid *id);
/* Whether the object was built here and is not in a pack yet (not in git). */
int umap_objw_unwritten(const umap_objw *w, const git_oid *id);
/* Whether `id` is a tree streamed into the pack whose children were all there when it
 * was put (blobs streamed or marked, trees settled): a walk marking new objects need not
 * read it back. */
int umap_objw_settled(const umap_objw *w, const git_oid *id);
/* Marks a pending object to be written by the next flush (no-op for unknown ids). */
void umap_objw_mark(umap_objw *w, const git_oid *id);
size_t umap_objw_marked(const umap_objw *w);

/* Feature deltas are stored without zlib unless a level is given (git's
 * pack.compression): zlib costs ~200k instructions per small object (it builds Huffman
 * tables per stream), as much as the rest of an import or commit, and gains 7% on a
 * delta; blobs are written as deltas against the layer's dictionary or a similar blob
 * instead (see gitpack.c), which `git gc` keeps as they are. Objects written whole are
 * always compressed: trees by a fixed-code deflate block of our own, blobs from 128
 * bytes by zlib at level 1 (20 times fewer objects). */
/* Writes every marked object into objects/pack/pack-<sha>.{pack,idx} under `gitdir`, in the
 * pack that streamed blobs went into if there is one (temp file, written a megabyte at a
 * time, fsync, rename: the pack first, its index last, so a killed writer leaves at most an
 * unused file). Marks are cleared. Nothing marked and nothing streamed: nothing written.
 * level: zlib level 0-9, or -1 for 0. */
int umap_objw_flush(umap_objw *w, const char *gitdir, int level);

#endif
