#!/bin/sh
# Bounded load run of `umapsync serve`: builds bench/sync_load, starts a server on an
# ephemeral loopback port (fsync on, no rate limit), runs CLIENTS clients for SECONDS.
# Usage: bench/sync_load.sh [CLIENTS [SECONDS]]   (defaults 50 and 10)
set -eu
cd "$(dirname "$0")/.."
UMAPSYNC=${UMAPSYNC:-./umapsync}
clients=${1:-50}
seconds=${2:-10}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
cc -O2 -o "$work/sync_load" bench/sync_load.c $(pkg-config --cflags --libs libcurl) -lpthread
"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$work/port" --data "$work/data" --rate 0 \
	--max-per-ip 1024 --threads 4 2>"$work/server.log" &
pid=$!
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$work/port")
timeout $((seconds + 30)) "$work/sync_load" "http://127.0.0.1:$port/v1/maps/bench" "$clients" "$seconds"
