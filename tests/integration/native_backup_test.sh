#!/usr/bin/env bash
# Native database backups: `backup --db` of a database full of awkward corners
# (fixtures/awkward.sql), `restore --db --create` into a new database, and a comparison of
# everything: every table's rows (partitions, inheritance children, unlogged, matviews, views),
# every sequence (last_value, is_called), columns (types, defaults, identity, generated),
# constraints, indexes, triggers, views, comments, grants, extensions, and `pg_dump -s` of both.
# Then: --create onto an existing database fails and names --clean, --create --clean replaces
# it; unreachable server and missing database give exit 6; a backup taken while transfers run
# is consistent across tables; a second backup of an unchanged database adds little; check.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
S=$TEST_TMP/state
mkdir -p "$S"
FIXTURE=$SOURCE_DIR/tests/integration/fixtures/awkward.sql
p() { pgd --repo "$REPO" --cache-dir "$CACHE" "$@"; }
# jpy FILE EXPR: print a python expression on `d`, the JSON document in FILE.
jpy() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# assert_fails CMD...: like assert_exit, but any non-zero status will do (kept in $LAST_RC).
assert_fails() {
  LAST_RC=0
  "$@" >"$LAST_STDOUT" 2>"$LAST_STDERR" || LAST_RC=$?
  if [[ "$LAST_RC" == 0 ]]; then
    echo "--- stdout of: $*" >&2; tail -n 40 "$LAST_STDOUT" >&2
    echo "--- stderr of: $*" >&2; tail -n 40 "$LAST_STDERR" >&2
    fail "expected a failure, got exit status 0: $*"
  fi
}
snapshot_count() { p snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# Relations of the user's schemas (not the catalogs, not what extensions own).
USER_REL="n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')"

# db_state DB DIR: write what must survive a backup and restore of DB into DIR, one file per
# aspect, so that `diff -r` of two such directories shows exactly what differs.
db_state() {
  local db=$1 dir=$2 kind rel f
  rm -rf "$dir"
  mkdir -p "$dir/data"
  q() { psql_q "$db" "$1"; }
  q "SELECT extname, extversion, extnamespace::regnamespace FROM pg_extension ORDER BY 1" >"$dir/extensions"
  q "SELECT nspname, obj_description(oid, 'pg_namespace'), nspacl FROM pg_namespace
     WHERE nspname NOT LIKE 'pg_%' AND nspname <> 'information_schema' ORDER BY 1" >"$dir/schemas"
  # Relations: kind, persistence (unlogged), partition bounds, comment, privileges, populated.
  q "SELECT format('%I.%I', n.nspname, c.relname), c.relkind, c.relpersistence, c.relispartition,
            pg_get_expr(c.relpartbound, c.oid), pg_get_partkeydef(c.oid),
            obj_description(c.oid, 'pg_class'), c.relacl, c.relispopulated
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND $USER_REL ORDER BY 1" >"$dir/relations"
  # Columns in their order (attnum itself may differ: a dropped column is not recreated).
  q "SELECT format('%I.%I', n.nspname, c.relname), a.attname, format_type(a.atttypid, a.atttypmod),
            a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
            a.attcollation::regcollation, col_description(c.oid, a.attnum), a.attislocal, a.attinhcount
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm') AND $USER_REL
     ORDER BY 1, a.attnum" >"$dir/columns"
  q "SELECT CASE WHEN c.conrelid <> 0 THEN c.conrelid::regclass::text ELSE c.contypid::regtype::text END AS owner,
            c.conname, c.contype, pg_get_constraintdef(c.oid), c.convalidated, c.conislocal
     FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2" >"$dir/constraints"
  q "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3" >"$dir/indexes"
  q "SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
     FROM pg_trigger t WHERE NOT t.tgisinternal ORDER BY 1, 2" >"$dir/triggers"
  q "SELECT schemaname, viewname, definition FROM pg_views
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2" >"$dir/views"
  q "SELECT schemaname, matviewname, ispopulated, definition FROM pg_matviews ORDER BY 1, 2" >"$dir/matviews"
  q "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), obj_description(p.oid, 'pg_proc')
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                       AND d.objid = p.oid AND d.deptype = 'e')
     ORDER BY 1" >"$dir/functions"
  q "SELECT t.oid::regtype::text, t.typtype, e.enumlabel FROM pg_type t
     LEFT JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typtype IN ('e', 'd') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     ORDER BY 1, e.enumsortorder" >"$dir/types"
  q "SELECT inhrelid::regclass::text, inhparent::regclass::text, inhseqno FROM pg_inherits ORDER BY 1, 2" >"$dir/inherits"
  # Sequences: definition, then last_value and is_called read from each.
  q "SELECT format('%I.%I', schemaname, sequencename), data_type, start_value, min_value, max_value,
            increment_by, cycle, cache_size FROM pg_sequences ORDER BY 1" >"$dir/sequence-defs"
  q "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences ORDER BY 1" >"$S/seq-list"
  : >"$dir/sequences"
  while read -r rel; do
    echo "$rel $(q "SELECT last_value || ' ' || is_called FROM $rel")" >>"$dir/sequences"
  done <"$S/seq-list"
  # Rows: every table's own rows (ONLY: not an inheritance child's), every populated matview,
  # every view; sorted as text (COPY puts one row on a line), with a count and md5 per relation.
  q "SELECT c.relkind::text || ' ' || format('%I.%I', n.nspname, c.relname)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE (c.relkind IN ('r', 'v') OR (c.relkind = 'm' AND c.relispopulated)) AND $USER_REL
     ORDER BY 1" >"$S/rel-list"
  : >"$dir/rows"
  while read -r kind rel; do
    f=$dir/data/$(printf '%s' "$rel" | md5sum | cut -c1-16)
    local from=$rel
    [[ "$kind" == r ]] && from="ONLY $rel"
    run_t 60 psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "COPY (SELECT * FROM $from) TO STDOUT" >"$f.unsorted" ||
      fail "COPY of $rel from $db failed"
    LC_ALL=C sort "$f.unsorted" >"$f"
    rm "$f.unsorted"
    echo "$rel $(wc -l <"$f") $(md5sum <"$f" | cut -c1-32)" >>"$dir/rows"
  done <"$S/rel-list"
  # And what pg_dump makes of the schema (object order, ownership, grants, comments, ...); not
  # the random key of its \restrict line.
  run_t 60 pg_dump --schema-only -d "$db" | grep -Ev '^(-- Dumped|\\(un)?restrict )' >"$dir/pg_dump-schema.sql" ||
    fail "pg_dump --schema-only $db failed"
}

