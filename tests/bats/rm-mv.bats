#!/usr/bin/env bats
# rm and mv (issue 20): stop tracking or rename a layer file, as git does. The change waits
# in .umapsync/umapsync-pending for the next commit, which status, diff, commit, restore,
# reset, checkout and stash honour. Each test is a scenario with the exact output or state
# expected, as in git's t/.

bats_require_minimum_version 1.5.0
load helper

export GIT_AUTHOR_DATE="@1700000000 +0000"

# two_files (lyon.umap and parking.geojson in one commit) and parking_version are in
# helper.bash.

PARKING_LAYER=b6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03

# manifest REV: "path layer-ids" per tracked file of REV.
manifest() {
	git --git-dir=.umapsync show "$1:manifest.json" | jq -r '.files[] | "\(.path) \(.layers | join(","))"'
}

@test "rm stops tracking a file: status, diff and commit record its layer removed" {
	two_files
	run_split umapsync rm parking.geojson
	assert_success
	assert_output "rm 'parking.geojson'"
	assert_equal "$stderr" ""
	[ ! -e parking.geojson ]
	run umapsync status
	assert_output "On branch main
Changes to be committed:
  deleted:    parking.geojson"
	run umapsync diff --stat
	assert_output " Bike parking | 0 added, 8 removed, 0 modified (layer removed)
 0 added, 8 removed, 0 modified, 14 unchanged"
	run umapsync commit -m "drop parking"
	assert_success
	assert_output --regexp '^\[main [0-9a-f]{7}\] drop parking
 0 added, 0 modified, 8 removed
 delete parking.geojson$'
	run manifest HEAD
	assert_output "lyon.umap 3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15,a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03"
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	[ ! -e .umapsync/umapsync-pending ]
}

@test "rm refuses a file with changes not committed; -f removes it, --cached keeps it" {
	two_files
	parking_version bike-parking-alice
	run_split umapsync rm parking.geojson
	assert_equal "$status" 1
	assert_output ""
	assert_equal "$stderr" "error: the following files have changes not committed:
    parking.geojson
hint: use --cached to keep the files, or -f to remove them with their changes"
	[ -e parking.geojson ]
	[ ! -e .umapsync/umapsync-pending ]
	# --cached: no longer tracked, the file stays (untracked after the commit)
	cp parking.geojson edited
	run umapsync rm --cached parking.geojson
	assert_output "rm 'parking.geojson'"
	cmp parking.geojson edited
	rm edited
	run umapsync status
	assert_output "On branch main
Changes to be committed:
  deleted:    parking.geojson

Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	parking.geojson"
	umapsync commit -m untrack >/dev/null
	run umapsync status
	assert_output "On branch main
Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	parking.geojson

nothing to commit, but untracked map files are present"
	# -f: the map file's changes go with it
	jq '.properties.name = "Renamed"' lyon.umap >e && mv e lyon.umap
	run_split umapsync rm lyon.umap
	assert_equal "$status" 1
	run umapsync rm -f -q lyon.umap
	assert_success
	assert_output ""
	[ ! -e lyon.umap ]
	run umapsync status
	assert_output "On branch main
Changes to be committed:
  deleted:    lyon.umap

Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	parking.geojson"
}

@test "rm records a file deleted by hand; restore brings a removed file back, tracked" {
	two_files
	rm parking.geojson
	run_split umapsync commit -m gone
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: tracked file 'parking.geojson' is missing
hint: restore it with 'umapsync restore parking.geojson', or record its removal with 'umapsync rm parking.geojson'"
	run umapsync rm parking.geojson
	assert_output "rm 'parking.geojson'"
	run_split umapsync rm parking.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'parking.geojson' is removed already: the next commit records it ('umapsync restore parking.geojson' brings it back)"
	umapsync restore parking.geojson
	cmp parking.geojson <(umapsync export HEAD parking.geojson)
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	[ ! -e .umapsync/umapsync-pending ]
}

