#!/usr/bin/env bats
# umapsync serve against hostile clients (SPEC §8): names holding \u0000, updates of keys
# that would replace structure, duplicate op ids, unauthenticated bodies, the bytes in
# flight, duplicate Content-Length, a damaged database and a full disk.

load helper
load sync_helper

# the full-disk test mounts a tmpfs: unmounted whatever the test's outcome
teardown() {
	stop_server
	if [ -n "${TEST_DIR:-}" ] && mountpoint -q "$TEST_DIR/full" 2>/dev/null; then
		umount "$TEST_DIR/full"
	fi
	cd / || true
	[ -n "${TEST_DIR:-}" ] && rm -rf "$TEST_DIR"
}

# raw_op ID HLC_NODE FIELDS: an op whose members after op_id/hlc are given as JSON text.
raw_op() {
	printf '{"op_id":"%s","hlc":"%s",%s}' "$1" "$(hlc "$2")" "$3"
}

@test "serve_hostile: names holding \\u0000 are refused with 400 and nothing is stored" {
	start_server
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice)]"
	[ "$code" = 200 ]
	local feature='"subject":"feature","metadata":{"id":"f1","layerId":"L1"},"key":"properties.n","value":1'
	push m alice 1 "[$(raw_op 'a\u0000x' alice "\"verb\":\"update\",$feature")]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'"op_id" must be a string of 1 to 128 printable characters'* ]]
	push m alice 1 "[$(raw_op a2 alice "\"verb\":\"update\\u0000x\",$feature")]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'"verb" must be'* ]]
	push m alice 1 "[$(raw_op a2 alice '"verb":"update","subject":"feature","metadata":{"id":"f1","layerId":"L1\u0000x"},"key":"properties.n","value":1')]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'metadata.layerId must be'* ]]
	push m alice 1 "[$(raw_op a2 alice '"verb":"update","subject":"feature","metadata":{"id":"f1","layerId":"L1"},"key":"properties.n\u0000x","value":1')]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'an update needs a dotted "key"'* ]]
	push m alice 1 "[$(raw_op a2 alice '"verb":"upsert","subject":"datalayer","metadata":{"id":"L2","filename":"a.geojson\u0000x"},"value":{}')]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'metadata.filename must be'* ]]
	http POST /v1/maps/m/push --data-binary '{"client_id":"alice\u0000x","base":1,"ops":[]}'
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'"client_id" must be'* ]]
	http POST /v1/maps/m/push --data-binary "{\"client_id\":\"alice\",\"base\":1,\"ops\":[{\"op_id\":\"a2\",\"hlc\":\"$(hlc alice)\\u0000x\",\"verb\":\"update\",$feature}]}"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'"hlc" must be a hybrid logical clock string'* ]]
	http GET '/v1/maps/m/pull?since=0'
	[ "$(jq -r .cursor <<<"$body")" = 1 ]
}

@test "serve_hostile: a value holding \\u0000 round-trips through push, pull and snapshot, and later updates work" {
	start_server
	push m alice 0 '[{"op_id":"a1","hlc":"'"$(hlc alice)"'","verb":"upsert","subject":"feature","metadata":{"id":"f1","layerId":"L1"},"value":{"type":"Feature","geometry":null,"properties":{"n":"a\u0000b","k\u0000ey":1}}}]'
	[ "$code" = 200 ]
	push m alice 1 "[$(op_update a2 L1 f1 properties.x '"c\u0000d"' alice)]"
	[ "$code" = 200 ]
	[ "$body" = '{"ack":["a2"],"cursor":2}' ]
	push m alice 2 "[$(op_update a3 L1 f1 properties.y 3 alice)]"
	[ "$code" = 200 ]
	http GET /v1/maps/m/snapshot
	[ "$code" = 200 ]
	[[ $body == *'"features":[{"type":"Feature","geometry":null,"properties":{"n":"a\u0000b","k\u0000ey":1,"x":"c\u0000d","y":3},"id":"f1"}]'* ]]
	http GET '/v1/maps/m/pull?since=0'
	[[ $body == *'"properties":{"n":"a\u0000b","k\u0000ey":1}'* ]]
	[[ $body == *'"key":"properties.x","value":"c\u0000d"'* ]]
	# the map's options too
	push m alice 3 '[{"op_id":"a4","hlc":"'"$(hlc alice)"'","verb":"update","subject":"map","key":"properties.name","value":"m\u0000n"}]'
	[ "$code" = 200 ]
	push m alice 4 '[{"op_id":"a5","hlc":"'"$(hlc alice)"'","verb":"update","subject":"map","key":"properties.zoom","value":3}]'
	[ "$code" = 200 ]
	http GET /v1/maps/m/snapshot
	[[ $body == *'"properties":{"properties":{"name":"m\u0000n","zoom":3}}'* ]]
}

