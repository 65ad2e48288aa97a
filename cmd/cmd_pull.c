/* umapsync pull: fetch the ops others pushed, apply them to the last synced state (a commit
 * that REMOTE/main points to), then bring the branch there: fast-forward, replay local
 * commits on it (--strategy=rebase, SPEC §6 conflicts), or settle same-key races by HLC
 * (--strategy=lww, as uMap's peers do). */
#include "builtin.h"
#include "config-cmd.h"
#include "progress.h"
#include "repo-cmd.h"
#include "merge-report.h"
#include "sync-cmd.h"
#include "umap-remote-cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "geojsonseq.h"
#include "hlc.h"
#include "json.h"
#include "ops.h"
#include "umap_remote.h"

/* The tracked files of a tree as JSON trees. The features are written as stored (their
 * layout does not matter: the text is parsed at once), not each parsed and rewritten. */
/* A layer file holds no layer id (its identity is its path, SPEC §2; a stream cannot hold
 * one), but ops name layers by id: its root gets the id the tree binds to the path, and
 * `bound` notes the path (true when the file had a "properties" member) for
 * tree_from_files, which writes the file without it again. */
static void files_from_tree(umap_sync_files *files, umap_repo *repo, const git_oid *tree, json_t *bound)
{
	umap_snapshot *snap = NULL;
	if (umap_repo_read_tree(&snap, repo, tree, NULL))
		die_lib(NULL);
	for (size_t i = 0; i < snap->nfiles; i++) {
		umap_doc *doc = snap->files[i].doc;
		umap_buf text = UMAP_BUF_INIT;
		json_t *root = NULL;
		if (umap_repo_write_layer_ids(doc) ||
		    umap_doc_write(&text, doc, UMAP_JSON_COMPACT | UMAP_DOC_KEEP_BYTES) ||
		    umap_json_loadb(&root, text.ptr, text.len, snap->files[i].path))
			die_lib(NULL);
		json_t *props = json_object_get(root, "properties");
		if (doc->kind == UMAP_DOC_LAYER && doc->nlayers == 1 && doc->layers[0].id &&
		    json_is_object(root) && !json_object_get(props, "id")) {
			int had = json_is_object(props);
			if (!had && json_object_set_new(root, "properties", props = json_object()))
				die("out of memory");
			if (json_object_set_new(props, "id", json_string(doc->layers[0].id)) ||
			    json_object_set_new(bound, snap->files[i].path, json_boolean(had)))
				die("out of memory");
		}
		if (umap_sync_files_add(files, snap->files[i].path, root))
			die_lib(NULL);
		umap_buf_dispose(&text);
	}
	umap_snapshot_free(snap);
}

/* The text of `root` as its file holds it: without the layer id files_from_tree bound to
 * it (the root itself is left as it is: ops may still be applied to it). */
static char *file_text(json_t *root, const char *path, const json_t *bound)
{
	umap_layout layout = UMAP_LAYOUT_DEFAULT;
	/* a stream stays one (.geojsonl, .geojsons...), read back as its file will be */
	layout.seq = (int)umap_seq_kind_of_name(path);
	json_t *had = json_object_get(bound, path);
	json_t *props = json_object_get(root, "properties");
	json_t *id = had ? json_incref(json_object_get(props, "id")) : NULL;
	if (!id)
		return umap_json_dumps_as(root, &layout);
	json_object_del(props, "id");
	int drop = !json_is_true(had) && !json_object_size(props);
	if (drop)
		json_incref(props), json_object_del(root, "properties");
	char *text = umap_json_dumps_as(root, &layout);
	if ((drop && json_object_set_new(root, "properties", props)) || json_object_set_new(props, "id", id))
		die("out of memory");
	return text;
}

/* Whether `have` (a tree's files) are `files`: the same paths, and the same JSON (so the
 * same features in the same order), whatever the layout of the text. */
static int same_files(const umap_sync_files *have, const umap_sync_files *files)
{
	size_t nfiles = 0;
	for (size_t i = 0; i < files->n; i++)
		nfiles += files->roots[i] != NULL;
	int same = have->n == nfiles;
	for (size_t i = 0; same && i < have->n; i++) {
		same = 0;
		for (size_t k = 0; k < files->n; k++)
			if (files->roots[k] && !strcmp(files->paths[k], have->paths[i])) {
				same = json_equal(files->roots[k], have->roots[i]);
				break;
			}
	}
	return same;
}

/* Adds the files we `have` that neither the server's state nor any op since touched: layers
 * the token cannot read (the server leaves them out of what it sends) stay as we have them,
 * as they did when pull built on the synced commit. */
