#!/usr/bin/env bats
# umapsync diff between files (SPEC §5): matching by id, per-key detail, every format
# (text, json, geojson, ops, --stat) and option, and the errors a user can run into.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	export BASE="$EXAMPLES/bike-parking.geojson" ALICE="$EXAMPLES/bike-parking-alice.geojson"
	export MAP="$EXAMPLES/cycling-lyon.umap" EDITED="$FIXTURES/diff/lyon-edited.umap"
	export EXPECTED="$FIXTURES/diff/expected"
}

@test "text: one block per changed feature with id, name and old → new" {
	run_split umapsync diff "$BASE" "$ALICE"
	assert_success
	assert_equal "$stderr" ""
	assert_output 'modified feature zP5kR "Bellecour"
  ~ capacity: 40 → 64

added feature R2dNw "Perrache"
  + name: "Perrache"
  + capacity: 300
  + covered: true
  + operator: "SNCF"
  + geometry: Point, 1 vertex'
}

@test "text on a .umap map: map and layer options, geometry summary, added, removed; spelling and key order are no change" {
	run_split umapsync diff "$MAP" "$EDITED"
	assert_success
	assert_output "$(cat "$EXPECTED/lyon.txt")"
	assert_line '  ~ geometry: LineString, 4 → 5 vertices, bbox moved 589 m'
	assert_line '  - _umap_options: {"color":"#d95f02","dashArray":"5,10"}'
	refute_output --partial 'k4JrU' # same values written 4.83620, 45.7676e0, 20.0, keys reordered
}

@test "identical documents print nothing, even reformatted with sorted keys" {
	jq -S . "$MAP" >sorted.umap
	run_split umapsync diff --exit-code "$MAP" sorted.umap
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
}

@test "--exit-code exits 1 where anything differs and still prints" {
	run_split umapsync diff --exit-code "$BASE" "$ALICE"
	assert_failure 1
	assert_line --index 0 'modified feature zP5kR "Bellecour"'
}

@test "--quiet prints nothing and exits 1 on differences, 0 without" {
	run_split umapsync diff --quiet "$BASE" "$ALICE"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" ""
	run_split umapsync diff -q "$BASE" "$BASE"
	assert_success
	assert_output ""
}

@test "--stat counts per layer and in total" {
	run_split umapsync diff --stat "$MAP" "$EDITED"
	assert_success
	assert_output ' map          | 1 option changed
 Bike lanes   | 1 added, 1 removed, 2 modified, 1 option changed
 Bike parking | 0 added, 0 removed, 1 modified
 1 added, 1 removed, 3 modified, 10 unchanged'
}

@test "--stat names added and removed layers" {
	jq 'del(.layers[1]) | .layers[0].features |= .[0:2]' "$MAP" >small.umap
	run_split umapsync diff --stat small.umap "$MAP"
	assert_success
	assert_output ' Bike lanes   | 4 added, 0 removed, 0 modified
 Bike parking | 8 added, 0 removed, 0 modified (layer added)
 12 added, 0 removed, 0 modified, 2 unchanged'
	run_split umapsync diff --stat "$MAP" small.umap
	assert_output ' Bike lanes   | 0 added, 4 removed, 0 modified
 Bike parking | 0 added, 8 removed, 0 modified (layer removed)
 0 added, 12 removed, 0 modified, 2 unchanged'
}

@test "--format=json is SPEC §5's shape" {
	run_split umapsync diff --format=json "$BASE" "$ALICE"
	assert_success
	assert_equal "$(jq -c . <<<"$output")" '{"summary":{"added":1,"removed":0,"modified":1,"unchanged":7},"layers":[],"features":[{"layer":"a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03","id":"zP5kR","change":"modified","properties":{"capacity":{"old":40,"new":64}}},{"layer":"a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03","id":"R2dNw","change":"added","new":{"type":"Feature","id":"R2dNw","properties":{"name":"Perrache","capacity":300,"covered":true,"operator":"SNCF"},"geometry":{"type":"Point","coordinates":[4.8262,45.7493]}}}]}'
	# indented like JSON.stringify(v, null, 2)
	assert_line --index 1 '  "summary": {'
}

