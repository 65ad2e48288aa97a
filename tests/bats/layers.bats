#!/usr/bin/env bats
# Real uMap files in every command (SPEC §2 "Layer", "Map", §4 --umap, §5, §7): group layers
# of uMap 3.7+ (child layers nested in a layer's "layers"), layers without ids, shared legacy
# layer ids, the map's centre and other top-level members, and pre-1.0 "_storage" options.
# Fixtures: tests/fixtures/umap/ (see its README).

bats_require_minimum_version 1.5.0
load helper
load sync_helper

UMAP_FIXTURES=$BATS_TEST_DIRNAME/../fixtures/umap

# Same document: no difference, the same values, nesting, key order and feature order
# (export writes the recorded layout, coordinate arrays on one line).
same_document() {
	"$UMAPSYNC" diff --exit-code "$1" "$2"
	[ "$(jq -c '[paths]' "$1")" = "$(jq -c '[paths]' "$2")" ]
	[ "$(jq -c . "$1")" = "$(jq -c . "$2")" ]
}

# group_layers.umap: "Ville" (a group: "Transports", and "Parcs", itself a group holding
# "Bassins"), then "Divers"; no layer ids, as uMap exports them.
group_map() {
	cp "$UMAP_FIXTURES/group_layers.umap" "${1:-map.umap}"
}

@test "layers: diff reports a change in a child layer under that layer" {
	group_map a.umap
	jq '.layers[0].layers[1].features[0].properties.name = "Jardin"
	    | .layers[0].layers[1].layers[0].features[0].properties.depth = 2' a.umap >b.umap
	run_split umapsync diff --exit-code a.umap b.umap
	assert_failure 1
	assert_output 'modified feature bbbb1 "Jardin" in layer "Parcs"
  ~ name: "Parc" → "Jardin"

modified feature cccc1 "Bassin" in layer "Bassins"
  + depth: 2'
	run_split umapsync diff --format=json a.umap b.umap
	assert_equal "$(jq -c '.summary' <<<"$output")" '{"added":0,"removed":0,"modified":2,"unchanged":3}'
	assert_equal "$(jq -c '[.features[] | [.layer, .id]]' <<<"$output")" '[[2,"bbbb1"],[3,"cccc1"]]'
}

@test "layers: a layer moved out of its group is a parentId and rank change" {
	group_map a.umap
	jq 'del(.layers[0].layers[1]) | .layers += [input.layers[0].layers[1]]' a.umap a.umap >b.umap
	run_split umapsync diff a.umap b.umap
	assert_success
	assert_output 'modified layer "Parcs"
  ~ parentId: 0 → null
  ~ rank: 1 → 2'
	run_split umapsync diff --format=json a.umap b.umap
	assert_equal "$(jq -c '.layers' <<<"$output")" '[{"layer":3,"change":"modified","properties":{},"parentId":{"old":0,"new":null},"rank":{"old":1,"new":2}}]'
	assert_equal "$(jq -c '.summary' <<<"$output")" '{"added":0,"removed":0,"modified":0,"unchanged":5}'
	# uMap finds layers and groups by id: no op names one by null or by position
	run_split umapsync diff --format=ops a.umap b.umap
	assert_failure 128
	assert_equal "$stderr" "fatal: cannot format the diff: the group of layer 4 'Parcs' (layer 1) has no id, and uMap finds a layer's group by id only: give it one (\"id\" in its properties; umapsync import does)"
	for f in a b; do
		jq 'walk(if type == "object" and .type == "FeatureCollection" then .properties.id = "L-" + .properties.name else . end)' $f.umap >$f-ids.umap
	done
	run_split umapsync diff --format=ops a-ids.umap b-ids.umap
	assert_success
	assert_output '{"verb":"update","subject":"datalayer","metadata":{"id":"L-Parcs"},"key":"parentId","value":null,"oldValue":"L-Ville"}
{"verb":"update","subject":"datalayer","metadata":{"id":"L-Parcs"},"key":"rank","value":2,"oldValue":1}'
}

