#!/usr/bin/env bash
# A throwaway S3 server (s3rver, from the npm registry) on loopback, for tests and benchmarks.
#
# Usage:
#   eval "$(scripts/s3-server.sh start DIR [--tls] [--bucket NAME] [--log])"
#   scripts/s3-server.sh stop DIR
#   scripts/s3-server.sh env DIR          # print the export lines again
#
# start: installs s3rver $S3RVER_VERSION with npm into $ROOT/.tools (git-ignored) unless it is
#   there already (node and npm come from scripts/install-deps.sh), starts it on a free port of
#   127.0.0.1 with its data in DIR/data and the bucket (default pgdedup-test) created, and waits
#   until it answers. With --tls it serves https with a throwaway CA and certificate made in
#   DIR/tls (clients trust DIR/tls/ca.pem). On success it prints, on stdout and nothing else,
#   lines for `eval` (also kept in DIR/s3-server.env):
#       export S3_ENDPOINT=http[s]://127.0.0.1:<port>
#       export S3_BUCKET=<bucket>
#       export S3_REPO=s3:$S3_ENDPOINT/$S3_BUCKET
#       export S3_CACERT=DIR/tls/ca.pem              (with --tls)
#       export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1
#   Virtual-host style works with the endpoint http[s]://s3.localhost:<port>.
#   s3rver knows that one key pair (it checks the access key id, not V4 signatures). Its log is
#   DIR/s3rver.log; with --log it holds a line per request ("--> PUT /bucket/key 200 ...").
# stop: stops the server started in DIR (only the process whose pid start recorded). Stopping
#   one that is not running succeeds, so it is safe in cleanup traps.
#
# Environment: S3RVER_VERSION (default 3.7.1), PGDEDUP_TOOLS_DIR (default $ROOT/.tools),
# S3_START_TIMEOUT (seconds, default 60).
set -euo pipefail

PROG=s3-server.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S3RVER_VERSION=${S3RVER_VERSION:-3.7.1}
TOOLS_DIR=${PGDEDUP_TOOLS_DIR:-$ROOT/.tools}
S3_START_TIMEOUT=${S3_START_TIMEOUT:-60}

