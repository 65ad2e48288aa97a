/* libFuzzer target for the sync server's request handling, through umap_sync_server_handle
 * (no socket): each input is one HTTP request (request line, headers, blank line, body).
 * fuzz-requires: lib/sync_server.c lib/sync_store.c lib/sync_op.c lib/json.c
 * fuzz-seeds: tests/fixtures/sync */
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buf.h"
#include "error.h"
#include "sync_server.h"
#include "sync_store.h"

#define MAX_FIELDS 64

static umap_sync_store *store;
static umap_sync_server *server;
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
	opts.max_body = 1 << 16;
	opts.max_wait_s = 1;
	opts.max_limit = 100;
	if (umap_sync_server_new(&server, store, &opts)) {
		fprintf(stderr, "fuzz_server: %s\n", umap_error_last());
		abort();
	}
	return 0;
}

/* %XX decoding in place, and '+' as a space in query arguments, as libmicrohttpd does. */
static void unescape(char *s, int plus)
{
	char *w = s;
	for (const char *r = s; *r; r++) {
		if (*r == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
			char digits[3] = { r[1], r[2], '\0' };
			*w++ = (char)strtol(digits, NULL, 16);
			r += 2;
		} else {
			*w++ = plus && *r == '+' ? ' ' : *r;
		}
	}
	*w = '\0';
}

struct parsed {
	char *method, *path;
	umap_sync_http_field args[MAX_FIELDS], headers[MAX_FIELDS];
	size_t nargs, nheaders;
};

/* Splits the request head (NUL-terminated, modified) into method, path, args, headers. */
static void parse_head(struct parsed *p, char *head)
{
	memset(p, 0, sizeof(*p));
	char *line_end = strchr(head, '\n');
	if (line_end)
		*line_end = '\0';
	p->method = head;
	char *sp = strchr(head, ' ');
	static char no_path[1];
	p->path = no_path;
	if (sp) {
		*sp = '\0';
		p->path = sp + 1;
		char *sp2 = strchr(p->path, ' ');
		if (sp2)
			*sp2 = '\0'; /* the HTTP version */
	}
	char *query = strchr(p->path, '?');
	if (query) {
		*query++ = '\0';
		for (char *arg = strtok(query, "&"); arg && p->nargs < MAX_FIELDS; arg = strtok(NULL, "&")) {
			char *eq = strchr(arg, '=');
			if (eq) {
				*eq++ = '\0';
				unescape(eq, 1);
			}
			unescape(arg, 1);
			p->args[p->nargs].name = arg;
			p->args[p->nargs++].value = eq;
		}
	}
	unescape(p->path, 0);
	for (char *line = line_end ? line_end + 1 : NULL; line && *line && p->nheaders < MAX_FIELDS;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *colon = strchr(line, ':');
		if (colon) {
			*colon++ = '\0';
			while (*colon == ' ' || *colon == '\t')
				colon++;
			p->headers[p->nheaders].name = line;
			p->headers[p->nheaders++].value = colon;
		}
		line = next;
	}
}

/* The head with @WRITE@, @READ@, @LAYER@ replaced by the tokens, without \r. */
static int expand_tokens(umap_buf *out, const char *data, size_t len)
{
	static const struct { const char *name; char **token; } subst[] = {
		{ "@WRITE@", &token_write }, { "@READ@", &token_read }, { "@LAYER@", &token_layer },
	};
	for (size_t i = 0; i < len; i++) {
		int done = 0;
		for (size_t k = 0; k < 3 && !done && data[i] == '@'; k++) {
			size_t n = strlen(subst[k].name);
			if (len - i >= n && !memcmp(data + i, subst[k].name, n)) {
				if (umap_buf_puts(out, *subst[k].token))
					return -1;
				i += n - 1;
				done = 1;
			}
		}
		if (!done && data[i] != '\r' && umap_buf_putc(out, data[i]))
			return -1;
	}
	return 0;
}

