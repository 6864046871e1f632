#!/usr/bin/env bash
# Damaged repositories: a flipped byte in a pack, a truncated pack, a deleted pack, a deleted
# index object, a flipped byte in a manifest, a swapped manifest (and a re-named tampered one).
# Each: `repo check --read-data` exits 4 and names the damaged object; restoring a snapshot that
# needs it fails (exit 4 for corruption) and leaves no output file; `--output -` does not exit 0;
# every snapshot that does not need it still restores byte for byte. Lost and damaged index
# objects are repaired from the packs' headers (`repo index rebuild --read-packs`), after which
# everything checks and restores; a pack whose header is gone is reported by the repair (exit 4).
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

GEN_DUMP=${GEN_DUMP:-$SOURCE_DIR/build/bench/gen_dump}
[[ -x "$GEN_DUMP" ]] || fail "gen_dump not found: $GEN_DUMP"

BASE=$TEST_TMP/base
CACHE=$TEST_TMP/cache

# ---- helpers ----------------------------------------------------------------------------------

ls_ids() { # DIR: the object names under DIR (recursively), sorted; nothing if DIR is absent
  if [[ -d "$1" ]]; then find "$1" -type f -printf '%f\n' | sort; fi
}

new_ids() { # BEFORE_FILE AFTER_FILE: names in AFTER but not BEFORE
  comm -13 "$1" "$2"
}

pack_path() { # REPO PACK_ID
  echo "$1/data/${2:0:2}/$2"
}

flip_byte() { # FILE OFFSET: xor the byte at OFFSET with 0xff
  local f=$1 off=$2 b
  b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' \n')
  [[ -n "$b" ]] || fail "flip_byte: offset $off beyond $f"
  # shellcheck disable=SC2059
  printf "$(printf '\\%03o' $((b ^ 0xff)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# check_damaged REPO CACHE NEEDLE...: `repo check --read-data` exits 4, in --json the errors
# (or warnings, for lost index objects) name every NEEDLE, and the plain output says so too.
check_damaged() {
  local repo=$1 cache=$2; shift 2
  assert_exit 4 pgd repo check --repo "$repo" --read-data --json --cache-dir "$cache"
  local json=$TEST_TMP/check.json
  cp "$LAST_STDOUT" "$json"
  [[ "$(jq -r .ok "$json")" == false ]] || fail "check --json says ok: $(cat "$json")"
  (($(jq '.errors | length' "$json") > 0)) || fail "check --json lists no errors: $(cat "$json")"
  local n
  for n in "$@"; do
    jq -r '.errors[], .warnings[]' "$json" | grep -qF -- "$n" ||
      fail "check --json does not name $n: $(cat "$json")"
  done
  assert_exit 4 pgd repo check --repo "$repo" --read-data --cache-dir "$cache"
  for n in "$@"; do
    assert_contains "$LAST_STDERR" "$n" "plain check output names the damaged object"
  done
  assert_contains "$LAST_STDERR" "damaged" "plain check output says the repository is damaged"
}

# restore_fails REPO CACHE SNAP STREAM CODE [NEEDLE]: restoring to a file exits CODE ("nonzero"
# for any failure), names NEEDLE, leaves neither the file nor its temp file; with --output - the
# exit status is not 0.
restore_fails() {
  local repo=$1 cache=$2 snap=$3 stream=$4 code=$5 needle=${6:-}
  local out=$TEST_TMP/restore.out got=0
  rm -f "$out" "$out.pgdedup-partial"
  pgd restore --repo "$repo" "$snap" --stream "$stream" --output "$out" --cache-dir "$cache" \
    >"$LAST_STDOUT" 2>"$LAST_STDERR" || got=$?
  if [[ "$code" == nonzero ]]; then
    [[ $got != 0 ]] || fail "restore of $snap from a damaged repository exited 0"
  else
    [[ $got == "$code" ]] || { cat "$LAST_STDERR" >&2; fail "restore of $snap: expected exit $code, got $got"; }
  fi
  if [[ -n "$needle" ]]; then
    assert_contains "$LAST_STDERR" "$needle" "restore error names the damaged object"
  fi
  [[ ! -e "$out" ]] || fail "failed restore of $snap left the output file"
  [[ ! -e "$out.pgdedup-partial" ]] || fail "failed restore of $snap left its temp file"
  got=0
  pgd restore --repo "$repo" "$snap" --stream "$stream" --output - --cache-dir "$cache" \
    >"$TEST_TMP/restore.stdout" 2>"$LAST_STDERR" || got=$?
  [[ $got != 0 ]] || fail "restore of $snap --output - from a damaged repository exited 0"
  if [[ "$code" != nonzero && $got != "$code" ]]; then
    cat "$LAST_STDERR" >&2
    fail "restore of $snap --output -: expected exit $code, got $got"
  fi
  rm -f "$TEST_TMP/restore.stdout"
}

