#!/bin/sh
# bench/run.sh (`make bench`): times umapsync and its peers on the same generated and real
# layers, then rewrites docs/BENCHMARKS.md and docs/bench-*.svg through bench/report.sh.
#
# Environment: UMAPSYNC (binary; default ./umapsync), BENCH_LARGE=1 (adds 1M features),
# BENCH_SIZES (feature counts, default "10000 100000"), BENCH_TIMEOUT (seconds one peer run
# may take, default 120), BENCH_QUICK=1 (one run each: for trying the harness),
# BENCH_OFFLINE=1 (install nothing; what is missing is reported as n/a), BENCH_NO_JS=1 (leave
# out the JavaScript peers, which take most of the time: for trying the harness).
# Commands that fail or say "not implemented" are reported as n/a, so the harness runs at
# every stage of the product. Nothing here is needed by the build or the tests.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u -o pipefail

cd "$(dirname "$0")/.." || exit 128
ROOT=$PWD
U=${UMAPSYNC:-$ROOT/umapsync}
DATA=$ROOT/bench/data
OUT=$ROOT/bench/out
WORK=$OUT/work
TOOLS=$ROOT/build/bench
RESULTS=$OUT/results.tsv
FACTS=$OUT/facts.tsv
META=$OUT/meta.tsv
LOG=$OUT/bench.log

SIZES=${BENCH_SIZES:-10000 100000}
[ "${BENCH_LARGE:-0}" = 1 ] && [ -z "${BENCH_SIZES:-}" ] && SIZES="10000 100000 1000000"
# the edits of a 1M layer add features: past the default limit of a million a layer
for n in $SIZES; do
	[ "$n" -ge 1000000 ] && export UMAPSYNC_MAX_FEATURES=${UMAPSYNC_MAX_FEATURES:-$((2 * n))}
done
PEER_LIMIT=${BENCH_TIMEOUT:-120}
OUR_LIMIT=300
SYNC_LIMIT=120
# A bound on the JavaScript peers' heaps, so that a peer cannot take the memory of a machine
# that others share; a peer that needs more is reported as out of memory.
NODE_HEAP_MB=4096
export NODE_OPTIONS="--max-old-space-size=$NODE_HEAP_MB"
QUICK=${BENCH_QUICK:-0}
SEED=20241125

export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
export NO_COLOR=1 UMAPSYNC_NO_MAN=1 LC_ALL=C.UTF-8

mkdir -p "$DATA" "$OUT" "$TOOLS"
rm -rf "$WORK"
mkdir -p "$WORK"
: >"$RESULTS"
: >"$FACTS"
: >"$META"
: >"$LOG"
started=$(date +%s)

say() {
	local line
	line=$(printf '[%4ds] %s' "$(($(date +%s) - started))" "$*")
	printf 'bench: %s\n' "$line" >&2
	printf '%s\n' "$line" >>"$LOG"
}
fact() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$FACTS"; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- tools and peers