static void keep_unseen_files(umap_sync_files *files, const umap_sync_files *have)
{
	size_t known = files->n;
	for (size_t i = 0; i < have->n; i++) {
		int seen = 0;
		for (size_t k = 0; k < known && !seen; k++)
			seen = !strcmp(files->paths[k], have->paths[i]);
		if (!seen && umap_sync_files_add(files, have->paths[i], json_incref(have->roots[i])))
			die_lib(NULL);
	}
}

/* Whether an op may add a feature or a layer (an upsert: what is new goes at the end,
 * where the server put it); updates and deletes leave the order as it is. */
static int may_add(const json_t *ops)
{
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		const char *verb = json_string_value(json_object_get(op, "verb"));
		const char *subject = json_string_value(json_object_get(op, "subject"));
		if (!verb || !subject || (!strcmp(verb, "upsert") && strcmp(subject, "map")))
			return 1;
	}
	return 0;
}

/* Builds the tree of the files (in memory) with `base` for reuse. texts[i] (allocated,
 * NULL for a removed file) is the JSON text file i was built from: what the working file
 * becomes, so that it is not read back from the revision to be written. */
static char **tree_from_files(git_oid *tree, umap_repo *repo, umap_sync_files *files, const git_oid *base,
			      const json_t *bound)
{
	umap_snapshot *snap = NULL;
	char **texts = calloc(files->n + 1, sizeof(char *));
	if (!texts || umap_snapshot_new(&snap))
		die("out of memory");
	for (size_t i = 0; i < files->n; i++) {
		if (!files->roots[i])
			continue;
		texts[i] = file_text(files->roots[i], files->paths[i], bound);
		char *copy = texts[i] ? strdup(texts[i]) : NULL;
		umap_doc *doc = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		if (!copy || umap_doc_from_file_text(&doc, copy, strlen(copy), files->paths[i], &opts) ||
		    umap_snapshot_add(snap, files->paths[i], doc))
			die_lib("%s", files->paths[i]);
	}
	if (umap_repo_build_tree(tree, repo, snap, base))
		die_lib(NULL);
	umap_snapshot_free(snap);
	return texts;
}

static void free_texts(char **texts, size_t n)
{
	for (size_t i = 0; texts && i < n; i++)
		free(texts[i]);
	free(texts);
}

/* write_worktree for a tree just built by tree_from_files: the files that differ from
 * old_tree are written from their texts (the bytes the tree's features were hashed from,
 * so the cache saved here spares the next status a parse), and the files no longer
 * tracked are removed. All or nothing: every file is written to a temporary file first and
 * none is moved into place unless all could be, so a pull that fails here leaves the
 * working files as they were (and the next pull can start again). */
static void write_files(umap_repo *repo, const git_oid *old_tree, const git_oid *new_tree,
			const umap_sync_files *files, char **texts)
{
	umap_buf text = UMAP_BUF_INIT;
	umap_atomic_file *out = calloc(files->n + 1, sizeof(*out));
	size_t nout = 0;
	if (!out)
		die("out of memory");
	for (size_t i = 0; i < files->n; i++) {
		int differs = 1;
		if (!texts[i])
			continue; /* a removed file: it goes below, with the files no longer tracked */
		if (old_tree && umap_repo_file_differs(&differs, repo, old_tree, new_tree, files->paths[i]))
			die_lib(NULL);
		if (!differs)
			continue;
		char *abs = NULL;
		int rc = umap_repo_worktree_path(&abs, repo, files->paths[i]);
		if (!rc) {
			char *slash = strrchr(abs, '/');
			*slash = '\0';
			rc = umap_mkdir_p(abs, 0777);
			*slash = '/';
		}
		umap_buf_clear(&text);
		if (!rc && umap_buf_puts(&text, texts[i]))
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
		if (!rc && !(rc = umap_atomic_file_open(&out[nout], abs)))
			nout++;
		if (!rc && !(rc = umap_atomic_file_write(&out[nout - 1], text.ptr, text.len)))
			rc = umap_atomic_file_prepare(&out[nout - 1]);
		free(abs);
		if (rc) {
			for (size_t k = 0; k < nout; k++)
				umap_atomic_file_abort(&out[k]);
			die_lib("cannot write %s; no working file was changed", files->paths[i]);
		}
	}
	for (size_t k = 0; k < nout; k++)
		if (umap_atomic_file_commit(&out[k]))
			die_lib(NULL);
	free(out);
	umap_buf_dispose(&text);
	char **old_paths = NULL, **new_paths = NULL;
	size_t nold = 0, nnew = 0;
	if (umap_repo_tracked(&old_paths, &nold, repo, old_tree) ||
	    umap_repo_tracked(&new_paths, &nnew, repo, new_tree))
		die_lib(NULL);
	for (size_t i = 0; i < nold; i++) {
		if (path_list_contains(new_paths, nnew, old_paths[i]))
			continue;
		char *abs = NULL;
		if (umap_repo_worktree_path(&abs, repo, old_paths[i]))
			die_lib(NULL);
		if (unlink(abs) < 0 && errno != ENOENT)
			die_errno("cannot remove %s", old_paths[i]);
		free(abs);
	}
	umap_paths_free(old_paths, nold);
	umap_paths_free(new_paths, nnew);
	umap_repo_cache_save(repo);
}

