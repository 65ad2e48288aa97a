#!/usr/bin/env bats
# The sync client against a malicious server (tests/tools/evilserver.c): names that walk out of
# the work tree, replies that loop or are not replies, a map op that wipes the layers, text
# that drives the terminal. Each must stop with exit 128 and a clear message, write nothing
# outside the work tree and leave the repository as it was (SPEC §8).

bats_require_minimum_version 1.5.0
load helper

EVIL_PID=

# evil SCENARIO: starts the evil server (its canary target is $TEST_DIR/evil-canary).
evil() {
	local tool=${UNIT_DIR:-$BATS_TEST_DIRNAME/../../build/tests}/tools/evilserver
	CANARY=$TEST_DIR/evil-canary
	rm -f "$TEST_DIR/port"
	"$tool" "$1" "$TEST_DIR/port" "$CANARY" 2>>"$TEST_DIR/evil.log" &
	EVIL_PID=$!
	wait_for_port "$TEST_DIR/port" "$EVIL_PID" "$TEST_DIR/evil.log" || return 1
	PORT=$(cat "$TEST_DIR/port") || return 1
	URL="http://127.0.0.1:$PORT/m"
}

teardown() {
	if [ -n "$EVIL_PID" ]; then
		kill -TERM "$EVIL_PID" 2>/dev/null || true
		wait "$EVIL_PID" 2>/dev/null || true
	fi
	cd / || true
	[ -n "${TEST_DIR:-}" ] && rm -rf "$TEST_DIR"
}

# Every byte of the clone w (work tree and repository), to prove a refused pull changed nothing.
state_of_w() {
	(cd "$TEST_DIR/w" && find . -type f -print0 | sort -z | xargs -0 sha1sum)
}

# clone_then_pull SCENARIO: clones the evil server's benign snapshot into w, then pulls the
# scenario's attack; $before holds the state of w before the pull.
clone_then_pull() {
	evil "$1"
	"$UMAPSYNC" clone "$URL" w >/dev/null 2>&1
	before=$(state_of_w)
	cd w
	UMAPSYNC_TIMEOUT=20 run -128 --separate-stderr timeout 60 "$UMAPSYNC" pull
	cd ..
}

nothing_escaped() {
	[ ! -e "$CANARY" ] && [ ! -e "$CANARY.geojson" ] && [ ! -e "$CANARY.geojso" ]
	[ "$(state_of_w)" = "$before" ]
}

@test "hostile: a datalayer id that walks out of the work tree is refused before anything is written" {
	clone_then_pull layer-traversal
	assert_equal "$stderr" "fatal: the server's answer is not a pull reply: ops[0]: metadata.id of a datalayer must be 1 to 128 characters of A-Z a-z 0-9 _ -"
	nothing_escaped
}

@test "hostile: a feature op's layerId that walks out of the work tree is refused" {
	clone_then_pull feature-traversal
	assert_equal "$stderr" "fatal: the server's answer is not a pull reply: ops[0]: metadata.layerId must be 1 to 128 characters of A-Z a-z 0-9 _ -"
	nothing_escaped
}

@test "hostile: a 143-character id cannot lose its .geojson suffix and name any file" {
	clone_then_pull long-id
	assert_equal "$stderr" "fatal: the server's answer is not a pull reply: ops[0]: metadata.id of a datalayer must be 1 to 128 characters of A-Z a-z 0-9 _ -"
	nothing_escaped
}

@test "hostile: a map op that sets \"layers\" is refused, the layers stay" {
	clone_then_pull map-layers
	assert_equal "$stderr" "fatal: the server's answer is not a pull reply: ops[0]: a map update may only set \"properties\", \"properties.*\", \"geometry\" or \"uri\""
	nothing_escaped
	[ "$(jq '.layers | length' w/map.umap)" = 1 ]
}

@test "hostile: a server that answers more:true without moving the cursor is stopped" {
	clone_then_pull stuck
	assert_equal "$stderr" "fatal: the server's answer is not a pull reply: \"more\" is true but the cursor did not move past 1"
	nothing_escaped
}

@test "hostile: a server that sends ops forever on a stuck cursor is stopped at once" {
	clone_then_pull stuck-ops
	assert_equal "$stderr" "fatal: the server's answer is not a pull reply: \"more\" is true but the cursor did not move past 1"
	nothing_escaped
}

