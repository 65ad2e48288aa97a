/* Shared plumbing of remote, clone, push and pull: remotes in config, sync state and the
 * durable outbox, tokens, requests with retries, and the clocks of last-writer-wins
 * (commit trailers, the time of each local edit). */
#include "builtin.h"
#include "config-cmd.h"
#include "repo-cmd.h"
#include "sync-cmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "hlc.h"
#include "json.h"
#include "ops.h"
#include "repo_merge.h"
#include "strutil.h"
#include "umap_remote.h"

#define CONFIG_SECTION "umapsync-remote"

static char *config_get(git_config *cfg, const char *name, const char *key)
{
	umap_buf var = UMAP_BUF_INIT;
	umap_buf_printf(&var, CONFIG_SECTION ".%s.%s", name, key);
	git_buf value = GIT_BUF_INIT;
	char *out = NULL;
	if (git_config_get_string_buf(&value, cfg, var.ptr) == 0)
		out = strdup(value.ptr);
	git_buf_dispose(&value);
	umap_buf_dispose(&var);
	return out;
}

static git_config *open_config(umap_repo *repo)
{
	git_config *cfg = NULL;
	if (git_repository_config(&cfg, umap_repo_git(repo)) < 0)
		die("cannot read the repository's config: %s", git_error_last() ? git_error_last()->message : "?");
	return cfg;
}

char *sync_read_token(const char *token_file)
{
	const char *env = getenv("UMAPSYNC_TOKEN");
	if (env && *env)
		return strdup(env);
	if (!token_file)
		return NULL;
	umap_buf buf = UMAP_BUF_INIT;
	if (umap_file_read(&buf, token_file, 4096))
		die_lib("reading the token file");
	while (buf.len && (buf.ptr[buf.len - 1] == '\n' || buf.ptr[buf.len - 1] == '\r' ||
			   buf.ptr[buf.len - 1] == ' '))
		buf.ptr[--buf.len] = '\0';
	return umap_buf_detach(&buf);
}

/* The remote a command uses when none is named: the configured default, else the only
 * remote there is, else "origin" (as git). *configured says whether the config chose it. */
static char *default_remote(git_config *cfg, int *configured)
{
	git_buf value = GIT_BUF_INIT;
	char *name = NULL;
	*configured = git_config_get_string_buf(&value, cfg, SETTING_DEFAULT_REMOTE) == 0;
	if (*configured) {
		name = strdup(value.ptr);
	} else {
		git_config_iterator *it = NULL;
		git_config_entry *entry;
		size_t count = 0;
		/* a plain iterator filtered here: libgit2's glob iterator leaks its regex */
		if (git_config_iterator_new(&it, cfg) == 0) {
			while (git_config_next(&entry, it) == 0) {
				if (strncmp(entry->name, CONFIG_SECTION ".", sizeof(CONFIG_SECTION)) ||
				    !umap_ends_with(entry->name, ".url") || count++)
					continue;
				size_t len = strlen(entry->name) - sizeof(CONFIG_SECTION) - strlen(".url");
				name = strndup(entry->name + sizeof(CONFIG_SECTION), len);
			}
			git_config_iterator_free(it);
		}
		if (count != 1) {
			free(name);
			name = strdup("origin");
		}
	}
	git_buf_dispose(&value);
	if (!name)
		die("out of memory");
	return name;
}

void sync_remote_load(struct sync_remote *remote, umap_repo *repo, const char *name)
{
	memset(remote, 0, sizeof(*remote));
	git_config *cfg = open_config(repo);
	int configured = 0;
	remote->name = name ? strdup(name) : default_remote(cfg, &configured);
	if (!remote->name)
		die("out of memory");
	remote->url = config_get(cfg, remote->name, "url");
	remote->token_file = config_get(cfg, remote->name, "tokenfile");
	git_config_free(cfg);
	if (!remote->url) {
		fflush(stdout);
		fprintf(stderr, "fatal: no remote named '%s'%s\n", remote->name,
			configured ? " (the default, set by " SETTING_DEFAULT_REMOTE ")" : "");
		if (configured)
			hint("add it with 'umapsync remote add %s http://HOST:PORT/MAP', or change the default with 'umapsync config %s NAME'",
			     remote->name, SETTING_DEFAULT_REMOTE);
		else
			hint("add one with 'umapsync remote add %s http://HOST:PORT/MAP'", remote->name);
		exit(EXIT_FATAL);
	}
	/* a uMap map's URL is not a sync server's: umap-remote-cmd.c takes it */
	if (!umap_remote_url_is_umap(remote->url) && umap_sync_url_parse(&remote->parsed, remote->url))
		die_lib("remote '%s'", remote->name);
	remote->token = sync_read_token(remote->token_file);
}

