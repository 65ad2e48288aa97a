#!/usr/bin/env bats
# serve --store postgresql://: several server processes on one database converge, wake each
# other's long-polls, survive a database restart and a killed process, wait for a database
# that is away at start, and take a SQLite store over with --import-from. Needs a cluster:
# tests/run.sh starts one (UMAPSYNC_PG_DIR), else this file starts its own.

bats_require_minimum_version 1.5.0
load helper
load sync_helper

setup_file() {
	if [ -z "${UMAPSYNC_PG_DIR:-}" ]; then
		UMAPSYNC_PG_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/umapsync-pg.XXXXXX")
		"$PG_CLUSTER" start "$UMAPSYNC_PG_DIR" >/dev/null
		export UMAPSYNC_PG_DIR PG_OWN_CLUSTER=1
	fi
}

teardown_file() {
	if [ "${PG_OWN_CLUSTER:-}" = 1 ]; then
		"$PG_CLUSTER" stop "$UMAPSYNC_PG_DIR"
		rm -rf "$UMAPSYNC_PG_DIR"
	fi
}

# start_named NAME serve-options...: a server whose pid and port are kept as NAME.pid, NAME.port
start_named() {
	local name=$1
	shift
	"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$TEST_DIR/$name.port" "$@" 2>>"$TEST_DIR/$name.log" &
	echo $! >"$TEST_DIR/$name.pid"
	wait_for_port "$TEST_DIR/$name.port" $! "$TEST_DIR/$name.log"
}

