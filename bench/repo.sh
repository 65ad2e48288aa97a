#!/bin/sh
# Repository costs (issue 6) on a generated N-feature layer (default 100k, ~29 MB):
# import, status/commit of a 1% edit, commit of 10 features, revision diffs, export,
# log --feature, size after git gc (1 version, whole .umapsync and objects; 3 versions).
# Prints wall and CPU seconds. N=1000000 for growth.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
U=${UMAPSYNC:-$here/umapsync}
N=${N:-100000}
dir=$(mktemp -d /tmp/umap-measure.XXXXXX)
cd "$dir"
awk -v n=$N -v seed=1 -f "$here/tests/fixtures/repo/gen-layer.awk" > layer.geojson
size=$(stat -c %s layer.geojson)
echo "input: $N features, $size bytes"
$U init >/dev/null
/usr/bin/time -f "import: %e s wall, %U+%S s cpu" $U import layer.geojson >/dev/null
cp -a .umapsync "$dir/v1.git" && git --git-dir="$dir/v1.git" gc -q
v1=$(du -sb "$dir/v1.git" | cut -f1)
v1o=$(du -sb "$dir/v1.git"/objects | cut -f1)
echo "after git gc, 1 version: .umapsync $v1 bytes = $(echo "scale=3; $v1 / $size" | bc) x input, objects $(echo "scale=3; $v1o / $size" | bc) x"
rm -rf "$dir/v1.git"
awk 'NR>1 && NR%100==0 {sub(/"capacity":[0-9]+/,"\"capacity\":1000")} {print}' layer.geojson > x && mv x layer.geojson
/usr/bin/time -f "status (1%% edited): %e s wall, %U+%S s cpu" $U status >/dev/null
/usr/bin/time -f "commit (1%% edited): %e s wall, %U+%S s cpu" $U commit -m "1% edit" >/dev/null
awk -v step=$((N / 10)) 'NR>1 && NR%step==0 {sub(/"capacity":[0-9]+/,"\"capacity\":2000")} {print}' layer.geojson > x && mv x layer.geojson
/usr/bin/time -f "commit (10 edited): %e s wall, %U+%S s cpu" $U commit -m "10 features" >/dev/null
/usr/bin/time -f "diff HEAD~1 HEAD --format=json (10 apart): %e s wall, %U+%S s cpu" $U diff HEAD~1 HEAD --format=json >/dev/null
/usr/bin/time -f "diff HEAD~2 HEAD --stat (1%% + 10 apart): %e s wall, %U+%S s cpu" $U diff HEAD~2 HEAD --stat >/dev/null
/usr/bin/time -f "export HEAD: %e s wall, %U+%S s cpu" $U export HEAD layer.geojson >/dev/null
/usr/bin/time -f "log --feature: %e s wall, %U+%S s cpu" $U log --feature f0000100 --format=oneline >/dev/null
echo "repository before gc: $(du -sb .umapsync | cut -f1) bytes"
git --git-dir=.umapsync gc -q
gc=$(du -sb .umapsync/objects | cut -f1)
echo "objects after git gc (3 versions): $gc bytes = $(echo "scale=3; $gc / $size" | bc) x input"
git --git-dir=.umapsync fsck && echo "git fsck: ok"
cd / && rm -rf "$dir"