void sync_remote_dispose(struct sync_remote *remote)
{
	free(remote->name);
	free(remote->url);
	free(remote->token_file);
	umap_sync_url_dispose(&remote->parsed);
	if (remote->token) {
		memset(remote->token, 0, strlen(remote->token));
		free(remote->token);
	}
	memset(remote, 0, sizeof(*remote));
}

void sync_remote_save(umap_repo *repo, const char *name, const char *url, const char *token_file)
{
	git_config *cfg = open_config(repo);
	umap_buf var = UMAP_BUF_INIT;
	umap_buf_printf(&var, CONFIG_SECTION ".%s.url", name);
	int rc = git_config_set_string(cfg, var.ptr, url);
	if (!rc && token_file) {
		umap_buf_clear(&var);
		umap_buf_printf(&var, CONFIG_SECTION ".%s.tokenfile", name);
		rc = git_config_set_string(cfg, var.ptr, token_file);
	}
	umap_buf_dispose(&var);
	git_config_free(cfg);
	if (rc < 0)
		die("cannot write the repository's config: %s", git_error_last() ? git_error_last()->message : "?");
}

static char *sync_path(umap_repo *repo, const char *remote, const char *suffix)
{
	umap_buf path = UMAP_BUF_INIT;
	umap_buf_printf(&path, "%s/sync", umap_repo_gitdir(repo));
	if (umap_mkdir_p(path.ptr, 0777))
		die_lib(NULL);
	umap_buf_printf(&path, "/%s%s", remote, suffix);
	return umap_buf_detach(&path);
}

static json_t *load_json_file(const char *path)
{
	umap_buf buf = UMAP_BUF_INIT;
	struct stat st;
	if (stat(path, &st) < 0 && errno == ENOENT)
		return NULL;
	json_t *root = NULL;
	if (umap_file_read(&buf, path, (size_t)1 << 30) || umap_json_loadb(&root, buf.ptr, buf.len, path))
		die_lib("reading %s", path);
	umap_buf_dispose(&buf);
	if (!json_is_object(root))
		die("%s is damaged (not a JSON object)", path);
	return root;
}

static void save_json_file(const char *path, const json_t *root, unsigned flags)
{
	char *text = umap_json_dumps(root, flags);
	if (!text || umap_file_write_atomic(path, text, strlen(text)))
		die_lib("writing %s", path);
	free(text);
}

static void new_client_id(char out[18])
{
	unsigned char bytes[8];
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(bytes, 1, sizeof(bytes), f) != sizeof(bytes))
		die_errno("cannot read /dev/urandom");
	fclose(f);
	out[0] = 'c';
	for (int i = 0; i < 8; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", bytes[i]);
}

json_t *sync_state_load(umap_repo *repo, const char *remote)
{
	char *path = sync_path(repo, remote, ".json");
	json_t *state = load_json_file(path);
	free(path);
	if (!state) {
		char id[18];
		new_client_id(id);
		state = json_pack("{s:s, s:I, s:n, s:n, s:I}", "client_id", id, "cursor", (json_int_t)0, "synced",
				  "server", "next_op", (json_int_t)1);
		if (!state)
			die("out of memory");
	}
	return state;
}

void sync_state_save(umap_repo *repo, const char *remote, json_t *state)
{
	char *path = sync_path(repo, remote, ".json");
	save_json_file(path, state, UMAP_JSON_INDENT(2));
	free(path);
}

