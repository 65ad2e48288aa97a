/* The repository: finding and creating .umapsync, revisions, references, identities,
 * commit objects, and the cache from feature bytes to blob ids that keeps commit and
 * status from parsing unchanged features. Documents in and out: lib/repo_doc.c. */
#include "repo.h"
#include "repo_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "json.h"
#include "strutil.h"

const char *umap_git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown error";
}

/* libgit2 as Debian builds it (mbedTLS) parses the whole system CA bundle inside every
 * git_libgit2_init() (cmd/usage.c's colour lookup inits and shuts it down too): 54M
 * instructions, 70% of a 10-feature revision diff, ~10 ms on every command. libgit2 is the
 * only user of mbedTLS here (sync is libcurl over OpenSSL) and umapsync never lets it reach
 * the network, so this definition, which takes precedence over libmbedx509's for libgit2,
 * loads no certificate: were libgit2 ever asked to fetch over HTTPS, verification would
 * fail, closed. With a libgit2 built on OpenSSL it is never called. */
int mbedtls_x509_crt_parse_file(void *chain, const char *path);
int mbedtls_x509_crt_parse_file(void *chain, const char *path)
{
	(void)chain;
	(void)path;
	return 0;
}

void umap_repo_default_pack_windows(void)
{
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)8 << 20);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)24 << 20);
}

static void libgit2_setup(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	git_libgit2_init();
	/* Every object we create is well-formed by construction and hashed once by us;
	 * libgit2's extra checks would double the cost of a 100k-feature import. */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	/* Packs are mapped in windows, by default of 1 GB with no limit in sight: reading a
	 * revision of a 1M-feature layer kept its whole 125 MB pack resident. Windows of 8 MB
	 * and at most 24 MB mapped bound that, at the cost of remapping on a long walk. */
	umap_repo_default_pack_windows();
	/* refs are few and must survive a crash: fsync them */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
}

static int dir_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_repo_dir(const char *workdir)
{
	char path[PATH_MAX];
	struct stat st;
	if ((size_t)snprintf(path, sizeof(path), "%s/" UMAP_REPO_DIR "/HEAD", workdir) >= sizeof(path))
		return 0;
	return stat(path, &st) == 0;
}

static int repo_new(umap_repo **out, const char *workdir)
{
	umap_repo *repo = calloc(1, sizeof(*repo));
	umap_buf gitdir = UMAP_BUF_INIT;
	if (repo)
		repo->spill_fd = repo->ids_fd = -1;
	if (!repo || !(repo->workdir = strdup(workdir)) ||
	    umap_buf_printf(&gitdir, "%s/" UMAP_REPO_DIR, workdir)) {
		umap_repo_free(repo);
		umap_buf_dispose(&gitdir);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	repo->gitdir = umap_buf_detach(&gitdir);
	if (git_repository_open_ext(&repo->git, repo->gitdir, GIT_REPOSITORY_OPEN_NO_SEARCH,
				    NULL) < 0) {
		int rc = umap_error_set(UMAP_ECORRUPT, "cannot open the repository in %s: %s",
					repo->gitdir, umap_git_msg());
		umap_repo_free(repo);
		return rc;
	}
	int rc = umap_store_open(&repo->store, repo->git);
	if (rc) {
		umap_repo_free(repo);
		return rc;
	}
	*out = repo;
	return 0;
}

int umap_repo_init(umap_repo **out, const char *dir, int *existed)
{
	libgit2_setup();
	*existed = 0;
	if (!dir)
		dir = ".";
	if (!dir_exists(dir) && umap_mkdir_p(dir, 0777))
		return umap_error_last_code();
	char workdir[PATH_MAX];
	if (!realpath(dir, workdir))
		return umap_error_set_errno(UMAP_EIO, "cannot resolve '%s'", dir);
	if (is_repo_dir(workdir)) {
		*existed = 1;
		return repo_new(out, workdir);
	}
	umap_buf gitdir = UMAP_BUF_INIT;
	if (umap_buf_printf(&gitdir, "%s/" UMAP_REPO_DIR, workdir))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	git_repository_init_options opts;
	git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
		     GIT_REPOSITORY_INIT_NO_REINIT;
	opts.initial_head = "main";
	opts.description = "A umapsync map repository (see 'umapsync help').";
	git_repository *git = NULL;
	git_config *cfg = NULL;
	int rc = 0;
	if (git_repository_init_ext(&git, gitdir.ptr, &opts) < 0)
		rc = umap_error_set(UMAP_EIO, "cannot create %s: %s", gitdir.ptr, umap_git_msg());
	/* `git gc` of a bare repository writes a reachability bitmap (~4.5 bytes per object,
	 * 0.45 MB for 100k features) that only speeds up serving clones from it */
	/* a bare repository keeps no reflog unless asked: umapsync's is what makes commits
	 * left behind by reset or a detached HEAD findable (reflog, HEAD@{1}) */
	else if (git_repository_config(&cfg, git) < 0 ||
		 git_config_set_bool(cfg, "repack.writeBitmaps", 0) < 0 ||
		 git_config_set_bool(cfg, "core.logAllRefUpdates", 1) < 0)
		rc = umap_error_set(UMAP_EIO, "cannot write %s/config: %s", gitdir.ptr, umap_git_msg());
	git_config_free(cfg);
	git_repository_free(git);
	umap_buf_dispose(&gitdir);
	return rc ? rc : repo_new(out, workdir);
}

int umap_repo_open(umap_repo **out, const char *start)
{
	libgit2_setup();
	char dir[PATH_MAX];
	if (!realpath(start ? start : ".", dir))
		return umap_error_set_errno(UMAP_EIO, "cannot resolve '%s'", start ? start : ".");
	for (;;) {
		if (is_repo_dir(dir))
			return repo_new(out, dir);
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			if (strcmp(dir, "/") && is_repo_dir("/"))
				return repo_new(out, "");
			return umap_error_set(UMAP_ENOTFOUND,
					      "not a umapsync repository (or any parent directory)");
		}
		*slash = '\0';
	}
}

void umap_repo_free(umap_repo *repo)
{
	if (!repo)
		return;
	for (size_t i = 0; i < repo->nindex; i++)
		free(repo->index[i].path);
	free(repo->index);
	for (size_t i = 0; i < repo->nsets; i++) {
		free(repo->sets[i].layer);
		free(repo->sets[i].counts);
		free(repo->sets[i].hashes);
	}
	free(repo->sets);
	if (repo->store.odb)
		umap_store_close(&repo->store);
	git_repository_free(repo->git);
	free(repo->cache);
	free(repo->cache_table);
	free(repo->seen);
	free(repo->workdir);
	free(repo->gitdir);
	free(repo);
}

const char *umap_repo_workdir(const umap_repo *repo)
{
	return repo->workdir;
}

const char *umap_repo_gitdir(const umap_repo *repo)
{
	return repo->gitdir;
}

git_repository *umap_repo_git(umap_repo *repo)
{
	return repo->git;
}

umap_store *umap_repo_store(umap_repo *repo)
{
	return &repo->store;
}

/* Lexical normalisation of an absolute path: "." and ".." and doubled slashes go. */
static void normalize(char *path)
{
	char *out = path, *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		char *seg = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - seg);
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > path && *--out != '/')
				;
			continue;
		}
		*out++ = '/';
		memmove(out, seg, len);
		out += len;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

