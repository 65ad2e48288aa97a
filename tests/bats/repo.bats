#!/usr/bin/env bats
# The repository (SPEC §7): init, import, status, commit, log, show, checkout, export,
# branch, tag, config and diff of revisions, on the example map, odd fixtures and
# generated data; plain git must read the result (git fsck, git log).

bats_require_minimum_version 1.5.0
load helper

REPO_FIXTURES=$BATS_TEST_DIRNAME/../fixtures/repo
export GIT_AUTHOR_DATE="@1700000000 +0000"

# Same features, values, key order and feature order.
same_document() {
	"$UMAPSYNC" diff --exit-code "$1" "$2"
	[ "$(jq -c '[paths]' "$1")" = "$(jq -c '[paths]' "$2")" ]
	[ "$(jq -S . "$1")" = "$(jq -S . "$2")" ]
}

map_repo() {
	cp "$EXAMPLES/cycling-lyon.umap" .
	umapsync init >/dev/null
	umapsync import cycling-lyon.umap >/dev/null
}

# Renames feature b7TzP and removes M2wXe in the example map.
edit_map() {
	jq '.layers[0].features[1].properties.name = "Rue Garibaldi (north)"
	    | .layers[0].features |= map(select(.id != "M2wXe"))' cycling-lyon.umap >edited
	mv edited cycling-lyon.umap
}

@test "init creates a bare git repository whose first branch is main" {
	run umapsync init
	assert_success
	assert_output "Initialized empty umapsync repository in $PWD/.umapsync/"
	[ "$(git --git-dir=.umapsync rev-parse --is-bare-repository)" = true ]
	[ "$(git --git-dir=.umapsync symbolic-ref HEAD)" = refs/heads/main ]
	run umapsync init
	assert_output "Reinitialized existing umapsync repository in $PWD/.umapsync/"
	run umapsync init sub/dir
	assert_success
	[ -f sub/dir/.umapsync/HEAD ]
}

@test "repository commands outside a repository fail with a hint" {
	run_split umapsync status
	assert_equal "$status" 128
	assert_equal "$output" ""
	assert_equal "$stderr" "fatal: not a umapsync repository (or any parent directory)
hint: create one here with 'umapsync init', then 'umapsync import FILE'"
}

@test "import tracks the example map and commits it; status is clean; plain git reads it" {
	cp "$EXAMPLES/cycling-lyon.umap" .
	umapsync init >/dev/null
	run_split umapsync import cycling-lyon.umap
	assert_success
	assert_equal "$output" "cycling-lyon.umap: 2 layers, 14 features
[main (root-commit) $(git --git-dir=.umapsync rev-parse --short=7 HEAD)] Import cycling-lyon.umap"
	cmp cycling-lyon.umap "$EXAMPLES/cycling-lyon.umap"
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	run git --git-dir=.umapsync fsck --strict
	assert_success
	assert_output ""
	run git --git-dir=.umapsync log --format='%an <%ae> %s'
	assert_output "Test User <test@example.org> Import cycling-lyon.umap"
	run git --git-dir=.umapsync ls-tree --name-only HEAD
	assert_output "layers
manifest.json
map.json"
	run git --git-dir=.umapsync ls-tree --name-only HEAD:layers/3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15
	assert_output "features
meta.json
options.json
order"
	# one blob per feature, the compact JSON of the feature
	run git --git-dir=.umapsync cat-file blob HEAD:layers/3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15/features/b7TzP
	assert_output "$(jq -c '.layers[0].features[1]' "$EXAMPLES/cycling-lyon.umap")"
	# objects are in a pack, not one loose file per feature
	[ "$(find .umapsync/objects -type f -path '*/objects/??/*' | wc -l)" -eq 0 ]
	[ "$(ls .umapsync/objects/pack/*.pack | wc -l)" -eq 1 ]
}

@test "export gives back the imported map and layer: values, key order, feature order" {
	cp "$EXAMPLES/cycling-lyon.umap" "$EXAMPLES/bike-parking.geojson" .
	mkdir other && cp "$EXAMPLES/bike-parking.geojson" other/
	umapsync init >/dev/null
	umapsync import cycling-lyon.umap >/dev/null
	umapsync export HEAD cycling-lyon.umap >out.umap
	same_document "$EXAMPLES/cycling-lyon.umap" out.umap
	umapsync export HEAD cycling-lyon.umap -o out2.umap
	cmp out.umap out2.umap
	# a plain layer in another repository
	cd other
	umapsync init >/dev/null
	umapsync import bike-parking.geojson >/dev/null
	umapsync export main bike-parking.geojson >out.geojson
	same_document "$EXAMPLES/bike-parking.geojson" out.geojson
}

