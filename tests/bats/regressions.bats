#!/usr/bin/env bats
# Regression tests for the bugs the fuzzers (tests/fuzz/) found; inputs in tests/fixtures/fuzz.

bats_require_minimum_version 1.5.0
load helper

@test "fuzz_doc: a key with \\u0000 is not a change against a re-formatted copy" {
	run_split umapsync diff --exit-code "$FIXTURES/fuzz/nul-in-key.geojson" \
		"$FIXTURES/fuzz/nul-in-key-reformatted.geojson"
	assert_success
	assert_output ""
}

@test "fuzz_doc: \"a\\u0000b\" and \"a\" are different keys" {
	printf '{"type":"FeatureCollection","features":[{"type":"Feature","id":"a","geometry":null,"properties":{"opera":"x"}}]}\n' >plain.geojson
	run_split umapsync diff --stat --exit-code "$FIXTURES/fuzz/nul-in-key.geojson" plain.geojson
	assert_equal "$status" 1
}

@test "fuzz_doc: a member name with \\u0000 is read without overrunning the heap (make asan)" {
	cp "$FIXTURES/fuzz/nul-in-member-name.geojson" layer.geojson
	run_split umapsync apply "$FIXTURES/fuzz/nul-in-member-name.patch.json" layer.geojson
	assert_success
	run jq -c '.features[0].properties' layer.geojson
	assert_output '{"n":2}'
}

@test "fuzz_doc: a layer with a duplicate id and a feature without one is refused by diff" {
	run_split umapsync diff "$FIXTURES/fuzz/duplicate-ids-round-trip.geojson" \
		"$FIXTURES/fuzz/duplicate-ids-round-trip.geojson"
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: $FIXTURES/fuzz/duplicate-ids-round-trip.geojson:7:5: duplicate feature id \"Tn2vB\": first on line 6, again on line 7"
}

@test "fuzz_merge: merging a layer that exists on one side only is defined behaviour (make ubsan)" {
	cp "$EXAMPLES/bike-parking.geojson" base.geojson
	jq '.properties.id = "other-layer"' "$EXAMPLES/bike-parking.geojson" >ours.geojson
	cp "$EXAMPLES/bike-parking.geojson" theirs.geojson
	run_split umapsync merge-file -p base.geojson ours.geojson theirs.geojson
	[[ "$status" == 0 || "$status" == 1 ]]
}

@test "fuzz_merge: a layer option name with \\u0000 survives a merge that takes theirs" {
	run_split umapsync merge-file -p "$FIXTURES/fuzz/nul-in-option-name-base.geojson" \
		"$FIXTURES/fuzz/nul-in-option-name-base.geojson" "$FIXTURES/fuzz/nul-in-option-name.geojson"
	assert_success
	run jq -c .properties <<<"$output"
	assert_output '{"id":"L","n\u0000ame":"x"}'
}

@test "fuzz_merge: option names that differ after a \\u0000 are merged as different names" {
	printf '{"type":"FeatureCollection","properties":{"id":"L","a\\u0000b":"x","name":"o"},"features":[]}\n' >ours.geojson
	printf '{"type":"FeatureCollection","properties":{"id":"L","a\\u0000c":"y","name":"x"},"features":[]}\n' >theirs.geojson
	run_split umapsync merge-file -p "$FIXTURES/fuzz/nul-in-option-name-base.geojson" ours.geojson theirs.geojson
	assert_success
	run jq -c .properties <<<"$output"
	assert_output '{"id":"L","a\u0000b":"x","name":"o","a\u0000c":"y"}'
}

@test "fuzz_doc: a map with two layers of one id is refused with both lines, not diffed against itself" {
	run_split umapsync diff --stat "$FIXTURES/fuzz/duplicate-layer-id.umap" "$FIXTURES/fuzz/duplicate-layer-id.umap"
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: $FIXTURES/fuzz/duplicate-layer-id.umap:7:5: duplicate layer id \"L1\": first on line 5, again on line 7"
	assert_equal "$output" ""
}

@test "diff --format=geojson keeps a property name with a \\u0000 whole" {
	printf '{"type":"FeatureCollection","features":[{"type":"Feature","id":"a","properties":{"n\\u0000ame":1},"geometry":null}]}\n' >a.geojson
	printf '{"type":"FeatureCollection","features":[{"type":"Feature","id":"a","properties":{"n\\u0000ame":2},"geometry":null}]}\n' >b.geojson
	run_split umapsync diff --format=geojson a.geojson b.geojson
	assert_success
	run jq -c '.features[0].properties' <<<"$output"
	assert_output '{"n\u0000ame":2,"umapsync:change":"modified"}'
}