int umap_repo_relpath(char **out, umap_repo *repo, const char *path)
{
	char cwd[PATH_MAX];
	umap_buf abs = UMAP_BUF_INIT;
	if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return umap_error_set_errno(UMAP_EIO, "cannot find the current directory");
	if (umap_buf_printf(&abs, "%s/%s", path[0] == '/' ? "" : cwd, path))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	normalize(abs.ptr);
	size_t wlen = strlen(repo->workdir);
	int rc = 0;
	if (strncmp(abs.ptr, repo->workdir, wlen) || abs.ptr[wlen] != '/' || !abs.ptr[wlen + 1])
		rc = umap_error_set(UMAP_EINVALID, "'%s' is outside the repository at %s", path,
				    repo->workdir[0] ? repo->workdir : "/");
	else if (!(*out = strdup(abs.ptr + wlen + 1)))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	umap_buf_dispose(&abs);
	return rc;
}

int umap_repo_abspath(char **out, umap_repo *repo, const char *relpath)
{
	umap_buf abs = UMAP_BUF_INIT;
	if (umap_buf_printf(&abs, "%s/%s", repo->workdir, relpath))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	*out = umap_buf_detach(&abs);
	return 0;
}

/* A path of plain parts: not absolute, no empty, "." or ".." part. */
static int plain_relpath(const char *relpath)
{
	if (!*relpath || relpath[0] == '/')
		return 0;
	for (const char *part = relpath; part;) {
		const char *slash = strchr(part, '/');
		size_t n = slash ? (size_t)(slash - part) : strlen(part);
		if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.'))
			return 0;
		part = slash ? slash + 1 : NULL;
	}
	return 1;
}

int umap_repo_worktree_path(char **out, umap_repo *repo, const char *relpath)
{
	*out = NULL;
	if (!plain_relpath(relpath))
		return umap_error_set(UMAP_EINVALID, "refusing to write '%s': it is not a plain path inside the work tree",
				      relpath);
	char *abs = NULL;
	int rc = umap_repo_abspath(&abs, repo, relpath);
	if (rc)
		return rc;
	/* the nearest directory that exists, resolved: a symbolic link on the way must not
	 * lead out of the work tree (the missing rest is created below it, without links) */
	size_t wlen = strlen(repo->workdir);
	char *dir = strdup(abs), resolved[PATH_MAX];
	int found = 0;
	if (!dir) {
		free(abs);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	for (;;) {
		char *slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < wlen)
			break;
		*slash = '\0';
		if (realpath(dir, resolved)) {
			found = 1;
			break;
		}
		if (errno != ENOENT) {
			rc = umap_error_set_errno(UMAP_EIO, "cannot resolve %s", dir);
			break;
		}
	}
	if (!rc && (!found || strncmp(resolved, repo->workdir, wlen) ||
		    (resolved[wlen] != '\0' && resolved[wlen] != '/')))
		rc = umap_error_set(UMAP_EINVALID,
				    "refusing to write '%s': %s leads outside the work tree (a symbolic link?)",
				    relpath, dir);
	free(dir);
	if (rc) {
		free(abs);
		return rc;
	}
	*out = abs;
	return 0;
}

/* ---- Revisions and references ---------------------------------------------------- */

/* REF@{N} (N moves ago, from REF's reflog; HEAD's own for HEAD, the current branch's for
 * an empty REF) as "<commit id>" + what follows, into spec. 0: not that form; 1: done;
 * negative: an error. libgit2 reads HEAD@{N} from the branch's reflog, not HEAD's. */
static int reflog_spec(umap_buf *spec, umap_repo *repo, const char *rev)
{
	const char *at = strstr(rev, "@{");
	if (!at)
		return 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(at + 2, &end, 10);
	if (end == at + 2 || *end != '}' || errno || at[2] == '-' || at[2] == '+')
		return 0;
	umap_buf name = UMAP_BUF_INIT, full = UMAP_BUF_INIT;
	int rc = 0;
	if (umap_buf_put(&name, rev, (size_t)(at - rev)))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	git_reference *ref = NULL;
	if (!strcmp(name.ptr, "HEAD")) {
		rc = umap_buf_puts(&full, "HEAD");
	} else if (!*name.ptr) {
		if (git_reference_lookup(&ref, repo->git, "HEAD") == 0 &&
		    git_reference_type(ref) == GIT_REFERENCE_SYMBOLIC)
			rc = umap_buf_puts(&full, git_reference_symbolic_target(ref));
	} else if (git_reference_dwim(&ref, repo->git, name.ptr) == 0) {
		rc = umap_buf_puts(&full, git_reference_name(ref));
	}
	git_reference_free(ref);
	git_reflog *log = NULL;
	const git_reflog_entry *e = NULL;
	if (!rc && full.ptr && git_reflog_read(&log, repo->git, full.ptr) == 0 &&
	    n < git_reflog_entrycount(log))
		e = git_reflog_entry_byindex(log, n);
	if (!rc && !e)
		rc = umap_error_set(UMAP_ENOTFOUND, "unknown revision '%s': %s has no entry %lu in its "
				    "reflog", rev, full.ptr ? full.ptr : name.ptr, n);
	if (!rc) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), git_reflog_entry_id_new(e));
		rc = umap_buf_printf(spec, "%s%s", hex, end + 1) ? umap_error_set(UMAP_ENOMEM, "out of memory") : 1;
	}
	git_reflog_free(log);
	umap_buf_dispose(&name);
	umap_buf_dispose(&full);
	return rc;
}

int umap_repo_resolve(git_oid *commit, umap_repo *repo, const char *rev)
{
	git_object *obj = NULL, *peeled = NULL;
	/* git's "@" alone, or before ~N and ^N, is HEAD */
	umap_buf spec = UMAP_BUF_INIT;
	if (rev[0] == '@' && (!rev[1] || rev[1] == '~' || rev[1] == '^')) {
		if (umap_buf_printf(&spec, "HEAD%s", rev + 1))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
	} else {
		int r = reflog_spec(&spec, repo, rev);
		if (r < 0) {
			umap_buf_dispose(&spec);
			return r;
		}
	}
	int found = git_revparse_single(&obj, repo->git, spec.ptr ? spec.ptr : rev) == 0;
	umap_buf_dispose(&spec);
	if (!found)
		return umap_error_set(UMAP_ENOTFOUND, "unknown revision '%s'", rev);
	int rc = 0;
	if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0)
		rc = umap_error_set(UMAP_EINVALID, "'%s' is not a commit", rev);
	else
		git_oid_cpy(commit, git_object_id(peeled));
	git_object_free(peeled);
	git_object_free(obj);
	return rc;
}