@test "--format=json on a map: map and layer options, removed keys without new, geometry old/new" {
	run_split umapsync diff --format=json "$MAP" "$EDITED"
	assert_success
	assert_output "$(cat "$EXPECTED/lyon.json")"
	assert_equal "$(jq -c '.map' <<<"$output")" '{"change":"modified","properties":{"zoom":{"old":14,"new":15}}}'
	assert_equal "$(jq -c '.layers' <<<"$output")" '[{"layer":"3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15","change":"modified","properties":{"weight":{"old":5,"new":6}}}]'
	assert_equal "$(jq -c '.features[] | select(.id=="M2wXe") | .properties' <<<"$output")" '{"kind":{"old":"painted","new":"protected"},"_umap_options":{"old":{"color":"#d95f02","dashArray":"5,10"}}}'
	assert_equal "$(jq -c '.features[] | select(.id=="zP5kR") | .properties.description' <<<"$output")" '{"new":"Two new racks by the statue."}'
	assert_equal "$(jq -c '.features[] | select(.id=="b7TzP") | [(.geometry.old.coordinates|length), (.geometry.new.coordinates|length), .properties]' <<<"$output")" '[4,5,{}]'
	assert_equal "$(jq -c '.features[] | select(.id=="p9LcV") | [.change, .old.properties.name]' <<<"$output")" '["removed","Passerelle du Collège"]'
}

@test "--format=geojson: the changed features, old ones for removals, tagged umapsync:change" {
	run_split umapsync diff --format=geojson "$MAP" "$EDITED"
	assert_success
	assert_output "$(cat "$EXPECTED/lyon.geojson")"
	assert_equal "$(jq -c '.type, [.features[] | [.id, .properties["umapsync:change"], .properties.capacity]]' <<<"$output")" '"FeatureCollection"
[["b7TzP","modified",null],["M2wXe","modified",null],["Wd3Lm","added",null],["p9LcV","removed",null],["zP5kR","modified",64]]'
}

@test "--format=ops: uMap realtime messages, one per line" {
	run_split umapsync diff --format=ops "$MAP" "$EDITED"
	assert_success
	assert_output "$(cat "$EXPECTED/lyon.ops")"
	assert_line --index 0 '{"verb":"update","subject":"map","metadata":{},"key":"properties.zoom","value":15,"oldValue":14}'
	assert_line --index 1 '{"verb":"update","subject":"datalayer","metadata":{"id":"3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15"},"key":"properties.weight","value":6,"oldValue":5}'
	# a removed key has no value, an added key no oldValue (JSON.stringify drops undefined)
	assert_line '{"verb":"update","subject":"feature","metadata":{"id":"M2wXe","layerId":"3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15","featureType":"polyline"},"key":"properties._umap_options","oldValue":{"color":"#d95f02","dashArray":"5,10"}}'
	assert_line '{"verb":"update","subject":"feature","metadata":{"id":"zP5kR","layerId":"a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03","featureType":"marker"},"key":"properties.description","value":"Two new racks by the statue."}'
	assert_equal "${#lines[@]}" 9
	assert_equal "$(grep -c '"verb":"upsert"' <<<"$output")" 1
	assert_equal "$(grep -c '"verb":"delete"' <<<"$output")" 1
}

