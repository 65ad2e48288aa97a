#!/bin/sh
# `make demo`: a realistic session on the bundled Lyon cycling map, in a temp directory.
# Each step prints the command it runs, as a user would type it, and then its output.
set -eu
UMAPSYNC=${UMAPSYNC:-$(pwd)/umapsync}
EXAMPLES=$(cd "$(dirname "$0")/../examples" && pwd)
DEMO=$(mktemp -d "${TMPDIR:-/tmp}/umapsync-demo.XXXXXX")
trap 'rm -rf "$DEMO"' EXIT
cd "$DEMO"
cp "$EXAMPLES"/*.umap "$EXAMPLES"/*.geojson .

step() {
	printf '\n\033[1m## %s\033[0m\n' "$1"
}
run() {
	printf '$ umapsync'
	printf ' %s' "$@"
	printf '\n'
	set +e
	"$UMAPSYNC" "$@"
	rc=$?
	set -e
	[ "$rc" = 0 ] || printf '(exit status %s)\n' "$rc"
}

step "What umapsync can do"
run --help
run --version
printf '\ndemo: done (files were in %s, now removed)\n' "$DEMO"
