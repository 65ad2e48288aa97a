/* umapsync push: send the commits made since the last sync as ops. The ops go to a durable
 * outbox before anything is sent, so a push that was cut off is resent with the same op ids
 * (the server applies each once); on 409 nothing is applied and the user is told to pull. */
#include "builtin.h"
#include "merge-report.h"
#include "progress.h"
#include "repo-cmd.h"
#include "sync-cmd.h"
#include "umap-remote-cmd.h"

#include <errno.h>
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
	struct sync_outbox_places places;
	json_t *outbox = sync_outbox_load_places(repo, remote->name, &places);
	if (!outbox)
		die("no unfinished push to '%s' to abort", remote->name);
	size_t total = places.path ? places.n : json_array_size(json_object_get(outbox, "ops"));
	sync_outbox_places_dispose(&places);
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
 * bytes at start[i] of the file, read back a megabyte at a time, one read for many ops: the
 * push never holds all of them), or the ops of an outbox loaded to be resent. */
struct op_source {
	const json_t *ops;
	int fd;
	const size_t *start, *len;
	umap_buf text;    /* the op's text, or the window of the file read last */
	size_t window_at; /* where that window starts in the file */
};

#define OP_WINDOW ((size_t)1 << 20)

static const char *op_text(struct op_source *src, size_t i, size_t *len)
{
	if (src->ops) {
		umap_buf_clear(&src->text);
		if (umap_json_write(&src->text, json_array_get(src->ops, i), UMAP_JSON_COMPACT))
			die("out of memory");
		*len = src->text.len;
		return src->text.ptr;
	}
	size_t at = src->start[i], n = src->len[i];
	if (!src->text.len || at < src->window_at || at + n > src->window_at + src->text.len) {
		size_t want = n > OP_WINDOW ? n : OP_WINDOW, got = 0;
		umap_buf_clear(&src->text);
		if (umap_buf_grow(&src->text, want + 1))
			die("out of memory");
		while (got < n) {
			ssize_t r = pread(src->fd, src->text.ptr + got, want - got, (off_t)(at + got));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				die_errno("cannot read the outbox");
			got += (size_t)r;
		}
		src->text.len = got;
		src->window_at = at;
	}
	*len = n;
	return src->text.ptr + (at - src->window_at);
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

/* Stamps ops with "op_id" and "hlc" (and new layers with their working-file name) in the
 * order they go out. An op's HLC is when its change was made, the latest commit that
 * touched its scope (from `edits`, sync_local_times; may be NULL), not when it is pushed:
 * last-writer-wins then weighs edits, whoever pushes first. Ops without one are stamped now. */
struct stamper {
	const char *client;
	size_t client_len;
	umap_hlc hlc;
	json_int_t next;
	umap_hlc_ts last;
	char enc[UMAP_HLC_STR_MAX];
	int stamped;
	umap_buf scope;
};

static void stamper_begin(struct stamper *st, json_t *state, umap_repo *repo)
{
	memset(st, 0, sizeof(*st));
	st->client = json_string_value(json_object_get(state, "client_id"));
	st->client_len = st->client ? strlen(st->client) : 0;
	if (umap_hlc_init(&st->hlc, st->client, NULL, NULL))
		die_lib("the sync state");
	umap_hlc_ts last;
	const char *saved = json_string_value(json_object_get(state, "hlc"));
	if (saved && !umap_hlc_decode(&last, saved))
		umap_hlc_restore(&st->hlc, &last);
	sync_hlc_restore_all(&st->hlc, repo);
	st->next = json_integer_value(json_object_get(state, "next_op"));
	if (st->next < 1)
		st->next = 1;
}

/* The next HLC (now) in st->last; the op id's number is st->next++. */
static json_int_t stamp_next(struct stamper *st)
{
	if (umap_hlc_now(&st->last, &st->hlc))
		die_lib(NULL);
	st->stamped = 1;
	return st->next++;
}

static void stamp_op(struct stamper *st, json_t *op, umap_repo *repo, const git_oid *head_tree, const json_t *edits)
{
	char id[UMAP_HLC_NODE_MAX + 24];
	snprintf(id, sizeof(id), "%s-%lld", st->client, (long long)stamp_next(st));
	umap_hlc_encode(st->enc, &st->last);
	json_object_set_new(op, "op_id", json_string(id));
	const char *edited = NULL;
	if (edits) {
		sync_op_scope(&st->scope, op);
		edited = sync_scope_time(edits, st->scope.ptr);
	}
	json_object_set_new(op, "hlc", json_string(edited ? edited : st->enc));
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

/* Decimal digits of v at the end of buf[24]; returns where they start. */
static char *decimal(char *end, unsigned long long v)
{
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

/* Ends an op's text made without its closing brace (umap_op_feature_upsert_text) with the
 * "op_id" and "hlc" that stamp_op would add (as umap_hlc_encode spells the clock), stamped
 * now: a million ops stamped without a printf. */
static void stamp_text(struct stamper *st, umap_buf *text)
{
	char digits[3][24];
	const char *number = decimal(digits[0] + 24, (unsigned long long)stamp_next(st));
	const char *ms = decimal(digits[1] + 24, (unsigned long long)(st->last.ms & UMAP_HLC_MS_MAX));
	const char *counter = decimal(digits[2] + 24, st->last.counter);
	if (umap_buf_puts(text, ",\"op_id\":\"") || umap_buf_put(text, st->client, st->client_len) ||
	    umap_buf_putc(text, '-') || umap_buf_put(text, number, (size_t)(digits[0] + 24 - number)) ||
	    umap_buf_puts(text, "\",\"hlc\":\"") || umap_buf_put(text, ms, (size_t)(digits[1] + 24 - ms)) ||
	    umap_buf_putc(text, ':') || umap_buf_put(text, counter, (size_t)(digits[2] + 24 - counter)) ||
	    umap_buf_putc(text, ':') || umap_buf_puts(text, st->last.node) || umap_buf_puts(text, "\"}"))
		die("out of memory");
}

static void stamper_end(struct stamper *st, json_t *state)
{
	json_object_set_new(state, "next_op", json_integer(st->next));
	if (st->stamped) {
		umap_hlc_encode(st->enc, &st->last);
		json_object_set_new(state, "hlc", json_string(st->enc));
	}
	umap_buf_dispose(&st->scope);
}

static void stamp_ops(json_t *ops, json_t *state, umap_repo *repo, const git_oid *head_tree, const json_t *edits)
{
	struct stamper st;
	size_t i;
	json_t *op;
	stamper_begin(&st, state, repo);
	json_array_foreach(ops, i, op)
		stamp_op(&st, op, repo, head_tree, edits);
	stamper_end(&st, state);
}

/* ---- The first push of new layers, without a diff ---------------------------------------
 * A push with nothing synced before is every feature's upsert. The ops are the general
 * path's, in its order (layers by id, each in its order, cut in slices of SLICE_FEATURES;
 * within a slice, the layers in the diff's order, the first slice after the map's and the
 * layers' ops), but each is written from the feature's bytes: nothing is parsed, no diff
 * is held, and only one slice of op texts waits to be ordered and stamped. */

struct fast_layer {
	const char *id;     /* borrowed from the diff ops */
	char *json;         /* the id as a JSON string */
	size_t diff_index;  /* its place among the datalayer upserts */
};

struct fast_entry {
	size_t diff_index, seq, start, len;
};

struct fast_push {
	umap_repo *repo;
	const git_oid *head_tree;
	struct sync_outbox_writer *w;
	struct stamper st;
	json_t *meta;        /* the map's and the layers' ops, made from a diff without features */
	const char *remote;
	struct fast_layer *current;
	umap_buf pending;    /* the op texts of the slice being gathered, unstamped */
	struct fast_entry *entries;
	size_t n, slice;
	umap_buf text;
	int refused;
};

static int compare_entries(const void *a, const void *b)
{
	const struct fast_entry *x = a, *y = b;
	if (x->diff_index != y->diff_index)
		return x->diff_index < y->diff_index ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void fast_emit(struct fast_push *f, const struct fast_entry *e)
{
	umap_buf_clear(&f->text);
	if (umap_buf_put(&f->text, f->pending.ptr + e->start, e->len))
		die("out of memory");
	stamp_text(&f->st, &f->text);
	sync_outbox_add(f->w, f->text.ptr, f->text.len);
}

static void fast_flush(struct fast_push *f)
{
	size_t next = 0;
	qsort(f->entries, f->n, sizeof(*f->entries), compare_entries);
	if (f->slice == 0) {
		/* the map's ops, then each layer's upsert followed by its features, stamped and
		 * written in that order; the outbox is in place only once all of it is checked */
		size_t i, layer = 0;
		json_t *op;
		json_array_foreach(f->meta, i, op) {
			stamp_op(&f->st, op, f->repo, f->head_tree, NULL);
			umap_buf_clear(&f->text);
			if (umap_json_write(&f->text, op, UMAP_JSON_COMPACT))
				die("out of memory");
			sync_outbox_add(f->w, f->text.ptr, f->text.len);
			if (strcmp(json_string_value(json_object_get(op, "subject")), "datalayer"))
				continue;
			for (; next < f->n && f->entries[next].diff_index == layer; next++)
				fast_emit(f, &f->entries[next]);
			layer++;
		}
		require_valid_ops(f->meta, f->remote);
	}
	for (; next < f->n; next++)
		fast_emit(f, &f->entries[next]);
	umap_buf_clear(&f->pending);
	f->n = 0;
	f->slice++;
}
static int fast_feature(void *ctx, const char *json, size_t len)
{
	struct fast_push *f = ctx;
	size_t start = f->pending.len;
	int rc = umap_op_feature_upsert_text(&f->pending, f->current->json, json, len);
	if (rc == UMAP_OP_REFUSED) {
		f->refused = 1;
		return UMAP_ECONFLICT; /* stops the walk; the general path says what is wrong */
	}
	if (rc)
		return rc;
	f->entries[f->n] = (struct fast_entry){ f->current->diff_index, f->n, start, f->pending.len - start };
	if (++f->n == SLICE_FEATURES)
		fast_flush(f);
	return 0;
}

static int compare_layer_ids(const void *a, const void *b)
{
	return strcmp(((const struct fast_layer *)a)->id, ((const struct fast_layer *)b)->id);
}

/* Writes the ops of a first push (nothing synced yet) to `w` as the general path would:
 * 1 when done, 0 when it cannot (an op the general path refuses with its message, a diff
 * of another shape): then nothing of the state is changed, and `w` holds ops to drop. */
static int push_first_fast(struct sync_outbox_writer *w, umap_repo *repo, json_t *state,
			   const git_oid *head_tree, const char *remote)
{
	const char *off = getenv("UMAPSYNC_PUSH_GENERAL"); /* tests compare the two paths */
	if (off && *off && strcmp(off, "0"))
		return 0;
	umap_tree_diff *tdiff = NULL;
	umap_diff *diff = NULL;
	umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
	json_t *meta = NULL;
	if (umap_repo_diff_layers(&tdiff, repo, NULL, head_tree) || umap_diff_new(&diff, &dopts) ||
	    umap_repo_fill_diff(diff, repo, tdiff, NULL, head_tree) || umap_ops_from_diff(&meta, diff, NULL, NULL)) {
		umap_error_clear(); /* the general path meets it again and says it */
		umap_diff_free(diff);
		umap_tree_diff_free(tdiff);
		return 0;
	}
	umap_diff_free(diff);
	/* the diff's layers as their upserts list them; any other op (a layer update, a
	 * delete) or a changed layer without an upsert is for the general path */
	size_t nlayers = 0, i;
	json_t *op;
	struct fast_layer *layers = calloc(json_array_size(meta) + 1, sizeof(*layers));
	int ok = layers != NULL;
	json_array_foreach(meta, i, op) {
		const char *verb = json_string_value(json_object_get(op, "verb"));
		const char *subject = json_string_value(json_object_get(op, "subject"));
		if (!ok || !verb || !subject)
			ok = 0;
		else if (!strcmp(subject, "map"))
			ok = !strcmp(verb, "update");
		else if (!strcmp(subject, "datalayer") && !strcmp(verb, "upsert")) {
			const char *id = json_string_value(json_object_get(json_object_get(op, "metadata"), "id"));
			ok = id && umap_sync_valid_name(id, UMAP_SYNC_LAYER_MAX);
			if (ok) {
				json_t *j = json_string(id);
				layers[nlayers] = (struct fast_layer){ id, j ? umap_json_dumps(j, UMAP_JSON_COMPACT) : NULL, nlayers };
				json_decref(j);
				if (!layers[nlayers++].json)
					die("out of memory");
			}
		} else
			ok = 0;
	}
	for (i = 0; ok && i < tdiff->nlayers; i++) {
		size_t l = 0;
		while (l < nlayers && strcmp(layers[l].id, tdiff->layers[i].layer))
			l++;
		ok = tdiff->layers[i].kind == UMAP_CHANGE_ADDED && (l < nlayers || !tdiff->layers[i].new_count);
	}
	umap_tree_diff_free(tdiff);
	json_t *saved_next = json_incref(json_object_get(state, "next_op"));
	json_t *saved_hlc = json_incref(json_object_get(state, "hlc"));
	struct fast_push f = { repo, head_tree, w, { 0 }, meta, remote, NULL, UMAP_BUF_INIT, NULL, 0, 0, UMAP_BUF_INIT, 0 };
	if (ok && !(f.entries = calloc(SLICE_FEATURES, sizeof(*f.entries))))
		die("out of memory");
	if (ok) {
		/* the layers' features by layer id (as the general path sorts its changes) */
		qsort(layers, nlayers, sizeof(*layers), compare_layer_ids);
		stamper_begin(&f.st, state, repo);
		for (i = 0; i < nlayers && !f.refused; i++) {
			f.current = &layers[i];
			int rc = umap_repo_layer_features(repo, head_tree, layers[i].id, fast_feature, &f);
			if (rc && !f.refused)
				die_lib("computing the ops to push");
		}
		if (!f.refused && (f.n || f.slice == 0))
			fast_flush(&f);
		stamper_end(&f.st, state);
		ok = !f.refused;
	}
	if (!ok) {
		umap_error_clear();
		json_object_set(state, "next_op", saved_next);
		if (saved_hlc)
			json_object_set(state, "hlc", saved_hlc);
		else
			json_object_del(state, "hlc");
	}
	json_decref(saved_next);
	json_decref(saved_hlc);
	for (i = 0; i < nlayers; i++)
		free(layers[i].json);
	free(layers);
	free(f.entries);
	umap_buf_dispose(&f.pending);
	umap_buf_dispose(&f.text);
	json_decref(meta);
	return ok;
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
	struct sync_outbox_places places;
	json_t *outbox = sync_outbox_load_places(repo, remote.name, &places);
	if (outbox) {
		/* sent from the file, op by op as written, when it is one op a line */
		struct op_source src = { places.path ? NULL : json_object_get(outbox, "ops"), -1, places.start,
					 places.len, UMAP_BUF_INIT, 0 };
		size_t total = places.path ? places.n : json_array_size(src.ops);
		size_t left = total - (size_t)json_integer_value(json_object_get(outbox, "sent"));
		fprintf(stderr, "resending %zu op%s kept from an unfinished push\n", left, left == 1 ? "" : "s");
		if (places.path && (src.fd = open(places.path, O_RDONLY | O_CLOEXEC)) < 0)
			die_errno("cannot read %s", places.path);
		send_outbox(repo, &remote, state, outbox, &src, total);
		if (src.fd >= 0)
			close(src.fd);
		umap_buf_dispose(&src.text);
		sync_outbox_places_dispose(&places);
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
	json_int_t base = json_integer_value(json_object_get(state, "cursor"));
	struct sync_outbox_writer w;
	sync_outbox_begin(&w, repo, remote.name, (long long)base, git_oid_tostr_s(&head));
	if (!have_synced) {
		if (push_first_fast(&w, repo, state, &head_tree, remote.name))
			goto written;
		/* the fast path gave up: what it wrote is dropped */
		sync_outbox_abort(&w);
		sync_outbox_writer_dispose(&w);
		sync_outbox_begin(&w, repo, remote.name, (long long)base, git_oid_tostr_s(&head));
	}
	umap_tree_diff *tdiff = NULL;
	if (umap_repo_diff(&tdiff, repo, have_synced ? &synced_tree : NULL, &head_tree))
		die_lib("computing the ops to push");
	/* the ops are made, stamped, checked and written to the outbox a slice of the changed
	 * features at a time, so that a push holds one slice as trees, never the whole map */
	rank_changes(tdiff, repo, &head_tree);
	const char *client = json_string_value(json_object_get(state, "client_id"));
	json_t *edits = have_synced ? sync_local_times(repo, &head, &synced, client) : NULL;
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
written:
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
	struct op_source src = { NULL, open(w.file.path, O_RDONLY | O_CLOEXEC), w.start, w.len, UMAP_BUF_INIT, 0 };
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
