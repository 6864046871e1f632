#!/usr/bin/env bash
# kill -9 of a real backup while it writes packs (after ~0.5 s, ~1.5 s, ~3 s of a slow input
# stream), at each of its commit steps (strace kills it just before the rename that stores its
# lock, its cache's files, its index object, its manifest), and of a real restore. After each:
# every earlier snapshot restores byte for byte, `repo check --read-data` exits 0 (warnings
# about unreferenced packs and stale locks allowed), the killed backup left no snapshot, and
# the next backup works and restores.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

GEN_DUMP=${GEN_DUMP:-$SOURCE_DIR/build/bench/gen_dump}
[[ -x "$GEN_DUMP" ]] || fail "gen_dump not found: $GEN_DUMP"
[[ -x "$PGDEDUP_BIN" ]] || fail "pgdedup binary not found: $PGDEDUP_BIN"
command -v strace >/dev/null || fail "strace is not installed (scripts/install-deps.sh installs it)"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
PIECE=262144   # bytes the slow source writes at a time
PIECES=40      # 10 MiB in ~5 s: longer than the latest kill

ls_ids() { if [[ -d "$1" ]]; then find "$1" -type f -printf '%f\n' | sort; fi; }

# Snapshots known to be committed: id, stream name, file with the expected bytes.
SNAPS=()
STREAMS=()
FILES=()

backup_file() { # FILE NAME: a normal backup; records the snapshot
  assert_exit 0 pgd backup --repo "$REPO" --stdin --name "$2" --json --cache-dir "$CACHE" <"$1"
  local id
  id=$(jq -r .snapshot_id "$LAST_STDOUT")
  [[ "$id" =~ ^[0-9a-f]{64}$ ]] || fail "backup --json gave no snapshot_id: $(cat "$LAST_STDOUT")"
  SNAPS+=("$id")
  STREAMS+=("$2")
  FILES+=("$1")
}

all_restore() { # every committed snapshot restores byte for byte
  local i out=$TEST_TMP/restored
  for i in "${!SNAPS[@]}"; do
    rm -f "$out"
    assert_exit 0 pgd restore --repo "$REPO" "${SNAPS[$i]}" --stream "${STREAMS[$i]}" \
      --output "$out" --cache-dir "$CACHE"
    cmp -s "$out" "${FILES[$i]}" || fail "snapshot ${SNAPS[$i]} does not restore byte for byte"
  done
  rm -f "$out"
}

check_clean() { # `repo check --read-data` exits 0; only warnings
  assert_exit 0 pgd repo check --repo "$REPO" --read-data --json --cache-dir "$CACHE"
  [[ "$(jq -r .ok "$LAST_STDOUT")" == true ]] || fail "check not ok: $(cat "$LAST_STDOUT")"
  [[ "$(jq '.errors | length' "$LAST_STDOUT")" == 0 ]] || fail "check errors: $(cat "$LAST_STDOUT")"
}

slow_source() { # FILE: writes FILE in pieces with pauses; stops quietly when the reader dies
  local i
  for ((i = 0; i < PIECES; i++)); do
    dd if="$1" bs="$PIECE" skip="$i" count=1 status=none 2>/dev/null || return 0
    sleep 0.1
  done
}

# ---- a repository with two snapshots ----------------------------------------------------------
pgd init --repo "$REPO" --pack-size 1 --kdf interactive --cache-dir "$CACHE" 2>/dev/null
"$GEN_DUMP" --rows 10000 --seed 3 >"$TEST_TMP/dump0.sql"
"$GEN_DUMP" --random-bytes 2000000 --seed 4 >"$TEST_TMP/rand0.bin"
backup_file "$TEST_TMP/dump0.sql" db.sql
backup_file "$TEST_TMP/rand0.bin" rand.bin

