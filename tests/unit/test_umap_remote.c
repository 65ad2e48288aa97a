/* Unit tests for uMap remotes' pieces that need no server: map URLs in their forms and the
 * settings without what uMap's views inject. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "umap_remote.h"

TEST(url_forms)
{
	umap_remote_url u;
	CHECK_INT(umap_remote_url_parse(&u, "https://umap.openstreetmap.fr/fr/map/velo-lyon_42"), 0);
	CHECK_STR(u.origin, "https://umap.openstreetmap.fr");
	CHECK_STR(u.prefix, "/fr");
	CHECK_STR(u.slug, "velo-lyon");
	CHECK_INT(u.map_id, 42);
	umap_remote_url_dispose(&u);

	/* the geojson form, a script name, a port, a query and a fragment */
	CHECK_INT(umap_remote_url_parse(&u, "http://127.0.0.1:8000/umap/en/map/7/geojson/?x=1#y"), 0);
	CHECK_STR(u.origin, "http://127.0.0.1:8000");
	CHECK_STR(u.prefix, "/umap/en");
	CHECK(u.slug == NULL);
	CHECK_INT(u.map_id, 7);
	umap_remote_url_dispose(&u);

	/* a slug with underscores: the id is after the last one; no language prefix */
	CHECK_INT(umap_remote_url_parse(&u, "https://example.org/map/my_big_map_1234/"), 0);
	CHECK_STR(u.prefix, "");
	CHECK_STR(u.slug, "my_big_map");
	CHECK_INT(u.map_id, 1234);
	umap_remote_url_dispose(&u);
}

TEST(url_refused)
{
	static const char *const bad[] = {
		"http://127.0.0.1:8642/lyon",         /* a sync server's map */
		"https://example.org/fr/map/",        /* no id */
		"https://example.org/fr/map/slug_",   /* no id */
		"https://example.org/fr/map/slug_4x", /* not a number */
		"https://example.org/fr/map/a/b_4",   /* not right after /map/ */
		"https://example.org/fr/map/s%2F_4",  /* a slug uMap would not make */
		"ftp://example.org/fr/map/s_4",
		"https:///fr/map/s_4",
		"https://example.org/fr/map/s_1234567890123",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		umap_remote_url u;
		CHECK(!umap_remote_url_is_umap(bad[i]));
		CHECK_INT(umap_remote_url_parse(&u, bad[i]), UMAP_EINVALID);
		CHECK(u.origin == NULL && u.prefix == NULL && u.slug == NULL);
	}
	CHECK(umap_remote_url_is_umap("https://example.org/de/map/karte_9"));
	CHECK(!umap_remote_url_is_umap(NULL));
}

TEST(edit_links)
{
	static const char *const good[] = {
		"https://umap.openstreetmap.fr/fr/map/anonymous-edit/42:PTbJtyJqH9S7CgPcheA0h1N0cy12-JUS0FTK813PL94",
		"http://127.0.0.1:8000/umap/en/map/anonymous-edit/7:abc_-DEF",
		"https://example.org/map/anonymous-edit/7%3Aabc", /* the ':' encoded by a mail client */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(umap_remote_url_is_edit_link(good[i]));
		CHECK(!umap_remote_url_is_umap(good[i]));
	}
	static const char *const bad[] = {
		"https://example.org/fr/map/anonymous-edit/",       /* no signature */
		"https://example.org/fr/map/anonymous-edit/42:a/b", /* a path after it */
		"https://example.org/fr/map/anonymous-edit/42:a?x", /* a query */
		"https://example.org/fr/map/anonymous-edit/42 a",
		"https://example.org/fr/map/velo_42",
		"ftp://example.org/fr/map/anonymous-edit/42:a",
		"https:///map/anonymous-edit/42:a",
		"",
		NULL,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!umap_remote_url_is_edit_link(bad[i]));
	/* bounded: a link of 3000 bytes is not one */
	char *huge = malloc(3100);
	CHECK(huge != NULL);
	strcpy(huge, "https://example.org/fr/map/anonymous-edit/42:");
	memset(huge + strlen(huge), 'a', 3000);
	huge[3000] = '\0';
	CHECK(!umap_remote_url_is_edit_link(huge));
	free(huge);

	/* refused before any request, without the link in the message */
	umap_remote *r = (umap_remote *)1;
	umap_remote_url map;
	CHECK_INT(umap_remote_open_edit_link(&r, &map, "https://example.org/fr/map/velo_42", NULL), UMAP_EINVALID);
	CHECK(r == NULL);
	CHECK(map.origin == NULL);
}

TEST(settings_stripped)
{
	json_error_t jerr;
	json_t *s = json_loads("{\"type\":\"Feature\",\"properties\":{\"name\":\"M\",\"zoom\":3,\"urls\":{},"
			       "\"tilelayers\":[],\"user\":{\"id\":1},\"schema\":{},\"datalayers\":[],\"permissions\":{},"
			       "\"umap_version\":\"3\",\"editMode\":\"advanced\",\"locale\":\"fr\"}}",
			       0, &jerr);
	CHECK(s != NULL);
	umap_remote_strip_settings(s);
	char *text = umap_json_dumps(s, UMAP_JSON_COMPACT);
	CHECK_STR(text, "{\"type\":\"Feature\",\"properties\":{\"name\":\"M\",\"zoom\":3}}");
	free(text);
	json_decref(s);
}

int main(void)
{
	RUN(url_forms);
	RUN(url_refused);
	RUN(edit_links);
	RUN(settings_stripped);
	return UNIT_DONE();
}
