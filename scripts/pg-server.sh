#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, demos and benchmarks.
#
# Usage:
#   eval "$(scripts/pg-server.sh start DIR [--tcp])"
#   scripts/pg-server.sh stop DIR [--immediate]
#   scripts/pg-server.sh status DIR      # exit 0 when the server accepts connections
#   scripts/pg-server.sh env DIR         # print the export lines again
#
# start: initdb's a cluster in DIR/data (unless one is there already, then it is just
#   started again), starts it and waits until it accepts connections. It listens on a
#   unix socket in DIR only (listen_addresses=''); with --tcp also on 127.0.0.1 on a
#   free port. On success it prints, on stdout and nothing else, lines for `eval`:
#       export PGHOST=DIR (or 127.0.0.1 with --tcp)
#       export PGPORT=<port>
#       export PGUSER=postgres
#   The cluster's superuser is `postgres` (initdb -U postgres) and authentication is
#   `trust` for local and loopback connections, so any OS user (root included) can
#   connect as postgres through the socket. The server log is DIR/postgres.log;
#   it is printed on stderr if the start fails.
# stop: fast shutdown (immediate if fast does not finish, or with --immediate).
#   Stopping a server that is not running (or a DIR without a cluster) succeeds, so
#   it is safe in cleanup traps.
#
# PostgreSQL refuses to run as root, so when this script runs as root it creates a
# system user `pgdedup-test` (or falls back to `nobody`), chowns DIR to it, makes
# DIR's parent directories traversable for it (adds o+x where missing, e.g. on the
# 0700 directories mktemp -d creates) and runs initdb/pg_ctl as that user.
#
# Settings are tuned for speed, not durability (fsync=off etc.): never point this at
# data you care about.
#
# Environment: PG_BINDIR (PostgreSQL server binaries; default: the newest
# /usr/lib/postgresql/*/bin), PG_TEST_USER (default pgdedup-test),
# PG_START_TIMEOUT (seconds, default 60).
set -euo pipefail

PROG=pg-server.sh
PG_TEST_USER=${PG_TEST_USER:-pgdedup-test}
PG_START_TIMEOUT=${PG_START_TIMEOUT:-60}
SUPERUSER=postgres

