#!/usr/bin/env bash
# The S3 backend on a flaky network: pgdedup talks to s3rver through tests/support's fault
# proxy.
#  1. One request in four spoiled (500, 503, a response cut mid-body, a connection reset, a
#     response held back past the stall timeout): init, two backups, restores byte for byte and
#     `repo check --read-data` all succeed, and the retries show in the backend counters.
#  2. A failure that never ends (every upload of an index object answered 503): the backup
#     fails with a clear error naming the object, the attempts and the last HTTP status; it
#     leaves only unreferenced packs, every committed snapshot still restores byte for byte, and
#     the next backup succeeds.
#  3. A server that stalls: the request is abandoned after the stall timeout, not waited on.
# shellcheck source=tests/integration/s3_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/s3_lib.sh"

[[ -x "${GEN_DUMP:-}" ]] || fail "GEN_DUMP is not set to the gen_dump binary"
D=$TEST_TMP/data
mkdir -p "$D"
for n in 0 1 2; do "$GEN_DUMP" --rows 60000 --night "$n" >"$D/night$n"; done
start_s3
# Retry fast (the backoff's shape is not under test) and give up on a silent server after 2 s.
export PGDEDUP_S3_RETRY_BASE_MS=20 PGDEDUP_S3_TIMEOUT=2

# --- 1. one request in four fails --------------------------------------------------------------
start_fault_proxy --every 4 --faults 500,503,drop,reset,slow --slow-ms 4000
FLAKY=s3:$PROXY_ENDPOINT/$S3_BUCKET/repo
DIRECT=$S3_REPO/repo
# 1 MiB packs: a dozen pack uploads per backup, so the faults hit uploads too.
assert_exit 0 pgd --repo "$FLAKY" --cache-dir "$TEST_TMP/cache" init --pack-size 1
retries=0
for n in 0 1; do
  assert_exit 0 pgd --repo "$FLAKY" --cache-dir "$TEST_TMP/cache" backup --stdin --name shop.sql \
    --time "2026-11-0$((n + 1)) 02:00:00" --json <"$D/night$n"
  retries=$((retries + $(json_get "$LAST_STDOUT" 'd["backend"]["retries"]')))
done
assert_eq "$(json_get "$LAST_STDOUT" 'd["packs_added"] >= 1')" True "packs uploaded"
((retries > 0)) || fail "no retries counted through the faulty proxy"
assert_exit 0 pgd --repo "$FLAKY" snapshots --json
mapfile -t ids < <(json_get "$LAST_STDOUT" '"\n".join(s["id"] for s in d)')
assert_eq "${#ids[@]}" 2 "snapshots"
for n in 0 1; do
  assert_exit 0 pgd --repo "$FLAKY" --cache-dir "$TEST_TMP/cache-r$n" restore "${ids[$n]}" \
    --stream shop.sql --output "$D/out$n"
  cmp -s "$D/out$n" "$D/night$n" || fail "night $n does not restore byte for byte through the faults"
done
assert_exit 0 pgd --repo "$FLAKY" repo check --read-data
faults=$(proxy_faults)
for kind in 500 503 drop reset slow; do
  grep -q "^fault $kind " "$TEST_TMP/proxy.log" || fail "the proxy never injected $kind"
done
echo "$TEST_NAME: the proxy spoiled $faults requests; the backups retried $retries" >&2
((faults >= 10)) || fail "only $faults faults injected"

# --- 2. a failure that never ends ------------------------------------------------------------
start_fault_proxy --every 1 --faults 503 --match '^PUT .*/index/'
FLAKY=s3:$PROXY_ENDPOINT/$S3_BUCKET/repo
packs_before=$(find "$TEST_TMP/s3/data/$S3_BUCKET/repo/data" -name '*._S3rver_object' | wc -l)
assert_exit 1 env PGDEDUP_S3_MAX_ATTEMPTS=3 "$PGDEDUP_BIN" --repo "$FLAKY" \
  --cache-dir "$TEST_TMP/cache" backup --stdin --name shop.sql --time "2026-11-03 02:00:00" <"$D/night2"
assert_contains "$LAST_STDERR" "S3 PUT index/" "the error names the object"
assert_contains "$LAST_STDERR" "gave up after 3 attempts" "the error counts the attempts"
assert_contains "$LAST_STDERR" "HTTP 503 SlowDown" "the error names the last status"
packs_after=$(find "$TEST_TMP/s3/data/$S3_BUCKET/repo/data" -name '*._S3rver_object' | wc -l)
((packs_after > packs_before)) || fail "the failed backup uploaded no packs (expected unreferenced ones)"
stop_fault_proxy
# Nothing committed is lost; the half-done backup is invisible; the next one succeeds.
assert_exit 0 pgd --repo "$DIRECT" snapshots --json
assert_eq "$(json_get "$LAST_STDOUT" 'len(d)')" 2 "snapshots after the failed backup"
assert_exit 0 pgd --repo "$DIRECT" --cache-dir "$TEST_TMP/cache-r2" restore "${ids[0]}" \
  --stream shop.sql --output "$D/again0"
cmp -s "$D/again0" "$D/night0" || fail "night 0 no longer restores after the failed backup"
assert_exit 0 pgd --repo "$DIRECT" --cache-dir "$TEST_TMP/cache" backup --stdin --name shop.sql \
  --time "2026-11-03 02:00:00" <"$D/night2"
assert_exit 0 pgd --repo "$DIRECT" --cache-dir "$TEST_TMP/cache-r3" restore latest \
  --stream shop.sql --output "$D/out2"
cmp -s "$D/out2" "$D/night2" || fail "the backup after the failure does not restore byte for byte"
assert_exit 0 pgd --repo "$DIRECT" repo check --read-data

# --- 3. a server that stalls -----------------------------------------------------------------
start_fault_proxy --every 1 --faults slow --slow-ms 20000 --match '^GET .*/config$'
start=$SECONDS
assert_exit 1 env PGDEDUP_S3_MAX_ATTEMPTS=2 PGDEDUP_S3_TIMEOUT=1 "$PGDEDUP_BIN" \
  --repo "s3:$PROXY_ENDPOINT/$S3_BUCKET/repo" snapshots
assert_contains "$LAST_STDERR" "S3 GET config" "the stalled request is named"
assert_contains "$LAST_STDERR" "gave up after 2 attempts" "a stalled request is retried, then abandoned"
((SECONDS - start < 15)) || fail "a stalled server held the client $((SECONDS - start))s"

pass
