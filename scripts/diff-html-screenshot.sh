#!/bin/sh
# Makes the README's screenshot of an HTML diff (docs/diff-html.png by default): the bundled
# map against its edited copy, opened offline in headless Chromium with the first change shown.
# Usage: scripts/diff-html-screenshot.sh [OUT.png]   (UMAPSYNC: the binary, ./umapsync by default)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/diff-html.png}
umapsync=${UMAPSYNC:-$root/umapsync}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

cp "$root/examples/cycling-lyon.umap" "$work/cycling-lyon.umap"
cp "$root/tests/fixtures/diff/lyon-edited.umap" "$work/cycling-lyon-edited.umap"
(cd "$work" && "$umapsync" diff --format=html -o diff.html cycling-lyon.umap cycling-lyon-edited.umap)
# Offline on purpose: every host name fails to resolve, so the tiles stay blank.
timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$work/profile" --host-resolver-rules="MAP * ~NOTFOUND" \
	--window-size=1200,700 --hide-scrollbars --screenshot="$work/shot.png" \
	"file://$work/diff.html#change-0" >/dev/null 2>&1
mv "$work/shot.png" "$out"
echo "wrote $out"
