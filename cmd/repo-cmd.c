/* What the repository commands share: opening the repository or dying with a hint, HEAD,
 * the working files as a tree, and git-style dates and short ids. */
#include "builtin.h"
#include "repo-cmd.h"
#include "merge-report.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "json.h"

umap_repo *open_repo(void)
{
	return open_repo_with(0);
}

int interrupted_checkout(char **target, umap_repo *repo)
{
	if (umap_repo_checkout_state_load(target, repo))
		die_lib(NULL);
	return *target != NULL;
}

/* A killed checkout leaves files that look modified; say so, and how to finish it. */
static void note_interrupted_checkout(umap_repo *repo, int flags)
{
	char *target = NULL;
	if (!interrupted_checkout(&target, repo))
		return;
	static const char what[] = "a checkout of '%s' was interrupted: the working files may be "
				   "part old, part new";
	fflush(stdout);
	if (flags & OPEN_REPO_REFUSE_CHECKOUT) {
		fputs("fatal: ", stderr);
		fprintf(stderr, what, target);
		fputc('\n', stderr);
	} else {
		warning(what, target);
	}
	hint("run 'umapsync checkout %s' to finish it", target);
	free(target);
	if (flags & OPEN_REPO_REFUSE_CHECKOUT)
		exit(EXIT_FATAL);
}

umap_repo *open_repo_with(int flags)
{
	umap_repo *repo = NULL;
	int rc = umap_repo_open(&repo, NULL);
	if (rc == UMAP_ENOTFOUND) {
		fflush(stdout);
		fprintf(stderr, "fatal: %s\n", umap_error_last());
		hint("create one here with 'umapsync init', then 'umapsync import FILE'");
		exit(EXIT_FATAL);
	}
	if (rc)
		die_lib(NULL);
	if (!(flags & OPEN_REPO_OWN_CHECKOUT_NOTE))
		note_interrupted_checkout(repo, flags);
	return repo;
}

int read_head(git_oid *commit, git_oid *tree, umap_repo *repo)
{
	int rc = umap_repo_head(commit, repo);
	if (rc == UMAP_ENOTFOUND)
		return 1;
	if (rc || umap_repo_commit_tree(tree, repo, commit))
		die_lib(NULL);
	return 0;
}

umap_snapshot *worktree_tree(git_oid *tree, umap_repo *repo, const git_oid *head_tree, int save_ids)
{
	return worktree_tree_of(tree, repo, head_tree, save_ids, NULL, 0);
}

static umap_snapshot *read_worktree_tree(git_oid *tree, umap_repo *repo, const git_oid *head_tree,
					 int save_ids, char **only, size_t nonly, int check);

umap_snapshot *worktree_tree_of(git_oid *tree, umap_repo *repo, const git_oid *head_tree,
				int save_ids, char **only, size_t nonly)
{
	return read_worktree_tree(tree, repo, head_tree, save_ids, only, nonly, 0);
}

umap_snapshot *worktree_tree_check(git_oid *tree, umap_repo *repo, const git_oid *head_tree)
{
	return read_worktree_tree(tree, repo, head_tree, 0, NULL, 0, 1);
}

