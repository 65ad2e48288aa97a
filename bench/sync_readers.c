/* Many readers of one large map beside a small one, for `umapsync serve` (issue 19): seeds a
 * map's log with raw pushes, then times twelve whole pulls and snapshots and a small pull.
 * Build and use: see sync_readers.sh. Answers are counted and dropped, never kept.
 *
 *   sync_readers seed URL_OF_MAP FEATURES      push FEATURES feature upserts, 5000 a push
 *   sync_readers read URL_OF_BIG URL_OF_SMALL READERS IDLE_PROBES SERVER_PID
 *       IDLE_PROBES small pulls with the server idle, then READERS clients each pull the big
 *       map from cursor 0 (pages of 10000 ops) and take its snapshot, while the small pull is
 *       repeated every 5 ms, and a one-op push to a third map (URL_OF_BIG + "side") every
 *       10 ms, until the last reader is done. The server's peak RSS (VmHWM)
 *       is reset between the two phases (Linux's clear_refs) and read at the end. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps the tail of an answer (where "cursor" and "more" are) and counts its bytes. */
struct sink {
	char tail[256];
	size_t tail_len;
	unsigned long long bytes;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	size_t len = size * n;
	s->bytes += len;
	if (len >= sizeof(s->tail) - 1) {
		memcpy(s->tail, ptr + len - (sizeof(s->tail) - 1), sizeof(s->tail) - 1);
		s->tail_len = sizeof(s->tail) - 1;
	} else {
		size_t keep = s->tail_len + len < sizeof(s->tail) - 1 ? s->tail_len : sizeof(s->tail) - 1 - len;
		memmove(s->tail, s->tail + s->tail_len - keep, keep);
		memcpy(s->tail + keep, ptr, len);
		s->tail_len = keep + len;
	}
	s->tail[s->tail_len] = '\0';
	return len;
}

static int get(CURL *curl, const char *url, const char *post, struct sink *sink)
{
	long code = 0;
	sink->tail_len = 0;
	sink->tail[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (post)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
	else
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 600L);
	if (curl_easy_perform(curl) != CURLE_OK)
		return -1;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		fprintf(stderr, "sync_readers: %s: HTTP %ld: %s\n", url, code, sink->tail);
		return -1;
	}
	return 0;
}

static long long cursor_of(const char *tail)
{
	const char *c = strstr(tail, "\"cursor\":");
	return c ? atoll(c + 9) : -1;
}

/* Feature upserts of about 270 bytes of log each, as bench/gen's layers have. */
static int seed(const char *url, long features)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	size_t cap = 8u << 20;
	char *body = malloc(cap), push_url[600];
	struct sink sink = { "", 0, 0 };
	if (!curl || !headers || !body)
		return 1;
	snprintf(push_url, sizeof(push_url), "%s/push", url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	long long base = 0;
	for (long done = 0; done < features;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		unsigned long long ms = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
		size_t len = (size_t)snprintf(body, cap, "{\"client_id\":\"seed\",\"base\":%lld,\"ops\":[", base);
		for (long k = 0; k < 5000 && done < features; k++, done++)
			len += (size_t)snprintf(body + len, cap - len,
				"%s{\"op_id\":\"s%ld\",\"hlc\":\"%012llx-%04lx-seed\",\"verb\":\"upsert\",\"subject\":\"feature\","
				"\"metadata\":{\"id\":\"f%07ld\",\"layerId\":\"L\",\"featureType\":\"marker\"},"
				"\"value\":{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[%.5f,%.5f]},"
				"\"properties\":{\"name\":\"point %ld\",\"kind\":\"bench\",\"n\":%ld}}}",
				k ? "," : "", done, ms, (unsigned long)k, done, 4.8 + (double)(done % 1000) / 10000.0,
				45.7 + (double)(done / 1000) / 10000.0, done, done);
		len += (size_t)snprintf(body + len, cap - len, "]}");
		if (get(curl, push_url, body, &sink))
			return 1;
		base = cursor_of(sink.tail);
	}
	curl_slist_free_all(headers);
	free(body);
	curl_easy_cleanup(curl);
	return 0;
}

static int readers_done;

