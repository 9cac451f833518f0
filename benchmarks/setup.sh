#!/usr/bin/env bash
# Make sure wrk, the HTTP rows' load generator, is installed (it is not on
# PyPI).  Installs Debian's package when running as root with apt-get (CI);
# otherwise says what to run.  Never fails: without wrk the HTTP rows are
# reported as skipped, the rest of the suite runs.
#
#   bash benchmarks/setup.sh
set -u

if command -v wrk >/dev/null 2>&1; then
    echo "-- wrk: $(command -v wrk)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "-- wrk is not installed and this is not root with apt-get: the HTTP rows will be" \
         "skipped.  Install it with: sudo apt-get install -y wrk" >&2
    exit 0
fi
echo "-- installing wrk (apt-get install -y wrk)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q wrk >/tmp/glassloop-wrk-install.log 2>&1; then
    # A fresh machine may have no package lists yet.
    apt-get update -q >>/tmp/glassloop-wrk-install.log 2>&1
    apt-get install -y -q wrk >>/tmp/glassloop-wrk-install.log 2>&1
fi
if command -v wrk >/dev/null 2>&1; then
    echo "-- wrk: $(command -v wrk)"
else
    echo "-- could not install wrk (see /tmp/glassloop-wrk-install.log): the HTTP rows" \
         "will be skipped" >&2
fi
exit 0
