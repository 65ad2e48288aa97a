#!/usr/bin/env bats
# A live uMap map as a remote (SPEC §9): clone, pull and push against tests/tools/umap_stub.py,
# which answers as uMap's views do (CSRF, session cookies, versions, 412, uMap's merge_features).

bats_require_minimum_version 1.5.0
load helper

STUB_PID=
MAP=$FIXTURES/umap-remote/map.json
BIKE=0b6e2a4c-2222-4a4a-8a8a-000000000002
PARKS=0b6e2a4c-3333-4a4a-8a8a-000000000003

# start_stub [umap_stub.py options...]: $BASE is the instance, $URL the map's page.
start_stub() {
	rm -f "$TEST_DIR/stub.port"
	/usr/bin/python3 "$BATS_TEST_DIRNAME/../tools/umap_stub.py" --map "$MAP" \
		--port-file "$TEST_DIR/stub.port" --lifetime 120 "$@" 2>>"$TEST_DIR/stub.log" &
	STUB_PID=$!
	wait_for_port "$TEST_DIR/stub.port" "$STUB_PID" "$TEST_DIR/stub.log" || return 1
	BASE="http://127.0.0.1:$(cat "$TEST_DIR/stub.port")"
	URL="$BASE/fr/map/velo-lyon_42"
	# alice's session, as a browser extension exports it (HttpOnly line included)
	printf '# Netscape HTTP Cookie File\n#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tsessionid\ts3ss10n-alice\n' \
		>"$TEST_DIR/cookies.txt"
}

teardown() {
	if [ -n "$STUB_PID" ] && kill -0 "$STUB_PID" 2>/dev/null; then
		kill -TERM "$STUB_PID" 2>/dev/null
		wait "$STUB_PID" 2>/dev/null || true
	fi
	cd / || true
	[ -n "${TEST_DIR:-}" ] && rm -rf "$TEST_DIR"
}

# stub_state JQ: the stub's state through a jq filter (compact).
stub_state() {
	curl -sS --max-time 10 "$BASE/__stub/state" | jq -c "$1"
}

# someone_saves UUID JQ: someone else saves the layer as the jq filter changes it.
someone_saves() {
	curl -sS --max-time 10 "$BASE/__stub/state" | jq -c ".layers[\"$1\"].geojson | $2" >"$TEST_DIR/other.json"
	curl -sS --max-time 10 -X POST --data-binary @"$TEST_DIR/other.json" "$BASE/__stub/edit/$1" >/dev/null
}

stub() {
	curl -sS --max-time 10 -X POST "$BASE/__stub/$1" >/dev/null
}

clone_map() {
	umapsync clone "$URL" work --cookie-file "$TEST_DIR/cookies.txt" >/dev/null 2>&1
	cd work
}

@test "clone: a uMap map with group layers becomes one .umap file, versions kept per layer" {
	start_stub
	run_split umapsync clone "$URL" --cookie-file "$TEST_DIR/cookies.txt"
	assert_success
	assert_output "velo-lyon.umap"
	[ "$stderr" = "Cloned uMap map 42 into 'velo-lyon': 3 layers, 3 features" ]
	cd velo-lyon
	# as uMap 3.7+ writes group layers: the child inside its group's "layers"
	run jq -c '[.type, .properties, [.layers[] | [.properties.name, .properties.rank, [(.layers // [])[] | .properties | [.name, .rank, .id]]]]]' velo-lyon.umap
	assert_output '["umap",{"name":"Vélo Lyon","zoom":13,"description":"Bike parking in Lyon"},[["Transport",0,[["Bike parking",1,"0b6e2a4c-2222-4a4a-8a8a-000000000002"]]],["Parks",2,[]]]]'
	# what the server injects is not the map's: no urls, tilelayers, user, schema, datalayers
	run jq -r '.properties | keys | join(",")' velo-lyon.umap
	assert_output "description,name,zoom"
	run jq -r ".umap.layers[\"$BIKE\"]" .umapsync/sync/origin.json
	assert_output "$(stub_state ".layers[\"$BIKE\"].version" | tr -d '"')"
	run umapsync status
	assert_output --partial "nothing to commit"
	run umapsync log --oneline origin/main
	assert_success
	assert_output --regexp "^[0-9a-f]{7} Clone map 42 from $URL$"
	# the cookies stay where they were: only the file's path is remembered
	run grep -rl s3ss10n .
	assert_failure
	run umapsync remote -v
	assert_output "origin	$URL"
}

