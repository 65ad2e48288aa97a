#!/usr/bin/env bats
# status during a merge or rebase stopped on conflicts: it says what is in progress, how
# many conflicts are left, and the commands that go on from there, as git status does.

bats_require_minimum_version 1.5.0
load helper

# main and alice both set zP5kR's capacity (45 and 50): merging or rebasing stops.
make_conflict() {
	umapsync init >/dev/null
	cp "$EXAMPLES"/bike-parking.geojson parking.geojson
	umapsync import parking.geojson >/dev/null
	umapsync branch alice
	umapsync checkout alice 2>/dev/null
	cp "$EXAMPLES"/bike-parking-alice.geojson parking.geojson
	sed -i 's/"capacity": *64,/"capacity": 50,/' parking.geojson
	umapsync commit -m "alice: 50" >/dev/null
	umapsync checkout main 2>/dev/null
	cp "$EXAMPLES"/bike-parking-bob.geojson parking.geojson
	sed -i '0,/"capacity": *40,/s//"capacity": 45,/' parking.geojson
	umapsync commit -m "bob: 45" >/dev/null
}

@test "status during a stopped merge says what to do, then that everything is settled" {
	make_conflict
	run umapsync merge alice
	assert_equal "$status" 1
	run_split umapsync status
	assert_success
	assert_equal "$stderr" ""
	assert_output "On branch main
You are merging 'alice'.
You have unresolved conflicts: 1 left.
  (use 'umapsync conflicts' to list them)
  (use 'umapsync resolve ID [KEY] --with=ours|theirs|base|delete' to settle each)
  (then 'umapsync merge --continue' to commit the merge)
  (use 'umapsync merge --abort' to give up the merge and put the working files back)

Changes not committed:
  modified:   parking.geojson (1 added, 0 modified, 0 removed)"
	umapsync resolve zP5kR capacity --with=theirs 2>/dev/null
	run_split umapsync status
	assert_success
	assert_output "On branch main
You are merging 'alice'.
All conflicts are settled.
  (use 'umapsync merge --continue' to commit the merge)
  (use 'umapsync merge --abort' to give up the merge and put the working files back)

Changes not committed:
  modified:   parking.geojson (1 added, 1 modified, 0 removed)"
	umapsync merge --continue >/dev/null
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
}

@test "status during a stopped rebase names the commit and offers --skip" {
	make_conflict
	run umapsync rebase alice
	assert_equal "$status" 1
	local stopped
	stopped=$(git -C .umapsync rev-parse --short=7 main)
	run_split umapsync status
	assert_success
	assert_output "On branch main
You are rebasing branch 'main' onto 'alice', stopped at $stopped \"bob: 45\".
You have unresolved conflicts: 1 left.
  (use 'umapsync conflicts' to list them)
  (use 'umapsync resolve ID [KEY] --with=ours|theirs|base|delete' to settle each)
  (then 'umapsync rebase --continue' to replay this commit and go on)
  (use 'umapsync rebase --skip' to drop this commit)
  (use 'umapsync rebase --abort' to give up the rebase and put the working files back)

Changes not committed:
  modified:   parking.geojson (1 added, 0 modified, 0 removed)"
	umapsync rebase --abort 2>/dev/null
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
}
