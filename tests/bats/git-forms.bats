#!/usr/bin/env bats
# The forms a git user types, adapted to features (issue 20): diff FILE, diff REV FILE,
# diff A B -- PATH, REV:PATH, @ and @~N, status FILE, commit FILE..., commit through an
# editor, log -N/-p/--stat/A..B, show --stat; and the undo, branch and file commands.
# Each test is a scenario with the exact output or state expected, as in git's t/.

bats_require_minimum_version 1.5.0
load helper

export GIT_AUTHOR_DATE="@1700000000 +0000"

# two_files and parking_version are in helper.bash (rm-mv.bats uses them too).

# Renames b7TzP in the map.
edit_lyon() {
	jq '.layers[0].features[1].properties.name = "Rue Garibaldi (north)"' lyon.umap >edited
	mv edited lyon.umap
}

ALICE_DIFF='added feature R2dNw "Perrache"
  + name: "Perrache"
  + capacity: 300
  + covered: true
  + operator: "SNCF"
  + geometry: Point, 1 vertex

modified feature zP5kR "Bellecour"
  ~ capacity: 40 → 64'

LYON_STAT=' Bike lanes | 0 added, 0 removed, 1 modified
 0 added, 0 removed, 1 modified, 13 unchanged'

PARKING_STAT=' Bike parking | 1 added, 0 removed, 1 modified
 1 added, 0 removed, 1 modified, 7 unchanged'

@test "diff FILE and diff REV FILE compare one tracked file with HEAD or REV" {
	two_files
	parking_version bike-parking-alice
	edit_lyon
	run_split umapsync diff parking.geojson
	assert_success
	assert_output "$ALICE_DIFF"
	run umapsync diff HEAD lyon.umap --stat
	assert_output "$LYON_STAT"
	run umapsync diff @ parking.geojson --stat
	assert_output "$PARKING_STAT"
	mkdir sub && cd sub
	run umapsync diff ../parking.geojson --stat
	assert_output "$PARKING_STAT"
}

@test "diff A B -- PATH, REV:PATH, @ and @~N limit a revision diff to one file" {
	two_files
	parking_version bike-parking-alice
	edit_lyon
	umapsync commit -m both >/dev/null
	run umapsync diff --stat HEAD~1 HEAD -- parking.geojson
	assert_success
	assert_output "$PARKING_STAT"
	run umapsync diff --stat @~1 @ -- lyon.umap
	assert_output "$LYON_STAT"
	run umapsync diff HEAD~1:parking.geojson HEAD:parking.geojson
	assert_output "$ALICE_DIFF"
	run umapsync diff @~1:lyon.umap --stat
	assert_output "$LYON_STAT"
	# the whole diff still has both
	run umapsync diff @~ @ --stat
	assert_output " Bike lanes   | 0 added, 0 removed, 1 modified
 Bike parking | 1 added, 0 removed, 1 modified
 1 added, 0 removed, 2 modified, 20 unchanged"
}

@test "show REV:PATH and export REV:PATH print the file as committed" {
	two_files
	parking_version bike-parking-alice
	umapsync commit -m alice >/dev/null
	umapsync show HEAD~1:parking.geojson >old.geojson
	umapsync export @~1:parking.geojson -o old2.geojson
	cmp old.geojson old2.geojson
	parking_version bike-parking
	umapsync diff --exit-code old.geojson parking.geojson
	run_split umapsync show HEAD:nope.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: path 'nope.geojson' is not tracked in 'HEAD'"
}

@test "a path that names no file says so, not 'unknown revision'" {
	two_files
	run_split umapsync diff nope.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'nope.geojson': no such file"
	run_split umapsync diff HEAD -- sub/nope
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'sub/nope': no such file"
	run_split umapsync status nope.umap
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'nope.umap': no such file"
	run_split umapsync log nope.umap
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'nope.umap': no such file"
	run_split umapsync commit -m x nope.umap
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'nope.umap': no such file"
	# a word that is no revision is still an unknown revision
	run_split umapsync diff nope HEAD
	assert_equal "$stderr" "fatal: unknown revision 'nope'"
}