/* The outbox is written once; how far its sending got goes to a small file beside it after
 * each acknowledged batch, so that a push of n ops writes O(n) bytes, not O(n^2 / batch). */
#define OUTBOX_SUFFIX ".outbox.json"
#define OUTBOX_SENT_SUFFIX ".outbox-sent.json"

static void remove_file(umap_repo *repo, const char *remote, const char *suffix)
{
	char *path = sync_path(repo, remote, suffix);
	if (unlink(path) < 0 && errno != ENOENT)
		die_errno("cannot remove %s", path);
	free(path);
}

/* Adds to a loaded outbox of `total` ops what NAME.outbox-sent.json records. */
static json_t *outbox_add_sent(json_t *outbox, umap_repo *repo, const char *remote, size_t total)
{
	char *path = sync_path(repo, remote, OUTBOX_SENT_SUFFIX);
	json_t *sent = load_json_file(path);
	json_int_t n = sent ? json_integer_value(json_object_get(sent, "sent")) : 0;
	if (n < 0 || (size_t)n > total)
		die("%s is damaged (sent %lld ops of %zu)", path, (long long)n, total);
	free(path);
	json_t *expected = json_object_get(sent, "expected");
	if (expected && json_object_set(outbox, "expected", expected))
		die("out of memory");
	json_object_set_new(outbox, "sent", json_integer(n));
	json_decref(sent);
	return outbox;
}

json_t *sync_outbox_load(umap_repo *repo, const char *remote)
{
	char *path = sync_path(repo, remote, OUTBOX_SUFFIX);
	json_t *outbox = load_json_file(path);
	free(path);
	return outbox ? outbox_add_sent(outbox, repo, remote, json_array_size(json_object_get(outbox, "ops"))) : NULL;
}

/* Notes op `i` at [start, start + len) of the file. */
static void places_add(struct sync_outbox_places *p, size_t *cap, size_t start, size_t len)
{
	if (p->n == *cap) {
		size_t more = *cap ? 2 * *cap : 1024;
		size_t *s = realloc(p->start, more * sizeof(*s));
		if (s)
			p->start = s;
		size_t *l = s ? realloc(p->len, more * sizeof(*l)) : NULL;
		if (!l)
			die("out of memory");
		p->len = l;
		*cap = more;
	}
	p->start[p->n] = start;
	p->len[p->n++] = len;
}

/* The lines of an outbox as sync_outbox_add writes it: the header, then one op a line
 * (each but the last followed by a comma), then "]}". 0 when the file has that form. */
static int outbox_lines(json_t **header, struct sync_outbox_places *p, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die_errno("cannot read %s", path);
	umap_buf line = UMAP_BUF_INIT;
	char *chunk = malloc((size_t)1 << 20);
	size_t cap = 0, offset = 0, line_at = 0;
	int state = 0, bad = 0; /* 0: the header, 1: ops, 2: done */
	char first = 0, tail[2] = { 0, 0 };
	ssize_t got;
	if (!chunk)
		die("out of memory");
	while (!bad && (got = read(fd, chunk, (size_t)1 << 20)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			die_errno("cannot read %s", path);
		}
		for (const char *c = chunk, *end = chunk + got; c < end && !bad;) {
			const char *nl = memchr(c, '\n', (size_t)(end - c));
			size_t n = nl ? (size_t)(nl - c) : (size_t)(end - c);
			/* only the header is kept as text: of an op, its place and its first and
			 * last two bytes ("{", then "}" or "},") */
			if (state == 0 && umap_buf_put(&line, c, n))
				die("out of memory");
			if (n && offset == line_at)
				first = c[0];
			if (n >= 2) {
				tail[0] = c[n - 2];
				tail[1] = c[n - 1];
			} else if (n == 1) {
				tail[0] = tail[1];
				tail[1] = c[0];
			}
			offset += n;
			c += n;
			if (!nl)
				continue;
			size_t len = offset - line_at;
			if (state == 0) {
				if (umap_buf_puts(&line, "]}") || !umap_ends_with(line.ptr, "\"ops\":[]}") ||
				    umap_json_loadb(header, line.ptr, line.len, path))
					bad = 1;
				state = 1;
			} else if (state == 1 && len == 2 && tail[0] == ']' && tail[1] == '}') {
				state = 2;
			} else if (state == 1 && len) {
				size_t op_len = len - (tail[1] == ',');
				if (first != '{' || op_len < 2 || (tail[1] == ',' ? tail[0] : tail[1]) != '}')
					bad = 1;
				else
					places_add(p, &cap, line_at, op_len);
			} else if (state == 2 && len) {
				bad = 1;
			}
			c++;
			offset++;
			line_at = offset;
		}
	}
	close(fd);
	free(chunk);
	umap_buf_dispose(&line);
	if (bad || state != 2) {
		umap_error_clear();
		json_decref(*header);
		*header = NULL;
		return -1;
	}
	return 0;
}

