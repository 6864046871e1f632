# shellcheck shell=bash
# Helpers for integration test scripts. Source it first thing:
#
#   #!/usr/bin/env bash
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   start_pg                       # optional: a throwaway PostgreSQL server
#   pgd init --repo "$TEST_TMP/repo"
#   assert_exit 3 env PGDEDUP_PASSWORD=wrong "$PGDEDUP_BIN" snapshots --repo "$TEST_TMP/repo"
#   pass                           # prints "PASS <name>"
#
# What sourcing does:
#   - set -euo pipefail
#   - SOURCE_DIR (default: the repository root), PGDEDUP_BIN (default:
#     $SOURCE_DIR/build/pgdedup), TEST_NAME (default: the script's name without .sh)
#   - TEST_TMP: a fresh temp dir, removed on exit (keep it with KEEP_TMP=1)
#   - PGDEDUP_PASSWORD is set to a test password unless already set
#   - a watchdog ends the whole test after TEST_TIMEOUT seconds (default 600)
#   - an EXIT trap stops the PostgreSQL server (if started), the watchdog, and
#     removes TEST_TMP; a failing test prints "FAIL <name>: ..." on stderr
#
# Functions:
#   pgd ARGS...            run $PGDEDUP_BIN ARGS under `timeout` (PGD_TIMEOUT, default 300 s)
#   run_t SECS CMD...      run CMD under `timeout SECS` (CMD must be a program, not a function)
#   fail MSG               print "FAIL <name>: MSG" and exit 1
#   assert_eq A B MSG      fail unless A == B
#   assert_exit CODE CMD...  run CMD (a program or a function such as pgd), fail unless
#                          its exit status is CODE; its stdout/stderr are kept in the files
#                          $LAST_STDOUT / $LAST_STDERR (and shown on failure)
#   assert_contains FILE|STRING TEXT MSG   fail unless TEXT occurs
#   start_pg [--tcp]       start a server in $TEST_TMP/pg; exports PGHOST, PGPORT, PGUSER
#                          (superuser "postgres", trust auth; database "postgres" exists)
#   stop_pg                stop it (also done by the EXIT trap)
#   start_standby DIR [SETTING...]  a hot standby of it in DIR; sets STANDBY_PORT (stopped by
#                          the EXIT trap)
#   pg_conninfo [DB]       print a libpq conninfo for DB (default postgres) on that server
#   psql_q [DB] SQL        run SQL with psql (-XAtq, ON_ERROR_STOP), print the result
#   wait_until TENTHS CMD...  run CMD every 0.1 s until it succeeds, at most TENTHS times;
#                          returns its last status (CMD may be a function)
#   stop_job SIG PID       send SIG to PID (a background job of this shell), wait for it, and
#                          keep the status it ended with in $STOPPED_RC
#   pass                   print "PASS <name>" (call it as the last line of the test)

set -euo pipefail

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PGDEDUP_BIN=${PGDEDUP_BIN:-$SOURCE_DIR/build/pgdedup}
TEST_NAME=${TEST_NAME:-$(basename "${0%.sh}")}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
PGD_TIMEOUT=${PGD_TIMEOUT:-300}
export SOURCE_DIR PGDEDUP_BIN TEST_NAME
export PGDEDUP_PASSWORD=${PGDEDUP_PASSWORD:-integration-test-password}

# A per-test temp dir. Keep its path short: the PostgreSQL socket lives in it.
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pgd-${TEST_NAME:0:20}.XXXXXX")
export TEST_TMP
LAST_STDOUT=$TEST_TMP/last.stdout
LAST_STDERR=$TEST_TMP/last.stderr

_PG_STARTED=0
_STANDBY_DIRS=()
_WATCHDOG_PID=""

