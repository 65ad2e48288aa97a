/* umapsync resolve: settle conflicts of a stopped merge or rebase by writing the chosen
 * value into the working file (ours, theirs, base, deleted, or a given JSON value). */
#include "builtin.h"
#include "merge-report.h"
#include "repo-cmd.h"
#include "repo_merge.h"

#include <string.h>

#include "error.h"

int cmd_resolve(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync resolve ID [KEY] --with=ours|theirs|base|delete",
		"umapsync resolve ID [KEY] --value=JSON",
		NULL,
	};
	const char *with = NULL, *value = NULL;
	const struct option options[] = {
		OPT_CHOICE(0, "with", &with, "SIDE", "take that side's value (delete: remove the key or feature)",
			   "ours|theirs|base|delete"),
		OPT_STRING(0, "value", &value, "JSON", "write this JSON value instead"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc < 1 || argc > 2)
		usage_with_options_msg(usage, options, "resolve needs the feature id (a layer id for layer options, 'map' for map options) and optionally the key");
	if (!with == !value)
		usage_with_options_msg(usage, options, "say how to settle it: --with=ours|theirs|base|delete or --value=JSON");
	umap_repo *repo = open_repo();
	json_t *state = NULL;
	if (umap_merge_state_load(&state, repo))
		die_lib(NULL);
	size_t resolved = 0;
	int rc = umap_merge_resolve(&resolved, repo, state, argv[0], argc == 2 ? argv[1] : NULL, with, value);
	if (rc == UMAP_ENOTFOUND && !resolved) {
		error("%s", umap_error_last());
		hint("'umapsync conflicts' lists what is left to settle");
		json_decref(state);
		umap_repo_free(repo);
		return EXIT_DIFFERENT;
	}
	if (rc == UMAP_EINVALID && value)
		die("--value is not JSON: %s", umap_error_last());
	if (rc)
		die_lib(NULL);
	if (umap_merge_state_save(repo, state))
		die_lib(NULL);
	size_t left = json_array_size(json_object_get(state, "conflicts"));
	const char *kind = json_string_value(json_object_get(state, "kind"));
	printf("settled %zu conflict%s of %s%s%s with %s; %zu left\n", resolved, resolved == 1 ? "" : "s",
	       argv[0], argc == 2 ? " " : "", argc == 2 ? argv[1] : "", value ? "the given value" : with, left);
	if (!left)
		hint("every conflict is settled: run 'umapsync %s --continue'", kind && !strcmp(kind, "rebase") ? "rebase" : "merge");
	json_decref(state);
	umap_repo_free(repo);
	return 0;
}