json_t *sync_outbox_load_places(umap_repo *repo, const char *remote, struct sync_outbox_places *places)
{
	memset(places, 0, sizeof(*places));
	char *path = sync_path(repo, remote, OUTBOX_SUFFIX);
	struct stat st;
	if (stat(path, &st) < 0 && errno == ENOENT) {
		free(path);
		return NULL;
	}
	json_t *header = NULL;
	if (outbox_lines(&header, places, path)) {
		/* not in the one-op-a-line form (damaged: load_json_file says how) */
		sync_outbox_places_dispose(places);
		free(path);
		return sync_outbox_load(repo, remote);
	}
	json_object_del(header, "ops");
	places->path = path;
	return outbox_add_sent(header, repo, remote, places->n);
}

void sync_outbox_places_dispose(struct sync_outbox_places *p)
{
	free(p->path);
	free(p->start);
	free(p->len);
	memset(p, 0, sizeof(*p));
}

/* The writer of the outbox of a push being made (see sync-cmd.h). */
static umap_atomic_file *outbox_being_written;

/* A push that dies before its outbox is complete leaves no half outbox behind. */
static void remove_unfinished_outbox(void)
{
	if (outbox_being_written)
		umap_atomic_file_abort(outbox_being_written);
	outbox_being_written = NULL;
}

static void outbox_flush(struct sync_outbox_writer *w)
{
	if (w->text.len && umap_atomic_file_write(&w->file, w->text.ptr, w->text.len))
		die_lib("writing the outbox");
	umap_buf_clear(&w->text);
}

void sync_outbox_begin(struct sync_outbox_writer *w, umap_repo *repo, const char *remote, long long base,
		       const char *commit)
{
	static int registered;
	memset(w, 0, sizeof(*w));
	/* a record left by an older outbox must not apply to this one */
	remove_file(repo, remote, OUTBOX_SENT_SUFFIX);
	char *path = sync_path(repo, remote, OUTBOX_SUFFIX);
	if (umap_atomic_file_open(&w->file, path))
		die_lib("writing %s", path);
	free(path);
	if (!registered++)
		atexit(remove_unfinished_outbox);
	outbox_being_written = &w->file;
	if (umap_buf_printf(&w->text, "{\"base\":%lld,\"commit\":\"%s\",\"ops\":[\n", base, commit))
		die("out of memory");
}

void sync_outbox_add(struct sync_outbox_writer *w, const char *text, size_t len)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 1024;
		size_t *start = realloc(w->start, cap * sizeof(*start));
		if (start)
			w->start = start;
		size_t *length = start ? realloc(w->len, cap * sizeof(*length)) : NULL;
		if (!length)
			die("out of memory");
		w->len = length;
		w->cap = cap;
	}
	if ((w->n && umap_buf_puts(&w->text, ",\n")))
		die("out of memory");
	w->start[w->n] = w->written + w->text.len;
	w->len[w->n++] = len;
	if (umap_buf_put(&w->text, text, len))
		die("out of memory");
	if (w->text.len >= ((size_t)1 << 20)) {
		w->written += w->text.len;
		outbox_flush(w);
	}
}

