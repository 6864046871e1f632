#!/usr/bin/env bash
# Build pgdedup and run the whole test suite (unit and integration tests, registered
# with CTest in tests/CMakeLists.txt). This is what CI runs (.ci/run): it works from a
# fresh clone, as root, without a terminal.
#
# Usage: scripts/test.sh [extra ctest arguments, e.g. -R chunker]
# Environment: BUILD_DIR (default <repo>/build), CTEST_JOBS (default 2),
#              CTEST_TIMEOUT (per test, seconds, default 900).
# Exits with ctest's status.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export BUILD_DIR=${BUILD_DIR:-$ROOT/build}

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"

rc=0
ctest --test-dir "$BUILD_DIR" --output-on-failure \
      --timeout "${CTEST_TIMEOUT:-900}" -j "${CTEST_JOBS:-2}" "$@" || rc=$?
if [[ $rc -eq 0 ]]; then
  echo "test.sh: all tests passed" >&2
else
  echo "test.sh: ctest failed (exit status $rc)" >&2
fi
exit "$rc"
