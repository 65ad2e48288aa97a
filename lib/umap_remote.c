/* uMap's HTTP API as a remote: map URLs, the endpoints read from the map's own
 * properties.urls templates, datalayers with versions, saves with CSRF cookie and 412. */
#include "umap_remote.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "strutil.h"

/* ---- URLs ------------------------------------------------------------------------------- */

/* Splits URL into origin and path; *path points into url. 0 or -1. */
static int split_origin(const char **path, size_t *origin_len, const char *url)
{
	const char *rest;
	if (umap_starts_with(url, "https://"))
		rest = url + 8;
	else if (umap_starts_with(url, "http://"))
		rest = url + 7;
	else
		return -1;
	const char *slash = strchr(rest, '/');
	if (!slash || slash == rest)
		return -1;
	*origin_len = (size_t)(slash - url);
	*path = slash;
	return 0;
}

/* Finds ".../map/SLUG_ID" or ".../map/ID/geojson/" at the end of path (query ignored). */
static int parse_map_path(umap_remote_url *out, const char *path, size_t len)
{
	const char *q = memchr(path, '?', len);
	if (q)
		len = (size_t)(q - path);
	q = memchr(path, '#', len);
	if (q)
		len = (size_t)(q - path);
	char *p = strndup(path, len);
	if (!p)
		return UMAP_ENOMEM;
	int rc = -1;
	size_t n = strlen(p);
	/* the /geojson/ form */
	if (n > 9 && umap_ends_with(p, "/geojson/"))
		p[n -= 9] = '\0';
	else if (n > 8 && umap_ends_with(p, "/geojson"))
		p[n -= 8] = '\0';
	else if (n && p[n - 1] == '/')
		p[--n] = '\0';
	char *last = strrchr(p, '/');
	if (!last || last - p < 4 || strncmp(last - 4, "/map", 4))
		goto done;
	const char *seg = last + 1;
	const char *us = strrchr(seg, '_');
	const char *digits = us ? us + 1 : seg;
	if (!*digits || strlen(digits) > 12)
		goto done;
	for (const char *d = digits; *d; d++)
		if (!isdigit((unsigned char)*d))
			goto done;
	if (us) {
		for (const char *s = seg; s < us; s++)
			if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
				goto done;
		if (!(out->slug = strndup(seg, (size_t)(us - seg))))
			goto oom;
	}
	out->map_id = strtol(digits, NULL, 10);
	if (out->map_id <= 0)
		goto done;
	if (!(out->prefix = strndup(p, (size_t)(last - 4 - p))))
		goto oom;
	rc = 0;
	goto done;
oom:
	rc = UMAP_ENOMEM;
done:
	free(p);
	return rc;
}

int umap_remote_url_is_umap(const char *url)
{
	umap_remote_url u;
	memset(&u, 0, sizeof(u));
	const char *path;
	size_t olen;
	if (!url || split_origin(&path, &olen, url))
		return 0;
	int ok = parse_map_path(&u, path, strlen(path)) == 0;
	umap_remote_url_dispose(&u);
	return ok;
}

int umap_remote_url_parse(umap_remote_url *out, const char *url)
{
	memset(out, 0, sizeof(out[0]));
	const char *path;
	size_t olen;
	int rc;
	if (split_origin(&path, &olen, url) || (rc = parse_map_path(out, path, strlen(path))) == -1) {
		umap_remote_url_dispose(out);
		return umap_error_set(UMAP_EINVALID,
				      "invalid uMap map URL '%s': expected https://HOST/LANG/map/SLUG_ID", url);
	}
	if (rc < 0 || !(out->origin = strndup(url, olen))) {
		umap_remote_url_dispose(out);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	return 0;
}

void umap_remote_url_dispose(umap_remote_url *url)
{
	free(url->origin);
	free(url->prefix);
	free(url->slug);
	memset(url, 0, sizeof(url[0]));
}

/* Bytes of an anonymous edit link: a signed map id is some 50. */
#define EDIT_LINK_MAX 2048
#define EDIT_LINK_MARK "/map/anonymous-edit/"

/* The offset of the signature in an anonymous edit link; 0 when url is not one. */
static size_t edit_link_signature(const char *url)
{
	const char *path;
	size_t olen;
	if (!url || strlen(url) > EDIT_LINK_MAX || split_origin(&path, &olen, url))
		return 0;
	const char *mark = NULL;
	for (const char *p = strstr(path, EDIT_LINK_MARK); p; p = strstr(p + 1, EDIT_LINK_MARK))
		mark = p;
	if (!mark)
		return 0;
	const char *sig = mark + strlen(EDIT_LINK_MARK);
	if (!*sig)
		return 0;
	/* Django's Signer: the value, ':', base64url; a mail client may have encoded the ':' */
	for (const char *p = sig; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == ':' || *p == '-' || *p == '_' || *p == '%'))
			return 0;
	return (size_t)(sig - url);
}

