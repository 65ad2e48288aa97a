/* umapsync token: create, list and revoke the access tokens of a sync server's data dir.
 * A token is printed once at creation; the server keeps only its SHA-256. */
#include "builtin.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sync_store.h"

static const char *const token_usage[] = {
	"umapsync token create (--data DIR | --store URL) --map MAP [--layer ID]... --read|--write",
	"umapsync token list (--data DIR | --store URL) [--format=text|json]",
	"umapsync token revoke (--data DIR | --store URL) ID",
	NULL,
};

static umap_sync_store *open_store(const char *data, const char *url, const char *const *usage,
				   const struct option *opts)
{
	if (data && url)
		usage_with_options_msg(usage, opts, "give one of --data DIR and --store URL");
	if (!data && !url)
		usage_with_options_msg(usage, opts,
				       "--data DIR is required (the server's data directory), or --store URL (its PostgreSQL database)");
	if (url && !umap_sync_store_url_ok(url))
		usage_with_options_msg(usage, opts, "--store wants a postgresql:// URL, not '%s'", url);
	umap_sync_store *store;
	if (umap_sync_store_open(&store, data ? data : url, NULL))
		die_lib("opening '%s'", data ? data : "the database");
	return store;
}

static int token_create(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync token create (--data DIR | --store URL) --map MAP [--layer ID]... --read|--write", NULL };
	const char *data = NULL, *url = NULL, *map = NULL;
	int read = 0, write = 0;
	struct string_list layers = STRING_LIST_INIT;
	const struct option options[] = {
		OPT_STRING('d', "data", &data, "DIR", "the server's data directory"),
		OPT_STRING(0, "store", &url, "URL", "the server's PostgreSQL database (postgresql://...)"),
		OPT_STRING('m', "map", &map, "MAP", "the map the token gives access to"),
		OPT_STRING_LIST(0, "layer", &layers, "ID", "only this layer (repeatable); default: every layer"),
		OPT_BOOL(0, "read", &read, "read access: snapshot and pull"),
		OPT_BOOL(0, "write", &write, "read and write access: also push"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc)
		usage_with_options_msg(usage, options, "unexpected argument '%s'", argv[0]);
	if (!map)
		usage_with_options_msg(usage, options, "--map MAP is required");
	if (read == write)
		usage_with_options_msg(usage, options, "give exactly one of --read and --write");
	umap_sync_store *store = open_store(data, url, usage, options);
	char *token, id[17];
	if (umap_sync_token_create(&token, id, store, map, layers.items, (size_t)layers.nr, write)) {
		umap_sync_store_close(store);
		die_lib("creating a token");
	}
	umap_sync_store_close(store);
	printf("%s\n", token);
	memset(token, 0, strlen(token));
	free(token);
	fprintf(stderr, "created token %s: %s access to map '%s', ", id, write ? "write" : "read", map);
	if (!layers.nr)
		fputs("every layer", stderr);
	for (int i = 0; i < layers.nr; i++)
		fprintf(stderr, "%s%s", i ? ", " : "layers ", layers.items[i]);
	fputs(" (shown only this once: keep it now)\n", stderr);
	string_list_clear(&layers);
	return 0;
}

static int token_list(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync token list (--data DIR | --store URL) [--format=text|json]", NULL };
	const char *data = NULL, *url = NULL, *format = "text";
	const struct option options[] = {
		OPT_STRING('d', "data", &data, "DIR", "the server's data directory"),
		OPT_STRING(0, "store", &url, "URL", "the server's PostgreSQL database (postgresql://...)"),
		OPT_CHOICE(0, "format", &format, "FORMAT", "output format", "text|json"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc)
		usage_with_options_msg(usage, options, "unexpected argument '%s'", argv[0]);
	umap_sync_store *store = open_store(data, url, usage, options);
	json_t *list;
	if (umap_sync_token_list(&list, store)) {
		umap_sync_store_close(store);
		die_lib("listing tokens");
	}
	umap_sync_store_close(store);
	if (!strcmp(format, "json")) {
		char *text = json_dumps(list, JSON_INDENT(2));
		if (text)
			printf("%s\n", text);
		free(text);
	} else {
		size_t i;
		json_t *t;
		json_array_foreach(list, i, t) {
			json_t *layers = json_object_get(t, "layers");
			printf("%s\t%s\t%s\t", json_string_value(json_object_get(t, "id")),
			       json_string_value(json_object_get(t, "map")),
			       json_string_value(json_object_get(t, "access")));
			if (json_is_array(layers)) {
				size_t j;
				json_t *l;
				json_array_foreach(layers, j, l)
					printf("%s%s", j ? "," : "", json_string_value(l));
			} else {
				fputs("*", stdout);
			}
			printf("\t%s", json_string_value(json_object_get(t, "created")));
			const char *revoked = json_string_value(json_object_get(t, "revoked"));
			printf(revoked ? "\trevoked %s\n" : "\n", revoked);
		}
	}
	json_decref(list);
	return 0;
}

static int token_revoke(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync token revoke (--data DIR | --store URL) ID", NULL };
	const char *data = NULL, *url = NULL;
	const struct option options[] = {
		OPT_STRING('d', "data", &data, "DIR", "the server's data directory"),
		OPT_STRING(0, "store", &url, "URL", "the server's PostgreSQL database (postgresql://...)"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc != 1)
		usage_with_options_msg(usage, options, "give the id of one token (see 'umapsync token list')");
	umap_sync_store *store = open_store(data, url, usage, options);
	int err = umap_sync_token_revoke(store, argv[0]);
	umap_sync_store_close(store);
	if (err)
		die_lib(NULL);
	fprintf(stderr, "revoked token %s\n", argv[0]);
	return 0;
}

int cmd_token(int argc, const char **argv)
{
	const struct option none[] = { OPT_END() };
	/* Before a subcommand, only the common options: -h, and --list-options (which
	 * completions ask of every command) answer; anything else is refused here. */
	if (argc >= 2 && argv[1][0] == '-')
		parse_options(2, argv, none, token_usage);
	if (argc < 2 || argv[1][0] == '-')
		usage_with_options_msg(token_usage, none, "expected a subcommand: create, list or revoke");
	if (!strcmp(argv[1], "create"))
		return token_create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return token_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "revoke"))
		return token_revoke(argc - 1, argv + 1);
	usage_with_options_msg(token_usage, none, "unknown subcommand '%s': use create, list or revoke", argv[1]);
}
