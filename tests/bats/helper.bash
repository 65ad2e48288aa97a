# Shared set-up for every bats suite: the binary under test, bats-assert, a temp dir per test.
# Load with `load helper` at the top of a .bats file.

bats_load_library bats-support 2>/dev/null || load /usr/lib/bats/bats-support/load.bash
bats_load_library bats-assert 2>/dev/null || load /usr/lib/bats/bats-assert/load.bash

UMAPSYNC=${UMAPSYNC:-$BATS_TEST_DIRNAME/../../umapsync}
FIXTURES=$BATS_TEST_DIRNAME/../fixtures
EXAMPLES=$BATS_TEST_DIRNAME/../../examples
export UMAPSYNC FIXTURES EXAMPLES

# Tests must not depend on the user's git identity, colour or pager settings.
export GIT_AUTHOR_NAME="Test User" GIT_AUTHOR_EMAIL="test@example.org"
export GIT_COMMITTER_NAME="Test User" GIT_COMMITTER_EMAIL="test@example.org"
export GIT_CONFIG_NOSYSTEM=1 NO_COLOR= UMAPSYNC_PAGER=cat UMAPSYNC_NO_MAN=1
unset UMAPSYNC_TOKEN

setup() {
	TEST_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/umapsync-test.XXXXXX")
	export HOME="$TEST_DIR/.home"
	mkdir -p "$HOME"
	cd "$TEST_DIR" || return 1
}

teardown() {
	cd / || true
	[ -n "${TEST_DIR:-}" ] && rm -rf "$TEST_DIR"
}

umapsync() {
	"$UMAPSYNC" "$@"
}

# wait_for_port FILE PID LOG: waits (10 s at most) until the server PID has written its port
# to FILE; if PID dies first, shows its LOG and fails.
wait_for_port() {
	local i
	for i in $(seq 200); do
		[ -s "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || { cat "$3" >&2; return 1; }
		sleep 0.05
	done
	echo "no port in $1 after 10 s" >&2
	return 1
}

# run_split: like `run`, but keeps stdout and stderr apart in $output and $stderr.
run_split() {
	run --separate-stderr "$@"
}

# alice_ahead FILE BRANCH: a repository tracking FILE, first the example layer; BRANCH then
# holds Alice's edit (commit "alice": capacity 40 -> 64, Perrache added), and main is
# checked out, one commit behind.
alice_ahead() {
	umapsync init >/dev/null
	cp "$EXAMPLES"/bike-parking.geojson "$1"
	umapsync import "$1" >/dev/null
	umapsync branch "$2"
	umapsync checkout "$2" 2>/dev/null
	cp "$EXAMPLES"/bike-parking-alice.geojson "$1"
	umapsync commit -m "alice" >/dev/null
	umapsync checkout main 2>/dev/null
}

# alice_and_bob FILE BRANCH: alice_ahead, then main holds Bob's edit (commit "bob: covered,
# Opéra").
alice_and_bob() {
	alice_ahead "$1" "$2"
	cp "$EXAMPLES"/bike-parking-bob.geojson "$1"
	umapsync commit -m "bob: covered, Opéra" >/dev/null
}

# big_layer FILE N [ours|theirs]: a FeatureCollection of N features of about 230 bytes, one
# a line (over a megabyte from 5,000: what diff and merge-file read on two cores by
# halves); ours renames and removes some, theirs changes capacities and adds some.
big_layer() {
	awk -v n="$2" -v edit="${3:-}" 'BEGIN {
		print "{\"type\":\"FeatureCollection\",\"features\":["
		sep = ""
		for (i = 0; i < n; i++) {
			name = "Rue " i; capacity = i
			if (edit == "ours" && i % 89 == 5) continue
			if (edit == "ours" && i % 97 == 3) name = name " (ours)"
			if (edit == "theirs" && i % 83 == 7) capacity += 1000
			if (edit == "theirs" && i % 79 == 11) {
				printf "%s{\"type\":\"Feature\",\"id\":\"new%d\",\"properties\":{},\"geometry\":null}", sep, i
				sep = ",\n"
			}
			printf "%s{\"type\":\"Feature\",\"id\":\"f%d\",\"properties\":{\"name\":\"%s\",\"capacity\":%d,\"note\":\"a note that makes the feature a couple of hundred bytes\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.%05d,45.%05d]}}", sep, i, name, capacity, i, i
			sep = ",\n"
		}
		print "\n]}"
	}' >"$1"
}

# Two tracked files: lyon.umap (the example map) and parking.geojson (the example layer,
# its layer id changed so that both can live in one repository), imported in one commit.
two_files() {
	cp "$EXAMPLES/cycling-lyon.umap" lyon.umap
	parking_version bike-parking
	umapsync init >/dev/null
	umapsync import lyon.umap parking.geojson >/dev/null
}

# parking_version NAME: examples/NAME.geojson as parking.geojson, with that layer id.
parking_version() {
	sed 's/a6d2e0b4-71c8/b6d2e0b4-71c8/' "$EXAMPLES/$1.geojson" >parking.geojson
}
