#!/usr/bin/env bash
# Two hosts, one repository: each host has its own cache dir. Host B deduplicates against what
# host A stored, each host sees the other's snapshots, an empty or deleted cache restores
# everything, and `repo index rebuild` rebuilds a cache.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -x "${GEN_DUMP:-}" ]] || fail "GEN_DUMP is not set to the gen_dump binary"

REPO=$TEST_TMP/repo
D=$TEST_TMP/data
mkdir -p "$D"
CACHE_A=$TEST_TMP/cache-a
CACHE_B=$TEST_TMP/cache-b

a() { pgd --repo "$REPO" --cache-dir "$CACHE_A" "$@"; }
b() { pgd --repo "$REPO" --cache-dir "$CACHE_B" "$@"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
ids_of() { python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))'; }

for n in 0 1 2 3; do "$GEN_DUMP" --rows 60000 --night "$n" --seed 11 >"$D/night$n"; done
"$GEN_DUMP" --random-bytes 8000000 --seed 5 >"$D/blob"

assert_exit 0 a init --kdf interactive

# Host A backs up night 0 and a blob.
a backup --stdin --name db.sql --host host-a --time "2024-05-01 01:00:00" --json <"$D/night0" >"$D/a0.json" || fail "A: backup night 0"
a backup --stdin --name blob --host host-a --time "2024-05-01 01:05:00" --json <"$D/blob" >"$D/a-blob.json" || fail "A: backup blob"
added_a0=$(field "$D/a0.json" bytes_added)
((added_a0 > 0)) || fail "A: night 0 added nothing"
[[ ! -e "$CACHE_B" ]] || fail "cache B exists before host B ran"

# Host B (empty cache) backs up the same data: it adds (almost) nothing.
b backup --stdin --name db.sql --host host-b --time "2024-05-01 02:00:00" --json <"$D/night0" >"$D/b0.json" || fail "B: backup night 0"
read_b0=$(field "$D/b0.json" bytes_read)
added_b0=$(field "$D/b0.json" bytes_added)
echo "A night 0 added $added_a0; B same data read $read_b0 added $added_b0"
assert_eq "$(field "$D/b0.json" new_chunks)" 0 "B: new chunks for data A stored"
((added_b0 * 100 < read_b0)) || fail "B: added $added_b0 of $read_b0 bytes for data host A stored"
b backup --stdin --name blob --host host-b --time "2024-05-01 02:05:00" --json <"$D/blob" >"$D/b-blob.json" || fail "B: backup blob"
(($(field "$D/b-blob.json" bytes_added) < 100000)) || fail "B: the blob A stored was stored again"
[[ -d "$CACHE_B" ]] || fail "host B did not create its cache dir"

# B restores A's snapshots (by id), byte for byte.
b restore "$(field "$D/a0.json" snapshot_id)" --output - | cmp - "$D/night0" || fail "B: restore of A's night 0"
b restore "$(field "$D/a-blob.json" short_id)" --output "$D/out" || fail "B: restore of A's blob"
cmp "$D/out" "$D/blob" || fail "B: restore of A's blob differs"

# Host A writes a new snapshot (night 1); B's listing, latest, backup and restore see it.
a backup --stdin --name db.sql --host host-a --time "2024-05-02 01:00:00" --json <"$D/night1" >"$D/a1.json" || fail "A: backup night 1"
b snapshots --json >"$D/b-snaps.json" || fail "B: snapshots"
python3 - "$D" <<'EOF' || fail "B: snapshots --json after A's new snapshot"
import json, os, sys
D = sys.argv[1]
snaps = json.load(open(os.path.join(D, "b-snaps.json")))
assert len(snaps) == 5, len(snaps)
a1 = json.load(open(os.path.join(D, "a1.json")))
last = snaps[-1]
assert last["id"] == a1["snapshot_id"], (last["id"], a1["snapshot_id"])
assert last["hostname"] == "host-a", last["hostname"]
assert [s["hostname"] for s in snaps] == ["host-a", "host-a", "host-b", "host-b", "host-a"], snaps
EOF
b restore latest --output - | cmp - "$D/night1" || fail "B: restore latest (A's night 1)"
# B backs up night 1 too: the chunks A just added are known to B.
b backup --stdin --name db.sql --host host-b --time "2024-05-02 02:00:00" --json <"$D/night1" >"$D/b1.json" || fail "B: backup night 1"
assert_eq "$(field "$D/b1.json" new_chunks)" 0 "B: new chunks for A's night 1"
# And the other way: B's night 2 is deduplicated by A.
b backup --stdin --name db.sql --host host-b --time "2024-05-03 02:00:00" --json <"$D/night2" >"$D/b2.json" || fail "B: backup night 2"
a backup --stdin --name db.sql --host host-a --time "2024-05-03 03:00:00" --json <"$D/night2" >"$D/a2.json" || fail "A: backup night 2"
assert_eq "$(field "$D/a2.json" new_chunks)" 0 "A: new chunks for B's night 2"
a restore "$(field "$D/b2.json" snapshot_id)" --output - | cmp - "$D/night2" || fail "A: restore of B's night 2"