@test "layers: validate checks features of child layers, with their line" {
	group_map a.umap
	jq '.layers[0].layers[1].features[0].geometry.coordinates = [1]' a.umap >bad.umap
	run_split umapsync validate --format=json bad.umap
	assert_failure 1
	assert_output '[
  {"file": "bad.umap", "line": 88, "column": 32, "level": "error", "message": "position must have 2 or more elements"}
]'
	[[ $(sed -n 88p bad.umap) == *'"coordinates": ['* ]]
	# layer ids are unique across the whole map, at every depth
	jq '.layers[0].properties.id = "g1" | .layers[0].layers[1].layers[0].properties.id = "g1"' \
		a.umap >dup.umap
	run_split umapsync validate dup.umap
	assert_failure 1
	assert_output --partial 'error: duplicate layer id "g1": first at line'
}

@test "layers: merge-file merges edits to two child layers per feature, nesting kept" {
	group_map base.umap
	jq '.layers[0].layers[1].features[0].properties.name = "Jardin"' base.umap >ours.umap
	jq '.layers[0].layers[0].features[0].properties.name = "Gare SNCF"' base.umap >theirs.umap
	jq '.layers[0].layers[1].features[0].properties.name = "Jardin"
	    | .layers[0].layers[0].features[0].properties.name = "Gare SNCF"' base.umap >want.umap
	run_split umapsync merge-file -p base.umap ours.umap theirs.umap
	assert_success
	assert_equal "$output" "$(cat want.umap)"
	# a layer moved into another group on one side, a feature edited on the other
	jq 'del(.layers[1]) | .layers[0].layers[0].layers = [input.layers[1]]' base.umap base.umap >ours.umap
	run_split umapsync merge-file -p base.umap ours.umap theirs.umap
	assert_success
	assert_equal "$(jq -c '[.layers[] | [.properties.name, [.layers[]? | [.properties.name, [.layers[]?.properties.name]]]]]' <<<"$output")" \
		'[["Ville",[["Transports",["Divers"]],["Parcs",["Bassins"]]]]]'
	assert_equal "$(jq -r '.layers[0].layers[0].features[0].properties.name' <<<"$output")" 'Gare SNCF'
}

@test "layers: commit records child layers; export gives back the nesting and every order" {
	group_map map.umap
	umapsync init >/dev/null
	umapsync import map.umap >/dev/null
	jq '.layers[0].layers[1].layers[0].features[0].properties.name = "Grand bassin"' map.umap >e
	mv e map.umap
	run_split umapsync status
	assert_output --partial 'modified:   map.umap (0 added, 1 modified, 0 removed)'
	run_split umapsync commit -m "bassin"
	assert_success
	assert_line --index 1 ' 0 added, 1 modified, 0 removed'
	run_split umapsync export HEAD map.umap -o out.umap
	assert_success
	same_document map.umap out.umap
	run_split umapsync diff HEAD~1 HEAD --format=json
	assert_equal "$(jq -c '[.features[] | [.id, .properties.name.new]]' <<<"$output")" '[["cccc1","Grand bassin"]]'
	git --git-dir=.umapsync fsck --no-progress
}

@test "layers: nesting deeper than 16 is refused with a clear error" {
	nested() {
		jq -nc --argjson n "$1" 'def layer(n): {type: "FeatureCollection", features: []} +
		         (if n > 1 then {layers: [layer(n - 1)]} else {} end);
		       {type: "umap", layers: [layer($n)]}'
	}
	nested 16 >ok.umap
	nested 17 >deep.umap
	run_split umapsync diff --exit-code ok.umap ok.umap
	assert_success
	run_split umapsync validate ok.umap
	assert_success
	run_split umapsync diff deep.umap deep.umap
	assert_failure 128
	assert_equal "$stderr" 'fatal: deep.umap:1:857: layers nested more than 16 deep; flatten the group layers'
	run_split umapsync validate deep.umap
	assert_failure 1
	assert_output --partial 'layers nested more than 16 deep'
}