static umap_snapshot *read_worktree_tree(git_oid *tree, umap_repo *repo, const git_oid *head_tree,
					 int save_ids, char **only, size_t nonly, int check)
{
	umap_snapshot *snap = NULL;
	size_t *rewrite = NULL; /* per file: how many ids it got, to write back */
	/* a commit (save_ids) reads a changed layer file as an edit of HEAD's layer */
	if (check ? umap_repo_read_worktree_check(&snap, repo, head_tree)
	    : save_ids ? umap_repo_read_worktree_edit(&snap, repo, head_tree)
		       : umap_repo_read_worktree(&snap, repo, head_tree))
		die_lib(NULL);
	for (size_t i = 0; i < snap->nfiles; i++) {
		umap_repo_file *f = &snap->files[i];
		size_t assigned = 0;
		if (only && !path_list_contains(only, nonly, f->path) &&
		    !(f->from && path_list_contains(only, nonly, f->from))) {
			/* left as in head_tree: a doc NULL keeps its layers, and is not recorded
			 * in the stat index as holding the new tree's version; a pending rm or mv
			 * of it waits for another commit */
			umap_doc_free(f->doc);
			f->doc = NULL;
			umap_layer_edit_free(f->edit);
			f->edit = NULL;
			f->missing = 0;
			f->unchanged = 1;
			f->have_stat = 0;
			f->removed = 0;
			if (f->from) {
				free(f->path);
				f->path = f->from;
				f->from = NULL;
			}
			continue;
		}
		if (f->removed)
			continue;
		if (f->missing) {
			if (!save_ids)
				continue;
			fflush(stdout);
			fprintf(stderr, "fatal: tracked file '%s' is missing\n", f->path);
			hint("restore it with 'umapsync restore %s', or record its removal with "
			     "'umapsync rm %s'", f->path, f->path);
			exit(EXIT_FATAL);
		}
		if (f->unchanged)
			continue; /* not read: the stat index says it holds HEAD's version */
		if (umap_repo_assign_ids(f->doc, &assigned))
			die_lib("%s", f->path);
		if (!assigned || !save_ids)
			continue;
		/* the file with its new ids is read from memory and written once the tree is
		 * built: a commit that fails changes no file */
		umap_buf text = UMAP_BUF_INIT;
		umap_doc_options opts = UMAP_DOC_OPTIONS_INIT;
		if (umap_doc_write(&text, f->doc, UMAP_DOC_AS_READ))
			die_lib("%s", f->path);
		umap_doc *written = NULL;
		size_t len = text.len;
		if (umap_doc_from_file_text(&written, umap_buf_detach(&text), len, f->path, &opts) ||
		    umap_repo_carry_layer_ids(written, f->doc))
			die_lib(NULL);
		umap_doc_free(f->doc);
		f->doc = written;
		f->doc->layout.known = 1; /* the file's, as it will be written */
		f->have_stat = 0; /* rewritten: its stat from before reading is not this file's */
		if (!(rewrite = rewrite ? rewrite : calloc(snap->nfiles, sizeof(*rewrite))))
			die("out of memory");
		rewrite[i] = assigned;
	}
	if (umap_repo_build_tree(tree, repo, snap, head_tree))
		die_lib(NULL);
	for (size_t i = 0; rewrite && i < snap->nfiles; i++) {
		umap_repo_file *f = &snap->files[i];
		char *abs = NULL;
		if (!rewrite[i])
			continue;
		if (umap_repo_abspath(&abs, repo, f->path) ||
		    umap_doc_save_source(f->doc, abs))
			die_lib("cannot write the new ids to %s", f->path);
		free(abs);
		printf("%s: %zu id%s assigned\n", f->path, rewrite[i], rewrite[i] == 1 ? "" : "s");
	}
	free(rewrite);
	/* the files read hold the version of *tree: the next command need not read them */
	if (umap_repo_index_update(repo, snap, tree))
		umap_error_clear();
	return snap;
}

int removed_at(const umap_snapshot *snap, const char *path)
{
	for (size_t i = 0; i < snap->nfiles; i++)
		if (snap->files[i].removed && !strcmp(snap->files[i].path, path))
			return 1;
	return 0;
}

