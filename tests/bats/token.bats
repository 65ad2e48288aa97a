#!/usr/bin/env bats
# umapsync token and the server's access rules: tokens shown once and stored hashed,
# 401 without a valid token, read-only and layer-scoped tokens, other maps, revocation.

bats_require_minimum_version 1.5.0
load helper
load sync_helper

# two layers: L1 (parking) and L2 (secret), created before any token exists
seed_map() {
	start_server
	push m alice 0 "[$(op_layer a1 L1 parking.geojson Parking alice),$(op_feature a2 L1 f1 Gare alice),$(op_layer a3 L2 secret.geojson Secret alice),$(op_feature a4 L2 s1 Hidden alice)]"
	[ "$code" = 200 ]
	stop_server
}

@test "token: create prints a new token once and stores only its hash" {
	run_split "$UMAPSYNC" token create $(store_opt) --map m --write
	[ "$status" = 0 ]
	[[ $output =~ ^umsync_[A-Za-z0-9_-]{43}$ ]]
	[[ $stderr == "created token "*": write access to map 'm', every layer (shown only this once: keep it now)" ]]
	token=$output
	run_split "$UMAPSYNC" token create $(store_opt) --map m --read
	[ "$output" != "$token" ]
	dump=$(store_dump)
	[[ $dump == *"$(printf %s "$token" | sha256sum | cut -c1-64)"* ]]
	[[ $dump != *"$token"* ]]
	run_split "$UMAPSYNC" token list $(store_opt)
	[ "$status" = 0 ]
	[ "$(wc -l <<<"$output")" = 2 ]
	[[ $output != *umsync_* ]]
	re=$'^[0-9a-f]{16}\tm\twrite\t[*]\t20[0-9-]+T[0-9:]+Z$'
	[[ $(head -1 <<<"$output") =~ $re ]]
	run_split "$UMAPSYNC" token list $(store_opt) --format=json
	[ "$(jq -r '.[1].access' <<<"$output")" = read ]
	[ "$(jq -r '.[1].layers' <<<"$output")" = null ]
}

@test "token: usage errors" {
	run "$UMAPSYNC" token create $(store_opt) --map m
	[ "$status" = 129 ]
	[[ $output == *'exactly one of --read and --write'* ]]
	run "$UMAPSYNC" token create $(store_opt) --map m --read --write
	[ "$status" = 129 ]
	run "$UMAPSYNC" token create --map m --read
	[ "$status" = 129 ]
	[[ $output == *'--data DIR is required'* ]]
	run "$UMAPSYNC" token frobnicate
	[ "$status" = 129 ]
	run "$UMAPSYNC" token create $(store_opt) --map ../x --read
	[ "$status" = 128 ]
	[[ $output == *"invalid map name '../x'"* ]]
	run "$UMAPSYNC" token create $(store_opt) --map m --layer 'a/b' --read
	[ "$status" = 128 ]
	run "$UMAPSYNC" token revoke $(store_opt) 0123456789abcdef
	[ "$status" = 128 ]
	[[ $output == *"no active token with id '0123456789abcdef'"* ]]
}

@test "token: once a token exists, requests without a valid one get 401" {
	seed_map
	"$UMAPSYNC" token create $(store_opt) --map m --read >/dev/null 2>&1
	start_server
	http GET /v1/info
	[ "$code" = 200 ]
	[ "$(jq -r .auth <<<"$body")" = true ]
	http GET /v1/maps/m/snapshot
	[ "$code" = 401 ]
	grep -qi '^www-authenticate: Bearer' "$TEST_DIR/headers"
	[[ $(jq -r .error <<<"$body") == *'Authorization: Bearer TOKEN'* ]]
	http GET '/v1/maps/m/pull?since=0' -H 'Authorization: Bearer umsync_wrong'
	[ "$code" = 401 ]
	push m mallory 4 "[$(op_feature x1 L1 f9 Evil mallory)]"
	[ "$code" = 401 ]
	grep -q 'listening .*tokens required' "$TEST_DIR/server.log"
}

