#!/usr/bin/env bats
# Writing (SPEC §2): files are written in the layout they were read, numbers keep their
# spelling, a layer file's layer is its path, and a refused command changes no file.
# Fixtures tests/fixtures/umap/layout-* are uMap's own test data (LICENSE beside them).

bats_require_minimum_version 1.5.0
load helper

UMAP=$FIXTURES/umap

@test "layout: a one-line file is exported on one line, byte for byte" {
	cp "$UMAP/layout-categorized_highway.geojson" h.geojson
	umapsync init >/dev/null
	umapsync import h.geojson >/dev/null
	[ "$(wc -l <h.geojson)" -eq 1 ]
	umapsync export HEAD h.geojson >out.geojson
	cmp h.geojson out.geojson
	rm out.geojson # status would list it as an untracked map file
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
}

@test "layout: one feature a line stays so, through export and checkout" {
	cp "$UMAP/layout-choropleth.geojson" c.geojson
	umapsync init >/dev/null
	umapsync import c.geojson >/dev/null
	# import wrote the ids it assigned, one feature a line still
	[ "$(grep -c '^{"type":"Feature",.*"id":"[A-Za-z0-9]\{5\}"}' c.geojson)" -eq 13 ]
	grep '^{"type":"Feature"' c.geojson >imported.lines
	umapsync export HEAD c.geojson >out.geojson
	grep '^{"type":"Feature"' out.geojson | cmp imported.lines -
	[ "$(wc -l <out.geojson)" -eq 15 ]
	sed -i 's/"code":"11"/"code":"11b"/' c.geojson
	umapsync commit -m edit >/dev/null
	umapsync checkout HEAD~1 2>/dev/null
	grep '^{"type":"Feature"' c.geojson | cmp imported.lines -
	[ "$(wc -l <c.geojson)" -eq 15 ]
}

@test "layout: GDAL's layout (members one a line at column 0, one feature a line) survives export, checkout and merges" {
	cp "$FIXTURES/gdal/cafes.geojson" c.geojson
	umapsync init >/dev/null
	umapsync import c.geojson >/dev/null
	umapsync export HEAD c.geojson >out.geojson
	cmp "$FIXTURES/gdal/cafes.geojson" out.geojson
	rm out.geojson
	# an edit and a checkout back: every line as it was but the edited feature's, which is
	# laid out anew (its spelling in the file was B2's), still one line at column 0
	sed -i 's/"name": "B"/"name": "B2"/' c.geojson
	umapsync commit -m B2 >/dev/null
	umapsync checkout HEAD~1 2>/dev/null
	run diff "$FIXTURES/gdal/cafes.geojson" c.geojson
	assert_output '7c7
< { "type": "Feature", "id": "b", "properties": { "name": "B" }, "geometry": { "type": "Point", "coordinates": [ 4.84, 45.77 ] } },
---
> {"type": "Feature", "id": "b", "properties": {"name": "B"}, "geometry": {"type": "Point", "coordinates": [4.84, 45.77]}},'
	# a merge that changes the collection's own members is written anew: still GDAL's
	# layout, so only the lines that changed differ
	cp "$FIXTURES/gdal/cafes.geojson" base.geojson
	sed 's/"name": "A"/"name": "A2"/' base.geojson >ours.geojson
	sed 's/"name": "C"/"name": "C2"/; s/"name": "cafes"/"name": "cafés"/' base.geojson >theirs.geojson
	run umapsync merge-file base.geojson ours.geojson theirs.geojson
	assert_success
	run diff base.geojson ours.geojson
	assert_output '3c3
< "name": "cafes",
---
> "name": "cafés",
6c6
< { "type": "Feature", "id": "a", "properties": { "name": "A", "n": 1.0 }, "geometry": { "type": "Point", "coordinates": [ 4.83, 45.76 ] } },
---
> { "type": "Feature", "id": "a", "properties": { "name": "A2", "n": 1.0 }, "geometry": { "type": "Point", "coordinates": [ 4.83, 45.76 ] } },
8c8
< { "type": "Feature", "id": "c", "properties": { "name": "C" }, "geometry": { "type": "Point", "coordinates": [ 4.85, 45.78 ] } }
---
> { "type": "Feature", "id": "c", "properties": { "name": "C2" }, "geometry": { "type": "Point", "coordinates": [ 4.85, 45.78 ] } }'
}

