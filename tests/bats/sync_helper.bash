# Helpers for the sync suites: a real `umapsync serve` on 127.0.0.1 with an ephemeral port,
# bounded in time, stopped by pid; curl wrappers that keep the status code apart.
# Load after helper: `load helper; load sync_helper`.

SERVER_PID=
PORT=

# start_server [serve options...]: data in $TEST_DIR/data unless --data is given.
start_server() {
	local data_args=(--data "$TEST_DIR/data")
	for a in "$@"; do [[ $a == --data* ]] && data_args=(); done
	rm -f "$TEST_DIR/port"
	"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$TEST_DIR/port" "${data_args[@]}" "$@" \
		2>>"$TEST_DIR/server.log" &
	SERVER_PID=$!
	local i
	for i in $(seq 100); do
		[ -s "$TEST_DIR/port" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TEST_DIR/server.log" >&2; return 1; }
		sleep 0.05
	done
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
