#!/usr/bin/env bats
# merge-file (SPEC §6): three-way merges per feature and key, uMap merge_features parity,
# every conflict kind with its JSON report, --ours/--theirs/--union, and where results go.

bats_require_minimum_version 1.5.0
load helper

M=$BATS_TEST_DIRNAME/../fixtures/merge

# copies a fixture case into the test dir as base/ours/theirs.geojson
use_case() {
	cp "$M/$1/base.geojson" "$M/$1/ours.geojson" "$M/$1/theirs.geojson" .
}

# merges a case to stdout and checks the result is exactly its expected file
assert_merges_to_expected() {
	use_case "$1"
	run_split umapsync merge-file -p base.geojson ours.geojson theirs.geojson
	assert_equal "$status" "${2:-0}"
	assert_equal "$output" "$(cat "$M/$1/expected.geojson")"
}

@test "uMap parity: both sides append: [A,B] + [A,B,C] + [A,B,D] gives [A,B,C,D]" {
	assert_merges_to_expected parity-both-append
	assert_equal "$stderr" ""
}

@test "uMap parity: ours deletes B: [A,B] + [A,C] + [A,B,D] gives [A,C,D]" {
	assert_merges_to_expected parity-ours-deletes
}

@test "uMap parity: theirs deletes B: [A,B] + [A,B,C] + [A,D] gives [A,C,D]" {
	assert_merges_to_expected parity-theirs-deletes
}

@test "uMap parity: both delete B: [A,B] + [A] + [A] gives [A]" {
	assert_merges_to_expected parity-same
}

@test "inserts on both sides keep their neighbours" {
	assert_merges_to_expected inserts-keep-neighbours
}

@test "two sides changing different keys of one feature merge cleanly (uMap refuses this)" {
	assert_merges_to_expected different-keys
	assert_equal "$stderr" ""
}

@test "both sides making the same change is not a conflict" {
	assert_merges_to_expected same-change
}

@test "a geometry change and a property change of one feature merge" {
	assert_merges_to_expected geometry-and-key
}

@test "number spelling is not a change: 40 vs 40.0 vs 4.575e1" {
	assert_merges_to_expected number-spelling
}

@test "features without ids are matched by content" {
	assert_merges_to_expected no-ids
}

@test "modify/modify: same key, different values: exit 1, ours kept, one report entry" {
	assert_merges_to_expected modify-modify 1
	assert_equal "$stderr" "CONFLICT (modify/modify): feature A: properties.capacity is 64 in ours, 50 in theirs (base 40)
merged with 1 conflict; the result keeps ours"
	run umapsync merge-file -q -p --conflicts=report.json base.geojson ours.geojson theirs.geojson
	assert_equal "$status" 1
	run cat report.json
	assert_output '{
  "conflicts": [
    {
      "layer": "L1",
      "id": "A",
      "key": "properties.capacity",
      "kind": "modify/modify",
      "base": 40,
      "ours": 64,
      "theirs": 50
    }
  ]
}'
}

@test "modify/delete: ours changed a feature theirs deleted" {
	assert_merges_to_expected modify-delete 1
	assert_equal "$stderr" "CONFLICT (modify/delete): feature B changed in ours, deleted in theirs
merged with 1 conflict; the result keeps ours"
	umapsync merge-file -p --conflicts=r.json base.geojson ours.geojson theirs.geojson >/dev/null 2>&1 || true
	run jq -c '.conflicts[] | [.layer, .id, .key, .kind, .base.properties.capacity, .ours.properties.capacity, .theirs]' r.json
	assert_output '["L1","B",null,"modify/delete",8,12,null]'
}

@test "delete/modify: ours deleted a feature theirs changed" {
	assert_merges_to_expected delete-modify 1
	assert_equal "$stderr" "CONFLICT (delete/modify): feature B deleted in ours, changed in theirs
merged with 1 conflict; the result keeps ours"
	umapsync merge-file -p --conflicts=r.json base.geojson ours.geojson theirs.geojson >/dev/null 2>&1 || true
	run jq -c '.conflicts[] | [.id, .key, .kind, .ours, .theirs.properties.capacity]' r.json
	assert_output '["B",null,"delete/modify",null,12]'
}

