/* libFuzzer target for the three-way merge: BASE, OURS and THEIRS split from one input at NUL
 * bytes, merged with each favour, written, and checked: a side that changed nothing takes
 * the other side's document whole, without conflicts.
 * fuzz-requires: lib/json.c lib/doc.c lib/diff.c lib/merge.c
 * fuzz-seeds: examples */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diff.h"
#include "doc.h"
#include "error.h"
#include "merge.h"

static int read_doc(umap_doc **out, const char *data, size_t len, const char *name)
{
	umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
	opts.json.max_depth = 64;
	opts.json.max_string = 4096;
	return umap_doc_from_buffer(out, data, len, name, &opts);
}

static int same_document(umap_doc *a, umap_doc *b)
{
	umap_diff *diff = NULL;
	umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
	if (umap_diff_new(&diff, &dopts))
		return 1;
	int same = umap_diff_docs(diff, a, b) != 0 || !umap_diff_has_changes(diff);
	umap_diff_free(diff);
	return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *part[3];
	size_t len[3], nparts = 0;
	const char *p = (const char *)data, *end = p + size;
	while (nparts < 3) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		part[nparts] = p;
		len[nparts] = nul && nparts < 2 ? (size_t)(nul - p) : (size_t)(end - p);
		nparts++;
		if (!nul || nparts == 3)
			break;
		p = nul + 1;
	}
	/* two parts: BASE and THEIRS, with OURS = BASE (the property check below) */
	int ours_is_base = nparts == 2;
	if (nparts == 1)
		return 0;
	if (ours_is_base) {
		part[2] = part[1];
		len[2] = len[1];
		part[1] = part[0];
		len[1] = len[0];
	}
	umap_doc *doc[3] = { NULL, NULL, NULL };
	static const char *const names[3] = { "base", "ours", "theirs" };
	for (int i = 0; i < 3; i++)
		if (read_doc(&doc[i], part[i], len[i], names[i]) != 0)
			goto done;
	for (int favor = 0; favor < 3; favor++) {
		umap_merge_options opts = UMAP_MERGE_OPTIONS_INIT;
		opts.favor = (umap_merge_favor)favor;
		umap_merge_result *result = NULL;
		if (umap_merge(&result, doc[0], doc[1], doc[2], &opts) != 0)
			continue;
		size_t nconflicts = 0;
		umap_merge_conflicts(result, &nconflicts);
		json_t *report = NULL;
		if (umap_merge_conflicts_json(&report, result) == 0)
			json_decref(report);
		umap_buf text = UMAP_BUF_INIT;
		if (umap_merge_write(&text, result, UMAP_JSON_INDENT(2)) == 0) {
			umap_doc *written = NULL;
			if (read_doc(&written, text.ptr, text.len, "merged") != 0)
				abort(); /* the merge wrote something it cannot read */
			if (ours_is_base && (nconflicts || !same_document(written, doc[2])))
				abort(); /* merge(B, B, T) must be T */
			umap_doc_free(written);
		}
		umap_buf_dispose(&text);
		umap_doc *merged = NULL;
		if (umap_merge_doc(&merged, result) == 0)
			umap_doc_free(merged);
		umap_merge_result_free(result);
	}
done:
	for (int i = 0; i < 3; i++)
		umap_doc_free(doc[i]);
	return 0;
}
