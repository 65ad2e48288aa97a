/* umapsync push: send the commits made since the last sync as ops. The ops go to a durable
 * outbox before anything is sent, so a push that was cut off is resent with the same op ids
 * (the server applies each once); on 409 nothing is applied and the user is told to pull. */
#include "builtin.h"
#include "merge-report.h"
#include "progress.h"
#include "repo-cmd.h"
#include "sync-cmd.h"
#include "umap-remote-cmd.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hlc.h"
#include "json.h"
#include "ops.h"
#include "strmap.h"
#include "sync_op.h"
#include "umap_remote.h"

static void report_conflicts(const json_t *reply, const char *remote)
{
	json_t *conflicts = json_object_get(reply, "conflicts"), *c;
	size_t i;
	fflush(stdout);
	error("the server refused the push: %zu change%s conflict%s with changes pushed by others:",
	      json_array_size(conflicts), json_array_size(conflicts) == 1 ? "" : "s",
	      json_array_size(conflicts) == 1 ? "s" : "");
	json_array_foreach(conflicts, i, c) {
		const char *layer = json_string_value(json_object_get(c, "layer"));
		json_t *id = json_object_get(c, "id");
		const char *key = json_string_value(json_object_get(c, "key"));
		const char *reason = json_string_value(json_object_get(c, "reason"));
		char *id_text = id && !json_is_null(id) ? umap_json_dumps(id, UMAP_JSON_COMPACT) : NULL;
		umap_buf line = UMAP_BUF_INIT;
		if (umap_buf_printf(&line, "%s%s%s%s%s%s%s", layer ? "layer " : "map", layer ? layer : "",
				    id_text ? " feature " : "", id_text ? id_text : "", key ? " " : "", key ? key : "",
				    reason ? reason : ""))
			die("out of memory");
		print_path_line(stderr, "\t", line.ptr); /* the server's names: shown escaped */
		umap_buf_dispose(&line);
		free(id_text);
	}
	hint("nothing was applied; run 'umapsync pull %s' (and settle any conflicts), then push again", remote);
}

/* A refusal that resending cannot change (an op the server finds invalid, a layer the token
 * cannot write): the outbox is kept, so that nothing is lost, and push --abort drops it. */
static void report_refused(const umap_http_response *resp, const char *remote, long status, size_t left)
{
	json_t *reply = NULL;
	const char *message = NULL;
	if (!umap_json_loadb(&reply, resp->body.ptr, resp->body.len, "reply"))
		message = json_string_value(json_object_get(reply, "error"));
	else
		umap_error_clear();
	fflush(stdout);
	/* error() shows the server's control characters escaped */
	error("the server refused the push: %s (HTTP %ld)", message ? message : "no reason given", status);
	json_decref(reply);
	hint("nothing of this batch was applied, and every push resends the same %zu op%s; fix the cause in a new commit, then drop them with 'umapsync push --abort %s' and push again",
	     left, left == 1 ? "" : "s", remote);
}

/* push --abort: drops the outbox of a push the server refuses. Its changes stay in the local
 * commits: `synced` has not moved past them, so the next push computes them again. */
static void abort_outbox(umap_repo *repo, const struct sync_remote *remote)
{
	json_t *outbox = sync_outbox_load(repo, remote->name);
	if (!outbox)
		die("no unfinished push to '%s' to abort", remote->name);
	size_t total = json_array_size(json_object_get(outbox, "ops"));
	size_t sent = (size_t)json_integer_value(json_object_get(outbox, "sent"));
	const char *commit = json_string_value(json_object_get(outbox, "commit"));
	git_oid oid;
	char short_hex[16] = "?";
	if (commit && git_oid_fromstr(&oid, commit) == 0)
		snprintf(short_hex, sizeof(short_hex), "%s", short_id(&oid));
	sync_outbox_remove(repo, remote->name);
	warning("dropped %zu op%s of commit %s that '%s' has not acknowledged%s", total - sent,
		total - sent == 1 ? "" : "s", short_hex, remote->name,
		sent ? " (the ops acknowledged before stay on the server)" : "");
	hint("the changes are still in your commits: the next 'umapsync push %s' computes their ops again", remote->name);
	json_decref(outbox);
}

