/* Copies of JSON values that keep member names containing NUL bytes ("a\u0000b").
 * jansson 2.14's json_copy and json_deep_copy cut such a name at the NUL. */
#ifndef UMAP_JSON_COPY_H
#define UMAP_JSON_COPY_H

#include <jansson.h>

/* A new reference to a copy of `v`: members and elements shared (json_copy) or copied
 * too when `deep` (json_deep_copy). NULL when out of memory (or `v` is NULL). */
json_t *umap_json_copy(const json_t *v, int deep);

#endif