restore_ok() { # REPO CACHE SNAP STREAM EXPECTED_FILE
  local out=$TEST_TMP/restore.ok
  rm -f "$out"
  assert_exit 0 pgd restore --repo "$1" "$3" --stream "$4" --output "$out" --cache-dir "$2"
  cmp -s "$out" "$5" || fail "snapshot $3 does not restore byte for byte"
  rm -f "$out"
}

# ---- a repository with three snapshots --------------------------------------------------------

pgd init --repo "$BASE" --pack-size 1 --kdf interactive --cache-dir "$CACHE/base" 2>/dev/null

backup() { # FILE NAME -> snapshot id on stdout; remembers the new packs and index objects
  local file=$1 name=$2 tag=$3
  ls_ids "$BASE/data" >"$TEST_TMP/packs.before"
  ls_ids "$BASE/index" >"$TEST_TMP/index.before"
  pgd backup --repo "$BASE" --stdin --name "$name" --json --cache-dir "$CACHE/base" \
    <"$file" >"$TEST_TMP/backup.json" 2>"$TEST_TMP/backup.err" ||
    { cat "$TEST_TMP/backup.err" >&2; fail "backup of $file failed"; }
  ls_ids "$BASE/data" >"$TEST_TMP/packs.after"
  ls_ids "$BASE/index" >"$TEST_TMP/index.after"
  new_ids "$TEST_TMP/packs.before" "$TEST_TMP/packs.after" >"$TEST_TMP/packs.$tag"
  new_ids "$TEST_TMP/index.before" "$TEST_TMP/index.after" >"$TEST_TMP/index.$tag"
  jq -r .snapshot_id "$TEST_TMP/backup.json"
}

# A: incompressible bytes, several packs of its own. B: a dump. C: the next night's dump (shares
# most chunks, and so packs, with B).
"$GEN_DUMP" --random-bytes 3500000 --seed 11 >"$TEST_TMP/a.bin"
"$GEN_DUMP" --rows 20000 --seed 5 >"$TEST_TMP/b.sql"
"$GEN_DUMP" --rows 20000 --night 1 --seed 5 >"$TEST_TMP/c.sql"
SNAP_A=$(backup "$TEST_TMP/a.bin" a.bin A)
SNAP_B=$(backup "$TEST_TMP/b.sql" db.sql B)
SNAP_C=$(backup "$TEST_TMP/c.sql" db.sql C)
for s in "$SNAP_A" "$SNAP_B" "$SNAP_C"; do
  [[ "$s" =~ ^[0-9a-f]{64}$ ]] || fail "backup --json gave no snapshot_id: [$s]"
  [[ -f "$BASE/snapshots/$s" ]] || fail "snapshot $s is not in snapshots/"
done
(($(wc -l <"$TEST_TMP/packs.A") >= 3)) || fail "snapshot A should have made 3+ packs: $(cat "$TEST_TMP/packs.A")"
(($(wc -l <"$TEST_TMP/index.A") >= 1)) || fail "snapshot A made no index object"
PACK_A=$(sed -n 2p "$TEST_TMP/packs.A")   # one of A's data packs (A alone needs it)
mapfile -t PACKS_A <"$TEST_TMP/packs.A"
INDEX_A=$(head -n 1 "$TEST_TMP/index.A")
# The undamaged repository checks clean.
assert_exit 0 pgd repo check --repo "$BASE" --read-data --cache-dir "$CACHE/base"

# A fresh copy of the repository (and of its warm index cache) for one kind of damage.
fresh() { # CASE -> sets R and C
  R=$TEST_TMP/repo-$1
  C=$CACHE/$1
  cp -a "$BASE" "$R"
  cp -a "$CACHE/base" "$C"
}

# B and C do not need anything of A's.
others_restore() {
  restore_ok "$R" "$C" "$SNAP_B" db.sql "$TEST_TMP/b.sql"
  restore_ok "$R" "$C" "$SNAP_C" db.sql "$TEST_TMP/c.sql"
}

done_case() { rm -rf "$R" "$C"; }
# repair_reports COUNTER TEXT: `repo index rebuild --read-packs` exits 4, counts one pack under
# COUNTER in its --json, and names pack $PACK_A in a problem that says TEXT.
repair_reports() {
  assert_exit 4 pgd repo index rebuild --read-packs --json --repo "$R" --cache-dir "$C"
  assert_eq "$(jq ".$1" "$LAST_STDOUT")" 1 "the repair's $1"
  jq -r '.problems[]' "$LAST_STDOUT" | grep -F "$PACK_A" | grep -q "$2" ||
    fail "the repair does not say pack $PACK_A $2: $(cat "$LAST_STDOUT")"
}