install_debian() {
	local missing="" pair cmd pkg
	for pair in hyperfine:hyperfine valgrind:valgrind xxhsum:xxhash /usr/bin/time:time jq:jq git:git \
		patch:patch curl:curl node:nodejs npm:npm timeout:coreutils; do
		cmd=${pair%%:*} pkg=${pair#*:}
		have "$cmd" || missing="$missing $pkg"
	done
	[ -z "$missing" ] && return 0
	if [ "${BENCH_OFFLINE:-0}" = 1 ]; then
		say "not installing:$missing (BENCH_OFFLINE=1); what needs them is n/a"
		return 0
	fi
	local sudo=""
	if [ "$(id -u)" != 0 ]; then
		if have sudo && sudo -n true 2>/dev/null; then
			sudo=sudo
		else
			say "cannot install:$missing (not root, no password-less sudo); what needs them is n/a"
			return 0
		fi
	fi
	say "installing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	{ $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends $missing; } \
		>>"$LOG" 2>&1 || say "apt-get failed; what needs$missing is n/a (see bench/out/bench.log)"
}

install_npm() {
	local stamp=$ROOT/bench/node_modules/.bench-installed
	[ -f "$stamp" ] && [ "$stamp" -nt "$ROOT/bench/package.json" ] && return 0
	if ! have npm; then
		say "npm is missing: the JavaScript peers and the real data set are n/a"
		return 0
	fi
	[ "${BENCH_OFFLINE:-0}" = 1 ] && return 0
	say "installing the npm peers into bench/node_modules"
	if (cd "$ROOT/bench" && timeout 600 npm install --no-audit --no-fund --no-package-lock \
		--loglevel=error) >>"$LOG" 2>&1; then
		touch "$stamp"
	else
		say "npm install failed; the JavaScript peers are n/a (see bench/out/bench.log)"
	fi
}

build_tools() {
	local cc=${CC:-cc}
	local tool
	for tool in gen plot; do
		[ "$TOOLS/$tool" -nt "$ROOT/bench/$tool.c" ] && continue
		"$cc" -std=c11 -O2 -Wall -Wextra -o "$TOOLS/$tool" "$ROOT/bench/$tool.c" -lm || {
			echo "bench: cannot build bench/$tool.c" >&2
			exit 1
		}
	done
}

npm_peer() { [ "${BENCH_NO_JS:-0}" != 1 ] && [ -d "$ROOT/bench/node_modules/$1" ] && have node; }
js_missing() {
	if [ "${BENCH_NO_JS:-0}" = 1 ]; then echo "left out (BENCH_NO_JS=1)"; else echo "not installed"; fi
}

# ---------------------------------------------------------------- measuring

# measure SECTION SIZE LABEL KIND OK_CODES LIMIT CMD [PREPARE]
# Runs PREPARE then CMD (bash, in $WORK) once under /usr/bin/time for the exit status and peak
# RSS, bounded by LIMIT seconds; then, when quick enough to repeat, times it with hyperfine
# (PREPARE before each run). KIND is "us", "peer" or "floor". OK_CODES: exit codes that mean
# the command did its job ("any" for peers such as git merge-file that count conflicts).
# Sets LAST_STATUS (ok, n/a, timeout, skip), LAST_RC, LAST_TIME and LAST_RSS_KB.
# ONCE=1 in the environment measures a single run (commands that change server state).
declare -A LAST_OK_TIME LAST_OK_SIZE
measure() {
	local section=$1 size=$2 label=$3 kind=$4 okrc=$5 limit=$6 cmd=$7 prep=${8:-}
	local ef=$OUT/stderr.txt tf=$OUT/time.txt note="" status=ok median="" min="" sd="" runs=1 rss=""
	LAST_STATUS=n/a LAST_RC="" LAST_TIME="" LAST_RSS_KB=""
	local key="$section|$label"

	# A peer that took too long at a smaller size is not run again at a larger one (the real
	# data set, "real", is a size of its own).
	local numeric=1
	case $size in *[!0-9]*) numeric=0 ;; esac
	if [ $numeric = 1 ] && [ -n "${LAST_OK_TIME[$key]:-}" ] && [ "$kind" != us ]; then
		local projected
		projected=$(awk -v t="${LAST_OK_TIME[$key]}" -v a="${LAST_OK_SIZE[$key]}" -v b="$size" \
			'BEGIN { printf "%.0f", t * b / a }')
		if [ "$projected" -gt "$limit" ]; then
			record "$section" "$size" "$label" "$kind" skip "$projected" "" "" 0 "" \
				"not run: about ${projected} s projected from the smaller size"
			LAST_STATUS=skip
			return 1
		fi
	fi
	if [ $numeric = 1 ] && [ "${TIMED_OUT[$key]:-0}" = 1 ]; then
		record "$section" "$size" "$label" "$kind" timeout "$limit" "" "" 0 "" "not run: stopped at a smaller size"
		LAST_STATUS=timeout
		return 1
	fi

	if [ -n "$prep" ] && ! (cd "$WORK" && bash -c "$prep") >/dev/null 2>"$ef"; then
		record "$section" "$size" "$label" "$kind" n/a "" "" "" 0 "" "setup failed: $(first_line "$ef")"
		say "$section $size $label: n/a (setup failed: $(first_line "$ef"))"
		return 1
	fi
	local t0 t1 rc
	t0=$(date +%s%N)
	(cd "$WORK" && /usr/bin/time -f '%M' -o "$tf" timeout -k 5 "$limit" bash -c "$cmd") >/dev/null 2>"$ef"
	rc=$?
	t1=$(date +%s%N)
	LAST_RC=$rc
	local probe
	probe=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
	rss=$(tail -n 1 "$tf" 2>/dev/null)
	case $rss in *[!0-9]* | "") rss="" ;; esac

	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		[ $numeric = 1 ] && TIMED_OUT[$key]=1
		record "$section" "$size" "$label" "$kind" timeout "$limit" "" "" 1 "" "stopped after $limit s"
		LAST_STATUS=timeout
		say "$section $size $label: > $limit s"
		return 1
	fi
	if grep -q 'heap out of memory' "$ef"; then
		[ $numeric = 1 ] && TIMED_OUT[$key]=1
		record "$section" "$size" "$label" "$kind" oom "" "" "" 1 "$rss" "ran out of its JavaScript heap ($NODE_HEAP_MB MiB)"
		LAST_STATUS=oom
		say "$section $size $label: out of memory"
		return 1
	fi
	if grep -qi 'not implemented' "$ef" || ! rc_ok "$rc" "$okrc"; then
		record "$section" "$size" "$label" "$kind" n/a "" "" "" 0 "" "exit $rc: $(first_line "$ef")"
		say "$section $size $label: n/a (exit $rc: $(first_line "$ef"))"
		return 1
	fi

	median=$probe min=$probe
	if [ "$QUICK" != 1 ] && [ "${ONCE:-0}" != 1 ] && awk -v p="$probe" 'BEGIN { exit !(p < 2) }'; then
		runs=$(awk -v p="$probe" 'BEGIN { print (p < 0.05 ? 20 : p < 0.2 ? 10 : p < 0.5 ? 5 : 3) }')
		if have hyperfine && have jq; then
			local warm=1 hf=$OUT/hyperfine.json
			awk -v p="$probe" 'BEGIN { exit !(p > 0.5) }' && warm=0
			local args=(--style none --runs "$runs" --warmup "$warm" -i --export-json "$hf")
			# plain commands run without a shell: nothing to subtract, less noise on small figures
			case $cmd in
			*'&&'* | *'|'* | *'<('* | *';'* | *'>'* | cd\ *) args+=(--shell=bash) ;;
			*) args+=(--shell=none) ;;
			esac
			[ -n "$prep" ] && args+=(--prepare "$prep")
			if (cd "$WORK" && hyperfine "${args[@]}" -- "$cmd") >/dev/null 2>>"$LOG"; then
				read -r median min sd < <(jq -r '.results[0] | "\(.median) \(.min) \(.stddev // 0)"' "$hf")
			fi
		else
			# best of N without hyperfine: shell start-up is included (a millisecond or two)
			local times=() k s e
			for ((k = 0; k < runs; k++)); do
				[ -n "$prep" ] && (cd "$WORK" && bash -c "$prep") >/dev/null 2>&1
				s=$(date +%s%N)
				(cd "$WORK" && bash -c "$cmd") >/dev/null 2>&1
				e=$(date +%s%N)
				times+=("$(((e - s) / 1000))")
			done
			read -r median min < <(printf '%s\n' "${times[@]}" | sort -n |
				awk '{ v[NR] = $1 / 1e6 } END { printf "%.6f %.6f\n", v[int((NR + 1) / 2)], v[1] }')
		fi
	fi
	LAST_STATUS=ok LAST_TIME=$median LAST_RSS_KB=$rss
	if [ $numeric = 1 ]; then
		LAST_OK_TIME[$key]=$median
		LAST_OK_SIZE[$key]=$size
	fi
	record "$section" "$size" "$label" "$kind" ok "$median" "$min" "$sd" "$runs" "$rss" "$note"
	say "$section $size $label: $(awk -v t="$median" 'BEGIN { printf "%.4f s", t }'), peak RSS ${rss:-?} KB ($runs run(s))"
	return 0
}
declare -A TIMED_OUT