/* What was pulled becomes REMOTE/main, and the sync state's cursor, synced and server
 * commits (saved by the caller); says so. */
static void record_pulled(umap_repo *repo, const struct sync_remote *remote, json_t *state, const git_oid *rcommit,
			  size_t nforeign, json_int_t cursor)
{
	umap_buf ref = UMAP_BUF_INIT;
	umap_buf_printf(&ref, "refs/remotes/%s/main", remote->name);
	git_reference *r = NULL;
	if (git_reference_create(&r, umap_repo_git(repo), ref.ptr, rcommit, 1, "pull") < 0)
		die("cannot update %s: %s", ref.ptr, git_error_last() ? git_error_last()->message : "?");
	git_reference_free(r);
	umap_buf_dispose(&ref);
	json_object_set_new(state, "cursor", json_integer(cursor));
	json_object_set_new(state, "synced", json_string(git_oid_tostr_s(rcommit)));
	json_object_set_new(state, "server", json_string(git_oid_tostr_s(rcommit)));
	fprintf(stderr, "From %s\n   %zu op%s from others (cursor %lld)\n", remote->url, nforeign,
		nforeign == 1 ? "" : "s", (long long)cursor);
}

/* A layer a streaming pull rewrites: its ops, its working file, the new file being written. */
struct streamed_layer {
	char *layer;
	json_t *ops;
	char *path, *abs;
	umap_atomic_file out;
	umap_layer_edit *edit; /* what was written, for the commit */
	umap_layout layout;
};

static void streamed_dispose(struct streamed_layer *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_decref(s[i].ops);
		free(s[i].layer);
		free(s[i].path);
		free(s[i].abs);
		umap_layer_edit_free(s[i].edit);
	}
	free(s);
}

static int edit_named(void *ctx, const char *id, uint64_t hash)
{
	return umap_layer_edit_drop(ctx, id, hash);
}

static int edit_wrote(void *ctx, const char *id, const char *bytes, size_t len)
{
	return umap_layer_edit_next(ctx, id, bytes, len);
}

/* The commit's tree from what the streaming writer wrote: the synced tree with each layer's
 * changed features, order and feature set edited (umap_repo_edit_tree). 0 when the tree
 * must be built from the files instead. */
static int tree_from_edits(git_oid *tree, umap_repo *repo, const git_oid *synced_tree, struct streamed_layer *s,
			   size_t n)
{
	git_oid at = *synced_tree;
	for (size_t i = 0; i < n; i++) {
		int rc = umap_repo_edit_tree(&at, repo, &at, s[i].path, s[i].edit, &s[i].layout);
		if (rc == UMAP_ECONFLICT) {
			umap_error_clear();
			return 0;
		}
		if (rc)
			die_lib(NULL);
	}
	*tree = at;
	return 1;
}

static int write_to_atomic(void *ctx, const char *data, size_t len)
{
	return umap_atomic_file_write(ctx, data, len);
}

/* The layers of `ops` and their working files, when every op is a feature op on a layer
 * file of the synced tree, which may then take them as it streams
 * (umap_sync_apply_ops_to_file); NULL otherwise: a new layer, map or layer ops, a stream. */
