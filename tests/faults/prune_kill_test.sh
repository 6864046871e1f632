#!/usr/bin/env bash
# kill -9 of a real prune at several points: as each phase begins (repacking, writing the new
# index, deleting) and after a few fixed delays. Each kill runs on a fresh copy of one prepared
# repository (nights forgotten, packs to delete and repack). After each: `repo check --read-data`
# exits 0 (warnings about unreferenced packs allowed), every snapshot that was kept restores byte
# for byte, the next prune goes past the dead one's stale lock and completes the job, and then
# check reports nothing at all. Last, `unlock` removes the stale lock a killed prune leaves.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

GEN_DUMP=${GEN_DUMP:-$SOURCE_DIR/build/bench/gen_dump}
[[ -x "$GEN_DUMP" ]] || fail "gen_dump not found: $GEN_DUMP"

PREPARED=$TEST_TMP/prepared
REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
ROWS=12000   # ~3 MB a night
NIGHTS=10
KEEP=(3 6 9) # nights that are kept

night_dump() { "$GEN_DUMP" --rows "$ROWS" --night "$1" --seed 11; }
count() { if [[ -d "$1" ]]; then find "$1" -type f | wc -l; else echo 0; fi; }

# ---- the prepared repository ---------------------------------------------------------------------
pgd init --repo "$PREPARED" --cache-dir "$CACHE" --chunk-avg 16384 --pack-size 1 2>/dev/null
declare -A ID
for ((n = 0; n < NIGHTS; n++)); do
  night_dump "$n" >"$TEST_TMP/night.sql"
  assert_exit 0 pgd backup --repo "$PREPARED" --cache-dir "$CACHE" --stdin --name shop.sql --json \
    --time "2026-01-$(printf %02d $((n + 1))) 02:00:00" <"$TEST_TMP/night.sql"
  ID[$n]=$(jq -r .snapshot_id "$LAST_STDOUT")
done
for n in "${KEEP[@]}"; do
  night_dump "$n" >"$TEST_TMP/expected$n.sql"
done
forget_ids=()
for ((n = 0; n < NIGHTS; n++)); do
  [[ " ${KEEP[*]} " == *" $n "* ]] || forget_ids+=("${ID[$n]}")
done
# Delete the forgotten manifests the way forget does (forget itself is tested elsewhere).
for id in "${forget_ids[@]}"; do rm "$PREPARED/snapshots/$id"; done
rm -rf "$CACHE"

all_restore() {
  local n
  for n in "${KEEP[@]}"; do
    assert_exit 0 pgd restore --repo "$REPO" --cache-dir "$CACHE" "${ID[$n]}" --stream shop.sql \
      --output "$TEST_TMP/restored.sql"
    cmp -s "$TEST_TMP/restored.sql" "$TEST_TMP/expected$n.sql" ||
      fail "night $n does not restore byte for byte"
  done
}

check_ok() { # ALLOW_WARNINGS: check --read-data exits 0; with 0, no warnings either
  assert_exit 0 pgd repo check --repo "$REPO" --cache-dir "$CACHE" --read-data --json
  assert_eq "$(jq '.errors | length' "$LAST_STDOUT")" 0 "check errors"
  if [[ "$1" == 0 ]]; then
    assert_eq "$(jq '.warnings | length' "$LAST_STDOUT")" 0 "check warnings: $(jq -c .warnings "$LAST_STDOUT")"
  fi
}

fresh_copy() { rm -rf "$REPO" "$CACHE"; cp -a "$PREPARED" "$REPO"; }

# kill_prune WHEN: WHEN is a phase text to wait for in prune's log, or a delay in seconds.
kill_prune() {
  local when=$1 pid i rc=0
  "$PGDEDUP_BIN" prune --repo "$REPO" --cache-dir "$CACHE" --max-unused 10 \
    >"$TEST_TMP/prune.out" 2>"$TEST_TMP/prune.err" &
  pid=$!
  if [[ "$when" =~ ^[0-9.]+$ ]]; then
    sleep "$when"
  else
    for ((i = 0; i < 3000; i++)); do
      grep -q "prune: $when" "$TEST_TMP/prune.err" && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.005
    done
  fi
  if kill -9 "$pid" 2>/dev/null; then
    { wait "$pid"; } 2>/dev/null || rc=$?
    # A prune that had just finished (an exited process not yet reaped) takes the signal too,
    # and exits 0: it was not killed.
    [[ "$rc" == 0 ]] && return 1
    assert_eq "$rc" 137 "exit status of the prune killed at '$when'"
    return 0
  fi
  wait "$pid" || fail "prune exited $? before the kill at '$when': $(cat "$TEST_TMP/prune.err")"
  return 1
}

packs_before=$(count "$PREPARED/data")
index_before=$(count "$PREPARED/index")
killed=0
for when in "repacking" "writing the new index" "deleting" 0.25; do
  fresh_copy
  if kill_prune "$when"; then
    killed=$((killed + 1))
    echo "killed at '$when': packs $packs_before -> $(count "$REPO/data"), index objects" \
      "$index_before -> $(count "$REPO/index"), last phase: $(grep -o 'prune: .*' "$TEST_TMP/prune.err" | tail -n 1)" >&2
  else
    echo "note: prune finished before the kill at '$when'" >&2
  fi
  check_ok 1
  all_restore
  # The next prune goes past the killed one's lock (its process is gone) and finishes the job.
  assert_exit 0 pgd prune --repo "$REPO" --cache-dir "$CACHE" --max-unused 10 --json
  # ... and removed the mark set the killed one left in its scratch directory.
  leftovers=$(find "$CACHE" -mindepth 2 -path "$CACHE/prune-*" | wc -l)
  assert_eq "$leftovers" 0 "files left in the prune scratch directory"
  check_ok 0
  all_restore
  assert_eq "$(count "$REPO/snapshots")" "${#KEEP[@]}" "snapshots after the prunes"
done
((killed >= 3)) || fail "only $killed of the prunes were killed before they finished"

# ---- unlock removes the stale lock a killed prune left -------------------------------------------
fresh_copy
kill_prune "marking" || fail "prune finished before it could be killed"
assert_eq "$(count "$REPO/locks")" 1 "locks left by the killed prune"
assert_exit 0 pgd unlock --repo "$REPO" --cache-dir "$CACHE" --json
assert_eq "$(jq '.removed | length' "$LAST_STDOUT")" 1 "unlock: removed"
assert_eq "$(jq '.removed[0].exclusive' "$LAST_STDOUT")" true "unlock: the exclusive lock"
assert_eq "$(jq -r '.removed[0].stale_reason' "$LAST_STDOUT")" "its process no longer exists" "unlock: why"
assert_eq "$(count "$REPO/locks")" 0 "locks after unlock"
pass