static char token_kind(const char *auth)
{
	if (!auth || strncasecmp(auth, "Bearer ", 7))
		return 0;
	const char *t = auth + 7;
	while (*t == ' ')
		t++;
	return !strcmp(t, token_write) ? 'w' : !strcmp(t, token_read) ? 'r' : !strcmp(t, token_layer) ? 'l' : 0;
}

static void fail(const char *why, unsigned status, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_server: %s (status %u) for request:\n%.*s\n", why, status, (int)size,
		(const char *)data);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t head_len = size;
	for (size_t i = 0; i + 1 < size; i++)
		if (text[i] == '\n' && (text[i + 1] == '\n' || (text[i + 1] == '\r' && i + 2 < size &&
								    text[i + 2] == '\n'))) {
			head_len = i;
			break;
		}
	size_t body_off = head_len;
	while (body_off < size && (text[body_off] == '\n' || text[body_off] == '\r') &&
	       body_off < head_len + 3)
		body_off++;
	umap_buf head = UMAP_BUF_INIT;
	if (expand_tokens(&head, text, head_len) || umap_buf_putc(&head, '\0')) {
		umap_buf_dispose(&head);
		return 0;
	}
	struct parsed p;
	parse_head(&p, head.ptr);
	const char *auth = NULL;
	for (size_t i = 0; i < p.nheaders && !auth; i++)
		if (!strcasecmp(p.headers[i].name, "Authorization"))
			auth = p.headers[i].value;
	char kind = token_kind(auth);
	umap_sync_http_request rq = {
		p.method, p.path, p.args, p.nargs, p.headers, p.nheaders,
		text + body_off, size - body_off, 0,
	};
	umap_sync_http_response rs;
	if (umap_sync_server_handle(server, &rq, &rs)) {
		umap_buf_dispose(&head);
		return 0; /* out of memory */
	}
	if (rs.status == 0) {
		/* a long-poll would park: answer as at its deadline */
		if (!rs.map[0] || rs.body)
			fail("a long-poll to park without a map, or with a body", 0, data, size);
		rq.resumed = 1;
		if (umap_sync_server_handle(server, &rq, &rs)) {
			umap_buf_dispose(&head);
			return 0;
		}
		if (rs.status == 0)
			fail("a resumed long-poll parks again", 0, data, size);
	}
	if (getenv("FUZZ_SERVER_TRACE")) /* to see what the seeds reach */
		fprintf(stderr, "fuzz_server: %s %s -> %u %.*s\n", p.method, p.path, rs.status,
			(int)(rs.body_len < 200 ? rs.body_len : 200), rs.body);
	/* Bad input must be refused (4xx): a 500 means the server failed on something it
	 * should have refused. */
	if (rs.status < 200 || rs.status >= 500)
		fail("unexpected status", rs.status, data, size);
	/* Every answer is a JSON object. */
	json_error_t jerr;
	json_t *reply = json_loadb(rs.body, rs.body_len, JSON_ALLOW_NUL, &jerr);
	if (!json_is_object(reply)) {
		fprintf(stderr, "fuzz_server: %s at %d: %.*s\n", jerr.text, jerr.position,
			(int)(rs.body_len < 2000 ? rs.body_len : 2000), rs.body);
		fail("the answer is not a JSON object", rs.status, data, size);
	}
	json_decref(reply);
	/* Tokens exist: a map is reached only with one, and written only with a writing one. */
	if (rs.status < 300 && !strncmp(p.path, "/v1/maps/", 9)) {
		if (!kind)
			fail("a map endpoint answered without a valid token", rs.status, data, size);
		if (kind == 'r' && !strcmp(p.method, "POST"))
			fail("a read-only token pushed", rs.status, data, size);
		if (strcmp(rs.map, "m"))
			fail("a token for map m reached another map", rs.status, data, size);
	}
	umap_sync_http_response_dispose(&rs);
	umap_buf_dispose(&head);
	return 0;
}
