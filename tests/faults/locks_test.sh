#!/usr/bin/env bash
# Repository locks: (a) a backup killed with kill -9 while it holds its lock leaves the lock
# behind; the next backup and `repo check` go ahead without any unlock and warn that the lock is
# stale, and so does one stopped by SIGTERM; a restore stopped by SIGTERM deletes its lock.
# (b) Two backups at once both succeed and both restore byte for byte.
# (c) An exclusive lock held by another process blocks a backup with exit 5: tested with a real
# prune in prune_locks_test.sh.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

GEN_DUMP=${GEN_DUMP:-$SOURCE_DIR/build/bench/gen_dump}
[[ -x "$GEN_DUMP" ]] || fail "gen_dump not found: $GEN_DUMP"
[[ -x "$PGDEDUP_BIN" ]] || fail "pgdedup binary not found: $PGDEDUP_BIN"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache

ls_ids() { if [[ -d "$1" ]]; then find "$1" -type f -printf '%f\n' | sort; fi; }

restore_cmp() { # SNAP STREAM EXPECTED_FILE
  local out=$TEST_TMP/restored
  rm -f "$out"
  assert_exit 0 pgd restore --repo "$REPO" "$1" --stream "$2" --output "$out" --cache-dir "$CACHE"
  cmp -s "$out" "$3" || fail "snapshot $1 does not restore byte for byte"
  rm -f "$out"
}

pgd init --repo "$REPO" --pack-size 1 --kdf interactive --cache-dir "$CACHE" 2>/dev/null
"$GEN_DUMP" --rows 8000 --seed 21 >"$TEST_TMP/first.sql"
assert_exit 0 pgd backup --repo "$REPO" --stdin --name db.sql --json --cache-dir "$CACHE" <"$TEST_TMP/first.sql"
FIRST=$(jq -r .snapshot_id "$LAST_STDOUT")
[[ -z "$(ls_ids "$REPO/locks")" ]] || fail "a finished backup left a lock: $(ls_ids "$REPO/locks")"

# lock_taken_by PID ERR WHAT: waits until locks/ holds more than $STALE (the locks known to be
# there) while PID runs; fails, showing ERR, if PID ends first or no lock comes.
STALE=""
lock_taken_by() {
  local pid=$1 err=$2 what=$3 i
  for ((i = 0; i < 1000; i++)); do
    [[ "$(ls_ids "$REPO/locks")" != "$STALE" ]] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$err" >&2; fail "$what ended"; }
    sleep 0.01
  done
  fail "$what wrote no lock in locks/"
}
# end_holder: stops the process that keeps the fifo open and removes the fifo.
end_holder() {
  kill "$sleeper" 2>/dev/null || true
  { wait "$sleeper"; } 2>/dev/null || true
  rm -f "$fifo"
}

# ---- (a) a killed backup's lock is stale ------------------------------------------------------
fifo=$TEST_TMP/hold.fifo
mkfifo "$fifo"
sleep 30 >"$fifo" &
sleeper=$!
"$PGDEDUP_BIN" backup --repo "$REPO" --stdin --name held.sql --cache-dir "$CACHE" \
  <"$fifo" >/dev/null 2>"$TEST_TMP/held.err" &
pid=$!
lock_taken_by "$pid" "$TEST_TMP/held.err" "the backup holding stdin open"
LOCKS_HELD=$(ls_ids "$REPO/locks")
stop_job KILL "$pid"
assert_eq "$STOPPED_RC" 137 "exit status of the killed backup"
end_holder
STALE=$(ls_ids "$REPO/locks")
assert_eq "$STALE" "$LOCKS_HELD" "the killed backup's lock is left in locks/"

# The next backup goes ahead, and says it ignores a stale lock.
"$GEN_DUMP" --rows 8000 --night 1 --seed 21 >"$TEST_TMP/second.sql"
assert_exit 0 pgd backup --repo "$REPO" --stdin --name db.sql --json --cache-dir "$CACHE" <"$TEST_TMP/second.sql"
SECOND=$(jq -r .snapshot_id "$LAST_STDOUT")
assert_contains "$LAST_STDERR" "stale lock" "the backup warns about the stale lock"
assert_contains "$LAST_STDERR" "no longer exists" "the backup says why the lock is stale"
# So does `repo check` (a shared lock too), which finds nothing wrong.
assert_exit 0 pgd repo check --repo "$REPO" --cache-dir "$CACHE"
assert_contains "$LAST_STDERR" "stale lock" "repo check warns about the stale lock"
assert_exit 0 pgd repo check --repo "$REPO" --read-data --cache-dir "$CACHE"
restore_cmp "$FIRST" db.sql "$TEST_TMP/first.sql"
restore_cmp "$SECOND" db.sql "$TEST_TMP/second.sql"
# Nothing removed the stale lock, and the commands' own locks are gone.
assert_eq "$(ls_ids "$REPO/locks")" "$STALE" "locks/ after the commands that ran past the stale lock"

# A backup stopped by SIGTERM (a cron job's timeout) keeps its lock, as a writer must (a request
# in flight could land after the lock is gone); it is stale at once, its process being gone.
mkfifo "$fifo"
sleep 30 >"$fifo" &
sleeper=$!
"$PGDEDUP_BIN" backup --repo "$REPO" --stdin --name held.sql --cache-dir "$CACHE" \
  <"$fifo" >/dev/null 2>"$TEST_TMP/term.err" &
