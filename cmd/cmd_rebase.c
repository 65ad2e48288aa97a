/* umapsync rebase: replay each local commit's feature changes on top of UPSTREAM, merging
 * per feature and key; stops on a conflict (--continue, --skip, --abort). Here `ours` is
 * the local commit being replayed and `theirs` the upstream side (SPEC §6: unlike git). */
#include "builtin.h"
#include "merge-report.h"
#include "repo-cmd.h"
#include "repo_merge.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

static void set_oid(json_t *state, const char *name, const git_oid *oid)
{
	if (json_object_set_new(state, name, oid_json(oid)))
		die("out of memory");
}

static void tree_of(git_oid *tree, umap_repo *repo, const git_oid *commit)
{
	if (umap_repo_commit_tree(tree, repo, commit))
		die_lib(NULL);
}

/* The working files become the stopped merge: every merged file written, the others gone. */
static void write_stop(umap_repo *repo, umap_repo_merge *m, const git_oid *ours_tree,
		       const git_oid *worktree)
{
	for (size_t i = 0; i < m->nfiles; i++) {
		umap_repo_merge_file *f = &m->files[i];
		if (f->present && !f->result && f->take == UMAP_MERGE_OURS && !f->docs[1]) {
			if (umap_repo_read_file(&f->docs[1], repo, ours_tree, f->path))
				die_lib(NULL);
		}
	}
	for (size_t i = 0; i < m->nfiles; i++) { /* write_worktree skips ours' files: write them */
		umap_repo_merge_file *f = &m->files[i];
		if (f->present && !f->result && f->take == UMAP_MERGE_OURS) {
			char *abs = NULL;
			if (umap_repo_abspath(&abs, repo, f->path) ||
			    umap_doc_save(f->docs[1], abs, UMAP_DOC_AS_READ))
				die_lib("cannot write %s", f->path);
			free(abs);
		}
	}
	if (umap_repo_merge_write_worktree(repo, m))
		die_lib("cannot write the merged files");
	/* files the working directory had that the merge does not */
	char **paths = NULL;
	size_t n = 0;
	if (umap_repo_tracked(&paths, &n, repo, worktree))
		die_lib(NULL);
	for (size_t i = 0; i < n; i++) {
		int known = 0;
		for (size_t k = 0; k < m->nfiles && !known; k++)
			known = !strcmp(m->files[k].path, paths[i]);
		if (!known) {
			char *abs = NULL;
			if (!umap_repo_abspath(&abs, repo, paths[i]))
				remove(abs);
			free(abs);
		}
	}
	umap_paths_free(paths, n);
}

