#!/usr/bin/env bats
# GeoJSON streams in (issue 21): RFC 8142 text sequences (RS records) and newline-delimited
# GeoJSON read by validate, diff, merge-file and import, from files and from standard input,
# give what the FeatureCollection they hold gives; a tracked stream stays a stream.

bats_require_minimum_version 1.5.0
load helper

setup_file() {
	export BASE="$EXAMPLES/bike-parking.geojson" ALICE="$EXAMPLES/bike-parking-alice.geojson"
	export BOB="$EXAMPLES/bike-parking-bob.geojson" MERGES="$FIXTURES/merge"
}

# to_streams FC NAME: NAME.geojson (the features alone, as a FeatureCollection), NAME.geojsonl
# (one feature a line) and NAME.geojsons (RFC 8142: RS before each record) of FC's features.
to_streams() {
	jq '{type: "FeatureCollection", features: .features}' "$1" >"$2.geojson"
	jq -c '.features[]' "$1" >"$2.geojsonl"
	jq -c '.features[]' "$1" | sed 's/^/\x1e/' >"$2.geojsons"
}

# records: the values of a stream, one compact JSON a line (RS dropped)
records() {
	tr -d '\036' | jq -c .
}

@test "validate: a stream's messages are the FeatureCollection's, at the record's own line, from a file or stdin" {
	{
		jq -c '.features[0:6][]' "$BASE"
		echo '{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1]}}'
	} | jq -s '{type: "FeatureCollection", features: .}' >bad-in.geojson
	to_streams bad-in.geojson bad
	run_split umapsync validate --format=json bad.geojson
	assert_failure 1
	local messages=$(jq -c 'map(.message)' <<<"$output")
	assert_equal "$messages" '["position must have 2 or more elements"]'
	local form
	for form in geojsonl geojsons; do
		run_split umapsync validate --format=json bad.$form
		assert_failure 1
		assert_equal "$(jq -c 'map(.message)' <<<"$output")" "$messages"
		assert_equal "$(jq -c 'map(.line)' <<<"$output")" '[7]'
		# standard input: told by its first byte (RS) or its first two lines
		run_split umapsync validate - <bad.$form
		assert_failure 1
		assert_equal "$output" "$(umapsync validate bad.$form | sed "s/^bad\.$form:/<stdin>:/")"
	done
	assert_equal "$output" "<stdin>:7:77: error: position must have 2 or more elements"
	# a FeatureCollection on stdin is still one document, and so is a single Feature
	run_split umapsync validate - <bad.geojson
	assert_failure 1
	assert_output --partial "<stdin>:"
	jq -c '.features[0]' "$BASE" | umapsync validate -
	to_streams "$BASE" good
	umapsync validate - <good.geojsonl
	umapsync validate - <good.geojsons
}

@test "diff: stream inputs give the diff of the FeatureCollections they hold, in every format and from stdin" {
	to_streams "$BASE" base
	to_streams "$ALICE" alice
	local format a b
	for format in text json geojson geojsonseq markdown ops; do
		local extra=()
		[ "$format" = ops ] && extra=(--layer-id=L)
		local want=$(umapsync diff --format=$format "${extra[@]}" base.geojson alice.geojson)
		for a in geojsonl geojsons; do
			for b in geojsonl geojsons geojson; do
				run_split umapsync diff --format=$format "${extra[@]}" base.$a alice.$b
				assert_success
				assert_equal "$output" "$want"
			done
			# either side on standard input, told by its first bytes
			run_split umapsync diff --format=$format "${extra[@]}" base.$a - <alice.$a
			assert_success
			assert_equal "$output" "$(umapsync diff --format=$format "${extra[@]}" base.geojson - <alice.geojson)"
			run_split umapsync diff --format=$format "${extra[@]}" - alice.geojson <base.$a
			assert_success
			assert_equal "$output" "$(umapsync diff --format=$format "${extra[@]}" - alice.geojson <base.geojson)"
		done
	done
	run_split umapsync diff --exit-code - base.geojson <base.geojsons
	assert_success
	run_split umapsync diff --exit-code --stat base.geojsonl - <alice.geojsons
	assert_failure 1
	assert_equal "$output" "$(umapsync diff --stat base.geojson alice.geojson)"
}