record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

rc_ok() {
	[ "$2" = any ] && [ "$1" -lt 128 ] && return 0 # timeouts were caught before
	local c
	for c in $2; do [ "$1" = "$c" ] && return 0; done
	return 1
}

first_line() {
	grep -v '^\s*$' "$1" 2>/dev/null | grep -v '^Command exited' | head -n 1 | cut -c1-160 | tr '\t' ' '
}

# na SECTION SIZE LABEL KIND REASON: a measure that cannot even start.
na() { record "$1" "$2" "$3" "$4" n/a "" "" "" 0 "" "$5"; }

# The git directory of a umapsync repository, whichever layout the product chose.
git_dir_of() {
	if [ -f "$1/.umapsync/HEAD" ]; then
		echo "$1/.umapsync"
	elif [ -e "$1/.umapsync/.git" ]; then
		echo "$1/.umapsync/.git"
	elif [ -f "$1/.git/HEAD" ]; then
		echo "$1/.git"
	else
		return 1
	fi
}

# repo_size DIR: bytes of the repository's whole git directory, then of its objects/ alone,
# after `git gc` (on a copy).
repo_size() {
	local copy=$WORK/gc-copy gd total objects
	rm -rf "$copy"
	cp -a "$1" "$copy" || return 1
	gd=$(git_dir_of "$copy") || return 1
	git --git-dir="$gd" gc -q >>"$LOG" 2>&1 || return 1
	total=$(du -sb "$gd" | cut -f1)
	objects=$(du -sb "$gd/objects" | cut -f1)
	rm -rf "$copy"
	echo "$total $objects"
}

# ---------------------------------------------------------------- data

generate() {
	local n=$1 v out
	for v in base edit ours theirs merged rev10; do
		out=$DATA/$n-$v.geojson
		if [ ! -s "$out" ] || [ "$TOOLS/gen" -nt "$out" ]; then
			"$TOOLS/gen" -s "$SEED" -n "$n" -v "$v" >"$out.tmp" && mv "$out.tmp" "$out" || {
				echo "bench: cannot generate $out" >&2
				exit 1
			}
		fi
	done
}

real_data() {
	local src=$ROOT/bench/node_modules/@geo-maps/countries-land-10km/map.geo.json
	[ -s "$src" ] || return 1
	cp "$src" "$DATA/countries.geojson"
	# Two countries get a name, one is removed: a small edit a person would make.
	sed -e 's/"properties":{"A3":"FRA"}/"properties":{"A3":"FRA","name":"France"}/' \
		-e 's/"properties":{"A3":"ITA"}/"properties":{"A3":"ITA","name":"Italia"}/' \
		-e '/"properties":{"A3":"LIE"}/d' "$src" >"$DATA/countries-edit.geojson"
}

# ---------------------------------------------------------------- the benchmarks

bench_validate() {
	local n=$1 f=$2
	measure validate "$n" "umapsync validate" us "0 1" $OUR_LIMIT "'$U' validate '$f'"
	if npm_peer @placemarkio/check-geojson; then
		measure validate "$n" "check-geojson (npm)" peer "0 1" "$PEER_LIMIT" \
			"node '$ROOT/bench/peers/check-geojson.cjs' '$f'"
	else na validate "$n" "check-geojson (npm)" peer "$(js_missing)"; fi
	if npm_peer @mapbox/geojsonhint; then
		measure validate "$n" "geojsonhint (npm)" peer "0 1" "$PEER_LIMIT" \
			"node '$ROOT/bench/peers/geojsonhint.cjs' '$f'"
	else na validate "$n" "geojsonhint (npm)" peer "$(js_missing)"; fi
	measure validate "$n" "jq empty (parse only)" floor "0" "$PEER_LIMIT" "jq empty '$f'"
}

# The jq peer: both files normalised by jq and piped to diff. The `wait` makes bash reap the
# process substitutions, so that their memory counts in the peak RSS.
jq_diff() {
	printf '%s' "diff <(jq -S -c '.features[]' '$1') <(jq -S -c '.features[]' '$2'); rc=\$?; wait; exit \$rc"
}

bench_diff() {
	local n=$1 a=$2 b=$3
	measure diff "$n" "umapsync diff" us "0 1" $OUR_LIMIT "'$U' diff '$a' '$b'"
	measure diff "$n" "umapsync diff --format=json" us "0 1" $OUR_LIMIT "'$U' diff --format=json '$a' '$b'"
	measure diff "$n" "umapsync diff --format=markdown" us "0 1" $OUR_LIMIT "'$U' diff --format=markdown '$a' '$b'"
	measure diff "$n" "umapsync diff --format=html" us "0 1" $OUR_LIMIT "'$U' diff --format=html '$a' '$b'"
	measure diff "$n" "xxhsum -H3 both (floor)" floor "0" "$PEER_LIMIT" "xxhsum -H3 '$a' '$b'"
	measure diff "$n" "cat both (floor)" floor "0" "$PEER_LIMIT" "cat '$a' '$b'"
	measure diff "$n" "jq -S -c '.features[]' | diff" peer "0 1" "$PEER_LIMIT" "$(jq_diff "$a" "$b")"
	measure diff "$n" "git diff --no-index" peer "0 1" "$PEER_LIMIT" "git diff --no-index --no-color '$a' '$b'"
	if npm_peer jsondiffpatch; then
		measure diff "$n" "jsondiffpatch (npm, id hash)" peer "0 1" "$PEER_LIMIT" \
			"node --max-old-space-size=$NODE_HEAP_MB '$ROOT/bench/peers/jsondiffpatch.mjs' '$a' '$b'"
	else na diff "$n" "jsondiffpatch (npm, id hash)" peer "$(js_missing)"; fi
	if npm_peer json-diff; then
		# json-diff takes minutes on 10k features: a shorter bound, and larger sizes are skipped
		# by the projection in measure().
		measure diff "$n" "json-diff (npm)" peer "0 1" 60 "'$ROOT/bench/node_modules/.bin/json-diff' '$a' '$b'"
	else na diff "$n" "json-diff (npm)" peer "$(js_missing)"; fi
}

