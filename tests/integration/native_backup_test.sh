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
# shellcheck source=tests/integration/pg_state.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg_state.sh"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
S=$TEST_TMP/state
mkdir -p "$S"
FIXTURE=$SOURCE_DIR/tests/integration/fixtures/awkward.sql
p() { pgd --repo "$REPO" --cache-dir "$CACHE" "$@"; }
snapshot_count() { p snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

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
# The manifest's description of the source: the server's version, pg_dump's, the database's
# size and encoding, and each table's row count, as the server and pg_dump tell them.
python3 - "$S/snapshots1.json" "$id1" "$(psql_q awk "SHOW server_version_num")" \
  "$(pg_dump --version)" "$(psql_q awk "SELECT pg_database_size('awk')")" \
  "$(psql_q awk 'SELECT count(*) FROM "Sales"."Ordérs"')" <<'EOF' ||
import json, sys
snaps = json.load(open(sys.argv[1]))
[e] = [s for s in snaps if s["id"] == sys.argv[2]]
assert e["source"] == "postgresql", e["source"]
assert e["server_version"] == int(sys.argv[3]), (e["server_version"], sys.argv[3])
assert e["pg_dump_version"] == sys.argv[4], (e["pg_dump_version"], sys.argv[4])
# The database grows a little between the backup and this query (statistics, the free space
# map), never by a tenth.
assert 0 < e["database_size"] <= int(sys.argv[5]) * 1.1, (e["database_size"], sys.argv[5])
assert e["encoding"] == "UTF8", e["encoding"]
[orders] = [s for s in e["streams"] if s.get("kind") == "table" and s["name"].endswith('"Ordérs"')]
assert orders["rows"] == int(sys.argv[6]), (orders["rows"], sys.argv[6])
assert all("rows" not in s for s in e["streams"] if s["name"].endswith(".sql")), e["streams"]
EOF
  fail "snapshots --json does not describe the source as the server and pg_dump do"

# --- Restore into a new database, compare -------------------------------------------------------
assert_exit 0 p restore latest --db "$(pg_conninfo awk_restored)" --create
db_state awk_restored "$S/r1"
compare_state "$S/awk" "$S/r1" "restore --create"
# Every table with rows has statistics (ANALYZE ran) and was loaded frozen: all of its pages
# are all-visible, so no later VACUUM has to visit them.
no_stats=$(psql_q awk_restored "SELECT string_agg(format('%I.%I', n.nspname, c.relname), ' ')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg_toast%' AND c.reltuples > 0
    AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname)")
assert_eq "$no_stats" "" "tables without statistics after the restore"
not_frozen=$(psql_q awk_restored "SELECT string_agg(format('%I.%I', n.nspname, c.relname), ' ')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg_toast%' AND c.relpages > 0 AND c.relallvisible < c.relpages")
assert_eq "$not_frozen" "" "tables with pages not all-visible after the restore"
# A parent's statistics cover its inheritance children: it is built and analyzed only once
# their rows are in (the inherited histogram of id reaches the trucks' ids, 1001-1030).
assert_eq "$(psql_q awk_restored "SELECT (histogram_bounds::text::int[])[array_upper(histogram_bounds::text::int[], 1)]
  FROM pg_stats WHERE schemaname = 'app' AND tablename = 'vehicles' AND attname = 'id' AND inherited")" 1030 \
  "the inheritance parent's statistics cover its child's rows"

# --no-analyze: the same database, and no ANALYZE run on any of its tables (as pg_restore).
assert_exit 0 p restore latest --db "$(pg_conninfo awk_noanalyze)" --create --jobs 2 --no-analyze --json
assert_eq "$(jq -r .analyzed "$LAST_STDOUT")" false "restore --no-analyze --json: analyzed"
db_state awk_noanalyze "$S/r_noanalyze"
compare_state "$S/awk" "$S/r_noanalyze" "restore --create --no-analyze"
assert_eq "$(psql_q awk_noanalyze "SELECT count(*) FROM pg_stat_user_tables WHERE analyze_count > 0")" 0 \
  "tables analyzed by a restore with --no-analyze"
assert_eq "$(psql_q awk_restored "SELECT count(*) > 0 FROM pg_stat_user_tables WHERE analyze_count > 0")" t \
  "tables analyzed by a restore without --no-analyze"
psql_q postgres "DROP DATABASE awk_noanalyze" >/dev/null
assert_exit 2 p restore latest --no-analyze --output "$S/never.sql"
assert_contains "$LAST_STDERR" "go with --db"

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
# A conninfo that leaves the database to libpq (here $PGDATABASE) is refused with --create
# --clean: the name pgdedup would drop could differ from the one libpq connects to.
PGDATABASE=awk_restored assert_exit 2 p restore latest --db "host=$PGHOST port=$PGPORT user=$PGUSER" --create --clean
grep -qF "dbname=" "$LAST_STDERR" || { cat "$LAST_STDERR" >&2; fail "restore --create without dbname: the message does not ask for dbname="; }
db_state awk_restored "$S/r1-after-refusal2"
compare_state "$S/r1-changed" "$S/r1-after-refusal2" "the existing database after --create --clean without a dbname"
# Nothing is dropped before what can fail has been tried: a psql that cannot run (checked
# before the drop) ...
PGDEDUP_PSQL=/nonexistent/psql assert_fails p restore latest --db "$(pg_conninfo awk_restored)" --create --clean
db_state awk_restored "$S/r1-after-psql"
compare_state "$S/r1-changed" "$S/r1-after-psql" "the existing database after --create --clean with no psql"
# ... and a role that may drop its database but not create one (the new database is created
# under another name first, then swapped in).
psql_q "CREATE ROLE keeper LOGIN"
psql_q "CREATE DATABASE kept OWNER keeper"
psql_q kept "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)"
assert_fails p restore latest --db "host=$PGHOST port=$PGPORT user=keeper dbname=kept" --create --clean
[[ "$(psql_q kept "SELECT x FROM precious")" == 42 ]] ||
  fail "restore --create --clean dropped a database it could not create again"
psql_q "DROP DATABASE kept"
psql_q "DROP ROLE keeper"
# A role that may create databases but does not own this one is refused before any work (it
# could not drop the old database at the end).
psql_q "CREATE ROLE visitor LOGIN CREATEDB"
assert_exit 2 p restore latest --db "host=$PGHOST port=$PGPORT user=visitor dbname=awk_restored" --create --clean
assert_contains "$LAST_STDERR" "only its owner" "--create --clean of another role's database"
assert_eq "$(psql_q postgres "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgdedup\_restore\_%'")" 0 \
  "databases left behind by a refused --create --clean"
psql_q "DROP ROLE visitor"
# A restore that fails part way (a psql that works once, for pre-data, then fails) keeps the
# database it was to replace, and leaves nothing of its own behind; so does a failed --create
# of a new name.
cat >"$TEST_TMP/psql-once" <<'SH'
#!/bin/sh
for a in "$@"; do [ "$a" = --version ] && exec psql "$@"; done
if [ -e "$PSQL_ONCE_USED" ]; then cat >/dev/null; echo "psql-once: no second run" >&2; exit 3; fi
: >"$PSQL_ONCE_USED"
exec psql "$@"
SH
chmod +x "$TEST_TMP/psql-once"
PSQL_ONCE_USED="$TEST_TMP/psql-once.1" PGDEDUP_PSQL="$TEST_TMP/psql-once" \
  assert_fails p restore latest --db "$(pg_conninfo awk_restored)" --create --clean
assert_contains "$LAST_STDERR" "no second run" "a failed --create --clean names the cause"
assert_contains "$LAST_STDERR" "is unchanged" "a failed --create --clean says the old database stays"
[[ -e "$TEST_TMP/psql-once.1" ]] || fail "the failing restore never reached pre-data"
db_state awk_restored "$S/r1-after-failure"
compare_state "$S/r1-changed" "$S/r1-after-failure" "the existing database after a failed --create --clean"
PSQL_ONCE_USED="$TEST_TMP/psql-once.2" PGDEDUP_PSQL="$TEST_TMP/psql-once" \
  assert_fails p restore latest --db "$(pg_conninfo awk_never)" --create
assert_eq "$(psql_q postgres "SELECT count(*) FROM pg_database WHERE datname = 'awk_never' OR datname LIKE 'pgdedup\_restore\_%'")" 0 \
  "databases left behind by failed --create restores"
# A session left connected to the old database does not stop the replacement: it is ended, as
# DROP DATABASE ... WITH (FORCE) would end it.
timeout 120 psql -X -q -d awk_restored -c "SELECT pg_sleep(100)" >/dev/null 2>&1 &
sleeper_psql=$!
for _ in $(seq 100); do
  [[ "$(psql_q postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = 'awk_restored' AND query LIKE '%pg_sleep%'")" == 1 ]] && break
  sleep 0.1
done
assert_exit 0 p restore latest --db "$(pg_conninfo awk_restored)" --create --clean
sleeper_rc=0
wait "$sleeper_psql" || sleeper_rc=$?
[[ "$sleeper_rc" != 0 && "$sleeper_rc" != 124 ]] || fail "the session in the replaced database was not ended (status $sleeper_rc)"
db_state awk_restored "$S/r2"
compare_state "$S/awk" "$S/r2" "restore --create --clean"
# Nor does an application that connects again at once whenever its session is ended (a pool):
# its session is ended once the rename holds the old database's lock, and the one it opens
# next waits for the swap, then reaches the replacement.
reconnect_until=$((SECONDS + 120))
while [[ ! -e "$TEST_TMP/stop-reconnecting" ]] && ((SECONDS < reconnect_until)); do
  psql -X -q -d awk_restored -c "SELECT pg_sleep(2)" >/dev/null 2>&1 || true
done &
reconnector=$!
reconnector_in() {
  test "$(psql_q postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = 'awk_restored'
    AND query LIKE '%pg_sleep%'")" != 0
}
wait_until 100 reconnector_in || fail "the reconnecting client never connected"
assert_exit 0 p restore latest --db "$(pg_conninfo awk_restored)" --create --clean
touch "$TEST_TMP/stop-reconnecting"
wait "$reconnector"
db_state awk_restored "$S/r2b"
compare_state "$S/awk" "$S/r2b" "restore --create --clean while a client reconnects"

# The database's own properties come back with --create: owner, comment, connection limit and
# privileges (here PUBLIC may not connect, which a restore must not undo).
psql_q "CREATE ROLE props_owner; CREATE ROLE props_reader"
psql_q "CREATE DATABASE props OWNER props_owner"
psql_q props "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)"
psql_q props "COMMENT ON DATABASE props IS 'properties: kept';
  ALTER DATABASE props CONNECTION LIMIT 33;
  REVOKE ALL ON DATABASE props FROM PUBLIC;
  GRANT CONNECT ON DATABASE props TO props_reader;
  GRANT TEMPORARY ON DATABASE props TO props_reader WITH GRANT OPTION"
props_q() {
  psql_q postgres "SELECT pg_get_userbyid(d.datdba), shobj_description(d.oid, 'pg_database'), d.datconnlimit,
    (SELECT string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
       || ':' || a.privilege_type || ':' || a.is_grantable, ',' ORDER BY 1)
     FROM aclexplode(d.datacl) a)
    FROM pg_database d WHERE d.datname = '$1'"
}
assert_exit 0 p backup --db "$(pg_conninfo props)"
assert_exit 0 p restore latest --db "$(pg_conninfo props_restored)" --create
assert_eq "$(props_q props_restored)" "$(props_q props)" "the database's owner, comment, connection limit and privileges after restore --create"
[[ "$(props_q props)" == *"props_reader:CONNECT"* && "$(props_q props)" != *"PUBLIC"* ]] ||
  fail "the privileges of the test database are not what the test set: $(props_q props)"
psql_q "DROP DATABASE props_restored"
psql_q "DROP DATABASE props"
psql_q "DROP ROLE props_owner; DROP ROLE props_reader"
# A database whose default collation comes from ICU gets the same provider and locale back, so
# text sorts (and its indexes are ordered) as before.
psql_q "CREATE DATABASE icudb TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' LC_COLLATE 'C' LC_CTYPE 'C'"
psql_q icudb "CREATE TABLE w (id int PRIMARY KEY, s text); INSERT INTO w VALUES (1, 'a'), (2, 'B'), (3, 'ä'), (4, 'b'); CREATE INDEX ON w (s)"
assert_exit 0 p backup --db "$(pg_conninfo icudb)"
assert_exit 0 p restore latest --db "$(pg_conninfo icudb_restored)" --create
icu_q="SELECT datlocprovider, daticulocale FROM pg_database WHERE datname = "
assert_eq "$(psql_q postgres "$icu_q 'icudb_restored'")" "i|de-DE" "locale provider and ICU locale after restore --create"
assert_eq "$(psql_q icudb_restored "SELECT string_agg(s, ',' ORDER BY s) FROM w")" "a,ä,b,B" "text order in the restored ICU database"
psql_q "DROP DATABASE icudb_restored"
psql_q "DROP DATABASE icudb"

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