/* Refuses, before anything is stored or sent, ops the server would refuse: an outbox the
 * server never takes would be resent by every push. */
static void require_valid_ops(const json_t *ops, const char *remote)
{
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		umap_sync_op parsed;
		if (!umap_sync_op_parse(&parsed, (json_t *)op, i)) {
			umap_sync_op_dispose(&parsed);
			continue;
		}
		const char *why = umap_error_last(), *after_index = strstr(why, "]: ");
		if (!strncmp(why, "ops[", 4) && after_index)
			why = after_index + 3;
		json_t *meta = json_object_get(op, "metadata");
		const char *layer = json_string_value(json_object_get(meta, "layerId"));
		char *id = umap_json_dumps(json_object_get(meta, "id"), UMAP_JSON_COMPACT);
		fflush(stdout);
		if (layer)
			error("feature %.80s of layer %s cannot be pushed: %s", id ? id : "?", layer, why);
		else
			error("a change cannot be pushed: %s", why);
		hint("nothing was sent to '%s'; change it (e.g. give the feature another id), commit, and push again", remote);
		exit(EXIT_FATAL);
	}
}

#define BATCH_OPS 5000
#define BATCH_BYTES ((size_t)4 << 20)

/* Sends the outbox in batches (the server takes at most 10000 ops and 8 MiB per push); after
 * each acknowledged batch the count sent is recorded beside the outbox, so a cut-off push
 * resends only the rest. Each op is serialised once, straight into the request body.
 * When everything is acknowledged, `synced` moves to the outbox's commit. */
static void send_outbox(umap_repo *repo, struct sync_remote *remote, json_t *state, json_t *outbox,
			char *const *op_texts)
{
	json_t *ops = json_object_get(outbox, "ops");
	json_int_t base = json_integer_value(json_object_get(outbox, "base"));
	json_t *expected = json_object_get(outbox, "expected");
	/* the cursor may move past our ops only when nobody else's came in between: their ops
	 * would otherwise be skipped by the next pull. "expected" is null once that happened. */
	json_int_t next = expected ? json_integer_value(expected) : base;
	int contiguous = !expected || json_is_integer(expected);
	size_t total = json_array_size(ops), sent = (size_t)json_integer_value(json_object_get(outbox, "sent"));
	size_t first = sent;
	json_int_t cursor = 0;
	char *client = umap_json_dumps(json_object_get(state, "client_id"), UMAP_JSON_COMPACT);
	if (!client)
		die("out of memory");
	umap_buf body = UMAP_BUF_INIT;
	struct progress *progress = start_progress("Pushing ops", total - first);
	while (sent < total) {
		size_t n = 0, bytes = 0;
		umap_buf_clear(&body);
		/* once the server's cursor has moved by our ops alone, we have seen everything up
		 * to it: later batches are based there, and the server has no conflicts to look for */
		umap_buf_printf(&body, "{\"client_id\":%s,\"base\":%lld,\"ops\":[", client,
				(long long)(contiguous ? next : base));
		while (n < (size_t)BATCH_OPS && sent + n < total) {
			char *own = op_texts ? NULL : umap_json_dumps(json_array_get(ops, sent + n), UMAP_JSON_COMPACT);
			const char *t = op_texts ? op_texts[sent + n] : own;
			if (!t)
				die("out of memory");
			size_t len = strlen(t);
			if (n && bytes + len > BATCH_BYTES) {
				free(own);
				break;
			}
			if (n)
				umap_buf_putc(&body, ',');
			umap_buf_put(&body, t, len);
			free(own);
			bytes += len;
			n++;
		}
		if (umap_buf_puts(&body, "]}"))
			die("out of memory");
		umap_http_response resp = UMAP_HTTP_RESPONSE_INIT;
		static const long ok[] = { 400, 403, 409, 0 };
		long status = sync_request(&resp, remote, "POST", "push", body.ptr, ok);
		if (status == 400 || status == 403) {
			if (progress)
				fputc('\n', stderr);
			report_refused(&resp, remote->name, status, total - sent);
			exit(EXIT_FATAL);
		}
		json_t *reply = NULL;
		if (umap_json_loadb(&reply, resp.body.ptr, resp.body.len, "the server's reply"))
			die_lib(NULL);
		if (status == 409) {
			if (progress)
				fputc('\n', stderr); /* end the progress line before the report */
			sync_outbox_remove(repo, remote->name);
			report_conflicts(reply, remote->name);
			exit(EXIT_DIFFERENT);
		}
		long long acked = 0;
		if (umap_sync_push_reply_check(&acked, reply))
			die_lib(NULL);
		cursor = (json_int_t)acked;
		if (contiguous && cursor == next + (json_int_t)n)
			next = cursor;
		else
			contiguous = 0;
		sent += n;
		display_progress(progress, sent - first);
		if (sent < total) {
			json_t *e = contiguous ? json_integer(next) : json_null();
			sync_outbox_sent(repo, remote->name, sent, e);
			json_decref(e);
		}
		json_decref(reply);
		umap_http_response_dispose(&resp);
	}
	stop_progress(&progress);
	umap_buf_dispose(&body);
	free(client);
	/* the cursor moves only with the server's state (sync_state_server): the next pull
	 * takes our ops back from the log, placed where the server placed them */
	json_t *server = json_object_get(state, "server");
	if (contiguous && !server)
		json_object_set_new(state, "cursor", json_integer(next));
	/* the first push to an empty map, alone: the server's state is what we pushed, in the
	 * order we pushed it (ops follow the documents' order) */
	if (contiguous && json_is_null(server) && base == 0 && first == 0) {
		json_object_set_new(state, "cursor", json_integer(next));
		json_object_set(state, "server", json_object_get(outbox, "commit"));
	}
	json_object_set(state, "synced", json_object_get(outbox, "commit"));
	sync_state_save(repo, remote->name, state);
	sync_outbox_remove(repo, remote->name);
	fprintf(stderr, "To %s\n   %zu op%s acknowledged (server cursor %lld)\n", remote->url, total - first,
		total - first == 1 ? "" : "s", (long long)cursor);
}

