#!/usr/bin/env bats
# git-setup, git-merge-driver and git-diff-driver against real git: two branches editing
# different keys of one feature on the same line merge cleanly with the driver and conflict
# without it; a real conflict is reported per key; git diff shows features.

bats_require_minimum_version 1.5.0
load helper

# A git repository with examples/bike-parking.geojson committed on main, Alice's edit
# (capacity 40 -> 64, adds Perrache) on branch alice, Bob's (covered -> true, Opéra renamed)
# on main. Both edit the same line: git's line merge conflicts.
make_repo() {
	git init -q -b main repo
	cd repo
	cp "$EXAMPLES"/bike-parking.geojson parking.geojson
	git add parking.geojson
	git commit -q -m base
	git checkout -q -b alice
	cp "$EXAMPLES"/bike-parking-alice.geojson parking.geojson
	git commit -q -am "alice: capacity, Perrache"
	git checkout -q main
	cp "$EXAMPLES"/bike-parking-bob.geojson parking.geojson
	git commit -q -am "bob: covered, Opéra"
}

@test "without the driver, git's line merge conflicts on the shared line" {
	make_repo
	run git merge -q alice
	assert_failure
	assert_output --partial "CONFLICT (content): Merge conflict in parking.geojson"
	grep -q '^<<<<<<<' parking.geojson
}

@test "with git-setup, git merge merges the two edits of one feature per key" {
	make_repo
	run umapsync git-setup
	assert_success
	assert_line --index 0 "merge and diff drivers 'umapsync' set in $TEST_DIR/repo/.git/config"
	git add .gitattributes
	git commit -q -m "use umapsync for map files"
	run git merge -q --no-edit alice
	assert_success
	run git status --porcelain
	assert_output ""
	run jq -c '.features[] | select(.id == "zP5kR" or .id == "R2dNw" or .id == "k4JrU") | [.id, .properties.name, .properties.capacity, .properties.covered]' parking.geojson
	assert_output '["zP5kR","Bellecour",64,true]
["R2dNw","Perrache",300,true]
["k4JrU","Opéra Nouvel",20,false]'
	# Bob's formatting is kept: one feature per line, no conflict markers.
	run grep -c '^    {"type": "Feature"' parking.geojson
	assert_output 9
	run git log --oneline
	assert_line --index 0 --partial "Merge branch 'alice'"
}

@test "git-setup writes the config keys and .gitattributes, and a second run adds nothing" {
	git init -q repo
	cd repo
	run umapsync git-setup
	assert_success
	assert_line "added 5 lines to $TEST_DIR/repo/.gitattributes:"
	run git config merge.umapsync.driver
	assert_output --regexp '^(umapsync|/.*umapsync) git-merge-driver %O %A %B %P$'
	run git config diff.umapsync.command
	assert_output --regexp '^(umapsync|/.*umapsync) git-diff-driver$'
	run git config diff.umapsync.textconv
	assert_output --regexp '^(umapsync|/.*umapsync) git-textconv$'
	run git check-attr merge diff -- a.geojson m.umap s.geojsonl s.geojsons s.geojsonseq s.ndjson other.json
	assert_output "a.geojson: merge: umapsync
a.geojson: diff: umapsync
m.umap: merge: umapsync
m.umap: diff: umapsync
s.geojsonl: merge: umapsync
s.geojsonl: diff: umapsync
s.geojsons: merge: umapsync
s.geojsons: diff: umapsync
s.geojsonseq: merge: umapsync
s.geojsonseq: diff: umapsync
s.ndjson: merge: unspecified
s.ndjson: diff: unspecified
other.json: merge: unspecified
other.json: diff: unspecified"
	echo '*.png binary' >>.gitattributes
	run umapsync git-setup
	assert_success
	assert_line "$TEST_DIR/repo/.gitattributes already routes map files to umapsync:"
	run cat .gitattributes
	assert_output "*.geojson merge=umapsync diff=umapsync
*.umap merge=umapsync diff=umapsync
*.geojsonl merge=umapsync diff=umapsync
*.geojsons merge=umapsync diff=umapsync
*.geojsonseq merge=umapsync diff=umapsync
*.png binary"
}

