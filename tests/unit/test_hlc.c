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
	umap_hlc_ts t = { 1625097600000, 42, "abc-123" }, back;
	/* uMap's hlc.js: serialize() of (1625097600000, 42, 'abc-123') */
	CHECK_INT(umap_hlc_encode(s, &t), 24);
	CHECK_STR(s, "1625097600000:42:abc-123");
	CHECK_INT(umap_hlc_decode(&back, s), 0);
	CHECK_INT(umap_hlc_compare(&t, &back), 0);
	umap_hlc_ts max = { UMAP_HLC_MS_MAX, UINT32_MAX, "" };
	memset(max.node, 'z', UMAP_HLC_NODE_MAX);
	max.node[UMAP_HLC_NODE_MAX] = '\0';
	CHECK(umap_hlc_encode(s, &max) < UMAP_HLC_STR_MAX);
	CHECK_INT(umap_hlc_decode(&back, s), 0);
	CHECK_INT(umap_hlc_compare(&max, &back), 0);
	/* hlc.js: parse() rejects these; we also refuse what is not decimal or too large */
	const char *bad[] = { "", "invalid", "123:456", "123:456:789:000", ":1:a", "12a:1:a",
			      "1:1:", "1:1:a b", "1:1:a/b", "-1:0:a", "1:-1:a", "1:4294967296:a",
			      "281474976710656:0:a", "0192F3A1B2C3-0001-n", "192f3a1b2c3-0001-n",
			      "0192f3a1b2c3-001-n", "0192f3a1b2c3-0001-", NULL };
	for (int i = 0; bad[i]; i++) {
		if (umap_hlc_decode(&back, bad[i]) != UMAP_EINVALID)
			printf("# accepted '%s'\n", bad[i]);
		CHECK_INT(umap_hlc_decode(&back, bad[i]), UMAP_EINVALID);
	}
	CHECK_INT(umap_hlc_decode(&back, NULL), UMAP_EINVALID);
	CHECK(strstr(umap_error_last(), "WALLTIME:NN:ID") != NULL);
	/* hlc.js: an empty counter reads as 0 */
	CHECK_INT(umap_hlc_decode(&back, "1625097600000::abc-123"), 0);
	CHECK_INT(back.ms, 1625097600000);
	CHECK_INT(back.counter, 0);
	CHECK_STR(back.node, "abc-123");
	CHECK_INT(umap_hlc_decode(&back, "281474976710655:4294967295:a"), 0);
	CHECK_INT(back.counter, 4294967295u);
}

TEST(former_hex_form_is_still_read)
{
	/* op logs and sync state written before the switch to uMap's form keep working */
	umap_hlc_ts back;
	CHECK_INT(umap_hlc_decode(&back, "0192f3a1b2c3-0001-nodeid"), 0);
	CHECK_INT(back.ms, 0x0192f3a1b2c3);
	CHECK_INT(back.counter, 1);
	CHECK_STR(back.node, "nodeid");
	/* and it orders by value against uMap's form */
	char now[UMAP_HLC_STR_MAX];
	umap_hlc_ts later = { 0x0192f3a1b2c3, 2, "a" };
	umap_hlc_encode(now, &later);
	CHECK_INT(umap_hlc_compare_str("0192f3a1b2c3-0001-nodeid", now), -1);
	CHECK_INT(umap_hlc_compare_str(now, "0192f3a1b2c3-0001-nodeid"), 1);
}

TEST(order_is_parsed_never_string)
{
	/* strcmp gets these wrong in uMap's form: counter 9 -> 10, 999 ms -> 1000 ms */
	CHECK(strcmp("1000:10:a", "1000:9:a") < 0);
	CHECK_INT(umap_hlc_compare_str("1000:10:a", "1000:9:a"), 1);
	CHECK_INT(umap_hlc_compare_str("999:0:a", "1000:0:a"), -1);
	CHECK_INT(umap_hlc_compare_str("1000:0:b", "1000:0:a"), 1);
	CHECK_INT(umap_hlc_compare_str("1000::a", "1000:0:a"), 0);
	CHECK_INT(umap_hlc_compare_str(NULL, "1000:0:a"), -1);
	CHECK_INT(umap_hlc_compare_str("junk", "1:0:a"), -1);
	CHECK_INT(umap_hlc_compare_str("1:0:a", "junk"), 1);
	CHECK_INT(umap_hlc_compare_str("junk", "junk"), 0);
	umap_hlc_ts ts[] = { { 0xf, 9, "b" },     { 0xf, 10, "a" },   { 0xf, 10, "b" },
			     { 0xf, 0xffff, "a" }, { 0x10, 0, "a" },   { 0x10, 0, "a-" },
			     { 999, 0, "a" },     { 1000, 0, "Z" },   { UMAP_HLC_MS_MAX, 0, "0" } };
	size_t n = sizeof(ts) / sizeof(ts[0]);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			char a[UMAP_HLC_STR_MAX], b[UMAP_HLC_STR_MAX];
			umap_hlc_encode(a, &ts[i]);
			umap_hlc_encode(b, &ts[j]);
			if (umap_hlc_compare_str(a, b) != umap_hlc_compare(&ts[i], &ts[j])) {
				printf("# order differs: %s vs %s\n", a, b);
				CHECK(0);
			}
		}
}