@test "hostile: a server that sends ever more ops is stopped at the pull's limit" {
	evil grow
	"$UMAPSYNC" clone "$URL" w >/dev/null 2>&1
	before=$(state_of_w)
	cd w
	UMAPSYNC_PULL_MAX_BYTES=1000000 run -128 --separate-stderr timeout 60 "$UMAPSYNC" pull
	cd ..
	assert_equal "$stderr" "fatal: the server's answers to one pull exceed 1000000 bytes (3000 ops so far): stopping
hint: if the map really changed that much, clone it afresh, or raise UMAPSYNC_PULL_MAX_BYTES"
	nothing_escaped
}

@test "hostile: answers that are not pull replies are errors, not 'Already up to date'" {
	local s want
	for s in reply-array reply-number reply-string reply-nocursor reply-negcursor reply-opsobject reply-cursorback; do
		case $s in
		reply-array | reply-number | reply-string) want="it is not a JSON object" ;;
		reply-nocursor | reply-negcursor) want="\"cursor\" must be an integer >= 0" ;;
		reply-opsobject) want="\"ops\" must be an array" ;;
		reply-cursorback) want="the cursor went back from 1 to 0" ;;
		esac
		clone_then_pull "$s"
		assert_equal "$stderr" "fatal: the server's answer is not a pull reply: $want"
		nothing_escaped
		kill -TERM "$EVIL_PID"
		wait "$EVIL_PID" 2>/dev/null || true
		EVIL_PID=
		rm -rf w
	done
}

@test "hostile: the server's error text cannot drive the terminal" {
	clone_then_pull error-escape
	assert_equal "$stderr" "fatal: $URL: \\x1b]0;pwned\\x07\\x1b[2Jcleared\\u009b31mred\\x0ahint: fake (HTTP 400)"
	! printf '%s' "$stderr" | grep -q $'\x1b'
}

@test "hostile: a snapshot whose file name walks out of the work tree is refused by clone" {
	evil snapshot-traversal
	run -128 --separate-stderr "$UMAPSYNC" clone "$URL" w
	assert_equal "$stderr" "fatal: the server's answer is not a snapshot: layers[0].filename must be a file name without '/' or a leading '.'"
	[ ! -e w ]
	[ ! -e "$CANARY.geojson" ]
}

@test "hostile: clone shows a file name with a terminal control in it escaped" {
	evil snapshot-c1
	run -0 --separate-stderr "$UMAPSYNC" clone "$URL" w
	assert_equal "$output" 'x\u009b2Jy.geojson'
	[ -f "w/x"$'\xc2\x9b'"2Jy.geojson" ]
}

@test "hostile: a conflict report shows the ids and keys of a file with their controls escaped" {
	local f='{"type":"FeatureCollection","features":[{"type":"Feature","id":"a\u001b]0;pwned\u0007","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"k\u001b[2J":VALUE}}]}'
	printf '%s' "${f/VALUE/1}" >base.geojson
	printf '%s' "${f/VALUE/2}" >ours.geojson
	printf '%s' "${f/VALUE/3}" >theirs.geojson
	run -1 --separate-stderr "$UMAPSYNC" merge-file -p base.geojson ours.geojson theirs.geojson
	assert_equal "$stderr" 'CONFLICT (modify/modify): feature a\x1b]0;pwned\x07: properties.k\x1b[2J is 2 in ours, 3 in theirs (base 1)
merged with 1 conflict; the result keeps ours'
}

# clone_commit_push SCENARIO: a clone with one local commit pushed to the evil server.
clone_commit_push() {
	evil "$1"
	"$UMAPSYNC" clone "$URL" w >/dev/null 2>&1
	cd w
	jq '.features[0].properties.name = "two"' base.geojson >b.tmp && mv b.tmp base.geojson
	"$UMAPSYNC" commit -m "two" >/dev/null
}

@test "hostile: a push acknowledged with a cursor that is not one is an error" {
	clone_commit_push push-badreply
	UMAPSYNC_TIMEOUT=20 run -128 --separate-stderr timeout 60 "$UMAPSYNC" push
	assert_equal "$stderr" "fatal: the server's answer is not a push reply: \"cursor\" must be an integer >= 0"
}

@test "hostile: the names in a refused push's conflicts are shown escaped" {
	clone_commit_push push-conflict
	UMAPSYNC_TIMEOUT=20 run -1 --separate-stderr timeout 60 "$UMAPSYNC" push
	assert_equal "$stderr" "error: the server refused the push: 1 change conflicts with changes pushed by others:
	layer L1\\x1b[2J feature \"a1\" properties.name\\x1b]0;x\\x07
hint: nothing was applied; run 'umapsync pull origin' (and settle any conflicts), then push again"
}