@test "mv renames a layer file: the commit records a rename and the layer keeps its id" {
	two_files
	mkdir layers
	cp parking.geojson before
	run_split umapsync mv parking.geojson layers/bike-parking.geojson
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	[ ! -e parking.geojson ]
	cmp layers/bike-parking.geojson before
	run umapsync status
	assert_output "On branch main
Changes to be committed:
  renamed:    parking.geojson -> layers/bike-parking.geojson"
	# diff shows the rename, as git diff HEAD does, and --exit-code counts it
	run umapsync diff --exit-code
	assert_equal "$status" 1
	assert_output "renamed file parking.geojson → layers/bike-parking.geojson"
	run umapsync diff --quiet
	assert_equal "$status" 1
	assert_output ""
	run umapsync diff --stat
	assert_output " parking.geojson => layers/bike-parking.geojson | file renamed
 0 added, 0 removed, 0 modified, 22 unchanged"
	run umapsync diff --format=json
	assert_output '{
  "summary": {
    "added": 0,
    "removed": 0,
    "modified": 0,
    "unchanged": 22
  },
  "files": [
    {
      "path": "layers/bike-parking.geojson",
      "renamed_from": "parking.geojson"
    }
  ],
  "layers": [],
  "features": []
}'
	# an edit after the move shows under the new name, and goes with the rename
	jq '(.features[] | select(.id == "zP5kR") | .properties.capacity) = 64' \
		layers/bike-parking.geojson >e && mv e layers/bike-parking.geojson
	run umapsync status
	assert_output "On branch main
Changes to be committed:
  renamed:    parking.geojson -> layers/bike-parking.geojson

Changes not committed:
  modified:   layers/bike-parking.geojson (0 added, 1 modified, 0 removed)"
	run umapsync diff --stat
	assert_output " parking.geojson => layers/bike-parking.geojson | file renamed
 Bike parking                                   | 0 added, 0 removed, 1 modified
 0 added, 0 removed, 1 modified, 21 unchanged"
	run umapsync diff
	assert_output "renamed file parking.geojson → layers/bike-parking.geojson

modified feature zP5kR \"Bellecour\" in layer \"Bike parking\"
  ~ capacity: 40 → 64"
	run umapsync commit -m "move parking"
	assert_output --regexp '^\[main [0-9a-f]{7}\] move parking
 0 added, 1 modified, 0 removed
 rename parking.geojson => layers/bike-parking.geojson$'
	run manifest HEAD
	assert_output "lyon.umap 3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15,a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03
layers/bike-parking.geojson $PARKING_LAYER"
	# one feature blob changed: the layer was not removed and added again
	run git --git-dir=.umapsync diff-tree -r --name-only HEAD~1 HEAD
	assert_output "layers/$PARKING_LAYER/features/zP5kR
manifest.json"
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	run umapsync log --format=oneline -1 layers/bike-parking.geojson
	assert_output --regexp '^[0-9a-f]{7} move parking$'
}

@test "mv into a directory, back again, and of a map file" {
	two_files
	mkdir old
	umapsync mv parking.geojson old
	run umapsync status
	assert_output "On branch main
Changes to be committed:
  renamed:    parking.geojson -> old/parking.geojson"
	# moved back: nothing waits any more
	umapsync mv old/parking.geojson parking.geojson
	[ ! -e .umapsync/umapsync-pending ]
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	umapsync mv lyon.umap cycling.umap
	umapsync commit -m "rename the map" >/dev/null
	run manifest HEAD
	assert_output "cycling.umap 3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15,a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03
parking.geojson $PARKING_LAYER"
	run git --git-dir=.umapsync diff-tree -r --name-only HEAD~1 HEAD
	assert_output "manifest.json"
	# the same document under its new name (HEAD's export takes the bytes of the working
	# file, which holds it unchanged: docs/REPOSITORY.md)
	umapsync export HEAD cycling.umap >"$BATS_TEST_TMPDIR/new"
	umapsync export HEAD~1 lyon.umap >"$BATS_TEST_TMPDIR/old"
	cmp cycling.umap "$BATS_TEST_TMPDIR/new"
	umapsync diff --exit-code "$BATS_TEST_TMPDIR/old" "$BATS_TEST_TMPDIR/new"
}

