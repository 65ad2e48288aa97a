/* Shared by the merge commands: opening the three versions, printing conflicts one line
 * each with the values people need to settle them, and the JSON conflict report. */
#include "builtin.h"
#include "merge-report.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "repo-cmd.h"
#include "repo_merge.h"
#include "strutil.h"

umap_doc *open_merge_input(const char *path, const char *id_property)
{
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	opts.id_property = id_property;
	umap_doc *doc;
	if (umap_doc_open(&doc, path, &opts))
		die_lib(NULL);
	return doc;
}

/* A value for one line of text: compact JSON, cut at 60 bytes. */
static char *short_value(const json_t *value)
{
	if (!value || json_is_null(value))
		return strdup("(none)");
	char *text = umap_json_dumps(value, UMAP_JSON_COMPACT);
	if (text && strlen(text) > 60)
		strcpy(text + 56, "...");
	return text;
}

static char *display(const json_t *value)
{
	if (json_is_string(value))
		return strdup(json_string_value(value));
	return short_value(value);
}

void print_conflict_list(FILE *out, const json_t *list, const char *label, int show_layer)
{
	size_t i;
	const json_t *c;
	umap_buf line = UMAP_BUF_INIT, shown = UMAP_BUF_INIT;
	json_array_foreach(list, i, c) {
		umap_buf_clear(&line);
		const json_t *layer_v = json_object_get(c, "layer"), *id_v = json_object_get(c, "id");
		const char *path = json_string_value(json_object_get(c, "path"));
		const char *kind = json_string_value(json_object_get(c, "kind"));
		const char *what = json_string_value(json_object_get(c, "key"));
		const json_t *base = json_object_get(c, "base"), *ours = json_object_get(c, "ours"),
			     *theirs = json_object_get(c, "theirs");
		int has_layer = layer_v && !json_is_null(layer_v), has_id = id_v && !json_is_null(id_v);
		char *layer = has_layer ? display(layer_v) : NULL, *id = has_id ? display(id_v) : NULL;
		char *b = short_value(base), *o = short_value(ours), *t = short_value(theirs);
		umap_buf_printf(&line, "CONFLICT (%s)", kind ? kind : "?");
		if (path || label)
			umap_buf_printf(&line, " in %s", path ? path : label);
		const json_t *index_v = json_object_get(c, "index");
		if (id)
			umap_buf_printf(&line, ": feature %s", id);
		else if (json_is_integer(index_v))
			umap_buf_printf(&line, ": feature without id at index %" JSON_INTEGER_FORMAT,
					json_integer_value(index_v));
		else if (has_layer)
			umap_buf_printf(&line, ": layer %s", layer ? layer : "?");
		else
			umap_buf_printf(&line, ": map");
		if ((id || json_is_integer(index_v)) && show_layer && has_layer)
			umap_buf_printf(&line, " (layer %s)", layer ? layer : "?");
		if (kind && !strcmp(kind, "modify/modify")) {
			umap_buf_printf(&line, ": %s is %s in ours, %s in theirs", what ? what : "it", o, t);
			if (base && !json_is_null(base))
				umap_buf_printf(&line, " (base %s)", b);
			else
				umap_buf_printf(&line, " (added on both sides)");
		} else if (kind && !strcmp(kind, "modify/delete")) {
			if (what)
				umap_buf_printf(&line, ": %s changed to %s in ours, deleted in theirs", what, o);
			else
				umap_buf_printf(&line, " changed in ours, deleted in theirs");
		} else if (kind && !strcmp(kind, "delete/modify")) {
			if (what)
				umap_buf_printf(&line, ": %s deleted in ours, changed to %s in theirs", what, t);
			else
				umap_buf_printf(&line, " deleted in ours, changed in theirs");
		} else {
			umap_buf_printf(&line, " added in ours and in theirs with different content");
		}
		/* names and values come from files and servers: shown, never obeyed */
		umap_buf_clear(&shown);
		if (umap_buf_put_printable(&shown, line.ptr, line.len, 0) || umap_buf_putc(&shown, '\n'))
			die("out of memory");
		fwrite(shown.ptr, 1, shown.len, out);
		free(layer);
		free(id);
		free(b);
		free(o);
		free(t);
	}
	umap_buf_dispose(&line);
	umap_buf_dispose(&shown);
}

void print_conflicts(FILE *out, const umap_merge_result *result, const char *label, int show_layer)
{
	json_t *report;
	if (umap_merge_conflicts_json(&report, result))
		die_lib(NULL);
	print_conflict_list(out, json_object_get(report, "conflicts"), label, show_layer);
	json_decref(report);
}

void write_conflict_report(const umap_merge_result *result, const char *path)
{
	json_t *report;
	if (umap_merge_conflicts_json(&report, result))
		die_lib("writing the conflict report");
	umap_buf text = UMAP_BUF_INIT;
	if (umap_json_write(&text, report, UMAP_JSON_INDENT(2)) || umap_buf_putc(&text, '\n'))
		die_lib("writing the conflict report");
	json_decref(report);
	if (!strcmp(path, "-")) {
		fwrite(text.ptr, 1, text.len, stdout);
	} else if (umap_file_write_atomic(path, text.ptr, text.len)) {
		die_lib("cannot write the conflict report");
	}
	umap_buf_dispose(&text);
}

void print_path_line(FILE *out, const char *indent, const char *path)
{
	umap_buf shown = UMAP_BUF_INIT;
	if (umap_buf_put_printable(&shown, path, strlen(path), 0))
		die("out of memory");
	fprintf(out, "%s%s\n", indent, shown.ptr ? shown.ptr : "");
	umap_buf_dispose(&shown);
}

