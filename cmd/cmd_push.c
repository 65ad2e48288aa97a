/* umapsync push: send the commits made since the last sync as ops. The ops go to a durable
 * outbox before anything is sent, so a push that was cut off is resent with the same op ids
 * (the server applies each once); on 409 nothing is applied and the user is told to pull. */
#include "builtin.h"
#include "merge-report.h"
#include "progress.h"
#include "repo-cmd.h"
#include "sync-cmd.h"
#include "umap-remote-cmd.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Where send_outbox takes the ops' text from: the outbox just written (op i is len[i]
 * bytes at start[i] of the file, read back a batch at a time: the push never holds all of
 * them), or the ops of an outbox loaded to be resent. */
struct op_source {
	const json_t *ops;
	int fd;
	const size_t *start, *len;
	umap_buf text;
};

static const char *op_text(struct op_source *src, size_t i, size_t *len)
{
	umap_buf_clear(&src->text);
	if (src->ops) {
		if (umap_json_write(&src->text, json_array_get(src->ops, i), UMAP_JSON_COMPACT))
			die("out of memory");
	} else {
		if (umap_buf_grow(&src->text, src->len[i] + 1))
			die("out of memory");
		size_t got = 0;
		while (got < src->len[i]) {
			ssize_t n = pread(src->fd, src->text.ptr + got, src->len[i] - got, (off_t)(src->start[i] + got));
			if (n <= 0)
				die_errno("cannot read the outbox");
			got += (size_t)n;
		}
		src->text.len = got;
		src->text.ptr[got] = '\0';
	}
	*len = src->text.len;
	return src->text.ptr;
}

/* Sends the outbox in batches (the server takes at most 10000 ops and 8 MiB per push); after
 * each acknowledged batch the count sent is recorded beside the outbox, so a cut-off push
 * resends only the rest. Each op is serialised once, straight into the request body.
 * When everything is acknowledged, `synced` moves to the outbox's commit. */
