#!/bin/sh
# Token checks under load: TOKENS tokens in the server's database (rows written directly
# with sqlite3, as `token create` would, with random hashes), plus one real write token
# the load uses; then bench/sync_load.c with CLIENTS clients for SECONDS.
# Usage: bench/sync_tokens.sh [TOKENS [CLIENTS [SECONDS]]]   (defaults 20000, 20, 10)
set -eu
cd "$(dirname "$0")/.."
UMAPSYNC=${UMAPSYNC:-./umapsync}
ntokens=${1:-20000}
clients=${2:-20}
seconds=${3:-10}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cc -O2 -o "$work/sync_load" bench/sync_load.c $(pkg-config --cflags --libs libcurl) -lpthread
token=$("$UMAPSYNC" token create --data "$work/data" --map bench --write 2>/dev/null)
sqlite3 "$work/data/umapsync.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ntokens)
	INSERT INTO tokens(id, hash, map, layers, access, created, revoked)
	SELECT printf('%016x', i), lower(hex(randomblob(32))), 'bench', NULL, 'write', 0, NULL FROM n;"
echo "$(sqlite3 "$work/data/umapsync.db" 'SELECT COUNT(*) FROM tokens') tokens"
"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$work/port" --data "$work/data" --rate 0 \
	--max-per-ip 1024 --threads 4 2>"$work/server.log" &
pid=$!
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$work/port")
SYNC_TOKEN=$token timeout $((seconds + 30)) "$work/sync_load" "http://127.0.0.1:$port/v1/maps/bench" "$clients" "$seconds"