bench_apply() {
	local n=$1 a=$2 b=$3 patch=$OUT/patch-$n.json target=$WORK/apply-$n.geojson
	local ok=0
	"$U" diff --format=json "$a" "$b" >"$patch" 2>/dev/null
	case $? in 0 | 1) [ -s "$patch" ] && ok=1 ;; esac
	if [ $ok = 1 ]; then
		if measure apply "$n" "umapsync apply" us "0" $OUR_LIMIT "'$U' apply '$patch' '$target'" "cp '$a' '$target'"; then
			if "$U" diff --quiet "$target" "$b" >/dev/null 2>&1; then
				fact apply "$n" result "same features as the edited file"
			else
				fact apply "$n" result "DIFFERS from the edited file"
			fi
		fi
	else
		na apply "$n" "umapsync apply" us "needs diff --format=json, which is n/a"
	fi
	diff -u "$a" "$b" >"$OUT/udiff-$n.patch"
	measure apply "$n" "patch (unified diff, floor)" floor "0" "$PEER_LIMIT" \
		"patch -s -o '$WORK/patched-$n.geojson' '$a' '$OUT/udiff-$n.patch'" "rm -f '$WORK/patched-$n.geojson'"
}

bench_merge() {
	local n=$1 base=$2 ours=$3 theirs=$4
	if measure merge-file "$n" "umapsync merge-file" us "0 1" $OUR_LIMIT "'$U' merge-file -p '$base' '$ours' '$theirs'"; then
		local verdict="conflicts reported (exit $LAST_RC)" merged=$WORK/merged-$n.geojson
		[ "$LAST_RC" = 0 ] && verdict="clean (exit 0)"
		"$U" merge-file -p "$base" "$ours" "$theirs" >"$merged" 2>/dev/null
		if "$U" diff --quiet "$merged" "$DATA/$n-merged.geojson" >/dev/null 2>&1; then
			verdict="$verdict, same features and layer options as the expected merge"
		else
			verdict="$verdict, DIFFERS from the expected merge (bench/data/$n-merged.geojson)"
		fi
		fact merge-file "$n" result "$verdict"
	fi
	if measure merge-file "$n" "git merge-file (lines)" peer any "$PEER_LIMIT" "git merge-file -p '$ours' '$base' '$theirs'"; then
		local conflicts
		conflicts=$(git merge-file -p "$ours" "$base" "$theirs" 2>/dev/null | grep -c '^<<<<<<<')
		fact merge-file "$n" git-conflicts "$conflicts"
	fi
}

