/* clone, remote add, pull and push when the remote is a live uMap map (SPEC §9): what those
 * commands call when the URL is a uMap map URL rather than a umapsync server's. */
#ifndef UMAPSYNC_UMAP_REMOTE_CMD_H
#define UMAPSYNC_UMAP_REMOTE_CMD_H

#include "repo.h"
#include "sync-cmd.h"

/* clone URL [DIR]: the map's settings and every datalayer into DIR/SLUG.umap, a commit on
 * NAME/main and main, each layer's version kept in .umapsync/sync/NAME.json. With history,
 * the versions the server keeps of each layer come first, a commit each. URL may be an
 * anonymous edit link: the remote then keeps the map's URL, and the cookie the link sets in
 * .umapsync/sync/NAME.cookies (0600), which pull and push send. */
int umap_remote_cmd_clone(const char *url, const char *dir, const char *name, const char *cookie_file,
			  int history);
/* remote add NAME URL [--cookie-file FILE] for a uMap URL or anonymous edit link (kept as
 * clone keeps it): checks that the map answers. */
void umap_remote_cmd_add(umap_repo *repo, const char *name, const char *url, const char *cookie_file);
/* remote set-url NAME LINK with an anonymous edit link (a new one, or the same one again
 * once its cookie expired): the map's URL goes to the config, the cookie the link sets to
 * .umapsync/sync/NAME.cookies (0600). */
void umap_remote_cmd_set_edit_link(umap_repo *repo, const char *name, const char *link);
/* remote remove NAME: the secrets kept for a uMap remote go with it. */
void umap_remote_cmd_forget(umap_repo *repo, const char *name);
/* remote set-cookie-file NAME FILE: the path (not the cookies) goes to the config. */
void umap_remote_cmd_set_cookie_file(umap_repo *repo, const char *name, const char *file);
int umap_remote_cmd_pull(umap_repo *repo, struct sync_remote *remote, const char *strategy);
int umap_remote_cmd_push(umap_repo *repo, struct sync_remote *remote);

#endif
