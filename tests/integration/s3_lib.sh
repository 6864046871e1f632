# shellcheck shell=bash
# Helpers for tests against a real S3 server (s3rver on loopback) and the fault proxy. Source it
# instead of lib.sh (it sources lib.sh and adds to its EXIT trap):
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../integration/s3_lib.sh"
#   start_s3 [--tls]            s3rver in $TEST_TMP/s3; exports S3_ENDPOINT, S3_BUCKET, S3_REPO,
#                               AWS_* (and S3_CACERT with --tls)
#   start_fault_proxy ARGS...   tests/support/s3_fault_proxy.js in front of it (ARGS as the
#                               proxy takes them); exports PROXY_ENDPOINT; its log (one line per
#                               spoiled request) is $TEST_TMP/proxy.log
#   stop_fault_proxy            stop it (also done on exit)
#   proxy_faults                print how many requests the proxy has spoiled
#   json_get FILE EXPR          print a python expression over the JSON document `d` in FILE
# XDG_CACHE_HOME points into $TEST_TMP. The EXIT trap stops the proxy and the server.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Commands run without --cache-dir keep their caches in the test's directory, not in $HOME.
export XDG_CACHE_HOME=$TEST_TMP/xdg-cache

_S3_STARTED=0
_PROXY_PID=""

_s3_cleanup() {
  if [[ -n "$_PROXY_PID" ]]; then
    kill "$_PROXY_PID" 2>/dev/null
    wait "$_PROXY_PID" 2>/dev/null
    _PROXY_PID=""
  fi
  if [[ "$_S3_STARTED" == 1 ]]; then
    timeout 30 "$SOURCE_DIR/scripts/s3-server.sh" stop "$TEST_TMP/s3" >/dev/null 2>&1
    _S3_STARTED=0
  fi
}
_s3_exit() {
  local rc=$?
  set +e
  _s3_cleanup
  (exit "$rc")
  _cleanup
}
trap _s3_exit EXIT

start_s3() {
  local out
  out=$(timeout --kill-after=10 300 "$SOURCE_DIR/scripts/s3-server.sh" start "$TEST_TMP/s3" "$@") ||
    fail "could not start s3rver"
  _S3_STARTED=1
  eval "$out"
}

start_fault_proxy() {
  stop_fault_proxy
  rm -f "$TEST_TMP/proxy.port"
  node "$SOURCE_DIR/tests/support/s3_fault_proxy.js" --upstream "$S3_ENDPOINT" \
    --port-file "$TEST_TMP/proxy.port" "$@" >"$TEST_TMP/proxy.log" 2>&1 &
  _PROXY_PID=$!
  local i
  for i in $(seq 100); do
    [[ -s "$TEST_TMP/proxy.port" ]] && break
    kill -0 "$_PROXY_PID" 2>/dev/null || { cat "$TEST_TMP/proxy.log" >&2; fail "the fault proxy exited"; }
    sleep 0.1
  done
  [[ -s "$TEST_TMP/proxy.port" ]] || fail "the fault proxy did not start"
  PROXY_ENDPOINT=http://127.0.0.1:$(cat "$TEST_TMP/proxy.port")
  export PROXY_ENDPOINT
}

stop_fault_proxy() {
  if [[ -n "$_PROXY_PID" ]]; then
    kill "$_PROXY_PID" 2>/dev/null
    wait "$_PROXY_PID" 2>/dev/null || true
    _PROXY_PID=""
  fi
}

proxy_faults() {
  grep -c '^fault ' "$TEST_TMP/proxy.log" || true
}

json_get() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
