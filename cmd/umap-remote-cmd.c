/* A live uMap map as a remote (SPEC §9): clone, remote add, pull and push over uMap's own
 * API (lib/umap_remote.h), the map kept as one .umap file with a layer per datalayer. */
#include "umap-remote-cmd.h"

#include "builtin.h"
#include "merge-report.h"
#include "repo-cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "json.h"
#include "merge.h"
#include "strutil.h"
#include "umap_remote.h"

/* Tries of one layer's save that the server refuses with 412 (someone saved it meanwhile). */
#define SAVE_TRIES 3

/* How the session of this command is authorised beyond a session cookie file, for the hint
 * a refusal gets. */
static enum {
	AUTH_SESSION,      /* cookies from a browser's signed-in session, if any */
	AUTH_EDIT_LINK,    /* following an anonymous edit link */
	AUTH_EDIT_COOKIE,  /* the cookie an anonymous edit link set, kept in .umapsync/sync/ */
} auth_kind;

/* Where uMap gives out a map's anonymous edit link (umap/views.py: the answer to the map's
 * creation, the permissions panel of its anonymous owner, the email it can send). */
#define WHERE_EDIT_LINKS "uMap shows it to them when the map is made, and in the map's permissions panel"

/* What to do about a refused session. */
static void hint_auth(const char *remote)
{
	if (auth_kind == AUTH_EDIT_LINK || (auth_kind == AUTH_EDIT_COOKIE && !remote)) {
		hint("check that the link was copied whole, or ask the map's creator for it (" WHERE_EDIT_LINKS ")");
		return;
	}
	if (auth_kind == AUTH_EDIT_COOKIE) {
		hint("uMap's anonymous edit cookie lasts 30 days and gives no rights once the map has an owner: follow "
		     "the map's anonymous edit link again with 'umapsync remote set-url %s LINK' (or, if the map has an "
		     "owner now, sign in and use 'umapsync remote set-cookie-file %s FILE')", remote, remote);
		return;
	}
	hint("sign in to the map's uMap in a browser, export its cookies to a file (Netscape format, as curl -c "
	     "writes) and give it with %s%s%s; the file is read again at each command",
	     remote ? "'umapsync remote set-cookie-file " : "--cookie-file FILE", remote ? remote : "",
	     remote ? " FILE'" : "");
}

/* The error of the session's last call, with what the user can do about it. */
static _Noreturn void die_remote(const char *remote)
{
	int code = umap_error_last_code();
	fflush(stdout);
	fprintf(stderr, "fatal: %s\n", umap_error_last());
	if (code == UMAP_EAUTH)
		hint_auth(remote);
	exit(EXIT_FATAL);
}

static char *config_remote_value(umap_repo *repo, const char *name, const char *key)
{
	git_config *cfg = NULL;
	git_buf value = GIT_BUF_INIT;
	umap_buf var = UMAP_BUF_INIT;
	char *out = NULL;
	umap_buf_printf(&var, "umapsync-remote.%s.%s", name, key);
	if (git_repository_config(&cfg, umap_repo_git(repo)) == 0 && git_config_get_string_buf(&value, cfg, var.ptr) == 0)
		out = strdup(value.ptr);
	git_buf_dispose(&value);
	git_config_free(cfg);
	umap_buf_dispose(&var);
	return out;
}

static void config_remote_set(umap_repo *repo, const char *name, const char *key, const char *value)
{
	git_config *cfg = NULL;
	umap_buf var = UMAP_BUF_INIT;
	umap_buf_printf(&var, "umapsync-remote.%s.%s", name, key);
	if (git_repository_config(&cfg, umap_repo_git(repo)) < 0 || git_config_set_string(cfg, var.ptr, value) < 0)
		die("cannot write the repository's config: %s", git_error_last() ? git_error_last()->message : "?");
	git_config_free(cfg);
	umap_buf_dispose(&var);
}

/* The cookie file's absolute path, checked readable; NULL when none. Its content is never
 * read here: libcurl's cookie engine reads it. */
static char *cookie_path(const char *file)
{
	if (!file)
		return NULL;
	char *abs = realpath(file, NULL);
	if (!abs || access(abs, R_OK) < 0)
		die_errno("cannot read the cookie file '%s'", file);
	return abs;
}

/* .umapsync/sync/NAME.cookies: the cookie remote NAME's anonymous edit link set. Beside the
 * sync state, in the git directory: no commit, push or clone of the repository carries it. */
static char *edit_cookie_path(umap_repo *repo, const char *name)
{
	umap_buf path = UMAP_BUF_INIT;
	if (umap_buf_printf(&path, "%s/sync/%s.cookies", umap_repo_gitdir(repo), name))
		die("out of memory");
	return umap_buf_detach(&path);
}

/* The remote's edit cookie file when it has one, else NULL. */
static char *edit_cookie_kept(umap_repo *repo, const char *name)
{
	char *path = edit_cookie_path(repo, name);
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return NULL;
}

/* Keeps the anonymous owner cookie of the session in .umapsync/sync/NAME.cookies, 0600. */
static void keep_edit_cookie(umap_repo *repo, const char *name, const umap_remote *session)
{
	umap_buf text = UMAP_BUF_INIT, dir = UMAP_BUF_INIT;
	char *path = edit_cookie_path(repo, name);
	if (umap_buf_printf(&dir, "%s/sync", umap_repo_gitdir(repo)))
		die("out of memory");
	if (umap_remote_edit_cookie(&text, session) || umap_mkdir_p(dir.ptr, 0777) ||
	    umap_file_write_private(path, text.ptr, text.len))
		die_lib("keeping the anonymous edit cookie");
	memset(text.ptr, 0, text.len);
	umap_buf_dispose(&text);
	umap_buf_dispose(&dir);
	free(path);
}

/* A session on the map at `url` with the session cookie file and the edit cookie file, each
 * optional. */
