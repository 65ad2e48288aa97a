#!/usr/bin/env bats
# The sync client against a real server: remote, clone, push, pull; two clones through
# disjoint and conflicting edits; a client killed mid-push; a server killed after an ack.

bats_require_minimum_version 1.5.0
load helper
load sync_helper

edit() {
	jq --indent 2 "$2" "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}

prop() { # prop FILE ID KEY
	jq -c --arg id "$2" ".features[] | select(.id == \$id) | .properties.$3" "$1"
}

# alice imports the example layer and pushes it; bob clones it
seed() {
	start_server "$@"
	mkdir alice
	(cd alice && "$UMAPSYNC" init >/dev/null && cp "$EXAMPLES/bike-parking.geojson" . &&
		"$UMAPSYNC" import bike-parking.geojson >/dev/null &&
		"$UMAPSYNC" remote add origin "$BASE/lyon" && "$UMAPSYNC" push 2>/dev/null)
	"$UMAPSYNC" clone "$BASE/lyon" bob 2>/dev/null >/dev/null
}

@test "sync: remote add, list and remove" {
	"$UMAPSYNC" init >/dev/null
	run "$UMAPSYNC" remote add origin http://127.0.0.1:1/lyon
	[ "$status" = 0 ]
	run "$UMAPSYNC" remote
	[ "$output" = origin ]
	run "$UMAPSYNC" remote -v
	[ "$output" = $'origin\thttp://127.0.0.1:1/lyon' ]
	run "$UMAPSYNC" remote add origin http://127.0.0.1:1/other
	[ "$status" = 128 ]
	[[ $output == *"remote 'origin' already exists"* ]]
	run "$UMAPSYNC" remote add bad ftp://x/y
	[ "$status" = 128 ]
	[[ $output == *'expected http://HOST:PORT/MAP'* ]]
	run "$UMAPSYNC" remote add bad http://h:1/a.b
	[ "$status" = 128 ]
	run "$UMAPSYNC" remote remove origin
	[ "$status" = 0 ]
	run "$UMAPSYNC" remote
	[ "$output" = "" ]
	run "$UMAPSYNC" push
	[ "$status" = 128 ]
	[[ $output == *"no remote named 'origin'"* ]]
	# git's own remotes are not touched
	! git --git-dir=.umapsync config --get-regexp '^remote\.'
}

@test "sync: clone recreates the working files as pushed" {
	seed
	[ -f bob/bike-parking.geojson ]
	run "$UMAPSYNC" diff alice/bike-parking.geojson bob/bike-parking.geojson --exit-code
	[ "$status" = 0 ]
	# same features in the same order, same layer id
	[ "$(jq -c '[.features[].id]' alice/bike-parking.geojson)" = "$(jq -c '[.features[].id]' bob/bike-parking.geojson)" ]
	[ "$(jq -r .properties.id bob/bike-parking.geojson)" = "$(jq -r .properties.id alice/bike-parking.geojson)" ]
	# the files as cloned are in the stat index: the first status or pull does not read them
	grep -q ' bike-parking.geojson$' bob/.umapsync/umapsync-index
	cd bob
	run "$UMAPSYNC" status
	[[ $output == *'working files clean'* ]]
	run "$UMAPSYNC" remote -v
	[ "$output" = $'origin\t'"$BASE/lyon" ]
	run_split "$UMAPSYNC" push
	[ "$stderr" = "Everything up-to-date" ]
	run_split "$UMAPSYNC" pull
	[ "$stderr" = "Already up to date." ]
}

@test "sync: a layer of 2100 features and a map of two layers go through push, clone and pull whole and in order" {
	# past the server's pages of rows (512) and the client's pulls (1000 ops), and the
	# clone's writer laying features out one by one from the snapshot it saved
	start_server
	mkdir alice && cd alice
	"$UMAPSYNC" init >/dev/null
	awk 'BEGIN { printf "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"big\",\"name\":\"Big \\u00e9\"},\"features\":["
		for (i = 0; i < 2100; i++)
			printf "%s{\"type\":\"Feature\",\"id\":\"f%d\",\"properties\":{\"name\":\"p\\\"%d\",\"n\":%d},\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[4.%d,45.5],[4.25,-%d.75]]}}", i ? "," : "", i, i, i, i + 1, i
		printf "]}\n" }' >big.geojson
	cat >town.umap <<'EOF'
{"type":"umap","properties":{"name":"Town","zoom":12},"geometry":{"type":"Point","coordinates":[4.8,45.7]},
 "layers":[{"type":"FeatureCollection","properties":{"id":"L1","name":"one"},"features":[{"type":"Feature","id":"a","properties":{"x":[1,{"y":null}]},"geometry":{"type":"Point","coordinates":[1,2]}}]},
           {"type":"FeatureCollection","properties":{"id":"L2","name":"two"},"features":[]}]}
EOF
	"$UMAPSYNC" import big.geojson town.umap >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/big"
	run_split "$UMAPSYNC" push
	[ "$status" = 0 ]
	[[ $stderr == *'2107 ops acknowledged'* ]]
	cd ..
	run_split "$UMAPSYNC" clone "$BASE/big" bob
	[ "$status" = 0 ]
	[ "$stderr" = "Cloned map 'big' into 'bob': 2 files, 3 layers, 2101 features (cursor 2107)" ]
	[ "$output" = $'big.geojson\ntown.umap' ]
	[ ! -e bob/.umapsync/clone-snapshot.json ]
	[ "$(jq -c . alice/big.geojson)" = "$(jq -c . bob/big.geojson)" ]
	[ "$(jq -c '.layers, .properties.name, .geometry' alice/town.umap)" = "$(jq -c '.layers, .properties.name, .geometry' bob/town.umap)" ]
	# uMap's layout: indented by 2, coordinates on one line
	grep -qx '        "coordinates": \[\[4.1,45.5\],\[4.25,-0.75\]\]' bob/big.geojson
	(cd bob && "$UMAPSYNC" status) | grep -q 'working files clean'
	# a pull of edits spread over the layer: every one lands, the order is kept
	cd alice
	jq -c '(.features[] | select((.id | ltrimstr("f") | tonumber? // 0) % 100 == 7) | .properties.n) |= -. |
		.features |= map(select(.id != "f2099")) | .features += [{"type":"Feature","id":"g","properties":{},"geometry":null}]' \
		big.geojson >big.tmp && mv big.tmp big.geojson
	"$UMAPSYNC" commit -m "spread edits" >/dev/null
	"$UMAPSYNC" push 2>/dev/null
	cd ../bob
	run_split "$UMAPSYNC" pull
	[ "$status" = 0 ]
	[[ $stderr == *'23 ops from others'* ]]
	[ "$(jq -c . ../alice/big.geojson)" = "$(jq -c . big.geojson)" ]
	"$UMAPSYNC" status | grep -q 'working files clean'
	run_split "$UMAPSYNC" diff HEAD~1 HEAD --stat
	[ "$output" = $' Big é | 1 added, 1 removed, 21 modified\n 1 added, 1 removed, 21 modified, 2079 unchanged' ]
	"$UMAPSYNC" clone "$BASE/big" ../carol 2>/dev/null >/dev/null
	cmp big.geojson ../carol/big.geojson
}

