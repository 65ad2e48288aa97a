/* umapsync log: the history of the map, of one tracked file (--follow: across renames), or
 * of one feature. --feature walks first parents and compares one blob per commit. */
#include "builtin.h"
#include "repo-cmd.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "json.h"

static int feature_changed(umap_repo *repo, const git_oid *tree, const git_oid *parent_tree,
			   const char *id_json, int *seen)
{
	git_oid a, b;
	int ra = umap_repo_feature_blob(&a, NULL, repo, tree, NULL, id_json);
	int rb = parent_tree ? umap_repo_feature_blob(&b, NULL, repo, parent_tree, NULL, id_json)
			     : UMAP_ENOTFOUND;
	if ((ra && ra != UMAP_ENOTFOUND) || (rb && rb != UMAP_ENOTFOUND))
		die_lib(NULL);
	if (!ra || !rb)
		*seen = 1;
	if (ra && rb)
		return 0;
	return ra != rb || !git_oid_equal(&a, &b);
}

/* --follow: when the commit renamed the file, the older commits know it by its old path. */
static void follow_rename(char **rel, umap_repo *repo, const git_oid *parent_tree,
			  const git_oid *tree)
{
	umap_file_rename *renames = NULL;
	size_t n = 0;
	if (umap_repo_renames(&renames, &n, repo, parent_tree, tree))
		die_lib(NULL);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(renames[i].to, *rel))
			continue;
		free(*rel);
		*rel = renames[i].from;
		renames[i].from = NULL;
		break;
	}
	umap_file_renames_free(renames, n);
}

static void print_commit(umap_buf *out, const git_commit *c, const char *format, int first)
{
	const git_signature *author = git_commit_author(c);
	const char *message = git_commit_message(c);
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	if (!strcmp(format, "oneline")) {
		umap_buf_printf(out, "%s %s\n", short_id(git_commit_id(c)), subject_of(message));
	} else if (!strcmp(format, "json")) {
		json_t *o = json_object(), *parents = json_array(), *a = json_object();
		for (unsigned i = 0; i < git_commit_parentcount(c); i++) {
			char phex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(phex, sizeof(phex), git_commit_parent_id(c, i));
			json_array_append_new(parents, json_string(phex));
		}
		char date[64];
		time_t t = (time_t)author->when.time;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(a, "name", json_string(author->name));
		json_object_set_new(a, "email", json_string(author->email));
		json_object_set_new(o, "commit", json_string(hex));
		json_object_set_new(o, "parents", parents);
		json_object_set_new(o, "author", a);
		json_object_set_new(o, "date", json_string(date));
		json_object_set_new(o, "message", json_string(message));
		umap_buf_puts(out, first ? "\n  " : ",\n  ");
		if (umap_json_write(out, o, UMAP_JSON_COMPACT))
			die_lib("cannot format the log");
		json_decref(o);
	} else {
		char date[64];
		format_git_date(date, sizeof(date), &author->when);
		umap_buf_printf(out, "%scommit %s\nAuthor: %s <%s>\nDate:   %s\n\n", first ? "" : "\n",
				hex, author->name, author->email, date);
		for (const char *p = message; *p;) {
			size_t len = strcspn(p, "\n");
			umap_buf_printf(out, "    %.*s\n", (int)len, p);
			p += len;
			if (*p)
				p++;
		}
	}
}