@test "layout: an indented file stays indented, with coordinate arrays on one line" {
	cp "$UMAP/layout-circles.geojson" circles.geojson
	umapsync init >/dev/null
	umapsync import circles.geojson >/dev/null
	umapsync export HEAD circles.geojson >out.geojson
	run head -9 out.geojson
	assert_output '{
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {
                "type": "Point",
                "coordinates": [-1.5869228,47.1988448]
            },'
	# what uMap wrote over 219 lines, one number a line, is no longer 5 times larger
	[ "$(wc -l <out.geojson)" -lt 200 ]
	# the same document, but for the id import gave the feature that had none
	[ "$(jq -cS 'del(.features[].id)' out.geojson)" = "$(jq -cS 'del(.features[].id)' "$UMAP/layout-circles.geojson")" ]
}

@test "layout: Python's json.dumps spacing of a .umap survives export and checkout" {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d), end="")' \
		"$EXAMPLES/cycling-lyon.umap" >map.umap
	umapsync init >/dev/null
	umapsync import map.umap >/dev/null
	cp map.umap imported.umap
	[ "$(wc -l <map.umap)" -eq 0 ]
	umapsync export HEAD map.umap >out.umap
	cmp imported.umap out.umap
}

@test "numbers: integers beyond 2^53 and -0 survive import, export and checkout" {
	printf '%s\n' '{"type":"FeatureCollection","features":[' \
		'{"type":"Feature","id":12345678901234567890,"properties":{"big":9007199254740993,"z":-0,"r":1.0,"e":1e3},"geometry":{"type":"Point","coordinates":[-0.0,1.50]}},' \
		'{"type":"Feature","properties":{"big":12345678901234567890},"geometry":null}' \
		']}' >n.geojson
	umapsync init >/dev/null
	run_split umapsync import n.geojson
	assert_line --index 0 "n.geojson: 1 layer, 2 features, 1 id assigned"
	# the feature import did not touch keeps every byte; the other its numbers' values
	grep -F '{"type":"Feature","id":12345678901234567890,"properties":{"big":9007199254740993,"z":-0,"r":1.0,"e":1e3},"geometry":{"type":"Point","coordinates":[-0.0,1.50]}},' n.geojson
	grep -F '"big":12345678901234567890' n.geojson
	cp n.geojson imported.geojson
	umapsync export HEAD n.geojson >out.geojson
	grep -F '"id":12345678901234567890' out.geojson
	grep -F '"big":9007199254740993,"z":-0' out.geojson
	grep -F '"r":1.0,"e":1e3},"geometry":{"type":"Point","coordinates":[-0.0,1.50]}' out.geojson
	grep -F '{"big":12345678901234567890}' out.geojson
	# and so does the feature import gave an id, where its values did not change
	grep -F '{"type":"Feature","properties":{"big":12345678901234567890},"geometry":null,"id":"' n.geojson
	rm imported.geojson out.geojson # status would list them as untracked map files
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
}

@test "layer identity: a plain GeoJSON file gets no layer id, and stays valid" {
	jq 'del(.properties)' "$UMAP/layout-circles.geojson" >circles.geojson
	umapsync init >/dev/null
	umapsync import circles.geojson >/dev/null
	jq -e 'has("properties") | not' circles.geojson
	run umapsync validate circles.geojson
	assert_success
	assert_output ""
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
}

@test "layer identity: the layer file downloaded again without its layer id is the same layer" {
	jq '.properties = {"id": "0f3c2a1e-1111-4222-8333-444455556666", "name": "Circles"}' \
		"$UMAP/layout-circles.geojson" >circles.geojson
	umapsync init >/dev/null
	umapsync import circles.geojson >/dev/null
	layers=$(git --git-dir=.umapsync show HEAD:manifest.json | jq -c '.files[0].layers')
	assert_equal "$layers" '["0f3c2a1e-1111-4222-8333-444455556666"]'
	# uMap's importRaw drops the layer id: what a download gives back
	jq 'del(.properties)' circles.geojson >download.geojson
	mv download.geojson circles.geojson
	run umapsync status
	assert_output "On branch main
Changes not committed:
  modified:   circles.geojson (0 added, 0 modified, 0 removed, layer options changed)"
	umapsync commit -m "downloaded again" >/dev/null
	run bash -c "git --git-dir=.umapsync show HEAD:manifest.json | jq -c '.files[0].layers'"
	assert_output "$layers"
	# an id that changes inside the file is data too
	jq '.properties = {"id": "another"}' circles.geojson >x && mv x circles.geojson
	run umapsync status
	assert_output "On branch main
Changes not committed:
  modified:   circles.geojson (0 added, 0 modified, 0 removed, layer options changed)"
}