int file_changes(const umap_tree_diff *diff, const char *path, int kept_only, size_t *added,
		 size_t *modified, size_t *removed, int *options)
{
	*added = *modified = *removed = 0;
	*options = 0;
	int any = 0;
	for (size_t l = 0; l < diff->nlayers; l++) {
		const umap_repo_layer_change *lc = &diff->layers[l];
		if (!lc->path || strcmp(lc->path, path) || (kept_only && lc->kind == UMAP_CHANGE_REMOVED))
			continue;
		any = 1;
		if (lc->options_changed || lc->meta_changed || lc->kind != UMAP_CHANGE_MODIFIED)
			*options = 1;
		for (size_t i = 0; i < diff->nfeatures; i++) {
			const umap_repo_change *c = &diff->features[i];
			if (strcmp(c->layer, lc->layer))
				continue;
			if (c->kind == UMAP_CHANGE_ADDED)
				(*added)++;
			else if (c->kind == UMAP_CHANGE_REMOVED)
				(*removed)++;
			else
				(*modified)++;
		}
	}
	return any;
}

void format_git_date(char *out, size_t size, const git_time *when)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)when->time + (time_t)when->offset * 60;
	struct tm tm;
	gmtime_r(&t, &tm);
	int off = when->offset < 0 ? -when->offset : when->offset;
	snprintf(out, size, "%s %s %d %02d:%02d:%02d %d %c%02d%02d", days[tm.tm_wday],
		 months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900,
		 when->offset < 0 ? '-' : '+', off / 60, off % 60);
}

const char *short_id(const git_oid *id)
{
	static char bufs[4][8];
	static int next;
	char *buf = bufs[next++ & 3];
	git_oid_tostr(buf, 8, id);
	return buf;
}

const char *subject_of(const char *message)
{
	static char line[256];
	size_t len = strcspn(message, "\n");
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	memcpy(line, message, len);
	line[len] = '\0';
	return line;
}

/* Whether an argument that is neither a revision nor a file looks like a file name, so
 * that the error says "no such file" rather than "unknown revision". */
static int looks_like_path(const char *arg)
{
	return strchr(arg, '/') || strchr(arg, '.');
}

static int tracked_in(umap_repo *repo, const git_oid *tree, const char *rel)
{
	char **tracked = NULL;
	size_t n = 0;
	if (umap_repo_tracked(&tracked, &n, repo, tree))
		die_lib(NULL);
	int found = path_list_contains(tracked, n, rel);
	umap_paths_free(tracked, n);
	return found;
}

/* Adds a user's path (relative to the current directory) to `paths`, once. */
static void add_path(char ***paths, size_t *npaths, umap_repo *repo, const char *arg, int is_rel)
{
	char *rel = NULL;
	if (is_rel) {
		if (!(rel = strdup(arg)))
			die("out of memory");
	} else if (umap_repo_relpath(&rel, repo, arg)) {
		die_lib(NULL);
	}
	if (path_list_contains(*paths, *npaths, rel)) {
		free(rel);
		return;
	}
	char **grown = realloc(*paths, (*npaths + 1) * sizeof(*grown));
	if (!grown)
		die("out of memory");
	*paths = grown;
	grown[(*npaths)++] = rel;
}

void diff_add_renames(umap_diff *diff, umap_repo *repo, const git_oid *old_tree,
			const git_oid *new_tree, char **paths, size_t npaths)
{
	umap_file_rename *renames = NULL;
	size_t n = 0;
	if (umap_repo_renames(&renames, &n, repo, old_tree, new_tree))
		die_lib(NULL);
	for (size_t i = 0; i < n; i++)
		if ((!npaths || path_list_contains(paths, npaths, renames[i].from) ||
		     path_list_contains(paths, npaths, renames[i].to)) &&
		    umap_diff_add_rename(diff, renames[i].from, renames[i].to))
			die_lib(NULL);
	umap_file_renames_free(renames, n);
}

