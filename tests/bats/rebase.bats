#!/usr/bin/env bats
# rebase UPSTREAM (SPEC §6): local commits replayed per feature and key onto upstream, with
# ours = the local commit and theirs = upstream; stops on conflicts; --continue, --skip,
# --abort; fast-forward and up-to-date cases.

bats_require_minimum_version 1.5.0
load helper

# upstream: Alice's edit (capacity 64, Perrache). main: Bob's edit, then a rename.
make_repo() {
	alice_and_bob p.geojson upstream
	sed -i 's/"Saxe-Gambetta"/"Saxe Gambetta"/' p.geojson
	umapsync commit -m "bob: Saxe Gambetta" >/dev/null
}

# then upstream sets zP5kR's capacity to 70 and main to 80 (conflict), and main changes
# Tn2vB's capacity in a later commit
make_conflict() {
	make_repo
	umapsync checkout upstream 2>/dev/null
	sed -i 's/"capacity": *64,/"capacity": 70,/' p.geojson
	umapsync commit -m "upstream: 70" >/dev/null
	umapsync checkout main 2>/dev/null
	sed -i '0,/"capacity": *40,/s//"capacity": 80,/' p.geojson
	umapsync commit -m "local: 80" >/dev/null
	sed -i 's/"capacity": *1500,/"capacity": 1600,/' p.geojson
	umapsync commit -m "local: 1600" >/dev/null
}

subjects() {
	git -C .umapsync log --format=%s "$@"
}

@test "rebase replays local commits onto upstream, merging keys of one feature" {
	make_repo
	up=$(git -C .umapsync rev-parse upstream)
	run_split umapsync rebase upstream
	assert_success
	assert_output "Successfully rebased and updated refs/heads/main."
	run subjects
	assert_output "bob: Saxe Gambetta
bob: covered, Opéra
alice
Import p.geojson"
	assert_equal "$(git -C .umapsync rev-parse main~2)" "$up"
	run jq -c '[.features[0].properties.capacity, .features[0].properties.covered, .features[6].properties.name, (.features | length)]' p.geojson
	assert_output '[64,true,"Saxe Gambetta",9]'
	run umapsync status
	assert_output --partial "nothing to commit"
}

@test "rebase stops on a conflict: ours is the local commit, theirs upstream" {
	make_conflict
	run_split umapsync rebase upstream
	assert_equal "$status" 1
	[[ "$stderr" =~ ^"CONFLICT (modify/modify) in p.geojson: feature zP5kR: properties.capacity is 80 in ours, 70 in theirs (base 40)
could not apply "[0-9a-f]{7}"... local: 80
hint: ours is your commit, theirs the upstream; the working files keep ours on each conflict" ]]
	assert_equal "$(jq '.features[0].properties.capacity' p.geojson)" 80
	run umapsync conflicts --format=json
	assert_equal "$(jq -c '.conflicts[0] | [.id, .kind, .base, .ours, .theirs]' <<<"$output")" '["zP5kR","modify/modify",40,80,70]'
}

@test "rebase --continue after resolve finishes the replay" {
	make_conflict
	umapsync rebase upstream 2>/dev/null || true
	run_split umapsync rebase --continue
	assert_equal "$status" 1
	[[ "$stderr" == "error: 1 conflict is not settled yet:"* ]]
	umapsync resolve zP5kR capacity --value=75 >/dev/null 2>&1
	run_split umapsync rebase --continue
	assert_success
	assert_output "Successfully rebased and updated refs/heads/main."
	run subjects
	assert_output "local: 1600
local: 80
bob: Saxe Gambetta
bob: covered, Opéra
upstream: 70
alice
Import p.geojson"
	run jq -c '[.features[0].properties.capacity, .features[1].properties.capacity]' p.geojson
	assert_output '[75,1600]'
	[ ! -e .umapsync/MERGE_STATE ]
	run umapsync status
	assert_output --partial "nothing to commit"
}

@test "a commit whose changes settle to upstream's is dropped" {
	make_conflict
	umapsync rebase upstream 2>/dev/null || true
	umapsync resolve zP5kR capacity --with=theirs >/dev/null 2>&1
	run_split umapsync rebase --continue
	assert_success
	[[ "$stderr" == "nothing left of that commit after settling: dropped" ]]
	run subjects -2
	assert_output "local: 1600
bob: Saxe Gambetta"
}

@test "rebase --skip drops the stopped commit and goes on" {
	make_conflict
	umapsync rebase upstream 2>/dev/null || true
	run_split umapsync rebase --skip
	assert_success
	run subjects -2
	assert_output "local: 1600
bob: Saxe Gambetta"
	run jq -c '[.features[0].properties.capacity, .features[1].properties.capacity]' p.geojson
	assert_output '[70,1600]'
}

@test "rebase --abort leaves the branch and the working files as they were" {
	make_conflict
	head=$(git -C .umapsync rev-parse main)
	cp p.geojson before.geojson
	umapsync rebase upstream 2>/dev/null || true
	run_split umapsync rebase --abort
	assert_success
	assert_equal "$stderr" "rebase aborted: the branch and the working files are as they were before it"
	assert_equal "$(git -C .umapsync rev-parse main)" "$head"
	cmp p.geojson before.geojson
	[ ! -e .umapsync/MERGE_STATE ]
}

@test "merge --continue or --abort in a stopped rebase names the command to use, and keeps it" {
	make_conflict
	umapsync rebase upstream 2>/dev/null || true
	for verb in --continue --abort; do
		run_split umapsync merge $verb
		assert_equal "$status" 128
		assert_equal "$stderr" "fatal: a rebase is in progress, not a merge: use 'umapsync rebase --continue' or '--abort'"
	done
	run_split umapsync rebase --abort
	assert_success
	umapsync checkout upstream 2>/dev/null
	sed -i 's/"capacity": *70,/"capacity": 75,/' p.geojson
	umapsync commit -m "upstream: 75" >/dev/null
	umapsync checkout main 2>/dev/null
	umapsync merge upstream 2>/dev/null || true
	run_split umapsync rebase --skip
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: a merge is in progress, not a rebase: use 'umapsync merge --continue' or '--abort'"
	[ -e .umapsync/MERGE_STATE ]
}

@test "rebase when up to date, and a fast-forward" {
	make_repo
	run umapsync rebase main~1
	assert_success
	assert_output "Current branch main is up to date."
	umapsync branch old main~2
	umapsync checkout old 2>/dev/null
	run umapsync rebase main
	assert_success
	assert_output "Fast-forwarded old to main."
	assert_equal "$(git -C .umapsync rev-parse old)" "$(git -C .umapsync rev-parse main)"
	cmp p.geojson <(umapsync export main p.geojson) || assert_equal "$(jq -S . p.geojson)" "$(umapsync export main p.geojson | jq -S .)"
}
