#!/bin/sh
# A throwaway PostgreSQL cluster for the tests: `pg-test-cluster.sh start DIR` makes one in
# DIR (initdb, as an unprivileged user when run as root, since PostgreSQL refuses to run as
# root), listening only on a Unix socket in DIR, and prints its URL; `stop DIR` stops it by
# the pid in its pid file. `createdb DIR NAME` makes an empty database.
set -eu
bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$bindir/initdb" ] || { echo "pg-test-cluster: no PostgreSQL server (install Debian 'postgresql')" >&2; exit 1; }
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
cd / # the unprivileged user may not enter the caller's directory
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "${PG_TEST_USER:-nobody}" -- "$@"
	else
		"$@"
	fi
}
case "$cmd" in
start)
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown "${PG_TEST_USER:-nobody}" "$dir"
	as_owner "$bindir/initdb" -D "$dir/pgdata" -U umapsync -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	# fsync stays on: the tests kill servers and expect acknowledged pushes to survive
	as_owner "$bindir/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=200 -c shared_buffers=32MB" \
		start >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
	echo "postgresql://umapsync@/postgres?host=$dir"
	;;
stop)
	[ -f "$dir/pgdata/postmaster.pid" ] || exit 0
	as_owner "$bindir/pg_ctl" -D "$dir/pgdata" -m fast -w stop >/dev/null
	;;
restart)
	as_owner "$bindir/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -m fast -w restart >/dev/null
	;;
createdb)
	"$bindir/psql" -q -X -h "$dir" -U umapsync -d postgres -c "CREATE DATABASE \"$3\"" >/dev/null
	echo "postgresql://umapsync@/$3?host=$dir"
	;;
*)
	echo "usage: pg-test-cluster.sh start|stop|restart|createdb DIR [NAME]" >&2
	exit 2
	;;
esac
