# Helpers for the sync suites: a real `umapsync serve` on 127.0.0.1 with an ephemeral port,
# bounded in time, stopped by pid; curl wrappers that keep the status code apart.
# Load after helper: `load helper; load sync_helper`.

SERVER_PID=
PORT=

# The store the suites run against: SQLite in $TEST_DIR/data, or with UMAPSYNC_TEST_STORE=pg
# a fresh database of its own in the PostgreSQL cluster at $UMAPSYNC_PG_DIR (tests/run.sh
# starts one; scripts/pg-test-cluster.sh). A pg run without a cluster fails, never skips.
PG_CLUSTER=$BATS_TEST_DIRNAME/../../scripts/pg-test-cluster.sh

# store_url: this test's database URL (made on first use)
store_url() {
	if [ ! -s "$TEST_DIR/pg-url" ]; then
		[ -n "${UMAPSYNC_PG_DIR:-}" ] || { echo "UMAPSYNC_TEST_STORE=pg needs UMAPSYNC_PG_DIR (a cluster: scripts/pg-test-cluster.sh start DIR)" >&2; return 1; }
		"$PG_CLUSTER" createdb "$UMAPSYNC_PG_DIR" "t$(basename "$TEST_DIR" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')" >"$TEST_DIR/pg-url" || return 1
	fi
	cat "$TEST_DIR/pg-url"
}

# store_opt: the option naming the store, for serve and token ("--data DIR" or "--store URL")
store_opt() {
	if [ "${UMAPSYNC_TEST_STORE:-sqlite}" = pg ]; then
		echo "--store $(store_url)"
	else
		echo "--data $TEST_DIR/data"
	fi
}

# store_dump: every byte the store keeps, as text (to check what is not stored)
store_dump() {
	if [ "${UMAPSYNC_TEST_STORE:-sqlite}" = pg ]; then
		"$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_dump | sort -V | tail -n 1)")/pg_dump" -d "$(store_url)" --data-only
	else
		cat "$TEST_DIR"/data/umapsync.db*
	fi
}

# start_server [serve options...]: data in $TEST_DIR/data unless --data is given.
start_server() {
	local data_args
	read -r -a data_args <<<"$(store_opt)" || return 1
	for a in "$@"; do [[ $a == --data || $a == --store ]] && data_args=(); done
	rm -f "$TEST_DIR/port"
	"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$TEST_DIR/port" "${data_args[@]}" "$@" \
		2>>"$TEST_DIR/server.log" &
	SERVER_PID=$!
	wait_for_port "$TEST_DIR/port" "$SERVER_PID" "$TEST_DIR/server.log" || return 1
	PORT=$(cat "$TEST_DIR/port") || return 1
	BASE="http://127.0.0.1:$PORT"
}

stop_server() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null
		local i
		for i in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=
}

teardown() {
	stop_server
	cd / || true
	[ -n "${TEST_DIR:-}" ] && rm -rf "$TEST_DIR"
}

# http METHOD PATH [curl args...]: body in $body, status in $code, headers in $TEST_DIR/headers.
http() {
	local method=$1 path=$2
	shift 2
	local out
	out=$(curl -sS --max-time 20 -X "$method" -D "$TEST_DIR/headers" -o "$TEST_DIR/body" \
		-w '%{http_code}' "$@" "$BASE$path") || true
	code=$out
	body=$(cat "$TEST_DIR/body" 2>/dev/null)
}

# push MAP CLIENT BASE OPS_JSON_ARRAY [curl args...]
push() {
	local map=$1 client=$2 base=$3 ops=$4
	shift 4
	http POST "/v1/maps/$map/push" -H 'Content-Type: application/json' \
		--data-binary "{\"client_id\":\"$client\",\"base\":$base,\"ops\":$ops}" "$@"
}

# An HLC string for now (+ offset seconds) from node $1.
hlc() {
	local node=$1 offset=${2:-0}
	printf '%d:0:%s' $(( $(date +%s%3N) + offset * 1000 )) "$node"
}

# op_update ID LAYER FEATURE KEY VALUE_JSON NODE
op_update() {
	printf '{"op_id":"%s","hlc":"%s","verb":"update","subject":"feature","metadata":{"id":"%s","layerId":"%s","featureType":"marker"},"key":"%s","value":%s}' \
		"$1" "$(hlc "$6")" "$3" "$2" "$4" "$5"
}

# op_feature ID LAYER FEATURE NAME NODE: upsert of a point feature
op_feature() {
	printf '{"op_id":"%s","hlc":"%s","verb":"upsert","subject":"feature","metadata":{"id":"%s","layerId":"%s","featureType":"marker"},"value":{"type":"Feature","geometry":{"type":"Point","coordinates":[4.85,45.76]},"properties":{"name":"%s"}}}' \
		"$1" "$(hlc "$5" "${6:-0}")" "$3" "$2" "$4"
}

# op_layer ID LAYER FILENAME NAME NODE: upsert of a datalayer
op_layer() {
	printf '{"op_id":"%s","hlc":"%s","verb":"upsert","subject":"datalayer","metadata":{"id":"%s","filename":"%s"},"value":{"name":"%s"}}' \
		"$1" "$(hlc "$5")" "$2" "$3" "$4"
}