@test "--format=ops for whole layers: upsert before its features, delete after them" {
	jq 'del(.layers[1])' "$MAP" >small.umap
	run_split umapsync diff --format=ops small.umap "$MAP"
	assert_success
	assert_line --index 0 '{"verb":"upsert","subject":"datalayer","metadata":{"id":"a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03"},"value":{"id":"a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03","rank":1,"parent":null,"properties":{"id":"a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03","name":"Bike parking","displayOnLoad":true,"color":"#7570b3","iconClass":"Circle"}}}'
	assert_equal "${#lines[@]}" 9
	run_split umapsync diff --format=ops "$MAP" small.umap
	assert_equal "${#lines[@]}" 9
	assert_equal "$(jq -r .verb <<<"${lines[8]}") $(jq -r .subject <<<"${lines[8]}")" "delete datalayer"
	assert_equal "$(jq -r .verb <<<"${lines[0]}") $(jq -r .metadata.featureType <<<"${lines[0]}")" "delete marker"
}

@test "--color=always colours the text; no colour when piped or with --color=never" {
	run_split umapsync diff --color=always "$MAP" "$EDITED"
	assert_success
	assert_output "$(cat "$EXPECTED/lyon.color.txt")"
	assert_line --index 0 $'\e[1m\e[33mmodified map options\e[m'
	assert_line --index 1 $'  ~ zoom: \e[31m14\e[m → \e[32m15\e[m'
	run_split umapsync diff --color=never "$MAP" "$EDITED"
	refute_output --partial $'\e['
	run_split umapsync diff "$MAP" "$EDITED"
	refute_output --partial $'\e['
}

@test "NO_COLOR wins over a terminal; --color=always wins over NO_COLOR" {
	command -v script >/dev/null || skip "script(1) is not installed"
	run script -qec "NO_COLOR=1 '$UMAPSYNC' diff '$BASE' '$ALICE'" /dev/null
	refute_output --partial $'\e['
	run script -qec "NO_COLOR= '$UMAPSYNC' diff '$BASE' '$ALICE'" /dev/null
	assert_output --partial $'\e[1m\e[33mmodified feature zP5kR'
	NO_COLOR=1 run_split umapsync diff --color=always "$BASE" "$ALICE"
	assert_output --partial $'\e[31m40\e[m'
}

@test "--ignore=KEY leaves keys out, repeatable, and geometry too" {
	run_split umapsync diff --ignore=capacity "$BASE" "$ALICE"
	assert_success
	refute_output --partial 'zP5kR'
	assert_line --index 0 'added feature R2dNw "Perrache"'
	run_split umapsync diff --stat --ignore=kind --ignore=_umap_options --ignore=geometry --ignore=zoom --ignore=weight --ignore=capacity --ignore=description "$MAP" "$EDITED"
	assert_output ' Bike lanes | 1 added, 1 removed, 0 modified
 1 added, 1 removed, 0 modified, 13 unchanged'
}

@test "--id=PROP matches features by a property; --precision=N compares coordinates at N decimals" {
	local a="$FIXTURES/diff/stations-a.geojson" b="$FIXTURES/diff/stations-b.geojson"
	run_split umapsync diff --id=ref "$a" "$b"
	assert_success
	assert_output 'modified feature 2004 "Place Bellecour"
  ~ bikes: 20 → 24
  + updated: "2026-11-20"
  ~ geometry: Point, 1 vertex, bbox moved 0.1 m'
	run_split umapsync diff --id=ref --precision=5 "$a" "$b"
	assert_output 'modified feature 2004 "Place Bellecour"
  ~ bikes: 20 → 24
  + updated: "2026-11-20"'
	run_split umapsync diff --id=ref --precision=5 --format=json "$a" "$b"
	assert_equal "$(jq -c '.features[0] | [.layer, .id]' <<<"$output")" '[0,"2004"]'
	# without --id these features have no id: the one changed in place is modified
	run_split umapsync diff --stat "$a" "$b"
	assert_output " Vélo'v stations | 0 added, 0 removed, 1 modified
 0 added, 0 removed, 1 modified, 2 unchanged"
}