static umap_remote *open_session(const char *url, const char *cookie_file, const char *edit_cookie_file,
				 const char *remote)
{
	umap_remote_url parsed;
	if (umap_remote_url_parse(&parsed, url))
		die_lib(NULL);
	umap_remote *session = NULL;
	if (cookie_file && access(cookie_file, R_OK) < 0)
		die_errno("cannot read the cookie file '%s' (umapsync-remote.*.cookiefile)", cookie_file);
	if (edit_cookie_file && access(edit_cookie_file, R_OK) < 0)
		die_errno("cannot read the anonymous edit cookie '%s'", edit_cookie_file);
	umap_remote_options opts = UMAP_REMOTE_OPTIONS_INIT;
	opts.cookie_file = cookie_file;
	opts.edit_cookie_file = edit_cookie_file;
	auth_kind = edit_cookie_file ? AUTH_EDIT_COOKIE : AUTH_SESSION;
	if (umap_remote_open(&session, &parsed, &opts))
		die_remote(remote);
	umap_remote_url_dispose(&parsed);
	return session;
}

/* A session through an anonymous edit link; *url gets the map's URL (what the remote keeps:
 * the link itself is a secret, and so never goes to the config). */
static umap_remote *open_edit_link(char **url, const char *link, const char *cookie_file, const char *remote)
{
	umap_remote_options opts = UMAP_REMOTE_OPTIONS_INIT;
	opts.cookie_file = cookie_file;
	umap_remote_url map;
	umap_remote *session = NULL;
	auth_kind = AUTH_EDIT_LINK;
	if (umap_remote_open_edit_link(&session, &map, link, &opts)) {
		/* the link led to the map, which has an owner now: a signed-in session may edit it */
		if (map.origin)
			auth_kind = AUTH_SESSION;
		umap_remote_url_dispose(&map);
		die_remote(remote);
	}
	auth_kind = AUTH_EDIT_COOKIE;
	umap_buf text = UMAP_BUF_INIT;
	if (umap_buf_printf(&text, "%s%s/map/%s_%ld", map.origin, map.prefix, map.slug ? map.slug : "map", map.map_id))
		die("out of memory");
	*url = umap_buf_detach(&text);
	umap_remote_url_dispose(&map);
	return session;
}

/* ---- The map as one .umap document ---------------------------------------------------------- */

/* A layer's options in the .umap file: its settings, with its id, rank and parent. */
static json_t *layer_from_remote(const json_t *flat, const json_t *geojson)
{
	json_t *fc = json_object();
	json_t *options = json_deep_copy(json_object_get(flat, "settings"));
	const char *key;
	json_t *value;
	if (!fc || !options)
		die("out of memory");
	/* the members of the stored FeatureCollection, but its options: the settings are the truth */
	json_object_set_new(fc, "type", json_string("FeatureCollection"));
	json_object_foreach((json_t *)geojson, key, value)
		if (strcmp(key, "type") && strcmp(key, "_umap_options") && strcmp(key, "properties") && strcmp(key, "layers"))
			json_object_set(fc, key, value);
	if (!json_is_array(json_object_get(fc, "features")))
		json_object_set_new(fc, "features", json_array());
	json_object_del(options, "rank");
	json_object_del(options, "parent");
	json_object_set(options, "id", json_object_get(flat, "id"));
	json_object_set(options, "rank", json_object_get(flat, "rank"));
	if (json_is_string(json_object_get(flat, "parent")))
		json_object_set(options, "parent", json_object_get(flat, "parent"));
	json_object_set_new(fc, "properties", options);
	return fc;
}

/* A layer's options: "properties" as uMap's downloads write them, else the older
 * "_umap_options". */
static json_t *layer_options(const json_t *fc)
{
	json_t *options = json_object_get(fc, "properties");
	return json_is_object(options) ? options : json_object_get(fc, "_umap_options");
}

static const char *layer_id(const json_t *fc)
{
	return json_string_value(json_object_get(layer_options(fc), "id"));
}

/* In memory a map's layers are one list, depth first, each child with its group's id in
 * options.parent; in the file, as uMap 3.7+ writes group layers and umapsync reads them,
 * children sit in their group's "layers". nest_layers gives the file's form (a new root),
 * flatten_layers the list (in place). */
static json_t *nest_layers(const json_t *root)
{
	json_t *nested = json_deep_copy(root), *top = json_array(), *byid = json_object();
	size_t i;
	json_t *fc;
	if (!nested || !top || !byid)
		die("out of memory");
	json_array_foreach(json_object_get(nested, "layers"), i, fc) {
		json_t *options = layer_options(fc);
		const char *parent = json_string_value(json_object_get(options, "parent"));
		json_t *group = parent ? json_object_get(byid, parent) : NULL;
		if (group) {
			json_t *children = json_object_get(group, "layers");
			if (!children)
				json_object_set_new(group, "layers", children = json_array());
			json_object_del(options, "parent");
			json_array_append(children, fc);
		} else {
			json_array_append(top, fc);
		}
		if (layer_id(fc))
			json_object_set(byid, layer_id(fc), fc);
	}
	json_object_set_new(nested, "layers", top);
	json_decref(byid);
	return nested;
}

static void flatten_into(json_t *out, json_t *layers, const char *parent, int depth)
{
	size_t i;
	json_t *fc;
	if (depth > UMAP_DOC_MAX_LAYER_DEPTH)
		return; /* doc.c refused such a file before it got here */
	json_array_foreach(layers, i, fc) {
		json_t *children = json_incref(json_object_get(fc, "layers"));
		json_object_del(fc, "layers");
		if (parent && json_is_object(layer_options(fc)))
			json_object_set_new(layer_options(fc), "parent", json_string(parent));
		json_array_append(out, fc);
		if (json_is_array(children))
			flatten_into(out, children, layer_id(fc), depth + 1);
		json_decref(children);
	}
}

static void flatten_layers(json_t *root)
{
	json_t *flat = json_array();
	if (!flat)
		die("out of memory");
	flatten_into(flat, json_object_get(root, "layers"), NULL, 0);
	json_object_set_new(root, "layers", flat);
}

static json_t *find_layer(const json_t *root, const char *id)
{
	size_t i;
	json_t *fc;
	json_array_foreach(json_object_get(root, "layers"), i, fc)
		if (id && layer_id(fc) && !strcmp(layer_id(fc), id))
			return fc;
	return NULL;
}

