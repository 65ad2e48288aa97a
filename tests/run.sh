#!/bin/sh
# Runs the C unit tests and the bats suites, and ends with "check: N passed, N failed".
# Environment: UMAPSYNC (binary under test), UNIT_DIR (unit test binaries), UNIT_WRAPPER
# (e.g. valgrind), UMAPSYNC_SKIP_BATS=1 to run the unit tests only, BATS_FILTER=regex.
# The sync suites run twice: on SQLite, then on PostgreSQL (UMAPSYNC_TEST_STORE=pg) in a
# throwaway cluster started here (scripts/pg-test-cluster.sh) and stopped at the end, unless
# UMAPSYNC_PG_DIR names a running one.
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
pg_dir=
cleanup() {
	rm -f "$log"
	if [ -n "$pg_dir" ]; then
		sh scripts/pg-test-cluster.sh stop "$pg_dir" || true
		rm -rf "$pg_dir"
	fi
}
trap cleanup EXIT
status=0

for test in "${UNIT_DIR:-build/tests}"/test_*; do
	[ -x "$test" ] || continue
	# shellcheck disable=SC2086
	${UNIT_WRAPPER:-} "$test" >>"$log" 2>&1 || {
		echo "not ok - $(basename "$test") exited with status $?" >>"$log"
		status=1
	}
done
cat "$log"

if [ "${UMAPSYNC_SKIP_BATS:-0}" != 1 ]; then
	if [ -z "${UMAPSYNC_PG_DIR:-}" ]; then
		pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/umapsync-pg.XXXXXX")
		if sh scripts/pg-test-cluster.sh start "$pg_dir" >/dev/null; then
			UMAPSYNC_PG_DIR=$pg_dir
			export UMAPSYNC_PG_DIR
		else
			echo "not ok - the PostgreSQL test cluster did not start (scripts/pg-test-cluster.sh)" >>"$log"
			status=1
		fi
	fi
	blog=$(mktemp)
	bats --tap ${BATS_FILTER:+--filter "$BATS_FILTER"} tests/bats >"$blog" 2>&1 || status=1
	cat "$blog"
	cat "$blog" >>"$log"
	# the suites that exercise every store call, again on PostgreSQL
	if [ -n "${UMAPSYNC_PG_DIR:-}" ]; then
		UMAPSYNC_TEST_STORE=pg bats --tap ${BATS_FILTER:+--filter "$BATS_FILTER"} \
			tests/bats/sync.bats tests/bats/sync-client-state.bats tests/bats/serve.bats tests/bats/token.bats 2>&1 |
			sed 's/^\(not ok\|ok\) \([0-9]*\) /\1 \2 [postgresql] /' >"$blog"
		grep -q '^not ok' "$blog" && status=1
		cat "$blog"
		cat "$blog" >>"$log"
	fi
	rm -f "$blog"
fi

# A test that writes into the bundled data would corrupt every later run: catch it here.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
	! git diff --quiet -- examples tests/fixtures 2>/dev/null; then
	echo "not ok - the test run modified tracked files under examples/ or tests/fixtures/:" >>"$log"
	git diff --stat -- examples tests/fixtures | sed 's/^/# /' >>"$log"
	tail -n 3 "$log"
	status=1
fi

passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^not ok ' "$log")
skipped=$(grep -c '^ok .* # skip' "$log")
passed=$((passed - skipped))
[ "$failed" -gt 0 ] && status=1
if [ "$skipped" -gt 0 ]; then
	echo "check: $passed passed, $failed failed, $skipped skipped"
else
	echo "check: $passed passed, $failed failed"
fi
exit $status