struct ranked_op {
	json_t *op;
	long rank;
	size_t seq;
};

static int compare_ranked(const void *a, const void *b)
{
	const struct ranked_op *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The server appends new features to their layer in the order it receives them, so the
 * feature ops of each layer go out in the order of the features in the committed document
 * (the tree diff lists them in storage order). Ops on different features commute; ops on
 * the same feature keep their order. */
static void order_feature_ops(json_t *ops, umap_repo *repo, const git_oid *head_tree)
{
	/* only new features have a place to keep: without a feature upsert the order of the
	 * ops is theirs already, and the whole map need not be read to rank them */
	size_t k, upserts = 0;
	json_t *o;
	json_array_foreach(ops, k, o) {
		const char *verb = json_string_value(json_object_get(o, "verb"));
		const char *subject = json_string_value(json_object_get(o, "subject"));
		if (verb && subject && !strcmp(verb, "upsert") && !strcmp(subject, "feature"))
			upserts++;
	}
	if (upserts < 2)
		return;
	umap_snapshot *snap = NULL;
	if (umap_repo_read_tree(&snap, repo, head_tree, NULL))
		die_lib(NULL);
	size_t n = json_array_size(ops), start = 0;
	struct ranked_op *run = calloc(n + 1, sizeof(*run));
	if (!run)
		die("out of memory");
	while (start < n) {
		json_t *first = json_array_get(ops, start);
		const char *subject = json_string_value(json_object_get(first, "subject"));
		const char *layer = json_string_value(json_object_get(json_object_get(first, "metadata"), "layerId"));
		size_t end = start + 1;
		if (subject && !strcmp(subject, "feature") && layer) {
			while (end < n) {
				json_t *op = json_array_get(ops, end);
				const char *s2 = json_string_value(json_object_get(op, "subject"));
				const char *l2 = json_string_value(json_object_get(json_object_get(op, "metadata"), "layerId"));
				if (!s2 || strcmp(s2, "feature") || !l2 || strcmp(l2, layer))
					break;
				end++;
			}
			/* the rank of a feature is its place in the layer (ids as compact JSON text) */
			umap_strmap rank = UMAP_STRMAP_INIT;
			for (size_t f = 0; f < snap->nfiles; f++) {
				umap_layer *l = snap->files[f].doc ? umap_doc_find_layer(snap->files[f].doc, layer) : NULL;
				for (size_t i = 0; l && i < l->nfeatures; i++)
					if (l->features[i].id && umap_strmap_put(&rank, l->features[i].id, i, NULL))
						die_lib(NULL);
			}
			for (size_t i = start; i < end; i++) {
				json_t *op = json_array_get(ops, i);
				char *id = umap_json_dumps(json_object_get(json_object_get(op, "metadata"), "id"), UMAP_JSON_COMPACT);
				size_t at = 0;
				int found = id && umap_strmap_get(&rank, id, &at);
				free(id);
				run[i - start] = (struct ranked_op){ json_incref(op), found ? (long)at : -1, i };
			}
			umap_strmap_dispose(&rank);
			qsort(run, end - start, sizeof(*run), compare_ranked);
			for (size_t i = start; i < end; i++)
				json_array_set_new(ops, i, run[i - start].op);
		}
		start = end;
	}
	free(run);
	umap_snapshot_free(snap);
}

/* Adds "hlc", "op_id" and, for new layers, the working-file name to the ops of a diff.
 * An op's HLC is when its change was made, the latest commit that touched its scope (from
 * `edits`, sync_local_times; may be NULL), not when it is pushed: last-writer-wins then
 * weighs edits, whoever pushes first. Ops without one are stamped now. */
static void stamp_ops(json_t *ops, json_t *state, umap_repo *repo, const git_oid *head_tree, const json_t *edits)
{
	const char *client = json_string_value(json_object_get(state, "client_id"));
	umap_hlc hlc;
	if (umap_hlc_init(&hlc, client, NULL, NULL))
		die_lib("the sync state");
	umap_hlc_ts last;
	const char *saved = json_string_value(json_object_get(state, "hlc"));
	if (saved && !umap_hlc_decode(&last, saved))
		umap_hlc_restore(&hlc, &last);
	sync_hlc_restore_all(&hlc, repo);
	umap_buf scope = UMAP_BUF_INIT;
	json_int_t next = json_integer_value(json_object_get(state, "next_op"));
	if (next < 1)
		next = 1;
	size_t i;
	json_t *op;
	char enc[UMAP_HLC_STR_MAX];
	json_array_foreach(ops, i, op) {
		umap_hlc_ts ts;
		if (umap_hlc_now(&ts, &hlc))
			die_lib(NULL);
		umap_hlc_encode(enc, &ts);
		char id[UMAP_HLC_NODE_MAX + 24];
		snprintf(id, sizeof(id), "%s-%lld", client, (long long)next++);
		json_object_set_new(op, "op_id", json_string(id));
		const char *edited = NULL;
		if (edits) {
			sync_op_scope(&scope, op);
			edited = sync_scope_time(edits, scope.ptr);
		}
		json_object_set_new(op, "hlc", json_string(edited ? edited : enc));
		const char *verb = json_string_value(json_object_get(op, "verb"));
		const char *subject = json_string_value(json_object_get(op, "subject"));
		json_t *meta = json_object_get(op, "metadata");
		const char *layer = json_string_value(json_object_get(meta, "id"));
		if (verb && subject && layer && !strcmp(verb, "upsert") && !strcmp(subject, "datalayer")) {
			char *path = NULL;
			if (!umap_repo_layer_path(&path, repo, head_tree, layer) && path) {
				const char *base = strrchr(path, '/');
				base = base ? base + 1 : path;
				/* refused here, before the outbox, rather than by the server after it */
				if (!umap_sync_valid_filename(base))
					die("the file name '%s' cannot be synced: at most %d bytes, no leading '.' and no control characters; rename the file",
					    path, UMAP_SYNC_FILENAME_MAX);
				json_object_set_new(meta, "filename", json_string(base));
			}
			free(path);
		}
	}
	json_object_set_new(state, "next_op", json_integer(next));
	json_object_set_new(state, "hlc", json_string(enc));
	umap_buf_dispose(&scope);
}

int cmd_push(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync push [REMOTE]", "umapsync push --abort [REMOTE]", NULL };
	int abort_push = 0;
	const struct option options[] = {
		OPT_BOOL(0, "abort", &abort_push, "drop the ops of an unfinished push that the server refuses"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc > 1)
		usage_with_options_msg(usage, options, "push takes at most one remote");
	umap_repo *repo = open_repo();
	sync_require_no_merge(repo, "push");
	struct sync_remote remote;
	sync_remote_load(&remote, repo, argc ? argv[0] : NULL);
	if (abort_push) {
		abort_outbox(repo, &remote);
		sync_remote_dispose(&remote);
		umap_repo_free(repo);
		return 0;
	}
	if (umap_remote_url_is_umap(remote.url)) {
		int rc = umap_remote_cmd_push(repo, &remote);
		sync_remote_dispose(&remote);
		umap_repo_free(repo);
		return rc;
	}
	json_t *state = sync_state_load(repo, remote.name);
	int sent = 0;
	json_t *outbox = sync_outbox_load(repo, remote.name);
	if (outbox) {
		size_t left = json_array_size(json_object_get(outbox, "ops")) -
			      (size_t)json_integer_value(json_object_get(outbox, "sent"));
		fprintf(stderr, "resending %zu op%s kept from an unfinished push\n", left, left == 1 ? "" : "s");
		send_outbox(repo, &remote, state, outbox, NULL);
		json_decref(outbox);
		sent = 1;
	}
	git_oid head, head_tree, synced, synced_tree;
	if (read_head(&head, &head_tree, repo)) {
		fprintf(stderr, "nothing to push: no commit yet\n");
		goto done;
	}
	int have_synced = sync_state_synced(&synced, state);
	if (have_synced && git_oid_equal(&head, &synced)) {
		if (!sent)
			fprintf(stderr, "Everything up-to-date\n");
		goto done;
	}
	if (have_synced && git_graph_descendant_of(umap_repo_git(repo), &head, &synced) != 1) {
		fflush(stdout);
		fprintf(stderr, "fatal: this branch does not contain what was last synced with '%s'\n", remote.name);
		hint("run 'umapsync pull %s' first", remote.name);
		exit(EXIT_FATAL);
	}
	if (have_synced && umap_repo_commit_tree(&synced_tree, repo, &synced))
		die_lib(NULL);
	umap_tree_diff *tdiff = NULL;
	umap_diff *diff = NULL;
	umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
	json_t *ops = NULL;
	if (umap_repo_diff(&tdiff, repo, have_synced ? &synced_tree : NULL, &head_tree) ||
	    umap_diff_new(&diff, &dopts) ||
	    umap_repo_fill_diff(diff, repo, tdiff, have_synced ? &synced_tree : NULL, &head_tree) ||
	    umap_ops_from_diff(&ops, diff, NULL, NULL))
		die_lib("computing the ops to push");
	umap_tree_diff_free(tdiff);
	umap_diff_free(diff);
	if (!json_array_size(ops)) {
		json_object_set_new(state, "synced", json_string(git_oid_tostr_s(&head)));
		sync_state_save(repo, remote.name, state);
		fprintf(stderr, "Everything up-to-date\n");
		json_decref(ops);
		goto done;
	}
	order_feature_ops(ops, repo, &head_tree);
	const char *client = json_string_value(json_object_get(state, "client_id"));
	json_t *edits = have_synced ? sync_local_times(repo, &head, &synced, client) : NULL;
	stamp_ops(ops, state, repo, &head_tree, edits);
	json_decref(edits);
	require_valid_ops(ops, remote.name);
	outbox = json_pack("{s:I, s:s, s:o}", "base", json_integer_value(json_object_get(state, "cursor")), "commit",
			   git_oid_tostr_s(&head), "ops", ops);
	/* the op ids are used up before anything leaves: a crash here resends, never reuses */
	sync_state_save(repo, remote.name, state);
	/* each op is serialised once, for the outbox and for the requests */
	size_t nops = json_array_size(ops);
	char **texts = calloc(nops + 1, sizeof(char *));
	if (!texts)
		die("out of memory");
	for (size_t i = 0; i < nops; i++)
		if (!(texts[i] = umap_json_dumps(json_array_get(ops, i), UMAP_JSON_COMPACT)))
			die("out of memory");
	sync_outbox_save(repo, remote.name, outbox, texts);
	send_outbox(repo, &remote, state, outbox, texts);
	for (size_t i = 0; i < nops; i++)
		free(texts[i]);
	free(texts);
	json_decref(outbox);
done:
	json_decref(state);
	sync_remote_dispose(&remote);
	umap_repo_free(repo);
	return 0;
}