/* The map's own settings ({"type":"Feature","geometry","properties"}) of a .umap root. */
static json_t *settings_of(const json_t *root)
{
	json_t *s = json_pack("{s:s, s:O?, s:O?}", "type", "Feature", "geometry", json_object_get(root, "geometry"),
			      "properties", json_object_get(root, "properties"));
	if (!s)
		die("out of memory");
	if (!json_object_get(s, "properties"))
		json_object_set_new(s, "properties", json_object());
	return s;
}

static json_t *root_new(const json_t *settings, const char *uri)
{
	json_t *root = json_pack("{s:s, s:s, s:O, s:O?, s:[]}", "type", "umap", "uri", uri, "properties",
				 json_object_get(settings, "properties"), "geometry", json_object_get(settings, "geometry"),
				 "layers");
	if (!root)
		die("out of memory");
	return root;
}

/* The .umap file of a commit's tree, as JSON; NULL when the tree lacks it. */
static json_t *root_from_tree(umap_repo *repo, const git_oid *tree, const char *path)
{
	umap_snapshot *snap = NULL;
	int rc = umap_repo_read_tree(&snap, repo, tree, path);
	if (rc == UMAP_ENOTFOUND) {
		umap_error_clear();
		return NULL;
	}
	if (rc)
		die_lib(NULL);
	umap_buf text = UMAP_BUF_INIT;
	json_t *root = NULL;
	if (umap_doc_write(&text, snap->files[0].doc, UMAP_JSON_COMPACT) ||
	    umap_json_loadb(&root, text.ptr, text.len, path))
		die_lib(NULL);
	umap_buf_dispose(&text);
	umap_snapshot_free(snap);
	flatten_layers(root);
	return root;
}

/* Commits the tree holding only `path` = root, with the given parents (without moving HEAD). */
static void commit_root(git_oid *commit, git_oid *tree, umap_repo *repo, const char *path, const json_t *root,
			const git_oid *parents, size_t nparents, const git_oid *base_tree, const char *message)
{
	/* what uMap's own downloads look like, as clone and pull of a sync server write */
	static const umap_layout layout = UMAP_LAYOUT_DEFAULT;
	json_t *nested = nest_layers(root);
	char *text = umap_json_dumps_as(nested, &layout);
	json_decref(nested);
	umap_snapshot *snap = NULL;
	umap_doc *doc = NULL;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	if (!text || umap_snapshot_new(&snap))
		die("out of memory");
	if (umap_doc_from_owned_buffer(&doc, text, strlen(text), path, &opts) || umap_snapshot_add(snap, path, doc))
		die_lib("the map from the server");
	if (umap_repo_build_tree(tree, repo, snap, base_tree) ||
	    umap_repo_commit_tree_as(commit, repo, tree, parents, nparents, message, 0))
		die_lib(NULL);
	umap_snapshot_free(snap);
}

static void set_remote_ref(umap_repo *repo, const char *name, const git_oid *commit, const char *why)
{
	umap_buf ref = UMAP_BUF_INIT;
	git_reference *r = NULL;
	umap_buf_printf(&ref, "refs/remotes/%s/main", name);
	if (git_reference_create(&r, umap_repo_git(repo), ref.ptr, commit, 1, why) < 0)
		die("cannot update %s: %s", ref.ptr, git_error_last() ? git_error_last()->message : "?");
	git_reference_free(r);
	umap_buf_dispose(&ref);
}

/* state.umap: {"file": PATH, "layers": {UUID: VERSION}} */
static json_t *umap_state(json_t *state)
{
	json_t *u = json_object_get(state, "umap");
	if (!json_is_object(u)) {
		u = json_pack("{s:n, s:{}}", "file", "layers");
		if (!u || json_object_set_new(state, "umap", u))
			die("out of memory");
	}
	if (!json_is_object(json_object_get(u, "layers")))
		json_object_set_new(u, "layers", json_object());
	return u;
}

/* Fetches what changed on the server since `old` (the last synced root; NULL: everything)
 * and builds the server's map as a root. *fetched counts the layers read again. */
static json_t *fetch_map(size_t *fetched, umap_remote *session, const json_t *old, json_t *versions, const char *uri,
			 const char *remote)
{
	json_t *settings = NULL, *flat = NULL;
	if (umap_remote_settings(&settings, session) || umap_remote_layers(&flat, session))
		die_remote(remote);
	json_t *root = root_new(settings, uri);
	json_t *seen = json_object();
	size_t i;
	json_t *layer;
	*fetched = 0;
	json_array_foreach(flat, i, layer) {
		const char *id = json_string_value(json_object_get(layer, "id"));
		const char *version = json_string_value(json_object_get(layer, "version"));
		const char *known = json_string_value(json_object_get(versions, id));
		json_t *fc = NULL, *kept = old ? find_layer(old, id) : NULL;
		if (kept && version && known && !strcmp(version, known)) {
			json_t *geojson = json_pack("{s:O}", "features", json_object_get(kept, "features"));
			fc = layer_from_remote(layer, geojson);
			json_decref(geojson);
		} else {
			json_t *geojson = NULL;
			char *got = NULL;
			if (umap_remote_layer_get(&geojson, &got, session, id))
				die_remote(remote);
			fc = layer_from_remote(layer, geojson);
			json_object_set_new(versions, id, json_string(got));
			json_decref(geojson);
			free(got);
			(*fetched)++;
		}
		json_object_set_new(seen, id, json_true());
		json_array_append_new(json_object_get(root, "layers"), fc);
	}
	/* layers deleted on the server are forgotten */
	const char *key;
	json_t *value, *tmp;
	json_object_foreach_safe(versions, tmp, key, value)
		if (!json_object_get(seen, key))
			json_object_del(versions, key);
	json_decref(seen);
	json_decref(flat);
	json_decref(settings);
	return root;
}

static char *map_uri(const char *url)
{
	umap_remote_url parsed;
	if (umap_remote_url_parse(&parsed, url))
		die_lib(NULL);
	umap_buf uri = UMAP_BUF_INIT;
	umap_buf_printf(&uri, "%s%s/map/%s_%ld", parsed.origin, parsed.prefix, parsed.slug ? parsed.slug : "map",
			parsed.map_id);
	umap_remote_url_dispose(&parsed);
	return umap_buf_detach(&uri);
}

/* ---- history ------------------------------------------------------------------------------ */