bench_repo() {
	local n=$1 base=$2 edit=$3 rev10=$4
	local repo=$WORK/repo-$n pristine=$WORK/pristine-$n grepo=$WORK/git-$n
	local git_commit="git -c gc.auto=0 commit -q"

	# import: a fresh repository each run (init is set-up, not timed)
	if measure import "$n" "umapsync import" us "0" $OUR_LIMIT "cd '$repo' && '$U' import layer.geojson" \
		"rm -rf '$repo' && mkdir -p '$repo' && cp '$base' '$repo/layer.geojson' && cd '$repo' && '$U' init"; then
		fact import "$n" features_per_s "$(awk -v n="$n" -v t="$LAST_TIME" 'BEGIN { printf "%.0f", n / t }')"
		rm -rf "$pristine"
		cp -a "$repo" "$pristine"
		local size
		if size=$(repo_size "$pristine"); then
			fact repo "$n" bytes_v1 "${size% *}"
			fact repo "$n" objects_v1 "${size#* }"
		fi
	fi
	measure import "$n" "git add + commit (whole file)" peer "0" "$PEER_LIMIT" \
		"cd '$grepo' && git add layer.geojson && $git_commit -m import" \
		"rm -rf '$grepo' && mkdir -p '$grepo' && cp '$base' '$grepo/layer.geojson' && git -C '$grepo' init -q"

	# commit of the 1% edit, on a copy of the freshly imported repository each run
	local c=$WORK/commit-$n gc=$WORK/gitcommit-$n
	if [ -d "$pristine" ]; then
		if measure commit "$n" "umapsync commit (1% edit)" us "0" $OUR_LIMIT "cd '$c' && '$U' commit -m edit" \
			"rm -rf '$c' && cp -a '$pristine' '$c' && cp '$edit' '$c/layer.geojson'"; then
			local size
			if size=$(repo_size "$c"); then
				fact repo "$n" bytes_v2 "${size% *}"
				fact repo "$n" objects_v2 "${size#* }"
			fi
		fi
	else
		na commit "$n" "umapsync commit (1% edit)" us "needs import, which is n/a"
	fi
	if [ -d "$grepo/.git" ]; then
		measure commit "$n" "git commit (whole file)" peer "0" "$PEER_LIMIT" "cd '$gc' && $git_commit -am edit" \
			"rm -rf '$gc' && cp -a '$grepo' '$gc' && cp '$edit' '$gc/layer.geojson'"
	fi

	# checkout of the revision before the 1% edit: every working file written from the
	# repository (as export, plus the status cache), on a copy of the committed edit
	local co=$WORK/checkout-$n
	if [ -d "$c/.umapsync" ]; then
		if measure checkout "$n" "umapsync checkout HEAD~1" us "0" $OUR_LIMIT "cd '$co' && '$U' checkout HEAD~1" \
			"rm -rf '$co' && cp -a '$c' '$co'"; then
			if cmp -s "$co/layer.geojson" "$base"; then
				fact checkout "$n" result "byte-identical to the imported file"
			else
				fact checkout "$n" result "same features as the imported file, laid out anew"
			fi
		fi
		rm -rf "$co"
	else
		na checkout "$n" "umapsync checkout HEAD~1" us "needs commit, which is n/a"
	fi

	# revision diff: two revisions ten features apart
	local rv=$WORK/rev-$n grv=$WORK/gitrev-$n
	if [ ! -d "$pristine" ]; then
		na "revision diff" "$n" "umapsync diff HEAD~1 HEAD" us "needs import, which is n/a"
	elif rm -rf "$rv" && cp -a "$pristine" "$rv" && cp "$rev10" "$rv/layer.geojson" &&
		(cd "$rv" && "$U" commit -m "ten features") >/dev/null 2>"$OUT/stderr.txt"; then
		measure "revision diff" "$n" "umapsync diff HEAD~1 HEAD" us "0 1" $OUR_LIMIT "cd '$rv' && '$U' diff HEAD~1 HEAD"
	else
		na "revision diff" "$n" "umapsync diff HEAD~1 HEAD" us "needs commit: $(first_line "$OUT/stderr.txt")"
	fi
	if [ -d "$grepo/.git" ] && rm -rf "$grv" && cp -a "$grepo" "$grv" && cp "$rev10" "$grv/layer.geojson" &&
		(cd "$grv" && $git_commit -am "ten features") >/dev/null 2>&1; then
		measure "revision diff" "$n" "git diff HEAD~1 HEAD (whole file)" peer "0" "$PEER_LIMIT" \
			"cd '$grv' && git diff --no-color HEAD~1 HEAD"
	fi

	# export of HEAD
	local out=$WORK/export-$n.geojson
	if [ -d "$pristine" ]; then
		if measure export "$n" "umapsync export" us "0" $OUR_LIMIT "cd '$pristine' && '$U' export HEAD layer.geojson -o '$out'"; then
			if cmp -s "$out" "$base"; then
				fact export "$n" result "byte-identical to the imported file"
			elif "$U" diff --quiet "$out" "$base" >/dev/null 2>&1; then
				fact export "$n" result "same features and values as the imported file"
			else
				fact export "$n" result "DIFFERS from the imported file"
			fi
		fi
	else
		na export "$n" "umapsync export" us "needs import, which is n/a"
	fi
	if [ -d "$grepo/.git" ]; then
		measure export "$n" "git show HEAD:layer.geojson (whole file)" peer "0" "$PEER_LIMIT" \
			"cd '$grepo' && git show HEAD:layer.geojson"
	fi

	# blame of one feature after 50 commits of 10 edited features each (issue 20: under
	# 0.1 s at 100k); the feature is edited in the first of them
	local bl=$WORK/blame-$n
	if [ -d "$pristine" ] && rm -rf "$bl" && cp -a "$pristine" "$bl" && (
		cd "$bl" && for i in $(seq 1 50); do
			awk -v i="$i" -v step=$((n / 10)) 'NR > 1 && (NR + i) % step == 0 { sub(/"capacity":[0-9]+/, "\"capacity\":" (3000 + i)) } { print }' \
				layer.geojson >x && mv x layer.geojson && "$U" commit -m "edit $i" >/dev/null || exit 1
		done) 2>"$OUT/stderr.txt"; then
		local id
		id=$(cd "$bl" && "$U" log --format=oneline -1 >/dev/null && "$U" diff HEAD~50 HEAD~49 --format=json | jq -r '.features[0].id')
		measure blame "$n" "umapsync blame --feature (50 commits)" us "0" $OUR_LIMIT \
			"cd '$bl' && '$U' blame --feature '$id' layer.geojson"
		rm -rf "$bl"
	else
		na blame "$n" "umapsync blame --feature (50 commits)" us "needs import and commit: $(first_line "$OUT/stderr.txt")"
	fi
}

SERVER_PID=""
SERVER_URL=""
SERVER_WORKED=""
stop_server() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		local k
		for k in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
		SERVER_PID=""
	fi
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

free_port() {
	local port k
	for k in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		# nothing answers there: good enough on a machine where we start the only server
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

start_server() {
	local data=$WORK/server port="" k
	rm -rf "$data"
	mkdir -p "$data"
	local portfile=$WORK/server.port
	rm -f "$portfile"
	# the 1M layer plus its edit's added features is over the default limit of a layer
	local limit=()
	"$U" serve -h 2>&1 | grep -q -- --max-features && limit=(--max-features=4000000)
	if "$U" serve -h 2>&1 | grep -q -- --port-file; then
		"$U" serve --listen 127.0.0.1:0 --port-file "$portfile" --data "$data" "${limit[@]}" >"$OUT/serve.log" 2>&1 &
		SERVER_PID=$!
	else
		port=$(free_port) || return 1
		"$U" serve --listen "127.0.0.1:$port" --data "$data" >"$OUT/serve.log" 2>&1 &
		SERVER_PID=$!
	fi
	for k in $(seq 1 50); do
		[ -s "$portfile" ] && port=$(tr -dc 0-9 <"$portfile")
		if [ -n "${port:-}" ] && curl -fsS -m 1 "http://127.0.0.1:$port/v1/info" >/dev/null 2>&1; then
			SERVER_URL="http://127.0.0.1:$port"
			SERVER_WORKED=1
			return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.2
	done
	stop_server
	return 1
}

# The server's peak RSS during one sync step: the peak is reset before the step (Linux's
# clear_refs), read after it and kept as a fact "server LABEL" (KB) that report.sh shows.
server_peak_reset() { [ -n "$SERVER_PID" ] && echo 5 >"/proc/$SERVER_PID/clear_refs" 2>/dev/null; }
server_peak_fact() {
	local kb
	kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null)
	[ -n "$kb" ] && fact sync "$1" "server $2" "$kb"
}