@test "features without ids match identical ones, whatever their key order" {
	run_split umapsync diff --format=json "$FIXTURES/diff/benches-a.geojson" "$FIXTURES/diff/benches-b.geojson"
	assert_success
	assert_equal "$(jq -c '.summary' <<<"$output")" '{"added":1,"removed":1,"modified":0,"unchanged":3}'
	assert_equal "$(jq -c '[.features[] | [.id, .change, ((.new // .old).properties.material)]]' <<<"$output")" '[[null,"added","concrete"],[null,"removed","metal"]]'
	run_split umapsync diff "$FIXTURES/diff/benches-a.geojson" "$FIXTURES/diff/benches-b.geojson"
	assert_line --index 0 'added feature (no id)'
}

@test "standard input is a source" {
	run_split umapsync diff --stat - "$ALICE" <"$BASE"
	assert_success
	assert_output ' Bike parking | 1 added, 0 removed, 1 modified
 1 added, 0 removed, 1 modified, 7 unchanged'
	run_split umapsync diff - - <"$BASE"
	assert_failure 128
	assert_equal "$stderr" "fatal: only one side of a diff can be standard input"
}

@test "duplicate ids are fatal and name both lines" {
	run_split umapsync diff "$BASE" "$FIXTURES/diff/duplicate-ids.geojson"
	assert_failure 128
	assert_output ""
	assert_equal "$stderr" "fatal: $FIXTURES/diff/duplicate-ids.geojson:6:5: duplicate feature id \"zP5kR\": first on line 4, again on line 6"
}

@test "duplicate ids on the old side are fatal too, and a broken new side is reported first" {
	run_split umapsync diff "$FIXTURES/diff/duplicate-ids.geojson" "$BASE"
	assert_failure 128
	assert_output ""
	assert_equal "$stderr" "fatal: $FIXTURES/diff/duplicate-ids.geojson:6:5: duplicate feature id \"zP5kR\": first on line 4, again on line 6"
	printf '{"type":"FeatureCollection","features":[}' >broken.geojson
	run_split umapsync diff "$FIXTURES/diff/duplicate-ids.geojson" broken.geojson
	assert_failure 128
	assert_equal "$stderr" "fatal: broken.geojson:1:41: unexpected '}'; expected a value"
}

@test "a missing file, a revision, or no arguments say fatal: clearly" {
	run_split umapsync diff "$BASE" nope.geojson
	assert_failure 128
	assert_equal "$stderr" "fatal: 'nope.geojson' is not a file, and there is no umapsync repository here to read it as a revision"
	run_split umapsync diff HEAD
	assert_failure 128
	assert_equal "$stderr" "fatal: 'HEAD' is not a file, and there is no umapsync repository here to read it as a revision"
	run_split umapsync diff
	assert_failure 128
	assert_equal "$stderr" "fatal: not a umapsync repository (or any parent directory); to compare two files, give both: umapsync diff A B"
	run_split umapsync diff "$BASE"
	assert_failure 128
	assert_equal "$stderr" "fatal: not a umapsync repository (or any parent directory); to compare two files, give both: umapsync diff A B"
	mkdir dir
	run_split umapsync diff "$BASE" dir
	assert_failure 128
	assert_equal "$stderr" "fatal: 'dir' is a directory, not a file"
}

@test "invalid input is fatal with file:line:col" {
	printf '{"type": "FeatureCollection", "features": [\n  {"type": "Feature",}\n]}\n' >bad.geojson
	run_split umapsync diff "$BASE" bad.geojson
	assert_failure 128
	[[ "$stderr" == "fatal: bad.geojson:2:"* ]]
	printf '{"type": "Point", "coordinates": [1, 2]}' >point.geojson
	run_split umapsync diff "$BASE" point.geojson
	assert_failure 128
	assert_equal "$stderr" 'fatal: point.geojson:1:1: expected a FeatureCollection, a Feature or a uMap map ("type": "umap"), found "type": "Point"'
}