# ---- (a) one flipped byte in the middle of a pack ---------------------------------------------
fresh flip
P=$(pack_path "$R" "$PACK_A")
flip_byte "$P" $(($(stat -c %s "$P") / 2))
check_damaged "$R" "$C" "$PACK_A"
restore_fails "$R" "$C" "$SNAP_A" a.bin 4 "$PACK_A"
others_restore
done_case

# ---- (b) a truncated pack ---------------------------------------------------------------------
fresh truncate
P=$(pack_path "$R" "$PACK_A")
truncate -s $(($(stat -c %s "$P") / 2)) "$P"
check_damaged "$R" "$C" "$PACK_A"
jq -r '.errors[]' "$TEST_TMP/check.json" | grep -F "$PACK_A" | grep -qi truncated ||
  fail "check does not say pack $PACK_A is truncated: $(cat "$TEST_TMP/check.json")"
restore_fails "$R" "$C" "$SNAP_A" a.bin 4 "$PACK_A"
others_restore
done_case

# ---- (c) a deleted pack -----------------------------------------------------------------------
fresh delpack
rm -f "$(pack_path "$R" "$PACK_A")"
check_damaged "$R" "$C" "$PACK_A"
jq -r '.errors[]' "$TEST_TMP/check.json" | grep -F "$PACK_A" | grep -qi missing ||
  fail "check does not say pack $PACK_A is missing: $(cat "$TEST_TMP/check.json")"
# A missing object is damage, but the exit status is only required to be non-zero here.
restore_fails "$R" "$C" "$SNAP_A" a.bin nonzero "$PACK_A"
others_restore
# The index repair cannot bring a pack back: it drops it from the index and says so (exit 4).
repair_reports packs_missing "missing"
check_damaged "$R" "$C" "${SNAP_A:0:8}"
others_restore
done_case

# ---- (d) a deleted index object ---------------------------------------------------------------
fresh delindex
rm -f "$R/index/$INDEX_A"
# The snapshot whose chunks are now unindexed is named in the errors, and A's packs (no index
# object lists them any more) in the warnings.
check_damaged "$R" "$C" "${SNAP_A:0:8}" "not in any index object"
unindexed=0
for p in "${PACKS_A[@]}"; do
  if jq -r '.warnings[]' "$TEST_TMP/check.json" | grep -qF "$p"; then unindexed=$((unindexed + 1)); fi