die() { echo "$PROG: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }
usage() { sed -n '2,8p' "$0" >&2; exit 2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Installs s3rver into $TOOLS_DIR/s3rver-$VERSION once; concurrent starts wait for each other.
ensure_s3rver() {
  local dir=$TOOLS_DIR/s3rver-$S3RVER_VERSION
  S3RVER_JS=$dir/node_modules/s3rver/bin/s3rver.js
  [[ -f "$S3RVER_JS" ]] && return 0
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    "$ROOT/scripts/install-deps.sh" >&2
  fi
  command -v npm >/dev/null 2>&1 || die "npm is not installed (scripts/install-deps.sh installs it)"
  mkdir -p "$TOOLS_DIR"
  (
    flock -w 600 9 || die "timed out waiting for another s3rver install"
    if [[ ! -f "$S3RVER_JS" ]]; then
      log "installing s3rver@$S3RVER_VERSION into $dir"
      rm -rf "$dir.partial"
      mkdir -p "$dir.partial"
      if ! npm install --prefix "$dir.partial" --no-audit --no-fund --no-save --loglevel=error \
             "s3rver@$S3RVER_VERSION" >&2; then
        rm -rf "$dir.partial"
        die "npm install s3rver@$S3RVER_VERSION failed"
      fi
      rm -rf "$dir"
      mv "$dir.partial" "$dir"
    fi
  ) 9>"$TOOLS_DIR/.s3rver.lock"
  [[ -f "$S3RVER_JS" ]] || die "s3rver is missing after the install: $S3RVER_JS"
}

# A CA and a certificate for 127.0.0.1/localhost signed by it, in DIR/tls.
make_tls() {
  local tls=$1
  mkdir -p "$tls"
  [[ -f "$tls/cert.pem" ]] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=pgdedup test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" >/dev/null 2>&1 || die "openssl: cannot make a CA"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tls/key.pem" -out "$tls/cert.csr" >/dev/null 2>&1 || die "openssl: cannot make a key"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$tls/ext.cnf"
  openssl x509 -req -in "$tls/cert.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 30 -extfile "$tls/ext.cnf" -out "$tls/cert.pem" >/dev/null 2>&1 ||
    die "openssl: cannot sign the certificate"
}

running() {
  local dir=$1 pid
  [[ -f "$dir/s3rver.pid" ]] || return 1
  pid=$(cat "$dir/s3rver.pid")
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

cmd_start() {
  local dir=$1 tls=$2 bucket=$3 verbose=$4 port scheme=http
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  running "$dir" && die "a server is already running for $dir"
  ensure_s3rver
  mkdir -p "$dir/data"
  port=$(free_port)
  # --service-endpoint localhost: http://BUCKET.s3.localhost:PORT/KEY reaches BUCKET
  # (virtual-host style; curl resolves *.localhost to loopback by itself).
  local args=(-d "$dir/data" -a 127.0.0.1 -p "$port" --no-vhost-buckets
              --service-endpoint localhost --configure-bucket "$bucket")
  [[ "$verbose" == 1 ]] || args+=(--silent)
  if [[ "$tls" == 1 ]]; then
    make_tls "$dir/tls"
    args+=(--key "$dir/tls/key.pem" --cert "$dir/tls/cert.pem")
    scheme=https
  fi
  : >"$dir/s3rver.log"
  # s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (node >= 17) keeps
  # in its legacy provider: without it every listing longer than a page fails with HTTP 500.
  local node_opts=()
  if node --openssl-legacy-provider -e '' >/dev/null 2>&1; then
    node_opts+=(--openssl-legacy-provider)
  fi
  # setsid: the server outlives this script and gets no signal meant for the caller's group.
  setsid node "${node_opts[@]}" "$S3RVER_JS" "${args[@]}" >>"$dir/s3rver.log" 2>&1 </dev/null &
  echo $! >"$dir/s3rver.pid"
  local endpoint=$scheme://127.0.0.1:$port
  local probe=(curl -s -o /dev/null)
  [[ "$tls" == 1 ]] && probe+=(--cacert "$dir/tls/ca.pem")
  local deadline=$((SECONDS + S3_START_TIMEOUT))
  # Ready when the bucket answers (any HTTP status means the server is up).
  until "${probe[@]}" "$endpoint/$bucket" 2>/dev/null; do
    if ! running "$dir"; then
      cat "$dir/s3rver.log" >&2
      die "s3rver exited during start"
    fi
    if ((SECONDS >= deadline)); then
      cat "$dir/s3rver.log" >&2
      cmd_stop "$dir"
      die "s3rver did not answer on $endpoint within ${S3_START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  {
    printf 'export S3_ENDPOINT=%q\n' "$endpoint"
    printf 'export S3_BUCKET=%q\n' "$bucket"
    printf 'export S3_REPO=%q\n' "s3:$endpoint/$bucket"
    [[ "$tls" == 1 ]] && printf 'export S3_CACERT=%q\n' "$dir/tls/ca.pem"
    printf 'export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1\n'
  } >"$dir/s3-server.env"
  log "s3rver $S3RVER_VERSION ready on $endpoint (bucket $bucket, data in $dir/data)"
  cat "$dir/s3-server.env"
}

cmd_stop() {
  local dir=$1 pid
  [[ -f "$dir/s3rver.pid" ]] || return 0
  pid=$(cat "$dir/s3rver.pid")
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    log "stopped s3rver in $dir"
  fi
  rm -f "$dir/s3rver.pid"
}

(($# >= 2)) || usage
command=$1 dir=$2
shift 2
tls=0 bucket=pgdedup-test verbose=0
while (($#)); do
  case "$command:$1" in
    start:--tls) tls=1 ;;
    start:--bucket) bucket=${2:?--bucket needs a name}; shift ;;
    start:--log) verbose=1 ;;
    *) echo "$PROG: unknown argument for $command: $1" >&2; usage ;;
  esac
  shift
done

case "$command" in
  start) cmd_start "$dir" "$tls" "$bucket" "$verbose" ;;
  stop) cmd_stop "$dir" ;;
  env) [[ -f "$dir/s3-server.env" ]] || die "no server state in $dir"; cat "$dir/s3-server.env" ;;
  *) usage ;;
esac