int umap_remote_url_is_edit_link(const char *url)
{
	return edit_link_signature(url) != 0;
}

/* ---- The session -------------------------------------------------------------------------- */

struct umap_remote {
	CURL *curl;
	char *origin;
	char *prefix;
	char *slug;
	long map_id;
	json_t *map;      /* the map's geojson */
	json_t *urls;     /* borrowed from map: properties.urls */
	int have_csrf;    /* the map page was read in this session */
};

typedef struct answer {
	long status;
	umap_buf body;
	char *version;      /* X-Datalayer-Version */
	int too_big;
} answer;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ctx)
{
	answer *a = ctx;
	if (a->body.len + size * n > UMAP_REMOTE_MAX_BODY) {
		a->too_big = 1;
		return 0;
	}
	return umap_buf_put(&a->body, ptr, size * n) ? 0 : size * n;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ctx)
{
	answer *a = ctx;
	size_t len = size * n;
	static const char name[] = "x-datalayer-version:";
	if (len > sizeof(name) - 1 && len < 512 && !strncasecmp(ptr, name, sizeof(name) - 1)) {
		const char *v = ptr + sizeof(name) - 1;
		const char *end = ptr + len;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
			end--;
		free(a->version);
		a->version = strndup(v, (size_t)(end - v));
	}
	return len;
}

static void answer_dispose(answer *a)
{
	umap_buf_dispose(&a->body);
	free(a->version);
	memset(a, 0, sizeof(*a));
}

/* The path of the effective URL after redirects contains /login: a login page. */
static int landed_on_login(CURL *curl)
{
	char *eff = NULL;
	if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &eff) != CURLE_OK || !eff)
		return 0;
	const char *path;
	size_t olen;
	if (split_origin(&path, &olen, eff))
		return 0;
	return strstr(path, "/login") != NULL;
}

/* One request of the session. mime: a multipart POST; method "POST" without mime posts an
 * empty form. Fails only when no HTTP answer came (UMAP_ENET) or it was too big; its
 * messages name the URL as `shown` (a URL that holds a secret is not shown whole). */