void diff_from_revisions(umap_diff *diff, int argc, const char **argv, int nrevs_max)
{
	umap_repo *repo = NULL;
	int rc = umap_repo_open(&repo, NULL);
	if (rc == UMAP_ENOTFOUND) {
		for (int i = 0; i < argc; i++)
			if (strcmp(argv[i], "-") && access(argv[i], F_OK) != 0)
				die("'%s' is not a file, and there is no umapsync repository here to "
				    "read it as a revision", argv[i]);
		die("not a umapsync repository (or any parent directory); to compare two files, "
		    "give both: umapsync diff A B");
	}
	if (rc)
		die_lib(NULL);
	git_oid head, head_tree, trees[2];
	int unborn = read_head(&head, &head_tree, repo);
	int nrevs = 0;
	char **paths = NULL;
	size_t npaths = 0;
	int nplain = 0; /* paths given as themselves, not as REV:PATH: no revision after them */
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		git_oid commit;
		char *rel = NULL;
		int before_dashdash = nrevs_max < 0 || i < nrevs_max;
		if (before_dashdash && !nplain && strchr(arg, ':') && access(arg, F_OK) != 0) {
			/* REV:PATH: that file as it is at REV */
			if (nrevs == 2)
				die("too many revisions: diff compares two");
			if (umap_repo_resolve_path(&commit, &rel, repo, arg))
				die_lib(NULL);
			add_path(&paths, &npaths, repo, rel, 1);
			free(rel);
		} else if (before_dashdash && !nplain && nrevs < 2 &&
			   (access(arg, F_OK) != 0 || nrevs_max >= 0) &&
			   umap_repo_resolve(&commit, repo, arg) == 0) {
		} else if (before_dashdash && nrevs_max >= 0) {
			die_lib(NULL); /* before --, only revisions */
		} else {
			umap_error_clear();
			if (access(arg, F_OK) != 0) {
				char *r = NULL;
				int known = !umap_repo_relpath(&r, repo, arg) &&
					    ((!unborn && tracked_in(repo, &head_tree, r)) ||
					     (nrevs && tracked_in(repo, &trees[0], r)) ||
					     (nrevs > 1 && tracked_in(repo, &trees[1], r)));
				free(r);
				if (!known) {
					if (!looks_like_path(arg) && nrevs_max < 0 && !nplain)
						die("unknown revision '%s'", arg);
					die("'%s': no such file", arg);
				}
			}
			add_path(&paths, &npaths, repo, arg, 0);
			nplain++;
			continue;
		}
		if (umap_repo_commit_tree(&trees[nrevs++], repo, &commit))
			die_lib(NULL);
	}
	umap_snapshot *snap = NULL;
	if (nrevs < 2) {
		if (unborn)
			die("there is no commit yet to compare the working files with");
		if (nrevs == 0)
			git_oid_cpy(&trees[0], &head_tree);
		snap = worktree_tree(&trees[1], repo, &head_tree, 0);
	}
	umap_tree_diff *tdiff = NULL;
	if (umap_repo_diff(&tdiff, repo, &trees[0], &trees[1]))
		die_lib(NULL);
	if (!npaths && umap_repo_fill_diff(diff, repo, tdiff, &trees[0], &trees[1]))
		die_lib(NULL);
	for (size_t i = 0; i < npaths; i++)
		if (umap_repo_fill_diff_path(diff, repo, tdiff, &trees[0], &trees[1], paths[i]))
			die_lib(NULL);
	diff_add_renames(diff, repo, &trees[0], &trees[1], paths, npaths);
	umap_paths_free(paths, npaths);
	umap_tree_diff_free(tdiff);
	umap_snapshot_free(snap);
	umap_repo_free(repo);
}

