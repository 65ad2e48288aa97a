#!/usr/bin/env bats
# umapsync serve: the sync endpoints of SPEC §8 against a real server on 127.0.0.1,
# driven with curl: push/pull, idempotency, conflicts, limits, durability across kill -9.

load helper
load sync_helper

setup_map() {
	push m alice 0 "[$(op_layer a1 L1 parking.geojson Parking alice),$(op_feature a2 L1 f1 Gare alice),$(op_feature a3 L1 f2 Perrache alice)]"
	[ "$code" = 200 ]
}

@test "serve: info describes the server and binds to 127.0.0.1 by default" {
	start_server
	http GET /v1/info
	[ "$code" = 200 ]
	[ "$(jq -r .server <<<"$body")" = umapsync ]
	[ "$(jq -r .protocol <<<"$body")" = 1 ]
	[ "$(jq -r .auth <<<"$body")" = false ]
	[ "$(jq -r .limits.max_skew_ms <<<"$body")" = 60000 ]
	grep -q "listening on http://127.0.0.1:$PORT/" "$TEST_DIR/server.log"
	grep -qi '^content-type: application/json' "$TEST_DIR/headers"
}

@test "serve: push then pull returns the ops in order with their cursor" {
	start_server
	setup_map
	[ "$body" = '{"ack":["a1","a2","a3"],"cursor":3}' ]
	http GET '/v1/maps/m/pull?since=0'
	[ "$code" = 200 ]
	[ "$(jq -c '[.ops[].op_id]' <<<"$body")" = '["a1","a2","a3"]' ]
	[ "$(jq -c '[.ops[].seq]' <<<"$body")" = '[1,2,3]' ]
	[ "$(jq -r '.ops[1].client_id' <<<"$body")" = alice ]
	[ "$(jq -r '.ops[1].value.properties.name' <<<"$body")" = Gare ]
	[ "$(jq -r .cursor <<<"$body")" = 3 ]
	http GET '/v1/maps/m/pull?since=1&limit=1'
	[ "$(jq -c '[.ops[].op_id]' <<<"$body")" = '["a2"]' ]
	[ "$(jq -r .cursor <<<"$body")" = 2 ]
	[ "$(jq -r .more <<<"$body")" = true ]
}

@test "serve: snapshot has the state, the layers' file names and the cursor" {
	start_server
	setup_map
	push m alice 3 "[$(op_update a4 L1 f1 properties.capacity 12 alice)]"
	[ "$code" = 200 ]
	http GET /v1/maps/m/snapshot
	[ "$code" = 200 ]
	[ "$(jq -r .cursor <<<"$body")" = 4 ]
	[ "$(jq -r '.layers[0].filename' <<<"$body")" = parking.geojson ]
	[ "$(jq -r '.layers[0].options.name' <<<"$body")" = Parking ]
	[ "$(jq -c '[.layers[0].features[].id]' <<<"$body")" = '["f1","f2"]' ]
	[ "$(jq -c '.layers[0].features[0].properties' <<<"$body")" = '{"name":"Gare","capacity":12}' ]
	# numbers come back as written (shortest round-trip form), not 4.8499999999999996
	[[ $body == *'"coordinates":[4.85,45.76]'* ]]
	http GET /v1/maps/nosuchmap/snapshot
	[ "$code" = 404 ]
}

@test "serve: a retried push is acknowledged again and applied once" {
	start_server
	setup_map
	ops="[$(op_update b1 L1 f1 properties.name '"Gare Part-Dieu"' bob)]"
	push m bob 3 "$ops"
	[ "$body" = '{"ack":["b1"],"cursor":4}' ]
	push m bob 3 "$ops"
	[ "$code" = 200 ]
	[ "$body" = '{"ack":["b1"],"cursor":4}' ]
	http GET '/v1/maps/m/pull?since=3'
	[ "$(jq '.ops | length' <<<"$body")" = 1 ]
}