@test "clone: the /geojson/ form under a script name and another language" {
	start_stub --script-name /umap --lang en
	run_split umapsync clone "$BASE/umap/en/map/42/geojson/" here
	assert_success
	assert_output "map.umap"
	[ "$stderr" = "Cloned uMap map 42 into 'here': 3 layers, 3 features" ]
	run jq -r '.layers[1].features[0].properties.name' here/map.umap
	assert_output "Tête d'Or"
}

@test "clone: a map that does not exist, a server that is not a uMap, a login page; nothing left behind" {
	start_stub
	run_split umapsync clone "$BASE/fr/map/nope_43" gone
	assert_failure 128
	[ "$stderr" = "fatal: no map 43 on $BASE ($BASE/fr/map/43/geojson/ answered 404): check the URL" ]
	[ ! -e gone ]
	run_split umapsync clone "http://127.0.0.1:8642/velo" --cookie-file "$TEST_DIR/cookies.txt"
	assert_failure 129
	[[ $stderr == *"--cookie-file and --history are for uMap map URLs"* ]]
	teardown_stub_only
	start_stub --not-umap
	run_split umapsync clone "$URL" other
	assert_failure 128
	[ "$stderr" = "fatal: $BASE is not a uMap server: $BASE/fr/map/42/geojson/ is not a map's geojson" ]
	[ ! -e other ]
	teardown_stub_only
	start_stub --private
	run_split umapsync clone "$URL" private
	assert_failure 128
	[ "${lines[0]:-}" = "" ]
	[[ $stderr == "fatal: $BASE answered with its login page: this map needs a signed-in session that may see or edit it"* ]]
	[[ $stderr == *"hint: sign in to the map's uMap in a browser, export its cookies to a file"*"--cookie-file FILE"* ]]
	[ ! -e private ]
	# with the session, the private map clones
	run umapsync clone "$URL" private --cookie-file "$TEST_DIR/cookies.txt"
	assert_success
}

teardown_stub_only() {
	kill -TERM "$STUB_PID" 2>/dev/null
	wait "$STUB_PID" 2>/dev/null || true
	STUB_PID=
}

@test "remote add: a uMap URL in an empty repository; pull fetches the map" {
	start_stub
	mkdir repo && cd repo
	umapsync init >/dev/null
	run umapsync remote add origin "$URL" --cookie-file "$TEST_DIR/cookies.txt"
	assert_success
	run umapsync remote add bad "$BASE/fr/map/x_43"
	assert_failure 128
	assert_output --partial "no map 43"
	run_split umapsync pull
	assert_success
	[[ $stderr == *"3 layers changed on the server"* ]]
	run jq -r '[.layers[], .layers[].layers[]?] | length' velo-lyon.umap
	assert_output 3
	run umapsync remote set-cookie-file origin "$TEST_DIR/missing"
	assert_failure 128
	assert_output --partial "cannot read the cookie file"
}

@test "pull: a concurrent edit reads only the layer whose version moved" {
	start_stub
	clone_map
	someone_saves "$PARKS" '.features += [{"type":"Feature","id":"Ger03","properties":{"name":"Gerland"},"geometry":{"type":"Point","coordinates":[4.83,45.73]}}]'
	: >"$TEST_DIR/stub.log"
	run_split umapsync pull
	assert_success
	[[ $stderr == *"1 layer changed on the server"*"Fast-forward to "* ]]
	run grep -c "GET /fr/datalayer/" "$TEST_DIR/stub.log"
	assert_output 1
	run grep -c "GET /fr/datalayer/42/$PARKS/" "$TEST_DIR/stub.log"
	assert_output 1
	run umapsync diff HEAD~1 HEAD
	assert_output --partial 'added feature Ger03 "Gerland" in layer "Parks"'
	run_split umapsync pull
	[ "$stderr" = "Already up to date." ]
}

@test "pull: a concurrent edit and a local commit are rebased" {
	start_stub
	clone_map
	someone_saves "$PARKS" '.features[0].properties.name = "Parc de la Tête d'"'"'Or"'
	sed -i 's/"capacity": 40/"capacity": 64/' velo-lyon.umap
	umapsync commit -m "Bellecour 64" >/dev/null
	run umapsync pull
	assert_success
	run jq -c '[.layers[0].layers[0].features[0].properties.capacity, .layers[1].features[0].properties.name]' velo-lyon.umap
	assert_output "[64,\"Parc de la Tête d'Or\"]"
	run umapsync log --oneline -n 1
	assert_output --regexp "Bellecour 64$"
}

