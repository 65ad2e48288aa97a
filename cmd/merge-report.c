/* Shared by the merge commands: opening the three versions, printing conflicts one line
 * each with the values people need to settle them, and the JSON conflict report. */
#include "builtin.h"
#include "merge-report.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fs.h"

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
	if (!value)
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

void print_conflicts(FILE *out, const umap_conflict *conflicts, size_t count, const char *label,
		     int show_layer)
{
	for (size_t i = 0; i < count; i++) {
		const umap_conflict *c = &conflicts[i];
		char *layer = display(c->layer), *id = c->id && !json_is_null(c->id) ? display(c->id) : NULL;
		char *b = short_value(c->base), *o = short_value(c->ours), *t = short_value(c->theirs);
		fprintf(out, "CONFLICT (%s)", umap_conflict_kind_name(c->kind));
		if (label)
			fprintf(out, " in %s", label);
		if (id)
			fprintf(out, ": feature %s", id);
		else if (c->layer && !json_is_null(c->layer))
			fprintf(out, ": layer %s", layer ? layer : "?");
		else
			fprintf(out, ": map");
		if (id && show_layer && c->layer && !json_is_null(c->layer))
			fprintf(out, " (layer %s)", layer ? layer : "?");
		const char *what = c->key ? c->key : NULL;
		switch (c->kind) {
		case UMAP_CONFLICT_MODIFY_MODIFY:
			fprintf(out, ": %s is %s in ours, %s in theirs", what ? what : "it", o, t);
			if (c->base)
				fprintf(out, " (base %s)", b);
			else
				fprintf(out, " (added on both sides)");
			break;
		case UMAP_CONFLICT_MODIFY_DELETE:
			if (what)
				fprintf(out, ": %s changed to %s in ours, deleted in theirs", what, o);
			else
				fprintf(out, " changed in ours, deleted in theirs");
			break;
		case UMAP_CONFLICT_DELETE_MODIFY:
			if (what)
				fprintf(out, ": %s deleted in ours, changed to %s in theirs", what, t);
			else
				fprintf(out, " deleted in ours, changed in theirs");
			break;
		case UMAP_CONFLICT_ADD_ADD:
			fprintf(out, " added in ours and in theirs with different content");
			break;
		}
		fputc('\n', out);
		free(layer);
		free(id);
		free(b);
		free(o);
		free(t);
	}
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