int path_list_contains(char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

static void write_files(umap_repo *repo, const git_oid *old_tree, const git_oid *new_tree,
			int every_file);

void write_worktree(umap_repo *repo, const git_oid *old_tree, const git_oid *new_tree)
{
	write_files(repo, old_tree, new_tree, 0);
}

void write_worktree_all(umap_repo *repo, const git_oid *old_tree, const git_oid *new_tree)
{
	write_files(repo, old_tree, new_tree, 1);
}

/* Removes the temporary files of files[0..n) (those not committed yet) and dies with the
 * library's message, naming `path` when given. */
static void abort_files_and_die(umap_atomic_file *files, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (files[i].pending)
			umap_atomic_file_abort(&files[i]);
	if (path)
		die_lib("cannot write %s", path);
	die_lib(NULL);
}

static void write_files(umap_repo *repo, const git_oid *old_tree, const git_oid *new_tree,
			int every_file)
{
	char **old_paths = NULL, **new_paths = NULL;
	size_t nold = 0, nnew = 0;
	if (umap_repo_tracked(&old_paths, &nold, repo, old_tree) ||
	    umap_repo_tracked(&new_paths, &nnew, repo, new_tree))
		die_lib(NULL);
	/* every file is written to a temporary file beside it first, and they replace the
	 * working files only once all are written: a revision that cannot be read changes no
	 * file. Each is streamed from the revision (umap_repo_export_file), none held whole. */
	umap_atomic_file *files = calloc(nnew + 1, sizeof(*files));
	if (!files)
		die("out of memory");
	for (size_t i = 0; i < nnew; i++) {
		int differs = 1;
		files[i].fd = -1;
		if (!every_file && old_tree &&
		    umap_repo_file_differs(&differs, repo, old_tree, new_tree, new_paths[i]))
			abort_files_and_die(files, i, NULL);
		if (!differs)
			continue;
		char *abs = NULL;
		if (umap_repo_abspath(&abs, repo, new_paths[i]))
			abort_files_and_die(files, i, NULL);
		char *slash = strrchr(abs, '/');
		*slash = '\0';
		if (umap_mkdir_p(abs, 0777))
			abort_files_and_die(files, i, NULL);
		*slash = '/';
		if (umap_atomic_file_open(&files[i], abs))
			abort_files_and_die(files, i, new_paths[i]);
		if (umap_repo_export_file(repo, new_tree, new_paths[i], &files[i]))
			abort_files_and_die(files, i + 1, NULL);
		if (umap_atomic_file_prepare(&files[i]))
			abort_files_and_die(files, i + 1, new_paths[i]);
		free(abs);
	}
	for (size_t i = 0; i < nnew; i++) {
		if (!files[i].pending)
			continue;
		if (umap_atomic_file_commit(&files[i]))
			abort_files_and_die(files, nnew, new_paths[i]);
		if (umap_repo_index_record(repo, new_paths[i], NULL, new_tree))
			umap_error_clear();
	}
	free(files);
	for (size_t i = 0; i < nold; i++) {
		if (path_list_contains(new_paths, nnew, old_paths[i]))
			continue;
		char *abs = NULL;
		umap_repo_abspath(&abs, repo, old_paths[i]);
		if (abs && unlink(abs) < 0 && errno != ENOENT)
			die_errno("cannot remove %s", old_paths[i]);
		free(abs);
	}
	if (umap_repo_cache_save(repo))
		umap_error_clear();
	if (umap_repo_index_save(repo))
		umap_error_clear();
	umap_paths_free(old_paths, nold);
	umap_paths_free(new_paths, nnew);
}

char **user_paths(size_t *n, umap_repo *repo, const git_oid *tree, int argc, const char **argv,
		  int must_track)
{
	char **paths = NULL;
	umap_pending pending = UMAP_PENDING_INIT;
	if (umap_repo_pending_load(&pending, repo))
		die_lib(NULL);
	*n = 0;
	for (int i = 0; i < argc; i++) {
		char *rel = NULL;
		if (umap_repo_relpath(&rel, repo, argv[i]))
			die_lib(NULL);
		/* a file's new name after mv is tracked too */
		int tracked = (tree && tracked_in(repo, tree, rel)) || umap_pending_find_to(&pending, rel);
		free(rel);
		if (!tracked && access(argv[i], F_OK) != 0)
			die("'%s': no such file", argv[i]);
		if (!tracked && must_track) {
			fflush(stdout);
			fprintf(stderr, "fatal: '%s' is not tracked\n", argv[i]);
			hint("start tracking it with 'umapsync import %s'", argv[i]);
			exit(EXIT_FATAL);
		}
		add_path(&paths, n, repo, argv[i], 0);
	}
	umap_pending_clear(&pending);
	return paths;
}

void format_commit_diff(umap_buf *out, umap_repo *repo, const git_commit *c, int stat, int color)
{
	git_oid tree, parent_tree;
	git_oid_cpy(&tree, git_commit_tree_id(c));
	int has_parent = git_commit_parentcount(c) > 0;
	if (has_parent && umap_repo_commit_tree(&parent_tree, repo, git_commit_parent_id(c, 0)))
		die_lib(NULL);
	umap_tree_diff *tdiff = NULL;
	umap_diff *diff = NULL;
	umap_diff_options dopts = UMAP_DIFF_OPTIONS_INIT;
	dopts.summary_only = stat;
	if (umap_repo_diff(&tdiff, repo, has_parent ? &parent_tree : NULL, &tree) ||
	    umap_diff_new(&diff, &dopts) ||
	    umap_repo_fill_diff(diff, repo, tdiff, has_parent ? &parent_tree : NULL, &tree))
		die_lib(NULL);
	diff_add_renames(diff, repo, has_parent ? &parent_tree : NULL, &tree, NULL, 0);
	if (umap_diff_has_changes(diff)) {
		umap_buf_putc(out, '\n');
		if (stat ? umap_diff_format_stat(out, diff)
			 : umap_diff_format_text(out, diff, want_color(stdout, color)))
			die_lib("cannot format the diff");
	}
	umap_diff_free(diff);
	umap_tree_diff_free(tdiff);
}

void warn_leaving_detached(umap_repo *repo, const git_oid *old_head, const git_oid *target)
{
	git_revwalk *walk = NULL;
	if (git_revwalk_new(&walk, umap_repo_git(repo)) < 0 || git_revwalk_push(walk, old_head) < 0 ||
	    git_revwalk_hide(walk, target) < 0) {
		git_revwalk_free(walk);
		return; /* only a warning: no walk, no warning */
	}
	/* a ref that does not exist yet (no tags) is no error */
	git_revwalk_hide_glob(walk, "refs/heads/*");
	git_revwalk_hide_glob(walk, "refs/tags/*");
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL);
	enum { SHOWN = 5 };
	git_oid ids[SHOWN], id;
	size_t n = 0;
	while (git_revwalk_next(&id, walk) == 0) {
		if (n < SHOWN)
			git_oid_cpy(&ids[n], &id);
		n++;
	}
	git_revwalk_free(walk);
	if (!n)
		return;
	fflush(stdout);
	fprintf(stderr, "Warning: you are leaving %zu commit%s behind, not connected to\n"
			"any of your branches:\n\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n && i < SHOWN; i++) {
		git_commit *c = NULL;
		git_commit_lookup(&c, umap_repo_git(repo), &ids[i]);
		fprintf(stderr, "  %s %s\n", short_id(&ids[i]), c ? subject_of(git_commit_message(c)) : "");
		git_commit_free(c);
	}
	if (n > SHOWN)
		fprintf(stderr, " ... and %zu more.\n", n - SHOWN);
	fprintf(stderr, "\nIf you want to keep %s by creating a new branch, this may be a good time\n"
			"to do so with:\n\n umapsync branch <new-branch-name> %s\n\n"
			"('umapsync reflog' lists where HEAD has been.)\n",
		n == 1 ? "it" : "them", short_id(old_head));
}