/* Replays state.todo onto state.onto until done (0) or a conflict stops it (1). */
static int run(umap_repo *repo, json_t *state, const umap_merge_options *mopts)
{
	json_t *todo = json_object_get(state, "todo");
	git_oid onto, onto_tree, worktree;
	state_oid(&onto, state, "onto", "rebase");
	state_oid(&worktree, state, "worktree", "rebase");
	while (json_array_size(todo)) {
		git_oid c, c_tree, parent_tree;
		if (git_oid_fromstr(&c, json_string_value(json_array_get(todo, 0))) < 0)
			die("the rebase state is damaged; give up with 'umapsync rebase --abort'");
		git_commit *commit = NULL;
		if (git_commit_lookup(&commit, umap_repo_git(repo), &c) < 0)
			die("cannot read commit %s", short_id(&c));
		char *message = strdup(git_commit_message(commit));
		int has_parent = git_commit_parentcount(commit) > 0;
		if (has_parent)
			git_oid_cpy(&parent_tree, git_commit_parent_id(commit, 0));
		git_commit_free(commit);
		if (has_parent)
			tree_of(&parent_tree, repo, &parent_tree);
		tree_of(&c_tree, repo, &c);
		tree_of(&onto_tree, repo, &onto);
		json_array_remove(todo, 0);

		umap_repo_merge *m = NULL;
		if (umap_repo_merge_trees(&m, repo, has_parent ? &parent_tree : NULL, &c_tree, &onto_tree, 0, mopts))
			die_lib("cannot replay %s", short_id(&c));
		if (m->nconflicts) {
			json_t *conflicts = NULL, *files = json_array();
			for (size_t i = 0; files && i < m->nfiles; i++)
				if (m->files[i].present)
					json_array_append_new(files, json_string(m->files[i].path));
			if (!files || umap_repo_merge_conflicts(&conflicts, m) ||
			    json_object_set_new(state, "conflicts", conflicts) ||
			    json_object_set_new(state, "files", files) ||
			    json_object_set_new(state, "current", oid_json(&c)) ||
			    json_object_set_new(state, "message", json_string(message)))
				die("out of memory");
			set_oid(state, "onto", &onto);
			if (umap_merge_state_save(repo, state))
				die_lib("cannot record the rebase state");
			write_stop(repo, m, &c_tree, &worktree);
			print_conflict_list(stderr, conflicts, NULL, 0);
			fprintf(stderr, "could not apply %s... %s\n", short_id(&c), subject_of(message));
			hint("ours is your commit, theirs the upstream; the working files keep ours on each conflict");
			hint("settle them with 'umapsync resolve ID [KEY] --with=ours|theirs|base|delete', then");
			hint("'umapsync rebase --continue'; or 'umapsync rebase --skip' to drop this commit, '--abort' to stop");
			umap_repo_merge_free(m);
			free(message);
			return EXIT_DIFFERENT;
		}
		umap_snapshot *snap = NULL;
		git_oid tree, commit_id;
		if (umap_repo_merge_snapshot(&snap, m) || umap_repo_build_tree(&tree, repo, snap, &c_tree))
			die_lib("cannot replay %s", short_id(&c));
		if (git_oid_equal(&tree, &onto_tree)) {
			fprintf(stderr, "dropping %s %s: its changes are already upstream\n", short_id(&c), subject_of(message));
		} else {
			if (umap_repo_commit_tree_as(&commit_id, repo, &tree, &onto, 1, message, 0))
				die_lib(NULL);
			git_oid_cpy(&onto, &commit_id);
		}
		umap_snapshot_free(snap);
		umap_repo_merge_free(m);
		free(message);
	}
	/* done: the branch moves (compare-and-swap on where it was), the files follow */
	git_oid orig;
	state_oid(&orig, state, "head", "rebase");
	tree_of(&onto_tree, repo, &onto);
	write_worktree(repo, &worktree, &onto_tree);
	if (umap_repo_advance_head(repo, &onto, &orig, "rebase: finished"))
		die_lib(NULL);
	umap_repo_cache_save(repo);
	umap_merge_backup_drop(repo, state);
	if (umap_merge_state_remove(repo))
		die_lib(NULL);
	const char *branch = json_string_value(json_object_get(state, "branch"));
	printf("Successfully rebased and updated %s%s.\n", branch ? "refs/heads/" : "HEAD", branch ? branch : "");
	return 0;
}