/* Versions of one layer read for history: uMap keeps 10 by default; a server that lists more
 * is read no further back than this. */
#define HISTORY_MAX_VERSIONS 100

struct version_event {
	double at;
	const char *id;   /* borrowed from the map */
	const char *ref;  /* borrowed from the versions list */
};

static int event_cmp(const void *a, const void *b)
{
	const struct version_event *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* The map as it was after each save of a layer the server still keeps (oldest first, the
 * current one left out): [{"message","root"}], each layer at its last version saved by then
 * (absent before its oldest kept one), the settings as they are now (uMap keeps no history
 * of them). */
static json_t *fetch_history(umap_remote *session, const json_t *root, const json_t *current, const char *remote)
{
	json_t *lists = json_object(), *cache = json_object(), *out = json_array();
	struct version_event *events = NULL;
	size_t n = 0, cap = 0, i;
	json_t *fc;
	if (!lists || !cache || !out)
		die("out of memory");
	json_array_foreach(json_object_get(root, "layers"), i, fc) {
		const char *id = layer_id(fc);
		json_t *versions = NULL, *v;
		size_t j;
		if (umap_remote_layer_versions(&versions, session, id))
			die_remote(remote);
		json_object_set_new(lists, id, versions);
		json_array_foreach(json_object_get(versions, "versions"), j, v) {
			const char *ref = json_string_value(json_object_get(v, "ref"));
			if (!ref || !json_is_number(json_object_get(v, "at")) || j >= HISTORY_MAX_VERSIONS)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				struct version_event *grown = realloc(events, cap * sizeof(*events));
				if (!grown)
					die("out of memory");
				events = grown;
			}
			events[n++] = (struct version_event){ json_number_value(json_object_get(v, "at")), id, ref };
		}
	}
	if (n)
		qsort(events, n, sizeof(*events), event_cmp);
	for (size_t e = 0; e < n; e++) {
		if (!strcmp(events[e].ref, json_string_value(json_object_get(current, events[e].id)) ?
						   json_string_value(json_object_get(current, events[e].id)) : ""))
			continue;
		json_t *then = json_deep_copy(root);
		json_t *layers = json_array();
		if (!then || !layers)
			die("out of memory");
		json_array_foreach(json_object_get(root, "layers"), i, fc) {
			const char *id = layer_id(fc), *ref = NULL;
			double best = -1;
			json_t *v;
			size_t j;
			/* the layer's last version saved by then */
			json_array_foreach(json_object_get(json_object_get(lists, id), "versions"), j, v) {
				double at = json_number_value(json_object_get(v, "at"));
				const char *r = json_string_value(json_object_get(v, "ref"));
				if (r && at <= events[e].at && at > best && j < HISTORY_MAX_VERSIONS) {
					best = at;
					ref = r;
				}
			}
			if (!ref)
				continue;
			const char *now = json_string_value(json_object_get(current, id));
			if (now && !strcmp(ref, now)) {
				json_array_append(layers, fc);
				continue;
			}
			umap_buf key = UMAP_BUF_INIT;
			umap_buf_printf(&key, "%s/%s", id, ref);
			json_t *old = json_object_get(cache, key.ptr);
			if (!old) {
				if (umap_remote_layer_get_version(&old, session, id, ref))
					die_remote(remote);
				json_object_set_new(cache, key.ptr, old);
			}
			umap_buf_dispose(&key);
			json_t *layer = json_deep_copy(fc);
			json_t *features = json_object_get(old, "features");
			json_object_set(layer, "features", json_is_array(features) ? features : json_array());
			json_array_append_new(layers, layer);
		}
		json_object_set_new(then, "layers", layers);
		const char *name = json_string_value(json_object_get(
			layer_options(find_layer(root, events[e].id)), "name"));
		umap_buf message = UMAP_BUF_INIT;
		umap_buf_printf(&message, "Layer '%s' saved on the server (version %s)", name ? name : events[e].id,
				events[e].ref);
		json_array_append_new(out, json_pack("{s:s, s:o}", "message", message.ptr, "root", then));
		umap_buf_dispose(&message);
	}
	free(events);
	json_decref(lists);
	json_decref(cache);
	return out;
}

/* ---- clone, remote add ---------------------------------------------------------------------- */