@test "import assigns ids to features without one and writes them back, but no layer id" {
	cp "$REPO_FIXTURES/no-ids.geojson" .
	umapsync init >/dev/null
	run umapsync import no-ids.geojson
	assert_success
	assert_line --index 0 "no-ids.geojson: 1 layer, 3 features, 3 ids assigned"
	[ "$(jq '[.features[].id | select(test("^[A-Za-z0-9]{5}$"))] | length' no-ids.geojson)" -eq 3 ]
	# a plain GeoJSON file gets no layer id: RFC 7946 has no properties on a FeatureCollection
	jq -e 'has("properties") | not' no-ids.geojson
	run umapsync validate no-ids.geojson
	assert_success
	# the layer's id is in the manifest only
	run git --git-dir=.umapsync show HEAD:manifest.json
	assert_output --regexp '"layers":\["[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"\]'
	# values survive (1.50 and 1e2 are numbers, \u00e9 is é)
	[ "$(jq -c '[.features[].properties.capacity]' no-ids.geojson)" = "[10,1.5,100]" ]
	[ "$(jq -r '.features[2].properties.name' no-ids.geojson)" = "Rack é" ]
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	umapsync export HEAD no-ids.geojson >out.geojson
	same_document no-ids.geojson out.geojson
}

@test "legacy _umap_options, numeric and odd ids round-trip" {
	cp "$REPO_FIXTURES/legacy.geojson" .
	umapsync init >/dev/null
	run umapsync import legacy.geojson
	assert_line --index 0 "legacy.geojson: 1 layer, 2 features"
	umapsync export HEAD legacy.geojson >out.geojson
	same_document legacy.geojson out.geojson
	jq -e '._umap_options.name == "Legacy layer" and (has("properties") | not)' out.geojson
	jq -e '.features[0].id == 42 and .features[1].id == "a b/c"' out.geojson
	run git --git-dir=.umapsync ls-tree --name-only HEAD:layers/5b2e6c1a-0f7d-4d3e-9a8b-7c6d5e4f3a21/features
	assert_output '~%22a%20b%2Fc%22
~42'
	git --git-dir=.umapsync fsck --strict
}

@test "status, diff, commit, log and show follow an edit" {
	map_repo
	edit_map
	run umapsync status
	assert_output "On branch main
Changes not committed:
  modified:   cycling-lyon.umap (0 added, 1 modified, 1 removed)"
	run umapsync diff --stat
	assert_output " Bike lanes | 0 added, 1 removed, 1 modified
 0 added, 1 removed, 1 modified, 12 unchanged"
	run umapsync diff --exit-code
	assert_equal "$status" 1
	assert_line 'modified feature b7TzP "Rue Garibaldi (north)" in layer "Bike lanes"'
	assert_line 'removed feature M2wXe "Avenue Berthelot" in layer "Bike lanes"'
	run umapsync commit -m "Rename Garibaldi, drop Berthelot"
	assert_success
	assert_output "[main $(git --git-dir=.umapsync rev-parse --short=7 HEAD)] Rename Garibaldi, drop Berthelot
 0 added, 1 modified, 1 removed"
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	run umapsync log --oneline
	assert_output "$(git --git-dir=.umapsync rev-parse --short=7 HEAD) Rename Garibaldi, drop Berthelot
$(git --git-dir=.umapsync rev-parse --short=7 HEAD~1) Import cycling-lyon.umap"
	run umapsync log -n 1
	assert_output "commit $(git --git-dir=.umapsync rev-parse HEAD)
Author: Test User <test@example.org>
Date:   Tue Nov 14 22:13:20 2023 +0000

    Rename Garibaldi, drop Berthelot"
	run umapsync log --format=json
	assert_success
	[ "$(echo "$output" | jq -r '.[0].message')" = "Rename Garibaldi, drop Berthelot" ]
	[ "$(echo "$output" | jq -r '.[1].parents | length')" = 0 ]
	run umapsync show
	assert_success
	assert_line --index 0 "commit $(git --git-dir=.umapsync rev-parse HEAD)"
	assert_line 'modified feature b7TzP "Rue Garibaldi (north)" in layer "Bike lanes"'
	assert_line '  ~ name: "Rue Garibaldi" → "Rue Garibaldi (north)"'
	assert_line 'removed feature M2wXe "Avenue Berthelot" in layer "Bike lanes"'
	run git --git-dir=.umapsync fsck --strict
	assert_success
	run git --git-dir=.umapsync log --format=%s
	assert_output "Rename Garibaldi, drop Berthelot
Import cycling-lyon.umap"
}

