/* What remote, clone, push and pull share: remotes in the repository's config, the sync
 * state and the durable outbox in .umapsync/sync/, tokens, and moving the working files. */
#ifndef UMAPSYNC_SYNC_CMD_H
#define UMAPSYNC_SYNC_CMD_H

#include <git2.h>
#include <jansson.h>

#include "fs.h"
#include "hlc.h"
#include "repo.h"
#include "sync_client.h"

struct sync_remote {
	char *name;
	char *url;
	char *token_file;  /* NULL when none */
	umap_sync_url parsed;
	char *token;       /* UMAPSYNC_TOKEN, else the token file's content; NULL when none */
};

/* The remote NAME of the repository (NULL: the one umapsync-remote.default names, else the
 * only one, else "origin"); dies when absent. */
void sync_remote_load(struct sync_remote *remote, umap_repo *repo, const char *name);
void sync_remote_dispose(struct sync_remote *remote);
/* Reads a token: UMAPSYNC_TOKEN wins over the file. Dies when the file is unreadable. */
char *sync_read_token(const char *token_file);
/* Records a remote in the repository's config (section umapsync-remote, so that git's own
 * remotes are left alone). */
void sync_remote_save(umap_repo *repo, const char *name, const char *url, const char *token_file);

/* .umapsync/sync/NAME.json: {"client_id","cursor","synced","server","next_op","hlc"}.
 * `synced` is the commit our pushes and pulls last left us at (what push diffs against);
 * `server` is the commit holding the server's state at `cursor`, features in the server's
 * order (null: the map was empty; absent in states written before it was kept). A push
 * moves neither `server` nor `cursor`: the next pull applies every op since the cursor,
 * ours too, to `server`, so that every client ends with the server's order. */
json_t *sync_state_load(umap_repo *repo, const char *remote);
void sync_state_save(umap_repo *repo, const char *remote, json_t *state);
/* .umapsync/sync/NAME.outbox.json {"base","commit","ops"}, written once before ops are
 * sent; NULL when none. Loaded, it also has "sent" (the ops already acknowledged) and
 * "expected" (see cmd_push.c) from NAME.outbox-sent.json, which sync_outbox_sent records
 * after each acknowledged batch. */
json_t *sync_outbox_load(umap_repo *repo, const char *remote);
/* The same without parsing the ops, for resending them from the file: the outbox without
 * "ops", and where each op lies in the file (path, n, start[i], len[i]), read a megabyte
 * at a time. An outbox not written one op a line (as sync_outbox_add writes it) is loaded
 * with its "ops" instead (places->path NULL). NULL when there is none. */
struct sync_outbox_places {
	char *path;
	size_t n;
	size_t *start, *len;
};
json_t *sync_outbox_load_places(umap_repo *repo, const char *remote, struct sync_outbox_places *places);
void sync_outbox_places_dispose(struct sync_outbox_places *places);
/* Writes a new outbox op by op, without holding it: begin, add each op's compact JSON,
 * prepare (the file is complete and synced, not yet in place), commit (renamed into
 * place) or abort. The text is {"base":B,"commit":"HEX","ops":[OP,...]} with one op a line;
 * where each op lies in the file (start[i], len[i]) is kept for sending it from there. A
 * push that exits before commit leaves no outbox. */
struct sync_outbox_writer {
	umap_atomic_file file;
	umap_buf text;    /* not yet written, from byte `written` of the file */
	size_t written;
	size_t n, cap;
	size_t *start, *len;
};
void sync_outbox_begin(struct sync_outbox_writer *w, umap_repo *repo, const char *remote, long long base,
		       const char *commit);
void sync_outbox_add(struct sync_outbox_writer *w, const char *text, size_t len);
void sync_outbox_prepare(struct sync_outbox_writer *w);
void sync_outbox_commit(struct sync_outbox_writer *w);
void sync_outbox_abort(struct sync_outbox_writer *w);
void sync_outbox_writer_dispose(struct sync_outbox_writer *w);
void sync_outbox_sent(umap_repo *repo, const char *remote, size_t sent, json_t *expected);
void sync_outbox_remove(umap_repo *repo, const char *remote);
/* The state's synced commit; 0 when there is none yet. */
int sync_state_synced(git_oid *out, json_t *state);
/* The state's server commit: 1 (and *out), 0 when the server's map was empty, -1 when the
 * state does not know it (an older state: pull then works from `synced`). */
int sync_state_server(git_oid *out, json_t *state);

/* When a local edit was made, for last-writer-wins: each commit of a repository with a
 * remote records the hybrid logical clock of its making in a trailer line of its message,
 * "Umapsync-HLC: 018bcfe56800-0001-c0123456789abcdef" (it goes wherever the message goes:
 * a rebase keeps it). */
#define SYNC_HLC_TRAILER "Umapsync-HLC: "
/* The HLC the message's last trailer records; 0 (and nothing in *out) when none. */
int sync_commit_hlc(umap_hlc_ts *out, const char *message);
/* Restores `hlc` from everything this repository issued or received: every remote's sync
 * state and HEAD's trailer. */
void sync_hlc_restore_all(umap_hlc *hlc, umap_repo *repo);
/* The message of a new commit: `message` plus the trailer of a new HLC (after every time
 * sync_hlc_restore_all knows, and after the physical clock), when the repository has a
 * remote; else `message` unchanged. Allocated. */
char *sync_stamp_message(umap_repo *repo, const char *message);

/* Last-writer-wins. A scope is "LAYER\x1fFEATURE\x1fKEY", the unit an op changes; times
 * are JSON objects of scope -> HLC string, which also note per entity the latest change
 * to any of its keys. */
void sync_op_scope(umap_buf *out, const json_t *op);
void sync_note_time(json_t *times, const char *scope, const char *hlc);
const char *sync_scope_time(const json_t *times, const char *scope);
/* When each scope was last changed by the commits after `synced` (NULL: all) up to `head`. */
json_t *sync_local_times(umap_repo *repo, const git_oid *head, const git_oid *synced, const char *client);

/* Dies when a merge or rebase is stopped on conflicts. */
void sync_require_no_merge(umap_repo *repo, const char *what);

/* A request with retries on network errors, 429 (waiting Retry-After) and 5xx; dies with
 * the server's message for other failures unless the status is in `ok_statuses`
 * (0-terminated). Returns the status. */
long sync_request(umap_http_response *resp, const struct sync_remote *remote, const char *method,
		  const char *path, const char *body, const long *ok_statuses);
/* The same, telling `progress` (may be NULL) how much of the answer has come, and giving
 * the body of a 200 answer to `sink` (may be NULL: kept in resp->body). */
long sync_request_progress(umap_http_response *resp, const struct sync_remote *remote, const char *method,
			   const char *path, const char *body, const long *ok_statuses,
			   const struct umap_progress *progress, const umap_http_sink *sink);

#endif