int umap_remote_cmd_clone(const char *url_arg, const char *dir_arg, const char *name, const char *cookie_file,
			  int history)
{
	int by_link = umap_remote_url_is_edit_link(url_arg);
	char *cookies = by_link ? cookie_path(cookie_file) : NULL;
	umap_remote *session = NULL;
	char *link_target = NULL;
	/* a link names its map only by its redirect: followed before the directory is chosen */
	if (by_link && dir_arg && !umap_dir_empty_or_missing(dir_arg))
		die("destination '%s' already exists and is not empty", dir_arg);
	if (by_link)
		session = open_edit_link(&link_target, url_arg, cookies, NULL);
	const char *url = by_link ? link_target : url_arg;
	umap_remote_url parsed;
	if (umap_remote_url_parse(&parsed, url))
		die_lib(NULL);
	umap_buf fallback = UMAP_BUF_INIT;
	umap_buf_printf(&fallback, "%s", parsed.slug ? parsed.slug : "map");
	const char *dir = dir_arg ? dir_arg : fallback.ptr;
	if (!umap_dir_empty_or_missing(dir))
		die("destination '%s' already exists and is not empty", dir);
	if (!session) {
		cookies = cookie_path(cookie_file);
		session = open_session(url, cookies, NULL, NULL);
	}
	char *uri = map_uri(url);
	json_t *state = json_pack("{s:s, s:I, s:n, s:I}", "client_id", "umap", "cursor", (json_int_t)0, "synced",
				  "next_op", (json_int_t)1);
	json_t *u = umap_state(state);
	size_t fetched = 0;
	json_t *root = fetch_map(&fetched, session, NULL, json_object_get(u, "layers"), uri, NULL);
	umap_buf file = UMAP_BUF_INIT;
	umap_buf_printf(&file, "%s.umap", parsed.slug ? parsed.slug : "map");
	json_object_set_new(u, "file", json_string(file.ptr));
	json_t *past = history ? fetch_history(session, root, json_object_get(u, "layers"), NULL) : json_array();

	/* everything is read: only now does the directory get anything */
	if (umap_mkdir_p(dir, 0777))
		die_lib(NULL);
	umap_repo *repo = NULL;
	int existed = 0;
	if (umap_repo_init(&repo, dir, &existed))
		die_lib(NULL);
	git_oid tree, commit, prev, prev_tree;
	size_t i;
	json_t *then;
	json_array_foreach(past, i, then) {
		commit_root(&commit, &tree, repo, file.ptr, json_object_get(then, "root"), i ? &prev : NULL, i ? 1 : 0,
			    i ? &prev_tree : NULL, json_string_value(json_object_get(then, "message")));
		prev = commit;
		prev_tree = tree;
	}
	umap_buf message = UMAP_BUF_INIT;
	umap_buf_printf(&message, "Clone map %ld from %s", parsed.map_id, uri);
	size_t npast = json_array_size(past);
	commit_root(&commit, &tree, repo, file.ptr, root, npast ? &prev : NULL, npast ? 1 : 0, npast ? &prev_tree : NULL,
		    message.ptr);
	json_decref(past);
	if (umap_repo_advance_head(repo, &commit, NULL, "clone"))
		die_lib(NULL);
	write_worktree(repo, NULL, &tree);
	set_remote_ref(repo, name, &commit, "clone");
	json_object_set_new(state, "synced", json_string(git_oid_tostr_s(&commit)));
	sync_remote_save(repo, name, url, NULL);
	if (cookies)
		config_remote_set(repo, name, "cookiefile", cookies);
	if (by_link)
		keep_edit_cookie(repo, name, session);
	sync_state_save(repo, name, state);
	size_t nlayers = json_array_size(json_object_get(root, "layers")), nfeatures = 0;
	json_t *fc;
	json_array_foreach(json_object_get(root, "layers"), i, fc)
		nfeatures += json_array_size(json_object_get(fc, "features"));
	fprintf(stderr, "Cloned uMap map %ld into '%s': %zu layer%s, %zu feature%s\n", parsed.map_id, dir, nlayers,
		nlayers == 1 ? "" : "s", nfeatures, nfeatures == 1 ? "" : "s");
	if (by_link)
		fprintf(stderr, "The anonymous edit link's cookie is kept in %s/" UMAP_REPO_DIR "/sync/%s.cookies, "
				"readable by you only\n", dir, name);
	printf("%s\n", file.ptr);
	umap_buf_dispose(&message);
	umap_buf_dispose(&file);
	umap_buf_dispose(&fallback);
	json_decref(root);
	json_decref(state);
	free(uri);
	free(cookies);
	free(link_target);
	umap_repo_free(repo);
	umap_remote_free(session);
	umap_remote_url_dispose(&parsed);
	return 0;
}

void umap_remote_cmd_add(umap_repo *repo, const char *name, const char *url, const char *cookie_file)
{
	char *cookies = cookie_path(cookie_file);
	char *map_url = NULL;
	int by_link = umap_remote_url_is_edit_link(url);
	umap_remote *session = by_link ? open_edit_link(&map_url, url, cookies, NULL) : open_session(url, cookies, NULL, NULL);
	/* the cookie first: a remote without it would be refused at its first push */
	if (by_link)
		keep_edit_cookie(repo, name, session);
	sync_remote_save(repo, name, by_link ? map_url : url, NULL);
	if (cookies)
		config_remote_set(repo, name, "cookiefile", cookies);
	umap_remote_free(session);
	free(map_url);
	free(cookies);
}

/* The URL of remote NAME, which must be a uMap map: else death, saying `why`. */
static char *umap_remote_url_of(umap_repo *repo, const char *name, const char *why)
{
	char *url = config_remote_value(repo, name, "url");
	if (!url)
		die("no remote named '%s'", name);
	if (!umap_remote_url_is_umap(url))
		die("remote '%s' is not a uMap map (%s): %s", name, url, why);
	return url;
}

void umap_remote_cmd_set_edit_link(umap_repo *repo, const char *name, const char *link)
{
	char *url = umap_remote_url_of(repo, name, "add the anonymous edit link as a remote of its own");
	char *cookies = config_remote_value(repo, name, "cookiefile");
	if (cookies && access(cookies, R_OK) < 0)
		die_errno("cannot read the cookie file '%s' (umapsync-remote.%s.cookiefile)", cookies, name);
	char *map_url = NULL;
	umap_remote *session = open_edit_link(&map_url, link, cookies, name);
	keep_edit_cookie(repo, name, session);
	sync_remote_save(repo, name, map_url, NULL);
	umap_remote_free(session);
	free(map_url);
	free(cookies);
	free(url);
}

void umap_remote_cmd_forget(umap_repo *repo, const char *name)
{
	char *path = edit_cookie_path(repo, name);
	if (unlink(path) < 0 && errno != ENOENT)
		die_errno("cannot remove %s", path);
	free(path);
}

void umap_remote_cmd_set_cookie_file(umap_repo *repo, const char *name, const char *file)
{
	char *url = umap_remote_url_of(repo, name, "cookie files are for uMap remotes");
	char *cookies = cookie_path(file);
	config_remote_set(repo, name, "cookiefile", cookies);
	free(cookies);
	free(url);
}

/* ---- pull -------------------------------------------------------------------------------- */

