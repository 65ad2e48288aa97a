#!/usr/bin/env bats
# The sync client's own state against what a server sends: long file names, clone and pull
# all or nothing, last-writer-wins by HLC, the server's feature order, and ids a push
# cannot carry (push --abort).

bats_require_minimum_version 1.5.0
load helper
load sync_helper

# name N: a working-file name of N bytes ending in .geojson
name() {
	printf '%*s.geojson' $(($1 - 8)) '' | tr ' ' n
}

# layer_file ID FEATURE...: a FeatureCollection with layer id ID and point features
layer_file() {
	local id=$1 sep='' f
	shift
	printf '{"type":"FeatureCollection","properties":{"id":"%s"},"features":[' "$id"
	for f in "$@"; do
		printf '%s{"type":"Feature","id":"%s","properties":{"name":"%s"},"geometry":{"type":"Point","coordinates":[4.8,45.7]}}' "$sep" "$f" "$f"
		sep=,
	done
	printf ']}\n'
}

# publish DIR: makes DIR (holding layer files already) a repository tracking its .geojson
# files, adds the remote origin (map m) and pushes
publish() {
	(cd "$1" && "$UMAPSYNC" init >/dev/null && "$UMAPSYNC" import *.geojson >/dev/null &&
		"$UMAPSYNC" remote add origin "$BASE/m" && "$UMAPSYNC" push 2>/dev/null)
}

@test "sync-client: a server refuses a file name too long for a client to write beside" {
	start_server
	push m x 0 "[$(op_layer x-1 L "$(name 250)" long x)]"
	[ "$code" = 400 ]
	[[ $body == *'metadata.filename must be a file name of at most 233 bytes'* ]]
	push m x 0 "[$(op_layer x-1 L "$(name 234)" long x)]"
	[ "$code" = 400 ]
	push m x 0 "[$(op_layer x-1 L "$(name 233)" long x),$(op_feature x-2 L f1 one x)]"
	[ "$code" = 200 ]
	# the longest name there can be: clone and pull write it (and its temporary file)
	run_split "$UMAPSYNC" clone "$BASE/m" bob
	assert_success
	[ -f "bob/$(name 233)" ]
	push m x 2 "[$(op_feature x-3 L f2 two x)]"
	[ "$code" = 200 ]
	cd bob
	run_split "$UMAPSYNC" pull
	assert_success
	[ "$(jq -c '[.features[].id]' "$(name 233)")" = '["f1","f2"]' ]
	run "$UMAPSYNC" status
	assert_output $'On branch main\nnothing to commit, working files clean'
}

@test "sync-client: push refuses a working file whose name cannot be synced, before sending anything" {
	start_server
	"$UMAPSYNC" init >/dev/null
	layer_file L f1 >"$(name 240)"
	"$UMAPSYNC" import "$(name 240)" >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/m"
	run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: the file name '$(name 240)' cannot be synced: at most 233 bytes, no leading '.' and no control characters; rename the file"
	[ ! -e .umapsync/sync/origin.outbox.json ]
}

@test "sync-client: a clone killed half-way leaves no directory, and the next clone works" {
	start_server
	mkdir alice
	layer_file A a1 >alice/a.geojson
	big_layer alice/b.geojson 4000
	publish alice
	# a 256 KiB file size limit kills the clone (SIGXFSZ) while it writes the big layer
	run bash -c 'ulimit -f 256; exec "$UMAPSYNC" clone "$0" bob' "$BASE/m"
	assert_equal "$status" $((128 + 25))
	[ ! -e bob ]
	run_split "$UMAPSYNC" clone "$BASE/m" bob
	assert_success
	[ "$(ls bob)" = $'a.geojson\nb.geojson' ]
}

@test "sync-client: a clone that fails leaves no directory behind" {
	start_server
	push m x 0 "[$(op_layer x-1 L l.geojson l x),$(op_feature x-2 L f1 one x)]"
	[ "$code" = 200 ]
	# an existing empty DIR is replaced only by a finished clone
	mkdir empty
	run_split "$UMAPSYNC" clone "$BASE/m" empty
	assert_success
	[ -f empty/l.geojson ]
	# a destination in a directory still to be made, then one that cannot be made: nothing
	# is left beside it
	mkdir work
	run_split "$UMAPSYNC" clone "$BASE/m" work/sub/bob
	assert_success
	[ "$(ls -A work/sub)" = bob ]
	: >work/file
	run_split "$UMAPSYNC" clone "$BASE/m" work/file/bob
	assert_equal "$status" 128
	[ "$(ls -A work)" = $'file\nsub' ]
}

