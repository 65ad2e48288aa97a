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

# chromium_page FILE.html[#HASH] [SHOT]: opens the page in headless Chromium, offline (every
# host name fails to resolve), in a 1200x800 window, and prints the DOM after the scripts ran;
# with SHOT, writes the screenshot there too. Chromium's log goes to chromium.log, whose
# CONSOLE lines are the page's console messages and uncaught errors.
chromium_page() {
	local url="file://$TEST_DIR/$1" profile shot=()
	profile=$(mktemp -d "$TEST_DIR/chromium.XXXXXX")
	[ -n "${2:-}" ] && shot=(--screenshot="$TEST_DIR/$2")
	timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$profile" --host-resolver-rules="MAP * ~NOTFOUND" \
		--enable-logging=stderr --v=0 --window-size=1200,800 --hide-scrollbars \
		"${shot[@]}" --dump-dom "$url" 2>>chromium.log
}

# No console message at all: no uncaught error, no Content-Security-Policy refusal.
refute_console_messages() {
	if grep -q ':CONSOLE' chromium.log; then
		grep ':CONSOLE' chromium.log
		return 1
	fi
}

# Whether R G B is the colour of a change kind drawn on the grey map.
is_colour() {
	local kind=$1 r=$2 g=$3 b=$4
	case $kind in
	added) [ "$g" -gt 110 ] && [ "$g" -gt $((r + 50)) ] && [ "$g" -gt $((b + 30)) ] ;;
	removed) [ "$r" -gt 150 ] && [ "$r" -gt $((g + 80)) ] && [ "$r" -gt $((b + 80)) ] ;;
	modified) [ "$r" -gt 200 ] && [ "$g" -gt 100 ] && [ "$g" -lt 180 ] && [ "$b" -lt 80 ] ;;
	esac
}

@test "html: one self-contained page, Leaflet and its licence inlined, nothing fetched but tiles" {
	run_split umapsync diff --format=html -o alice.html "$BASE" "$ALICE"
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	run grep -c -E '<(script|img|link|iframe)[^>]* (src|href)=' alice.html
	assert_output 0
	grep -q 'Leaflet (https://leafletjs.com), inlined below' alice.html
	grep -q 'Redistributions in binary form must reproduce' alice.html
	grep -q "script-src 'sha256-" alice.html
	run grep -c 'sourceMappingURL' alice.html
	assert_output 0
	# the same page on standard output
	run_split umapsync diff --format=html "$BASE" "$ALICE"
	assert_equal "$output" "$(cat alice.html)"
}

@test "html: opens offline in Chromium without a console message; each change drawn in its colour where it is" {
	command -v chromium >/dev/null || fail "chromium is not installed (make deps)"
	cp "$MAP" "$EDITED" "$BASE" "$ALICE" .
	umapsync diff --format=html -o lyon.html cycling-lyon.umap lyon-edited.umap
	umapsync diff --format=html -o alice.html bike-parking.geojson bike-parking-alice.geojson
	chromium_page alice.html alice.png >alice.dom
	chromium_page lyon.html >lyon.dom
	refute_console_messages
	grep -q 'data-umapsync-ready="2"' alice.dom
	grep -q 'data-umapsync-ready="5"' lyon.dom
	grep -q '>bike-parking.geojson → bike-parking-alice.geojson</h1>' alice.dom
	grep -q '>1 added, 0 removed, 1 modified, 7 unchanged</p>' alice.dom
	grep -q '>modified zP5kR Bellecour</span></li>' alice.dom
	grep -q '>added R2dNw Perrache</span></li>' alice.dom
	grep -q '>removed p9LcV Passerelle du Collège in layer Bike lanes</span>' lyon.dom
	# The points' screen positions, as the page computed them, hold the kind's colour. The
	# DOM is dumped as laid out in the window less the browser's bar; the screenshot is taken
	# at 800 pixels high, and Leaflet keeps the map's centre: y moves by half the difference.
	local checked=0 kind x y r g b height shift
	height=$(sed -n 's/.*data-viewport="1200x\([0-9]*\)".*/\1/p' alice.dom)
	shift=$(((800 - height) / 2))
	while read -r kind x y; do
		y=$((y + shift))
		read -r _ r g b < <(python3 "$BATS_TEST_DIRNAME/../tools/png_pixel.py" alice.png "$x,$y")
		is_colour "$kind" "$r" "$g" "$b" || fail "$kind feature at $x,$y is $r $g $b"
		checked=$((checked + 1))
	done < <(sed 's/<li/\n<li/g' alice.dom | sed -n \
		's/^<li[^>]* data-x="\([0-9]*\)" data-y="\([0-9]*\)"><span [^>]*><\/span><span class="\([a-z]*\)">.*/\3 \1 \2/p')
	assert_equal "$checked" 2
	# and the map is grey away from them: no tile was drawn offline
	read -r _ r g b < <(python3 "$BATS_TEST_DIRNAME/../tools/png_pixel.py" alice.png 400,400)
	assert_equal "$r $g $b" "232 232 232"
}

