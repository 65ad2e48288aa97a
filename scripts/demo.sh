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

run --version

step "Alice added a parking and raised Bellecour's capacity: what changed, feature by feature?"
run diff bike-parking.geojson bike-parking-alice.geojson
step "The same change as a patch, and as the uMap realtime messages that would replay it"
run diff --stat bike-parking.geojson bike-parking-alice.geojson
run diff --format=ops bike-parking.geojson bike-parking-bob.geojson
step "Apply Alice's patch to a copy of the original, then undo it"
"$UMAPSYNC" diff --format=json bike-parking.geojson bike-parking-alice.geojson > alice.patch || true
cp bike-parking.geojson copy.geojson
run apply alice.patch copy.geojson
run diff --stat copy.geojson bike-parking-alice.geojson
run apply --reverse alice.patch copy.geojson
run diff --exit-code --stat copy.geojson bike-parking.geojson
printf '\ndemo: done (files were in %s, now removed)\n' "$DEMO"
