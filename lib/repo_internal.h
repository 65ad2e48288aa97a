/* What lib/repo.c and lib/repo_doc.c share about a umap_repo; nothing outside lib/repo*.c
 * includes this. */
#ifndef UMAP_REPO_INTERNAL_H
#define UMAP_REPO_INTERNAL_H

#include "repo.h"
#include "repo_store.h"

typedef struct umap_cache_entry {
	unsigned char key[16]; /* xxh3-128 of the feature's bytes in the working file */
	git_oid id;            /* blob of its canonical form */
} umap_cache_entry;

struct umap_repo {
	git_repository *git;
	umap_store store;
	char *workdir;
	char *gitdir;
	umap_cache_entry *cache; /* sorted, as loaded */
	size_t ncache;
	int cache_loaded, cache_disabled;
	umap_cache_entry *seen;  /* what this run hashed: the next cache */
	size_t nseen, aseen;
};

const char *umap_git_msg(void);
umap_store *umap_repo_store(umap_repo *repo);
int umap_repo_cache_lookup(git_oid *out, umap_repo *repo, const unsigned char key[16]);
int umap_repo_cache_note(umap_repo *repo, const unsigned char key[16], const git_oid *id);
void umap_repo_cache_reset_seen(umap_repo *repo);
void umap_repo_cache_disable(umap_repo *repo, int disabled);

#endif