bench_sync() {
	local n=$1 edit=$2 pristine=$WORK/pristine-$n
	local labels=("umapsync push (new map)" "umapsync clone" "umapsync push (1% edit)" "umapsync pull (1% edit)")
	local l limit=$SYNC_LIMIT
	# a million features take minutes on a busy 2-core machine before they stream
	[ "$n" -ge 1000000 ] && limit=$((SYNC_LIMIT * 5))
	if [ ! -d "$pristine" ]; then
		for l in "${labels[@]}"; do na sync "$n" "$l" us "needs import, which is n/a"; done
		return
	fi
	if [ -z "$SERVER_URL" ]; then
		for l in "${labels[@]}"; do na sync "$n" "$l" us "serve: $(first_line "$OUT/serve.log")"; done
		return
	fi
	local map=bench$n a=$WORK/sync-a-$n b=$WORK/sync-b-$n
	rm -rf "$a"
	cp -a "$pristine" "$a"
	if ! (cd "$a" && "$U" remote add origin "$SERVER_URL/$map") >/dev/null 2>"$OUT/stderr.txt"; then
		for l in "${labels[@]}"; do na sync "$n" "$l" us "remote add: $(first_line "$OUT/stderr.txt")"; done
		return
	fi
	server_peak_reset
	ONCE=1 measure sync "$n" "${labels[0]}" us "0" $limit "cd '$a' && '$U' push" || {
		for l in "${labels[@]:1}"; do na sync "$n" "$l" us "needs the first push"; done
		return
	}
	server_peak_fact "$n" push
	server_peak_reset
	measure sync "$n" "${labels[1]}" us "0" $limit "'$U' clone '$SERVER_URL/$map' '$b'" "rm -rf '$b'" || {
		na sync "$n" "${labels[3]}" us "needs clone"
		b=""
	}
	server_peak_fact "$n" clone
	if [ -n "$b" ] && [ -f "$b/layer.geojson" ] && cmp -s "$b/layer.geojson" "$pristine/layer.geojson"; then
		fact sync "$n" clone "working file byte-identical to the pushed one"
	elif [ -n "$b" ] && "$U" diff --quiet "$b/layer.geojson" "$pristine/layer.geojson" >/dev/null 2>&1; then
		fact sync "$n" clone "working file has the same features and values as the pushed one"
	elif [ -n "$b" ]; then
		fact sync "$n" clone "working file DIFFERS from the pushed one (or is missing)"
	fi
	cp "$edit" "$a/layer.geojson"
	if (cd "$a" && "$U" commit -m edit) >/dev/null 2>"$OUT/stderr.txt"; then
		server_peak_reset
		ONCE=1 measure sync "$n" "${labels[2]}" us "0" $limit "cd '$a' && '$U' push" &&
			server_peak_fact "$n" "push (1% edit)" && server_peak_reset &&
			[ -n "$b" ] && ONCE=1 measure sync "$n" "${labels[3]}" us "0" $limit "cd '$b' && '$U' pull" &&
			server_peak_fact "$n" "pull (1% edit)" &&
			if "$U" diff --quiet "$b/layer.geojson" "$edit" >/dev/null 2>&1; then
				fact sync "$n" pull "pulled file has the same features as the edit"
			else
				fact sync "$n" pull "pulled file DIFFERS from the edit"
			fi
	else
		na sync "$n" "${labels[2]}" us "commit: $(first_line "$OUT/stderr.txt")"
	fi
}

# The sync helper's bounded load run (bench/sync_load.sh): 50 clients pushing one-op edits,
# each acked after fsync, and pulling, for 10 s on loopback.
bench_sync_load() {
	local out=$OUT/sync_load.txt clients=50 seconds=10
	if [ -z "$SERVER_URL$SERVER_WORKED" ] || [ ! -f "$ROOT/bench/sync_load.sh" ]; then
		fact load all status "n/a: serve does not start"
		return
	fi
	say "sync load: $clients clients for $seconds s"
	if UMAPSYNC="$U" timeout 120 sh "$ROOT/bench/sync_load.sh" "$clients" "$seconds" >"$out" 2>>"$LOG"; then
		fact load all status ok
		fact load all clients "$clients"
		fact load all seconds "$seconds"
		local kind line
		for kind in push pull; do
			if [ $kind = push ]; then line=$(grep -m1 '^durable pushes' "$out"); else line=$(grep -m1 '^pulls' "$out"); fi
			[ -n "$line" ] || continue
			fact load all "${kind}_rate" "$(printf '%s' "$line" | sed -n 's/.* = \([0-9.]*\)\/s.*/\1/p')"
			fact load all "${kind}_p50" "$(printf '%s' "$line" | sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p')"
			fact load all "${kind}_p99" "$(printf '%s' "$line" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')"
		done
		fact load all errors "$(sed -n 's/.*errors \([0-9]*\).*/\1/p' "$out" | head -n 1)"
		say "sync load: $(tr '\n' ' ' <"$out")"
	else
		fact load all status "n/a: $(first_line "$out")"
	fi
}

