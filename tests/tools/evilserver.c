/* evilserver: a malicious sync server for tests/bats/hostile.bats. It answers snapshots with
 * a small valid map and pulls with the attack a scenario names, to prove the client trusts
 * nothing it receives (SPEC §8).
 *
 * usage: evilserver SCENARIO PORT_FILE [TARGET]
 * Listens on 127.0.0.1 with an ephemeral port, writes the port to PORT_FILE (atomically),
 * serves one connection at a time and exits after 60 s or on SIGTERM. TARGET is an absolute
 * path (a canary inside the test's directory) that the traversal scenarios aim at.
 * Scenarios (GET .../snapshot and GET .../pull?since=N):
 *   layer-traversal    pull: datalayer upsert with metadata.id "../../../TARGET"
 *   feature-traversal  pull: feature upsert with metadata.layerId "../../../TARGET"
 *   long-id            pull: datalayer id of 143 characters naming TARGET exactly once
 *                      ".geojson" is cut off
 *   stuck              pull: {"ops":[],"cursor":since,"more":true} forever
 *   stuck-ops          pull: one op per reply, the cursor never moves, more:true
 *   grow               pull: 1000 ops per reply, the cursor advancing, more:true forever
 *   reply-array, reply-number, reply-string, reply-nocursor, reply-negcursor,
 *   reply-opsobject, reply-cursorback   pull: replies that are not pull replies
 *   map-layers         snapshot with a .umap map; pull: map update "layers" = []
 *   error-escape       pull: HTTP 400 whose error text retitles and clears the terminal
 *   snapshot-traversal snapshot: a layer whose filename is "../../../TARGET"
 *   snapshot-c1        snapshot: a filename with U+009B (CSI) in it
 *   push-badreply      push: 200 with a negative cursor
 *   push-conflict      push: 409 whose conflicts name a layer and a key with escapes
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *scenario, *target;

/* A growable string: the replies are built here. */
static char *text;
static size_t text_len, text_cap;

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(text + text_len, text_cap - text_len, fmt, ap);
		va_end(ap);
		if (n < 0)
			exit(2);
		if ((size_t)n < text_cap - text_len) {
			text_len += (size_t)n;
			return;
		}
		text_cap = (text_cap + (size_t)n + 64) * 2;
		if (!(text = realloc(text, text_cap)))
			exit(2);
	}
}

/* "../" enough times to reach / from any test directory, then TARGET without its '/'. */
static void put_traversal(void)
{
	for (int i = 0; i < 20; i++)
		put("../");
	put("%s", target + 1);
}

static void put_op_header(long long n, const char *verb, const char *subject)
{
	put("{\"op_id\":\"evil-%lld\",\"hlc\":\"000000000001-0000-evil\",\"client_id\":\"evil\","
	    "\"verb\":\"%s\",\"subject\":\"%s\"", n, verb, subject);
}

static void pull_reply(long long since)
{
	if (!strcmp(scenario, "layer-traversal") || !strcmp(scenario, "long-id")) {
		put("{\"ops\":[");
		put_op_header(since + 1, "upsert", "datalayer");
		put(",\"metadata\":{\"id\":\"");
		if (!strcmp(scenario, "long-id")) {
			/* 60 bytes of "../", padding of "./" (and one '/'), then the target: 143 */
			size_t tlen = strlen(target + 1), pad = 143 - 60 - tlen;
			for (int i = 0; i < 20; i++)
				put("../");
			for (size_t i = 0; i < pad / 2; i++)
				put("./");
			if (pad % 2)
				put("/");
			put("%s", target + 1);
		} else {
			put_traversal();
		}
		put("\"},\"value\":{\"name\":\"pwned\"}}],\"cursor\":%lld,\"more\":false}", since + 1);
	} else if (!strcmp(scenario, "feature-traversal")) {
		put("{\"ops\":[");
		put_op_header(since + 1, "upsert", "feature");
		put(",\"metadata\":{\"id\":\"f1\",\"layerId\":\"");
		put_traversal();
		put("\"},\"value\":{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]},"
		    "\"properties\":{\"name\":\"pwned\"}}}],\"cursor\":%lld,\"more\":false}", since + 1);
	} else if (!strcmp(scenario, "stuck")) {
		put("{\"ops\":[],\"cursor\":%lld,\"more\":true}", since);
	} else if (!strcmp(scenario, "stuck-ops") || !strcmp(scenario, "grow")) {
		int grow = !strcmp(scenario, "grow"), n = grow ? 1000 : 1;
		put("{\"ops\":[");
		for (int i = 0; i < n; i++) {
			put("%s", i ? "," : "");
			put_op_header(since + i + 1, "upsert", "feature");
			put(",\"metadata\":{\"id\":\"g%lld\",\"layerId\":\"L1\"},\"value\":{\"type\":\"Feature\","
			    "\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]},\"properties\":{\"name\":\"%0100d\"}}}",
			    since + i + 1, i);
		}
		put("],\"cursor\":%lld,\"more\":true}", grow ? since + n : since);
	} else if (!strcmp(scenario, "reply-array")) {
		put("[]");
	} else if (!strcmp(scenario, "reply-number")) {
		put("-5");
	} else if (!strcmp(scenario, "reply-string")) {
		put("\"abc\"");
	} else if (!strcmp(scenario, "reply-nocursor")) {
		put("{\"ops\":[],\"more\":false}");
	} else if (!strcmp(scenario, "reply-negcursor")) {
		put("{\"ops\":[],\"cursor\":-3,\"more\":false}");
	} else if (!strcmp(scenario, "reply-opsobject")) {
		put("{\"ops\":{},\"cursor\":%lld,\"more\":false}", since + 1);
	} else if (!strcmp(scenario, "reply-cursorback")) {
		put("{\"ops\":[],\"cursor\":0,\"more\":false}");
	} else if (!strcmp(scenario, "map-layers")) {
		put("{\"ops\":[");
		put_op_header(since + 1, "update", "map");
		put(",\"metadata\":{},\"key\":\"layers\",\"value\":[]}],\"cursor\":%lld,\"more\":false}", since + 1);
	} else {
		put("{\"ops\":[],\"cursor\":%lld,\"more\":false}", since);
	}
}