@test "mv and rm refuse what they cannot do, and change nothing" {
	two_files
	cp parking.geojson other.geojson
	run_split umapsync mv other.geojson x.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'other.geojson' is not tracked
hint: start tracking it with 'umapsync import other.geojson'"
	run_split umapsync mv parking.geojson other.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: cannot move 'parking.geojson' to 'other.geojson': a file of that name exists
hint: remove it first (with 'umapsync rm' when it is tracked)"
	rm lyon.umap
	run_split umapsync mv parking.geojson lyon.umap
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: cannot move 'parking.geojson' to 'lyon.umap': a tracked file has that name
hint: remove it first (with 'umapsync rm' when it is tracked)"
	umapsync restore lyon.umap
	run_split umapsync mv parking.geojson nodir/parking.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: cannot move 'parking.geojson' to 'nodir/parking.geojson': there is no directory 'nodir'"
	run_split umapsync mv parking.geojson .umapsync/parking.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: cannot move 'parking.geojson' into the repository's own directory .umapsync"
	run_split umapsync mv nope.geojson x.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'nope.geojson': no such file"
	# a layer inside a map is not a file: out of scope, said so
	run_split umapsync rm "lyon.umap/Bike lanes"
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'lyon.umap/Bike lanes' is inside the tracked file 'lyon.umap': rm and mv work on whole files; to remove or rename a layer of a map, edit the map (in uMap, or its .umap file) and commit"
	run_split umapsync mv "lyon.umap:Bike lanes" lanes.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'lyon.umap:Bike lanes' is inside the tracked file 'lyon.umap': rm and mv work on whole files; to remove or rename a layer of a map, edit the map (in uMap, or its .umap file) and commit"
	run umapsync mv parking.geojson
	assert_equal "$status" 129
	run umapsync rm
	assert_equal "$status" 129
	[ ! -e .umapsync/umapsync-pending ]
	run umapsync status
	assert_output "On branch main
Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	other.geojson

nothing to commit, but untracked map files are present"
}

@test "checkout, stash and revert refuse while an rm or mv waits; reset forgets or undoes them" {
	two_files
	umapsync branch other
	parking_version bike-parking-alice
	umapsync commit -m alice >/dev/null
	umapsync mv parking.geojson bikes.geojson
	umapsync rm -q lyon.umap
	local refusal="	renamed: parking.geojson -> bikes.geojson
	deleted: lyon.umap
hint: commit them with 'umapsync commit -m MSG' first, or undo them ('umapsync restore PATH', 'umapsync mv NEW OLD')"
	run_split umapsync checkout other
	assert_equal "$status" 1
	assert_equal "$stderr" "error: the rm and mv waiting for the next commit would be lost by checkout:
$refusal"
	run_split umapsync stash
	assert_equal "$status" 1
	assert_equal "$stderr" "error: the rm and mv waiting for the next commit would be lost by stash (it keeps feature changes, not files):
$refusal"
	run_split umapsync revert HEAD
	assert_equal "$status" 1
	[[ "$stderr" == "error: the rm and mv waiting for the next commit would be lost by revert:"* ]]
	# --soft keeps them, as git keeps its index
	run umapsync reset --soft
	assert_output "Changes not committed after reset:
D	lyon.umap
R	parking.geojson -> bikes.geojson"
	[ -e .umapsync/umapsync-pending ]
	# --hard puts every file back and removes the new names
	run umapsync reset --hard
	assert_output --regexp '^HEAD is now at [0-9a-f]{7} alice$'
	[ ! -e bikes.geojson ]
	[ ! -e .umapsync/umapsync-pending ]
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	# --mixed forgets them and leaves the files where they are, as git reset does
	umapsync mv parking.geojson bikes.geojson
	run umapsync reset
	assert_output "Changes not committed after reset:
D	parking.geojson"
	run umapsync status
	assert_output "On branch main
Changes not committed:
  deleted:    parking.geojson

Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	bikes.geojson"
}

@test "commit PATH records that file's rm or mv only; the others wait" {
	two_files
	umapsync mv parking.geojson bikes.geojson
	umapsync rm -q lyon.umap
	run umapsync commit -m "move parking" bikes.geojson
	assert_output --regexp '^\[main [0-9a-f]{7}\] move parking
 0 added, 0 modified, 0 removed
 rename parking.geojson => bikes.geojson$'
	run umapsync status
	assert_output "On branch main
Changes to be committed:
  deleted:    lyon.umap"
	run manifest HEAD
	assert_output "lyon.umap 3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15,a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03
bikes.geojson $PARKING_LAYER"
	run umapsync commit -m "drop the map"
	assert_output --regexp ' delete lyon.umap$'
	run manifest HEAD
	assert_output "bikes.geojson $PARKING_LAYER"
}

@test "restore of a moved file takes its content from the old path; the old name is refused" {
	two_files
	umapsync mv parking.geojson bikes.geojson
	parking_version bike-parking-alice
	mv parking.geojson bikes.geojson
	run umapsync diff --stat
	assert_output " parking.geojson => bikes.geojson | file renamed
 Bike parking                     | 1 added, 0 removed, 1 modified
 1 added, 0 removed, 1 modified, 21 unchanged"
	umapsync restore bikes.geojson
	cmp bikes.geojson <(umapsync export HEAD parking.geojson)
	run umapsync status
	assert_output "On branch main
Changes to be committed:
  renamed:    parking.geojson -> bikes.geojson"
	run_split umapsync restore parking.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'parking.geojson' was moved to 'bikes.geojson': 'umapsync mv bikes.geojson parking.geojson' moves it back"
	run_split umapsync import bikes.geojson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'bikes.geojson' is already tracked: it is 'parking.geojson' moved by 'umapsync mv'; 'umapsync commit' records it"
}