@test "diff: a bad record says the file's own line and column, first line and stdin included" {
	to_streams "$BASE" base
	{ head -6 base.geojsonl; echo '{"type":"Feature","properties":{"a":1,}}'; } >bad.geojsonl
	sed 's/^/\x1e/' bad.geojsonl >bad.geojsons
	printf '{"type":"Feature","properties":{"a":1,}}\n{"type":"Feature","properties":{},"geometry":null}\n' >first.ndjson
	run_split umapsync diff base.geojsonl bad.geojsonl
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: bad.geojsonl:7:39: trailing comma before '}'"
	run_split umapsync diff base.geojsonl bad.geojsons
	assert_equal "$stderr" "fatal: bad.geojsons:7:40: trailing comma before '}'"
	run_split umapsync diff base.geojsonl - <bad.geojsons
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: <stdin>:7:40: trailing comma before '}'"
	run_split umapsync diff first.ndjson base.geojsonl
	assert_equal "$stderr" "fatal: first.ndjson:1:39: trailing comma before '}'"
	# a repeated id names both lines of the file
	{ head -6 base.geojsonl; head -1 base.geojsonl; } >dup.geojsonl
	run_split umapsync diff base.geojsonl dup.geojsonl
	assert_equal "$status" 128
	assert_equal "$stderr" 'fatal: dup.geojsonl:7:1: duplicate feature id "zP5kR": first on line 1, again on line 7'
}

# merge_case CASE: the case's three versions without their layer options (which a stream
# cannot hold) as FeatureCollections and as both stream forms: base.*, ours.*, theirs.*
merge_case() {
	local v
	for v in base ours theirs; do
		to_streams "$MERGES/$1/$v.geojson" $v
	done
}

@test "merge-file: streams merge as the FeatureCollections they hold, written in OURS' form, conflicts reported alike" {
	local case n=0
	for case in $(ls "$MERGES"); do
		[ -f "$MERGES/$case/base.geojson" ] || continue
		jq -e '.type == "FeatureCollection"' "$MERGES/$case/base.geojson" >/dev/null || continue
		merge_case "$case"
		run_split umapsync merge-file -p --conflicts=fc.json base.geojson ours.geojson theirs.geojson
		local want_status=$status want_stderr=$stderr
		local want=$(jq -c '.features[]' <<<"$output")
		local b o t
		for b in geojsonl geojsons; do
			for o in geojsonl geojsons; do
				t=$([ $b = geojsonl ] && echo geojsons || echo geojsonl)
				run_split umapsync merge-file -p --conflicts=seq.json base.$b ours.$o theirs.$t
				assert_equal "$status" "$want_status"
				assert_equal "$stderr" "$want_stderr"
				assert_equal "$(records <<<"$output")" "$want"
				# OURS' form: RS before every record, or none at all
				if [ $o = geojsons ]; then
					assert_equal "$(grep -vc $'^\x1e{' <<<"$output")" 0
				else
					assert_equal "$(grep -c $'\x1e' <<<"$output")" 0
				fi
				assert_equal "$(cat seq.json)" "$(cat fc.json)"
			done
		done
		n=$((n + 1))
	done
	[ "$n" -ge 15 ]
}

@test "merge-file: a stream merged in place stays a stream; OURS a FeatureCollection keeps the result one; stdin sniffed" {
	merge_case modify-modify
	cp ours.geojsonl result.geojsonl
	run_split umapsync merge-file base.geojsons result.geojsonl theirs.geojsons
	assert_failure 1
	assert_equal "$stderr" "CONFLICT (modify/modify): feature A: properties.capacity is 64 in ours, 50 in theirs (base 40)
merged with 1 conflict; the result keeps ours"
	# ours kept where they conflict, one line a feature, as OURS was
	assert_equal "$(cat result.geojsonl)" "$(cat ours.geojsonl)"
	run_split umapsync merge-file -p --theirs base.geojsons ours.geojsons theirs.geojsonl
	assert_success
	assert_equal "$(records <<<"$output")" "$(jq -c '.features[]' theirs.geojson)"
	# the FeatureCollection OURS was, whatever BASE and THEIRS are
	run_split umapsync merge-file -p base.geojsons ours.geojson theirs.geojsonl
	assert_failure 1
	assert_equal "$output" "$(umapsync merge-file -p base.geojson ours.geojson theirs.geojson 2>/dev/null)"
	# any of the three on standard input, told by its first bytes; OURS' form kept from there
	local form
	for form in geojsonl geojsons; do
		run_split umapsync merge-file -p -q base.$form - theirs.geojson <ours.$form
		assert_failure 1
		assert_equal "$output" "$(umapsync merge-file -p -q base.$form ours.$form theirs.geojson)"
		run_split umapsync merge-file -p -q - ours.geojson theirs.$form <base.$form
		assert_failure 1
		assert_equal "$output" "$(umapsync merge-file -p -q base.geojson ours.geojson theirs.geojson)"
	done
	# a bad record on line 2 of THEIRS says so; OURS is left as it was
	printf '{"type":"Feature","id":"A","properties":{}}\n{"type":"Feature","id":"B",}\n' >bad.ndjson
	cp ours.geojsonl kept.geojsonl
	run_split umapsync merge-file base.geojsonl kept.geojsonl bad.ndjson
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: bad.ndjson:2:28: trailing comma before '}'"
	cmp kept.geojsonl ours.geojsonl
}