# ---- kill -9 of a backup at several points ----------------------------------------------------
k=0
for delay in 0.5 1.5 3; do
  k=$((k + 1))
  src=$TEST_TMP/slow$k.bin
  "$GEN_DUMP" --random-bytes $((PIECE * PIECES)) --seed $((100 + k)) >"$src"
  ls_ids "$REPO/snapshots" >"$TEST_TMP/snaps.before"
  ls_ids "$REPO/data" >"$TEST_TMP/packs.before"

  fifo=$TEST_TMP/fifo$k
  mkfifo "$fifo"
  slow_source "$src" >"$fifo" &
  src_pid=$!
  "$PGDEDUP_BIN" backup --repo "$REPO" --stdin --name slow.bin --cache-dir "$CACHE" \
    <"$fifo" >"$TEST_TMP/killed$k.out" 2>"$TEST_TMP/killed$k.err" &
  pid=$!
  sleep "$delay"
  kill -0 "$pid" 2>/dev/null || { cat "$TEST_TMP/killed$k.err" >&2; fail "backup ended before the kill at ${delay}s"; }
  kill -9 "$pid"
  rc=0
  { wait "$pid"; } 2>/dev/null || rc=$?
  assert_eq "$rc" 137 "exit status of the backup killed at ${delay}s"
  wait "$src_pid" || true
  rm -f "$fifo"

  ls_ids "$REPO/snapshots" >"$TEST_TMP/snaps.after"
  cmp -s "$TEST_TMP/snaps.before" "$TEST_TMP/snaps.after" ||
    fail "the backup killed at ${delay}s left a snapshot: $(comm -13 "$TEST_TMP/snaps.before" "$TEST_TMP/snaps.after")"
  ls_ids "$REPO/data" >"$TEST_TMP/packs.after"
  left=$(comm -13 "$TEST_TMP/packs.before" "$TEST_TMP/packs.after" | wc -l)
  echo "kill after ${delay}s: the killed backup left $left packs" >&2
  if [[ "$delay" == 3 ]]; then
    ((left >= 2)) || fail "the backup killed after 3 s had written only $left packs: the kill was not mid-write"
  fi

  all_restore
  check_clean
  # The next backup (of the same stream the killed one was reading) works and restores.
  backup_file "$src" slow.bin
  all_restore
done
check_clean