int umap_remote_cmd_pull(umap_repo *repo, struct sync_remote *remote, const char *strategy)
{
	json_t *state = sync_state_load(repo, remote->name);
	json_t *u = umap_state(state);
	json_t *versions = json_object_get(u, "layers");
	char *cookies = config_remote_value(repo, remote->name, "cookiefile");
	char *edit_cookie = edit_cookie_kept(repo, remote->name);
	umap_remote *session = open_session(remote->url, cookies, edit_cookie, remote->name);
	free(edit_cookie);
	char *uri = map_uri(remote->url);
	umap_remote_url parsed;
	if (umap_remote_url_parse(&parsed, remote->url))
		die_lib(NULL);
	if (!json_string_value(json_object_get(u, "file"))) {
		umap_buf f = UMAP_BUF_INIT;
		umap_buf_printf(&f, "%s.umap", parsed.slug ? parsed.slug : "map");
		json_object_set_new(u, "file", json_string(f.ptr));
		umap_buf_dispose(&f);
	}
	const char *file = json_string_value(json_object_get(u, "file"));
	git_oid synced, synced_tree, head, head_tree;
	int have_synced = sync_state_synced(&synced, state);
	if (have_synced && umap_repo_commit_tree(&synced_tree, repo, &synced))
		die_lib(NULL);
	int unborn = read_head(&head, &head_tree, repo);
	if (!unborn && !have_synced) {
		fflush(stdout);
		fprintf(stderr, "fatal: this repository has commits but was never synced with '%s'\n", remote->name);
		hint("clone the map and import your files there");
		exit(EXIT_FATAL);
	}
	json_t *old = have_synced ? root_from_tree(repo, &synced_tree, file) : NULL;
	size_t fetched = 0;
	json_t *root = fetch_map(&fetched, session, old, versions, uri, remote->name);
	int rc = 0;
	if (old && json_equal(old, root)) {
		sync_state_save(repo, remote->name, state);
		fprintf(stderr, "Already up to date.\n");
		goto done;
	}
	git_oid rtree, rcommit;
	umap_buf message = UMAP_BUF_INIT;
	umap_buf_printf(&message, "Pull map %ld from %s (%zu layer%s read)", parsed.map_id, uri, fetched,
			fetched == 1 ? "" : "s");
	commit_root(&rcommit, &rtree, repo, file, root, have_synced ? &synced : NULL, have_synced ? 1 : 0,
		    have_synced ? &synced_tree : NULL, message.ptr);
	umap_buf_dispose(&message);
	set_remote_ref(repo, remote->name, &rcommit, "pull");
	json_object_set_new(state, "synced", json_string(git_oid_tostr_s(&rcommit)));
	fprintf(stderr, "From %s\n   %zu layer%s changed on the server\n", uri, fetched, fetched == 1 ? "" : "s");
	if (unborn || git_oid_equal(&head, &synced)) {
		if (!unborn)
			require_clean_worktree(repo, &head_tree, "pull");
		write_worktree(repo, unborn ? NULL : &head_tree, &rtree);
		if (umap_repo_advance_head(repo, &rcommit, unborn ? NULL : &head, "pull: fast-forward"))
			die_lib(NULL);
		sync_state_save(repo, remote->name, state);
		fprintf(stderr, "Fast-forward to %s\n", short_id(&rcommit));
	} else {
		if (strcmp(strategy, "rebase"))
			warning("a uMap remote has no ops to order by time: pulling with --strategy=rebase");
		require_clean_worktree(repo, &head_tree, "pull");
		sync_state_save(repo, remote->name, state);
		umap_buf upstream = UMAP_BUF_INIT;
		umap_buf_printf(&upstream, "%s/main", remote->name);
		fprintf(stderr, "Rebasing local commits onto %s\n", upstream.ptr);
		const char *rargv[] = { "rebase", upstream.ptr, NULL };
		fflush(stdout);
		rc = cmd_rebase(2, rargv);
		umap_buf_dispose(&upstream);
	}
done:
	json_decref(old);
	json_decref(root);
	json_decref(state);
	free(uri);
	free(cookies);
	umap_remote_url_dispose(&parsed);
	umap_remote_free(session);
	return rc;
}

/* ---- push -------------------------------------------------------------------------------- */

/* The keys (properties.KEY, geometry) whose values differ between two settings. */
static void changed_keys(umap_buf *out, const json_t *a, const json_t *b)
{
	const json_t *pa = json_object_get(a, "properties"), *pb = json_object_get(b, "properties");
	const char *key;
	json_t *value;
	umap_buf_clear(out);
	if (!json_equal(json_object_get(a, "geometry"), json_object_get(b, "geometry")))
		umap_buf_puts(out, "geometry");
	json_object_foreach((json_t *)pa, key, value)
		if (!json_equal(value, json_object_get(pb, key)))
			umap_buf_printf(out, "%s%s", out->len ? ", " : "", key);
	json_object_foreach((json_t *)pb, key, value)
		if (!json_object_get(pa, key))
			umap_buf_printf(out, "%s%s", out->len ? ", " : "", key);
}

static umap_doc *doc_of(const json_t *fc, const char *what)
{
	char *text = umap_json_dumps(fc, UMAP_JSON_COMPACT);
	umap_doc *doc = NULL;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	if (!text)
		die("out of memory");
	if (umap_doc_from_owned_buffer(&doc, text, strlen(text), what, &opts))
		die_lib("%s", what);
	return doc;
}

/* Per key (SPEC §6): what we changed since `base`, replayed on what the server has now.
 * Dies naming the conflicts when both changed the same key. */
static json_t *merge_layer(const json_t *base, const json_t *ours, const json_t *theirs, const char *name,
			   const char *remote)
{
	umap_doc *b = doc_of(base, "base"), *o = doc_of(ours, "ours"), *t = doc_of(theirs, "theirs");
	umap_merge_result *result = NULL;
	umap_merge_options mopts = UMAP_MERGE_OPTIONS_INIT;
	if (umap_merge(&result, b, o, t, &mopts))
		die_lib("merging layer '%s'", name);
	size_t n = 0;
	const umap_conflict *conflicts = umap_merge_conflicts(result, &n);
	if (n) {
		fflush(stdout);
		fprintf(stderr, "fatal: layer '%s' was saved on the server meanwhile, and %zu of your changes conflict "
				"with it:\n", name, n);
		for (size_t i = 0; i < n && i < 10; i++) {
			char *id = conflicts[i].id ? umap_json_dumps(conflicts[i].id, UMAP_JSON_COMPACT) : NULL;
			fprintf(stderr, "  feature %s: %s\n", id ? id : "(layer options)",
				conflicts[i].key ? conflicts[i].key : "changed on both sides");
			free(id);
		}
		hint("the layers saved before it are kept; run 'umapsync pull %s', settle the conflicts, commit and push again",
		     remote);
		umap_merge_result_free(result);
		umap_doc_free(b);
		umap_doc_free(o);
		umap_doc_free(t);
		exit(EXIT_FATAL);
	}
	umap_buf text = UMAP_BUF_INIT;
	json_t *merged = NULL;
	if (umap_merge_write(&text, result, UMAP_JSON_COMPACT) || umap_json_loadb(&merged, text.ptr, text.len, "merge"))
		die_lib("merging layer '%s'", name);
	umap_buf_dispose(&text);
	umap_merge_result_free(result);
	umap_doc_free(b);
	umap_doc_free(o);
	umap_doc_free(t);
	return merged;
}