@test "layers: layers without ids match by position, then by name" {
	cp "$UMAP_FIXTURES/display_on_load.umap" a.umap
	# the two layers swapped: each is found by its name, nothing added or removed
	jq '.layers |= [.[1], .[0]]' a.umap >b.umap
	run_split umapsync diff --format=json a.umap b.umap
	assert_success
	assert_equal "$(jq -c '.summary' <<<"$output")" "$(jq -c '{added: 0, removed: 0, modified: 0, unchanged: ([.layers[].features | length] | add)}' a.umap)"
	# renamed in place: the same layer, its name changed
	jq '.layers[0].properties.name = "Renamed"' a.umap >c.umap
	run_split umapsync diff --format=json a.umap c.umap
	assert_equal "$(jq -c '.layers | map(.change)' <<<"$output")" '["modified"]'
	assert_equal "$(jq -r '.layers[0].properties.name.new' <<<"$output")" 'Renamed'
	# a merge of one side's reorder and the other's edit keeps both
	jq '.layers[0].features[0].properties.name = "Edited"' a.umap >theirs.umap
	run_split umapsync merge-file -p a.umap b.umap theirs.umap
	assert_success
	assert_equal "$(jq -c '[.layers[] | [.properties.name, .features[0].properties.name]]' <<<"$output")" \
		'[["Invisible",null],["Visible","Edited"]]'
}

@test "layers: a legacy numeric layer id shared by two layers is a warning; every command works" {
	cp "$UMAP_FIXTURES/legacy_storage.umap" map.umap
	run_split umapsync validate map.umap
	assert_success
	assert_output 'map.umap:43:5: warning: duplicate legacy layer id 12: first at line 15, again at line 43; the layers are matched by position'
	run_split umapsync validate --strict map.umap
	assert_failure 1
	jq '.layers[1].features[0].properties.name = "B2"' map.umap >b.umap
	run_split umapsync diff b.umap map.umap --stat
	assert_success
	run_split umapsync merge-file -p map.umap b.umap map.umap
	assert_success
	assert_equal "$output" "$(cat b.umap)"
	umapsync init >/dev/null
	run_split umapsync import map.umap
	assert_success
	# the shared number stays; the copy's id is kept in the repository, not in the file
	assert_equal "$(jq -c '[.layers[] | [._storage.id, (.id | type)]]' map.umap)" '[[12,"null"],[12,"null"]]'
	run_split umapsync status
	# b.umap lies beside it untracked: status lists it, and nothing is to commit
	assert_output --partial 'nothing to commit'
	refute_output --partial 'Changes not committed'
	jq '.layers[1].features[0].properties.name = "B2"' map.umap >e && mv e map.umap
	run_split umapsync commit -m "B2"
	assert_line --index 1 ' 0 added, 1 modified, 0 removed'
	umapsync export HEAD map.umap -o out.umap
	same_document map.umap out.umap
}

@test "layers: _storage options (uMap before 1.0) are read, diffed and written back there" {
	cp "$UMAP_FIXTURES/legacy_storage.umap" a.umap
	jq '.layers[0]._storage.name = "Couche renommée" | .layers[0].features[0].properties._storage_options.color = "Green"' a.umap >b.umap
	run_split umapsync diff a.umap b.umap
	assert_output 'modified layer "Couche renommée" (12)
  ~ name: "Couche ancienne" → "Couche renommée"

modified feature eeee1 "A" in layer "Couche renommée"
  ~ _storage_options: {"color":"Blue"} → {"color":"Green"}'
	# import never adds "properties" beside "_storage" (uMap would drop the layer's name)
	umapsync init >/dev/null
	umapsync import a.umap >/dev/null
	assert_equal "$(jq -c '[.layers[] | keys]' a.umap)" '[["_storage","features","type"],["_storage","features","type"]]'
	assert_equal "$(jq -c '[.layers[]._storage | [.name, .color]]' a.umap)" '[["Couche ancienne","Red"],["Copie","Navy"]]'
	# a merge of both layers' options keeps "_storage"
	jq '.layers[0]._storage.color = "Blue"' a.umap >ours.umap
	jq '.layers[1]._storage.color = "Black"' a.umap >theirs.umap
	run_split umapsync merge-file -p a.umap ours.umap theirs.umap
	assert_success
	assert_equal "$(jq -c '[.layers[] | [(keys | map(select(startswith("_")))), ._storage.color]]' <<<"$output")" \
		'[[["_storage"],"Blue"],[["_storage"],"Black"]]'
}