die() { echo "$PROG: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

usage() { sed -n '2,8p' "$0" >&2; exit 2; }

# --- locate the server binaries (initdb, pg_ctl, pg_isready) ---------------------
find_bindir() {
  if [[ -n "${PG_BINDIR:-}" ]]; then
    echo "$PG_BINDIR"; return
  fi
  local d best
  # sort -V so that 9.6 < 10 < 15 (the plain glob order would not)
  best=$(for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/initdb" ]] && echo "$d"; done |
         sort -V | tail -n 1)
  if [[ -n "$best" ]]; then
    echo "$best"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  else
    die "cannot find initdb; install postgresql or set PG_BINDIR"
  fi
}

# --- users --------------------------------------------------------------------
# Make sure the unprivileged test user exists (root only). Several tests may start
# servers at the same time, so tolerate a concurrent useradd.
ensure_test_user() {
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    if id -u "$PG_TEST_USER" >/dev/null 2>&1; then
      echo "$PG_TEST_USER"; return
    fi
    useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group "$PG_TEST_USER" >/dev/null 2>&1 || sleep 0.5
  done
  if id -u nobody >/dev/null 2>&1; then
    log "could not create user $PG_TEST_USER; falling back to nobody"
    echo nobody; return
  fi
  die "could not create user $PG_TEST_USER and there is no user nobody"
}

# run_as USER CMD...: run CMD as USER (only used when we are root), from a directory
# USER can enter (initdb/postgres complain when the cwd is unreadable, e.g. /root).
run_as() {
  local user=$1; shift
  if [[ "$user" == "$(id -un)" ]]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u "$user" -- "$@")
  else
    (cd / && setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@")
  fi
}

# Give USER search (x) permission on every ancestor of DIR that it cannot traverse.
make_traversable() {
  local user=$1 dir=$2 p
  p=$(dirname "$dir")
  while :; do
    if ! run_as "$user" test -x "$p" 2>/dev/null; then
      log "adding o+x to $p so that $user can reach $dir"
      chmod o+x "$p"
    fi
    [[ "$p" == / ]] && break
    p=$(dirname "$p")
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Print the export lines for DIR (from the state file written by start).
print_env() {
  local dir=$1
  [[ -f "$dir/pg-server.env" ]] || die "no server state in $dir (not started with $PROG start?)"
  cat "$dir/pg-server.env"
}

# --- commands -------------------------------------------------------------------
cmd_start() {
  local dir=$1 tcp=$2
  local bindir user data port host
  bindir=$(find_bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  data=$dir/data

  # The socket path DIR/.s.PGSQL.NNNNN must fit in sun_path (107 bytes).
  if (( ${#dir} + 18 > 107 )); then
    die "directory path too long for a unix socket (${#dir} chars): $dir"
  fi

  # Which OS user runs the server?
  if [[ $(id -u) -eq 0 ]]; then
    if [[ -f "$data/PG_VERSION" ]]; then
      user=$(stat -c %U "$data")   # restart an existing cluster as its owner
    else
      user=$(ensure_test_user)
    fi
    chown "$user:" "$dir"
    make_traversable "$user" "$dir"
  else
    user=$(id -un)
  fi
  # Others (e.g. root's clients, or other users) must reach the socket in DIR.
  chmod 0755 "$dir"

  if [[ -f "$data/postmaster.pid" ]] && run_as "$user" "$bindir/pg_ctl" status -D "$data" >/dev/null 2>&1; then
    die "a server is already running in $data"
  fi

  # Reuse the port of an earlier start of this DIR (clients may have it already).
  port=""
  if [[ -f "$dir/pg-server.env" ]]; then
    port=$(sed -n "s/^export PGPORT=//p" "$dir/pg-server.env" | tr -d "'")
  fi
  [[ -n "$port" ]] || port=$(free_port)

  if [[ ! -f "$data/PG_VERSION" ]]; then
    log "initdb $data (as $user, $("$bindir/postgres" --version))"
    if ! run_as "$user" "$bindir/initdb" -D "$data" -U "$SUPERUSER" --auth=trust \
           --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2
      die "initdb failed"
    fi
    # Fast, small, throwaway settings. conf.d-style: appended to postgresql.conf,
    # later lines win.
    cat >>"$data/postgresql.conf" <<CONF

# --- added by scripts/pg-server.sh (throwaway test server) ---
unix_socket_directories = '$dir'
unix_socket_permissions = 0777
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 60
max_wal_size = 1GB
checkpoint_timeout = 30min
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  fi

  # Listen addresses and port are given on the command line, so a restart may
  # switch between socket-only and --tcp.
  local listen="''"
  host=$dir
  if [[ "$tcp" == 1 ]]; then
    listen=127.0.0.1
    host=127.0.0.1
  fi

  : >"$dir/postgres.log"
  chown "$user:" "$dir/postgres.log" 2>/dev/null || true
  log "starting server in $dir (port $port, listen_addresses=$listen)"
  if ! run_as "$user" "$bindir/pg_ctl" start -D "$data" -l "$dir/postgres.log" -w \
         -t "$PG_START_TIMEOUT" -o "-c listen_addresses=$listen -c port=$port" >/dev/null 2>&1; then
    log "pg_ctl start failed; server log follows"
    cat "$dir/postgres.log" >&2 || true
    die "could not start the server in $dir"
  fi

  # pg_ctl -w already waited; make sure clients can really connect the way they will.
  local deadline=$((SECONDS + PG_START_TIMEOUT))
  until "$bindir/pg_isready" -q -h "$host" -p "$port" -U "$SUPERUSER" -d postgres -t 2; do
    if (( SECONDS >= deadline )); then
      log "server does not accept connections after ${PG_START_TIMEOUT}s; server log follows"
      cat "$dir/postgres.log" >&2 || true
      run_as "$user" "$bindir/pg_ctl" stop -D "$data" -m immediate >/dev/null 2>&1 || true
      die "server in $dir did not become ready"
    fi
    sleep 0.2
  done

  {
    printf 'export PGHOST=%q\n' "$host"
    printf 'export PGPORT=%q\n' "$port"
    printf 'export PGUSER=%q\n' "$SUPERUSER"
  } >"$dir/pg-server.env"
  log "ready"
  cat "$dir/pg-server.env"
}

cmd_stop() {
  local dir=$1 mode=$2
  local bindir data user
  [[ -d "$dir" ]] || return 0
  data=$dir/data
  [[ -f "$data/PG_VERSION" ]] || return 0
  [[ -f "$data/postmaster.pid" ]] || return 0   # not running
  bindir=$(find_bindir)
  user=$(id -un)
  [[ $(id -u) -eq 0 ]] && user=$(stat -c %U "$data")
  if ! run_as "$user" "$bindir/pg_ctl" stop -D "$data" -m "$mode" -w -t 60 >/dev/null 2>&1; then
    # Not running (stale pid file) or fast shutdown hung: try immediate, then check.
    run_as "$user" "$bindir/pg_ctl" stop -D "$data" -m immediate -w -t 30 >/dev/null 2>&1 || true
    if run_as "$user" "$bindir/pg_ctl" status -D "$data" >/dev/null 2>&1; then
      die "could not stop the server in $data"
    fi
  fi
  log "stopped server in $dir"
}

cmd_status() {
  local dir=$1 bindir
  bindir=$(find_bindir)
  [[ -f "$dir/pg-server.env" ]] || return 1
  (
    eval "$(cat "$dir/pg-server.env")"
    "$bindir/pg_isready" -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -t 2
  )
}

# --- main -------------------------------------------------------------------------
(( $# >= 2 )) || usage
command=$1 dir=$2
shift 2
tcp=0 mode=fast
for arg in "$@"; do
  case "$command:$arg" in
    start:--tcp) tcp=1 ;;
    stop:--immediate) mode=immediate ;;
    *) echo "$PROG: unknown argument for $command: $arg" >&2; usage ;;
  esac
done

case "$command" in
  start) cmd_start "$dir" "$tcp" ;;
  stop) cmd_stop "$dir" "$mode" ;;
  status) cmd_status "$dir" ;;
  env) print_env "$dir" ;;
  *) usage ;;
esac