@test "serve_hostile: updates of keys outside a subject's fields are refused (a map's layers, a feature's type)" {
	start_server
	push m alice 0 "[$(op_layer a1 L1 parking.geojson Parking alice),$(op_feature a2 L1 f1 Gare alice)]"
	[ "$code" = 200 ]
	push m eve 2 "[$(raw_op e1 eve '"verb":"update","subject":"map","key":"layers","value":[]')]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == 'ops[0]: a map update may only set "properties", "properties.*", '* ]]
	for key in type id name layers.0; do
		push m eve 2 "[$(raw_op e1 eve "\"verb\":\"update\",\"subject\":\"map\",\"key\":\"$key\",\"value\":1")]"
		[ "$code" = 400 ]
	done
	for key in type id id.x layers; do
		push m eve 2 "[$(op_update e1 L1 f1 "$key" 1 eve)]"
		[ "$code" = 400 ]
		[ "$(jq -r .error <<<"$body")" = 'ops[0]: a feature update may only set "properties", "properties.*" or "geometry"' ]
	done
	push m eve 2 "[$(op_update e1 L1 f1 properties '[]' eve)]"
	[ "$code" = 400 ]
	[ "$(jq -r .error <<<"$body")" = 'ops[0]: "properties" can only be set to an object' ]
	push m eve 2 "[$(raw_op e1 eve '"verb":"update","subject":"datalayer","metadata":{"id":"L1"},"key":"features","value":[]')]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == 'ops[0]: a datalayer key must start with "options." (or "properties.")'* ]]
	# what uMap sends goes through
	push m alice 2 "[$(raw_op a3 alice '"verb":"update","subject":"map","key":"properties.center","value":{"type":"Point","coordinates":[4.8,45.7]}'),$(op_update a4 L1 f1 geometry '{"type":"Point","coordinates":[1,2]}' alice),$(op_update a5 L1 f1 properties._umap_options.color '"red"' alice),$(raw_op a6 alice '"verb":"update","subject":"datalayer","metadata":{"id":"L1"},"key":"options.color","value":"blue"')]"
	[ "$code" = 200 ]
	http GET /v1/maps/m/snapshot
	[ "$(jq -c '.layers[0].features[0].geometry.coordinates' <<<"$body")" = '[1,2]' ]
	[ "$(jq -r '.layers | length' <<<"$body")" = 1 ]
}

@test "serve_hostile: the same op_id twice in one push is a 400 that names both, and nothing is applied" {
	start_server
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice),$(op_feature a2 L1 f2 Perrache alice),$(op_feature a1 L1 f3 Dup alice)]"
	[ "$code" = 400 ]
	[ "$(jq -r .error <<<"$body")" = "ops[2]: op_id 'a1' is already used by ops[0] of this push: each op needs its own op_id" ]
	http GET /v1/maps/m/snapshot
	[ "$code" = 404 ]
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice),$(op_feature a2 L1 f2 Perrache alice)]"
	[ "$code" = 200 ]
}

# raw_request: sends $1 (printf format, \r\n) on a new connection and prints what comes back
# within 3 seconds (the connection stays open: the server must answer from the headers).
raw_request() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$PORT"
	printf "$1" >&3
	reply=$(timeout 3 head -c 4096 <&3 || true)
	exec 3<&- 3>&-
	printf '%s' "$reply"
}

@test "serve_hostile: a push without a valid token is answered 401 from its headers, before its body" {
	local token
	token=$("$UMAPSYNC" token create --data "$TEST_DIR/data" --map m --read)
	start_server
	# the body (a megabyte) is never sent: the answer comes from the headers alone
	run raw_request 'POST /v1/maps/m/push HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{"client_id":'
	[[ $output == 'HTTP/1.1 401 '* ]]
	[[ $output == *'{"error":"this server needs a token: send \"Authorization: Bearer TOKEN\""}'* ]]
	run raw_request 'POST /v1/maps/m/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer umsync_nope\r\nContent-Length: 1000000\r\n\r\n{'
	[[ $output == 'HTTP/1.1 401 '* ]]
	[[ $output == *'invalid or revoked token'* ]]
	# a read token cannot push: 403, also before the body
	run raw_request "POST /v1/maps/m/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\nContent-Length: 1000000\r\n\r\n{"
	[[ $output == 'HTTP/1.1 403 '* ]]
	[[ $output == *'this token is read-only'* ]]
	# another map's token: 403
	run raw_request "POST /v1/maps/other/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\nContent-Length: 1000000\r\n\r\n{"
	[[ $output == 'HTTP/1.1 403 '* ]]
	[[ $output == *"this token does not give access to map 'other'"* ]]
}