@test "a refused import changes no file: a second .umap keeps its bytes" {
	cp "$EXAMPLES/cycling-lyon.umap" a.umap
	cp "$UMAP/layout-display_on_load.umap" b.umap
	umapsync init >/dev/null
	umapsync import a.umap >/dev/null
	run_split umapsync import b.umap
	assert_failure 128
	assert_equal "$stderr" "fatal: a.umap and b.umap are both maps; a repository holds one map (track its other layers as .geojson files)"
	# nothing reported as done (it said "b.umap: 2 layers, 2 features, 2 ids assigned")
	assert_equal "$output" ""
	cmp "$UMAP/layout-display_on_load.umap" b.umap
}

@test "a refused import of several files changes none of them" {
	cp "$UMAP/layout-choropleth.geojson" c.geojson
	cp "$UMAP/layout-display_on_load.umap" a.umap
	cp "$UMAP/layout-display_on_load.umap" b.umap
	umapsync init >/dev/null
	run umapsync import c.geojson a.umap b.umap
	assert_failure 128
	cmp "$UMAP/layout-choropleth.geojson" c.geojson
	cmp "$UMAP/layout-display_on_load.umap" a.umap
	cmp "$UMAP/layout-display_on_load.umap" b.umap
	run umapsync log
	assert_failure 128
}

@test "a refused commit changes no file: the ids it would give stay out of the file" {
	cp "$EXAMPLES/cycling-lyon.umap" a.umap
	cp "$UMAP/layout-choropleth.geojson" b.geojson
	umapsync init >/dev/null
	umapsync import a.umap b.geojson >/dev/null
	b=$(git --git-dir=.umapsync show HEAD:manifest.json | jq -r '.files[1].layers[0]')
	# a new feature without id, and a layer that takes the id of b.geojson's layer
	jq --arg b "$b" '.layers[1]._umap_options.id = $b |
		.layers[0].features += [{"type": "Feature", "properties": {}, "geometry": null}]' \
		a.umap >edited.umap
	cp edited.umap a.umap
	run_split umapsync commit -m refused
	assert_failure 128
	assert_equal "$stderr" "fatal: layer id $b is in both a.umap and b.geojson; layer ids must be unique in a repository"
	cmp edited.umap a.umap
}

@test "checkout writes each file in the layout recorded for it" {
	cp "$UMAP/layout-categorized_highway.geojson" h.geojson
	jq . "$UMAP/layout-categorized_highway.geojson" >indented.geojson
	umapsync init >/dev/null
	umapsync import h.geojson indented.geojson >/dev/null
	cp h.geojson h.before
	cp indented.geojson indented.before
	jq -c '.features[0].properties.ref = "D 60"' h.geojson >x && mv x h.geojson
	jq '.features[0].properties.ref = "D 60"' indented.geojson >x && mv x indented.geojson
	umapsync commit -m "D 60" >/dev/null
	umapsync checkout HEAD~1 2>/dev/null
	cmp h.before h.geojson
	[ "$(wc -l <indented.geojson)" -gt 100 ]
	run grep -c '"coordinates": \[\[' indented.geojson
	assert_output "$(jq '.features | length' indented.geojson)"
}

@test "layer identity: import writes no layer id into a .umap; the file downloaded again is the same layers" {
	jq '.layers |= map(del(._umap_options.id, .properties.id, .id))' "$UMAP/test_upload_data.umap" >m.umap
	umapsync init >/dev/null
	run umapsync import m.umap
	assert_output --partial "m.umap: 2 layers, 3 features, 3 ids assigned"
	run jq -c '[.layers[] | (._umap_options // .properties).id, .id]' m.umap
	assert_output '[null,null,null,null]'
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	# uMap's next download: the same layers (no ids), the second one edited, order swapped
	jq '.layers |= reverse | .layers[0].features[0].properties.name = "Changed"' m.umap >x && mv x m.umap
	run umapsync status
	assert_line "  modified:   m.umap (0 added, 1 modified, 0 removed)"
	umapsync commit -m edit >/dev/null
	umapsync checkout HEAD~1 2>/dev/null
	run jq -c '[.layers[] | (._umap_options // .properties).id, .id]' m.umap
	assert_output '[null,null,null,null]'
	run umapsync status
	assert_line "nothing to commit, working files clean"
}