int umap_repo_resolve_path(git_oid *commit, char **path, umap_repo *repo, const char *spec)
{
	*path = NULL;
	const char *colon = strchr(spec, ':');
	if (!colon || colon == spec)
		return umap_error_set(UMAP_EINVALID, "'%s' is not REV:PATH", spec);
	char *rev = strndup(spec, (size_t)(colon - spec));
	if (!rev)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	int rc = umap_repo_resolve(commit, repo, rev);
	const char *p = colon + 1;
	/* as in git, the path is from the top of the working directory unless it starts
	 * with ./ or ../ */
	if (!rc && (!strncmp(p, "./", 2) || !strncmp(p, "../", 3)))
		rc = umap_repo_relpath(path, repo, p);
	else if (!rc) {
		while (*p == '/')
			p++;
		if (!*p)
			rc = umap_error_set(UMAP_EINVALID, "'%s' names no file after the colon", spec);
		else if (!(*path = strdup(p)))
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	git_oid tree;
	char **tracked = NULL;
	size_t n = 0;
	if (!rc && !(rc = umap_repo_commit_tree(&tree, repo, commit)) &&
	    !(rc = umap_repo_tracked(&tracked, &n, repo, &tree))) {
		int found = 0;
		for (size_t i = 0; i < n && !found; i++)
			found = !strcmp(tracked[i], *path);
		if (!found)
			rc = umap_error_set(UMAP_ENOTFOUND, "path '%s' is not tracked in '%s'", *path, rev);
		umap_paths_free(tracked, n);
	}
	if (rc) {
		free(*path);
		*path = NULL;
	}
	free(rev);
	return rc;
}

int umap_repo_head(git_oid *commit, umap_repo *repo)
{
	int err = git_reference_name_to_id(commit, repo->git, "HEAD");
	if (err == GIT_ENOTFOUND || err == GIT_EUNBORNBRANCH)
		return UMAP_ENOTFOUND;
	if (err < 0)
		return umap_error_set(UMAP_ECORRUPT, "cannot read HEAD: %s", umap_git_msg());
	return 0;
}

int umap_repo_head_branch(char **branch, umap_repo *repo)
{
	git_reference *head = NULL;
	*branch = NULL;
	if (git_reference_lookup(&head, repo->git, "HEAD") < 0)
		return umap_error_set(UMAP_ECORRUPT, "cannot read HEAD: %s", umap_git_msg());
	int rc = 0;
	if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
		const char *target = git_reference_symbolic_target(head);
		if (!strncmp(target, "refs/heads/", 11))
			target += 11;
		if (!(*branch = strdup(target)))
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	git_reference_free(head);
	return rc;
}

int umap_repo_commit_tree(git_oid *tree, umap_repo *repo, const git_oid *commit)
{
	git_commit *c = NULL;
	if (git_commit_lookup(&c, repo->git, commit) < 0) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), commit);
		return umap_error_set(UMAP_ECORRUPT, "cannot read commit %s: %s", hex, umap_git_msg());
	}
	git_oid_cpy(tree, git_commit_tree_id(c));
	git_commit_free(c);
	return 0;
}

int umap_repo_merge_base(git_oid *base, umap_repo *repo, const git_oid *a, const git_oid *b)
{
	int err = git_merge_base(base, repo->git, a, b);
	if (err == GIT_ENOTFOUND)
		return umap_error_set(UMAP_ENOTFOUND, "the two revisions have no common ancestor");
	if (err < 0)
		return umap_error_set(UMAP_ECORRUPT, "cannot find a merge base: %s", umap_git_msg());
	return 0;
}

static int head_target(char **name, umap_repo *repo)
{
	char *branch = NULL;
	int rc = umap_repo_head_branch(&branch, repo);
	if (rc)
		return rc;
	umap_buf ref = UMAP_BUF_INIT;
	if (branch ? umap_buf_printf(&ref, "refs/heads/%s", branch) : umap_buf_puts(&ref, "HEAD"))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	free(branch);
	*name = umap_buf_detach(&ref);
	return rc;
}

/* A process killed while it held a ref leaves NAME.lock behind, as git's do; libgit2 then
 * says only "failed to lock file". Name the file and what to do, as git does. */
static int ref_error(const char *what_fmt, const char *what)
{
	const char *msg = umap_git_msg();
	const char *open = strstr(msg, "failed to lock file '");
	char action[512];
	snprintf(action, sizeof(action), what_fmt, what);
	if (open) {
		open += strlen("failed to lock file '");
		const char *close = strchr(open, '\'');
		int len = close ? (int)(close - open) : (int)strlen(open);
		return umap_error_set(UMAP_EIO,
				      "cannot %s: '%.*s' exists; another umapsync process may be "
				      "running in this repository: if none is, remove that file and "
				      "try again", action, len, open);
	}
	return umap_error_set(UMAP_EIO, "cannot %s: %s", action, msg);
}

int umap_repo_advance_head(umap_repo *repo, const git_oid *commit, const git_oid *expected,
			   const char *reflog_message)
{
	char *name = NULL;
	int rc = head_target(&name, repo);
	if (rc)
		return rc;
	git_reference *ref = NULL;
	int err = expected ? git_reference_create_matching(&ref, repo->git, name, commit, 1,
							   expected, reflog_message)
			   : git_reference_create(&ref, repo->git, name, commit, 0, reflog_message);
	if (err == GIT_EMODIFIED || err == GIT_EEXISTS)
		rc = umap_error_set(UMAP_ECONFLICT, "%s moved while this command ran; try again",
				    name);
	else if (err < 0)
		rc = ref_error("update %s", name);
	git_reference_free(ref);
	free(name);
	return rc;
}

int umap_repo_set_head_branch(umap_repo *repo, const char *branch)
{
	umap_buf ref = UMAP_BUF_INIT;
	if (umap_buf_printf(&ref, "refs/heads/%s", branch))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	int rc = 0;
	if (git_repository_set_head(repo->git, ref.ptr) < 0)
		rc = ref_error("switch to %s", branch);
	umap_buf_dispose(&ref);
	return rc;
}

int umap_repo_set_head_detached(umap_repo *repo, const git_oid *commit)
{
	if (git_repository_set_head_detached(repo->git, commit) < 0)
		return ref_error("move %s", "HEAD");
	return 0;
}

int umap_repo_create_ref(umap_repo *repo, const char *refname, const git_oid *commit,
			 const char *reflog_message)
{
	int valid = 0;
	if (git_reference_name_is_valid(&valid, refname) < 0 || !valid)
		return umap_error_set(UMAP_EUSAGE, "'%s' is not a valid name",
				      strrchr(refname, '/') ? strrchr(refname, '/') + 1 : refname);
	git_reference *ref = NULL;
	int err = git_reference_create(&ref, repo->git, refname, commit, 0, reflog_message);
	git_reference_free(ref);
	if (err == GIT_EEXISTS)
		return umap_error_set(UMAP_EEXISTS, "'%s' already exists", refname);
	if (err < 0)
		return ref_error("create %s", refname);
	return 0;
}

/* ---- Identity and commits ------------------------------------------------------------ */

static char *config_string(git_config *cfg, const char *name)
{
	git_buf value = GIT_BUF_INIT;
	char *out = NULL;
	if (cfg && git_config_get_string_buf(&value, cfg, name) == 0 && value.size)
		out = strdup(value.ptr);
	git_buf_dispose(&value);
	return out;
}

/* "@1700000000 +0100", "1700000000 +0100" or "1700000000" */
static int parse_git_date(git_time_t *when, int *offset, const char *text)
{
	char *end;
	if (*text == '@')
		text++;
	errno = 0;
	long long secs = strtoll(text, &end, 10);
	if (errno || end == text)
		return -1;
	*when = secs;
	*offset = 0;
	while (*end == ' ')
		end++;
	if (*end == '+' || *end == '-') {
		int sign = *end == '-' ? -1 : 1;
		long hhmm = strtol(end + 1, &end, 10);
		*offset = sign * (int)((hhmm / 100) * 60 + hhmm % 100);
	}
	return *end ? -1 : 0;
}

int umap_repo_signature(git_signature **out, umap_repo *repo)
{
	/* As in git, the environment overrides the configuration (scripts and CI rely on it). */
	const char *env_name = getenv("GIT_AUTHOR_NAME"), *env_email = getenv("GIT_AUTHOR_EMAIL");
	git_config *cfg = NULL;
	if (git_repository_config_snapshot(&cfg, repo->git) < 0)
		cfg = NULL;
	char *name = env_name && *env_name ? strdup(env_name) : config_string(cfg, "user.name");
	char *email = env_email && *env_email ? strdup(env_email) : config_string(cfg, "user.email");
	git_config_free(cfg);
	int rc = 0;
	if (!name || !email) {
		rc = umap_error_set(UMAP_ENOTFOUND,
				    "who are you? no user.%s is set; run\n"
				    "  umapsync config user.name \"Your Name\"\n"
				    "  umapsync config user.email you@example.org",
				    name ? "email" : "name");
	} else {
		const char *date = getenv("GIT_AUTHOR_DATE");
		git_time_t when;
		int offset;
		int err = date && *date && parse_git_date(&when, &offset, date) == 0
				  ? git_signature_new(out, name, email, when, offset)
				  : git_signature_now(out, name, email);
		if (err < 0)
			rc = umap_error_set(UMAP_EINVALID, "bad user name or email: %s", umap_git_msg());
	}
	free(name);
	free(email);
	return rc;
}

