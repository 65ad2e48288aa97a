#!/usr/bin/env bats
# uMap's realtime endpoint (SPEC §8): uMap's own journal code (tests/fixtures/umap-js, run by
# tests/node/umap_peers.mjs under node) as browser peers against `umapsync serve
# --umap-secret-file`, with tokens minted by Django's own signing (python3-django).

bats_require_minimum_version 1.5.0

load helper
load sync_helper

ROOT=$BATS_TEST_DIRNAME/../..
PYTHON=${PYTHON:-/usr/bin/python3}

# node, npm and Django come from scripts/deps.sh (make check); `ws` is installed from
# tests/node/package.json into build/umap-js once. Missing pieces fail loudly: never a skip.
setup_file() {
	command -v node >/dev/null || { echo "node is missing: run 'make deps'" >&2; return 1; }
	"$PYTHON" -c 'import django' 2>/dev/null ||
		{ echo "$PYTHON cannot import django: run 'make deps' (python3-django)" >&2; return 1; }
	local deps=$ROOT/build/umap-js
	if [ ! -f "$deps/node_modules/ws/package.json" ] || ! cmp -s "$ROOT/tests/node/package.json" "$deps/package.json"; then
		command -v npm >/dev/null || { echo "npm is missing: run 'make deps'" >&2; return 1; }
		mkdir -p "$deps" && cp "$ROOT/tests/node/package.json" "$deps/package.json" &&
			(cd "$deps" && npm_config_cache="$deps/.npm-cache" timeout 300 npm install --no-audit --no-fund --loglevel=error >&2) ||
			{ echo "npm install of tests/node/package.json into $deps failed" >&2; return 1; }
	fi
	export UMAP_JS_DEPS=$deps PYTHON
}

setup() {
	TEST_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/umapsync-test.XXXXXX")
	cd "$TEST_DIR" || return 1
	printf 'django-insecure-umapsync-test-key\n' >secret
}

start_rt() {
	start_server --umap-secret-file "$TEST_DIR/secret"
	export PORT MAP=42 SECRET_FILE=$TEST_DIR/secret
}

peers() {
	timeout 120 node "$ROOT/tests/node/umap_peers.mjs" "$@"
}

@test "umap realtime: two uMap peers edit live; a third joining late gets every edit" {
	start_rt
	run peers live
	assert_success
	assert_output --partial "ok: Ann's new feature reaches Bob"
	assert_output --partial "ok: Bob's edit reaches Ann"
	assert_output --partial "ok: Bob's batch reaches Ann"
	assert_output --partial "ok: Cyd, joining late, gets every edit"
}

@test "umap realtime: with every browser gone, the server answers a late joiner from its log" {
	start_rt
	run peers replay
	assert_success
	assert_output --partial "ok: the server is the only other peer"
	assert_output --partial "ok: a late joiner gets the log from the server"
}

@test "umap realtime: with --retain, a late joiner gets what the log still holds" {
	start_server --umap-secret-file "$TEST_DIR/secret" --retain 2
	export PORT MAP=42 SECRET_FILE=$TEST_DIR/secret
	run peers retained
	assert_success
	assert_output --partial "ok: a late joiner gets the retained tail of the log"
}

@test "umap realtime: a umapsync push reaches a connected uMap peer; its edits come back with pull" {
	start_rt
	mkdir repo
	(cd repo && "$UMAPSYNC" init >/dev/null && cp "$EXAMPLES/bike-parking.geojson" . &&
		"$UMAPSYNC" import bike-parking.geojson >/dev/null &&
		"$UMAPSYNC" remote add origin "$BASE/42")
	REPO=$TEST_DIR/repo FEATURE=zP5kR NAME=Bellecour run peers push
	assert_success
	assert_output --partial "ok: features pushed over HTTP reach the browser live"
	# umapsync push stamps its ops with uMap's clock form, which uMap's hlc.js parses
	http GET '/v1/maps/42/pull?since=0'
	run jq -r '[.ops[].hlc | test("^[0-9]{13}:[0-9]+:[A-Za-z0-9_-]+$")] | all' <<<"$body"
	assert_output true
	REPO=$TEST_DIR/repo FEATURE=zP5kR NAME="Bellecour (browser)" run peers edit
	assert_success
	cd repo
	run "$UMAPSYNC" pull
	assert_success
	run jq -c '.features[] | select(.id == "zP5kR" or .id == "ppppp") | .properties.name' bike-parking.geojson
	assert_output $'"Bellecour (browser)"\n"drawn in a browser"'
}

@test "umap realtime: tokens of another key, another map or without edit, and peer ids with NUL are refused" {
	start_rt
	run peers refused
	assert_success
	assert_output --partial "ok: a token signed with another key is refused (close 1008)"
	assert_output --partial "ok: a token for another map is refused (close 1008)"
	assert_output --partial "ok: a token without \"edit\" is refused (close 1008)"
	assert_output --partial "ok: a peer id holding \\u0000 is refused (close 1008)"
	assert_output --partial "ok: a good token joins"
	run grep -c "refused" "$TEST_DIR/server.log"
	assert_output 0 # the server logs refusals only with -v
}

