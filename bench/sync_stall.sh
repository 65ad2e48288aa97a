#!/bin/sh
# Large answers and slow readers: a map whose op log is about MIB MiB (10,000 ops); first
# READERS clients pull all of it in a loop while bench/sync_load.c (4 clients, 10 s) works
# on another map (their latencies), then READERS clients pull it at 1 kB/s (stalled) and
# the server's resident memory is printed.
# Usage: bench/sync_stall.sh [MIB [READERS]]   (defaults 210 and 12)
set -eu
cd "$(dirname "$0")/.."
UMAPSYNC=${UMAPSYNC:-./umapsync}
mib=${1:-210}
readers=${2:-12}
work=$(mktemp -d)
pid=
trap 'for p in $(cat "$work/curls" 2>/dev/null); do kill "$p" 2>/dev/null; done; [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
cc -O2 -o "$work/sync_load" bench/sync_load.c $(pkg-config --cflags --libs libcurl) -lpthread
"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$work/port" --data "$work/data" --rate 0 \
	--max-per-ip 1024 --max-body 16777216 --timeout 600 2>"$work/server.log" &
pid=$!
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
base="http://127.0.0.1:$(cat "$work/port")/v1/maps"
rss() { awk '/^VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status"; }
# 10,000 ops of MIB/10000 MiB each, pushed 250 at a time
size=$((mib * 1048576 / 10000))
hlc=$(printf '%012x-0000-bench' "$(date +%s%3N)")
for batch in $(seq 0 39); do
	awk -v b="$batch" -v size="$size" -v hlc="$hlc" 'BEGIN {
		pad = "x"; while (length(pad) < size - 200) pad = pad pad; pad = substr(pad, 1, size - 200)
		printf "{\"client_id\":\"bench\",\"base\":%d,\"ops\":[", b * 250
		for (i = 0; i < 250; i++) {
			n = b * 250 + i
			printf "%s{\"op_id\":\"o%d\",\"hlc\":\"%s\",\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f%d\",\"layerId\":\"L\"},\"value\":{\"type\":\"Feature\",\"geometry\":null,\"properties\":{\"pad\":\"%s\"}}}", i ? "," : "", n, hlc, n, pad
		}
		printf "]}" }' >"$work/push.json"
	curl -sS -o /dev/null -w '' --data-binary @"$work/push.json" "$base/big/push"
done
echo "op log: $(du -m "$work/data" | cut -f1) MiB on disk; server RSS $(rss)"
: >"$work/curls"
# latency: READERS clients pulling the whole log again and again, while small clients work
for r in $(seq "$readers"); do
	( trap 'kill "$c" 2>/dev/null; exit 0' TERM
	  while :; do curl -s -o /dev/null "$base/big/pull?since=0&limit=10000" & c=$!; wait "$c"; done ) &
	echo $! >>"$work/curls"
done
timeout 60 "$work/sync_load" "$base/small" 4 10
echo "with $readers clients pulling the whole log in a loop: server RSS $(rss)"
for p in $(cat "$work/curls"); do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
: >"$work/curls"
# memory: READERS clients pulling the whole log at 1 kB/s
for r in $(seq "$readers"); do
	curl -s --limit-rate 1k -o /dev/null "$base/big/pull?since=0&limit=10000" &
	echo $! >>"$work/curls"
done
sleep 10
echo "$readers stalled readers of the whole log: server RSS $(rss)"
