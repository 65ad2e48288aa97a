/* umapsync clone: copy a map from a sync server into a new repository, recreating the
 * layers' working files by the names the server keeps, and remember the server as origin. */
#include "builtin.h"
#include "progress.h"
#include "repo-cmd.h"
#include "sync-cmd.h"
#include "umap-remote-cmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "geojsonseq.h"
#include "json.h"
#include "strutil.h"
#include "sync_op.h"
#include "umap_remote.h"

/* The work tree being built (a temporary directory beside DIR) until it is renamed into
 * place: removed at exit, so a clone that dies on the way leaves nothing behind. */
static char *building;

static void remove_unfinished_clone(void)
{
	if (building)
		umap_fs_remove_tree(building); /* best effort: we are exiting already */
	free(building);
	building = NULL;
}

/* The snapshot answer, saved as it arrives (a retried request starts it again). */
struct saved_answer {
	int fd;
	const char *path;
};

static int save_piece(void *ctx, const char *data, size_t len)
{
	struct saved_answer *to = ctx;
	while (len) {
		ssize_t n = write(to->fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return umap_error_set(errno == ENOSPC ? UMAP_ENOSPC : UMAP_EIO, "cannot write %s: %s", to->path,
					      strerror(n < 0 ? errno : EIO));
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int restart_saving(void *ctx)
{
	struct saved_answer *to = ctx;
	if (ftruncate(to->fd, 0) < 0 || lseek(to->fd, 0, SEEK_SET) < 0)
		return umap_error_set(UMAP_EIO, "cannot write %s: %s", to->path, strerror(errno));
	return 0;
}

static int write_piece(void *ctx, const char *data, size_t len)
{
	return umap_atomic_file_write(ctx, data, len);
}

/* A new empty directory beside `dir` (in its parent, created when missing), so that the
 * finished tree is renamed into place within one file system. */
static char *make_building_dir(const char *dir)
{
	umap_buf path = UMAP_BUF_INIT;
	const char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		if (umap_buf_put(&path, dir, (size_t)(slash - dir)))
			die("out of memory");
		if (umap_mkdir_p(path.ptr, 0777))
			die_lib(NULL);
		umap_buf_putc(&path, '/');
	} else if (slash) {
		umap_buf_putc(&path, '/');
	}
	if (umap_buf_puts(&path, ".umapsync-clone-XXXXXX"))
		die("out of memory");
	if (!mkdtemp(path.ptr))
		die_errno("cannot create a directory beside '%s'", dir);
	return umap_buf_detach(&path);
}

int cmd_clone(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync clone URL [DIR] [--token-file FILE] [--cookie-file FILE] [--history]", NULL };
	const char *token_file = NULL, *name = "origin", *cookie_file = NULL;
	int history = 0;
	const struct option options[] = {
		OPT_STRING(0, "token-file", &token_file, "FILE", "read the access token from FILE (else UMAPSYNC_TOKEN)"),
		OPT_STRING('o', "origin", &name, "NAME", "name of the remote (default origin)"),
		OPT_STRING(0, "cookie-file", &cookie_file, "FILE", "a uMap map: the session cookies (Netscape format)"),
		OPT_BOOL(0, "history", &history, "a uMap map: a commit for each layer version the server keeps"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc < 1 || argc > 2)
		usage_with_options_msg(usage, options, "clone needs a URL (http://HOST:PORT/MAP) and optionally a directory");
	/* the name goes into paths under .umapsync/sync/ */
	if (!umap_sync_valid_name(name, UMAP_SYNC_NAME_MAX))
		usage_with_options_msg(usage, options, "invalid remote name '%s': use A-Z a-z 0-9 _ -", name);
	if (umap_remote_url_is_umap(argv[0]) || umap_remote_url_is_edit_link(argv[0]))
		return umap_remote_cmd_clone(argv[0], argc > 1 ? argv[1] : NULL, name, cookie_file, history);
	if (cookie_file || history)
		usage_with_options_msg(usage, options, "--cookie-file and --history are for uMap map URLs (https://HOST/LANG/map/SLUG_ID)");
	struct sync_remote remote;
	memset(&remote, 0, sizeof(remote));
	remote.name = (char *)name;
	remote.url = (char *)argv[0];
	if (umap_sync_url_parse(&remote.parsed, argv[0]))
		die_lib(NULL);
	const char *dir = argc > 1 ? argv[1] : remote.parsed.map;
	if (!umap_dir_empty_or_missing(dir))
		die("destination '%s' already exists and is not empty", dir);
	char *token_abs = NULL;
	if (token_file && !(token_abs = realpath(token_file, NULL)))
		die_errno("cannot read the token file '%s'", token_file);
	remote.token = sync_read_token(token_abs);

	building = make_building_dir(dir);
	atexit(remove_unfinished_clone);
	umap_repo *repo = NULL;
	int existed = 0;
	if (umap_repo_init(&repo, building, &existed))
		die_lib(NULL);

	/* the snapshot goes to a file as it arrives, and each layer's file is laid out from
	 * there feature by feature: a clone holds the layer list, never the features */
	umap_buf saved = UMAP_BUF_INIT;
	if (umap_buf_printf(&saved, "%s/clone-snapshot.json", umap_repo_gitdir(repo)))
		die("out of memory");
	struct saved_answer answer = { open(saved.ptr, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), saved.ptr };
	if (answer.fd < 0)
		die_errno("cannot create %s", saved.ptr);
	const umap_http_sink sink = { save_piece, restart_saving, &answer };
	umap_http_response resp = UMAP_HTTP_RESPONSE_INIT;
	static const long ok[] = { 404, 0 };
	struct progress *got = start_progress("Receiving snapshot (bytes)", 0);
	struct umap_progress bytes = { progress_report, got };
	long status = sync_request_progress(&resp, &remote, "GET", "snapshot", NULL, ok, &bytes, &sink);
	stop_progress(&got);
	umap_http_response_dispose(&resp);
	if (close(answer.fd) < 0)
		die_errno("cannot write %s", saved.ptr);
	umap_sync_snapshot *snapshot = NULL;
	long long cursor = 0;
	if (status == 200 && umap_sync_snapshot_open(&snapshot, &cursor, saved.ptr))
		die_lib(NULL);
	/* mapped: its bytes stay readable until the snapshot is freed */
	if (unlink(saved.ptr) < 0)
		die_errno("cannot remove %s", saved.ptr);
	umap_buf_dispose(&saved);
	umap_sync_files empty = { 0, NULL, NULL };
	const umap_sync_files *files = snapshot ? umap_sync_snapshot_files(snapshot) : &empty;

	umap_snapshot *snap = NULL;
	if (umap_snapshot_new(&snap))
		die_lib(NULL);
	size_t nfeatures = 0, nlayers = 0;
	for (size_t i = 0; i < files->n; i++) {
		char *abs = NULL;
		umap_atomic_file out;
		if (umap_repo_worktree_path(&abs, repo, files->paths[i]) || umap_atomic_file_open(&out, abs))
			die_lib("writing %s", files->paths[i]);
		/* what uMap's own downloads look like: indent 2, coordinates on one line; a stream
		 * (.geojsonl, .geojsons...) stays one */
		if (umap_sync_snapshot_write(snapshot, i, write_piece, &out) || umap_atomic_file_prepare(&out)) {
			umap_atomic_file_abort(&out);
			die_lib("writing %s", files->paths[i]);
		}
		if (umap_atomic_file_commit(&out))
			die_lib("writing %s", files->paths[i]);
		umap_doc *doc = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		if (umap_doc_open(&doc, abs, &opts))
			die_lib(NULL);
		/* a stream holds no layer options: its layer keeps the server's id all the same */
		const char *layer_id = json_string_value(
			json_object_get(json_object_get(files->roots[i], "properties"), "id"));
		if (doc->kind != UMAP_DOC_MAP && doc->nlayers == 1 && !doc->layers[0].id && layer_id &&
		    umap_repo_bind_layer_id(&doc->layers[0], layer_id))
			die_lib(NULL);
		size_t assigned = 0;
		if (umap_repo_assign_ids(doc, &assigned))
			die_lib("%s", files->paths[i]);
		if (assigned && umap_doc_save(doc, abs, UMAP_DOC_AS_READ))
			die_lib("writing %s", files->paths[i]);
		nlayers += doc->nlayers;
		for (size_t l = 0; l < doc->nlayers; l++)
			nfeatures += doc->layers[l].nfeatures;
		if (umap_snapshot_add(snap, files->paths[i], doc))
			die_lib(NULL);
		free(abs);
	}
	json_t *state = sync_state_load(repo, name);
	json_object_set_new(state, "cursor", json_integer((json_int_t)cursor));
	if (files->n) {
		git_oid tree, commit;
		umap_buf message = UMAP_BUF_INIT;
		umap_buf_printf(&message, "Clone %s from %s", remote.parsed.map, remote.url);
		if (umap_repo_build_tree(&tree, repo, snap, NULL) ||
		    umap_repo_commit_tree_as(&commit, repo, &tree, NULL, 0, message.ptr, 1))
			die_lib(NULL);
		umap_repo_cache_save(repo);
		/* the files as written are the commit's: the next status or pull trusts them by
		 * their stat, not by reading them again (1M features: 3 s and 60 MB more) */
		for (size_t i = 0; i < files->n; i++)
			if (umap_repo_index_record(repo, files->paths[i], NULL, &tree))
				die_lib(NULL);
		if (umap_repo_index_save(repo))
			die_lib(NULL);
		json_object_set_new(state, "synced", json_string(git_oid_tostr_s(&commit)));
		json_object_set_new(state, "server", json_string(git_oid_tostr_s(&commit)));
		umap_buf_dispose(&message);
	}
	sync_remote_save(repo, name, remote.url, token_abs);
	sync_state_save(repo, name, state);
	umap_repo_free(repo);
	repo = NULL;
	/* all or nothing: DIR appears (or an empty DIR is replaced) only once it is complete */
	if (rename(building, dir) < 0)
		die_errno("cannot move the new repository to '%s'", dir);
	free(building);
	building = NULL;
	if (snapshot)
		fprintf(stderr, "Cloned map '%s' into '%s': %zu file%s, %zu layer%s, %zu feature%s (cursor %lld)\n",
			remote.parsed.map, dir, files->n, files->n == 1 ? "" : "s", nlayers, nlayers == 1 ? "" : "s",
			nfeatures, nfeatures == 1 ? "" : "s", (long long)cursor);
	else
		fprintf(stderr, "Cloned map '%s' into '%s': the map does not exist yet; the first push creates it\n",
			remote.parsed.map, dir);
	umap_buf shown = UMAP_BUF_INIT;
	for (size_t i = 0; i < files->n; i++) {
		umap_buf_clear(&shown);
		if (umap_buf_put_printable(&shown, files->paths[i], strlen(files->paths[i]), 0))
			die("out of memory");
		printf("%s\n", shown.ptr);
	}
	umap_buf_dispose(&shown);
	json_decref(state);
	umap_sync_snapshot_free(snapshot);
	umap_snapshot_free(snap);
	umap_repo_free(repo);
	umap_sync_url_dispose(&remote.parsed);
	free(remote.token);
	free(token_abs);
	return 0;
}
