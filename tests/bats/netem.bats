#!/usr/bin/env bats
# A bad network between a sync client and server: two network namespaces made by the test,
# joined by a link impaired with loss, duplication, delay and reordering (tc netem, or the
# user-space tests/tools/badnet.c where the kernel has no sch_netem), and cut mid-push.

bats_require_minimum_version 1.5.0
load helper

NET_C=10.77.0.1
NET_S=10.77.0.2
PORT=8080 # the server's namespace is ours alone: any port is free in it

setup_file() {
	export NETEM_SKIP="" NETEM_MODE="" NS_C="usc$$" NS_S="uss$$" IF_C="usc$$" IF_S="uss$$"
	export NETEM_DIR="$BATS_FILE_TMPDIR" BADNET_PID=""
	local out
	if ! out=$(ip netns add "$NS_C" 2>&1); then
		NETEM_SKIP="network namespaces are not permitted here: ${out:-ip netns add failed}"
		return 0
	fi
	ip netns add "$NS_S"
	ip -n "$NS_C" link set lo up
	ip -n "$NS_S" link set lo up
	# Prefer the kernel's netem on a veth pair; fall back to badnet over two TUN devices.
	ip link add "$IF_C" type veth peer name "$IF_S"
	ip link set "$IF_C" netns "$NS_C"
	ip link set "$IF_S" netns "$NS_S"
	if ip netns exec "$NS_C" tc qdisc add dev "$IF_C" root netem delay 0ms 2>/dev/null; then
		NETEM_MODE=netem
		ip -n "$NS_C" addr add "$NET_C/24" dev "$IF_C"
		ip -n "$NS_S" addr add "$NET_S/24" dev "$IF_S"
	else
		ip -n "$NS_C" link del "$IF_C"
		if [ ! -c /dev/net/tun ]; then
			NETEM_SKIP="neither tc netem (no sch_netem in this kernel) nor /dev/net/tun is available"
			return 0
		fi
		NETEM_MODE=badnet
		"${CC:-cc}" -std=c11 -O2 -o "$NETEM_DIR/badnet" "$BATS_TEST_DIRNAME/../tools/badnet.c"
		echo "0 0 0 0 0" >"$NETEM_DIR/badnet.params"
		"$NETEM_DIR/badnet" "$IF_C" "$IF_S" "$NETEM_DIR/badnet.params" >"$NETEM_DIR/badnet.out" 2>&1 &
		BADNET_PID=$!
		local i
		for i in $(seq 50); do grep -q ready "$NETEM_DIR/badnet.out" && break; sleep 0.1; done
		ip link set "$IF_C" netns "$NS_C"
		ip link set "$IF_S" netns "$NS_S"
		ip -n "$NS_C" addr add "$NET_C" peer "$NET_S" dev "$IF_C"
		ip -n "$NS_S" addr add "$NET_S" peer "$NET_C" dev "$IF_S"
	fi
	ip -n "$NS_C" link set "$IF_C" up
	ip -n "$NS_S" link set "$IF_S" up
}

teardown_file() {
	[ -n "${BADNET_PID:-}" ] && kill "$BADNET_PID" 2>/dev/null
	ip netns del "${NS_C:-none}" 2>/dev/null
	ip netns del "${NS_S:-none}" 2>/dev/null
	true
}

setup() {
	[ -z "$NETEM_SKIP" ] || skip "$NETEM_SKIP"
	TEST_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/umapsync-test.XXXXXX")
	export HOME="$TEST_DIR/.home"
	mkdir -p "$HOME"
	cd "$TEST_DIR" || return 1
	SERVER_PID=""
	impair 0 0 0 0
}

teardown() {
	[ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	cd / || true
	[ -n "${TEST_DIR:-}" ] && rm -rf "$TEST_DIR"
	true
}

# impair LOSS% DUPLICATE% DELAY_MS JITTER_MS: both directions of the link (jitter reorders).
impair() {
	if [ "$NETEM_MODE" = netem ]; then
		local args="loss $1% duplicate $2% delay ${3}ms ${4}ms"
		[ "$4" -gt 0 ] || args="loss $1% duplicate $2% delay ${3}ms"
		ip netns exec "$NS_C" tc qdisc replace dev "$IF_C" root netem $args
		ip netns exec "$NS_S" tc qdisc replace dev "$IF_S" root netem $args
	else
		echo "$1 $2 $3 $4 0" >"$NETEM_DIR/badnet.params"
		kill -HUP "$BADNET_PID"
	fi
}

# cut_link: packets vanish in both directions (no error for either side: a black hole).
cut_link() {
	if [ "$NETEM_MODE" = netem ]; then
		ip netns exec "$NS_C" tc qdisc replace dev "$IF_C" root netem loss 100%
		ip netns exec "$NS_S" tc qdisc replace dev "$IF_S" root netem loss 100%
	else
		echo "0 0 0 0 1" >"$NETEM_DIR/badnet.params"
		kill -HUP "$BADNET_PID"
	fi
}

in_client() { ip netns exec "$NS_C" "$@"; }
in_server() { ip netns exec "$NS_S" "$@"; }

# tcp_probe: 0 when something answers on NET_S:PORT, 1 when refused, 124 when unreachable.
tcp_probe() {
	in_client timeout "${1:-3}" bash -c "exec 3<>/dev/tcp/$NET_S/$PORT" 2>/dev/null
}

sync_landed() {
	local out
	out=$("$UMAPSYNC" push 2>&1 </dev/null) || true
	case "$out" in
	*"not implemented"*) skip "the sync client has not landed on this branch yet: the namespace harness is ready" ;;
	esac
}

