#!/usr/bin/env bats
# The pre-commit hook the project root offers (.pre-commit-hooks.yaml), run by Debian's
# pre-commit on throwaway repositories; language: system needs no network.

bats_require_minimum_version 1.5.0
load helper

ROOT=$BATS_TEST_DIRNAME/../..

setup_file() {
	export PATH="$(cd "$(dirname "$UMAPSYNC")" && pwd):$PATH"
}

# A hooks repository holding the project's .pre-commit-hooks.yaml, and a repository of
# maps that uses its umapsync-validate hook, installed as a git pre-commit hook.
setup_hook() {
	export PRE_COMMIT_HOME="$TEST_DIR/.cache-pre-commit"
	git init -q hooks
	cp "$ROOT/.pre-commit-hooks.yaml" hooks/
	git -C hooks add .pre-commit-hooks.yaml
	git -C hooks commit -q -m hooks
	local rev
	rev=$(git -C hooks rev-parse HEAD)
	git init -q maps
	cd maps || return 1
	cat >.pre-commit-config.yaml <<-YAML
	repos:
	  - repo: $TEST_DIR/hooks
	    rev: $rev
	    hooks:
	      - id: umapsync-validate
	YAML
	git add .pre-commit-config.yaml
	pre-commit install >/dev/null
}

@test "pre-commit: a valid map and layer commit; notes and other files are not checked" {
	setup_hook
	cp "$EXAMPLES/cycling-lyon.umap" map.umap
	echo '{"type": "Point"}' >notes.json # not a .geojson/.umap: not checked
	echo 'not json' >README.txt
	git add map.umap notes.json README.txt
	run git commit -q -m "maps"
	assert_success
	assert_output --partial "umapsync validate"
	assert_output --partial "Passed"
	run git log --format=%s
	assert_output "maps"
}

@test "pre-commit: an invalid staged layer stops the commit with file:line:col: message" {
	setup_hook
	printf '{"type": "FeatureCollection", "features": [\n{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1]}}\n]}\n' >bad.geojson
	git add bad.geojson
	run git commit -q -m "bad"
	assert_failure
	assert_output --partial "umapsync validate"
	assert_output --partial "Failed"
	assert_output --partial "bad.geojson:2:84: error: position must have 2 or more elements"
	run git rev-parse --verify -q HEAD
	assert_failure # nothing was committed
	# Fixed, it commits.
	printf '{"type": "FeatureCollection", "features": []}\n' >bad.geojson
	git add bad.geojson
	run git commit -q -m "fixed"
	assert_success
}

@test "pre-commit: a staged GeoJSON stream (.geojsonl, .geojsons) is checked record by record" {
	setup_hook
	jq -c '.features[]' "$EXAMPLES/bike-parking.geojson" >good.geojsonl
	git add good.geojsonl
	run git commit -q -m "good"
	assert_success
	assert_output --partial "Passed"
	{
		jq -c '.features[0:2][]' "$EXAMPLES/bike-parking.geojson"
		echo '{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1]}}'
	} | sed 's/^/\x1e/' >bad.geojsons
	git add bad.geojsons
	run git commit -q -m "bad"
	assert_failure
	assert_output --partial "bad.geojsons:3:77: error: position must have 2 or more elements"
	run git log --format=%s
	assert_output "good"
}