static int put_signature(umap_buf *buf, const char *what, const git_signature *sig)
{
	int off = sig->when.offset, abs_off = off < 0 ? -off : off;
	return umap_buf_printf(buf, "%s %s <%s> %lld %c%02d%02d\n", what, sig->name, sig->email,
			       (long long)sig->when.time, off < 0 ? '-' : '+', abs_off / 60,
			       abs_off % 60);
}

int umap_repo_commit_tree_as(git_oid *commit, umap_repo *repo, const git_oid *tree,
			     const git_oid *parents, size_t nparents, const char *message,
			     int move_head)
{
	git_signature *sig = NULL;
	int rc = umap_repo_signature(&sig, repo);
	if (rc)
		return rc;
	umap_buf buf = UMAP_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), tree);
	rc = umap_buf_printf(&buf, "tree %s\n", hex);
	for (size_t i = 0; i < nparents && !rc; i++) {
		git_oid_tostr(hex, sizeof(hex), &parents[i]);
		rc = umap_buf_printf(&buf, "parent %s\n", hex);
	}
	size_t mlen = strlen(message);
	if (!rc)
		rc = put_signature(&buf, "author", sig) || put_signature(&buf, "committer", sig) ||
		     umap_buf_putc(&buf, '\n') || umap_buf_put(&buf, message, mlen) ||
		     ((!mlen || message[mlen - 1] != '\n') && umap_buf_putc(&buf, '\n'));
	git_signature_free(sig);
	if (rc) {
		umap_buf_dispose(&buf);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	rc = umap_store_put(commit, &repo->store, GIT_OBJECT_COMMIT, buf.ptr, buf.len);
	umap_buf_dispose(&buf);
	if (rc)
		return rc;
	umap_objw_mark(repo->store.objw, commit);
	/* The pack (tree objects marked by umap_repo_build_tree, and the commit) is on disk
	 * and fsync'd before any reference names it. */
	if ((rc = umap_store_flush(&repo->store)))
		return rc;
	if (!move_head)
		return 0;
	char reflog[256];
	snprintf(reflog, sizeof(reflog), "%s: %.200s", nparents ? nparents > 1 ? "commit (merge)"
						       : "commit" : "commit (initial)", message);
	char *nl = strchr(reflog, '\n');
	if (nl)
		*nl = '\0';
	rc = umap_repo_advance_head(repo, commit, nparents ? &parents[0] : NULL, reflog);
	if (!rc && umap_repo_feature_sets_save(repo))
		umap_error_clear(); /* only a cache: the next commit builds whole */
	return rc;
}

/* ---- Feature cache --------------------------------------------------------------------
 * Maps xxh3-128 of a feature's bytes in a working file to the blob id of its canonical
 * form, so that commit/status on an edited 100k-feature file parse only what changed.
 * Content-addressed: an entry can never be wrong, only point to a blob git lost (then the
 * commit is rebuilt without the cache). */

/* 003: blobs keep the spelling of numbers and strings; a cache of 002 maps bytes to
 * blobs of the shortest spelling, so it is dropped (it is only a cache). */
static const char cache_magic[8] = { 'U', 'M', 'A', 'P', 'C', '0', '0', '3' };

static size_t cache_slot(const unsigned char key[16], size_t mask)
{
	uint64_t h;
	memcpy(&h, key, sizeof(h)); /* xxh3-128 bits: already uniform */
	return (size_t)h & mask;
}

static void cache_load(umap_repo *repo)
{
	if (repo->cache_loaded)
		return;
	repo->cache_loaded = 1;
	umap_buf path = UMAP_BUF_INIT, data = UMAP_BUF_INIT;
	if (umap_buf_printf(&path, "%s/umapsync-cache", repo->gitdir) == 0 &&
	    umap_file_read(&data, path.ptr, (size_t)1 << 34) == 0 && data.len >= sizeof(cache_magic) &&
	    !memcmp(data.ptr, cache_magic, sizeof(cache_magic)) &&
	    (data.len - sizeof(cache_magic)) % sizeof(umap_cache_entry) == 0) {
		size_t n = (data.len - sizeof(cache_magic)) / sizeof(umap_cache_entry), size = 64;
		while (size < 2 * n)
			size *= 2;
		repo->cache = malloc(n ? n * sizeof(umap_cache_entry) : 1);
		repo->cache_table = calloc(size, sizeof(*repo->cache_table));
		if (repo->cache && repo->cache_table) {
			memcpy(repo->cache, data.ptr + sizeof(cache_magic), n * sizeof(umap_cache_entry));
			repo->ncache = n;
			repo->cache_size = size;
			for (size_t i = 0; i < n; i++) {
				size_t slot = cache_slot(repo->cache[i].key, size - 1);
				while (repo->cache_table[slot])
					slot = (slot + 1) & (size - 1);
				repo->cache_table[slot] = (uint32_t)(i + 1);
			}
		} else {
			free(repo->cache);
			free(repo->cache_table);
			repo->cache = NULL;
			repo->cache_table = NULL;
		}
	}
	umap_error_clear();
	umap_buf_dispose(&path);
	umap_buf_dispose(&data);
}

int umap_repo_cache_lookup(git_oid *out, umap_repo *repo, const unsigned char key[16])
{
	if (repo->cache_disabled)
		return 0;
	cache_load(repo);
	if (!repo->cache_size)
		return 0;
	size_t mask = repo->cache_size - 1;
	for (size_t slot = cache_slot(key, mask);; slot = (slot + 1) & mask) {
		uint32_t v = repo->cache_table[slot];
		if (!v)
			return 0;
		if (!memcmp(repo->cache[v - 1].key, key, 16)) {
			git_oid_cpy(out, &repo->cache[v - 1].id);
			return 1;
		}
	}
}

int umap_repo_cache_note(umap_repo *repo, const unsigned char key[16], const git_oid *id)
{
	if (repo->nseen == repo->aseen) {
		size_t alloc = repo->aseen ? repo->aseen * 2 : 1024;
		umap_cache_entry *more = realloc(repo->seen, alloc * sizeof(*more));
		if (!more)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		repo->seen = more;
		repo->aseen = alloc;
	}
	memcpy(repo->seen[repo->nseen].key, key, 16);
	git_oid_cpy(&repo->seen[repo->nseen].id, id);
	repo->nseen++;
	return 0;
}

void umap_repo_cache_reset_seen(umap_repo *repo)
{
	repo->nseen = 0;
}

void umap_repo_cache_disable(umap_repo *repo, int disabled)
{
	repo->cache_disabled = disabled;
}