# edit_features FILE JQ: rewrites the features of FILE (a FeatureCollection, or a stream of
# records when FILE ends in .geojsonl) through JQ, which maps the array of features
edit_features() {
	if [[ $1 == *.geojsonl ]]; then
		jq -c -s "$2 | .[]" "$1" >"$1.tmp"
	else
		jq -c ".features |= ($2)" "$1" >"$1.tmp"
	fi
	mv "$1.tmp" "$1"
}

# features_of FILE: its features, one a line (compact)
features_of() {
	if [[ $1 == *.geojsonl ]]; then jq -c . "$1"; else jq -c '.features[]' "$1"; fi
}

# pull_commits_the_edit FILE: alice pushes edits of FILE (2100 features), bob pulls them:
# the commit is exactly the edit (the same tree as a commit of the file, status clean with
# and without the stat index), and bob's next commit pushes
pull_commits_the_edit() {
	local file=$1
	start_server
	mkdir alice && cd alice
	"$UMAPSYNC" init >/dev/null
	awk -v seq="$([[ $file == *.geojsonl ]] && echo 1)" 'BEGIN {
		if (!seq) printf "{\"type\":\"FeatureCollection\",\"features\":[\n"
		for (i = 0; i < 2100; i++)
			printf "%s{\"type\":\"Feature\",\"id\":\"f%d\",\"properties\":{\"n\":%d},\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.%d,45.5]}}\n", i && !seq ? "," : "", i, i, i + 1
		if (!seq) printf "]}\n" }' >"$file"
	"$UMAPSYNC" import "$file" >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/m"
	"$UMAPSYNC" push 2>/dev/null
	"$UMAPSYNC" clone "$BASE/m" ../bob 2>/dev/null >/dev/null
	# updates of every 100th feature from the 8th, f3 removed, "new" added; then f1 moved
	# to the end (as ops: removed, then added again)
	edit_features "$file" '(.[] | select((.id | ltrimstr("f") | tonumber? // 0) % 100 == 7) | .properties.n) |= -. |
		map(select(.id != "f3" and .id != "f1")) + [{"type":"Feature","id":"new","properties":{"n":0},"geometry":null}]'
	"$UMAPSYNC" commit -m "spread edits" >/dev/null
	"$UMAPSYNC" push 2>/dev/null
	edit_features "$file" '. + [{"type":"Feature","id":"f1","properties":{"n":-1},"geometry":null}]'
	"$UMAPSYNC" commit -m "f1 at the end" >/dev/null
	"$UMAPSYNC" push 2>/dev/null
	cd ../bob
	run_split "$UMAPSYNC" pull
	assert_success
	[ "$(features_of ../alice/"$file")" = "$(features_of "$file")" ]
	run "$UMAPSYNC" status
	assert_output $'On branch main\nnothing to commit, working files clean'
	# without the stat index the file is read and its tree built: the pulled commit's
	rm .umapsync/umapsync-index
	run "$UMAPSYNC" status
	assert_output $'On branch main\nnothing to commit, working files clean'
	run "$UMAPSYNC" diff HEAD~1 HEAD --stat
	assert_output --partial ' 1 added, 1 removed, 22 modified, 2077 unchanged'
	[ "$(features_of "$file" | jq -c -s 'map(.id) | .[0:3], .[-2:]')" = $'["f0","f2","f4"]\n["new","f1"]' ]
	# bob's own edit on top: committed from the file (its feature set is the pulled one) and pushed
	edit_features "$file" '(.[] | select(.id == "f2000") | .properties.n) |= -.'
	run "$UMAPSYNC" commit -m "bob's edit"
	assert_success
	run "$UMAPSYNC" diff HEAD~1 HEAD --stat
	assert_output --partial ' 0 added, 0 removed, 1 modified, 2099 unchanged'
	run_split "$UMAPSYNC" push
	assert_success
	cd ../alice
	run_split "$UMAPSYNC" pull
	assert_success
	[ "$(features_of ../bob/"$file")" = "$(features_of "$file")" ]
	run "$UMAPSYNC" status
	assert_output $'On branch main\nnothing to commit, working files clean'
}

