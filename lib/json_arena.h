/* One region for all the jansson values of a command that frees them all together at its
 * end (diff): faster to make than one malloc each, and gone in one munmap. */
#ifndef UMAP_JSON_ARENA_H
#define UMAP_JSON_ARENA_H

/* From now on, jansson values are made in the region (process-wide: call it before any
 * other thread makes values). Values made before are freed with free() as usual. Under
 * AddressSanitizer, or where the address space cannot be reserved, nothing changes. */
int umap_json_arena_begin(void);
/* Back to malloc; the region's memory goes at once: every value made in it must be gone
 * already (freed or never to be used again), and no other thread may be making values. */
void umap_json_arena_end(void);

#endif
