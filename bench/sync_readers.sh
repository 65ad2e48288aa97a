#!/bin/sh
# Twelve readers of a large map beside a small pull (issue 19): a map's log seeded with
# FEATURES feature upserts (about 270 bytes of log each), then READERS clients each pull it
# whole from cursor 0 and take its snapshot while a small pull of another map is repeated.
# Prints the small pull's p50/p99 with the server idle and beside the readers (same run), the
# readers' total time and the server's peak RSS (VmHWM) during the reads.
# Usage: bench/sync_readers.sh [FEATURES [READERS]]   (defaults 75000 and 12)
# SEEDED=DIR: the seeded data directory is kept in DIR (made the first time, copied for each
# run after): seeding 750k features by pushes takes minutes, the reads under a minute.
# STORE=pg: the server keeps its maps in a throwaway PostgreSQL cluster instead
# (scripts/pg-test-cluster.sh), seeded on each run; the RSS is the umapsync process's.
set -eu
cd "$(dirname "$0")/.."
UMAPSYNC=$(cd "$(dirname "${UMAPSYNC:-./umapsync}")" && pwd)/$(basename "${UMAPSYNC:-./umapsync}")
features=${1:-75000}
readers=${2:-12}
work=$(mktemp -d)
pid="" pg=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$pg" ] && sh scripts/pg-test-cluster.sh stop "$pg" >/dev/null 2>&1
	rm -rf "$work" ${pg:+"$pg"}
}
trap cleanup EXIT
cc -std=c11 -D_GNU_SOURCE -O2 -o "$work/sync_readers" bench/sync_readers.c $(pkg-config --cflags --libs libcurl) -lpthread
serve() { # STORE-OPTION LOCATION
	rm -f "$work/port"
	"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$work/port" "$1" "$2" --rate 0 \
		--max-features 4000000 2>>"$work/server.log" &
	pid=$!
	i=0
	while [ ! -s "$work/port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	url="http://127.0.0.1:$(cat "$work/port")/v1/maps"
}
stop() { kill "$pid" && wait "$pid" 2>/dev/null || true; pid=""; }
seed() {
	start=$(date +%s)
	"$work/sync_readers" seed "$url/big" "$features"
	"$work/sync_readers" seed "$url/small" 10
	stop
	echo "seeded $features features in $(($(date +%s) - start)) s"
}
if [ "${STORE:-}" = pg ]; then
	pg=$(mktemp -d "${TMPDIR:-/tmp}/umapsync-benchpg.XXXXXX")
	store=$(sh scripts/pg-test-cluster.sh start "$pg")
	serve --store "$store"
	seed
	echo "log of the big map: $features ops (PostgreSQL)"
	serve --store "$store"
	timeout 900 "$work/sync_readers" read "$url/big" "$url/small" "$readers" 200 "$pid"
	exit
fi
seeded=${SEEDED:-$work/seeded}
if [ ! -s "$seeded/.features" ] || [ "$(cat "$seeded/.features")" != "$features" ]; then
	rm -rf "$seeded"
	serve --data "$seeded"
	seed
	echo "$features" >"$seeded/.features"
fi
rm -rf "$work/data"
cp -a "$seeded" "$work/data"
log=$(sqlite3 "$work/data"/*.db "SELECT sum(length(body)) FROM ops WHERE map = 'big'" 2>/dev/null || echo "?")
echo "log of the big map: $features ops, $log bytes; store $(du -sm "$work/data" | cut -f1) MB on disk"
serve --data "$work/data"
wal() { stat -c %s "$work/data/umapsync.db-wal" 2>/dev/null || echo 0; }
echo "WAL before the reads: $(wal) bytes"
timeout 900 "$work/sync_readers" read "$url/big" "$url/small" "$readers" 200 "$pid"
echo "WAL after the reads: $(wal) bytes"