static int perform_as(answer *a, umap_remote *r, const char *method, const char *url, const char *shown,
		      curl_mime *mime, const char *reference)
{
	memset(a, 0, sizeof(*a));
	CURL *curl = r->curl;
	struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json, text/html;q=0.5");
	umap_buf h = UMAP_BUF_INIT;
	if (!strcmp(method, "POST")) {
		headers = curl_slist_append(headers, "X-Requested-With: XMLHttpRequest");
		struct curl_slist *cookies = NULL, *c;
		if (curl_easy_getinfo(curl, CURLINFO_COOKIELIST, &cookies) == CURLE_OK) {
			for (c = cookies; c; c = c->next) {
				/* domain, flag, path, secure, expiry, name, value */
				const char *f = c->data;
				for (int i = 0; i < 5 && f; i++)
					f = strchr(f, '\t') ? strchr(f, '\t') + 1 : NULL;
				if (f && umap_starts_with(f, "csrftoken\t")) {
					umap_buf_clear(&h);
					umap_buf_printf(&h, "X-CSRFToken: %s", f + strlen("csrftoken\t"));
				}
			}
			curl_slist_free_all(cookies);
		}
		if (h.len)
			headers = curl_slist_append(headers, h.ptr);
		if (reference) {
			umap_buf_clear(&h);
			umap_buf_printf(&h, "X-Datalayer-Reference: %s", reference);
			headers = curl_slist_append(headers, h.ptr);
		}
		/* the Referer Django's CSRF check wants on https */
		umap_buf_clear(&h);
		umap_buf_printf(&h, "Referer: %s%s/map/%s_%ld", r->origin, r->prefix, r->slug ? r->slug : "map", r->map_id);
		headers = curl_slist_append(headers, h.ptr);
		if (mime) {
			curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
		} else {
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
		}
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	if (h.ptr)
		memset(h.ptr, 0, h.len);
	umap_buf_dispose(&h);
	if (!headers)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
	CURLcode rc = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(curl, CURLOPT_MIMEPOST, NULL);
	if (a->too_big)
		return umap_error_set(UMAP_ELIMIT, "the answer of %s is over %zu MiB", shown, UMAP_REMOTE_MAX_BODY >> 20);
	if (rc != CURLE_OK)
		return umap_error_set(UMAP_ENET, "cannot reach %s: %s", shown, curl_easy_strerror(rc));
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
	if (!a->body.ptr && umap_buf_puts(&a->body, ""))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return 0;
}

static int perform(answer *a, umap_remote *r, const char *method, const char *url, curl_mime *mime,
		   const char *reference)
{
	return perform_as(a, r, method, url, url, mime, reference);
}

static int login_error(const umap_remote *r)
{
	return umap_error_set(UMAP_EAUTH,
			      "%s answered with its login page: this map needs a signed-in session that may see or "
			      "edit it", r->origin);
}

/* The status and body of a GET that must be 200 and JSON; *out gets the JSON. */
static int get_json(json_t **out, char **version, umap_remote *r, const char *url, const char *what)
{
	answer a;
	int rc = perform(&a, r, "GET", url, NULL, NULL);
	if (rc)
		goto done;
	if (landed_on_login(r->curl)) {
		rc = login_error(r);
	} else if (a.status == 404) {
		rc = umap_error_set(UMAP_ENOTFOUND, "%s not found at %s (404)", what, url);
	} else if (a.status == 403) {
		rc = umap_error_set(UMAP_EAUTH, "%s: the server refused to show it (403 Forbidden): the map is not "
				    "public and this session may not see it", what);
	} else if (a.status != 200) {
		rc = umap_error_set(UMAP_ENET, "%s: the server answered %ld at %s", what, a.status, url);
	} else if (umap_json_loadb(out, a.body.ptr, a.body.len, url)) {
		rc = umap_error_prefix(UMAP_EINVALID, "%s is not JSON: ", what);
	} else if (version) {
		*version = a.version;
		a.version = NULL;
	}
done:
	answer_dispose(&a);
	return rc;
}

/* Expands a properties.urls template ("/fr/map/{map_id}/datalayer/update/{pk}/") into an
 * absolute URL. */
static int endpoint(umap_buf *out, const umap_remote *r, const char *name, const char *pk, const char *ref)
{
	const char *tpl = json_string_value(json_object_get(r->urls, name));
	if (!tpl)
		return umap_error_set(UMAP_EINVALID, "the map's properties.urls has no '%s': not a uMap this client knows",
				      name);
	umap_buf_clear(out);
	if (!umap_starts_with(tpl, "http://") && !umap_starts_with(tpl, "https://"))
		umap_buf_puts(out, r->origin);
	for (const char *p = tpl; *p; p++) {
		if (*p != '{') {
			umap_buf_putc(out, *p);
			continue;
		}
		const char *end = strchr(p, '}');
		if (!end)
			return umap_error_set(UMAP_EINVALID, "bad URL template '%s' in the map's properties.urls", tpl);
		size_t len = (size_t)(end - p - 1);
		if (len == 6 && !strncmp(p + 1, "map_id", 6))
			umap_buf_printf(out, "%ld", r->map_id);
		else if (len == 2 && !strncmp(p + 1, "pk", 2) && pk)
			umap_buf_puts(out, pk);
		else if (len == 3 && !strncmp(p + 1, "ref", 3) && ref)
			umap_buf_puts(out, ref);
		else if (len == 4 && !strncmp(p + 1, "slug", 4))
			umap_buf_puts(out, r->slug ? r->slug : "map");
		else
			return umap_error_set(UMAP_EINVALID, "unknown placeholder in URL template '%s'", tpl);
		p = end;
	}
	return out->ptr ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
}

/* A UUID as uMap's URL patterns take it: hex digits and dashes only, so that a name from a
 * file never changes the path. */
static int check_uuid(const char *uuid)
{
	size_t n = uuid ? strlen(uuid) : 0;
	if (n != 36)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!(isxdigit((unsigned char)uuid[i]) || (uuid[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23))))
			goto bad;
	return 0;
bad:
	return umap_error_set(UMAP_EINVALID, "invalid datalayer id '%s': uMap wants a UUID", uuid ? uuid : "");
}