/* What a layer of the .umap file is saved as: the FeatureCollection with its options as
 * uMap keeps them, and the form's name, rank, parent and settings. */
static void save_of(umap_remote_save *save, json_t **geojson, json_t **settings, const json_t *fc, long index)
{
	const json_t *options = layer_options(fc);
	*settings = json_is_object(options) ? json_deep_copy(options) : json_object();
	json_t *rank = json_object_get(*settings, "rank");
	const char *parent = json_string_value(json_object_get(options, "parent"));
	memset(save, 0, sizeof(*save));
	save->uuid = layer_id(fc);
	save->name = json_string_value(json_object_get(options, "name"));
	save->rank = json_is_integer(rank) ? (long)json_integer_value(rank) : index;
	save->parent = parent;
	json_object_del(*settings, "rank");
	json_object_del(*settings, "parent");
	*geojson = json_pack("{s:s, s:O, s:O}", "type", "FeatureCollection", "features", json_object_get(fc, "features"),
			     "_umap_options", *settings);
	if (!*geojson)
		die("out of memory");
	save->settings = *settings;
	save->geojson = *geojson;
}

/* The layer `fc` (its id, options, rank and group) holding the features of a geojson the
 * server sent for it. */
static json_t *layer_with_features(const json_t *fc, const json_t *geojson)
{
	const json_t *options = layer_options(fc);
	json_t *flat = json_pack("{s:s, s:O, s:O?, s:O?}", "id", layer_id(fc), "settings", options, "rank",
				 json_object_get(options, "rank"), "parent", json_object_get(options, "parent"));
	if (!flat)
		die("out of memory");
	json_t *layer = layer_from_remote(flat, geojson);
	json_decref(flat);
	return layer;
}

/* Replaces (or adds, or with fc NULL removes) layer `id` in root. */
static void root_set_layer(json_t *root, const char *id, const json_t *fc)
{
	json_t *layers = json_object_get(root, "layers");
	size_t i;
	json_t *l;
	json_array_foreach(layers, i, l)
		if (layer_id(l) && !strcmp(layer_id(l), id)) {
			if (fc)
				json_array_set(layers, i, (json_t *)fc);
			else
				json_array_remove(layers, i);
			return;
		}
	if (fc)
		json_array_append(layers, (json_t *)fc);
}

struct push_ctx {
	umap_repo *repo;
	struct sync_remote *remote;
	json_t *state;
	json_t *versions;
	const char *file;
	json_t *server;      /* the server's map as far as we know it */
	json_t *ours, *base; /* the map of HEAD and of the last sync */
	git_oid synced, synced_tree;
	size_t saved;
};

/* A push's maps stay reachable from here until the command returns: the paths that die()
 * in the middle of it leave them to the process's end, not to a leak report. */
static struct push_ctx pushing;

/* Records that the server holds `server` now: a commit on NAME/main and the state, after
 * every save, so that a push cut off half-way keeps what was saved. */
static void record(struct push_ctx *c, const char *what)
{
	git_oid tree, commit;
	commit_root(&commit, &tree, c->repo, c->file, c->server, &c->synced, 1, &c->synced_tree, what);
	set_remote_ref(c->repo, c->remote->name, &commit, "push");
	c->synced = commit;
	c->synced_tree = tree;
	json_object_set_new(c->state, "synced", json_string(git_oid_tostr_s(&commit)));
	sync_state_save(c->repo, c->remote->name, c->state);
}

static void push_layer(struct push_ctx *c, umap_remote *session, const json_t *ours, const json_t *base, long index)
{
	json_t *sending = json_incref((json_t *)ours);
	json_t *merge_base = json_incref((json_t *)base);
	const char *id = layer_id(ours);
	char *reference = json_string_value(json_object_get(c->versions, id)) ?
				  strdup(json_string_value(json_object_get(c->versions, id))) : NULL;
	for (int attempt = 0;; attempt++) {
		umap_remote_save save;
		json_t *geojson = NULL, *settings = NULL, *merged = NULL;
		save_of(&save, &geojson, &settings, sending, index);
		save.create = base == NULL;
		save.reference = reference;
		char *version = NULL;
		int conflict = 0;
		const char *name = save.name ? save.name : id;
		if (umap_remote_layer_save(&version, &merged, &conflict, session, &save)) {
			fflush(stdout);
			fprintf(stderr, "fatal: %s\n", umap_error_last());
			if (umap_error_last_code() == UMAP_EAUTH)
				hint_auth(c->remote->name);
			if (c->saved)
				hint("%zu layer%s saved before this one %s kept; 'umapsync push %s' sends the rest",
				     c->saved, c->saved == 1 ? "" : "s", c->saved == 1 ? "is" : "are", c->remote->name);
			exit(EXIT_FATAL);
		}
		json_decref(geojson);
		json_decref(settings);
		if (!conflict) {
			json_t *kept = sending;
			if (merged) {
				/* the server merged ours into a save made meanwhile: that is what it holds now */
				kept = layer_with_features(sending, merged);
				json_decref(sending);
				fprintf(stderr, "layer '%s': the server merged your changes into a newer save\n", name);
			}
			json_object_set_new(c->versions, id, json_string(version));
			root_set_layer(c->server, id, kept);
			c->saved++;
			umap_buf what = UMAP_BUF_INIT;
			umap_buf_printf(&what, "Push layer '%s' to %s (version %s)", name, c->remote->url, version);
			record(c, what.ptr);
			umap_buf_dispose(&what);
			fprintf(stderr, "   %s layer '%s' (version %s)\n", base ? "saved" : "created", name, version);
			json_decref(kept);
			json_decref(merged);
			free(version);
			break;
		}
		if (attempt + 1 >= SAVE_TRIES)
			die("layer '%s' was saved by others %d times while pushing: try again later", name, SAVE_TRIES);
		/* 412: someone saved it and the server could not merge whole features */
		json_t *latest = NULL;
		char *latest_version = NULL;
		if (umap_remote_layer_get(&latest, &latest_version, session, id))
			die_remote(c->remote->name);
		json_t *theirs = layer_with_features(sending, latest);
		json_t *merged_fc = merge_layer(merge_base ? merge_base : theirs, sending, theirs, name, c->remote->name);
		fprintf(stderr, "layer '%s': saved by someone else meanwhile (412); merged key by key, saving again\n", name);
		json_decref(sending);
		json_decref(latest);
		sending = merged_fc;
		/* a further 412 is merged against what this merge already holds of theirs */
		json_decref(merge_base);
		merge_base = theirs;
		free(reference);
		reference = latest_version;
	}
	json_decref(merge_base);
	free(reference);
}

