#!/usr/bin/env bats
# Limits: nesting depth, string size, ops per push, request body, connections per client,
# idle clients. Each is enforced and reported with what was exceeded and where.
# Server tests need the sync server (tests/bats/sync_helper.bash) and skip until it lands.

bats_require_minimum_version 1.5.0
load helper
if [ -f "$BATS_TEST_DIRNAME/sync_helper.bash" ]; then
	load sync_helper
	HAVE_SERVER=1
else
	HAVE_SERVER=0
fi

require_command() {
	local out
	out=$("$UMAPSYNC" "$@" 2>&1 </dev/null) || true
	case "$out" in
	*"is not implemented yet"*) skip "'umapsync $1' has not landed on this branch yet" ;;
	esac
}

require_server() {
	[ "$HAVE_SERVER" = 1 ] || skip "the sync server has not landed on this branch yet"
}

# deep_layer N: a layer whose first feature has a property nested N arrays deep (unclosed:
# the limit must trip before the end of the input is noticed).
deep_layer() {
	printf '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":'
	head -c "$1" /dev/zero | tr '\0' '['
}

@test "100,000 nested arrays: diff stops at the depth limit with the position" {
	deep_layer 100000 >deep.geojson
	run_split umapsync diff deep.geojson "$EXAMPLES/bike-parking.geojson"
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: deep.geojson:1:329: nesting is deeper than the limit of 256 levels"
	assert_equal "$output" ""
}

@test "100,000 nested arrays: validate reports the depth limit with the position" {
	require_command validate "$EXAMPLES/bike-parking.geojson"
	deep_layer 100000 >deep.geojson
	run_split umapsync validate deep.geojson
	[[ "$status" == 1 || "$status" == 128 ]]
	[[ "$output$stderr" == *"deep.geojson:1:329"*"nesting is deeper than the limit of 256 levels"* ]]
}

@test "nesting at the limit is accepted" {
	{
		printf '{"type":"FeatureCollection","features":[{"type":"Feature","id":"a","geometry":null,"properties":{"a":'
		head -c 252 /dev/zero | tr '\0' '['
		head -c 252 /dev/zero | tr '\0' ']'
		printf '}}]}\n'
	} >limit.geojson
	run_split umapsync diff --stat limit.geojson limit.geojson
	assert_success
}

@test "a 65 MiB string: diff stops at the string limit, fast and with the position" {
	{
		printf '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":"'
		head -c $((65 << 20)) /dev/zero | tr '\0' 'a'
		printf '"},"geometry":null}]}\n'
	} >long.geojson
	run_split umapsync diff long.geojson "$EXAMPLES/bike-parking.geojson"
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: long.geojson:1:77: string longer than the limit of 67108864 bytes"
}

# four_features: a layer of 4 features, one per line, the 4th indented by 2.
four_features() {
	printf '{"type":"FeatureCollection","features":[\n'
	printf '{"type":"Feature","id":%d,"properties":{},"geometry":null},\n' 1 2 3
	printf '  {"type":"Feature","id":4,"properties":{},"geometry":null}\n]}\n'
}

@test "features per layer: one over UMAPSYNC_MAX_FEATURES stops the read at that feature" {
	four_features >many.geojson
	UMAPSYNC_MAX_FEATURES=3 run_split umapsync diff --stat many.geojson many.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: many.geojson:5:3: more than 3 features in one layer, the limit: set UMAPSYNC_MAX_FEATURES to raise it"
	assert_equal "$output" ""
	UMAPSYNC_MAX_FEATURES=4 run_split umapsync diff --stat many.geojson many.geojson
	assert_success
	assert_output " 0 added, 0 removed, 0 modified, 4 unchanged"
}

@test "features per layer: the default limit is 1,000,000" {
	{
		printf '{"type":"FeatureCollection","features":['
		yes '{},' | head -n 1000000 | tr -d '\n'
		printf '{}]}\n'
	} >huge.geojson
	run_split umapsync diff --stat huge.geojson huge.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: huge.geojson:1:3000041: more than 1000000 features in one layer, the limit: set UMAPSYNC_MAX_FEATURES to raise it"
	UMAPSYNC_MAX_FEATURES=1000001 run_split umapsync diff --stat huge.geojson huge.geojson
	assert_success
	assert_output " 0 added, 0 removed, 0 modified, 1000001 unchanged"
}

