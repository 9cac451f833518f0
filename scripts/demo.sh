#!/usr/bin/env bash
# The demo for a fresh machine: make the Python 3.11 venv if it is missing,
# then run the course text's asyncio program on glassloop via the CLI.
# Extra arguments go to the demo script, e.g. `bash scripts/demo.sh --seed 7`.
set -u
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh

# The demo needs only glassloop itself (no test tools), so a fresh machine
# gets a quick install; scripts/test.sh later adds the [test] extras.
py=$(ensure_venv 3.11 "") || exit 1
echo "\$ glassloop run examples/course_asyncio.py $*"
exec "$(dirname "$py")/glassloop" run examples/course_asyncio.py "$@"
