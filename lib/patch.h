/* Applying a `diff --format=json` patch to a document (umapsync apply, SPEC §3 and §5).
 * All or nothing: every old value in the patch must match the document. */
#ifndef UMAP_PATCH_H
#define UMAP_PATCH_H

#include <jansson.h>

#include "doc.h"

typedef struct umap_patch_options {
	unsigned int version;
	int reverse;              /* undo the patch: added <-> removed, old <-> new */
	const char *id_property;  /* the --id=PROP the patch was made with */
} umap_patch_options;

#define UMAP_PATCH_OPTIONS_VERSION 1
#define UMAP_PATCH_OPTIONS_INIT { UMAP_PATCH_OPTIONS_VERSION, 0, NULL }

/* Applies `patch` to `doc` in memory. Where an old value does not match the document it
 * returns UMAP_ECONFLICT with a message naming the layer, feature and key; a malformed
 * patch gives UMAP_EINVALID. On error the document is left half-changed: do not save it.
 * *applied (may be NULL) is the number of feature, layer and map changes made. */
int umap_patch_apply(umap_doc *doc, const json_t *patch, const umap_patch_options *opts,
		     size_t *applied);

#endif
