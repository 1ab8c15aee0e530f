#!/bin/sh
# fuzz.sh - build the libFuzzer tree and fuzz the truc body decoder.
#
#   scripts/fuzz.sh [SECONDS]        default 60; scripts/fuzz.sh 3600 for a long run
#
# Builds build-fuzz/ with clang, libFuzzer, AddressSanitizer and UBSan, then
# runs fuzz_decode for SECONDS over a working corpus in
# build-fuzz/fuzz-work/corpus. The working corpus starts as a copy of the
# checked-in seeds (proto/fuzz/corpus, which is never modified) and keeps
# what libFuzzer finds between runs. Prints the executions and coverage at
# the end. Exits non-zero if a crash, leak, timeout or out-of-memory input
# was found; those inputs are left in build-fuzz/fuzz-work/ (crash-*, ...).
#
# Environment: FUZZ_JOBS=N runs N fuzzing processes in parallel (default 1).
set -eu

seconds=${1:-60}
case $seconds in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac
jobs=${FUZZ_JOBS:-1}

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
work=$build/fuzz-work

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DTRUC_FUZZ=ON \
    -DTRUC_SANITIZE=address,undefined >/dev/null
cmake --build "$build" --target fuzz_decode -j "$(nproc 2>/dev/null || echo 2)"

mkdir -p "$work/corpus"
if [ -z "$(ls -A "$work/corpus")" ]; then
    cp "$root"/proto/fuzz/corpus/* "$work/corpus/"
fi
log=$work/fuzz.log
rm -f "$work"/fuzz-*.log
before=$(ls "$work" | grep -c -E '^(crash|leak|timeout|oom)-' || true)

set +e
if [ "$jobs" -gt 1 ]; then
    # With several workers libFuzzer writes one log per job in the current
    # directory; run in $work so they stay there.
    (cd "$work" && "$build/proto/fuzz_decode" -max_total_time="$seconds" -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/" \
        -jobs="$jobs" -workers="$jobs" corpus) >"$log" 2>&1
    status=$?
    cat "$work"/fuzz-*.log >>"$log" 2>/dev/null
else
    "$build/proto/fuzz_decode" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$log" 2>&1
    status=$?
fi
set -e

after=$(ls "$work" | grep -c -E '^(crash|leak|timeout|oom)-' || true)
execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{ s += $2 } END { print s + 0 }')
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')

echo "fuzz_decode: ${seconds}s, ${execs} executions, coverage ${cov:-?} edges," \
    "${ft:-?} features, corpus ${corp:-?} inputs"
echo "log: $log"
if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
    echo "FAILED: libFuzzer exit status $status; inputs found:" >&2
    ls "$work" | grep -E '^(crash|leak|timeout|oom)-' | sed "s|^|  $work/|" >&2 || true
    grep -E 'ERROR: |invariant broken|SUMMARY' "$log" | head -n 20 >&2 || true
    exit 1
fi