int umap_remote_cmd_push(umap_repo *repo, struct sync_remote *remote)
{
	json_t *state = sync_state_load(repo, remote->name);
	json_t *u = umap_state(state);
	struct push_ctx c;
	memset(&c, 0, sizeof(c));
	pushing.state = state;
	c.repo = repo;
	c.remote = remote;
	c.state = state;
	c.versions = json_object_get(u, "layers");
	c.file = json_string_value(json_object_get(u, "file"));
	git_oid head, head_tree;
	if (read_head(&head, &head_tree, repo)) {
		fprintf(stderr, "nothing to push: no commit yet\n");
		json_decref(state);
		return 0;
	}
	if (!c.file || !sync_state_synced(&c.synced, state))
		die("'%s' was never pulled from: clone the map first", remote->name);
	if (umap_repo_commit_tree(&c.synced_tree, repo, &c.synced))
		die_lib(NULL);
	json_t *ours = pushing.ours = root_from_tree(repo, &head_tree, c.file);
	json_t *base = pushing.base = root_from_tree(repo, &c.synced_tree, c.file);
	if (!ours)
		die("%s is not in the last commit: a uMap remote is pushed from that file", c.file);
	if (!base)
		die("the last pull from '%s' is damaged: clone the map again", remote->name);
	if (json_equal(ours, base)) {
		fprintf(stderr, "Everything up-to-date\n");
		json_decref(ours);
		json_decref(base);
		json_decref(state);
		memset(&pushing, 0, sizeof(pushing));
		return 0;
	}
	require_clean_worktree(repo, &head_tree, "push");
	c.server = pushing.server = json_deep_copy(base);
	char *cookies = config_remote_value(repo, remote->name, "cookiefile");
	char *edit_cookie = edit_cookie_kept(repo, remote->name);
	umap_remote *session = open_session(remote->url, cookies, edit_cookie, remote->name);
	free(edit_cookie);
	fprintf(stderr, "To %s\n", remote->url);

	/* settings first: the server checks no version for them, so we do */
	json_t *our_settings = settings_of(ours), *base_settings = settings_of(base);
	if (!json_equal(our_settings, base_settings)) {
		json_t *now = NULL;
		umap_buf keys = UMAP_BUF_INIT;
		if (umap_remote_settings(&now, session))
			die_remote(remote->name);
		umap_remote_strip_settings(base_settings);
		if (!json_equal(now, base_settings)) {
			changed_keys(&keys, now, base_settings);
			fflush(stdout);
			fprintf(stderr, "fatal: the map's settings changed on the server since the last pull (%s): "
					"pushing yours would overwrite them\n", keys.ptr ? keys.ptr : "");
			hint("run 'umapsync pull %s' first", remote->name);
			umap_buf_dispose(&keys);
			json_decref(now);
			json_decref(our_settings);
			json_decref(base_settings);
			exit(EXIT_FATAL);
		}
		if (umap_remote_settings_save(session, our_settings))
			die_remote(remote->name);
		json_object_set(c.server, "properties", json_object_get(ours, "properties"));
		json_object_set(c.server, "geometry", json_object_get(ours, "geometry"));
		record(&c, "Push the map's settings");
		fprintf(stderr, "   saved the map's settings\n");
		json_decref(now);
		umap_buf_dispose(&keys);
	}
	json_decref(our_settings);
	json_decref(base_settings);

	size_t i;
	json_t *fc;
	json_array_foreach(json_object_get(ours, "layers"), i, fc) {
		const char *id = layer_id(fc);
		if (!id)
			die("layer %zu of %s has no id: commit it again (umapsync commit gives it one)", i + 1, c.file);
		const json_t *was = find_layer(base, id);
		if (was && json_equal(was, fc))
			continue;
		push_layer(&c, session, fc, was, (long)i);
	}
	json_array_foreach(json_object_get(base, "layers"), i, fc) {
		const char *id = layer_id(fc);
		if (!id || find_layer(ours, id))
			continue;
		if (umap_remote_layer_delete(session, id))
			die_remote(remote->name);
		json_object_del(c.versions, id);
		root_set_layer(c.server, id, NULL);
		record(&c, "Push: delete a layer");
		fprintf(stderr, "   deleted layer '%s'\n",
			json_string_value(json_object_get(layer_options(fc), "name")) ?
				json_string_value(json_object_get(layer_options(fc), "name")) : id);
	}

	/* the server holds ours, or ours merged with others' saves: the branch takes it */
	if (json_equal(c.server, ours)) {
		set_remote_ref(repo, remote->name, &head, "push");
		json_object_set_new(state, "synced", json_string(git_oid_tostr_s(&head)));
		sync_state_save(repo, remote->name, state);
	} else {
		git_oid tree, commit;
		commit_root(&commit, &tree, repo, c.file, c.server, &head, 1, &head_tree, "Merge the saves others made meanwhile on the uMap server");
		write_worktree(repo, &head_tree, &tree);
		if (umap_repo_advance_head(repo, &commit, &head, "push: merged by the server"))
			die_lib(NULL);
		set_remote_ref(repo, remote->name, &commit, "push");
		json_object_set_new(state, "synced", json_string(git_oid_tostr_s(&commit)));
		sync_state_save(repo, remote->name, state);
		fprintf(stderr, "Others' saves merged into %s\n", short_id(&commit));
	}
	json_decref(c.server);
	json_decref(ours);
	json_decref(base);
	json_decref(state);
	free(cookies);
	umap_remote_free(session);
	memset(&pushing, 0, sizeof(pushing));
	return 0;
}
