/* umapsync blame: for each feature of a tracked file (or each property of one feature),
 * the commit, author and date that last set it. Walks first parents: a whole file costs
 * the tree diffs of its history (equal subtrees skipped); one feature costs one sharded
 * blob lookup per commit, and a parse only where its blob changed. */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "json.h"
#include "json_arena.h"
#include "strmap.h"

/* The commits that own something, kept once each. */
struct owner {
	git_oid id;
	char *name, *email, *summary;
	git_time when;
};

struct owners {
	struct owner *items;
	size_t n, alloc;
};

static size_t owner_add(struct owners *o, const git_commit *c)
{
	if (o->n && git_oid_equal(&o->items[o->n - 1].id, git_commit_id(c)))
		return o->n - 1;
	if (o->n == o->alloc) {
		size_t alloc = o->alloc ? o->alloc * 2 : 16;
		struct owner *grown = realloc(o->items, alloc * sizeof(*grown));
		if (!grown)
			die("out of memory");
		o->items = grown;
		o->alloc = alloc;
	}
	const git_signature *a = git_commit_author(c);
	struct owner *w = &o->items[o->n];
	git_oid_cpy(&w->id, git_commit_id(c));
	w->name = strdup(a->name);
	w->email = strdup(a->email);
	w->summary = strdup(subject_of(git_commit_message(c)));
	w->when = a->when;
	if (!w->name || !w->email || !w->summary)
		die("out of memory");
	return o->n++;
}

static void owners_free(struct owners *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->items[i].name);
		free(o->items[i].email);
		free(o->items[i].summary);
	}
	free(o->items);
}

static void iso_date(char *out, size_t size, const git_time *when)
{
	time_t t = (time_t)when->time;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void day(char *out, size_t size, const git_time *when)
{
	time_t t = (time_t)when->time + (time_t)when->offset * 60;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%d", &tm);
}

static json_t *owner_json(const struct owner *w)
{
	char hex[GIT_OID_HEXSZ + 1], date[32];
	git_oid_tostr(hex, sizeof(hex), &w->id);
	iso_date(date, sizeof(date), &w->when);
	json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s}", "commit", hex, "author", "name",
			      w->name, "email", w->email, "date", date, "summary", w->summary);
	if (!o)
		die("out of memory");
	return o;
}

/* "zP5kR" for "\"zP5kR\"", the JSON text itself for other ids. */
static char *display_id(const char *id_json)
{
	json_t *v = json_loads(id_json, JSON_DECODE_ANY, NULL);
	char *out = json_is_string(v) ? strdup(json_string_value(v)) : strdup(id_json);
	json_decref(v);
	if (!out)
		die("out of memory");
	return out;
}

static void write_value(umap_buf *out, const json_t *v)
{
	if (!v) {
		umap_buf_puts(out, "(none)");
		return;
	}
	if (umap_json_write(out, v, UMAP_JSON_COMPACT))
		die_lib("cannot format the blame");
}

/* The walk shared by both forms: first parents from `start`; for each commit, `step` is
 * told the commit, its tree and its parent's (NULL at the root) and says whether anything
 * is left to find. */
typedef int (*blame_step)(void *data, umap_repo *repo, const git_commit *c, const git_oid *tree,
			  const git_oid *parent_tree);

static void walk_first_parents(umap_repo *repo, const git_oid *start, blame_step step, void *data)
{
	git_oid id;
	git_oid_cpy(&id, start);
	for (;;) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, umap_repo_git(repo), &id) < 0)
			die("cannot read commit %s: %s", short_id(&id), git_error_last()->message);
		git_oid tree, parent_tree;
		git_oid_cpy(&tree, git_commit_tree_id(c));
		int has_parent = git_commit_parentcount(c) > 0;
		if (has_parent && umap_repo_commit_tree(&parent_tree, repo, git_commit_parent_id(c, 0)))
			die_lib(NULL);
		int more = step(data, repo, c, &tree, has_parent ? &parent_tree : NULL);
		if (has_parent)
			git_oid_cpy(&id, git_commit_parent_id(c, 0));
		git_commit_free(c);
		if (!more || !has_parent)
			return;
	}
}