void sync_outbox_prepare(struct sync_outbox_writer *w)
{
	if (umap_buf_puts(&w->text, "\n]}\n"))
		die("out of memory");
	outbox_flush(w);
	if (umap_atomic_file_prepare(&w->file))
		die_lib("writing the outbox");
}

void sync_outbox_commit(struct sync_outbox_writer *w)
{
	if (umap_atomic_file_commit(&w->file))
		die_lib("writing the outbox");
	outbox_being_written = NULL;
}

void sync_outbox_abort(struct sync_outbox_writer *w)
{
	umap_atomic_file_abort(&w->file);
	outbox_being_written = NULL;
}

void sync_outbox_writer_dispose(struct sync_outbox_writer *w)
{
	free(w->start);
	free(w->len);
	umap_buf_dispose(&w->text);
	memset(w, 0, sizeof(*w));
}

void sync_outbox_sent(umap_repo *repo, const char *remote, size_t sent, json_t *expected)
{
	json_t *record = json_pack("{s:I, s:O}", "sent", (json_int_t)sent, "expected", expected);
	if (!record)
		die("out of memory");
	char *path = sync_path(repo, remote, OUTBOX_SENT_SUFFIX);
	save_json_file(path, record, UMAP_JSON_COMPACT);
	free(path);
	json_decref(record);
}

void sync_outbox_remove(umap_repo *repo, const char *remote)
{
	remove_file(repo, remote, OUTBOX_SUFFIX);
	remove_file(repo, remote, OUTBOX_SENT_SUFFIX);
}

int sync_state_synced(git_oid *out, json_t *state)
{
	const char *hex = json_string_value(json_object_get(state, "synced"));
	if (!hex)
		return 0;
	if (git_oid_fromstr(out, hex) < 0)
		die("the sync state is damaged (synced commit '%s')", hex);
	return 1;
}

int sync_state_server(git_oid *out, json_t *state)
{
	json_t *server = json_object_get(state, "server");
	if (!server)
		return -1;
	if (json_is_null(server))
		return 0;
	const char *hex = json_string_value(server);
	if (!hex || git_oid_fromstr(out, hex) < 0)
		die("the sync state is damaged (server commit '%s')", hex ? hex : "?");
	return 1;
}

int sync_commit_hlc(umap_hlc_ts *out, const char *message)
{
	const char *line = NULL;
	for (const char *p = message; p && (p = strstr(p, SYNC_HLC_TRAILER)); p++)
		if (p == message || p[-1] == '\n')
			line = p;
	if (!line)
		return 0;
	line += strlen(SYNC_HLC_TRAILER);
	char text[UMAP_HLC_STR_MAX];
	size_t n = strcspn(line, "\r\n");
	if (n >= sizeof(text))
		return 0;
	memcpy(text, line, n);
	text[n] = '\0';
	if (umap_hlc_decode(out, text)) {
		umap_error_clear();
		return 0;
	}
	return 1;
}

/* Calls fn for each remote's sync state file (.umapsync/sync/NAME.json). */
static void each_state(umap_repo *repo, void (*fn)(json_t *state, void *ctx), void *ctx)
{
	umap_buf dir = UMAP_BUF_INIT;
	if (umap_buf_printf(&dir, "%s/sync", umap_repo_gitdir(repo)))
		die("out of memory");
	DIR *d = opendir(dir.ptr);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !umap_ends_with(e->d_name, ".json") ||
		    umap_ends_with(e->d_name, OUTBOX_SUFFIX) || umap_ends_with(e->d_name, OUTBOX_SENT_SUFFIX))
			continue;
		umap_buf path = UMAP_BUF_INIT;
		if (umap_buf_printf(&path, "%s/%s", dir.ptr, e->d_name))
			die("out of memory");
		json_t *state = load_json_file(path.ptr);
		if (state)
			fn(state, ctx);
		json_decref(state);
		umap_buf_dispose(&path);
	}
	if (d)
		closedir(d);
	umap_buf_dispose(&dir);
}