int umap_remote_reload(umap_remote *r)
{
	umap_buf url = UMAP_BUF_INIT;
	umap_buf_printf(&url, "%s%s/map/%ld/geojson/", r->origin, r->prefix, r->map_id);
	json_t *map = NULL;
	umap_buf what = UMAP_BUF_INIT;
	umap_buf_printf(&what, "map %ld", r->map_id);
	int rc = url.ptr && what.ptr ? get_json(&map, NULL, r, url.ptr, what.ptr) : umap_error_set(UMAP_ENOMEM, "out of memory");
	if (rc == UMAP_ENOTFOUND)
		rc = umap_error_set(UMAP_ENOTFOUND, "no map %ld on %s (%s answered 404): check the URL", r->map_id,
				    r->origin, url.ptr);
	else if (rc == UMAP_EINVALID)
		rc = umap_error_set(UMAP_EINVALID, "%s is not a uMap server: %s is not a map's geojson", r->origin, url.ptr);
	umap_buf_dispose(&url);
	umap_buf_dispose(&what);
	if (rc)
		return rc;
	json_t *urls = json_object_get(json_object_get(map, "properties"), "urls");
	if (!json_is_object(urls) || !json_is_array(json_object_get(json_object_get(map, "properties"), "datalayers"))) {
		json_decref(map);
		return umap_error_set(UMAP_EINVALID,
				      "%s is not a uMap server: the map's geojson has no properties.urls or datalayers",
				      r->origin);
	}
	json_decref(r->map);
	r->map = map;
	r->urls = urls;
	return 0;
}

/* A session on `origin` whose cookie engine holds the options' cookie files; NULL when out
 * of memory. */
static umap_remote *session_new(const char *origin, size_t origin_len, const umap_remote_options *opts)
{
	pthread_once(&curl_once, curl_init_once);
	umap_remote *r = calloc(1, sizeof(*r));
	if (!r || !(r->curl = curl_easy_init()) || !(r->origin = strndup(origin, origin_len))) {
		umap_remote_free(r);
		return NULL;
	}
	CURL *c = r->curl;
	/* the cookie engine: reads the files once, never writes them (no COOKIEJAR) */
	curl_easy_setopt(c, CURLOPT_COOKIEFILE, opts && opts->cookie_file ? opts->cookie_file : "");
	if (opts && opts->edit_cookie_file)
		curl_easy_setopt(c, CURLOPT_COOKIEFILE, opts->edit_cookie_file);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "umapsync");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	return r;
}