/* ---- A whole file: one line per feature ---------------------------------------------- */

struct file_blame {
	umap_strmap index; /* "layer\nid" -> entry */
	char **keys;
	size_t *owner;     /* per entry: index in owners, or SIZE_MAX while unknown */
	size_t n, left;
	struct owners owners;
};

static int file_step(void *data, umap_repo *repo, const git_commit *c, const git_oid *tree,
		     const git_oid *parent_tree)
{
	struct file_blame *b = data;
	if (!parent_tree) {
		/* the root commit added every feature still without one: no diff needed */
		size_t w = owner_add(&b->owners, c);
		for (size_t e = 0; e < b->n; e++)
			if (b->owner[e] == SIZE_MAX)
				b->owner[e] = w;
		b->left = 0;
		return 0;
	}
	umap_tree_diff *d = NULL;
	if (umap_repo_diff(&d, repo, parent_tree, tree))
		die_lib(NULL);
	umap_buf key = UMAP_BUF_INIT;
	for (size_t i = 0; i < d->nfeatures && b->left; i++) {
		const umap_repo_change *ch = &d->features[i];
		size_t e;
		umap_buf_clear(&key);
		if (ch->kind == UMAP_CHANGE_REMOVED || umap_buf_printf(&key, "%s\n%s", ch->layer, ch->id) ||
		    !umap_strmap_get(&b->index, key.ptr, &e) || b->owner[e] != SIZE_MAX)
			continue;
		b->owner[e] = owner_add(&b->owners, c);
		b->left--;
	}
	umap_buf_dispose(&key);
	umap_tree_diff_free(d);
	return b->left > 0;
}

static void blame_file(umap_buf *out, umap_repo *repo, const git_oid *start, const git_oid *tree,
		       const char *rel, int json)
{
	umap_snapshot *snap = NULL;
	if (umap_repo_read_tree(&snap, repo, tree, rel))
		die_lib(NULL);
	umap_doc *doc = snap->files[0].doc;
	struct file_blame b = { UMAP_STRMAP_INIT, NULL, NULL, 0, 0, { NULL, 0, 0 } };
	size_t total = 0;
	for (size_t l = 0; l < doc->nlayers; l++)
		total += doc->layers[l].nfeatures;
	b.keys = calloc(total + 1, sizeof(*b.keys));
	b.owner = calloc(total + 1, sizeof(*b.owner));
	if (!b.keys || !b.owner)
		die("out of memory");
	for (size_t l = 0; l < doc->nlayers; l++)
		for (size_t f = 0; f < doc->layers[l].nfeatures; f++) {
			umap_buf key = UMAP_BUF_INIT;
			const char *id = doc->layers[l].features[f].id;
			if (umap_buf_printf(&key, "%s\n%s", doc->layers[l].id ? doc->layers[l].id : "",
					    id ? id : "null"))
				die("out of memory");
			b.keys[b.n] = umap_buf_detach(&key);
			b.owner[b.n] = SIZE_MAX;
			if (umap_strmap_put(&b.index, b.keys[b.n], b.n, NULL))
				die("out of memory");
			b.n++;
		}
	b.left = b.n;
	if (b.left)
		walk_first_parents(repo, start, file_step, &b);
	json_t *list = json ? json_array() : NULL;
	size_t e = 0;
	for (size_t l = 0; l < doc->nlayers; l++)
		for (size_t f = 0; f < doc->layers[l].nfeatures; f++, e++) {
			umap_layer *layer = &doc->layers[l];
			json_t *feature = NULL;
			if (umap_doc_feature(&feature, doc, layer, f))
				die_lib("%s", rel);
			const json_t *name = json_object_get(json_object_get(feature, "properties"), "name");
			char *id = display_id(layer->features[f].id ? layer->features[f].id : "null");
			const struct owner *w = b.owner[e] == SIZE_MAX ? NULL : &b.owners.items[b.owner[e]];
			if (json) {
				json_t *o = w ? owner_json(w) : json_object();
				if (!o || json_object_set_new(o, "layer", json_string(layer->id ? layer->id : "")) ||
				    json_object_set_new(o, "id", json_loads(layer->features[f].id ? layer->features[f].id : "null", JSON_DECODE_ANY, NULL)) ||
				    (json_is_string(name) && json_object_set(o, "name", (json_t *)name)) ||
				    json_array_append_new(list, o))
					die("out of memory");
			} else {
				char date[16] = "";
				if (w)
					day(date, sizeof(date), &w->when);
				umap_buf_printf(out, "%s (%s %s) %s", w ? short_id(&w->id) : "0000000",
						w ? w->name : "?", date, id);
				if (json_is_string(name))
					umap_buf_printf(out, " \"%s\"", json_string_value(name));
				umap_buf_putc(out, '\n');
			}
			free(id);
		}
	if (json && (umap_json_write(out, list, UMAP_JSON_INDENT(2)) || umap_buf_putc(out, '\n')))
		die_lib("cannot format the blame");
	json_decref(list);
	for (size_t i = 0; i < b.n; i++)
		free(b.keys[i]);
	free(b.keys);
	free(b.owner);
	umap_strmap_dispose(&b.index);
	owners_free(&b.owners);
	umap_snapshot_free(snap);
}

