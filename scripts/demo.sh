#!/bin/sh
# `make demo`: a realistic session on the bundled Lyon cycling map, in a temp directory:
# validate, diff, apply, merge-file, history, branches and a conflict, then two people
# syncing through a server. Each step prints the command as a user would type it.
set -eu
UMAPSYNC=${UMAPSYNC:-$(pwd)/umapsync}
EXAMPLES=$(cd "$(dirname "$0")/../examples" && pwd)
DEMO=$(mktemp -d "${TMPDIR:-/tmp}/umapsync-demo.XXXXXX")
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$DEMO"
}
trap cleanup EXIT
cd "$DEMO"
cp "$EXAMPLES"/*.umap "$EXAMPLES"/*.geojson .
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-Demo User}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-demo@example.org}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

if [ -t 1 ]; then bold=$(printf '\033[1m') plain=$(printf '\033[0m'); else bold= plain=; fi
step() {
	printf '\n%s## %s%s\n' "$bold" "$1" "$plain"
}
# run ARGS...: show and run `umapsync ARGS...`; a non-zero exit is shown, not fatal.
run() {
	printf '$ umapsync'
	printf ' %s' "$@"
	printf '\n'
	set +e
	"$UMAPSYNC" "$@"
	rc=$?
	set -e
	[ "$rc" = 0 ] || printf '(exit status %s)\n' "$rc"
	return 0
}
# edit FILE SED-EXPR: a person editing a file (shown as such)
edit() {
	printf "\$ sed -E -i '%s' %s   # an edit, as in any editor or in uMap\n" "$2" "$1"
	sed -E -i "$2" "$1"
}

run --version

step "1. Check the map before anyone imports it (exit 1 when invalid: CI-ready)"
run validate cycling-lyon.umap
printf '{"type":"Polygon","coordinates":[[[4.83,45.75],[4.84,45.75],[4.83,45.75]]]}\n' > broken.geojson
run validate broken.geojson

step "2. Alice added a parking and raised Bellecour's capacity: what changed, feature by feature?"
run diff bike-parking.geojson bike-parking-alice.geojson
run diff --stat bike-parking.geojson bike-parking-alice.geojson
step "   The same change as the uMap realtime messages that would replay it"
run diff --format=ops bike-parking.geojson bike-parking-alice.geojson

step "3. Apply Alice's change as a patch, and undo it"
"$UMAPSYNC" diff --format=json bike-parking.geojson bike-parking-alice.geojson > alice.patch || true
cp bike-parking.geojson copy.geojson
run apply alice.patch copy.geojson
run diff --exit-code --stat copy.geojson bike-parking-alice.geojson
run apply --reverse alice.patch copy.geojson
run diff --exit-code --stat copy.geojson bike-parking.geojson

step "4. Alice and Bob edited the same line of the same feature: git would conflict, umapsync merges per key"
run diff bike-parking.geojson bike-parking-bob.geojson
run merge-file -o merged.geojson bike-parking.geojson bike-parking-alice.geojson bike-parking-bob.geojson
run diff bike-parking.geojson merged.geojson

step "5. Keep history in a repository (a real git repository in .umapsync/)"
mkdir lyon && cd lyon
cp ../cycling-lyon.umap .
run init
run import cycling-lyon.umap
edit cycling-lyon.umap 's/"capacity": ?40,/"capacity": 64,/'
run status
run diff
run commit -m "Bellecour has 64 places"
run log --format=oneline

step "6. Two branches change the same feature: different keys merge, the same key conflicts"
run branch alice
run checkout alice
edit cycling-lyon.umap 's/"name": ?"Opéra"/"name": "Opéra Nouvel"/'
edit cycling-lyon.umap 's/"capacity": ?64,/"capacity": 50,/'
run commit -m "Alice: Opéra renamed, Bellecour 50"
run checkout main
edit cycling-lyon.umap 's/"capacity": ?64,/"capacity": 80,/'
run commit -m "Bob: Bellecour 80"
run merge alice
run conflicts
run resolve zP5kR capacity --with=theirs
run merge --continue
run log --format=oneline
run show HEAD
printf '$ git --git-dir=.umapsync fsck   # plain git reads it\n'
git --git-dir=.umapsync fsck 2>&1 || true
cd ..

step "7. Work together through a sync server"
"$UMAPSYNC" serve --listen 127.0.0.1:0 --port-file port --data srv 2>server.log &
SERVER_PID=$!
i=0
while [ ! -s port ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(cat port)
printf '$ umapsync serve --listen 127.0.0.1:0 --data srv &   # listening on port %s\n' "$PORT"
cd lyon
run remote add origin "http://127.0.0.1:$PORT/lyon"
run push
cd ..
run clone "http://127.0.0.1:$PORT/lyon" bob
step "   Disjoint edits: Alice renames a lane, Bob changes a parking; both push, both pull"
cd lyon
edit cycling-lyon.umap 's/"Rue Garibaldi"/"Rue Garibaldi (Part-Dieu)"/'
run commit -m "Alice: Garibaldi"
run push
cd ../bob
edit cycling-lyon.umap 's/"capacity": ?24,/"capacity": 30,/'
run commit -m "Bob: Hôtel de Ville 30"
run push
run pull
run push
cd ../lyon
run pull
run diff --stat cycling-lyon.umap ../bob/cycling-lyon.umap
step "   A conflict: both change Jean Macé's capacity; Bob's push is refused until he pulls"
edit cycling-lyon.umap 's/"capacity": ?60,/"capacity": 70,/'
run commit -m "Alice: Jean Macé 70"
run push
cd ../bob
edit cycling-lyon.umap 's/"capacity": ?60,/"capacity": 75,/'
run commit -m "Bob: Jean Macé 75"
run push
run pull
run conflicts
run resolve g3HsN capacity --with=ours
run rebase --continue
run push
cd ../lyon
run pull
run diff --stat cycling-lyon.umap ../bob/cycling-lyon.umap
cd ..

printf '\ndemo: done (the files were in %s, now removed)\n' "$DEMO"