@test "serve: 409 names the key someone else changed after base; nothing is applied" {
	start_server
	setup_map
	push m bob 3 "[$(op_update b1 L1 f1 properties.name '"Bob"' bob)]"
	[ "$code" = 200 ]
	push m alice 3 "[$(op_update a4 L1 f2 properties.name '"ok"' alice),$(op_update a5 L1 f1 properties.name '"Alice"' alice)]"
	[ "$code" = 409 ]
	[ "$(jq -c '.conflicts' <<<"$body")" = '[{"layer":"L1","id":"f1","key":"properties.name","op_id":"a5"}]' ]
	http GET /v1/maps/m/snapshot
	[ "$(jq -r '.layers[0].features[0].properties.name' <<<"$body")" = Bob ]
	[ "$(jq -r '.layers[0].features[1].properties.name' <<<"$body")" = Perrache ]
	[ "$(jq -r .cursor <<<"$body")" = 4 ]
	# after pulling (base 4) the same change goes through
	push m alice 4 "[$(op_update a5 L1 f1 properties.name '"Alice"' alice)]"
	[ "$code" = 200 ]
}

@test "serve: disjoint concurrent changes from the same base are both accepted" {
	start_server
	setup_map
	push m bob 3 "[$(op_update b1 L1 f1 properties.name '"Bob"' bob)]"
	[ "$code" = 200 ]
	push m alice 3 "[$(op_update a4 L1 f1 properties.capacity 30 alice),$(op_feature a5 L1 f3 Bellecour alice)]"
	[ "$code" = 200 ]
	[ "$body" = '{"ack":["a4","a5"],"cursor":6}' ]
	http GET /v1/maps/m/snapshot
	[ "$(jq -c '.layers[0].features[0].properties' <<<"$body")" = '{"name":"Bob","capacity":30}' ]
	[ "$(jq -c '[.layers[0].features[].id]' <<<"$body")" = '["f1","f2","f3"]' ]
}

@test "serve: a feature deleted by someone else conflicts with an edit of it" {
	start_server
	setup_map
	push m bob 3 '[{"op_id":"b1","hlc":"'"$(hlc bob)"'","verb":"delete","subject":"feature","metadata":{"id":"f2","layerId":"L1"}}]'
	[ "$code" = 200 ]
	push m alice 3 "[$(op_update a4 L1 f2 properties.name '"x"' alice)]"
	[ "$code" = 409 ]
	[ "$(jq -r '.conflicts[0].id' <<<"$body")" = f2 ]
}

@test "serve: invalid ops, JSON and names are refused with 400 and a clear message" {
	start_server
	push m alice 0 '[{"op_id":"x","hlc":"nope","verb":"upsert","subject":"feature"}]'
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'ops[0]: invalid hybrid logical clock'* ]]
	push m alice 0 "[$(op_update a1 '../../etc' f1 properties.name 1 alice)]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *layerId* ]]
	http POST /v1/maps/m/push --data-binary '{"client_id":"a","base":0,"ops":[}'
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'not valid JSON'* ]]
	http POST /v1/maps/m/push --data-binary '{"client_id":"a","client_id":"b","base":0,"ops":[]}'
	[ "$code" = 400 ]
	http GET '/v1/maps/bad.name/snapshot'
	[ "$code" = 400 ]
	http GET '/v1/maps/%2e%2e/snapshot'
	[ "$code" = 400 ]
	http GET '/v1/maps/m/pull?since=-1'
	[ "$code" = 400 ]
	http GET /v1/maps/m/push
	[ "$code" = 405 ]
	http GET /v1/nothing
	[ "$code" = 404 ]
	# nothing was created by the refused pushes
	http GET /v1/maps/m/snapshot
	[ "$code" = 404 ]
}

@test "serve: an oversized body gets 413" {
	start_server --max-body 2000
	big=$(head -c 3000 /dev/zero | tr '\0' x)
	push m alice 0 "[$(op_update a1 L1 f1 properties.name "\"$big\"" alice)]"
	[ "$code" = 413 ]
	# chunked, without Content-Length
	push m alice 0 "[$(op_update a1 L1 f1 properties.name "\"$big\"" alice)]" -H 'Transfer-Encoding: chunked'
	[ "$code" = 413 ]
	push m alice 0 "[$(op_feature a1 L1 f1 small alice)]"
	[ "$code" = 200 ]
}