@test "sync-client: a pull that cannot write one file changes none, and the next pull works" {
	start_server
	mkdir alice
	layer_file A a1 >alice/a.geojson
	publish alice
	"$UMAPSYNC" clone "$BASE/m" bob >/dev/null 2>&1
	cd alice
	layer_file A a1 a2 >a.geojson
	layer_file B b1 >b.geojson
	"$UMAPSYNC" import b.geojson >/dev/null
	"$UMAPSYNC" commit -m "a2 and layer B" >/dev/null
	"$UMAPSYNC" push 2>/dev/null
	cd ../bob
	cp a.geojson ../a-before
	# something that is not a file stands where the new layer goes
	mkdir b.geojson
	run_split "$UMAPSYNC" pull
	assert_equal "$status" 128
	[[ $stderr == *"fatal: cannot write b.geojson; no working file was changed"*"is a directory"* ]]
	cmp a.geojson ../a-before
	[ "$(ls -A)" = $'.umapsync\na.geojson\nb.geojson' ]
	rmdir b.geojson
	run_split "$UMAPSYNC" pull
	assert_success
	[[ $stderr == *'Fast-forward'* ]]
	[ "$(jq -c '[.features[].id]' a.geojson)" = '["a1","a2"]' ]
	[ "$(jq -c '[.features[].id]' b.geojson)" = '["b1"]' ]
}

RULE='a non-empty string of at most 256 bytes without control characters, or an integer within +-(2^53 - 1)'

bad_ids_file() {
	cat <<'JSON'
{"type":"FeatureCollection","properties":{"id":"A"},"features":[
{"type":"Feature","id":"ok123","properties":{},"geometry":null},
{"type":"Feature","id":1.5,"properties":{},"geometry":null},
{"type":"Feature","id":12345678901234567890,"properties":{},"geometry":null},
{"type":"Feature","id":"","properties":{},"geometry":null},
{"type":"Feature","id":9007199254740991,"properties":{},"geometry":null}
]}
JSON
}

@test "sync-client: import names the ids the sync protocol cannot carry, at their lines; push refuses them" {
	start_server
	"$UMAPSYNC" init >/dev/null
	bad_ids_file >a.geojson
	run_split "$UMAPSYNC" import a.geojson
	assert_success
	assert_equal "$stderr" "warning: a.geojson:3: the feature id 1.5 cannot be synced: an id must be $RULE
warning: a.geojson:4: the feature id 12345678901234567000 cannot be synced: an id must be $RULE
warning: a.geojson:5: the feature id \"\" cannot be synced: an id must be $RULE
hint: push refuses these features: before pushing, give them other ids, or remove their \"id\" (commit then assigns new ones)"
	# validate --umap says the same, with the same rule
	run_split "$UMAPSYNC" validate --umap a.geojson
	assert_equal "$status" 1
	[[ $output == *"a.geojson:3:1: error: feature id 1.5 cannot be synced: an id must be $RULE"* ]]
	[[ $output == *"a.geojson:5:1: error: feature id \"\" cannot be synced"* ]]
	[[ $output != *'a.geojson:6:1: error'* ]]
	# and push sends none of it: nothing stuck in an outbox
	"$UMAPSYNC" remote add origin "$BASE/m"
	run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	[[ $stderr == "error: feature 1.5 of layer "*" cannot be pushed: metadata.id must be $RULE"* ]]
	[ ! -e .umapsync/sync/origin.outbox.json ]
	run_split "$UMAPSYNC" push --abort
	assert_equal "$status" 128
}

