#!/usr/bin/env bash
# ensure_tool.sh COMMAND PACKAGE WHAT: make sure COMMAND exists, installing
# Debian's PACKAGE when running as root with apt-get (CI, a fresh machine);
# otherwise say what to run.  Never fails: WHAT says what is skipped without it.
set -u
cmd=$1 pkg=$2 what=$3
log=/tmp/glassloop-$pkg-install.log

if command -v "$cmd" >/dev/null 2>&1; then
    echo "-- $cmd: $(command -v "$cmd")"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "-- $cmd is not installed and this is not root with apt-get: $what." \
         "Install it with: sudo apt-get install -y $pkg" >&2
    exit 0
fi
echo "-- installing $pkg (apt-get install -y $pkg)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q "$pkg" >"$log" 2>&1; then
    # A fresh machine may have no package lists yet.
    apt-get update -q >>"$log" 2>&1
    apt-get install -y -q "$pkg" >>"$log" 2>&1
fi
if command -v "$cmd" >/dev/null 2>&1; then
    echo "-- $cmd: $(command -v "$cmd")"
else
    echo "-- could not install $pkg (see $log): $what" >&2
fi
exit 0
