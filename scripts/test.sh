#!/usr/bin/env bash
# Build pgdedup and run the whole test suite (unit and integration tests, registered
# with CTest in tests/CMakeLists.txt). This is what CI runs (.ci/run): it works from a
# fresh clone, as root, without a terminal.
#
# Usage: scripts/test.sh [--sanitize] [extra ctest arguments, e.g. -R chunker]
#   --sanitize  build in $SANITIZE_BUILD_DIR (default <repo>/build-sanitize; never BUILD_DIR) with
#               AddressSanitizer and UndefinedBehaviorSanitizer
#               (PGDEDUP_SANITIZE) and run there the unit and fault tests (the decoders
#               against damaged input among them) and the scripts that feed the binary damaged
#               repositories, old repositories, odd streams and wrong passwords; any report
#               fails the run. Slower (~15 minutes on 2 cores), so not part of CI's run.
# Environment: BUILD_DIR (default <repo>/build), CTEST_JOBS (default 2),
#              CTEST_TIMEOUT (per test, seconds, default 900).
# Exits with ctest's status.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SANITIZE=0
if [[ "${1:-}" == --sanitize ]]; then
  SANITIZE=1
  shift
fi

"$ROOT/scripts/install-deps.sh"
if [[ "$SANITIZE" == 1 ]]; then
  export BUILD_DIR=${SANITIZE_BUILD_DIR:-$ROOT/build-sanitize}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # The scripts' own bounds (tests/integration/lib.sh), raised for a binary 2-3x slower (ctest
  # stops any test at 900 s).
  export TEST_TIMEOUT=${TEST_TIMEOUT:-850} PGD_TIMEOUT=${PGD_TIMEOUT:-600}
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPGDEDUP_SANITIZE=ON >&2
  cmake --build "$BUILD_DIR" --parallel "$(nproc)" \
    --target unit_tests fault_tests pgdedup gen_dump >&2
  # (Given -R of its own, ctest takes the last: a subset of these, or of anything.)
  set -- -R '^(unit|faults|faults/corruption_test|integration/(roundtrip|old_repo|password)_test)$' "$@"
else
  export BUILD_DIR=${BUILD_DIR:-$ROOT/build}
  "$ROOT/scripts/build.sh"
fi

rc=0
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error \
      --timeout "${CTEST_TIMEOUT:-900}" -j "${CTEST_JOBS:-2}" "$@" || rc=$?
if [[ $rc -eq 0 ]]; then
  echo "test.sh: all tests passed" >&2
else
  echo "test.sh: ctest failed (exit status $rc)" >&2
fi
exit "$rc"