@test "sync-client: push refuses a committed id the server would refuse, before the outbox" {
	start_server
	"$UMAPSYNC" init >/dev/null
	layer_file A a1 a2 >a.geojson
	"$UMAPSYNC" import a.geojson >/dev/null
	"$UMAPSYNC" remote add origin "$BASE/m"
	"$UMAPSYNC" push 2>/dev/null
	jq -c '.features[1].id = 1.5' a.geojson >a.tmp && mv a.tmp a.geojson
	"$UMAPSYNC" commit -m "a bad id" >/dev/null
	run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	[[ $stderr == "error: feature 1.5 of layer A cannot be pushed: metadata.id must be $RULE"* ]]
	[[ $stderr == *"hint: nothing was sent to 'origin'; change it (e.g. give the feature another id), commit, and push again" ]]
	[ ! -e .umapsync/sync/origin.outbox.json ]
	jq -c '.features[1].id = "a3"' a.geojson >a.tmp && mv a.tmp a.geojson
	"$UMAPSYNC" commit -m "a good id" >/dev/null
	run_split "$UMAPSYNC" push
	assert_success
}

@test "sync-client: push --abort drops a push the server keeps refusing; the next push recomputes it" {
	start_server
	"$UMAPSYNC" token create $(store_opt) --map m --write >full 2>/dev/null
	"$UMAPSYNC" token create $(store_opt) --map m --layer A --write >only-a 2>/dev/null
	mkdir alice
	layer_file A a1 >alice/a.geojson
	layer_file B b1 >alice/b.geojson
	UMAPSYNC_TOKEN=$(cat full) publish alice
	cd alice
	layer_file B b1 b2 >b.geojson
	"$UMAPSYNC" commit -m "b2" >/dev/null
	export UMAPSYNC_TOKEN=$(cat ../only-a)
	run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	[[ $stderr == *'(HTTP 403)'* ]]
	[[ ${stderr##*$'\n'} == "hint: nothing of this batch was applied, and every push resends the same 1 op; fix the cause in a new commit, then drop them with 'umapsync push --abort origin' and push again" ]]
	# stuck: every push resends it, and pull waits for it
	run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	[[ $stderr == 'resending 1 op kept from an unfinished push'* ]]
	run_split "$UMAPSYNC" pull
	assert_equal "$status" 128
	commit=$(git --git-dir=.umapsync rev-parse --short=7 HEAD)
	run_split "$UMAPSYNC" push --abort
	assert_success
	assert_equal "$stderr" "warning: dropped 1 op of commit $commit that 'origin' has not acknowledged
hint: the changes are still in your commits: the next 'umapsync push origin' computes their ops again"
	[ ! -e .umapsync/sync/origin.outbox.json ]
	run_split "$UMAPSYNC" push --abort
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: no unfinished push to 'origin' to abort"
	run_split "$UMAPSYNC" pull
	assert_success
	# with a token that may write layer B, the change goes out after all
	export UMAPSYNC_TOKEN=$(cat ../full)
	run_split "$UMAPSYNC" push
	assert_success
	[[ $stderr == *'1 op acknowledged'* ]]
	cd ..
	"$UMAPSYNC" clone "$BASE/m" bob >/dev/null 2>&1
	[ "$(jq -c '[.features[].id]' bob/b.geojson)" = '["b1","b2"]' ]
}

# ids FILE: the feature ids of a layer file, in order, as one JSON line
ids() {
	jq -c '[.features[].id]' "$1"
}

server_ids() {
	curl -sS --max-time 20 "$BASE/v1/maps/m/snapshot" | jq -c '[.layers[] | select(.id == "L") | .features[].id]'
}

@test "sync-client: after push and pull, every client lists the features in the server's order" {
	start_server
	mkdir c0
	layer_file L f0 f1 >c0/l.geojson
	publish c0
	local i
	for i in 1 2 3 4 5; do
		"$UMAPSYNC" clone "$BASE/m" "c$i" >/dev/null 2>&1
	done
	# each adds a feature where it likes (first, between, last); odd ones pull before
	# pushing (their commit is replayed on what came in), even ones push straight away
	for i in 1 2 3 4 5; do
		cd "c$i"
		case $i in
		1|4) jq --arg id "n$i" '.features = [.features[0] | .id = $id] + .features' l.geojson >t ;;
		2|5) jq --arg id "n$i" '.features = .features[:1] + [.features[0] | .id = $id] + .features[1:]' l.geojson >t ;;
		*) jq --arg id "n$i" '.features += [.features[0] | .id = $id]' l.geojson >t ;;
		esac
		mv t l.geojson
		"$UMAPSYNC" commit -m "n$i" >/dev/null
		if [ $((i % 2)) = 1 ]; then
			"$UMAPSYNC" pull >/dev/null 2>&1
		fi
		run_split "$UMAPSYNC" push
		assert_success
		run_split "$UMAPSYNC" pull
		assert_success
		cd ..
	done
	local want
	want=$(server_ids)
	[ "$want" = '["f0","f1","n1","n2","n3","n4","n5"]' ]
	for i in 0 1 2 3 4 5; do
		(cd "c$i" && "$UMAPSYNC" pull >/dev/null 2>&1)
		echo "c$i: $(ids c$i/l.geojson)"
		[ "$(ids "c$i/l.geojson")" = "$want" ]
		run "$UMAPSYNC" -C "c$i" status
		assert_output $'On branch main\nnothing to commit, working files clean'
	done
	# a fresh clone agrees, and a pull after nothing new changes nothing
	"$UMAPSYNC" clone "$BASE/m" c6 >/dev/null 2>&1
	[ "$(ids c6/l.geojson)" = "$want" ]
	cd c3
	run_split "$UMAPSYNC" pull
	assert_equal "$stderr" "Already up to date."
}

