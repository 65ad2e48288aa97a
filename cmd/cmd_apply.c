/* umapsync apply: apply a `diff --format=json` patch to a file, all or nothing.
 * Refuses, changing nothing, where an old value in the patch does not match the file. */
#include "builtin.h"

#include <string.h>

#include "doc.h"
#include "error.h"
#include "fs.h"
#include "patch.h"

int cmd_apply(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync apply [--reverse] [--check] PATCH FILE", NULL };
	int reverse = 0, check = 0;
	const char *id_property = NULL;
	const struct option options[] = {
		OPT_BOOL('R', "reverse", &reverse, "undo the patch"),
		OPT_BOOL(0, "check", &check, "only test whether the patch applies; change nothing"),
		OPT_STRING(0, "id", &id_property, "PROP", "feature ids are properties.PROP"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc != 2)
		usage_with_options_msg(usage, options, argc < 2 ? "apply needs a PATCH and a FILE"
								: "too many arguments");
	const char *patch_path = argv[0], *path = argv[1];
	if (!strcmp(path, "-"))
		die("apply changes FILE in place: give a file, not standard input");

	umap_buf text = UMAP_BUF_INIT;
	json_t *patch = NULL;
	if (umap_file_read(&text, patch_path, UMAP_JSON_DEFAULT_MAX_SIZE) ||
	    umap_json_loadb(&patch, text.ptr ? text.ptr : "", text.len,
			    strcmp(patch_path, "-") ? patch_path : "<stdin>"))
		die_lib("cannot read the patch");
	umap_buf_dispose(&text);

	umap_doc_options dopts = UMAP_DOC_OPTIONS_INIT;
	dopts.id_property = id_property;
	umap_doc *doc;
	if (umap_doc_open(&doc, path, &dopts))
		die_lib(NULL);

	umap_patch_options popts = UMAP_PATCH_OPTIONS_INIT;
	popts.reverse = reverse;
	popts.id_property = id_property;
	size_t applied = 0;
	int rc = umap_patch_apply(doc, patch, &popts, &applied);
	if (rc == UMAP_ECONFLICT) {
		error("patch does not apply: %s", umap_error_last());
		hint("nothing was changed; %s", reverse ? "was the patch applied to this file?"
							: "was the patch made against another version of this file?");
		umap_doc_free(doc);
		json_decref(patch);
		return EXIT_DIFFERENT;
	}
	if (rc)
		die_lib("cannot apply '%s'", patch_path);
	if (!check && applied && umap_doc_save(doc, path, UMAP_DOC_AS_READ))
		die_lib(NULL);
	umap_doc_free(doc);
	json_decref(patch);
	return 0;
}