@test "features per layer: the limit holds in each layer of a .umap map" {
	{
		printf '{"type":"umap","properties":{"name":"m"},"layers":['
		printf '{"type":"FeatureCollection","_umap_options":{"id":"a"},"features":[{"type":"Feature","id":1,"properties":{},"geometry":null}]},\n'
		printf '{"type":"FeatureCollection","_umap_options":{"id":"b"},"features":[\n'
		printf '{"type":"Feature","id":%d,"properties":{},"geometry":null},\n' 1 2
		printf '{"type":"Feature","id":3,"properties":{},"geometry":null}]}]}\n'
	} >map.umap
	UMAPSYNC_MAX_FEATURES=2 run_split umapsync diff --stat map.umap map.umap
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: map.umap:5:1: more than 2 features in one layer, the limit: set UMAPSYNC_MAX_FEATURES to raise it"
}

@test "features per layer: a UMAPSYNC_MAX_FEATURES that is not a number is an error" {
	UMAPSYNC_MAX_FEATURES=lots run_split umapsync diff --stat "$EXAMPLES/bike-parking.geojson" "$EXAMPLES/bike-parking.geojson"
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: UMAPSYNC_MAX_FEATURES must be a number of features (at least 1), not 'lots'"
}

@test "server: a push of more ops than the limit gets 413 and applies nothing" {
	require_server
	start_server
	awk -v hlc="$(hlc alice)" 'BEGIN {
		printf "{\"client_id\":\"alice\",\"base\":0,\"ops\":["
		for (i = 1; i <= 10001; i++)
			printf "%s{\"op_id\":\"op%d\",\"hlc\":\"%s\",\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"L1\"},\"key\":\"properties.n\",\"value\":%d}", (i > 1 ? "," : ""), i, hlc, i
		printf "]}"
	}' >push.json
	http POST /v1/maps/m/push -H 'Content-Type: application/json' --data-binary @push.json
	assert_equal "$code" 413
	[[ "$body" == *"too many ops in one push (10001, limit 10000)"* ]]
	http GET /v1/maps/m/pull?since=0
	assert_equal "$code" 404
}

@test "server: a push that would put more than --max-features in a layer gets 413 and applies nothing" {
	require_server
	start_server --max-features 3
	push m alice 0 "[$(op_feature a1 L1 f1 A alice),$(op_feature a2 L1 f2 B alice)]"
	assert_equal "$code" 200
	push m alice 2 "[$(op_feature a3 L2 g1 C alice),$(op_feature a4 L1 f3 C alice),$(op_feature a5 L1 f4 D alice)]"
	assert_equal "$code" 413
	assert_equal "$(jq -r .error <<<"$body")" "layer 'L1' would hold 4 features, over this server's limit of 3 (serve --max-features): nothing was applied"
	http GET '/v1/maps/m/pull?since=2'
	assert_equal "$(jq -c '[(.ops | length), .cursor]' <<<"$body")" "[0,2]"
	# up to the limit, edits of what is there, and other layers are fine
	push m alice 2 "[$(op_feature a4 L1 f3 C alice),$(op_feature a6 L1 f1 A2 alice),$(op_feature a3 L2 g1 C alice)]"
	assert_equal "$code" 200
	http GET /v1/maps/m/snapshot
	assert_equal "$(jq -c '[.layers[] | {id, n: (.features | length)}]' <<<"$body")" '[{"id":"L1","n":3},{"id":"L2","n":1}]'
}

@test "server: a push body nested 100,000 deep is refused with 400, not a crash" {
	require_server
	start_server
	head -c 100000 /dev/zero | tr '\0' '[' >deep.json
	http POST /v1/maps/m/push -H 'Content-Type: application/json' --data-binary @deep.json
	assert_equal "$code" 400
	http GET /v1/info
	assert_equal "$code" 200
}

@test "server: an idle connection is closed after --timeout" {
	require_server
	start_server --timeout 1
	local t0 t1
	t0=$(date +%s%N)
	# half a request, then nothing: the server must hang up on us
	run timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'GET /v1/info HTTP/1.1\r\n' >&3; cat <&3"
	t1=$(date +%s%N)
	assert_equal "$status" 0 # cat saw the server close, not timeout(1)'s kill
	[ $(((t1 - t0) / 1000000)) -lt 5000 ]
}

