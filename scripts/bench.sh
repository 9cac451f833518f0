#!/usr/bin/env bash
# THE benchmark command: every row on glassloop, asyncio, uvloop and rloop,
# the loops alternating run by run, each run in a fresh process.
#
#   bash scripts/bench.sh                      # full run (~20 min on 2 cores):
#                                              #   benchmarks/results/<date>-py<ver>/
#   bash scripts/bench.sh --smoke              # tiny sizes, one run, a temp folder
#   bash scripts/bench.sh --only sched,io --runs 7
#   BENCH_PYTHON=3.12 bash scripts/bench.sh    # another interpreter (default 3.11)
#
# Arguments go to benchmarks/run.py (--help lists them).  The venv
# .venv-X.Y gets glassloop's [bench] extra; wrk is installed by
# benchmarks/setup.sh if missing (as root with apt-get).
set -u
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh

ver=${BENCH_PYTHON:-3.11}
py=$(ensure_venv "$ver" "[bench]") || exit 1
bash benchmarks/setup.sh
exec "$py" benchmarks/run.py "$@"
