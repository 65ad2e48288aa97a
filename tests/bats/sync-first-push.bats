#!/usr/bin/env bats
# The first push of new layers writes its ops from the features' bytes, without a diff: the
# same ops, in the same order, as the general path (UMAPSYNC_PUSH_GENERAL=1), the same
# refusals, and the same files on the other side.

bats_require_minimum_version 1.5.0
load helper
load sync_helper

RULE='a non-empty string of at most 256 bytes without control characters, or an integer within +-(2^53 - 1)'

# features PREFIX N: N point features with ids PREFIX0.. on one line each, comma-separated
features() {
	awk -v p="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++)
		printf "%s{\"type\":\"Feature\",\"id\":\"%s%d\",\"properties\":{\"n\":%d},\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.8,45.%d]}}\n", i ? "," : "", p, i, i, i }'
}

# make_map DIR: a repository with a group-layer map, an id-less layer, odd ids and numbers,
# and layers whose features span two slices of 5000 with the file order not the id order
make_map() {
	mkdir "$1"
	cd "$1"
	"$UMAPSYNC" init >/dev/null
	cp "$FIXTURES/umap/group_layers.umap" map.umap
	cp "$FIXTURES/repo/no-ids.geojson" idless.geojson
	{ printf '{"type":"FeatureCollection","properties":{"id":"zz"},"features":[\n'; features z 5003; printf ']}\n'; } >big.geojson
	cat >odd.geojson <<'EOF'
{"type":"FeatureCollection","properties":{"id":"aa","name":"Odd"},"features":[
{"type":"Feature","id":7,"properties":{"zero":-0,"big":12345678901234567890,"exp":1E3,"real":4.8320},"geometry":{"type":"LineString","coordinates":[[4.8,45.7],[4.9,45.8]]}},
{"type":"Feature","id":-3,"properties":{"ctl":"a\u0001b","accent":"\u00e9t\u00e9","quote":"say \"hi\""},"geometry":null},
{"geometry":{"type":"Polygon","coordinates":[[[4.8,45.7],[4.9,45.7],[4.9,45.8],[4.8,45.7]]]},"properties":{},"type":"Feature","id":"key order"},
{"type":"Feature","id":"a\"b","properties":{"type":"Feature","geometry":{"type":"Point"}},"geometry":{"type":"GeometryCollection","geometries":[]}},
{"type":"Feature","id":"\u00e9","geometry":{"coordinates":[4.8,45.7],"type":"MultiPoint"}},
{"type":"Feature","id":0,"properties":{"nested":{"a":[1,{"b":null}],"c":true}},"geometry":{"type":"MultiLineString","coordinates":[]}},
{"type":"Feature","id":"p","properties":null,"geometry":{"type":"MultiPolygon","coordinates":[]}}
]}
EOF
	{ printf '{"type":"FeatureCollection","properties":{"id":"mm"},"features":[\n'; features m 3; printf ']}\n'; } >middle.geojson
	"$UMAPSYNC" import big.geojson map.umap idless.geojson odd.geojson middle.geojson >/dev/null 2>&1
	cd ..
}

# outbox_of DIR: the ops DIR's outbox holds, op ids and clocks left out, then the op ids'
# numbers
outbox_of() {
	jq -c '.ops[] | del(.op_id, .hlc)' "$1/.umapsync/sync/origin.outbox.json"
	jq -r '.ops[].op_id | sub("^[^-]*-"; "")' "$1/.umapsync/sync/origin.outbox.json"
}