@test "git-setup works from a subdirectory and refuses outside a repository" {
	git init -q repo
	mkdir -p repo/maps/lyon
	cd repo/maps/lyon
	run umapsync git-setup
	assert_success
	[ -f "$TEST_DIR/repo/.gitattributes" ]
	cd "$TEST_DIR"
	mkdir plain
	cd plain
	run_split umapsync git-setup
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: not in a git repository (run git-setup inside one, or use --global)"
}

@test "git-setup --global configures the user's git for every repository" {
	run umapsync git-setup --global
	assert_success
	run git config --global merge.umapsync.driver
	assert_output --regexp 'git-merge-driver %O %A %B %P$'
	run cat "$HOME/.config/git/attributes"
	assert_output "*.geojson merge=umapsync diff=umapsync
*.umap merge=umapsync diff=umapsync
*.geojsonl merge=umapsync diff=umapsync
*.geojsons merge=umapsync diff=umapsync
*.geojsonseq merge=umapsync diff=umapsync"
	make_repo
	run git merge -q --no-edit alice
	assert_success
}

@test "a real conflict through git: the driver names the feature and key and keeps ours" {
	make_repo
	umapsync git-setup >/dev/null
	git checkout -q alice
	sed -i 's/"capacity": 64/"capacity": 50/' parking.geojson
	git commit -q -am "alice: capacity 50"
	git checkout -q main
	sed -i 's/"capacity": 40,/"capacity": 45,/' parking.geojson
	git commit -q -am "bob: capacity 45"
	run_split git merge -q --no-edit alice
	assert_failure
	[[ "$stderr" == *"CONFLICT (modify/modify) in parking.geojson: feature zP5kR: properties.capacity is 45 in ours, 50 in theirs (base 40)"* ]]
	[[ "$stderr" == *"hint: parking.geojson keeps our side of the conflict; edit it, then 'git add parking.geojson'"* ]]
	run git status --porcelain parking.geojson
	assert_output "UU parking.geojson"
	# The file is valid JSON with ours' value and theirs' clean change (Perrache).
	run jq -c '[.features[0].properties.capacity, .features[0].properties.covered, ([.features[].id] | index("R2dNw") != null)]' parking.geojson
	assert_output '[45,true,true]'
	! grep -q '<<<<<<<' parking.geojson
}

@test "git-merge-driver merges in place with git's arguments and exit codes" {
	cp "$EXAMPLES"/bike-parking.geojson O
	cp "$EXAMPLES"/bike-parking-bob.geojson A
	cp "$EXAMPLES"/bike-parking-alice.geojson B
	run_split umapsync git-merge-driver O A B parking.geojson
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	run jq -c '.features[0].properties | [.capacity, .covered]' A
	assert_output '[64,true]'
	cmp O "$EXAMPLES"/bike-parking.geojson
	cmp B "$EXAMPLES"/bike-parking-alice.geojson
	run_split umapsync git-merge-driver O A
	assert_equal "$status" 129
}

@test "git-merge-driver falls back to git's line merge for files it cannot read" {
	printf 'a\nb\nc\n' >O
	printf 'A\nb\nc\n' >A
	printf 'a\nb\nC\n' >B
	run_split umapsync git-merge-driver O A B notes.geojson
	assert_success
	[[ "$stderr" == *"warning: notes.geojson: not a map file umapsync can read; using git's line merge"* ]]
	run cat A
	assert_output "A
b
C"
}

# one_record_stream FILE CAPACITY COVERED: a .geojsonl stream of one feature (Bellecour).
one_record_stream() {
	jq -c --argjson c "$2" --argjson v "$3" \
		'.features[0] | .properties.capacity = $c | .properties.covered = $v' \
		"$EXAMPLES"/bike-parking.geojson >"$1"
}

# add_record FILE: appends a second record (Gare Part-Dieu).
add_record() {
	jq -c '.features[1]' "$EXAMPLES"/bike-parking.geojson >>"$1"
}