@test "add/add: one id added on both sides with different content" {
	assert_merges_to_expected add-add 1
	assert_equal "$stderr" "CONFLICT (add/add): feature N added in ours and in theirs with different content
merged with 1 conflict; the result keeps ours"
	umapsync merge-file -p --conflicts=r.json base.geojson ours.geojson theirs.geojson >/dev/null 2>&1 || true
	run jq -c '.conflicts[] | [.id, .key, .kind, .base, .ours.properties.name, .theirs.properties.name]' r.json
	assert_output '["N",null,"add/add",null,"North","Nord"]'
}

@test "add/add with the same content is not a conflict" {
	assert_merges_to_expected add-add-same
}

@test "a key changed on one side and removed on the other is a modify/delete of that key" {
	assert_merges_to_expected key-modify-delete 1
	umapsync merge-file -p --conflicts=r.json base.geojson ours.geojson theirs.geojson >/dev/null 2>&1 || true
	run jq -c '.conflicts' r.json
	assert_output '[{"layer":"L1","id":"A","key":"properties.note","kind":"modify/delete","base":"old","ours":"new","theirs":null}]'
}

@test "geometry is one unit: two different moves conflict on key geometry" {
	assert_merges_to_expected geometry 1
	umapsync merge-file -p --conflicts=r.json base.geojson ours.geojson theirs.geojson >/dev/null 2>&1 || true
	run jq -c '.conflicts' r.json
	assert_output '[{"layer":"L1","id":"A","key":"geometry","kind":"modify/modify","base":{"type":"Point","coordinates":[4.865,45.75]},"ours":{"type":"Point","coordinates":[4.9,45.8]},"theirs":{"type":"Point","coordinates":[4.7,45.6]}}]'
}

@test "--theirs keeps their side of each conflict" {
	use_case modify-modify
	run umapsync merge-file -q -p --theirs base.geojson ours.geojson theirs.geojson
	assert_equal "$status" 0 # settled by the option, as git merge-file does
	assert_equal "$(jq -c '[.features[] | .properties.capacity]' <<<"$output")" '[50,null]'
	use_case modify-delete
	run umapsync merge-file -q -p --theirs base.geojson ours.geojson theirs.geojson
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.features[].id]' <<<"$output")" '["A","C"]'
	use_case delete-modify
	run umapsync merge-file -q -p --theirs base.geojson ours.geojson theirs.geojson
	assert_equal "$(jq -c '[.features[] | [.id, .properties.capacity]]' <<<"$output")" '[["A",null],["B",12],["C",null]]'
	use_case add-add
	run umapsync merge-file -q -p --theirs base.geojson ours.geojson theirs.geojson
	assert_equal "$(jq -c '.features[1].properties.name' <<<"$output")" '"Nord"'
}

@test "--union keeps what both sides have" {
	use_case delete-modify
	run umapsync merge-file -q -p --union base.geojson ours.geojson theirs.geojson
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.features[].id]' <<<"$output")" '["A","B","C"]'
	use_case modify-delete
	run umapsync merge-file -q -p --union base.geojson ours.geojson theirs.geojson
	assert_equal "$(jq -c '[.features[].id]' <<<"$output")" '["A","B","C"]'
}

@test "layer options merge per key" {
	use_case layer-options
	run_split umapsync merge-file -p base.geojson ours.geojson theirs.geojson
	assert_success
	assert_equal "$stderr" ""
	# the options are written anew; the feature lines stay as they were
	assert_output '{
  "type": "FeatureCollection",
  "properties": {
    "id": "L1",
    "name": "Parking",
    "color": "#d95f02"
  },
  "features": [
    {"type": "Feature", "id": "A", "properties": {"name": "Place A"}, "geometry": {"type": "Point", "coordinates": [4.865, 45.75]}}
  ]
}'
}

