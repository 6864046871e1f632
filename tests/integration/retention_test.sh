#!/usr/bin/env bash
# forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune on a year and a month of
# nightly snapshots made with `backup --time` (one night missed, one day with two snapshots,
# daylight saving changes in Europe/Paris inside the range). The expected survivors are worked
# out here, independently, with GNU date (%F day, %G-%V ISO week, %Y-%m month). Then: the
# repository is smaller, `repo check --read-data` passes, and every survivor restores byte for
# byte (including the oldest monthly ones, whose unchanged chunks were first written by nights
# that are now forgotten, so their packs were repacked).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GEN_DUMP=${GEN_DUMP:-$SOURCE_DIR/build/bench/gen_dump}
[[ -x "$GEN_DUMP" ]] || fail "gen_dump not found: $GEN_DUMP"
export TZ=Europe/Paris

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
ROWS=1500   # ~350 KB a night, growing as orders are added
FIRST=2025-10-23
LAST=2026-11-22
MISSED=2026-11-19

night_dump() { "$GEN_DUMP" --rows "$ROWS" --night "$1" --seed 5; }

pgd init --repo "$REPO" --cache-dir "$CACHE" --chunk-avg 4096 --pack-size 1 2>/dev/null

# ---- a year and a month of nights -----------------------------------------------------------
declare -A ID_OF NIGHT_OF   # "YYYY-MM-DD HH:MM:SS" -> snapshot id; snapshot id -> night number
TIMES=()
k=0
day=$FIRST
while [[ "$day" < "$LAST" || "$day" == "$LAST" ]]; do
  if [[ "$day" != "$MISSED" ]]; then
    # 01:30: every local day has one (02:00-03:00 does not exist on 2026-03-29 in Paris).
    TIMES+=("$day 01:30:00")
    NIGHTS+=("$k")
  fi
  k=$((k + 1))
  day=$(date -d "$day + 1 day" +%F)
done
# A second snapshot late on the last day: the newest of its day, so it is the one kept.
TIMES+=("$LAST 23:45:00")
NIGHTS+=("$k")

