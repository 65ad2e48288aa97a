/* Copies of JSON values that keep member names containing NUL bytes, which jansson 2.14's
 * own copies cut short (found by fuzz_merge: a merged layer lost part of an option name). */
#include "json_copy.h"

json_t *umap_json_copy(const json_t *v, int deep)
{
	if (json_is_object(v)) {
		json_t *res = json_object(), *value;
		const char *key;
		size_t key_len;
		json_object_keylen_foreach((json_t *)v, key, key_len, value) {
			json_t *item = deep ? umap_json_copy(value, 1) : json_incref(value);
			/* setn_new takes the item's reference even when it fails */
			if (!res || !item || json_object_setn_new_nocheck(res, key, key_len, item)) {
				json_decref(res);
				return NULL;
			}
		}
		return res;
	}
	if (json_is_array(v)) {
		json_t *res = json_array();
		for (size_t i = 0; res && i < json_array_size(v); i++) {
			json_t *value = json_array_get(v, i);
			json_t *item = deep ? umap_json_copy(value, 1) : json_incref(value);
			if (!item || json_array_append_new(res, item)) {
				json_decref(res);
				return NULL;
			}
		}
		return res;
	}
	/* strings keep their length, numbers and constants have no names */
	return v ? json_deep_copy(v) : NULL;
}