@test "import: a stream becomes a layer that stays a stream through status, diff, commit, export and checkout" {
	to_streams "$BASE" base
	to_streams "$ALICE" alice
	local form
	mkdir fc && (cd fc && umapsync init >/dev/null && cp ../base.geojson layer.geojson &&
		     umapsync import layer.geojson >/dev/null)
	for form in geojsonl geojsons; do
		mkdir $form && cd $form
		umapsync init >/dev/null
		cp ../base.$form layer.$form
		run_split umapsync import layer.$form
		assert_success
		assert_line --index 0 "layer.$form: 1 layer, 8 features"
		cmp layer.$form ../base.$form
		run_split umapsync status
		assert_output --partial "nothing to commit, working files clean"
		run_split umapsync export HEAD layer.$form
		assert_equal "$output" "$(cat ../base.$form)"
		# the working file edited by any tool: status and diff see the features
		cp ../alice.$form layer.$form
		run_split umapsync status
		assert_output --partial "modified:   layer.$form (1 added, 1 modified, 0 removed)"
		run_split umapsync diff --format=json
		assert_equal "$(jq -c ".features | map(del(.layer))" <<<"$output")" \
			"$(cd ../fc && cp ../alice.geojson layer.geojson && umapsync diff --format=json | jq -c ".features | map(del(.layer))")"
		umapsync commit -m alice >/dev/null
		run_split umapsync status
		assert_output --partial "nothing to commit, working files clean"
		run_split umapsync diff --format=json HEAD~1 HEAD
		assert_equal "$(jq -c ".features | map(del(.layer))" <<<"$output")" \
			"$(cd ../fc && umapsync commit -m alice >/dev/null && umapsync diff --format=json HEAD~1 HEAD | jq -c ".features | map(del(.layer))")"
		(cd ../fc && umapsync reset --hard HEAD~1 >/dev/null 2>&1)
		# the revisions are written back as streams, byte for byte
		umapsync checkout HEAD~1 2>/dev/null
		cmp layer.$form ../base.$form
		umapsync checkout main 2>/dev/null
		cmp layer.$form ../alice.$form
		run_split umapsync export --format=geojsonseq HEAD layer.$form
		assert_equal "$(records <<<"$output")" "$(records <../alice.geojsons)"
		cd ..
	done
}

@test "import: ids assigned to a stream's features are written into its records; bad records name their line" {
	mkdir repo && cd repo
	umapsync init >/dev/null
	jq -c '.features[] | del(.id)' "$BASE" | sed 's/^/\x1e/' >layer.geojsons
	run_split umapsync import layer.geojsons
	assert_success
	assert_line --index 0 "layer.geojsons: 1 layer, 8 features, 8 ids assigned"
	assert_equal "$(grep -c $'^\x1e{"type":"Feature",.*"id":"[A-Za-z0-9]\{5\}"}$' layer.geojsons)" 8
	run_split umapsync status
	assert_output --partial "nothing to commit, working files clean"
	# a feature added to the stream gets its id on commit, in its record
	echo '{"type":"Feature","properties":{"x":1},"geometry":null}' | sed 's/^/\x1e/' >>layer.geojsons
	run_split umapsync commit -m more
	assert_success
	assert_equal "$(tail -n 1 layer.geojsons | tr -d '\036' | jq -c 'del(.id)')" '{"type":"Feature","properties":{"x":1},"geometry":null}'
	assert_equal "$(tail -n 1 layer.geojsons | tr -d '\036' | jq -r .id | grep -c '^[A-Za-z0-9]\{5\}$')" 1
	run_split umapsync status
	assert_output --partial "nothing to commit, working files clean"
	# a bad record: the file's line, and nothing tracked
	jq -c '.features[]' "$BASE" | head -6 >bad.geojsonl
	echo '{"type":"Feature","properties":{"a":1,}}' >>bad.geojsonl
	run_split umapsync import bad.geojsonl
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: $PWD/bad.geojsonl:7:39: trailing comma before '}'"
}

