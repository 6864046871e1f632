#!/usr/bin/env bash
# A repository on S3 (s3rver on loopback, under a key prefix): init, backups of three nights of
# dump-like text, restores byte for byte, `repo check --read-data`, `stats --json` and the
# backup's --json with their "backend" request counters; a nightly backup of unchanged data
# reads almost nothing from the bucket (the local index cache), and a restore reads packs in a
# few large ranges, not blob by blob; check reads the bucket's manifests, not the local copies.
# Path-style and virtual-host style addressing; every request
# signed right (checked by the fault proxy's --verify-sigv4). Wrong or missing credentials end at once with exit 3 and
# a message naming the bucket; a malformed location is a usage error.
# Last, forget --keep-last 1 --prune on S3: the bucket shrinks and the kept snapshot restores.
# shellcheck source=tests/integration/s3_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/s3_lib.sh"

[[ -x "${GEN_DUMP:-}" ]] || fail "GEN_DUMP is not set to the gen_dump binary"
D=$TEST_TMP/data
mkdir -p "$D"
start_s3
# Through the proxy, which checks every Signature V4 and payload hash as AWS would (s3rver
# checks neither) and spoils nothing.
start_fault_proxy --every 0 --verify-sigv4 "$AWS_SECRET_ACCESS_KEY" --log-all
REPO=s3:$PROXY_ENDPOINT/$S3_BUCKET/nightly/repo
p() { pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache" "$@"; }

for n in 0 1 2; do "$GEN_DUMP" --rows 60000 --night "$n" >"$D/night$n"; done

assert_exit 0 p init
assert_contains "$LAST_STDERR" "created repository" "init on S3"
# The objects sit under the prefix in the bucket.
[[ -f $(find "$TEST_TMP/s3/data/$S3_BUCKET/nightly/repo" -name 'config._S3rver_object' | head -1) ]] ||
  fail "no config object under the prefix in the bucket"
assert_exit 2 p init   # a second init refuses (exit 2, usage), it does not overwrite
assert_contains "$LAST_STDERR" "already exists" "second init"

for n in 0 1 2; do
  assert_exit 0 p backup --stdin --name shop.sql --time "2026-11-0$((n + 1)) 02:00:00" --json <"$D/night$n"
  cp "$LAST_STDOUT" "$D/backup$n.json"
done
# The backend counters are in the backup's JSON, beside the existing fields.
python3 - "$D/backup0.json" <<'PY' || fail "backup --json has no sensible backend counters"
import json, sys
d = json.load(open(sys.argv[1]))
b = d["backend"]
assert d["packs_added"] >= 1 and "snapshot_id" in d, d
for k in ("requests", "puts", "gets", "heads", "lists", "deletes", "retries", "bytes_sent",
          "bytes_received"):
    assert isinstance(b[k], int), (k, b)
assert b["requests"] == b["puts"] + b["gets"] + b["heads"] + b["lists"] + b["deletes"], b
# packs, index objects, the manifest and the lock at least; sent at least what was added
assert b["puts"] >= d["packs_added"] + 2, b
assert b["bytes_sent"] >= d["bytes_added"], (b, d["bytes_added"])
assert b["retries"] == 0, b
PY

# Night 2 again, unchanged: nothing new is stored, and the bucket is barely read (the index
# comes from the local cache; only the config, keys, lock and listings are fetched).
assert_exit 0 p backup --stdin --name shop.sql --time "2026-11-03 03:00:00" --json <"$D/night2"
python3 - "$LAST_STDOUT" <<'PY' || fail "an unchanged nightly backup costs too much"
import json, sys
d = json.load(open(sys.argv[1]))
b = d["backend"]
assert d["new_chunks"] == 0 and d["packs_added"] == 0, d
assert b["gets"] <= 6, b
assert b["bytes_received"] < 64 * 1024, b
assert b["requests"] <= 20, b
PY

assert_exit 0 p snapshots --json
assert_eq "$(json_get "$LAST_STDOUT" 'len(d)')" 4 "snapshots on S3"
# The manifests and key files are kept in the local cache: listing again downloads none.
manifest_gets() { grep -cE '^request GET /[^ ]*/(snapshots|keys)/[0-9a-f]{64} ' "$TEST_TMP/proxy.log" || true; }
before=$(manifest_gets)
assert_exit 0 p snapshots --json
assert_eq "$(json_get "$LAST_STDOUT" 'len(d)')" 4 "snapshots on S3, again"
assert_eq "$(manifest_gets)" "$before" "manifests or keys downloaded again despite the cache"

# Restores byte for byte (each with an empty cache); each reads its packs in a few large
# ranges.
mapfile -t ids < <(json_get "$LAST_STDOUT" '"\n".join(s["id"] for s in d)')
for n in 0 1 2; do
  assert_exit 0 pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache-restore$n" restore "${ids[$n]}" \
    --stream shop.sql --output "$D/out$n" --json
  cmp -s "$D/out$n" "$D/night$n" || fail "night $n does not restore byte for byte from S3"
  cp "$LAST_STDOUT" "$D/restore$n.json"
done
python3 - "$D/restore0.json" "$D/backup0.json" <<'PY' || fail "the restore made too many requests"
import json, sys
r = json.load(open(sys.argv[1]))["backend"]
b = json.load(open(sys.argv[2]))
# One GET per blob would be one per chunk; read-ahead windows need one or two per pack,
# plus the config, the key, the index object(s) and the manifest.
assert r["gets"] <= 3 * b["packs_added"] + 8, (r, b["packs_added"])
assert r["gets"] * 4 < b["chunks"], (r, b["chunks"])
assert r["puts"] <= 1 and r["deletes"] <= 1, r   # the lock
PY
assert_exit 0 p restore latest --stream shop.sql --output -
cmp -s "$LAST_STDOUT" "$D/night2" || fail "latest does not restore to stdout byte for byte"

# Regression: an output that exists and is not a regular file (a FIFO here; /dev/null in real
# life) is written in place, not replaced by a renamed temporary file.
mkfifo "$D/fifo"
cat "$D/fifo" >"$D/from-fifo" &
reader=$!
assert_exit 0 p restore latest --stream shop.sql --output "$D/fifo"
wait "$reader"
[[ -p "$D/fifo" ]] || fail "restore --output replaced a FIFO with a file"
cmp -s "$D/from-fifo" "$D/night2" || fail "restore into a FIFO is not byte for byte"

assert_exit 0 p repo check --read-data
# check proves the bucket's own bytes, not this machine's copies of its manifests: a manifest
# damaged in the bucket after this cache took a sound copy is found.
manifest=$(find "$TEST_TMP/s3/data/$S3_BUCKET/nightly/repo/snapshots" -name '*._S3rver_object' | head -1)
[[ -f "$manifest" ]] || fail "no manifest object in the bucket"
cp "$manifest" "$TEST_TMP/manifest.sound"
python3 - "$manifest" <<'PY' || fail "could not damage the manifest"
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x40
open(sys.argv[1], "wb").write(data)
PY
assert_exit 0 p snapshots   # served from the local copy, which is sound
assert_exit 4 p repo check
assert_contains "$LAST_STDERR" "snapshots/" "check names the damaged manifest"
cp "$TEST_TMP/manifest.sound" "$manifest"
assert_exit 0 p repo check
assert_exit 0 p stats --json
python3 - "$LAST_STDOUT" <<'PY' || fail "stats --json on S3"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["snapshots"] == 4 and d["packs"] >= 1, d
b = d["backend"]
assert b["lists"] >= 1 and b["gets"] >= 1 and b["bytes_received"] > 0, b
PY

# Virtual-host style (the bucket in the host name), through the same signature check.
VHOST=s3:http://s3.localhost:${PROXY_ENDPOINT##*:}/$S3_BUCKET/vhost
export PGDEDUP_S3_BUCKET_LOOKUP=dns
assert_exit 0 pgd --repo "$VHOST" --cache-dir "$TEST_TMP/cache-vhost" init
assert_exit 0 pgd --repo "$VHOST" --cache-dir "$TEST_TMP/cache-vhost" backup --stdin --name n0 <"$D/night0"
assert_exit 0 pgd --repo "$VHOST" --cache-dir "$TEST_TMP/cache-vhost2" restore latest --stream n0 --output "$D/vhost0"
cmp -s "$D/vhost0" "$D/night0" || fail "virtual-host style does not restore byte for byte"
[[ -n $(find "$TEST_TMP/s3/data/$S3_BUCKET/vhost" -name 'config._S3rver_object') ]] ||
  fail "virtual-host style did not write into the bucket"
grep -q '^request PUT /vhost/config ' "$TEST_TMP/proxy.log" ||
  fail "the requests did not name the bucket in the host (no PUT /vhost/config)"
unset PGDEDUP_S3_BUCKET_LOOKUP

grep -q '^rejected' "$TEST_TMP/proxy.log" && fail "the proxy rejected a signature: $(grep '^rejected' "$TEST_TMP/proxy.log" | head -3)"

# Wrong credentials: a permission error at once (no retry loop), exit 3, naming the bucket.
start=$SECONDS
assert_exit 3 env AWS_SECRET_ACCESS_KEY=wrong "$PGDEDUP_BIN" --repo "$REPO" snapshots
assert_contains "$LAST_STDERR" "bucket $S3_BUCKET" "wrong secret"
assert_contains "$LAST_STDERR" "SignatureDoesNotMatch" "wrong secret"
assert_exit 3 env AWS_ACCESS_KEY_ID=NOBODY "$PGDEDUP_BIN" --repo "$REPO" snapshots
assert_contains "$LAST_STDERR" "bucket $S3_BUCKET" "wrong key id"
assert_contains "$LAST_STDERR" "InvalidAccessKeyId" "wrong key id"
assert_contains "$LAST_STDERR" "check AWS_ACCESS_KEY_ID" "wrong key id"
assert_exit 3 env AWS_ACCESS_KEY_ID=NOBODY "$PGDEDUP_BIN" --repo "$REPO" backup --stdin --name x </dev/null
((SECONDS - start < 15)) || fail "wrong credentials took $((SECONDS - start))s: retried?"
assert_exit 3 env -u AWS_ACCESS_KEY_ID "$PGDEDUP_BIN" --repo "$REPO" snapshots
assert_contains "$LAST_STDERR" "AWS_ACCESS_KEY_ID" "missing credentials"
# A wrong repository password is still exit 3, and a malformed location exit 2.
assert_exit 3 env PGDEDUP_PASSWORD=wrong "$PGDEDUP_BIN" --repo "$REPO" snapshots
assert_exit 2 pgd --repo "s3:ftp://127.0.0.1/bucket" snapshots
assert_contains "$LAST_STDERR" "http:// or https://" "malformed location"
# An empty prefix that holds no repository.
assert_exit 1 pgd --repo "$S3_REPO/elsewhere" snapshots
assert_contains "$LAST_STDERR" "no repository" "empty prefix"

# forget --prune on S3: only the newest snapshot stays, the bucket shrinks, and it still
# restores byte for byte (its chunks may be deltas against chunks only forgotten nights listed).
before_bytes=$(du -sb "$TEST_TMP/s3/data/$S3_BUCKET/nightly/repo" | cut -f1)
batch_deletes() { grep -cE '^request POST /[^ ]*\?delete' "$TEST_TMP/proxy.log" || true; }
deletes_before=$(batch_deletes)
assert_exit 0 p forget --keep-last 1 --prune --max-unused 0
(($(batch_deletes) > deletes_before)) || fail "prune on S3 did not use batch deletes (DeleteObjects)"
assert_eq "$(p snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 1 \
  "snapshots after forget --keep-last 1 on S3"
after_bytes=$(du -sb "$TEST_TMP/s3/data/$S3_BUCKET/nightly/repo" | cut -f1)
((after_bytes < before_bytes)) || fail "prune on S3 did not shrink the bucket ($before_bytes -> $after_bytes)"
assert_exit 0 pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache-after-prune" restore latest --stream shop.sql --output "$D/after-prune"
cmp -s "$D/after-prune" "$D/night2" || fail "the kept snapshot does not restore byte for byte after prune on S3"
assert_exit 0 p repo check --read-data

pass