int umap_repo_cache_save(umap_repo *repo)
{
	/* Entries in the order they were seen: the loader hashes them, so no sort is needed,
	 * and a key seen twice maps to the same blob anyway. */
	if (repo->nseen >= UINT32_MAX)
		return 0;
	if (!repo->nseen) {
		/* nothing needed the cache: empty it, unless skipped files may still need it */
		cache_load(repo);
		if (repo->skipped_files || !repo->ncache)
			return 0;
	}
	/* Only blobs git has: a status computes blobs it never writes, and a cache entry
	 * naming one would make the next commit trust a blob that does not exist. */
	size_t n = 0;
	for (size_t i = 0; i < repo->nseen; i++)
		if (!umap_objw_unwritten(repo->store.objw, &repo->seen[i].id))
			repo->seen[n++] = repo->seen[i];
	repo->nseen = n;
	/* Files the stat index let us skip were not hashed: keep what the cache knew (their
	 * features) and add what is new. When every file was read, the cache is what was seen
	 * (so it does not grow with every edit). */
	int keep_loaded = repo->skipped_files && !repo->cache_disabled;
	if (keep_loaded) {
		cache_load(repo);
		n = 0;
		for (size_t i = 0; i < repo->nseen; i++) {
			git_oid id;
			if (!umap_repo_cache_lookup(&id, repo, repo->seen[i].key))
				repo->seen[n++] = repo->seen[i];
		}
		repo->nseen = n;
		if (!n || repo->ncache + n >= UINT32_MAX)
			return 0;
	}
	/* written piece by piece, not copied into one buffer first: at 1M features of an
	 * indented file the entries are 36 MB, and a copy would be the command's peak */
	umap_buf path = UMAP_BUF_INIT;
	umap_atomic_file f;
	if (umap_buf_printf(&path, "%s/umapsync-cache", repo->gitdir))
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	int rc = umap_atomic_file_open(&f, path.ptr);
	umap_buf_dispose(&path);
	if (!rc)
		rc = umap_atomic_file_write(&f, cache_magic, sizeof(cache_magic));
	if (!rc && keep_loaded && repo->ncache)
		rc = umap_atomic_file_write(&f, repo->cache, repo->ncache * sizeof(*repo->cache));
	if (!rc && repo->nseen)
		rc = umap_atomic_file_write(&f, repo->seen, repo->nseen * sizeof(*repo->seen));
	if (!rc)
		return umap_atomic_file_commit(&f);
	umap_atomic_file_abort(&f);
	return rc;
}

/* ---- Checkout in progress ---------------------------------------------------------- */

static int checkout_state_path(umap_buf *path, umap_repo *repo)
{
	return umap_buf_printf(path, "%s/CHECKOUT_STATE", repo->gitdir)
		       ? umap_error_set(UMAP_ENOMEM, "out of memory")
		       : 0;
}

int umap_repo_checkout_state_save(umap_repo *repo, const char *target)
{
	umap_buf path = UMAP_BUF_INIT, data = UMAP_BUF_INIT;
	int rc = checkout_state_path(&path, repo);
	if (!rc && umap_buf_printf(&data, "%s\n", target))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!rc)
		rc = umap_file_write_atomic(path.ptr, data.ptr, data.len);
	umap_buf_dispose(&path);
	umap_buf_dispose(&data);
	return rc;
}

int umap_repo_checkout_state_load(char **target, umap_repo *repo)
{
	*target = NULL;
	umap_buf path = UMAP_BUF_INIT, data = UMAP_BUF_INIT;
	int rc = checkout_state_path(&path, repo);
	if (!rc && access(path.ptr, F_OK) == 0) {
		rc = umap_file_read(&data, path.ptr, 4096);
		while (!rc && data.len && (data.ptr[data.len - 1] == '\n' || data.ptr[data.len - 1] == '\r'))
			data.ptr[--data.len] = '\0';
		if (!rc && (!data.len || memchr(data.ptr, '\n', data.len) || memchr(data.ptr, '\0', data.len)))
			rc = umap_error_set(UMAP_ECORRUPT,
					    "%s: damaged (one branch or commit id expected); remove it", path.ptr);
		if (!rc)
			*target = umap_buf_detach(&data);
	}
	umap_buf_dispose(&path);
	umap_buf_dispose(&data);
	return rc;
}

int umap_repo_checkout_state_remove(umap_repo *repo)
{
	umap_buf path = UMAP_BUF_INIT;
	int rc = checkout_state_path(&path, repo);
	if (!rc && unlink(path.ptr) < 0 && errno != ENOENT)
		rc = umap_error_set_errno(UMAP_EIO, "cannot remove %s", path.ptr);
	umap_buf_dispose(&path);
	return rc;
}

/* ---- Pending rm and mv ------------------------------------------------------------------
 * .umapsync/umapsync-pending: {"format":1,"paths":[{"from":PATH,"to":PATH|null},...]}. */

enum { PENDING_MAX_BYTES = 4 << 20 };

static int pending_path(umap_buf *path, umap_repo *repo)
{
	return umap_buf_printf(path, "%s/umapsync-pending", repo->gitdir)
		       ? umap_error_set(UMAP_ENOMEM, "out of memory")
		       : 0;
}

void umap_pending_clear(umap_pending *pending)
{
	for (size_t i = 0; i < pending->n; i++) {
		free(pending->paths[i].from);
		free(pending->paths[i].to);
	}
	free(pending->paths);
	pending->paths = NULL;
	pending->n = 0;
}

const umap_pending_path *umap_pending_find_from(const umap_pending *pending, const char *from)
{
	for (size_t i = 0; i < pending->n; i++)
		if (!strcmp(pending->paths[i].from, from))
			return &pending->paths[i];
	return NULL;
}

const umap_pending_path *umap_pending_find_to(const umap_pending *pending, const char *to)
{
	for (size_t i = 0; i < pending->n; i++)
		if (pending->paths[i].to && !strcmp(pending->paths[i].to, to))
			return &pending->paths[i];
	return NULL;
}

void umap_pending_drop(umap_pending *pending, const char *from)
{
	for (size_t i = 0; i < pending->n; i++) {
		if (strcmp(pending->paths[i].from, from))
			continue;
		free(pending->paths[i].from);
		free(pending->paths[i].to);
		memmove(&pending->paths[i], &pending->paths[i + 1],
			(pending->n - i - 1) * sizeof(*pending->paths));
		pending->n--;
		return;
	}
}

int umap_pending_set(umap_pending *pending, const char *from, const char *to)
{
	if (to && !strcmp(from, to)) {
		umap_pending_drop(pending, from);
		return 0;
	}
	char *copy = to ? strdup(to) : NULL;
	if (to && !copy)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; i < pending->n; i++) {
		if (!strcmp(pending->paths[i].from, from)) {
			free(pending->paths[i].to);
			pending->paths[i].to = copy;
			return 0;
		}
	}
	umap_pending_path *more = realloc(pending->paths, (pending->n + 1) * sizeof(*more));
	char *from_copy = strdup(from);
	if (!more || !from_copy) {
		if (more)
			pending->paths = more;
		free(copy);
		free(from_copy);
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	pending->paths = more;
	more[pending->n].from = from_copy;
	more[pending->n].to = copy;
	pending->n++;
	return 0;
}

static int pending_damaged(const char *path)
{
	return umap_error_set(UMAP_ECORRUPT,
			      "%s is damaged; 'umapsync reset' forgets the rm and mv it recorded", path);
}

