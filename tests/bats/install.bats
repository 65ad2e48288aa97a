#!/usr/bin/env bats
# `make install` and `make uninstall` with DESTDIR and PREFIX, as a packager runs them.

load helper

ROOT=$BATS_TEST_DIRNAME/../..

@test "make install puts the binary, man pages and completions under DESTDIR/PREFIX" {
	command -v scdoc >/dev/null || skip "scdoc is not installed"
	run make -s -C "$ROOT" install DESTDIR="$TEST_DIR/stage" PREFIX=/opt/um
	assert_success
	[ -x "$TEST_DIR/stage/opt/um/bin/umapsync" ]
	[ -f "$TEST_DIR/stage/opt/um/share/man/man1/umapsync.1" ]
	[ -f "$TEST_DIR/stage/opt/um/share/bash-completion/completions/umapsync" ]
	[ -f "$TEST_DIR/stage/opt/um/share/zsh/site-functions/_umapsync" ]
	[ -f "$TEST_DIR/stage/opt/um/share/fish/vendor_completions.d/umapsync.fish" ]
	run "$TEST_DIR/stage/opt/um/bin/umapsync" --version
	assert_success

	run make -s -C "$ROOT" uninstall DESTDIR="$TEST_DIR/stage" PREFIX=/opt/um
	assert_success
	run find "$TEST_DIR/stage" -type f
	assert_output ""
}

@test "every manual page renders without warnings" {
	command -v scdoc >/dev/null || skip "scdoc is not installed"
	for src in "$ROOT"/man/*.scd; do
		scdoc <"$src" >"$TEST_DIR/page" || fail "scdoc failed on $src"
		run bash -c "MANWIDTH=80 man -l '$TEST_DIR/page' 2>&1 >/dev/null"
		assert_output ""
	done
}