/* The feature id as compact JSON: a string, unless it is a number that HEAD has. */
char *feature_id_json(umap_repo *repo, const git_oid *head_tree, const char *id)
{
	umap_buf text = UMAP_BUF_INIT;
	json_t *s = json_string(id);
	if (!s || umap_json_write(&text, s, UMAP_JSON_COMPACT))
		die_lib("bad feature id");
	json_decref(s);
	int numeric = *id != '\0';
	for (const char *p = id; *p; p++)
		numeric &= isdigit((unsigned char)*p) || *p == '-' || *p == '.';
	git_oid blob;
	if (numeric && head_tree &&
	    umap_repo_feature_blob(&blob, NULL, repo, head_tree, NULL, text.ptr) == UMAP_ENOTFOUND &&
	    umap_repo_feature_blob(&blob, NULL, repo, head_tree, NULL, id) == 0) {
		umap_buf_dispose(&text);
		return strdup(id);
	}
	umap_error_clear();
	return umap_buf_detach(&text);
}

umap_repo *open_repo_for_paths(git_oid *head_tree, umap_pending *pending)
{
	umap_repo *repo = open_repo_with(OPEN_REPO_REFUSE_CHECKOUT);
	refuse_if_in_progress(repo);
	git_oid head;
	if (read_head(&head, head_tree, repo))
		die("nothing is tracked yet");
	if (umap_repo_pending_load(pending, repo))
		die_lib(NULL);
	return repo;
}