@test "with git-setup, git merge of a one-feature .geojsonl merges per key and stays a stream" {
	git init -q -b main repo
	cd repo
	umapsync git-setup >/dev/null
	git add .gitattributes
	one_record_stream parking.geojsonl 40 false
	git add parking.geojsonl
	git commit -q -m base
	git checkout -q -b alice
	one_record_stream parking.geojsonl 64 false
	add_record parking.geojsonl
	git commit -q -am "alice: capacity, Part-Dieu"
	git checkout -q main
	one_record_stream parking.geojsonl 40 true
	git commit -q -am "bob: covered"
	# both edits are on the stream's one line: only a per-key merge takes both
	run git merge -q --no-edit alice
	assert_success
	run git status --porcelain
	assert_output ""
	# a record a line: not two Features on the line of one read as a single Feature
	run jq -c '[.type, .id, .properties.capacity, .properties.covered]' parking.geojsonl
	assert_output '["Feature","zP5kR",64,true]
["Feature","Tn2vB",1500,true]'
	run wc -l <parking.geojsonl
	assert_output 2
}

@test "git-merge-driver tells a stream by PATH, not by git's temporary files, and writes one" {
	# RFC 8142: a record separator before each record
	one_record_stream O 40 false
	one_record_stream A 40 true
	one_record_stream B 64 false
	add_record B
	for f in O A B; do sed 's/^/\x1e/' $f >$f.seq; done
	run_split umapsync git-merge-driver O A B parking.geojsonl
	assert_success
	assert_equal "$stderr" ""
	run jq -c '[.type, .id, .properties.capacity, .properties.covered]' A
	assert_output '["Feature","zP5kR",64,true]
["Feature","Tn2vB",1500,true]'
	run wc -l <A
	assert_output 2
	run_split umapsync git-merge-driver O.seq A.seq B.seq layers/parking.geojsons
	assert_success
	run grep -c $'^\x1e{"type":"Feature"' A.seq
	assert_output 2
	run jq -c --seq '[.type, .id, .properties.capacity, .properties.covered]' A.seq
	assert_output $'\x1e["Feature","zP5kR",64,true]\n\x1e["Feature","Tn2vB",1500,true]'
}

@test "git diff shows changed features and keys through the diff driver" {
	make_repo
	umapsync git-setup >/dev/null
	run git diff main alice -- parking.geojson
	assert_success
	assert_output 'diff --umapsync a/parking.geojson b/parking.geojson
modified feature zP5kR "Bellecour"
  ~ capacity: 40 → 64
  ~ covered: true → false

added feature R2dNw "Perrache"
  + name: "Perrache"
  + capacity: 300
  + covered: true
  + operator: "SNCF"
  + geometry: Point, 1 vertex

modified feature k4JrU "Opéra"
  ~ name: "Opéra Nouvel" → "Opéra"'
}

@test "git-diff-driver handles added files and rejects wrong arguments" {
	cp "$EXAMPLES"/bike-parking.geojson new.geojson
	run umapsync git-diff-driver new.geojson /dev/null . . new.geojson 0123 100644
	assert_success
	assert_line --index 0 "diff --umapsync a/new.geojson b/new.geojson"
	assert_line --index 1 "new file"
	assert_line 'added feature zP5kR "Bellecour"'
	assert_equal "$(grep -c '^added feature' <<<"$output")" 8
	run umapsync git-diff-driver a b
	assert_equal "$status" 129
}

@test "git diff of a file umapsync cannot read: a text diff with a warning, and git goes on" {
	make_repo
	umapsync git-setup >/dev/null
	cp "$EXAMPLES"/bike-parking.geojson other.geojson
	git add other.geojson
	git commit -q -m other
	printf '{"type": "FeatureCollection", "features": [\n' >other.geojson
	cp "$EXAMPLES"/bike-parking-alice.geojson parking.geojson
	run --separate-stderr git diff
	assert_success
	[[ "$stderr" == "warning: other.geojson: "*"; showing a text diff" ]]
	assert_line 'diff --umapsync a/other.geojson b/other.geojson'
	assert_line '--- a/other.geojson'
	assert_line '+++ b/other.geojson'
	assert_line 'diff --umapsync a/parking.geojson b/parking.geojson'
	assert_line 'modified feature zP5kR "Bellecour"'
}