/* ---- One feature: one line per property (and the geometry) ---------------------------- */

struct feature_blame {
	const char *layer, *id_json;
	git_oid blob;      /* the feature's blob in the commit being looked at */
	json_t *value;     /* the feature at the start */
	size_t nkeys, left;
	char **keys;       /* "properties.NAME" or "geometry" */
	size_t *owner;
	struct owners owners;
};

static const json_t *key_value(const json_t *feature, const char *key)
{
	if (!strncmp(key, "properties.", 11))
		return json_object_get(json_object_get(feature, "properties"), key + 11);
	return json_object_get(feature, key);
}

static int feature_step(void *data, umap_repo *repo, const git_commit *c, const git_oid *tree,
			const git_oid *parent_tree)
{
	(void)tree;
	struct feature_blame *b = data;
	git_oid before;
	int rc = parent_tree ? umap_repo_feature_blob(&before, NULL, repo, parent_tree, b->layer, b->id_json)
			     : UMAP_ENOTFOUND;
	if (rc && rc != UMAP_ENOTFOUND)
		die_lib(NULL);
	umap_error_clear();
	if (!rc && git_oid_equal(&before, &b->blob))
		return 1; /* unchanged here: no parse */
	json_t *old = NULL;
	if (!rc && umap_repo_read_json(&old, repo, &before, "a feature"))
		die_lib(NULL);
	for (size_t k = 0; k < b->nkeys; k++) {
		if (b->owner[k] != SIZE_MAX)
			continue;
		const json_t *now = key_value(b->value, b->keys[k]);
		const json_t *then = old ? key_value(old, b->keys[k]) : NULL;
		if (then && json_equal((json_t *)now, (json_t *)then))
			continue;
		b->owner[k] = owner_add(&b->owners, c);
		b->left--;
	}
	json_decref(old);
	if (!rc)
		git_oid_cpy(&b->blob, &before);
	return b->left > 0 && !rc;
}

