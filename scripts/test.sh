#!/usr/bin/env bash
# Install dependencies, build truc (normal, sanitizer and fuzzing builds) and
# run every test. This is the command CI runs (.ci/run).
#
#   scripts/test.sh            the default run: a few minutes
#   scripts/test.sh --long     also the long runs: the chaos, security and
#                              hostile suites at their long sizes
#                              (TRUC_TEST_LONG=1), the soak (label soak,
#                              TRUC_SOAK_SECONDS, default 600) and 600 s of
#                              fuzzing per target
#
# Environment: JOBS (parallel jobs, default: number of cores),
#              TRUC_FUZZ_SECONDS (fuzzing time per target, default 60; --long: 600),
#              TRUC_SOAK_SECONDS (the soak's length with --long, default 600).
set -euo pipefail
cd "$(dirname "$0")/.."

long=0
for arg in "$@"; do
  case "$arg" in
    --long) long=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $arg" >&2; exit 1 ;;
  esac
done
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${TRUC_FUZZ_SECONDS:-$([ "$long" = 1 ] && echo 600 || echo 60)}
export TRUC_FUZZ_SECONDS=$fuzz_seconds

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

step "formatting (clang-format, .clang-format)"
if git rev-parse --git-dir >/dev/null 2>&1; then
  mapfile -t sources < <(git ls-files '*.c' '*.h')
else
  mapfile -t sources < <(find proto keys broker agent tests -name '*.c' -o -name '*.h')
fi
clang-format --dry-run --Werror "${sources[@]}"
echo "${#sources[@]} files formatted"

step "normal build (-Werror) and tests"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRUC_WERROR=ON >/dev/null
cmake --build build/release -j "$jobs"
(cd build/release && ctest --output-on-failure -j "$jobs" -LE 'fuzz|soak')

step "sanitizer build (address, undefined) and tests"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DTRUC_WERROR=ON \
  -DTRUC_SANITIZE=address,undefined >/dev/null
cmake --build build/asan -j "$jobs"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs" -LE 'fuzz|soak')

step "fuzzing build (clang, libFuzzer) and bounded fuzz runs (${fuzz_seconds}s per target)"
cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTRUC_WERROR=ON \
  -DTRUC_FUZZ=ON -DTRUC_SANITIZE=address,undefined >/dev/null
cmake --build build/fuzz -j "$jobs"
(cd build/fuzz && ctest --output-on-failure -L fuzz)

if [ "$long" = 1 ]; then
  step "long runs: chaos, security and hostile suites at full size, then the soak"
  (cd build/release && TRUC_TEST_LONG=1 ctest --output-on-failure -L 'chaos|security|hostile')
  (cd build/release && ctest --output-on-failure -V -L soak)
fi

step "all tests passed"
