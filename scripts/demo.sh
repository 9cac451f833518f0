#!/usr/bin/env bash
# The demo for a fresh machine: make the Python 3.11 venv if it is missing,
# install glassloop with its [demo] extra (FastAPI, uvicorn, aiohttp), then run
# `glassloop serve`: the course's Async API on one glassloop loop, until Ctrl-C.
#
#   bash scripts/demo.sh                       # math API on :8000, phrases on :8080
#   bash scripts/demo.sh --port 9000 --phrases-port 9001
#
# Extra arguments go to `glassloop serve` (see `glassloop serve --help`).
set -u
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh

py=$(ensure_venv 3.11 "[demo]") || exit 1
echo "\$ glassloop serve $*"
exec "$(dirname "$py")/glassloop" serve "$@"