_cleanup() {
  local rc=$?
  set +e
  if [[ -n "$_WATCHDOG_PID" ]]; then
    kill "$_WATCHDOG_PID" 2>/dev/null
    wait "$_WATCHDOG_PID" 2>/dev/null
  fi
  local d
  for d in ${_STANDBY_DIRS[@]+"${_STANDBY_DIRS[@]}"}; do
    if [[ $rc -ne 0 && -s "$d/postgres.log" ]]; then
      echo "--- last lines of the standby's log ($d):" >&2
      tail -n 30 "$d/postgres.log" >&2
    fi
    timeout 90 "$SOURCE_DIR/scripts/pg-server.sh" stop "$d" >/dev/null 2>&1
  done
  if [[ "$_PG_STARTED" == 1 ]]; then
    timeout 90 "$SOURCE_DIR/scripts/pg-server.sh" stop "$TEST_TMP/pg" >/dev/null 2>&1
  fi
  if [[ $rc -ne 0 ]]; then
    echo "FAIL $TEST_NAME (exit status $rc)" >&2
    if [[ -s "$TEST_TMP/pg/postgres.log" ]]; then
      echo "--- last lines of the PostgreSQL log:" >&2
      tail -n 30 "$TEST_TMP/pg/postgres.log" >&2
    fi
  fi
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then
    echo "$TEST_NAME: keeping $TEST_TMP" >&2
  else
    rm -rf "$TEST_TMP"
  fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Watchdog: if the test is still running after TEST_TIMEOUT seconds, terminate the
# test's child processes (timeout forwards the signal to what it runs) and the test
# itself; the EXIT trap then cleans up. Its stdout is /dev/null so it never holds a
# pipe of the caller (ctest) open.
_watchdog() {
  local sleeper=""
  trap 'if [[ -n "$sleeper" ]]; then kill "$sleeper" 2>/dev/null; wait "$sleeper" 2>/dev/null; fi; exit 0' TERM
  sleep "$TEST_TIMEOUT" & sleeper=$!
  wait "$sleeper"
  echo "FAIL $TEST_NAME: timed out after ${TEST_TIMEOUT}s" >&2
  local c
  for c in $(ps -o pid= --ppid "$_TEST_PID" 2>/dev/null); do
    [[ "$c" != "$BASHPID" ]] && kill -TERM "$c" 2>/dev/null
  done
  kill -TERM "$_TEST_PID" 2>/dev/null
  exit 0
}
_TEST_PID=$$
_watchdog >/dev/null &
_WATCHDOG_PID=$!

fail() {
  echo "FAIL $TEST_NAME: $*" >&2
  exit 1
}

pass() {
  echo "PASS $TEST_NAME"
}

run_t() {
  local secs=$1; shift
  timeout --kill-after=10 "$secs" "$@"
}

pgd() {
  [[ -x "$PGDEDUP_BIN" ]] || fail "pgdedup binary not found: $PGDEDUP_BIN (build first or set PGDEDUP_BIN)"
  timeout --kill-after=10 "$PGD_TIMEOUT" "$PGDEDUP_BIN" "$@"
}

assert_eq() {
  local a=$1 b=$2 msg=${3:-values differ}
  [[ "$a" == "$b" ]] || fail "$msg: expected [$b], got [$a]"
}

assert_contains() {
  local hay=$1 needle=$2 msg=${3:-text not found}
  if [[ -f "$hay" ]]; then
    grep -qF -- "$needle" "$hay" || { cat "$hay" >&2; fail "$msg: [$needle] not in $hay"; }
  else
    [[ "$hay" == *"$needle"* ]] || fail "$msg: [$needle] not in [$hay]"
  fi
}

wait_until() {
  local tenths=$1 i
  shift
  for ((i = 0; i < tenths; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

stop_job() {
  STOPPED_RC=0
  kill "-$1" "$2"
  { wait "$2"; } 2>/dev/null || STOPPED_RC=$?
}

assert_exit() {
  local want=$1; shift
  local got=0
  "$@" >"$LAST_STDOUT" 2>"$LAST_STDERR" || got=$?
  if [[ "$got" != "$want" ]]; then
    echo "--- stdout of: $*" >&2; tail -n 40 "$LAST_STDOUT" >&2
    echo "--- stderr of: $*" >&2; tail -n 40 "$LAST_STDERR" >&2
    fail "expected exit status $want, got $got: $*"
  fi
}

# start_standby DIR [SETTING...]: a hot standby of the server start_pg started, streaming from
# it (pg_basebackup -R), with SETTING lines added to its postgresql.conf; sets STANDBY_PORT.
# Its socket is in DIR. The EXIT trap stops it.
start_standby() {
  local dir=$1 user bindir out
  shift
  user=$(stat -c %U "$TEST_TMP/pg/data")
  bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
  [[ -n "$bindir" ]] || bindir=$(dirname "$(command -v pg_basebackup)")
  mkdir -p "$dir"
  chown "$user:" "$dir"
  if [[ $(id -u) -eq 0 && "$user" != root ]]; then
    timeout --kill-after=10 120 runuser -u "$user" -- "$bindir/pg_basebackup" -h "$PGHOST" \
      -p "$PGPORT" -U "$PGUSER" -D "$dir/data" -R -X stream -c fast || fail "pg_basebackup failed"
  else
    timeout --kill-after=10 120 "$bindir/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" \
      -D "$dir/data" -R -X stream -c fast || fail "pg_basebackup failed"
  fi
  { echo "unix_socket_directories = '$dir'"; printf '%s\n' "$@"; } >>"$dir/data/postgresql.conf"
  _STANDBY_DIRS+=("$dir")
  out=$(timeout --kill-after=10 120 "$SOURCE_DIR/scripts/pg-server.sh" start "$dir") ||
    fail "could not start the standby"
  STANDBY_PORT=$(sed -n "s/^export PGPORT=//p" <<<"$out")
}

# shellcheck disable=SC2120  # arguments (--tcp) are optional
start_pg() {
  local out
  out=$(timeout --kill-after=10 120 "$SOURCE_DIR/scripts/pg-server.sh" start "$TEST_TMP/pg" "$@") ||
    fail "could not start PostgreSQL"
  _PG_STARTED=1
  eval "$out"
}

stop_pg() {
  [[ "$_PG_STARTED" == 1 ]] || return 0
  timeout --kill-after=10 90 "$SOURCE_DIR/scripts/pg-server.sh" stop "$TEST_TMP/pg" ||
    fail "could not stop PostgreSQL"
  _PG_STARTED=0
}

pg_conninfo() {
  echo "host=$PGHOST port=$PGPORT user=$PGUSER dbname=${1:-postgres}"
}

psql_q() {
  local db=postgres
  if (($# > 1)); then db=$1; shift; fi
  timeout --kill-after=10 120 psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"
}