@test "layer identity: a .umap tracked with its layer ids, downloaded again without them, is the same layers" {
	cp "$EXAMPLES/cycling-lyon.umap" m.umap
	umapsync init >/dev/null
	umapsync import m.umap >/dev/null
	jq '.layers |= map(del(._umap_options.id, .properties.id, .id)) | .layers[1].features[0].properties.name = "Changed"' \
		m.umap >x && mv x m.umap
	run umapsync status
	# the same layers: one feature modified, none added or removed (the ids left the
	# layers' options, which status notes)
	assert_line "  modified:   m.umap (0 added, 1 modified, 0 removed, layer options changed)"
	# kept outside the repository's directory: status would list it as untracked
	cp m.umap "$BATS_TEST_TMPDIR/downloaded.umap"
	umapsync commit -m edit >/dev/null
	run umapsync status
	assert_line "nothing to commit, working files clean"
	# no layer id is written back, the rest as downloaded
	[ "$(umapsync export HEAD m.umap | jq -c .)" = "$(jq -c . "$BATS_TEST_TMPDIR/downloaded.umap")" ]
}

# A JSON file laid out by hand: indented by $2 spaces, each feature on one line when $3 is
# "lines", coordinate arrays on one line always (as umapsync writes an indented file).
relay() {
	python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
doc, ind, lines = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3] == "lines"
def dump(v, lvl, key=None):
    pad, inner = " " * (ind * lvl), " " * (ind * (lvl + 1))
    if key == "coordinates" or (lines and isinstance(v, dict) and v.get("type") == "Feature"):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    if isinstance(v, dict) and v:
        return "{\n" + ",\n".join(inner + json.dumps(k) + ": " + dump(x, lvl + 1, k) for k, x in v.items()) + "\n" + pad + "}"
    if isinstance(v, list) and v:
        return "[\n" + ",\n".join(inner + dump(x, lvl + 1) for x in v) + "\n" + pad + "]"
    return json.dumps(v, ensure_ascii=False)
print(dump(doc, 0))
PY
}

@test "merge-file: a rebuilt merge (layer options changed) keeps OURS' one-line layout and spellings" {
	printf '%s' '{"type":"umap","uri":"http://x/m/1","properties":{"name":"M","zoom":5},"geometry":{"type":"Point","coordinates":[1.0,2.50]},"layers":[{"type":"FeatureCollection","features":[{"type":"Feature","id":"a","properties":{"name":"A","v":1.0},"geometry":{"type":"Point","coordinates":[1,2]}},{"type":"Feature","id":"b","properties":{"name":"B"},"geometry":{"type":"Point","coordinates":[3,4]}}],"_umap_options":{"name":"L1","color":"red"}}]}' >base.umap
	sed 's/"name":"B"/"name":"B2"/; s/"name":"A"/"name":"A2"/' base.umap >ours.umap
	sed 's/"color":"red"/"color":"blue"/; s/"v":1.0/"v":1.0,"w":2.50/' base.umap >theirs.umap
	run_split umapsync merge-file -p base.umap ours.umap theirs.umap
	assert_success
	# OURS with their two changes: one line, member order, 1.0 and 2.50 as written
	assert_equal "$output" "$(sed 's/"color":"red"/"color":"blue"/; s/"v":1.0/"v":1.0,"w":2.50/' ours.umap)"
	umapsync merge-file base.umap ours.umap theirs.umap
	[ "$(wc -l <ours.umap)" -eq 0 ]
}

@test "merge-file: group layers merge in OURS' layout: indent 4, one feature a line or indented" {
	for style in lines indented; do
		relay "$UMAP/group_layers.umap" 4 "$style" >base.umap
		sed 's/"name": *"Parc"/"name": "Jardin"/' base.umap >ours.umap
		sed 's/"name": *"Gare"/"name": "Gare SNCF"/; s/"name": "Divers",/"name": "Autres",/' base.umap >theirs.umap
		run_split umapsync merge-file -p base.umap ours.umap theirs.umap
		assert_success
		assert_equal "$output" "$(sed 's/"name": *"Gare"/"name": "Gare SNCF"/; s/"name": "Divers",/"name": "Autres",/' ours.umap)"
	done
}

