#!/usr/bin/env bats
# A command that fails changes no file (SPEC §2 "Writing"): every working file keeps its
# bytes when merge, rebase, resolve, apply, export or merge-file stop on bad input. (A
# refused pull is proven byte for byte in hostile.bats; import and commit in layout.bats.)

bats_require_minimum_version 1.5.0
load helper

# Every working file's bytes (the repository's own directory aside).
work_files() {
	find . -path ./.umapsync -prune -o -type f -print | LC_ALL=C sort | xargs -r sha1sum
}

@test "refused: merge stopped by a working file it cannot read changes no file" {
	alice_and_bob parking.geojson alice
	cp "$EXAMPLES/bike-parking.geojson" other.geojson
	umapsync import other.geojson >/dev/null
	printf '{"type": "FeatureCollection", "features": [' >parking.geojson
	before=$(work_files)
	run_split umapsync merge alice
	assert_failure 128
	[[ "$stderr" == "fatal: "*"parking.geojson:1:44: unexpected end of input"* ]]
	assert_equal "$(work_files)" "$before"
	[ ! -e .umapsync/MERGE_STATE ]
}

@test "refused: rebase stopped by a working file it cannot read changes no file" {
	alice_and_bob parking.geojson alice
	printf '{"type": "FeatureCollection", "features": [' >parking.geojson
	before=$(work_files)
	run_split umapsync rebase alice
	assert_failure 128
	assert_equal "$(work_files)" "$before"
	[ ! -e .umapsync/REBASE_STATE ]
}

@test "refused: resolve with an invalid --value changes no file" {
	alice_and_bob parking.geojson alice
	sed -i '0,/"capacity": *40,/s//"capacity": 80,/' parking.geojson
	umapsync commit -m "bob: 80" >/dev/null
	umapsync merge alice 2>/dev/null || true
	[ -e .umapsync/MERGE_STATE ]
	before=$(work_files)
	run_split umapsync resolve zP5kR capacity --value='{oops'
	assert_failure 128
	assert_equal "$(work_files)" "$before"
	run_split umapsync resolve zP5kR capacity --value='[1e999999]'
	assert_failure
	assert_equal "$(work_files)" "$before"
}

@test "refused: apply --check, and apply of a patch that does not match, change no file" {
	cp "$EXAMPLES/bike-parking.geojson" parking.geojson
	umapsync diff --format=json parking.geojson "$EXAMPLES/bike-parking-alice.geojson" >alice.patch || true
	cp "$EXAMPLES/bike-parking-bob.geojson" bob.geojson
	sed -i '0,/"capacity": *40,/s//"capacity": 41,/' bob.geojson
	before=$(work_files)
	run_split umapsync apply --check alice.patch parking.geojson
	assert_success
	assert_equal "$(work_files)" "$before"
	run_split umapsync apply alice.patch bob.geojson
	assert_failure 1
	[[ "$stderr" == *"the patch expects 40"* ]]
	run_split umapsync apply --check alice.patch bob.geojson
	assert_failure 1
	assert_equal "$(work_files)" "$before"
}

@test "refused: export -o to a target it cannot write changes no file" {
	umapsync init >/dev/null
	cp "$EXAMPLES/bike-parking.geojson" parking.geojson
	umapsync import parking.geojson >/dev/null
	echo kept >file
	mkdir dir.geojson
	before=$(work_files)
	run_split umapsync export HEAD parking.geojson -o file/out.geojson
	assert_failure 128
	run_split umapsync export HEAD parking.geojson -o dir.geojson
	assert_failure 128
	run_split umapsync export HEAD missing.geojson -o out.geojson
	assert_failure 128
	assert_equal "$(work_files)" "$before"
	[ ! -e out.geojson ]
}

@test "refused: merge-file -o when a side is invalid changes no file" {
	cp "$EXAMPLES/bike-parking.geojson" base.geojson
	cp "$EXAMPLES/bike-parking-alice.geojson" ours.geojson
	printf '{"type": "FeatureCollection", "features": [{"type": "Feature"}' >theirs.geojson
	echo kept >out.geojson
	before=$(work_files)
	run_split umapsync merge-file -o out.geojson base.geojson ours.geojson theirs.geojson
	assert_failure 128
	assert_equal "$(work_files)" "$before"
	run_split umapsync merge-file base.geojson ours.geojson theirs.geojson
	assert_failure 128
	assert_equal "$(work_files)" "$before"
}