@test "html: property values holding <img onerror> or </script> stay text and never run" {
	command -v chromium >/dev/null || fail "chromium is not installed (make deps)"
	umapsync diff --format=html -o hostile.html "$HOSTILE_A" "$HOSTILE_B"
	run grep -c -F '<img src=x' hostile.html
	assert_output 0
	run grep -c -F "setAttribute('data-pwned','script')</script>" hostile.html
	assert_output 0
	chromium_page hostile.html >list.dom
	chromium_page 'hostile.html#change-1' >popup.dom # opens the popup of h3
	refute_console_messages
	grep -q 'data-umapsync-ready="3"' list.dom
	grep -q 'data-umapsync-ready="3"' popup.dom
	run grep -c 'data-pwned=' list.dom popup.dom
	assert_output "list.dom:0
popup.dom:0"
	grep -q -F 'added h3 [link](javascript:alert(1)) &amp; &amp;amp; &lt;img src=x onerror="document' list.dom
	grep -q -F '<span class="new">"&lt;/script&gt;&lt;script&gt;document.documentElement.setAttribute(' popup.dom
	grep -q -F '*bold* | &lt;b&gt;x&lt;/b&gt; @octocat $x$' list.dom
}

@test "html: revisions and the working files; the page grows with the change, not the map" {
	alice_ahead layer.geojson alice
	run_split umapsync diff --format=html -o revs.html main alice
	assert_success
	grep -q '"title":"main → alice"' revs.html
	grep -q '"summary":{"added":1,"removed":0,"modified":1,"unchanged":7}' revs.html
	cp "$ALICE" layer.geojson
	umapsync diff --format=html -o work.html
	grep -q '"title":"HEAD → working files"' work.html
	# 3,000 features, one of them changed: about the page of a 2-feature change
	jq -c '.features = [range(3000) as $i | .features[0] | .id = "f\($i)"
		| .properties.name = "n\($i)"]' "$BASE" >big-a.geojson
	jq -c '.features[1500].properties.name = "changed"' big-a.geojson >big-b.geojson
	umapsync diff --format=html -o big.html big-a.geojson big-b.geojson
	umapsync diff --format=html -o small.html "$BASE" "$ALICE"
	local big small
	big=$(wc -c <big.html) small=$(wc -c <small.html)
	[ "$big" -lt $((small + 2000)) ] || fail "1 change in 3,000 features: $big bytes, 2 changes: $small"
}

@test "html: without Leaflet, says what to install and writes no file" {
	UMAPSYNC_LEAFLET_DIR="$TEST_DIR/none" run_split umapsync diff --format=html -o out.html "$BASE" "$ALICE"
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: the HTML format needs Leaflet, not found in $TEST_DIR/none: install Debian's libjs-leaflet (or set UMAPSYNC_LEAFLET_DIR)"
	[ ! -e out.html ]
	# a Leaflet whose script holds an end tag is not inlined
	mkdir evil
	printf 'var a = "</SCRIPT><script>alert(1)";\n' >evil/leaflet.js
	: >evil/leaflet.css
	UMAPSYNC_LEAFLET_DIR="$TEST_DIR/evil" run_split umapsync diff --format=html "$BASE" "$ALICE"
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: cannot inline Leaflet from $TEST_DIR/evil: it holds an end tag"
}

@test "html: scripts/diff-html-screenshot.sh makes the README's screenshot from the bundled map" {
	command -v chromium >/dev/null || fail "chromium is not installed (make deps)"
	run_split "$BATS_TEST_DIRNAME/../../scripts/diff-html-screenshot.sh" "$TEST_DIR/shot.png"
	assert_success
	assert_output "wrote $TEST_DIR/shot.png"
	# a 1200x700 PNG; the committed docs/diff-html.png is what this script made
	run python3 - "$TEST_DIR/shot.png" <<-'PY'
	import struct, sys
	data = open(sys.argv[1], "rb").read()
	print(data[:8] == b"\x89PNG\r\n\x1a\n", struct.unpack(">II", data[16:24]))
	PY
	assert_output "True (1200, 700)"
	[ -s "$BATS_TEST_DIRNAME/../../docs/diff-html.png" ]
}

@test "show --format=html: the commit as the page's heading, its diff on the map" {
	alice_ahead layer.geojson alice
	run_split umapsync show --format=html -o show.html alice
	assert_success
	assert_output ""
	grep -q '"title":"commit [0-9a-f]\{7\} alice (Test User, ' show.html
	grep -q '"summary":{"added":1,"removed":0,"modified":1,"unchanged":7}' show.html
	# the same features as diff's page between the commit's parent and the commit
	umapsync diff --format=html -o diff.html main alice
	assert_equal "$(grep -o '"features":.*</script>' show.html)" \
		"$(grep -o '"features":.*</script>' diff.html)"
	run_split umapsync show --format=html alice
	assert_equal "$output" "$(cat show.html)"
	run_split umapsync show --format=text alice
	assert_line --index 0 --regexp '^commit [0-9a-f]{40}$'
}

