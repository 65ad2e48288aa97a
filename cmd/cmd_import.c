/* umapsync import: start tracking map files and commit them. Ids it assigns (features
 * without one, layers without one) are written back so that status is clean right after. */
#include "builtin.h"
#include "progress.h"
#include "repo-cmd.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fs.h"
#include "sync_op.h"

static size_t count_features(const umap_doc *doc)
{
	size_t n = 0;
	for (size_t l = 0; l < doc->nlayers; l++)
		n += doc->layers[l].nfeatures;
	return n;
}

#define BAD_IDS_SHOWN 10

/* Warns of ids a push could never carry (the server refuses them, and push refuses to send
 * them): better said here, at the line, than when pushing. A repository that is not
 * synced may keep them. */
static void warn_unsyncable_ids(const umap_doc *doc, const char *rel)
{
	size_t bad = 0;
	for (size_t l = 0; l < doc->nlayers; l++) {
		const umap_layer *layer = &doc->layers[l];
		for (size_t i = 0; i < layer->nfeatures; i++) {
			const umap_feature *f = &layer->features[i];
			if (!f->id || umap_sync_valid_feature_id_text(f->id))
				continue;
			if (bad++ < BAD_IDS_SHOWN)
				warning("%s:%u: the feature id %.80s%s cannot be synced: an id must be " UMAP_SYNC_FEATURE_ID_RULE,
					rel, f->pos.line, f->id, strlen(f->id) > 80 ? "..." : "");
		}
	}
	if (!bad)
		return;
	if (bad > BAD_IDS_SHOWN)
		warning("%s: %zu more feature ids like these", rel, bad - BAD_IDS_SHOWN);
	hint("push refuses these features: before pushing, give them other ids, or remove their \"id\" (commit then assigns new ones)");
}

/* Writes the files that got ids (after everything was checked, before the commit: a
 * failed write leaves the repository as it was). */
static void write_assigned_ids(umap_repo *repo, umap_snapshot *snap, const unsigned char *rewrite)
{
	for (size_t i = 0; i < snap->nfiles; i++) {
		umap_repo_file *f = &snap->files[i];
		if (!rewrite[i])
			continue;
		char *abs = NULL;
		struct stat raw;
		if (umap_repo_abspath(&abs, repo, f->path) ||
		    umap_doc_save_source(f->doc, abs))
			die_lib("cannot write the new ids to %s", f->path);
		f->have_stat = stat(abs, &raw) == 0;
		if (f->have_stat)
			umap_file_stat_from(&f->st, &raw);
		free(abs);
	}
}