# Interleaved: A and B back up different data at the same time.
a backup --stdin --name db.sql --host host-a --time "2024-05-04 01:00:00" --json <"$D/night3" >"$D/a3.json" &
pa=$!
b backup --stdin --name other --host host-b --time "2024-05-04 01:00:01" --json < <("$GEN_DUMP" --rows 30000 --seed 99) >"$D/b3.json" ||
  fail "B: concurrent backup"
wait "$pa" || fail "A: concurrent backup"
b restore "$(field "$D/a3.json" snapshot_id)" --output - | cmp - "$D/night3" || fail "B: restore of A's concurrent night 3"
a restore "$(field "$D/b3.json" snapshot_id)" --output - | cmp - <("$GEN_DUMP" --rows 30000 --seed 99) ||
  fail "A: restore of B's concurrent backup"

# Every snapshot restores with a fresh, empty cache dir.
check_all() { # CACHE_DIR LABEL
  local cache=$1 label=$2 id src
  pgd --repo "$REPO" --cache-dir "$cache" snapshots --json >"$D/all.json" || fail "$label: snapshots"
  assert_eq "$(ids_of <"$D/all.json" | wc -w)" 11 "$label: number of snapshots"
  for j in a0 a-blob b0 b-blob a1 b1 b2 a2 a3 b3; do
    id=$(field "$D/$j.json" snapshot_id)
    case $j in
      *blob) src=$D/blob ;; a0 | b0) src=$D/night0 ;; a1 | b1) src=$D/night1 ;;
      a2 | b2) src=$D/night2 ;; a3) src=$D/night3 ;; b3) src="" ;;
    esac
    if [[ -n "$src" ]]; then
      pgd --repo "$REPO" --cache-dir "$cache" restore "$id" --output - | cmp - "$src" || fail "$label: restore of $j"
    else
      pgd --repo "$REPO" --cache-dir "$cache" restore "$id" --output - | cmp - <("$GEN_DUMP" --rows 30000 --seed 99) ||
        fail "$label: restore of $j"
    fi
  done
}
b backup --stdin --name tiny --host host-b --json </dev/null >/dev/null || fail "B: backup of an empty stream"
check_all "$TEST_TMP/cache-fresh" "fresh cache"

# Delete host A's cache entirely: restore and backup still work (the cache is rebuilt).
rm -rf "$CACHE_A"
check_all "$CACHE_A" "deleted cache"
a backup --stdin --name db.sql --host host-a --json <"$D/night3" >"$D/a3b.json" || fail "A: backup after the cache was deleted"
assert_eq "$(field "$D/a3b.json" new_chunks)" 0 "A: new chunks after the cache was deleted"

# `repo index rebuild` into a deleted cache dir, then use it.
rm -rf "$CACHE_B"
assert_exit 0 b repo index rebuild
[[ -d "$CACHE_B" ]] || fail "repo index rebuild did not create the cache dir"
assert_exit 0 b repo index rebuild --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is True, d' "$LAST_STDOUT" ||
  fail "repo index rebuild --json"
b backup --stdin --name db.sql --host host-b --json <"$D/night2" >"$D/b2b.json" || fail "B: backup after index rebuild"
assert_eq "$(field "$D/b2b.json" new_chunks)" 0 "B: new chunks after index rebuild"
b restore "$(field "$D/b2b.json" snapshot_id)" --output - | cmp - "$D/night2" || fail "B: restore after index rebuild"
# rebuild a cache that is already up to date, and one for a host that never ran
assert_exit 0 a repo index rebuild
assert_exit 0 pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache-c" repo index rebuild
assert_exit 0 pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache-c" stats --json
assert_eq "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"])' <"$LAST_STDOUT")" 13 "stats from a rebuilt cache"

assert_exit 0 a repo check --read-data --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is True and d["snapshots"] == 13, d' "$LAST_STDOUT" ||
  fail "repo check after the multi-host run"

pass