@test "status FILE lists only that file" {
	two_files
	parking_version bike-parking-alice
	edit_lyon
	run umapsync status parking.geojson
	assert_success
	assert_output "On branch main
Changes not committed:
  modified:   parking.geojson (1 added, 1 modified, 0 removed)"
	run umapsync status
	assert_output "On branch main
Changes not committed:
  modified:   lyon.umap (0 added, 1 modified, 0 removed)
  modified:   parking.geojson (1 added, 1 modified, 0 removed)"
}

@test "commit FILE records that file only; the others stay changed" {
	two_files
	parking_version bike-parking-alice
	edit_lyon
	run umapsync commit -m alice parking.geojson
	assert_success
	assert_output "[main $(git --git-dir=.umapsync rev-parse --short=7 HEAD)] alice
 1 added, 1 modified, 0 removed"
	run umapsync status
	assert_output "On branch main
Changes not committed:
  modified:   lyon.umap (0 added, 1 modified, 0 removed)"
	run umapsync show --stat
	assert_line " Bike parking | 1 added, 0 removed, 1 modified"
	refute_line --partial "Bike lanes"
	cp lyon.umap other.geojson
	run_split umapsync commit -m x other.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'other.geojson' is not tracked
hint: start tracking it with 'umapsync import other.geojson'"
}