@test "serve: ops stamped more than 60 s ahead of the server clock are refused" {
	start_server
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice)]"
	[ "$code" = 200 ]
	push m alice 1 "[$(op_feature a2 L1 f2 Future alice 120)]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'ops[0] (op_id a2): refused: time '*' s ahead of this clock (limit 60 s)'* ]]
	push m alice 1 "[$(op_feature a2 L1 f2 Soon alice 30)]"
	[ "$code" = 200 ]
}

@test "serve: a cursor older than the retained log gets 410" {
	start_server --retain 2
	for i in 1 2 3 4; do
		push m alice $((i - 1)) "[$(op_feature a$i L1 f$i n$i alice)]"
		[ "$code" = 200 ]
	done
	http GET '/v1/maps/m/pull?since=1'
	[ "$code" = 410 ]
	[[ $(jq -r .error <<<"$body") == *'take a snapshot'* ]]
	http GET '/v1/maps/m/pull?since=2'
	[ "$code" = 200 ]
	[ "$(jq -c '[.ops[].op_id]' <<<"$body")" = '["a3","a4"]' ]
	http GET '/v1/maps/m/pull?since=9'
	[ "$code" = 410 ]
	# retries of pruned ops still apply once
	push m alice 4 "[$(op_feature a1 L1 f1 n1 alice)]"
	[ "$body" = '{"ack":["a1"],"cursor":4}' ]
}

@test "serve: a long-poll pull returns as soon as a push lands, or empty at its deadline" {
	start_server
	setup_map
	start=$(date +%s%N)
	http GET '/v1/maps/m/pull?since=3&wait=1'
	elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$code" = 200 ]
	[ "$(jq -c .ops <<<"$body")" = '[]' ]
	[ "$elapsed" -ge 900 ]
	( sleep 0.3; curl -s --max-time 5 -X POST "$BASE/v1/maps/m/push" \
		--data-binary "{\"client_id\":\"bob\",\"base\":3,\"ops\":[$(op_update b1 L1 f1 properties.name '"B"' bob)]}" >/dev/null 2>&1 ) 3>&- &
	pusher=$!
	start=$(date +%s%N)
	http GET '/v1/maps/m/pull?since=3&wait=10'
	elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
	wait "$pusher"
	[ "$code" = 200 ]
	[ "$(jq -c '[.ops[].op_id]' <<<"$body")" = '["b1"]' ]
	[ "$elapsed" -lt 5000 ]
}

@test "serve: too many requests get 429 with Retry-After" {
	start_server --rate 1
	got429=
	for i in 1 2 3 4 5; do
		http GET /v1/info
		[ "$code" = 429 ] && { got429=1; break; }
		[ "$code" = 200 ]
	done
	[ -n "$got429" ]
	grep -qi '^retry-after: [1-9]' "$TEST_DIR/headers"
	[[ $(jq -r .error <<<"$body") == *'too many requests'* ]]
}

@test "serve: an acknowledged push survives kill -9 of the server" {
	start_server
	setup_map
	push m bob 3 "[$(op_update b1 L1 f1 properties.name '"Durable"' bob)]"
	[ "$body" = '{"ack":["b1"],"cursor":4}' ]
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	start_server
	http GET /v1/maps/m/snapshot
	[ "$(jq -r .cursor <<<"$body")" = 4 ]
	[ "$(jq -r '.layers[0].features[0].properties.name' <<<"$body")" = Durable ]
	# and the retry after the crash is still recognised
	push m bob 3 "[$(op_update b1 L1 f1 properties.name '"Durable"' bob)]"
	[ "$body" = '{"ack":["b1"],"cursor":4}' ]
}

@test "serve: SIGTERM stops the server cleanly" {
	start_server
	kill -TERM "$SERVER_PID"
	status=0
	wait "$SERVER_PID" || status=$?
	SERVER_PID=
	[ "$status" = 0 ]
	grep -q 'SIGTERM received, stopping' "$TEST_DIR/server.log"
}

@test "serve: bad options are usage errors" {
	run "$UMAPSYNC" serve --listen nonsense
	[ "$status" = 129 ]
	[[ $output == *'--listen wants ADDR:PORT'* ]]
	run "$UMAPSYNC" serve --threads 0
	[ "$status" = 129 ]
	run "$UMAPSYNC" serve extra
	[ "$status" = 129 ]
}
