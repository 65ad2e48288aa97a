/* GeoJSON Text Sequences (RFC 8142) out: records of RS, compact JSON, LF, for features of a
 * document (streamed to a sink) and for the changed features of a diff. */
#include "geojsonseq.h"

#include "error.h"

#define RS '\x1e'
#define FLUSH_AT (1u << 20)

int umap_geojsonseq_put(umap_buf *out, const json_t *value)
{
	int rc = umap_buf_putc(out, RS);
	if (!rc)
		rc = umap_json_write(out, value, UMAP_JSON_COMPACT);
	if (!rc)
		rc = umap_buf_putc(out, '\n');
	return rc;
}

int umap_geojsonseq_write_doc(umap_doc *doc, umap_seq_sink sink, void *ctx)
{
	umap_buf out = UMAP_BUF_INIT;
	int rc = 0;
	for (size_t l = 0; l < doc->nlayers && !rc; l++) {
		umap_layer *layer = &doc->layers[l];
		for (size_t i = 0; i < layer->nfeatures && !rc; i++) {
			const umap_feature *f = &layer->features[i];
			json_t *tree = NULL;
			if (f->value) {
				rc = umap_geojsonseq_put(&out, f->value);
			} else if (!(rc = umap_doc_build_span(&tree, doc, f->offset, f->length))) {
				/* built for this record only: memory stays that of one feature */
				rc = umap_geojsonseq_put(&out, tree);
				json_decref(tree);
				umap_doc_drop_behind(doc, f->offset);
			}
			if (!rc && out.len >= FLUSH_AT) {
				rc = sink(ctx, out.ptr, out.len);
				umap_buf_clear(&out);
			}
		}
	}
	if (!rc && out.len)
		rc = sink(ctx, out.ptr, out.len);
	umap_buf_dispose(&out);
	return rc;
}

int umap_geojsonseq_write_diff(umap_buf *out, const umap_diff *diff)
{
	json_t *fc = NULL;
	int rc = umap_diff_to_geojson(&fc, diff);
	size_t i;
	const json_t *feature;
	json_array_foreach(json_object_get(fc, "features"), i, feature) {
		if (rc)
			break;
		rc = umap_geojsonseq_put(out, feature);
	}
	json_decref(fc);
	return rc;
}