static void restore_from_state(json_t *state, void *ctx)
{
	umap_hlc_ts last;
	const char *saved = json_string_value(json_object_get(state, "hlc"));
	if (saved && !umap_hlc_decode(&last, saved))
		umap_hlc_restore(ctx, &last);
	umap_error_clear();
}

void sync_hlc_restore_all(umap_hlc *hlc, umap_repo *repo)
{
	each_state(repo, restore_from_state, hlc);
	git_oid head, head_tree;
	git_commit *c = NULL;
	umap_hlc_ts last;
	if (!read_head(&head, &head_tree, repo) && git_commit_lookup(&c, umap_repo_git(repo), &head) == 0 &&
	    sync_commit_hlc(&last, git_commit_message(c)))
		umap_hlc_restore(hlc, &last);
	git_commit_free(c);
}

static int has_remote(umap_repo *repo)
{
	git_config *cfg = open_config(repo);
	git_config_iterator *it = NULL;
	git_config_entry *entry;
	int found = 0;
	if (git_config_iterator_new(&it, cfg) == 0) {
		while (!found && git_config_next(&entry, it) == 0)
			found = !strncmp(entry->name, CONFIG_SECTION ".", sizeof(CONFIG_SECTION)) &&
				umap_ends_with(entry->name, ".url");
		git_config_iterator_free(it);
	}
	git_config_free(cfg);
	return found;
}

static void first_client_id(json_t *state, void *ctx)
{
	char *node = ctx;
	const char *id = json_string_value(json_object_get(state, "client_id"));
	if (!*node && id && umap_hlc_valid_node(id))
		snprintf(node, UMAP_HLC_NODE_MAX + 1, "%s", id);
}

char *sync_stamp_message(umap_repo *repo, const char *message)
{
	umap_buf out = UMAP_BUF_INIT;
	size_t len = strlen(message);
	if (umap_buf_put(&out, message, len))
		die("out of memory");
	if (!has_remote(repo))
		return umap_buf_detach(&out);
	/* the node is informational: last-writer-wins takes these as this client's times */
	char node[UMAP_HLC_NODE_MAX + 1] = "";
	each_state(repo, first_client_id, node);
	umap_hlc hlc;
	umap_hlc_ts now;
	char enc[UMAP_HLC_STR_MAX];
	if (umap_hlc_init(&hlc, *node ? node : "local", NULL, NULL))
		die_lib(NULL);
	sync_hlc_restore_all(&hlc, repo);
	if (umap_hlc_now(&now, &hlc))
		die_lib(NULL);
	umap_hlc_encode(enc, &now);
	while (out.len && out.ptr[out.len - 1] == '\n')
		out.ptr[--out.len] = '\0';
	if (umap_buf_printf(&out, "\n\n" SYNC_HLC_TRAILER "%s\n", enc))
		die("out of memory");
	return umap_buf_detach(&out);
}

void sync_require_no_merge(umap_repo *repo, const char *what)
{
	json_t *state = NULL;
	if (umap_merge_state_load(&state, repo) == 0) {
		const char *k = json_string_value(json_object_get(state, "kind"));
		char kind[16];
		snprintf(kind, sizeof(kind), "%s", k && !strcmp(k, "rebase") ? "rebase" : "merge");
		json_decref(state);
		fflush(stdout);
		fprintf(stderr, "fatal: cannot %s: a %s is stopped on conflicts\n", what, kind);
		hint("settle them with 'umapsync resolve', then 'umapsync %s --continue'", kind);
		exit(EXIT_FATAL);
	}
}

static int in_list(long status, const long *list)
{
	for (; list && *list; list++)
		if (*list == status)
			return 1;
	return 0;
}

long sync_request(umap_http_response *resp, const struct sync_remote *remote, const char *method,
		  const char *path, const char *body, const long *ok_statuses)
{
	return sync_request_progress(resp, remote, method, path, body, ok_statuses, NULL, NULL);
}

