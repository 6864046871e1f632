#!/usr/bin/env bash
# A ~2.5 GB stream, generated on the fly and never stored on disk, backs up and restores
# byte for byte (sha256), with peak memory (RSS) of backup and restore bounded (< 600 MB),
# not proportional to the stream.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -x "${GEN_DUMP:-}" ]] || fail "GEN_DUMP is not set to the gen_dump binary"
ROWS=${LARGE_ROWS:-10000000} # ~244 bytes a row: ~2.4 GB
MAX_RSS_KB=$((600 * 1024))
REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
export PGDEDUP_REPO=$REPO

# Peak RSS of a command: /usr/bin/time if there, else poll VmHWM from /proc.
if [[ -x /usr/bin/time ]]; then
  # peak_rss OUTFILE CMD...: run CMD (stdin/stdout pass through), write its peak RSS in kB.
  peak_rss() {
    local out=$1; shift
    /usr/bin/time -f %M -o "$out" "$@"
  }
else
  echo "note: /usr/bin/time is missing (Debian package 'time'); polling /proc/PID/status VmHWM" >&2
  peak_rss() {
    local out=$1; shift
    "$@" 0<&0 &
    local pid=$! hwm=0 v rc=0 p
    while kill -0 "$pid" 2>/dev/null; do
      # the command and its children (the command is `timeout ... pgdedup`)
      for p in "$pid" $(ps -o pid= --ppid "$pid" 2>/dev/null); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        [[ -n "$v" ]] && ((v > hwm)) && hwm=$v
      done
      sleep 0.1
    done
    wait "$pid" || rc=$?
    echo "$hwm" >"$out"
    return "$rc"
  }
fi

run_t 60 "$PGDEDUP_BIN" init --cache-dir "$CACHE" --kdf interactive || fail "init failed"

# Backup: the generator's output goes through tee to sha256sum and into pgdedup.
SECONDS=0
"$GEN_DUMP" --rows "$ROWS" |
  tee >(sha256sum | cut -d' ' -f1 >"$TEST_TMP/gen.sha256") |
  peak_rss "$TEST_TMP/backup.rss" timeout --kill-after=10 240 "$PGDEDUP_BIN" backup --cache-dir "$CACHE" \
    --stdin --name big.sql --json >"$TEST_TMP/backup.json" || fail "backup of the large stream failed"
t_backup=$SECONDS
# the process substitution may still be finishing
for _ in $(seq 100); do [[ -s "$TEST_TMP/gen.sha256" ]] && break; sleep 0.1; done
gen_sha=$(cat "$TEST_TMP/gen.sha256")
[[ ${#gen_sha} == 64 ]] || fail "no sha256 of the generated stream"

python3 - "$TEST_TMP/backup.json" "$gen_sha" "$ROWS" <<'EOF' || fail "backup --json of the large stream"
import json, sys
d = json.load(open(sys.argv[1]))
rows = int(sys.argv[3])
s = d["streams"][0]
if "sha256" in s:
    assert s["sha256"] == sys.argv[2], (s["sha256"], sys.argv[2])
assert d["bytes_read"] == s["size"], d
assert s["size"] > rows * 200, s["size"]
# A pg_dump-like text compresses: the repository grows by much less than the stream.
assert 0 < d["bytes_added"] < s["size"] / 2, d
print(f"backup: {s['size']} bytes, {d['chunks']} chunks, added {d['bytes_added']}, {d['duration_seconds']:.1f}s")
EOF

# Restore to stdout, hashed on the fly.
SECONDS=0
restored_sha=$(peak_rss "$TEST_TMP/restore.rss" timeout --kill-after=10 240 "$PGDEDUP_BIN" restore \
  --cache-dir "$CACHE" latest --output - | sha256sum | cut -d' ' -f1) || fail "restore of the large stream failed"
t_restore=$SECONDS
assert_eq "$restored_sha" "$gen_sha" "sha256 of the restored stream"

rss_b=$(cat "$TEST_TMP/backup.rss")
rss_r=$(cat "$TEST_TMP/restore.rss")
echo "backup: ${t_backup}s, peak RSS $((rss_b / 1024)) MB; restore: ${t_restore}s, peak RSS $((rss_r / 1024)) MB"
[[ "$rss_b" =~ ^[0-9]+$ && "$rss_r" =~ ^[0-9]+$ ]] || fail "could not measure peak RSS ($rss_b, $rss_r)"
((rss_b > 8192 && rss_r > 8192)) || fail "implausible peak RSS: backup $rss_b kB, restore $rss_r kB"
((rss_b < MAX_RSS_KB)) || fail "backup peak RSS $((rss_b / 1024)) MB is over $((MAX_RSS_KB / 1024)) MB"
((rss_r < MAX_RSS_KB)) || fail "restore peak RSS $((rss_r / 1024)) MB is over $((MAX_RSS_KB / 1024)) MB"

# The snapshot lists the stream with its size; the structure checks out.
run_t 60 "$PGDEDUP_BIN" snapshots --cache-dir "$CACHE" --json >"$TEST_TMP/snaps.json" || fail "snapshots failed"
python3 - "$TEST_TMP/snaps.json" "$TEST_TMP/backup.json" <<'EOF' || fail "snapshots --json after the large backup"
import json, sys
snaps = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
assert len(snaps) == 1 and snaps[0]["id"] == b["snapshot_id"], snaps
assert snaps[0]["size"] == b["bytes_read"] and snaps[0]["streams"][0]["size"] == b["bytes_read"], snaps
EOF
assert_exit 0 run_t 120 "$PGDEDUP_BIN" repo check --cache-dir "$CACHE"

pass
