/* The version of umapsync and libumapsync.
 * Bumped by hand at each release; CHANGELOG.md says what changed. */
#ifndef UMAP_VERSION_H
#define UMAP_VERSION_H
#define UMAPSYNC_VERSION "0.1.0"
#endif
