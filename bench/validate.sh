#!/bin/sh
# Benchmark of `umapsync validate` on a generated 100,000-feature uMap layer (about 27 MB),
# beside the JavaScript validators mapbox geojsonhint and @placemarkio/check-geojson from npm.
# Usage: UMAPSYNC=./umapsync sh bench/validate.sh [FEATURES]   (node/npm optional)
set -eu
UMAPSYNC=${UMAPSYNC:-./umapsync}
features=${1:-100000}
dir=${BENCH_DIR:-build/bench}
mkdir -p "$dir"
layer="$dir/layer-$features.geojson"

# Points, 8-vertex lines and closed counter-clockwise squares, uMap-style 5-character ids.
if [ ! -s "$layer" ]; then
	awk -v n="$features" 'BEGIN {
		srand(42)
		chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		printf "{\"type\": \"FeatureCollection\", \"properties\": {\"id\": \"3f2b1c6e-1c1a-4b8e-9a51-6c3d2b0f7a11\", \"name\": \"bench\"}, \"features\": [\n"
		for (i = 0; i < n; i++) {
			id = ""; k = i * 7919 + 12345
			for (j = 0; j < 5; j++) { id = id substr(chars, k % 62 + 1, 1); k = int(k / 62) }
			lon = 4.8 + rand() / 10; lat = 45.7 + rand() / 10
			if (i % 3 == 0)
				g = sprintf("{\"type\": \"Point\", \"coordinates\": [%.7f, %.7f]}", lon, lat)
			else if (i % 3 == 1) {
				g = "{\"type\": \"LineString\", \"coordinates\": ["
				for (j = 0; j < 8; j++)
					g = g sprintf("%s[%.7f, %.7f]", j ? ", " : "", lon + j / 10000, lat + j / 10000)
				g = g "]}"
			} else
				g = sprintf("{\"type\": \"Polygon\", \"coordinates\": [[[%.7f, %.7f], [%.7f, %.7f], [%.7f, %.7f], [%.7f, %.7f], [%.7f, %.7f]]]}",
					lon, lat, lon + 0.001, lat, lon + 0.001, lat + 0.001, lon, lat + 0.001, lon, lat)
			printf "{\"type\": \"Feature\", \"id\": \"%s\", \"geometry\": %s, \"properties\": {\"name\": \"Station %d\", \"capacity\": %d, \"rack\": \"wave\"}}%s\n",
				id, g, i, int(rand() * 40) + 1, (i < n - 1 ? "," : "")
		}
		print "]}"
	}' > "$layer"
fi
size=$(wc -c < "$layer")

# best wall time of $runs runs, in seconds
best() {
	b=""
	for _ in $(seq "$runs"); do
		s=$(date +%s.%N)
		"$@" > /dev/null 2>&1 || true
		e=$(date +%s.%N)
		t=$(echo "$e - $s" | bc)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}

runs=3
ours=$(best "$UMAPSYNC" validate --umap "$layer")
rss=$( { /usr/bin/time -f "%M" "$UMAPSYNC" validate --umap "$layer" > /dev/null; } 2>&1 | tail -1)
printf 'validate: %d features, %d bytes: umapsync %.3f s, max RSS %s KB\n' "$features" "$size" "$ours" "$rss"

if command -v node > /dev/null 2>&1 && command -v npm > /dev/null 2>&1; then
	js="$dir/node"
	if [ ! -d "$js/node_modules/@placemarkio/check-geojson" ]; then
		mkdir -p "$js/node_modules/@mapbox"
		(cd "$js" && echo '{"name": "umapsync-bench", "private": true}' > package.json &&
			npm install --silent --no-audit --no-fund @placemarkio/check-geojson > /dev/null 2>&1 &&
			# geojsonhint's CLI pulls a dependency from a git host: take only its library.
			npm pack --silent @mapbox/geojsonhint@3.3.0 jsonlint-lines@1.7.1 > /dev/null 2>&1 &&
			mkdir -p node_modules/@mapbox/geojsonhint node_modules/jsonlint-lines &&
			tar xzf mapbox-geojsonhint-3.3.0.tgz -C node_modules/@mapbox/geojsonhint --strip-components=1 &&
			tar xzf jsonlint-lines-1.7.1.tgz -C node_modules/jsonlint-lines --strip-components=1) ||
			{ echo "validate: npm packages unavailable, JavaScript comparison skipped"; exit 0; }
	fi
	cat > "$js/hint.js" <<'JS'
const fs = require('fs');
const which = process.argv[2], file = process.argv[3];
const text = fs.readFileSync(file, 'utf8');
if (which === 'geojsonhint') require('@mapbox/geojsonhint/lib/index.js').hint(text, {});
else { try { require('@placemarkio/check-geojson').check(text); } catch (e) {} }
JS
	runs=1 # they take a minute each
	for v in geojsonhint check-geojson; do
		t=$(best node "$js/hint.js" "$v" "$layer")
		printf 'validate: %-13s %.3f s (%.1fx umapsync)\n' "$v" "$t" "$(echo "$t / $ours" | bc -l)"
	done
fi
