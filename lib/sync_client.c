/* The sync client's building blocks: remote URLs, HTTP over libcurl, and pulled ops and
 * snapshots applied to map files held as JSON trees (FeatureCollections and .umap maps). */
#include "sync_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "doc.h"
#include "json_copy.h"
#include "strmap.h"
#include "strutil.h"
#include "sync_op.h"

#define MAX_RESPONSE ((size_t)1 << 31)

int umap_sync_url_parse(umap_sync_url *out, const char *url)
{
	memset(out, 0, sizeof(*out));
	const char *rest = NULL;
	if (umap_starts_with(url, "http://"))
		rest = url + 7;
	else if (umap_starts_with(url, "https://"))
		rest = url + 8;
	size_t len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	const char *slash = rest ? memchr(rest, '/', (size_t)(url + len - rest)) : NULL;
	if (!rest || !slash || slash == rest)
		return umap_error_set(UMAP_EINVALID, "invalid sync URL '%s': expected http://HOST:PORT/MAP", url);
	const char *map = url + len;
	while (map > slash + 1 && map[-1] != '/')
		map--;
	out->base = strndup(url, (size_t)(map - 1 - url));
	out->map = strndup(map, (size_t)(url + len - map));
	if (!out->base || !out->map) {
		umap_sync_url_dispose(out);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	if (!umap_sync_valid_name(out->map, UMAP_SYNC_NAME_MAX)) {
		int err = umap_error_set(UMAP_EINVALID,
					 "invalid map name '%s' in '%s': use 1 to %d characters of A-Z a-z 0-9 _ -",
					 out->map, url, UMAP_SYNC_NAME_MAX);
		umap_sync_url_dispose(out);
		return err;
	}
	return 0;
}

void umap_sync_url_dispose(umap_sync_url *url)
{
	free(url->base);
	free(url->map);
	url->base = url->map = NULL;
}

/* ---- HTTP ------------------------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct body_target {
	CURL *curl;
	umap_buf *buf;
	const umap_http_sink *sink; /* the body of a 200 answer goes here when non-NULL */
	int sink_err;               /* what the sink said when it refused a piece */
	size_t sunk;                /* bytes given to the sink: bounded as a kept body is */
};

static size_t on_body(char *ptr, size_t size, size_t n, void *ctx)
{
	struct body_target *to = ctx;
	size_t len = size * n;
	long status = 0;
	if (to->sink && curl_easy_getinfo(to->curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200) {
		if (to->sunk + len > MAX_RESPONSE) {
			to->sink_err = umap_error_set(UMAP_ELIMIT, "the server's answer exceeds %zu bytes: stopping",
						      MAX_RESPONSE);
			return 0;
		}
		if ((to->sink_err = to->sink->write(to->sink->ctx, ptr, len)))
			return 0;
		to->sunk += len;
		return len;
	}
	if (to->buf->len + len > MAX_RESPONSE || umap_buf_put(to->buf, ptr, len))
		return 0; /* makes curl fail with a write error */
	return len;
}

static int on_transfer(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)ultotal;
	(void)ulnow;
	umap_progress_report(ctx, dlnow > 0 ? (uint64_t)dlnow : 0, dltotal > 0 ? (uint64_t)dltotal : 0);
	return 0;
}

int umap_sync_http(umap_http_response *out, const char *method, const char *url, const char *token,
		   const char *body, size_t len, long timeout_s, const struct umap_progress *progress)
{
	return umap_sync_http_to(out, method, url, token, body, len, timeout_s, progress, NULL);
}

int umap_sync_http_to(umap_http_response *out, const char *method, const char *url, const char *token,
		      const char *body, size_t len, long timeout_s, const struct umap_progress *progress,
		      const umap_http_sink *sink)
{
	pthread_once(&curl_once, curl_init_once);
	if (sink && sink->reset) {
		int err = sink->reset(sink->ctx);
		if (err)
			return err;
	}
	umap_buf_clear(&out->body);
	out->status = 0;
	out->retry_after = 0;
	CURL *curl = curl_easy_init();
	if (!curl)
		return umap_error_set(UMAP_ENOMEM, "cannot start an HTTP client");
	struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
	umap_buf auth = UMAP_BUF_INIT;
	if (token) {
		umap_buf_printf(&auth, "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth.ptr);
	}
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	struct body_target target = { curl, &out->body, sink, 0, 0 };
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &target);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_s < 10 ? timeout_s : 10L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "umapsync");
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (progress && progress->fn) {
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_transfer);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)progress);
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	}
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	CURLcode rc = curl_easy_perform(curl);
	int err = 0;
	if (rc == CURLE_WRITE_ERROR && target.sink_err) {
		err = target.sink_err; /* the sink's own message stands (a full disk is not the network) */
	} else if (rc != CURLE_OK) {
		err = umap_error_set(UMAP_ENET, "cannot reach %s: %s", url, curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
		curl_off_t retry = 0;
		if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK)
			out->retry_after = (long)retry;
		if (!out->body.ptr)
			umap_buf_puts(&out->body, "");
	}
	memset(auth.ptr ? auth.ptr : "", 0, auth.len);
	umap_buf_dispose(&auth);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return err;
}

void umap_http_response_dispose(umap_http_response *resp)
{
	umap_buf_dispose(&resp->body);
}

/* ---- Files as JSON trees ------------------------------------------------------------------ */

void umap_sync_files_dispose(umap_sync_files *files)
{
	for (size_t i = 0; i < files->n; i++) {
		free(files->paths[i]);
		json_decref(files->roots[i]);
	}
	free(files->paths);
	free(files->roots);
	memset(files, 0, sizeof(*files));
}