@test "server: connections beyond --max-per-ip from one address are refused" {
	require_server
	start_server --max-per-ip 3 --timeout 5
	local i
	for i in 3 4 5; do
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
		printf 'GET /v1/info HTTP/1.1\r\n' >&"$fd"
		eval "held_$i=$fd"
	done
	sleep 0.2
	# the fourth one is accepted by the kernel and closed by the server without an answer
	run timeout 5 curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/info"
	[ "$status" != 0 ] || [ "$output" != 200 ]
	for i in 3 4 5; do eval "exec {held_$i}>&-"; done
	sleep 0.2
	run timeout 5 curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/info"
	assert_output 200
}

@test "200,000 identical features without id: diff is linear, not quadratic (was 34 s)" {
	{
		printf '{"type":"FeatureCollection","features":['
		yes '{},' | head -n 199999 | tr -d '\n'
		printf '{}]}\n'
	} >same.geojson
	run_split timeout 20 "$UMAPSYNC" diff --stat same.geojson same.geojson
	assert_success
	assert_output " 0 added, 0 removed, 0 modified, 200000 unchanged"
}

# slow_sender PORT HEAD...: sends the request head lines one every 0.5 s for up to 30 s and
# prints "closed after N lines" once the server has hung up, "never closed" otherwise.
slow_sender() {
	local port=$1
	shift
	bash -c '
		trap "" PIPE
		exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 2
		i=0
		for line in "$@"; do
			i=$((i + 1))
			printf "%s\r\n" "$line" >&3 2>/dev/null || { echo "closed after $i lines"; exit 0; }
			sleep 0.5
		done
		for i in $(seq $((i + 1)) 60); do
			printf "X-Slow-%d: a\r\n" "$i" >&3 2>/dev/null || { echo "closed after $i lines"; exit 0; }
			sleep 0.5
		done
		echo "never closed"' "$port" "$@"
}

@test "server: a request head sent a line every 0.5 s is cut at --request-timeout; others are served" {
	require_server
	# --timeout (idle) never fires: a line comes every 0.5 s
	start_server --timeout 5 --request-timeout 2 -v
	slow_sender "$PORT" "GET /v1/info HTTP/1.1" "Host: x" >slow.out &
	local slow=$!
	sleep 0.3
	http GET /v1/info
	assert_equal "$code" 200
	wait "$slow"
	run cat slow.out
	assert_output --regexp '^closed after [0-9]+ lines$'
	run grep -c 'closed 1 connection whose request took more than 2 s to arrive' "$TEST_DIR/server.log"
	assert_output 1
}

@test "server: a push body sent a byte every 0.5 s is cut at --request-timeout" {
	require_server
	start_server --timeout 5 --request-timeout 2
	# the head is whole, the body promises 100 bytes and trickles
	run timeout 40 bash -c '
		trap "" PIPE
		exec 3<>"/dev/tcp/127.0.0.1/$0"
		printf "POST /v1/maps/m/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n" >&3
		for i in $(seq 60); do
			printf " " >&3 2>/dev/null || { echo closed; exit 0; }
			sleep 0.5
		done
		echo "never closed"' "$PORT"
	assert_success
	assert_output closed
	http GET /v1/info
	assert_equal "$code" 200
}

@test "server: --request-timeout 0 leaves a slow request head alone until the idle timeout" {
	require_server
	start_server --timeout 2 --request-timeout 0
	# one line every 3 s outlives the 2 s idle timeout: that one closes it instead
	run timeout 40 bash -c '
		trap "" PIPE
		exec 3<>"/dev/tcp/127.0.0.1/$0"
		for i in $(seq 10); do
			printf "X-Slow-%d: a\r\n" "$i" >&3 2>/dev/null || { echo "closed after $i"; exit 0; }
			sleep 3
		done
		echo "never closed"' "$PORT"
	assert_success
	[[ "$output" == "closed after "[2-9]* ]]
}

@test "server: a long-poll outlives --request-timeout: only the arrival of a request is bounded" {
	require_server
	start_server --request-timeout 1 --max-wait 3
	http GET '/v1/maps/m/pull?since=0&wait=3'
	assert_equal "$code" 404
	push m alice 0 "[$(op_feature a1 L1 f1 Bellecour alice)]"
	assert_equal "$code" 200
	# nothing new for 3 s: answered empty at the long-poll's deadline, not cut at 1 s
	http GET '/v1/maps/m/pull?since=1&wait=3'
	assert_equal "$code" 200
	assert_equal "$(jq -c .ops <<<"$body")" "[]"
}
