#!/bin/sh
# bench/report.sh: turns bench/out/*.tsv (written by bench/run.sh) into docs/BENCHMARKS.md and
# the docs/bench-*.svg plots; run it alone to re-render the last run without measuring again.
set -eu
cd "$(dirname "$0")/.."
OUT=bench/out
PLOT=build/bench/plot
[ -s "$OUT/results.tsv" ] || { echo "bench: no results in $OUT: run make bench" >&2; exit 1; }
[ -x "$PLOT" ] || ${CC:-cc} -std=c11 -O2 -o "$PLOT" bench/plot.c -lm
mkdir -p docs

awk -F'\t' -v out="$OUT" '
function ftime(t) {
	if (t == "") return "?"
	t += 0
	if (t < 0.001) return sprintf("%.0f µs", t * 1e6)
	if (t < 0.01) return sprintf("%.2f ms", t * 1e3)
	if (t < 1) return sprintf("%.1f ms", t * 1e3)
	if (t < 10) return sprintf("%.2f s", t)
	return sprintf("%.1f s", t)
}
function fbytes(b) {
	if (b == "") return "?"
	b += 0
	# decimal units, as the issues speak of a "27 MB" layer
	if (b < 1e6) return sprintf("%.0f kB", b / 1e3)
	if (b < 1e9) return sprintf("%.1f MB", b / 1e6)
	return sprintf("%.2f GB", b / 1e9)
}
function fnum(x,   s, r) {
	s = sprintf("%.0f", x); r = ""
	while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
	return s r
}
function fratio(x) {
	if (x >= 100) return sprintf("%.0f", x)
	if (x >= 10) return sprintf("%.1f", x)
	if (x >= 0.1) return sprintf("%.2f", x)
	return sprintf("%.4f", x)
}
function szl(n) {
	if (n == "real") return "real data"
	if (n >= 1000000) return (n / 1000000) "M"
	if (n >= 1000) return (n / 1000) "k"
	return n
}
function cellesc(s) { gsub(/\|/, "\\|", s); return s }
function ok(sec, n, label) { return ((sec SUBSEP n SUBSEP label) in ST) && ST[sec, n, label] == "ok" }
function tm(sec, n, label) { return ok(sec, n, label) ? T[sec, n, label] + 0 : "" }
function cell(sec, n, label,   k, s, c) {
	k = sec SUBSEP n SUBSEP label
	if (!(k in ST)) return "—"
	s = ST[k]
	if (s == "ok") {
		c = ftime(T[k])
		if (RUNS[k] > 1 && SD[k] + 0 > 0) c = c " ± " ftime(SD[k])
		if (RUNS[k] == 1) c = c " (1 run)"
		return c
	}
	if (s == "timeout") return "> " T[k] " s"
	if (s == "oom") return "out of memory"
	if (s == "skip") return "not run (≈ " T[k] " s)"
	return "n/a"
}
function rsscell(sec, n, label,   k) {
	k = sec SUBSEP n SUBSEP label
	if (!(k in ST) || ST[k] != "ok" || RSS[k] == "") return "—"
	return fbytes(RSS[k] * 1024)
}
function target(name, issue, goal, cmp, limit, unit, values,   i, n, v, shown, verdict, last) {
	# values: "size=value;size=value" over the generated sizes; the verdict reads 100k, the size
	# the issues name, else the largest size measured; with at_largest set (issue 19, whose
	# goals are at 1M), the largest size measured.
	printf "| %s | %s |", name, issue
	last = ""
	for (i = 1; i <= nsizes; i++) {
		n = sizes[i]
		v = (n in values) ? values[n] : ""
		if (v == "") shown = "n/a"
		else if (unit == "features/s") shown = fnum(v) " /s"
		else if (unit == "s") shown = ftime(v)
		else if (unit == "x") shown = fratio(v) "×"
		else shown = fratio(v)
		printf " %s |", shown
		if (v != "" && (last == "" || n + 0 <= 100000 || at_largest)) { last = v; lastn = n }
	}
	if (last == "" || cmp == "") verdict = (last == "" ? "n/a" : "—")
	else if (cmp == "<=") verdict = (last <= limit) ? "**pass**" : "**fail**"
	else if (cmp == "<") verdict = (last < limit) ? "**pass**" : "**fail**"
	else verdict = (last >= limit) ? "**pass**" : "**fail**"
	if (last != "" && cmp != "" && lastn + 0 != 100000) verdict = verdict " (at " szl(lastn) ")"
	printf " %s | %s |\n", goal, verdict
}
function table(sec, title, what,   i, j, l, k, nfoot, n, f, sz) {
	print "### " title "\n"
	print what "\n"
	printf "| tool |"
	for (i = 1; i <= nall; i++) printf " %s time | %s peak RSS |", szl(all[i]), szl(all[i])
	printf "\n| --- |"
	for (i = 1; i <= nall; i++) printf " ---: | ---: |"
	printf "\n"
	nfoot = 0
	for (j = 1; j <= nlabels[sec]; j++) {
		l = labels[sec, j]
		printf "| %s |", (KIND[sec, l] == "us" ? "**" cellesc(l) "**" : cellesc(l))
		for (i = 1; i <= nall; i++) {
			n = all[i]
			k = sec SUBSEP n SUBSEP l
			printf " %s | %s |", cell(sec, n, l), rsscell(sec, n, l)
			# one line per reason, naming every row and size it applies to
			if ((k in ST) && ST[k] != "ok" && NOTE[k] != "") {
				if (!(NOTE[k] in footidx)) { footidx[NOTE[k]] = ++nfoot; foot[nfoot] = NOTE[k]; footwho[nfoot] = "" }
				f = footidx[NOTE[k]]
				if (index(footkey[f], "<" l ">") == 0) {
					footkey[f] = footkey[f] "<" l ">"
					footwho[f] = footwho[f] (footwho[f] == "" ? "" : ", ") cellesc(l)
				}
				if (index(footsz[f], "<" szl(n) ">") == 0) footsz[f] = footsz[f] "<" szl(n) ">"
			}
		}
		printf "\n"
	}
	print ""
	for (i = 1; i <= nfoot; i++) {
		sz = footsz[i]; gsub(/></, ", ", sz); gsub(/[<>]/, "", sz)
		print "- " footwho[i] " (" sz "): " foot[i]
	}
	if (nfoot) print ""
	split("", footidx); split("", footsz); split("", footkey)
	for (i = 1; i <= nall; i++)
		if ((sec SUBSEP all[i] SUBSEP "result") in FACT) print "- result at " szl(all[i]) ": " FACT[sec, all[i], "result"]
	if (sec == "merge-file")
		for (i = 1; i <= nall; i++)
			if ((sec SUBSEP all[i] SUBSEP "git-conflicts") in FACT)
				print "- `git merge-file` at " szl(all[i]) ": " FACT[sec, all[i], "git-conflicts"] " conflict blocks (it merges lines, and half the changed features are changed on both sides, on different keys)"
	if (sec == "sync")
		for (i = 1; i <= nall; i++) {
			if ((sec SUBSEP all[i] SUBSEP "clone") in FACT) print "- clone at " szl(all[i]) ": " FACT[sec, all[i], "clone"]
			if ((sec SUBSEP all[i] SUBSEP "pull") in FACT) print "- pull at " szl(all[i]) ": " FACT[sec, all[i], "pull"]
			line = ""
			split("push|clone|push (1% edit)|pull (1% edit)", steps, "|")
			for (k = 1; k <= 4; k++)
				if ((sec SUBSEP all[i] SUBSEP "server " steps[k]) in FACT)
					line = line (line == "" ? "" : ", ") steps[k] " " fbytes(FACT[sec, all[i], "server " steps[k]] * 1024)
			if (line != "") print "- peak RSS of the server at " szl(all[i]) ": " line
		}
	print ""
}
FILENAME ~ /meta.tsv$/ { M[$1] = $2; mk[++nm] = $1; next }
FILENAME ~ /facts.tsv$/ { FACT[$1, $2, $3] = $4; next }
{
	sec = $1; n = $2; l = $3
	if (!((sec SUBSEP l) in KIND)) { labels[sec, ++nlabels[sec]] = l; KIND[sec, l] = $4 }
	ST[sec, n, l] = $5; T[sec, n, l] = $6; MIN[sec, n, l] = $7; SD[sec, n, l] = $8
	RUNS[sec, n, l] = $9; RSS[sec, n, l] = $10; NOTE[sec, n, l] = $11
	if (!(n in known)) { known[n] = 1; if (n != "real") sizes[++nsizes] = n }
}
END {
	split("", v1); split("", v2); split("", v2b); split("", v3); split("", v4); split("", v5); split("", v5b); split("", v6)
	split("", v7); split("", v8); split("", v9); split("", v10); split("", v11); split("", v12); split("", v10o); split("", v11o)
	# sizes in increasing order (insertion sort: a handful of them)
	for (i = 2; i <= nsizes; i++) { v = sizes[i]; j = i - 1; while (j > 0 && sizes[j] + 0 > v + 0) { sizes[j + 1] = sizes[j]; j-- } sizes[j + 1] = v }
	for (i = 1; i <= nsizes; i++) all[i] = sizes[i]
	nall = nsizes

	print "# Benchmarks"
	print ""
	print "<!-- Written by `make bench` (bench/run.sh, bench/report.sh). Do not edit: run `make bench` again. -->"
	print ""
	print "What umapsync costs on uMap-like layers of growing size, beside the tools people use today"
	print "for the same job, measured in one run on the same files. Regenerate with `make bench`"
	print "(add `BENCH_LARGE=1` for 1M features). Last run: " M["date"] ", " M["duration"] "."
	print ""
	# the headline figures, at 100k features (else the largest size measured)
	hs = ""
	for (i = 1; i <= nsizes; i++) if (hs == "" || sizes[i] + 0 <= 100000) hs = sizes[i]
	if (hs != "") {
		print "## Summary (" fnum(hs) " features, " fbytes(FACT["input", hs, "bytes"]) ")"
		print ""
		nsum = 0
		if (ok("validate", hs, "umapsync validate")) {
			t = tm("validate", hs, "umapsync validate")
			line = "- `validate`: " ftime(t) ", peak RSS " fbytes(RSS["validate", hs, "umapsync validate"] * 1024)
			if (ok("validate", hs, "check-geojson (npm)")) line = line "; check-geojson: " ftime(tm("validate", hs, "check-geojson (npm)")) " and " fbytes(RSS["validate", hs, "check-geojson (npm)"] * 1024)
			print line; nsum++
		}
		if (ok("diff", hs, "umapsync diff")) {
			t = tm("diff", hs, "umapsync diff")
			line = "- `diff` of two versions: " ftime(t) ", peak RSS " fbytes(RSS["diff", hs, "umapsync diff"] * 1024)
			if (ok("diff", hs, "jq -S -c '\''.features[]'\'' | diff")) line = line "; `jq -S | diff`: " ftime(tm("diff", hs, "jq -S -c '\''.features[]'\'' | diff"))
			if (ok("diff", hs, "xxhsum -H3 both (floor)")) line = line "; hashing both files with xxhsum: " ftime(tm("diff", hs, "xxhsum -H3 both (floor)"))
			print line; nsum++
		}
		if (ok("merge-file", hs, "umapsync merge-file")) { print "- `merge-file` of two disjoint 1% edits: " ftime(tm("merge-file", hs, "umapsync merge-file")) ", peak RSS " fbytes(RSS["merge-file", hs, "umapsync merge-file"] * 1024); nsum++ }
		if (ok("import", hs, "umapsync import")) {
			line = "- `import`: " ftime(tm("import", hs, "umapsync import")) " (" fnum(hs / tm("import", hs, "umapsync import")) " features/s)"
			if (ok("commit", hs, "umapsync commit (1% edit)")) line = line "; `commit` of a 1% edit: " ftime(tm("commit", hs, "umapsync commit (1% edit)"))
			if (ok("revision diff", hs, "umapsync diff HEAD~1 HEAD")) line = line "; `diff HEAD~1 HEAD` (10 features): " ftime(tm("revision diff", hs, "umapsync diff HEAD~1 HEAD"))
			if (ok("export", hs, "umapsync export")) line = line "; `export`: " ftime(tm("export", hs, "umapsync export"))
			print line; nsum++
		}
		if (FACT["load", "all", "status"] == "ok") { print "- `serve` under " FACT["load", "all", "clients"] " clients: " fnum(FACT["load", "all", "push_rate"]) " durable pushes/s, p99 " FACT["load", "all", "push_p99"] " ms"; nsum++ }
		if (!nsum) print "No umapsync command has figures yet."
		print ""
	}
	print "## Machine and versions"
	print ""
	print "| | |"
	print "| --- | --- |"
	print "| CPU | " M["cpu"] " (" M["nproc"] " cores online) |"
	print "| load average (1, 5, 15 min) | " M["load_start"] " at the start, " M["load_end"] " at the end: other work shares the machine, so wall times carry its noise; instruction counts do not |"
	print "| memory | " M["memory"] " |"
	print "| system | " M["os"] " |"
	print "| umapsync | " M["umapsync"] ", commit " M["commit"] ", " M["compiler"] " |"
	line = ""
	for (i = 1; i <= nm; i++) if (mk[i] ~ /^npm /) line = line (line ? ", " : "") substr(mk[i], 5) " " M[mk[i]]
	print "| npm peers | " (line ? line : "not installed") " (node " (M["node"] ? M["node"] : "missing") ") |"
	print "| other peers | " M["jq"] ", " M["git"] ", " M["xxhsum"] ", " M["patch"] " |"
	print "| timing | " (M["hyperfine"] ? M["hyperfine"] " (median of 3 to 20 runs after a warm-up; runs over 2 s are timed once)" : "best of N runs in the shell (hyperfine missing)") "; peak RSS from GNU time (largest process of the command); 1 MB = 10⁶ bytes; " M["valgrind"] " for instruction counts |"
	print ""
	print "## Data"
	print ""
	print "Generated by `bench/gen.c` (seed " M["seed"] ", byte-identical on every run): one feature per line, 70% points,"
	print "20% lines, 10% polygons (counterclockwise rings), 5-character uMap ids, properties `name`, `kind`,"
	print "`capacity`, `covered`, `operator`, `description`, `opening_hours`, `_umap_options` on 15% of the"
	print "features and the layer `_umap_options` with its id. Each size comes with an *edit* (1% of the"
	print "features modified, 0.1% added, 0.1% removed), *ours*/*theirs* (two edits of the same base, 1%"
	print "each, on different keys: half of the features they change are changed on both sides), *merged*"
	print "(what a per-key merge of the two must give, to check the merge) and *rev10* (exactly 10 features"
	print "modified)."
	print ""
	print "| features | file | bytes/feature | lines changed by the edit |"
	print "| ---: | ---: | ---: | ---: |"
	for (i = 1; i <= nsizes; i++) {
		n = sizes[i]
		print "| " fnum(n) " | " fbytes(FACT["input", n, "bytes"]) " | " sprintf("%.0f", FACT["input", n, "bytes"] / n) " | " fnum(FACT["input", n, "edit_lines"]) " |"
	}
	print ""
	if (("input" SUBSEP "real" SUBSEP "bytes") in FACT)
		print "Real data: `@geo-maps/countries-land-10km` from npm (country borders from OpenStreetMap, data under the ODbL, code MIT; installed at bench time, not vendored): " FACT["input", "real", "features"] " MultiPolygon features without ids, " fbytes(FACT["input", "real", "bytes"]) ". Its edit names two countries and removes one.\n"

	# ------------------------------------------------------------ targets
	print "## Targets"
	print ""
	print "The figures the issues set, at each size; the verdict reads the 100k figure, the size the issues name."
	print ""
	printf "| figure | issue |"
	for (i = 1; i <= nsizes; i++) printf " %s |", szl(sizes[i])
	printf " goal | verdict |\n| --- | --- |"
	for (i = 1; i <= nsizes; i++) printf " ---: |"
	printf " --- | --- |\n"

	for (i = 1; i <= nsizes; i++) {
		n = sizes[i]; in_b = FACT["input", n, "bytes"]
		if (ok("validate", n, "umapsync validate")) {
			v1[n] = tm("validate", n, "umapsync validate")
			if (ok("validate", n, "check-geojson (npm)")) v2[n] = tm("validate", n, "check-geojson (npm)") / v1[n]
			if (ok("validate", n, "geojsonhint (npm)")) v2b[n] = tm("validate", n, "geojsonhint (npm)") / v1[n]
			if (RSS["validate", n, "umapsync validate"] != "") v3[n] = RSS["validate", n, "umapsync validate"] * 1024 / in_b
		}
		if (ok("diff", n, "umapsync diff")) {
			d = tm("diff", n, "umapsync diff")
			if (ok("diff", n, "xxhsum -H3 both (floor)")) v4[n] = d / tm("diff", n, "xxhsum -H3 both (floor)")
			if (ok("diff", n, "jq -S -c '\''.features[]'\'' | diff")) v5[n] = tm("diff", n, "jq -S -c '\''.features[]'\'' | diff") / d
			if (ok("diff", n, "jsondiffpatch (npm, id hash)")) v5b[n] = tm("diff", n, "jsondiffpatch (npm, id hash)") / d
			if (RSS["diff", n, "umapsync diff"] != "") v6[n] = RSS["diff", n, "umapsync diff"] * 1024 / in_b
			if (ok("merge-file", n, "umapsync merge-file")) v12[n] = tm("merge-file", n, "umapsync merge-file") / d
		}
		if (ok("import", n, "umapsync import")) {
			im = tm("import", n, "umapsync import")
			v7[n] = n / im
			if (ok("commit", n, "umapsync commit (1% edit)")) v8[n] = tm("commit", n, "umapsync commit (1% edit)") / im
			if (ok("revision diff", n, "umapsync diff HEAD~1 HEAD")) v9[n] = tm("revision diff", n, "umapsync diff HEAD~1 HEAD") / im
			if (ok("export", n, "umapsync export")) v13[n] = tm("export", n, "umapsync export") / im
			if (ok("checkout", n, "umapsync checkout HEAD~1")) v14[n] = tm("checkout", n, "umapsync checkout HEAD~1") / im
			if (RSS["import", n, "umapsync import"] != "") v15[n] = RSS["import", n, "umapsync import"] * 1024 / in_b
		}
		if (ok("export", n, "umapsync export") && RSS["export", n, "umapsync export"] != "") v16[n] = RSS["export", n, "umapsync export"] * 1024 / in_b
		if (ok("checkout", n, "umapsync checkout HEAD~1") && RSS["checkout", n, "umapsync checkout HEAD~1"] != "") v17[n] = RSS["checkout", n, "umapsync checkout HEAD~1"] * 1024 / in_b
		if (ok("commit", n, "umapsync commit (1% edit)") && RSS["commit", n, "umapsync commit (1% edit)"] != "") v18[n] = RSS["commit", n, "umapsync commit (1% edit)"] * 1024 / in_b
		if (ok("blame", n, "umapsync blame --feature (50 commits)")) v19[n] = tm("blame", n, "umapsync blame --feature (50 commits)")
		if (("repo" SUBSEP n SUBSEP "bytes_v1") in FACT) v10[n] = FACT["repo", n, "bytes_v1"] / in_b
		if (("repo" SUBSEP n SUBSEP "bytes_v2") in FACT) v11[n] = FACT["repo", n, "bytes_v2"] / (2 * in_b)
		if (("repo" SUBSEP n SUBSEP "objects_v1") in FACT) v10o[n] = FACT["repo", n, "objects_v1"] / in_b
		if (("repo" SUBSEP n SUBSEP "objects_v2") in FACT) v11o[n] = FACT["repo", n, "objects_v2"] / (2 * in_b)
	}
	target("validate time", "#4", "well under 1 s at 100k", "<", 1, "s", v1)
	target("validate: check-geojson time ÷ ours", "#4", "report", "", 0, "x", v2)
	target("validate: geojsonhint time ÷ ours", "#4", "report", "", 0, "x", v2b)
	target("validate peak RSS ÷ file size", "#4", "far below 1 (read as ≤ 0.5)", "<=", 0.5, "", v3)
	target("diff time ÷ `xxhsum` of both files", "#5", "≤ 10", "<=", 10, "x", v4)
	target("`jq -S … \\| diff` time ÷ diff time", "#5", "≥ 50", ">=", 50, "x", v5)
	target("jsondiffpatch time ÷ diff time", "#5", "report", "", 0, "x", v5b)
	target("diff peak RSS ÷ one file", "#5", "≤ 0.5", "<=", 0.5, "", v6)
	target("import speed", "#6", "≥ 200,000 features/s", ">=", 200000, "features/s", v7)
	target("commit of the 1% edit ÷ import", "#6", "< 0.30", "<", 0.30, "", v8)
	target("revision diff (10 features) ÷ import", "#6", "< 0.02", "<", 0.02, "", v9)
	target("repository (whole `.umapsync`) after `git gc` ÷ input, 1 version", "#6", "≤ 0.6", "<=", 0.6, "", v10)
	target("same, per version, 2 versions (import + 1% commit)", "#6", "≤ 0.6", "<=", 0.6, "", v11)
	target("git objects alone ÷ input, 1 version", "#6", "report", "", 0, "", v10o)
	target("git objects alone per version, 2 versions", "#6", "report", "", 0, "", v11o)
	target("merge-file time ÷ diff time", "#7", "≤ 3", "<=", 3, "x", v12)
	at_largest = 1
	target("import speed", "#19", "≥ 250,000 features/s at 1M", ">=", 250000, "features/s", v7)
	target("export time ÷ import", "#19", "≤ 1", "<=", 1, "", v13)
	target("checkout time ÷ import", "#19", "≤ 1", "<=", 1, "", v14)
	target("import peak RSS ÷ file size", "#19", "≤ 0.3", "<=", 0.3, "", v15)
	target("export peak RSS ÷ file size", "#19", "≤ 0.3", "<=", 0.3, "", v16)
	target("checkout peak RSS ÷ file size", "#19", "≤ 0.3", "<=", 0.3, "", v17)
	target("commit (1% edit) peak RSS ÷ file size", "#19", "≤ 0.3", "<=", 0.3, "", v18)
	target("commit of the 1% edit ÷ import", "#19", "≤ 0.3 at 1M", "<=", 0.3, "", v8)
	at_largest = 0
	target("blame of one feature, 50 commits", "#20", "< 0.1 s at 100k", "<", 0.1, "s", v19)
	print ""
	if (FACT["load", "all", "status"] == "ok") {
		pr = FACT["load", "all", "push_rate"]; p99 = FACT["load", "all", "push_p99"]
		print "Sync under load (#8): " FACT["load", "all", "clients"] " concurrent clients on loopback for " FACT["load", "all", "seconds"] " s (`bench/sync_load.sh`), each push one op acked after fsync:\n"
		print "| figure | measured | goal | verdict |"
		print "| --- | ---: | --- | --- |"
		print "| durable pushes | " fnum(pr) " ops/s | thousands per second | " (pr >= 1000 ? "**pass**" : "**fail**") " |"
		print "| push latency p50 / p99 | " FACT["load", "all", "push_p50"] " / " p99 " ms | p99 < 100 ms | " (p99 < 100 ? "**pass**" : "**fail**") " |"
		print "| pulls | " fnum(FACT["load", "all", "pull_rate"]) " /s, p50 " FACT["load", "all", "pull_p50"] " ms, p99 " FACT["load", "all", "pull_p99"] " ms | report | — |"
		print "| errors | " FACT["load", "all", "errors"] " | 0 | " (FACT["load", "all", "errors"] == 0 ? "**pass**" : "**fail**") " |"
		print ""
	} else if (("load" SUBSEP "all" SUBSEP "status") in FACT)
		print "Sync under load (#8): " FACT["load", "all", "status"] "\n"
	# twelve readers of a large log beside a small pull (bench/sync_readers.sh)
	split("75000 600000", rsz, " ")
	for (g = 1; g in rsz; g++) {
		n = rsz[g]
		if (!(("readers" SUBSEP n SUBSEP "status") in FACT)) continue
		if (FACT["readers", n, "status"] != "ok") { print "Twelve readers of a " fnum(n) "-op log (#19): " FACT["readers", n, "status"] "\n"; continue }
		pk = FACT["readers", n, "peak_kb"] * 1024
		print "Twelve readers of a " fnum(n) "-op log (#19, `bench/sync_readers.sh " n "`): a map whose log holds " fbytes(FACT["readers", n, "log_bytes"]) " of ops; 12 clients each pull it whole from cursor 0 (pages of 10,000 ops) and take its snapshot, " fbytes(FACT["readers", n, "read_mb"] * 1e6) " in all, while a pull of 10 ops on another map is repeated every 5 ms and a one-op push to a third map every 10 ms; the same small pull with the server idle first, in the same run (wall times are those of a shared machine):\n"
		print "| figure | measured | goal | verdict |"
		print "| --- | ---: | --- | --- |"
		print "| server peak RSS (VmHWM) during the reads | " fbytes(pk) " | < 100 MB | " (pk < 100e6 ? "**pass**" : "**fail**") " |"
		print "| small pull p50 / p99, server idle | " FACT["readers", n, "idle_p50"] " / " FACT["readers", n, "idle_p99"] " ms | report | — |"
		print "| small pull p50 / p99 beside the readers | " FACT["readers", n, "loaded_p50"] " / " FACT["readers", n, "loaded_p99"] " ms (" FACT["readers", n, "loaded_pulls"] " pulls) | not slowed (read as p99 < 100 ms) | " (FACT["readers", n, "loaded_p99"] < 100 ? "**pass**" : "**fail**") " |"
		print "| server RSS idle, before the reads | " fbytes(FACT["readers", n, "idle_kb"] * 1024) " | report | — |"
		print "| the 12 pulls and snapshots, all done | " FACT["readers", n, "total_s"] " s | report | — |"
		print "| WAL after " FACT["readers", n, "pushes"] " pushes beside the reads (cut back to 16 MiB when it starts over) | " fbytes(FACT["readers", n, "wal_bytes"]) " | report | — |"
		print "| errors | " FACT["readers", n, "errors"] " | 0 | " (FACT["readers", n, "errors"] == 0 ? "**pass**" : "**fail**") " |"
		print ""
	}
	if (FACT["ws", "all", "status"] == "ok") {
		p99 = FACT["ws", "all", "p99"]; split(FACT["ws", "all", "deliveries"], dv, "/"); split(FACT["ws", "all", "durable"], du, "/")
		print "uMap realtime relay (#18): 200 websocket peers on 20 maps of `umapsync serve --umap-secret-file`, 1,000 OperationMessages/s in all for 10 s (`bench/ws_relay.sh`):\n"
		print "| figure | measured | goal | verdict |"
		print "| --- | ---: | --- | --- |"
		print "| relay latency p50 / p99 / max | " FACT["ws", "all", "p50"] " / " p99 " / " FACT["ws", "all", "max"] " ms | p99 < 50 ms | " (p99 < 50 ? "**pass**" : "**fail**") " |"
		print "| deliveries | " FACT["ws", "all", "deliveries"] " | all | " (dv[1] == dv[2] ? "**pass**" : "**fail**") " |"
		print "| relayed ops in the log after SIGKILL | " FACT["ws", "all", "durable"] " | all | " (du[1] == du[2] && du[2] > 0 ? "**pass**" : "**fail**") " |"
		print "| server RSS per idle peer | " FACT["ws", "all", "idle_kib"] " KiB | report | — |"
		print ""
	} else if (("ws" SUBSEP "all" SUBSEP "status") in FACT)
		print "uMap realtime relay (#18): " FACT["ws", "all", "status"] "\n"
	# instruction counts make the floor ratio stable on a shared machine
	for (i = 1; i <= nsizes; i++) {
		n = sizes[i]
		if (("callgrind" SUBSEP n SUBSEP "umapsync diff") in FACT && ("callgrind" SUBSEP n SUBSEP "xxhsum -H3 both") in FACT)
			print "In instructions (callgrind, " szl(n) "), diff ÷ xxhsum of both files is " fratio(FACT["callgrind", n, "umapsync diff"] / FACT["callgrind", n, "xxhsum -H3 both"]) "×: a figure that does not move with the load of the machine.\n"
	}

	# ------------------------------------------------------------ growth
	print "## Growth"
	print ""
	print "Time and peak memory against the number of features (log-log: a slope of 1 is linear growth)."
	print "Dashed grey lines are references: the floor of hashing the bytes, the `jq | diff` peer, the"
	print "JavaScript validator, and the size of the input file."
	print ""
	print "![time against features](bench-time.svg)"
	print ""
	print "![peak memory against features](bench-memory.svg)"
	print ""
	ngrowth = 0
	for (i = 1; i <= nsizes; i++) for (k in ST) { split(k, parts, SUBSEP); if (parts[2] == sizes[i] && KIND[parts[1], parts[3]] == "us" && ST[k] == "ok") ngrowth++ }
	if (nsizes > 1 && !ngrowth) print "No umapsync command has figures yet: the growth table fills in as the commands land.\n"
	if (nsizes > 1 && ngrowth) {
		printf "| command |"
		for (i = 2; i <= nsizes; i++) printf " time ×, %s → %s |", szl(sizes[i - 1]), szl(sizes[i])
		printf "\n| --- |"
		for (i = 2; i <= nsizes; i++) printf " ---: |"
		printf "\n"
		split("validate|diff|apply|merge-file|import|commit|revision diff|export|checkout|blame|sync", gs, "|")
		for (g = 1; g in gs; g++) {
			sec = gs[g]
			for (j = 1; j <= nlabels[sec]; j++) {
				l = labels[sec, j]
				if (KIND[sec, l] != "us") continue
				row = "| " l " |"; any = 0
				for (i = 2; i <= nsizes; i++) {
					a = tm(sec, sizes[i - 1], l); b = tm(sec, sizes[i], l)
					if (a != "" && b != "" && a > 0) { row = row sprintf(" %.1f× |", b / a); any = 1 } else row = row " n/a |"
				}
				if (any) print row
			}
		}
		print ""
		print "Ten times the features should cost about ten times the time; commit and revision diff should stay nearly flat."
		print ""
	}

	# ------------------------------------------------------------ memory against the file
	nmem = 0
	split("import:umapsync import|export:umapsync export|checkout:umapsync checkout HEAD~1|commit:umapsync commit (1% edit)", ms, "|")
	for (g = 1; g in ms; g++) for (i = 1; i <= nsizes; i++) {
		sec = substr(ms[g], 1, index(ms[g], ":") - 1); l = substr(ms[g], index(ms[g], ":") + 1)
		if (ok(sec, sizes[i], l) && RSS[sec, sizes[i], l] != "" && FACT["input", sizes[i], "bytes"] > 0) nmem++
	}
	if (nmem) {
		print "## Peak memory against the file"
		print ""
		print "Peak RSS of a command divided by the size of the layer (issue 19 aims at 0.3× or less for import, export, checkout and a 1% commit)."
		print ""
		printf "| command |"
		for (i = 1; i <= nsizes; i++) printf " %s |", szl(sizes[i])
		printf "\n| --- |"
		for (i = 1; i <= nsizes; i++) printf " ---: |"
		printf "\n"
		for (g = 1; g in ms; g++) {
			sec = substr(ms[g], 1, index(ms[g], ":") - 1); l = substr(ms[g], index(ms[g], ":") + 1)
			row = "| " l " |"
			for (i = 1; i <= nsizes; i++) {
				n = sizes[i]
				if (ok(sec, n, l) && RSS[sec, n, l] != "" && FACT["input", n, "bytes"] > 0)
					row = row sprintf(" %.2f× (%s) |", RSS[sec, n, l] * 1024 / FACT["input", n, "bytes"], fbytes(RSS[sec, n, l] * 1024))
				else row = row " n/a |"
			}
			print row
		}
		print ""
	}

	# ------------------------------------------------------------ per command
	print "## Per command"
	print ""
	print "Bold rows are umapsync; `n/a` is a command that is not built yet or failed (the reason is listed);"
	print "`> N s` a peer stopped at its time limit. Peak RSS is the largest process of a pipeline."
	print ""
	table("validate", "validate", "`umapsync validate LAYER` against JavaScript validators from npm (a small script calls each on the file) and `jq empty` as the floor of parsing the JSON.")
	table("diff", "diff (file to file)", "The base layer against its edit (1% modified, 0.1% added, 0.1% removed). Peers: `jq -S -c '\''.features[]'\''` on both files piped to `diff`, `git diff --no-index`, jsondiffpatch with features matched by id, json-diff; floors: `xxhsum -H3` and `cat` of both files.")
	table("apply", "apply", "`umapsync apply PATCH LAYER` with the `diff --format=json` patch of the edit, on a fresh copy of the base each run; `patch` with a unified line diff as the floor.")
	table("merge-file", "merge-file", "`umapsync merge-file -p BASE OURS THEIRS` on the disjoint edit pair; `git merge-file` merges the same files line by line.")
	table("import", "import", "`umapsync import layer.geojson` into a fresh `umapsync init` repository each run; `git add` + `git commit` of the whole file for comparison.")
	table("commit", "commit", "`umapsync commit` of the 1% edit on a copy of the freshly imported repository each run; `git commit -a` of the whole file for comparison.")
	table("revision diff", "revision diff", "`umapsync diff HEAD~1 HEAD` between two revisions 10 features apart; `git diff HEAD~1 HEAD` on the whole-file repository.")
	table("export", "export", "`umapsync export HEAD layer.geojson -o FILE` from the imported repository; `git show HEAD:layer.geojson` of the whole file.")
	table("checkout", "checkout", "`umapsync checkout HEAD~1` after the 1% commit, on a copy of that repository each run: the layer written back from the repository.")
	table("blame", "blame", "`umapsync blame --feature ID layer.geojson` after 50 commits of about ten edited features each, for a feature edited in the first of them: its cost follows the feature'\''s history, not the layer.")
	table("sync", "clone, push, pull", "`umapsync serve` on 127.0.0.1 (a free port, stopped by pid): the first push of the imported layer, a clone, then a push of the 1% edit and a pull of it in the clone. Pushes and the pull change server state, so they are timed once.")

	# ------------------------------------------------------------ real data
	if ("real" in known) {
		print "## Real data: country borders"
		print ""
		printf "| command | tool | time | peak RSS |\n| --- | --- | ---: | ---: |\n"
		split("validate|diff|import", rs, "|")
		for (g = 1; g in rs; g++) {
			sec = rs[g]
			for (j = 1; j <= nlabels[sec]; j++) {
				l = labels[sec, j]
				if (!((sec SUBSEP "real" SUBSEP l) in ST)) continue
				k = sec SUBSEP "real" SUBSEP l
				c = cell(sec, "real", l)
				if (ST[k] != "ok" && NOTE[k] != "") c = c " (" NOTE[k] ")"
				print "| " sec " | " (KIND[sec, l] == "us" ? "**" cellesc(l) "**" : cellesc(l)) " | " cellesc(c) " | " rsscell(sec, "real", l) " |"
			}
		}
		print ""
	}

	# ------------------------------------------------------------ callgrind
	header = 0
	for (i = 1; i <= nsizes; i++) {
		n = sizes[i]
		split("umapsync validate|umapsync diff|umapsync merge-file|umapsync import|umapsync diff HEAD~1 HEAD|xxhsum -H3 both|cat both", cl, "|")
		for (g = 1; g in cl; g++) {
			if (!(("callgrind" SUBSEP n SUBSEP cl[g]) in FACT)) continue
			if (!header) {
				print "## Instruction counts"
				print ""
				print "`valgrind --tool=callgrind` on the " szl(n) " files: instructions executed, the same on every run whatever else the machine does."
				print ""
				print "| command | instructions | per feature |"
				print "| --- | ---: | ---: |"
				header = 1
			}
			print "| " cl[g] " | " fnum(FACT["callgrind", n, cl[g]]) " | " fnum(FACT["callgrind", n, cl[g]] / n) " |"
		}
	}
	if (header) print ""

	print "## Running it"
	print ""
	print "`make bench` (under 15 minutes on 2 cores) installs what is missing: hyperfine, valgrind, xxhash,"
	print "time, jq from Debian; the JavaScript peers and the real data set from npm into `bench/node_modules`"
	print "(`bench/package.json` pins their versions; geojsonhint stays at 3.2.0 because 3.3.0 depends on a"
	print "git URL). It writes the data to `bench/data/`, the raw figures to `bench/out/*.tsv`, and this file."
	print "`BENCH_LARGE=1` adds 1M features; `BENCH_SIZES=\"1000 10000\"` picks sizes; `BENCH_TIMEOUT=S` bounds"
	print "each peer run (" M["peer_limit"] " s in this run); `BENCH_QUICK=1` times each command once;"
	print "`sh bench/report.sh` re-renders this file from the last run. Peers that would run past their"
	print "limit at a larger size, judging by the smaller one, are not run there. Every tool reads files"
	print "that are already in the page cache (each is run once before it is timed), as in repeated use."
}
' "$OUT/meta.tsv" "$OUT/facts.tsv" "$OUT/results.tsv" >docs/BENCHMARKS.md.tmp
mv docs/BENCHMARKS.md.tmp docs/BENCHMARKS.md

