#!/usr/bin/env bats
# The hint: lines after a refused action say what to do next, and do not suggest what
# would fail (remote add for a remote that exists, say).

bats_require_minimum_version 1.5.0
load helper
load sync_helper

@test "a server that wants a token: the hint names --token-file and UMAPSYNC_TOKEN" {
	start_server
	"$UMAPSYNC" token create --data "$TEST_DIR/data" --map lyon --write >/dev/null 2>&1
	run_split "$UMAPSYNC" clone "$BASE/lyon" nope
	assert_equal "$status" 128
	assert_equal "${stderr##*$'\n'}" "hint: set UMAPSYNC_TOKEN, or give a token file with --token-file FILE to 'umapsync clone' or 'umapsync remote add'"
	[[ $stderr == *'(HTTP 401)'* ]]
}

@test "a token the server does not know: the hint says it was not accepted" {
	start_server
	"$UMAPSYNC" token create --data "$TEST_DIR/data" --map lyon --write >/dev/null 2>&1
	UMAPSYNC_TOKEN=not-a-token run_split "$UMAPSYNC" clone "$BASE/lyon" nope
	assert_equal "$status" 128
	assert_equal "${stderr##*$'\n'}" "hint: the token was not accepted: it may be revoked or mistyped ('umapsync token list' on the server)"
}
