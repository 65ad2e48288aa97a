/* clone, remote add, pull and push when the remote is a live uMap map (SPEC §9): what those
 * commands call when the URL is a uMap map URL rather than a umapsync server's. */
#ifndef UMAPSYNC_UMAP_REMOTE_CMD_H
#define UMAPSYNC_UMAP_REMOTE_CMD_H

#include "repo.h"
#include "sync-cmd.h"

/* clone URL [DIR]: the map's settings and every datalayer into DIR/SLUG.umap, a commit on
 * NAME/main and main, each layer's version kept in .umapsync/sync/NAME.json. With history,
 * the versions the server keeps of each layer come first, a commit each. */
int umap_remote_cmd_clone(const char *url, const char *dir, const char *name, const char *cookie_file,
			  int history);
/* remote add NAME URL [--cookie-file FILE] for a uMap URL: checks that the map answers. */
void umap_remote_cmd_add(umap_repo *repo, const char *name, const char *url, const char *cookie_file);
/* remote set-cookie-file NAME FILE: the path (not the cookies) goes to the config. */
void umap_remote_cmd_set_cookie_file(umap_repo *repo, const char *name, const char *file);
int umap_remote_cmd_pull(umap_repo *repo, struct sync_remote *remote, const char *strategy);
int umap_remote_cmd_push(umap_repo *repo, struct sync_remote *remote);

#endif
