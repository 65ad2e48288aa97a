/* umapsync serve: run a sync server (SPEC §8) until SIGTERM or SIGINT.
 * Binds to 127.0.0.1 unless --listen says otherwise; tokens are required once one exists. */
#include "builtin.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "buf.h"
#include "fs.h"
#include "sync_server.h"
#include "sync_store.h"

#define DEFAULT_PORT 8642

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "umapsync serve: %s\n", line);
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" into host (static storage) and port. */
static int parse_listen(const char *arg, const char **host, unsigned *port)
{
	static char buf[256];
	const char *colon;
	if (strlen(arg) >= sizeof(buf))
		return -1;
	if (arg[0] == '[') {
		const char *end = strchr(arg, ']');
		if (!end || end[1] != ':')
			return -1;
		memcpy(buf, arg + 1, (size_t)(end - arg - 1));
		buf[end - arg - 1] = '\0';
		colon = end + 1;
	} else if ((colon = strrchr(arg, ':'))) {
		memcpy(buf, arg, (size_t)(colon - arg));
		buf[colon - arg] = '\0';
	} else {
		strcpy(buf, "127.0.0.1");
		colon = arg - 1;
	}
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || p > 65535)
		return -1;
	*host = buf[0] ? buf : "127.0.0.1";
	*port = (unsigned)p;
	return 0;
}

static int positive(const char *name, int value, const char *const *usage, const struct option *opts)
{
	if (value < 0)
		usage_with_options_msg(usage, opts, "--%s must not be negative", name);
	return value;
}

