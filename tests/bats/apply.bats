#!/usr/bin/env bats
# umapsync apply (SPEC §3): applies a `diff --format=json` patch all or nothing, --reverse
# undoes it, --check only tests; stale old values are refused and nothing changes.

bats_require_minimum_version 1.5.0
load helper

setup() {
	TEST_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/umapsync-test.XXXXXX")
	export HOME="$TEST_DIR/home"
	mkdir -p "$HOME"
	cd "$TEST_DIR" || return 1
	cp "$EXAMPLES/bike-parking.geojson" parking.geojson
	"$UMAPSYNC" diff --format=json "$EXAMPLES/bike-parking.geojson" "$EXAMPLES/bike-parking-alice.geojson" >alice.patch
}

@test "applies a patch: the file then equals the new side, untouched lines keep their bytes" {
	run_split umapsync apply alice.patch parking.geojson
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	run umapsync diff --exit-code parking.geojson "$EXAMPLES/bike-parking-alice.geojson"
	assert_success
	assert_output ""
	# one changed line, one added at the end of the layer; the other lines are as they were
	run diff "$EXAMPLES/bike-parking.geojson" parking.geojson
	assert_output '5c5
<     {"type": "Feature", "id": "zP5kR", "properties": {"name": "Bellecour", "capacity": 40, "covered": false, "operator": "Métropole de Lyon"}, "geometry": {"type": "Point", "coordinates": [4.8320, 45.7578]}},
---
>     {"type": "Feature", "id": "zP5kR", "properties": {"name": "Bellecour", "capacity": 64, "covered": false, "operator": "Métropole de Lyon"}, "geometry": {"type": "Point", "coordinates": [4.832, 45.7578]}},
12c12,13
<     {"type": "Feature", "id": "k4JrU", "properties": {"name": "Opéra", "capacity": 20, "covered": false, "operator": "Métropole de Lyon"}, "geometry": {"type": "Point", "coordinates": [4.8362, 45.7676]}}
---
>     {"type": "Feature", "id": "k4JrU", "properties": {"name": "Opéra", "capacity": 20, "covered": false, "operator": "Métropole de Lyon"}, "geometry": {"type": "Point", "coordinates": [4.8362, 45.7676]}},
>     {"type": "Feature", "id": "R2dNw", "properties": {"name": "Perrache", "capacity": 300, "covered": true, "operator": "SNCF"}, "geometry": {"type": "Point", "coordinates": [4.8262, 45.7493]}}'
	[ "$(ls)" = "$(printf 'alice.patch\nhome\nparking.geojson')" ] # no temporary file left
}

@test "--reverse undoes the patch" {
	umapsync apply alice.patch parking.geojson
	run_split umapsync apply --reverse alice.patch parking.geojson
	assert_success
	run umapsync diff --exit-code parking.geojson "$EXAMPLES/bike-parking.geojson"
	assert_success
	assert_output ""
	run_split umapsync apply -R alice.patch "$EXAMPLES/bike-parking-alice.geojson" --check
	assert_success
}

@test "--check tests without writing" {
	cp parking.geojson before.geojson
	run_split umapsync apply --check alice.patch parking.geojson
	assert_success
	assert_output ""
	cmp parking.geojson before.geojson
	cp "$EXAMPLES/bike-parking-alice.geojson" alice.geojson
	run_split umapsync apply --check alice.patch alice.geojson
	assert_failure 1
	cmp alice.geojson "$EXAMPLES/bike-parking-alice.geojson"
}

@test "a patch applied twice is refused naming the feature and key, and nothing changes" {
	umapsync apply alice.patch parking.geojson
	cp parking.geojson before.geojson
	run_split umapsync apply alice.patch parking.geojson
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" 'error: patch does not apply: feature zP5kR: property "capacity" is 64 in parking.geojson, the patch expects 40
hint: nothing was changed; was the patch made against another version of this file?'
	cmp parking.geojson before.geojson
}

@test "applies onto a concurrent edit of other keys (bob's), refuses one of the same key" {
	cp "$EXAMPLES/bike-parking-bob.geojson" bob.geojson
	run_split umapsync apply alice.patch bob.geojson
	assert_success
	run umapsync diff --format=json "$EXAMPLES/bike-parking-bob.geojson" bob.geojson
	assert_equal "$(jq -c '[.features[] | [.id, .change, (.properties // {} | keys)]]' <<<"$output")" '[["zP5kR","modified",["capacity"]],["R2dNw","added",[]]]'
	jq '.features[0].properties.capacity = 50' "$EXAMPLES/bike-parking.geojson" >other.geojson
	cp other.geojson before.geojson
	run_split umapsync apply alice.patch other.geojson
	assert_failure 1
	assert_equal "${stderr%%$'\n'*}" 'error: patch does not apply: feature zP5kR: property "capacity" is 50 in other.geojson, the patch expects 40'
	cmp other.geojson before.geojson
}