void require_clean_worktree(umap_repo *repo, const git_oid *head_tree, const char *what)
{
	refuse_pending_paths(repo, what);
	git_oid work;
	umap_snapshot *snap = worktree_tree(&work, repo, head_tree, 0);
	umap_snapshot_free(snap);
	if (git_oid_equal(&work, head_tree))
		return;
	char **paths = NULL;
	size_t n = 0, changed = 0;
	if (umap_repo_tracked(&paths, &n, repo, head_tree))
		die_lib(NULL);
	for (size_t i = 0; i < n; i++) {
		int differs = 0;
		if (umap_repo_file_differs(&differs, repo, head_tree, &work, paths[i]))
			die_lib(NULL);
		if (!differs) {
			free(paths[i]);
			paths[i] = NULL;
		} else {
			changed++;
		}
	}
	/* trees that differ only in a file's recorded layout (a file read again rather than
	 * taken from the status cache, as when it was written within the same second) hold
	 * no change to lose */
	if (!changed) {
		umap_paths_free(paths, n);
		return;
	}
	error("your changes to these files would be lost by %s:", what);
	for (size_t i = 0; i < n; i++)
		if (paths[i])
			print_path_line(stderr, "\t", paths[i]);
	hint("commit them with 'umapsync commit -m MSG' first");
	exit(EXIT_DIFFERENT);
}

json_t *merge_in_progress(umap_repo *repo)
{
	json_t *state = NULL;
	int rc = umap_merge_state_load(&state, repo);
	if (rc == UMAP_ENOTFOUND) {
		umap_error_clear();
		return NULL;
	}
	if (rc)
		die_lib(NULL);
	return state;
}

json_t *stopped_state(umap_repo *repo, const char *kind)
{
	json_t *state;
	if (umap_merge_state_load(&state, repo))
		die_lib(NULL);
	const char *found = json_string_value(json_object_get(state, "kind"));
	if (!found || strcmp(found, kind)) {
		const char *other = strcmp(kind, "merge") ? "merge" : "rebase";
		die("a %s is in progress, not a %s: use 'umapsync %s --continue' or '--abort'", other,
		    kind, other);
	}
	return state;
}

void refuse_if_in_progress(umap_repo *repo)
{
	json_t *state = merge_in_progress(repo);
	if (!state)
		return;
	const char *kind = json_string_value(json_object_get(state, "kind"));
	int rebase = kind && !strcmp(kind, "rebase");
	json_decref(state);
	fflush(stdout);
	fprintf(stderr, "fatal: a %s is in progress\n", rebase ? "rebase" : "merge");
	hint("settle its conflicts with 'umapsync resolve', then 'umapsync %s --continue', or give up with 'umapsync %s --abort'",
	     rebase ? "rebase" : "merge", rebase ? "rebase" : "merge");
	exit(EXIT_FATAL);
}

void print_commit_line(umap_repo *repo, const git_oid *commit, const char *message)
{
	char *branch = NULL;
	umap_repo_head_branch(&branch, repo);
	printf("[%s %s] %s\n", branch ? branch : "detached HEAD", short_id(commit), subject_of(message));
	free(branch);
}

json_t *oid_json(const git_oid *oid)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), oid);
	return json_string(hex);
}

void state_oid(git_oid *out, const json_t *state, const char *name, const char *kind)
{
	const char *hex = json_string_value(json_object_get(state, name));
	if (!hex || git_oid_fromstr(out, hex) < 0)
		die("the %s state has no valid '%s'; give up with 'umapsync %s --abort'", kind, name,
		    kind);
}

json_t *merge_present_paths(const umap_repo_merge *m)
{
	json_t *paths = json_array();
	for (size_t i = 0; paths && i < m->nfiles; i++)
		if (m->files[i].present && json_array_append_new(paths, json_string(m->files[i].path)))
			die("out of memory");
	if (!paths)
		die("out of memory");
	return paths;
}

void stop_on_conflicts(umap_repo *repo, umap_repo_merge *m, const git_oid *head,
		       const git_oid *theirs, const char *label, const char *message,
		       json_t *paths, int single_parent)
{
	/* keep the exact working files for --abort, then record the state */
	json_t *state = json_object(), *conflicts = NULL;
	char **all = calloc(m->nfiles + 1, sizeof(*all));
	if (!state || !all)
		die("out of memory");
	for (size_t i = 0; i < m->nfiles; i++)
		all[i] = m->files[i].path;
	if (umap_repo_merge_conflicts(&conflicts, m) ||
	    json_object_set_new(state, "kind", json_string("merge")) ||
	    (single_parent && json_object_set_new(state, "single_parent", json_true())) ||
	    json_object_set_new(state, "head", oid_json(head)) ||
	    json_object_set_new(state, "theirs", oid_json(theirs)) ||
	    json_object_set_new(state, "branch", json_string(label)) ||
	    json_object_set_new(state, "message", json_string(message)) ||
	    json_object_set(state, "files", paths) ||
	    json_object_set_new(state, "conflicts", conflicts) ||
	    umap_merge_backup(state, repo, all, m->nfiles) ||
	    umap_merge_state_save(repo, state))
		die_lib("cannot record the merge state");
	if (umap_repo_merge_write_worktree(repo, m)) {
		umap_merge_restore(repo, state);
		umap_merge_state_remove(repo);
		die_lib("cannot write the merged files");
	}
	print_conflict_list(stderr, conflicts, NULL, 0);
	free(all);
	json_decref(state);
}