@test "sync: a pull that adds, updates, removes and moves features commits exactly the edit" {
	pull_commits_the_edit big.geojson
}

@test "sync: a pull into a stream layer file commits exactly the edit" {
	pull_commits_the_edit big.geojsonl
}

@test "sync: a stream layer file stays a stream through push, clone and pull" {
	start_server
	mkdir alice && cd alice
	"$UMAPSYNC" init >/dev/null
	printf '{"type":"Feature","id":"a","properties":{"name":"A"},"geometry":{"type":"Point","coordinates":[1,2]}}\n{"type":"Feature","id":"b","properties":{"name":"B"},"geometry":null}\n' >trees.geojsonl
	printf '\036{"type":"Feature","id":"c","properties":{"n":1},"geometry":null}\n' >rs.geojsons
	"$UMAPSYNC" import trees.geojsonl rs.geojsons >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/streams"
	"$UMAPSYNC" push 2>/dev/null
	cd ..
	"$UMAPSYNC" clone "$BASE/streams" bob 2>/dev/null >/dev/null
	cmp alice/trees.geojsonl bob/trees.geojsonl
	cmp alice/rs.geojsons bob/rs.geojsons
	cd alice
	sed -i 's/"A"/"A2"/' trees.geojsonl
	printf '{"type":"Feature","id":"d","properties":{},"geometry":null}\n' >>trees.geojsonl
	"$UMAPSYNC" commit -m "A2, d" >/dev/null
	"$UMAPSYNC" push 2>/dev/null
	cd ../bob
	run_split "$UMAPSYNC" pull
	[ "$status" = 0 ]
	cmp ../alice/trees.geojsonl trees.geojsonl
	"$UMAPSYNC" status | grep -q 'working files clean'
}