@test "layers: the map's centre, uri and other members are map data" {
	group_map a.umap
	jq '.geometry.coordinates = [2.4, 48.9] | .uri = "http://umap.test/fr/map/groupes_8"' a.umap >b.umap
	run_split umapsync diff a.umap b.umap
	assert_success
	assert_output 'modified map options
  ~ uri: "http://umap.test/fr/map/groupes_7" → "http://umap.test/fr/map/groupes_8"
  ~ center: {"type":"Point","coordinates":[2.35,48.85]} → {"type":"Point","coordinates":[2.4,48.9]}'
	run_split umapsync diff --format=ops a.umap b.umap
	assert_line --index 0 '{"verb":"update","subject":"map","metadata":{},"key":"uri","value":"http://umap.test/fr/map/groupes_8","oldValue":"http://umap.test/fr/map/groupes_7"}'
	assert_line --index 1 '{"verb":"update","subject":"map","metadata":{},"key":"properties.center","value":[2.4,48.9],"oldValue":[2.35,48.85]}'
	# in a repository: status and diff see it, and a merge takes it
	cp a.umap map.umap
	umapsync init >/dev/null
	umapsync import map.umap >/dev/null
	jq '.geometry.coordinates = [2.4, 48.9]' map.umap >e
	mv e map.umap
	run_split umapsync diff --format=json
	assert_equal "$(jq -c '.map' <<<"$output")" '{"change":"modified","properties":{"center":{"old":{"type":"Point","coordinates":[2.35,48.85]},"new":{"type":"Point","coordinates":[2.4,48.9]}}}}'
	# _umap_options stays _umap_options
	cp "$UMAP_FIXTURES/test_upload_data_with_enum.umap" enum.umap
	jq '.layers[0]._umap_options.name = "X"' enum.umap >enum2.umap
	run_split umapsync merge-file -p enum.umap enum2.umap enum.umap
	assert_success
	assert_equal "$(jq -c '[.layers[0] | keys[]]' <<<"$output")" '["_umap_options","features","type"]'
}

# The group structure of a map as names: [name, [children...]] at every level.
tree() {
	jq -c 'def t: [.properties.name, [(.layers // [])[] | t]]; [.layers[] | t]' "$1"
}

@test "layers: a map with group layers round-trips through import, commit, diff, merge, push and clone" {
	start_server
	mkdir alice && cd alice
	group_map map.umap
	umapsync init >/dev/null
	umapsync import map.umap >/dev/null
	umapsync remote add origin "$BASE/groups"
	run_split umapsync push
	assert_success
	cd ..
	run_split umapsync clone "$BASE/groups" bob
	assert_success
	assert_equal "$stderr" "Cloned map 'groups' into 'bob': 1 file, 5 layers, 5 features (cursor 14)"
	# every layer in its group, the centre and the address where they were
	umapsync diff --exit-code alice/map.umap bob/map.umap
	assert_equal "$(tree bob/map.umap)" '[["Ville",[["Transports",[]],["Parcs",[["Bassins",[]]]]]],["Divers",[]]]'
	assert_equal "$(jq -c '[.geometry, .uri, (.layers[0] | keys)]' bob/map.umap)" \
		'[{"type":"Point","coordinates":[2.35,48.85]},"http://umap.test/fr/map/groupes_7",["features","layers","properties","type"]]'
	# Bob edits a grandchild layer's feature and moves the map's centre; Alice, at the same
	# time, a child layer's feature; her pull merges both per layer
	cd bob
	jq '.layers[0].layers[1].layers[0].features[0].properties.name = "Grand bassin"
	    | .geometry.coordinates = [2.5, 48.5]' map.umap >e && mv e map.umap
	umapsync commit -m "bob" >/dev/null
	run_split umapsync push
	assert_success
	cd ../alice
	jq '.layers[0].layers[0].features[0].properties.name = "Gare SNCF"' map.umap >e && mv e map.umap
	umapsync commit -m "alice" >/dev/null
	run_split umapsync pull
	assert_success
	assert_equal "$(jq -c '[.layers[0].layers[0].features[0].properties.name, .layers[0].layers[1].layers[0].features[0].properties.name, .geometry.coordinates]' map.umap)" \
		'["Gare SNCF","Grand bassin",[2.5,48.5]]'
	run_split umapsync push
	assert_success
	# Alice moves "Divers" into "Transports": Bob's pull moves it too
	jq 'del(.layers[1]) | .layers[0].layers[0].layers = [input.layers[1]]' map.umap map.umap >e
	mv e map.umap
	run_split umapsync status
	assert_output 'On branch main
Changes not committed:
  modified:   map.umap (0 added, 0 modified, 0 removed, layers moved or reordered)'
	run_split umapsync diff --format=json
	assert_equal "$(jq -c '.layers[] | [.parentId.new != null, .rank]' <<<"$output")" '[true,{"old":1,"new":0}]'
	umapsync commit -m "move" >/dev/null
	umapsync push 2>/dev/null
	cd ../bob
	run_split umapsync pull
	assert_success
	umapsync diff --exit-code ../alice/map.umap map.umap
	assert_equal "$(tree map.umap)" '[["Ville",[["Transports",[["Divers",[]]]],["Parcs",[["Bassins",[]]]]]]]'
	run_split umapsync status
	assert_output --partial 'working files clean'
	# and the repository gives back the same map
	umapsync export HEAD map.umap -o out.umap
	same_document map.umap out.umap
}

