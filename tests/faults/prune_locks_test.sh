#!/usr/bin/env bash
# Prune and backups exclude each other through the repository lock:
#  (a) prune while a backup runs fails with exit 5 at once; with --retry-lock it waits for the
#      backup to finish, then prunes — and the backup's packs, new and not yet referenced by any
#      snapshot while prune waited, survive: the snapshot restores and check reports nothing;
#  (b) a backup while prune holds its exclusive lock fails with exit 5 naming the lock; `unlock`
#      keeps that live lock; once prune is done the backup works.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

GEN_DUMP=${GEN_DUMP:-$SOURCE_DIR/build/bench/gen_dump}
[[ -x "$GEN_DUMP" ]] || fail "gen_dump not found: $GEN_DUMP"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
# Objects in a directory, not counting a Put's temp file (a lock is not taken until renamed).
count() { if [[ -d "$1" ]]; then find "$1" -type f ! -name '.tmp-*' | wc -l; else echo 0; fi; }

restore_cmp() { # SNAP EXPECTED_FILE
  assert_exit 0 pgd restore --repo "$REPO" --cache-dir "$CACHE" "$1" --stream s --output "$TEST_TMP/restored"
  cmp -s "$TEST_TMP/restored" "$2" || fail "snapshot $1 does not restore byte for byte"
}

check_clean() {
  assert_exit 0 pgd repo check --repo "$REPO" --cache-dir "$CACHE" --read-data --json
  assert_eq "$(jq '.errors | length' "$LAST_STDOUT")" 0 "check errors"
  assert_eq "$(jq '.warnings | length' "$LAST_STDOUT")" 0 "check warnings: $(jq -c .warnings "$LAST_STDOUT")"
}

pgd init --repo "$REPO" --cache-dir "$CACHE" --pack-size 1 2>/dev/null
for n in 0 1 2; do
  "$GEN_DUMP" --rows 10000 --night "$n" --seed 7 >"$TEST_TMP/n$n.sql"
  assert_exit 0 pgd backup --repo "$REPO" --cache-dir "$CACHE" --stdin --name s --json <"$TEST_TMP/n$n.sql"
  SNAP[$n]=$(jq -r .snapshot_id "$LAST_STDOUT")
done
assert_exit 0 pgd forget --repo "$REPO" --cache-dir "$CACHE" --keep-last 1

# ---- (a) prune waits for a running backup -----------------------------------------------------
"$GEN_DUMP" --random-bytes 3000000 --seed 8 >"$TEST_TMP/slow.bin"
fifo=$TEST_TMP/fifo
mkfifo "$fifo"
(
  for i in 0 1 2 3 4 5 6 7 8 9; do
    dd if="$TEST_TMP/slow.bin" bs=300000 skip=$i count=1 status=none
    sleep 0.4
  done
) >"$fifo" &
src=$!
"$PGDEDUP_BIN" backup --repo "$REPO" --cache-dir "$CACHE" --stdin --name s --json <"$fifo" \
  >"$TEST_TMP/backup.json" 2>"$TEST_TMP/backup.err" &
backup=$!
for ((i = 0; i < 1000; i++)); do
  (($(count "$REPO/locks") > 0)) && break
  sleep 0.01
done
(($(count "$REPO/locks") > 0)) || fail "the running backup took no lock"

assert_exit 5 pgd prune --repo "$REPO" --cache-dir "$CACHE"
assert_contains "$LAST_STDERR" "a shared lock held by pid $backup" "prune names the backup's lock"

"$PGDEDUP_BIN" prune --repo "$REPO" --cache-dir "$CACHE" --retry-lock 2m --json \
  >"$TEST_TMP/prune.json" 2>"$TEST_TMP/prune.err" &
prune=$!
sleep 1.5
kill -0 "$backup" 2>/dev/null || fail "the backup ended too early for the test"
kill -0 "$prune" 2>/dev/null || fail "prune did not wait for the backup: $(cat "$TEST_TMP/prune.err")"
assert_contains "$TEST_TMP/prune.err" "waiting" "prune says it waits"
wait "$backup" || fail "the backup failed: $(cat "$TEST_TMP/backup.err")"
wait "$src" || true
wait "$prune" || fail "prune failed after waiting: $(cat "$TEST_TMP/prune.err")"
NEW=$(jq -r .snapshot_id "$TEST_TMP/backup.json")
assert_eq "$(jq .snapshots "$TEST_TMP/prune.json")" 2 "snapshots prune kept (the old one and the new)"
restore_cmp "$NEW" "$TEST_TMP/slow.bin"
restore_cmp "${SNAP[2]}" "$TEST_TMP/n2.sql"
check_clean

# ---- (b) a backup while prune holds the exclusive lock ------------------------------------------
stopped=0
for attempt in 1 2 3 4 5; do
  "$PGDEDUP_BIN" prune --repo "$REPO" --cache-dir "$CACHE" >"$TEST_TMP/p2.out" 2>"$TEST_TMP/p2.err" &
  prune=$!
  for ((i = 0; i < 2000; i++)); do
    (($(count "$REPO/locks") > 0)) && break
    kill -0 "$prune" 2>/dev/null || break
    sleep 0.002
  done
  kill -STOP "$prune" 2>/dev/null || true
  if (($(count "$REPO/locks") > 0)); then
    stopped=1
    break
  fi
  kill -CONT "$prune" 2>/dev/null || true
  wait "$prune" || fail "prune failed: $(cat "$TEST_TMP/p2.err")"
done
((stopped)) || fail "could not catch prune holding its lock"
assert_exit 5 pgd backup --repo "$REPO" --cache-dir "$CACHE" --stdin --name s <"$TEST_TMP/n0.sql"
assert_contains "$LAST_STDERR" "an exclusive lock held by pid $prune" "the backup names prune's lock"
assert_exit 0 pgd unlock --repo "$REPO" --cache-dir "$CACHE" --json
assert_eq "$(jq '.removed | length' "$LAST_STDOUT")" 0 "unlock removed a live lock"
assert_eq "$(jq '.remaining[0].exclusive' "$LAST_STDOUT")" true "unlock lists prune's live lock"
kill -CONT "$prune"
wait "$prune" || fail "prune failed after being stopped: $(cat "$TEST_TMP/p2.err")"
assert_exit 0 pgd backup --repo "$REPO" --cache-dir "$CACHE" --stdin --name s --json <"$TEST_TMP/n0.sql"
restore_cmp "$(jq -r .snapshot_id "$LAST_STDOUT")" "$TEST_TMP/n0.sql"
restore_cmp "$NEW" "$TEST_TMP/slow.bin"
check_clean
pass
