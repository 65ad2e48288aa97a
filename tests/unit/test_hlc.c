/* Unit tests for the hybrid logical clock: monotonicity whatever the physical clock does,
 * counter overflow, drift refusal, node tie-break, and the order-preserving encoding. */
#include "unit.h"

#include <stdlib.h>

#include "error.h"
#include "hlc.h"

static uint64_t fake_now;
static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static int later(const umap_hlc_ts *a, const umap_hlc_ts *b)
{
	return umap_hlc_compare(a, b) > 0;
}

TEST(now_follows_physical_clock)
{
	umap_hlc hlc;
	umap_hlc_ts t;
	fake_now = 1700000000000;
	CHECK_INT(umap_hlc_init(&hlc, "alice", fake_clock, NULL), 0);
	CHECK_INT(umap_hlc_now(&t, &hlc), 0);
	CHECK_INT(t.ms, 1700000000000);
	CHECK_INT(t.counter, 0);
	CHECK_STR(t.node, "alice");
	CHECK_INT(umap_hlc_now(&t, &hlc), 0); /* same millisecond: the counter moves */
	CHECK_INT(t.ms, 1700000000000);
	CHECK_INT(t.counter, 1);
	fake_now += 5;
	CHECK_INT(umap_hlc_now(&t, &hlc), 0);
	CHECK_INT(t.ms, 1700000000005);
	CHECK_INT(t.counter, 0);
}

TEST(monotonic_when_clock_goes_backwards)
{
	umap_hlc hlc;
	umap_hlc_ts prev, t;
	fake_now = 1700000000000;
	umap_hlc_init(&hlc, "n1", fake_clock, NULL);
	umap_hlc_now(&prev, &hlc);
	for (int i = 0; i < 1000; i++) {
		/* jumps back by up to 10 s, then creeps forward */
		fake_now = i % 100 == 0 ? fake_now - 10000 : fake_now + (uint64_t)(i % 3);
		CHECK_INT(umap_hlc_now(&t, &hlc), 0);
		CHECK(later(&t, &prev));
		prev = t;
	}
	CHECK(prev.ms >= 1700000000000); /* never below the highest physical time seen */
}

TEST(counter_overflow_moves_to_next_millisecond)
{
	umap_hlc hlc;
	umap_hlc_ts prev, t;
	fake_now = 1700000000000;
	umap_hlc_init(&hlc, "n1", fake_clock, NULL);
	umap_hlc_now(&prev, &hlc);
	for (uint32_t i = 0; i < 70000; i++) {
		if (umap_hlc_now(&t, &hlc) != 0 || !later(&t, &prev)) {
			CHECK(!"not monotonic across counter overflow");
			break;
		}
		prev = t;
	}
	CHECK_INT(t.ms, 1700000000001);
	CHECK_INT(t.counter, 70000 - 65536);
	/* receive with a full counter overflows the same way */
	umap_hlc_ts remote = { 1700000000001, 0xffff, "z" };
	CHECK_INT(umap_hlc_recv(&t, &hlc, &remote), 0);
	CHECK_INT(t.ms, 1700000000002);
	CHECK_INT(t.counter, 0);
}

TEST(receive_rules)
{
	umap_hlc hlc;
	umap_hlc_ts t;
	fake_now = 1000000;
	umap_hlc_init(&hlc, "b", fake_clock, NULL);
	umap_hlc_now(&t, &hlc); /* (1000000, 0) */
	/* remote ahead (within drift): adopt its millisecond, counter + 1 */
	umap_hlc_ts remote = { 1000500, 7, "a" };
	CHECK_INT(umap_hlc_recv(&t, &hlc, &remote), 0);
	CHECK_INT(t.ms, 1000500);
	CHECK_INT(t.counter, 8);
	CHECK_STR(t.node, "b");
	/* same millisecond on both: max of counters + 1 */
	remote.counter = 20;
	CHECK_INT(umap_hlc_recv(&t, &hlc, &remote), 0);
	CHECK_INT(t.counter, 21);
	/* remote behind: keep ours, counter + 1 */
	umap_hlc_ts old = { 5, 3, "a" };
	CHECK_INT(umap_hlc_recv(&t, &hlc, &old), 0);
	CHECK_INT(t.ms, 1000500);
	CHECK_INT(t.counter, 22);
	/* physical clock ahead of both: counter resets */
	fake_now = 2000000;
	CHECK_INT(umap_hlc_recv(&t, &hlc, &old), 0);
	CHECK_INT(t.ms, 2000000);
	CHECK_INT(t.counter, 0);
}