long sync_request_progress(umap_http_response *resp, const struct sync_remote *remote, const char *method,
			   const char *path, const char *body, const long *ok_statuses,
			   const struct umap_progress *progress, const umap_http_sink *sink)
{
	umap_buf url = UMAP_BUF_INIT;
	umap_buf_printf(&url, "%s/v1/maps/%s/%s", remote->parsed.base, remote->parsed.map, path);
	int attempts = 0;
	/* UMAPSYNC_TIMEOUT: seconds per attempt (default 120), for networks that stall */
	const char *env_timeout = getenv("UMAPSYNC_TIMEOUT");
	long timeout_s = env_timeout && atol(env_timeout) > 0 ? atol(env_timeout) : 120;
	for (;;) {
		attempts++;
		int err = umap_sync_http_to(resp, method, url.ptr, remote->token, body, body ? strlen(body) : 0,
					    timeout_s, progress, sink);
		long wait = 0;
		if (err) {
			if (attempts >= 4 || err != UMAP_ENET) /* a sink's write error: not the network */
				die_lib(NULL);
			wait = attempts;
		} else if (resp->status == 429 || resp->status >= 500) {
			if (attempts >= 4)
				break;
			wait = resp->retry_after > 0 ? resp->retry_after : attempts;
		} else {
			break;
		}
		if (wait > 10)
			wait = 10;
		warning("%s; retrying in %ld s", err ? umap_error_last() : "the server is busy", wait);
		sleep((unsigned)wait);
	}
	umap_buf_dispose(&url);
	if (resp->status == 200 || in_list(resp->status, ok_statuses))
		return resp->status;
	json_t *reply = NULL;
	const char *message = NULL;
	if (!umap_json_loadb(&reply, resp->body.ptr, resp->body.len, "reply"))
		message = json_string_value(json_object_get(reply, "error"));
	/* the server's words, shown but never obeyed by the terminal */
	umap_buf shown = UMAP_BUF_INIT;
	if (message && umap_buf_put_printable(&shown, message, strlen(message), 0))
		die("out of memory");
	fflush(stdout);
	fprintf(stderr, "fatal: %s: %s (HTTP %ld)\n", remote->url, message ? (shown.ptr ? shown.ptr : "") : "unexpected answer",
		resp->status);
	umap_buf_dispose(&shown);
	/* the remote may not exist yet (clone), or exist already (remote add would refuse it) */
	if (resp->status == 401 && remote->token)
		hint("the token was not accepted: it may be revoked or mistyped ('umapsync token list' on the server)");
	else if (resp->status == 401)
		hint("set UMAPSYNC_TOKEN, or give a token file with --token-file FILE to 'umapsync clone' or 'umapsync remote add'");
	exit(EXIT_FATAL);
}

/* "LAYER\x1fFEATURE\x1fKEY" of an op, the unit that last-writer-wins compares. */
void sync_op_scope(umap_buf *out, const json_t *op)
{
	const char *subject = json_string_value(json_object_get(op, "subject"));
	const json_t *meta = json_object_get(op, "metadata");
	const char *key = json_string_value(json_object_get(op, "key"));
	umap_buf_clear(out);
	if (subject && !strcmp(subject, "feature")) {
		char *id = umap_json_dumps(json_object_get(meta, "id"), UMAP_JSON_COMPACT);
		umap_buf_printf(out, "%s\x1f%s\x1f", json_string_value(json_object_get(meta, "layerId")), id ? id : "");
		free(id);
	} else if (subject && !strcmp(subject, "datalayer")) {
		umap_buf_printf(out, "%s\x1f\x1f", json_string_value(json_object_get(meta, "id")));
	} else {
		umap_buf_puts(out, "\x1f\x1f");
	}
	umap_buf_puts(out, key ? key : "");
}

/* Keeps in times[key] the later of its HLC and t. */
static void note_later(json_t *times, const char *key, const char *t)
{
	const char *prev = json_string_value(json_object_get(times, key));
	if (t && (!prev || umap_hlc_compare_str(t, prev) > 0) && json_object_set_new(times, key, json_string(t)))
		die("out of memory");
}

/* The entity of a scope with a mark no key has ("LAYER\x1fFEATURE\x1f\x1e"): the key
 * under which the latest change to any key of the entity is noted. */
