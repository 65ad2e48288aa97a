#!/bin/sh
# Builds and runs every libFuzzer target tests/fuzz/fuzz_<name>.c for FUZZ_SECONDS each.
# Called by `make fuzz`; prints one summary line per target (execs, cov, ft) and fails on a crash.
#
# Environment (set by the Makefile): FUZZ_BUILD (dir holding libumapsync.a built with the fuzz
# flags), FUZZ_CC, FUZZ_CFLAGS, FUZZ_LIBS, FUZZ_SECONDS, FUZZ_TARGETS (space-separated names to
# run, default all), FUZZ_JOBS_NICE (default 19: the machine is shared).
# A target names the lib/ sources it needs with a line "fuzz-requires: lib/x.c ...": it is
# skipped, with a message, until they exist.
set -u
cd "$(dirname "$0")/../.."
build=${FUZZ_BUILD:-build/fuzz}
seconds=${FUZZ_SECONDS:-60}
nice=${FUZZ_NICE:-19}
status=0
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT

for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	short=${name#fuzz_}
	if [ -n "${FUZZ_TARGETS:-}" ]; then
		case " $FUZZ_TARGETS " in *" $short "*) ;; *) continue ;; esac
	fi
	missing=""
	for need in $(sed -n 's/.*fuzz-requires:\(.*\)$/\1/p' "$src" | sed 's/\*\///'); do
		[ -e "$need" ] || missing="$missing $need"
	done
	if [ -n "$missing" ]; then
		echo "fuzz: $short: skipped, not built yet:$missing" | tee -a "$summary"
		continue
	fi
	bin="$build/fuzz/$name"
	mkdir -p "$build/fuzz" "$build/corpus/$short" "$build/artifacts/$short"
	# shellcheck disable=SC2086
	if ! $FUZZ_CC $FUZZ_CFLAGS -Ilib -Itests/fuzz -o "$bin" "$src" "$build/libumapsync.a" \
		$FUZZ_LIBS; then
		echo "fuzz: $short: does not build" | tee -a "$summary"
		status=1
		continue
	fi
	# Seeds: tests/fuzz/seeds/<short>/ plus the JSON files under the directories named on the
	# target's "fuzz-seeds:" line, copied into the working corpus, which grows run after run.
	seeds=""
	[ -d "tests/fuzz/seeds/$short" ] && seeds="tests/fuzz/seeds/$short"
	for dir in $(sed -n 's/.*fuzz-seeds:\(.*\)$/\1/p' "$src" | sed 's/\*\///'); do
		[ -d "$dir" ] || continue
		find "$dir" -type f \( -name '*.json' -o -name '*.geojson' -o -name '*.umap' \) \
			-size -64k -exec cp {} "$build/corpus/$short/" \;
	done
	dict="-dict=tests/fuzz/json.dict" # every input is JSON or made of JSON
	[ -f "tests/fuzz/$short.dict" ] && dict="-dict=tests/fuzz/$short.dict"
	log="$build/$short.log"
	echo "fuzz: $short: running for ${seconds}s (log: $log)"
	# shellcheck disable=SC2086
	nice -n "$nice" "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 $dict \
		-artifact_prefix="$build/artifacts/$short/" \
		"$build/corpus/$short" $seeds >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	line=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE).*cov:' "$log" | tail -1)
	cov=$(printf '%s\n' "$line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s\n' "$line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corpus=$(ls "$build/corpus/$short" | wc -l)
	if [ $rc -ne 0 ]; then
		crash=$(ls -t "$build/artifacts/$short" 2>/dev/null | head -1)
		echo "fuzz: $short: FAILED (exit $rc) after ${execs:-?} execs; input: $build/artifacts/$short/$crash" | tee -a "$summary"
		grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$log" | sed 's/^/fuzz:     /' | tee -a "$summary"
		status=1
	else
		echo "fuzz: $short: ${execs:-?} execs in ${seconds}s, cov ${cov:-?}, ft ${ft:-?}, corpus $corpus" | tee -a "$summary"
	fi
done
echo "---"
cat "$summary"
exit $status