@test "diff between revisions, branches and tags, in every format" {
	map_repo
	umapsync tag v1
	edit_map
	umapsync commit -m edit >/dev/null
	run umapsync diff HEAD~1 HEAD --format=json
	assert_success
	[ "$(echo "$output" | jq -c .summary)" = '{"added":0,"removed":1,"modified":1,"unchanged":12}' ]
	[ "$(echo "$output" | jq -c '.features[] | select(.change == "modified") | .properties')" = \
	  '{"name":{"old":"Rue Garibaldi","new":"Rue Garibaldi (north)"}}' ]
	run umapsync diff v1 main --stat
	assert_output " Bike lanes | 0 added, 1 removed, 1 modified
 0 added, 1 removed, 1 modified, 12 unchanged"
	run umapsync diff v1 --format=geojson
	[ "$(echo "$output" | jq '.features | length')" = 2 ]
	run umapsync diff --quiet HEAD~1 HEAD
	assert_equal "$status" 1
	run umapsync diff HEAD
	assert_success
	assert_output ""
	run_split umapsync diff nope HEAD
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: unknown revision 'nope'"
	# REV FILE: that tracked file at REV against the working file, as git diff REV FILE
	run_split umapsync diff HEAD cycling-lyon.umap
	assert_success
	assert_output ""
}

@test "commit refuses nothing to commit and an empty message" {
	map_repo
	run umapsync commit -m "nothing"
	assert_equal "$status" 1
	assert_output "nothing to commit, working files clean"
	run umapsync commit
	assert_equal "$status" 1
	assert_output "nothing to commit, working files clean"
	run_split umapsync commit -m ""
	assert_equal "$status" 129
	[[ "$stderr" == "error: the message of -m is empty"* ]]
}

@test "import refuses a file that is already tracked" {
	map_repo
	run_split umapsync import cycling-lyon.umap
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: 'cycling-lyon.umap' is already tracked
hint: edit it and record the changes with 'umapsync commit -m MSG'"
}

@test "checkout rewrites the working files and refuses to lose changes" {
	map_repo
	cp cycling-lyon.umap original.umap
	edit_map
	umapsync commit -m edit >/dev/null
	cp cycling-lyon.umap edited.umap
	first=$(git --git-dir=.umapsync rev-parse --short=7 HEAD~1)
	run_split umapsync checkout HEAD~1
	assert_success
	assert_equal "$stderr" "HEAD is now at $first Import cycling-lyon.umap"
	same_document original.umap cycling-lyon.umap
	run umapsync status
	assert_output "HEAD detached at $(git --git-dir=.umapsync rev-parse --short=7 HEAD)
Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	edited.umap
	original.umap

nothing to commit, but untracked map files are present"
	run_split umapsync checkout main
	assert_success
	assert_equal "$stderr" "Switched to branch 'main'"
	same_document edited.umap cycling-lyon.umap
	# a local change blocks checkout, and the file is left alone
	jq '.properties.name = "Changed"' cycling-lyon.umap >x && mv x cycling-lyon.umap
	cp cycling-lyon.umap dirty.umap
	run_split umapsync checkout HEAD~1
	assert_equal "$status" 1
	assert_equal "$stderr" "error: your changes to these files would be lost by checkout:
	cycling-lyon.umap
hint: commit them with 'umapsync commit -m MSG' first"
	cmp dirty.umap cycling-lyon.umap
	[ "$(git --git-dir=.umapsync symbolic-ref HEAD)" = refs/heads/main ]
}

@test "branch and tag list and create; checkout switches branches" {
	map_repo
	run umapsync branch
	assert_output "* main"
	umapsync branch draft
	run umapsync branch
	assert_output "  draft
* main"
	run_split umapsync branch draft
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: cannot create branch 'draft': 'refs/heads/draft' already exists"
	umapsync checkout draft 2>/dev/null
	edit_map
	umapsync commit -m "draft edit" >/dev/null
	run umapsync branch
	assert_output "* draft
  main"
	umapsync tag v1 main
	umapsync tag v2
	run umapsync tag
	assert_output "v1
v2"
	run umapsync diff v1 v2 --stat
	assert_line --index 1 " 0 added, 1 removed, 1 modified, 12 unchanged"
	umapsync checkout main 2>/dev/null
	same_document "$EXAMPLES/cycling-lyon.umap" cycling-lyon.umap
}