@test "conflicts --format=html: each conflicted feature on the map, base/ours/theirs in its popup" {
	command -v chromium >/dev/null || fail "chromium is not installed (make deps)"
	alice_ahead parking.geojson alice # alice: capacity 40 -> 64
	sed -i '0,/"capacity": *40,/s//"capacity": 45,/' parking.geojson
	umapsync commit -m "bob: 45" >/dev/null
	run umapsync merge alice
	assert_failure
	run_split umapsync conflicts --format=html -o conflicts.html
	assert_equal "$status" 1 # a conflict is left, as for the other formats
	assert_output ""
	grep -q '"summary_text":"1 conflict in 1 feature"' conflicts.html
	chromium_page 'conflicts.html#change-0' >conflicts.dom
	refute_console_messages
	grep -q 'data-umapsync-ready="1"' conflicts.dom
	grep -q '>conflict zP5kR Bellecour in parking.geojson</span></li>' conflicts.dom
	grep -q -F '<td>properties.capacity (modify/modify)</td><td><div><span class="side">base: </span><span class="base">40</span></div><div><span class="side">ours: </span><span class="ours">45</span></div><div><span class="side">theirs: </span><span class="theirs">64</span></div></td>' conflicts.dom
	run_split umapsync conflicts --format=html
	assert_equal "$output" "$(cat conflicts.html)"
}

# The values of an RFC 8142 sequence, one compact JSON per line (jq --seq prefixes its own
# output with RS too).
seq_values() {
	jq --seq -c "${1:-.}" | tr -d '\036'
}

@test "geojsonseq: diff and export write RFC 8142 records, RS + one feature + LF each" {
	run_split umapsync diff --format=geojsonseq "$MAP" "$EDITED"
	assert_success
	# the features of --format=geojson, each a record of its own
	assert_equal "$(seq_values <<<"$output")" \
		"$(umapsync diff --format=geojson "$MAP" "$EDITED" | jq -c '.features[]')"
	assert_equal "$(printf '%s\n' "$output" | grep -c $'^\x1e{"type":"Feature",')" 5
	mkdir maps && cd maps
	umapsync init >/dev/null
	cp "$MAP" map.umap
	umapsync import map.umap >/dev/null
	cd ..
	alice_ahead layer.geojson alice
	umapsync export --format=geojsonseq HEAD layer.geojson >layer.seq
	umapsync export --format=geojsonseq -o layer-o.seq HEAD layer.geojson
	cmp layer.seq layer-o.seq
	assert_equal "$(seq_values <layer.seq)" "$(jq -c '.features[]' "$BASE")"
	assert_equal "$(head -c 1 layer.seq | od -An -c | tr -d ' ')" '036'
	# a map: the features of every layer, in order
	assert_equal "$(cd maps && umapsync export --format=geojsonseq HEAD map.umap | seq_values .id)" \
		"$(jq -c '.layers[].features[].id' "$MAP")"
	# the default is still the file as committed
	assert_equal "$(umapsync export HEAD layer.geojson | jq -c .)" "$(jq -c . "$BASE")"
}

@test "streams in: diff of ndjson and RFC 8142 sequences is the diff of the FeatureCollections they hold" {
	jq '{type: "FeatureCollection", features: .features}' "$BASE" >base.geojson
	jq '{type: "FeatureCollection", features: .features}' "$ALICE" >alice.geojson
	jq -c '.features[]' "$BASE" >base.ndjson
	{ echo; jq -c '.features[]' "$ALICE" | sed 's/^/\x1e/'; printf '\036\n'; } >alice.geojsons
	jq -c '.features[]' "$ALICE" >alice.txt # no extension: the first two lines tell
	local format
	for format in text json geojson markdown; do
		run_split umapsync diff --format=$format base.ndjson alice.geojsons
		assert_success
		assert_equal "$output" "$(umapsync diff --format=$format base.geojson alice.geojson)"
	done
	run_split umapsync diff --format=json base.ndjson alice.txt
	assert_equal "$output" "$(umapsync diff --format=json base.geojson alice.geojson)"
	run_split umapsync diff --exit-code base.ndjson base.geojson
	assert_success
	# the file's own lines in a message
	printf '{"type":"Feature","properties":{},"geometry":null}\n{"type":"Feature","properties":{"a":1,}}\n' >broken.ndjson
	run_split umapsync diff broken.ndjson base.ndjson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: broken.ndjson:2:39: trailing comma before '}'"
}