static struct streamed_layer *streamable_layers(size_t *count, umap_repo *repo, const git_oid *tree,
						const json_t *ops)
{
	struct streamed_layer *s = NULL;
	size_t n = 0, i;
	const json_t *op;
	*count = 0;
	json_array_foreach(ops, i, op) {
		const char *subject = json_string_value(json_object_get(op, "subject"));
		const char *layer = json_string_value(json_object_get(json_object_get(op, "metadata"), "layerId"));
		if (!subject || strcmp(subject, "feature") || !layer)
			goto whole;
		size_t k = 0;
		while (k < n && strcmp(s[k].layer, layer))
			k++;
		if (k == n) {
			struct streamed_layer *grown = realloc(s, (n + 1) * sizeof(*s));
			if (!grown)
				die("out of memory");
			s = grown;
			memset(&s[n], 0, sizeof(s[n]));
			if (!(s[n].layer = strdup(layer)) || !(s[n++].ops = json_array()))
				die("out of memory");
		}
		if (json_array_append(s[k].ops, (json_t *)op))
			die("out of memory");
	}
	for (i = 0; i < n; i++) {
		if (umap_repo_layer_path(&s[i].path, repo, tree, s[i].layer))
			die_lib(NULL);
		if (!s[i].path)
			goto whole; /* a new layer: its file is made by the whole-file path */
		for (size_t k = 0; k < i; k++)
			if (!strcmp(s[k].path, s[i].path))
				goto whole;
	}
	for (i = 0; i < n; i++) {
		/* a stream's records are rewritten as a document by the whole-file path (a file
		 * that is one without saying so in its name is found as it is read) */
		if (umap_seq_kind_of_name(s[i].path) || umap_repo_worktree_path(&s[i].abs, repo, s[i].path)) {
			umap_error_clear();
			goto whole;
		}
	}
	*count = n;
	return s;
whole:
	streamed_dispose(s, n);
	return NULL;
}

/* A fast-forward pull onto working files that hold the server's state (HEAD is the synced
 * commit, which is the server's), of feature ops only: each layer file the ops touch is
 * read as it streams and written anew with only the features they name changed
 * (umap_sync_apply_ops_to_file), and the commit is the synced tree edited with what was
 * written (tree_from_edits; from those files when it cannot be), the others kept by subtree
 * id. Time and memory follow the ops and the layers they touch, not the whole map as
 * trees. 0 when the pull needs the whole-file path. */
static int pull_streaming(umap_repo *repo, const struct sync_remote *remote, json_t *state,
			  const git_oid *synced, const git_oid *synced_tree, json_t *ops, json_t *foreign,
			  json_int_t cursor)
{
	size_t nforeign = json_array_size(foreign);
	require_clean_worktree(repo, synced_tree, "pull");
	size_t n = 0, done = 0;
	struct streamed_layer *s = streamable_layers(&n, repo, synced_tree, ops);
	if (!s)
		return 0;
	struct progress *doing = start_progress("Applying ops", json_array_size(ops));
	for (size_t i = 0; i < n; i++) {
		size_t did = 0;
		int rc = umap_atomic_file_open(&s[i].out, s[i].abs);
		if (!rc)
			rc = umap_layer_edit_new(&s[i].edit, repo, s[i].layer);
		umap_sync_stream_hooks hooks = { edit_named, edit_wrote, s[i].edit };
		if (!rc)
			rc = umap_sync_apply_ops_to_file(&did, &s[i].layout, s[i].abs, s[i].layer, s[i].ops,
							 write_to_atomic, &s[i].out, &hooks);
		if (!rc)
			rc = umap_atomic_file_prepare(&s[i].out);
		if (rc) {
			for (size_t k = 0; k <= i; k++)
				umap_atomic_file_abort(&s[k].out);
			if (rc == UMAP_EUSAGE) { /* not a file that streams: the whole-file path */
				umap_error_clear();
				stop_progress(&doing);
				streamed_dispose(s, n);
				return 0;
			}
			die_lib("cannot write %s; no working file was changed", s[i].path);
		}
		done += json_array_size(s[i].ops);
		display_progress(doing, done);
	}
	stop_progress(&doing);
	/* every op is in the files: none is held through the commit (12k ops as trees: 30 MB) */
	for (size_t i = 0; i < n; i++) {
		json_decref(s[i].ops);
		s[i].ops = NULL;
	}
	if (json_array_clear(ops) || json_array_clear(foreign))
		die("out of memory");
	/* the tree: the synced tree edited with what was written; else (no feature set to
	 * edit, a change of shard depth...) the new files read back from their temporary
	 * files, every other tracked file kept from the synced tree */
	git_oid rtree, rcommit;
	int edited = tree_from_edits(&rtree, repo, synced_tree, s, n);
	if (!edited) {
		umap_snapshot *snap = NULL;
		char **paths = NULL;
		size_t npaths = 0;
		if (umap_snapshot_new(&snap) || umap_repo_tracked(&paths, &npaths, repo, synced_tree))
			die_lib(NULL);
		for (size_t p = 0; p < npaths; p++) {
			umap_doc *doc = NULL;
			for (size_t i = 0; i < n && !doc; i++) {
				if (strcmp(paths[p], s[i].path))
					continue;
				umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
				if (umap_doc_open(&doc, s[i].out.tmp, &opts) ||
				    umap_repo_bind_layer_id(&doc->layers[0], s[i].layer))
					die_lib("%s", s[i].path);
			}
			if (umap_snapshot_add(snap, paths[p], doc))
				die_lib(NULL);
		}
		umap_paths_free(paths, npaths);
		if (umap_repo_build_tree(&rtree, repo, snap, synced_tree))
			die_lib(NULL);
		umap_snapshot_free(snap);
	}
	umap_buf message = UMAP_BUF_INIT;
	umap_buf_printf(&message, "Pull %zu op%s from %s (cursor %lld)", nforeign, nforeign == 1 ? "" : "s", remote->url,
			(long long)cursor);
	if (umap_repo_commit_tree_as(&rcommit, repo, &rtree, synced, 1, message.ptr, 0))
		die_lib(NULL);
	umap_buf_dispose(&message);
	record_pulled(repo, remote, state, &rcommit, nforeign, cursor);
	for (size_t i = 0; i < n; i++)
		if (umap_atomic_file_commit(&s[i].out))
			die_lib(NULL);
	for (size_t i = 0; i < n; i++)
		if (umap_repo_index_record(repo, s[i].path, NULL, &rtree))
			die_lib(NULL);
	umap_repo_index_save(repo);
	if (!edited) /* an edited tree notes nothing in the feature cache (umap_layer_edit) */
		umap_repo_cache_save(repo);
	if (umap_repo_advance_head(repo, &rcommit, synced, "pull: fast-forward"))
		die_lib(NULL);
	sync_state_save(repo, remote->name, state);
	fprintf(stderr, "Fast-forward to %s\n", short_id(&rcommit));
	streamed_dispose(s, n);
	return 1;
}

