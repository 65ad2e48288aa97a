/* Validation of sync ops (uMap realtime messages + hlc + op_id) and dotted-key edits.
 * Every rule that protects the server's state from a malformed op lives here. */
#include "sync_op.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"

static int name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int umap_sync_valid_name(const char *name, size_t max)
{
	size_t n = 0;
	if (!name)
		return 0;
	for (; name[n]; n++)
		if (n >= max || !name_char((unsigned char)name[n]))
			return 0;
	return n > 0;
}

int umap_sync_valid_options_key(const char *key)
{
	return key && (!strcmp(key, "properties") || !strcmp(key, "_umap_options") ||
		       !strcmp(key, "_storage"));
}

int umap_sync_valid_filename(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > UMAP_SYNC_FILENAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ':')
			return 0;
	}
	return 1;
}

static int valid_key(const char *key)
{
	size_t n = strlen(key), depth = 1;
	if (n == 0 || n > UMAP_SYNC_KEY_MAX || key[0] == '.' || key[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)key[i];
		if (c < 0x20)
			return 0;
		if (c == '.' && (key[i + 1] == '.' || ++depth > UMAP_SYNC_KEY_DEPTH))
			return 0;
	}
	return 1;
}

/* Which keys an update may set, per subject: a map's properties and its centre (never its
 * "layers" or "type": one op must not wipe every puller's layers), a datalayer's options, a
 * feature's properties and geometry (never its id or type). */
static int valid_key_for_subject(umap_sync_subject subject, const char *key)
{
	/* a map's "uri" is map data too (uMap's exports carry it); a datalayer's place among
	 * group layers is "parentId" and "rank" (uMap 3.7+) */
	static const char *const map[] = { "properties", "geometry", "uri", NULL };
	static const char *const datalayer[] = { "options.", "properties.", "_umap_options.", "parentId",
						 "rank", NULL };
	static const char *const feature[] = { "properties", "geometry", NULL };
	const char *const *allowed = subject == UMAP_SYNC_MAP ? map : subject == UMAP_SYNC_DATALAYER ? datalayer : feature;
	for (; *allowed; allowed++) {
		size_t n = strlen(*allowed);
		if (!strncmp(key, *allowed, n) && ((*allowed)[n - 1] == '.' || key[n] == '\0' || key[n] == '.'))
			return 1;
	}
	return 0;
}

static const char *key_rule(umap_sync_subject subject)
{
	return subject == UMAP_SYNC_MAP ? "a map update may only set \"properties\", \"properties.*\", \"geometry\" or \"uri\""
	       : subject == UMAP_SYNC_DATALAYER ? "a datalayer key must start with \"options.\" (or \"properties.\"), or be \"parentId\" or \"rank\", "
						  "or uMap's \"properties\" or \"referenceVersion\""
						: "a feature update may only set \"properties\", \"properties.*\" or \"geometry\"";
}

static int valid_op_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > UMAP_SYNC_OP_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] == 0x7f)
			return 0;
	return 1;
}

_Static_assert(UMAP_SYNC_FEATURE_ID_MAX == 256, "UMAP_SYNC_FEATURE_ID_RULE says 256");

