/* Hybrid logical clocks: the send and receive rules of Kulkarni et al., the drift guard,
 * and uMap's "WALLTIME:NN:ID" encoding (plus reading our former hex one). */
#include "hlc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"

uint64_t umap_hlc_system_clock(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int node_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int umap_hlc_valid_node(const char *node)
{
	size_t n = 0;
	if (!node)
		return 0;
	for (; node[n]; n++)
		if (n >= UMAP_HLC_NODE_MAX || !node_char((unsigned char)node[n]))
			return 0;
	return n > 0;
}

int umap_hlc_init(umap_hlc *hlc, const char *node, umap_hlc_clock_fn clock, void *clock_ctx)
{
	memset(hlc, 0, sizeof(*hlc));
	if (!umap_hlc_valid_node(node))
		return umap_error_set(UMAP_EINVALID,
				      "invalid clock node id '%s': use 1 to %d characters of A-Z a-z 0-9 _ -",
				      node ? node : "", UMAP_HLC_NODE_MAX);
	strcpy(hlc->node, node);
	hlc->clock = clock ? clock : umap_hlc_system_clock;
	hlc->clock_ctx = clock_ctx;
	hlc->max_drift_ms = UMAP_HLC_MAX_DRIFT_MS;
	return 0;
}

void umap_hlc_restore(umap_hlc *hlc, const umap_hlc_ts *last)
{
	if (last->ms > hlc->ms || (last->ms == hlc->ms && last->counter > hlc->counter)) {
		hlc->ms = last->ms;
		hlc->counter = last->counter;
	}
}

/* Sets the clock to (ms, counter), where counter may be above 0xffff: the counter is
 * full, so the logical time moves to the next millisecond instead. That is what waiting for
 * the physical clock would give, without blocking; the logical clock runs at most one
 * millisecond ahead per 65536 events in the same millisecond. */
static int hlc_set(umap_hlc *hlc, uint64_t ms, uint64_t counter)
{
	if (counter > UMAP_HLC_COUNTER_MAX) {
		ms++;
		counter = 0;
	}
	if (ms > UMAP_HLC_MS_MAX)
		return umap_error_set(UMAP_ELIMIT, "hybrid logical clock overflow (time beyond 48 bits)");
	hlc->ms = ms;
	hlc->counter = counter;
	return 0;
}

static void hlc_stamp(umap_hlc_ts *out, const umap_hlc *hlc)
{
	out->ms = hlc->ms;
	out->counter = hlc->counter;
	strcpy(out->node, hlc->node);
}

int umap_hlc_now(umap_hlc_ts *out, umap_hlc *hlc)
{
	uint64_t pt = hlc->clock(hlc->clock_ctx);
	int err;
	if (pt > hlc->ms)
		err = hlc_set(hlc, pt, 0);
	else
		err = hlc_set(hlc, hlc->ms, hlc->counter + 1);
	if (err)
		return err;
	hlc_stamp(out, hlc);
	return 0;
}

int umap_hlc_check_drift(const umap_hlc_ts *ts, uint64_t now_ms, uint64_t max_drift_ms)
{
	if (ts->ms > now_ms && ts->ms - now_ms > max_drift_ms) {
		char enc[UMAP_HLC_STR_MAX];
		umap_hlc_encode(enc, ts);
		return umap_error_set(UMAP_EINVALID,
				      "time %s from node '%s' is %.1f s ahead of this clock (limit %.0f s); "
				      "check that node's system clock",
				      enc, ts->node, (double)(ts->ms - now_ms) / 1000.0,
				      (double)max_drift_ms / 1000.0);
	}
	return 0;
}

int umap_hlc_recv(umap_hlc_ts *out, umap_hlc *hlc, const umap_hlc_ts *remote)
{
	uint64_t pt = hlc->clock(hlc->clock_ctx);
	int err = umap_hlc_check_drift(remote, pt, hlc->max_drift_ms);
	if (err)
		return err;
	uint64_t old = hlc->ms, ms = old;
	if (remote->ms > ms)
		ms = remote->ms;
	if (pt > ms)
		ms = pt;
	/* 64 bits: a remote counter of UINT32_MAX plus one must not wrap to 0 */
	uint64_t counter;
	if (ms == old && ms == remote->ms)
		counter = (uint64_t)(hlc->counter > remote->counter ? hlc->counter : remote->counter) + 1u;
	else if (ms == old)
		counter = (uint64_t)hlc->counter + 1;
	else if (ms == remote->ms)
		counter = (uint64_t)remote->counter + 1;
	else
		counter = 0;
	if ((err = hlc_set(hlc, ms, counter)))
		return err;
	hlc_stamp(out, hlc);
	return 0;
}

int umap_hlc_compare(const umap_hlc_ts *a, const umap_hlc_ts *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->counter != b->counter)
		return a->counter < b->counter ? -1 : 1;
	int c = strcmp(a->node, b->node);
	return (c > 0) - (c < 0);
}