@test "umap realtime: the endpoint is off without --umap-secret-file; bad handshakes get 400" {
	start_server
	http GET /ws/sync/42 -H 'Upgrade: websocket' -H 'Connection: Upgrade' \
		-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='
	[ "$code" = 404 ]
	[[ $body == *"--umap-secret-file"* ]]
	stop_server
	start_server --umap-secret-file "$TEST_DIR/secret"
	http GET /ws/sync/42
	[ "$code" = 400 ]
	http GET /ws/sync/42 -H 'Upgrade: websocket' -H 'Connection: Upgrade' \
		-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: short'
	[ "$code" = 400 ]
	http POST /ws/sync/42
	[ "$code" = 405 ]
	http GET '/ws/sync/../../etc'
	[ "$code" = 404 ]
	run "$UMAPSYNC" serve --umap-secret-file "$TEST_DIR/none" --listen 127.0.0.1:0
	assert_failure 128
	assert_output --partial "none"
	: >"$TEST_DIR/empty"
	run "$UMAPSYNC" serve --umap-secret-file "$TEST_DIR/empty" --listen 127.0.0.1:0
	assert_failure 128
	assert_output "fatal: '$TEST_DIR/empty' must hold uMap's SECRET_KEY on one line"
}

ops_fixture=$BATS_TEST_DIRNAME/../fixtures/umap-ops

@test "umap realtime: uMap's FeatureUpdater applies every feature op of diff --format=ops to the new layer" {
	"$UMAPSYNC" diff --format=ops "$ops_fixture/old.geojson" "$ops_fixture/new.geojson" >ops.jsonl
	run node "$ROOT/tests/node/umap_apply.mjs" "$ops_fixture/old.geojson" ops.jsonl "$ops_fixture/new.geojson"
	assert_success
	assert_output "12 ops applied by uMap's FeatureUpdater; 8 features checked, 0 differ"
}

@test "umap realtime: ops send a style as the whole _umap_options; a geometry type change is delete + upsert" {
	run "$UMAPSYNC" diff --format=ops "$ops_fixture/old.geojson" "$ops_fixture/new.geojson"
	run jq -c 'select(.metadata.id == "c8YfG" or .metadata.id == "Ve1xW") | [.verb, .metadata.featureType, .key, .value.properties.name // .value]' <<<"$output"
	assert_output - <<'OUT'
["update","marker","properties._umap_options",{"color":"#d95f02"}]
["delete","marker",null,null]
["upsert","polyline",null,"Guichard racks"]
OUT
}

@test "umap realtime: a feature without id has no op: diff --format=ops says so instead of a null id" {
	printf '%s\n' '{"type":"FeatureCollection","features":[]}' >a.geojson
	printf '%s\n' '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Fourvière"},"geometry":{"type":"Point","coordinates":[4.82,45.76]}}]}' >b.geojson
	run_split "$UMAPSYNC" diff --format=ops --layer-id=L a.geojson b.geojson
	assert_failure 128
	assert_equal "$stdout" ""
	assert_equal "$stderr" "fatal: cannot format the diff: the added feature 'Fourvière' without an id has no uMap realtime op: uMap finds features by id; give it one (umapsync import does) or name the property that holds ids with --id=PROP"
}

# the fixture's layers as plain GeoJSON files, whose layer id is nowhere in the file
plain_layers() {
	jq 'del(.properties)' "$ops_fixture/old.geojson" >old.geojson
	jq 'del(.properties)' "$ops_fixture/new.geojson" >new.geojson
}

@test "umap realtime: ops of plain GeoJSON files never carry a null layer id; --layer-id names the layer" {
	plain_layers
	run_split "$UMAPSYNC" diff --format=ops old.geojson new.geojson
	assert_failure 128
	assert_equal "$stdout" ""
	assert_equal "$stderr" "fatal: cannot format the diff: layer 1 has no id, and uMap finds layers by id only: pass the layer's uMap id with --layer-id=ID, or diff revisions of a repository (its manifest holds the id of a GeoJSON file's layer)"
	"$UMAPSYNC" diff --format=ops --layer-id=5b1e0c2a-9d47-4f0e-8a6b-3c2d1e0f9a87 old.geojson new.geojson >ops.jsonl
	run jq -r '.metadata.layerId' ops.jsonl
	assert_equal "$(sort -u <<<"$output")" "5b1e0c2a-9d47-4f0e-8a6b-3c2d1e0f9a87"
	run node "$ROOT/tests/node/umap_apply.mjs" old.geojson ops.jsonl new.geojson 5b1e0c2a-9d47-4f0e-8a6b-3c2d1e0f9a87
	assert_success
	assert_output "12 ops applied by uMap's FeatureUpdater; 8 features checked, 0 differ"
	run "$UMAPSYNC" diff --layer-id=x old.geojson new.geojson
	assert_failure 129
	assert_line --index 0 "error: --layer-id needs an id and applies to --format=ops"
}