# compare_state EXPECTED_DIR ACTUAL_DIR LABEL
compare_state() {
  if ! diff -r "$1" "$2" >"$S/diff.out" 2>&1; then
    head -n 60 "$S/diff.out" >&2
    fail "$3: the restored database differs from the original (diff -r $1 $2 above)"
  fi
}

start_pg
run_t 60 createdb awk
run_t 120 psql -X -q -v ON_ERROR_STOP=1 -d awk -f "$FIXTURE" >/dev/null || fail "loading the fixture failed"
db_state awk "$S/awk"

# The fixture really has its corners (so that the comparisons are not vacuous).
[[ $(wc -l <"$S/awk/rows") -ge 17 ]] || { cat "$S/awk/rows" >&2; fail "too few relations in the fixture"; }
grep -q '^"Sales"\."Ordérs" 1500 ' "$S/awk/rows" || fail "orders rows"
grep -q '^app\.measurements_default 172 ' "$S/awk/rows" || fail "default partition rows"
grep -q '^app\.vehicles 50 ' "$S/awk/rows" || fail "inheritance parent's own rows"
grep -q '^app\.empty_table 0 ' "$S/awk/rows" || fail "empty table"
grep -q '^app\.session_cache|r|u|' "$S/awk/relations" || fail "unlogged table"
grep -q '^app\.stale_stats|m|p|f|||||f$' "$S/awk/relations" || fail "matview without data"
grep -q '^app\.reset_seq 42 false$' "$S/awk/sequences" || fail "sequence set with is_called false"
grep -q '^public\."Unused Seq" 77 false$' "$S/awk/sequences" || fail "sequence never called"
grep -q '^app\.ticket_seq 1015 true$' "$S/awk/sequences" || fail "sequence advanced by nextval"
assert_eq "$(psql_q awk "SELECT count(*) - count(DISTINCT e) FROM app.event_log e")" 402 "duplicate rows in the table without a key"