struct reader {
	const char *url;
	double seconds;
	unsigned long long bytes;
	int failed;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	CURL *curl = curl_easy_init();
	struct sink sink = { "", 0, 0 };
	char url[700];
	double t0 = now_s();
	long long cursor = 0;
	for (;;) {
		snprintf(url, sizeof(url), "%s/pull?since=%lld&limit=10000", r->url, cursor);
		if (get(curl, url, NULL, &sink)) {
			r->failed = 1;
			break;
		}
		long long next = cursor_of(sink.tail);
		if (!strstr(sink.tail, "\"more\":true") || next <= cursor)
			break;
		cursor = next;
	}
	snprintf(url, sizeof(url), "%s/snapshot", r->url);
	if (!r->failed && get(curl, url, NULL, &sink))
		r->failed = 1;
	r->seconds = now_s() - t0;
	r->bytes = sink.bytes;
	curl_easy_cleanup(curl);
	__atomic_add_fetch(&readers_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Pushes one-op edits to a third map every 10 ms while the readers read: the writer commits
 * (and the WAL grows) beside their read transactions. */
struct pusher {
	char url[600];
	int nreaders;
	size_t pushes;
	int failed;
};

static void *pusher_main(void *arg)
{
	struct pusher *p = arg;
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	struct sink sink = { "", 0, 0 };
	char body[1024];
	long long base = 0;
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	while (__atomic_load_n(&readers_done, __ATOMIC_ACQUIRE) < p->nreaders) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		unsigned long long ms = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
		snprintf(body, sizeof(body),
			 "{\"client_id\":\"side\",\"base\":%lld,\"ops\":[{\"op_id\":\"p%zu\",\"hlc\":\"%012llx-0000-side\","
			 "\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"s%zu\",\"layerId\":\"L\",\"featureType\":\"marker\"},"
			 "\"value\":{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.85,45.76]},\"properties\":{\"n\":%zu}}}]}",
			 base, p->pushes, ms, p->pushes, p->pushes);
		if (get(curl, p->url, body, &sink)) {
			p->failed = 1;
			break;
		}
		base = cursor_of(sink.tail);
		p->pushes++;
		usleep(10000);
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *what, double *ms, size_t n)
{
	qsort(ms, n, sizeof(double), cmp);
	printf("%s: %zu pulls, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", what, n, n ? ms[n / 2] : 0,
	       n ? ms[(size_t)((double)n * 0.99)] : 0, n ? ms[n - 1] : 0);
}

/* The process's VmHWM in KB, after resetting it with `reset`; -1 when it cannot be read. */
static long peak_kb(int pid, int reset)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, reset ? "clear_refs" : "status");
	FILE *f = fopen(path, reset ? "w" : "r");
	if (!f)
		return -1;
	if (reset)
		kb = fputs("5\n", f) < 0 ? -1 : 0;
	else
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "VmHWM:", 6))
				kb = atol(line + 6);
	return fclose(f) ? -1 : kb;
}

/* The process's VmRSS in KB, -1 when it cannot be read. */
static long rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = atol(line + 6);
	fclose(f);
	return kb;
}

static int read_phase(const char *big, const char *small, int nreaders, int idle_probes, int server_pid)
{
	CURL *curl = curl_easy_init();
	struct sink sink = { "", 0, 0 };
	char url[700];
	size_t cap = 100000, n = 0;
	double *ms = malloc(cap * sizeof(double));
	if (!curl || !ms)
		return 1;
	snprintf(url, sizeof(url), "%s/pull?since=0&limit=100", small);
	for (int i = 0; i < idle_probes; i++) {
		double t0 = now_s();
		if (get(curl, url, NULL, &sink))
			return 1;
		ms[n++] = (now_s() - t0) * 1000;
		usleep(5000);
	}
	report("small pull, server idle", ms, n);
	long idle_rss = rss_kb(server_pid);
	if (peak_kb(server_pid, 1) < 0)
		fprintf(stderr, "sync_readers: cannot reset the peak RSS of process %d\n", server_pid);
	struct reader *readers = calloc((size_t)nreaders, sizeof(*readers));
	pthread_t *threads = calloc((size_t)nreaders, sizeof(*threads));
	double t0 = now_s();
	for (int i = 0; i < nreaders; i++) {
		readers[i].url = big;
		pthread_create(&threads[i], NULL, reader_main, &readers[i]);
	}
	struct pusher pusher = { "", nreaders, 0, 0 };
	pthread_t pusher_thread;
	snprintf(pusher.url, sizeof(pusher.url), "%sside/push", big);
	pthread_create(&pusher_thread, NULL, pusher_main, &pusher);
	n = 0;
	int errors = 0;
	while (__atomic_load_n(&readers_done, __ATOMIC_ACQUIRE) < nreaders && n < cap) {
		double p0 = now_s();
		if (get(curl, url, NULL, &sink))
			errors++;
		else
			ms[n++] = (now_s() - p0) * 1000;
		usleep(5000);
	}
	for (int i = 0; i < nreaders; i++)
		pthread_join(threads[i], NULL);
	pthread_join(pusher_thread, NULL);
	errors += pusher.failed;
	double total = now_s() - t0, slowest = 0;
	unsigned long long bytes = 0;
	for (int i = 0; i < nreaders; i++) {
		bytes += readers[i].bytes;
		errors += readers[i].failed;
		if (readers[i].seconds > slowest)
			slowest = readers[i].seconds;
	}
	report("small pull, beside the readers", ms, n);
	printf("server RSS: %ld KB idle, peak %ld KB beside the readers\n", idle_rss, peak_kb(server_pid, 0));
	printf("readers: %d, each a whole pull and a snapshot, %.1f MB in all, %.1f s (slowest reader %.1f s), errors %d\n",
	       nreaders, (double)bytes / 1e6, total, slowest, errors);
	printf("pushes beside them: %zu, one op each, to a third map\n", pusher.pushes);
	free(readers);
	free(threads);
	free(ms);
	curl_easy_cleanup(curl);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	int rc = 2;
	curl_global_init(CURL_GLOBAL_ALL);
	if (argc == 4 && !strcmp(argv[1], "seed"))
		rc = seed(argv[2], atol(argv[3]));
	else if (argc == 7 && !strcmp(argv[1], "read"))
		rc = read_phase(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
	else
		fprintf(stderr, "usage: sync_readers seed URL_OF_MAP FEATURES\n"
				"       sync_readers read URL_OF_BIG URL_OF_SMALL READERS IDLE_PROBES SERVER_PID\n");
	curl_global_cleanup();
	return rc;
}