TEST(umap_hlc_js_cases)
{
	/* the cases of uMap's unittests/hlc.js, on our clock */
	umap_hlc hlc;
	umap_hlc_ts t, remote;
	/* tick: the physical clock is ahead: walltime moves, counter 0 */
	fake_now = 1625097600000;
	umap_hlc_init(&hlc, "test", fake_clock, NULL);
	hlc.ms = fake_now - 1000;
	CHECK_INT(umap_hlc_now(&t, &hlc), 0);
	CHECK_INT(t.ms, fake_now);
	CHECK_INT(t.counter, 0);
	/* tick: same millisecond, counter 5 -> 6 */
	hlc.ms = fake_now;
	hlc.counter = 5;
	CHECK_INT(umap_hlc_now(&t, &hlc), 0);
	CHECK_INT(t.ms, fake_now);
	CHECK_INT(t.counter, 6);
	/* receive: now greater than both: now, counter 0, our id */
	umap_hlc_init(&hlc, "local", fake_clock, NULL);
	hlc.ms = fake_now - 1000;
	CHECK_INT(umap_hlc_decode(&remote, "1625097599500:0:remote"), 0);
	CHECK_INT(umap_hlc_recv(&t, &hlc, &remote), 0);
	CHECK_INT(t.ms, fake_now);
	CHECK_INT(t.counter, 0);
	CHECK_STR(t.node, "local");
	/* receive: equal times: max(5, 7) + 1 */
	hlc.ms = fake_now;
	hlc.counter = 5;
	CHECK_INT(umap_hlc_decode(&remote, "1625097600000:7:remote"), 0);
	CHECK_INT(umap_hlc_recv(&t, &hlc, &remote), 0);
	CHECK_INT(t.counter, 8);
	CHECK_STR(t.node, "local");
	/* receive: remote greater: its time, its counter + 1 */
	hlc.ms = fake_now - 1000;
	hlc.counter = 5;
	CHECK_INT(umap_hlc_decode(&remote, "1625097600010:7:remote"), 0);
	CHECK_INT(umap_hlc_recv(&t, &hlc, &remote), 0);
	CHECK_INT(t.ms, 1625097600010);
	CHECK_INT(t.counter, 8);
	/* receive: local greater: ours, counter + 1 */
	hlc.ms = fake_now;
	hlc.counter = 5;
	CHECK_INT(umap_hlc_decode(&remote, "1625097599000:7:remote"), 0);
	CHECK_INT(umap_hlc_recv(&t, &hlc, &remote), 0);
	CHECK_INT(t.ms, fake_now);
	CHECK_INT(t.counter, 6);
	/* causal order across tick, time passing, receive, tick, time passing, tick */
	char ev[4][UMAP_HLC_STR_MAX];
	umap_hlc_init(&hlc, "abc", fake_clock, NULL);
	umap_hlc_now(&t, &hlc);
	umap_hlc_encode(ev[0], &t);
	fake_now += 100;
	umap_hlc_now(&t, &hlc);
	umap_hlc_encode(ev[1], &t);
	remote = (umap_hlc_ts){ fake_now - 50, 5, "remote-id" };
	umap_hlc_recv(&t, &hlc, &remote);
	umap_hlc_now(&t, &hlc);
	umap_hlc_encode(ev[2], &t);
	fake_now += 1000;
	umap_hlc_now(&t, &hlc);
	umap_hlc_encode(ev[3], &t);
	for (int i = 0; i < 3; i++)
		CHECK_INT(umap_hlc_compare_str(ev[i], ev[i + 1]), -1);
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
	RUN(former_hex_form_is_still_read);
	RUN(order_is_parsed_never_string);
	RUN(umap_hlc_js_cases);
	RUN(node_ids_validated);
	RUN(restore_only_moves_forward);
	return UNIT_DONE();
}
