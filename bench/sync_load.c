/* Load generator for `umapsync serve`: N concurrent clients on loopback, each pushing small
 * edits (one op per push, its own feature, so no conflicts) and pulling, for a bounded time.
 * Prints durable ops/s and p50/p99 latency of pushes and pulls. Build: see sync_load.sh.
 * SYNC_TOKEN in the environment: sent as a bearer token. URL_OF_MAP may list several
 * servers' URLs, comma-separated: client i uses the (i mod n)th. SYNC_MAPS=M: client i
 * edits map URL-(i mod M) instead of one map for all. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct client {
	int index;
	char base_url[512];
	double seconds;
	double *push_ms, *pull_ms;
	size_t npush, npull, cap, errors;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sink {
	char buf[65536];
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	size_t take = size * n;
	if (s->len + take >= sizeof(s->buf))
		take = sizeof(s->buf) - 1 - s->len;
	memcpy(s->buf + s->len, ptr, take);
	s->len += take;
	s->buf[s->len] = '\0';
	return size * n;
}

static long long cursor_of(const char *body)
{
	const char *c = strstr(body, "\"cursor\":");
	return c ? atoll(c + 9) : -1;
}

static int request(CURL *curl, const char *url, const char *post, struct sink *sink, long *code)
{
	sink->len = 0;
	sink->buf[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (post) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	CURLcode rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, code);
	return rc == CURLE_OK ? 0 : -1;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	CURL *curl = curl_easy_init();
	struct sink *sink = malloc(sizeof(*sink));
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	const char *token = getenv("SYNC_TOKEN"); /* a server that requires tokens */
	char auth[256];
	if (token && *token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth);
	}
	char push_url[256], pull_url[300], body[1024];
	long code;
	long long cursor = 0;
	snprintf(push_url, sizeof(push_url), "%s/push", c->base_url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	double end = now_s() + c->seconds;
	for (long k = 0; now_s() < end && c->npush < c->cap; k++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		unsigned long long ms = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
		if (k == 0)
			snprintf(body, sizeof(body),
				 "{\"client_id\":\"load%d\",\"base\":%lld,\"ops\":[{\"op_id\":\"%d-%ld\",\"hlc\":\"%012llx-%04lx-load%d\","
				 "\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"t%d\",\"layerId\":\"L\",\"featureType\":\"marker\"},"
				 "\"value\":{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.85,45.76]},\"properties\":{\"n\":0}}}]}",
				 c->index, cursor, c->index, k, ms, k & 0xffff, c->index, c->index);
		else
			snprintf(body, sizeof(body),
				 "{\"client_id\":\"load%d\",\"base\":%lld,\"ops\":[{\"op_id\":\"%d-%ld\",\"hlc\":\"%012llx-%04lx-load%d\","
				 "\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"t%d\",\"layerId\":\"L\",\"featureType\":\"marker\"},"
				 "\"key\":\"properties.n\",\"value\":%ld}]}",
				 c->index, cursor, c->index, k, ms, k & 0xffff, c->index, c->index, k);
		double t0 = now_s();
		if (request(curl, push_url, body, sink, &code) || code != 200) {
			c->errors++;
			continue;
		}
		c->push_ms[c->npush++] = (now_s() - t0) * 1000;
		snprintf(pull_url, sizeof(pull_url), "%s/pull?since=%lld&limit=200", c->base_url, cursor);
		t0 = now_s();
		if (request(curl, pull_url, NULL, sink, &code) || code != 200) {
			c->errors++;
			continue;
		}
		c->pull_ms[c->npull++] = (now_s() - t0) * 1000;
		long long next = cursor_of(sink->buf);
		if (next > cursor)
			cursor = next;
	}
	curl_slist_free_all(headers);
	free(sink);
	curl_easy_cleanup(curl);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *what, double *all, size_t n, double seconds)
{
	qsort(all, n, sizeof(double), cmp);
	printf("%s: %zu in %.1f s = %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", what, n, seconds,
	       (double)n / seconds, n ? all[n / 2] : 0, n ? all[(size_t)((double)n * 0.99)] : 0, n ? all[n - 1] : 0);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sync_load URL_OF_MAP [CLIENTS [SECONDS]]  (URL like http://127.0.0.1:8642/v1/maps/bench)\n");
		return 2;
	}
	int n = argc > 2 ? atoi(argv[2]) : 50;
	int maps = getenv("SYNC_MAPS") ? atoi(getenv("SYNC_MAPS")) : 1;
	const char *urls[64];
	int nurls = 0;
	for (char *u = strtok(argv[1], ","); u && nurls < 64; u = strtok(NULL, ","))
		urls[nurls++] = u;
	if (!nurls || n < 1)
		return 2;
	double seconds = argc > 3 ? atof(argv[3]) : 10;
	size_t cap = 200000;
	curl_global_init(CURL_GLOBAL_ALL);
	struct client *clients = calloc((size_t)n, sizeof(*clients));
	pthread_t *threads = calloc((size_t)n, sizeof(*threads));
	for (int i = 0; i < n; i++) {
		clients[i] = (struct client){ i, "", seconds, malloc(cap * sizeof(double)), malloc(cap * sizeof(double)), 0, 0, cap, 0 };
		if (maps > 1)
			snprintf(clients[i].base_url, sizeof(clients[i].base_url), "%s-%d", urls[i % nurls], i % maps);
		else
			snprintf(clients[i].base_url, sizeof(clients[i].base_url), "%s", urls[i % nurls]);
		pthread_create(&threads[i], NULL, client_main, &clients[i]);
	}
	double t0 = now_s();
	size_t npush = 0, npull = 0, errors = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(threads[i], NULL);
		npush += clients[i].npush;
		npull += clients[i].npull;
		errors += clients[i].errors;
	}
	double elapsed = now_s() - t0;
	double *push = malloc((npush + 1) * sizeof(double)), *pull = malloc((npull + 1) * sizeof(double));
	size_t a = 0, b = 0;
	for (int i = 0; i < n; i++) {
		memcpy(push + a, clients[i].push_ms, clients[i].npush * sizeof(double));
		memcpy(pull + b, clients[i].pull_ms, clients[i].npull * sizeof(double));
		a += clients[i].npush;
		b += clients[i].npull;
		free(clients[i].push_ms);
		free(clients[i].pull_ms);
	}
	printf("%d clients, %.1f s, errors %zu\n", n, elapsed, errors);
	report("durable pushes (1 op each, acked after fsync)", push, npush, elapsed);
	report("pulls", pull, npull, elapsed);
	free(push);
	free(pull);
	free(clients);
	free(threads);
	curl_global_cleanup();
	return errors ? 1 : 0;
}