@test "sync: a pull into a layer file without a layer id takes every edit and writes no id in" {
	start_server
	mkdir alice && cd alice
	"$UMAPSYNC" init >/dev/null
	# as most public GeoJSON is: no layer options at all
	printf '{"type":"FeatureCollection","features":[{"type":"Feature","id":"a","properties":{"name":"A"},"geometry":null},{"type":"Feature","id":"b","properties":{"name":"B"},"geometry":null}]}\n' >t.geojson
	"$UMAPSYNC" import t.geojson >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/plain"
	"$UMAPSYNC" push 2>/dev/null
	cd ..
	"$UMAPSYNC" clone "$BASE/plain" bob 2>/dev/null >/dev/null
	cd bob
	jq -c '.features[0].properties.name = "A2" | .features += [{"type":"Feature","id":"c","properties":{},"geometry":null}]' \
		t.geojson >t.tmp && mv t.tmp t.geojson
	"$UMAPSYNC" commit -m "A2, c" >/dev/null
	"$UMAPSYNC" push 2>/dev/null
	cd ../alice
	run_split "$UMAPSYNC" pull
	[ "$status" = 0 ]
	[[ $stderr == *'2 ops from others'* ]]
	[ "$(jq -c '[.features[] | [.id, .properties.name]]' t.geojson)" = '[["a","A2"],["b","B"],["c",null]]' ]
	[ "$(jq -c 'has("properties")' t.geojson)" = false ]
	"$UMAPSYNC" status | grep -q 'working files clean'
	run_split "$UMAPSYNC" diff HEAD~1 HEAD --stat
	[[ $output =~ ^' '[0-9a-f-]{36}' | 1 added, 0 removed, 1 modified'$'\n'' 1 added, 0 removed, 1 modified, 1 unchanged'$ ]]
}

@test "sync: public GeoJSON without ids: import, push, clone, an edit on one side, pull on the other" {
	start_server
	mkdir alice && cd alice
	"$UMAPSYNC" init >/dev/null
	cp "$FIXTURES/idless/regions.geojson" r.geojson
	"$UMAPSYNC" import r.geojson >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/regions"
	"$UMAPSYNC" push 2>/dev/null
	cd ..
	"$UMAPSYNC" clone "$BASE/regions" bob 2>/dev/null >/dev/null
	cd bob
	# the fifth region's id, as import wrote it, and an edit the way a script makes it
	id=$(jq -r '.features[4].id' r.geojson)
	jq '.features[4].properties.nom = "Région éditée"' r.geojson >r.tmp && mv r.tmp r.geojson
	"$UMAPSYNC" commit -m "rename a region" >/dev/null
	"$UMAPSYNC" push 2>/dev/null
	cd ../alice
	run_split "$UMAPSYNC" pull
	[ "$status" = 0 ]
	[[ $stderr == *'1 op from others'* ]]
	[ "$(jq -r --arg id "$id" '.features[] | select(.id == $id) | .properties.nom' r.geojson)" = 'Région éditée' ]
	[ "$(jq '.features | length' r.geojson)" = 13 ]
	[ "$("$UMAPSYNC" export HEAD r.geojson | jq -r --arg id "$id" '.features[] | select(.id == $id) | .properties.nom')" = 'Région éditée' ]
	"$UMAPSYNC" status | grep -q 'working files clean'
	# every other region as it was, and the layer's options too (the clone wrote its layer id in)
	[ "$(jq -c 'del(.features[4]) | .features' r.geojson)" = "$(jq -c 'del(.features[4]) | .features' ../bob/r.geojson)" ]
	[ "$(jq -c '.properties' r.geojson)" = "$(jq -c '.properties | del(.id)' ../bob/r.geojson)" ]
}