@test "with git-setup, git merge of features without ids merges one feature's edits, once" {
	git init -q -b main repo
	cd repo
	umapsync git-setup >/dev/null
	cp "$FIXTURES"/idless/regions.geojson regions.geojson
	git add .gitattributes regions.geojson
	git commit -q -m base
	git checkout -q -b theirs
	jq -c '(.features[] | select(.properties.nom == "Bretagne") | .properties.wifi) = true' \
		"$FIXTURES"/idless/regions.geojson >regions.geojson
	git commit -q -am "theirs: wifi"
	git checkout -q main
	jq -c '(.features[] | select(.properties.nom == "Bretagne") | .properties.taux) = "5.9"
		| del(.features[] | select(.properties.nom == "Corse"))' "$FIXTURES"/idless/regions.geojson >regions.geojson
	git commit -q -am "ours: taux, no Corse"
	run git merge -q --no-edit theirs
	assert_success
	assert_equal "$(jq -c '[.features | length, (.[] | select(.properties.nom == "Bretagne") | .properties)]' regions.geojson)" \
		'[12,{"code":"53","nom":"Bretagne","taux":"5.9","wifi":true}]'
	# an edit against the deletion is a conflict: git stops
	git checkout -q -b edit "$(git rev-list --max-parents=0 HEAD)"
	jq -c '(.features[] | select(.properties.nom == "Corse") | .properties.taux) = "6.0"' \
		"$FIXTURES"/idless/regions.geojson >regions.geojson
	git commit -q -am "edit Corse"
	git checkout -q main
	run git merge -q --no-edit edit
	assert_failure
	assert_output --partial "CONFLICT (delete/modify) in regions.geojson: feature without id at index 12 deleted in ours, changed in theirs"
}

@test "git show and git log -p speak features through git-textconv" {
	make_repo
	umapsync git-setup >/dev/null
	git add .gitattributes
	git commit -q -m "use umapsync"
	run git show alice -- parking.geojson
	assert_success
	assert_line --partial '-{"type":"Feature","id":"zP5kR","properties":{"capacity":40,"covered":false,'
	assert_line --partial '+{"type":"Feature","id":"zP5kR","properties":{"capacity":64,"covered":false,'
	assert_line --regexp '^\+\{"type":"Feature","id":"R2dNw","properties":\{"capacity":300,'
	# one line a feature: only the two changed features' lines are in the hunks
	assert_equal "$(grep -c '^[-+]{"type":"Feature"' <<<"$output")" 3
	run git log -p -1 alice -- parking.geojson
	assert_success
	assert_line --partial '+{"type":"Feature","id":"zP5kR","properties":{"capacity":64,"covered":false,'
	# git diff still runs the driver
	run git diff main alice -- parking.geojson
	assert_line 'modified feature zP5kR "Bellecour"'
}

@test "git-textconv: one line per layer and per feature, keys sorted; other files as they are" {
	run_split umapsync git-textconv "$FIXTURES"/merge/add-add/ours.geojson
	assert_success
	assert_output 'layer 0 {"color":"#1b9e77","id":"L1","name":"Test layer"}
{"type":"Feature","id":"A","properties":{"name":"Place A"},"geometry":{"coordinates":[4.865,45.75],"type":"Point"}}
{"type":"Feature","id":"N","properties":{"capacity":10,"name":"North"},"geometry":{"coordinates":[4.878,45.75],"type":"Point"}}'
	run_split umapsync git-textconv "$EXAMPLES"/cycling-lyon.umap
	assert_line --index 0 --regexp '^map \{"center":'
	assert_line --index 1 --regexp '^layer 0 \{'
	printf '{"type": "Feat' >bad.geojson
	run_split umapsync git-textconv bad.geojson
	assert_success
	assert_output '{"type": "Feat'
	[[ "$stderr" == "warning: bad.geojson: bad.geojson:1:"*"; showing it as text" ]]
	run_split umapsync git-textconv
	assert_equal "$status" 129
}