@test "refuses to add a feature that exists, or remove one that was edited or is gone" {
	"$UMAPSYNC" diff --format=json "$EXAMPLES/bike-parking-alice.geojson" "$EXAMPLES/bike-parking.geojson" >undo.patch
	run_split umapsync apply undo.patch parking.geojson
	assert_failure 1
	assert_equal "${stderr%%$'\n'*}" 'error: patch does not apply: feature zP5kR: property "capacity" is 40 in parking.geojson, the patch expects 64'
	jq '{summary, layers, features: [.features[] | select(.change == "added")]}' alice.patch >add.patch
	umapsync apply add.patch parking.geojson
	run_split umapsync apply add.patch parking.geojson
	assert_failure 1
	assert_equal "${stderr%%$'\n'*}" 'error: patch does not apply: feature R2dNw: already in parking.geojson'
	jq '.features[-1].properties.capacity = 301' parking.geojson >edited.geojson
	run_split umapsync apply -R add.patch edited.geojson
	assert_failure 1
	assert_equal "${stderr%%$'\n'*}" 'error: patch does not apply: feature R2dNw: differs in edited.geojson from the version the patch removes'
	run_split umapsync apply -R add.patch "$EXAMPLES/bike-parking.geojson" --check
	assert_failure 1
	assert_equal "${stderr%%$'\n'*}" "error: patch does not apply: feature R2dNw: not in $EXAMPLES/bike-parking.geojson"
}

@test "a .umap map: map options, layer options, geometry, added and removed features, and back" {
	cp "$EXAMPLES/cycling-lyon.umap" map.umap
	"$UMAPSYNC" diff --format=json map.umap "$FIXTURES/diff/lyon-edited.umap" >lyon.patch
	run_split umapsync apply lyon.patch map.umap
	assert_success
	run umapsync diff --exit-code map.umap "$FIXTURES/diff/lyon-edited.umap"
	assert_success
	assert_output ""
	# the options key, member order and untouched features stay as they were written
	run diff "$EXAMPLES/cycling-lyon.umap" map.umap
	assert_line '<         "weight": 5,'
	assert_line '>         "weight": 6,'
	assert_line '>         {"type": "Feature", "id": "Wd3Lm", "properties": {"name": "Rue Paul Bert", "kind": "painted", "oneway": true, "surface": "asphalt"}, "geometry": {"type": "LineString", "coordinates": [[4.8488, 45.7609], [4.8551, 45.7612], [4.8623, 45.7617]]}}'
	refute_line --partial '"k4JrU"'
	run_split umapsync apply --reverse lyon.patch map.umap
	assert_success
	run umapsync diff --exit-code map.umap "$EXAMPLES/cycling-lyon.umap"
	assert_success
}

@test "layers added and removed by a patch" {
	jq 'del(.layers[1])' "$EXAMPLES/cycling-lyon.umap" >small.umap
	cp small.umap map.umap
	"$UMAPSYNC" diff --format=json small.umap "$EXAMPLES/cycling-lyon.umap" >layer.patch
	run_split umapsync apply layer.patch map.umap
	assert_success
	run umapsync diff --exit-code map.umap "$EXAMPLES/cycling-lyon.umap"
	assert_success
	run_split umapsync apply -R layer.patch map.umap
	assert_success
	run umapsync diff --exit-code map.umap small.umap
	assert_success
	run_split umapsync apply layer.patch parking.geojson
	assert_failure 1
	assert_equal "${stderr%%$'\n'*}" 'error: patch does not apply: layer a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03: already in parking.geojson'
}

