#!/usr/bin/env bats
# The manual pages and completions agree with the command and option tables in cmd/,
# the way git and curl police their docs; the convention is in man/README.md.
# Each test checks every command and reports every disagreement at once.

load helper

ROOT=$BATS_TEST_DIRNAME/../..
MAN=$ROOT/man

setup_file() {
	export PATH="$(cd "$(dirname "$UMAPSYNC")" && pwd):$PATH"
}

commands() {
	"$UMAPSYNC" --list-commands | cut -f1
}

# section FILE NAME: the lines of "# NAME" in an scd page, up to the next section.
section() {
	awk -v want="# $2" '/^# / { on = ($0 == want); next } on' "$1"
}

# synopsis_of_page FILE: the lines of the literal block in SYNOPSIS.
synopsis_of_page() {
	section "$1" SYNOPSIS | awk '/^```/ { n++; next } n == 1'
}

# synopsis_of_help CMD: the usage lines of `umapsync CMD -h`, without "usage: "/"   or: ".
synopsis_of_help() {
	"$UMAPSYNC" "$1" -h | sed -n -e 's/^usage: //p' -e 's/^   or: //p'
}

# subcommands CMD: the words that follow "umapsync CMD" in its usage lines where they are
# literal lower-case words (token create, token list...): each has options of its own.
subcommands() {
	synopsis_of_help "$1" | awk -v c="$1" '$1 == "umapsync" && $2 == c && $3 ~ /^[a-z][a-z-]*$/ { print $3 }' | sort -u
}

# option_lines CMD: the --list-options lines of CMD and of each of its subcommands.
option_lines() {
	# a command with subcommands may refuse --list-options without one
	"$UMAPSYNC" "$1" --list-options 2>/dev/null || true
	local sub
	for sub in $(subcommands "$1"); do
		"$UMAPSYNC" "$1" "$sub" --list-options
	done
}

# options_of_command CMD: every option name the command (or a subcommand) accepts.
options_of_command() {
	option_lines "$1" | cut -f1 | sed 's/=$//' | sort -u
}

# choice_options CMD: "OPTION CHOICES" for each option with a fixed set of values.
choice_options() {
	option_lines "$1" | awk -F'\t' '$3 != "" { sub(/=$/, "", $1); print $1, $3 }' | sort -u
}

# options_of_page FILE: every bold option on a term line of OPTIONS, one a line.
options_of_page() {
	section "$1" OPTIONS | grep -E '^\*-' | grep -oE '\*--?[A-Za-z0-9][-A-Za-z0-9]*\*' |
		tr -d '*' | sort -u
}

is_stub() {
	grep -q "die_not_implemented(\"$1\")" "$ROOT/cmd/cmd_${1//-/_}.c" 2>/dev/null
}