@test "sync-first-push: the first push's ops are the general path's, in its order" {
	start_server
	# a token for another map: the push is refused (403) and its outbox kept, to compare
	other=$("$UMAPSYNC" token create $(store_opt) --map other --write 2>/dev/null)
	make_map fast
	cp -a fast general
	cp -a fast blobs
	touch blobs/big.geojson blobs/odd.geojson # the stat index no longer vouches: read from the blobs
	for d in fast general blobs; do
		(cd $d && "$UMAPSYNC" remote add origin "$BASE/m")
	done
	cd fast
	UMAPSYNC_TOKEN=$other run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	[[ $stderr == *'(HTTP 403)'* ]]
	cd ../general
	UMAPSYNC_PUSH_GENERAL=1 UMAPSYNC_TOKEN=$other run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	cd ../blobs
	UMAPSYNC_TOKEN=$other run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	cd ..
	outbox_of general >general.ops
	outbox_of fast >fast.ops
	outbox_of blobs >blobs.ops
	# 4 map updates, 9 layer upserts, 5003 + 5 + 3 + 7 + 3 features; op ids numbered alike
	assert_equal "$(grep -c '^{' general.ops)" 5034
	assert_equal "$(grep -vc '^{' general.ops)" 5034
	cmp general.ops fast.ops
	cmp general.ops blobs.ops
	# the slices: the layers by id (the map's and the id-less one's UUIDs, aa, mm, zz) cut
	# after 5000 features, each slice in the diff's layer order (the files': zz first)
	assert_equal "$(grep '^{' fast.ops | jq -r 'select(.subject == "feature") | .metadata.layerId' | uniq -c |
		awk '{ printf "%s %s ", $1, ($2 ~ /^(aa|mm|zz)$/ ? $2 : "uuid") }')" "4982 zz 2 uuid 1 uuid 1 uuid 1 uuid 3 uuid 7 aa 3 mm 21 zz "
	# the spellings a tree writes otherwise: -0 as 0, a long integer as its double
	assert_equal "$(grep '^{' fast.ops | jq -c 'select(.metadata.id == 7) | .value.properties | [.zero, .big]')" '[0,12345678901234567000]'
	grep -q '"zero":0,"big":12345678901234567000,"exp":1000,"real":4.832' fast.ops
}

@test "sync-first-push: a first push and a general push give the same files to a clone" {
	start_server
	make_map fast
	cp -a fast general
	(cd fast && "$UMAPSYNC" remote add origin "$BASE/one" && "$UMAPSYNC" push 2>/dev/null)
	(cd general && "$UMAPSYNC" remote add origin "$BASE/two" && UMAPSYNC_PUSH_GENERAL=1 "$UMAPSYNC" push 2>/dev/null)
	"$UMAPSYNC" clone "$BASE/one" one >/dev/null 2>&1
	"$UMAPSYNC" clone "$BASE/two" two >/dev/null 2>&1
	diff -r -x .umapsync one two
	[ "$(ls one | wc -l)" -ge 5 ]
	# and the pusher is in step with the server
	cd fast
	run_split "$UMAPSYNC" pull
	assert_success
	run "$UMAPSYNC" status
	assert_output $'On branch main\nnothing to commit, working files clean'
}

@test "sync-first-push: a bad id past the first slices is refused as before, and nothing is kept" {
	start_server
	mkdir a && cd a
	"$UMAPSYNC" init >/dev/null
	{ printf '{"type":"FeatureCollection","properties":{"id":"L"},"features":[\n'; features f 12000
	  printf ',{"type":"Feature","id":1.5,"properties":{},"geometry":null}]}\n'; } >a.geojson
	"$UMAPSYNC" import a.geojson >/dev/null 2>&1
	"$UMAPSYNC" remote add origin "$BASE/m"
	cp .umapsync/sync/origin.json state-before 2>/dev/null || true
	run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	assert_equal "$stderr" "error: feature 1.5 of layer L cannot be pushed: metadata.id must be $RULE
hint: nothing was sent to 'origin'; change it (e.g. give the feature another id), commit, and push again"
	[ ! -e .umapsync/sync/origin.outbox.json ]
	UMAPSYNC_PUSH_GENERAL=1 run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	assert_equal "$stderr" "error: feature 1.5 of layer L cannot be pushed: metadata.id must be $RULE
hint: nothing was sent to 'origin'; change it (e.g. give the feature another id), commit, and push again"
	[ "$(curl -s "$BASE/v1/maps/m/pull?since=0" | jq '.ops | length')" = 0 ]
}

