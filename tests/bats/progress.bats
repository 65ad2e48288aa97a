#!/usr/bin/env bats
# Progress on stderr for long work: drawn in place on a terminal, nothing otherwise.
# The long task is build/tests/test_progress --run (cmd/progress.c over a fake lib/ loop).

bats_require_minimum_version 1.5.0
load helper

ROOT=$BATS_TEST_DIRNAME/../..

setup_file() {
	export PROGRESS_TASK="${UNIT_DIR:-$ROOT/build/tests}/test_progress"
}

task() {
	[ -x "$PROGRESS_TASK" ] || fail "$PROGRESS_TASK is not built (make units)"
	"$PROGRESS_TASK" --run "Importing features" "$@"
}

@test "progress is quiet when stderr is not a terminal" {
	run_split task 40 5
	assert_success
	assert_output "work done"
	assert_equal "$stderr" ""
}

@test "progress on a terminal is redrawn in place and ends with ', done.'" {
	command -v script >/dev/null || skip "needs script(1)"
	[ -x "$PROGRESS_TASK" ] || fail "$PROGRESS_TASK is not built (make units)"
	run script -qec "$(printf '%q ' "$PROGRESS_TASK" --run "Importing features" 60 10)" /dev/null </dev/null
	assert_success
	# in place: the updates are separated by carriage returns, not new lines
	[[ $output == $'\rImporting features:   1% (1/60)\r'* ]]
	[[ $output == *$'\rImporting features: 100% (60/60), done.\r\nwork done\r' ]]
	local draws=${output//[^$'\r']/}
	((${#draws} >= 4)) # the first draw, two or more redraws, the final line
}

@test "stdout stays clean when only stdout is redirected" {
	command -v script >/dev/null || skip "needs script(1)"
	[ -x "$PROGRESS_TASK" ] || fail "$PROGRESS_TASK is not built (make units)"
	run script -qec "$(printf '%q ' "$PROGRESS_TASK" --run "Importing features" 20 0) >out.txt" /dev/null </dev/null
	assert_success
	assert_equal "$(cat out.txt)" "work done"
	[[ $output == *"Importing features: 100% (20/20), done."* ]]
}

@test "import shows its progress on a terminal, and is quiet otherwise" {
	command -v script >/dev/null || skip "needs script(1)"
	awk 'BEGIN {
		printf "{\"type\":\"FeatureCollection\",\"features\":[\n"
		for (i = 0; i < 3000; i++)
			printf "{\"type\":\"Feature\",\"id\":\"f%04d\",\"properties\":{\"name\":\"n %d\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[%d.5,1]}}%s\n", i, i, i % 180, (i < 2999 ? "," : "")
		printf "]}\n"
	}' >layer.geojson
	cp layer.geojson copy.geojson
	umapsync init >/dev/null
	run script -qec "$(printf '%q ' "$UMAPSYNC" import layer.geojson)" /dev/null </dev/null
	assert_success
	[[ $output == $'\r'"Importing features: "* ]]
	[[ $output == *$'\rImporting features: 100% (3000/3000), done.\r\nlayer.geojson: 1 layer, 3000 features\r\n[main (root-commit) '* ]]
	# on a pipe: nothing on stderr
	rm -rf .umapsync
	umapsync init >/dev/null
	run_split umapsync import copy.geojson
	assert_success
	assert_equal "$stderr" ""
}
