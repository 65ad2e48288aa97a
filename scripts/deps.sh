#!/bin/sh
# Installs the Debian packages umapsync needs to build and test, if any is missing.
# Extra package names on the command line are checked too (`make fuzz` adds clang).
# Uses apt-get as root, sudo otherwise; prints the exact command when it can do neither.
set -eu

PACKAGES="gcc make pkg-config git libjansson-dev libgit2-dev zlib1g-dev libssl-dev libxxhash-dev libcurl4-openssl-dev
libmicrohttpd-dev libsqlite3-dev libpq-dev postgresql bats bats-assert bats-support scdoc jq curl man-db iproute2 fish zsh
pre-commit libjs-leaflet chromium
nodejs npm python3 python3-django"
PACKAGES="$PACKAGES $*"

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	# node and npm from elsewhere (NodeSource's nodejs bundles npm and conflicts with
	# Debian's npm package) serve the tests as well
	*) case "$pkg" in
		nodejs) command -v node >/dev/null 2>&1 || missing="$missing $pkg" ;;
		npm) command -v npm >/dev/null 2>&1 || missing="$missing $pkg" ;;
		*) missing="$missing $pkg" ;;
		esac ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" = 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo="sudo"
else
	echo "deps: cannot install packages (not root, and no password-less sudo)." >&2
	echo "deps: run this, then try again:" >&2
	echo "    sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