static void send_outbox(umap_repo *repo, struct sync_remote *remote, json_t *state, json_t *outbox,
			struct op_source *src, size_t total)
{
	json_int_t base = json_integer_value(json_object_get(outbox, "base"));
	json_t *expected = json_object_get(outbox, "expected");
	/* the cursor may move past our ops only when nobody else's came in between: their ops
	 * would otherwise be skipped by the next pull. "expected" is null once that happened. */
	json_int_t next = expected ? json_integer_value(expected) : base;
	int contiguous = !expected || json_is_integer(expected);
	size_t sent = (size_t)json_integer_value(json_object_get(outbox, "sent"));
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
			size_t len = 0;
			const char *t = op_text(src, sent + n, &len);
			if (n && bytes + len > BATCH_BYTES)
				break;
			if ((n && umap_buf_putc(&body, ',')) || umap_buf_put(&body, t, len))
				die("out of memory");
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

/* How many changed features one slice of a push makes into ops at once. */
#define SLICE_FEATURES 5000

/* Drops the ops that are not about a feature (the map's, the layers'). */
static void keep_feature_ops(json_t *ops)
{
	size_t kept = 0;
	for (size_t i = 0; i < json_array_size(ops); i++) {
		json_t *op = json_array_get(ops, i);
		const char *subject = json_string_value(json_object_get(op, "subject"));
		if (!subject || strcmp(subject, "feature"))
			continue;
		if (kept != i && json_array_set(ops, kept, op))
			die("out of memory");
		kept++;
	}
	while (json_array_size(ops) > kept)
		json_array_remove(ops, json_array_size(ops) - 1);
}

struct ranked_change {
	umap_repo_change change;
	long rank;
	size_t seq;
};

static int compare_ranked_changes(const void *a, const void *b)
{
	const struct ranked_change *x = a, *y = b;
	int c = strcmp(x->change.layer, y->change.layer);
	if (c)
		return c;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A layer's stored order, walked to rank the changes of that layer. */
struct ranking {
	umap_strmap *ids;       /* change id -> index in r */
	struct ranked_change *r;
	long next;              /* the place of the next id in the order */
};

static int rank_one(void *ctx, const char *id, size_t len)
{
	struct ranking *k = ctx;
	char small[128], *key = len < sizeof(small) ? small : strndup(id, len);
	size_t at;
	if (!key)
		return umap_error_set(UMAP_ENOMEM, "out of memory");
	if (key == small) {
		memcpy(small, id, len);
		small[len] = '\0';
	}
	if (umap_strmap_get(k->ids, key, &at) && k->r[at].rank < 0)
		k->r[at].rank = k->next;
	k->next++;
	if (key != small)
		free(key);
	return 0;
}

/* The server appends new features to their layer in the order it receives them, so the
 * changes go out layer by layer in the order of the features in the committed document
 * (the tree diff lists them in storage order; a removed feature, which has no place,
 * first). Sorted before the ops are made, so that every slice of them is in that order;
 * the places come from each layer's stored order, not from reading the map. */
static void rank_changes(umap_tree_diff *tdiff, umap_repo *repo, const git_oid *head_tree)
{
	size_t n = tdiff->nfeatures, added = 0;
	for (size_t i = 0; i < n; i++)
		added += tdiff->features[i].kind == UMAP_CHANGE_ADDED;
	if (added < 2)
		return; /* nothing has a place to keep */
	struct ranked_change *r = calloc(n + 1, sizeof(*r));
	if (!r)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		r[i] = (struct ranked_change){ tdiff->features[i], -1, i };
	qsort(r, n, sizeof(*r), compare_ranked_changes); /* groups the layers; ranks are -1 yet */
	size_t start = 0;
	while (start < n) {
		const char *layer = r[start].change.layer;
		size_t end = start + 1;
		while (end < n && !strcmp(r[end].change.layer, layer))
			end++;
		umap_strmap ids = UMAP_STRMAP_INIT; /* keys borrowed from the diff */
		for (size_t i = start; i < end; i++)
			if (r[i].change.id && umap_strmap_put(&ids, r[i].change.id, i, NULL))
				die_lib(NULL);
		struct ranking k = { &ids, r, 0 };
		if (umap_repo_layer_order(repo, head_tree, layer, rank_one, &k))
			die_lib(NULL);
		umap_strmap_dispose(&ids);
		start = end;
	}
	qsort(r, n, sizeof(*r), compare_ranked_changes);
	for (size_t i = 0; i < n; i++)
		tdiff->features[i] = r[i].change;
	free(r);
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

/* The feature ops of each layer in the order of the slice's changes (rank_changes sorted
 * them): the diff may list a layer's features in an order of its own. Ops on the same
 * feature keep their order. */
static void order_feature_ops(json_t *ops, const umap_tree_diff *slice)
{
	size_t n = json_array_size(ops), start = 0;
	if (n < 2)
		return;
	umap_strmap rank = UMAP_STRMAP_INIT; /* "LAYER\x1fID" -> place in the slice */
	umap_buf *keys = calloc(slice->nfeatures + 1, sizeof(*keys));
	struct ranked_op *run = calloc(n + 1, sizeof(*run));
	umap_buf key = UMAP_BUF_INIT;
	if (!keys || !run)
		die("out of memory");
	for (size_t i = 0; i < slice->nfeatures; i++)
		if (slice->features[i].id &&
		    (umap_buf_printf(&keys[i], "%s\x1f%s", slice->features[i].layer, slice->features[i].id) ||
		     umap_strmap_put(&rank, keys[i].ptr, i, NULL)))
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
			for (size_t i = start; i < end; i++) {
				json_t *op = json_array_get(ops, i);
				umap_buf_clear(&key);
				if (umap_buf_printf(&key, "%s\x1f", layer) ||
				    umap_json_write(&key, json_object_get(json_object_get(op, "metadata"), "id"), UMAP_JSON_COMPACT))
					die("out of memory");
				size_t at = 0;
				int found = umap_strmap_get(&rank, key.ptr, &at);
				run[i - start] = (struct ranked_op){ json_incref(op), found ? (long)at : -1, i };
			}
			qsort(run, end - start, sizeof(*run), compare_ranked);
			for (size_t i = start; i < end; i++)
				json_array_set_new(ops, i, run[i - start].op);
		}
		start = end;
	}
	umap_strmap_dispose(&rank);
	for (size_t i = 0; i < slice->nfeatures; i++)
		umap_buf_dispose(&keys[i]);
	free(keys);
	free(run);
	umap_buf_dispose(&key);
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
			/* a key other than uMap's own goes with the layer, so that a clone writes
			 * the layer's options back where this file has them */
			const char *options_key;
			if (umap_repo_layer_options_key(&options_key, repo, head_tree, layer))
				die_lib(NULL);
			if (strcmp(options_key, "properties"))
				json_object_set_new(meta, "optionsKey", json_string(options_key));
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
		struct op_source src = { json_object_get(outbox, "ops"), -1, NULL, NULL, UMAP_BUF_INIT };
		send_outbox(repo, &remote, state, outbox, &src, json_array_size(src.ops));
		umap_buf_dispose(&src.text);
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
	if (umap_repo_diff(&tdiff, repo, have_synced ? &synced_tree : NULL, &head_tree))
		die_lib("computing the ops to push");
	/* the ops are made, stamped, checked and written to the outbox a slice of the changed
	 * features at a time, so that a push holds one slice as trees, never the whole map */
	rank_changes(tdiff, repo, &head_tree);
	const char *client = json_string_value(json_object_get(state, "client_id"));
	json_t *edits = have_synced ? sync_local_times(repo, &head, &synced, client) : NULL;
	struct sync_outbox_writer w;
	json_int_t base = json_integer_value(json_object_get(state, "cursor"));
	sync_outbox_begin(&w, repo, remote.name, (long long)base, git_oid_tostr_s(&head));
	umap_buf text = UMAP_BUF_INIT;
	for (size_t start = 0; start == 0 || start < tdiff->nfeatures; start += SLICE_FEATURES) {
		umap_tree_diff slice = *tdiff;
		slice.features = tdiff->features + start;
		slice.nfeatures = tdiff->nfeatures - start < SLICE_FEATURES ? tdiff->nfeatures - start : SLICE_FEATURES;
		umap_diff *diff = NULL;
		umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
		json_t *ops = NULL;
		if (umap_diff_new(&diff, &dopts) ||
		    umap_repo_fill_diff(diff, repo, &slice, have_synced ? &synced_tree : NULL, &head_tree) ||
		    umap_ops_from_diff(&ops, diff, NULL, NULL))
			die_lib("computing the ops to push");
		umap_diff_free(diff);
		if (start)
			keep_feature_ops(ops); /* the map's and the layers' ops came with the first slice */
		order_feature_ops(ops, &slice);
		stamp_ops(ops, state, repo, &head_tree, edits);
		require_valid_ops(ops, remote.name);
		size_t i;
		json_t *op;
		json_array_foreach(ops, i, op) {
			umap_buf_clear(&text);
			if (umap_json_write(&text, op, UMAP_JSON_COMPACT))
				die("out of memory");
			sync_outbox_add(&w, text.ptr, text.len);
		}
		json_decref(ops);
	}
	umap_buf_dispose(&text);
	umap_tree_diff_free(tdiff);
	json_decref(edits);
	if (!w.n) {
		sync_outbox_abort(&w);
		sync_outbox_writer_dispose(&w);
		json_object_set_new(state, "synced", json_string(git_oid_tostr_s(&head)));
		sync_state_save(repo, remote.name, state);
		fprintf(stderr, "Everything up-to-date\n");
		goto done;
	}
	sync_outbox_prepare(&w);
	/* the op ids are used up before the outbox is in place: a crash resends, never reuses */
	sync_state_save(repo, remote.name, state);
	sync_outbox_commit(&w);
	outbox = json_pack("{s:I, s:s, s:I}", "base", base, "commit", git_oid_tostr_s(&head), "sent", (json_int_t)0);
	struct op_source src = { NULL, open(w.file.path, O_RDONLY | O_CLOEXEC), w.start, w.len, UMAP_BUF_INIT };
	if (!outbox)
		die("out of memory");
	if (src.fd < 0)
		die_errno("cannot read %s", w.file.path);
	send_outbox(repo, &remote, state, outbox, &src, w.n);
	close(src.fd);
	umap_buf_dispose(&src.text);
	sync_outbox_writer_dispose(&w);
	json_decref(outbox);
done:
	json_decref(state);
	sync_remote_dispose(&remote);
	umap_repo_free(repo);
	return 0;
}