@test "layers: _umap_options and _storage come back under the key read, through push, clone and pull" {
	start_server
	mkdir alice && cd alice
	cp "$UMAP_FIXTURES/test_upload_data_with_enum.umap" map.umap
	cp "$UMAP_FIXTURES/legacy_storage.umap" old.umap
	jq '{type: "FeatureCollection", _storage: .layers[0]._storage, features: .layers[0].features}' \
		old.umap >legacy.geojson
	umapsync init >/dev/null
	umapsync import map.umap legacy.geojson >/dev/null
	umapsync remote add origin "$BASE/keys"
	run_split umapsync push
	assert_success
	cd ..
	run_split umapsync clone "$BASE/keys" bob
	assert_success
	assert_equal "$(jq -c '[.layers[] | keys[] | select(startswith("_") or . == "properties")]' bob/map.umap)" \
		'["_umap_options"]'
	assert_equal "$(jq -c 'keys' bob/legacy.geojson)" '["_storage","features","type"]'
	# a layer added later reaches a pull under its key too
	cd alice
	jq '.layers += [{type: "FeatureCollection", _umap_options: {name: "Ajout"}, features: []}]' \
		map.umap >e && mv e map.umap
	umapsync commit -m "a layer" >/dev/null
	run_split umapsync push
	assert_success
	cd ../bob
	run_split umapsync pull
	assert_success
	assert_equal "$(jq -c '[.layers[] | [(keys[] | select(startswith("_") or . == "properties")), (._umap_options // .properties).name]]' map.umap)" \
		"$(jq -c '[.layers[] | ["_umap_options", ._umap_options.name]]' ../alice/map.umap)"
}

@test "layers: a server store made before optionsKey gets the column and keeps its layers" {
	mkdir data
	sqlite3 data/umapsync.db 'CREATE TABLE layers(map TEXT NOT NULL, id TEXT NOT NULL, ord INTEGER NOT NULL, filename TEXT, options TEXT, PRIMARY KEY(map, id)) WITHOUT ROWID;'
	start_server
	stop_server
	run sqlite3 data/umapsync.db 'SELECT name FROM pragma_table_info("layers") WHERE name = "options_key"'
	assert_output options_key
	start_server
	mkdir a && cd a
	cp "$UMAP_FIXTURES/test_upload_data_with_enum.umap" map.umap
	umapsync init >/dev/null
	umapsync import map.umap >/dev/null
	umapsync remote add origin "$BASE/old"
	run_split umapsync push
	assert_success
	cd ..
	run_split umapsync clone "$BASE/old" b
	assert_success
	assert_equal "$(jq -c '[.layers[0] | keys[]]' b/map.umap)" '["_umap_options","features","type"]'
}