int umap_sync_valid_feature_id(const json_t *id)
{
	if (json_is_integer(id)) {
		json_int_t v = json_integer_value(id);
		return v >= -UMAP_SYNC_FEATURE_ID_INT_MAX && v <= UMAP_SYNC_FEATURE_ID_INT_MAX;
	}
	if (!json_is_string(id))
		return 0;
	const char *s = json_string_value(id);
	size_t n = json_string_length(id);
	if (n == 0 || n > UMAP_SYNC_FEATURE_ID_MAX || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int umap_sync_valid_feature_id_text(const char *id_json)
{
	if (!id_json)
		return 0;
	size_t n = strlen(id_json);
	/* the usual ids, without a parse: a string without escapes, a short integer */
	if (n >= 2 && id_json[0] == '"' && id_json[n - 1] == '"' && !memchr(id_json, '\\', n)) {
		if (n == 2 || n - 2 > UMAP_SYNC_FEATURE_ID_MAX)
			return 0;
		for (size_t i = 1; i < n - 1; i++)
			if ((unsigned char)id_json[i] < 0x20 || id_json[i] == 0x7f || id_json[i] == '"')
				return 0;
		return 1;
	}
	size_t digits = strspn(id_json + (n && id_json[0] == '-'), "0123456789");
	if (digits && digits < 16 && digits + (id_json[0] == '-') == n)
		return digits == 1 || id_json[id_json[0] == '-'] != '0'; /* JSON has no leading zeros */
	json_t *id = NULL;
	/* an integer past int64 does not load: it is no valid id either */
	if (umap_json_loadb(&id, id_json, n, "id")) {
		umap_error_clear();
		return 0;
	}
	int ok = umap_sync_valid_feature_id(id);
	json_decref(id);
	return ok;
}

/* The feature id as compact JSON text. */
static int feature_id_text(char **out, const json_t *id, size_t index)
{
	*out = NULL;
	if (!umap_sync_valid_feature_id(id))
		return umap_error_set(UMAP_EINVALID, "ops[%zu]: metadata.id must be " UMAP_SYNC_FEATURE_ID_RULE, index);
	*out = umap_json_dumps(id, UMAP_JSON_COMPACT);
	return *out ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
}

/* The text of a JSON string that holds no NUL, else NULL: checks read C strings, so a
 * "\u0000" inside a name would cut it short ("L1\u0000x" passing as "L1"). */
const char *umap_sync_json_name(const json_t *value)
{
	const char *s = json_string_value(value);
	return s && strlen(s) == json_string_length(value) ? s : NULL;
}

static int lookup(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

/* the datalayer keys uMap's journal sends besides "properties.NAME" (data/layer.js, app.js) */
static const char *const umap_layer_keys[] = { "properties", "referenceVersion", NULL };

static int op_parse(umap_sync_op *out, json_t *op, size_t index)
{
	static const char *const verbs[] = { "upsert", "update", "delete", NULL };
	static const char *const subjects[] = { "map", "datalayer", "feature", NULL };
	memset(out, 0, sizeof(*out));
	out->json = op;
	if (!json_is_object(op))
		return umap_error_set(UMAP_EINVALID, "ops[%zu]: an op must be a JSON object", index);
	const char *verb = umap_sync_json_name(json_object_get(op, "verb"));
	const char *subject = umap_sync_json_name(json_object_get(op, "subject"));
	json_t *hlc_value = json_object_get(op, "hlc");
	const char *hlc = umap_sync_json_name(hlc_value);
	out->op_id = umap_sync_json_name(json_object_get(op, "op_id"));
	int v = verb ? lookup(verbs, verb) : -1, s = subject ? lookup(subjects, subject) : -1;
	if (v < 0)
		return umap_error_set(UMAP_EINVALID, "ops[%zu]: \"verb\" must be \"upsert\", \"update\" or \"delete\"", index);
	if (s < 0)
		return umap_error_set(UMAP_EINVALID, "ops[%zu]: \"subject\" must be \"map\", \"datalayer\" or \"feature\"", index);
	if (!out->op_id || !valid_op_id(out->op_id))
		return umap_error_set(UMAP_EINVALID,
				      "ops[%zu]: \"op_id\" must be a string of 1 to %d printable characters without spaces",
				      index, UMAP_SYNC_OP_ID_MAX);
	if (!hlc)
		return umap_error_set(UMAP_EINVALID, hlc_value ? "ops[%zu]: \"hlc\" must be a hybrid logical clock string"
						       : "ops[%zu]: \"hlc\" is missing (a hybrid logical clock string)", index);
	if (umap_hlc_decode(&out->hlc, hlc))
		return umap_error_prefix(UMAP_EINVALID, "ops[%zu]: ", index);
	out->verb = (umap_sync_verb)v;
	out->subject = (umap_sync_subject)s;

	json_t *meta = json_object_get(op, "metadata");
	if (meta && !json_is_object(meta))
		return umap_error_set(UMAP_EINVALID, "ops[%zu]: \"metadata\" must be an object", index);
	out->layer = "";
	if (out->subject == UMAP_SYNC_FEATURE) {
		out->layer = umap_sync_json_name(json_object_get(meta, "layerId"));
		if (!out->layer || !umap_sync_valid_name(out->layer, UMAP_SYNC_LAYER_MAX))
			return umap_error_set(UMAP_EINVALID,
					      "ops[%zu]: metadata.layerId must be 1 to %d characters of A-Z a-z 0-9 _ -",
					      index, UMAP_SYNC_LAYER_MAX);
		json_t *id = json_object_get(meta, "id");
		if (feature_id_text(&out->feature, id, index))
			return UMAP_EINVALID;
	} else if (out->subject == UMAP_SYNC_DATALAYER) {
		out->layer = umap_sync_json_name(json_object_get(meta, "id"));
		if (!out->layer || !umap_sync_valid_name(out->layer, UMAP_SYNC_LAYER_MAX))
			return umap_error_set(UMAP_EINVALID,
					      "ops[%zu]: metadata.id of a datalayer must be 1 to %d characters of A-Z a-z 0-9 _ -",
					      index, UMAP_SYNC_LAYER_MAX);
		json_t *options_key = json_object_get(meta, "optionsKey");
		if (options_key) {
			out->options_key = json_string_value(options_key);
			if (out->verb != UMAP_SYNC_UPSERT || !umap_sync_valid_options_key(out->options_key))
				return umap_error_set(UMAP_EINVALID,
						      "ops[%zu]: metadata.optionsKey must be \"properties\", \"_umap_options\" or \"_storage\", on an upsert",
						      index);
		}
		json_t *filename = json_object_get(meta, "filename");
		if (filename) {
			out->filename = umap_sync_json_name(filename);
			if (out->verb != UMAP_SYNC_UPSERT || !out->filename ||
			    !umap_sync_valid_filename(out->filename))
				return umap_error_set(UMAP_EINVALID,
						      "ops[%zu]: metadata.filename must be a file name of at most %d bytes without '/' or a leading '.', on an upsert",
						      index, UMAP_SYNC_FILENAME_MAX);
		}
	}

	json_t *value = json_object_get(op, "value");
	switch (out->verb) {
	case UMAP_SYNC_UPSERT:
		/* a datalayer without options (null) is fine: uMap sends {} but files may have none */
		if (!json_is_object(value) && !(out->subject == UMAP_SYNC_DATALAYER && json_is_null(value)))
			return umap_error_set(UMAP_EINVALID, "ops[%zu]: an upsert needs an object \"value\"", index);
		if (out->subject == UMAP_SYNC_FEATURE) {
			const char *type = json_string_value(json_object_get(value, "type"));
			if (!type || strcmp(type, "Feature"))
				return umap_error_set(UMAP_EINVALID,
						      "ops[%zu]: the value of a feature upsert must be a GeoJSON Feature", index);
			json_t *id = json_object_get(value, "id");
			if (id) {
				char *text = umap_json_dumps(id, UMAP_JSON_COMPACT);
				int same = text && !strcmp(text, out->feature);
				free(text);
				if (!same)
					return umap_error_set(UMAP_EINVALID,
							      "ops[%zu]: the feature's \"id\" differs from metadata.id", index);
			}
		}
		out->value = value;
		break;
	case UMAP_SYNC_UPDATE:
		out->key = umap_sync_json_name(json_object_get(op, "key"));
		if (!out->key || !valid_key(out->key))
			return umap_error_set(UMAP_EINVALID,
					      "ops[%zu]: an update needs a dotted \"key\" (e.g. \"properties.name\"), at most %d bytes and %d levels",
					      index, UMAP_SYNC_KEY_MAX, UMAP_SYNC_KEY_DEPTH);
		if (!valid_key_for_subject(out->subject, out->key) &&
		    !(out->subject == UMAP_SYNC_DATALAYER && lookup(umap_layer_keys, out->key) >= 0))
			return umap_error_set(UMAP_EINVALID, "ops[%zu]: %s", index, key_rule(out->subject));
		/* replacing "properties" whole gives pullers an object, never [] or a number */
		if (!strcmp(out->key, "properties") && !json_is_object(value))
			return umap_error_set(UMAP_EINVALID, "ops[%zu]: \"properties\" can only be set to an object", index);
		out->value = value; /* absent: the key is removed */
		break;
	case UMAP_SYNC_DELETE:
		if (out->subject == UMAP_SYNC_MAP)
			return umap_error_set(UMAP_EINVALID, "ops[%zu]: a map cannot be deleted through sync", index);
		break;
	}
	return 0;
}

/* A refused op owns nothing: its caller (the store's push) disposes only accepted ones. */
int umap_sync_op_parse(umap_sync_op *out, json_t *op, size_t index)
{
	int rc = op_parse(out, op, index);
	if (rc)
		umap_sync_op_dispose(out);
	return rc;
}

void umap_sync_op_dispose(umap_sync_op *op)
{
	free(op->feature);
	op->feature = NULL;
}

int umap_sync_set_path(json_t *root, const char *key, json_t *value)
{
	json_t *node = root;
	const char *part = key;
	char name[UMAP_SYNC_KEY_MAX + 1];
	for (;;) {
		const char *dot = strchr(part, '.');
		size_t n = dot ? (size_t)(dot - part) : strlen(part);
		if (n == 0 || n > UMAP_SYNC_KEY_MAX)
			return umap_error_set(UMAP_EINVALID, "invalid key '%s'", key);
		memcpy(name, part, n);
		name[n] = '\0';
		if (!json_is_object(node))
			return umap_error_set(UMAP_EINVALID, "key '%s' goes through a value that is not an object", key);
		if (!dot) {
			if (!value) {
				json_object_del(node, name);
				return 0;
			}
			return json_object_set(node, name, value) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
		}
		json_t *child = json_object_get(node, name);
		if (!child || json_is_null(child)) {
			if (!value)
				return 0; /* removing under something absent: nothing to do */
			child = json_object();
			if (!child || json_object_set_new(node, name, child))
				return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		node = child;
		part = dot + 1;
	}
}

/* Copies what a batch gives its inner ops: its clock and sender unless they have their own,
 * and an op id of its own followed by the inner op's position. */
static int batch_inner(json_t **out, const json_t *batch, json_t *inner, size_t index, size_t i)
{
	static const char *const inherited[] = { "hlc", "sender", NULL };
	const char *verb = json_string_value(json_object_get(inner, "verb"));
	if (!json_is_object(inner) || (verb && !strcmp(verb, "batch")))
		return umap_error_set(UMAP_EINVALID, "ops[%zu]: operations[%zu] of a batch must be an op, not a batch",
				      index, i);
	*out = json_copy(inner);
	if (!*out)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	for (int k = 0; inherited[k]; k++) {
		json_t *v = json_object_get(batch, inherited[k]);
		if (v && !json_object_get(*out, inherited[k]) && json_object_set(*out, inherited[k], v))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	const char *id = json_string_value(json_object_get(batch, "op_id"));
	if (id && json_object_set_new(*out, "op_id", json_sprintf("%s.%zu", id, i)))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return 0;
}

int umap_sync_ops_expand(json_t **out, json_t *ops, size_t max)
{
	*out = json_array();
	if (!*out)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	size_t index;
	json_t *op;
	int err = 0;
	json_array_foreach(ops, index, op) {
		const char *verb = json_string_value(json_object_get(op, "verb"));
		json_t *inner = json_object_get(op, "operations");
		if (!verb || strcmp(verb, "batch")) {
			err = json_array_append(*out, op) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
		} else if (!json_is_array(inner)) {
			err = umap_error_set(UMAP_EINVALID, "ops[%zu]: a batch needs an \"operations\" array", index);
		} else {
			size_t i;
			json_t *one, *copy = NULL;
			json_array_foreach(inner, i, one) {
				if ((err = batch_inner(&copy, op, one, index, i)) || json_array_append_new(*out, copy)) {
					if (!err) {
						err = umap_error_set(UMAP_ENOMEM, "out of memory");
						copy = NULL;
					}
					json_decref(copy);
					break;
				}
			}
		}
		if (!err && json_array_size(*out) > max)
			err = umap_error_set(UMAP_ELIMIT, "too many ops once batches are counted (over %zu): push in batches",
					     max);
		if (err)
			break;
	}
	if (err) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

/* ---- Push bodies ------------------------------------------------------------------------ */

void umap_sync_raw_values_dispose(umap_sync_raw_values *values)
{
	free(values->v);
	*values = (umap_sync_raw_values)UMAP_SYNC_RAW_VALUES_INIT;
}

/* What the quick read of a body met that it leaves to the whole parse: not an error yet. */
#define QUICK_GIVE_UP 1

/* The value `tok` starts, as umap_json_parse builds it (a repeated member refused). */
static int quick_build(umap_scanner *s, const umap_token *tok, json_t **out)
{
	*out = NULL;
	return umap_scanner_build_unique(s, tok, out) ? QUICK_GIVE_UP : 0;
}

/* Sets member `key` of `obj`, giving up on a repeated one (the whole parse says where). */
static int quick_set(json_t *obj, const umap_buf *key, json_t *value)
{
	if (!value)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	if (json_object_getn(obj, key->ptr, key->len)) {
		json_decref(value);
		return QUICK_GIVE_UP;
	}
	return json_object_setn_new_nocheck(obj, key->ptr, key->len, value) ? umap_error_set(UMAP_ENOMEM, "out of memory")
									      : 0;
}

/* The end of the object being read. */
#define QUICK_END 2

/* The next member of the object being read: its name in `key` and the first token of its
 * value in *tok (0), or QUICK_END, or QUICK_GIVE_UP. */
static int quick_member(umap_scanner *s, umap_buf *key, umap_token *tok)
{
	if (umap_scanner_next(s, tok))
		return QUICK_GIVE_UP;
	if (tok->type == UMAP_TOKEN_OBJECT_END)
		return QUICK_END;
	return umap_scanner_string(s, tok, key) || umap_scanner_next(s, tok) ? QUICK_GIVE_UP : 0;
}

static int member_is(const json_t *obj, const char *key, const char *text)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v && !strcmp(v, text);
}

/* One op (its OBJECT_START just read); a feature upsert's compact "value" becomes a stub
 * {"type","id"} and its bytes are listed. */
static int quick_op(umap_scanner *s, const char *data, json_t **out, umap_sync_raw_values *values,
		    umap_buf *key)
{
	static const char *const wanted[] = { "type", "id", NULL };
	json_t *op = json_object();
	umap_token tok, found[2];
	size_t value_start = 0, value_end = 0;
	int err = op ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
	while (!err) {
		int r = quick_member(s, key, &tok);
		if (r) {
			err = r == QUICK_END ? 0 : r;
			break;
		}
		json_t *value = NULL;
		if (key->len == 5 && !memcmp(key->ptr, "value", 5) && tok.type == UMAP_TOKEN_OBJECT_START) {
			int compact = 0;
			value_start = tok.start;
			if (umap_scanner_skip_compact(s, &tok, &value_end, &compact, wanted, found) || !compact)
				err = QUICK_GIVE_UP;
			else
				value = json_null(); /* for now: its place among the members */
		} else {
			err = quick_build(s, &tok, &value);
		}
		if (!err)
			err = quick_set(op, key, value);
	}
	if (!err && value_end) {
		json_t *value = NULL;
		if (member_is(op, "verb", "upsert") && member_is(op, "subject", "feature") &&
		    found[0].type == UMAP_TOKEN_STRING &&
		    (found[1].type == UMAP_TOKEN_STRING || found[1].type == UMAP_TOKEN_NUMBER)) {
			json_t *type = NULL, *id = NULL;
			umap_json_loadb(&type, data + found[0].start, found[0].end - found[0].start, "request body");
			umap_json_loadb(&id, data + found[1].start, found[1].end - found[1].start, "request body");
			value = type && id ? json_pack("{s:o, s:o}", "type", type, "id", id) : NULL;
			if (!value) {
				json_decref(type);
				json_decref(id);
			}
			if (value && values->n == values->cap) {
				size_t cap = values->cap ? values->cap * 2 : 256;
				umap_sync_raw_value *v = realloc(values->v, cap * sizeof(*v));
				if (v) {
					values->v = v;
					values->cap = cap;
				}
			}
			if (value && values->n < values->cap)
				values->v[values->n++] = (umap_sync_raw_value){ value, data + value_start,
										 value_end - value_start };
			else if (value) {
				json_decref(value);
				value = NULL;
			}
		} else {
			/* compact and without a repeated member: read as the whole parse reads it */
			umap_json_loadb(&value, data + value_start, value_end - value_start, "request body");
		}
		if (!value || json_object_set_new(op, "value", value))
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	if (err) {
		json_decref(op);
		return err;
	}
	*out = op;
	return 0;
}

/* The body read without building the values of feature upserts; QUICK_GIVE_UP when it is
 * not a body this reading knows to be read as the whole parse would. */
static int quick_body(json_t **out, umap_sync_raw_values *values, const char *data, size_t len,
		      const umap_json_options *opts)
{
	umap_scanner *s;
	umap_token tok;
	umap_buf key = UMAP_BUF_INIT;
	json_t *root = json_object();
	int err = root ? umap_scanner_new(&s, data, len, opts) : umap_error_set(UMAP_ENOMEM, "out of memory");
	if (err) {
		json_decref(root);
		return QUICK_GIVE_UP;
	}
	if (umap_scanner_next(s, &tok) || tok.type != UMAP_TOKEN_OBJECT_START)
		err = QUICK_GIVE_UP;
	while (!err) {
		int r = quick_member(s, &key, &tok);
		if (r) {
			err = r == QUICK_END ? 0 : r;
			break;
		}
		json_t *value = NULL;
		if (key.len == 3 && !memcmp(key.ptr, "ops", 3) && tok.type == UMAP_TOKEN_ARRAY_START) {
			umap_buf name = UMAP_BUF_INIT;
			if (!(value = json_array()))
				err = umap_error_set(UMAP_ENOMEM, "out of memory");
			while (!err) {
				json_t *op = NULL;
				if (umap_scanner_next(s, &tok)) {
					err = QUICK_GIVE_UP;
					break;
				}
				if (tok.type == UMAP_TOKEN_ARRAY_END)
					break;
				err = tok.type == UMAP_TOKEN_OBJECT_START ? quick_op(s, data, &op, values, &name)
									  : quick_build(s, &tok, &op);
				if (!err && json_array_append_new(value, op))
					err = umap_error_set(UMAP_ENOMEM, "out of memory");
			}
			umap_buf_dispose(&name);
			if (err) {
				json_decref(value);
				break;
			}
		} else if ((err = quick_build(s, &tok, &value))) {
			break;
		}
		err = quick_set(root, &key, value);
	}
	if (!err && (umap_scanner_next(s, &tok) || tok.type != UMAP_TOKEN_EOF))
		err = QUICK_GIVE_UP;
	umap_scanner_free(s);
	umap_buf_dispose(&key);
	if (err) {
		json_decref(root);
		return err;
	}
	*out = root;
	return 0;
}

int umap_sync_push_body_parse(json_t **out, umap_sync_raw_values *values, const char *data, size_t len,
			      const umap_json_options *opts)
{
	*out = NULL;
	values->n = 0;
	int err = quick_body(out, values, data, len, opts);
	if (err != QUICK_GIVE_UP)
		return err;
	values->n = 0;
	umap_json_doc *doc = NULL;
	if ((err = umap_json_parse(&doc, data, len, opts)))
		return err;
	*out = json_incref(umap_json_doc_root(doc));
	umap_json_doc_free(doc);
	return 0;
}