# Twelve readers of a large map beside a small pull (bench/sync_readers.sh, issue 19): each
# pulls the map's whole log from cursor 0 and takes its snapshot; the server's peak RSS during
# the reads, the small pull's p50/p99 idle and beside them (same run), the readers' total time.
# 75k ops (about 25 MB of log) by default; BENCH_LARGE=1 adds 600k (about 200 MB), seeded
# once into bench/data/readers-600000 and copied for each run after (seeding takes minutes on
# a busy machine, the reads under a minute).
bench_sync_readers() {
	local n out line phase
	local sizes=75000
	[ "${BENCH_LARGE:-0}" = 1 ] && sizes="75000 600000"
	for n in $sizes; do
		out=$OUT/sync_readers-$n.txt
		if [ -z "$SERVER_WORKED" ]; then
			fact readers "$n" status "n/a: serve does not start"
			continue
		fi
		say "sync readers: 12 readers of a $n-op log beside a small pull"
		if UMAPSYNC="$U" SEEDED="$DATA/readers-$n" timeout 1800 sh "$ROOT/bench/sync_readers.sh" "$n" 12 >"$out" 2>>"$LOG"; then
			fact readers "$n" status ok
			fact readers "$n" log_bytes "$(sed -n 's/^log of the big map: [0-9]* ops, \([0-9]*\) bytes.*/\1/p' "$out")"
			for phase in "idle:server idle" "loaded:beside the readers"; do
				line=$(grep -m1 "^small pull, ${phase#*:}" "$out")
				fact readers "$n" "${phase%%:*}_p50" "$(printf '%s' "$line" | sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p')"
				fact readers "$n" "${phase%%:*}_p99" "$(printf '%s' "$line" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')"
				fact readers "$n" "${phase%%:*}_pulls" "$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\) pulls.*/\1/p')"
			done
			fact readers "$n" idle_kb "$(sed -n 's/^server RSS: \([0-9]*\) KB idle.*/\1/p' "$out")"
			fact readers "$n" peak_kb "$(sed -n 's/^server RSS: .*, peak \([0-9]*\) KB beside.*/\1/p' "$out")"
			line=$(grep -m1 '^readers:' "$out")
			fact readers "$n" read_mb "$(printf '%s' "$line" | sed -n 's/.*, \([0-9.]*\) MB in all.*/\1/p')"
			fact readers "$n" total_s "$(printf '%s' "$line" | sed -n 's/.* MB in all, \([0-9.]*\) s.*/\1/p')"
			fact readers "$n" errors "$(printf '%s' "$line" | sed -n 's/.*errors \([0-9]*\).*/\1/p')"
			fact readers "$n" pushes "$(sed -n 's/^pushes beside them: \([0-9]*\).*/\1/p' "$out")"
			fact readers "$n" wal_bytes "$(sed -n 's/^WAL after the reads: \([0-9]*\) bytes/\1/p' "$out")"
			say "sync readers: $(tr '\n' ' ' <"$out")"
		else
			fact readers "$n" status "n/a: $(first_line "$out")"
		fi
	done
}

# Several server processes on one PostgreSQL beside SQLite (bench/sync_pg.sh, issue 22):
# pushes/s, p99 and CPU per push with 1, 2 and 4 processes; docs/SCALING.md is made from it.
bench_sync_pg() {
	local out=$OUT/sync_pg.txt
	if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
		fact pgload all status "n/a: no PostgreSQL server installed"
		return
	fi
	say "sync on PostgreSQL: 50 clients, 10 s per row"
	if UMAPSYNC="$U" timeout 600 sh "$ROOT/bench/sync_pg.sh" 50 10 >"$out" 2>>"$LOG"; then
		fact pgload all status ok
		local label rate p99
		while IFS= read -r line; do
			case "$line" in
			sqlite*|postgresql*)
				label=$(printf '%s' "$line" | sed 's/  .*//; s/[ ,()]\{1,\}/_/g')
				rate=$(printf '%s' "$line" | awk '{ print $(NF-4) }')
				p99=$(printf '%s' "$line" | awk '{ print $(NF-3) }')
				fact pgload "$label" push_rate "$rate"
				fact pgload "$label" push_p99 "$p99"
				fact pgload "$label" db_ms_per_push "$(printf '%s' "$line" | awk '{ print $(NF-1) }')"
				;;
			esac
		done <"$out"
		say "sync on PostgreSQL: $(tr '\n' ' ' <"$out")"
	else
		fact pgload all status "n/a: $(first_line "$out")"
	fi
}

# uMap's realtime endpoint (bench/ws_relay.sh): 200 websocket peers on 20 maps, 1,000 ops/s in
# all for 10 s; relay latency, durability across SIGKILL, server RSS per idle peer.
bench_ws_relay() {
	local out=$OUT/ws_relay.txt line
	say "ws relay: 200 peers on 20 maps at 1000 ops/s for 10 s"
	UMAPSYNC="$U" timeout 400 sh "$ROOT/bench/ws_relay.sh" 200 20 1000 10 >"$out" 2>>"$LOG"
	fact ws all rc "$?"
	line=$(grep -m1 '^relay:' "$out")
	if [ -z "$line" ]; then
		fact ws all status "n/a: $(first_line "$LOG")"
		return
	fi
	fact ws all status ok
	fact ws all deliveries "$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\/[0-9]*\) deliveries.*/\1/p')"
	fact ws all p50 "$(printf '%s' "$line" | sed -n 's/.*p50 \([0-9.]*\).*/\1/p')"
	fact ws all p99 "$(printf '%s' "$line" | sed -n 's/.*p99 \([0-9.]*\).*/\1/p')"
	fact ws all max "$(printf '%s' "$line" | sed -n 's/.*max \([0-9.]*\).*/\1/p')"
	fact ws all idle_kib "$(sed -n 's/^idle:.*: \([0-9.]*\) KiB per idle peer.*/\1/p' "$out")"
	fact ws all durable "$(sed -n 's/^durable: \([0-9]*\/[0-9]*\).*/\1/p' "$out")"
	say "ws relay: $(tr '\n' ' ' <"$out")"
}

