/* Repository merges: three trees merged file by file (files one side did not touch are
 * taken whole, by subtree ids, without being read), and the MERGE_STATE of a stopped merge
 * or rebase with the backups that make --abort exact and the edits `resolve` makes. */
#include "repo_merge.h"
#include "error.h"
#include "fs.h"
#include "json_copy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FILE "MERGE_STATE"
#define BACKUP_DIR "merge-backup"

static int oom(void)
{
	return umap_error_set(UMAP_ENOMEM, "out of memory");
}

static int has_path(char **paths, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(paths[i], path))
			return 1;
	return 0;
}

int umap_repo_read_file(umap_doc **out, umap_repo *repo, const git_oid *tree, const char *path)
{
	*out = NULL;
	umap_snapshot *snap = NULL;
	int rc = umap_repo_read_tree(&snap, repo, tree, path);
	if (!rc && snap->nfiles) {
		umap_repo_file *f = &snap->files[0];
		for (size_t l = 0; f->blobs && f->doc && l < f->doc->nlayers; l++)
			free(f->blobs[l]);
		free(f->blobs);
		f->blobs = NULL;
		*out = f->doc;
		f->doc = NULL;
	}
	umap_snapshot_free(snap);
	return rc;
}

/* One file of a tree as a document (NULL when the tree does not track it). */
static int read_file(umap_doc **out, umap_repo *repo, const git_oid *tree, const char *path,
		     int tracked)
{
	*out = NULL;
	return tracked ? umap_repo_read_file(out, repo, tree, path) : 0;
}

/* OURS from the work tree: its layers without an id are those of `tree` (HEAD) */
static int read_worktree_file(umap_doc **out, umap_repo *repo, const char *path,
			      const git_oid *tree)
{
	char *abs = NULL;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	int rc = umap_repo_abspath(&abs, repo, path);
	if (!rc)
		rc = umap_doc_open(out, abs, &opts);
	if (!rc && (rc = umap_repo_bind_file_layers(*out, repo, tree, path))) {
		umap_doc_free(*out);
		*out = NULL;
	}
	free(abs);
	return rc;
}

static int merge_file(umap_repo_merge_file *f, umap_repo *repo, const git_oid *trees[3],
		      const int tracked[3], int ours_from_worktree, const umap_merge_options *opts)
{
	int differs_theirs = 0, differs_ours = 0;
	int rc = umap_repo_file_differs(&differs_theirs, repo, trees[0], trees[2], f->path);
	if (rc)
		return rc;
	if (!differs_theirs) { /* theirs left it alone */
		f->take = UMAP_MERGE_OURS;
		f->present = tracked[1];
		return 0;
	}
	if ((rc = umap_repo_file_differs(&differs_ours, repo, trees[0], trees[1], f->path)))
		return rc;
	if (!differs_ours) { /* only theirs changed it */
		f->take = UMAP_MERGE_THEIRS;
		f->present = tracked[2];
		return read_file(&f->docs[2], repo, trees[2], f->path, tracked[2]);
	}
	for (int s = 0; s < 3 && !rc; s++) {
		if (s == 1 && ours_from_worktree && tracked[1])
			rc = read_worktree_file(&f->docs[1], repo, f->path, trees[1]);
		else
			rc = read_file(&f->docs[s], repo, trees[s], f->path, tracked[s]);
	}
	/* a tracked layer file's path is its layer: the working copy of one without a layer id
	 * (a plain FeatureCollection, a stream) is the layer the revisions record for it, as
	 * umap_repo_read_worktree binds it, not a new layer with ours' deleted */
	umap_doc *worktree = ours_from_worktree && tracked[1] ? f->docs[1] : NULL;
	for (int s = 0; !rc && s < 3 && worktree && worktree->kind == UMAP_DOC_LAYER &&
			worktree->nlayers == 1; s += 2)
		if (f->docs[s] && f->docs[s]->nlayers == 1 && f->docs[s]->layers[0].id) {
			rc = umap_repo_bind_layer_id(&worktree->layers[0], f->docs[s]->layers[0].id);
			break;
		}
	if (rc)
		return rc;
	umap_doc_kind kind = UMAP_DOC_LAYER;
	for (int s = 2; s >= 0; s--)
		if (f->docs[s])
			kind = f->docs[s]->kind;
	for (int s = 0; s < 3 && !rc; s++)
		if (!f->docs[s])
			rc = umap_doc_new(&f->docs[s], kind);
	umap_merge_options spelled = *opts;
	spelled.spell_as_ours = ours_from_worktree && tracked[1];
	if (!rc)
		rc = umap_merge(&f->result, f->docs[0], f->docs[1], f->docs[2], &spelled);
	if (rc)
		return umap_error_prefix(rc, "%s: ", f->path);
	umap_doc *merged = NULL;
	if ((rc = umap_merge_doc(&merged, f->result)))
		return rc;
	f->present = merged->nlayers > 0;
	umap_doc_free(merged);
	return 0;
}