@test "push: a changed layer is saved with its reference; the version is kept" {
	start_stub
	clone_map
	sed -i 's/"capacity": 40/"capacity": 64/' velo-lyon.umap
	umapsync commit -m "Bellecour 64" >/dev/null
	run_split umapsync push
	assert_success
	version=$(stub_state ".layers[\"$BIKE\"].version" | tr -d '"')
	[ "$stderr" = "To $URL
   saved layer 'Bike parking' (version $version)" ]
	run stub_state ".layers[\"$BIKE\"] | [.versions, .geojson.features[0].properties.capacity, .parent, .rank]"
	assert_output '[2,64,"0b6e2a4c-1111-4a4a-8a8a-000000000001",1]'
	run jq -r ".umap.layers[\"$BIKE\"]" .umapsync/sync/origin.json
	assert_output "$version"
	run_split umapsync push
	[ "$stderr" = "Everything up-to-date" ]
	run umapsync pull
	assert_output "Already up to date."
}

@test "push: a disjoint edit to a layer someone else saved is merged by the server and adopted" {
	start_stub
	clone_map
	someone_saves "$BIKE" '.features += [{"type":"Feature","id":"Per04","properties":{"name":"Perrache"},"geometry":{"type":"Point","coordinates":[4.82,45.75]}}]'
	sed -i 's/"capacity": 12/"capacity": 20/' velo-lyon.umap
	umapsync commit -m "Terreaux 20" >/dev/null
	run_split umapsync push
	assert_success
	[[ $stderr == *"layer 'Bike parking': the server merged your changes into a newer save"* ]]
	[[ $stderr == *"Others' saves merged into "* ]]
	run stub_state ".layers[\"$BIKE\"].geojson.features | map([.id, .properties.capacity])"
	assert_output '[["Bel01",40],["Per04",null],["Ter02",20]]'
	run jq -c '.layers[0].layers[0].features | map(.id)' velo-lyon.umap
	assert_output '["Bel01","Per04","Ter02"]'
	run umapsync status
	assert_output --partial "nothing to commit"
	run_split umapsync pull
	[ "$stderr" = "Already up to date." ]
}

@test "push: a conflicting save (412) is merged key by key and saved again" {
	start_stub
	clone_map
	# both change the same feature: uMap's merge_features refuses (412), ours merges per key
	someone_saves "$BIKE" '.features |= map(if .id == "Bel01" then .properties.name = "Place Bellecour" else . end)'
	sed -i 's/"capacity": 40/"capacity": 80/' velo-lyon.umap
	umapsync commit -m "Bellecour 80" >/dev/null
	run_split umapsync push
	assert_success
	[[ $stderr == *"layer 'Bike parking': saved by someone else meanwhile (412); merged key by key, saving again"* ]]
	run stub_state ".layers[\"$BIKE\"].geojson.features[0].properties"
	assert_output '{"name":"Place Bellecour","capacity":80}'
	run jq -c '.layers[0].layers[0].features[0].properties' velo-lyon.umap
	assert_output '{"name":"Place Bellecour","capacity":80}'
	run umapsync status
	assert_output --partial "nothing to commit"
}

@test "push: the same key changed on both sides stops the push, naming the feature and key" {
	start_stub
	clone_map
	someone_saves "$BIKE" '.features |= map(if .id == "Bel01" then .properties.capacity = 50 else . end)'
	sed -i 's/"capacity": 40/"capacity": 80/' velo-lyon.umap
	umapsync commit -m "Bellecour 80" >/dev/null
	head=$(umapsync log --oneline -n 1)
	run_split umapsync push
	assert_failure 128
	[[ $stderr == *"fatal: layer 'Bike parking' was saved on the server meanwhile, and 1 of your changes conflict with it:"*'feature "Bel01": properties.capacity'* ]]
	[[ $stderr == *"hint: the layers saved before it are kept; run 'umapsync pull origin', settle the conflicts"* ]]
	run stub_state ".layers[\"$BIKE\"].geojson.features[0].properties.capacity"
	assert_output 50
	run umapsync log --oneline -n 1
	assert_output "$head"
}

@test "push: a network failure half-way keeps the saved layers and the next push sends the rest" {
	start_stub
	clone_map
	sed -i 's/"capacity": 40/"capacity": 64/; s/"name": "Tête d.Or"/"name": "Parc"/' velo-lyon.umap
	umapsync commit -m "two layers" >/dev/null
	stub drop-after/1
	run_split umapsync push
	assert_failure 128
	[[ $stderr == *"saved layer 'Bike parking'"* ]]
	[[ $stderr == *"fatal: cannot reach $BASE/fr/map/42/datalayer/update/$PARKS/"* ]]
	[[ $stderr == *"hint: 1 layer saved before this one is kept; 'umapsync push origin' sends the rest"* ]]
	run jq -r ".umap.layers[\"$BIKE\"]" .umapsync/sync/origin.json
	assert_output "$(stub_state ".layers[\"$BIKE\"].version" | tr -d '"')"
	stub drop-after/off
	: >"$TEST_DIR/stub.log"
	run_split umapsync push
	assert_success
	[[ $stderr == *"saved layer 'Parks'"* ]]
	run grep -c "POST /fr/map/42/datalayer/" "$TEST_DIR/stub.log"
	assert_output 1
	run stub_state "[.layers[\"$BIKE\"].versions, .layers[\"$PARKS\"].geojson.features[0].properties.name]"
	assert_output '[2,"Parc"]'
	run umapsync status
	assert_output --partial "nothing to commit"
}

@test "push: an expired CSRF token is renewed once" {
	start_stub
	clone_map
	sed -i 's/"capacity": 40/"capacity": 64/' velo-lyon.umap
	umapsync commit -m "Bellecour 64" >/dev/null
	stub expire-csrf-next
	: >"$TEST_DIR/stub.log"
	run umapsync push
	assert_success
	run grep -c "GET /fr/map/velo-lyon_42" "$TEST_DIR/stub.log"
	assert_output 2
	run stub_state ".layers[\"$BIKE\"].geojson.features[0].properties.capacity"
	assert_output 64
}

@test "push: a wrong session cookie says what to do and changes nothing" {
	start_stub
	clone_map
	printf '127.0.0.1\tFALSE\t/\tFALSE\t0\tsessionid\tb4dc00k13\n' >"$TEST_DIR/cookies.txt"
	sed -i 's/"capacity": 40/"capacity": 64/' velo-lyon.umap
	umapsync commit -m "Bellecour 64" >/dev/null
	cp .umapsync/sync/origin.json "$TEST_DIR/state.before"
	run_split umapsync push
	assert_failure 128
	[[ $stderr == *"fatal: saving layer 'Bike parking': the server wants a login (login_required): the session cookie is missing, wrong or expired"* ]]
	[[ $stderr == *"hint: sign in to the map's uMap in a browser, export its cookies to a file (Netscape format, as curl -c writes) and give it with 'umapsync remote set-cookie-file origin FILE'"* ]]
	[[ $stderr != *b4dc00k13* ]]
	cmp .umapsync/sync/origin.json "$TEST_DIR/state.before"
	run stub_state ".layers[\"$BIKE\"].versions"
	assert_output 1
	# a renewed session needs no new clone: the file is read again
	printf '#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tsessionid\ts3ss10n-alice\n' >"$TEST_DIR/alice.txt"
	run umapsync remote set-cookie-file origin "$TEST_DIR/alice.txt"
	assert_success
	run umapsync push
	assert_success
}

@test "push: new layers are created under their id, removed ones deleted" {
	start_stub
	clone_map
	jq '.layers[1] = {"type":"FeatureCollection","features":[],"properties":{"name":"Tram","id":"0b6e2a4c-4444-4a4a-8a8a-000000000004","rank":2}}' \
		velo-lyon.umap >new.umap && mv new.umap velo-lyon.umap
	umapsync commit -m "Tram instead of Parks" >/dev/null
	run_split umapsync push
	assert_success
	[[ $stderr == *"created layer 'Tram'"*"deleted layer 'Parks'"* ]]
	run stub_state '.layers | to_entries | map(.value.name)'
	assert_output '["Transport","Bike parking","Tram"]'
}

@test "push: map settings changed on the server since the last pull are not overwritten" {
	start_stub
	clone_map
	curl -sS -X POST --data-binary '{"type":"Feature","geometry":{"type":"Point","coordinates":[4.835,45.758]},"properties":{"name":"Vélo Lyon","zoom":14,"description":"Bike parking in Lyon"}}' \
		"$BASE/__stub/settings" >/dev/null
	jq '.properties.description = "Where to park"' velo-lyon.umap >new.umap && mv new.umap velo-lyon.umap
	umapsync commit -m "describe" >/dev/null
	run_split umapsync push
	assert_failure 128
	[[ $stderr == *"fatal: the map's settings changed on the server since the last pull (zoom): pushing yours would overwrite them"* ]]
	run umapsync pull
	assert_success
	run umapsync push
	assert_success
	run stub_state '.settings.properties | [.zoom, .description]'
	assert_output '[14,"Where to park"]'
}

@test "clone --history: a commit for each layer version the server keeps; diff between two" {
	start_stub
	# Parks' first version, before the saves (the stub stamps each layer's first version
	# with the time it made it: Bike's could be a millisecond apart)
	v1=$(stub_state ".layers[\"$PARKS\"].version" | tr -d '"')
	someone_saves "$PARKS" '.features[0].properties.name = "A"'
	someone_saves "$PARKS" '.features[0].properties.name = "B"'
	run_split umapsync clone --history "$URL" work
	assert_success
	cd work
	run umapsync log --oneline origin/main
	assert_line --index 0 --regexp "^[0-9a-f]{7} Clone map 42 from $URL$"
	assert_line --index 1 --regexp "^[0-9a-f]{7} Layer 'Parks' saved on the server \(version [0-9]+\)$"
	assert_line --index 2 --regexp "^[0-9a-f]{7} Layer 'Parks' saved on the server \(version $v1\)$"
	[ "${#lines[@]}" -eq 3 ]
	run umapsync diff HEAD~2 HEAD~1
	assert_output --partial $'modified feature TdO01 "A" in layer "Parks"\n  ~ name: "Tête d\'Or" → "A"'
	run umapsync diff HEAD~1 HEAD
	assert_output --partial '~ name: "A" → "B"'
	run umapsync status
	assert_output --partial "nothing to commit"
}

@test "push: a layer moved out of its group is saved without a parent" {
	start_stub
	clone_map
	jq '.layers = [(.layers[0] | del(.layers)), .layers[0].layers[0], .layers[1]]' velo-lyon.umap >new.umap
	mv new.umap velo-lyon.umap
	umapsync commit -m "Bike parking at the top" >/dev/null
	run_split umapsync push
	assert_success
	[ "$stderr" = "To $URL
   saved layer 'Bike parking' (version $(stub_state ".layers[\"$BIKE\"].version" | tr -d '"'))" ]
	run stub_state ".layers[\"$BIKE\"].parent"
	assert_output null
	run umapsync pull
	assert_output "Already up to date."
}

# ---- anonymous edit links -------------------------------------------------------------------

# edit_link: $LINK is the map's anonymous edit link (the stub runs with --anonymous), $SIG its
# signature: both secrets.
edit_link() {
	LINK=$(curl -sS --max-time 10 "$BASE/__stub/edit-link" | jq -r .url)
	SIG=${LINK##*/anonymous-edit/}
	[ -n "$SIG" ] && [ "$SIG" != "$LINK" ]
}

# edit_cookie DIR: the value of the anonymous owner cookie kept in DIR for origin.
edit_cookie() {
	awk -F'\t' '$6 == "anonymous_owner|42" { print $7 }' "$1/.umapsync/sync/${2:-origin}.cookies"
}

# refute_secret DIR SECRET: SECRET is in no file under DIR but its cookie file, and in no git
# object, commit message, config or reflog of its repository.
refute_secret() {
	run grep -rlF --exclude='*.cookies' -- "$2" "$1"
	assert_failure 1
	run sh -c 'git --git-dir="$1/.umapsync" cat-file --batch-all-objects --batch | grep -caF -- "$2"' _ "$1" "$2"
	assert_output 0
	run sh -c 'git --git-dir="$1/.umapsync" log -p --all | grep -cF -- "$2"' _ "$1" "$2"
	assert_output 0
	run grep -cF -- "$2" "$1/.umapsync/config"
	assert_output 0
}

@test "anonymous edit link: clone keeps the map's URL, and the cookie 0600 in .umapsync/sync; no secret elsewhere" {
	start_stub --anonymous
	edit_link
	umask 000
	run_split umapsync clone "$LINK"
	assert_success
	assert_output "velo-lyon.umap"
	[ "$stderr" = "Cloned uMap map 42 into 'velo-lyon': 3 layers, 3 features
The anonymous edit link's cookie is kept in velo-lyon/.umapsync/sync/origin.cookies, readable by you only" ]
	cd velo-lyon
	run stat -c %a .umapsync/sync/origin.cookies
	assert_output 600
	cookie=$(edit_cookie .)
	[ -n "$cookie" ]
	# the remote is the map, not the link
	run umapsync remote -v
	assert_output "origin	$URL"
	run umapsync log --oneline origin/main
	assert_output --regexp "^[0-9a-f]{7} Clone map 42 from $URL$"
	refute_secret . "$SIG"
	refute_secret . "$cookie"
	run grep -c "$SIG" .umapsync/sync/origin.cookies
	assert_output 0
}

@test "anonymous edit link: a link whose ':' a mail client encoded as %3A works as the link" {
	start_stub --anonymous
	edit_link
	[[ $SIG == *:* ]]
	encoded=${LINK%/anonymous-edit/*}/anonymous-edit/${SIG//:/%3A}
	run_split umapsync clone "$encoded" work
	assert_success
	cd work
	[ -n "$(edit_cookie .)" ]
	run umapsync remote -v
	assert_output "origin	$URL"
	refute_secret . "$SIG"
	refute_secret . "${SIG//:/%3A}"
}

@test "anonymous edit link: pull and push an edit with the kept cookie; nothing secret printed" {
	start_stub --anonymous
	edit_link
	run umapsync clone "$LINK" work
	assert_success
	cd work
	cookie=$(edit_cookie .)
	someone_saves "$PARKS" '.features[0].properties.name = "Parc"'
	run umapsync pull
	assert_success
	[[ $output != *"$cookie"* && $output != *"$SIG"* ]]
	run jq -r '.layers[1].features[0].properties.name' velo-lyon.umap
	assert_output "Parc"
	sed -i 's/"capacity": 40/"capacity": 64/' velo-lyon.umap
	umapsync commit -m "Bellecour 64" >/dev/null
	run_split umapsync push
	assert_success
	[ "$stderr" = "To $URL
   saved layer 'Bike parking' (version $(stub_state ".layers[\"$BIKE\"].version" | tr -d '"'))" ]
	run stub_state ".layers[\"$BIKE\"].geojson.features[0].properties.capacity"
	assert_output 64
	refute_secret . "$cookie"
	refute_secret . "$SIG"
	# the same map without the cookie: uMap refuses the save (403)
	cd ..
	umapsync clone "$URL" plain >/dev/null 2>&1
	cd plain
	sed -i 's/"capacity": 64/"capacity": 65/' velo-lyon.umap
	umapsync commit -m "Bellecour 65" >/dev/null
	run umapsync push
	assert_failure 128
	assert_output --partial "saving layer 'Bike parking': the server refused (403 Forbidden)"
}

@test "anonymous edit link: a wrong signature is refused, saying what to do; nothing left behind" {
	start_stub --anonymous
	edit_link
	bad="${LINK%?}x"
	[ "$bad" != "$LINK" ] || bad="${LINK%?}y"
	run_split umapsync clone "$bad" work
	assert_failure 128
	assert_output ""
	[ "$stderr" = "fatal: the anonymous edit link is not valid: $BASE refused its signature (403 Forbidden)
hint: check that the link was copied whole, or ask the map's creator for it (uMap shows it to them when the map is made, and in the map's permissions panel)" ]
	[ ! -e work ]
	[ ! -e velo-lyon ]
	mkdir repo && cd repo
	umapsync init >/dev/null
	run_split umapsync remote add origin "$bad"
	assert_failure 128
	[[ $stderr == "fatal: the anonymous edit link is not valid: $BASE refused its signature (403 Forbidden)"* ]]
	[[ $stderr != *"${bad##*/}"* ]]
	run umapsync remote
	assert_output ""
	[ ! -e .umapsync/sync/origin.cookies ]
	# a network failure does not show the link either
	teardown_stub_only
	run_split umapsync clone "$LINK" gone
	assert_failure 128
	[[ $stderr == "fatal: cannot reach $BASE/fr/map/anonymous-edit/***: "* ]]
	[[ $stderr != *"$SIG"* ]]
}

@test "anonymous edit link: remote add, rename and remove carry the cookie; set-url with the link renews an expired one" {
	start_stub --anonymous
	edit_link
	mkdir repo && cd repo
	umapsync init >/dev/null
	run_split umapsync remote add lyon "$LINK"
	assert_success
	[ "$stderr" = "" ]
	run umapsync remote -v
	assert_output "lyon	$URL"
	run stat -c %a .umapsync/sync/lyon.cookies
	assert_output 600
	run umapsync pull lyon
	assert_success
	run umapsync remote rename lyon origin
	assert_success
	[ ! -e .umapsync/sync/lyon.cookies ]
	run stat -c %a .umapsync/sync/origin.cookies
	assert_output 600
	# a month later the cookie has expired: the save is refused, with what to do
	awk -F'\t' 'BEGIN { OFS = "\t" } $6 == "anonymous_owner|42" { $5 = 1 } { print }' \
		.umapsync/sync/origin.cookies >expired && cat expired >.umapsync/sync/origin.cookies && rm expired
	sed -i 's/"capacity": 40/"capacity": 64/' velo-lyon.umap
	umapsync commit -m "Bellecour 64" >/dev/null
	run_split umapsync push
	assert_failure 128
	[ "$stderr" = "To $URL
fatal: saving layer 'Bike parking': the server refused (403 Forbidden): this session may not edit this map (ask its owner for rights, or sign in as someone who has them)
hint: uMap's anonymous edit cookie lasts 30 days and gives no rights once the map has an owner: follow the map's anonymous edit link again with 'umapsync remote set-url origin LINK' (or, if the map has an owner now, sign in and use 'umapsync remote set-cookie-file origin FILE')" ]
	run umapsync remote set-url origin "$LINK"
	assert_success
	run stat -c %a .umapsync/sync/origin.cookies
	assert_output 600
	run umapsync push
	assert_success
	run stub_state ".layers[\"$BIKE\"].geojson.features[0].properties.capacity"
	assert_output 64
	refute_secret . "$SIG"
	run umapsync remote remove origin
	assert_success
	[ ! -e .umapsync/sync/origin.cookies ]
}

@test "anonymous edit link: a map that has an owner now, a redirect to another host, not a uMap, a sync remote, a name that is a path: refused" {
	start_stub --anonymous
	edit_link
	# the remote's name goes into .umapsync/sync/NAME.cookies
	run_split umapsync clone "$LINK" evil -o ../x
	assert_failure 129
	[[ $stderr == "error: invalid remote name '../x': use A-Z a-z 0-9 _ -"* ]]
	[ ! -e evil ] && [ ! -e x.cookies ]
	umapsync clone "$LINK" work >/dev/null 2>&1
	cd work
	stub edit-link-elsewhere
	run_split umapsync remote set-url origin "$LINK"
	assert_failure 128
	[ "$stderr" = "fatal: the anonymous edit link redirects to another server (http://umap.invalid): refused" ]
	cp .umapsync/sync/origin.cookies "$TEST_DIR/cookies.before"
	teardown_stub_only
	start_stub --anonymous
	edit_link
	stub owner
	run_split umapsync clone "$LINK" "$TEST_DIR/taken"
	assert_failure 128
	[ "$stderr" = "fatal: the anonymous edit link gives no right to edit map 42 any more: $BASE set no anonymous owner cookie (the map has an owner now)
hint: sign in to the map's uMap in a browser, export its cookies to a file (Netscape format, as curl -c writes) and give it with --cookie-file FILE; the file is read again at each command" ]
	[ ! -e "$TEST_DIR/taken" ]
	# a refused renewal keeps what was there
	run umapsync remote set-url origin "$LINK"
	assert_failure 128
	cmp .umapsync/sync/origin.cookies "$TEST_DIR/cookies.before"
	umapsync remote add server http://127.0.0.1:8642/velo
	run_split umapsync remote set-url server "$LINK"
	assert_failure 128
	[ "$stderr" = "fatal: remote 'server' is not a uMap map (http://127.0.0.1:8642/velo): add the anonymous edit link as a remote of its own" ]
	# a server that answers the link with a page of its own
	teardown_stub_only
	start_stub --not-umap
	run_split umapsync clone "$BASE/fr/map/anonymous-edit/$SIG" "$TEST_DIR/other"
	assert_failure 128
	[ "$stderr" = "fatal: $BASE is not a uMap server: the anonymous edit link answered 200, not a redirect to its map" ]
	[ ! -e "$TEST_DIR/other" ]
}