@test "sync: two clones with disjoint edits converge" {
	seed
	(cd alice && edit bike-parking.geojson '(.features[] | select(.id=="zP5kR") | .properties.name) = "Place Bellecour"' &&
		"$UMAPSYNC" commit -m "rename" >/dev/null && "$UMAPSYNC" push 2>/dev/null)
	cd bob
	edit bike-parking.geojson '(.features[] | select(.id=="Ld6mQ") | .properties.capacity) = 150'
	"$UMAPSYNC" commit -m capacity >/dev/null
	run_split "$UMAPSYNC" push
	[ "$status" = 0 ]
	[[ $stderr == *'1 op acknowledged'* ]]
	run_split "$UMAPSYNC" pull
	[ "$status" = 0 ]
	[[ $stderr == *'1 op from others'* ]]
	[[ $stderr == *'Fast-forward'* ]]
	cd ../alice
	run "$UMAPSYNC" pull
	[ "$status" = 0 ]
	cd ..
	[ "$(prop alice/bike-parking.geojson Ld6mQ capacity)" = 150 ]
	[ "$(prop bob/bike-parking.geojson zP5kR name)" = '"Place Bellecour"' ]
	run "$UMAPSYNC" diff alice/bike-parking.geojson bob/bike-parking.geojson --exit-code
	[ "$status" = 0 ]
}

@test "sync: a conflicting push is refused with a hint, then rebased, resolved and pushed" {
	seed
	(cd alice && edit bike-parking.geojson '(.features[] | select(.id=="zP5kR") | .properties.capacity) = 45' &&
		"$UMAPSYNC" commit -m "alice 45" >/dev/null && "$UMAPSYNC" push 2>/dev/null)
	cd bob
	edit bike-parking.geojson '(.features[] | select(.id=="zP5kR") | .properties.capacity) = 50'
	"$UMAPSYNC" commit -m "bob 50" >/dev/null
	run_split "$UMAPSYNC" push
	[ "$status" = 1 ]
	[[ $stderr == *'error: the server refused the push: 1 change conflicts with changes pushed by others:'* ]]
	[[ $stderr == *'feature "zP5kR" properties.capacity'* ]]
	[[ $stderr == *"hint: nothing was applied; run 'umapsync pull origin'"* ]]
	run_split "$UMAPSYNC" pull
	[ "$status" = 1 ]
	[[ $stderr == *'CONFLICT (modify/modify)'*'properties.capacity is 50 in ours, 45 in theirs'* ]]
	run "$UMAPSYNC" push
	[ "$status" = 128 ]
	[[ $output == *'a rebase is stopped on conflicts'* ]] || { echo "$output"; false; }
	"$UMAPSYNC" resolve zP5kR capacity --with=ours >/dev/null 2>&1
	"$UMAPSYNC" rebase --continue >/dev/null 2>&1
	run "$UMAPSYNC" push
	[ "$status" = 0 ]
	cd ../alice
	"$UMAPSYNC" pull 2>/dev/null
	[ "$(prop bike-parking.geojson zP5kR capacity)" = 50 ]
	run "$UMAPSYNC" diff bike-parking.geojson ../bob/bike-parking.geojson --exit-code
	[ "$status" = 0 ]
}

