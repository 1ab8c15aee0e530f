#!/bin/sh
# tests/bench/run.sh - build truc-bench if needed, then run it.
#
#   tests/bench/run.sh                 # --quick: every scenario, small (about 30 s)
#   tests/bench/run.sh --full          # every scenario, full size
#   tests/bench/run.sh --ingest --json # one scenario, JSON on stdout
#
# Every argument goes to truc-bench (see truc-bench --help). The build
# directory is BUILD_DIR (default build/bench), configured on first use as a
# RelWithDebInfo build with -DTRUC_WERROR=ON; JOBS (default 2) parallel jobs.
# Build output goes to stderr, so stdout holds only the table or the JSON.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build/bench}
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRUC_WERROR=ON >&2
fi
cmake --build "$build" --target truc-bench -j "${JOBS:-2}" >&2
exec "$build/tests/bench/truc-bench" "$@"