@test "token: a read token pulls and snapshots but cannot push" {
	seed_map
	token=$("$UMAPSYNC" token create $(store_opt) --map m --read 2>/dev/null)
	start_server
	http GET /v1/maps/m/snapshot -H "Authorization: Bearer $token"
	[ "$code" = 200 ]
	[ "$(jq -c '[.layers[].id]' <<<"$body")" = '["L1","L2"]' ]
	http GET '/v1/maps/m/pull?since=0' -H "Authorization: Bearer $token"
	[ "$code" = 200 ]
	[ "$(jq '.ops | length' <<<"$body")" = 4 ]
	push m bob 4 "[$(op_update b1 L1 f1 properties.name '"x"' bob)]" -H "Authorization: Bearer $token"
	[ "$code" = 403 ]
	[[ $(jq -r .error <<<"$body") == *'read-only'* ]]
}

@test "token: a write token pushes" {
	seed_map
	token=$("$UMAPSYNC" token create $(store_opt) --map m --write 2>/dev/null)
	start_server
	push m bob 4 "[$(op_update b1 L1 f1 properties.name '"x"' bob)]" -H "Authorization: Bearer $token"
	[ "$code" = 200 ]
	[ "$body" = '{"ack":["b1"],"cursor":5}' ]
}

@test "token: a layer-scoped token writes and sees only its layers" {
	seed_map
	token=$("$UMAPSYNC" token create $(store_opt) --map m --layer L1 --write 2>/dev/null)
	start_server
	auth=(-H "Authorization: Bearer $token")
	http GET /v1/maps/m/snapshot "${auth[@]}"
	[ "$code" = 200 ]
	[ "$(jq -c '[.layers[].id]' <<<"$body")" = '["L1"]' ]
	[[ $body != *Hidden* ]]
	http GET '/v1/maps/m/pull?since=0' "${auth[@]}"
	[ "$(jq -c '[.ops[].op_id]' <<<"$body")" = '["a1","a2"]' ]
	[ "$(jq -r .cursor <<<"$body")" = 4 ]
	[[ $body != *Hidden* ]]
	push m bob 4 "[$(op_update b1 L2 s1 properties.name '"x"' bob)]" "${auth[@]}"
	[ "$code" = 403 ]
	[[ $(jq -r .error <<<"$body") == *"cannot write layer 'L2'"* ]]
	push m bob 4 '[{"op_id":"b2","hlc":"'"$(hlc bob)"'","verb":"update","subject":"map","key":"properties.name","value":"x"}]' "${auth[@]}"
	[ "$code" = 403 ]
	push m bob 4 "[$(op_update b3 L1 f1 properties.name '"ok"' bob)]" "${auth[@]}"
	[ "$code" = 200 ]
}

@test "token: a token for another map gets 403; a revoked token 401" {
	seed_map
	other=$("$UMAPSYNC" token create $(store_opt) --map other --write 2>/dev/null)
	token=$("$UMAPSYNC" token create $(store_opt) --map m --read 2>/dev/null)
	start_server
	http GET /v1/maps/m/snapshot -H "Authorization: Bearer $other"
	[ "$code" = 403 ]
	[[ $(jq -r .error <<<"$body") == *"does not give access to map 'm'"* ]]
	id=$("$UMAPSYNC" token list $(store_opt) --format=json | jq -r '.[] | select(.map == "m") | .id')
	run_split "$UMAPSYNC" token revoke $(store_opt) "$id"
	[ "$status" = 0 ]
	[ "$stderr" = "revoked token $id" ]
	http GET /v1/maps/m/snapshot -H "Authorization: Bearer $token"
	[ "$code" = 401 ]
	"$UMAPSYNC" token list $(store_opt) | grep -q "revoked 20"
}

@test "token: serve --auth requires tokens even before one exists" {
	start_server --auth
	http GET /v1/maps/m/snapshot
	[ "$code" = 401 ]
	http GET /v1/info
	[ "$(jq -r .auth <<<"$body")" = true ]
}
