#!/usr/bin/env bash
# Configure and build pgdedup with CMake + Ninja (Release by default).
#
# Usage: scripts/build.sh [extra cmake configure arguments...]
# Environment:
#   BUILD_DIR    build directory (default: <repo>/build); an existing one is reused
#   BUILD_TYPE   CMake build type (default: Release)
#   BUILD_JOBS   parallel compile jobs (default: nproc)
# CMake/Ninja output goes to stderr; stdout gets only the absolute path of the built
# pgdedup binary, so  PGDEDUP_BIN=$(scripts/build.sh)  works.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BUILD_TYPE=${BUILD_TYPE:-Release}
BUILD_JOBS=${BUILD_JOBS:-$(nproc)}

mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)

configure=(cmake -S "$ROOT" -B "$BUILD_DIR" "-DCMAKE_BUILD_TYPE=$BUILD_TYPE")
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  # Reuse the existing build dir with whatever generator it was created with
  # (passing -G to a dir configured with another generator is an error).
  # Re-running the configure step is cheap and picks up new/removed sources.
  :
else
  configure+=(-G Ninja)
fi

echo "build.sh: configuring $BUILD_DIR ($BUILD_TYPE)" >&2
"${configure[@]}" "$@" >&2

echo "build.sh: building with $BUILD_JOBS jobs" >&2
cmake --build "$BUILD_DIR" --parallel "$BUILD_JOBS" >&2

bin="$BUILD_DIR/pgdedup"
if [[ ! -x "$bin" ]]; then
  echo "build.sh: build finished but $bin is missing" >&2
  exit 1
fi
echo "$bin"