int cmd_import(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync import [-m MSG] FILE...", NULL };
	const char *message = NULL;
	const struct option options[] = {
		OPT_STRING('m', "message", &message, "MSG", "commit message (default: Import FILE)"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc < 1)
		usage_with_options_msg(usage, options, "import needs at least one file");
	umap_repo *repo = open_repo_with(OPEN_REPO_REFUSE_CHECKOUT);
	git_oid head, head_tree;
	int unborn = read_head(&head, &head_tree, repo);
	char **tracked = NULL;
	size_t ntracked = 0;
	if (umap_repo_tracked(&tracked, &ntracked, repo, unborn ? NULL : &head_tree))
		die_lib(NULL);
	umap_snapshot *snap = NULL;
	if (umap_snapshot_new(&snap))
		die_lib(NULL);
	for (size_t i = 0; i < ntracked; i++)
		if (umap_snapshot_add(snap, tracked[i], NULL))
			die_lib(NULL);
	umap_pending pending = UMAP_PENDING_INIT;
	if (umap_repo_pending_load(&pending, repo))
		die_lib(NULL);
	unsigned char *rewrite = calloc(ntracked + (size_t)argc, 1);
	if (!rewrite)
		die("out of memory");
	umap_buf subject = UMAP_BUF_INIT;
	umap_buf_puts(&subject, "Import ");
	umap_buf report = UMAP_BUF_INIT;
	for (int i = 0; i < argc; i++) {
		char *rel = NULL;
		if (umap_repo_relpath(&rel, repo, argv[i]))
			die_lib(NULL);
		const umap_pending_path *moved = umap_pending_find_to(&pending, rel);
		if (moved)
			die("'%s' is already tracked: it is '%s' moved by 'umapsync mv'; 'umapsync commit' "
			    "records it", rel, moved->from);
		if (umap_snapshot_find(snap, rel) && umap_pending_find_from(&pending, rel))
			die("'%s' is tracked, and 'umapsync rm' or 'umapsync mv' took it away; commit "
			    "that first", rel);
		if (umap_snapshot_find(snap, rel)) {
			fflush(stdout);
			fprintf(stderr, "fatal: '%s' is already tracked\n", rel);
			hint("edit it and record the changes with 'umapsync commit -m MSG'");
			exit(EXIT_FATAL);
		}
		char *abs = NULL;
		umap_doc *doc = NULL;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		struct stat raw;
		if (umap_repo_abspath(&abs, repo, rel))
			die_lib(NULL);
		int have_stat = stat(abs, &raw) == 0; /* before reading: see the stat index */
		if (umap_doc_open(&doc, abs, &opts))
			die_lib(NULL);
		size_t assigned = 0;
		if (umap_repo_assign_ids(doc, &assigned))
			die_lib("%s", rel);
		if (assigned) {
			/* the file with its new ids is read from memory, and written only once the
			 * whole import is known to be good: a refused import changes no file */
			umap_buf text = UMAP_BUF_INIT;
			if (umap_doc_write(&text, doc, UMAP_DOC_AS_READ))
				die_lib("%s", rel);
			umap_doc *written = NULL;
			size_t len = text.len;
			if (umap_doc_from_file_text(&written, umap_buf_detach(&text), len, abs, &opts) ||
			    umap_repo_carry_layer_ids(written, doc))
				die_lib(NULL);
			umap_doc_free(doc);
			doc = written;
			doc->layout.known = 1; /* the file's, as it will be written */
			have_stat = 0;
		}
		/* said once the import is known to be good: a refused one reports nothing done */
		size_t nfeatures = count_features(doc);
		if (umap_buf_printf(&report, "%s: %zu layer%s, %zu feature%s", rel, doc->nlayers,
				    doc->nlayers == 1 ? "" : "s", nfeatures, nfeatures == 1 ? "" : "s") ||
		    (assigned && umap_buf_printf(&report, ", %zu id%s assigned", assigned, assigned == 1 ? "" : "s")) ||
		    umap_buf_putc(&report, '\n'))
			die("out of memory");
		warn_unsyncable_ids(doc, rel);
		umap_buf_printf(&subject, "%s%s", i ? ", " : "", rel);
		if (umap_snapshot_add(snap, rel, doc))
			die_lib(NULL);
		umap_repo_file *added = &snap->files[snap->nfiles - 1];
		added->have_stat = have_stat;
		rewrite[snap->nfiles - 1] = assigned != 0;
		if (have_stat)
			umap_file_stat_from(&added->st, &raw);
		free(abs);
		free(rel);
	}
	git_oid tree, commit;
	/* every feature of the tracked files is placed (unchanged ones through the cache) */
	uint64_t total = 0;
	for (size_t i = 0; i < snap->nfiles; i++)
		total += snap->files[i].doc ? count_features(snap->files[i].doc) : 0;
	struct progress *bar = start_progress("Importing features", total);
	struct umap_progress progress = { progress_report, bar };
	umap_repo_set_progress(repo, &progress);
	if (umap_repo_build_tree(&tree, repo, snap, unborn ? NULL : &head_tree))
		die_lib(NULL);
	write_assigned_ids(repo, snap, rewrite);
	if (umap_repo_commit_tree_as(&commit, repo, &tree, unborn ? NULL : &head, unborn ? 0 : 1,
				     message ? message : subject.ptr, 1))
		die_lib(NULL);
	umap_repo_set_progress(repo, NULL);
	display_progress(bar, total);
	stop_progress(&bar);
	fputs(report.ptr ? report.ptr : "", stdout);
	umap_buf_dispose(&report);
	umap_repo_cache_save(repo);
	if (umap_repo_index_update(repo, snap, &tree))
		umap_error_clear();
	char *branch = NULL;
	umap_repo_head_branch(&branch, repo);
	printf("[%s%s %s] %s\n", branch ? branch : "detached HEAD", unborn ? " (root-commit)" : "",
	       short_id(&commit), subject_of(message ? message : subject.ptr));
	free(branch);
	umap_buf_dispose(&subject);
	free(rewrite);
	umap_pending_clear(&pending);
	umap_paths_free(tracked, ntracked);
	umap_snapshot_free(snap);
	umap_repo_free(repo);
	return 0;
}