assert_exit 0 p init --kdf interactive

# --- Backup 1 and its manifest ----------------------------------------------------------------
assert_exit 0 p backup --db "$(pg_conninfo awk)" --json
cp "$LAST_STDOUT" "$S/b1.json"
id1=$(jpy "$S/b1.json" 'd["snapshot_id"]')
[[ ${#id1} == 64 ]] || fail "backup --db --json: no snapshot_id in $(cat "$S/b1.json")"
p snapshots --json >"$S/snapshots1.json" || fail "snapshots --json failed"
# One stream per table (each ordinary table and each leaf partition), plus the three SQL ones.
psql_q awk "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND $USER_REL ORDER BY 1" >"$S/tables"
python3 - "$S/snapshots1.json" "$id1" "$S/tables" <<'EOF' || fail "the snapshot's entry in snapshots --json is wrong"
import json, sys
snaps = json.load(open(sys.argv[1]))
tables = [t for t in open(sys.argv[3], encoding="utf-8").read().split("\n") if t]
[e] = [s for s in snaps if s["id"] == sys.argv[2]]
assert e.get("database") == "awk", f"database: {e.get('database')!r}"
names = [s["name"] for s in e["streams"]]
for special in ("pre-data.sql", "sequences.sql", "post-data.sql"):
    assert special in names, f"no {special} in {names}"
data = [n for n in names if n not in ("pre-data.sql", "sequences.sql", "post-data.sql")]
assert len(data) == len(tables), f"{len(data)} table streams for {len(tables)} tables: {names}"
assert len(set(names)) == len(names), f"duplicate stream names: {names}"
for t in ("Ordérs", "order_lines", "measurements_2023", "Measurements 2024", "measurements_default",
          "vehicles", "trucks", "session_cache", "empty_table"):
    assert any(t in n for n in data), f"no stream for {t}: {data}"
for s in e["streams"]:
    assert isinstance(s["size"], int) and s["size"] >= 0, s
EOF

# --- Restore into a new database, compare -------------------------------------------------------
assert_exit 0 p restore latest --db "$(pg_conninfo awk_restored)" --create
db_state awk_restored "$S/r1"
compare_state "$S/awk" "$S/r1" "restore --create"

# Spot checks on the restored copy: odd values, and that it works as a database.
r() { psql_q awk_restored "$1"; }
assert_eq "$(r "SELECT name FROM customers WHERE email = 'UNICODE@example.com'")" "ünïcödé — 日本語 — 🐘" "unicode text (and citext lookup)"
assert_eq "$(r "SELECT note FROM customers WHERE id = 2")" 'back\slash \N \. and a lone \' "backslashes"
assert_eq "$(r "SELECT \"Naïve Col\" = E'multi\nline\r\ntext' FROM customers WHERE id = 2")" t "newlines"
assert_eq "$(r "SELECT md5(photo) FROM customers WHERE id = 3")" \
  "$(python3 -c 'import hashlib; print(hashlib.md5(bytes(range(256))).hexdigest())')" "bytea with every byte value"
assert_eq "$(r "SELECT count(*) FILTER (WHERE note IS NULL) || ' ' || count(*) FILTER (WHERE note = '') FROM customers WHERE id IN (3, 4, 7)")" "2 1" "NULL and empty string"
assert_eq "$(r "SELECT count(*) FROM app.audit")" 1515 "audit rows (the trigger must not fire while restoring)"
assert_eq "$(r "SELECT tier FROM customers WHERE id = 50")" gold "column added with a default"
assert_eq "$(r "SELECT relpersistence FROM pg_class WHERE oid = 'app.session_cache'::regclass")" u "unlogged table stays unlogged"
# The generated column computes, the identity and serial sequences continue, the trigger fires.
assert_eq "$(r "INSERT INTO \"Sales\".\"Ordérs\" (customer_id, qty, unit_price, placed_at)
                VALUES (1, 3, 2.50, '2024-12-31') RETURNING \"OrderId\" || ' ' || total")" "1501 7.50" "identity and generated column"
assert_eq "$(r "SELECT action FROM app.audit WHERE order_id = 1501")" INSERT "the trigger fires after the restore"
assert_exit 1 psql -X -q -v ON_ERROR_STOP=1 -d awk_restored -c "UPDATE \"Sales\".\"Ordérs\" SET total = 1 WHERE \"OrderId\" = 1"
assert_contains "$LAST_STDERR" "generated column" "writing a generated column is refused"
assert_eq "$(r "INSERT INTO customers (email, name) VALUES ('new@example.com', 'new') RETURNING id")" 501 "serial continues"
assert_exit 1 psql -X -q -v ON_ERROR_STOP=1 -d awk_restored -c "INSERT INTO customers (email, name) VALUES ('PLAIN@EXAMPLE.COM', 'dup')"
assert_contains "$LAST_STDERR" "customers_email_key" "the citext UNIQUE constraint holds"
assert_eq "$(r "SELECT nextval('app.ticket_seq') || ' ' || nextval('\"Unused Seq\"') || ' ' || nextval('app.reset_seq') || ' ' || nextval('app.countdown')")" \
  "1020 77 42 94" "free-standing sequences continue"
assert_eq "$(r "INSERT INTO app.settings_kv (scope, key) VALUES ('global', 'new') RETURNING id")" 2100 "identity BY DEFAULT continues"
assert_exit 1 psql -X -q -v ON_ERROR_STOP=1 -d awk_restored -c "INSERT INTO app.settings_kv (scope, key) VALUES ('global', 'key.3')"
assert_contains "$LAST_STDERR" "settings_kv_scope_key" "the unique index holds"
assert_exit 1 psql -X -q -v ON_ERROR_STOP=1 -d awk_restored -c "DELETE FROM customers WHERE id = 1"
assert_contains "$LAST_STDERR" "foreign key" "foreign keys hold"
assert_eq "$(r "SELECT count(*) FROM app.measurements")" 906 "the partitioned table sees its leaves"
r "REFRESH MATERIALIZED VIEW app.stale_stats" >/dev/null
assert_eq "$(r "SELECT sum(n) FROM app.stale_stats")" 1501 "the matview without data refreshes"

# --- (a) --create onto an existing database fails and says --clean; --create --clean replaces it.
db_state awk_restored "$S/r1-changed"
assert_fails p restore latest --db "$(pg_conninfo awk_restored)" --create
grep -qF -- "--clean" "$LAST_STDERR" || { cat "$LAST_STDERR" >&2; fail "restore --create onto an existing database: the message does not mention --clean"; }
grep -qF "awk_restored" "$LAST_STDERR" || { cat "$LAST_STDERR" >&2; fail "restore --create onto an existing database: the message does not name it"; }
echo "restore --create onto an existing database: exit $LAST_RC: $(tr '\n' ' ' <"$LAST_STDERR")"
db_state awk_restored "$S/r1-after-refusal"
compare_state "$S/r1-changed" "$S/r1-after-refusal" "the existing database after a refused --create"
assert_exit 0 p restore latest --db "$(pg_conninfo awk_restored)" --create --clean
db_state awk_restored "$S/r2"
compare_state "$S/awk" "$S/r2" "restore --create --clean"

# --- (b) a server nobody listens on, (c) a database that does not exist: exit 6, no snapshot ----
n_before=$(snapshot_count)
assert_exit 6 p backup --db "host=$PGHOST port=1 user=$PGUSER dbname=awk"
grep -qi "connect" "$LAST_STDERR" || { cat "$LAST_STDERR" >&2; fail "backup from a port nobody listens on: no clear message"; }
echo "unreachable server: $(tr '\n' ' ' <"$LAST_STDERR")"
assert_exit 6 p backup --db "$(pg_conninfo nope)"
assert_contains "$LAST_STDERR" '"nope"' "backup of a database that does not exist: the message names it"
echo "missing database: $(tr '\n' ' ' <"$LAST_STDERR")"
assert_eq "$(snapshot_count)" "$n_before" "snapshots after failed backups"

# --- (e) a second backup of the unchanged database adds little --------------------------------
db_state awk "$S/awk-again"
compare_state "$S/awk" "$S/awk-again" "the source database after backup and restores"
assert_exit 0 p backup --db "$(pg_conninfo awk)" --json
cp "$LAST_STDOUT" "$S/b2.json"
added1=$(jpy "$S/b1.json" 'd["bytes_added"]')
added2=$(jpy "$S/b2.json" 'd["bytes_added"]')
echo "backup 1 added $added1 bytes (read $(jpy "$S/b1.json" 'd.get("bytes_read")')), backup 2 of the unchanged database added $added2"
((added1 > 0)) || fail "the first backup added nothing"
# Every table's stream and the sequences come out byte for byte the same. (pre-data.sql and
# post-data.sql differ: pg_dump 15.14+ writes a random key in its \restrict line every time.)
python3 - "$S/b1.json" "$S/b2.json" <<'PY' || fail "an unchanged database did not give the same table streams"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
da = {s["name"]: s["digest"] for s in a["streams"]}
db = {s["name"]: s["digest"] for s in b["streams"]}
assert da.keys() == db.keys(), (sorted(da), sorted(db))
changed = sorted(n for n in da if da[n] != db[n] and n not in ("pre-data.sql", "post-data.sql"))
assert not changed, f"streams changed: {changed}"
PY
((added2 * 5 < added1)) || fail "the second backup of an unchanged database added $added2 bytes, the first $added1"
p snapshots --json >"$S/snapshots2.json"
id2=$(jpy "$S/b2.json" 'd["snapshot_id"]')
assert_eq "$(jpy "$S/snapshots2.json" "[s['database'] for s in d if s['id'] == '$id2'][0]")" awk "database of backup 2"

# --- (d) consistency: a backup while transfers run is one snapshot across tables ---------------
run_t 60 createdb bank
psql_q bank "
CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO accounts VALUES (1, 1000000), (2, 1000000);
CREATE TABLE transfers (id bigserial PRIMARY KEY, amount integer NOT NULL);
CREATE TABLE filler (id integer PRIMARY KEY, t text);
INSERT INTO filler SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 100000) g;
"
# Each transfer is one transaction: out of account 1, a row in transfers, into account 2.
yes "BEGIN; UPDATE accounts SET balance = balance - 7 WHERE id = 1; INSERT INTO transfers (amount) VALUES (7); UPDATE accounts SET balance = balance + 7 WHERE id = 2; COMMIT;" |
  psql -X -q -v ON_ERROR_STOP=1 -d bank >/dev/null 2>"$S/loader.err" &