@test "--id=PROP patches and features without ids" {
	local a="$FIXTURES/diff/stations-a.geojson" b="$FIXTURES/diff/stations-b.geojson"
	cp "$a" stations.geojson
	"$UMAPSYNC" diff --id=ref --format=json "$a" "$b" >ref.patch
	run_split umapsync apply --id=ref ref.patch stations.geojson
	assert_success
	run umapsync diff --exit-code --id=ref stations.geojson "$b"
	assert_success
	cp "$FIXTURES/diff/benches-a.geojson" benches.geojson
	"$UMAPSYNC" diff --format=json benches.geojson "$FIXTURES/diff/benches-b.geojson" >benches.patch
	run_split umapsync apply benches.patch benches.geojson
	assert_success
	run umapsync diff --exit-code benches.geojson "$FIXTURES/diff/benches-b.geojson"
	assert_success
}

@test "bad patches and files are fatal; usage errors exit 129" {
	echo '{"x": 1}' >bad.patch
	run_split umapsync apply bad.patch parking.geojson
	assert_failure 128
	assert_equal "$stderr" "fatal: cannot apply 'bad.patch': not a umapsync diff: expected {\"summary\",\"layers\",\"features\"} from diff --format=json"
	echo '{' >truncated.patch
	run_split umapsync apply truncated.patch parking.geojson
	assert_failure 128
	[[ "$stderr" == "fatal: cannot read the patch: truncated.patch:2:1: "* ]]
	run_split umapsync apply nope.patch parking.geojson
	assert_failure 128
	assert_equal "$stderr" "fatal: cannot read the patch: cannot open 'nope.patch': No such file or directory"
	run_split umapsync apply alice.patch nope.geojson
	assert_failure 128
	assert_equal "$stderr" "fatal: cannot open 'nope.geojson': No such file or directory"
	run_split umapsync apply alice.patch -
	assert_failure 128
	run_split umapsync apply alice.patch
	assert_failure 129
	[[ "$stderr" == "error: apply needs a PATCH and a FILE"* ]]
}

@test "the patch can come from standard input; the file keeps its mode" {
	chmod 640 parking.geojson
	run_split umapsync apply - parking.geojson <alice.patch
	assert_success
	[ "$(stat -c %a parking.geojson)" = 640 ]
	run umapsync diff --exit-code parking.geojson "$EXAMPLES/bike-parking-alice.geojson"
	assert_success
}

@test "removals: two equal features without ids are two removals; an id removed then added again" {
	printf '%s\n' '{"type":"FeatureCollection","features":[' \
		'{"type":"Feature","properties":{"n":1},"geometry":null},' \
		'{"type":"Feature","id":"k","properties":{"n":2},"geometry":null},' \
		'{"type":"Feature","properties":{"n":1},"geometry":null},' \
		'{"type":"Feature","id":"z","properties":{"n":3},"geometry":null}]}' >base.geojson
	printf '%s\n' '{"type":"FeatureCollection","features":[' \
		'{"type":"Feature","id":"k","properties":{"n":2},"geometry":null},' \
		'{"type":"Feature","id":"z","properties":{"n":3},"geometry":null}]}' >new.geojson
	umapsync diff --format=json base.geojson new.geojson >p.json || [ $? = 1 ]
	cp base.geojson a.geojson
	umapsync apply p.json a.geojson
	run jq -c '[.features[].properties.n]' a.geojson
	assert_output '[2,3]'
	# a patch written by hand: k removed, then added again with other values
	cat >redo.json <<'JSON'
{"summary":{},"layers":[],"features":[
 {"layer":0,"change":"removed","id":"k","old":{"type":"Feature","id":"k","properties":{"n":2},"geometry":null}},
 {"layer":0,"change":"added","id":"k","new":{"type":"Feature","id":"k","properties":{"n":20},"geometry":null}},
 {"layer":0,"change":"removed","id":"z","old":{"type":"Feature","id":"z","properties":{"n":3},"geometry":null}}]}
JSON
	umapsync apply redo.json a.geojson
	run jq -c '[.features[] | [.id, .properties.n]]' a.geojson
	assert_output '[["k",20]]'
	# a feature removed twice in one patch: the second is not there any more
	cat >twice.json <<'JSON'
{"summary":{},"layers":[],"features":[
 {"layer":0,"change":"removed","id":"k","old":{"type":"Feature","id":"k","properties":{"n":20},"geometry":null}},
 {"layer":0,"change":"removed","id":"k","old":{"type":"Feature","id":"k","properties":{"n":20},"geometry":null}}]}
JSON
	run_split umapsync apply twice.json a.geojson
	assert_failure
	[[ $stderr == 'error: patch does not apply: feature k: not in a.geojson'* ]]
	run jq -c '[.features[] | [.id, .properties.n]]' a.geojson
	assert_output '[["k",20]]'
}