int umap_hlc_compare_str(const char *a, const char *b)
{
	umap_hlc_ts ta, tb;
	int ok_a = a && !umap_hlc_parse(&ta, a), ok_b = b && !umap_hlc_parse(&tb, b);
	if (ok_a && ok_b)
		return umap_hlc_compare(&ta, &tb);
	if (ok_a != ok_b)
		return ok_a ? 1 : -1;
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	int c = strcmp(a, b);
	return (c > 0) - (c < 0);
}

size_t umap_hlc_encode(char out[UMAP_HLC_STR_MAX], const umap_hlc_ts *ts)
{
	int n = snprintf(out, UMAP_HLC_STR_MAX, "%llu:%lu:%s",
			 (unsigned long long)(ts->ms & UMAP_HLC_MS_MAX), (unsigned long)ts->counter, ts->node);
	return n < 0 ? 0 : (size_t)n;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* the former form was written in lower case only */
}

/* Our former "MMMMMMMMMMMM-CCCC-NODE" (fixed-width lower-case hex). */
static int parse_hex_form(umap_hlc_ts *out, const char *str)
{
	uint64_t ms = 0;
	uint32_t counter = 0;
	size_t i;
	for (i = 0; i < 12; i++) {
		int v = hex_value((unsigned char)str[i]);
		if (v < 0)
			return -1;
		ms = ms << 4 | (unsigned)v;
	}
	if (str[12] != '-')
		return -1;
	for (i = 13; i < 17; i++) {
		int v = hex_value((unsigned char)str[i]);
		if (v < 0)
			return -1;
		counter = counter << 4 | (unsigned)v;
	}
	if (str[17] != '-' || !umap_hlc_valid_node(str + 18))
		return -1;
	out->ms = ms;
	out->counter = counter;
	strcpy(out->node, str + 18);
	return 0;
}

/* Decimal digits from *p up to `stop`, at most `max`; empty gives 0 when allowed. */
static int parse_decimal(uint64_t *out, const char **p, int stop, uint64_t max, int allow_empty)
{
	const char *s = *p;
	uint64_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -1;
	}
	if (*s != stop || (s == *p && !allow_empty))
		return -1;
	*out = v;
	*p = s + 1;
	return 0;
}

/* uMap's "WALLTIME:NN:NODE". */
static int parse_umap_form(umap_hlc_ts *out, const char *str)
{
	uint64_t ms, counter;
	const char *p = str;
	if (parse_decimal(&ms, &p, ':', UMAP_HLC_MS_MAX, 0) ||
	    parse_decimal(&counter, &p, ':', UINT32_MAX, 1) || !umap_hlc_valid_node(p))
		return -1;
	out->ms = ms;
	out->counter = (uint32_t)counter;
	strcpy(out->node, p);
	return 0;
}

int umap_hlc_parse(umap_hlc_ts *out, const char *str)
{
	if (!str)
		return -1;
	return strchr(str, ':') ? parse_umap_form(out, str) : parse_hex_form(out, str);
}

int umap_hlc_decode(umap_hlc_ts *out, const char *str)
{
	if (!umap_hlc_parse(out, str))
		return 0;
	return umap_error_set(UMAP_EINVALID,
			      "invalid hybrid logical clock '%.100s': expected uMap's WALLTIME:NN:ID "
			      "(decimal milliseconds, counter, node id; e.g. 1625097600000:0:alice)",
			      str ? str : "");
}