@test "a damaged pending record is reported, and reset forgets it" {
	two_files
	echo '{"format":1,"paths":[{"from":"../x","to":null}]}' >.umapsync/umapsync-pending
	run_split umapsync status
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: $PWD/.umapsync/umapsync-pending is damaged; 'umapsync reset' forgets the rm and mv it recorded"
	run umapsync reset
	assert_success
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
}

@test "mv onto the name of a file rm removed: that file's layer goes, the moved one's stays" {
	two_files
	sed 's/a6d2e0b4-71c8/c6d2e0b4-71c8/' "$EXAMPLES/bike-parking-bob.geojson" >bob.geojson
	umapsync import bob.geojson >/dev/null
	umapsync rm -q bob.geojson
	umapsync mv parking.geojson bob.geojson
	run umapsync status
	assert_output "On branch main
Changes to be committed:
  renamed:    parking.geojson -> bob.geojson
  deleted:    bob.geojson"
	run umapsync commit -m swap
	assert_output --regexp '^\[main [0-9a-f]{7}\] swap
 0 added, 0 modified, 8 removed
 rename parking.geojson => bob.geojson
 delete bob.geojson$'
	run manifest HEAD
	assert_output "lyon.umap 3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15,a6d2e0b4-71c8-4f39-8e5a-2c4b9d1f6e03
bob.geojson $PARKING_LAYER"
}

@test "diff of a rename: a path limits it, a map's rename, and show and diff of the commit" {
	two_files
	umapsync mv lyon.umap cycling.umap
	umapsync mv parking.geojson bikes.geojson
	run umapsync diff
	assert_output "renamed file lyon.umap → cycling.umap
renamed file parking.geojson → bikes.geojson"
	# a path names either side of the rename
	run umapsync diff bikes.geojson
	assert_output "renamed file parking.geojson → bikes.geojson"
	run umapsync diff --exit-code lyon.umap
	assert_equal "$status" 1
	assert_output "renamed file lyon.umap → cycling.umap"
	umapsync commit -m "rename both" >/dev/null
	run umapsync diff --exit-code
	assert_success
	assert_output ""
	run umapsync diff --stat HEAD~1 HEAD
	assert_output " lyon.umap => cycling.umap        | file renamed
 parking.geojson => bikes.geojson | file renamed
 0 added, 0 removed, 0 modified, 22 unchanged"
	run umapsync show HEAD
	assert_output --regexp '^commit [0-9a-f]{40}
.*
    rename both

renamed file lyon.umap → cycling.umap
renamed file parking.geojson → bikes.geojson$'
}

@test "log PATH stops at the rename; log --follow PATH goes on under the old name" {
	two_files
	parking_version bike-parking-alice
	umapsync commit -m alice >/dev/null
	umapsync mv parking.geojson bikes.geojson
	umapsync commit -m "move parking" >/dev/null
	jq '(.features[] | select(.id == "zP5kR") | .properties.capacity) = 70' bikes.geojson >e &&
		mv e bikes.geojson
	umapsync commit -m "capacity 70" >/dev/null
	# the map's own commit is no commit of the layer file
	jq '.properties.name = "Lyon"' lyon.umap >e && mv e lyon.umap
	umapsync commit -m "map name" >/dev/null
	run umapsync log --format=oneline bikes.geojson
	assert_success
	assert_output --regexp '^[0-9a-f]{7} capacity 70
[0-9a-f]{7} move parking$'
	run umapsync log --format=oneline --follow bikes.geojson
	assert_success
	assert_output --regexp '^[0-9a-f]{7} capacity 70
[0-9a-f]{7} move parking
[0-9a-f]{7} alice
[0-9a-f]{7} Import lyon.umap, parking.geojson$'
	run umapsync log --format=oneline --follow -2 bikes.geojson
	assert_output --regexp '^[0-9a-f]{7} capacity 70
[0-9a-f]{7} move parking$'
	run_split umapsync log --follow
	assert_equal "$status" 129
	assert_equal "${stderr%%$'\n'*}" "error: --follow needs a PATH"
}
