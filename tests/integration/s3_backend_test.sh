#!/usr/bin/env bash
# The S3 backend's contract tests (tests/unit/s3_test.cc, tag [s3server]) against a real s3rver:
# ranges, short reads, missing objects, listings of more than 1000 objects in pages, batch
# deletes and request counters. They go through the fault proxy with no faults but with
# --verify-sigv4, which checks every request's signature and payload hash as AWS would (s3rver
# does not).
# shellcheck source=tests/integration/s3_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/s3_lib.sh"

[[ -x "${UNIT_TESTS:-}" ]] || fail "UNIT_TESTS is not set to the unit_tests binary"
start_s3
start_fault_proxy --every 0 --verify-sigv4 "$AWS_SECRET_ACCESS_KEY"
S3_ENDPOINT=$PROXY_ENDPOINT run_t 300 "$UNIT_TESTS" "[s3server]" ||
  fail "the S3 backend contract tests failed"
if grep -q '^rejected' "$TEST_TMP/proxy.log"; then
  cat "$TEST_TMP/proxy.log" >&2
  fail "the proxy rejected requests"
fi
pass