# Plots: umapsync commands in colour, references dashed.
{
	awk -F'\t' '$5 == "ok" && $2 != "real" && $4 == "us" && $3 != "umapsync diff --format=json" { print $3 "\t" $2 "\t" $6 }' "$OUT/results.tsv"
	awk -F'\t' '$5 == "ok" && $2 != "real" && ($3 == "xxhsum -H3 both (floor)" || $3 == "jq -S -c '\''.features[]'\'' | diff" || $3 == "check-geojson (npm)") { print "ref:" $3 "\t" $2 "\t" $6 }' "$OUT/results.tsv"
} | "$PLOT" "Wall time against layer size" "features" "wall time (median)" s >docs/bench-time.svg
{
	awk -F'\t' '$5 == "ok" && $2 != "real" && $4 == "us" && $10 != "" && $3 != "umapsync diff --format=json" { print $3 "\t" $2 "\t" $10 * 1024 }' "$OUT/results.tsv"
	awk -F'\t' '$1 == "input" && $3 == "bytes" && $2 != "real" { print "ref:input file size\t" $2 "\t" $4 }' "$OUT/facts.tsv"
	awk -F'\t' '$5 == "ok" && $2 != "real" && $3 == "check-geojson (npm)" && $10 != "" { print "ref:" $3 "\t" $2 "\t" $10 * 1024 }' "$OUT/results.tsv"
} | "$PLOT" "Peak memory against layer size" "features" "peak RSS" B >docs/bench-memory.svg
echo "bench: wrote docs/BENCHMARKS.md, docs/bench-time.svg, docs/bench-memory.svg" >&2