@test "umap realtime: ops of a repository's plain GeoJSON layer carry the manifest's layer id" {
	plain_layers
	mkdir repo && cd repo
	"$UMAPSYNC" init >/dev/null
	cp ../old.geojson layer.geojson
	"$UMAPSYNC" import layer.geojson >/dev/null
	cp ../new.geojson layer.geojson
	"$UMAPSYNC" diff --format=ops >../working.jsonl
	"$UMAPSYNC" commit -m new >/dev/null
	"$UMAPSYNC" diff --format=ops HEAD~1 HEAD >../revisions.jsonl
	cd ..
	run jq -r '.metadata.layerId' revisions.jsonl
	local ids; ids=$(sort -u <<<"$output")
	[[ $ids =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] || fail "layer ids: $ids"
	cmp working.jsonl revisions.jsonl
	run node "$ROOT/tests/node/umap_apply.mjs" old.geojson revisions.jsonl new.geojson "$ids"
	assert_success
	assert_output "12 ops applied by uMap's FeatureUpdater; 8 features checked, 0 differ"
	run "$UMAPSYNC" -C repo diff --format=ops --layer-id=x HEAD~1 HEAD
	assert_failure 129
	assert_line --index 0 "error: --layer-id applies to files: a repository's manifest has the ids of its layers"
}

@test "umap realtime: uMap's DataLayerUpdater and MapUpdater apply layer, group and map ops of diff --format=ops" {
	jq 'walk(if type == "object" and .type == "FeatureCollection" then .properties.id = "L-" + .properties.name else . end)' \
		"$BATS_TEST_DIRNAME/../fixtures/umap/group_layers.umap" >old.umap
	# map options and centre; a layer's colour; a new layer in a group; a layer moved out of
	# its group to the top; a layer removed
	jq '.geometry.coordinates = [2.4, 48.9] | .properties.zoom = 13
	    | .layers[1].properties.color = "Red"
	    | .layers[0].layers += [{"type":"FeatureCollection","properties":{"name":"Marchés","id":"L-Marchés","color":"Blue"},"features":[]}]
	    | .layers += [.layers[0].layers[1] | .properties.rank = 2] | del(.layers[0].layers[1])
	    | del(.layers[0].layers[0])' old.umap >new.umap
	"$UMAPSYNC" diff --format=ops old.umap new.umap >ops.jsonl
	run jq -c 'select(.subject != "feature") | [.verb, .subject, .metadata.id, .key, .value]' ops.jsonl
	assert_output - <<'OUT'
["update","map",null,"properties.zoom",13]
["update","map",null,"properties.center",[2.4,48.9]]
["upsert","datalayer","L-Marchés",null,{"id":"L-Marchés","rank":0,"parent":"L-Ville","properties":{"name":"Marchés","id":"L-Marchés","color":"Blue"}}]
["update","datalayer","L-Divers","properties.color","Red"]
["update","datalayer","L-Parcs","parentId",null]
["update","datalayer","L-Parcs","rank",2]
["delete","datalayer","L-Transports",null,null]
OUT
	run node "$ROOT/tests/node/umap_apply_map.mjs" old.umap ops.jsonl new.umap
	assert_success
	assert_output "7 ops applied by uMap's MapUpdater and DataLayerUpdater; 5 layers checked, 0 differ"
}

@test "umap realtime: a uMap batch pushed over HTTP is stored as its inner ops; pull applies a batch too" {
	start_server
	local t1 t2
	t1=$(hlc alice)
	push m alice 0 "[$(op_layer a1 L1 l1.geojson Layer alice),{\"op_id\":\"b1\",\"hlc\":\"$t1\",\"verb\":\"batch\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"L1\"},\"operations\":[{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"L1\"},\"value\":{\"type\":\"Feature\",\"properties\":{},\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]}}},{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":\"f1\",\"layerId\":\"L1\"},\"key\":\"properties.name\",\"value\":\"batched\"}]}]"
	[ "$code" = 200 ]
	http GET '/v1/maps/m/pull?since=0'
	run jq -c '[.ops[] | [.op_id, .verb, .hlc == "'"$t1"'"]]' <<<"$body"
	assert_output '[["a1","upsert",false],["b1.0","upsert",true],["b1.1","update",true]]'
	"$UMAPSYNC" clone "$BASE/m" copy 2>/dev/null
	run jq -c '.features[0].properties' copy/l1.geojson
	assert_output '{"name":"batched"}'
	push m alice 3 '[{"op_id":"b2","hlc":"'"$(hlc alice)"'","verb":"batch","subject":"map","operations":[{"verb":"batch","subject":"map","operations":[]}]}]'
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'operations[0] of a batch must be an op, not a batch'* ]]
}