int cmd_log(int argc, const char **argv)
{
	static const char *const usage[] = {
		"umapsync log [--format=medium|oneline|json] [-p|--stat] [--feature ID] [-n N|-N] [REV|A..B] [[--follow] PATH]",
		NULL,
	};
	const char *format = "medium", *feature = NULL;
	int max_count = -1, oneline = 0, patch = 0, stat = 0, follow = 0, color = COLOR_AUTO;
	/* git's -N is -n N */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !isdigit((unsigned char)a[1]))
			continue;
		char *end;
		long n = strtol(a + 1, &end, 10);
		if (*end || n > 1000000000L)
			continue;
		max_count = (int)n;
		memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
		argc--;
		i--;
	}
	const struct option options[] = {
		OPT_BOOL('p', "patch", &patch, "show each commit's feature diff"),
		OPT_BOOL(0, "stat", &stat, "show how many features each commit changed per layer"),
		OPT_COLOR(&color),
		OPT_BOOL(0, "oneline", &oneline, "same as --format=oneline"),
		OPT_CHOICE(0, "format", &format, "FORMAT", "how to print each commit",
			   "medium|oneline|json"),
		OPT_STRING(0, "feature", &feature, "ID", "only commits that changed this feature"),
		OPT_BOOL(0, "follow", &follow, "follow PATH across the commits that renamed it"),
		OPT_INT('n', "max-count", &max_count, "N", "show at most N commits"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (oneline)
		format = "oneline";
	if (argc > 2)
		usage_with_options_msg(usage, options, "too many arguments");
	umap_repo *repo = open_repo();
	git_oid head, head_tree, start;
	if (read_head(&head, &head_tree, repo)) {
		char *branch = NULL;
		umap_repo_head_branch(&branch, repo);
		die("your current branch '%s' does not have any commits yet", branch ? branch : "HEAD");
	}
	const char *rev = NULL, *path = NULL;
	git_oid_cpy(&start, &head);
	const char *range = NULL;
	git_oid range_from;
	for (int i = 0; i < argc; i++) {
		git_oid c;
		const char *dots = strstr(argv[i], "..");
		if (!rev && !path && dots && dots[2] != '.' && dots[2] != '/') {
			/* A..B: commits reachable from B and not from A (either side empty: HEAD) */
			char *from = strndup(argv[i], (size_t)(dots - argv[i]));
			if (!from)
				die("out of memory");
			if (umap_repo_resolve(&range_from, repo, *from ? from : "HEAD") ||
			    umap_repo_resolve(&start, repo, dots[2] ? dots + 2 : "HEAD"))
				die_lib(NULL);
			free(from);
			rev = range = argv[i];
		} else if (!rev && !path && umap_repo_resolve(&c, repo, argv[i]) == 0) {
			rev = argv[i];
			git_oid_cpy(&start, &c);
		} else if (!path) {
			path = argv[i];
		} else {
			usage_with_options_msg(usage, options, "'%s' is neither a revision nor a path",
					       argv[i]);
		}
	}
	umap_error_clear();
	if (follow && !path)
		usage_with_options_msg(usage, options, "--follow needs a PATH");
	char *rel = NULL;
	if (path) {
		if (umap_repo_relpath(&rel, repo, path))
			die_lib(NULL);
		char **tracked = NULL;
		size_t n = 0, found = 0;
		git_oid start_tree;
		if (umap_repo_commit_tree(&start_tree, repo, &start) ||
		    umap_repo_tracked(&tracked, &n, repo, &start_tree))
			die_lib(NULL);
		for (size_t i = 0; i < n; i++)
			found |= !strcmp(tracked[i], rel);
		umap_paths_free(tracked, n);
		if (!found && access(path, F_OK) != 0 && (strchr(path, '.') || strchr(path, '/')))
			die("'%s': no such file", path);
		if (!found)
			die("'%s' is not a revision, nor a file tracked at %s", path, rev ? rev : "HEAD");
	}
	char *id_json = feature ? feature_id_json(repo, &head_tree, feature) : NULL;
	git_revwalk *walk = NULL;
	if (git_revwalk_new(&walk, umap_repo_git(repo)) < 0 || git_revwalk_push(walk, &start) < 0 ||
	    (range && git_revwalk_hide(walk, &range_from) < 0))
		die("cannot walk the history: %s", git_error_last() ? git_error_last()->message : "");
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	if (feature || path)
		git_revwalk_simplify_first_parent(walk);
	setup_pager();
	umap_buf out = UMAP_BUF_INIT;
	if (!strcmp(format, "json"))
		umap_buf_putc(&out, '[');
	git_oid id;
	int shown = 0, err, feature_seen = 0;
	while (max_count != 0 && (err = git_revwalk_next(&id, walk)) == 0) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, umap_repo_git(repo), &id) < 0)
			die("cannot read commit %s: %s", short_id(&id), git_error_last()->message);
		const git_oid *tree = git_commit_tree_id(c);
		git_oid parent_tree;
		int has_parent = git_commit_parentcount(c) > 0;
		if (has_parent && umap_repo_commit_tree(&parent_tree, repo, git_commit_parent_id(c, 0)))
			die_lib(NULL);
		int show = 1;
		if (id_json)
			show = feature_changed(repo, tree, has_parent ? &parent_tree : NULL, id_json,
					       &feature_seen);
		if (show && rel) {
			int differs = 0;
			if (umap_repo_file_differs(&differs, repo, has_parent ? &parent_tree : NULL, tree,
						   rel))
				die_lib(NULL);
			show = differs;
		}
		if (show && rel && follow && has_parent)
			follow_rename(&rel, repo, &parent_tree, tree);
		if (show) {
			print_commit(&out, c, format, !shown);
			if ((patch || stat) && strcmp(format, "json"))
				format_commit_diff(&out, repo, c, stat, color);
			shown++;
			if (max_count > 0)
				max_count--;
		}
		git_commit_free(c);
		if (out.len > 65536) {
			fwrite(out.ptr, 1, out.len, stdout);
			umap_buf_clear(&out);
		}
	}
	if (id_json && !feature_seen && max_count != 0) {
		/* never there, unlike a feature whose history is just outside the range */
		umap_buf_dispose(&out);
		die("feature '%s' never existed in the history of %s", feature, rev ? rev : "HEAD");
	}
	if (!strcmp(format, "json"))
		umap_buf_puts(&out, shown ? "\n]\n" : "]\n");
	if (out.len)
		fwrite(out.ptr, 1, out.len, stdout);
	umap_buf_dispose(&out);
	git_revwalk_free(walk);
	free(id_json);
	free(rel);
	umap_repo_free(repo);
	return 0;
}