LOADER=$!
for _ in $(seq 1 100); do
  (($(psql_q bank "SELECT count(*) FROM transfers") >= 200)) && break
  sleep 0.1
done
n_start=$(psql_q bank "SELECT count(*) FROM transfers")
((n_start >= 200)) || fail "the transfer loop does not run: $(cat "$S/loader.err")"
assert_exit 0 p backup --db "$(pg_conninfo bank)" --jobs 4 --json
n_end=$(psql_q bank "SELECT count(*) FROM transfers")
id_bank=$(jpy "$LAST_STDOUT" 'd["snapshot_id"]')
kill "$LOADER" 2>/dev/null || true
wait "$LOADER" 2>/dev/null || true
echo "transfers: $n_start when the backup started, $n_end when it ended"
assert_exit 0 p restore "$id_bank" --db "$(pg_conninfo bank_restored)" --create
b() { psql_q bank_restored "$1"; }
n_restored=$(b "SELECT count(*) FROM transfers")
((n_restored >= n_start && n_restored <= n_end)) || fail "restored $n_restored transfers, not between $n_start and $n_end"
assert_eq "$(b "SELECT sum(balance) FROM accounts")" 2000000 "sum of the balances in the restored copy"
assert_eq "$(b "SELECT (SELECT balance FROM accounts WHERE id = 1) = 1000000 - (SELECT coalesce(sum(amount), 0) FROM transfers)")" t \
  "account 1 against the transfers table in the restored copy (one snapshot for all tables)"
assert_eq "$(b "SELECT (SELECT last_value FROM transfers_id_seq) >= (SELECT max(id) FROM transfers)")" t "the sequence is not behind its table"
assert_eq "$(b "SELECT count(*) FROM filler")" 100000 "filler rows"
assert_eq "$(psql_q bank "SELECT sum(balance) FROM accounts")" 2000000 "the invariant in the source"

assert_exit 0 p repo check --read-data
pass