@test "commit without -m opens the editor on a template; an empty message aborts" {
	two_files
	parking_version bike-parking-alice
	cat >"$TEST_DIR/editor" <<'SH'
#!/bin/sh
cp "$1" "$TEST_DIR/template"
printf 'Alice counts Bellecour\n\nBody line.  \n# a comment\n\n' >"$1"
SH
	chmod +x "$TEST_DIR/editor"
	export TEST_DIR
	run env -u GIT_EDITOR -u VISUAL EDITOR="$TEST_DIR/editor" "$UMAPSYNC" commit
	assert_success
	assert_line --index 0 --partial "] Alice counts Bellecour"
	[ "$(git --git-dir=.umapsync log -1 --format=%B)" = "Alice counts Bellecour

Body line." ]
	assert_equal "$(cat template)" "
# Please enter the commit message for your changes. Lines starting
# with '#' will be ignored, and an empty message aborts the commit.
#
# On branch main
# Changes to be committed:
#	modified:   parking.geojson (1 added, 1 modified, 0 removed)"
	# GIT_EDITOR comes before VISUAL and EDITOR, and may hold arguments
	edit_lyon
	run_split env GIT_EDITOR="sed -i 1s/^/Rename/" VISUAL=false EDITOR=false "$UMAPSYNC" commit
	assert_success
	[ "$(git --git-dir=.umapsync log -1 --format=%s)" = Rename ]
	# an empty message (only comments) aborts, and nothing is committed
	jq '.layers[0].features[1].properties.name = "Rue Garibaldi (south)"' lyon.umap >e && mv e lyon.umap
	head=$(git --git-dir=.umapsync rev-parse HEAD)
	run_split env GIT_EDITOR=true "$UMAPSYNC" commit
	assert_equal "$status" 1
	assert_equal "$stderr" "Aborting commit due to empty commit message."
	[ "$(git --git-dir=.umapsync rev-parse HEAD)" = "$head" ]
	run_split env GIT_EDITOR=false "$UMAPSYNC" commit
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: there was a problem with the editor 'false'; commit with -m MSG instead"
}

@test "log -N, log A..B, log -p and log --stat" {
	two_files
	parking_version bike-parking-alice
	umapsync commit -m alice >/dev/null
	edit_lyon
	umapsync commit -m garibaldi >/dev/null
	run umapsync log --format=oneline -2
	assert_output "$(git --git-dir=.umapsync log --format='%h %s' -2)"
	run umapsync log --oneline HEAD~2..HEAD~1
	assert_output "$(git --git-dir=.umapsync log --format='%h %s' -1 HEAD~1)"
	run umapsync log --oneline HEAD~1..
	assert_output "$(git --git-dir=.umapsync log --format='%h %s' -1)"
	run umapsync log --oneline --stat -1
	assert_output "$(git --git-dir=.umapsync log --format='%h %s' -1)

 Bike lanes | 0 added, 0 removed, 1 modified
 0 added, 0 removed, 1 modified, 22 unchanged"
	run umapsync log -p -1 HEAD~1
	assert_output "commit $(git --git-dir=.umapsync rev-parse HEAD~1)
Author: Test User <test@example.org>
Date:   Tue Nov 14 22:13:20 2023 +0000

    alice

$(echo "$ALICE_DIFF" | sed 's/^\(.*feature .*"\)$/\1 in layer "Bike parking"/')"
	run umapsync show --stat HEAD~1
	assert_line "$(echo "$PARKING_STAT" | head -1)"
}

@test "log --feature of a feature that never existed exits 128 and says so" {
	two_files
	run_split umapsync log --feature NOPE
	assert_equal "$status" 128
	assert_equal "$output" ""
	assert_equal "$stderr" "fatal: feature 'NOPE' never existed in the history of HEAD"
	run umapsync log --feature zP5kR --oneline
	assert_success
	assert_output "$(git --git-dir=.umapsync log --format='%h %s' -1)"
}

# ---- Undo: restore, reset, revert, cherry-pick, reflog --------------------------------

# parking.geojson: "import", then "alice" (Bellecour 40 -> 64, Perrache added).
parking_history() {
	parking_version bike-parking
	umapsync init >/dev/null
	umapsync import parking.geojson >/dev/null
	parking_version bike-parking-alice
	umapsync commit -m alice >/dev/null
}

@test "restore throws a change away, brings a deleted file back, and takes --source" {
	parking_history
	parking_version bike-parking-bob
	run_split umapsync restore parking.geojson
	assert_success
	assert_output ""
	cmp parking.geojson <(umapsync export HEAD parking.geojson) # the bytes export gives
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	rm parking.geojson
	umapsync restore parking.geojson
	umapsync diff --exit-code HEAD parking.geojson
	umapsync restore --source=@~1 parking.geojson
	run umapsync diff --stat
	assert_output " Bike parking | 0 added, 1 removed, 1 modified
 0 added, 1 removed, 1 modified, 7 unchanged"
	[ "$(git --git-dir=.umapsync rev-list --count HEAD)" = 2 ]
	run_split umapsync restore nope.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'nope.geojson': no such file"
}

@test "reset --hard moves the branch and the files; HEAD@{1} and the reflog undo it" {
	parking_history
	alice=$(git --git-dir=.umapsync rev-parse --short=7 HEAD)
	import=$(git --git-dir=.umapsync rev-parse --short=7 HEAD~1)
	parking_version bike-parking-bob
	run umapsync reset --hard @~1
	assert_success
	assert_output "HEAD is now at $import Import parking.geojson"
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	parking_version bike-parking
	umapsync diff --exit-code HEAD parking.geojson
	run umapsync reflog
	assert_output "$import HEAD@{0}: reset: moving to @~1
$alice HEAD@{1}: commit: alice
$import HEAD@{2}: commit (initial): Import parking.geojson"
	run umapsync reset --hard HEAD@{1}
	assert_output "HEAD is now at $alice alice"
	run umapsync reflog -n 1 main
	assert_output "$alice main@{0}: reset: moving to HEAD@{1}"
}

@test "reset --soft and --mixed keep the working files and list what differs" {
	parking_history
	run umapsync reset --soft HEAD~1
	assert_success
	assert_output "Changes not committed after reset:
M	parking.geojson"
	[ "$(git --git-dir=.umapsync rev-list --count HEAD)" = 1 ]
	run umapsync diff --stat
	assert_output "$PARKING_STAT"
	umapsync commit -m again >/dev/null
	run umapsync reset HEAD@{1}
	assert_output "Changes not committed after reset:
M	parking.geojson"
}

@test "revert makes a commit that undoes another's feature changes and keeps later ones" {
	parking_history
	# a later change to another feature stays
	jq '(.features[] | select(.id == "Tn2vB") | .properties.capacity) = 301' parking.geojson >e
	mv e parking.geojson
	umapsync commit -m perrache >/dev/null
	run umapsync revert HEAD~1
	assert_success
	assert_output "[main $(git --git-dir=.umapsync rev-parse --short=7 HEAD)] Revert \"alice\""
	[ "$(git --git-dir=.umapsync log -1 --format=%B)" = "Revert \"alice\"

This reverts commit $(git --git-dir=.umapsync rev-parse HEAD~2)." ]
	[ "$(git --git-dir=.umapsync rev-list --parents -1 HEAD | wc -w)" = 2 ]
	# Perrache, added by alice, is gone; Bellecour is back to 40; Tn2vB keeps 301
	run umapsync diff @~3 @ --stat
	assert_output " Bike parking | 0 added, 0 removed, 1 modified
 0 added, 0 removed, 1 modified, 7 unchanged"
	[ "$(umapsync export HEAD parking.geojson | jq -c '[.features[] | [.id, .properties.capacity]]')" = \
	  '[["zP5kR",40],["Tn2vB",301],["c8YfG",24],["Ld6mQ",120],["Ve1xW",16],["g3HsN",60],["Yq7bE",32],["k4JrU",20]]' ]
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
}

@test "revert stops on a SPEC 6 conflict; resolve and --continue commit it with one parent" {
	parking_history
	jq '(.features[] | select(.id == "zP5kR") | .properties.capacity) = 70' parking.geojson >e
	mv e parking.geojson
	umapsync commit -m seventy >/dev/null
	run_split umapsync revert HEAD~1
	assert_equal "$status" 1
	assert_equal "$(echo "$stderr" | head -2)" "CONFLICT (modify/modify) in parking.geojson: feature zP5kR: properties.capacity is 70 in ours, 40 in theirs (base 64)
error: could not revert $(git --git-dir=.umapsync rev-parse --short=7 HEAD~1): 1 conflict; the working files keep our side of each."
	run umapsync conflicts --format=json
	[ "$(echo "$output" | jq -r '.conflicts[0].id')" = zP5kR ]
	run umapsync status
	assert_line --index 1 --partial "You are merging 'revert of"
	run umapsync revert --abort
	assert_success
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	run_split umapsync revert HEAD~1
	umapsync resolve zP5kR capacity --with=theirs >/dev/null
	run umapsync revert --continue
	assert_success
	[ "$(git --git-dir=.umapsync rev-list --parents -1 HEAD | wc -w)" = 2 ]
	run umapsync diff @~3 @
	assert_output ""
}

@test "cherry-pick makes another branch's commit on HEAD" {
	parking_version bike-parking
	umapsync init >/dev/null
	umapsync import parking.geojson >/dev/null
	umapsync branch other
	umapsync checkout other 2>/dev/null
	parking_version bike-parking-alice
	umapsync commit -m alice >/dev/null
	umapsync checkout main 2>/dev/null
	run umapsync cherry-pick other
	assert_success
	assert_output "[main $(git --git-dir=.umapsync rev-parse --short=7 HEAD)] alice"
	run umapsync diff --stat @~1 @
	assert_output "$PARKING_STAT"
	run umapsync cherry-pick other
	assert_equal "$status" 1
	assert_output "nothing to commit: the changes of $(git --git-dir=.umapsync rev-parse --short=7 other) are already there"
}

# ---- Branches and tags ------------------------------------------------------------------

@test "branch -d refuses the current and unmerged branches; -D deletes; -m renames" {
	parking_history
	umapsync branch old HEAD~1
	umapsync branch ahead
	umapsync switch ahead 2>/dev/null
	parking_version bike-parking-bob
	umapsync commit -m bob >/dev/null
	run_split umapsync branch -d ahead
	assert_equal "$status" 1
	assert_equal "$stderr" "error: cannot delete branch 'ahead': it is the current branch
hint: switch to another branch first ('umapsync switch BRANCH')"
	umapsync switch main 2>/dev/null
	run_split umapsync branch -d ahead
	assert_equal "$status" 1
	assert_equal "$stderr" "error: the branch 'ahead' is not fully merged
hint: if you are sure you want to delete it, run 'umapsync branch -D ahead'"
	run umapsync branch -d old
	assert_success
	assert_output "Deleted branch old (was $(git --git-dir=.umapsync rev-parse --short=7 HEAD~1))."
	tip=$(git --git-dir=.umapsync rev-parse --short=7 ahead)
	run umapsync branch -D ahead
	assert_output "Deleted branch ahead (was $tip)."
	run umapsync branch -m trunk
	assert_success
	run umapsync branch
	assert_output "* trunk"
	run umapsync status
	assert_line --index 0 "On branch trunk"
	run umapsync branch -d nope
	assert_equal "$status" 1
}

@test "checkout -b and switch -c make a branch and go to it; switch wants a branch" {
	parking_history
	run_split umapsync checkout -b survey
	assert_success
	assert_equal "$stderr" "Switched to a new branch 'survey'"
	run_split umapsync switch -c before HEAD~1
	assert_success
	assert_equal "$stderr" "Switched to a new branch 'before'"
	parking_version bike-parking
	umapsync diff --exit-code HEAD parking.geojson
	run umapsync branch
	assert_output "* before
  main
  survey"
	run_split umapsync switch HEAD~1
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: a branch is expected, got 'HEAD~1'
hint: to look at a revision without a branch, use 'umapsync switch --detach HEAD~1';
hint: to make a branch there, 'umapsync switch -c NEW HEAD~1'"
	run_split umapsync switch --detach main
	assert_success
	run umapsync status
	assert_line --index 0 "HEAD detached at $(git --git-dir=.umapsync rev-parse --short=7 main)"
	run_split umapsync checkout -b main
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: a branch named 'main' already exists"
	# a checkout refused for changes in the way leaves no branch behind
	parking_version bike-parking-bob
	run_split umapsync checkout -b later HEAD~1
	assert_equal "$status" 1
	run git --git-dir=.umapsync branch --list later
	assert_output ""
}

@test "leaving commits behind on a detached HEAD warns; the reflog finds them" {
	parking_history
	umapsync switch --detach HEAD 2>/dev/null
	parking_version bike-parking-bob
	umapsync commit -m lost >/dev/null
	lost=$(git --git-dir=.umapsync rev-parse --short=7 HEAD)
	run_split umapsync switch main
	assert_success
	assert_equal "$stderr" "Warning: you are leaving 1 commit behind, not connected to
any of your branches:

  $lost lost

If you want to keep it by creating a new branch, this may be a good time
to do so with:

 umapsync branch <new-branch-name> $lost

('umapsync reflog' lists where HEAD has been.)
Switched to branch 'main'"
	run umapsync reflog -n 2
	assert_line --index 1 "$lost HEAD@{1}: commit: lost"
	umapsync branch kept HEAD@{1}
	[ "$(git --git-dir=.umapsync rev-parse --short=7 kept)" = "$lost" ]
	# nothing left behind: no warning
	umapsync switch --detach kept 2>/dev/null
	run_split umapsync switch main
	assert_equal "$stderr" "Switched to branch 'main'"
}

@test "tag -a -m makes an annotated tag; tag -d deletes tags" {
	parking_history
	run umapsync tag -a -m "as published" v1
	assert_success
	[ "$(git --git-dir=.umapsync cat-file -t v1)" = tag ]
	[ "$(git --git-dir=.umapsync tag -l --format='%(contents)%(taggername)' v1)" = "as published
Test User" ]
	umapsync diff --exit-code v1 HEAD
	umapsync tag light HEAD~1
	tagid=$(git --git-dir=.umapsync rev-parse --short=7 v1)
	run umapsync tag -d v1 light
	assert_success
	assert_output "Deleted tag 'v1' (was $tagid)
Deleted tag 'light' (was $(git --git-dir=.umapsync rev-parse --short=7 HEAD~1))"
	run umapsync tag
	assert_output ""
	run_split umapsync tag -a v2
	assert_equal "$status" 129
	run_split umapsync tag -d v1
	assert_equal "$status" 1
	assert_equal "$stderr" "error: tag 'v1' not found"
}

@test "remote set-url, rename and remove, the default remote following a rename" {
	parking_history
	umapsync remote add origin http://127.0.0.1:1/lyon
	umapsync config umapsync-remote.default origin
	mkdir -p .umapsync/sync && echo '{}' >.umapsync/sync/origin.json
	run umapsync remote set-url origin http://127.0.0.1:2/lyon
	assert_success
	run umapsync remote -v
	assert_output "origin	http://127.0.0.1:2/lyon"
	run umapsync remote rename origin upstream
	assert_success
	run umapsync remote -v
	assert_output "upstream	http://127.0.0.1:2/lyon"
	[ "$(umapsync config umapsync-remote.default)" = upstream ]
	[ -f .umapsync/sync/upstream.json ] && [ ! -e .umapsync/sync/origin.json ]
	run_split umapsync remote set-url origin http://127.0.0.1:3/lyon
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: no remote named 'origin'
hint: 'umapsync remote' lists them"
	run_split umapsync remote set-url upstream ftp://x
	assert_equal "$status" 128
	umapsync remote remove upstream
	run umapsync remote
	assert_output ""
}

# ---- blame ------------------------------------------------------------------------------

# parking.geojson: imported by Test User, alice's edit by Alice, then Bob covers Bellecour.
blame_history() {
	parking_version bike-parking
	umapsync init >/dev/null
	umapsync import parking.geojson >/dev/null
	parking_version bike-parking-alice
	GIT_AUTHOR_NAME=Alice GIT_AUTHOR_DATE="@1700100000 +0000" umapsync commit -m alice >/dev/null
	jq '(.features[] | select(.id == "zP5kR") | .properties.covered) = true' parking.geojson >e
	mv e parking.geojson
	GIT_AUTHOR_NAME=Bob GIT_AUTHOR_DATE="@1700200000 +0000" umapsync commit -m bob >/dev/null
}

@test "blame PATH names the commit, author and day that last set each feature" {
	blame_history
	import=$(git --git-dir=.umapsync rev-parse --short=7 HEAD~2)
	alice=$(git --git-dir=.umapsync rev-parse --short=7 HEAD~1)
	bob=$(git --git-dir=.umapsync rev-parse --short=7 HEAD)
	run umapsync blame parking.geojson
	assert_success
	assert_output "$bob (Bob 2023-11-17) zP5kR \"Bellecour\"
$import (Test User 2023-11-14) Tn2vB \"Gare Part-Dieu\"
$import (Test User 2023-11-14) c8YfG \"Hôtel de Ville\"
$import (Test User 2023-11-14) Ld6mQ \"Université Lyon 3\"
$import (Test User 2023-11-14) Ve1xW \"Place Guichard\"
$import (Test User 2023-11-14) g3HsN \"Jean Macé\"
$import (Test User 2023-11-14) Yq7bE \"Saxe-Gambetta\"
$alice (Alice 2023-11-16) R2dNw \"Perrache\"
$import (Test User 2023-11-14) k4JrU \"Opéra\""
	# at an older revision
	run umapsync blame @~1 parking.geojson
	assert_line --index 0 "$alice (Alice 2023-11-16) zP5kR \"Bellecour\""
}

@test "blame --feature ID names who set each property and the geometry; --format=json" {
	blame_history
	import=$(git --git-dir=.umapsync rev-parse --short=7 HEAD~2)
	alice=$(git --git-dir=.umapsync rev-parse --short=7 HEAD~1)
	bob=$(git --git-dir=.umapsync rev-parse --short=7 HEAD)
	run umapsync blame --feature zP5kR parking.geojson
	assert_success
	assert_output "$import (Test User 2023-11-14) name: \"Bellecour\"
$alice (Alice 2023-11-16) capacity: 64
$bob (Bob 2023-11-17) covered: true
$import (Test User 2023-11-14) operator: \"Métropole de Lyon\"
$import (Test User 2023-11-14) geometry: Point"
	run umapsync blame --feature zP5kR --format=json parking.geojson
	[ "$(echo "$output" | jq -c '[.[] | [.key, .value, .author.name, .summary]] | .[0:3]')" = \
	  '[["properties.name","Bellecour","Test User","Import parking.geojson"],["properties.capacity",64,"Alice","alice"],["properties.covered",true,"Bob","bob"]]' ]
	[ "$(echo "$output" | jq -r '.[1].commit')" = "$(git --git-dir=.umapsync rev-parse HEAD~1)" ]
	[ "$(echo "$output" | jq -r '.[1].date')" = 2023-11-16T02:00:00Z ]
	run umapsync blame --format=json parking.geojson
	[ "$(echo "$output" | jq -c '.[7] | [.id, .name, .author.name]')" = '["R2dNw","Perrache","Alice"]' ]
	run_split umapsync blame --feature nope parking.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: feature 'nope' is not in parking.geojson"
	run_split umapsync blame nope.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'nope.geojson': no such file"
}

@test "blame of a feature removed and added again names the commit that added it back" {
	blame_history
	jq '.features |= map(select(.id != "Tn2vB"))' parking.geojson >e && mv e parking.geojson
	umapsync commit -m "drop Tn2vB" >/dev/null
	umapsync restore --source=@~1 parking.geojson
	umapsync commit -m "Tn2vB back" >/dev/null
	run umapsync blame --feature Tn2vB parking.geojson
	assert_line --index 0 --regexp "^$(git --git-dir=.umapsync rev-parse --short=7 HEAD) \(Test User [0-9-]+\) name: \"Gare Part-Dieu\"$"
}

@test "status lists untracked map files like git: .geojson, .umap, and .json holding GeoJSON" {
	parking_history
	mkdir -p sub/deeper .hidden
	cp parking.geojson sub/deeper/new.geojson
	cp "$EXAMPLES/cycling-lyon.umap" map.umap
	echo '{"type": "FeatureCollection", "features": []}' >layer.json
	echo '{"name": "not a map"}' >package.json
	echo x >notes.txt
	cp parking.geojson .hidden/h.geojson
	run umapsync status
	assert_success
	assert_output "On branch main
Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	layer.json
	map.umap
	sub/deeper/new.geojson

nothing to commit, but untracked map files are present"
	parking_version bike-parking
	run umapsync status
	assert_output "On branch main
Changes not committed:
  modified:   parking.geojson (0 added, 1 modified, 1 removed)

Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	layer.json
	map.umap
	sub/deeper/new.geojson"
	run umapsync status map.umap
	assert_output "On branch main
Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	map.umap

nothing to commit, but untracked map files are present"
}

# ---- stash ------------------------------------------------------------------------------

@test "stash puts changes aside; pop brings them back on another branch" {
	parking_version bike-parking
	umapsync init >/dev/null
	umapsync import parking.geojson >/dev/null
	head=$(git --git-dir=.umapsync rev-parse --short=7 HEAD)
	run umapsync stash
	assert_output "No local changes to save"
	parking_version bike-parking-alice
	run umapsync stash
	assert_success
	assert_output "Saved working files and feature changes: WIP on main: $head Import parking.geojson"
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	jq '(.features[] | select(.id == "zP5kR") | .properties.capacity) = 50' parking.geojson >e
	mv e parking.geojson
	umapsync stash -m "bob's edit" >/dev/null
	run umapsync stash list
	assert_output "stash@{0}: On main: bob's edit
stash@{1}: WIP on main: $head Import parking.geojson"
	umapsync switch -c survey 2>/dev/null
	alice=$(git --git-dir=.umapsync rev-parse refs/stash@{1})
	run umapsync stash pop stash@{1}
	assert_success
	assert_output "Dropped stash@{1} ($alice)"
	run umapsync diff --stat
	assert_output "$PARKING_STAT"
	run umapsync stash list
	assert_output "stash@{0}: On main: bob's edit"
	umapsync commit -m alice >/dev/null
	# bob's stash changes Bellecour too (40 -> 50, alice made it 64): a conflict
	run_split umapsync stash pop
	assert_equal "$status" 1
	[[ "$stderr" == *"error: stash@{0} conflicts with HEAD: nothing was changed, and the stash is kept"* ]]
	run umapsync status
	assert_output "On branch survey
nothing to commit, working files clean"
	umapsync stash drop
	run umapsync stash list
	assert_output ""
	run_split umapsync stash pop
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: no stash entries"
}