@test "serve_hostile: bodies held at once are bounded by --max-inflight: over it, 503 with Retry-After" {
	start_server --max-body 100000 --max-inflight 150000
	# a first push of 100000 bytes holds its budget while its body is still arriving
	exec 4<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /v1/maps/m/push HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"client_id":"slow",' >&4
	sleep 0.3
	big=$(head -c 60000 /dev/zero | tr '\0' x)
	push m alice 0 "[$(op_feature a1 L1 f1 "$big" alice)]"
	[ "$code" = 503 ]
	grep -qi '^retry-after: 1' "$TEST_DIR/headers"
	[ "$(jq -r .error <<<"$body")" = 'the server is busy receiving other pushes: retry in a moment' ]
	# the same without Content-Length (chunked): refused once it outgrows the budget
	push m alice 0 "[$(op_feature a1 L1 f1 "$big" alice)]" -H 'Transfer-Encoding: chunked'
	[ "$code" = 503 ]
	# a small push still fits
	push m alice 0 "[$(op_feature a1 L1 f1 small alice)]"
	[ "$code" = 200 ]
	# once the first connection is gone, its budget is back
	exec 4<&- 4>&-
	sleep 0.3
	push m alice 1 "[$(op_feature a2 L1 f2 "$big" alice)]"
	[ "$code" = 200 ]
}

@test "serve_hostile: --max-inflight below --max-body is a usage error" {
	run "$UMAPSYNC" serve --max-body 1000 --max-inflight 999
	[ "$status" = 129 ]
	[[ $output == *'--max-inflight (999) must be at least --max-body (1000)'* ]]
}

@test "serve_hostile: two Content-Length headers with different values get 400" {
	start_server
	local push_body
	push_body='{"client_id":"a","base":0,"ops":[]}'
	run raw_request "POST /v1/maps/m/push HTTP/1.1\r\nHost: x\r\nContent-Length: ${#push_body}\r\nContent-Length: 5\r\nConnection: close\r\n\r\n$push_body"
	[[ $output == 'HTTP/1.1 400 '* ]]
	[[ $output == *'conflicting Content-Length headers: send one'* ]]
	# the same value twice is one length
	run raw_request "POST /v1/maps/m/push HTTP/1.1\r\nHost: x\r\nContent-Length: ${#push_body}\r\nContent-Length: ${#push_body}\r\nConnection: close\r\n\r\n$push_body"
	[[ $output == 'HTTP/1.1 200 '* ]]
}

@test "serve_hostile: a damaged database is refused at start with a clear message (exit 128)" {
	start_server
	local i ops=
	for i in $(seq 200); do ops+="${ops:+,}$(op_feature a$i L1 f$i "feature number $i with some text to fill pages" alice)"; done
	push m alice 0 "[$ops]"
	[ "$code" = 200 ]
	stop_server
	# zeros over pages in the middle of the file (the header stays intact)
	local size
	size=$(stat -c %s "$TEST_DIR/data/umapsync.db")
	[ "$size" -gt 40960 ]
	dd if=/dev/zero of="$TEST_DIR/data/umapsync.db" bs=4096 seek=3 count=4 conv=notrunc 2>/dev/null
	run timeout 10 "$UMAPSYNC" serve --listen 127.0.0.1:0 --data "$TEST_DIR/data"
	[ "$status" = 128 ]
	[[ $output == "fatal: opening '$TEST_DIR/data': database '$TEST_DIR/data/umapsync.db' is damaged ("*'): restore it from a backup' ]]
}

@test "serve_hostile: a full disk answers 507 with a message, and the server keeps serving" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs (a full disk)"
	mkdir -p "$TEST_DIR/full"
	mount -t tmpfs -o size=512k tmpfs "$TEST_DIR/full" 2>/dev/null ||
		skip "cannot mount a tmpfs here (no CAP_SYS_ADMIN): the full-disk answer is not tested"
	start_server --data "$TEST_DIR/full/data"
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice)]"
	[ "$code" = 200 ]
	big=$(head -c 100000 /dev/zero | tr '\0' x)
	local i
	for i in $(seq 2 12); do
		push m alice 1 "[$(op_feature a$i L1 f$i "$big" alice)]"
		[ "$code" = 507 ] && break
		[ "$code" = 200 ]
	done
	[ "$code" = 507 ]
	[[ $(jq -r .error <<<"$body") == "the server's disk is full (database: "*'): nothing was applied; the operator must free space' ]]
	http GET /v1/maps/m/snapshot
	[ "$(jq -r .cursor <<<"$body")" -ge 1 ]
}

