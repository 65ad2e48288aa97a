/* Features without ids (SPEC §2): two versions of a layer's id-less features aligned as a
 * sequence, the way git aligns lines, for diff and merge to pair them. */
#ifndef UMAP_IDLESS_H
#define UMAP_IDLESS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* What the alignment knows of one feature beyond the hash of its bytes. */
typedef struct umap_idless_traits {
	uint64_t value;    /* hash of its value as the caller compares it (semantic, without
			    * what it ignores): equal => the same feature, unchanged */
	uint64_t geometry; /* hash of its geometry; 0 for none */
	uint64_t name;     /* hash of properties.name; 0 for none */
} umap_idless_traits;

/* The traits of a feature as compared (its tree, or what the caller made of it). */
void umap_idless_traits_of(umap_idless_traits *out, const json_t *feature);

/* The two sequences: OLD (side 0) and NEW (side 1), n[side] features each. */
typedef struct umap_idless_source {
	size_t n[2];
	/* the hash of the bytes of feature i of `side` (equal => identical) */
	uint64_t (*raw)(void *data, int side, size_t i);
	/* its traits: called at most once a feature, only for those the bytes did not pair */
	int (*describe)(void *data, int side, size_t i, umap_idless_traits *out);
	void *data;
	/* NULL: every feature is in the sequences. Else n[] count a layer's features, and
	 * those for which it says yes (they have an id) are left out and left unpaired */
	int (*has_id)(void *data, int side, size_t i);
} umap_idless_source;

/* Pairs the features of OLD and NEW: identical ones by their bytes, then by their value
 * (features may move); then, between two pairs that kept their order (anchors), the
 * features left on both sides are one feature changed in place: paired by position where
 * both sides have as many, else each new one with the old one most like it (same geometry,
 * same name) in order. Before the first anchor and after the last, only alike ones pair. old_to_new[i] and new_to_old[j] get the partner or -1. Fails only
 * with the describe callback's error or UMAP_ENOMEM. */
int umap_idless_align(long *old_to_new, long *new_to_old, const umap_idless_source *src);

#endif
