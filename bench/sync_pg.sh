#!/bin/sh
# Several `umapsync serve` processes on one PostgreSQL, beside one on SQLite: durable pushes/s
# and p99 with 1, 2 and 4 processes, CLIENTS clients spread over them (bench/sync_load.c),
# on one map and on one map per client; with the CPU the database and the servers spent per
# push. Starts its own throwaway cluster (scripts/pg-test-cluster.sh) and stops it.
# Usage: bench/sync_pg.sh [CLIENTS [SECONDS [PROCESSES...]]]   (defaults 50, 10, "1 2 4")
set -eu
cd "$(dirname "$0")/.."
UMAPSYNC=$(cd "$(dirname "${UMAPSYNC:-./umapsync}")" && pwd)/$(basename "${UMAPSYNC:-./umapsync}")
clients=${1:-50}
seconds=${2:-10}
shift 2 2>/dev/null || shift $#
procs=${*:-1 2 4}
work=$(mktemp -d)
pg=$(mktemp -d "${TMPDIR:-/tmp}/umapsync-benchpg.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	sh scripts/pg-test-cluster.sh stop "$pg" >/dev/null 2>&1 || true
	rm -rf "$work" "$pg"
}
trap cleanup EXIT
cc -O2 -o "$work/sync_load" bench/sync_load.c $(pkg-config --cflags --libs libcurl) -lpthread
sh scripts/pg-test-cluster.sh start "$pg" >/dev/null
tck=$(getconf CLK_TCK)
# CPU ticks of the cluster: the postmaster, its children alive, and those it reaped
pg_cpu() {
	pm=$(head -n 1 "$pg/pgdata/postmaster.pid")
	{
		awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
		for c in $(ps -o pid= --ppid "$pm"); do awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true; done
	} | awk '{ s += $1 } END { print s }'
}
servers_cpu() {
	for p in $pids; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ s += $1 } END { print s + 0 }'
}
start_servers() { # N STORE-OPTION...
	local count=$1 si=0 wj
	shift
	pids="" urls=""
	[ "$count" -ge 1 ] && [ "$count" -le 16 ] || exit 2
	while [ $si -lt "$count" ]; do
		rm -f "$work/port$si"
		"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$work/port$si" "$@" --rate 0 --max-per-ip 1024 \
			--threads 4 2>>"$work/server.log" &
		pids="$pids $!"
		wj=0
		while [ ! -s "$work/port$si" ] && [ $wj -lt 200 ]; do sleep 0.05; wj=$((wj + 1)); done
		urls="$urls${urls:+,}http://127.0.0.1:$(cat "$work/port$si")/v1/maps/bench"
		si=$((si + 1))
	done
}
stop_servers() {
	for p in $pids; do kill "$p"; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	pids=""
}
run() { # LABEL MAPS
	local label=$1 maps=$2 d0 d1 s0 s1 line npush rate p99 errors
	d0=$(pg_cpu)
	s0=$(servers_cpu)
	SYNC_MAPS=$maps timeout $((seconds + 60)) "$work/sync_load" "$urls" "$clients" "$seconds" >"$work/out"
	d1=$(pg_cpu)
	s1=$(servers_cpu)
	line=$(grep '^durable pushes' "$work/out")
	npush=$(echo "$line" | sed -n 's/.*: \([0-9]*\) in .*/\1/p')
	rate=$(echo "$line" | sed -n 's/.* = \([0-9.]*\)\/s.*/\1/p')
	p99=$(echo "$line" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')
	errors=$(sed -n 's/.*errors \([0-9]*\).*/\1/p' "$work/out")
	printf '%-34s %8s %9s %7s %12s %14s\n' "$label" "$rate" "$p99" "$errors" \
		"$(echo "scale=3; ($d1 - $d0) * 1000 / $tck / ($npush + 1)" | bc)" \
		"$(echo "scale=3; ($s1 - $s0) * 1000 / $tck / ($npush + 1)" | bc)"
}
printf '%d clients, %d s each, on %s (%d cores)\n' "$clients" "$seconds" "$(uname -m)" "$(nproc)"
printf '%-34s %8s %9s %7s %12s %14s\n' store pushes/s "p99 ms" errors "db ms/push" "server ms/push"
start_servers 1 --data "$work/sqlite1"
run "sqlite, 1 process, 1 map" 1
stop_servers
start_servers 1 --data "$work/sqlite2"
run "sqlite, 1 process, map per client" "$clients"
stop_servers
k=0
for np in $procs; do
	for maps in 1 "$clients"; do
		k=$((k + 1))
		url=$(sh scripts/pg-test-cluster.sh createdb "$pg" "bench$k")
		start_servers "$np" --store "$url"
		if [ "$maps" = 1 ]; then what="1 map"; else what="map per client"; fi
		run "postgresql, $np process(es), $what" "$maps"
		stop_servers
	done
done
