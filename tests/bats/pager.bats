#!/usr/bin/env bats
# Long output (diff, log, show) goes through a pager when stdout is a terminal, as in git;
# never into a pipe or a file, nor with --no-pager. script(1) provides the terminal.

load helper

setup() {
	TEST_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/umapsync-test.XXXXXX")
	export HOME="$TEST_DIR/.home"
	mkdir -p "$HOME"
	cd "$TEST_DIR" || return 1
	command -v script >/dev/null || skip "needs script(1)"
	export UMAPSYNC_PAGER='sed s/^/PAGER:/'
	A=$EXAMPLES/bike-parking.geojson
	B=$EXAMPLES/bike-parking-alice.geojson
}

# on_tty_raw COMMAND...: runs COMMAND with a terminal as stdin, stdout and stderr and prints
# what the terminal showed, without carriage returns; keeps COMMAND's exit status.
on_tty_raw() {
	local cmd
	printf -v cmd '%q ' "$@"
	script -qec "$cmd" /dev/null </dev/null | sed -e 's/\r$//'
	return "${PIPESTATUS[0]}"
}

# on_tty COMMAND...: the same without colours (diff colours its output on a terminal).
on_tty() {
	on_tty_raw "$@" | sed -e 's/\x1b\[[0-9;]*m//g'
	return "${PIPESTATUS[0]}"
}

make_repo() {
	"$UMAPSYNC" init >/dev/null
	cp "$A" parking.geojson
	"$UMAPSYNC" import parking.geojson >/dev/null
	cp "$B" parking.geojson
	"$UMAPSYNC" commit -m "Alice's survey" >/dev/null
}

@test "diff on a terminal goes through UMAPSYNC_PAGER, every line of it" {
	run on_tty "$UMAPSYNC" diff "$A" "$B"
	assert_success
	assert_line --index 0 'PAGER:modified feature zP5kR "Bellecour"'
	refute_line --regexp '^[^P]' # nothing reached the terminal around the pager
	assert_equal "${#lines[@]}" "$("$UMAPSYNC" diff "$A" "$B" | wc -l)"
}

@test "diff into a pipe or a file, or with --no-pager, or UMAPSYNC_PAGER=cat, is not paged" {
	run on_tty bash -c '"$0" diff "$1" "$2" | cat' "$UMAPSYNC" "$A" "$B"
	assert_line --index 0 'modified feature zP5kR "Bellecour"'
	refute_output --partial 'PAGER:'
	on_tty bash -c '"$0" diff "$1" "$2" >out.txt' "$UMAPSYNC" "$A" "$B"
	run cat out.txt
	assert_line --index 0 'modified feature zP5kR "Bellecour"'
	refute_output --partial 'PAGER:'
	run on_tty "$UMAPSYNC" --no-pager diff "$A" "$B"
	assert_line --index 0 'modified feature zP5kR "Bellecour"'
	refute_output --partial 'PAGER:'
	run on_tty env UMAPSYNC_PAGER=cat "$UMAPSYNC" diff "$A" "$B"
	assert_line --index 0 'modified feature zP5kR "Bellecour"'
	refute_output --partial 'PAGER:'
}

@test "PAGER is used when UMAPSYNC_PAGER is not set" {
	run on_tty env -u UMAPSYNC_PAGER PAGER='sed s/^/P2:/' "$UMAPSYNC" diff "$A" "$B"
	assert_line --index 0 'P2:modified feature zP5kR "Bellecour"'
}

@test "the exit status survives the pager, and diff --quiet starts no pager" {
	run on_tty "$UMAPSYNC" diff --exit-code "$A" "$B"
	assert_equal "$status" 1
	assert_line --index 0 'PAGER:modified feature zP5kR "Bellecour"'
	run on_tty env UMAPSYNC_PAGER='echo pager started; cat' "$UMAPSYNC" diff --quiet "$A" "$B"
	assert_equal "$status" 1
	assert_output ""
}

@test "log and show on a terminal go through the pager; their errors do not" {
	make_repo
	run on_tty "$UMAPSYNC" log --format=oneline
	assert_success
	assert_line --index 0 --regexp "^PAGER:[0-9a-f]{7} Alice's survey$"
	assert_line --index 1 --regexp '^PAGER:[0-9a-f]{7} Import parking.geojson$'
	run on_tty "$UMAPSYNC" show
	assert_success
	assert_line --index 0 --regexp '^PAGER:commit [0-9a-f]{40}$'
	assert_line 'PAGER:modified feature zP5kR "Bellecour"'
	run on_tty "$UMAPSYNC" show no-such-revision
	assert_equal "$status" 128
	assert_output "fatal: unknown revision 'no-such-revision'"
}

@test "through the pager the text diff keeps its colours, unless NO_COLOR" {
	run on_tty_raw "$UMAPSYNC" diff "$A" "$B"
	[[ $output == *$'PAGER:\e[1m\e[33mmodified feature zP5kR "Bellecour"\e[m'* ]]
	run on_tty_raw env NO_COLOR=1 "$UMAPSYNC" diff "$A" "$B"
	[[ $output != *$'\e['* ]]
	assert_line --index 0 'PAGER:modified feature zP5kR "Bellecour"'
}