void tracked_work_path(char **from, char **work, umap_repo *repo, const git_oid *head_tree,
		       const umap_pending *pending, const char *arg)
{
	char *rel = NULL;
	if (umap_repo_relpath(&rel, repo, arg))
		die_lib(NULL);
	const umap_pending_path *p = umap_pending_find_to(pending, rel);
	if (p) {
		/* the new name of a file mv moved */
		if (!(*from = strdup(p->from)))
			die("out of memory");
		*work = rel;
		return;
	}
	char **tracked = NULL;
	size_t n = 0;
	if (umap_repo_tracked(&tracked, &n, repo, head_tree))
		die_lib(NULL);
	int in_head = path_list_contains(tracked, n, rel);
	const char *inside = NULL; /* the tracked file that `rel` names a part of */
	for (size_t i = 0; i < n && !inside; i++) {
		size_t len = strlen(tracked[i]);
		if (!strncmp(rel, tracked[i], len) && (rel[len] == '/' || rel[len] == ':'))
			inside = tracked[i];
	}
	if (inside)
		die("'%s' is inside the tracked file '%s': rm and mv work on whole files; to remove or "
		    "rename a layer of a map, edit the map (in uMap, or its .umap file) and commit",
		    arg, inside);
	umap_paths_free(tracked, n);
	p = umap_pending_find_from(pending, rel);
	if (in_head && p && !p->to)
		die("'%s' is removed already: the next commit records it ('umapsync restore %s' "
		    "brings it back)", arg, arg);
	if (!in_head || p) {
		fflush(stdout);
		if (p)
			fprintf(stderr, "fatal: '%s' is not tracked: it was moved to '%s'\n", arg, p->to);
		else if (access(arg, F_OK) != 0)
			fprintf(stderr, "fatal: '%s': no such file\n", arg);
		else
			fprintf(stderr, "fatal: '%s' is not tracked\n", arg);
		if (!p && access(arg, F_OK) == 0)
			hint("start tracking it with 'umapsync import %s'", arg);
		exit(EXIT_FATAL);
	}
	*from = rel;
	if (!(*work = strdup(rel)))
		die("out of memory");
}

void refuse_pending_paths(umap_repo *repo, const char *what)
{
	umap_pending pending = UMAP_PENDING_INIT;
	if (umap_repo_pending_load(&pending, repo))
		die_lib(NULL);
	if (!pending.n)
		return;
	fflush(stdout);
	error("the rm and mv waiting for the next commit would be lost by %s:", what);
	for (size_t i = 0; i < pending.n; i++) {
		if (pending.paths[i].to)
			fprintf(stderr, "\trenamed: %s -> %s\n", pending.paths[i].from, pending.paths[i].to);
		else
			fprintf(stderr, "\tdeleted: %s\n", pending.paths[i].from);
	}
	hint("commit them with 'umapsync commit -m MSG' first, or undo them ('umapsync restore PATH', "
	     "'umapsync mv NEW OLD')");
	umap_pending_clear(&pending);
	exit(EXIT_DIFFERENT);
}
