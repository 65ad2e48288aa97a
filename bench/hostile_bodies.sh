#!/bin/sh
# Memory a hostile client can pin in `umapsync serve`: CONNECTIONS connections from one
# address each send a push of BYTES without a token (or with a valid one: "auth"), all
# but the last byte, and the server's resident memory is printed while they wait.
# Usage: bench/hostile_bodies.sh [CONNECTIONS [BYTES [noauth|auth]]]  (100, 8388608, noauth)
set -eu
cd "$(dirname "$0")/.."
UMAPSYNC=${UMAPSYNC:-./umapsync}
conns=${1:-100}
bytes=${2:-8388608}
mode=${3:-noauth}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cc -O2 -o "$work/hostile_bodies" bench/hostile_bodies.c
# a token makes the server require one
token=$("$UMAPSYNC" token create --data "$work/data" --map m --write 2>/dev/null)
"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$work/port" --data "$work/data" --rate 0 \
	--max-per-ip 1024 --request-timeout 120 2>"$work/server.log" &
pid=$!
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$work/port")
if [ "$mode" = auth ]; then
	timeout 120 "$work/hostile_bodies" "$port" "$pid" "$conns" "$bytes" "$token"
else
	timeout 120 "$work/hostile_bodies" "$port" "$pid" "$conns" "$bytes"
fi