int umap_repo_pending_load(umap_pending *out, umap_repo *repo)
{
	*out = (umap_pending)UMAP_PENDING_INIT;
	umap_buf path = UMAP_BUF_INIT, data = UMAP_BUF_INIT;
	int rc = pending_path(&path, repo);
	if (rc || access(path.ptr, F_OK) != 0) {
		umap_buf_dispose(&path);
		return rc;
	}
	json_t *root = NULL;
	rc = umap_file_read(&data, path.ptr, PENDING_MAX_BYTES);
	if (!rc && umap_json_loadb(&root, data.ptr ? data.ptr : "", data.len, path.ptr))
		rc = pending_damaged(path.ptr);
	json_t *paths = json_object_get(root, "paths");
	json_t *format = json_object_get(root, "format");
	if (!rc && (!json_is_array(paths) || !json_is_integer(format) || json_integer_value(format) != 1))
		rc = pending_damaged(path.ptr);
	for (size_t i = 0; !rc && i < json_array_size(paths); i++) {
		json_t *e = json_array_get(paths, i), *to = json_object_get(e, "to");
		const char *from = json_string_value(json_object_get(e, "from"));
		const char *to_s = json_string_value(to);
		/* every path is a plain one, a HEAD path once, a new path once */
		if (!from || !plain_relpath(from) || (!json_is_null(to) && (!to_s || !plain_relpath(to_s))) ||
		    umap_pending_find_from(out, from) || (to_s && umap_pending_find_to(out, to_s)))
			rc = pending_damaged(path.ptr);
		else
			rc = umap_pending_set(out, from, to_s);
	}
	json_decref(root);
	if (rc)
		umap_pending_clear(out);
	umap_buf_dispose(&path);
	umap_buf_dispose(&data);
	return rc;
}

int umap_repo_pending_remove(umap_repo *repo)
{
	umap_buf path = UMAP_BUF_INIT;
	int rc = pending_path(&path, repo);
	if (!rc && unlink(path.ptr) < 0 && errno != ENOENT)
		rc = umap_error_set_errno(UMAP_EIO, "cannot remove %s", path.ptr);
	umap_buf_dispose(&path);
	return rc;
}

int umap_repo_pending_save(umap_repo *repo, const umap_pending *pending)
{
	if (!pending->n)
		return umap_repo_pending_remove(repo);
	json_t *root = json_pack("{s:i, s:[]}", "format", 1, "paths");
	json_t *paths = json_object_get(root, "paths");
	int rc = root ? 0 : umap_error_set(UMAP_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < pending->n; i++) {
		const umap_pending_path *p = &pending->paths[i];
		json_t *e = json_pack("{s:s, s:o}", "from", p->from, "to",
				      p->to ? json_string(p->to) : json_null());
		if (!e || json_array_append_new(paths, e))
			rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	}
	umap_buf path = UMAP_BUF_INIT, text = UMAP_BUF_INIT;
	if (!rc)
		rc = pending_path(&path, repo);
	if (!rc && (rc = umap_json_write(&text, root, UMAP_JSON_COMPACT)) == 0 && umap_buf_putc(&text, '\n'))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!rc)
		rc = umap_file_write_atomic(path.ptr, text.ptr, text.len);
	json_decref(root);
	umap_buf_dispose(&path);
	umap_buf_dispose(&text);
	return rc;
}

/* ---- Stat index -------------------------------------------------------------------------
 * .umapsync/umapsync-index, text: a header line, then per file
 * "<sig hex32> <mtime ns> <ctime ns> <size> <inode> <device> <path>". */

static const char index_header[] = "umapsync-index 1\n";

void umap_file_stat_from(umap_file_stat *out, const struct stat *st)
{
	out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	out->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	out->size = (uint64_t)st->st_size;
	out->ino = (uint64_t)st->st_ino;
	out->dev = (uint64_t)st->st_dev;
}

static int index_path(umap_buf *path, umap_repo *repo)
{
	return umap_buf_printf(path, "%s/umapsync-index", repo->gitdir)
		       ? umap_error_set(UMAP_ENOMEM, "out of memory")
		       : 0;
}

static umap_index_entry *index_find(umap_repo *repo, const char *path)
{
	for (size_t i = 0; i < repo->nindex; i++)
		if (!strcmp(repo->index[i].path, path))
			return &repo->index[i];
	return NULL;
}

static int index_add(umap_repo *repo, const char *path, const umap_file_stat *st,
		     const unsigned char sig[16])
{
	umap_index_entry *e = index_find(repo, path);
	if (!e) {
		umap_index_entry *more = realloc(repo->index, (repo->nindex + 1) * sizeof(*more));
		if (!more)
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		repo->index = more;
		e = &repo->index[repo->nindex];
		if (!(e->path = strdup(path)))
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		repo->nindex++;
	}
	e->st = *st;
	memcpy(e->sig, sig, 16);
	return 0;
}

/* A damaged or unreadable index is no index: every file is read. */
static void index_load(umap_repo *repo)
{
	if (repo->index_loaded)
		return;
	repo->index_loaded = 1;
	umap_buf path = UMAP_BUF_INIT, data = UMAP_BUF_INIT;
	struct stat st;
	if (index_path(&path, repo) || stat(path.ptr, &st) ||
	    umap_file_read(&data, path.ptr, (size_t)1 << 30) || data.len < sizeof(index_header) - 1 ||
	    memcmp(data.ptr, index_header, sizeof(index_header) - 1)) {
		umap_error_clear();
		umap_buf_dispose(&path);
		umap_buf_dispose(&data);
		return;
	}
	umap_file_stat self;
	umap_file_stat_from(&self, &st);
	repo->index_mtime_ns = self.mtime_ns;
	char *line = data.ptr + sizeof(index_header) - 1, *end = data.ptr + data.len;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if (!nl)
			break;
		*nl = '\0';
		char hex[33];
		long long mt, ct;
		unsigned long long size, ino, dev;
		int at = 0;
		unsigned char sig[16];
		int ok = sscanf(line, "%32s %lld %lld %llu %llu %llu %n", hex, &mt, &ct, &size, &ino, &dev,
				&at) == 6 && at > 0 && strlen(hex) == 32;
		for (int i = 0; ok && i < 16; i++) {
			unsigned v;
			ok = sscanf(hex + 2 * i, "%2x", &v) == 1;
			sig[i] = (unsigned char)v;
		}
		if (ok) {
			umap_file_stat fs = { mt, ct, size, ino, dev };
			if (index_add(repo, line + at, &fs, sig))
				break;
		}
		line = nl + 1;
	}
	umap_error_clear();
	umap_buf_dispose(&path);
	umap_buf_dispose(&data);
}

int umap_repo_index_fresh(umap_repo *repo, const char *path, const umap_file_stat *st,
			  const git_oid *tree)
{
	index_load(repo);
	const umap_index_entry *e = index_find(repo, path);
	if (!e || e->st.mtime_ns != st->mtime_ns || e->st.ctime_ns != st->ctime_ns ||
	    e->st.size != st->size || e->st.ino != st->ino || e->st.dev != st->dev)
		return 0;
	/* racy: written in the same instant as the index, it may have changed unseen since */
	if (st->mtime_ns >= repo->index_mtime_ns)
		return 0;
	unsigned char sig[16];
	if (umap_repo_file_sig(sig, repo, tree, path)) {
		umap_error_clear();
		return 0;
	}
	return !memcmp(sig, e->sig, 16);
}

int umap_repo_index_record(umap_repo *repo, const char *path, const umap_file_stat *st,
			   const git_oid *tree)
{
	index_load(repo);
	umap_file_stat now;
	if (!st) {
		char *abs = NULL;
		struct stat raw;
		int rc = umap_repo_abspath(&abs, repo, path);
		if (!rc && stat(abs, &raw))
			rc = umap_error_set_errno(UMAP_EIO, "cannot stat %s", abs);
		free(abs);
		if (rc)
			return rc;
		umap_file_stat_from(&now, &raw);
		st = &now;
	}
	if (strchr(path, '\n'))
		return 0; /* not representable in the index: such a file is always read */
	unsigned char sig[16];
	int rc = umap_repo_file_sig(sig, repo, tree, path);
	if (!rc && !(rc = index_add(repo, path, st, sig)))
		repo->index_dirty = 1;
	return rc;
}

