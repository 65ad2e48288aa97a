/* libFuzzer target for the sync server's request handling: each input is one HTTP request
 * (request line, headers, blank line, body) sent to a real server on 127.0.0.1, so that
 * libmicrohttpd's parsing, routing, auth, limits, push and pull all see fuzzed bytes.
 * The server has no socket-free entry point (see the hardening report), hence the loopback.
 * fuzz-requires: lib/sync_server.c lib/sync_store.c lib/sync_op.c lib/json.c
 * fuzz-seeds: tests/fixtures/sync */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "sync_server.h"
#include "sync_store.h"

static umap_sync_store *store;
static umap_sync_server *server;
static unsigned port;
/* Inputs say @WRITE@, @READ@ and @LAYER@ where a valid token of that kind goes (the tokens
 * are made fresh for each run, so seeds cannot hold them). */
static char *token_write, *token_read, *token_layer;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static char dir[] = "/dev/shm/umapsync-fuzz.XXXXXX";
	if (!mkdtemp(dir)) {
		strcpy(dir, "/tmp/umapsync-fuzz.XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	umap_sync_store_options sopts = UMAP_SYNC_STORE_OPTIONS_INIT;
	sopts.max_ops = 64;
	sopts.retain = 1000; /* so that 410 Gone is reachable */
	if (umap_sync_store_open(&store, dir, &sopts)) {
		fprintf(stderr, "fuzz_server: %s\n", umap_error_last());
		abort();
	}
	char id[17];
	const char *layer = "layer-1";
	if (umap_sync_token_create(&token_write, id, store, "m", NULL, 0, 1) ||
	    umap_sync_token_create(&token_read, id, store, "m", NULL, 0, 0) ||
	    umap_sync_token_create(&token_layer, id, store, "m", &layer, 1, 1))
		abort();
	umap_sync_server_options opts = UMAP_SYNC_SERVER_OPTIONS_INIT;
	opts.port = 0;
	opts.threads = 2;
	opts.timeout_s = 2;
	opts.max_body = 1 << 16;
	opts.max_wait_s = 1;
	opts.max_limit = 100;
	if (umap_sync_server_start(&server, store, &opts)) {
		fprintf(stderr, "fuzz_server: %s\n", umap_error_last());
		abort();
	}
	port = umap_sync_server_port(server);
	return 0;
}

/* Request head with \n turned into \r\n and the @TOKEN@ placeholders filled in. */
static int build_request(umap_buf *out, const char *data, size_t size)
{
	const char *sep = NULL;
	for (size_t i = 0; i + 1 < size; i++)
		if (data[i] == '\n' && data[i + 1] == '\n') {
			sep = data + i;
			break;
		}
	size_t head_len = sep ? (size_t)(sep - data) : size;
	const char *body = sep ? sep + 2 : data + size;
	size_t body_len = (size_t)(data + size - body);
	int has_length = 0;
	for (size_t i = 0; i < head_len; i++) {
		if (data[i] == '\n') {
			if (umap_buf_puts(out, "\r\n"))
				return -1;
			if (head_len - i > 15 && !strncasecmp(data + i + 1, "content-length:", 15))
				has_length = 1;
			continue;
		}
		if (data[i] == '@') {
			static const struct { const char *name; char **token; } subst[] = {
				{ "@WRITE@", &token_write }, { "@READ@", &token_read }, { "@LAYER@", &token_layer },
			};
			int done = 0;
			for (size_t k = 0; k < 3 && !done; k++) {
				size_t n = strlen(subst[k].name);
				if (head_len - i >= n && !memcmp(data + i, subst[k].name, n)) {
					if (umap_buf_puts(out, *subst[k].token))
						return -1;
					i += n - 1;
					done = 1;
				}
			}
			if (done)
				continue;
		}
		if (umap_buf_putc(out, data[i]))
			return -1;
	}
	if (!has_length && body_len && umap_buf_printf(out, "\r\nContent-Length: %zu", body_len))
		return -1;
	if (umap_buf_puts(out, "\r\nConnection: close\r\n\r\n") || umap_buf_put(out, body, body_len))
		return -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	umap_buf req = UMAP_BUF_INIT;
	if (build_request(&req, (const char *)data, size) || !req.len) {
		umap_buf_dispose(&req);
		return 0;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		abort();
	struct timeval tv = { 3, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A refused connection is retried for 5 s (ports in TIME_WAIT, a full backlog); a server
	 * that stays unreachable after a request has been knocked over by it. */
	int tries = 0;
	while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (++tries == 50) {
			fprintf(stderr, "fuzz_server: the server no longer accepts connections: %s\n",
				strerror(errno));
			abort();
		}
		close(fd);
		usleep(100000);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			abort();
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (tries)
		fprintf(stderr, "fuzz_server: connect failed %d times before succeeding\n", tries);
	size_t off = 0;
	while (off < req.len) {
		ssize_t n = send(fd, req.ptr + off, req.len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may answer (413) and close before reading everything */
		off += (size_t)n;
	}
	char reply[4096];
	size_t got = 0;
	for (;;) {
		ssize_t n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(reply) - 1)
			got = 64; /* keep the status line, drop the rest */
	}
	reply[got] = '\0';
	close(fd);
	unsigned status = 0;
	if (got >= 12 && !strncmp(reply, "HTTP/1.", 7))
		status = (unsigned)atoi(reply + 9);
	/* Bad input must be refused (4xx; 501/505 for methods and versions libmicrohttpd does
	 * not speak): a 500 means the server failed on something it should have refused. */
	if (status == 500) {
		fprintf(stderr, "fuzz_server: status %u for request:\n%.*s\n", status, (int)req.len, req.ptr);
		abort();
	}
	umap_buf_dispose(&req);
	return 0;
}