@test "numbers: export and checkout keep the spellings of the features the working file holds unchanged" {
	printf '%s\n' '{"type":"FeatureCollection","features":[' \
		'{"type":"Feature","id":"a","properties":{"r":1.0,"e":1e3,"z":-0.0,"big":12345678901234567890},"geometry":{"type":"Point","coordinates":[4.8320,1.50]}},' \
		'{"type":"Feature","id":"b","properties":{"s":4.8320},"geometry":null}' \
		']}' >n.geojson
	umapsync init >/dev/null
	umapsync import n.geojson >/dev/null
	cp n.geojson "$BATS_TEST_TMPDIR/imported"
	umapsync export HEAD n.geojson >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/imported" "$BATS_TEST_TMPDIR/out"
	sed -i 's/"s":4.8320/"s":5/' n.geojson
	umapsync commit -m edit >/dev/null
	umapsync checkout HEAD~1 2>/dev/null
	# a: as the working file held it; b: changed there, so from the revision (4.8320 is 4.832)
	run cat n.geojson
	assert_output "$(sed 's/"s":4.8320/"s":4.832/' "$BATS_TEST_TMPDIR/imported")"
	run umapsync status
	assert_line "nothing to commit, working files clean"
}

@test "numbers: an indented .umap keeps Python's 1.0 and 20.0 through checkout, map and layer options too" {
	printf '%s' '{"type":"umap","properties":{"name":"M","zoom":5.0},"geometry":{"type":"Point","coordinates":[2.0,48.5]},"layers":[{"type":"FeatureCollection","features":[{"type":"Feature","id":"aaaa1","properties":{"name":"A","h":10.0},"geometry":{"type":"Point","coordinates":[2.0,48.0]}},{"type":"Feature","id":"aaaa2","properties":{"name":"B","h":20.0},"geometry":{"type":"Point","coordinates":[2.5,48.25]}}],"_umap_options":{"name":"L","opacity":1.0}}]}' >src.json
	relay src.json 2 >m.umap
	rm src.json
	grep -F '"zoom": 5.0' m.umap
	umapsync init >/dev/null
	umapsync import m.umap >/dev/null
	cp m.umap "$BATS_TEST_TMPDIR/imported"
	umapsync export HEAD m.umap >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/imported" "$BATS_TEST_TMPDIR/out"
	sed -i 's/"name": "B"/"name": "C"/' m.umap
	umapsync commit -m edit >/dev/null
	umapsync checkout HEAD~1 2>/dev/null
	run cat m.umap
	assert_output "$(sed 's/"h": 20.0/"h": 20/' "$BATS_TEST_TMPDIR/imported")"
}

@test "numbers: group layers with features of their own keep their spellings through checkout; status is clean" {
	# the parent layer's features come before its child's in the text, and the child's
	# before the parent's last member: each layer's features are matched and noted as its own
	printf '%s\n' '{' '  "type": "umap",' '  "properties": {"name": "M"},' '  "layers": [' '    {' \
		'      "type": "FeatureCollection",' '      "features": [' \
		'        {"type": "Feature", "id": "p1", "properties": {"h": 1.0}, "geometry": {"type": "Point", "coordinates": [2.0, 48.0]}},' \
		'        {"type": "Feature", "id": "p2", "properties": {"h": 2.50}, "geometry": null}' '      ],' \
		'      "layers": [' '        {' '          "type": "FeatureCollection",' '          "features": [' \
		'            {"type": "Feature", "id": "c1", "properties": {"h": 1e3}, "geometry": null},' \
		'            {"type": "Feature", "id": "c2", "properties": {"h": 4.8320}, "geometry": null}' '          ],' \
		'          "_umap_options": {"name": "child", "opacity": 1.0}' '        }' '      ],' \
		'      "_umap_options": {"name": "parent", "type": "Group"}' '    },' '    {' \
		'      "type": "FeatureCollection",' '      "features": [' \
		'        {"type": "Feature", "id": "s1", "properties": {"h": -0.0}, "geometry": null}' '      ],' \
		'      "_umap_options": {"name": "sibling"}' '    }' '  ]' '}' >m.umap
	umapsync init >/dev/null
	umapsync import m.umap >/dev/null
	cp m.umap "$BATS_TEST_TMPDIR/imported"
	sed -i 's/"h": 2.50/"h": 3/' m.umap
	umapsync commit -m edit >/dev/null
	umapsync checkout HEAD~1 2>/dev/null
	# p2 changed in the working file: the revision's spelling (2.5); the rest as they were
	run cat m.umap
	assert_output "$(sed 's/"h": 2.50/"h": 2.5/' "$BATS_TEST_TMPDIR/imported")"
	# read again (the stat index cannot vouch): its features are found in the cache that
	# checkout noted, each with its own layer's blob
	touch -d '2001-01-01' m.umap
	run umapsync status
	assert_line "nothing to commit, working files clean"
	run umapsync diff HEAD
	assert_output ""
	# without a working file: the revision's spellings, and status clean again
	rm m.umap
	umapsync checkout main 2>/dev/null
	umapsync checkout HEAD~1 2>/dev/null
	touch -d '2001-01-01' m.umap
	run umapsync status
	assert_line "nothing to commit, working files clean"
}

