#!/usr/bin/env bats
# Colour: only on a terminal by default; --color, the color.ui setting (repository, then
# ~/.gitconfig) and NO_COLOR decide otherwise, in that order.

bats_require_minimum_version 1.5.0
load helper

ESC=$'\e['

setup_file() {
	export A=$EXAMPLES/bike-parking.geojson B=$EXAMPLES/bike-parking-alice.geojson
}

on_tty() {
	local cmd
	printf -v cmd '%q ' "$@"
	script -qec "$cmd" /dev/null </dev/null
}

@test "by default: colour on a terminal, none into a pipe, none with NO_COLOR" {
	command -v script >/dev/null || skip "needs script(1)"
	run on_tty env UMAPSYNC_PAGER=cat "$UMAPSYNC" diff "$A" "$B"
	[[ $output == *"$ESC"* ]]
	run umapsync diff "$A" "$B"
	[[ $output != *"$ESC"* ]]
	run on_tty env UMAPSYNC_PAGER=cat NO_COLOR=1 "$UMAPSYNC" diff "$A" "$B"
	[[ $output != *"$ESC"* ]]
}

@test "color.ui in the repository's config: always colours a pipe, never a terminal" {
	umapsync init >/dev/null
	umapsync config color.ui always
	run umapsync diff "$A" "$B"
	assert_success
	[[ $output == *"${ESC}1m${ESC}33mmodified feature zP5kR"* ]]
	mkdir -p sub/dir && cd sub/dir # found from below the repository's top too
	run umapsync diff "$A" "$B"
	[[ $output == *"$ESC"* ]]
	cd ../..
	umapsync config color.ui never
	if command -v script >/dev/null; then
		run on_tty env UMAPSYNC_PAGER=cat "$UMAPSYNC" diff "$A" "$B"
		assert_success
		[[ $output != *"$ESC"* ]]
		[[ $output == *"modified feature zP5kR"* ]]
	fi
}

@test "--color beats color.ui, and color.ui beats NO_COLOR" {
	umapsync init >/dev/null
	umapsync config color.ui always
	run umapsync diff --color=never "$A" "$B"
	[[ $output != *"$ESC"* ]]
	run umapsync diff --no-color "$A" "$B"
	[[ $output != *"$ESC"* ]]
	run env NO_COLOR=1 "$UMAPSYNC" diff "$A" "$B"
	[[ $output == *"$ESC"* ]]
	umapsync config color.ui never
	run umapsync diff --color "$A" "$B"
	[[ $output == *"$ESC"* ]]
}

@test "color.ui in ~/.gitconfig applies outside a repository" {
	git config --global color.ui always
	run umapsync diff "$A" "$B"
	[[ $output == *"$ESC"* ]]
}

@test "color.ui in an included file or in ~/.config/git/config applies too" {
	# a config that does not mention colour is not handed to libgit2 (which is slow to
	# start): these are the files that do so only indirectly
	printf '[ui-free]\n\tx = 1\n[include]\n\tpath = %s/more.gitconfig\n' "$HOME" >"$HOME/.gitconfig"
	printf '[color]\n\tui = always\n' >"$HOME/more.gitconfig"
	run umapsync diff "$A" "$B"
	[[ $output == *"$ESC"* ]]
	rm "$HOME/.gitconfig"
	run umapsync diff "$A" "$B"
	[[ $output != *"$ESC"* ]]
	mkdir -p "$HOME/.config/git"
	printf '[Color]\n\tUI = always\n' >"$HOME/.config/git/config"
	run umapsync diff "$A" "$B"
	[[ $output == *"$ESC"* ]]
}

@test "an unknown color.ui value is ignored with a warning" {
	git config --global color.ui sometimes
	run --separate-stderr umapsync diff "$A" "$B"
	assert_success
	[[ $output != *"$ESC"* ]]
	assert_equal "$stderr" "warning: ignoring color.ui = 'sometimes': use auto, always or never"
}
