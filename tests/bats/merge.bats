#!/usr/bin/env bats
# merge BRANCH in a umapsync repository (SPEC §6): fast-forward, merge commits of edits to
# different keys of one feature, conflicts recorded and listed (text, json, geojson),
# resolve with each side or a value, merge --continue and --abort.

bats_require_minimum_version 1.5.0
load helper

# main: the example layer; branch alice: capacity 40 -> 64 and Perrache added;
# main then: covered -> true and Opéra renamed (Bob). Both touch feature zP5kR.
make_repo() {
	alice_and_bob parking.geojson alice
}

# Bob and Alice both set zP5kR's capacity: 50 on alice, 45 on main.
make_conflict() {
	make_repo
	umapsync checkout alice 2>/dev/null
	sed -i 's/"capacity": *64,/"capacity": 50,/' parking.geojson
	umapsync commit -m "alice: 50" >/dev/null
	umapsync checkout main 2>/dev/null
	sed -i '0,/"capacity": *40,/s//"capacity": 45,/' parking.geojson
	umapsync commit -m "bob: 45" >/dev/null
}

@test "merge of edits to different keys of one feature makes a merge commit" {
	make_repo
	run_split umapsync merge alice
	assert_success
	assert_output --regexp "^\[main [0-9a-f]{7}\] Merge branch 'alice'$"
	run jq -c '.features[] | select(.id == "zP5kR" or .id == "R2dNw" or .id == "k4JrU") | [.id, .properties.name, .properties.capacity, .properties.covered]' parking.geojson
	assert_output '["zP5kR","Bellecour",64,true]
["R2dNw","Perrache",300,true]
["k4JrU","Opéra Nouvel",20,false]'
	run git -C .umapsync rev-list --parents -n 1 HEAD
	assert_equal "$(wc -w <<<"$output")" 3
	run umapsync status
	assert_output --partial "nothing to commit"
	# only the merged lines changed in Bob's file: his formatting is kept
	run diff "$EXAMPLES"/bike-parking-bob.geojson parking.geojson
	assert_equal "$(grep -c '^[<>]' <<<"$output")" 3
}

@test "merge of a branch that is ahead fast-forwards; merging again is up to date" {
	alice_ahead parking.geojson alice
	run umapsync merge alice
	assert_success
	assert_line --index 1 "Fast-forward"
	assert_equal "$(git -C .umapsync rev-parse main)" "$(git -C .umapsync rev-parse alice)"
	assert_equal "$(jq '.features[0].properties.capacity' parking.geojson)" 64
	run umapsync merge alice
	assert_success
	assert_output "Already up to date."
}

@test "a conflicting merge stops, records the conflicts and keeps ours in the file" {
	make_conflict
	head=$(git -C .umapsync rev-parse HEAD)
	run_split umapsync merge alice
	assert_equal "$status" 1
	assert_equal "$output" ""
	assert_equal "$stderr" "CONFLICT (modify/modify) in parking.geojson: feature zP5kR: properties.capacity is 45 in ours, 50 in theirs (base 40)
Automatic merge failed: 1 conflict; the working files keep our side of each.
hint: settle them with 'umapsync resolve ID [KEY] --with=ours|theirs|base|delete' (see 'umapsync conflicts'),
hint: then 'umapsync merge --continue'; or 'umapsync merge --abort'"
	assert_equal "$(git -C .umapsync rev-parse HEAD)" "$head"
	# clean changes of theirs are in; the conflicted key keeps ours
	assert_equal "$(jq -c '[.features[0].properties.capacity, .features[0].properties.covered, (.features | length)]' parking.geojson)" '[45,true,9]'
	[ -f .umapsync/MERGE_STATE ]
}

@test "conflicts lists them as text, json and geojson, and exits 1 while some are left" {
	make_conflict
	umapsync merge alice 2>/dev/null || true
	run_split umapsync conflicts
	assert_equal "$status" 1
	assert_output "CONFLICT (modify/modify) in parking.geojson: feature zP5kR: properties.capacity is 45 in ours, 50 in theirs (base 40)"
	run umapsync conflicts --format=json
	assert_equal "$status" 1
	assert_equal "$(jq -c '.conflicts' <<<"$output")" '[{"path":"parking.geojson","layer":"a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03","id":"zP5kR","key":"properties.capacity","kind":"modify/modify","base":40,"ours":45,"theirs":50}]'
	run umapsync conflicts --format=geojson
	assert_equal "$(jq -c '.features[] | [.id, .properties.capacity, .properties["umapsync:conflicts"][0].theirs, .geometry.type]' <<<"$output")" '["zP5kR",45,50,"Point"]'
}