static void snapshot_reply(void)
{
	const char *filename = "base.geojson";
	if (!strcmp(scenario, "map-layers"))
		filename = "map.umap";
	put("{\"cursor\":1,\"properties\":{\"name\":\"evil map\"},\"layers\":[{\"id\":\"L1\",\"filename\":\"");
	if (!strcmp(scenario, "snapshot-traversal")) {
		put_traversal();
		put(".geojson");
	} else if (!strcmp(scenario, "snapshot-c1")) {
		put("x\\u009b2Jy.geojson");
	} else {
		put("%s", filename);
	}
	put("\",\"options\":{\"name\":\"base\"},\"features\":[{\"type\":\"Feature\",\"id\":\"a1\","
	    "\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.8,45.7]},\"properties\":{\"name\":\"one\"}}]}]}");
}

static void respond(int fd, int status, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, status == 200 ? "OK" : status == 409 ? "Conflict" : "Bad Request", len);
	if (write(fd, head, (size_t)n) != n)
		return;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, body + off, len - off);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void serve(int fd)
{
	char req[8192];
	size_t got = 0;
	while (got < sizeof(req) - 1) {
		ssize_t r = read(fd, req + got, sizeof(req) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = '\0';
	text_len = 0;
	put("%s", "");
	int status = 200;
	const char *since = strstr(req, "since=");
	if (strstr(req, "/snapshot ")) {
		snapshot_reply();
	} else if (strstr(req, "/pull?")) {
		if (!strcmp(scenario, "error-escape")) {
			status = 400;
			put("{\"error\":\"\\u001b]0;pwned\\u0007\\u001b[2Jcleared\\u009b31mred\\nhint: fake\"}");
		} else {
			pull_reply(since ? atoll(since + 6) : 0);
		}
	} else if (strstr(req, "/push ") && !strcmp(scenario, "push-badreply")) {
		put("{\"ack\":[],\"cursor\":-1}");
	} else if (strstr(req, "/push ") && !strcmp(scenario, "push-conflict")) {
		status = 409;
		put("{\"conflicts\":[{\"layer\":\"L1\\u001b[2J\",\"id\":\"a1\",\"key\":\"properties.name\\u001b]0;x\\u0007\"}],"
		    "\"error\":\"1 conflicting change(s): pull, then push again\"}");
	} else {
		status = 400;
		put("{\"error\":\"not here\"}");
	}
	respond(fd, status, text, text_len);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: evilserver SCENARIO PORT_FILE [TARGET]\n");
		return 2;
	}
	scenario = argv[1];
	target = argc > 3 ? argv[3] : "/nonexistent/evil";
	if (target[0] != '/' || strlen(target) > 80) {
		fprintf(stderr, "evilserver: TARGET must be an absolute path of at most 80 bytes\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm(60); /* bounded in time whatever the test does */
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(addr);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof(addr)) || listen(s, 16) ||
	    getsockname(s, (struct sockaddr *)&addr, &alen)) {
		perror("evilserver");
		return 1;
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", ntohs(addr.sin_port)) < 0 || fclose(f) || rename(tmp, argv[2])) {
		perror("evilserver: port file");
		return 1;
	}
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		serve(c);
		shutdown(c, SHUT_WR);
		char drain[512];
		while (read(c, drain, sizeof(drain)) > 0)
			;
		close(c);
	}
}