int cmd_pull(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync pull [REMOTE] [--strategy=rebase|lww]", NULL };
	const char *strategy = NULL;
	const struct option options[] = {
		OPT_CHOICE('s', "strategy", &strategy, "STRATEGY",
			   "rebase: replay local commits on what was pulled; lww: the later HLC wins per key", "rebase|lww"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_with_options_msg(usage, options, "pull takes at most one remote");
	int rc = 0; /* the rebase's, when pull hands over to it */
	umap_repo *repo = open_repo();
	sync_require_no_merge(repo, "pull");
	char *configured = strategy ? NULL : setting_get(repo, "pull.strategy");
	if (!strategy)
		strategy = configured ? configured : "rebase";
	struct sync_remote remote;
	sync_remote_load(&remote, repo, argc ? argv[0] : NULL);
	if (umap_remote_url_is_umap(remote.url)) {
		rc = umap_remote_cmd_pull(repo, &remote, strategy);
		sync_remote_dispose(&remote);
		umap_repo_free(repo);
		free(configured);
		return rc;
	}
	json_t *state = sync_state_load(repo, remote.name);
	struct sync_outbox_places places;
	json_t *outbox = sync_outbox_load_places(repo, remote.name, &places);
	sync_outbox_places_dispose(&places);
	if (outbox) {
		json_decref(outbox);
		fflush(stdout);
		fprintf(stderr, "fatal: a push to '%s' was cut off and its ops are waiting to be resent\n", remote.name);
		hint("run 'umapsync push %s' first", remote.name);
		exit(EXIT_FATAL);
	}
	const char *client = json_string_value(json_object_get(state, "client_id"));
	json_int_t cursor = json_integer_value(json_object_get(state, "cursor"));
	git_oid synced, synced_tree, head, head_tree;
	int have_synced = sync_state_synced(&synced, state);
	if (have_synced && umap_repo_commit_tree(&synced_tree, repo, &synced))
		die_lib(NULL);
	int unborn = read_head(&head, &head_tree, repo);
	if (!unborn && !have_synced) {
		fflush(stdout);
		fprintf(stderr, "fatal: this repository has commits but was never synced with '%s'\n", remote.name);
		hint("push to an empty map first, or clone the map and import your files there");
		exit(EXIT_FATAL);
	}

	/* the server's state at the cursor, in the server's order (see sync_state_server) */
	git_oid server, server_tree;
	int known = sync_state_server(&server, state);
	int have_server = known > 0;
	/* the first pusher of a map (server state: empty) works from its synced commit once:
	 * rebuilt from the log alone, a map op that came before the .umap file it acts on
	 * would find nothing to act on */
	int follow_server = have_server || (known == 0 && !have_synced);
	if (have_server && umap_repo_commit_tree(&server_tree, repo, &server))
		die_lib(NULL);

	/* fetch: every op after our cursor, or a snapshot when the log no longer goes back so far */
	json_t *foreign = json_array(), *snapshot = NULL, *logged = json_array();
	json_t *remote_times = json_object();
	umap_http_response resp = UMAP_HTTP_RESPONSE_INIT;
	static const long ok[] = { 404, 410, 0 };
	umap_buf scope = UMAP_BUF_INIT;
	struct progress *receiving = NULL;
	size_t received = 0;
	/* a server may send ops forever (with an advancing cursor): what one pull holds is bounded */
	unsigned long long received_bytes = 0, max_bytes = UMAP_SYNC_PULL_MAX_BYTES;
	const char *env_max = getenv("UMAPSYNC_PULL_MAX_BYTES");
	if (env_max && strtoull(env_max, NULL, 10) > 0)
		max_bytes = strtoull(env_max, NULL, 10);
	for (;;) {
		char path[96];
		snprintf(path, sizeof(path), "pull?since=%lld&limit=1000", (long long)cursor);
		long status = sync_request(&resp, &remote, "GET", path, NULL, ok);
		if (status == 404) {
			fprintf(stderr, "the map does not exist on '%s' yet: nothing to pull\n", remote.name);
			goto done;
		}
		if (status == 410) {
			warning("the server no longer keeps ops back to cursor %lld: taking a snapshot", (long long)cursor);
			stop_progress(&receiving);
			struct progress *got = start_progress("Receiving snapshot (bytes)", 0);
			struct umap_progress bytes = { progress_report, got };
			long long snap_cursor = 0;
			if (sync_request_progress(&resp, &remote, "GET", "snapshot", NULL, NULL, &bytes, NULL) != 200 ||
			    umap_json_loadb(&snapshot, resp.body.ptr, resp.body.len, "snapshot"))
				die_lib("the server's snapshot");
			if (umap_sync_snapshot_check(&snap_cursor, snapshot))
				die_lib(NULL);
			stop_progress(&got);
			cursor = snap_cursor;
			break;
		}
		umap_sync_pull_reply reply;
		received_bytes += resp.body.len;
		if (umap_sync_pull_reply_parse(&reply, resp.body.ptr, resp.body.len, (long long)cursor))
			die_lib(NULL);
		json_t *op;
		size_t i;
		if (json_array_size(reply.ops) && !receiving)
			receiving = start_progress("Receiving ops", 0);
		received += json_array_size(reply.ops);
		display_progress(receiving, received);
		json_array_foreach(reply.ops, i, op) {
			const char *from = json_string_value(json_object_get(op, "client_id"));
			if (follow_server && json_array_append(logged, op))
				die("out of memory");
			if (from && client && !strcmp(from, client))
				continue; /* our own pushes: in the synced commit (and, above, in the log) */
			json_array_append(foreign, op);
		}
		cursor = reply.cursor;
		int more = reply.more;
		umap_sync_pull_reply_dispose(&reply);
		if (!more)
			break;
		if (received_bytes > max_bytes) {
			stop_progress(&receiving);
			fflush(stdout);
			fprintf(stderr, "fatal: the server's answers to one pull exceed %llu bytes (%zu ops so far): stopping\n",
				max_bytes, received);
			hint("if the map really changed that much, clone it afresh, or raise UMAPSYNC_PULL_MAX_BYTES");
			exit(EXIT_FATAL);
		}
	}
	stop_progress(&receiving);
	/* HLC receive rule: our next stamps come after everything we have seen */
	if (json_array_size(foreign)) {
		umap_hlc hlc;
		umap_hlc_ts last, seen, out;
		const char *saved = json_string_value(json_object_get(state, "hlc"));
		if (!umap_hlc_init(&hlc, client, NULL, NULL)) {
			if (saved && !umap_hlc_decode(&last, saved))
				umap_hlc_restore(&hlc, &last);
			size_t i;
			json_t *op;
			int moved = 0;
			json_array_foreach(foreign, i, op) {
				const char *t = json_string_value(json_object_get(op, "hlc"));
				if (!t || umap_hlc_decode(&seen, t))
					continue;
				if (umap_hlc_recv(&out, &hlc, &seen))
					warning("%s", umap_error_last());
				else
					moved = 1;
			}
			if (moved) {
				char enc[UMAP_HLC_STR_MAX];
				umap_hlc_ts now = { hlc.ms, hlc.counter, "" };
				snprintf(now.node, sizeof(now.node), "%s", client);
				umap_hlc_encode(enc, &now);
				json_object_set_new(state, "hlc", json_string(enc));
			}
		}
	}
	int server_is_synced = have_server == have_synced && (!have_server || git_oid_equal(&server, &synced));
	/* only our own ops, none that adds a feature or a layer: the synced commit is the
	 * server's state, in its order (what the last pull left, our changes in place) */
	int own_in_place = follow_server && have_synced && !may_add(logged);
	if (!snapshot && !json_array_size(foreign) &&
	    (!follow_server || own_in_place || (!json_array_size(logged) && server_is_synced))) {
		json_object_set_new(state, "cursor", json_integer(cursor));
		if (own_in_place)
			json_object_set_new(state, "server", json_string(git_oid_tostr_s(&synced)));
		sync_state_save(repo, remote.name, state);
		fprintf(stderr, "Already up to date.\n");
		goto done;
	}

	/* the usual pull of others' edits onto an untouched clone: streamed, file by file */
	if (!snapshot && follow_server && have_server && have_synced && !unborn && json_array_size(foreign) &&
	    git_oid_equal(&server, &synced) && git_oid_equal(&head, &synced) &&
	    pull_streaming(repo, &remote, state, &synced, &synced_tree, logged, foreign, cursor))
		goto done;

	/* the remote state: the server's state at the cursor plus every op logged since (ours
	 * too, where the server placed them), or the snapshot; in the server's feature order,
	 * which becomes every client's. Without a known server state (older sync states): the
	 * synced commit plus their ops. */
	umap_sync_files files = { 0, NULL, NULL };
	size_t applied = 0;
	json_t *bound = json_object();
	if (!bound)
		die("out of memory");
	if (snapshot) {
		if (umap_sync_files_from_snapshot(&files, snapshot))
			die_lib(NULL);
	} else {
		json_t *to_apply = follow_server ? logged : foreign;
		if (follow_server ? have_server : have_synced)
			files_from_tree(&files, repo, follow_server ? &server_tree : &synced_tree, bound);
		struct progress *doing = start_progress("Applying ops", json_array_size(to_apply));
		struct umap_progress applying = { progress_report, doing };
		if (umap_sync_apply_ops(&files, to_apply, &applied, &applying))
			die_lib(NULL);
		stop_progress(&doing);
	}
	if (!snapshot && follow_server && have_synced) {
		umap_sync_files have = { 0, NULL, NULL };
		files_from_tree(&have, repo, &synced_tree, bound);
		keep_unseen_files(&files, &have);
		int same = !json_array_size(foreign) && same_files(&have, &files);
		umap_sync_files_dispose(&have);
		if (same) {
			/* only our own ops, placed where we have them: the synced commit is the
			 * server's state */
			json_object_set_new(state, "cursor", json_integer(cursor));
			json_object_set_new(state, "server", json_string(git_oid_tostr_s(&synced)));
			sync_state_save(repo, remote.name, state);
			fprintf(stderr, "Already up to date.\n");
			umap_sync_files_dispose(&files);
			json_decref(bound);
			goto done;
		}
	}
	git_oid rtree, rcommit;
	char **rtexts = tree_from_files(&rtree, repo, &files, have_synced ? &synced_tree : NULL, bound);
	size_t nrtexts = files.n;
	umap_buf message = UMAP_BUF_INIT;
	umap_buf_printf(&message, "Pull %zu op%s from %s (cursor %lld)", json_array_size(foreign),
			json_array_size(foreign) == 1 ? "" : "s", remote.url, (long long)cursor);
	if (umap_repo_commit_tree_as(&rcommit, repo, &rtree, have_synced ? &synced : NULL, have_synced ? 1 : 0,
				     message.ptr, 0))
		die_lib(NULL);
	umap_buf_dispose(&message);
	record_pulled(repo, &remote, state, &rcommit, json_array_size(foreign), cursor);

	if (unborn || git_oid_equal(&head, &synced)) {
		if (!unborn)
			require_clean_worktree(repo, &head_tree, "pull");
		write_files(repo, unborn ? NULL : &head_tree, &rtree, &files, rtexts);
		if (umap_repo_advance_head(repo, &rcommit, unborn ? NULL : &head, "pull: fast-forward"))
			die_lib(NULL);
		sync_state_save(repo, remote.name, state);
		fprintf(stderr, "Fast-forward to %s\n", short_id(&rcommit));
	} else if (!strcmp(strategy, "rebase")) {
		require_clean_worktree(repo, &head_tree, "pull");
		/* the state moves first: if the rebase stops on conflicts, what was pulled is kept */
		sync_state_save(repo, remote.name, state);
		umap_buf upstream = UMAP_BUF_INIT;
		umap_buf_printf(&upstream, "%s/main", remote.name);
		fprintf(stderr, "Rebasing local commits onto %s\n", upstream.ptr);
		const char *rargv[] = { "rebase", upstream.ptr, NULL };
		fflush(stdout);
		rc = cmd_rebase(2, rargv);
		umap_buf_dispose(&upstream);
	} else {
		/* last writer wins: our unpushed changes replayed as ops on the remote state, each
		 * kept unless a remote op on the same key (or entity) has a later HLC */
		require_clean_worktree(repo, &head_tree, "pull");
		umap_tree_diff *tdiff = NULL;
		umap_diff *diff = NULL;
		umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
		json_t *local = NULL;
		if (umap_repo_diff(&tdiff, repo, &synced_tree, &head_tree) || umap_diff_new(&diff, &dopts) ||
		    umap_repo_fill_diff(diff, repo, tdiff, &synced_tree, &head_tree) ||
		    umap_ops_from_diff(&local, diff, NULL, NULL))
			die_lib("computing local changes");
		umap_tree_diff_free(tdiff);
		umap_diff_free(diff);
		json_t *ltimes = sync_local_times(repo, &head, &synced, client);
		size_t lost = 0, i, did;
		json_t *op, *winners = json_array();
		/* the latest remote change per key, from others' ops (only here: a pull that
		 * does not weigh would hold it for nothing, 3 MB for 12k ops) */
		json_array_foreach(foreign, i, op) {
			sync_op_scope(&scope, op);
			sync_note_time(remote_times, scope.ptr, json_string_value(json_object_get(op, "hlc")));
		}
		char latest[UMAP_HLC_STR_MAX] = "";
		json_array_foreach(local, i, op) {
			sync_op_scope(&scope, op);
			const char *t = sync_scope_time(remote_times, scope.ptr);
			const char *mine = sync_scope_time(ltimes, scope.ptr);
			if (t && (!mine || umap_hlc_compare_str(t, mine) > 0))
				lost++;
			else if (json_array_append(winners, op))
				die("out of memory");
			else if (mine && umap_hlc_compare_str(mine, latest) > 0)
				snprintf(latest, sizeof(latest), "%s", mine);
		}
		size_t kept = json_array_size(winners);
		if (umap_sync_apply_ops(&files, winners, &did, NULL))
			die_lib(NULL);
		json_decref(winners);
		json_decref(local);
		json_decref(ltimes);
		git_oid ltree, lcommit;
		char **ltexts = tree_from_files(&ltree, repo, &files, &rtree, bound);
		umap_buf msg = UMAP_BUF_INIT;
		umap_buf_printf(&msg, "Pull from %s, last writer wins\n\nKept %zu local change%s, %zu overridden by later remote ones.\n",
				remote.name, kept, kept == 1 ? "" : "s", lost);
		/* the changes kept were made when their commits say, not now: the next push
		 * stamps them with that time (the latest of them), so they weigh as edits */
		if (*latest)
			umap_buf_printf(&msg, "\n" SYNC_HLC_TRAILER "%s\n", latest);
		if (umap_repo_commit_tree_as(&lcommit, repo, &ltree, &rcommit, 1, msg.ptr, 0))
			die_lib(NULL);
		umap_buf_dispose(&msg);
		write_files(repo, &head_tree, &ltree, &files, ltexts);
		free_texts(ltexts, files.n);
		if (umap_repo_advance_head(repo, &lcommit, &head, "pull --strategy=lww"))
			die_lib(NULL);
		sync_state_save(repo, remote.name, state);
		fprintf(stderr, "Last writer wins: kept %zu local change%s, %zu overridden; run 'umapsync push' to send yours\n",
			kept, kept == 1 ? "" : "s", lost);
	}
	free_texts(rtexts, nrtexts);
	umap_sync_files_dispose(&files);
	json_decref(bound);
done:
	json_decref(snapshot);
	json_decref(foreign);
	json_decref(logged);
	json_decref(remote_times);
	json_decref(state);
	umap_buf_dispose(&scope);
	umap_http_response_dispose(&resp);
	sync_remote_dispose(&remote);
	umap_repo_free(repo);
	free(configured);
	return rc;
}