@test "layers over a megabyte, read on two cores by halves, diff as when read whole" {
	big_layer old.geojson 6000
	big_layer new.geojson 6000 ours
	[ "$(wc -c <new.geojson)" -gt 1048576 ]
	run_split umapsync diff --stat old.geojson new.geojson
	assert_success
	assert_line ' 0 added, 68 removed, 62 modified, 5870 unchanged'
	run_split umapsync diff --format=json old.geojson new.geojson
	assert_success
	local whole=$output
	# a pipe is read whole, by one reader
	run_split umapsync diff --format=json old.geojson - <new.geojson
	assert_success
	assert_equal "$output" "$whole"
	# an error in the second half says where, as a whole reading does
	sed -i '5500s/,45\./,045./' new.geojson
	local col
	col=$(awk 'NR == 5500 { print index($0, "045.") }' new.geojson)
	run_split umapsync diff old.geojson new.geojson
	assert_failure 128
	assert_equal "$stderr" "fatal: new.geojson:5500:$col: invalid number: leading zeros are not allowed"
}

@test "a single Feature is compared as a layer of one" {
	jq '.features[0] | .properties.capacity = 41' "$BASE" >one.geojson
	jq '.features[0]' "$BASE" >orig.geojson
	run_split umapsync diff orig.geojson one.geojson
	assert_success
	assert_output 'modified feature zP5kR "Bellecour"
  ~ capacity: 40 → 41'
}

@test "usage errors exit 129" {
	run_split umapsync diff a b c
	assert_failure 129
	[[ "$stderr" == "error: too many arguments: diff compares two sources"* ]]
	run_split umapsync diff --precision=99 "$BASE" "$ALICE"
	assert_failure 129
	[[ "$stderr" == "error: --precision expects 0 to 17 decimals, not 99"* ]]
	run_split umapsync diff --format=yaml "$BASE" "$ALICE"
	assert_failure 129
	run_split umapsync diff --precision=x "$BASE" "$ALICE"
	assert_failure 129
}

@test "a closed stdout is reported, not ignored" {
	[ -w /dev/full ] || skip "no /dev/full"
	run_split sh -c "'$UMAPSYNC' diff '$MAP' '$EDITED' >/dev/full"
	assert_failure 128
	[[ "$stderr" == "fatal: cannot write to standard output"* ]]
}

@test "features without ids: an edit in place is modified; --ignore and --precision apply (uMap regions)" {
	local regions=$FIXTURES/idless/regions.geojson
	jq -c '.features[3].properties.taux = "6.9" | .features[3].geometry.coordinates[0][0][0] += 0.0000001' \
		"$regions" >new.geojson
	run_split umapsync diff --format=json "$regions" new.geojson
	assert_success
	assert_equal "$(jq -c '.summary' <<<"$output")" '{"added":0,"removed":0,"modified":1,"unchanged":12}'
	assert_equal "$(jq -c '.features[] | [.id, .change, .properties, (.geometry != null)]' <<<"$output")" \
		'[null,"modified",{"taux":{"old":"6.7","new":"6.9"}},true]'
	run_split umapsync diff --stat --precision=5 "$regions" new.geojson
	assert_output " Taux de chômage | 0 added, 0 removed, 1 modified
 0 added, 0 removed, 1 modified, 12 unchanged"
	run_split umapsync diff --exit-code --stat --precision=5 --ignore=taux "$regions" new.geojson
	assert_success
	assert_output " 0 added, 0 removed, 0 modified, 13 unchanged"
	# read by halves on two cores (over a megabyte): the same answer
	jq -c '.features = [range(60) as $i | .features[]]' "$regions" >big-a.geojson
	jq -c '.features = [range(60) as $i | .features[]] | .features[700].properties.taux = "1"' "$regions" >big-b.geojson
	run_split umapsync diff --stat big-a.geojson big-b.geojson
	assert_output " Taux de chômage | 0 added, 0 removed, 1 modified
 0 added, 0 removed, 1 modified, 779 unchanged"
	run_split umapsync diff --stat --ignore=taux big-a.geojson big-b.geojson
	assert_output " 0 added, 0 removed, 0 modified, 780 unchanged"
}
