#!/usr/bin/env bats
# umapsync config and the preferences it stores: known names only (with a did-you-mean),
# get, set, --unset, --list; the default remote of push and pull; pull.strategy; merge.ff.

bats_require_minimum_version 1.5.0
load helper
load sync_helper

repo() {
	umapsync init >/dev/null
	cp "$EXAMPLES"/bike-parking.geojson parking.geojson
	umapsync import parking.geojson >/dev/null
}

edit() {
	jq --indent 2 "$2" "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}

prop() { # prop FILE ID KEY
	jq -c --arg id "$2" ".features[] | select(.id == \$id) | .properties.$3" "$1"
}

@test "config sets, gets and unsets a setting in the repository's git config" {
	repo
	run_split umapsync config pull.strategy lww
	assert_success
	assert_equal "$output$stderr" ""
	run_split umapsync config pull.strategy
	assert_success
	assert_output "lww"
	[ "$(git --git-dir=.umapsync config pull.strategy)" = lww ]
	run umapsync config --list
	assert_line "pull.strategy=lww"
	# names are compared without case in section and key, as git does
	run umapsync config Pull.Strategy
	assert_output "lww"
	run_split umapsync config --unset pull.strategy
	assert_success
	assert_equal "$output$stderr" ""
	# unset: exit 1 and no message, like git config
	run_split umapsync config pull.strategy
	assert_equal "$status" 1
	assert_equal "$output$stderr" ""
	run_split umapsync config --unset pull.strategy
	assert_equal "$status" 1
	assert_equal "$output$stderr" ""
}

@test "config refuses an unknown name with the closest known one, and stores nothing" {
	repo
	run_split umapsync config user.nmae Ada
	assert_equal "$status" 129
	assert_equal "$output" ""
	assert_equal "$stderr" "error: unknown setting 'user.nmae'; did you mean 'user.name'?
hint: 'umapsync help config' describes the settings"
	run git --git-dir=.umapsync config user.nmae
	assert_equal "$status" 1
	# the right key in the wrong section
	run_split umapsync config merge.strategy
	assert_equal "$status" 129
	assert_equal "$stderr" "error: unknown setting 'merge.strategy'; did you mean 'pull.strategy'?
hint: 'umapsync help config' describes the settings"
	run_split umapsync config --unset no.such
	assert_equal "$status" 129
	assert_equal "$stderr" "error: unknown setting 'no.such'
hint: 'umapsync help config' describes the settings"
	run_split umapsync config umapsync-remote.origin.url http://h:1/m
	assert_equal "$status" 129
	assert_equal "$stderr" "error: unknown setting 'umapsync-remote.origin.url'
hint: remotes are added and removed with 'umapsync remote'"
}

@test "config checks values, and stores merge.ff's git booleans as true or false" {
	repo
	run_split umapsync config pull.strategy merge
	assert_equal "$status" 129
	assert_equal "$stderr" "error: invalid value 'merge' for pull.strategy (expected rebase|lww)"
	run_split umapsync config merge.ff sometimes
	assert_equal "$status" 129
	assert_equal "$stderr" "error: invalid value 'sometimes' for merge.ff (expected true|false|only)"
	run_split umapsync config color.ui sometimes
	assert_equal "$status" 129
	assert_equal "$stderr" "error: invalid value 'sometimes' for color.ui (expected auto|always|never)"
	run git --git-dir=.umapsync config --get-regexp '^(pull|merge|color)\.'
	assert_equal "$status" 1
	umapsync config merge.ff no
	[ "$(git --git-dir=.umapsync config merge.ff)" = false ]
	umapsync config merge.ff only
	[ "$(git --git-dir=.umapsync config merge.ff)" = only ]
}

@test "config usage errors, and config outside a repository" {
	run_split umapsync config
	assert_equal "$status" 129
	assert_equal "${stderr%%$'\n'*}" "error: config needs a NAME, and a VALUE to set it"
	run_split umapsync config --unset
	assert_equal "$status" 129
	assert_equal "${stderr%%$'\n'*}" "error: --unset takes one NAME"
	run_split umapsync config --list --unset user.name
	assert_equal "$status" 129
	run_split umapsync config user.name
	assert_equal "$status" 128
	[[ $stderr == "fatal: "* ]]
}

@test "config --list-keys prints the settings umapsync knows, for the completions" {
	run_split umapsync config --list-keys
	assert_success
	assert_equal "$(cut -f1 <<<"$output")" "user.name
user.email
color.ui
umapsync-remote.default
pull.strategy
merge.ff"
	assert_line --partial $'pull.strategy\trebase|lww\t'
	# documented in the manual page, each one
	local key
	for key in $(cut -f1 <<<"$output"); do
		grep -qF -- "*$key*" "$BATS_TEST_DIRNAME/../../man/umapsync-config.1.scd"
	done
}

@test "merge.ff = false makes a merge commit where a fast-forward would do; --ff wins" {
	alice_ahead parking.geojson alice
	umapsync config merge.ff false
	run_split umapsync merge alice
	assert_success
	assert_output --regexp "^\[main [0-9a-f]{7}\] Merge branch 'alice'$"
	run git -C .umapsync rev-list --parents -n 1 HEAD
	assert_equal "$(wc -w <<<"$output")" 3
	assert_equal "$(jq '.features[0].properties.capacity' parking.geojson)" 64
	run umapsync status
	assert_output --partial "nothing to commit"
	# --ff on the command line beats the setting
	git -C .umapsync update-ref refs/heads/main main~1
	umapsync checkout main 2>/dev/null || true
	cp "$EXAMPLES"/bike-parking.geojson parking.geojson
	run umapsync merge --ff alice
	assert_success
	assert_line --index 1 "Fast-forward"
}

@test "merge.ff = only, and --ff-only, refuse diverged branches and change nothing" {
	alice_ahead parking.geojson alice
	cp "$EXAMPLES"/bike-parking-bob.geojson parking.geojson
	umapsync commit -m bob >/dev/null
	head=$(git -C .umapsync rev-parse HEAD)
	umapsync config merge.ff only
	run_split umapsync merge alice
	assert_equal "$status" 128
	assert_equal "$output" ""
	assert_equal "$stderr" "fatal: not possible to fast-forward to 'alice': the branches have diverged
hint: 'umapsync merge --ff alice' makes a merge commit; 'umapsync rebase alice' replays your commits on it"
	assert_equal "$(git -C .umapsync rev-parse HEAD)" "$head"
	cmp parking.geojson "$EXAMPLES"/bike-parking-bob.geojson
	umapsync config --unset merge.ff
	run_split umapsync merge --ff-only alice
	assert_equal "$status" 128
	# --no-ff beats merge.ff = only
	umapsync config merge.ff only
	run_split umapsync merge --no-ff alice
	assert_success
	assert_output --regexp "^\[main [0-9a-f]{7}\] Merge branch 'alice'$"
}

@test "a bad merge.ff or pull.strategy in the config stops the command with a hint" {
	alice_ahead parking.geojson alice
	git --git-dir=.umapsync config merge.ff sometimes
	run_split umapsync merge alice
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: bad value 'sometimes' for merge.ff in the config
hint: set it with 'umapsync config merge.ff true|false|only', or remove it with 'umapsync config --unset merge.ff'"
	git --git-dir=.umapsync config pull.strategy merge
	umapsync remote add origin http://127.0.0.1:1/lyon
	run_split umapsync pull
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: bad value 'merge' for pull.strategy in the config
hint: set it with 'umapsync config pull.strategy rebase|lww', or remove it with 'umapsync config --unset pull.strategy'"
}

@test "push and pull use umapsync-remote.default, else the only remote, else origin" {
	start_server
	mkdir alice && cd alice
	repo
	umapsync remote add broken http://127.0.0.1:1/lyon
	umapsync remote add lyon "$BASE/lyon"
	# two remotes, none called origin, no default
	run_split umapsync push
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: no remote named 'origin'
hint: add one with 'umapsync remote add origin http://HOST:PORT/MAP'"
	run_split umapsync config umapsync-remote.default nowhere
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: no remote named 'nowhere'
hint: add one with 'umapsync remote add nowhere http://HOST:PORT/MAP' first"
	umapsync config umapsync-remote.default lyon
	run_split umapsync push
	assert_success
	run_split umapsync pull
	assert_success
	# removing the remote drops the default that names it
	umapsync remote remove lyon
	run umapsync config umapsync-remote.default
	assert_equal "$status" 1
	# a default that names no remote (set behind config's back) says where it came from
	git --git-dir=.umapsync config umapsync-remote.default gone
	run_split umapsync pull
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: no remote named 'gone' (the default, set by umapsync-remote.default)
hint: add it with 'umapsync remote add gone http://HOST:PORT/MAP', or change the default with 'umapsync config umapsync-remote.default NAME'"
	# the only remote there is: clone -o names it
	cd ..
	"$UMAPSYNC" clone -o upstream "$BASE/lyon" bob >/dev/null 2>&1
	cd bob
	run_split umapsync pull
	assert_success
}

# alice pushes the layer, bob clones it; bob sets zP5kR's capacity to 60 in an old commit,
# alice to 70 and pushes: bob's pull races on that key. Ends in bob/.
race() {
	start_server
	mkdir alice
	(cd alice && repo && umapsync remote add origin "$BASE/lyon" && umapsync push 2>/dev/null)
	"$UMAPSYNC" clone "$BASE/lyon" bob >/dev/null 2>&1
	cd bob
	edit parking.geojson '(.features[] | select(.id=="zP5kR") | .properties.capacity) = 60'
	GIT_COMMITTER_DATE="@1000000000 +0000" GIT_AUTHOR_DATE="@1000000000 +0000" "$UMAPSYNC" commit -m "bob 60" >/dev/null
	cd ../alice
	edit parking.geojson '(.features[] | select(.id=="zP5kR") | .properties.capacity) = 70'
	umapsync commit -m "alice 70" >/dev/null
	umapsync push 2>/dev/null
	cd ../bob
}

@test "pull uses pull.strategy when no --strategy is given" {
	race
	umapsync config pull.strategy lww
	run_split umapsync pull
	assert_success
	[[ $stderr == *'1 overridden'* ]]
	[ "$(prop parking.geojson zP5kR capacity)" = 70 ]
}

@test "--strategy on the command line beats pull.strategy" {
	race
	umapsync config pull.strategy lww
	run_split umapsync pull --strategy=rebase
	assert_equal "$status" 1
	[[ $stderr == *'CONFLICT (modify/modify)'*'properties.capacity is 60 in ours, 70 in theirs'* ]]
}