int umap_repo_index_save(umap_repo *repo)
{
	if (!repo->index_dirty)
		return 0;
	umap_buf data = UMAP_BUF_INIT, path = UMAP_BUF_INIT;
	int rc = umap_buf_puts(&data, index_header) ? UMAP_ENOMEM : 0;
	for (size_t i = 0; i < repo->nindex && !rc; i++) {
		const umap_index_entry *e = &repo->index[i];
		for (int k = 0; k < 16 && !rc; k++)
			rc = umap_buf_printf(&data, "%02x", e->sig[k]) ? UMAP_ENOMEM : 0;
		if (!rc && umap_buf_printf(&data, " %lld %lld %llu %llu %llu %s\n", (long long)e->st.mtime_ns,
					   (long long)e->st.ctime_ns, (unsigned long long)e->st.size,
					   (unsigned long long)e->st.ino, (unsigned long long)e->st.dev,
					   e->path))
			rc = UMAP_ENOMEM;
	}
	if (rc)
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	if (!rc)
		rc = index_path(&path, repo);
	if (!rc)
		rc = umap_file_write_atomic(path.ptr, data.ptr, data.len);
	struct stat st;
	if (!rc && stat(path.ptr, &st) == 0) {
		umap_file_stat self;
		umap_file_stat_from(&self, &st);
		repo->index_mtime_ns = self.mtime_ns;
	}
	if (!rc)
		repo->index_dirty = 0;
	umap_buf_dispose(&data);
	umap_buf_dispose(&path);
	return rc;
}

/* ---- Feature sets -----------------------------------------------------------------------
 * .umapsync/umapsync-features: "UMAPFS02", then per layer: u32 id length, the id, the
 * features tree id (20 bytes), u32 depth, u64 n, u32 counts[64^depth], u64 length of the
 * hashes' bytes, then the n sorted hashes Rice-coded (native byte order: a cache of this
 * machine's, checked by its trailing xxh3-64). "UMAPFS01" files (u64 hashes[n] as they
 * are) are still read. The hashes are uniform and sorted: coding their gaps (k low bits
 * as they are, the rest in unary) takes ~49 bits a hash at 100k, not 64, and the file is
 * part of the repository's size. */

static const char sets_magic[8] = { 'U', 'M', 'A', 'P', 'F', 'S', '0', '2' };
static const char sets_magic_v1[8] = { 'U', 'M', 'A', 'P', 'F', 'S', '0', '1' };

/* The Rice parameter for n uniform 64-bit values: the gaps average 2^64/(n+1). */
static unsigned rice_k(uint64_t n)
{
	uint64_t gap = UINT64_MAX / (n + 1);
	unsigned k = 0;
	while (k < 63 && (gap >> (k + 1)))
		k++;
	return k;
}

/* Bits packed from the low bit of each byte, into a buffer grown beforehand. */
typedef struct bitw {
	unsigned char *o;
	uint64_t acc;
	unsigned nacc;
} bitw;

static void bits_put(bitw *w, uint64_t v, unsigned n) /* n <= 32 */
{
	w->acc |= (v & (((uint64_t)1 << n) - 1)) << w->nacc;
	w->nacc += n;
	if (w->nacc >= 32) {
		for (int i = 0; i < 4; i++, w->acc >>= 8)
			*w->o++ = (unsigned char)w->acc;
		w->nacc -= 32;
	}
}

static int rice_encode(umap_buf *out, const uint64_t *v, size_t n)
{
	unsigned k = rice_k(n);
	/* at most k + 1 bits a value plus (sum of gaps >> k) <= 2^64 >> k ones in all */
	size_t bound = n / 8 * (k + 2) + n + ((k < 63 ? UINT64_MAX >> k : 1) + 7) / 8 + 64;
	if (umap_buf_grow(out, bound))
		return UMAP_ENOMEM;
	unsigned char *start = (unsigned char *)out->ptr + out->len;
	bitw w = { start, 0, 0 };
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t gap = v[i] - prev, q = gap >> k;
		prev = v[i];
		for (; q >= 32; q -= 32)
			bits_put(&w, 0xffffffffu, 32);
		bits_put(&w, ((uint64_t)1 << q) - 1, (unsigned)q + 1); /* q ones, then a zero */
		if (k > 32) {
			bits_put(&w, gap, 32);
			bits_put(&w, gap >> 32, k - 32);
		} else {
			bits_put(&w, gap, k);
		}
	}
	while (w.nacc) {
		*w.o++ = (unsigned char)w.acc;
		w.acc >>= 8;
		w.nacc = w.nacc > 8 ? w.nacc - 8 : 0;
	}
	out->len += (size_t)(w.o - start);
	return 0;
}

/* The 57 bits from `bit` on (fewer at the end: zeros). */
static uint64_t bits_peek(const unsigned char *p, size_t len, size_t bit)
{
	uint64_t v = 0;
	size_t at = bit >> 3;
	if (at + 8 <= len)
		memcpy(&v, p + at, 8);
	else if (at < len)
		memcpy(&v, p + at, len - at);
	return (v >> (bit & 7)) & (((uint64_t)1 << 57) - 1);
}

/* -1 when the bits run out: a damaged file. */
static int rice_decode(uint64_t *v, size_t n, const unsigned char *p, size_t len)
{
	unsigned k = rice_k(n);
	size_t bit = 0, nbits = len * 8;
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t q = 0;
		for (;;) {
			if (bit >= nbits)
				return -1;
			uint64_t w = bits_peek(p, len, bit);
			uint64_t zero = ~w & (((uint64_t)1 << 57) - 1);
			if (zero) {
				unsigned ones = (unsigned)__builtin_ctzll(zero);
				q += ones;
				bit += ones + 1;
				break;
			}
			q += 57;
			bit += 57;
		}
		if (bit > nbits || nbits - bit < k)
			return -1;
		uint64_t low = bits_peek(p, len, bit) & (k >= 32 ? 0xffffffffu : (((uint64_t)1 << k) - 1));
		if (k > 32)
			low |= (bits_peek(p, len, bit + 32) & (((uint64_t)1 << (k - 32)) - 1)) << 32;
		bit += k;
		prev += (q << k) + low;
		v[i] = prev;
	}
	return 0;
}

static int sets_path(umap_buf *path, umap_repo *repo)
{
	return umap_buf_printf(path, "%s/umapsync-features", repo->gitdir)
		       ? umap_error_set(UMAP_ENOMEM, "out of memory")
		       : 0;
}

