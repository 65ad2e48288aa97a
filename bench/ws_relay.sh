#!/bin/sh
# The websocket relay run of `make bench`, runnable alone: umapsync serve with uMap's endpoint,
# 200 peers on 20 maps, 1,000 ops/s in all (bench/ws_relay.mjs), then SIGKILL and a restart to
# check every relayed op was durable. Usage: UMAPSYNC=./umapsync sh bench/ws_relay.sh [PEERS MAPS RATE SECONDS]
# Needs node with `ws` in build/umap-js (the realtime tests install it) and python3-django.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
U=${UMAPSYNC:-$ROOT/umapsync}
PEERS=${1:-200} MAPS=${2:-20} RATE=${3:-1000} SECONDS_=${4:-10}
DEPS=$ROOT/build/umap-js
[ -f "$DEPS/node_modules/ws/package.json" ] || { echo "ws_relay: no ws in $DEPS: run the umap_realtime tests once" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/umapsync-ws-bench.XXXXXX") || exit 2
PID=""
stop() {
	[ -n "$PID" ] || return 0
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=""
}
trap 'stop; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

printf 'bench-secret-key-%s\n' "$$" >"$WORK/secret"
start() {
	rm -f "$WORK/port"
	# --max-per-ip: every peer comes from 127.0.0.1
	"$U" serve --listen 127.0.0.1:0 --port-file "$WORK/port" --data "$WORK/data" \
		--umap-secret-file "$WORK/secret" --max-per-ip 1024 2>>"$WORK/serve.log" &
	PID=$!
	for _ in $(seq 100); do
		[ -s "$WORK/port" ] && { PORT=$(cat "$WORK/port"); return 0; }
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "ws_relay: serve does not start: $(head -n 1 "$WORK/serve.log")" >&2
	exit 1
}
"${PYTHON:-/usr/bin/python3}" - "$(head -n 1 "$WORK/secret")" "$MAPS" >"$WORK/tokens.json" <<'PY' || { echo "ws_relay: \$PYTHON (default /usr/bin/python3) with Django is needed" >&2; exit 2; }
import json, sys
from django.conf import settings
settings.configure(SECRET_KEY=sys.argv[1])
from django.core.signing import TimestampSigner
s = TimestampSigner()
print(json.dumps({str(m): s.sign_object({"user": "anonymous", "map_id": m, "permissions": ["edit"]})
                  for m in range(1, int(sys.argv[2]) + 1)}))
PY
start
(cd "$DEPS" && timeout $((SECONDS_ + 180)) node "$ROOT/bench/ws_relay.mjs" run "$PORT" "$PID" "$WORK/tokens.json" \
	"$WORK/received.json" "$PEERS" "$MAPS" "$RATE" "$SECONDS_")
rc=$?
# a relayed op was appended and fsync'd first: it survives a crash right after
kill -KILL "$PID"
wait "$PID" 2>/dev/null
PID=""
start
(cd "$DEPS" && timeout 120 node "$ROOT/bench/ws_relay.mjs" verify "$PORT" "$WORK/received.json") || rc=1
exit $rc