@test "log --feature and log PATH show only the commits that touched them" {
	cp "$EXAMPLES/cycling-lyon.umap" "$REPO_FIXTURES/legacy.geojson" .
	umapsync init >/dev/null
	umapsync import cycling-lyon.umap >/dev/null
	umapsync import legacy.geojson >/dev/null
	edit_map
	umapsync commit -m "edit lanes" >/dev/null
	jq '.features[0].properties.name = "Renamed"' legacy.geojson >x && mv x legacy.geojson
	umapsync commit -m "edit legacy" >/dev/null
	run umapsync log --format=oneline --feature b7TzP
	assert_output --regexp "^[0-9a-f]{7} edit lanes
[0-9a-f]{7} Import cycling-lyon.umap$"
	run umapsync log --format=oneline --feature 42
	assert_output --regexp "^[0-9a-f]{7} edit legacy
[0-9a-f]{7} Import legacy.geojson$"
	run umapsync log --format=oneline legacy.geojson
	assert_output --regexp "^[0-9a-f]{7} edit legacy
[0-9a-f]{7} Import legacy.geojson$"
	run umapsync log --format=oneline HEAD~1 cycling-lyon.umap
	assert_output --regexp "^[0-9a-f]{7} edit lanes
[0-9a-f]{7} Import cycling-lyon.umap$"
}

@test "config stores settings in the repository's git config and signs commits" {
	map_repo
	umapsync config user.name "Ada Lovelace"
	umapsync config user.email ada@example.org
	run umapsync config user.name
	assert_output "Ada Lovelace"
	[ "$(git --git-dir=.umapsync config user.email)" = ada@example.org ]
	run umapsync config --list
	assert_line "user.name=Ada Lovelace"
	run umapsync config no.such # a name umapsync does not know is a usage error
	assert_equal "$status" 129
	run umapsync config pull.strategy # a known one that is not set
	assert_equal "$status" 1
	edit_map
	# as in git, the environment overrides the configuration
	GIT_AUTHOR_NAME= GIT_AUTHOR_EMAIL= "$UMAPSYNC" commit -m signed >/dev/null
	[ "$(git --git-dir=.umapsync log -1 --format='%an <%ae>')" = "Ada Lovelace <ada@example.org>" ]
	jq '.layers[0].features[0].properties.surface = "concrete"' cycling-lyon.umap >edited
	mv edited cycling-lyon.umap
	GIT_AUTHOR_NAME="Grace Hopper" GIT_AUTHOR_EMAIL=grace@example.org "$UMAPSYNC" commit -m env >/dev/null
	[ "$(git --git-dir=.umapsync log -1 --format='%an <%ae>')" = "Grace Hopper <grace@example.org>" ]
}

@test "commit without an identity fails with a hint" {
	map_repo
	edit_map
	unset GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL
	run_split umapsync commit -m x
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: who are you? no user.name is set; run
  umapsync config user.name \"Your Name\"
  umapsync config user.email you@example.org"
}

