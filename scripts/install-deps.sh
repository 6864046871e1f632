#!/usr/bin/env bash
# Install the Debian packages pgdedup needs to build and test (Debian 12 / bookworm).
#
# Usage: scripts/install-deps.sh [--bench]
#   --bench   also install the benchmark peers (restic, borgbackup) and GNU time.
#
# Idempotent: it asks dpkg which packages are missing and does nothing (not even
# `apt-get update`) when everything is already installed. Works as root without a
# terminal (CI); as a normal user it uses sudo when sudo exists.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config
  # libraries pgdedup links against (headers)
  libpq-dev libzstd-dev libsodium-dev librocksdb-dev libcli11-dev libspdlog-dev
  catch2 libssl-dev libcurl4-openssl-dev
  # a real PostgreSQL server and client tools for the integration tests; pg_partman is an
  # extension with configuration tables (pg_extension_config_dump) for native_edge_test
  postgresql postgresql-contrib postgresql-15-partman
  # tools used by the scripts and tests (curl and openssl: scripts/s3-server.sh; jq: tests;
  # strace: kill_test stops a backup at chosen system calls)
  zstd gzip python3 procps util-linux curl openssl jq strace
)
# node and npm run the S3 test server (s3rver, installed from the npm registry by
# scripts/s3-server.sh) and the fault proxy. A node from elsewhere (e.g. NodeSource, which
# bundles npm and conflicts with Debian's npm package) is used as it is.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(restic borgbackup time) ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# Which packages are not installed? dpkg-query prints "install ok installed" for
# installed packages; anything else (or an error for unknown packages) is missing.
missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#packages[@]} packages are installed" >&2
  exit 0
fi

echo "install-deps.sh: installing: ${missing[*]}" >&2

# Run apt-get as root: directly when we are root, else through sudo if it exists.
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo -E)
else
  echo "install-deps.sh: not root and sudo is not available; install as root: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg (e.g. unattended-upgrades) instead of failing.
apt_opts=(-y -q -o DPkg::Lock::Timeout=600)

"${as_root[@]}" apt-get "${apt_opts[@]}" update
"${as_root[@]}" apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"

echo "install-deps.sh: done" >&2
