#!/usr/bin/env bash
# A repository written by an older binary (fixtures/old-repo.tar.gz, made by
# fixtures/make_old_repo.sh with the binary of 608f7f0, the last commit before delta chunks)
# works with this one: its password opens it (and a wrong one is refused with exit 3), check
# --read-data finds it intact, its stream snapshots restore byte for byte and its native
# snapshot restores into a database equal to the one it was taken of; a new backup into it
# (delta chunks against the old chunks) restores; forget --prune of the old nights, repacking
# the old packs, leaves every kept snapshot restorable and the repository intact.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/pg_state.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg_state.sh"

export PGDEDUP_PASSWORD=old-repo-fixture
S=$TEST_TMP/state
D=$TEST_TMP/data
mkdir -p "$S" "$D"
tar -C "$TEST_TMP" -xzf "$SOURCE_DIR/tests/integration/fixtures/old-repo.tar.gz"
OLD=$TEST_TMP/old-repo
REPO=$OLD/repo
CACHE=$TEST_TMP/cache
p() { pgd --repo "$REPO" --cache-dir "$CACHE" "$@"; }
grep -q "built from [0-9a-f]" "$OLD/program.txt" || fail "the fixture does not say which binary wrote it"

# The streams the fixture's nights held, made again here.
seq 1 40000 >"$D/night1"
awk '$1 % 20000 == 0 { print "x" $1; next } { print }' "$D/night1" >"$D/night2"
awk '/^[0-9]+$/ && $1 % 15000 == 0 { print "y" $1; next } { print }' "$D/night2" >"$D/night4"

assert_exit 3 env PGDEDUP_PASSWORD=not-the-password "$PGDEDUP_BIN" --repo "$REPO" \
  --cache-dir "$CACHE" snapshots
assert_exit 0 p snapshots --json
cp "$LAST_STDOUT" "$S/snapshots.json"
assert_eq "$(jpy "$S/snapshots.json" 'len(d)')" 3 "snapshots in the fixture"
id1=$(jpy "$S/snapshots.json" 'd[0]["id"]')
id2=$(jpy "$S/snapshots.json" 'd[1]["id"]')
id3=$(jpy "$S/snapshots.json" 'd[2]["id"]')
assert_eq "$(jpy "$S/snapshots.json" '[s["name"] for s in d[0]["streams"]]')" "['numbers.txt']" \
  "night 1's streams"
assert_eq "$(jpy "$S/snapshots.json" 'd[2].get("database")')" awk "night 3's database"
# The fixture's hostname: the new night below gives it, so that it follows the old nights
# (a parent for deltas, a group for forget) whatever this machine is called.
HOST=$(jpy "$S/snapshots.json" 'd[0]["hostname"]')
assert_eq "$HOST" old-repo-fixture "the fixture's hostname"

assert_exit 0 p repo check --read-data --json
assert_eq "$(jpy "$LAST_STDOUT" 'd["ok"]')" True "check --read-data of the old repository"

# Streams, byte for byte.
p restore "$id1" --stream numbers.txt --output - | cmp - "$D/night1" || fail "night 1 differs"
p restore "$id2" --stream numbers.txt --output - | cmp - "$D/night2" || fail "night 2 differs"

# The native snapshot, into a database equal to one loaded from the same SQL.
start_pg
run_t 60 createdb awk
run_t 120 psql -X -q -v ON_ERROR_STOP=1 -d awk -f "$OLD/source.sql" >/dev/null ||
  fail "loading the fixture's source.sql failed"
db_state awk "$S/awk"
assert_exit 0 p restore "$id3" --db "$(pg_conninfo awk_restored)" --create
db_state awk_restored "$S/restored"
compare_state "$S/awk" "$S/restored" "the old native snapshot restored"

# A new night into the old repository: its chunks are stored as deltas against the old ones.
assert_exit 0 p backup --host "$HOST" --stdin --name numbers.txt --json <"$D/night4"
cp "$LAST_STDOUT" "$S/b4.json"
id4=$(jpy "$S/b4.json" 'd["snapshot_id"]')
[[ $(jpy "$S/b4.json" 'd["new_delta_chunks"]') -gt 0 ]] ||
  fail "night 4 stored no delta chunk against the old ones: $(cat "$S/b4.json")"
p restore "$id4" --output - | cmp - "$D/night4" || fail "night 4 differs"

# Forget the two old stream nights and prune, repacking every old pack with anything unused
# (the policy applies per host and database or stream name, so the native snapshot stays):
# what night 4 needs of them stays.
p stats --json >"$S/stats-before.json" || fail "stats failed"
assert_exit 0 p forget --keep-last 1 --prune --max-unused 0
p stats --json >"$S/stats-after.json" || fail "stats failed"
(($(jpy "$S/stats-after.json" 'd["blobs"]') < $(jpy "$S/stats-before.json" 'd["blobs"]'))) ||
  fail "the prune deleted no blob of the forgotten night"
assert_exit 0 p snapshots --json
assert_eq "$(jpy "$LAST_STDOUT" '" ".join(s["id"] for s in d)')" "$id3 $id4" "snapshots kept"
assert_exit 0 p repo check --read-data
p restore "$id4" --output - | cmp - "$D/night4" || fail "night 4 differs after the prune"
# With an empty cache too: everything is read from the repository itself.
pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache2" restore "$id4" --output - | cmp - "$D/night4" ||
  fail "night 4 differs after the prune, with an empty cache"
run_t 60 dropdb awk_restored
assert_exit 0 p restore "$id3" --db "$(pg_conninfo awk_restored)" --create
db_state awk_restored "$S/restored2"
compare_state "$S/awk" "$S/restored2" "the old native snapshot restored after the prune"

pass