@test "numbers: merge writes a file only the other branch changed with the working file's spellings" {
	printf '%s' '{"type":"umap","properties":{"name":"M","zoom":5.0},"layers":[{"type":"FeatureCollection","features":[{"type":"Feature","id":"aaaa1","properties":{"name":"A","h":10.0},"geometry":{"type":"Point","coordinates":[2.0,48.0]}},{"type":"Feature","id":"aaaa2","properties":{"name":"B","h":20.0},"geometry":null}],"_umap_options":{"name":"L","opacity":1.0}}]}' >m.umap
	echo '{"type":"FeatureCollection","features":[{"type":"Feature","id":"n1","properties":{"v":1},"geometry":null}]}' >n.geojson
	umapsync init >/dev/null
	umapsync import m.umap n.geojson >/dev/null
	umapsync branch feat
	umapsync switch feat 2>/dev/null
	sed -i 's/"name":"B"/"name":"C"/' m.umap
	umapsync commit -m c >/dev/null
	umapsync switch main 2>/dev/null
	sed -i 's/"v":1/"v":2/' n.geojson
	umapsync commit -m n >/dev/null
	umapsync merge feat >/dev/null
	# their feature C comes from the revision (20.0 is 20); the rest as the file held it
	run cat m.umap
	assert_output '{"type":"umap","properties":{"name":"M","zoom":5.0},"layers":[{"type":"FeatureCollection","features":[{"type":"Feature","id":"aaaa1","properties":{"name":"A","h":10.0},"geometry":{"type":"Point","coordinates":[2.0,48.0]}},{"type":"Feature","id":"aaaa2","properties":{"name":"C","h":20},"geometry":null}],"_umap_options":{"name":"L","opacity":1.0}}]}'
}

