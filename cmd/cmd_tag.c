/* umapsync tag: list tags, name a revision (HEAD by default) with a lightweight tag or,
 * with -a/-m, an annotated one (tagger, date, message), or delete tags (-d). */
#include "builtin.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>

static int delete_tag(umap_repo *repo, const char *name)
{
	umap_buf ref = UMAP_BUF_INIT;
	umap_buf_printf(&ref, "refs/tags/%s", name);
	git_oid at;
	int rc = 0;
	if (git_reference_name_to_id(&at, umap_repo_git(repo), ref.ptr) < 0) {
		rc = error("tag '%s' not found", name);
	} else if (git_tag_delete(umap_repo_git(repo), name) < 0) {
		die("cannot delete tag '%s': %s", name, git_error_last()->message);
	} else {
		printf("Deleted tag '%s' (was %s)\n", name, short_id(&at));
	}
	umap_buf_dispose(&ref);
	return rc ? EXIT_DIFFERENT : 0;
}

int cmd_tag(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync tag [NAME [REV]]",
		"umapsync tag -a [-m MSG] NAME [REV]",
		"umapsync tag -d NAME...",
		NULL,
	};
	int annotate = 0, del = 0;
	const char *message = NULL;
	const struct option options[] = {
		OPT_BOOL('a', "annotate", &annotate, "make an annotated tag (tagger, date, message)"),
		OPT_STRING('m', "message", &message, "MSG", "the tag's message (implies -a)"),
		OPT_BOOL('d', "delete", &del, "delete tags"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (del) {
		if (!argc || annotate || message)
			usage_with_options_msg(usage, options, "-d takes the tags to delete, and nothing else");
		umap_repo *repo = open_repo();
		int rc = 0;
		for (int i = 0; i < argc; i++)
			rc |= delete_tag(repo, argv[i]);
		umap_repo_free(repo);
		return rc;
	}
	if (argc > 2)
		usage_with_options_msg(usage, options, "too many arguments");
	if ((annotate || message) && !argc)
		usage_with_options_msg(usage, options, "-a needs the tag's name");
	if (annotate && !message)
		usage_with_options_msg(usage, options, "-a needs its message: -m MSG");
	if (message && !*message)
		usage_with_options_msg(usage, options, "the message of -m is empty");
	umap_repo *repo = open_repo();
	if (argc) {
		git_oid at;
		if (umap_repo_resolve(&at, repo, argc == 2 ? argv[1] : "HEAD"))
			die(argc == 2 ? "unknown revision '%s'" : "cannot tag: there is no commit yet%s",
			    argc == 2 ? argv[1] : "");
		if (message) {
			git_signature *tagger = NULL;
			git_object *target = NULL;
			git_oid tag_id;
			umap_buf msg = UMAP_BUF_INIT;
			umap_buf_printf(&msg, "%s\n", message);
			if (umap_repo_signature(&tagger, repo))
				die_lib(NULL);
			if (git_object_lookup(&target, umap_repo_git(repo), &at, GIT_OBJECT_COMMIT) < 0)
				die("cannot read commit %s", short_id(&at));
			int err = git_tag_create(&tag_id, umap_repo_git(repo), argv[0], target, tagger, msg.ptr, 0);
			if (err == GIT_EEXISTS)
				die("cannot create tag '%s': it already exists", argv[0]);
			if (err < 0)
				die("cannot create tag '%s': %s", argv[0], git_error_last()->message);
			git_object_free(target);
			git_signature_free(tagger);
			umap_buf_dispose(&msg);
		} else {
			umap_buf ref = UMAP_BUF_INIT;
			umap_buf_printf(&ref, "refs/tags/%s", argv[0]);
			if (umap_repo_create_ref(repo, ref.ptr, &at, "tag"))
				die_lib("cannot create tag '%s'", argv[0]);
			umap_buf_dispose(&ref);
		}
		umap_repo_free(repo);
		return 0;
	}
	git_strarray names = { 0 };
	if (git_tag_list(&names, umap_repo_git(repo)) < 0)
		die("cannot list tags: %s", git_error_last()->message);
	for (size_t i = 0; i < names.count; i++)
		printf("%s\n", names.strings[i]);
	git_strarray_dispose(&names);
	umap_repo_free(repo);
	return 0;
}