# lww_race BOB_EDIT ALICE_EDIT: bob commits his edit (jq) long ago, alice commits hers now
# and pushes, then bob pulls with --strategy=lww (in bob/, result in $status and $stderr)
lww_race() {
	seed
	cd bob
	edit bike-parking.geojson "$1"
	GIT_COMMITTER_DATE="@1000000000 +0000" GIT_AUTHOR_DATE="@1000000000 +0000" "$UMAPSYNC" commit -m "old local edit" >/dev/null
	cd ../alice
	edit bike-parking.geojson "$2"
	"$UMAPSYNC" commit -m "alice" >/dev/null
	"$UMAPSYNC" push 2>/dev/null
	cd ../bob
	run_split "$UMAPSYNC" pull --strategy=lww
}

@test "sync: pull --strategy=lww keeps the later change per key" {
	lww_race '(.features[] | select(.id=="zP5kR") | .properties.capacity) = 60 | (.features[] | select(.id=="Tn2vB") | .properties.name) = "mine"' \
		'(.features[] | select(.id=="zP5kR") | .properties.capacity) = 70'
	[ "$status" = 0 ]
	[[ $stderr == *'kept 1 local change, 1 overridden'* ]]
	[ "$(prop bike-parking.geojson zP5kR capacity)" = 70 ]
	[ "$(prop bike-parking.geojson Tn2vB name)" = '"mine"' ]
	"$UMAPSYNC" push 2>/dev/null
	cd ../alice
	"$UMAPSYNC" pull 2>/dev/null
	[ "$(prop bike-parking.geojson Tn2vB name)" = '"mine"' ]
}

@test "sync: pull --strategy=lww weighs a whole feature against its keys" {
	# older local edits: a key of a feature alice deletes, and a feature alice edits
	lww_race '(.features[] | select(.id=="zP5kR") | .properties.capacity) = 60 | del(.features[] | select(.id=="Tn2vB"))' \
		'del(.features[] | select(.id=="zP5kR")) | (.features[] | select(.id=="Tn2vB") | .properties.name) = "theirs"'
	[ "$status" = 0 ]
	[[ $stderr == *'kept 0 local changes, 2 overridden'* ]]
	[ "$(prop bike-parking.geojson zP5kR capacity)" = "" ]
	[ "$(prop bike-parking.geojson Tn2vB name)" = '"theirs"' ]
}

@test "sync: a client killed mid-push loses nothing and its retry applies once" {
	seed
	cd alice
	edit bike-parking.geojson '(.features[] | select(.id=="zP5kR") | .properties.capacity) = 99'
	"$UMAPSYNC" commit -m "99" >/dev/null
	kill -STOP "$SERVER_PID"
	run timeout 2 "$UMAPSYNC" push
	kill -CONT "$SERVER_PID"
	[ "$status" = 124 ]
	[ -f .umapsync/sync/origin.outbox.json ]
	run_split "$UMAPSYNC" push
	[ "$status" = 0 ]
	[[ $stderr == *'resending 1 op kept from an unfinished push'* ]]
	[ ! -f .umapsync/sync/origin.outbox.json ]
	run_split "$UMAPSYNC" push
	[ "$stderr" = "Everything up-to-date" ]
	op_id=$(jq -r '.ops[0].op_id' <<<"$(curl -s "$BASE/v1/maps/lyon/pull?since=9")")
	[ "$(curl -s "$BASE/v1/maps/lyon/pull?since=0" | jq --arg id "$op_id" '[.ops[] | select(.op_id == $id)] | length')" = 1 ]
	cd ../bob
	"$UMAPSYNC" pull 2>/dev/null
	[ "$(prop bike-parking.geojson zP5kR capacity)" = 99 ]
}