static int set_add(umap_repo *repo, const char *layer, const git_oid *features, int depth,
		   uint32_t *counts, uint64_t *hashes, size_t n, int noted)
{
	umap_feature_set *set = NULL;
	for (size_t i = 0; i < repo->nsets; i++)
		if (!strcmp(repo->sets[i].layer, layer))
			set = &repo->sets[i];
	if (!set) {
		umap_feature_set *more = realloc(repo->sets, (repo->nsets + 1) * sizeof(*more));
		char *copy = strdup(layer);
		if (!more || !copy) {
			if (more)
				repo->sets = more;
			free(copy);
			free(counts);
			free(hashes);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		repo->sets = more;
		set = &repo->sets[repo->nsets++];
		memset(set, 0, sizeof(*set));
		set->layer = copy;
	}
	free(set->counts);
	free(set->hashes);
	git_oid_cpy(&set->features, features);
	set->depth = depth;
	set->counts = counts;
	set->hashes = hashes;
	set->n = n;
	set->noted = noted;
	return 0;
}

static int take(void *out, size_t len, const char **p, const char *end)
{
	if ((size_t)(end - *p) < len)
		return -1;
	memcpy(out, *p, len);
	*p += len;
	return 0;
}

static uint64_t stored_sum(const umap_buf *data)
{
	uint64_t sum;
	memcpy(&sum, data->ptr + data->len - 8, 8);
	return sum;
}

/* A damaged file is no file: every layer is built whole. */
static void sets_load(umap_repo *repo)
{
	if (repo->sets_loaded)
		return;
	repo->sets_loaded = 1;
	umap_buf path = UMAP_BUF_INIT, data = UMAP_BUF_INIT;
	if (sets_path(&path, repo) || access(path.ptr, F_OK) ||
	    umap_file_read(&data, path.ptr, (size_t)1 << 34) || data.len < sizeof(sets_magic) + 8 ||
	    (memcmp(data.ptr, sets_magic, sizeof(sets_magic)) &&
	     memcmp(data.ptr, sets_magic_v1, sizeof(sets_magic_v1))) ||
	    umap_hash(data.ptr, data.len - 8) != stored_sum(&data)) {
		umap_error_clear();
		umap_buf_dispose(&path);
		umap_buf_dispose(&data);
		return;
	}
	int v1 = !memcmp(data.ptr, sets_magic_v1, sizeof(sets_magic_v1));
	const char *p = data.ptr + sizeof(sets_magic), *end = data.ptr + data.len - 8;
	while (p < end) {
		uint32_t idlen, depth;
		uint64_t n;
		git_oid features;
		char id[1024];
		if (take(&idlen, 4, &p, end) || idlen >= sizeof(id) || take(id, idlen, &p, end) ||
		    take(features.id, GIT_OID_RAWSZ, &p, end) || take(&depth, 4, &p, end) || depth > 3 ||
		    take(&n, 8, &p, end) || n > (uint64_t)(end - p) * (v1 ? 1 : 8) / 8)
			break;
		id[idlen] = '\0';
		size_t nleaves = (size_t)1 << (6 * depth);
		uint32_t *counts = malloc(nleaves * sizeof(*counts));
		uint64_t *hashes = malloc((n ? n : 1) * sizeof(*hashes));
		uint64_t coded = 0;
		int bad = !counts || !hashes || take(counts, nleaves * 4, &p, end);
		if (!bad && v1)
			bad = take(hashes, n * 8, &p, end);
		else if (!bad) {
			bad = take(&coded, 8, &p, end) || coded > (uint64_t)(end - p) ||
			      rice_decode(hashes, n, (const unsigned char *)p, (size_t)coded);
			if (!bad)
				p += coded;
		}
		if (bad) {
			free(counts);
			free(hashes);
			break;
		}
		if (set_add(repo, id, &features, (int)depth, counts, hashes, n, 0))
			break;
	}
	umap_error_clear();
	umap_buf_dispose(&path);
	umap_buf_dispose(&data);
}

const umap_feature_set *umap_repo_feature_set(umap_repo *repo, const char *layer,
					      const git_oid *features)
{
	if (!layer)
		return NULL;
	sets_load(repo);
	for (size_t i = 0; i < repo->nsets; i++)
		if (!strcmp(repo->sets[i].layer, layer))
			return git_oid_equal(&repo->sets[i].features, features) ? &repo->sets[i] : NULL;
	return NULL;
}

void umap_repo_feature_sets_release(umap_repo *repo)
{
	for (size_t i = 0; i < repo->nsets; i++)
		if (repo->sets[i].noted)
			return; /* to be saved */
	for (size_t i = 0; i < repo->nsets; i++) {
		free(repo->sets[i].layer);
		free(repo->sets[i].counts);
		free(repo->sets[i].hashes);
	}
	free(repo->sets);
	repo->sets = NULL;
	repo->nsets = 0;
	repo->sets_loaded = 0; /* read again when asked for */
}

int umap_repo_feature_set_note(umap_repo *repo, const char *layer, const git_oid *features,
			       int depth, uint32_t *counts, uint64_t *hashes, size_t n)
{
	sets_load(repo);
	return set_add(repo, layer, features, depth, counts, hashes, n, 1);
}

int umap_repo_feature_set_edit(umap_repo *repo, const char *layer, const git_oid *features,
			       uint32_t *counts, const uint64_t *gone, size_t ngone, const uint64_t *made,
			       size_t nmade)
{
	umap_feature_set *set = NULL;
	for (size_t i = 0; i < repo->nsets && !set; i++)
		if (!strcmp(repo->sets[i].layer, layer))
			set = &repo->sets[i];
	size_t g = 0;
	/* every hash that goes is there (one each, as the edit below takes them), before
	 * anything is changed */
	for (size_t i = 0; set && i < set->n && g < ngone; i++)
		g += set->hashes[i] == gone[g];
	if (!set || g != ngone) {
		free(counts);
		return UMAP_ECONFLICT;
	}
	size_t n = set->n - ngone + nmade;
	if (nmade > ngone) {
		uint64_t *more = realloc(set->hashes, n * sizeof(*more));
		if (!more) {
			free(counts);
			return umap_error_set(UMAP_ENOMEM, "out of memory");
		}
		set->hashes = more;
	}
	/* out, front to back (nothing is written ahead of what is read); then in, back to
	 * front (likewise) */
	size_t kept = 0;
	g = 0;
	for (size_t i = 0; i < set->n; i++) {
		if (g < ngone && set->hashes[i] == gone[g])
			g++;
		else
			set->hashes[kept++] = set->hashes[i];
	}
	for (size_t at = n, m = nmade, i = kept; m;) {
		if (i && set->hashes[i - 1] > made[m - 1])
			set->hashes[--at] = set->hashes[--i];
		else
			set->hashes[--at] = made[--m];
	}
	free(set->counts);
	set->counts = counts;
	set->n = n;
	git_oid_cpy(&set->features, features);
	set->noted = 1;
	return 0;
}

int umap_repo_feature_sets_save(umap_repo *repo)
{
	int any = 0;
	for (size_t i = 0; i < repo->nsets; i++)
		any |= repo->sets[i].noted;
	if (!any)
		return 0;
	umap_buf data = UMAP_BUF_INIT, path = UMAP_BUF_INIT;
	int rc = umap_buf_put(&data, sets_magic, sizeof(sets_magic));
	for (size_t i = 0; i < repo->nsets && !rc; i++) {
		const umap_feature_set *set = &repo->sets[i];
		uint32_t idlen = (uint32_t)strlen(set->layer), depth = (uint32_t)set->depth;
		uint64_t n = set->n;
		if (idlen >= 1024)
			continue;
		rc = umap_buf_put(&data, &idlen, 4) || umap_buf_put(&data, set->layer, idlen) ||
		     umap_buf_put(&data, set->features.id, GIT_OID_RAWSZ) || umap_buf_put(&data, &depth, 4) ||
		     umap_buf_put(&data, &n, 8) ||
		     umap_buf_put(&data, set->counts, ((size_t)1 << (6 * set->depth)) * 4);
		size_t at = data.len;
		uint64_t coded = 0;
		rc = rc || umap_buf_put(&data, &coded, 8) || rice_encode(&data, set->hashes, set->n);
		if (!rc) {
			coded = data.len - at - 8;
			memcpy(data.ptr + at, &coded, 8);
		}
	}
	uint64_t sum = rc ? 0 : umap_hash(data.ptr, data.len);
	if (rc || umap_buf_put(&data, &sum, 8) || sets_path(&path, repo))
		rc = umap_error_set(UMAP_ENOMEM, "out of memory");
	else
		rc = umap_file_write_atomic(path.ptr, data.ptr, data.len);
	for (size_t i = 0; i < repo->nsets && !rc; i++)
		repo->sets[i].noted = 0;
	umap_buf_dispose(&data);
	umap_buf_dispose(&path);
	return rc;
}