done
((unindexed > 0)) || fail "check does not name A's unindexed packs: $(cat "$TEST_TMP/check.json")"
# The warm cache still knows A's blobs: restore must notice the index object is gone.
restore_fails "$R" "$C" "$SNAP_A" a.bin 4
others_restore
# And with a cold cache.
rm -rf "$C"
restore_fails "$R" "$C" "$SNAP_A" a.bin 4
others_restore
# The packs still list their blobs: `repo index rebuild --read-packs` writes index objects from
# their headers, and then every snapshot checks and restores again.
assert_exit 0 pgd repo index rebuild --read-packs --json --repo "$R" --cache-dir "$C"
assert_eq "$(jq -r .ok "$LAST_STDOUT")" true "repair --json ok"
(($(jq .packs_newly_indexed "$LAST_STDOUT") == ${#PACKS_A[@]})) ||
  fail "repair should have indexed A's ${#PACKS_A[@]} packs again: $(cat "$LAST_STDOUT")"
assert_eq "$(jq .packs "$LAST_STDOUT")" "$(ls_ids "$R/data" | wc -l)" "repair read every pack"
assert_eq "$(jq .packs_from_headers "$LAST_STDOUT")" "$(jq .packs "$LAST_STDOUT")" "every header read"
assert_eq "$(ls_ids "$R/index" | grep -c .)" "$(jq .index_objects_written "$LAST_STDOUT")" \
  "only the new index objects are left"
assert_exit 0 pgd repo check --repo "$R" --read-data --cache-dir "$C"
restore_ok "$R" "$C" "$SNAP_A" a.bin "$TEST_TMP/a.bin"
others_restore
# A second cache, empty: the repository alone is enough.
rm -rf "$C"
restore_ok "$R" "$C" "$SNAP_A" a.bin "$TEST_TMP/a.bin"
done_case

# ---- (d2) a damaged index object --------------------------------------------------------------
fresh flipindex
flip_byte "$R/index/$INDEX_A" $(($(stat -c %s "$R/index/$INDEX_A") / 2))
check_damaged "$R" "$C" "$INDEX_A"
assert_exit 0 pgd repo index rebuild --read-packs --json --repo "$R" --cache-dir "$C"
assert_eq "$(jq .index_objects_damaged "$LAST_STDOUT")" 1 "repair counts the damaged index object"
jq -r '.replaced[]' "$LAST_STDOUT" | grep -F "$INDEX_A" | grep -q "damaged" ||
  fail "repair does not name the damaged index object: $(cat "$LAST_STDOUT")"
[[ ! -e "$R/index/$INDEX_A" ]] || fail "the damaged index object is still there"
assert_exit 0 pgd repo check --repo "$R" --read-data --cache-dir "$C"
restore_ok "$R" "$C" "$SNAP_A" a.bin "$TEST_TMP/a.bin"
others_restore
done_case

# ---- (d3) a truncated pack: its header is gone --------------------------------------------------
# Its index object still lists it: the repair keeps that listing, says the pack is damaged and
# exits 4; check still finds the truncated pack. With the index object gone too, nothing can
# list the pack's blobs: the repair says so (exit 4), and the other snapshots are fine.
fresh truncrepair
P=$(pack_path "$R" "$PACK_A")
truncate -s $(($(stat -c %s "$P") / 2)) "$P"
repair_reports packs_from_old_index "header cannot be read"   # keeps its old listing
check_damaged "$R" "$C" "$PACK_A"
others_restore
rm -f "$R"/index/*
repair_reports packs_unreadable "stay unindexed"
assert_exit 4 pgd repo index rebuild --read-packs --repo "$R" --cache-dir "$C"
assert_contains "$LAST_STDERR" "still damaged" "plain repair output says the repository is damaged"
restore_fails "$R" "$C" "$SNAP_A" a.bin 4
others_restore
done_case

# ---- (e) a flipped byte in a manifest ---------------------------------------------------------
fresh flipmanifest
M=$R/snapshots/$SNAP_A
flip_byte "$M" $(($(stat -c %s "$M") / 2))
check_damaged "$R" "$C" "$SNAP_A"
restore_fails "$R" "$C" "$SNAP_A" a.bin 4 "$SNAP_A"
# The listing refuses to show the tampered manifest as a good snapshot.
got=0
pgd snapshots --repo "$R" --json --cache-dir "$C" >"$TEST_TMP/list.json" 2>"$TEST_TMP/list.err" || got=$?
if [[ $got == 0 ]]; then
  if jq -r '.[].id' "$TEST_TMP/list.json" | grep -qx "$SNAP_A"; then
    fail "snapshots lists the tampered manifest $SNAP_A as a good snapshot"
  fi
  grep -qF "${SNAP_A:0:8}" "$TEST_TMP/list.err" || fail "snapshots does not warn about $SNAP_A"
else
  assert_eq "$got" 4 "exit status of snapshots with a tampered manifest"
  assert_contains "$TEST_TMP/list.err" "$SNAP_A" "snapshots names the tampered manifest"
fi
others_restore
done_case

# ---- (e2) a flipped byte in a manifest, re-named to the hash of its new bytes -------------------
# Its name matches its content, so only the authenticated encryption can catch it.
fresh renamedmanifest
M=$R/snapshots/$SNAP_A
flip_byte "$M" $(($(stat -c %s "$M") / 2))
NEW_ID=$(sha256sum "$M" | cut -d' ' -f1)
mv "$M" "$R/snapshots/$NEW_ID"
check_damaged "$R" "$C" "${NEW_ID:0:8}"
restore_fails "$R" "$C" "$NEW_ID" a.bin 4
others_restore
done_case

# ---- (f) a swapped manifest: B's manifest under A's name ---------------------------------------
fresh swap
cp "$R/snapshots/$SNAP_B" "$R/snapshots/$SNAP_A"
check_damaged "$R" "$C" "$SNAP_A"
# Restoring "A" must not hand out B's data.
restore_fails "$R" "$C" "$SNAP_A" a.bin 4 "$SNAP_A"
restore_fails "$R" "$C" "$SNAP_A" db.sql 4 "$SNAP_A"
got=0
pgd snapshots --repo "$R" --json --cache-dir "$C" >"$TEST_TMP/list.json" 2>"$TEST_TMP/list.err" || got=$?
if [[ $got == 0 ]]; then
  if jq -r '.[].id' "$TEST_TMP/list.json" | grep -qx "$SNAP_A"; then
    fail "snapshots lists the swapped manifest $SNAP_A as a good snapshot"
  fi
else
  assert_eq "$got" 4 "exit status of snapshots with a swapped manifest"
  assert_contains "$TEST_TMP/list.err" "$SNAP_A" "snapshots names the swapped manifest"
fi
others_restore
done_case

# The original repository is untouched by all of this.
restore_ok "$BASE" "$CACHE/base" "$SNAP_A" a.bin "$TEST_TMP/a.bin"
pass