static void entity_key(umap_buf *out, const char *scope)
{
	const char *sep = strrchr(scope, '\x1f');
	umap_buf_clear(out);
	if (umap_buf_put(out, scope, (size_t)(sep - scope) + 1) || umap_buf_putc(out, '\x1e'))
		die("out of memory");
}

/* Notes an HLC for its scope and for its entity, keeping the later of each. */
void sync_note_time(json_t *times, const char *scope, const char *t)
{
	umap_buf entity = UMAP_BUF_INIT;
	note_later(times, scope, t);
	entity_key(&entity, scope);
	note_later(times, entity.ptr, t);
	umap_buf_dispose(&entity);
}

/* The latest HLC noted that touches `scope` (same key, the whole entity, or, for a
 * whole-entity scope, any key of it); NULL when none. O(1): no scan of every scope noted. */
const char *sync_scope_time(const json_t *times, const char *scope)
{
	umap_buf key = UMAP_BUF_INIT;
	entity_key(&key, scope);
	const char *best;
	if (scope[key.len - 1] == '\0') {
		best = json_string_value(json_object_get(times, key.ptr));
	} else {
		key.ptr[--key.len] = '\0'; /* the entity's own scope: a remote whole-entity op */
		const char *same = json_string_value(json_object_get(times, scope));
		const char *whole = json_string_value(json_object_get(times, key.ptr));
		best = same && (!whole || umap_hlc_compare_str(same, whole) > 0) ? same : whole;
	}
	umap_buf_dispose(&key);
	return best;
}

/* When each scope was last changed locally: the HLC recorded when the latest commit
 * between `synced` and HEAD that touched it was made (sync_stamp_message), as this node's;
 * for a commit without one (a merge, or made before the repository had a remote), its
 * commit time, which git keeps in whole seconds. */
json_t *sync_local_times(umap_repo *repo, const git_oid *head, const git_oid *synced, const char *client)
{
	json_t *times = json_object();
	git_revwalk *walk = NULL;
	git_oid oid;
	umap_buf scope = UMAP_BUF_INIT;
	if (git_revwalk_new(&walk, umap_repo_git(repo)) < 0 || git_revwalk_push(walk, head) < 0 ||
	    (synced && git_revwalk_hide(walk, synced) < 0))
		die("cannot walk the local commits");
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	while (git_revwalk_next(&oid, walk) == 0) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, umap_repo_git(repo), &oid) < 0)
			die("cannot read commit %s", git_oid_tostr_s(&oid));
		git_oid tree, parent_tree;
		int has_parent = git_commit_parentcount(c) > 0;
		if (umap_repo_commit_tree(&tree, repo, &oid) ||
		    (has_parent && umap_repo_commit_tree(&parent_tree, repo, git_commit_parent_id(c, 0))))
			die_lib(NULL);
		umap_hlc_ts ts = { (uint64_t)git_commit_time(c) * 1000u, 0, "" };
		sync_commit_hlc(&ts, git_commit_message(c));
		snprintf(ts.node, sizeof(ts.node), "%s", client);
		char enc[UMAP_HLC_STR_MAX];
		umap_hlc_encode(enc, &ts);
		git_commit_free(c);
		umap_tree_diff *tdiff = NULL;
		umap_diff *diff = NULL;
		umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
		json_t *ops = NULL, *op;
		size_t i;
		if (umap_repo_diff(&tdiff, repo, has_parent ? &parent_tree : NULL, &tree) ||
		    umap_diff_new(&diff, &dopts) ||
		    umap_repo_fill_diff(diff, repo, tdiff, has_parent ? &parent_tree : NULL, &tree) ||
		    umap_ops_from_diff(&ops, diff, NULL, NULL))
			die_lib("reading local commits");
		json_array_foreach(ops, i, op) {
			sync_op_scope(&scope, op);
			sync_note_time(times, scope.ptr, enc);
		}
		json_decref(ops);
		umap_tree_diff_free(tdiff);
		umap_diff_free(diff);
	}
	git_revwalk_free(walk);
	umap_buf_dispose(&scope);
	return times;
}
