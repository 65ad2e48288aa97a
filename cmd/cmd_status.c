/* umapsync status: which tracked files differ from HEAD, with their feature counts.
 * Cost: one pass over each file's bytes; only changed features are parsed. */
#include "builtin.h"
#include "merge-report.h"
#include "repo-cmd.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "strutil.h"

/* A merge or rebase stopped on conflicts: say so and what to do next, as git status does;
 * the working files then differ from HEAD by the merged changes, listed below it. */
static void print_merge_in_progress(umap_repo *repo)
{
	json_t *state = merge_in_progress(repo);
	if (!state)
		return;
	const char *kind = json_string_value(json_object_get(state, "kind"));
	int rebase = kind && !strcmp(kind, "rebase");
	const char *verb = rebase ? "rebase" : "merge";
	size_t left = json_array_size(json_object_get(state, "conflicts"));
	const char *branch = json_string_value(json_object_get(state, "branch"));
	if (rebase) {
		const char *upstream = json_string_value(json_object_get(state, "upstream"));
		const char *message = json_string_value(json_object_get(state, "message"));
		const char *current = json_string_value(json_object_get(state, "current"));
		size_t todo = json_array_size(json_object_get(state, "todo"));
		printf("You are rebasing %s%s%s onto '%s'", branch ? "branch '" : "a detached HEAD",
		       branch ? branch : "", branch ? "'" : "", upstream ? upstream : "?");
		if (current)
			printf(", stopped at %.7s \"%s\"", current, message ? subject_of(message) : "");
		if (todo)
			printf(" (%zu more commit%s to replay)", todo, todo == 1 ? "" : "s");
		printf(".\n");
	} else {
		printf("You are merging '%s'.\n", branch ? branch : "?");
	}
	const char *next = rebase ? "replay this commit and go on" : "commit the merge";
	if (left) {
		printf("You have unresolved conflicts: %zu left.\n", left);
		printf("  (use 'umapsync conflicts' to list them)\n");
		printf("  (use 'umapsync resolve ID [KEY] --with=ours|theirs|base|delete' to settle each)\n");
		printf("  (then 'umapsync %s --continue' to %s)\n", verb, next);
	} else {
		printf("All conflicts are settled.\n");
		printf("  (use 'umapsync %s --continue' to %s)\n", verb, next);
	}
	if (rebase)
		printf("  (use 'umapsync rebase --skip' to drop this commit)\n");
	printf("  (use 'umapsync %s --abort' to give up the %s and put the working files back)\n\n", verb, verb);
	json_decref(state);
}

/* Whether an untracked file is a map file: *.geojson and *.umap by name, GeoJSON streams
 * named so (*.geojsonl, *.geojsons, *.geojsonseq: not *.ndjson or *.jsonl, which hold any
 * JSON), *.json when its first bytes hold a FeatureCollection, a Feature or a uMap map. */
static int is_map_file(const char *path, const char *name)
{
	if (umap_ends_with(name, ".geojson") || umap_ends_with(name, ".umap") ||
	    umap_ends_with(name, ".geojsonl") || umap_ends_with(name, ".geojsons") ||
	    umap_ends_with(name, ".geojsonseq"))
		return 1;
	if (!umap_ends_with(name, ".json"))
		return 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	char head[4097];
	size_t n = fread(head, 1, sizeof(head) - 1, f);
	fclose(f);
	head[n] = '\0';
	return strstr(head, "\"FeatureCollection\"") || strstr(head, "\"Feature\"") ||
	       strstr(head, "\"umap\"");
}

enum { UNTRACKED_DEPTH = 16, UNTRACKED_MAX = 10000 };

/* Collects the map files under dir (relative path rel, "" at the top) that `tracked` does
 * not list; hidden entries (.umapsync among them) and symbolic links are skipped, as are
 * levels past UNTRACKED_DEPTH and files past UNTRACKED_MAX. */
static void find_untracked(struct string_list *out, const char *dir, const char *rel, int depth,
			   char **tracked, size_t ntracked)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) && out->nr < UNTRACKED_MAX) {
		if (e->d_name[0] == '.')
			continue;
		umap_buf path = UMAP_BUF_INIT, sub = UMAP_BUF_INIT;
		struct stat st;
		if (umap_buf_printf(&path, "%s/%s", dir, e->d_name) ||
		    umap_buf_printf(&sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name))
			die("out of memory");
		if (lstat(path.ptr, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < UNTRACKED_DEPTH)
				find_untracked(out, path.ptr, sub.ptr, depth + 1, tracked, ntracked);
			else if (S_ISREG(st.st_mode) && !path_list_contains(tracked, ntracked, sub.ptr) &&
				 is_map_file(path.ptr, e->d_name))
				string_list_append(out, umap_buf_detach(&sub)); /* the list owns it */
		}
		umap_buf_dispose(&path);
		umap_buf_dispose(&sub);
	}
	closedir(d);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* git's "Untracked files:" section, for map files only. Tracked are the paths of the
 * working files in `snap`: a file mv moved under its new name, not one rm removed. */