int cmd_rebase(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync rebase [--ours|--theirs|--union] UPSTREAM",
		"umapsync rebase --continue|--skip|--abort",
		NULL,
	};
	int favor = UMAP_MERGE_FAVOR_OURS, cont = 0, skip = 0, abort_rebase = 0;
	const struct option options[] = {
		FAVOR_OPTIONS(&favor),
		OPT_BOOL(0, "continue", &cont, "commit the settled commit and go on"),
		OPT_BOOL(0, "skip", &skip, "drop the commit that stopped and go on"),
		OPT_BOOL(0, "abort", &abort_rebase, "stop and put the branch and working files back"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (cont + skip + abort_rebase > 1 || ((cont || skip || abort_rebase) && argc))
		usage_with_options_msg(usage, options, "--continue, --skip and --abort take no upstream and not each other");
	umap_merge_options mopts = UMAP_MERGE_OPTIONS_INIT;
	mopts.favor = (umap_merge_favor)favor;
	umap_repo *repo = open_repo();
	int rc = 0;
	if (cont || skip || abort_rebase) {
		json_t *state = stopped_state(repo, "rebase");
		if (json_is_integer(json_object_get(state, "favor")))
			mopts.favor = (umap_merge_favor)json_integer_value(json_object_get(state, "favor"));
		git_oid onto, onto_tree;
		state_oid(&onto, state, "onto", "rebase");
		tree_of(&onto_tree, repo, &onto);
		if (abort_rebase) {
			if (umap_merge_restore(repo, state) || umap_merge_state_remove(repo))
				die_lib("cannot restore the working files");
			fprintf(stderr, "rebase aborted: the branch and the working files are as they were before it\n");
		} else if (skip) {
			write_worktree(repo, NULL, &onto_tree);
			json_t *files = json_object_get(state, "files");
			size_t i;
			json_t *p;
			char **tracked = NULL;
			size_t ntracked = 0;
			if (umap_repo_tracked(&tracked, &ntracked, repo, &onto_tree))
				die_lib(NULL);
			json_array_foreach(files, i, p) {
				int keep = 0;
				for (size_t k = 0; k < ntracked && !keep; k++)
					keep = !strcmp(tracked[k], json_string_value(p));
				char *abs = NULL;
				if (!keep && !umap_repo_abspath(&abs, repo, json_string_value(p)))
					remove(abs);
				free(abs);
			}
			umap_paths_free(tracked, ntracked);
			json_object_set_new(state, "conflicts", json_array());
			set_oid(state, "worktree", &onto_tree);
			rc = run(repo, state, &mopts);
		} else {
			json_t *left = json_object_get(state, "conflicts");
			if (json_array_size(left)) {
				error("%zu conflict%s not settled yet:", json_array_size(left),
				      json_array_size(left) == 1 ? " is" : "s are");
				print_conflict_list(stderr, left, NULL, 0);
				hint("settle each with 'umapsync resolve ID [KEY] --with=ours|theirs|base|delete'");
				rc = EXIT_DIFFERENT;
			} else {
				git_oid tree, commit;
				if (umap_repo_files_tree(&tree, repo, json_object_get(state, "files"), &onto_tree))
					die_lib(NULL);
				const char *message = json_string_value(json_object_get(state, "message"));
				if (git_oid_equal(&tree, &onto_tree)) {
					fprintf(stderr, "nothing left of that commit after settling: dropped\n");
				} else {
					if (umap_repo_commit_tree_as(&commit, repo, &tree, &onto, 1, message ? message : "rebase", 0))
						die_lib(NULL);
					set_oid(state, "onto", &commit);
				}
				set_oid(state, "worktree", &tree);
				rc = run(repo, state, &mopts);
			}
		}
		json_decref(state);
		umap_repo_free(repo);
		return rc;
	}
	if (argc != 1)
		usage_with_options_msg(usage, options, "rebase needs the upstream branch (or revision) to replay onto");
	refuse_if_in_progress(repo);
	git_oid head, head_tree, upstream, upstream_tree, base;
	if (read_head(&head, &head_tree, repo))
		die("nothing is committed yet: there is nothing to rebase");
	if (umap_repo_resolve(&upstream, repo, argv[0]))
		die_lib(NULL);
	tree_of(&upstream_tree, repo, &upstream);
	int have_base = umap_repo_merge_base(&base, repo, &head, &upstream) == 0;
	umap_error_clear();
	char *branch = NULL;
	umap_repo_head_branch(&branch, repo);
	if (have_base && git_oid_equal(&base, &upstream)) {
		printf("Current branch %s is up to date.\n", branch ? branch : "HEAD");
		free(branch);
		umap_repo_free(repo);
		return 0;
	}
	require_clean_worktree(repo, &head_tree, "rebase");
	if (have_base && git_oid_equal(&base, &head)) {
		write_worktree(repo, &head_tree, &upstream_tree);
		if (umap_repo_advance_head(repo, &upstream, &head, "rebase: fast-forward"))
			die_lib(NULL);
		umap_repo_cache_save(repo);
		printf("Fast-forwarded %s to %s.\n", branch ? branch : "HEAD", argv[0]);
		free(branch);
		umap_repo_free(repo);
		return 0;
	}
	/* the local commits, oldest first; merge commits are not replayed */
	json_t *todo = json_array();
	git_revwalk *walk = NULL;
	if (!todo || git_revwalk_new(&walk, umap_repo_git(repo)) < 0 ||
	    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
	    git_revwalk_push(walk, &head) < 0 || git_revwalk_hide(walk, &upstream) < 0)
		die("cannot list the commits to replay: %s", git_error_last() ? git_error_last()->message : "?");
	git_oid id;
	while (git_revwalk_next(&id, walk) == 0) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, umap_repo_git(repo), &id) < 0)
			die("cannot read commit %s", short_id(&id));
		if (git_commit_parentcount(c) <= 1)
			json_array_append_new(todo, oid_json(&id));
		git_commit_free(c);
	}
	git_revwalk_free(walk);
	char **paths = NULL;
	size_t npaths = 0;
	json_t *state = json_object();
	if (!state || umap_repo_tracked(&paths, &npaths, repo, &head_tree) ||
	    json_object_set_new(state, "kind", json_string("rebase")) ||
	    json_object_set_new(state, "branch", branch ? json_string(branch) : json_null()) ||
	    json_object_set_new(state, "upstream", json_string(argv[0])) ||
	    json_object_set_new(state, "favor", json_integer(favor)) ||
	    json_object_set_new(state, "todo", todo) ||
	    json_object_set_new(state, "conflicts", json_array()) ||
	    umap_merge_backup(state, repo, paths, npaths))
		die_lib(NULL);
	set_oid(state, "head", &head);
	set_oid(state, "onto", &upstream);
	set_oid(state, "worktree", &head_tree);
	umap_paths_free(paths, npaths);
	rc = run(repo, state, &mopts);
	json_decref(state);
	free(branch);
	umap_repo_free(repo);
	return rc;
}
