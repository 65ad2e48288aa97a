#!/usr/bin/env bats
# The command-line conventions every command shares (SPEC §3): help, version, exit codes,
# option parsing, did-you-mean, stdout write errors, SIGPIPE.

bats_require_minimum_version 1.5.0
load helper

@test "--help lists every command grouped by purpose" {
	run umapsync --help
	assert_success
	assert_line --index 0 "usage: umapsync [--version] [--help] [-C DIR] [--no-pager] <command> [<args>]"
	assert_line "Work on files (no repository needed)"
	assert_line "Collaborate through a sync server"
	for cmd in $("$UMAPSYNC" --list-commands | cut -f1); do
		assert_line --regexp "^   $cmd +[A-Z]"
	done
}

@test "no command prints help to stderr and exits 129" {
	run_split umapsync
	assert_equal "$status" 129
	assert_equal "$output" ""
	[[ "$stderr" == usage:* ]]
}

@test "--version prints the version" {
	run umapsync --version
	assert_success
	assert_output --regexp '^umapsync version [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "unknown command exits 129 with a suggestion" {
	run_split umapsync mrege
	assert_equal "$status" 129
	assert_equal "$output" ""
	assert_equal "$stderr" "umapsync: 'mrege' is not a umapsync command. See 'umapsync --help'.

The most similar command is
	merge"
}

@test "a prefix suggests every command it starts" {
	run_split umapsync mer
	assert_equal "$status" 129
	[[ "$stderr" == *"The most similar commands are"* ]]
	[[ "$stderr" == *$'\n\tmerge\n'* || "$stderr" == *$'\n\tmerge' ]]
	[[ "$stderr" == *$'\n\tmerge-file'* ]]
}

@test "unknown option exits 129 with a suggestion and the usage" {
	run_split umapsync help --no-mann
	assert_equal "$status" 129
	[[ "$stderr" == "error: unknown option '--no-mann'; did you mean '--no-man'?"* ]]
	[[ "$stderr" == *"usage: umapsync help [<command>]"* ]]
}

@test "unknown global option exits 129" {
	run_split umapsync --bogus
	assert_equal "$status" 129
	[[ "$stderr" == "error: unknown option '--bogus'"* ]]
}

@test "every command answers -h with its usage on stdout and exit 0" {
	for cmd in $("$UMAPSYNC" --list-commands | cut -f1); do
		run umapsync "$cmd" -h
		assert_success
		assert_line --index 0 --regexp "^usage: umapsync $cmd( |$)"
	done
}

@test "every command answers --list-options, which completions rely on" {
	# A command with subcommands (token) answers too, without one: a shell asks before
	# the user has typed the subcommand.
	local problems="" cmd
	for cmd in $("$UMAPSYNC" --list-commands | cut -f1); do
		run_split "$UMAPSYNC" "$cmd" --list-options
		[ "$status" -eq 0 ] || problems+="$cmd: --list-options exits $status"$'\n'
		[ -z "$stderr" ] || problems+="$cmd: --list-options writes to stderr: $stderr"$'\n'
		# each line: NAME, kind (flag|arg|file), choices, help, tab-separated
		[ -z "$output" ] || ! awk -F'\t' 'NF != 4 || $1 !~ /^--?[A-Za-z]/ || $2 !~ /^(flag|arg|file)$/' <<<"$output" | grep -q . ||
			problems+="$cmd: malformed --list-options line"$'\n'
	done
	assert_equal "$problems" ""
}

@test "token refuses an option before its subcommand, and no subcommand" {
	local usage="usage: umapsync token create (--data DIR | --store URL) --map MAP [--layer ID]... --read|--write
   or: umapsync token list (--data DIR | --store URL) [--format=text|json]
   or: umapsync token revoke (--data DIR | --store URL) ID"
	run_split umapsync token --read
	assert_equal "$status" 129
	assert_equal "$output" ""
	assert_equal "$stderr" "error: unknown option '--read'

$usage"
	run_split umapsync token
	assert_equal "$status" 129
	assert_equal "$stderr" "error: expected a subcommand: create, list or revoke

$usage"
}

@test "help CMD prints the manual page's text when man does not show it" {
	run umapsync help validate
	assert_success
	assert_line --index 0 'umapsync-validate(1)'
	assert_line --regexp '^       umapsync validate '
}

@test "help with an unknown command exits 129" {
	run umapsync help nosuch
	assert_equal "$status" 129
}

@test "--opt=value, short options and -- are parsed" {
	run umapsync help --no-man -- validate
	assert_success
	assert_line --index 0 'umapsync-validate(1)'
}

@test "a write error on stdout is reported with exit 128" {
	[ -w /dev/full ] || skip "no /dev/full on this system"
	run bash -c '"$UMAPSYNC" --help >/dev/full'
	assert_equal "$status" 128
	assert_output "fatal: cannot write to standard output: No space left on device"
}

@test "SIGPIPE ends the output quietly" {
	run bash -c 'set -o pipefail; "$UMAPSYNC" --help | head -c 10 >/dev/null; echo "status=${PIPESTATUS[0]}"'
	assert_output --regexp '^status=(0|141)$'
	refute_output --partial "error"
}

@test "-C runs the command in another directory" {
	mkdir sub
	run umapsync -C sub --version
	assert_success
	run_split umapsync -C nowhere --version
	assert_equal "$status" 128
	assert_equal "$stderr" "fatal: cannot change to 'nowhere': No such file or directory"
}

@test "--no-pager is accepted before the command" {
	run umapsync --no-pager --version
	assert_success
	assert_output --regexp '^umapsync version '
}