# callgrind instruction counts: the same on every run, unlike wall time on a shared machine.
# Only the commands that stay within seconds under valgrind at the smallest size.
bench_callgrind() {
	local n=$1 base=$2 edit=$3
	have valgrind || { say "valgrind is missing: no instruction counts"; return; }
	cg() {
		local label=$1 dir=$2
		shift 2
		local log=$OUT/callgrind.txt
		(cd "$dir" && timeout 600 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@") >/dev/null 2>"$log"
		local rc=$? count
		count=$(sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
		if [ -n "$count" ] && ! grep -qi 'not implemented' "$log" && [ "$rc" -lt 124 ]; then
			fact callgrind "$n" "$label" "$count"
			say "callgrind $n $label: $count instructions"
		fi
	}
	status_of() { awk -F'\t' -v s="$1" -v n="$n" -v l="$2" '$1 == s && $2 == n && $3 == l { print $5 }' "$RESULTS" | tail -n 1; }
	[ "$(status_of validate "umapsync validate")" = ok ] && cg "umapsync validate" "$WORK" "$U" validate "$base"
	[ "$(status_of diff "umapsync diff")" = ok ] && cg "umapsync diff" "$WORK" "$U" diff "$base" "$edit"
	# merge-file and import run for minutes under callgrind at 10k: their wall times must do
	[ "$(status_of "revision diff" "umapsync diff HEAD~1 HEAD")" = ok ] && cg "umapsync diff HEAD~1 HEAD" "$WORK/rev-$n" "$U" diff HEAD~1 HEAD
	cg "xxhsum -H3 both" "$WORK" xxhsum -H3 "$base" "$edit"
	cg "cat both" "$WORK" cat "$base" "$edit"
}

machine() {
	meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
	meta nproc "$(nproc)"
	meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
	meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	meta memory "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	meta os "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}"), kernel $(uname -r)"
	meta commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- lib cmd 2>/dev/null || echo ' (with uncommitted changes)')"
	meta umapsync "$("$U" --version 2>&1 | head -n 1)"
	meta compiler "$(${CC:-cc} --version 2>/dev/null | head -n 1)"
	meta sizes "$SIZES"
	meta seed "$SEED"
	meta peer_limit "$PEER_LIMIT"
	local v
	have node && meta node "$(node --version)"
	have jq && meta jq "$(jq --version)"
	meta git "$(git --version)"
	have xxhsum && meta xxhsum "$(xxhsum --version 2>&1 | head -n 1 | cut -c1-80)"
	have hyperfine && meta hyperfine "$(hyperfine --version)"
	have valgrind && meta valgrind "$(valgrind --version)"
	have patch && meta patch "$(patch --version | head -n 1)"
	for v in @placemarkio/check-geojson @mapbox/geojsonhint jsondiffpatch json-diff @geo-maps/countries-land-10km; do
		[ -f "$ROOT/bench/node_modules/$v/package.json" ] &&
			meta "npm $v" "$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$ROOT/bench/node_modules/$v/package.json" | head -n 1)"
	done
}

# ---------------------------------------------------------------- main

# One function, called on the last line: bash has read the whole script before it runs any
# of it, so editing the file during a run does not break that run.
main() {
	[ -x "$U" ] || { echo "bench: no umapsync binary at $U (run make first)" >&2; exit 1; }
	install_debian
	have /usr/bin/time || { echo "bench: /usr/bin/time (Debian package time) is needed" >&2; exit 1; }
	install_npm
	build_tools
	machine

	say "sizes: $SIZES; peers stop after $PEER_LIMIT s"
	start_server || say "serve does not start: clone/push/pull are n/a"

	first=1
	for n in $SIZES; do
		generate "$n"
		base=$DATA/$n-base.geojson edit=$DATA/$n-edit.geojson
		ours=$DATA/$n-ours.geojson theirs=$DATA/$n-theirs.geojson rev10=$DATA/$n-rev10.geojson
		fact input "$n" bytes "$(stat -c %s "$base")"
		fact input "$n" edit_lines "$(diff "$base" "$edit" | grep -c '^[<>]')"
		bench_validate "$n" "$base"
		bench_diff "$n" "$base" "$edit"
		bench_apply "$n" "$base" "$edit"
		bench_merge "$n" "$base" "$ours" "$theirs"
		bench_repo "$n" "$base" "$edit" "$rev10"
		bench_sync "$n" "$edit"
		[ "$first" = 1 ] && bench_callgrind "$n" "$base" "$edit"
		first=0
		# the repositories of one size are not needed at the next one
		rm -rf "$WORK"/repo-* "$WORK"/commit-* "$WORK"/git-* "$WORK"/gitcommit-* "$WORK"/gitrev-* "$WORK"/export-* \
			"$WORK"/patched-* "$WORK"/apply-* "$WORK"/sync-* "$WORK"/rev-* "$WORK"/pristine-* "$WORK"/merged-*
	done
	stop_server
	bench_sync_load
	bench_sync_readers
	bench_sync_pg
	bench_ws_relay

	if real_data; then
		cb=$DATA/countries.geojson ce=$DATA/countries-edit.geojson
		fact input real bytes "$(stat -c %s "$cb")"
		fact input real features "$(grep -c '"type":"Feature"' "$cb")"
		bench_validate real "$cb"
		measure diff real "umapsync diff" us "0 1" $OUR_LIMIT "'$U' diff '$cb' '$ce'"
		measure diff real "jq -S -c '.features[]' | diff" peer "0 1" "$PEER_LIMIT" "$(jq_diff "$cb" "$ce")"
		measure diff real "git diff --no-index" peer "0 1" "$PEER_LIMIT" "git diff --no-index --no-color '$cb' '$ce'"
		npm_peer jsondiffpatch && measure diff real "jsondiffpatch (npm, id hash)" peer "0 1" "$PEER_LIMIT" \
			"node '$ROOT/bench/peers/jsondiffpatch.mjs' '$cb' '$ce'"
		measure import real "umapsync import" us "0" $OUR_LIMIT "cd '$WORK/real' && '$U' import countries.geojson" \
			"rm -rf '$WORK/real' && mkdir -p '$WORK/real' && cp '$cb' '$WORK/real/' && cd '$WORK/real' && '$U' init"
	else
		say "the real data set (@geo-maps/countries-land-10km) is not installed: skipped"
	fi

	meta duration "$(($(date +%s) - started)) s"
	meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
	say "writing docs/BENCHMARKS.md"
	sh "$ROOT/bench/report.sh"
}

main "$@"; exit $?