# ---- kill -9 of a restore ---------------------------------------------------------------------
BIG=${#SNAPS[@]}
BIG=$((BIG - 1))   # the last, 10 MiB snapshot

# To stdout, into a slow reader: the restore is surely mid-stream when killed.
fifo=$TEST_TMP/restore.fifo
mkfifo "$fifo"
"$PGDEDUP_BIN" restore --repo "$REPO" "${SNAPS[$BIG]}" --stream slow.bin --output - \
  --cache-dir "$CACHE" >"$fifo" 2>"$TEST_TMP/rkilled.err" &
pid=$!
(
  while [[ "$(head -c 65536 | wc -c)" -gt 0 ]]; do sleep 0.05; done
) <"$fifo" &
reader=$!
sleep 0.5
kill -0 "$pid" 2>/dev/null || fail "restore to a slow reader ended before the kill"
kill -9 "$pid"
rc=0
{ wait "$pid"; } 2>/dev/null || rc=$?
assert_eq "$rc" 137 "exit status of the killed restore"
wait "$reader" || true
rm -f "$fifo"

# To a file: kill it once its temp file exists (if it is not already done by then).
out=$TEST_TMP/restore-killed.bin
"$PGDEDUP_BIN" restore --repo "$REPO" "${SNAPS[$BIG]}" --stream slow.bin --output "$out" \
  --cache-dir "$CACHE" >/dev/null 2>"$TEST_TMP/rkilled2.err" &
pid=$!
for ((i = 0; i < 500; i++)); do
  [[ -e "$out.pgdedup-partial" ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.01
done
kill -9 "$pid" 2>/dev/null || true
rc=0
{ wait "$pid"; } 2>/dev/null || rc=$?
if [[ $rc == 137 ]]; then
  [[ ! -e "$out" ]] || fail "a restore killed before its end left the output file $out"
else
  echo "note: the restore to a file finished (exit $rc) before it could be killed" >&2
  assert_eq "$rc" 0 "exit status of the restore to a file"
fi

# Restoring again works, over the killed one's leftovers.
rm -f "$out"
assert_exit 0 pgd restore --repo "$REPO" "${SNAPS[$BIG]}" --stream slow.bin --output "$out" \
  --cache-dir "$CACHE"
cmp -s "$out" "${FILES[$BIG]}" || fail "the restore after the killed ones is not byte for byte"
[[ ! -e "$out.pgdedup-partial" ]] || fail "a successful restore left its temp file"
rm -f "$out"
all_restore
check_clean

# ---- kill -9 at each commit step --------------------------------------------------------------
# strace kills a real backup with SIGKILL just before the K-th rename(2) (or renameat, where
# the C library uses it) of one of its threads (strace counts per thread). The main thread
# renames, in order: its lock object, the local cache's files (RocksDB), the index object
# (after every pack is stored), the manifest; the upload thread renames the packs. So K = 1, 2, ... stops the backup before the lock, inside
# the cache's update, before the index object and before the manifest, until a K beyond the
# main thread's renames lets it finish. After every kill: no new snapshot, every earlier one
# restores, check is clean, and the cache the kill left behind serves the next backup.
ls_committed() { ls_ids "$1" | grep -v '^\.tmp-' || true; }  # without a killed Put's temp file
k=0
while :; do
  k=$((k + 1))
  ((k <= 20)) || fail "a backup under strace never finished"
  src=$TEST_TMP/step$k.bin
  "$GEN_DUMP" --random-bytes 3000000 --seed $((200 + k)) >"$src"
  ls_committed "$REPO/snapshots" >"$TEST_TMP/snaps.before"
  ls_committed "$REPO/index" >"$TEST_TMP/index.before"
  rc=0
  strace -f -qq -o /dev/null -e trace=/^rename -e inject=/^rename:signal=KILL:when=$k \
    "$PGDEDUP_BIN" backup --repo "$REPO" --stdin --name "step$k.bin" --json --cache-dir "$CACHE" \
    <"$src" >"$TEST_TMP/step.out" 2>"$TEST_TMP/step.err" || rc=$?
  ls_committed "$REPO/snapshots" >"$TEST_TMP/snaps.after"
  ls_committed "$REPO/index" >"$TEST_TMP/index.after"
  new_index=$(comm -13 "$TEST_TMP/index.before" "$TEST_TMP/index.after" | wc -l)
  if [[ $rc == 0 ]]; then
    id=$(jq -r .snapshot_id "$TEST_TMP/step.out")
    [[ -f "$REPO/snapshots/$id" ]] || fail "the backup that finished under strace left no snapshot"
    SNAPS+=("$id")
    STREAMS+=("step$k.bin")
    FILES+=("$src")
    break
  fi
  assert_eq "$rc" 137 "exit status of the backup killed at rename $k: $(cat "$TEST_TMP/step.err")"
  new_snaps=$(comm -13 "$TEST_TMP/snaps.before" "$TEST_TMP/snaps.after")
  echo "killed at rename $k: $new_index new index objects, $(echo -n "$new_snaps" | grep -c .) new snapshots" >&2
  if [[ -n "$new_snaps" ]]; then
    # Killed after its manifest was stored (at a rename of the cache's, on the way out): the
    # snapshot is committed, so it must be whole.
    assert_eq "$(echo "$new_snaps" | wc -l)" 1 "snapshots left by the backup killed at rename $k"
    SNAPS+=("$new_snaps")
    STREAMS+=("step$k.bin")
    FILES+=("$src")
    COMMITTED_KILLS=$((${COMMITTED_KILLS:-0} + 1))
  else
    [[ -z "${COMMITTED_KILLS:-}" ]] || fail "a kill at rename $k, later than one after the manifest, left no snapshot"
    BEFORE_MANIFEST_INDEX=$new_index
  fi
  all_restore
  check_clean
done
# The last kill that left no snapshot came between the index object and the manifest: the
# index was stored, the snapshot was not. (The kills before it stopped the backup at its lock,
# its cache and its index object.)
((k >= 5)) || fail "the backup finished after only $((k - 1)) kills: the steps were not all reached"
assert_eq "${BEFORE_MANIFEST_INDEX:-}" 1 "the last kill before the manifest left the index object stored"
all_restore
check_clean
pass