TEST(drift_is_refused_not_adopted)
{
	umap_hlc hlc;
	umap_hlc_ts t, before;
	fake_now = 1700000000000;
	umap_hlc_init(&hlc, "b", fake_clock, NULL);
	umap_hlc_now(&before, &hlc);
	umap_hlc_ts remote = { 1700000000000 + 60001, 0, "mallory" };
	CHECK_INT(umap_hlc_recv(&t, &hlc, &remote), UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "60.0 s ahead") != NULL);
	CHECK(strstr(umap_error_last(), "limit 60 s") != NULL);
	CHECK_INT(hlc.ms, before.ms); /* unchanged */
	CHECK_INT(hlc.counter, before.counter);
	remote.ms = 1700000000000 + 60000; /* exactly at the limit is accepted */
	CHECK_INT(umap_hlc_recv(&t, &hlc, &remote), 0);
	CHECK_INT(t.ms, remote.ms);
	CHECK_INT(umap_hlc_check_drift(&remote, 1700000000000, 60000), 0);
	remote.ms++;
	CHECK_INT(umap_hlc_check_drift(&remote, 1700000000000, 60000), UMAP_EINVALID);
}

TEST(tie_break_by_node)
{
	umap_hlc_ts a = { 42, 1, "alice" }, b = { 42, 1, "bob" }, c = { 42, 2, "alice" };
	CHECK_INT(umap_hlc_compare(&a, &b), -1);
	CHECK_INT(umap_hlc_compare(&b, &a), 1);
	CHECK_INT(umap_hlc_compare(&a, &a), 0);
	CHECK_INT(umap_hlc_compare(&b, &c), -1); /* counter before node */
}

TEST(encode_decode_round_trip)
{
	char s[UMAP_HLC_STR_MAX];
	umap_hlc_ts t = { 0x0192f3a1b2c3, 1, "nodeid" }, back;
	CHECK_INT(umap_hlc_encode(s, &t), 24);
	CHECK_STR(s, "0192f3a1b2c3-0001-nodeid");
	CHECK_INT(umap_hlc_decode(&back, s), 0);
	CHECK_INT(umap_hlc_compare(&t, &back), 0);
	umap_hlc_ts max = { UMAP_HLC_MS_MAX, 0xffff, "" };
	memset(max.node, 'z', UMAP_HLC_NODE_MAX);
	max.node[UMAP_HLC_NODE_MAX] = '\0';
	CHECK_INT(umap_hlc_encode(s, &max), UMAP_HLC_STR_MAX - 1);
	CHECK_INT(umap_hlc_decode(&back, s), 0);
	CHECK_INT(umap_hlc_compare(&max, &back), 0);
	const char *bad[] = { "", "0192f3a1b2c3-0001-", "0192F3A1B2C3-0001-n", "192f3a1b2c3-0001-n",
			      "0192f3a1b2c3-001-n", "0192f3a1b2c3_0001-n", "0192f3a1b2c3-0001-a b",
			      "0192f3a1b2c3-0001-a/b", NULL };
	for (int i = 0; bad[i]; i++)
		CHECK_INT(umap_hlc_decode(&back, bad[i]), UMAP_EINVALID);
	CHECK_INT(umap_hlc_decode(&back, NULL), UMAP_EINVALID);
}