# capacity FILE ID: the capacity property of feature ID
capacity() {
	jq -c --arg id "$2" '.features[] | select(.id == $id) | .properties.capacity' "$1"
}

# set_capacity ID VALUE: in l.geojson of the current directory, then commit
set_capacity() {
	jq --arg id "$1" --argjson v "$2" '(.features[] | select(.id == $id) | .properties.capacity) = $v' l.geojson >t
	mv t l.geojson
	"$UMAPSYNC" commit -m "capacity $2" >/dev/null
}

@test "sync-client: commits record their HLC, and lww weighs when edits were made, not when pushed" {
	start_server
	mkdir alice
	layer_file L f1 >alice/l.geojson
	publish alice
	"$UMAPSYNC" clone "$BASE/m" bob >/dev/null 2>&1
	# alice edits first; bob edits later, whatever the second; alice pushes last
	(cd alice && set_capacity f1 10)
	(cd bob && set_capacity f1 20)
	(cd alice && "$UMAPSYNC" push 2>/dev/null)
	cd bob
	run_split "$UMAPSYNC" pull --strategy=lww
	assert_success
	[ "$(capacity l.geojson f1)" = 20 ]
	[[ $stderr == *'kept 1 local change, 0 overridden'* ]]
	run "$UMAPSYNC" log
	[[ $output =~ Umapsync-HLC:\ [0-9]{13}:[0-9]+:c[0-9a-f]{16} ]]
	# even when git's commit date, in whole seconds, says bob's edit came earlier
	set_capacity f1 21
	cd ../alice
	"$UMAPSYNC" pull --strategy=lww >/dev/null 2>&1
	set_capacity f1 30
	cd ../bob
	GIT_COMMITTER_DATE="@$(($(date +%s) - 1)) +0000" set_capacity f1 40
	(cd ../alice && "$UMAPSYNC" push 2>/dev/null)
	run_split "$UMAPSYNC" pull --strategy=lww
	assert_success
	[ "$(capacity l.geojson f1)" = 40 ]
}

@test "sync-client: three clients edit one key in turn; the last writer wins everywhere" {
	start_server
	mkdir c0
	layer_file L f1 >c0/l.geojson
	publish c0
	local i
	for i in 1 2 3; do
		"$UMAPSYNC" clone "$BASE/m" "c$i" >/dev/null 2>&1
	done
	# edits in the order c1, c2, c3; pushes in the same order, each after a lww pull
	for i in 1 2 3; do
		(cd "c$i" && set_capacity f1 "$i")
	done
	for i in 1 2 3; do
		cd "c$i"
		"$UMAPSYNC" pull --strategy=lww >/dev/null 2>&1
		run_split "$UMAPSYNC" push
		assert_success
		cd ..
	done
	for i in 0 1 2 3; do
		(cd "c$i" && "$UMAPSYNC" pull --strategy=lww >/dev/null 2>&1)
		echo "c$i: $(capacity "c$i/l.geojson" f1)"
		[ "$(capacity "c$i/l.geojson" f1)" = 3 ]
	done
	[ "$(curl -sS "$BASE/v1/maps/m/snapshot" | jq -c '.layers[0].features[0].properties.capacity')" = 3 ]
}
