/* umapsync git-textconv: the text git shows for a map file in `git show` and `git log -p`
 * (diff.umapsync.textconv, set by git-setup): one line per layer and one per feature. */
#include "builtin.h"

#include <string.h>

#include "doc.h"
#include "error.h"
#include "fs.h"

/* Sorted keys and compact: equal features give equal lines, so git's line diff is a feature
 * diff; any other spelling of a number or order of keys makes no line change. */
#define TEXTCONV_JSON (UMAP_JSON_COMPACT | UMAP_JSON_SORT_KEYS)

static void put_json(umap_buf *out, const char *prefix, const json_t *value)
{
	if (umap_buf_puts(out, prefix) || umap_json_write(out, value ? value : json_null(), TEXTCONV_JSON) ||
	    umap_buf_putc(out, '\n'))
		die_lib(NULL);
}

/* A feature as one line: type, id, properties and geometry first (what a reader looks for),
 * then any other member, each with sorted keys. */
static void put_feature(umap_buf *out, const json_t *feature)
{
	static const char *const first[] = { "type", "id", "properties", "geometry" };
	json_t *rest = json_object();
	int rc = rest ? umap_buf_putc(out, '{') : UMAP_ENOMEM;
	const char *sep = "";
	for (size_t i = 0; !rc && i < sizeof(first) / sizeof(*first); i++) {
		const json_t *v = json_object_get(feature, first[i]);
		if (!v)
			continue;
		if (!(rc = umap_buf_printf(out, "%s\"%s\":", sep, first[i])))
			rc = umap_json_write(out, v, TEXTCONV_JSON);
		sep = ",";
	}
	const char *key;
	size_t key_len;
	json_t *v;
	json_object_keylen_foreach((json_t *)feature, key, key_len, v) {
		int known = 0;
		for (size_t i = 0; i < sizeof(first) / sizeof(*first); i++)
			known |= key_len == strlen(first[i]) && !memcmp(key, first[i], key_len);
		if (!rc && !known)
			rc = json_object_setn(rest, key, key_len, v) ? UMAP_ENOMEM : 0;
	}
	if (!rc && json_object_size(rest)) {
		size_t at = out->len;
		if (!(rc = umap_json_write(out, rest, TEXTCONV_JSON)))
			out->ptr[at] = *sep ? ',' : ' '; /* its '{' joins the members above */
	} else if (!rc) {
		rc = umap_buf_putc(out, '}');
	}
	json_decref(rest);
	if (rc || umap_buf_putc(out, '\n'))
		die_lib(NULL);
}

/* A file that is not a map or layer is shown as it is: git must still show the commit. */
static int show_as_is(const char *path)
{
	fprintf(stderr, "warning: %s: %s; showing it as text\n", path, umap_error_last());
	umap_buf raw = UMAP_BUF_INIT;
	if (umap_file_read(&raw, path, SIZE_MAX / 2))
		die_lib(NULL);
	fwrite(raw.ptr ? raw.ptr : "", 1, raw.len, stdout);
	umap_buf_dispose(&raw);
	return 0;
}

int cmd_git_textconv(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync git-textconv FILE", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc != 1)
		usage_with_options_msg(usage, options, "git-textconv takes one file, got %d", argc);
	umap_doc *doc;
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	if (umap_doc_open(&doc, argv[0], &opts))
		return show_as_is(argv[0]);
	umap_buf out = UMAP_BUF_INIT;
	if (doc->kind == UMAP_DOC_MAP)
		put_json(&out, "map ", json_object_get(doc->map, "properties"));
	for (size_t i = 0; i < doc->nlayers; i++) {
		umap_layer *layer = &doc->layers[i];
		char label[64];
		snprintf(label, sizeof(label), "layer %zu ", i);
		put_json(&out, label, layer->options);
		for (size_t k = 0; k < layer->nfeatures; k++) {
			json_t *feature;
			if (umap_doc_feature(&feature, doc, layer, k))
				die_lib("%s", argv[0]);
			put_feature(&out, feature);
			if (out.len > (1u << 20)) {
				fwrite(out.ptr, 1, out.len, stdout);
				umap_buf_clear(&out);
			}
		}
	}
	fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout);
	umap_buf_dispose(&out);
	umap_doc_free(doc);
	return 0;
}