TEST(string_order_is_time_order)
{
	/* the counter goes 9 -> 10 -> ffff and the millisecond crosses a hex digit boundary:
	 * unpadded encodings would sort these wrongly */
	umap_hlc_ts ts[] = { { 0xf, 9, "b" },     { 0xf, 10, "a" },   { 0xf, 10, "b" },
			     { 0xf, 0xffff, "a" }, { 0x10, 0, "a" },   { 0x10, 0, "a-" },
			     { 0xfff, 0, "a" },   { 0x1000, 0, "Z" }, { UMAP_HLC_MS_MAX, 0, "0" } };
	size_t n = sizeof(ts) / sizeof(ts[0]);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			char a[UMAP_HLC_STR_MAX], b[UMAP_HLC_STR_MAX];
			umap_hlc_encode(a, &ts[i]);
			umap_hlc_encode(b, &ts[j]);
			int sc = strcmp(a, b);
			sc = (sc > 0) - (sc < 0);
			if (sc != umap_hlc_compare(&ts[i], &ts[j])) {
				printf("# order differs: %s vs %s\n", a, b);
				CHECK(0);
			}
		}
	/* and for a random sample */
	srand(7);
	for (int k = 0; k < 20000; k++) {
		umap_hlc_ts x = { ((uint64_t)rand() << 17 ^ (uint64_t)rand()) & UMAP_HLC_MS_MAX,
				  (uint16_t)rand(), "n" }, y = x;
		if (k & 1)
			y.counter = (uint16_t)rand();
		else
			y.ms = ((uint64_t)rand() << 17 ^ (uint64_t)rand()) & UMAP_HLC_MS_MAX;
		char a[UMAP_HLC_STR_MAX], b[UMAP_HLC_STR_MAX];
		umap_hlc_encode(a, &x);
		umap_hlc_encode(b, &y);
		int sc = strcmp(a, b);
		if (((sc > 0) - (sc < 0)) != umap_hlc_compare(&x, &y)) {
			CHECK(!"random order mismatch");
			break;
		}
	}
}

TEST(node_ids_validated)
{
	umap_hlc hlc;
	CHECK_INT(umap_hlc_init(&hlc, "", NULL, NULL), UMAP_EINVALID);
	CHECK_INT(umap_hlc_init(&hlc, "a.b", NULL, NULL), UMAP_EINVALID);
	char longid[UMAP_HLC_NODE_MAX + 2];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	CHECK_INT(umap_hlc_init(&hlc, longid, NULL, NULL), UMAP_EINVALID);
	longid[UMAP_HLC_NODE_MAX] = '\0';
	CHECK_INT(umap_hlc_init(&hlc, longid, NULL, NULL), 0);
	umap_hlc_ts t;
	CHECK_INT(umap_hlc_now(&t, &hlc), 0); /* the system clock */
	CHECK(t.ms > UINT64_C(1600000000000));
}

TEST(restore_only_moves_forward)
{
	umap_hlc hlc;
	umap_hlc_ts t, last = { 5000, 3, "n" };
	fake_now = 1000;
	umap_hlc_init(&hlc, "n", fake_clock, NULL);
	umap_hlc_restore(&hlc, &last);
	CHECK_INT(umap_hlc_now(&t, &hlc), 0);
	CHECK_INT(t.ms, 5000);
	CHECK_INT(t.counter, 4);
	umap_hlc_ts older = { 10, 0, "n" };
	umap_hlc_restore(&hlc, &older);
	CHECK_INT(hlc.ms, 5000);
}

int main(void)
{
	RUN(now_follows_physical_clock);
	RUN(monotonic_when_clock_goes_backwards);
	RUN(counter_overflow_moves_to_next_millisecond);
	RUN(receive_rules);
	RUN(drift_is_refused_not_adopted);
	RUN(tie_break_by_node);
	RUN(encode_decode_round_trip);
	RUN(string_order_is_time_order);
	RUN(node_ids_validated);
	RUN(restore_only_moves_forward);
	return UNIT_DONE();
}
