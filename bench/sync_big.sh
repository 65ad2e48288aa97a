#!/bin/sh
# Sync at scale: a FEATURES-feature layer imported and pushed (in batches), cloned, then a
# 1% edit pushed and pulled, against a server on an ephemeral loopback port (fsync on).
# Usage: bench/sync_big.sh [FEATURES]   (default 100000), or bench/sync_big.sh BASE EDIT to
# push BASE (a FeatureCollection file, such as bench/gen.c makes for make bench) and then
# commit EDIT over it as the edit (what make bench measures). Prints, per step, the wall time
# and the CPU time (user + system) of the client and of the server (on a busy machine the
# CPU times are the steadier figures), then the peak RSS of the client and of the server
# during the step (the server's peak is reset before each step where the kernel allows it).
# SERVE_ARGS adds options to serve (a 1M layer and its edit: --max-features=4000000, with
# UMAPSYNC_MAX_FEATURES=2000000 in the environment).
set -eu
cd "$(dirname "$0")/.."
UMAPSYNC=$(cd "$(dirname "${UMAPSYNC:-./umapsync}")" && pwd)/$(basename "${UMAPSYNC:-./umapsync}")
n=${1:-100000}
base="" edit=""
if [ -f "$n" ]; then
	base=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	edit=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
	n=$(grep -c '"type":"Feature"' "$base")
fi
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.org GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.org
"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file "$work/port" --data "$work/srv" --rate 0 ${SERVE_ARGS:-} 2>"$work/server.log" &
pid=$!
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
url="http://127.0.0.1:$(cat "$work/port")/big"
mkdir "$work/a" && cd "$work/a"
if [ -n "$base" ]; then cp "$base" big.geojson; else awk -v n="$n" 'BEGIN {
	printf "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"big\",\"name\":\"Big\"},\"features\":[\n"
	for (i = 0; i < n; i++)
		printf "%s{\"type\":\"Feature\",\"id\":\"f%06d\",\"properties\":{\"name\":\"point %d\",\"n\":%d},\"geometry\":{\"type\":\"Point\",\"coordinates\":[%.5f,%.5f]}}\n",
			i ? "," : "", i, i, i, 4.8 + (i % 1000) / 10000.0, 45.7 + int(i / 1000) / 10000.0
	printf "]}\n" }' >big.geojson; fi
tck=$(getconf CLK_TCK)
server_cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; } # ticks, every thread
server_rss() { awk '/^VmHWM/ { print $2 }' "/proc/$pid/status"; } # kB
# t LABEL CMD...: runs CMD, prints LABEL, wall, client CPU, server CPU, client and server peak RSS
t() {
	label=$1
	shift
	echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true # resets VmHWM (Linux >= 4.0)
	s0=$(server_cpu)
	start=$(date +%s.%N)
	/usr/bin/time -f '%U %S %M' -o "$work/time" "$@" >/dev/null 2>&1
	end=$(date +%s.%N)
	s1=$(server_cpu)
	read -r user sys rss <"$work/time"
	printf '%-26s %7.2f s %7.2f s %7.2f s %6d MB %6d MB\n' "$label" "$(echo "$end - $start" | bc)" \
		"$(echo "$user + $sys" | bc)" "$(echo "($s1 - $s0) / $tck" | bc -l)" $((rss / 1024)) $(($(server_rss) / 1024))
}
printf '%-26s %9s %9s %9s %9s %9s\n' "" wall client server "client RSS" "server RSS"
"$UMAPSYNC" init >/dev/null
t "import $n features:" "$UMAPSYNC" import big.geojson
"$UMAPSYNC" remote add origin "$url"
t "first push ($((n + 1)) ops):" "$UMAPSYNC" push
cd "$work"
t "clone:" "$UMAPSYNC" clone "$url" b
cd "$work/a"
if [ -n "$edit" ]; then
	cp "$edit" big.geojson
else
	awk '/"id":"f/ { if (++k % 100 == 0) sub(/"n":[0-9]+/, "\"n\":-1") } { print }' big.geojson >big.tmp && mv big.tmp big.geojson
fi
"$UMAPSYNC" commit -m "1% edit" >/dev/null
t "push of a 1% edit:" "$UMAPSYNC" push
cd "$work/b"
t "pull of that edit:" "$UMAPSYNC" pull
cmp -s "$work/a/big.geojson" "$work/b/big.geojson" || "$UMAPSYNC" diff --exit-code --stat "$work/a/big.geojson" "$work/b/big.geojson" >/dev/null && echo "clones agree"