/* Takes the map's place in the session and reads its geojson; frees r on failure. */
static int session_start(umap_remote **out, umap_remote *r, const umap_remote_url *url)
{
	free(r->prefix);
	free(r->slug);
	r->slug = NULL;
	if (!(r->prefix = strdup(url->prefix)) || (url->slug && !(r->slug = strdup(url->slug)))) {
		umap_remote_free(r);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	r->map_id = url->map_id;
	int rc = umap_remote_reload(r);
	if (rc) {
		umap_remote_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int umap_remote_open(umap_remote **out, const umap_remote_url *url, const umap_remote_options *opts)
{
	*out = NULL;
	umap_remote *r = session_new(url->origin, strlen(url->origin), opts);
	if (!r)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	return session_start(out, r, url);
}

/* Frees a cookie list from CURLINFO_COOKIELIST, its copies of the secrets wiped first. */
static void wipe_cookie_list(struct curl_slist *list)
{
	for (struct curl_slist *c = list; c; c = c->next)
		memset(c->data, 0, strlen(c->data));
	curl_slist_free_all(list);
}

/* The line of the session's cookie list holding the anonymous owner cookie of map_id
 * (Netscape format: domain, flag, path, secure, expiry, name, value); NULL when none. The
 * caller frees the list. */
static const char *find_edit_cookie(struct curl_slist **list, const umap_remote *r, long map_id)
{
	*list = NULL;
	char name[64];
	snprintf(name, sizeof(name), "anonymous_owner|%ld\t", map_id);
	if (curl_easy_getinfo(r->curl, CURLINFO_COOKIELIST, list) != CURLE_OK)
		return NULL;
	for (struct curl_slist *c = *list; c; c = c->next) {
		const char *f = c->data;
		for (int i = 0; i < 5 && f; i++)
			f = strchr(f, '\t') ? strchr(f, '\t') + 1 : NULL;
		if (f && umap_starts_with(f, name) && f[strlen(name)])
			return c->data;
	}
	return NULL;
}

int umap_remote_open_edit_link(umap_remote **out, umap_remote_url *map, const char *link,
			       const umap_remote_options *opts)
{
	*out = NULL;
	memset(map, 0, sizeof(*map));
	size_t sig = edit_link_signature(link);
	if (!sig)
		return umap_error_set(UMAP_EINVALID, "invalid anonymous edit link: expected "
				      "https://HOST/LANG/map/anonymous-edit/SIGNATURE");
	const char *path;
	size_t olen;
	split_origin(&path, &olen, link);
	umap_buf shown = UMAP_BUF_INIT;
	umap_remote *r = NULL;
	if (umap_buf_printf(&shown, "%.*s***", (int)sig, link) || !(r = session_new(link, olen, opts))) {
		umap_buf_dispose(&shown);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	/* the answer is read, not followed: its target must be a map on the same instance */
	curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
	answer a;
	int rc = perform_as(&a, r, "GET", link, shown.ptr, NULL, NULL);
	curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 1L);
	umap_buf_dispose(&shown);
	if (rc) {
		umap_remote_free(r);
		return rc;
	}
	char *target = NULL;
	const char *target_path = NULL;
	size_t target_olen = 0;
	struct curl_slist *cookies = NULL;
	if (a.status == 403)
		rc = umap_error_set(UMAP_EAUTH, "the anonymous edit link is not valid: %s refused its signature "
				    "(403 Forbidden)", r->origin);
	else if (a.status == 404)
		rc = umap_error_set(UMAP_ENOTFOUND, "the anonymous edit link names no map on %s (404): the map may "
				    "have been deleted", r->origin);
	else if (a.status < 300 || a.status > 308 ||
		 curl_easy_getinfo(r->curl, CURLINFO_REDIRECT_URL, &target) != CURLE_OK || !target ||
		 split_origin(&target_path, &target_olen, target))
		rc = umap_error_set(UMAP_EINVALID, "%s is not a uMap server: the anonymous edit link answered %ld, not "
				    "a redirect to its map", r->origin, a.status);
	else if (target_olen != olen || strncmp(target, r->origin, olen))
		rc = umap_error_set(UMAP_EINVALID, "the anonymous edit link redirects to another server (%.*s): refused",
				    (int)target_olen, target);
	else if (strstr(target_path, "/login"))
		rc = umap_error_set(UMAP_EAUTH, "the anonymous edit link is not valid: %s answered with its login page",
				    r->origin);
	else if (umap_remote_url_parse(map, target))
		rc = umap_error_set(UMAP_EINVALID, "the anonymous edit link does not lead to a map: %s redirects it to "
				    "%.200s", r->origin, target_path);
	else if (!find_edit_cookie(&cookies, r, map->map_id)) {
		wipe_cookie_list(cookies);
		answer_dispose(&a);
		umap_remote_free(r);
		return umap_error_set(UMAP_EAUTH, "the anonymous edit link gives no right to edit map %ld any more: "
				      "%s set no anonymous owner cookie (the map has an owner now)", map->map_id,
				      map->origin);
	}
	wipe_cookie_list(cookies);
	answer_dispose(&a);
	if (rc) {
		umap_remote_url_dispose(map);
		umap_remote_free(r);
		return rc;
	}
	rc = session_start(out, r, map);
	if (rc)
		umap_remote_url_dispose(map);
	return rc;
}

int umap_remote_edit_cookie(umap_buf *out, const umap_remote *r)
{
	struct curl_slist *list = NULL;
	const char *line = find_edit_cookie(&list, r, r->map_id);
	int rc = 0;
	if (!line)
		rc = umap_error_set(UMAP_ENOTFOUND, "the session holds no anonymous owner cookie for map %ld", r->map_id);
	else if (umap_buf_printf(out, "# Netscape HTTP Cookie File\n# the anonymous owner cookie of uMap map %ld, set by "
				      "its anonymous edit link: a secret\n%s\n", r->map_id, line))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	wipe_cookie_list(list);
	return rc;
}

void umap_remote_free(umap_remote *r)
{
	if (!r)
		return;
	if (r->curl)
		curl_easy_cleanup(r->curl);
	json_decref(r->map);
	free(r->origin);
	free(r->prefix);
	free(r->slug);
	free(r);
}

const json_t *umap_remote_map(const umap_remote *r)
{
	return r->map;
}

/* Depth of group layers a tree may have: uMap nests them by parent, a few levels deep. */
#define MAX_LAYER_DEPTH 16

static int flatten(json_t *out, const json_t *layers, const char *parent, int depth)
{
	if (depth > MAX_LAYER_DEPTH)
		return umap_error_set(UMAP_ELIMIT, "the map's layers are nested over %d deep", MAX_LAYER_DEPTH);
	size_t i;
	json_t *layer;
	json_array_foreach(layers, i, layer) {
		const char *id = json_string_value(json_object_get(layer, "id"));
		const json_t *props = json_object_get(layer, "properties");
		const char *version = json_string_value(json_object_get(layer, "referenceVersion"));
		if (!id || check_uuid(id))
			return umap_error_set(UMAP_EINVALID, "the map's datalayers have a layer without a UUID id");
		json_t *settings = json_is_object(props) ? json_deep_copy(props) : json_object();
		json_t *flat = json_pack("{s:s, s:s, s:I, s:o, s:s?, s:o}", "id", id, "name",
					 json_string_value(json_object_get(props, "name")) ?
						 json_string_value(json_object_get(props, "name")) : "",
					 "rank", json_integer_value(json_object_get(layer, "rank")), "parent",
					 parent ? json_string(parent) : json_null(), "version", version, "settings",
					 settings);
		if (!flat || json_array_append_new(out, flat))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		const json_t *children = json_object_get(layer, "layers");
		int rc;
		if (json_is_array(children) && (rc = flatten(out, children, id, depth + 1)))
			return rc;
	}
	return 0;
}

int umap_remote_layers(json_t **out, const umap_remote *r)
{
	json_t *flat = json_array();
	if (!flat)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	int rc = flatten(flat, json_object_get(json_object_get(r->map, "properties"), "datalayers"), NULL, 0);
	if (rc) {
		json_decref(flat);
		return rc;
	}
	*out = flat;
	return 0;
}

/* What uMap's views add to a map's properties (MapDetailMixin.get_map_properties,
 * MapView.get_geojson): not the map's own settings. */
static const char *const INJECTED[] = {
	"urls", "tilelayers", "editMode", "schema", "id", "starred", "stars", "licences", "umap_version",
	"featuresHaveOwner", "websocketEnabled", "importers", "defaultLabelKeys", "help_links", "ttl",
	"default_ttl", "ORSAPIKey", "ORSHost", "created_at", "modified_at", "edit_statuses",
	"datalayer_edit_statuses", "share_statuses", "shortUrl", "user", "lang", "locale", "datalayers",
	"permissions", "author", "is_template", NULL,
};

void umap_remote_strip_settings(json_t *settings)
{
	json_t *props = json_object_get(settings, "properties");
	for (size_t i = 0; INJECTED[i]; i++)
		json_object_del(props, INJECTED[i]);
}

int umap_remote_settings(json_t **out, umap_remote *r)
{
	umap_buf url = UMAP_BUF_INIT;
	json_t *umapjson = NULL;
	int rc = endpoint(&url, r, "map_download", NULL, NULL);
	if (!rc && umap_buf_puts(&url, "?include_data=0"))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!rc)
		rc = get_json(&umapjson, NULL, r, url.ptr, "the map's settings");
	umap_buf_dispose(&url);
	if (rc)
		return rc;
	if (!json_is_object(umapjson) || !json_is_object(json_object_get(umapjson, "properties"))) {
		json_decref(umapjson);
		return umap_error_set(UMAP_EINVALID, "the map's settings (download/?include_data=0) have no properties");
	}
	json_t *settings = json_pack("{s:s, s:O}", "type", "Feature", "properties", json_object_get(umapjson, "properties"));
	json_t *geometry = json_object_get(umapjson, "geometry");
	if (settings && geometry && json_object_set(settings, "geometry", geometry))
		json_decref(settings), settings = NULL;
	json_decref(umapjson);
	if (!settings)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	/* a copy of properties: the same object must not be shared with the download */
	json_t *props = json_deep_copy(json_object_get(settings, "properties"));
	if (!props || json_object_set_new(settings, "properties", props)) {
		json_decref(settings);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	umap_remote_strip_settings(settings);
	*out = settings;
	return 0;
}

int umap_remote_layer_get(json_t **geojson, char **version, umap_remote *r, const char *uuid)
{
	umap_buf url = UMAP_BUF_INIT;
	int rc = check_uuid(uuid);
	if (!rc)
		rc = endpoint(&url, r, "datalayer_view", uuid, NULL);
	if (!rc)
		rc = get_json(geojson, version, r, url.ptr, "datalayer");
	umap_buf_dispose(&url);
	if (!rc && !json_is_object(*geojson)) {
		json_decref(*geojson);
		*geojson = NULL;
		rc = umap_error_set(UMAP_EINVALID, "datalayer %s is not a FeatureCollection", uuid);
	}
	if (!rc && version && !*version) {
		json_decref(*geojson);
		*geojson = NULL;
		rc = umap_error_set(UMAP_EINVALID, "datalayer %s came without X-Datalayer-Version: not a uMap", uuid);
	}
	return rc;
}

int umap_remote_layer_get_version(json_t **geojson, umap_remote *r, const char *uuid, const char *ref)
{
	umap_buf url = UMAP_BUF_INIT;
	int rc = check_uuid(uuid);
	for (const char *p = ref; !rc && *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.'))
			rc = umap_error_set(UMAP_EINVALID, "invalid version reference '%s'", ref);
	if (!rc)
		rc = endpoint(&url, r, "datalayer_version", uuid, ref);
	if (!rc)
		rc = get_json(geojson, NULL, r, url.ptr, "datalayer version");
	umap_buf_dispose(&url);
	return rc;
}

int umap_remote_layer_versions(json_t **out, umap_remote *r, const char *uuid)
{
	umap_buf url = UMAP_BUF_INIT;
	int rc = check_uuid(uuid);
	if (!rc)
		rc = endpoint(&url, r, "datalayer_versions", uuid, NULL);
	if (!rc)
		rc = get_json(out, NULL, r, url.ptr, "datalayer versions");
	umap_buf_dispose(&url);
	if (!rc && !json_is_array(json_object_get(*out, "versions"))) {
		json_decref(*out);
		*out = NULL;
		rc = umap_error_set(UMAP_EINVALID, "the versions of datalayer %s are not a list", uuid);
	}
	return rc;
}

/* Reads the map page, whose answer sets the csrftoken cookie (ensure_csrf_cookie). */
static int fetch_csrf(umap_remote *r)
{
	umap_buf url = UMAP_BUF_INIT;
	answer a;
	int rc = endpoint(&url, r, "map", NULL, NULL);
	if (!rc)
		rc = perform(&a, r, "GET", url.ptr, NULL, NULL);
	if (!rc) {
		if (landed_on_login(r->curl))
			rc = login_error(r);
		else if (a.status != 200)
			rc = umap_error_set(UMAP_ENET, "the map page answered %ld at %s", a.status, url.ptr);
		answer_dispose(&a);
	}
	umap_buf_dispose(&url);
	if (!rc)
		r->have_csrf = 1;
	return rc;
}

/* A save's answer checked as uMap's editor does: 200 JSON, login_required, 403 (CSRF or
 * rights), 412. *stale_csrf when Django's CSRF check refused it. */
static int check_save(json_t **reply, int *stale_csrf, int *conflict, umap_remote *r, answer *a, const char *what)
{
	*reply = NULL;
	if (a->status == 412) {
		*conflict = 1;
		return 0;
	}
	if (a->status == 403 && strstr(a->body.ptr, "CSRF")) {
		*stale_csrf = 1;
		return 0;
	}
	if (a->status == 403)
		return umap_error_set(UMAP_EAUTH, "%s: the server refused (403 Forbidden): this session may not edit "
				      "this map (ask its owner for rights, or sign in as someone who has them)", what);
	if (landed_on_login(r->curl))
		return login_error(r);
	if (a->status == 404)
		return umap_error_set(UMAP_ENOTFOUND, "%s: the server answered 404 (the map or layer is gone)", what);
	if (a->status != 200)
		return umap_error_set(UMAP_ENET, "%s: the server answered %ld", what, a->status);
	json_t *root = NULL;
	if (umap_json_loadb(&root, a->body.ptr, a->body.len, what) || !json_is_object(root)) {
		json_decref(root);
		return umap_error_set(UMAP_EINVALID, "%s: the server's answer is not a JSON object", what);
	}
	if (json_object_get(root, "login_required")) {
		json_decref(root);
		return umap_error_set(UMAP_EAUTH, "%s: the server wants a login (login_required): the session cookie "
				      "is missing, wrong or expired", what);
	}
	const char *error = json_string_value(json_object_get(root, "error"));
	if (error) {
		int rc = umap_error_set(UMAP_EINVALID, "%s: the server refused it: %.200s", what, error);
		json_decref(root);
		return rc;
	}
	*reply = root;
	return 0;
}

/* A POST with the CSRF token, renewed once when the server finds it stale. build() makes
 * the multipart body anew for each try. */
static int post(json_t **reply, char **version, int *conflict, umap_remote *r, const char *url,
		curl_mime *(*build)(CURL *curl, const void *data), const void *data, const char *reference,
		const char *what)
{
	*conflict = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		int rc;
		if (!r->have_csrf && (rc = fetch_csrf(r)))
			return rc;
		curl_mime *mime = build ? build(r->curl, data) : NULL;
		if (build && !mime)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		answer a;
		rc = perform(&a, r, "POST", url, mime, reference);
		curl_mime_free(mime);
		int stale = 0;
		if (!rc)
			rc = check_save(reply, &stale, conflict, r, &a, what);
		if (!rc && version) {
			*version = a.version;
			a.version = NULL;
		}
		answer_dispose(&a);
		if (rc || !stale)
			return rc;
		r->have_csrf = 0;
	}
	return umap_error_set(UMAP_EAUTH, "%s: the server refused the CSRF token twice: the session may have "
			      "expired", what);
}

static int mime_text(curl_mime *mime, const char *name, const char *value)
{
	curl_mimepart *part = curl_mime_addpart(mime);
	return !part || curl_mime_name(part, name) != CURLE_OK || curl_mime_data(part, value, CURL_ZERO_TERMINATED) != CURLE_OK;
}

static curl_mime *build_layer(CURL *curl, const void *data)
{
	const umap_remote_save *s = data;
	curl_mime *mime = curl_mime_init(curl);
	char *geojson = umap_json_dumps(s->geojson, UMAP_JSON_COMPACT);
	char *settings = umap_json_dumps(s->settings, UMAP_JSON_COMPACT);
	char rank[32];
	snprintf(rank, sizeof(rank), "%ld", s->rank);
	curl_mimepart *part = mime ? curl_mime_addpart(mime) : NULL;
	int bad = !part || !geojson || !settings || curl_mime_name(part, "geojson") != CURLE_OK ||
		  curl_mime_filename(part, "blob") != CURLE_OK || curl_mime_type(part, "application/json") != CURLE_OK ||
		  curl_mime_data(part, geojson, CURL_ZERO_TERMINATED) != CURLE_OK ||
		  mime_text(mime, "name", s->name ? s->name : "") || mime_text(mime, "display_on_load", "true") ||
		  mime_text(mime, "rank", rank) || mime_text(mime, "settings", settings) ||
		  (s->parent && mime_text(mime, "parent", s->parent));
	free(geojson);
	free(settings);
	if (bad) {
		curl_mime_free(mime);
		return NULL;
	}
	return mime;
}

int umap_remote_layer_save(char **version, json_t **merged, int *conflict, umap_remote *r, const umap_remote_save *save)
{
	*version = NULL;
	*merged = NULL;
	umap_buf url = UMAP_BUF_INIT, what = UMAP_BUF_INIT;
	json_t *reply = NULL;
	int rc = check_uuid(save->uuid);
	if (!rc)
		rc = endpoint(&url, r, save->create ? "datalayer_create" : "datalayer_update", save->uuid, NULL);
	umap_buf_printf(&what, "saving layer '%s'", save->name ? save->name : save->uuid);
	if (!rc)
		rc = post(&reply, version, conflict, r, url.ptr, build_layer, save, save->create ? NULL : save->reference,
			  what.ptr);
	if (!rc && !*conflict && !*version)
		rc = umap_error_set(UMAP_EINVALID, "%s: the answer came without X-Datalayer-Version", what.ptr);
	if (!rc && reply && json_is_object(json_object_get(reply, "geojson")))
		*merged = json_incref(json_object_get(reply, "geojson"));
	if (rc) {
		free(*version);
		*version = NULL;
	}
	json_decref(reply);
	umap_buf_dispose(&url);
	umap_buf_dispose(&what);
	return rc;
}

int umap_remote_layer_delete(umap_remote *r, const char *uuid)
{
	umap_buf url = UMAP_BUF_INIT;
	json_t *reply = NULL;
	int conflict = 0;
	int rc = check_uuid(uuid);
	if (!rc)
		rc = endpoint(&url, r, "datalayer_delete", uuid, NULL);
	if (!rc)
		rc = post(&reply, NULL, &conflict, r, url.ptr, NULL, NULL, NULL, "deleting a layer");
	json_decref(reply);
	umap_buf_dispose(&url);
	return rc;
}

static curl_mime *build_settings(CURL *curl, const void *data)
{
	const json_t *settings = data;
	curl_mime *mime = curl_mime_init(curl);
	char *text = umap_json_dumps(settings, UMAP_JSON_COMPACT);
	const char *name = json_string_value(json_object_get(json_object_get(settings, "properties"), "name"));
	int bad = !mime || !text || mime_text(mime, "name", name ? name : "") || mime_text(mime, "settings", text);
	free(text);
	if (bad) {
		curl_mime_free(mime);
		return NULL;
	}
	return mime;
}

int umap_remote_settings_save(umap_remote *r, const json_t *settings)
{
	umap_buf url = UMAP_BUF_INIT;
	json_t *reply = NULL;
	int conflict = 0;
	int rc = endpoint(&url, r, "map_update", NULL, NULL);
	if (!rc)
		rc = post(&reply, NULL, &conflict, r, url.ptr, build_settings, settings, NULL, "saving the map's settings");
	json_decref(reply);
	umap_buf_dispose(&url);
	return rc;
}