@test "resolve --with=theirs writes their value; merge --continue commits with both parents" {
	make_conflict
	umapsync merge alice 2>/dev/null || true
	run_split umapsync merge --continue
	assert_equal "$status" 1
	[[ "$stderr" == "error: 1 conflict is not settled yet:"* ]]
	run_split umapsync resolve zP5kR capacity --with=theirs
	assert_success
	assert_output "settled 1 conflict of zP5kR capacity with theirs; 0 left"
	assert_equal "$stderr" "hint: every conflict is settled: run 'umapsync merge --continue'"
	assert_equal "$(jq '.features[0].properties.capacity' parking.geojson)" 50
	run umapsync conflicts
	assert_success
	run_split umapsync merge --continue
	assert_success
	assert_output --regexp "^\[main [0-9a-f]{7}\] Merge branch 'alice'$"
	[ ! -e .umapsync/MERGE_STATE ]
	run git -C .umapsync rev-list --parents -n 1 HEAD
	assert_equal "$(wc -w <<<"$output")" 3
	run umapsync status
	assert_output --partial "nothing to commit"
	run umapsync show HEAD
	assert_success
}

@test "resolve with base, delete and --value" {
	make_conflict
	umapsync merge alice 2>/dev/null || true
	cp .umapsync/MERGE_STATE state.json
	run umapsync resolve zP5kR properties.capacity --with=base
	assert_success
	assert_equal "$(jq '.features[0].properties.capacity' parking.geojson)" 40
	cp state.json .umapsync/MERGE_STATE
	run umapsync resolve zP5kR --with=delete
	assert_success
	assert_equal "$(jq '.features[0].properties | has("capacity")' parking.geojson)" false
	cp state.json .umapsync/MERGE_STATE
	run_split umapsync resolve zP5kR capacity --value=48
	assert_success
	assert_output "settled 1 conflict of zP5kR capacity with the given value; 0 left"
	assert_equal "$(jq '.features[0].properties.capacity' parking.geojson)" 48
}

@test "resolve refuses what is not a conflict and values that are not JSON" {
	make_conflict
	umapsync merge alice 2>/dev/null || true
	run_split umapsync resolve Tn2vB --with=ours
	assert_equal "$status" 1
	assert_equal "$stderr" "error: no unresolved conflict for Tn2vB
hint: 'umapsync conflicts' lists what is left to settle"
	run_split umapsync resolve zP5kR --value='{oops'
	assert_equal "$status" 128
	[[ "$stderr" == "fatal: --value is not JSON: --value:1:"* ]]
	run_split umapsync resolve zP5kR
	assert_equal "$status" 129
	run_split umapsync resolve zP5kR --with=mine
	assert_equal "$status" 129
}

@test "merge --abort puts the working files back byte for byte" {
	make_conflict
	cp parking.geojson before.geojson
	umapsync merge alice 2>/dev/null || true
	run_split umapsync merge --abort
	assert_success
	assert_equal "$stderr" "merge aborted: the working files are as they were before it"
	cmp parking.geojson before.geojson
	[ ! -e .umapsync/MERGE_STATE ]
	run umapsync conflicts
	assert_success
}

@test "merge refuses with uncommitted changes or while a merge is stopped" {
	make_conflict
	sed -i 's/"Jean Macé"/"Jean Mace"/' parking.geojson
	run_split umapsync merge alice
	assert_equal "$status" 1
	assert_equal "$stderr" "error: your changes to these files would be lost by merge:
	parking.geojson
hint: commit them with 'umapsync commit -m MSG' first"
	sed -i 's/"Jean Mace"/"Jean Macé"/' parking.geojson
	umapsync merge alice 2>/dev/null || true
	run_split umapsync merge alice
	assert_equal "$status" 128
	[[ "$stderr" == "fatal: a merge is in progress"* ]]
	run_split umapsync rebase alice
	assert_equal "$status" 128
}

@test "merge --theirs still stops on conflicts, with their values in the files" {
	make_conflict
	run umapsync merge --theirs alice
	assert_equal "$status" 1
	assert_equal "$(jq '.features[0].properties.capacity' parking.geojson)" 50
}

@test "merge with an unknown branch is fatal" {
	make_repo
	run_split umapsync merge nosuch
	assert_equal "$status" 128
	[[ "$stderr" == "fatal: "*"nosuch"* ]]
}

@test "a layer file without layer options merges per feature: its working copy is the tracked layer, not a new one" {
	# RFC 7946 files have no top-level "properties": the repository names the layer, the
	# file does not, and the merge must still see the same layer on both sides
	umapsync init >/dev/null
	jq '{type, features}' "$EXAMPLES/bike-parking.geojson" >parking.geojson
	umapsync import parking.geojson >/dev/null
	umapsync branch alice
	umapsync checkout alice 2>/dev/null
	jq '{type, features}' "$EXAMPLES/bike-parking-alice.geojson" >parking.geojson
	umapsync commit -m alice >/dev/null
	umapsync checkout main 2>/dev/null
	jq '{type, features}' "$EXAMPLES/bike-parking-bob.geojson" >parking.geojson
	umapsync commit -m bob >/dev/null
	run_split umapsync merge alice
	assert_success
	assert_equal "$stderr" ""
	run jq -c '.features[] | select(.id == "zP5kR" or .id == "R2dNw") | [.id, .properties.capacity, .properties.covered]' parking.geojson
	assert_output '["zP5kR",64,true]
["R2dNw",300,true]'
	run_split umapsync status
	assert_output --partial "nothing to commit, working files clean"
}