@test "sync: a push stopped after its first batch resends only the ops not acknowledged" {
	# a token for layer A only: the first batch (5000 ops of A) is taken, the second,
	# which reaches layer B, is refused; the full token then sends just the rest
	start_server
	run_split "$UMAPSYNC" token create $(store_opt) --map big --write --layer A
	local scoped=$output
	run_split "$UMAPSYNC" token create $(store_opt) --map big --write
	local full=$output
	mkdir alice && cd alice
	"$UMAPSYNC" init >/dev/null
	awk 'BEGIN { printf "{\"type\":\"FeatureCollection\",\"properties\":{\"id\":\"A\"},\"features\":["
		for (i = 0; i < 5001; i++)
			printf "%s{\"type\":\"Feature\",\"id\":\"a%d\",\"properties\":{},\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.8,45.7]}}", i ? "," : "", i
		printf "]}\n" }' >a.geojson
	echo '{"type":"FeatureCollection","properties":{"id":"B"},"features":[{"type":"Feature","id":"b0","properties":{},"geometry":null}]}' >b.geojson
	"$UMAPSYNC" import a.geojson b.geojson >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/big"
	UMAPSYNC_TOKEN=$scoped run_split "$UMAPSYNC" push
	[ "$status" = 128 ]
	[[ $stderr == *"this token cannot write layer 'B'"* ]]
	[ "$(jq -c . .umapsync/sync/origin.outbox-sent.json)" = '{"sent":5000,"expected":5000}' ]
	UMAPSYNC_TOKEN=$full run_split "$UMAPSYNC" push
	[ "$status" = 0 ]
	[[ $stderr == 'resending 4 ops kept from an unfinished push'* ]]
	[[ $stderr == *'4 ops acknowledged (server cursor 5004)'* ]]
	[ ! -f .umapsync/sync/origin.outbox.json ] && [ ! -f .umapsync/sync/origin.outbox-sent.json ]
	# the cursor moves with the server's state, which the next pull takes
	[ "$(jq .cursor .umapsync/sync/origin.json)" = 0 ]
	UMAPSYNC_TOKEN=$full run_split "$UMAPSYNC" pull
	[ "$stderr" = "Already up to date." ]
	[ "$(jq .cursor .umapsync/sync/origin.json)" = 5004 ]
	run curl -s -H "Authorization: Bearer $full" "$BASE/v1/maps/big/pull?since=0&limit=10000"
	[ "$(jq '[.ops[].op_id] | unique | length' <<<"$output")" = 5004 ]
	run_split "$UMAPSYNC" push
	[ "$stderr" = "Everything up-to-date" ]
}

@test "sync: after kill -9 of the server right after an ack, a fresh clone has everything" {
	seed
	cd alice
	edit bike-parking.geojson '(.features[] | select(.id=="zP5kR") | .properties.capacity) = 77'
	"$UMAPSYNC" commit -m "77" >/dev/null
	run_split "$UMAPSYNC" push
	[[ $stderr == *'1 op acknowledged'* ]]
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	start_server
	cd ..
	"$UMAPSYNC" clone "$BASE/lyon" carol 2>/dev/null >/dev/null
	[ "$(prop carol/bike-parking.geojson zP5kR capacity)" = 77 ]
	run "$UMAPSYNC" diff alice/bike-parking.geojson carol/bike-parking.geojson --exit-code
	[ "$status" = 0 ]
}

@test "sync: tokens come from UMAPSYNC_TOKEN or --token-file; none gives a hint" {
	start_server
	token=$("$UMAPSYNC" token create $(store_opt) --map lyon --write 2>/dev/null)
	echo "$token" >token.txt
	run "$UMAPSYNC" clone "$BASE/lyon" nope
	[ "$status" = 128 ]
	[[ $output == *'(HTTP 401)'* ]]
	[[ $output == *'hint: set UMAPSYNC_TOKEN'* ]]
	run "$UMAPSYNC" clone "$BASE/lyon" alice --token-file token.txt
	[ "$status" = 0 ]
	[[ $output == *'the map does not exist yet; the first push creates it'* ]]
	cd alice
	cp "$EXAMPLES/bike-parking.geojson" .
	"$UMAPSYNC" import bike-parking.geojson >/dev/null
	run "$UMAPSYNC" push
	[ "$status" = 0 ]
	cd ..
	UMAPSYNC_TOKEN=$token run "$UMAPSYNC" clone "$BASE/lyon" bob
	[ "$status" = 0 ]
	[ -f bob/bike-parking.geojson ]
}