@test "a damaged object gives fatal: naming it" {
	map_repo
	blob=$(git --git-dir=.umapsync rev-parse HEAD:layers/3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15/features/b7TzP)
	pack=$(ls .umapsync/objects/pack/*.pack)
	offset=$(git verify-pack -v "${pack%.pack}.idx" | awk -v b="$blob" '$1 == b { print $5 }')
	chmod u+w "$pack"
	printf 'garbage!garbage!' | dd of="$pack" bs=1 seek=$((offset + 4)) conv=notrunc 2>/dev/null
	run_split umapsync export HEAD cycling-lyon.umap
	assert_equal "$status" 128
	assert_equal "$output" ""
	[[ "$stderr" == "fatal: cannot read feature \"b7TzP\" of layer 3f1c9a8e-5b7d-4e2a-9c61-0d8e4b2f7a15 (object $blob): "* ]]
	run_split umapsync show
	assert_equal "$status" 128
	[[ "$stderr" == fatal:*"$blob"* ]]
}

@test "export names the feature of the order without a blob, before a later id it cannot name" {
	# the walk reads each blob a few ids after it has seen its id: an error is still the
	# first feature's, in the order's order
	printf '%s\n' '{"type":"FeatureCollection","features":[' \
		'{"type":"Feature","id":"a","properties":{},"geometry":null},' \
		'{"type":"Feature","id":"b","properties":{},"geometry":null},' \
		'{"type":"Feature","id":"c","properties":{},"geometry":null},' \
		'{"type":"Feature","id":"d","properties":{},"geometry":null},' \
		'{"type":"Feature","id":"e","properties":{},"geometry":null}' ']}' >l.geojson
	umapsync init >/dev/null
	umapsync import l.geojson >/dev/null
	local layer order
	layer=$(git --git-dir=.umapsync ls-tree --name-only HEAD layers/)
	export GIT_INDEX_FILE=$BATS_TEST_TMPDIR/index
	# the index as main's next commit, exported
	commit_export() {
		local tree commit
		tree=$(git --git-dir=.umapsync write-tree)
		commit=$(git --git-dir=.umapsync commit-tree "$tree" -p HEAD -m "$1")
		git --git-dir=.umapsync update-ref refs/heads/main "$commit"
		run_split umapsync export HEAD l.geojson
	}
	git --git-dir=.umapsync read-tree HEAD
	git --git-dir=.umapsync rm -q --cached "$layer/features/b"
	commit_export "b has no blob"
	assert_equal "$status" 128
	assert_equal "$output" ""
	assert_equal "$stderr" "fatal: layer ${layer#layers/}: feature \"b\" is in the order but has no blob"
	# an id too long to be a name two ids later: b's error still comes first
	order=$(printf '"a"\n"b"\n"c"\n"%s"\n"e"\n' "$(printf 'x%.0s' $(seq 1100))" |
		git --git-dir=.umapsync hash-object -w --stdin)
	git --git-dir=.umapsync update-index --cacheinfo "100644,$order,$layer/order/0000"
	commit_export "and a long id"
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: layer ${layer#layers/}: feature \"b\" is in the order but has no blob"
	# and without b's error, the long id's
	git --git-dir=.umapsync update-index --add --cacheinfo "100644,$(git --git-dir=.umapsync rev-parse "HEAD~2:$layer/features/b"),$layer/features/b"
	commit_export "b again"
	assert_equal "$status" 128
	[[ "$stderr" == "fatal: feature id longer than 1024 bytes: \"xxx"* ]]
}

@test "a layer of megabytes: export and checkout stream it byte for byte; a damaged one changes no file" {
	# 15,000 features, 4 MB: the revision's text goes through a temporary file a megabyte
	# at a time (export), and each working file through one beside it (checkout)
	awk -v n=15000 -v seed=11 -f "$REPO_FIXTURES/gen-layer.awk" >big.geojson
	cp "$EXAMPLES/bike-parking.geojson" a.geojson
	umapsync init >/dev/null
	umapsync import a.geojson big.geojson >/dev/null
	cp big.geojson big-v1.orig
	cp a.geojson a-v1.orig
	awk 'NR > 1 && NR % 1500 == 0 { sub(/"capacity":[0-9]+/, "\"capacity\":1000") } { print }' big.geojson >x
	mv x big.geojson
	jq '.features[0].properties.name = "renamed"' a.geojson >x
	mv x a.geojson
	umapsync commit -m edit >/dev/null
	umapsync export HEAD big.geojson -o exported.orig
	cmp exported.orig big.geojson
	umapsync export HEAD~1 big.geojson >old.orig
	same_document big-v1.orig old.orig
	run umapsync checkout HEAD~1
	assert_success
	cmp big.geojson old.orig
	same_document a-v1.orig a.geojson
	run umapsync status
	assert_line --index 1 "nothing to commit, working files clean"
	# nothing left behind: no temporary file in the repository or beside the files
	[ -z "$(find . -name '.tmp-*' -o -name 'umapsync-export-*')" ]

	# a feature of big.geojson damaged in main: checkout main fails on it and leaves both
	# files as they were (a.geojson, written to its temporary file, is not renamed)
	blob=$(git --git-dir=.umapsync ls-tree -r main:layers/generated-layer/features | awk 'NR == 777 { print $3 }')
	# (an if, not &&: a last pack without the blob must not fail the loop)
	pack=$(for p in .umapsync/objects/pack/*.pack; do
		if git verify-pack -v "${p%.pack}.idx" </dev/null | grep -q "^$blob"; then echo "$p"; fi
	done)
	offset=$(git verify-pack -v "${pack%.pack}.idx" | awk -v b="$blob" '$1 == b { print $5 }')
	chmod u+w "$pack"
	printf 'garbage!garbage!' | dd of="$pack" bs=1 seek=$((offset + 4)) conv=notrunc 2>/dev/null
	cp a.geojson a-before.orig
	cp big.geojson big-before.orig
	run_split umapsync checkout main
	assert_equal "$status" 128
	[[ "$stderr" == "fatal: cannot read feature "*"(object $blob): "* ]]
	cmp a.geojson a-before.orig
	cmp big.geojson big-before.orig
	[ -z "$(find . -name '.tmp-*' -o -name 'umapsync-export-*')" ]
}

@test "generated layer: import, edit 10 features, commit, diff, export, fsck" {
	awk -v n=3000 -v seed=7 -f "$REPO_FIXTURES/gen-layer.awk" >big.geojson
	cp big.geojson imported.geojson
	umapsync init >/dev/null
	run umapsync import big.geojson
	assert_line --index 0 "big.geojson: 1 layer, 3000 features"
	# no tree over a few hundred entries: 64 shards of the 3000 features
	[ "$(git --git-dir=.umapsync ls-tree HEAD:layers/generated-layer/features | wc -l)" -eq 64 ]
	awk 'NR > 1 && NR % 300 == 0 { sub(/"capacity":[0-9]+/, "\"capacity\":1000") } { print }' big.geojson >x
	mv x big.geojson
	run umapsync status
	assert_line --index 1 "Changes not committed:"
	assert_line --index 2 "  modified:   big.geojson (0 added, 10 modified, 0 removed)"
	run umapsync commit -m "ten"
	assert_line --index 1 " 0 added, 10 modified, 0 removed"
	# the commit wrote the ten blobs and the trees above them, nothing else
	pack=$(ls -t .umapsync/objects/pack/*.idx | head -1)
	[ "$(git verify-pack -v "$pack" | grep -c ' blob ')" -eq 10 ]
	run umapsync diff HEAD~1 HEAD --format=json
	[ "$(echo "$output" | jq -c .summary)" = '{"added":0,"removed":0,"modified":10,"unchanged":2990}' ]
	umapsync export HEAD~1 big.geojson >old.geojson
	same_document imported.geojson old.geojson
	umapsync export HEAD big.geojson >new.geojson
	same_document big.geojson new.geojson
	run git --git-dir=.umapsync fsck --strict
	assert_success
}

@test "a commit of an edited layer: moves, adds, removes, a change undone, repeated ids" {
	# a changed layer file is read as a stream against HEAD's feature set and HEAD's tree
	# edited (issue 19): what it records is what the whole read records
	awk -v n=3000 -v seed=5 -f "$REPO_FIXTURES/gen-layer.awk" >big.geojson
	umapsync init >/dev/null
	umapsync import big.geojson >/dev/null
	# lines 2-3001 are the features: one moved to the end, five changed, two removed, two new
	awk 'NR == 10 { moved = $0; sub(/,$/, "", moved); next }
	     NR % 500 == 0 { sub(/"capacity":[0-9]+/, "\"capacity\":1000") }
	     NR == 1500 || NR == 1501 { next }
	     NR == 3001 { print $0 ","; print moved ",";
	                  print "{\"type\":\"Feature\",\"id\":\"new1\",\"properties\":{},\"geometry\":null},";
	                  print "{\"type\":\"Feature\",\"id\":\"new2\",\"properties\":{},\"geometry\":null}"; next }
	     { print }' big.geojson >x
	mv x big.geojson
	run umapsync commit -m edit
	assert_success
	assert_line --index 1 " 2 added, 5 modified, 2 removed"
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	umapsync export HEAD big.geojson >out.geojson
	same_document big.geojson out.geojson
	[ "$(jq -c '[.features[].id]' out.geojson)" = "$(jq -c '[.features[].id]' big.geojson)" ]
	# a feature changed, then changed back to HEAD's bytes: HEAD~2's features and order
	cp big.geojson before.geojson
	awk 'NR == 600 { sub(/"capacity":[0-9]+/, "\"capacity\":1001") } { print }' big.geojson >x
	mv x big.geojson
	umapsync commit -m change >/dev/null
	cp before.geojson big.geojson
	run umapsync commit -m back
	assert_line --index 1 " 0 added, 1 modified, 0 removed"
	for part in features order; do
		[ "$(git --git-dir=.umapsync rev-parse HEAD:layers/generated-layer/$part)" = \
		  "$(git --git-dir=.umapsync rev-parse HEAD~2:layers/generated-layer/$part)" ]
	done
	run git --git-dir=.umapsync fsck --strict
	assert_success
	# a feature's line repeated, then its id given to another: named as the whole read names it
	awk 'NR == 101 { dup = $0 } { print } NR == 2000 { print dup }' before.geojson >big.geojson
	run_split umapsync commit -m dup
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: $PWD/big.geojson:2001:1: duplicate feature id \"f0000100\": first on line 101, again on line 2001"
	awk 'NR == 102 { sub(/"id":"f[0-9]*"/, "\"id\":\"f0000100\"") } { print }' before.geojson >big.geojson
	run_split umapsync commit -m dup
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: $PWD/big.geojson:102:1: duplicate feature id \"f0000100\": first on line 101, again on line 102"
	run umapsync log --oneline
	assert_equal "${#lines[@]}" 4
}

@test "feature order is kept through inserts, moves and deletes" {
	awk -v n=1000 -v seed=3 -f "$REPO_FIXTURES/gen-layer.awk" >layer.geojson
	umapsync init >/dev/null
	umapsync import layer.geojson >/dev/null
	jq '.features |= (.[0:500] + [{"type":"Feature","id":"new","properties":{},"geometry":null}] + .[500:] | reverse | del(.[10]))' layer.geojson >x
	mv x layer.geojson
	umapsync commit -m reorder >/dev/null
	umapsync export HEAD layer.geojson >out.geojson
	[ "$(jq -c '[.features[].id]' out.geojson)" = "$(jq -c '[.features[].id]' layer.geojson)" ]
}

@test "a missing tracked file shows as deleted; commit refuses with a way back" {
	map_repo
	mv cycling-lyon.umap saved.umap
	run umapsync status
	assert_output "On branch main
Changes not committed:
  deleted:    cycling-lyon.umap

Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	saved.umap"
	run_split umapsync commit -m gone
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: tracked file 'cycling-lyon.umap' is missing
hint: restore it with 'umapsync restore cycling-lyon.umap', or record its removal with 'umapsync rm cycling-lyon.umap'"
	umapsync restore cycling-lyon.umap
	rm saved.umap
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
}

@test "a commit killed while writing its pack leaves the repository as it was" {
	awk -v n=2000 -v seed=5 -f "$REPO_FIXTURES/gen-layer.awk" >layer.geojson
	umapsync init >/dev/null
	umapsync import layer.geojson >/dev/null
	head=$(git --git-dir=.umapsync rev-parse HEAD)
	awk 'NR > 1 && NR % 20 == 0 { sub(/"capacity":[0-9]+/, "\"capacity\":1000") } { print }' layer.geojson >x
	mv x layer.geojson
	# the kernel kills the process (SIGXFSZ) as soon as a write passes 8 KiB
	run bash -c "ulimit -f 8; exec \"$UMAPSYNC\" commit -m killed"
	[ "$status" -ne 0 ]
	[ "$(git --git-dir=.umapsync rev-parse HEAD)" = "$head" ]
	run git --git-dir=.umapsync fsck --strict
	assert_success
	run umapsync status
	assert_line "  modified:   layer.geojson (0 added, 100 modified, 0 removed)"
	run umapsync commit -m again
	assert_success
	assert_line " 0 added, 100 modified, 0 removed"
	git --git-dir=.umapsync fsck --strict
}

@test "plain git clones the repository like any other" {
	map_repo
	git clone -q --mirror .umapsync mirror.git
	[ "$(git --git-dir=mirror.git rev-parse main)" = "$(git --git-dir=.umapsync rev-parse main)" ]
	git --git-dir=mirror.git fsck --strict
	[ "$(git --git-dir=mirror.git show main:manifest.json | jq -r '.files[0].path')" = cycling-lyon.umap ]
}

@test "checkout goes ahead when a changed file already holds the target's version" {
	map_repo
	edit_map
	umapsync commit -m edited >/dev/null
	# as after a checkout killed between writing the file and moving HEAD
	umapsync export HEAD~1 cycling-lyon.umap -o cycling-lyon.umap
	run umapsync checkout HEAD~1
	assert_success
	run umapsync status
	assert_output --partial "nothing to commit"
	# a change of its own is still protected
	jq '.layers[0].features[0].properties.surface = "gravel"' cycling-lyon.umap >edited
	mv edited cycling-lyon.umap
	run umapsync checkout main
	assert_failure 1
	assert_line --index 0 "error: your changes to these files would be lost by checkout:"
}

@test "a lock left by a killed process is named, with what to do" {
	map_repo
	edit_map
	touch .umapsync/refs/heads/main.lock
	run_split umapsync commit -m edited
	assert_failure 128
	assert_equal "$stderr" "fatal: cannot update refs/heads/main: '$TEST_DIR/.umapsync/refs/heads/main.lock' exists; another umapsync process may be running in this repository: if none is, remove that file and try again"
	rm .umapsync/refs/heads/main.lock
	run umapsync commit -m edited
	assert_success
}

@test "the stat index: a same-size edit with the mtime put back is seen; a damaged index is ignored" {
	umapsync init >/dev/null
	cp "$EXAMPLES/bike-parking.geojson" bp.geojson
	umapsync import bp.geojson >/dev/null
	grep -q ' bp.geojson$' .umapsync/umapsync-index
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
	# right away, same size, same mtime: only the ctime tells
	touch -r bp.geojson stamp
	sed -i 's/"name": "Bellecour"/"name": "Bellecoux"/' bp.geojson
	touch -r stamp bp.geojson
	run umapsync status
	assert_output "On branch main
Changes not committed:
  modified:   bp.geojson (0 added, 1 modified, 0 removed)"
	run umapsync status
	assert_output --partial "modified:   bp.geojson"
	echo "not an index" >.umapsync/umapsync-index
	run_split umapsync status
	assert_success
	assert_output --partial "modified:   bp.geojson"
	assert_equal "$stderr" ""
	umapsync commit -m edit >/dev/null
	run umapsync status
	assert_output "On branch main
nothing to commit, working files clean"
}

@test "a big layer's blobs are deltas against its dictionary, kept by git gc, and export gives it back" {
	awk 'BEGIN {
		printf "{\"type\":\"FeatureCollection\",\"features\":[\n"
		for (i = 0; i < 3000; i++)
			printf "{\"type\":\"Feature\",\"id\":\"f%04d\",\"properties\":{\"name\":\"Rue %d\",\"kind\":\"bench\",\"covered\":%s},\"geometry\":{\"type\":\"Point\",\"coordinates\":[4.%06d,45.%06d]}}%s\n", i, i * 7, (i % 2 ? "true" : "false"), i * 37 % 999983, i * 91 % 999979, (i < 2999 ? "," : "")
		printf "]}\n"
	}' >big.geojson
	umapsync init >/dev/null
	umapsync import big.geojson >/dev/null
	run git --git-dir=.umapsync ls-tree -r --name-only HEAD
	[[ $output == *"/dictionary"* ]]
	git --git-dir=.umapsync gc -q
	run git --git-dir=.umapsync fsck --strict
	assert_success
	# after gc the feature blobs are still deltas (depth 1) against one base: the dictionary
	local dict
	dict=$(git --git-dir=.umapsync rev-parse "HEAD:$(git --git-dir=.umapsync ls-tree -r --name-only HEAD | grep /dictionary)")
	run bash -c "git --git-dir=.umapsync verify-pack -v .umapsync/objects/pack/*.idx | awk '\$2 == \"blob\" && \$7 == \"$dict\"' | wc -l"
	(( output > 2500 ))
	umapsync export HEAD big.geojson -o back.geojson
	run umapsync diff --stat big.geojson back.geojson
	assert_output --partial "3000 unchanged"
	# a commit keeps the dictionary and its deltas
	sed -i 's/"Rue 7"/"Rue sept"/' big.geojson
	umapsync commit -m rename >/dev/null
	run git --git-dir=.umapsync diff --stat HEAD~1 HEAD
	refute_output --partial dictionary
}

@test "checkout when the stat index cannot vouch: HEAD's features in HEAD's order are no change; a feature, the order or a member changed is one" {
	umapsync init >/dev/null
	big_layer big.geojson 300
	umapsync import big.geojson >/dev/null
	big_layer big.geojson 300 ours
	umapsync commit -m ours >/dev/null
	first=$(git --git-dir=.umapsync rev-parse --short=7 HEAD~1)
	cp big.geojson ours.saved
	refused="error: your changes to these files would be lost by checkout:
	big.geojson
hint: commit them with 'umapsync commit -m MSG' first"
	# as after cp -a: no index, the file read as a stream against HEAD's feature set
	rm .umapsync/umapsync-index
	touch big.geojson
	run_split umapsync checkout HEAD~1
	assert_success
	assert_equal "$stderr" "HEAD is now at $first Import big.geojson"
	umapsync checkout main 2>/dev/null
	cp big.geojson ours.saved # as checkout writes it
	# one feature's bytes changed
	rm .umapsync/umapsync-index
	sed -i 's/"name":"Rue 100 (ours)"/"name":"Rue 100 (mine)"/' big.geojson
	run cmp -s ours.saved big.geojson
	assert_failure
	run_split umapsync checkout HEAD~1
	assert_equal "$status" 1
	assert_equal "$stderr" "$refused"
	# the same features in another order
	awk 'NR == 2 { held = $0; next } NR == 3 { print; print held; next } { print }' ours.saved >big.geojson
	run_split umapsync checkout HEAD~1
	assert_equal "$status" 1
	assert_equal "$stderr" "$refused"
	run umapsync status
	assert_output --partial "modified:   big.geojson"
	# the same features, a member of the layer added
	sed '1s/"FeatureCollection",/"FeatureCollection","name":"Benches",/' ours.saved >big.geojson
	run_split umapsync checkout HEAD~1
	assert_equal "$status" 1
	assert_equal "$stderr" "$refused"
	# a feature repeated in place of another: the whole read's error, as ever
	awk 'NR == 3 { print prev; next } { prev = $0; print }' ours.saved >big.geojson
	run_split umapsync checkout HEAD~1
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: $PWD/big.geojson:3:1: duplicate feature id \"f0\": first on line 2, again on line 3"
	# HEAD's bytes again: no change, and status agrees
	cp ours.saved big.geojson
	run_split umapsync checkout HEAD~1
	assert_success
	run umapsync status
	assert_output "HEAD detached at $first
nothing to commit, working files clean"
}