static int print_untracked(umap_repo *repo, const umap_snapshot *snap, char **only, size_t nonly,
			   const char *before)
{
	char **tracked = calloc(snap->nfiles + 1, sizeof(*tracked));
	size_t ntracked = 0;
	if (!tracked)
		die("out of memory");
	for (size_t i = 0; i < snap->nfiles; i++)
		if (!snap->files[i].removed && !(tracked[ntracked++] = strdup(snap->files[i].path)))
			die("out of memory");
	struct string_list found = STRING_LIST_INIT;
	find_untracked(&found, umap_repo_workdir(repo), "", 0, tracked, ntracked);
	if (found.nr) /* qsort of a null array is undefined, even of none */
		qsort(found.items, (size_t)found.nr, sizeof(*found.items), compare_strings);
	int shown = 0;
	for (int i = 0; i < found.nr; i++) {
		if (only && !path_list_contains(only, nonly, found.items[i]))
			continue;
		if (!shown++)
			printf("%sUntracked map files:\n  (use 'umapsync import FILE' to start tracking them)\n", before);
		printf("\t%s\n", found.items[i]);
	}
	for (int i = 0; i < found.nr; i++)
		free((char *)found.items[i]);
	string_list_clear(&found);
	umap_paths_free(tracked, ntracked);
	return shown;
}

/* A killed checkout leaves files that look modified: say why, and what finishes it. */
static void print_interrupted_checkout(umap_repo *repo)
{
	char *target = NULL;
	if (!interrupted_checkout(&target, repo))
		return;
	printf("A checkout of '%s' was interrupted: the working files may be part old, part new.\n"
	       "  (run 'umapsync checkout %s' to finish it)\n",
	       target, target);
	free(target);
}

int cmd_status(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync status [PATH...]", NULL };
	const struct option options[] = {
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	umap_repo *repo = open_repo_with(OPEN_REPO_OWN_CHECKOUT_NOTE);
	git_oid head, head_tree;
	int unborn = read_head(&head, &head_tree, repo);
	size_t nonly = 0;
	char **only = argc ? user_paths(&nonly, repo, unborn ? NULL : &head_tree, argc, argv, 0) : NULL;
	char *branch = NULL;
	if (umap_repo_head_branch(&branch, repo))
		die_lib(NULL);
	if (branch)
		printf("On branch %s\n", branch);
	else
		printf("HEAD detached at %s\n", short_id(&head));
	free(branch);
	print_merge_in_progress(repo);
	print_interrupted_checkout(repo);
	if (unborn) {
		printf("\nNo commits yet: start tracking a map with 'umapsync import FILE'\n");
		umap_paths_free(only, nonly);
		umap_repo_free(repo);
		return 0;
	}
	git_oid tree;
	umap_snapshot *snap = worktree_tree_of(&tree, repo, &head_tree, 0, only, nonly);
	umap_repo_cache_save(repo);
	size_t missing = 0, moved = 0;
	for (size_t i = 0; i < snap->nfiles; i++) {
		missing += snap->files[i].missing;
		moved += snap->files[i].removed || snap->files[i].from;
	}
	/* rm and mv are recorded for the next commit, as git's staged changes are */
	if (moved)
		printf("Changes to be committed:\n");
	for (size_t i = 0; i < snap->nfiles; i++) {
		const umap_repo_file *f = &snap->files[i];
		if (f->removed)
			printf("  deleted:    %s\n", f->path);
		else if (f->from)
			printf("  renamed:    %s -> %s\n", f->from, f->path);
	}
	if (git_oid_equal(&tree, &head_tree) && !missing && !moved) {
		if (print_untracked(repo, snap, only, nonly, ""))
			printf("\nnothing to commit, but untracked map files are present\n");
		else
			printf("nothing to commit, working files clean\n");
	} else {
		umap_tree_diff *diff = NULL;
		if (umap_repo_diff(&diff, repo, &head_tree, &tree))
			die_lib(NULL);
		umap_buf lines = UMAP_BUF_INIT;
		size_t listed = 0;
		/* a rename changes the manifest too: only without one does that mean layers moved */
		int reordered = diff->manifest_changed && !moved;
		for (size_t i = 0; i < snap->nfiles; i++) {
			size_t added, modified, removed;
			if (snap->files[i].removed)
				continue;
			if (snap->files[i].missing) {
				umap_buf_printf(&lines, "  deleted:    %s\n", snap->files[i].path);
				continue;
			}
			int layer_options;
			if (!file_changes(diff, snap->files[i].path, removed_at(snap, snap->files[i].path),
					  &added, &modified, &removed, &layer_options))
				continue;
			umap_buf_printf(&lines, "  modified:   %s (%zu added, %zu modified, %zu removed%s)\n",
					snap->files[i].path, added, modified, removed,
					layer_options ? ", layer options changed"
					: !added && !modified && !removed && reordered
						? ", layers moved or reordered" : "");
			listed++;
		}
		int map_removed = 0; /* then map.json goes with it: no option changed */
		for (size_t i = 0; i < snap->nfiles; i++)
			map_removed |= snap->files[i].removed && umap_ends_with(snap->files[i].path, ".umap");
		if (diff->map_changed && !only && !map_removed)
			umap_buf_puts(&lines, "  map options changed\n");
		else if (!listed && reordered)
			/* only the manifest: group layers moved or reordered (uMap 3.7+) */
			umap_buf_puts(&lines, "  layers moved or reordered\n");
		if (lines.len)
			printf("%sChanges not committed:\n%s", moved ? "\n" : "", lines.ptr);
		umap_buf_dispose(&lines);
		umap_tree_diff_free(diff);
		print_untracked(repo, snap, only, nonly, "\n");
	}
	umap_snapshot_free(snap);
	umap_paths_free(only, nonly);
	umap_repo_free(repo);
	return 0;
}