pid=$!
lock_taken_by "$pid" "$TEST_TMP/term.err" "the backup holding stdin open"
TERM_LOCKS=$(ls_ids "$REPO/locks")
stop_job TERM "$pid"
assert_eq "$STOPPED_RC" 143 "exit status of the backup stopped by SIGTERM"
end_holder
assert_eq "$(ls_ids "$REPO/locks")" "$TERM_LOCKS" "locks/ after a backup stopped by SIGTERM"
assert_exit 0 pgd unlock --repo "$REPO" --cache-dir "$CACHE"
assert_eq "$(ls_ids "$REPO/locks")" "" "locks/ after unlock"
STALE=""
# A restore (which writes nothing to the repository) stopped by SIGTERM deletes its lock on the
# way out. Its output goes to a pipe nobody reads, so it blocks while holding the lock.
mkfifo "$fifo"
sleep 30 <"$fifo" &
sleeper=$!
"$PGDEDUP_BIN" restore --repo "$REPO" "$FIRST" --stream db.sql --output - --cache-dir "$CACHE" \
  >"$fifo" 2>"$TEST_TMP/term-restore.err" &
pid=$!
lock_taken_by "$pid" "$TEST_TMP/term-restore.err" "the restore into a blocked pipe"
sleep 0.5
kill -0 "$pid" 2>/dev/null || { cat "$TEST_TMP/term-restore.err" >&2; fail "the restore into a blocked pipe ended"; }
stop_job TERM "$pid"
assert_eq "$STOPPED_RC" 143 "exit status of the restore stopped by SIGTERM"
end_holder
assert_eq "$(ls_ids "$REPO/locks")" "" "locks/ after a restore stopped by SIGTERM"

# ---- (b) two backups at once ------------------------------------------------------------------
slow_source() { # FILE PIECES: FILE in PIECES parts with pauses between them
  local size piece i
  size=$(stat -c %s "$1")
  piece=$(((size + $2 - 1) / $2))
  for ((i = 0; i < $2; i++)); do
    dd if="$1" bs="$piece" skip="$i" count=1 status=none 2>/dev/null || return 0
    sleep 0.1
  done
}

two_at_once() { # FILE1 FILE2: back both up at once (slowly, so they overlap); both succeed
  local f1=$1 f2=$2 p1 p2 r1=0 r2=0
  slow_source "$f1" 10 | pgd backup --repo "$REPO" --stdin --name one --json --cache-dir "$CACHE" \
    >"$TEST_TMP/one.json" 2>"$TEST_TMP/one.err" &
  p1=$!
  slow_source "$f2" 10 | pgd backup --repo "$REPO" --stdin --name two --json --cache-dir "$CACHE" \
    >"$TEST_TMP/two.json" 2>"$TEST_TMP/two.err" &
  p2=$!
  wait "$p1" || r1=$?
  wait "$p2" || r2=$?
  [[ $r1 == 0 ]] || { cat "$TEST_TMP/one.err" >&2; fail "the first of two parallel backups exited $r1"; }
  [[ $r2 == 0 ]] || { cat "$TEST_TMP/two.err" >&2; fail "the second of two parallel backups exited $r2"; }
  ONE=$(jq -r .snapshot_id "$TEST_TMP/one.json")
  TWO=$(jq -r .snapshot_id "$TEST_TMP/two.json")
  [[ "$ONE" =~ ^[0-9a-f]{64}$ && "$TWO" =~ ^[0-9a-f]{64}$ ]] || fail "parallel backups gave no snapshot ids"
  [[ "$ONE" != "$TWO" ]] || fail "two parallel backups made the same snapshot"
  restore_cmp "$ONE" one "$f1"
  restore_cmp "$TWO" two "$f2"
}

# Different data: two nights of one database (sharing most chunks) ...
"$GEN_DUMP" --rows 16000 --night 2 --seed 21 >"$TEST_TMP/n2.sql"
"$GEN_DUMP" --rows 16000 --night 3 --seed 21 >"$TEST_TMP/n3.sql"
two_at_once "$TEST_TMP/n2.sql" "$TEST_TMP/n3.sql"
# ... and incompressible bytes, several packs each.
"$GEN_DUMP" --random-bytes 3000000 --seed 31 >"$TEST_TMP/r1.bin"
"$GEN_DUMP" --random-bytes 3000000 --seed 32 >"$TEST_TMP/r2.bin"
two_at_once "$TEST_TMP/r1.bin" "$TEST_TMP/r2.bin"
# The very same new data in both at once.
"$GEN_DUMP" --random-bytes 3000000 --seed 33 >"$TEST_TMP/r3.bin"
two_at_once "$TEST_TMP/r3.bin" "$TEST_TMP/r3.bin"

assert_exit 0 pgd repo check --repo "$REPO" --read-data --json --cache-dir "$CACHE"
[[ "$(jq '.errors | length' "$LAST_STDOUT")" == 0 ]] || fail "check errors: $(cat "$LAST_STDOUT")"
# Every snapshot still restores, with a cold index cache too.
rm -rf "$CACHE"
restore_cmp "$FIRST" db.sql "$TEST_TMP/first.sql"
restore_cmp "$SECOND" db.sql "$TEST_TMP/second.sql"
restore_cmp "$ONE" one "$TEST_TMP/r3.bin"
restore_cmp "$TWO" two "$TEST_TMP/r3.bin"
assert_eq "$(ls_ids "$REPO/locks")" "$STALE" "locks/ after the parallel backups"

pass