int umap_repo_merge_trees(umap_repo_merge **out, umap_repo *repo, const git_oid *base,
			  const git_oid *ours, const git_oid *theirs, int ours_from_worktree,
			  const umap_merge_options *opts)
{
	char **paths[3] = { NULL, NULL, NULL };
	size_t npaths[3] = { 0, 0, 0 };
	const git_oid *trees[3] = { base, ours, theirs };
	umap_repo_merge *m = calloc(1, sizeof(*m));
	int rc = m ? 0 : oom();
	for (int s = 0; s < 3 && !rc; s++)
		rc = umap_repo_tracked(&paths[s], &npaths[s], repo, trees[s]);
	if (!rc && !(m->files = calloc(npaths[0] + npaths[1] + npaths[2] + 1, sizeof(*m->files))))
		rc = oom();
	/* ours' files first, in their order, then theirs' new ones, then base's */
	static const int order[3] = { 1, 2, 0 };
	for (int o = 0; o < 3 && !rc; o++) {
		int s = order[o];
		for (size_t i = 0; i < npaths[s] && !rc; i++) {
			const char *path = paths[s][i];
			int seen = 0;
			for (size_t k = 0; k < m->nfiles && !seen; k++)
				seen = !strcmp(m->files[k].path, path);
			if (seen)
				continue;
			umap_repo_merge_file *f = &m->files[m->nfiles++];
			if (!(f->path = strdup(path))) {
				rc = oom();
				break;
			}
			int tracked[3];
			for (int t = 0; t < 3; t++)
				tracked[t] = has_path(paths[t], npaths[t], path);
			rc = merge_file(f, repo, trees, tracked, ours_from_worktree, opts);
			if (!rc && f->result) {
				size_t n;
				umap_merge_conflicts(f->result, &n);
				m->nconflicts += n;
			}
		}
	}
	for (int s = 0; s < 3; s++)
		umap_paths_free(paths[s], npaths[s]);
	if (rc) {
		umap_repo_merge_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void umap_repo_merge_free(umap_repo_merge *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nfiles; i++) {
		umap_repo_merge_file *f = &m->files[i];
		umap_merge_result_free(f->result);
		for (int s = 0; s < 3; s++)
			umap_doc_free(f->docs[s]);
		free(f->path);
	}
	free(m->files);
	free(m);
}

int umap_repo_merge_snapshot(umap_snapshot **out, umap_repo_merge *m)
{
	umap_snapshot *snap = NULL;
	int rc = umap_snapshot_new(&snap);
	for (size_t i = 0; i < m->nfiles && !rc; i++) {
		umap_repo_merge_file *f = &m->files[i];
		if (!f->present)
			continue;
		umap_doc *doc = NULL;
		if (f->result) {
			rc = umap_merge_doc(&doc, f->result);
		} else if (f->take == UMAP_MERGE_THEIRS) { /* the snapshot takes theirs' document */
			doc = f->docs[2];
			f->docs[2] = NULL;
		}
		if (!rc)
			rc = umap_snapshot_add(snap, f->path, doc);
	}
	if (rc) {
		umap_snapshot_free(snap);
		return rc;
	}
	*out = snap;
	return 0;
}

static int write_abs(umap_repo *repo, const char *path, const umap_buf *text)
{
	char *abs = NULL;
	int rc = umap_repo_abspath(&abs, repo, path);
	if (rc)
		return rc;
	char *slash = strrchr(abs, '/');
	if (slash) {
		*slash = '\0';
		rc = umap_mkdir_p(abs, 0777);
		*slash = '/';
	}
	if (!rc)
		rc = umap_file_write_atomic(abs, text->ptr ? text->ptr : "", text->len);
	free(abs);
	return rc;
}

static int remove_abs(umap_repo *repo, const char *path)
{
	char *abs = NULL;
	int rc = umap_repo_abspath(&abs, repo, path);
	if (!rc && unlink(abs) < 0 && errno != ENOENT)
		rc = umap_error_set_errno(UMAP_EIO, "cannot remove '%s'", path);
	free(abs);
	return rc;
}

/* A merged file in the layout of ours (the working file's, or the one recorded for it):
 * the merge splices into ours' bytes; a revision's are compact, so then it is written
 * compact and laid out after. */
static int write_merged(umap_buf *text, const umap_repo_merge_file *f)
{
	umap_layout layout = UMAP_LAYOUT_DEFAULT;
	if (f->docs[1] && f->docs[1]->layout.known)
		layout = f->docs[1]->layout;
	if (f->docs[1] && umap_doc_bytes_in_layout(f->docs[1]))
		/* the working file: its bytes are spliced in as they are */
		return umap_merge_write(text, f->result, layout.indent ? UMAP_JSON_INDENT(layout.indent)
									: UMAP_JSON_COMPACT);
	umap_buf compact = UMAP_BUF_INIT;
	int rc = umap_merge_write(&compact, f->result, UMAP_JSON_COMPACT);
	if (!rc)
		rc = umap_json_relayout(text, compact.ptr ? compact.ptr : "", compact.len, &layout);
	umap_buf_dispose(&compact);
	return rc;
}

static int append_to_buf(void *ctx, const char *data, size_t len)
{
	return umap_buf_put(ctx, data, len) ? oom() : 0;
}

/* Their revision's copy of a file only they changed, written over the working file: the
 * features the working file holds with the same value keep its bytes (their spelling). */
static int write_theirs(umap_buf *text, umap_repo *repo, const umap_repo_merge_file *f)
{
	char *abs = NULL;
	int rc = umap_repo_abspath(&abs, repo, f->path);
	if (!rc)
		rc = umap_repo_file_text(append_to_buf, text, f->docs[2], abs);
	free(abs);
	return rc;
}

int umap_repo_merge_write_worktree(umap_repo *repo, umap_repo_merge *m)
{
	int rc = 0;
	for (size_t i = 0; i < m->nfiles && !rc; i++) {
		umap_repo_merge_file *f = &m->files[i];
		if (!f->result && f->take == UMAP_MERGE_OURS)
			continue;
		if (!f->present) {
			rc = remove_abs(repo, f->path);
			continue;
		}
		umap_buf text = UMAP_BUF_INIT;
		if (f->result)
			rc = write_merged(&text, f);
		else if (f->docs[2])
			rc = write_theirs(&text, repo, f);
		else /* umap_repo_merge_snapshot took it */
			rc = umap_error_set(UMAP_EUSAGE, "%s: write the working files before taking the snapshot", f->path);
		if (!rc)
			rc = write_abs(repo, f->path, &text);
		umap_buf_dispose(&text);
	}
	return rc;
}

int umap_repo_merge_conflicts(json_t **out, const umap_repo_merge *m)
{
	json_t *list = json_array();
	if (!list)
		return oom();
	for (size_t i = 0; i < m->nfiles; i++) {
		const umap_repo_merge_file *f = &m->files[i];
		if (!f->result)
			continue;
		json_t *report = NULL;
		if (umap_merge_conflicts_json(&report, f->result)) {
			json_decref(list);
			return UMAP_ENOMEM;
		}
		size_t k;
		json_t *c;
		json_array_foreach(json_object_get(report, "conflicts"), k, c) {
			json_t *item = json_object();
			const char *key;
			json_t *value;
			if (!item || json_object_set_new(item, "path", json_string(f->path)) ||
			    json_array_append_new(list, item)) {
				json_decref(report);
				json_decref(list);
				return oom();
			}
			json_object_foreach(c, key, value)
				if (json_object_set(item, key, value)) {
					json_decref(report);
					json_decref(list);
					return oom();
				}
		}
		json_decref(report);
	}
	*out = list;
	return 0;
}

/* ---- State ------------------------------------------------------------------------- */

static int state_path(umap_buf *out, umap_repo *repo, const char *name)
{
	return umap_buf_printf(out, "%s/%s", umap_repo_gitdir(repo), name);
}

int umap_merge_state_load(json_t **out, umap_repo *repo)
{
	umap_buf path = UMAP_BUF_INIT, text = UMAP_BUF_INIT;
	int rc = state_path(&path, repo, STATE_FILE);
	if (!rc)
		rc = umap_file_read(&text, path.ptr, 64u << 20);
	if (rc == UMAP_ENOTFOUND)
		rc = umap_error_set(UMAP_ENOTFOUND, "no merge or rebase in progress");
	if (!rc) {
		rc = umap_json_loadb(out, text.ptr, text.len, path.ptr);
		if (!rc && !json_is_object(*out)) {
			json_decref(*out);
			rc = umap_error_set(UMAP_ECORRUPT, "%s is damaged: not a JSON object", path.ptr);
		} else if (rc) {
			rc = umap_error_prefix(UMAP_ECORRUPT, "damaged merge state: ");
		}
	}
	umap_buf_dispose(&path);
	umap_buf_dispose(&text);
	return rc;
}

int umap_merge_state_save(umap_repo *repo, const json_t *state)
{
	umap_buf path = UMAP_BUF_INIT, text = UMAP_BUF_INIT;
	int rc = state_path(&path, repo, STATE_FILE);
	if (!rc)
		rc = umap_json_write(&text, state, UMAP_JSON_INDENT(2));
	if (!rc)
		rc = umap_buf_putc(&text, '\n');
	if (!rc)
		rc = umap_file_write_atomic(path.ptr, text.ptr, text.len);
	umap_buf_dispose(&path);
	umap_buf_dispose(&text);
	return rc;
}

int umap_merge_state_remove(umap_repo *repo)
{
	umap_buf path = UMAP_BUF_INIT;
	int rc = state_path(&path, repo, STATE_FILE);
	if (!rc && unlink(path.ptr) < 0 && errno != ENOENT)
		rc = umap_error_set_errno(UMAP_EIO, "cannot remove %s", path.ptr);
	umap_buf_dispose(&path);
	return rc;
}

int umap_merge_backup(json_t *state, umap_repo *repo, char **paths, size_t npaths)
{
	json_t *backups = json_object();
	umap_buf dir = UMAP_BUF_INIT;
	int rc = backups ? state_path(&dir, repo, BACKUP_DIR) : oom();
	if (!rc && umap_mkdir_p(dir.ptr, 0777))
		rc = umap_error_last_code();
	for (size_t i = 0; i < npaths && !rc; i++) {
		umap_buf content = UMAP_BUF_INIT, name = UMAP_BUF_INIT, target = UMAP_BUF_INIT;
		char *abs = NULL;
		rc = umap_repo_abspath(&abs, repo, paths[i]);
		if (!rc)
			rc = umap_file_read(&content, abs, (size_t)4 << 30);
		if (rc == UMAP_ENOTFOUND) {
			umap_error_clear();
			rc = json_object_set_new(backups, paths[i], json_null()) ? oom() : 0;
		} else if (!rc) {
			rc = umap_buf_printf(&name, "%zu", i);
			if (!rc)
				rc = umap_buf_printf(&target, "%s/%s", dir.ptr, name.ptr);
			if (!rc)
				rc = umap_file_write_atomic(target.ptr, content.ptr ? content.ptr : "", content.len);
			if (!rc && json_object_set_new(backups, paths[i], json_string(name.ptr)))
				rc = oom();
		}
		free(abs);
		umap_buf_dispose(&content);
		umap_buf_dispose(&name);
		umap_buf_dispose(&target);
	}
	if (!rc && json_object_set_new(state, "backups", backups))
		rc = oom();
	else if (rc)
		json_decref(backups);
	umap_buf_dispose(&dir);
	return rc;
}

int umap_merge_restore(umap_repo *repo, const json_t *state)
{
	const char *path;
	json_t *name;
	int rc = 0;
	json_object_foreach(json_object_get(state, "backups"), path, name) {
		if (!json_is_string(name)) {
			rc = remove_abs(repo, path);
		} else {
			umap_buf backup = UMAP_BUF_INIT, content = UMAP_BUF_INIT;
			rc = umap_buf_printf(&backup, "%s/" BACKUP_DIR "/%s", umap_repo_gitdir(repo),
					     json_string_value(name));
			if (!rc)
				rc = umap_file_read(&content, backup.ptr, (size_t)4 << 30);
			if (!rc)
				rc = write_abs(repo, path, &content);
			umap_buf_dispose(&backup);
			umap_buf_dispose(&content);
		}
		if (rc)
			return rc;
	}
	umap_merge_backup_drop(repo, state);
	return 0;
}

void umap_merge_backup_drop(umap_repo *repo, const json_t *state)
{
	const char *path;
	json_t *name;
	json_object_foreach(json_object_get(state, "backups"), path, name) {
		if (!json_is_string(name))
			continue;
		umap_buf backup = UMAP_BUF_INIT;
		if (!umap_buf_printf(&backup, "%s/" BACKUP_DIR "/%s", umap_repo_gitdir(repo),
				     json_string_value(name)))
			unlink(backup.ptr);
		umap_buf_dispose(&backup);
	}
}

int umap_repo_files_tree(git_oid *tree, umap_repo *repo, const json_t *paths,
			 const git_oid *base_tree)
{
	umap_snapshot *snap = NULL;
	int rc = umap_snapshot_new(&snap);
	size_t i;
	json_t *p;
	json_array_foreach(paths, i, p) {
		if (rc)
			break;
		umap_doc *doc = NULL;
		char *abs = NULL;
		struct stat st;
		rc = umap_repo_abspath(&abs, repo, json_string_value(p));
		if (!rc && stat(abs, &st) == 0) {
			size_t assigned = 0;
			umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
			rc = umap_doc_open(&doc, abs, &opts);
			if (!rc)
				rc = umap_repo_bind_file_layers(doc, repo, base_tree, json_string_value(p));
			if (!rc)
				rc = umap_repo_assign_ids(doc, &assigned);
			if (!rc && assigned) { /* features added while resolving: their ids go back */
				umap_doc *written = NULL;
				rc = umap_doc_save(doc, abs, UMAP_DOC_AS_READ);
				if (!rc)
					rc = umap_doc_open(&written, abs, &opts);
				if (!rc)
					rc = umap_repo_carry_layer_ids(written, doc);
				umap_doc_free(doc);
				doc = written;
			}
			if (!rc)
				rc = umap_snapshot_add(snap, json_string_value(p), doc);
			else
				umap_doc_free(doc);
		}
		free(abs);
	}
	if (!rc)
		rc = umap_repo_build_tree(tree, repo, snap, base_tree);
	umap_snapshot_free(snap);
	return rc;
}

/* ---- resolve ----------------------------------------------------------------------- */

/* What a conflict is called on the command line: the feature id as displayed, else the
 * layer id (or position), else "map". */
static char *conflict_name(const json_t *c)
{
	const json_t *id = json_object_get(c, "id"), *layer = json_object_get(c, "layer");
	const json_t *v = id && !json_is_null(id) ? id : layer && !json_is_null(layer) ? layer : NULL;
	if (!v)
		return strdup("map");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return umap_json_dumps(v, UMAP_JSON_COMPACT);
}

static int key_matches(const json_t *c, const char *key)
{
	if (!key)
		return 1;
	const char *ck = json_string_value(json_object_get(c, "key"));
	if (!ck)
		return !strcmp(key, "-");
	if (!strcmp(ck, key))
		return 1;
	const char *dot = strchr(ck, '.');
	return dot && !strcmp(dot + 1, key); /* "capacity" for "properties.capacity" */
}

static umap_layer *find_layer(umap_doc *doc, const json_t *layer)
{
	if (json_is_string(layer))
		return umap_doc_find_layer(doc, json_string_value(layer));
	if (json_is_integer(layer) && json_integer_value(layer) >= 0 &&
	    (size_t)json_integer_value(layer) < doc->nlayers)
		return &doc->layers[json_integer_value(layer)];
	return NULL;
}

/* Sets (value non-NULL) or deletes `name` in `object`. */
static int set_member(json_t *object, const char *name, const json_t *value)
{
	if (!value) {
		json_object_del(object, name);
		return 0;
	}
	json_t *copy = umap_json_copy(value, 1);
	return copy && !json_object_set_new(object, name, copy) ? 0 : oom();
}

/* Sets a conflict key ("properties.NAME", "geometry", a member, or "OPTIONSKEY.NAME") in an
 * object that holds a "properties"-like member named `props_key`. */
static int set_key(json_t *object, const char *key, const char *props_key, const json_t *value)
{
	size_t plen = strlen(props_key);
	if (!strncmp(key, props_key, plen) && key[plen] == '.') {
		json_t *props = json_object_get(object, props_key);
		if (!json_is_object(props)) {
			if (!value)
				return 0;
			if (!(props = json_object()) || json_object_set_new(object, props_key, props))
				return oom();
		}
		return set_member(props, key + plen + 1, value);
	}
	return set_member(object, key, value);
}

static int apply_resolution(umap_doc *doc, const json_t *c, const json_t *value, const char *path)
{
	const json_t *id = json_object_get(c, "id"), *layer_ref = json_object_get(c, "layer");
	const char *key = json_string_value(json_object_get(c, "key"));
	if (!layer_ref || json_is_null(layer_ref)) { /* map options */
		if (!doc->map || !key)
			return umap_error_set(UMAP_EINVALID, "%s has no map options to resolve", path);
		return set_key(doc->map, key, "properties", value);
	}
	umap_layer *layer = find_layer(doc, layer_ref);
	char *name = conflict_name(c);
	int rc = 0;
	if (!layer) {
		rc = umap_error_set(UMAP_ENOTFOUND, "%s: the layer of conflict %s is no longer there",
				    path, name ? name : "?");
	} else if (!id || json_is_null(id)) { /* layer options or the whole layer */
		if (!key) {
			if (!value)
				rc = umap_doc_remove_layer(doc, (size_t)(layer - doc->layers));
		} else {
			const char *ok = layer->options_key ? layer->options_key : "properties";
			size_t plen = strlen(ok);
			if (!strncmp(key, ok, plen) && key[plen] == '.') {
				if (!layer->options && value && !(layer->options = json_object()))
					rc = oom();
				if (!rc && layer->options)
					rc = set_member(layer->options, key + plen + 1, value);
			} else {
				if (!layer->members && !(layer->members = json_object()))
					rc = oom();
				if (!rc)
					rc = set_member(layer->members, key, value);
			}
		}
	} else {
		char *id_json = umap_json_dumps(id, UMAP_JSON_COMPACT);
		long at = id_json ? umap_layer_find(doc, layer, id_json) : -1;
		json_t *tree = NULL;
		if (!id_json) {
			rc = oom();
		} else if (!key) { /* the whole feature */
			if (!value && at >= 0) {
				rc = umap_layer_remove(doc, layer, (size_t)at);
			} else if (value && at >= 0) {
				json_t *copy = umap_json_copy(value, 1);
				umap_feature *f = &layer->features[at];
				if (!copy) {
					rc = oom();
				} else {
					json_decref(f->value);
					f->value = copy;
					f->length = 0;
					f->hash = umap_json_hash(copy);
				}
			} else if (value) {
				json_t *copy = umap_json_copy(value, 1);
				rc = copy ? umap_layer_append(doc, layer, copy) : oom();
			}
		} else if (at < 0) {
			rc = umap_error_set(UMAP_ENOTFOUND, "%s: feature %s is no longer there; settle "
					    "the whole feature with 'resolve %s --with=...' without a key",
					    path, name ? name : "?", name ? name : "?");
		} else if (!(rc = umap_doc_feature(&tree, doc, layer, (size_t)at))) {
			rc = set_key(tree, key, "properties", value);
			layer->features[at].length = 0;
			layer->features[at].hash = umap_json_hash(tree);
		}
		free(id_json);
	}
	free(name);
	return rc;
}

int umap_merge_resolve(size_t *resolved, umap_repo *repo, json_t *state, const char *id,
		       const char *key, const char *with, const char *value_text)
{
	json_t *conflicts = json_object_get(state, "conflicts");
	json_t *value_given = NULL;
	*resolved = 0;
	if (value_text && umap_json_loadb(&value_given, value_text, strlen(value_text), "--value"))
		return UMAP_EINVALID;
	int rc = 0;
	/* one file at a time: open it, apply every matching conflict, save it once */
	for (;;) {
		const char *path = NULL;
		size_t i;
		json_t *c;
		json_array_foreach(conflicts, i, c) {
			char *name = conflict_name(c);
			int match = name && !strcmp(name, id) && key_matches(c, key) &&
				    !json_is_true(json_object_get(c, "settled"));
			free(name);
			if (match) {
				path = json_string_value(json_object_get(c, "path"));
				break;
			}
		}
		if (!path)
			break;
		char *path_copy = strdup(path);
		umap_doc *doc = NULL;
		char *abs = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		rc = path_copy ? umap_repo_abspath(&abs, repo, path_copy) : oom();
		if (!rc)
			rc = umap_doc_open(&doc, abs, &opts);
		json_array_foreach(conflicts, i, c) {
			if (rc)
				break;
			char *name = conflict_name(c);
			int match = name && !strcmp(name, id) && key_matches(c, key) &&
				    !strcmp(json_string_value(json_object_get(c, "path")), path_copy) &&
				    !json_is_true(json_object_get(c, "settled"));
			free(name);
			if (!match)
				continue;
			const json_t *value = value_given;
			if (!value_text) {
				value = !strcmp(with, "delete") ? NULL : json_object_get(c, with);
				if (value && json_is_null(value))
					value = NULL; /* that side has none: it was deleted there */
			}
			if (!(rc = apply_resolution(doc, c, value, path_copy))) {
				json_object_set_new(c, "settled", json_true());
				(*resolved)++;
			}
		}
		if (!rc)
			rc = umap_doc_save(doc, abs, UMAP_DOC_AS_READ);
		umap_doc_free(doc);
		free(abs);
		free(path_copy);
		if (rc)
			break;
	}
	/* settled conflicts leave the list */
	for (size_t i = json_array_size(conflicts); i-- > 0;)
		if (json_is_true(json_object_get(json_array_get(conflicts, i), "settled")))
			json_array_remove(conflicts, i);
	json_decref(value_given);
	if (!rc && !*resolved)
		rc = umap_error_set(UMAP_ENOTFOUND, "no unresolved conflict for %s%s%s", id,
				    key ? " " : "", key ? key : "");
	return rc;
}