stop_named() {
	local pid
	pid=$(cat "$TEST_DIR/$1.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	local i
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$TEST_DIR/$1.pid"
}

teardown() {
	local f
	for f in "$TEST_DIR"/*.pid; do [ -e "$f" ] && stop_named "$(basename "$f" .pid)"; done
	if [ -s "$TEST_DIR/own-cluster" ]; then
		"$PG_CLUSTER" stop "$(cat "$TEST_DIR/own-cluster")"
		rm -rf "$(cat "$TEST_DIR/own-cluster")"
	fi
	stop_server
	cd / || true
	rm -rf "$TEST_DIR"
}

# own_cluster: a cluster of this test's own (to restart it, or start it late), in a directory
# that its unprivileged owner can enter (TEST_DIR is private to the user running the tests)
own_cluster() {
	[ -s "$TEST_DIR/own-cluster" ] || mktemp -d "${BATS_TMPDIR:-/tmp}/umapsync-pgown.XXXXXX" >"$TEST_DIR/own-cluster"
	cat "$TEST_DIR/own-cluster"
}

base_of() {
	echo "http://127.0.0.1:$(cat "$TEST_DIR/$1.port")"
}

# push_until_acked URL MAP CLIENT OPS: retries (503, lost connections) until 200, at most 300 times
push_until_acked() {
	local url=$1 map=$2 client=$3 ops=$4 code i
	for i in $(seq 300); do
		code=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' -X POST "$url/v1/maps/$map/push" \
			--data-binary "{\"client_id\":\"$client\",\"base\":0,\"ops\":$ops}") || true
		[ "$code" = 200 ] && return 0
		[ "$code" = 503 ] || [ "$code" = 000 ] || { echo "push $client: HTTP $code" >&2; return 1; }
		echo "retry after HTTP $code" >&2
		sleep 0.1
	done
	echo "push $client: never acknowledged" >&2
	return 1
}

# client NAME N URL...: N pushes of one new feature each, sent round-robin over the servers,
# and each sent again to the next server (a retry after a lost answer): acknowledged twice
client() {
	local name=$1 n=$2
	shift 2
	local urls=("$@") i
	for i in $(seq "$n"); do
		local ops="[$(op_feature "$name-$i" L1 "$name-f$i" "P$i" "$name")]"
		push_until_acked "${urls[$((i % ${#urls[@]}))]}" m "$name" "$ops" || return 1
		push_until_acked "${urls[$(((i + 1) % ${#urls[@]}))]}" m "$name" "$ops" || return 1
	done
}

# every op of map m, pulled from URL: "seq op_id" lines
all_ops() {
	curl -sS --max-time 20 "$1/v1/maps/m/pull?since=0&limit=100000" | jq -r '.ops[] | "\(.seq) \(.op_id)"'
}

@test "pg: two servers on one database converge under concurrent pushes, each op applied once" {
	url=$(store_url)
	start_named a --store "$url"
	start_named b --store "$url"
	a=$(base_of a) b=$(base_of b)
	pids=()
	for c in c1 c2 c3 c4 c5 c6; do
		client "$c" 10 "$a" "$b" 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	ops_a=$(all_ops "$a")
	[ "$ops_a" = "$(all_ops "$b")" ]
	# 60 ops, cursors 1..60 without a gap, each op_id once
	[ "$(wc -l <<<"$ops_a")" = 60 ]
	[ "$(cut -d' ' -f1 <<<"$ops_a" | tr '\n' ' ')" = "$(seq 60 | tr '\n' ' ')" ]
	[ "$(cut -d' ' -f2 <<<"$ops_a" | sort -u | wc -l)" = 60 ]
	snap_a=$(curl -sS "$a/v1/maps/m/snapshot")
	[ "$snap_a" = "$(curl -sS "$b/v1/maps/m/snapshot")" ]
	[ "$(jq '.cursor' <<<"$snap_a")" = 60 ]
	[ "$(jq '.layers[0].features | length' <<<"$snap_a")" = 60 ]
}

@test "pg: a conflicting push is refused (409) whichever server it reaches" {
	url=$(store_url)
	start_named a --store "$url"
	start_named b --store "$url"
	BASE=$(base_of a)
	push m alice 0 "[$(op_layer a1 L1 l.geojson L alice),$(op_feature a2 L1 f1 Gare alice)]"
	[ "$code" = 200 ]
	push m alice 2 "[$(op_update a3 L1 f1 properties.name '"A"' alice)]"
	[ "$code" = 200 ]
	BASE=$(base_of b)
	push m bob 2 "[$(op_update b1 L1 f1 properties.name '"B"' bob)]"
	[ "$code" = 409 ]
	[ "$(jq -c '.conflicts' <<<"$body")" = '[{"layer":"L1","id":"f1","key":"properties.name","op_id":"b1"}]' ]
}

@test "pg: a push on one server wakes a long-poll waiting on another" {
	url=$(store_url)
	start_named a --store "$url"
	start_named b --store "$url"
	a=$(base_of a) b=$(base_of b)
	push_until_acked "$a" m alice "[$(op_feature a1 L1 f1 Gare alice)]"
	( sleep 0.5; push_until_acked "$a" m alice "[$(op_feature a2 L1 f2 Parc alice)]" ) 3>&- &
	pusher=$!
	body=$(curl -sS --max-time 20 "$b/v1/maps/m/pull?since=1&wait=15")
	wait "$pusher"
	[ "$(jq -c '[.ops[].op_id]' <<<"$body")" = '["a2"]' ]
}

# client_until_stopped NAME URL...: like client, until $TEST_DIR/stop exists; prints the op_ids
# acknowledged, and counts the answers that were not 200 in $TEST_DIR/NAME.retries
client_until_stopped() {
	local name=$1 i=0
	shift
	local urls=("$@")
	while [ ! -e "$TEST_DIR/stop" ] && [ "$i" -lt 2000 ]; do
		i=$((i + 1))
		local ops="[$(op_feature "$name-$i" L1 "$name-f$i" "P$i" "$name")]"
		push_until_acked "${urls[$((i % ${#urls[@]}))]}" m "$name" "$ops" 2>>"$TEST_DIR/$name.retries" || return 1
		echo "$name-$i"
	done
}

@test "pg: PostgreSQL restarted during pushes: clients retry, nothing acknowledged is lost or applied twice" {
	pg=$(own_cluster)
	url=$("$PG_CLUSTER" start "$pg")
	start_named a --store "$url"
	start_named b --store "$url"
	a=$(base_of a) b=$(base_of b)
	pids=()
	for c in c1 c2 c3; do
		client_until_stopped "$c" "$a" "$b" >"$TEST_DIR/$c.acked" 3>&- &
		pids+=($!)
	done
	# pushes go on before, during and after the restart
	until [ "$(cat "$TEST_DIR"/c*.acked | wc -l)" -ge 10 ]; do sleep 0.05; done
	"$PG_CLUSTER" restart "$pg"
	n=$(cat "$TEST_DIR"/c*.acked | wc -l)
	until [ "$(cat "$TEST_DIR"/c*.acked | wc -l)" -ge $((n + 10)) ]; do sleep 0.05; done
	touch "$TEST_DIR/stop"
	for p in "${pids[@]}"; do wait "$p"; done
	acked=$(cat "$TEST_DIR"/c*.acked | sort)
	ops=$(all_ops "$b")
	# every acknowledged op is there, once, and nothing else; the cursors have no gap
	[ "$(cut -d' ' -f2 <<<"$ops" | sort)" = "$acked" ]
	[ "$(cut -d' ' -f1 <<<"$ops" | tr '\n' ' ')" = "$(seq "$(wc -l <<<"$acked")" | tr '\n' ' ')" ]
}

@test "pg: a server killed: the other serves every acknowledged op" {
	url=$(store_url)
	start_named a --store "$url"
	start_named b --store "$url"
	a=$(base_of a) b=$(base_of b)
	client c1 10 "$a"
	kill -KILL "$(cat "$TEST_DIR/a.pid")"
	client c2 5 "$b"
	ops=$(all_ops "$b")
	[ "$(wc -l <<<"$ops")" = 15 ]
	[ "$(cut -d' ' -f2 <<<"$ops" | sort | tr '\n' ' ')" = "$(printf 'c1-%s\n' $(seq 10) | cat - <(printf 'c2-%s\n' $(seq 5)) | sort | tr '\n' ' ')" ]
}

@test "pg: a database away at start: 503 with Retry-After, then served once it is up" {
	pg=$(own_cluster)
	url="postgresql://umapsync@/postgres?host=$pg"
	start_named a --store "$url"
	BASE=$(base_of a)
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice)]"
	[ "$code" = 503 ]
	grep -qi '^Retry-After: 1' "$TEST_DIR/headers"
	[[ $(jq -r .error <<<"$body") == "the database postgresql://umapsync@/postgres?host=$pg is unreachable ("*"): "*"; retry once it is back" ]]
	"$PG_CLUSTER" start "$pg" >/dev/null
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice)]"
	[ "$code" = 200 ]
	[ "$body" = '{"ack":["a1"],"cursor":1}' ]
}

@test "pg: serve --import-from moves a SQLite store: ops, cursors, idempotency and tokens" {
	start_server --data "$TEST_DIR/data" --retain 3
	push m alice 0 "[$(op_layer a1 L1 l.geojson L alice),$(op_feature a2 L1 f1 Gare alice),$(op_feature a3 L1 f2 Parc alice),$(op_feature a4 L1 f3 Quai alice),$(op_feature a5 L1 f4 Pont alice)]"
	[ "$code" = 200 ]
	snap=$(curl -sS "$BASE/v1/maps/m/snapshot")
	pulled=$(curl -sS "$BASE/v1/maps/m/pull?since=2")
	stop_server
	token=$("$UMAPSYNC" token create --data "$TEST_DIR/data" --map m --write 2>/dev/null)
	url=$(store_url)
	start_named a --store "$url" --import-from "$TEST_DIR/data"
	grep -q "imported the maps and tokens of '$TEST_DIR/data'" "$TEST_DIR/a.log"
	BASE=$(base_of a)
	http GET /v1/maps/m/snapshot
	[ "$code" = 401 ]
	[ "$(curl -sS -H "Authorization: Bearer $token" "$BASE/v1/maps/m/snapshot")" = "$snap" ]
	[ "$(curl -sS -H "Authorization: Bearer $token" "$BASE/v1/maps/m/pull?since=2")" = "$pulled" ]
	# the log was pruned to 3 ops in SQLite: the floor came along
	http GET '/v1/maps/m/pull?since=1' -H "Authorization: Bearer $token"
	[ "$code" = 410 ]
	# a retry of an op the SQLite store applied is acknowledged, not applied again
	push m alice 0 "[$(op_feature a5 L1 f4 Pont alice)]" -H "Authorization: Bearer $token"
	[ "$body" = '{"ack":["a5"],"cursor":5}' ]
	[ "$("$UMAPSYNC" token list --store "$url" | cut -f2,3)" = $'m\twrite' ]
	stop_named a
	# only into an empty database
	run_split "$UMAPSYNC" serve --listen 127.0.0.1:0 --store "$url" --import-from "$TEST_DIR/data"
	[ "$status" = 128 ]
	[ "$stderr" = "fatal: importing '$TEST_DIR/data': the store to import into already holds maps or tokens: import only into an empty one" ]
}

@test "pg: --store usage errors" {
	run "$UMAPSYNC" serve --store "$TEST_DIR/data"
	[ "$status" = 129 ]
	[[ $output == *"--store wants a postgresql:// URL, not '$TEST_DIR/data'"* ]]
	run "$UMAPSYNC" serve --data d --store postgresql://x/y
	[ "$status" = 129 ]
	[[ $output == *"give one of --data DIR and --store URL"* ]]
	run "$UMAPSYNC" serve --import-from d
	[ "$status" = 129 ]
	[[ $output == *"--import-from DIR needs --store URL"* ]]
	run "$UMAPSYNC" token list --data d --store postgresql://x/y
	[ "$status" = 129 ]
}