# start_server: umapsync serve in the server's namespace, on NET_S:PORT.
start_server() {
	# ip netns exec execs: $! is the server itself (a backgrounded function would be a subshell)
	ip netns exec "$NS_S" "$UMAPSYNC" serve --listen "$NET_S:$PORT" --data "$TEST_DIR/data" --rate 0 \
		2>>"$TEST_DIR/server.log" &
	SERVER_PID=$!
	local i
	for i in $(seq 50); do
		in_server curl -s -o /dev/null "http://$NET_S:$PORT/v1/info" && return 0
		sleep 0.1
	done
	cat "$TEST_DIR/server.log" >&2
	return 1
}

# server_ops: every op the server holds, as "op_id" lines (asked from the server's side).
server_ops() {
	in_server curl -s "http://$NET_S:$PORT/v1/maps/m/pull?since=0&limit=100000" | jq -r '.ops[].op_id'
}

# a repository "alice" with the bike-parking layer, its remote in the server's namespace
make_client() {
	mkdir "$1"
	(cd "$1" && umapsync init >/dev/null && cp "$EXAMPLES/bike-parking.geojson" . &&
		umapsync import bike-parking.geojson >/dev/null &&
		umapsync remote add origin "http://$NET_S:$PORT/m")
}

# edit_commit DIR N: N commits, each renaming one feature
edit_commit() {
	local i
	for i in $(seq "$2"); do
		(cd "$1" && sed -i "s/\"Bellecour[^\"]*\"/\"Bellecour $i\"/" bike-parking.geojson &&
			umapsync commit -m "rename $i" >/dev/null)
	done
}

@test "harness: the link carries traffic, is impaired, and can be cut" {
	echo "# link emulation: $NETEM_MODE" >&3
	# nothing listens yet: an answered SYN comes back refused
	run tcp_probe 3
	assert_equal "$status" 1
	impair 5 5 40 20 # a lost SYN is sent again after 1, 3 and 7 s
	run tcp_probe 12
	assert_equal "$status" 1
	cut_link
	run tcp_probe 2
	assert_equal "$status" 124
	impair 0 0 0 0
	run tcp_probe 3
	assert_equal "$status" 1
}

@test "push, clone and pull converge over a lossy, duplicating, reordering, slow link" {
	sync_landed
	start_server
	make_client alice
	impair 5 5 40 20
	edit_commit alice 3
	run_split in_client env UMAPSYNC_TIMEOUT=30 bash -c 'cd alice && "$UMAPSYNC" push'
	assert_success
	run_split in_client env UMAPSYNC_TIMEOUT=30 "$UMAPSYNC" clone "http://$NET_S:$PORT/m" bob
	assert_success
	run umapsync diff --exit-code alice/bike-parking.geojson bob/bike-parking.geojson
	assert_success
	edit_commit alice 2
	run_split in_client env UMAPSYNC_TIMEOUT=30 bash -c 'cd alice && "$UMAPSYNC" push'
	assert_success
	run_split in_client env UMAPSYNC_TIMEOUT=30 bash -c 'cd bob && "$UMAPSYNC" pull'
	assert_success
	run umapsync diff --exit-code alice/bike-parking.geojson bob/bike-parking.geojson
	assert_success
	impair 0 0 0 0
	# every acknowledged op is there exactly once
	run server_ops
	assert_success
	local total unique
	total=$(server_ops | wc -l)
	unique=$(server_ops | sort -u | wc -l)
	assert_equal "$total" "$unique"
	echo "# $total ops on the server, each once" >&3
	[ "$total" -ge 10 ] # 1 layer + 8 features (renames folded in), then at least 1 for the second push
}

@test "a link cut mid-push: the client says what went wrong; pushing again converges, each op once" {
	sync_landed
	start_server
	make_client alice
	run in_client bash -c 'cd alice && "$UMAPSYNC" push'
	assert_success
	edit_commit alice 4
	impair 0 0 300 0 # slow enough for the cut to land while the push is under way
	(cd alice && exec ip netns exec "$NS_C" env UMAPSYNC_TIMEOUT=2 "$UMAPSYNC" push) >push.out 2>push.err &
	local pid=$!
	sleep 0.4
	cut_link
	local status=0
	wait "$pid" || status=$?
	assert_equal "$status" 128
	run cat push.err
	assert_line --partial "retrying in"
	assert_line --regexp "^fatal: cannot reach http://$NET_S:$PORT/.*(Timeout|timed out)"
	impair 0 0 0 0
	run_split in_client bash -c 'cd alice && "$UMAPSYNC" push'
	assert_success
	run_split in_client "$UMAPSYNC" clone "http://$NET_S:$PORT/m" bob
	assert_success
	run umapsync diff --exit-code alice/bike-parking.geojson bob/bike-parking.geojson
	assert_success
	local total unique
	total=$(server_ops | wc -l)
	unique=$(server_ops | sort -u | wc -l)
	assert_equal "$total" "$unique"
}