static void blame_feature(umap_buf *out, umap_repo *repo, const git_oid *start, const git_oid *tree,
			  const char *rel, const char *feature, int json)
{
	struct feature_blame b = { 0 };
	char *id_json = feature_id_json(repo, tree, feature), *layer = NULL, *path = NULL;
	b.id_json = id_json;
	int rc = umap_repo_feature_blob(&b.blob, &layer, repo, tree, NULL, id_json);
	if (rc == UMAP_ENOTFOUND || (!rc && (umap_repo_layer_path(&path, repo, tree, layer) || !path ||
					     strcmp(path, rel))))
		die("feature '%s' is not in %s", feature, rel);
	if (rc)
		die_lib(NULL);
	b.layer = layer;
	if (umap_repo_read_json(&b.value, repo, &b.blob, "a feature"))
		die_lib(NULL);
	const json_t *props = json_object_get(b.value, "properties");
	size_t nprops = json_is_object(props) ? json_object_size(props) : 0;
	b.keys = calloc(nprops + 1, sizeof(*b.keys));
	b.owner = calloc(nprops + 1, sizeof(*b.owner));
	if (!b.keys || !b.owner)
		die("out of memory");
	const char *k;
	json_t *v;
	if (nprops)
		json_object_foreach((json_t *)props, k, v) {
			umap_buf key = UMAP_BUF_INIT;
			if (umap_buf_printf(&key, "properties.%s", k))
				die("out of memory");
			b.keys[b.nkeys++] = umap_buf_detach(&key);
		}
	if (!(b.keys[b.nkeys++] = strdup("geometry")))
		die("out of memory");
	for (size_t i = 0; i < b.nkeys; i++)
		b.owner[i] = SIZE_MAX;
	b.left = b.nkeys;
	walk_first_parents(repo, start, feature_step, &b);
	json_t *list = json ? json_array() : NULL;
	for (size_t i = 0; i < b.nkeys; i++) {
		const struct owner *w = b.owner[i] == SIZE_MAX ? NULL : &b.owners.items[b.owner[i]];
		const char *shown = !strncmp(b.keys[i], "properties.", 11) ? b.keys[i] + 11 : b.keys[i];
		const json_t *value = key_value(b.value, b.keys[i]);
		if (json) {
			json_t *o = w ? owner_json(w) : json_object();
			if (!o || json_object_set_new(o, "key", json_string(b.keys[i])) ||
			    json_object_set(o, "value", value ? (json_t *)value : json_null()) ||
			    json_array_append_new(list, o))
				die("out of memory");
			continue;
		}
		char date[16] = "";
		if (w)
			day(date, sizeof(date), &w->when);
		umap_buf_printf(out, "%s (%s %s) %s: ", w ? short_id(&w->id) : "0000000", w ? w->name : "?",
				date, shown);
		if (!strcmp(b.keys[i], "geometry") && json_is_object(value))
			umap_buf_printf(out, "%s", json_string_value(json_object_get(value, "type")) ?
						       json_string_value(json_object_get(value, "type")) : "?");
		else
			write_value(out, value);
		umap_buf_putc(out, '\n');
	}
	if (json && (umap_json_write(out, list, UMAP_JSON_INDENT(2)) || umap_buf_putc(out, '\n')))
		die_lib("cannot format the blame");
	json_decref(list);
	for (size_t i = 0; i < b.nkeys; i++)
		free(b.keys[i]);
	free(b.keys);
	free(b.owner);
	owners_free(&b.owners);
	json_decref(b.value);
	free(id_json);
	free(layer);
	free(path);
}

int cmd_blame(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync blame [--feature ID] [--format=text|json] [REV] PATH",
		NULL,
	};
	const char *feature = NULL, *format = "text";
	const struct option options[] = {
		OPT_STRING(0, "feature", &feature, "ID", "one line per property of the feature ID"),
		OPT_CHOICE(0, "format", &format, "FORMAT", "text (one line each) or json", "text|json"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc < 1 || argc > 2)
		usage_with_options_msg(usage, options, "blame needs the tracked file (after a revision)");
	umap_repo *repo = open_repo();
	git_oid start, tree;
	if (argc == 1 && umap_repo_head(&start, repo))
		die("there is no commit yet");
	if (argc == 2 && umap_repo_resolve(&start, repo, argv[0]))
		die_lib(NULL);
	if (umap_repo_commit_tree(&tree, repo, &start))
		die_lib(NULL);
	const char *path = argv[argc - 1];
	size_t n = 0;
	char **rel = user_paths(&n, repo, &tree, 1, &path, 1);
	setup_pager();
	umap_buf out = UMAP_BUF_INIT;
	/* a whole file's features are parsed for their names, and all freed at the end */
	if (umap_json_arena_begin())
		die_lib(NULL);
	if (feature)
		blame_feature(&out, repo, &start, &tree, rel[0], feature, !strcmp(format, "json"));
	else
		blame_file(&out, repo, &start, &tree, rel[0], !strcmp(format, "json"));
	fwrite(out.ptr, 1, out.len, stdout);
	umap_buf_dispose(&out);
	umap_paths_free(rel, n);
	umap_repo_free(repo);
	umap_json_arena_end();
	check_stdout();
	return 0;
}
