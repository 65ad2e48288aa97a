/* git-setup: the git config keys and attribute lines that route `git merge` and `git diff`
 * of *.geojson and *.umap files through umapsync. Uses libgit2 so that the config file is
 * written the way git itself would (locking, escaping). */
#include "gitsetup.h"
#include "error.h"
#include "fs.h"

#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const umap_git_attribute_lines[] = {
	"*.geojson merge=umapsync diff=umapsync",
	"*.umap merge=umapsync diff=umapsync",
	/* GeoJSON streams (one feature a line, RFC 8142), read and written as such; the names
	 * status lists, not *.ndjson or *.jsonl, which hold any JSON (a merge of a log file
	 * would warn and fall back to git's line merge) */
	"*.geojsonl merge=umapsync diff=umapsync",
	"*.geojsons merge=umapsync diff=umapsync",
	"*.geojsonseq merge=umapsync diff=umapsync",
	NULL,
};

static int git_failure(int code, const char *what)
{
	const git_error *e = git_error_last();
	return umap_error_set(code, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

static int set_keys(git_config *cfg, const char *program)
{
	umap_buf driver = UMAP_BUF_INIT, diff = UMAP_BUF_INIT, textconv = UMAP_BUF_INIT;
	int rc = 0;
	if (umap_buf_printf(&driver, "%s git-merge-driver %%O %%A %%B %%P", program) ||
	    umap_buf_printf(&diff, "%s git-diff-driver", program) ||
	    umap_buf_printf(&textconv, "%s git-textconv", program)) {
		rc = UMAP_ENOMEM;
	} else if (git_config_set_string(cfg, "merge.umapsync.name",
					 "umapsync: merge map files per feature and property") ||
		   git_config_set_string(cfg, "merge.umapsync.driver", driver.ptr) ||
		   git_config_set_string(cfg, "diff.umapsync.command", diff.ptr) ||
		   /* git show and git log -p do not run the command: they diff this text */
		   git_config_set_string(cfg, "diff.umapsync.textconv", textconv.ptr)) {
		rc = git_failure(UMAP_EIO, "cannot write the git config");
	}
	umap_buf_dispose(&driver);
	umap_buf_dispose(&diff);
	umap_buf_dispose(&textconv);
	return rc;
}

/* Appends the attribute lines the file lacks, keeping what is there. */
static int add_attribute_lines(const char *path, int *added)
{
	umap_buf content = UMAP_BUF_INIT;
	*added = 0;
	int rc = umap_file_read(&content, path, 16u << 20);
	if (rc == UMAP_ENOTFOUND) {
		umap_error_clear();
		rc = 0;
	}
	if (rc)
		goto done;
	size_t original = content.len;
	for (const char *const *line = umap_git_attribute_lines; *line; line++) {
		int present = 0;
		size_t n = strlen(*line);
		for (const char *p = content.ptr; p && *p;) {
			const char *eol = strchr(p, '\n');
			size_t len = eol ? (size_t)(eol - p) : strlen(p);
			while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
				len--;
			if (len == n && !memcmp(p, *line, n))
				present = 1;
			p = eol ? eol + 1 : p + strlen(p);
		}
		if (present)
			continue;
		if (content.len && content.ptr[content.len - 1] != '\n' && (rc = umap_buf_putc(&content, '\n')))
			goto done;
		if ((rc = umap_buf_puts(&content, *line)) || (rc = umap_buf_putc(&content, '\n')))
			goto done;
		(*added)++;
	}
	if (content.len != original)
		rc = umap_file_write_atomic(path, content.ptr, content.len);
done:
	umap_buf_dispose(&content);
	return rc;
}

/* The user's config file: ~/.gitconfig, or the XDG one when only that exists. */
static int global_paths(umap_buf *config, umap_buf *attributes)
{
	const char *home = getenv("HOME");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (!home || !*home)
		return umap_error_set(UMAP_ENOTFOUND, "HOME is not set: cannot find the global git config");
	umap_buf xdg_dir = UMAP_BUF_INIT;
	int rc = xdg && *xdg ? umap_buf_printf(&xdg_dir, "%s/git", xdg)
			     : umap_buf_printf(&xdg_dir, "%s/.config/git", home);
	struct stat st;
	umap_buf xdg_config = UMAP_BUF_INIT, home_config = UMAP_BUF_INIT;
	if (!rc)
		rc = umap_buf_printf(&xdg_config, "%s/config", xdg_dir.ptr);
	if (!rc)
		rc = umap_buf_printf(&home_config, "%s/.gitconfig", home);
	if (!rc) {
		int use_xdg = stat(home_config.ptr, &st) != 0 && stat(xdg_config.ptr, &st) == 0;
		rc = umap_buf_puts(config, use_xdg ? xdg_config.ptr : home_config.ptr);
	}
	if (!rc && !attributes->len) /* core.attributesFile wins when set (filled by the caller) */
		rc = umap_mkdir_p(xdg_dir.ptr, 0777) ? umap_error_last_code()
			: umap_buf_printf(attributes, "%s/attributes", xdg_dir.ptr);
	umap_buf_dispose(&xdg_dir);
	umap_buf_dispose(&xdg_config);
	umap_buf_dispose(&home_config);
	return rc;
}

int umap_git_setup(umap_git_setup_result *result, const char *start_dir,
		   const umap_git_setup_options *opts)
{
	git_repository *repo = NULL;
	git_config *cfg = NULL, *local = NULL;
	int rc = 0;
	git_libgit2_init();
	if (opts->global) {
		umap_buf attributes = UMAP_BUF_INIT;
		git_config *all = NULL;
		git_buf value = { 0 };
		/* An attributes file the user already configured is the one git reads. */
		if (git_config_open_default(&all) == 0 &&
		    git_config_get_path(&value, all, "core.attributesFile") == 0 && value.ptr)
			rc = umap_buf_puts(&attributes, value.ptr);
		git_buf_dispose(&value);
		git_config_free(all);
		git_error_clear();
		if (!rc)
			rc = global_paths(&result->config_path, &attributes);
		if (!rc)
			rc = umap_buf_puts(&result->attributes_path, attributes.ptr);
		umap_buf_dispose(&attributes);
		if (rc)
			goto done;
		if (git_config_open_ondisk(&local, result->config_path.ptr)) {
			rc = git_failure(UMAP_EIO, "cannot open the global git config");
			goto done;
		}
	} else {
		if (git_repository_open_ext(&repo, start_dir, 0, NULL)) {
			rc = umap_error_set(UMAP_ENOTFOUND,
					    "not in a git repository (run git-setup inside one, or use --global)");
			goto done;
		}
		const char *workdir = git_repository_workdir(repo);
		if (!workdir) {
			rc = umap_error_set(UMAP_EINVALID, "'%s' is a bare git repository: there is no "
					    "work tree to put .gitattributes in", git_repository_path(repo));
			goto done;
		}
		if (git_repository_config(&cfg, repo) ||
		    git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL)) {
			rc = git_failure(UMAP_EIO, "cannot open the repository's git config");
			goto done;
		}
		if ((rc = umap_buf_printf(&result->config_path, "%sconfig", git_repository_path(repo))) ||
		    (rc = umap_buf_printf(&result->attributes_path, "%s.gitattributes", workdir)))
			goto done;
	}
	if ((rc = set_keys(local, opts->program)))
		goto done;
	rc = add_attribute_lines(result->attributes_path.ptr, &result->attributes_added);
done:
	git_config_free(local);
	git_config_free(cfg);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return rc;
}

void umap_git_setup_result_dispose(umap_git_setup_result *result)
{
	umap_buf_dispose(&result->config_path);
	umap_buf_dispose(&result->attributes_path);
}
