#!/usr/bin/env bash
# A database of nine hundred partitions on a server whose lock table is small
# (max_locks_per_transaction = 10, the least PostgreSQL takes), where pg_dump still works: the
# native backup works too, since its table copies hold no lock past their table (with every
# copy's table and index locks held to the end it ran out of shared memory), and the snapshot
# restores whole and equal, and a drill of it passes.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_pg
psql_q postgres "ALTER SYSTEM SET max_locks_per_transaction = 10" >/dev/null
stop_pg
start_pg
assert_eq "$(psql_q postgres "SHOW max_locks_per_transaction")" 10 "max_locks_per_transaction"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
P=(--repo "$REPO" --cache-dir "$CACHE")
pgd -q init "${P[@]}" --kdf interactive

PARTS=900
run_t 60 createdb parts
python3 - "$PARTS" >"$TEST_TMP/parts.sql" <<'EOF'
import sys
n = int(sys.argv[1])
print("CREATE TABLE ev (id int, d int, w int, PRIMARY KEY (d, id)) PARTITION BY LIST (d);")
for i in range(n):
    if i % 100 == 0:
        print("BEGIN;")
    print(f"CREATE TABLE ev_{i} PARTITION OF ev FOR VALUES IN ({i});")
    if i % 100 == 99:
        print("COMMIT;")
for i in range(0, n, 100):
    print(f"INSERT INTO ev SELECT g, {i} + g % 100, g * 7 FROM generate_series(1, 1000) g;")
EOF
run_t 300 psql -X -q -v ON_ERROR_STOP=1 -d parts -f "$TEST_TMP/parts.sql" >/dev/null ||
  fail "building the partition tree failed"
run_t 120 pg_dump -d parts -f "$TEST_TMP/parts.dump" || fail "pg_dump of the partition tree failed"

# Per partition, in a transaction of its own (a query of the parent would lock every partition
# and index at once): rows and sums.
python3 - "$PARTS" >"$TEST_TMP/digest.sql" <<'EOF2'
import sys
for i in range(int(sys.argv[1])):
    print(f"SELECT 'ev_{i}', count(*), sum(id), sum(w) FROM ONLY ev_{i};")
EOF2
digest() {
  run_t 120 psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -f "$TEST_TMP/digest.sql" >"$2" ||
    fail "reading the partitions of $1 failed"
}
digest parts "$TEST_TMP/parts.digest"
assert_eq "$(awk -F'|' '{n += $2; s += $3} END {print NR ":" n ":" s}' "$TEST_TMP/parts.digest")" \
  "$PARTS:$((PARTS / 100 * 1000)):$((PARTS / 100 * 500500))" "the source's partitions, rows and sum of ids"

assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo parts)" --jobs 2 --json
snap=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$LAST_STDOUT")

assert_exit 0 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo parts_restored)" --create --jobs 2
digest parts_restored "$TEST_TMP/restored.digest"
cmp -s "$TEST_TMP/parts.digest" "$TEST_TMP/restored.digest" || fail "the restored partitions' rows differ"
assert_eq "$(psql_q parts_restored "SELECT count(*) FROM pg_inherits")" "$((2 * PARTS))" \
  "partitions and partition indexes restored"
# A drill of it passes too (it reads every table again, each in a transaction of its own).
assert_exit 0 pgd "${P[@]}" drill "$snap" --db "$(pg_conninfo postgres)" --jobs 2

pass
