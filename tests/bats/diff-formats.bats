#!/usr/bin/env bats
# The diff formats for other tools and people (issue 21): markdown for a pull-request comment
# and a self-contained HTML map, from files, revisions and working files.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	export BASE="$EXAMPLES/bike-parking.geojson" ALICE="$EXAMPLES/bike-parking-alice.geojson"
	export MAP="$EXAMPLES/cycling-lyon.umap" EDITED="$FIXTURES/diff/lyon-edited.umap"
	export HOSTILE_A="$FIXTURES/diff/hostile-a.geojson" HOSTILE_B="$FIXTURES/diff/hostile-b.geojson"
	export EXPECTED="$FIXTURES/diff/expected"
}

@test "markdown: counts per layer, map options, then each changed feature's keys (golden)" {
	run_split umapsync diff --format=markdown "$MAP" "$EDITED"
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$output" "$(cat "$EXPECTED/lyon.md")"
}

@test "markdown: --max-features=N lists N features, then 'and M more'" {
	run_split umapsync diff --format=markdown --max-features=2 "$MAP" "$EDITED"
	assert_success
	assert_equal "$output" "$(cat "$EXPECTED/lyon-max2.md")"
	assert_line "and 3 more changed features"
	run_split umapsync diff --format=markdown --max-features=4 "$MAP" "$EDITED"
	assert_line "and 1 more changed feature"
	run_split umapsync diff --format=markdown --max-features=0 "$MAP" "$EDITED"
	refute_output --partial "- **"
	assert_line "and 5 more changed features"
	run_split umapsync diff --format=markdown --max-features=-1 "$MAP" "$EDITED"
	assert_equal "$status" 129
	assert_equal "${stderr%%$'\n'*}" "error: --max-features expects 0 or more, not -1"
}

@test "markdown: data that looks like Markdown or HTML stays text (golden)" {
	run_split umapsync diff --format=markdown "$HOSTILE_A" "$HOSTILE_B"
	assert_success
	assert_equal "$output" "$(cat "$EXPECTED/hostile.md")"
	# a value with backticks gets a longer fence; names are escaped, not code
	assert_line '  - `note`: ```"a`b``c"``` → ``"`<script>alert(1)</script>`"``'
	assert_line '- **modified** `h1` "\*bold\* \| \<b\>x\</b\> \@octocat \$x\$"'
}

# The same lines in any order: revisions list a layer's features in tree order.
same_lines() {
	assert_equal "$(echo "$1" | sort)" "$(echo "$2" | sort)"
}

@test "markdown: no change says so; revisions and working files give what files give" {
	run_split umapsync diff --format=markdown "$MAP" "$MAP"
	assert_success
	assert_output "**umapsync diff**: no change"
	alice_ahead layer.geojson alice
	run_split umapsync diff --format=markdown main alice
	assert_success
	same_lines "$output" "$(umapsync diff --format=markdown "$BASE" "$ALICE")"
	cp "$ALICE" layer.geojson
	run_split umapsync diff --format=markdown
	assert_success
	same_lines "$output" "$(umapsync diff --format=markdown "$BASE" "$ALICE")"
}
