#!/bin/sh
# fuzz.sh - build the libFuzzer tree and run one of truc's fuzz targets.
#
#   scripts/fuzz.sh [SECONDS] [TARGET]   default: 60 seconds of fuzz_decode
#   scripts/fuzz.sh 3600                 a long run of the body decoder
#   scripts/fuzz.sh 600 fuzz_api         ten minutes of the agent's local API
#
# Targets (seed corpus, largest input):
#   fuzz_decode  the strict body decoder      proto/fuzz/corpus   64 KiB
#   fuzz_frames  header frame + body          (none)               4 KiB
#   fuzz_api     the agent's API requests     agent/fuzz/corpus   64 KiB, agent/fuzz/api.dict
#   fuzz_edxml   the agent's edXML bridge     agent/fuzz/edxml-corpus 64 KiB, agent/fuzz/edxml.dict
#
# Builds build-fuzz/ with clang, libFuzzer, AddressSanitizer and UBSan, then
# runs TARGET for SECONDS in its work directory: build-fuzz/fuzz-work for
# fuzz_decode (as before TARGET existed), build-fuzz/fuzz-work-TARGET for
# the others. Its working corpus (WORK/corpus) starts as a copy of the
# checked-in seeds, which are never modified, and keeps what libFuzzer finds
# between runs. Prints the executions and coverage at the end. Exits
# non-zero if a crash, leak, timeout or out-of-memory input was found; those
# inputs are left in the work directory (crash-*, ...). Copied into the
# target's seed corpus, such an input becomes a regression test: ctest runs
# every target over its corpus in every build (fuzz_*_replay, label unit).
#
# Environment: FUZZ_JOBS=N runs N fuzzing processes in parallel (default 1);
#              FUZZ_BUILD=DIR uses another build tree (default build-fuzz).
set -eu

usage() {
    echo "usage: $0 [SECONDS] [fuzz_decode|fuzz_frames|fuzz_api|fuzz_edxml]" >&2
    exit 2
}

seconds=${1:-60}
target=${2:-fuzz_decode}
case $seconds in
'' | *[!0-9]*) usage ;;
esac
jobs=${FUZZ_JOBS:-1}

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
case $target in
fuzz_decode)
    binary=$build/proto/fuzz_decode seeds=$root/proto/fuzz/corpus max_len=65536 dict=''
    work=$build/fuzz-work
    ;;
fuzz_frames)
    binary=$build/proto/fuzz_frames seeds='' max_len=4096 dict=''
    work=$build/fuzz-work-fuzz_frames
    ;;
fuzz_edxml)
    binary=$build/agent/fuzz_edxml seeds=$root/agent/fuzz/edxml-corpus max_len=65536
    dict=-dict=$root/agent/fuzz/edxml.dict
    work=$build/fuzz-work-fuzz_edxml
    ;;
fuzz_api)
    binary=$build/agent/fuzz_api seeds=$root/agent/fuzz/corpus max_len=65536
    dict=-dict=$root/agent/fuzz/api.dict
    work=$build/fuzz-work-fuzz_api
    ;;
*) usage ;;
esac

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DTRUC_FUZZ=ON \
    -DTRUC_SANITIZE=address,undefined >/dev/null
cmake --build "$build" --target "$target" -j "$(nproc 2>/dev/null || echo 2)"

mkdir -p "$work/corpus"
if [ -n "$seeds" ] && [ -z "$(ls -A "$work/corpus")" ]; then
    cp "$seeds"/* "$work/corpus/"
fi
log=$work/fuzz.log
rm -f "$work"/fuzz-*.log
before=$(ls "$work" | grep -c -E '^(crash|leak|timeout|oom)-' || true)

set +e
if [ "$jobs" -gt 1 ]; then
    # With several workers libFuzzer writes one log per job in the current
    # directory; run in $work so they stay there.
    (cd "$work" && "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 \
        -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$work/" ${dict:+"$dict"} \
        -jobs="$jobs" -workers="$jobs" corpus) >"$log" 2>&1
    status=$?
    cat "$work"/fuzz-*.log >>"$log" 2>/dev/null
else
    "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$max_len" \
        -print_final_stats=1 -artifact_prefix="$work/" ${dict:+"$dict"} "$work/corpus" >"$log" 2>&1
    status=$?
fi
set -e

after=$(ls "$work" | grep -c -E '^(crash|leak|timeout|oom)-' || true)
execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{ s += $2 } END { print s + 0 }')
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')

echo "$target: ${seconds}s, ${execs} executions, coverage ${cov:-?} edges," \
    "${ft:-?} features, corpus ${corp:-?} inputs"
echo "log: $log"
if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
    echo "FAILED: libFuzzer exit status $status; inputs found:" >&2
    ls "$work" | grep -E '^(crash|leak|timeout|oom)-' | sed "s|^|  $work/|" >&2 || true
    grep -E 'ERROR: |invariant broken|SUMMARY' "$log" | head -n 20 >&2 || true
    exit 1
fi
