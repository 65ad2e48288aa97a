#!/bin/sh
# Runs the C unit tests and the bats suites, and ends with "check: N passed, N failed".
# Environment: UMAPSYNC (binary under test), UNIT_DIR (unit test binaries), UNIT_WRAPPER
# (e.g. valgrind), UMAPSYNC_SKIP_BATS=1 to run the unit tests only, BATS_FILTER=regex.
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
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
	blog=$(mktemp)
	bats --tap ${BATS_FILTER:+--filter "$BATS_FILTER"} tests/bats >"$blog" 2>&1 || status=1
	cat "$blog"
	cat "$blog" >>"$log"
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