int umap_sync_files_add(umap_sync_files *files, const char *path, json_t *root)
{
	char **paths = realloc(files->paths, (files->n + 1) * sizeof(char *));
	if (paths)
		files->paths = paths;
	json_t **roots = paths ? realloc(files->roots, (files->n + 1) * sizeof(json_t *)) : NULL;
	if (roots)
		files->roots = roots;
	char *copy = roots ? strdup(path) : NULL;
	if (!copy) {
		json_decref(root);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	files->paths[files->n] = copy;
	files->roots[files->n] = root;
	files->n++;
	return 0;
}

static int is_map(const json_t *root)
{
	const char *type = json_string_value(json_object_get(root, "type"));
	return type && !strcmp(type, "umap");
}

/* A map's centre travels as properties.center (uMap's ops); in a .umap file it is the
 * top-level "geometry". */
static int is_geometry(const json_t *v)
{
	return json_is_object(v) && json_is_string(json_object_get(v, "type")) &&
	       json_object_get(v, "coordinates");
}

/* [lng, lat] as uMap's properties.center holds it */
static int is_position(const json_t *v)
{
	return json_is_array(v) && json_array_size(v) == 2 && json_is_number(json_array_get(v, 0)) &&
	       json_is_number(json_array_get(v, 1));
}

static const char *options_key(const json_t *fc)
{
	if (json_is_object(json_object_get(fc, "properties")))
		return "properties";
	if (json_is_object(json_object_get(fc, "_umap_options")))
		return "_umap_options";
	if (json_is_object(json_object_get(fc, "_storage")))
		return "_storage"; /* uMap before 1.0 */
	return NULL;
}

static const char *layer_id(const json_t *fc)
{
	const char *key = options_key(fc);
	const char *id = key ? json_string_value(json_object_get(json_object_get(fc, key), "id")) : NULL;
	return id ? id : json_string_value(json_object_get(fc, "id"));
}

typedef struct layer_loc {
	size_t file;
	json_t *fc;
	json_t *array; /* the map's "layers" array holding it, NULL for a FeatureCollection file */
	size_t index;
} layer_loc;

/* The layer of this id in a "layers" array or, group layers (uMap 3.7+), in the
 * "layers" of one of its layers, as deep as a document may nest them. */
static int find_in_layers(layer_loc *out, size_t f, json_t *layers, const char *id, unsigned depth)
{
	json_t *fc;
	size_t i;
	json_array_foreach(layers, i, fc) {
		const char *lid = layer_id(fc);
		if (lid && !strcmp(lid, id)) {
			*out = (layer_loc){ f, fc, layers, i };
			return 1;
		}
		json_t *children = json_object_get(fc, "layers");
		if (json_is_array(children) && depth + 1 < UMAP_DOC_MAX_LAYER_DEPTH &&
		    find_in_layers(out, f, children, id, depth + 1))
			return 1;
	}
	return 0;
}

static int find_layer(layer_loc *out, umap_sync_files *files, const char *id)
{
	for (size_t f = 0; f < files->n; f++) {
		json_t *root = files->roots[f];
		if (!root)
			continue;
		if (is_map(root)) {
			if (find_in_layers(out, f, json_object_get(root, "layers"), id, 0))
				return 1;
		} else {
			const char *lid = layer_id(root);
			if (lid && !strcmp(lid, id)) {
				*out = (layer_loc){ f, root, NULL, 0 };
				return 1;
			}
		}
	}
	return 0;
}

static long find_file(const umap_sync_files *files, const char *path)
{
	for (size_t f = 0; f < files->n; f++)
		if (!strcmp(files->paths[f], path))
			return (long)f;
	return -1;
}

/* A new FeatureCollection for a layer: its options (with the id, so that import keeps it)
 * under the key its file had them (metadata.optionsKey, checked: "properties" when none). */
static json_t *new_layer(const char *id, const json_t *options, json_t *features,
			 const char *options_key)
{
	json_t *opts = json_is_object(options) ? umap_json_copy(options, 1) : json_object();
	if (opts && !json_object_get(opts, "id"))
		json_object_set_new(opts, "id", json_string(id));
	if (!umap_sync_valid_options_key(options_key))
		options_key = "properties";
	json_t *fc = json_pack("{s:s, s:o, s:o}", "type", "FeatureCollection", options_key, opts,
			       "features", features ? json_incref(features) : json_array());
	return fc;
}

/* Puts a new layer into file `filename` (a .umap file gathers layers; a FeatureCollection
 * file already holding another layer makes the new one go to LAYER.geojson). Both names
 * may come from a server: they must be single plain file names, never cut short. */
static int place_layer(umap_sync_files *files, const char *filename, const char *id, json_t *fc,
		       const json_t *map_props)
{
	char fallback[UMAP_SYNC_LAYER_MAX + 16];
	if (!umap_sync_valid_name(id, UMAP_SYNC_LAYER_MAX) ||
	    (size_t)snprintf(fallback, sizeof(fallback), "%s.geojson", id) >= sizeof(fallback)) {
		json_decref(fc);
		return umap_error_set(UMAP_EINVALID,
				      "cannot name a file after layer id '%s': it must be 1 to %d characters of A-Z a-z 0-9 _ -",
				      id, UMAP_SYNC_LAYER_MAX);
	}
	if (filename && !umap_sync_valid_filename(filename)) {
		json_decref(fc);
		return umap_error_set(UMAP_EINVALID,
				      "cannot place layer '%s' in '%s': a file name has no '/' and no leading '.'", id,
				      filename);
	}
	if (!filename)
		filename = fallback;
	long f = find_file(files, filename);
	if (umap_ends_with(filename, ".umap")) {
		if (f < 0 || !files->roots[f]) {
			json_t *root = json_pack("{s:s}", "type", "umap");
			const char *k;
			json_t *v;
			json_object_foreach((json_t *)map_props, k, v)
				if (strcmp(k, "type") && strcmp(k, "layers"))
					json_object_set_new(root, k, umap_json_copy(v, 1));
			json_t *options = json_object_get(root, "properties");
			json_t *center = json_object_get(options, "center");
			if (is_position(center))
				center = json_pack("{s:s, s:O}", "type", "Point", "coordinates", center);
			else if (is_geometry(center))
				json_incref(center);
			else
				center = NULL;
			if (center) {
				json_object_set_new(root, "geometry", center);
				json_object_del(options, "center");
			}
			json_object_set_new(root, "layers", json_array());
			if (f < 0) {
				if (umap_sync_files_add(files, filename, root)) {
					json_decref(fc);
					return UMAP_ENOMEM;
				}
				f = (long)files->n - 1;
			} else {
				files->roots[f] = root;
			}
		}
		return json_array_append_new(json_object_get(files->roots[f], "layers"), fc) ? UMAP_ENOMEM : 0;
	}
	if (f >= 0 && files->roots[f]) {
		if (!strcmp(filename, fallback)) {
			json_decref(fc);
			return umap_error_set(UMAP_EEXISTS, "cannot place layer '%s': %s holds another layer", id, fallback);
		}
		return place_layer(files, fallback, id, fc, map_props);
	}
	if (f >= 0) {
		files->roots[f] = fc;
		return 0;
	}
	return umap_sync_files_add(files, filename, fc);
}

#define NOT_A_SNAPSHOT "the server's answer is not a snapshot: "

int umap_sync_snapshot_check(long long *cursor, const json_t *snapshot)
{
	json_t *layers = json_object_get(snapshot, "layers"), *layer;
	json_t *props = json_object_get(snapshot, "properties"), *at = json_object_get(snapshot, "cursor");
	size_t i;
	*cursor = 0;
	if (!json_is_object(snapshot))
		return umap_error_set(UMAP_EINVALID, NOT_A_SNAPSHOT "it is not a JSON object");
	if (!json_is_array(layers))
		return umap_error_set(UMAP_EINVALID, NOT_A_SNAPSHOT "\"layers\" must be an array");
	if (!json_is_integer(at) || json_integer_value(at) < 0)
		return umap_error_set(UMAP_EINVALID, NOT_A_SNAPSHOT "\"cursor\" must be an integer >= 0");
	if (props && !json_is_object(props) && !json_is_null(props))
		return umap_error_set(UMAP_EINVALID, NOT_A_SNAPSHOT "\"properties\" must be an object");
	json_array_foreach(layers, i, layer) {
		const char *id = json_string_value(json_object_get(layer, "id"));
		json_t *filename = json_object_get(layer, "filename"), *options = json_object_get(layer, "options");
		if (!json_is_object(layer))
			return umap_error_set(UMAP_EINVALID, NOT_A_SNAPSHOT "layers[%zu] must be an object", i);
		if (!umap_sync_valid_name(id, UMAP_SYNC_LAYER_MAX))
			return umap_error_set(UMAP_EINVALID,
					      NOT_A_SNAPSHOT "layers[%zu].id must be 1 to %d characters of A-Z a-z 0-9 _ -",
					      i, UMAP_SYNC_LAYER_MAX);
		if (filename && !json_is_null(filename) && !umap_sync_valid_filename(json_string_value(filename)))
			return umap_error_set(UMAP_EINVALID,
					      NOT_A_SNAPSHOT "layers[%zu].filename must be a file name without '/' or a leading '.'",
					      i);
		if (options && !json_is_object(options) && !json_is_null(options))
			return umap_error_set(UMAP_EINVALID, NOT_A_SNAPSHOT "layers[%zu].options must be an object", i);
		json_t *options_key = json_object_get(layer, "optionsKey");
		if (options_key && !umap_sync_valid_options_key(json_string_value(options_key)))
			return umap_error_set(UMAP_EINVALID,
					      NOT_A_SNAPSHOT "layers[%zu].optionsKey must be \"properties\", \"_umap_options\" or \"_storage\"",
					      i);
		if (!json_is_array(json_object_get(layer, "features")))
			return umap_error_set(UMAP_EINVALID, NOT_A_SNAPSHOT "layers[%zu].features must be an array", i);
	}
	*cursor = (long long)json_integer_value(at);
	return 0;
}

#define NOT_A_PULL_REPLY "the server's answer is not a pull reply: "

int umap_sync_pull_reply_parse(umap_sync_pull_reply *out, const char *body, size_t len, long long since)
{
	memset(out, 0, sizeof(*out));
	json_t *root = NULL;
	if (umap_json_loadb(&root, body, len, "the server's reply"))
		return umap_error_prefix(UMAP_EINVALID, NOT_A_PULL_REPLY);
	json_t *ops = json_object_get(root, "ops"), *at = json_object_get(root, "cursor");
	json_t *more = json_object_get(root, "more");
	int err = 0;
	if (!json_is_object(root))
		err = umap_error_set(UMAP_EINVALID, NOT_A_PULL_REPLY "it is not a JSON object");
	else if (!json_is_array(ops))
		err = umap_error_set(UMAP_EINVALID, NOT_A_PULL_REPLY "\"ops\" must be an array");
	else if (!json_is_integer(at) || json_integer_value(at) < 0)
		err = umap_error_set(UMAP_EINVALID, NOT_A_PULL_REPLY "\"cursor\" must be an integer >= 0");
	else if (more && !json_is_boolean(more))
		err = umap_error_set(UMAP_EINVALID, NOT_A_PULL_REPLY "\"more\" must be true or false");
	else if (json_integer_value(at) < since)
		err = umap_error_set(UMAP_EINVALID, NOT_A_PULL_REPLY "the cursor went back from %lld to %lld", since,
				     (long long)json_integer_value(at));
	else if (json_is_true(more) && json_integer_value(at) == since)
		err = umap_error_set(UMAP_EINVALID, NOT_A_PULL_REPLY "\"more\" is true but the cursor did not move past %lld",
				     since);
	if (!err) { /* uMap's batches are read as their inner ops */
		json_t *flat = NULL;
		if ((err = umap_sync_ops_expand(&flat, ops, SIZE_MAX)) || json_object_set_new(root, "ops", flat))
			err = err ? umap_error_prefix(err, NOT_A_PULL_REPLY) : umap_error_set(UMAP_ENOMEM, "out of memory");
		else
			ops = flat;
	}
	for (size_t i = 0; !err && i < json_array_size(ops); i++) {
		umap_sync_op op;
		if ((err = umap_sync_op_parse(&op, json_array_get(ops, i), i)))
			umap_error_prefix(err, NOT_A_PULL_REPLY);
		else
			umap_sync_op_dispose(&op);
	}
	if (err) {
		json_decref(root);
		return err;
	}
	out->root = root;
	out->ops = ops;
	out->cursor = (long long)json_integer_value(at);
	out->more = json_is_true(more);
	return 0;
}

int umap_sync_push_reply_check(long long *cursor, const json_t *reply)
{
	const json_t *at = json_object_get(reply, "cursor"), *ack = json_object_get(reply, "ack");
	*cursor = 0;
	if (!json_is_object(reply))
		return umap_error_set(UMAP_EINVALID, "the server's answer is not a push reply: it is not a JSON object");
	if (!json_is_integer(at) || json_integer_value(at) < 0)
		return umap_error_set(UMAP_EINVALID, "the server's answer is not a push reply: \"cursor\" must be an integer >= 0");
	if (ack && !json_is_array(ack))
		return umap_error_set(UMAP_EINVALID, "the server's answer is not a push reply: \"ack\" must be an array");
	*cursor = (long long)json_integer_value(at);
	return 0;
}

void umap_sync_pull_reply_dispose(umap_sync_pull_reply *reply)
{
	json_decref(reply->root);
	memset(reply, 0, sizeof(*reply));
}

/* uMap's datalayer value {id, rank, parent, properties}, as upserts of group-aware
 * clients carry it, rather than the layer's options alone. */
static int is_layer_spec(const json_t *v)
{
	return json_is_object(json_object_get(v, "properties")) &&
	       (json_object_get(v, "rank") || json_object_get(v, "parent"));
}

/* Places a new layer in its group's "layers" when the group is in a map already, else as
 * place_layer does. */
static int place_child(umap_sync_files *files, const char *filename, const char *id,
		       const char *parent, json_t *fc, const json_t *map_props)
{
	layer_loc group;
	if (parent && find_layer(&group, files, parent) && group.array) {
		json_t *children = json_object_get(group.fc, "layers");
		if (!json_is_array(children)) {
			children = json_array();
			if (!children || json_object_set_new(group.fc, "layers", children)) {
				json_decref(fc);
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			}
		}
		return json_array_append_new(children, fc) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
	}
	return place_layer(files, filename, id, fc, map_props);
}

int umap_sync_files_from_snapshot(umap_sync_files *out, const json_t *snapshot)
{
	memset(out, 0, sizeof(*out));
	long long cursor;
	int err = umap_sync_snapshot_check(&cursor, snapshot);
	if (err)
		return err;
	json_t *layers = json_object_get(snapshot, "layers"), *layer;
	json_t *props = json_object_get(snapshot, "properties");
	size_t i;
	json_array_foreach(layers, i, layer) {
		const char *id = json_string_value(json_object_get(layer, "id"));
		json_t *options = json_object_get(layer, "options");
		const char *parent = NULL;
		if (is_layer_spec(options)) {
			parent = json_string_value(json_object_get(options, "parent"));
			options = json_object_get(options, "properties");
		}
		json_t *fc = new_layer(id, options, json_object_get(layer, "features"),
				       json_string_value(json_object_get(layer, "optionsKey")));
		err = fc ? place_child(out, json_string_value(json_object_get(layer, "filename")), id, parent,
				       fc, json_is_object(props) ? props : NULL)
			 : umap_error_set(UMAP_ENOMEM, "out of memory");
		if (err) {
			umap_sync_files_dispose(out);
			return err == UMAP_ENOMEM ? umap_error_set(err, "out of memory") : err;
		}
	}
	return 0;
}

/* The features of the layers a batch of ops touches, indexed by id once (compact JSON
 * text -> position), so that n ops on a layer of m features cost O(n + m), not O(n * m).
 * A deleted feature is only marked (positions stay valid); the arrays are compacted
 * when the batch ends or before a layer is deleted. */
typedef struct layer_index {
	char *layer;
	json_t *features;     /* a reference to the layer's "features" array */
	umap_strmap ids;      /* id -> position; DELETED_AT once gone */
	char **keys;          /* the strings the map borrows */
	size_t nkeys, keys_cap;
	unsigned char *dead;  /* per position: deleted in this batch */
	size_t dead_cap;
	size_t ndead;
} layer_index;

typedef struct feature_cache {
	size_t n;
	layer_index *layers;
} feature_cache;

#define DELETED_AT SIZE_MAX

static int index_key(layer_index *ix, char *key, size_t at)
{
	if (ix->nkeys == ix->keys_cap) {
		size_t cap = ix->keys_cap ? ix->keys_cap * 2 : 64;
		char **keys = realloc(ix->keys, cap * sizeof(*keys));
		if (!keys) {
			free(key);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		ix->keys = keys;
		ix->keys_cap = cap;
	}
	ix->keys[ix->nkeys++] = key;
	return umap_strmap_put(&ix->ids, key, at, NULL);
}

static int index_mark_dead(layer_index *ix, size_t at)
{
	if (at >= ix->dead_cap) {
		size_t cap = ix->dead_cap ? ix->dead_cap : 64;
		while (cap <= at)
			cap *= 2;
		unsigned char *dead = realloc(ix->dead, cap);
		if (!dead)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		memset(dead + ix->dead_cap, 0, cap - ix->dead_cap);
		ix->dead = dead;
		ix->dead_cap = cap;
	}
	ix->dead[at] = 1;
	ix->ndead++;
	return 0;
}

/* Drops the deleted features from the array, keeping the order of the others. */
static int index_compact(layer_index *ix)
{
	if (!ix->ndead)
		return 0;
	size_t n = json_array_size(ix->features), kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (i < ix->dead_cap && ix->dead[i])
			continue;
		if (kept != i && json_array_set(ix->features, kept, json_array_get(ix->features, i)))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		kept++;
	}
	while (json_array_size(ix->features) > kept)
		json_array_remove(ix->features, json_array_size(ix->features) - 1);
	ix->ndead = 0;
	return 0;
}

static void index_dispose(layer_index *ix)
{
	free(ix->layer);
	for (size_t i = 0; i < ix->nkeys; i++)
		free(ix->keys[i]);
	free(ix->keys);
	free(ix->dead);
	umap_strmap_dispose(&ix->ids);
	json_decref(ix->features);
}

/* Compacts every indexed layer and forgets the indexes. */
static int cache_flush(feature_cache *cache)
{
	int err = 0;
	for (size_t i = 0; i < cache->n; i++) {
		int e = index_compact(&cache->layers[i]);
		if (!err)
			err = e;
		index_dispose(&cache->layers[i]);
	}
	free(cache->layers);
	cache->layers = NULL;
	cache->n = 0;
	return err;
}

/* The index of a layer's features (built on first use). */
static int cache_layer(layer_index **out, feature_cache *cache, const char *layer, json_t *features)
{
	for (size_t i = 0; i < cache->n; i++)
		if (cache->layers[i].features == features && !strcmp(cache->layers[i].layer, layer)) {
			*out = &cache->layers[i];
			return 0;
		}
	layer_index *grown = realloc(cache->layers, (cache->n + 1) * sizeof(*grown));
	if (!grown)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	cache->layers = grown;
	layer_index *ix = &cache->layers[cache->n];
	memset(ix, 0, sizeof(*ix));
	ix->layer = strdup(layer);
	if (!ix->layer)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	ix->features = json_incref(features);
	cache->n++;
	json_t *f;
	size_t i;
	json_array_foreach(features, i, f) {
		json_t *id = json_object_get(f, "id");
		if (!id)
			continue;
		char *key = umap_json_dumps(id, UMAP_JSON_COMPACT);
		if (!key)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		if (umap_strmap_get(&ix->ids, key, NULL)) {
			free(key); /* a duplicate id: the first one is the one ops act on */
			continue;
		}
		int err = index_key(ix, key, i);
		if (err)
			return err;
	}
	*out = ix;
	return 0;
}

static long index_find(const layer_index *ix, const char *key)
{
	size_t at;
	return umap_strmap_get(&ix->ids, key, &at) && at != DELETED_AT ? (long)at : -1;
}

/* Moves a layer into the group of id `parent` (JSON null or unknown: the map's top). */
static int move_layer(umap_sync_files *files, layer_loc *loc, const char *id, const json_t *parent)
{
	if (!loc->array)
		return 0; /* a layer file of its own has no group */
	json_t *fc = json_incref(loc->fc);
	json_array_remove(loc->array, loc->index);
	const char *pid = json_string_value(parent);
	layer_loc group;
	json_t *into = NULL;
	if (pid && strcmp(pid, id) && find_layer(&group, files, pid) && group.array) {
		into = json_object_get(group.fc, "layers");
		if (!json_is_array(into)) {
			into = json_array();
			if (!into || json_object_set_new(group.fc, "layers", into))
				into = NULL;
		}
	} else {
		into = json_object_get(files->roots[loc->file], "layers");
	}
	int err = !into || json_array_append(into, fc) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
	json_decref(fc);
	return err;
}

static int apply_one(umap_sync_files *files, const json_t *op, int *applied, feature_cache *cache)
{
	*applied = 0;
	const char *verb = json_string_value(json_object_get(op, "verb"));
	const char *subject = json_string_value(json_object_get(op, "subject"));
	const char *key = json_string_value(json_object_get(op, "key"));
	json_t *meta = json_object_get(op, "metadata");
	json_t *value = json_object_get(op, "value");
	if (!verb || !subject)
		return umap_error_set(UMAP_EINVALID, "pulled op without verb or subject");
	if (!strcmp(verb, "batch")) { /* uMap's: its inner ops, in order */
		const json_t *inner = json_object_get(op, "operations"), *one;
		size_t i;
		if (!json_is_array(inner))
			return umap_error_set(UMAP_EINVALID, "pulled batch without an \"operations\" array");
		json_array_foreach(inner, i, one) {
			const char *v = json_string_value(json_object_get(one, "verb"));
			int did = 0, err;
			if (v && !strcmp(v, "batch"))
				return umap_error_set(UMAP_EINVALID, "pulled batch inside a batch");
			if ((err = apply_one(files, one, &did, cache)))
				return err;
			*applied |= did;
		}
		return 0;
	}
	int upsert = !strcmp(verb, "upsert"), update = !strcmp(verb, "update"), del = !strcmp(verb, "delete");
	if ((update && !key) || !(upsert || update || del))
		return umap_error_set(UMAP_EINVALID, "pulled op with an unknown verb or no key");
	layer_loc loc;
	if (!strcmp(subject, "feature")) {
		const char *lid = json_string_value(json_object_get(meta, "layerId"));
		json_t *fid = json_object_get(meta, "id");
		if (!lid || !fid)
			return umap_error_set(UMAP_EINVALID, "pulled feature op without metadata.id or layerId");
		if (!find_layer(&loc, files, lid)) {
			if (!upsert)
				return 0;
			json_t *fc = new_layer(lid, NULL, NULL, NULL);
			int err = fc ? place_layer(files, NULL, lid, fc, NULL) : UMAP_ENOMEM;
			if (err)
				return err == UMAP_ENOMEM ? umap_error_set(err, "out of memory") : err;
			if (!find_layer(&loc, files, lid))
				return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		json_t *features = json_object_get(loc.fc, "features");
		if (!json_is_array(features)) {
			features = json_array();
			if (!features || json_object_set_new(loc.fc, "features", features))
				return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		layer_index *ix = NULL;
		char *fkey = umap_json_dumps(fid, UMAP_JSON_COMPACT);
		if (!fkey)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		int err = cache_layer(&ix, cache, lid, features);
		if (err) {
			free(fkey);
			return err;
		}
		long at = index_find(ix, fkey);
		if (upsert) {
			json_t *feature = umap_json_copy(value, 1);
			if (!json_is_object(feature)) {
				json_decref(feature);
				err = umap_error_set(UMAP_EINVALID, "pulled feature upsert without a feature");
			} else if (!json_object_get(feature, "id") && json_object_set(feature, "id", fid)) {
				json_decref(feature);
				err = umap_error_set(UMAP_ENOMEM, "out of memory");
			} else if (at >= 0) {
				err = json_array_set_new(features, (size_t)at, feature) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 0;
			} else if (json_array_append_new(features, feature)) {
				err = umap_error_set(UMAP_ENOMEM, "out of memory");
			} else {
				err = index_key(ix, fkey, json_array_size(features) - 1);
				fkey = NULL; /* the index owns it now */
			}
		} else if (at < 0) {
			free(fkey);
			return 0;
		} else if (update) {
			err = umap_sync_set_path(json_array_get(features, (size_t)at), key, value);
		} else if (!(err = index_mark_dead(ix, (size_t)at))) {
			err = umap_strmap_put(&ix->ids, fkey, DELETED_AT, NULL);
		}
		free(fkey);
		if (!err)
			*applied = 1;
		return err;
	}
	if (!strcmp(subject, "datalayer")) {
		const char *lid = json_string_value(json_object_get(meta, "id"));
		if (!lid)
			return umap_error_set(UMAP_EINVALID, "pulled datalayer op without metadata.id");
		int found = find_layer(&loc, files, lid), err;
		const char *parent = NULL;
		if (upsert && is_layer_spec(value)) {
			parent = json_string_value(json_object_get(value, "parent"));
			value = json_object_get(value, "properties");
		}
		if (upsert && !found) {
			json_t *fc = new_layer(lid, value, NULL,
					       json_string_value(json_object_get(meta, "optionsKey")));
			const char *filename = json_string_value(json_object_get(meta, "filename"));
			err = fc ? place_child(files, filename, lid, parent, fc, NULL) : UMAP_ENOMEM;
			if (err)
				return err == UMAP_ENOMEM ? umap_error_set(err, "out of memory") : err;
		} else if (!found) {
			return 0;
		} else if (upsert) {
			const char *okey = options_key(loc.fc);
			json_t *opts = json_is_object(value) ? umap_json_copy(value, 1) : json_object();
			const char *top = json_string_value(json_object_get(loc.fc, "id"));
			if (opts && !json_object_get(opts, "id") && !(top && !strcmp(top, lid)))
				json_object_set_new(opts, "id", json_string(lid));
			json_object_set_new(loc.fc, okey ? okey : "properties", opts);
		} else if (update && !strcmp(key, "parentId")) {
			if ((err = cache_flush(cache)) || (err = move_layer(files, &loc, lid, value)))
				return err;
		} else if (update && !strcmp(key, "rank")) {
			/* the order of siblings: kept as the files have it */
		} else if (update) {
			const char *okey = options_key(loc.fc);
			if (!okey) {
				okey = "properties";
				json_object_set_new(loc.fc, okey, json_object());
			}
			const char *dot = strchr(key, '.');
			err = umap_sync_set_path(json_object_get(loc.fc, okey), dot ? dot + 1 : key, value);
			if (err)
				return err;
		} else if ((err = cache_flush(cache))) {
			return err; /* the layer's features may be indexed: settle them first */
		} else if (loc.array) {
			json_array_remove(loc.array, loc.index);
		} else {
			json_decref(files->roots[loc.file]);
			files->roots[loc.file] = NULL;
		}
		*applied = 1;
		return 0;
	}
	if (!strcmp(subject, "map")) {
		json_t *root = NULL;
		for (size_t f = 0; f < files->n && !root; f++)
			if (files->roots[f] && is_map(files->roots[f]))
				root = files->roots[f];
		if (!root || del)
			return 0;
		if (update && (!strcmp(key, "layers") || !strcmp(key, "type") || umap_starts_with(key, "layers.") ||
			       umap_starts_with(key, "type.")))
			return umap_error_set(UMAP_EINVALID, "pulled map op on \"%s\": a map's layers and type are not keys", key);
		if (update && !strcmp(key, "properties.center") && is_position(value)) {
			/* uMap's centre is [lng, lat]: the coordinates of the map's "geometry" */
			json_t *point = json_pack("{s:s, s:O}", "type", "Point", "coordinates", value);
			if (!point || json_object_set_new(root, "geometry", point))
				return umap_error_set(UMAP_ENOMEM, "out of memory");
		} else if (update && !strcmp(key, "properties.center") &&
		    (is_geometry(value) || (!value && json_object_get(root, "geometry")))) {
			/* the centre is the map's "geometry" */
			if (value ? json_object_set(root, "geometry", (json_t *)value)
				  : json_object_del(root, "geometry"))
				return umap_error_set(UMAP_ENOMEM, "out of memory");
		} else if (update) {
			int err = umap_sync_set_path(root, key, value);
			if (err)
				return err;
		} else if (json_is_object(value)) {
			const char *k;
			json_t *v;
			json_object_foreach(value, k, v)
				if (strcmp(k, "type") && strcmp(k, "layers"))
					json_object_set(root, k, v);
		}
		*applied = 1;
		return 0;
	}
	return umap_error_set(UMAP_EINVALID, "pulled op with an unknown subject '%s'", subject);
}

int umap_sync_apply_op(umap_sync_files *files, const json_t *op, int *applied)
{
	feature_cache cache = { 0, NULL };
	int err = apply_one(files, op, applied, &cache);
	int flushed = cache_flush(&cache);
	return err ? err : flushed;
}

int umap_sync_apply_ops(umap_sync_files *files, const json_t *ops, size_t *applied,
			const struct umap_progress *progress)
{
	feature_cache cache = { 0, NULL };
	const json_t *op;
	size_t i;
	int err = 0;
	*applied = 0;
	json_array_foreach(ops, i, op) {
		int did = 0;
		if ((err = apply_one(files, op, &did, &cache))) {
			const char *id = json_string_value(json_object_get(op, "op_id"));
			umap_error_prefix(err, "applying op %s: ", id ? id : "(without op_id)");
			break;
		}
		*applied += (size_t)did;
		umap_progress_report(progress, i + 1, json_array_size(ops));
	}
	int flushed = cache_flush(&cache);
	return err ? err : flushed;
}

/* ---- Pulled ops applied to a layer file as it streams ----------------------------------- */

/* Whether every op is a feature upsert, update or delete on `layer`. */
static int feature_ops_on(const json_t *ops, const char *layer)
{
	const json_t *op;
	size_t i;
	json_array_foreach(ops, i, op) {
		const char *verb = json_string_value(json_object_get(op, "verb"));
		const char *subject = json_string_value(json_object_get(op, "subject"));
		const json_t *meta = json_object_get(op, "metadata");
		const char *lid = json_string_value(json_object_get(meta, "layerId"));
		if (!verb || !subject || strcmp(subject, "feature") || !lid || strcmp(lid, layer) ||
		    !json_object_get(meta, "id") ||
		    (strcmp(verb, "upsert") && strcmp(verb, "update") && strcmp(verb, "delete")))
			return 0;
	}
	return 1;
}

/* The ops on one feature id, and what the file holds for it. */
typedef struct named_feature {
	json_t *ops; /* its ops, in order */
	int deletes; /* one of them removes it: its place in the file goes */
	int seen;    /* the file holds it */
} named_feature;

typedef struct stream_apply {
	const char *layer;
	const umap_sync_stream_hooks *hooks;
	umap_json_sink sink;
	void *ctx;
	umap_strmap named; /* id (compact JSON, owned by `ids`) -> index in `features` */
	char **ids;
	named_feature *features;
	size_t nfeatures;
	size_t *feature_of;   /* per op: its feature's index in `features` */
	json_t *seen;         /* the trees of the named features the file holds that an op
			       * removes, in its order (what is left of them goes at the end) */
	size_t applied;       /* ops that acted on the features that keep their place */
	umap_buf out;         /* what is not yet given to the sink */
	umap_layout layout;
	size_t read;          /* features read */
	size_t first_offset;  /* of the file's first feature */
	size_t last_end;      /* of the last feature read */
	size_t sep_at, sep_len; /* what separates the file's first two features */
	size_t written;       /* features of the result written */
} stream_apply;

/* `ops` (all on one layer) applied to a FeatureCollection of `features` (a reference is
 * taken): the resulting features array (new reference), *applied the ops that acted. */
static int apply_to_features(json_t **result, size_t *applied, const char *layer, json_t *features,
			     const json_t *ops)
{
	umap_sync_files files = { 0, NULL, NULL };
	json_t *fc = json_pack("{s:s, s:{s:s}, s:O}", "type", "FeatureCollection", "properties", "id", layer,
			       "features", features);
	int err = fc ? umap_sync_files_add(&files, "streamed", fc) : umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!err)
		err = umap_sync_apply_ops(&files, ops, applied, NULL);
	*result = err ? NULL : json_incref(json_object_get(files.roots[0], "features"));
	umap_sync_files_dispose(&files);
	return err;
}

/* The next feature of the result, after what comes before the first feature or the file's
 * separator: the file's bytes, or a tree laid out as the file is, at a feature's depth. */
static int stream_put(stream_apply *s, const umap_doc *doc, const char *id, const char *bytes, size_t len,
		      const json_t *value)
{
	int err = s->written++ ? umap_buf_put(&s->out, doc->data + s->sep_at, s->sep_len)
			       : umap_buf_put(&s->out, doc->data, s->first_offset);
	size_t at = s->out.len;
	char *text = NULL, *value_id = NULL;
	if (!err && bytes) {
		err = umap_buf_put(&s->out, bytes, len);
	} else if (!err) {
		text = umap_json_dumps(value, UMAP_JSON_COMPACT);
		value_id = umap_json_dumps(json_object_get(value, "id"), UMAP_JSON_COMPACT);
		err = text && value_id ? umap_json_relayout_at(&s->out, text, strlen(text), &s->layout, 2)
				       : umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	if (!err && s->hooks->wrote)
		err = bytes ? s->hooks->wrote(s->hooks->ctx, id, NULL, 0)
			    : s->hooks->wrote(s->hooks->ctx, value_id, s->out.ptr + at, s->out.len - at);
	free(text);
	free(value_id);
	if (!err && s->out.len >= ((size_t)1 << 20)) {
		err = s->sink(s->ctx, s->out.ptr, s->out.len);
		umap_buf_clear(&s->out);
	}
	return err;
}

/* on_feature: a feature the ops do not name is copied; one they name is parsed and its
 * ops applied to it alone (ops on other ids cannot touch it), then written in its place
 * unless one of them removes it. */
static int stream_feature(void *data, umap_doc *doc, size_t layer, umap_feature *f)
{
	stream_apply *s = data;
	if (layer != 0 || doc->kind == UMAP_DOC_MAP || doc->layout.seq || !f->length)
		return UMAP_EUSAGE; /* not one layer of features as bytes: no error message */
	if (s->read == 0) {
		s->first_offset = f->offset;
		s->layout = doc->layout;
		/* as umap_doc_open tells an indented file that holds a feature a line */
		if (s->layout.indent) {
			s->layout.lines = !memchr(doc->data + f->offset, '\n', f->length);
			s->layout.spaced = s->layout.lines && memmem(doc->data + f->offset, f->length, "\": ", 3);
		}
	} else if (s->read == 1) {
		s->sep_at = s->last_end;
		s->sep_len = f->offset - s->last_end;
	}
	s->read++;
	s->last_end = f->offset + f->length;
	size_t k;
	if (!f->id || !umap_strmap_get(&s->named, f->id, &k))
		return stream_put(s, doc, f->id, doc->data + f->offset, f->length, NULL);
	named_feature *nf = &s->features[k];
	if (nf->seen)
		return UMAP_EUSAGE; /* an id twice: the whole-file path says where */
	nf->seen = 1;
	json_t *original = NULL, *one = NULL, *result = NULL;
	size_t did = 0;
	int err = s->hooks->named ? s->hooks->named(s->hooks->ctx, f->id, f->hash) : 0;
	if (!err)
		err = umap_doc_build_span(&original, doc, f->offset, f->length);
	if (!err && nf->deletes) {
		/* its place goes; what the ops leave of it is added at the end */
		if (json_array_append(s->seen, original))
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
	} else if (!err) {
		/* kept in its place: nothing of it is held once it is written */
		one = json_pack("[O]", original);
		err = one ? apply_to_features(&result, &did, s->layer, one, nf->ops)
			  : umap_error_set(UMAP_ENOMEM, "out of memory");
		if (!err && json_array_size(result) != 1)
			err = umap_error_set(UMAP_ECORRUPT, "applying ops to %s: a feature was lost", doc->source_name);
		if (!err)
			err = stream_put(s, doc, NULL, NULL, 0, json_array_get(result, 0));
		s->applied += did;
	}
	json_decref(original);
	json_decref(one);
	json_decref(result);
	return err;
}

static void stream_apply_dispose(stream_apply *s)
{
	for (size_t i = 0; i < s->nfeatures; i++)
		json_decref(s->features[i].ops);
	for (size_t i = 0; s->ids && i < s->nfeatures; i++)
		free(s->ids[i]);
	free(s->ids);
	free(s->features);
	free(s->feature_of);
	umap_strmap_dispose(&s->named);
	json_decref(s->seen);
	umap_buf_dispose(&s->out);
}

/* Sorts the ops by the feature they name (s->features, in the order ids first appear). */
static int stream_apply_init(stream_apply *s, const json_t *ops)
{
	size_t n = json_array_size(ops), i;
	const json_t *op;
	s->features = calloc(n + 1, sizeof(*s->features));
	s->ids = calloc(n + 1, sizeof(*s->ids));
	s->feature_of = calloc(n + 1, sizeof(*s->feature_of));
	s->seen = json_array();
	if (!s->features || !s->ids || !s->feature_of || !s->seen)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	json_array_foreach(ops, i, op) {
		char *id = umap_json_dumps(json_object_get(json_object_get(op, "metadata"), "id"), UMAP_JSON_COMPACT);
		size_t k;
		if (!id)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		if (umap_strmap_get(&s->named, id, &k)) {
			free(id);
		} else {
			k = s->nfeatures;
			s->ids[k] = id;
			if (!(s->features[k].ops = json_array()) || umap_strmap_put(&s->named, id, k, NULL))
				return umap_error_set(UMAP_ENOMEM, "out of memory");
			s->nfeatures++;
		}
		s->feature_of[i] = k;
		s->features[k].deletes |= !strcmp(json_string_value(json_object_get(op, "verb")), "delete");
		if (json_array_append(s->features[k].ops, (json_t *)op))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	return 0;
}

int umap_sync_apply_ops_to_file(size_t *applied, umap_layout *layout, const char *path, const char *layer,
				const json_t *ops, umap_json_sink sink, void *ctx,
				const umap_sync_stream_hooks *hooks)
{
	static const umap_sync_stream_hooks none = { NULL, NULL, NULL };
	*applied = 0;
	if (!feature_ops_on(ops, layer))
		return UMAP_EUSAGE;
	stream_apply s = { layer, hooks ? hooks : &none, sink, ctx, UMAP_STRMAP_INIT, NULL, NULL, 0, NULL, NULL, 0,
			   UMAP_BUF_INIT, UMAP_LAYOUT_DEFAULT, 0, 0, 0, 0, 0, 0 };
	umap_doc *doc = NULL;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	opts.on_feature = stream_feature;
	opts.on_feature_data = &s;
	int err = stream_apply_init(&s, ops);
	if (!err)
		err = umap_doc_open(&doc, path, &opts);
	if (!err && (doc->kind != UMAP_DOC_LAYER || doc->nlayers != 1 || doc->layout.seq || s.read < 2))
		err = UMAP_EUSAGE;
	/* then what the ops add, in the order they add it: the ops on every id but those of
	 * the features that kept their place (ops on other ids cannot touch them, and they
	 * are written), applied to the features the file held that an op removes */
	json_t *result = NULL, *rest = err ? NULL : json_array();
	if (!err && !rest)
		err = umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; !err && i < json_array_size(ops); i++) {
		const named_feature *nf = &s.features[s.feature_of[i]];
		if ((!nf->seen || nf->deletes) && json_array_append(rest, json_array_get(ops, i)))
			err = umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	if (!err)
		err = apply_to_features(&result, applied, layer, s.seen, rest);
	*applied += s.applied;
	for (size_t i = 0; !err && i < json_array_size(result); i++)
		err = stream_put(&s, doc, NULL, NULL, 0, json_array_get(result, i));
	if (!err && !s.written) {
		/* nothing left: the brackets around the features close up */
		const char *data = doc->data, *open = data + s.first_offset, *close = data + s.last_end;
		while (open > data && open[-1] != '[')
			open--;
		while (close < data + doc->size && *close != ']')
			close++;
		err = umap_buf_put(&s.out, data, (size_t)(open - data)) ||
		      umap_buf_put(&s.out, close, doc->size - (size_t)(close - data));
	} else if (!err) {
		err = umap_buf_put(&s.out, doc->data + s.last_end, doc->size - s.last_end);
	}
	if (err == 1)
		err = umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!err)
		err = sink(ctx, s.out.ptr, s.out.len);
	if (!err && layout) {
		*layout = s.layout;
		layout->known = doc->layout.known;
	}
	if (err == UMAP_EUSAGE)
		umap_error_set(UMAP_EUSAGE, "these ops cannot be applied to %s as it streams", path);
	json_decref(result);
	json_decref(rest);
	umap_doc_free(doc);
	stream_apply_dispose(&s);
	return err;
}