complete_bash() {
	bash -c '
		source "$1"; shift
		COMP_WORDS=(umapsync "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
		_umapsync
		printf "%s\n" "${COMPREPLY[@]}"
	' complete "$ROOT/completions/umapsync.bash" "$@"
}

@test "every command has a manual page with the required sections, and every page a command" {
	local problems="" cmd page sec
	for cmd in $(commands); do
		page=$MAN/umapsync-$cmd.1.scd
		if [ ! -f "$page" ]; then
			problems+="$cmd: man/umapsync-$cmd.1.scd is missing"$'\n'
			continue
		fi
		[ "$(head -n1 "$page")" = "umapsync-$cmd(1)" ] ||
			problems+="$cmd: the first line must be 'umapsync-$cmd(1)'"$'\n'
		local order
		order=$(grep -E '^# (NAME|SYNOPSIS|DESCRIPTION|OPTIONS|EXIT STATUS|EXAMPLES|SEE ALSO)$' "$page" | tr '\n' '|')
		[ "$order" = "# NAME|# SYNOPSIS|# DESCRIPTION|# OPTIONS|# EXIT STATUS|# EXAMPLES|# SEE ALSO|" ] ||
			problems+="$cmd: sections must be NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT STATUS, EXAMPLES, SEE ALSO once each, in order; found: $order"$'\n'
	done
	for page in "$MAN"/umapsync-*.1.scd; do
		cmd=${page##*/umapsync-}
		cmd=${cmd%.1.scd}
		commands | grep -qx -- "$cmd" || problems+="man/umapsync-$cmd.1.scd documents no command"$'\n'
	done
	assert_equal "$problems" ""
}

@test "every page's NAME line is the command's summary from the command table" {
	local problems="" cmd summary name
	while IFS=$'\t' read -r cmd summary; do
		name=$(section "$MAN/umapsync-$cmd.1.scd" NAME | grep -v '^$')
		[ "$name" = "umapsync-$cmd - $summary" ] ||
			problems+="$cmd: NAME is '$name', the command table says 'umapsync-$cmd - $summary'"$'\n'
	done < <("$UMAPSYNC" --list-commands)
	assert_equal "$problems" ""
}

@test "every page's SYNOPSIS equals the usage lines of CMD -h" {
	local problems="" cmd
	for cmd in $(commands); do
		local page=$MAN/umapsync-$cmd.1.scd want got
		want=$(synopsis_of_help "$cmd")
		got=$(synopsis_of_page "$page")
		[ -n "$want" ] || problems+="$cmd: -h prints no usage line"$'\n'
		[ "$want" = "$got" ] ||
			problems+="$cmd: man/umapsync-$cmd.1.scd SYNOPSIS and '$cmd -h' disagree:"$'\n'"$(diff <(echo "$got") <(echo "$want") | sed -n 's/^[<>]/  &/p')"$'\n'
	done
	assert_equal "$problems" ""
}

@test "every option of every command is documented in its page's OPTIONS" {
	local problems="" cmd opt
	for cmd in $(commands); do
		local page=$MAN/umapsync-$cmd.1.scd documented
		documented=$(options_of_page "$page")
		for opt in $(options_of_command "$cmd"); do
			grep -qxF -- "$opt" <<<"$documented" ||
				problems+="$cmd: $opt is not documented on a term line of OPTIONS in man/umapsync-$cmd.1.scd"$'\n'
		done
	done
	assert_equal "$problems" ""
}

@test "every option a page documents exists in the command" {
	local problems="" cmd opt
	for cmd in $(commands); do
		is_stub "$cmd" && continue # the page describes what the issue asks for
		local page=$MAN/umapsync-$cmd.1.scd known
		known=$(options_of_command "$cmd")
		for opt in $(options_of_page "$page"); do
			case $opt in -h | --help) continue ;; esac
			grep -qxF -- "$opt" <<<"$known" && continue
			[[ $opt == --no-* ]] && grep -qxF -- "--${opt#--no-}" <<<"$known" && continue
			problems+="$cmd: man/umapsync-$cmd.1.scd documents $opt, which '$cmd' does not accept"$'\n'
		done
	done
	assert_equal "$problems" ""
}

@test "every value of a choice option is named in OPTIONS" {
	local problems="" cmd opt choices value
	for cmd in $(commands); do
		local options_text
		options_text=$(section "$MAN/umapsync-$cmd.1.scd" OPTIONS)
		while read -r opt choices; do
			for value in ${choices//|/ }; do
				grep -qF -- "*$value*" <<<"$options_text" ||
					problems+="$cmd: $opt's value '$value' is not named (in bold) in OPTIONS"$'\n'
			done
		done < <(choice_options "$cmd")
	done
	assert_equal "$problems" ""
}

@test "every manual page a page refers to exists, and every page refers to umapsync(1)" {
	local problems="" page ref
	for page in "$MAN"/*.scd; do
		for ref in $(grep -oE '\*umapsync-[a-z-]+\*\(1\)' "$page" | tr -d '*' | sed 's/(1)$//' | sort -u); do
			[ -f "$MAN/$ref.1.scd" ] || problems+="${page##*/} refers to $ref(1), which has no page"$'\n'
		done
		[ "${page##*/}" = umapsync.1.scd ] && continue
		section "$page" "SEE ALSO" | grep -qF '*umapsync*(1)' ||
			problems+="${page##*/}: SEE ALSO does not name *umapsync*(1)"$'\n'
	done
	assert_equal "$problems" ""
}

@test "umapsync(1) lists every command" {
	local problems="" cmd commands_text
	commands_text=$(section "$MAN/umapsync.1.scd" COMMANDS)
	for cmd in $(commands); do
		grep -qF -- "*$cmd*" <<<"$commands_text" ||
			problems+="umapsync.1.scd: COMMANDS does not name *$cmd*"$'\n'
	done
	assert_equal "$problems" ""
}

@test "bash completes every command, and help completes every command name" {
	run complete_bash ""
	assert_success
	assert_equal "$output" "$(commands)"
	run complete_bash help ""
	assert_success
	assert_equal "$output" "$(commands)"
}

@test "bash completes every long option of every command and subcommand" {
	local problems="" cmd sub want got
	for cmd in $(commands); do
		for sub in "" $(subcommands "$cmd"); do
			want=$("$UMAPSYNC" "$cmd" $sub --list-options 2>/dev/null | cut -f1 | grep '^--' | sort)
			[ -z "$sub" ] && [ -z "$want" ] && [ -n "$(subcommands "$cmd")" ] && continue
			got=$(complete_bash "$cmd" $sub -- | sort)
			[ "$want" = "$got" ] ||
				problems+="$cmd${sub:+ $sub}: bash completes '$(echo $got)' for --, the command has '$(echo $want)'"$'\n'
			# and each one from its own prefix, as a user types it
			for opt in $want; do
				complete_bash "$cmd" $sub "${opt%=}" | grep -qxF -- "$opt" ||
					problems+="$cmd${sub:+ $sub}: bash does not complete ${opt%=} to $opt"$'\n'
			done
		done
	done
	assert_equal "$problems" ""
}

@test "bash completes the values of every choice option" {
	local problems="" cmd sub opt choices
	for cmd in $(commands); do
		for sub in "" $(subcommands "$cmd"); do
			while read -r opt choices; do
				[[ $opt == --* ]] || continue
				local want got
				want=$(tr '|' '\n' <<<"$choices" | sort)
				got=$(complete_bash "$cmd" $sub "$opt=" | sort)
				[ "$want" = "$got" ] || problems+="$cmd${sub:+ $sub}: $opt= completes '$(echo $got)', not '$(echo $want)'"$'\n'
			done < <("$UMAPSYNC" "$cmd" $sub --list-options 2>/dev/null |
				awk -F'\t' '$3 != "" { sub(/=$/, "", $1); print $1, $3 }')
		done
	done
	assert_equal "$problems" ""
}

@test "umapsync(1) SYNOPSIS equals the usage line of --help, and documents the global options" {
	assert_equal "$(synopsis_of_page "$MAN/umapsync.1.scd")" "$("$UMAPSYNC" --help | sed -n 's/^usage: //p')"
	local documented opt problems=""
	documented=$(options_of_page "$MAN/umapsync.1.scd")
	for opt in $("$UMAPSYNC" --help | sed -n 's/^usage: //p' | grep -oE '\-\-?[A-Za-z][-A-Za-z]*'); do
		grep -qxF -- "$opt" <<<"$documented" || problems+="umapsync.1.scd: global option $opt is not in OPTIONS"$'\n'
	done
	assert_equal "$problems" ""
}

# on_tty COMMAND...: runs COMMAND with a terminal as stdin, stdout and stderr (script(1)),
# and prints what the terminal showed, without carriage returns or terminal attributes.
on_tty() {
	local cmd
	printf -v cmd '%q ' "$@"
	script -qec "$cmd" /dev/null </dev/null | sed -e 's/\r$//' -e 's/\x1b\[[0-9;]*m//g' -e 's/.\x08//g'
	return "${PIPESTATUS[0]}"
}

install_pages() {
	# install_pages DIR: renders every page into DIR/man1, where man(1) finds it via MANPATH.
	mkdir -p "$1/man1"
	local src
	for src in "$MAN"/*.scd; do
		scdoc <"$src" >"$1/man1/$(basename "$src" .scd)" || return 1
	done
}

@test "every page renders with man -l without a warning" {
	command -v man >/dev/null && command -v scdoc >/dev/null || skip "needs man and scdoc"
	install_pages "$TEST_DIR/manpath"
	local page warnings bad=""
	for page in "$TEST_DIR"/manpath/man1/*; do
		warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
		[ -z "$warnings" ] || bad+="$(basename "$page"): $warnings"$'\n'
	done
	assert_equal "$bad" ""
}

@test "help CMD on a terminal opens the manual page" {
	command -v script >/dev/null && command -v man >/dev/null && command -v scdoc >/dev/null ||
		skip "needs script, man and scdoc"
	install_pages "$TEST_DIR/manpath"
	run on_tty env -u UMAPSYNC_NO_MAN MANPATH="$TEST_DIR/manpath" MANPAGER=cat PAGER=cat \
		MANWIDTH=80 "$UMAPSYNC" help merge-file
	assert_success
	assert_line --regexp '^umapsync-merge-file\(1\) +General Commands Manual'
	assert_line --regexp '^ +umapsync-merge-file - Three-way merge of three files'
	refute_line --partial 'usage: '
}

@test "help CMD falls back to the page's text, as git help does, where man cannot show it" {
	command -v script >/dev/null || skip "needs script"
	mkdir -p "$TEST_DIR/bin" "$TEST_DIR/empty-manpath/man1"
	# a sentence of merge-file's DESCRIPTION, as the page's body renders it
	local body='Merges the changes that lead from BASE to THEIRS into OURS, like git'
	# a PATH where man cannot be found, on a terminal
	run on_tty env -u UMAPSYNC_NO_MAN PATH="$TEST_DIR/bin" "$UMAPSYNC" help merge-file
	assert_success
	assert_line --index 0 'umapsync-merge-file(1)'
	assert_line 'NAME'
	assert_line '       umapsync-merge-file - Three-way merge of three files, per feature and'
	assert_line 'DESCRIPTION'
	assert_line --partial "$body"
	assert_line 'EXIT STATUS'
	refute_line --partial 'usage: '
	# man is there, the page is not
	run on_tty env -u UMAPSYNC_NO_MAN MANPATH="$TEST_DIR/empty-manpath" MANPAGER=cat "$UMAPSYNC" help merge-file
	assert_success
	assert_line --index 0 'umapsync-merge-file(1)'
	assert_line --partial "$body"
	# man is there and fails
	printf '#!/bin/sh\nexit 3\n' >"$TEST_DIR/bin/man"
	chmod +x "$TEST_DIR/bin/man"
	run on_tty env -u UMAPSYNC_NO_MAN PATH="$TEST_DIR/bin:$PATH" "$UMAPSYNC" help merge-file
	assert_success
	assert_line --partial "$body"
	# not a terminal, UMAPSYNC_NO_MAN and --no-man
	run env -u UMAPSYNC_NO_MAN PATH="$TEST_DIR/bin" "$UMAPSYNC" help merge-file
	assert_line --partial "$body"
	run on_tty env UMAPSYNC_NO_MAN=1 "$UMAPSYNC" help merge-file
	assert_line --partial "$body"
	run on_tty env -u UMAPSYNC_NO_MAN "$UMAPSYNC" help --no-man merge-file
	assert_line --partial "$body"
	# -h stays the short usage
	run "$UMAPSYNC" merge-file -h
	assert_line --index 0 "usage: $(synopsis_of_help merge-file)"
	refute_line 'DESCRIPTION'
}

@test "help CMD without man prints every section of every page" {
	local problems="" cmd sec got
	for cmd in $(commands); do
		got=$(PATH=/nonexistent "$UMAPSYNC" help "$cmd")
		for sec in $(grep -E '^# ' "$MAN/umapsync-$cmd.1.scd" | cut -c3- | tr ' ' '_'); do
			grep -qx -- "${sec//_/ }" <<<"$got" || problems+="$cmd: help prints no ${sec//_/ } section"$'\n'
		done
	done
	assert_equal "$problems" ""
}

@test "every hint that names a help page leads to the text it promises" {
	# the hints in cmd/ that send the user to 'umapsync help CMD'
	local hints
	hints=$(grep -ohE "hint\(\"[^\"]*'umapsync help [a-z-]+'[^\"]*\"" "$ROOT"/cmd/*.c | sort -u)
	assert_equal "$hints" "hint(\"'umapsync help config' describes the settings\""
	# config's: the settings, each with what it does, where man is not installed
	run env PATH=/nonexistent "$UMAPSYNC" help config
	assert_success
	assert_line 'SETTINGS'
	local key
	for key in $("$UMAPSYNC" config --list-keys | cut -f1); do
		assert_line --regexp "^       (.*, )?$key(,.*)?$"
	done
	assert_line --partial 'The author and committer of commits.'
}

complete_fish() {
	# complete_fish LINE: fish's completions (without descriptions) for the command line LINE.
	fish -c 'source $argv[1]; complete -C $argv[2]' "$ROOT/completions/umapsync.fish" "$1" | cut -f1
}

@test "fish completes every command and every long option of every command" {
	command -v fish >/dev/null || skip "fish is not installed"
	assert_equal "$(complete_fish 'umapsync ' | sort)" "$(commands | sort)"
	local problems="" cmd sub want got
	for cmd in $(commands); do
		for sub in "" $(subcommands "$cmd"); do
			want=$("$UMAPSYNC" "$cmd" $sub --list-options 2>/dev/null | cut -f1 | grep '^--' | sed 's/=$//' | sort)
			[ -z "$sub" ] && [ -z "$want" ] && [ -n "$(subcommands "$cmd")" ] && continue
			got=$(complete_fish "umapsync $cmd ${sub:+$sub }--" | sort)
			[ "$want" = "$got" ] ||
				problems+="$cmd${sub:+ $sub}: fish completes '$(echo $got)' for --, the command has '$(echo $want)'"$'\n'
		done
	done
	assert_equal "$problems" ""
}