@test "sync-first-push: a first push cut off after a batch resends the rest and the clone agrees" {
	start_server
	scoped=$("$UMAPSYNC" token create $(store_opt) --map m --write --layer L 2>/dev/null)
	full=$("$UMAPSYNC" token create $(store_opt) --map m --write 2>/dev/null)
	mkdir a && cd a
	"$UMAPSYNC" init >/dev/null
	# layer L (12000 features) goes out first; M, refused to the scoped token, last
	{ printf '{"type":"FeatureCollection","properties":{"id":"L"},"features":[\n'; features f 12000; printf ']}\n'; } >l.geojson
	{ printf '{"type":"FeatureCollection","properties":{"id":"M"},"features":[\n'; features g 2; printf ']}\n'; } >m.geojson
	"$UMAPSYNC" import l.geojson m.geojson >/dev/null 2>&1
	"$UMAPSYNC" remote add origin "$BASE/m"
	UMAPSYNC_TOKEN=$scoped run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	[[ $stderr == *"this token cannot write layer 'M'"* ]]
	sent=$(jq .sent .umapsync/sync/origin.outbox-sent.json)
	[ "$sent" -ge 5000 ]
	UMAPSYNC_TOKEN=$full run_split "$UMAPSYNC" push
	assert_success
	[[ $stderr == "resending $((12004 - sent)) ops kept from an unfinished push"* ]]
	cd ..
	UMAPSYNC_TOKEN=$full "$UMAPSYNC" clone "$BASE/m" b >/dev/null 2>&1
	# the features as pushed, in their order (the clone writes uMap's layout)
	for f in l m; do
		cmp <(jq -c '.features[]' a/$f.geojson) <(jq -c '.features[]' b/$f.geojson)
	done
}

@test "sync-first-push: an outbox in another layout is still resent, and a damaged one named" {
	start_server
	scoped=$("$UMAPSYNC" token create $(store_opt) --map m --write --layer L 2>/dev/null)
	full=$("$UMAPSYNC" token create $(store_opt) --map m --write 2>/dev/null)
	mkdir a && cd a
	"$UMAPSYNC" init >/dev/null
	{ printf '{"type":"FeatureCollection","properties":{"id":"L"},"features":[\n'; features f 2; printf ']}\n'; } >l.geojson
	{ printf '{"type":"FeatureCollection","properties":{"id":"M"},"features":[\n'; features g 1; printf ']}\n'; } >m.geojson
	"$UMAPSYNC" import l.geojson m.geojson >/dev/null 2>&1
	"$UMAPSYNC" remote add origin "$BASE/m"
	UMAPSYNC_TOKEN=$scoped run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	# refused whole (one batch): all 5 ops wait; indented by hand, they are read as JSON
	jq . .umapsync/sync/origin.outbox.json >ob.tmp && mv ob.tmp .umapsync/sync/origin.outbox.json
	UMAPSYNC_TOKEN=$scoped run_split "$UMAPSYNC" push --abort
	assert_success
	[[ $stderr == "warning: dropped 5 ops of commit "* ]]
	UMAPSYNC_TOKEN=$scoped run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	jq -c . .umapsync/sync/origin.outbox.json >ob.tmp && mv ob.tmp .umapsync/sync/origin.outbox.json
	UMAPSYNC_TOKEN=$full run_split "$UMAPSYNC" push
	assert_success
	[[ $stderr == 'resending 5 ops kept from an unfinished push'* ]]
	# a cut-off outbox is damaged, and said to be
	{ printf '{"type":"FeatureCollection","properties":{"id":"M"},"features":[\n'; features g 2; printf ']}\n'; } >m.geojson
	"$UMAPSYNC" commit -m "a second in M" >/dev/null
	UMAPSYNC_TOKEN=$scoped run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	head -c 40 .umapsync/sync/origin.outbox.json >ob.tmp && mv ob.tmp .umapsync/sync/origin.outbox.json
	UMAPSYNC_TOKEN=$full run_split "$UMAPSYNC" push
	assert_equal "$status" 128
	[[ $stderr == "fatal: reading "*"origin.outbox.json"* ]]
}

@test "sync-first-push: a layer over a feature limit lowered since its commit is sent from its blobs" {
	start_server
	mkdir a && cd a
	"$UMAPSYNC" init >/dev/null
	{ printf '{"type":"FeatureCollection","properties":{"id":"L"},"features":[\n'; features f 30; printf ']}\n'; } >l.geojson
	"$UMAPSYNC" import l.geojson >/dev/null 2>&1
	"$UMAPSYNC" remote add origin "$BASE/m"
	UMAPSYNC_MAX_FEATURES=10 run_split "$UMAPSYNC" push
	assert_success
	[[ $stderr == *'31 ops acknowledged'* ]]
}
