#!/usr/bin/env bash
# Make sure wrk, the HTTP rows' load generator, is installed (it is not on
# PyPI): Debian's package when running as root with apt-get (CI); otherwise
# it says what to run.  Never fails: without wrk the HTTP rows are reported
# as skipped, the rest of the suite runs.
#
#   bash benchmarks/setup.sh
set -u
exec bash "$(dirname "$0")/../scripts/ensure_tool.sh" wrk wrk "the HTTP rows will be skipped"
