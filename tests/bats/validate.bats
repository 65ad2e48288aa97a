#!/usr/bin/env bats
# umapsync validate (SPEC §4): parity with mapbox geojsonhint on its own fixtures and on ours,
# the uMap checks, output formats, exit codes, and bad input of every kind.

bats_require_minimum_version 1.5.0
load helper

# Runs validate --format=json on every X.geojson/X.umap of $1 that has an X.result (options
# from X.args) and compares the (line, message, level) multiset and the exit status.
# A .result entry with an "error" member is a geojsonhint JSON syntax error: its wording is
# jsonlint's and its line is jsonlint's line of the last good token minus one (geojsonhint's
# lib/index.js), so there we require one error on the line of the token it names.
# Prints the failures; succeeds only when all passed and exactly $2 files were checked.
compare_table() {
	local dir=$1 want_count=$2 count=0 failed=0 file base args want got status
	for file in "$dir"/*.geojson "$dir"/*.umap; do
		[ -e "$file" ] || continue
		base=${file%.*}
		[ -e "$base.result" ] || continue
		count=$((count + 1))
		args=$(cat "$base.args" 2>/dev/null || true)
		if jq -e 'any(.[]; has("error"))' "$base.result" >/dev/null; then
			local token line
			token=$(jq -r '.[0].error.hash.text' "$base.result")
			line=$(grep -nF -- "$token" "$file" | head -1 | cut -d: -f1)
			want="[{\"line\":$line,\"level\":\"error\"}]"
			got=$("$UMAPSYNC" validate --format=json $args "$file" 2>/dev/null |
				jq -c '[.[] | {line, level}]')
		else
			want=$(jq -c '[.[] | {line: (.line // 0), message,
				level: (if .level == "message" then "warning" else "error" end)}]
				| sort_by(.line, .message, .level)' "$base.result")
			got=$("$UMAPSYNC" validate --format=json $args "$file" 2>/dev/null |
				jq -c '[.[] | {line, message, level}] | sort_by(.line, .message, .level)')
		fi
		"$UMAPSYNC" validate $args "$file" >/dev/null 2>&1
		status=$?
		local want_status=0
		jq -e 'any(.[]; .level != "message")' "$base.result" >/dev/null && want_status=1
		if [ "$got" != "$want" ] || [ "$status" != "$want_status" ]; then
			echo "MISMATCH $file (exit $status, want $want_status)"
			echo "  want: $want"
			echo "  got:  $got"
			failed=$((failed + 1))
		fi
	done
	echo "checked $count files, $failed failed"
	[ "$failed" -eq 0 ] && [ "$count" -eq "$want_count" ]
}

@test "geojsonhint parity: every good fixture gives no message and exits 0" {
	local count=0 file
	for file in "$FIXTURES"/geojsonhint/good/*.geojson; do
		count=$((count + 1))
		run_split "$UMAPSYNC" validate "$file"
		if [ "$status" -ne 0 ] || [ -n "$output" ] || [ -n "$stderr" ]; then
			echo "MISMATCH $file: exit $status: $output $stderr"
			return 1
		fi
		run "$UMAPSYNC" validate --format=json "$file"
		assert_output "[]"
	done
	assert_equal "$count" 18
}

@test "geojsonhint parity: every bad fixture gives exactly geojsonhint's lines and messages" {
	run compare_table "$FIXTURES/geojsonhint/bad" 33
	echo "$output"
	assert_success
}

@test "geojsonhint parity: the rules its fixtures miss, checked against geojsonhint 3.3.0" {
	run compare_table "$FIXTURES/validate/rules" 30
	echo "$output"
	assert_success
}

@test "uMap checks: ids unique per layer and per map, id form, options objects" {
	run compare_table "$FIXTURES/validate/umap" 5
	echo "$output"
	assert_success
}

@test "the table test fails on a wrong line (it can fail)" {
	mkdir t
	cp "$FIXTURES/geojsonhint/bad/point.geojson" t/
	echo '[{"line": 2, "message": "\"coordinates\" member required"}]' > t/point.result
	run compare_table t 1
	assert_failure
	assert_line --partial "MISMATCH"
}

@test "text format: FILE:LINE:COL: level: message, one per line" {
	run umapsync validate "$FIXTURES/geojsonhint/bad/short-linearring.geojson"
	assert_failure 1
	assert_output - <<EOF
$FIXTURES/geojsonhint/bad/short-linearring.geojson:3:5: error: a LinearRing of coordinates needs to have four or more positions
$FIXTURES/geojsonhint/bad/short-linearring.geojson:3:5: error: the first and last positions in a LinearRing of coordinates must be the same
EOF
}

@test "json format: one array of file, line, column, level, message" {
	cp "$FIXTURES/geojsonhint/bad/point-toomany.geojson" p.geojson
	run_split umapsync validate --format=json p.geojson "$FIXTURES/geojsonhint/good/good-point.geojson"
	assert_success
	assert_equal "$stderr" ""
	assert_output - <<'EOF'
[
  {"file": "p.geojson", "line": 3, "column": 20, "level": "warning", "message": "position should not have more than 3 elements"}
]
EOF
	run umapsync validate --format=json --strict p.geojson
	assert_failure 1
}

@test "compact format: FILE:LINE:COL level message, for editors and CI annotations" {
	cp "$FIXTURES/geojsonhint/bad/point.geojson" p.geojson
	cp "$FIXTURES/geojsonhint/bad/point-toomany.geojson" w.geojson
	run umapsync validate --format=compact p.geojson w.geojson
	assert_failure 1
	assert_output - <<'EOF'
p.geojson:1:1 error "coordinates" member required
w.geojson:3:20 warning position should not have more than 3 elements
EOF
}

@test "--strict turns warnings into a failure" {
	cp "$FIXTURES/geojsonhint/bad/polygon_winding_order.geojson" w.geojson
	run umapsync validate w.geojson
	assert_success
	assert_output "w.geojson:1:1: warning: Polygons and MultiPolygons should follow the right-hand rule"
	run umapsync validate --strict w.geojson
	assert_failure 1
	run umapsync validate --ignore-rhr --strict w.geojson
	assert_success
	assert_output ""
}

@test "--allow-duplicate-members and --precision-warning" {
	cp "$FIXTURES/geojsonhint/bad/bad-duplicate-properties.geojson" d.geojson
	run umapsync validate --allow-duplicate-members d.geojson
	assert_failure 1
	refute_output --partial "duplicate members"
	assert_output --partial '"geometry" member required'
	printf '{"type": "Point", "coordinates": [4.83571234, 45.764]}' > p.geojson
	run umapsync validate p.geojson
	assert_success
	assert_output ""
	run umapsync validate --precision-warning p.geojson
	assert_success
	assert_output "p.geojson:1:34: warning: precision of coordinates should be reduced"
}

@test "many files and stdin: every file is checked, exit 1 when any is invalid" {
	good="$FIXTURES/geojsonhint/good/good-point.geojson"
	bad="$FIXTURES/geojsonhint/bad/point.geojson"
	run umapsync validate "$good" - "$good" < "$bad"
	assert_failure 1
	assert_output '<stdin>:1:1: error: "coordinates" member required'
	run umapsync validate - < "$good"
	assert_success
	assert_output ""
}

@test "the bundled examples are valid; a uMap layer needs --umap for its properties" {
	run umapsync validate "$EXAMPLES/cycling-lyon.umap"
	assert_success
	assert_output ""
	run umapsync validate --umap "$EXAMPLES"/bike-parking*.geojson
	assert_success
	assert_output ""
	run_split umapsync validate "$EXAMPLES/bike-parking.geojson"
	assert_failure 1
	assert_output "$EXAMPLES/bike-parking.geojson:1:1: error: FeatureCollection object cannot contain a \"properties\" member"
	assert_equal "$stderr" 'hint: uMap keeps layer options in "properties": use --umap to accept them'
}

@test "bad input: each gets a clear message with a position and exit 1" {
	# name | bytes (printf format) | expected output after "NAME:"
	local table=(
		'empty||1:1: error: empty input: expected a JSON value'
		'blank|  \n  |2:3: error: empty input: expected a JSON value'
		'bom|\xef\xbb\xbf{"type": "Point", "coordinates": [1, 2]}|1:1: error: the file starts with a UTF-8 byte order mark (BOM), which JSON does not allow; save it as UTF-8 without BOM'
		'utf16|\xff\xfe{\x00}\x00|1:1: error: the file looks like UTF-16 text; JSON must be UTF-8'
		'latin1|{"type": "Feature", "properties": {"name": "Caf\xe9"}}|1:48: error: invalid UTF-8 byte 0xe9 in a string (is the file in another encoding, such as Latin-1?)'
		'nul|{"type": "Point",\n \x00 "coordinates": [1, 2]}|2:2: error: unexpected NUL byte (is this a binary or UTF-16 file?); expected a member name in double quotes'
		'nan|{"type": "Point", "coordinates": [NaN, 2]}|1:35: error: NaN is not a JSON value (JSON has no NaN or infinities; use null or a finite number)'
		'infinity|{"type": "Point", "coordinates": [1, -Infinity]}|1:38: error: -Infinity is not a JSON value (JSON has no NaN or infinities; use null or a finite number)'
		'huge|{"type": "Point", "coordinates": [1e400, 2]}|1:35: error: number 1e400 is out of range (the largest is 1.7976931348623157e308)'
		'truncated|{"type": "Feature",\n "geometry": {"type": "Point", "coordinates": [1,|2:50: error: unexpected end of input: the array opened at line 2, column 47 is not closed (is the file truncated?)'
		'trailing|{"type": "Point", "coordinates": [1, 2]} x|1:42: error: unexpected data after the end of the JSON value (only one value is allowed per file)'
		'comma|{"type": "Point", "coordinates": [1, 2],}|1:41: error: trailing comma before '"'"'}'"'"''
	)
	local row name bytes want failed=0
	for row in "${table[@]}"; do
		name=${row%%|*}
		bytes=${row#*|}
		bytes=${bytes%|*}
		want=${row##*|}
		printf "$bytes" > "$name.geojson"
		run "$UMAPSYNC" validate "$name.geojson"
		if [ "$status" -ne 1 ] || [ "$output" != "$name.geojson:$want" ]; then
			echo "MISMATCH $name: exit $status"
			echo "  want: $name.geojson:$want"
			echo "  got:  $output"
			failed=$((failed + 1))
		fi
	done
	[ "$failed" -eq 0 ]
}

@test "bad input: 100,000 nested arrays is a limit error, not a crash" {
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]" }' > deep.geojson
	run umapsync validate deep.geojson
	assert_failure 1
	assert_output "deep.geojson:1:257: error: nesting is deeper than the limit of 256 levels"
}

@test "bad input: a directory or a missing file is fatal (128); the other files are still checked" {
	mkdir dir
	run_split umapsync validate dir "$FIXTURES/geojsonhint/bad/point.geojson" missing.geojson
	assert_equal "$status" 128
	assert_output "$FIXTURES/geojsonhint/bad/point.geojson:1:1: error: \"coordinates\" member required"
	assert_equal "$stderr" "error: 'dir' is a directory, not a file
error: cannot open 'missing.geojson': No such file or directory"
}

@test "usage errors exit 129" {
	run_split umapsync validate
	assert_equal "$status" 129
	assert_equal "$output" ""
	[[ "$stderr" == *"no file given (use - to read stdin)"* ]]
	run_split umapsync validate --format=xml a.geojson
	assert_equal "$status" 129
}

@test "a streamed layer: the error in feature 1500 of 2000 has its own line" {
	awk 'BEGIN {
		print "{\"type\": \"FeatureCollection\", \"features\": ["
		for (i = 1; i <= 2000; i++) {
			coords = (i == 1500) ? "[4.8]" : "[4.8, 45.7]"
			printf "{\"type\": \"Feature\", \"id\": \"f%04d\", \"properties\": {\"n\": %d},\n \"geometry\": {\"type\": \"Point\", \"coordinates\": %s}}%s\n", i, i, coords, (i < 2000 ? "," : "")
		}
		print "]}"
	}' > layer.geojson
	run umapsync validate layer.geojson
	assert_failure 1
	assert_output "layer.geojson:3001:47: error: position must have 2 or more elements"
	run umapsync validate --umap --format=json layer.geojson
	assert_failure 1
	assert_equal "$(echo "$output" | jq length)" 1
}

@test "the fast path for plain features gives exactly what the full rules give" {
	local file opts
	for file in "$FIXTURES/validate/fastpath.geojson" "$FIXTURES/validate/rules/features-mixed.geojson" \
		"$FIXTURES"/validate/umap/*.umap "$FIXTURES/validate/umap/layer.geojson" \
		"$EXAMPLES/cycling-lyon.umap" "$EXAMPLES/bike-parking.geojson"; do
		for opts in "" "--umap" "--ignore-rhr" "--allow-duplicate-members --umap"; do
			fast=$("$UMAPSYNC" validate $opts "$file" 2>&1 || true)
			full=$("$UMAPSYNC" validate --no-fast-path $opts "$file" 2>&1 || true)
			if [ "$fast" != "$full" ]; then
				echo "DIFFERENT $file $opts"
				diff <(echo "$fast") <(echo "$full")
				return 1
			fi
		done
	done
	run umapsync validate --umap "$FIXTURES/validate/fastpath.geojson"
	assert_failure 1
	assert_line --index 0 "$FIXTURES/validate/fastpath.geojson:3:54: error: \"_umap_options\" in feature properties must be an object, not number"
	assert_line "$FIXTURES/validate/fastpath.geojson:6:1: error: duplicate feature id \"bbbbb\" in this layer: first at line 5, again at line 6"
	assert_line "$FIXTURES/validate/fastpath.geojson:11:1: error: duplicate feature id 1 in this layer: first at line 10, again at line 11"
}

@test "--format=github: Actions annotations, escaped as GitHub reads them (golden)" {
	local dir="$FIXTURES/validate/github"
	cp "$dir"/*.geojson .
	cp type-with-newline.geojson 'we,ird:50%.geojson' # ',' ':' '%' in file= are escaped
	run_split umapsync validate --format=github rhr-warning.geojson two-errors.geojson \
		type-with-newline.geojson 'we,ird:50%.geojson' missing.geojson
	assert_equal "$status" 128
	assert_equal "$output" "$(cat "$dir/expected.txt")"
	assert_equal "$stderr" "error: cannot open 'missing.geojson': No such file or directory"
}

@test "--format=github: warnings alone pass unless --strict; a valid file prints nothing" {
	run_split umapsync validate --format=github "$FIXTURES/validate/github/rhr-warning.geojson"
	assert_success
	assert_output --regexp '^::warning file=[^,]*rhr-warning\.geojson,line=1,col=1::Polygons and MultiPolygons should follow the right-hand rule$'
	run_split umapsync validate --strict --format=github "$FIXTURES/validate/github/rhr-warning.geojson"
	assert_equal "$status" 1
	run_split umapsync validate --format=github "$EXAMPLES/cycling-lyon.umap"
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
}

@test "streams: newline-delimited GeoJSON and RFC 8142 sequences, record by record, with the file's lines" {
	jq -c '.features[]' "$EXAMPLES/bike-parking.geojson" >layer.ndjson
	run_split umapsync validate layer.ndjson
	assert_success
	assert_output ""
	cp layer.ndjson sniffed.txt # no extension to go by: the first two lines tell
	run_split umapsync validate sniffed.txt
	assert_success
	{
		sed -n 1,2p layer.ndjson
		echo '{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1]}}'
		echo
		echo '{"type":"Feature","properties":{}, "geometry":{"type":"LineString","coordinates":[[1,2]]}}'
	} >bad.geojsonl
	run_split umapsync validate bad.geojsonl
	assert_failure 1
	assert_output "bad.geojsonl:3:76: error: position must have 2 or more elements
bad.geojsonl:5:82: error: a line needs to have two or more coordinates to be valid"
	# RS takes the first column of its line; a record may span lines
	printf '\036{"type":"Feature","properties":{},"geometry":null}\n\036{"type":"Feature",\n"properties":{},"geometry":{"type":"Point","coordinates":[1]}}\n\036{"type":"Point","coordinates":[1]}\n' >bad.seq
	cp bad.seq bad.geojsons
	run_split umapsync validate --format=github bad.seq bad.geojsons
	assert_failure 1
	assert_output "::error file=bad.seq,line=3,col=58::position must have 2 or more elements
::error file=bad.seq,line=4,col=32::position must have 2 or more elements
::error file=bad.geojsons,line=3,col=58::position must have 2 or more elements
::error file=bad.geojsons,line=4,col=32::position must have 2 or more elements"
	printf 'junk\036{}' >junk.geojsons
	run_split umapsync validate junk.geojsons
	assert_failure 1
	assert_output "junk.geojsons:1:1: error: a GeoJSON text sequence starts each record with the RS character (0x1E)"
	# a one-line FeatureCollection is still one document
	jq -c . "$EXAMPLES/bike-parking.geojson" >one-line.geojson
	run_split umapsync validate --umap one-line.geojson
	assert_success
}