# Two backups at a time (shared locks; each worker keeps its own index cache, so neither works
# in a temporary one): the test spends its time in key derivation and process start-up.
backup_worker() { # W: backs up every night i with i % 2 == W; prints "i id" lines
  local i id
  for ((i = $1; i < ${#TIMES[@]}; i += 2)); do
    night_dump "${NIGHTS[$i]}" | pgd backup --repo "$REPO" --cache-dir "$CACHE.$1" --stdin \
      --name shop.sql --time "${TIMES[$i]}" --json >"$TEST_TMP/b$1.json" 2>"$TEST_TMP/b$1.err" ||
      { cat "$TEST_TMP/b$1.err" >&2; echo "FAIL backup at ${TIMES[$i]}" >&2; return 1; }
    id=$(jq -r .snapshot_id "$TEST_TMP/b$1.json")
    echo "$i $id"
  done
}
start=$SECONDS
backup_worker 0 >"$TEST_TMP/ids.0" &
w0=$!
backup_worker 1 >"$TEST_TMP/ids.1" &
w1=$!
wait "$w0" || fail "backups failed"
wait "$w1" || fail "backups failed"
while read -r i id; do
  ID_OF["${TIMES[$i]}"]=$id
  NIGHT_OF[$id]=${NIGHTS[$i]}
done < <(cat "$TEST_TMP/ids.0" "$TEST_TMP/ids.1")
echo "${#TIMES[@]} backups in $((SECONDS - start)) s" >&2
assert_exit 0 pgd snapshots --repo "$REPO" --cache-dir "$CACHE" --json
assert_eq "$(jq length "$LAST_STDOUT")" "${#TIMES[@]}" "snapshots in the repository"

# ---- the expected survivors, worked out with date ----------------------------------------------
# Newest first; a rule keeps a snapshot when its bucket differs from the last bucket that rule
# kept, until it has kept N.
declare -A EXPECT
keep_rule() { # NAME N FORMAT
  local name=$1 left=$2 fmt=$3 last="" t key
  for ((i = ${#TIMES[@]} - 1; i >= 0 && left > 0; i--)); do
    t=${TIMES[$i]}
    key=$(date -d "$t" +"$fmt")
    if [[ "$key" != "$last" ]]; then
      EXPECT["${ID_OF[$t]}"]+="$name,"
      last=$key
      left=$((left - 1))
    fi
  done
}
keep_rule daily 7 %F
keep_rule weekly 4 %G-%V
keep_rule monthly 12 %Y-%m
expected=$(for id in "${!EXPECT[@]}"; do echo "$id ${EXPECT[$id]%,}"; done | sort)
assert_eq "$(echo "$expected" | wc -l)" 20 "survivors worked out with date"
# Spot checks of the calendar: the late snapshot of the last day wins it, the missed night is
# skipped, and December 2025's last night (a Wednesday in ISO week 2026-01) is a monthly.
[[ "${EXPECT[${ID_OF["$LAST 23:45:00"]}]}" == "daily,weekly,monthly," ]] || fail "late snapshot"
[[ -z "${EXPECT[${ID_OF["$LAST 01:30:00"]}]:-}" ]] || fail "the earlier snapshot of the last day"
[[ "${EXPECT[${ID_OF["2026-11-15 01:30:00"]}]}" == "daily,weekly," ]] || fail "2026-11-15"
[[ "${EXPECT[${ID_OF["2025-12-31 01:30:00"]}]}" == "monthly," ]] || fail "2025-12-31"
[[ -z "${EXPECT[${ID_OF["2025-11-30 01:30:00"]}]:-}" ]] || fail "2025-11-30 is the 13th month"

POLICY=(--keep-daily 7 --keep-weekly 4 --keep-monthly 12)
actual_kept() { # the kept ids and reasons from forget --json
  jq -r '.groups[].snapshots[] | select(.keep) | "\(.id) \(.reasons | join(","))"' "$1" | sort
}

# ---- a dry run says exactly that, and changes nothing --------------------------------------------
snaps_before=$(find "$REPO/snapshots" -type f | wc -l)
assert_exit 0 pgd forget --repo "$REPO" --cache-dir "$CACHE" "${POLICY[@]}" --dry-run --prune --json
cp "$LAST_STDOUT" "$TEST_TMP/dry.json"
assert_eq "$(actual_kept "$TEST_TMP/dry.json")" "$expected" "forget --dry-run: kept snapshots and reasons"
assert_eq "$(jq .forgotten "$TEST_TMP/dry.json")" $((${#TIMES[@]} - 20)) "forget --dry-run: forgotten"
assert_eq "$(jq '.groups | length' "$TEST_TMP/dry.json")" 1 "groups"
assert_eq "$(jq -r '.groups[0].key.database' "$TEST_TMP/dry.json")" shop.sql "group database"
assert_eq "$(jq .prune.dry_run "$TEST_TMP/dry.json")" true "prune dry run"
assert_eq "$(find "$REPO/snapshots" -type f | wc -l)" "$snaps_before" "snapshots after a dry run"

# ---- forget --prune ---------------------------------------------------------------------------
pack_bytes() { find "$REPO/data" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
bytes_before=$(pack_bytes)
assert_exit 0 pgd forget --repo "$REPO" --cache-dir "$CACHE" "${POLICY[@]}" --prune --json
cp "$LAST_STDOUT" "$TEST_TMP/forget.json"
assert_eq "$(actual_kept "$TEST_TMP/forget.json")" "$expected" "forget: kept snapshots and reasons"
bytes_after=$(pack_bytes)
echo "data/: $bytes_before -> $bytes_after bytes; prune: $(jq -c .prune "$TEST_TMP/forget.json")" >&2
((bytes_after < bytes_before / 2)) || fail "prune freed too little: $bytes_before -> $bytes_after"
assert_eq "$(jq .prune.bytes_before "$TEST_TMP/forget.json")" "$bytes_before" "prune's bytes_before"
assert_eq "$(jq .prune.bytes_after "$TEST_TMP/forget.json")" "$bytes_after" "prune's bytes_after"
(($(jq .prune.packs_repacked "$TEST_TMP/forget.json") > 0)) || fail "nothing was repacked"
# The dry run predicted what was deleted and repacked.
for f in packs_deleted packs_repacked live_blobs; do
  assert_eq "$(jq .prune.$f "$TEST_TMP/forget.json")" "$(jq .prune.$f "$TEST_TMP/dry.json")" "dry run's $f"
done

assert_exit 0 pgd snapshots --repo "$REPO" --cache-dir "$CACHE" --json
assert_eq "$(jq -r '.[].id' "$LAST_STDOUT" | sort)" "$(echo "$expected" | cut -d' ' -f1)" "snapshots left"
assert_exit 0 pgd repo check --repo "$REPO" --cache-dir "$CACHE" --read-data --json
assert_eq "$(jq '.errors | length' "$LAST_STDOUT")" 0 "check errors"
assert_eq "$(jq '.warnings | length' "$LAST_STDOUT")" 0 "check warnings (unreferenced packs)"

# Every survivor restores byte for byte, with a cold cache.
rm -rf "$CACHE"
for id in $(echo "$expected" | cut -d' ' -f1); do
  night_dump "${NIGHT_OF[$id]}" >"$TEST_TMP/expected.sql"
  assert_exit 0 pgd restore --repo "$REPO" --cache-dir "$CACHE" "$id" --stream shop.sql \
    --output "$TEST_TMP/restored.sql"
  cmp -s "$TEST_TMP/restored.sql" "$TEST_TMP/expected.sql" ||
    fail "snapshot $id (night ${NIGHT_OF[$id]}) does not restore byte for byte"
done

# ---- the same policy again forgets nothing, and prune then has nothing to do -------------------
assert_exit 0 pgd forget --repo "$REPO" --cache-dir "$CACHE" "${POLICY[@]}" --prune --json
assert_eq "$(jq .forgotten "$LAST_STDOUT")" 0 "forgotten by a second run"
assert_eq "$(jq '.prune.packs_deleted + .prune.packs_repacked' "$LAST_STDOUT")" 0 "second prune"

# ---- an empty policy is refused -----------------------------------------------------------------
assert_exit 2 pgd forget --repo "$REPO" --cache-dir "$CACHE"
assert_contains "$LAST_STDERR" "no policy" "empty policy message"
assert_exit 2 pgd forget --repo "$REPO" --cache-dir "$CACHE" --keep-within 10x
pass
