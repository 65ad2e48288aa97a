/* Sets up an ordinary git repository (or the user's git) to merge and diff map files with
 * umapsync: the merge and diff drivers in git config and the .gitattributes lines. */
#ifndef UMAP_GITSETUP_H
#define UMAP_GITSETUP_H

#include "buf.h"

typedef struct umap_git_setup_options {
	unsigned int version;
	int global;          /* the user's git config and attributes file, not one repository's */
	const char *program; /* how git should run umapsync (a name on PATH or a quoted path) */
} umap_git_setup_options;

#define UMAP_GIT_SETUP_OPTIONS_VERSION 1
#define UMAP_GIT_SETUP_OPTIONS_INIT { UMAP_GIT_SETUP_OPTIONS_VERSION, 0, "umapsync" }

typedef struct umap_git_setup_result {
	umap_buf config_path;     /* the config file written */
	umap_buf attributes_path; /* the attributes file written (or already complete) */
	int attributes_added;     /* how many lines were added to it */
} umap_git_setup_result;

#define UMAP_GIT_SETUP_RESULT_INIT { UMAP_BUF_INIT, UMAP_BUF_INIT, 0 }

/* The attribute lines git-setup writes, NULL-terminated. */
extern const char *const umap_git_attribute_lines[];

/* Finds the repository containing `start_dir` (unless opts->global) and writes
 * merge.umapsync.{name,driver} and diff.umapsync.command into its config, then appends the
 * missing attribute lines to its top-level .gitattributes. Running it twice changes nothing.
 * UMAP_ENOTFOUND when start_dir is in no repository, UMAP_EINVALID for a bare one. */
int umap_git_setup(umap_git_setup_result *result, const char *start_dir,
		   const umap_git_setup_options *opts);
void umap_git_setup_result_dispose(umap_git_setup_result *result);

#endif