@test "a layer option set to two values is a conflict with a null feature id" {
	use_case layer-options-conflict
	run_split umapsync merge-file -p --conflicts=r.json base.geojson ours.geojson theirs.geojson
	assert_equal "$status" 1
	assert_equal "$stderr" 'CONFLICT (modify/modify): layer L1: properties.color is "#d95f02" in ours, "#7570b3" in theirs (base "#1b9e77")
merged with 1 conflict; the result keeps ours'
	assert_equal "$(jq -c '.properties.color' <<<"$output")" '"#d95f02"'
	run jq -c '.conflicts' r.json
	assert_output '[{"layer":"L1","id":null,"key":"properties.color","kind":"modify/modify","base":"#1b9e77","ours":"#d95f02","theirs":"#7570b3"}]'
}

@test "a .umap map merges map options per key and its layers' features" {
	cp "$M"/map-options/*.umap .
	run_split umapsync merge-file -p base.umap ours.umap theirs.umap
	assert_success
	assert_equal "$(jq -c '[.properties.zoom, .properties.color, .layers[0].features[0].properties.surface, (.layers | length)]' <<<"$output")" '[15,"Blue","concrete",2]'
}

@test "the bundled example: Alice and Bob edit the same line, and it merges" {
	cp "$EXAMPLES"/bike-parking.geojson base.geojson
	cp "$EXAMPLES"/bike-parking-alice.geojson alice.geojson
	cp "$EXAMPLES"/bike-parking-bob.geojson bob.geojson
	run_split umapsync merge-file base.geojson alice.geojson bob.geojson
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	run jq -c '.features[] | [.id, .properties.name, .properties.capacity, .properties.covered]' alice.geojson
	assert_output '["zP5kR","Bellecour",64,true]
["Tn2vB","Gare Part-Dieu",1500,true]
["c8YfG","Hôtel de Ville",24,false]
["Ld6mQ","Université Lyon 3",120,true]
["Ve1xW","Place Guichard",16,false]
["g3HsN","Jean Macé",60,true]
["Yq7bE","Saxe-Gambetta",32,false]
["R2dNw","Perrache",300,true]
["k4JrU","Opéra Nouvel",20,false]'
	# Only the lines that changed differ from Alice's file: her formatting is kept.
	run diff "$EXAMPLES"/bike-parking-alice.geojson alice.geojson
	assert_equal "$status" 1
	assert_equal "$(grep -c '^[<>]' <<<"$output")" 4
}

@test "by default the result replaces OURS; -o writes elsewhere and leaves OURS alone" {
	use_case parity-both-append
	run umapsync merge-file -o out.geojson base.geojson ours.geojson theirs.geojson
	assert_success
	assert_equal "$output" ""
	cmp out.geojson "$M/parity-both-append/expected.geojson"
	cmp ours.geojson "$M/parity-both-append/ours.geojson"
	run umapsync merge-file base.geojson ours.geojson theirs.geojson
	assert_success
	cmp ours.geojson "$M/parity-both-append/expected.geojson"
}

@test "--conflicts=- prints the report on stdout, and an empty list when clean" {
	use_case same-change
	run_split umapsync merge-file -o out.geojson --conflicts=- base.geojson ours.geojson theirs.geojson
	assert_success
	assert_output '{
  "conflicts": []
}'
}

@test "usage errors exit 129" {
	use_case same-change
	run_split umapsync merge-file base.geojson ours.geojson
	assert_equal "$status" 129
	[[ "$stderr" == "error: merge-file needs BASE, OURS and THEIRS, got 2 files"* ]]
	run_split umapsync merge-file -p -o x base.geojson ours.geojson theirs.geojson
	assert_equal "$status" 129
	run_split umapsync merge-file -p --conflicts=- base.geojson ours.geojson theirs.geojson
	assert_equal "$status" 129
	run_split umapsync merge-file --ours --bogus base.geojson ours.geojson theirs.geojson
	assert_equal "$status" 129
	[ ! -e x ]
	cmp ours.geojson "$M/same-change/ours.geojson"
}

@test "an unreadable or invalid input is fatal (128) and changes nothing" {
	use_case same-change
	run_split umapsync merge-file base.geojson ours.geojson missing.geojson
	assert_equal "$status" 128
	[[ "$stderr" == "fatal: "*"missing.geojson"* ]]
	printf '{"type": "FeatureCollection", "features": [\n  {"type": "Feature",}\n]}\n' >bad.geojson
	run_split umapsync merge-file base.geojson ours.geojson bad.geojson
	assert_equal "$status" 128
	[[ "$stderr" == "fatal: "*"bad.geojson:2:"* ]]
	cmp ours.geojson "$M/same-change/ours.geojson"
}

@test "a map cannot be merged with a layer" {
	use_case same-change
	cp "$EXAMPLES"/cycling-lyon.umap map.umap
	run_split umapsync merge-file -p base.geojson ours.geojson map.umap
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: cannot merge: cannot merge a uMap map with a GeoJSON layer (ours.geojson is a layer, map.umap a map)"
}

@test "layers over a megabyte, read on two cores by halves, merge as when read whole" {
	big_layer base.geojson 6000
	big_layer ours.geojson 6000 ours
	big_layer theirs.geojson 6000 theirs
	run_split umapsync merge-file -p base.geojson ours.geojson theirs.geojson
	assert_failure 1 # a feature ours removes and theirs changed
	assert_output --partial '"name":"Rue 3 (ours)"'
	assert_output --partial '"capacity":1007'
	assert_output --partial '{"type":"Feature","id":"new11","properties":{},"geometry":null},'
	[[ "$stderr" == *"merged with 1 conflict; the result keeps ours" ]]
	local whole=$output conflicts=$stderr
	# BASE through a pipe: read whole, one reader a file
	run_split umapsync merge-file -p <(cat base.geojson) ours.geojson theirs.geojson
	assert_failure 1
	assert_equal "$output" "$whole"
	assert_equal "$stderr" "$conflicts"
}

# uMap's id-less regions (tests/fixtures/idless): BASE, and an edit of it by a jq filter
REGIONS=$BATS_TEST_DIRNAME/../fixtures/idless/regions.geojson
edit_regions() {
	jq -c "$1" "$REGIONS" >"$2"
}

@test "features without ids: an edit on each side of one feature merges into one feature" {
	cp "$REGIONS" base.geojson
	edit_regions '(.features[] | select(.properties.nom == "Bretagne") | .properties.taux) = "5.9"' ours.geojson
	edit_regions '(.features[] | select(.properties.nom == "Bretagne") | .properties.wifi) = true' theirs.geojson
	run_split umapsync merge-file -p base.geojson ours.geojson theirs.geojson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(jq '.features | length' <<<"$output")" 13
	assert_equal "$(jq -c '[.features[] | select(.properties.nom == "Bretagne") | .properties]' <<<"$output")" \
		'[{"code":"53","nom":"Bretagne","taux":"5.9","wifi":true}]'
	assert_equal "$(jq -c '[.features[].properties.nom]' <<<"$output")" "$(jq -c '[.features[].properties.nom]' "$REGIONS")"
}

@test "features without ids: a deletion against an edit is a conflict named by its index in BASE" {
	cp "$REGIONS" base.geojson
	edit_regions 'del(.features[] | select(.properties.nom == "Corse"))' ours.geojson
	edit_regions '(.features[] | select(.properties.nom == "Corse") | .properties.taux) = "6.0"' theirs.geojson
	run_split umapsync merge-file -p --conflicts=report.json base.geojson ours.geojson theirs.geojson
	assert_failure 1
	assert_equal "$stderr" "CONFLICT (delete/modify): feature without id at index 12 deleted in ours, changed in theirs
merged with 1 conflict; the result keeps ours"
	assert_equal "$(jq '.features | length' <<<"$output")" 12
	assert_equal "$(jq -c '.conflicts[] | [.layer, .id, .index, .key, .kind, .base.properties.taux, .ours, .theirs.properties.taux]' report.json)" \
		'[0,null,12,null,"delete/modify","6.2",null,"6.0"]'
	# the other way round, and settled for theirs: the edited feature, once
	run_split umapsync merge-file -p --theirs base.geojson theirs.geojson ours.geojson
	assert_equal "$(jq -c '[.features[] | select(.properties.nom == "Corse") | .properties.taux]' <<<"$output")" '[]'
	run_split umapsync merge-file -p base.geojson theirs.geojson ours.geojson
	assert_failure 1
	assert_equal "$(jq -c '[.features[] | select(.properties.nom == "Corse") | .properties.taux]' <<<"$output")" '["6.0"]'
}

@test "features without ids: both sides making the same change merge clean, without a copy" {
	cp "$REGIONS" base.geojson
	local same='(.features[] | select(.properties.nom == "Bretagne") | .properties.taux) = "5.9"
		| .features += [{"type":"Feature","properties":{"nom":"Mayotte"},"geometry":{"type":"Point","coordinates":[45.1,-12.8]}}]'
	edit_regions "$same" ours.geojson
	edit_regions "$same | del(.features[] | select(.properties.nom == \"Corse\"))" theirs.geojson
	run_split umapsync merge-file -p base.geojson ours.geojson theirs.geojson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.features[].properties.nom] | [length, (map(select(. == "Mayotte" or . == "Bretagne" or . == "Corse")))]' <<<"$output")" \
		'[13,["Bretagne","Mayotte"]]'
	assert_equal "$(jq -c '[.features[] | select(.properties.nom == "Bretagne") | .properties.taux]' <<<"$output")" '["5.9"]'
}

@test "features without ids: two edits of the same key conflict; the report names the feature by index" {
	cp "$REGIONS" base.geojson
	edit_regions '(.features[1].properties.taux) = "7.0"' ours.geojson
	edit_regions '(.features[1].properties.taux) = "7.5"' theirs.geojson
	run_split umapsync merge-file --conflicts=- -o out.geojson base.geojson ours.geojson theirs.geojson
	assert_failure 1
	assert_equal "$(jq -c '.conflicts[] | [.id, .index, .key, .kind, .base, .ours, .theirs]' <<<"$output")" \
		'[null,1,"properties.taux","modify/modify","6.7","7.0","7.5"]'
	assert_equal "$(jq '.features | length' out.geojson)" 13
}

@test "--ours, --theirs and --union settle every conflict: exit 0, what was settled on stderr" {
	use_case modify-modify
	run_split umapsync merge-file -p --ours base.geojson ours.geojson theirs.geojson
	assert_success
	assert_equal "$stderr" "CONFLICT (modify/modify): feature A: properties.capacity is 64 in ours, 50 in theirs (base 40)
merged with 1 conflict; the result keeps ours"
	run_split umapsync merge-file -p base.geojson ours.geojson theirs.geojson
	assert_failure 1 # without an option the conflict is left to the user
}

@test "--union on add/add: an id is kept once, with both sides' keys (ours where both set one)" {
	use_case add-add
	run_split umapsync merge-file -q -p --union base.geojson ours.geojson theirs.geojson
	assert_success
	assert_equal "$(jq -c '[.features[] | [.id, .properties]]' <<<"$output")" \
		'[["A",{"name":"Place A"}],["N",{"name":"North","capacity":10}]]'
	# features without id added on both sides are both kept, under any option
	cp "$REGIONS" base.geojson
	edit_regions '.features += [{"type":"Feature","properties":{"nom":"Mayotte"},"geometry":null}]' ours.geojson
	edit_regions '.features += [{"type":"Feature","properties":{"nom":"Guyane"},"geometry":null}]' theirs.geojson
	for option in --union --ours --theirs; do
		run_split umapsync merge-file -p $option base.geojson ours.geojson theirs.geojson
		assert_success
		assert_equal "$(jq -c '[.features[-2:][].properties.nom]' <<<"$output")" '["Mayotte","Guyane"]'
	done
}