@test "layout: the example map (indented, one feature a line, inline objects) exports byte for byte" {
	cp "$EXAMPLES/cycling-lyon.umap" m.umap
	umapsync init >/dev/null
	umapsync import m.umap >/dev/null
	umapsync export HEAD m.umap >"$BATS_TEST_TMPDIR/out"
	cmp "$EXAMPLES/cycling-lyon.umap" "$BATS_TEST_TMPDIR/out"
	# without the working file: the recorded layout, each layer indented, one feature a line
	mv m.umap "$BATS_TEST_TMPDIR/m.umap"
	umapsync export HEAD m.umap >"$BATS_TEST_TMPDIR/out"
	[ "$(grep -c '^        {"type": "Feature", "id": "' "$BATS_TEST_TMPDIR/out")" -eq 14 ]
	[ "$(grep -c '^    {$' "$BATS_TEST_TMPDIR/out")" -eq 2 ]
}

@test "numbers: a feature merge takes from the other branch keeps the working file's spelling of its unchanged numbers" {
	printf '%s' '{"type":"umap","properties":{"name":"M"},"layers":[{"type":"FeatureCollection","features":[{"type":"Feature","id":"aaaa1","properties":{"name":"A","h":10.0},"geometry":{"type":"Point","coordinates":[2.0,48.0]}},{"type":"Feature","id":"aaaa2","properties":{"name":"B","h":20.0},"geometry":null}],"_umap_options":{"name":"L"}}]}' >m.umap
	umapsync init >/dev/null
	umapsync import m.umap >/dev/null
	umapsync branch feat
	umapsync switch feat 2>/dev/null
	sed -i 's/"name":"A"/"name":"A2"/' m.umap
	umapsync commit -m a >/dev/null
	umapsync switch main 2>/dev/null
	# switching wrote A from the revision (it was edited there); spelled as before again
	sed -i 's/"h":10}/"h":10.0}/; s/\[2,48\]/[2.0,48.0]/' m.umap
	sed -i 's/"name":"B"/"name":"B2"/' m.umap
	umapsync commit -m b >/dev/null
	umapsync merge feat >/dev/null
	run cat m.umap
	assert_output '{"type":"umap","properties":{"name":"M"},"layers":[{"type":"FeatureCollection","features":[{"type":"Feature","id":"aaaa1","properties":{"name":"A2","h":10.0},"geometry":{"type":"Point","coordinates":[2.0,48.0]}},{"type":"Feature","id":"aaaa2","properties":{"name":"B2","h":20.0},"geometry":null}],"_umap_options":{"name":"L"}}]}'
}

@test "checkout notes in the feature cache, as it writes them, the features whose bytes are not their blob" {
	# indented: no feature's bytes are its blob, and each is noted with its own blob, so
	# that a status that reads the file again (the stat index cannot vouch) finds them all
	printf '%s\n' '{' '  "type": "FeatureCollection",' '  "features": [' '    {' '      "type": "Feature",' \
		'      "id": "a",' '      "properties": {"n": "say \"hi\"", "h": 1.0},' '      "geometry": null' '    },' \
		'    {' '      "type": "Feature",' '      "id": "b",' '      "properties": {"h": 2},' '      "geometry": null' \
		'    },' '    {' '      "type": "Feature",' '      "id": "c",' '      "properties": {"h": 1e3},' \
		'      "geometry": null' '    }' '  ]' '}' >i.geojson
	# one a line, compact: bytes that are their blob need no entry, even with an escape
	printf '%s\n' '{"type":"FeatureCollection","features":[' \
		'{"type":"Feature","id":"x","properties":{"n":"say \"hi\""},"geometry":null},' \
		'{"type":"Feature","id":"y","properties":{"h":2},"geometry":null}' ']}' >c.geojson
	umapsync init >/dev/null
	umapsync import i.geojson c.geojson >/dev/null
	cp c.geojson "$BATS_TEST_TMPDIR/c"
	sed -i 's/"h": 2}/"h": 3}/' i.geojson
	sed -i 's/"h":2}/"h":3}/' c.geojson
	umapsync commit -m edit >/dev/null
	rm .umapsync/umapsync-cache
	umapsync checkout HEAD~1 2>/dev/null
	cmp c.geojson "$BATS_TEST_TMPDIR/c"
	run grep -c '"h": 1.0\|"h": 1e3\|"h": 2' i.geojson
	assert_output 3
	# a header of 8 bytes, then 36 bytes an entry: i's three features
	run stat -c %s .umapsync/umapsync-cache
	assert_output $((8 + 3 * 36))
	touch -d '2001-01-01' i.geojson c.geojson
	run umapsync status
	assert_line "nothing to commit, working files clean"
	run umapsync diff HEAD
	assert_output ""
}

@test "numbers: export over a working file it cannot read writes the revision's copy as it is" {
	# a layer whose text is past a quarter megabyte is read back from its temporary file,
	# the working file beside it on another core: one that is not JSON, or not a file,
	# lends no spelling, and the copy is written whole
	big_layer n.geojson 3000
	sed -i 's/"capacity":7,/"capacity":7.0,/' n.geojson
	umapsync init >/dev/null
	umapsync import n.geojson >/dev/null
	umapsync export HEAD n.geojson -o "$BATS_TEST_TMPDIR/spelled"
	cmp n.geojson "$BATS_TEST_TMPDIR/spelled"
	mv n.geojson "$BATS_TEST_TMPDIR/kept"
	umapsync export HEAD n.geojson -o "$BATS_TEST_TMPDIR/none"
	# (without it, the revision's spellings: 7, and 4.0001 for 4.00010)
	run grep -c '"capacity":7,\|4\.0001,' "$BATS_TEST_TMPDIR/none"
	assert_output 2
	head -c 100000 "$BATS_TEST_TMPDIR/kept" >n.geojson
	umapsync export HEAD n.geojson -o "$BATS_TEST_TMPDIR/broken"
	cmp "$BATS_TEST_TMPDIR/none" "$BATS_TEST_TMPDIR/broken"
	rm n.geojson
	mkdir n.geojson
	umapsync export HEAD n.geojson -o "$BATS_TEST_TMPDIR/broken"
	cmp "$BATS_TEST_TMPDIR/none" "$BATS_TEST_TMPDIR/broken"
}