@test "sync: a cursor older than the server keeps falls back to a snapshot" {
	seed --retain 2
	(cd alice && for c in 11 12 13; do
		edit bike-parking.geojson "(.features[] | select(.id==\"zP5kR\") | .properties.capacity) = $c" &&
			"$UMAPSYNC" commit -m "$c" >/dev/null && "$UMAPSYNC" push 2>/dev/null; done)
	cd bob
	run_split "$UMAPSYNC" pull
	[ "$status" = 0 ]
	[[ $stderr == *'taking a snapshot'* ]]
	[ "$(prop bike-parking.geojson zP5kR capacity)" = 13 ]
}

@test "sync: push shows progress on a terminal and nothing otherwise" {
	command -v script >/dev/null || skip "needs script(1)"
	start_server
	"$UMAPSYNC" init >/dev/null
	cp "$EXAMPLES/bike-parking.geojson" .
	"$UMAPSYNC" import bike-parking.geojson >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/lyon"
	run script -qec "$(printf '%q ' "$UMAPSYNC" push)" /dev/null </dev/null
	assert_success
	[[ $output == *$'Pushing ops: 100% (9/9), done.\r\n'* ]]
	jq '.features[0].properties.capacity = 41' bike-parking.geojson >x && mv x bike-parking.geojson
	"$UMAPSYNC" commit -m edit >/dev/null
	run_split "$UMAPSYNC" push
	assert_success
	[[ $stderr != *Pushing* ]]
}

@test "sync: clone and pull show progress on a terminal and nothing otherwise" {
	command -v script >/dev/null || skip "needs script(1)"
	seed
	run script -qec "$(printf '%q ' "$UMAPSYNC" clone "$BASE/lyon" carol)" /dev/null </dev/null
	assert_success
	[[ $output == *$'\rReceiving snapshot (bytes): 100% ('*$'), done.\r\nCloned map'* ]]
	cd alice
	edit bike-parking.geojson '(.features[] | select(.id=="zP5kR") | .properties.capacity) = 41'
	"$UMAPSYNC" commit -m 41 >/dev/null
	"$UMAPSYNC" push 2>/dev/null
	cd ../carol
	run script -qec "$(printf '%q ' "$UMAPSYNC" pull)" /dev/null </dev/null
	assert_success
	[[ $output == *$'\rReceiving ops: 1, done.\r\n'*$'\rApplying ops: 100% (1/1), done.\r\nFrom '* ]]
	cd ../bob
	run_split "$UMAPSYNC" pull
	assert_success
	[[ $stderr != *Receiving* && $stderr != *Applying* ]]
	cd ..
	run_split "$UMAPSYNC" clone "$BASE/lyon" dave
	assert_success
	[[ $stderr != *Receiving* ]]
}

@test "sync: pull adds and removes the files of layers made and deleted on the server" {
	start_server
	mkdir alice && cd alice
	"$UMAPSYNC" init >/dev/null
	echo '{"type":"FeatureCollection","properties":{"id":"A"},"features":[{"type":"Feature","id":"a1","properties":{},"geometry":null}]}' >a.geojson
	echo '{"type":"FeatureCollection","properties":{"id":"B"},"features":[{"type":"Feature","id":"b1","properties":{},"geometry":null}]}' >b.geojson
	"$UMAPSYNC" import a.geojson b.geojson >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/m"
	"$UMAPSYNC" push 2>/dev/null
	cd ..
	"$UMAPSYNC" clone "$BASE/m" bob >/dev/null 2>&1
	push m x 4 "[{\"op_id\":\"x-1\",\"hlc\":\"$(hlc x)\",\"verb\":\"delete\",\"subject\":\"datalayer\",\"metadata\":{\"id\":\"B\"}},$(op_layer x-2 C c.geojson Cee x),$(op_feature x-3 C c1 one x)]"
	[ "$code" = 200 ]
	cd bob
	run_split "$UMAPSYNC" pull
	assert_success
	[[ $stderr == *'3 ops from others (cursor 7)'* ]]
	[ "$(ls)" = $'a.geojson\nc.geojson' ]
	[ "$(jq -c '[.features[].id]' c.geojson)" = '["c1"]' ]
	run_split "$UMAPSYNC" status
	[ "$output" = $'On branch main\nnothing to commit, working files clean' ]
}