@test "export --format=geojsonseq of a large revision: RS records in order, which import as a stream exported byte for byte" {
	mkdir repo && cd repo
	umapsync init >/dev/null
	big_layer layer.geojson 20000
	umapsync import layer.geojson >/dev/null
	umapsync export --format=geojsonseq -o layer.geojsons HEAD layer.geojson
	assert_equal "$(grep -c $'^\x1e{"type":"Feature","id":"f' layer.geojsons)" 20000
	assert_equal "$(records <layer.geojsons | jq -r .id | head -3 | tr '\n' ' ')" "f0 f1 f2 "
	# the stream reads back as the layer it came from, and imports as a stream of its own
	run_split umapsync diff --exit-code layer.geojson layer.geojsons
	assert_success
	mkdir ../again && mv layer.geojsons ../again/ && cd ../again
	umapsync init >/dev/null
	umapsync import layer.geojsons >/dev/null
	umapsync export HEAD layer.geojsons | cmp - layer.geojsons
}

@test "merge and rebase of a tracked stream: features merged per key, the file stays a stream" {
	to_streams "$BASE" base
	to_streams "$ALICE" alice
	to_streams "$BOB" bob
	mkdir repo && cd repo
	umapsync init >/dev/null
	cp ../base.geojsons layer.geojsons
	umapsync import layer.geojsons >/dev/null
	umapsync branch alice
	umapsync checkout alice 2>/dev/null
	cp ../alice.geojsons layer.geojsons
	umapsync commit -m alice >/dev/null
	umapsync checkout main 2>/dev/null
	cp ../bob.geojsons layer.geojsons
	umapsync commit -m bob >/dev/null
	umapsync branch bob
	run_split umapsync merge alice
	assert_success
	assert_equal "$stderr" ""
	# Alice's capacity and Bob's roof on one feature; one RS record per feature
	assert_equal "$(records <layer.geojsons | jq -c 'select(.id == "zP5kR") | [.properties.capacity, .properties.covered]')" '[64,true]'
	assert_equal "$(grep -c $'^\x1e{"type":"Feature",' layer.geojsons)" "$(wc -l <layer.geojsons)"
	assert_equal "$(wc -l <layer.geojsons)" 9
	run_split umapsync status
	assert_output --partial "nothing to commit, working files clean"
	umapsync checkout bob 2>/dev/null
	run_split umapsync rebase alice
	assert_success
	assert_equal "$(records <layer.geojsons)" "$(umapsync export main layer.geojsons | records)"
	assert_equal "$(grep -c $'^\x1e{"type":"Feature",' layer.geojsons)" 9
}

@test "status lists untracked streams named as GeoJSON (.geojsonl, .geojsons, .geojsonseq), not any .ndjson" {
	to_streams "$BASE" base
	mkdir repo && cd repo
	umapsync init >/dev/null
	cp ../base.geojson layer.geojson
	umapsync import layer.geojson >/dev/null
	cp ../base.geojsonl a.geojsonl
	cp ../base.geojsons b.geojsons
	cp ../base.geojsons c.geojsonseq
	cp ../base.geojsonl logs.ndjson
	run_split umapsync status
	assert_success
	assert_output "On branch main
Untracked map files:
  (use 'umapsync import FILE' to start tracking them)
	a.geojsonl
	b.geojsons
	c.geojsonseq

nothing to commit, but untracked map files are present"
}

@test "an empty stream is an empty layer: validate, diff, import" {
	: >empty.geojsons
	printf '\n' >blank.geojsonl
	run_split umapsync validate empty.geojsons blank.geojsonl
	assert_success
	assert_output ""
	run_split umapsync diff --format=json empty.geojsons blank.geojsonl
	assert_success
	assert_equal "$(jq -c .summary <<<"$output")" '{"added":0,"removed":0,"modified":0,"unchanged":0}'
	mkdir repo && cd repo
	umapsync init >/dev/null
	: >layer.geojsons
	run_split umapsync import layer.geojsons
	assert_success
	assert_line --index 0 "layer.geojsons: 1 layer, 0 features"
	run_split umapsync export HEAD layer.geojsons
	assert_output ""
}