# big_features_push FIRST LAST TEXT: a push body of features fFIRST..fLAST (ops aFIRST..),
# each named TEXT followed by its number.
big_features_push() {
	local i
	printf '{"client_id":"alice","base":0,"ops":['
	for i in $(seq "$1" "$2"); do
		[ "$i" = "$1" ] || printf ','
		op_feature "a$i" L1 "f$i" "$3$i" alice
	done
	printf ']}'
}

@test "serve_hostile: a small pull goes through while the large answers a server sends at once are all taken" {
	start_server --max-streams 1
	# a snapshot of 10 MB: more than the socket buffers take from a client that reads nothing
	local big i k
	big=$(head -c 100000 /dev/zero | tr '\0' x)
	for k in 0 1; do
		big_features_push $((k * 50 + 1)) $((k * 50 + 50)) "$big" >"$TEST_DIR/push.json"
		http POST /v1/maps/big/push --data-binary @"$TEST_DIR/push.json"
		[ "$code" = 200 ]
	done
	push small bob 0 "[$(op_feature b1 L1 g1 Gare bob)]"
	[ "$code" = 200 ]
	# a client that asks for the snapshot and reads only its status line holds the one slot
	exec 4<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'GET /v1/maps/big/snapshot HTTP/1.1\r\nHost: x\r\n\r\n' >&4
	local status
	IFS= read -r -t 10 status <&4
	[[ $status == 'HTTP/1.1 200 OK'* ]]
	# another large answer waits for it; a small one does not
	http GET /v1/maps/big/snapshot
	[ "$code" = 503 ]
	[ "$(jq -r .error <<<"$body")" = "the server is busy sending other answers: retry in a moment" ]
	grep -qi '^retry-after: 1' "$TEST_DIR/headers"
	http GET '/v1/maps/small/pull?since=0'
	[ "$code" = 200 ]
	[ "$(jq -c '[.ops[].op_id]' <<<"$body")" = '["b1"]' ]
	http GET /v1/maps/small/snapshot
	[ "$code" = 200 ]
	http GET '/v1/maps/big/pull?since=99'
	[ "$code" = 200 ]
	[ "$(jq -c '[.ops[].op_id, .cursor]' <<<"$body")" = '["a100",100]' ]
	# the slot comes back once that client goes away
	exec 4<&- 4>&-
	for i in $(seq 50); do
		http GET /v1/maps/big/snapshot
		[ "$code" = 503 ] || break
		sleep 0.1
	done
	[ "$code" = 200 ]
	[ "$(jq '.layers[0].features | length' <<<"$body")" = 100 ]
}

@test "serve_hostile: a large pull or snapshot is sent as it is read (chunked), whole and in order" {
	start_server
	# 30 features of 50 kB: a snapshot of 1.5 MB, over the size sent whole
	local big i
	big=$(head -c 50000 /dev/zero | tr '\0' x)
	big_features_push 1 30 "$big" >"$TEST_DIR/push.json"
	http POST /v1/maps/m/push --data-binary @"$TEST_DIR/push.json"
	[ "$code" = 200 ]
	http GET /v1/maps/m/snapshot
	[ "$code" = 200 ]
	grep -qi '^transfer-encoding: chunked' "$TEST_DIR/headers"
	[ "$(jq -c '[.layers[0].features[].id]' <<<"$body")" = "$(seq 30 | jq -Rc '[inputs | "f\(.)"] | ["f1"] + .')" ]
	[ "$(jq -r '.layers[0].features[29].properties.name' <<<"$body")" = "${big}30" ]
	[ "$(jq -r .cursor <<<"$body")" = 30 ]
	http GET '/v1/maps/m/pull?since=0'
	[ "$code" = 200 ]
	grep -qi '^transfer-encoding: chunked' "$TEST_DIR/headers"
	[ "$(jq -c '[.ops[].op_id]' <<<"$body")" = "$(seq 30 | jq -Rc '[inputs | "a\(.)"] | ["a1"] + .')" ]
	[ "$(jq -c '[.cursor, .more]' <<<"$body")" = '[30,false]' ]
	# a small answer still comes whole, with its length
	http GET '/v1/maps/m/pull?since=29'
	grep -qi '^content-length: ' "$TEST_DIR/headers"
	[ "$(jq -c '[.ops[].op_id]' <<<"$body")" = '["a30"]' ]
}