int cmd_serve(int argc, const char **argv)
{
	static const char *const usage[] = { "umapsync serve [--listen ADDR:PORT] [--data DIR | --store URL [--import-from DIR]] [options]", NULL };
	const char *listen = NULL, *data = NULL, *url = NULL, *import_from = NULL, *port_file = NULL, *umap_secret_file = NULL;
	int threads = 4, max_conn = 1024, max_per_ip = 128, timeout = 30, request_timeout = 60;
	int max_body = 8 << 20, max_inflight = (int)UMAP_SYNC_DEFAULT_MAX_INFLIGHT, max_streams = 64;
	int rate = 200, retain = 0, max_wait = 30, force_auth = 0, verbose = 0;
	int max_features = (int)UMAP_SYNC_DEFAULT_MAX_FEATURES;
	const struct option options[] = {
		OPT_STRING('l', "listen", &listen, "ADDR:PORT", "address and port to listen on (default 127.0.0.1:8642; port 0 picks a free one)"),
		OPT_STRING('d', "data", &data, "DIR", "directory of the server's database (default umapsync-data)"),
		OPT_STRING(0, "store", &url, "URL", "keep maps and tokens in this PostgreSQL database (postgresql://...), shared by any number of server processes"),
		OPT_STRING(0, "import-from", &import_from, "DIR", "with --store: first copy the maps and tokens of this data directory into the (empty) database"),
		OPT_STRING(0, "port-file", &port_file, "FILE", "write the port listened on to FILE once ready"),
		OPT_BOOL(0, "auth", &force_auth, "require a token even before any token was created"),
		OPT_STRING(0, "umap-secret-file", &umap_secret_file, "FILE", "open uMap's realtime endpoint ws://HOST:PORT/ws/sync/MAP, checking tokens with the SECRET_KEY in FILE"),
		OPT_GROUP("Limits"),
		OPT_INT(0, "threads", &threads, "N", "worker threads (default 4)"),
		OPT_INT(0, "max-connections", &max_conn, "N", "open connections at most (default 1024)"),
		OPT_INT(0, "max-per-ip", &max_per_ip, "N", "open connections per client address (default 128)"),
		OPT_INT(0, "timeout", &timeout, "SECONDS", "close idle connections after this (default 30)"),
		OPT_INT(0, "request-timeout", &request_timeout, "SECONDS", "close a connection whose request takes longer than this to arrive, 0 for no limit (default 60)"),
		OPT_INT(0, "max-body", &max_body, "BYTES", "largest request body; larger ones get 413 (default 8 MiB)"),
		OPT_INT(0, "max-inflight", &max_inflight, "BYTES", "request bodies held at once by the whole server; pushes over it get 503 (default 64 MiB)"),
		OPT_INT(0, "max-streams", &max_streams, "N", "pull and snapshot answers over 1 MiB sent at once; more get 503, smaller ones never wait (default 64)"),
		OPT_INT(0, "rate", &rate, "N", "requests per second per client address, 0 for no limit; more get 429 (default 200)"),
		OPT_INT(0, "max-features", &max_features, "N", "features one layer may hold; a push that would add more gets 413 (default 1000000)"),
		OPT_INT(0, "max-wait", &max_wait, "SECONDS", "longest long-poll a pull may ask for (default 30)"),
		OPT_INT(0, "retain", &retain, "N", "ops kept per map for pull, 0 for all; older cursors get 410 (default 0)"),
		OPT_BOOL('v', "verbose", &verbose, "log every request on stderr"),
		OPT_END(),
	};
	argc = parse_options(argc, argv, options, usage);
	if (argc)
		usage_with_options_msg(usage, options, "unexpected argument '%s'", argv[0]);
	umap_sync_server_options sopts = UMAP_SYNC_SERVER_OPTIONS_INIT;
	sopts.port = DEFAULT_PORT;
	if (listen && parse_listen(listen, &sopts.host, &sopts.port))
		usage_with_options_msg(usage, options, "--listen wants ADDR:PORT (e.g. 127.0.0.1:8642), not '%s'", listen);
	if (threads < 1 || max_conn < 1 || max_per_ip < 1 || timeout < 1 || max_body < 1)
		usage_with_options_msg(usage, options, "--threads, --max-connections, --max-per-ip, --timeout and --max-body must be at least 1");
	sopts.threads = (unsigned)threads;
	sopts.max_connections = (unsigned)max_conn;
	sopts.max_per_ip = (unsigned)max_per_ip;
	sopts.timeout_s = (unsigned)timeout;
	sopts.request_timeout_s = (unsigned)positive("request-timeout", request_timeout, usage, options);
	sopts.max_body = (size_t)max_body;
	if (max_inflight < max_body)
		usage_with_options_msg(usage, options, "--max-inflight (%d) must be at least --max-body (%d)",
				       max_inflight, max_body);
	sopts.max_inflight = (size_t)max_inflight;
	if (max_streams < 1)
		usage_with_options_msg(usage, options, "--max-streams must be at least 1");
	sopts.max_streams = (unsigned)max_streams;
	sopts.rate = positive("rate", rate, usage, options);
	sopts.burst = 2.0 * rate;
	sopts.max_wait_s = (unsigned)positive("max-wait", max_wait, usage, options);
	sopts.force_auth = force_auth;
	if (verbose)
		sopts.log = log_line;
#ifdef __GLIBC__
	/* one malloc arena for every thread: each worker that parsed a push body kept its own
	 * arena as large as its largest body's trees (four of them: 146 MB for a 100k-feature
	 * push, 69 MB with one); the pushes take turns at the store anyway, and each thread's
	 * cache of small blocks spares most allocations the arena's lock */
	mallopt(M_ARENA_MAX, 1);
	/* no fastbins: a push frees its body's trees, tens of thousands of small blocks, and
	 * the next larger request consolidated them all again (malloc_consolidate, a tenth
	 * of the server's CPU in a large first push) */
	mallopt(M_MXFAST, 0);
#endif

	umap_buf secret = UMAP_BUF_INIT;
	if (umap_secret_file) {
		if (umap_file_read(&secret, umap_secret_file, 4096))
			die_lib("reading uMap's secret key");
		while (secret.len && (secret.ptr[secret.len - 1] == '\n' || secret.ptr[secret.len - 1] == '\r'))
			secret.ptr[--secret.len] = '\0';
		if (!secret.len || strlen(secret.ptr) != secret.len)
			die("'%s' must hold uMap's SECRET_KEY on one line", umap_secret_file);
		sopts.umap_secret = secret.ptr;
	}
	if (data && url)
		usage_with_options_msg(usage, options, "give one of --data DIR and --store URL");
	if (url && !umap_sync_store_url_ok(url))
		usage_with_options_msg(usage, options, "--store wants a postgresql:// URL, not '%s'", url);
	if (import_from && !url)
		usage_with_options_msg(usage, options, "--import-from DIR needs --store URL (the database to copy into)");
	if (!data && !url)
		data = "umapsync-data";
	const char *where = url ? "the database" : data;

	umap_sync_store_options stopts = UMAP_SYNC_STORE_OPTIONS_INIT;
	/* a database that is away at start is waited for: requests get 503 until it is back */
	stopts.lazy_connect = url && !import_from;
	stopts.retain = positive("retain", retain, usage, options);
	if (max_features < 1)
		usage_with_options_msg(usage, options, "--max-features must be at least 1");
	stopts.max_features = (size_t)max_features;
	umap_sync_store *store;
	if (umap_sync_store_open(&store, url ? url : data, &stopts))
		die_lib("opening '%s'", where);
	if (import_from) {
		umap_sync_store *src;
		if (umap_sync_store_open(&src, import_from, NULL)) {
			umap_sync_store_close(store);
			die_lib("opening '%s'", import_from);
		}
		int err = umap_sync_store_import(store, src);
		umap_sync_store_close(src);
		if (err) {
			umap_sync_store_close(store);
			die_lib("importing '%s'", import_from);
		}
		fprintf(stderr, "umapsync serve: imported the maps and tokens of '%s'\n", import_from);
	}

	/* the signals are blocked before any thread starts, so every thread inherits the mask
	 * and only sigwait() below ever sees them */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	umap_sync_server *server;
	if (umap_sync_server_start(&server, store, &sopts)) {
		umap_sync_store_close(store);
		die_lib(NULL);
	}
	unsigned port = umap_sync_server_port(server);
	if (port_file) {
		char text[16];
		int n = snprintf(text, sizeof(text), "%u\n", port);
		if (umap_file_write_atomic(port_file, text, (size_t)n)) {
			umap_sync_server_stop(server);
			umap_sync_store_close(store);
			die_lib("writing the port file");
		}
	}
	int auth = force_auth || umap_sync_store_auth_required(store);
	fprintf(stderr, "umapsync serve: listening on http://%s%s%s:%u/ (data %s, %s)\n",
		strchr(sopts.host, ':') ? "[" : "", sopts.host, strchr(sopts.host, ':') ? "]" : "", port, url ? "postgresql" : data,
		auth ? "tokens required" : "no tokens yet: open to anyone who can connect");
	if (umap_secret_file)
		fprintf(stderr, "umapsync serve: uMap realtime on ws://%s%s%s:%u/ws/sync/MAP (tokens signed with the key in %s)\n",
			strchr(sopts.host, ':') ? "[" : "", sopts.host, strchr(sopts.host, ':') ? "]" : "", port,
			umap_secret_file);
	int sig = 0;
	sigwait(&stop, &sig);
	fprintf(stderr, "umapsync serve: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	umap_sync_server_stop(server);
	umap_sync_store_close(store);
	umap_buf_dispose(&secret);
	return 0;
}
