#!/usr/bin/env bats
# The shell completions: they ask the binary for commands and options, so these tests
# drive them the way bash, zsh and fish would.

load helper

setup_file() {
	export PATH="$(cd "$(dirname "$UMAPSYNC")" && pwd):$PATH"
}

complete_bash() {
	# complete_bash WORD...: prints bash's completions for the command line "umapsync WORD...".
	bash -c '
		source "$1"; shift
		COMP_WORDS=(umapsync "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
		_umapsync
		printf "%s\n" "${COMPREPLY[@]}"
	' complete "$BATS_TEST_DIRNAME/../../completions/umapsync.bash" "$@"
}

complete_fish() {
	# complete_fish LINE: fish's completions (without descriptions) for the command line LINE.
	fish --no-config -c 'source $argv[1]; complete -C $argv[2]' \
		"$BATS_TEST_DIRNAME/../../completions/umapsync.fish" "$1" | cut -f1
}

@test "bash completes a command prefix" {
	run complete_bash mer
	assert_success
	assert_output "merge-file
merge"
}

@test "bash completes the options of a command" {
	run complete_bash help --no
	assert_success
	assert_output "--no-man"
}

@test "bash completes map files only where a map file is expected" {
	touch a.geojson b.umap c.txt d.json
	mkdir sub
	run complete_bash validate ""
	assert_success
	output=$(printf '%s\n' "$output" | sort)
	assert_output "a.geojson
b.umap
d.json
sub/"
}

@test "bash completes command names after help" {
	run complete_bash help vali
	assert_output "validate"
}

@test "every command listed by the binary is completed" {
	run complete_bash ""
	assert_success
	assert_equal "$output" "$("$UMAPSYNC" --list-commands | cut -f1)"
}

@test "zsh and fish completions parse" {
	command -v zsh >/dev/null && command -v fish >/dev/null || skip "zsh or fish is not installed (make deps installs them)"
	run zsh -n "$BATS_TEST_DIRNAME/../../completions/_umapsync"
	assert_success
	run fish --no-execute "$BATS_TEST_DIRNAME/../../completions/umapsync.fish"
	assert_success
	grep -q -- '--list-commands' "$BATS_TEST_DIRNAME/../../completions/_umapsync"
	grep -q -- '--list-options' "$BATS_TEST_DIRNAME/../../completions/umapsync.fish"
}

@test "bash completes global options, and commands and their options after them" {
	mkdir -p dir1/sub dir2
	run complete_bash --no
	assert_output "--no-pager"
	run complete_bash -C di
	assert_output "dir1
dir2"
	run complete_bash -C dir1 --no-pager mer
	assert_output "merge-file
merge"
	run complete_bash --no-pager help --no
	assert_output "--no-man"
}

@test "bash asks for options with the first argument typed, for subcommands" {
	# An ordinary command ignores the word; a command with subcommands (token create)
	# answers with the subcommand's options.
	run complete_bash help diff --no
	assert_output "--no-man"
	run complete_bash help no-such-subcommand --no
	assert_output "--no-man"
}

@test "bash completes the values of an option whose value is optional (--color[=WHEN])" {
	# The values come from the option table: fake a command whose table has OPT_COLOR.
	mkdir bin
	cat >bin/umapsync <<'SH'
#!/bin/sh
case "$*" in
"diff --list-options") printf -- '--color\targ\tauto|always|never\tcolour the output\n' ;;
*) exit 129 ;;
esac
SH
	chmod +x bin/umapsync
	run env PATH="$PWD/bin:$PATH" bash -c '
		source "$1"; COMP_WORDS=(umapsync diff --color=a); COMP_CWORD=2
		_umapsync; printf "%s\n" "${COMPREPLY[@]}"' complete "$BATS_TEST_DIRNAME/../../completions/umapsync.bash"
	assert_output "auto
always"
}

@test "bash completes config's setting names, then their values" {
	"$UMAPSYNC" init >/dev/null
	"$UMAPSYNC" remote add origin http://127.0.0.1:1/lyon
	"$UMAPSYNC" remote add backup http://127.0.0.1:1/lyon
	run complete_bash config ""
	assert_output "$("$UMAPSYNC" config --list-keys | cut -f1)"
	run complete_bash config pu
	assert_output "pull.strategy"
	run complete_bash config --unset merge
	assert_output "merge.ff"
	run complete_bash config pull.strategy ""
	assert_output "rebase
lww"
	run complete_bash config Merge.FF o
	assert_output "only"
	# the default remote is completed with the remotes there are
	run complete_bash config umapsync-remote.default ""
	assert_output "origin
backup"
}

@test "bash completes push and pull with the remotes of umapsync remote" {
	"$UMAPSYNC" init >/dev/null
	"$UMAPSYNC" remote add origin http://127.0.0.1:1/lyon
	"$UMAPSYNC" remote add backup http://127.0.0.1:1/lyon
	run complete_bash push ""
	assert_output "origin
backup"
	run complete_bash pull b
	assert_output "backup"
}

@test "fish completes config's setting names and values, and the remotes" {
	command -v fish >/dev/null || skip "fish is not installed (make deps installs it)"
	"$UMAPSYNC" init >/dev/null
	"$UMAPSYNC" remote add origin http://127.0.0.1:1/lyon
	run complete_fish "umapsync config "
	assert_output "$("$UMAPSYNC" config --list-keys | cut -f1 | sort)"
	run complete_fish "umapsync config merge.ff "
	assert_output "false
only
true"
	run complete_fish "umapsync config umapsync-remote.default "
	assert_output "origin"
	run complete_fish "umapsync push "
	assert_output "origin"
}

@test "fish completes a command prefix and the options of a command" {
	command -v fish >/dev/null || skip "fish is not installed (make deps installs it)"
	run complete_fish "umapsync mer"
	assert_success
	assert_output "merge
merge-file"
	run complete_fish "umapsync help --no"
	assert_output "--no-man"
}
