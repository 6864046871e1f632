#!/usr/bin/env bash
# Native backups, the corners: large objects round-trip (also with bytea_output = escape, and with
# quotes and backslashes in them), and another session's temporary sequence is skipped; a table
# truncated by a transaction open when the snapshot is taken is not stored empty; an ALTER TABLE
# waiting behind the backup stops the backup instead of hanging both; row-level security that
# would hide rows fails the backup (exit 6) instead of storing fewer rows; an extension's
# configuration tables (pg_partman's) are copied and restored; a SQL_ASCII database's bytes that
# are not UTF-8 round-trip (and a UTF8 target that cannot take them says why); two backups within
# one second order correctly for `latest`; an unchanged database backs up to nothing new (the
# pg_dump sections too); restore refuses a non-empty target and --dry-run changes nothing; drill
# passes and reports its phases; a drill whose restored database lost a row of one table and had
# a value of another changed (by a psql wrapper, after post-data) fails its own verification
# (exit 4), naming both tables and only them, in --json and its log; a post-data the pipeline
# builds whole starts no second psql.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_pg
REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
pgd -q init --repo "$REPO" --cache-dir "$CACHE" --kdf interactive
P=(--repo "$REPO" --cache-dir "$CACHE")

psql_q postgres "CREATE DATABASE edge" >/dev/null
psql_q edge "
  CREATE TABLE t (id int PRIMARY KEY, v text);
  INSERT INTO t SELECT i, 'row ' || i FROM generate_series(1, 1000) i;
  SELECT lo_from_bytea(0, convert_to(repeat('large object payload ', 120000), 'UTF8'));
  SELECT lo_from_bytea(0, '\\x00ff10'::bytea);
  SELECT lo_from_bytea(0, convert_to(repeat('it''s a \\ quote; ', 70000), 'UTF8'));
  SELECT lo_create(0);" >/dev/null

# bytea_output = escape (legacy drivers want it): large objects are still read whole, as hex.
psql_q postgres "ALTER DATABASE edge SET work_mem = '7MB';
  ALTER DATABASE edge SET bytea_output = 'escape';
  ALTER DATABASE edge SET temp_tablespaces = '';
  ALTER DATABASE edge SET search_path = \"\$user\", public;" >/dev/null
settings_q() {
  psql_q postgres "SELECT string_agg(array_to_string(setconfig, ';'), '|') FROM pg_db_role_setting s
    JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '$1' AND s.setrole = 0"
}

# Large objects come back byte for byte, and so do the database's own settings. Another
# session's temporary sequence (a temporary table with a serial column) is not the backup's:
# it cannot read it, and does not try.
run_t 120 psql -X -q -d edge -c "CREATE TEMP TABLE scratch (id serial)" -c "SELECT pg_sleep(100)" >/dev/null 2>&1 &
temp_session=$!
temp_seq_exists() { [[ $(psql_q edge "SELECT count(*) FROM pg_class WHERE relkind = 'S' AND relpersistence = 't'") == 1 ]]; }
wait_until 100 temp_seq_exists || fail "the temporary sequence was never created"
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge)" --json
psql_q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(100)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$temp_session" 2>/dev/null || true
first=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$LAST_STDOUT")
python3 - "$LAST_STDOUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = [s["name"] for s in d["streams"]]
assert names[0] == "pre-data.sql" and names[-1] == "post-data.sql", names
assert "large-objects.sql" in names and "sequences.sql" in names, names
PY
assert_exit 0 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge_restored)" --create
lo_q="SELECT string_agg(oid::text || ':' || length(lo_get(oid)) || ':' || md5(lo_get(oid)), ',' ORDER BY oid) FROM pg_largeobject_metadata"
assert_eq "$(psql_q edge_restored "$lo_q")" "$(psql_q edge "$lo_q")" "large objects after restore"
assert_eq "$(settings_q edge_restored)" "$(settings_q edge)" "database settings after restore"

# A table truncated and refilled by a transaction still open when the backup takes its snapshot
# (TRUNCATE is not MVCC-safe): the snapshot would see it empty once that transaction commits.
# The backup notices the rewrite and takes a new snapshot, which has the new rows.
psql_q postgres "CREATE DATABASE edge_rw" >/dev/null
psql_q edge_rw "CREATE TABLE churned (id int PRIMARY KEY); INSERT INTO churned SELECT generate_series(1, 100)" >/dev/null
run_t 60 psql -X -q -d edge_rw -c "BEGIN" -c "TRUNCATE churned" \
  -c "INSERT INTO churned SELECT generate_series(1, 250)" -c "SELECT pg_sleep(8)" -c "COMMIT" >/dev/null &
etl=$!
truncating() {
  [[ $(psql_q edge_rw "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND granted
                       AND mode = 'AccessExclusiveLock' AND relation = 'churned'::regclass") == 1 ]]
}
wait_until 100 truncating || fail "the TRUNCATE never took its lock"
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge_rw)" --json
rewritten=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$LAST_STDOUT")
assert_contains "$(cat "$LAST_STDERR")" "taking a new snapshot" "the rewritten table is noticed"
wait "$etl"
assert_exit 0 pgd "${P[@]}" restore "$rewritten" --db "$(pg_conninfo edge_rw_restored)" --create
assert_eq "$(psql_q edge_rw_restored "SELECT count(*) FROM churned")" 250 \
  "rows of a table truncated and refilled as the backup started"
psql_q postgres "DROP DATABASE edge_rw_restored" >/dev/null
psql_q postgres "DROP DATABASE edge_rw" >/dev/null

# An unchanged database adds nothing: tables, sequences and both pg_dump sections dedup.
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge)" --json
second=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$LAST_STDOUT")
added=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["new_chunks"])' <"$LAST_STDOUT")
assert_eq "$added" 0 "new chunks in a backup of an unchanged database"

# Two backups within a second: `latest` is the second.
assert_exit 0 pgd "${P[@]}" snapshots --json
latest_listed=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])' <"$LAST_STDOUT")
assert_eq "$latest_listed" "$second" "the newest snapshot is listed last"

# Row-level security that would hide rows from the backup role: exit 6, no snapshot.
psql_q edge "
  CREATE ROLE reader LOGIN;
  CREATE TABLE secret (id int PRIMARY KEY, owner text);
  INSERT INTO secret SELECT i, CASE WHEN i % 2 = 0 THEN 'reader' ELSE 'other' END
    FROM generate_series(1, 10) i;
  ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
  CREATE POLICY mine ON secret FOR SELECT USING (owner = current_user);
  GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;
  GRANT SELECT ON pg_largeobject_metadata TO reader;" >/dev/null
count_before=$(find "$REPO/snapshots" -type f | wc -l)
assert_exit 6 pgd "${P[@]}" backup --db "$(pg_conninfo edge) user=reader"
assert_contains "$LAST_STDERR" "row-level security" "message for a table hidden by row-level security"
assert_eq "$(find "$REPO/snapshots" -type f | wc -l)" "$count_before" "no snapshot after a refused backup"

# Restore refuses a non-empty target; --dry-run says what it would do and does nothing.
assert_exit 2 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge)"
assert_contains "$LAST_STDERR" "not empty" "message for a non-empty target"
# A database with no tables at all is not empty either when it holds a large object, a
# function or a schema: each is refused and named.
psql_q "CREATE DATABASE edge_lo"
psql_q edge_lo "SELECT lo_from_bytea(0, 'keep me'::bytea)" >/dev/null
assert_exit 2 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge_lo)"
assert_contains "$LAST_STDERR" "1 large objects" "message for a target holding only a large object"
psql_q edge_lo "SELECT lo_unlink(oid) FROM pg_largeobject_metadata" >/dev/null
psql_q edge_lo "CREATE FUNCTION public.keep() RETURNS int LANGUAGE sql AS 'SELECT 1'; CREATE SCHEMA kept"
assert_exit 2 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge_lo)"
assert_contains "$LAST_STDERR" "1 schemas, 1 functions" "message for a target holding a schema and a function"
psql_q "DROP DATABASE edge_lo"
# Nor when public holds only a collation, an operator or a text search configuration; --clean
# drops them with public's contents.
psql_q "CREATE DATABASE edge_misc"
psql_q edge_misc "CREATE COLLATION public.kept_c (LOCALE = 'C');
  CREATE OPERATOR public.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
  CREATE TEXT SEARCH CONFIGURATION public.kept_ts (COPY = simple)"
assert_exit 2 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge_misc)"
assert_contains "$LAST_STDERR" "1 collations, 1 operators, 1 text search objects" \
  "message for a target holding a collation, an operator and a text search configuration"
assert_exit 0 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge_misc)" --clean
assert_eq "$(psql_q edge_misc "SELECT count(*) FROM pg_collation WHERE collnamespace = 'public'::regnamespace")" 0 \
  "collations in public after --clean"
psql_q "DROP DATABASE edge_misc"
assert_exit 0 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge_dry)" --create --dry-run
assert_contains "$LAST_STDOUT" "would restore" "--dry-run prints its plan"
[[ -z "$(psql_q postgres "SELECT 1 FROM pg_database WHERE datname = 'edge_dry'")" ]] ||
  fail "--dry-run created the database"
# A stream snapshot cannot be restored into a database.
printf 'plain stream\n' | pgd -q "${P[@]}" backup --stdin --name s.txt
assert_exit 2 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_x)" --create
assert_contains "$LAST_STDERR" "not a native database backup" "message for a stream snapshot"

# --schema-only into a new database, then --data-only into it: the same as a full restore.
assert_exit 0 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge_split)" --create --schema-only
assert_eq "$(psql_q edge_split "SELECT count(*) FROM t")" 0 "rows after --schema-only"
assert_exit 0 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge_split)" --data-only
t_q="SELECT count(*), md5(string_agg(t::text, ',' ORDER BY id)) FROM t"
assert_eq "$(psql_q edge_split "$t_q")" "$(psql_q edge_restored "$t_q")" "table t after --data-only"
assert_eq "$(psql_q edge_split "$lo_q")" "$(psql_q edge "$lo_q")" "large objects after --data-only"
# ... and a second --data-only refuses to add the rows again.
assert_exit 2 pgd "${P[@]}" restore "$first" --db "$(pg_conninfo edge_split)" --data-only
assert_contains "$LAST_STDERR" "already holds rows" "message for --data-only into a filled table"

# backup --format pg_dump: one pg_dump archive, restored with pg_restore.
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge)" --format pg_dump --json
archive=$(python3 -c 'import json,sys; d=json.load(sys.stdin); assert [s["name"] for s in d["streams"]] == ["edge.dump"], d; print(d["snapshot_id"])' <"$LAST_STDOUT")
assert_exit 0 pgd "${P[@]}" restore "$archive" --db "$(pg_conninfo edge_archive)" --create
assert_eq "$(psql_q edge_archive "$t_q")" "$(psql_q edge "$t_q")" "table t from a pg_dump archive"
assert_eq "$(psql_q edge_archive "$lo_q")" "$(psql_q edge "$lo_q")" "large objects from a pg_dump archive"
# ANALYZE follows pg_restore, as it follows a native restore's loads.
assert_eq "$(psql_q edge_archive "SELECT analyze_count > 0 FROM pg_stat_user_tables WHERE relname = 't'")" t \
  "table t analyzed after a restore from a pg_dump archive"
assert_exit 0 pgd "${P[@]}" restore "$archive" --db "$(pg_conninfo edge_archive_na)" --create --no-analyze
assert_eq "$(psql_q edge_archive_na "$t_q")" "$(psql_q edge "$t_q")" "table t from a pg_dump archive, --no-analyze"
assert_eq "$(psql_q edge_archive_na "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 't'")" 0 \
  "table t analyzed after a restore from a pg_dump archive with --no-analyze"
psql_q postgres "DROP DATABASE edge_archive_na" >/dev/null
# --create --clean replaces it with a new database restored from the archive.
psql_q edge_archive "DELETE FROM t"
archive_oid=$(psql_q postgres "SELECT oid FROM pg_database WHERE datname = 'edge_archive'")
assert_exit 0 pgd "${P[@]}" restore "$archive" --db "$(pg_conninfo edge_archive)" --create --clean
assert_eq "$(psql_q edge_archive "$t_q")" "$(psql_q edge "$t_q")" "table t after --create --clean from a pg_dump archive"
[[ "$(psql_q postgres "SELECT oid FROM pg_database WHERE datname = 'edge_archive'")" != "$archive_oid" ]] ||
  fail "--create --clean from a pg_dump archive did not replace the database"
assert_eq "$(psql_q postgres "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgdedup\_restore\_%'")" 0 \
  "databases left behind by --create --clean from a pg_dump archive"
assert_exit 2 pgd "${P[@]}" backup --stdin --name x --format pg_dump </dev/null

# Indexes and constraints in a tablespace of their own come back there. pg_dump sets
# default_tablespace just before the first entry that needs a new value; the restore builds
# indexes and constraints on several connections, each entry with the settings in force at its
# place in the dump (here they alternate: a_pkey fast, b_pkey default, a_v fast, a_w default,
# b_a fast).
ts_dir=$TEST_TMP/pg/ts
mkdir -p "$ts_dir"
chown "$(stat -c %U "$TEST_TMP/pg/data"):" "$ts_dir"
chmod 0700 "$ts_dir"
psql_q postgres "CREATE TABLESPACE fast LOCATION '$ts_dir'" >/dev/null
run_t 60 createdb tsdb
psql_q tsdb "CREATE TABLE a (id int PRIMARY KEY USING INDEX TABLESPACE fast, v int, w int);
  INSERT INTO a SELECT g, g, g FROM generate_series(1, 1000) g;
  CREATE INDEX a_v ON a (v) TABLESPACE fast;
  CREATE INDEX a_w ON a (w);
  CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);
  INSERT INTO b SELECT g, g FROM generate_series(1, 500) g;
  CREATE INDEX b_a ON b (a_id) TABLESPACE fast;" >/dev/null
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo tsdb)" --jobs 2 --json
ts_snap=$(jq -r .snapshot_id "$LAST_STDOUT")
assert_exit 0 pgd "${P[@]}" restore "$ts_snap" --db "$(pg_conninfo tsdb_restored)" --create --jobs 2
ts_q="SELECT indexname, coalesce(tablespace, '-') FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
assert_eq "$(psql_q tsdb_restored "$ts_q")" "$(psql_q tsdb "$ts_q")" "index tablespaces"
[[ "$(psql_q tsdb_restored "$ts_q" | grep -c '|fast$')" == 3 ]] || fail "indexes in tablespace fast"
fk_q="SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'b'::regclass ORDER BY 1"
assert_eq "$(psql_q tsdb_restored "$fk_q")" "$(psql_q tsdb "$fk_q")" "constraints of b"
assert_eq "$(psql_q tsdb_restored 'SELECT count(*) FROM b')" 500 "rows of b"
run_t 60 dropdb tsdb_restored
run_t 60 dropdb tsdb
psql_q postgres "DROP TABLESPACE fast" >/dev/null

# Extended statistics (CREATE STATISTICS is in post-data, after the indexes): ANALYZE waits for
# them, so the restored database has their data, not only the objects.
run_t 60 createdb statdb
psql_q statdb "CREATE TABLE s (id int PRIMARY KEY, city text, zip text);
  INSERT INTO s SELECT g, 'city ' || (g % 50), 'zip ' || (g % 50) FROM generate_series(1, 5000) g;
  CREATE STATISTICS s_city_zip (dependencies, ndistinct) ON city, zip FROM s;
  ANALYZE s;" >/dev/null
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo statdb)" --jobs 2 --json
stat_snap=$(jq -r .snapshot_id "$LAST_STDOUT")
assert_exit 0 pgd "${P[@]}" restore "$stat_snap" --db "$(pg_conninfo statdb_restored)" --create --jobs 2
stat_q="SELECT x.stxname, d.stxdndistinct IS NOT NULL, d.stxddependencies IS NOT NULL
  FROM pg_statistic_ext x JOIN pg_statistic_ext_data d ON d.stxoid = x.oid ORDER BY 1"
assert_eq "$(psql_q statdb_restored "$stat_q")" "s_city_zip|t|t" "extended statistics after restore"
run_t 60 dropdb statdb_restored
run_t 60 dropdb statdb

# Drill: restores into a temporary database, verifies, reports phases, drops it.
assert_exit 0 pgd "${P[@]}" drill "$second" --db "$(pg_conninfo postgres)" --json
python3 - "$LAST_STDOUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is True and d["mismatches"] == [], d
for k in ("schema", "data", "post_data", "restore", "verify", "total"):
    assert d["seconds"][k] >= 0, d
assert d["tables"] == 1 and d["rows"] == 1000, d
PY
[[ -z "$(psql_q postgres "SELECT datname FROM pg_database WHERE datname LIKE 'pgdedup_drill_%'")" ]] ||
  fail "drill left its temporary database behind"

# A drill finds a restored database that differs from the snapshot through its own
# verification (each table's rows counted and hashed against the manifest), not only through
# damage that decryption catches. A psql wrapper changes the drill's database right after it
# runs post-data (known by its CREATE TRIGGER: a trigger is never built by the restore's own
# pipeline, so post-data goes through psql whatever --jobs): one row of "lost" deleted, one
# value of "changed" updated, "kept" left alone. The drill exits 4 naming both tables, the row
# counts of the first and the content of the second, in --json and in its log; without the
# wrapper the same drill passes.
psql_q postgres "CREATE DATABASE edge_drill" >/dev/null
psql_q edge_drill "
  CREATE TABLE changed (id int PRIMARY KEY, v text);
  CREATE TABLE kept (id int PRIMARY KEY, v text);
  CREATE TABLE lost (id int PRIMARY KEY, v text);
  INSERT INTO changed SELECT g, 'c' || g FROM generate_series(1, 100) g;
  INSERT INTO kept SELECT g, 'k' || g FROM generate_series(1, 100) g;
  INSERT INTO lost SELECT g, 'l' || g FROM generate_series(1, 100) g;
  CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN RETURN NEW; END\$\$;
  CREATE TRIGGER drill_marker BEFORE INSERT ON kept FOR EACH ROW EXECUTE FUNCTION noop();" >/dev/null
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge_drill)" --json
drill_snap=$(jq -r .snapshot_id "$LAST_STDOUT")
cat >"$TEST_TMP/tamper-psql" <<SH
#!/bin/sh
for a in "\$@"; do [ "\$a" = --version ] && exec psql "\$@"; done
script="$TEST_TMP/tamper-psql.\$\$.sql"
cat >"\$script"
psql "\$@" <"\$script" || exit \$?
if grep -qF 'CREATE TRIGGER "drill_marker"' "\$script"; then
  db=; prev=
  for a in "\$@"; do [ "\$prev" = -d ] && db=\$a; prev=\$a; done
  psql -X -q -v ON_ERROR_STOP=1 -d "\$db" -c "DELETE FROM public.lost WHERE id = 50" \
    -c "UPDATE public.changed SET v = 'tampered' WHERE id = 50" >/dev/null || exit 1
  echo "\$db" >>"$TEST_TMP/tampered"
fi
SH
chmod +x "$TEST_TMP/tamper-psql"
drill_mismatches=$(printf '%s\n' \
  "table \"public\".\"changed\": its content after the restore differs from the backup's" \
  "table \"public\".\"lost\": 99 rows after the restore, 100 in the backup")
PGDEDUP_PSQL="$TEST_TMP/tamper-psql" assert_exit 4 pgd "${P[@]}" drill "$drill_snap" \
  --db "$(pg_conninfo postgres)" --json
assert_eq "$(grep -c "dbname='pgdedup_drill_" "$TEST_TMP/tampered")" 1 \
  "the wrapper changed the drill's database once, after post-data"
assert_eq "$(jq -r '.ok, .tables, .rows' "$LAST_STDOUT" | paste -sd ' ')" "false 3 300" \
  "drill --json of a changed database: ok, tables and rows restored"
assert_eq "$(jq -r '.mismatches[]' "$LAST_STDOUT")" "$drill_mismatches" \
  "drill --json names the changed tables, and kept is not among them"
PGDEDUP_PSQL="$TEST_TMP/tamper-psql" assert_exit 4 pgd "${P[@]}" drill "$drill_snap" \
  --db "$(pg_conninfo postgres)"
assert_contains "$LAST_STDERR" 'table "public"."lost": 99 rows after the restore, 100 in the backup' \
  "drill's log names the table that lost a row"
assert_contains "$LAST_STDERR" 'table "public"."changed": its content after the restore differs' \
  "drill's log names the table whose content changed"
assert_contains "$LAST_STDERR" "drill FAILED: 2 of 3 tables do not match the backup" \
  "drill's verdict counts the mismatches"
assert_exit 0 pgd "${P[@]}" drill "$drill_snap" --db "$(pg_conninfo postgres)" --json
assert_eq "$(jq -c '[.ok, .mismatches]' "$LAST_STDOUT")" '[true,[]]' \
  "the same drill without the wrapper passes"
[[ -z "$(psql_q postgres "SELECT datname FROM pg_database WHERE datname LIKE 'pgdedup\_drill\_%'")" ]] ||
  fail "a drill that found mismatches left its temporary database behind"
psql_q postgres "DROP DATABASE edge_drill" >/dev/null

# A drill of a damaged repository fails (exit 4, naming the damage) and still cleans up: flip
# one byte in every pack, so whatever the snapshot reads first is damaged.
cp -a "$REPO" "$TEST_TMP/damaged"
for pack in $(find "$TEST_TMP/damaged/data" -type f); do
  size=$(stat -c %s "$pack")
  printf '\xff' | dd of="$pack" bs=1 seek=$((size / 3)) conv=notrunc status=none
done
assert_exit 4 pgd --repo "$TEST_TMP/damaged" --cache-dir "$TEST_TMP/cache-damaged" \
  drill "$second" --db "$(pg_conninfo postgres)"
assert_contains "$LAST_STDERR" "authentication failed" "drill names the damage"
[[ -z "$(psql_q postgres "SELECT datname FROM pg_database WHERE datname LIKE 'pgdedup_drill_%'")" ]] ||
  fail "a failed drill left its temporary database behind"

# A drill stopped by SIGTERM (a cron job's timeout) drops its temporary database on the way
# out, and ends as SIGTERM would. A psql that waits before it starts holds the drill in its
# pre-data step, after the database is created. pgdedup runs directly in the background (not
# through pgd, a shell function), so the signal reaches it. (The slow psql answers --version at
# once: a restore with --clean runs that before it creates anything.)
cat >"$TEST_TMP/slow-psql" <<'SH'
#!/bin/sh
for a in "$@"; do [ "$a" = --version ] && exec psql "$@"; done
echo $$ >"$SLOW_PSQL_PID"
i=0
while [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
exec psql "$@"
SH
chmod +x "$TEST_TMP/slow-psql"
SLOW_PSQL_PID="$TEST_TMP/slow-psql.pid" PGDEDUP_PSQL="$TEST_TMP/slow-psql" \
  "$PGDEDUP_BIN" "${P[@]}" drill "$second" --db "$(pg_conninfo postgres)" \
  >/dev/null 2>"$TEST_TMP/drill-term.err" &
drill_pid=$!
wait_until 300 test -s "$TEST_TMP/slow-psql.pid" || true
# (The drill's restore writes under a temporary name of its own until it is complete.)
drill_dbs="datname LIKE 'pgdedup\_drill\_%' OR datname LIKE 'pgdedup\_restore\_%'"
[[ -n "$(psql_q postgres "SELECT 1 FROM pg_database WHERE $drill_dbs")" ]] ||
  { cat "$TEST_TMP/drill-term.err" >&2; fail "the drill never created its temporary database"; }
stop_job TERM "$drill_pid"
# Checked while the slow psql still waits: only the interrupt could have dropped it.
gone=$(psql_q postgres "SELECT count(*) FROM pg_database WHERE $drill_dbs")
kill "$(cat "$TEST_TMP/slow-psql.pid")" 2>/dev/null || true
assert_eq "$STOPPED_RC" 143 "a drill stopped by SIGTERM ends as SIGTERM would"
assert_eq "$gone" 0 "a drill stopped by SIGTERM drops its temporary database"

# restore --create --clean stopped by SIGTERM part way: the database it was to replace is
# untouched (it is dropped only once the new one is complete), and the new one is dropped.
psql_q "CREATE DATABASE edge_keep"
psql_q edge_keep "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)"
keep_oid=$(psql_q postgres "SELECT oid FROM pg_database WHERE datname = 'edge_keep'")
SLOW_PSQL_PID="$TEST_TMP/slow-psql2.pid" PGDEDUP_PSQL="$TEST_TMP/slow-psql" \
  "$PGDEDUP_BIN" "${P[@]}" restore "$second" --db "$(pg_conninfo edge_keep)" --create --clean \
  >/dev/null 2>"$TEST_TMP/restore-term.err" &
restore_pid=$!
wait_until 300 test -s "$TEST_TMP/slow-psql2.pid" || true
[[ -n "$(psql_q postgres "SELECT 1 FROM pg_database WHERE datname LIKE 'pgdedup\_restore\_%'")" ]] ||
  { cat "$TEST_TMP/restore-term.err" >&2; fail "the restore never created its new database"; }
stop_job TERM "$restore_pid"
gone=$(psql_q postgres "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgdedup\_restore\_%'")
kill "$(cat "$TEST_TMP/slow-psql2.pid")" 2>/dev/null || true
assert_eq "$STOPPED_RC" 143 "a restore stopped by SIGTERM ends as SIGTERM would"
assert_eq "$gone" 0 "a restore --create --clean stopped by SIGTERM drops its new database"
assert_eq "$(psql_q postgres "SELECT oid FROM pg_database WHERE datname = 'edge_keep'")" "$keep_oid" \
  "the database an interrupted --create --clean was to replace"
assert_eq "$(psql_q edge_keep "SELECT x FROM precious")" 42 \
  "the rows of the database an interrupted --create --clean was to replace"
psql_q "DROP DATABASE edge_keep"

# A --create restore's working sessions commit without waiting for the WAL; the rename that
# puts its database in place makes their commits durable. A server that crashes and restarts in
# between may have lost the last of them: the restore sees the server's new start time before
# it renames, fails, and drops its database. Here a psql wrapper stops the server as a crash
# would (immediate) and starts it again before it runs the pre-data script.
cat >"$TEST_TMP/restart-psql" <<SH
#!/bin/sh
if [ ! -e "$TEST_TMP/restarted" ]; then
  touch "$TEST_TMP/restarted"
  "$SOURCE_DIR/scripts/pg-server.sh" stop "$TEST_TMP/pg" --immediate >/dev/null 2>&1
  "$SOURCE_DIR/scripts/pg-server.sh" start "$TEST_TMP/pg" >/dev/null 2>&1
fi
exec psql "\$@"
SH
chmod +x "$TEST_TMP/restart-psql"
PGDEDUP_PSQL="$TEST_TMP/restart-psql" assert_exit 6 pgd "${P[@]}" restore "$second" \
  --db "$(pg_conninfo edge_restarted)" --create
assert_contains "$LAST_STDERR" "the server restarted while the restore ran" \
  "a --create restore across a server restart"
assert_eq "$(psql_q postgres "SELECT count(*) FROM pg_database WHERE datname = 'edge_restarted' OR datname LIKE 'pgdedup\_restore\_%'")" 0 \
  "a --create restore across a server restart leaves no database"

# SIGTERM while CREATE DATABASE itself waits (here on a lock another session holds on template0):
# the CREATE is cancelled and waited for, so the server does not finish it after pgdedup is gone.
mkfifo "$TEST_TMP/hold.fifo"
sleep 60 >"$TEST_TMP/hold.fifo" &
hold_keeper=$!
psql -X -q -v ON_ERROR_STOP=1 -d postgres <"$TEST_TMP/hold.fifo" >"$TEST_TMP/hold.out" 2>&1 &
hold_psql=$!
exec 7>"$TEST_TMP/hold.fifo"
echo "BEGIN; COMMENT ON DATABASE template0 IS 'held by native_edge_test'; SELECT 'held';" >&7
wait_until 100 grep -q held "$TEST_TMP/hold.out" ||
  { cat "$TEST_TMP/hold.out" >&2; fail "could not hold a lock on template0"; }
"$PGDEDUP_BIN" "${P[@]}" restore "$second" --db "$(pg_conninfo edge_blocked)" --create \
  >/dev/null 2>"$TEST_TMP/restore-blocked.err" &
restore_pid=$!
create_waits() {
  [[ "$(psql_q postgres "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'CREATE DATABASE%'")" == 1 ]]
}
wait_until 100 create_waits || fail "no CREATE DATABASE waits for the held lock"
stop_job TERM "$restore_pid"
restore_rc=$STOPPED_RC
echo "ROLLBACK;" >&7
exec 7>&-
wait "$hold_psql" || true
kill "$hold_keeper" 2>/dev/null || true
sleep 1  # a CREATE the server went on with would be done by now
assert_eq "$restore_rc" 143 "a restore stopped by SIGTERM during CREATE DATABASE"
assert_eq "$(psql_q postgres "SELECT count(*) FROM pg_database WHERE datname = 'edge_blocked' OR left(datname, 16) = 'pgdedup_restore_'")" 0 \
  "databases after a restore stopped during CREATE DATABASE"

# kill -9 cannot be cleaned up after, but even then no half-restored database stands under the
# name asked for: the restore writes under a temporary name, renamed only when complete. The
# next restore names what was left.
rm -f "$TEST_TMP/slow-psql2.pid"
SLOW_PSQL_PID="$TEST_TMP/slow-psql2.pid" PGDEDUP_PSQL="$TEST_TMP/slow-psql" \
  "$PGDEDUP_BIN" "${P[@]}" restore "$second" --db "$(pg_conninfo edge_killed)" --create \
  >/dev/null 2>"$TEST_TMP/restore-kill.err" &
restore_pid=$!
wait_until 300 test -s "$TEST_TMP/slow-psql2.pid" ||
  { cat "$TEST_TMP/restore-kill.err" >&2; fail "the restore to kill never reached pre-data"; }
stop_job KILL "$restore_pid"
kill "$(cat "$TEST_TMP/slow-psql2.pid")" 2>/dev/null || true
assert_eq "$(psql_q postgres "SELECT count(*) FROM pg_database WHERE datname = 'edge_killed'")" 0 \
  "databases under the asked name after a restore killed with kill -9"
left=$(psql_q postgres "SELECT datname FROM pg_database WHERE datname LIKE 'pgdedup\_restore\_%'")
[[ -n "$left" ]] || fail "a restore killed with kill -9 left no temporary database (was it ever created?)"
assert_exit 0 pgd "${P[@]}" restore "$second" --db "$(pg_conninfo edge_killed)" --create
assert_contains "$LAST_STDERR" "$left" "the next restore names the database a killed one left"
psql_q "DROP DATABASE $left"
psql_q "DROP DATABASE edge_killed"

# An ALTER TABLE during a backup waits behind the backup's locks; pg_dump (post-data, here made
# to start late) would then wait behind the ALTER for ever, and every query on the table behind
# both. The backup stops instead (exit 6, saying why), and the ALTER goes through.
psql_q postgres "CREATE DATABASE edge_ddl" >/dev/null
psql_q edge_ddl "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)" >/dev/null
{
  echo '#!/bin/bash'
  echo 'for a in "$@"; do'
  echo "  if [[ \"\$a\" == --section=post-data ]]; then touch '$TEST_TMP/post-data-started'; sleep 3; fi"
  echo 'done'
  echo "exec '$(command -v pg_dump)' \"\$@\""
} >"$TEST_TMP/late-pg_dump"
chmod +x "$TEST_TMP/late-pg_dump"
PGDEDUP_PG_DUMP=$TEST_TMP/late-pg_dump run_t 120 "$PGDEDUP_BIN" "${P[@]}" backup \
  --db "$(pg_conninfo edge_ddl)" >/dev/null 2>"$TEST_TMP/ddl-backup.err" &
ddl_backup=$!
wait_until 300 test -e "$TEST_TMP/post-data-started" || fail "the post-data dump never started"
run_t 120 psql -X -q -d edge_ddl -c "ALTER TABLE t ADD COLUMN extra int" >/dev/null 2>&1 &
alter=$!
alter_waits() {
  [[ $(psql_q edge_ddl "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 't'::regclass") -ge 1 ]]
}
wait_until 100 alter_waits || fail "the ALTER TABLE never waited for the backup"
rc=0
wait "$ddl_backup" || rc=$?
assert_eq "$rc" 6 "exit status of a backup whose pg_dump met a waiting ALTER TABLE"
assert_contains "$(cat "$TEST_TMP/ddl-backup.err")" "lock" "the backup says it stopped on a lock"
wait "$alter" || fail "the ALTER TABLE did not go through after the backup stopped"
assert_eq "$(psql_q edge_ddl "SELECT count(*) FROM information_schema.columns
                              WHERE table_name = 't' AND column_name = 'extra'")" 1 "the ALTER TABLE's column"
psql_q postgres "DROP DATABASE edge_ddl" >/dev/null

# An extension's configuration tables (pg_extension_config_dump: pg_partman's part_config and
# part_config_sub, which references it) are copied with the rows the extension's condition
# picks, and come back into the tables CREATE EXTENSION makes, a table after the one it
# references (the catalog lists them the other way round here); drill verifies them. --table
# refuses such a table, saying how to get its rows. An extension's configuration sequence has
# its value saved.
[[ -e "$(pg_config --sharedir)/extension/pg_partman.control" ]] ||
  fail "pg_partman is not installed: run scripts/install-deps.sh"
psql_q postgres "CREATE DATABASE edge_ext" >/dev/null
run_t 120 psql -X -q -v ON_ERROR_STOP=1 -d edge_ext \
  -c "CREATE SCHEMA partman" -c "CREATE EXTENSION pg_partman SCHEMA partman" \
  -c "CREATE TABLE public.events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at)" \
  -c "SELECT partman.create_parent('public.events', 'at', 'native', 'daily', p_premake := 2,
        p_start_partition := '2026-11-28')" \
  -c "INSERT INTO events SELECT g, '2026-11-28'::timestamptz + g * interval '1 minute'
        FROM generate_series(1, 3000) g" \
  -c "CREATE TABLE public.items (id bigint NOT NULL) PARTITION BY RANGE (id)" \
  -c "SELECT partman.create_parent('public.items', 'id', 'native', '100', p_premake := 1,
        p_start_partition := '0')" \
  -c "SELECT partman.create_sub_parent('public.items', 'id', 'native', '50', p_premake := 1,
        p_native_check := 'yes')" \
  -c "UPDATE pg_extension SET extconfig = ARRAY['partman.part_config_sub'::regclass,
        'partman.custom_time_partitions'::regclass, 'partman.part_config'::regclass]::oid[]
      WHERE extname = 'pg_partman'" >/dev/null || fail "making the pg_partman database"
assert_eq "$(psql_q edge_ext "SELECT count(*) FROM partman.part_config")" 4 "part_config rows"
assert_eq "$(psql_q edge_ext "SELECT count(*) FROM partman.part_config_sub")" 1 "part_config_sub rows"
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge_ext)" --json
order=$(jq -r '[.streams[].name] | join(" ")' "$LAST_STDOUT")
assert_contains "$order" '"partman"."part_config" "partman"."part_config_sub"' \
  "a configuration table's stream comes after the one it references"
assert_exit 0 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ext_r)" --create --dry-run
assert_contains "$LAST_STDOUT" "configuration of extension pg_partman: \"partman\".\"part_config\": 4 rows" \
  "--dry-run names the configuration it would restore"
assert_exit 0 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ext_r)" --create
partman_state() {
  psql_q "$1" "SELECT (SELECT md5(string_agg(c::text, '|' ORDER BY c::text)) FROM partman.part_config c)
    || ' ' || (SELECT md5(string_agg(c::text, '|' ORDER BY c::text)) FROM partman.part_config_sub c)
    || ' ' || (SELECT count(*) FROM events) || ' ' || (SELECT count(*) FROM pg_class WHERE relname LIKE 'items%')"
}
assert_eq "$(partman_state edge_ext_r)" "$(partman_state edge_ext)" \
  "pg_partman's configuration and the tables it manages, restored"
# pg_partman works on the restored database: its maintenance reads part_config.
run_t 60 psql -X -q -v ON_ERROR_STOP=1 -d edge_ext_r -c "SELECT partman.run_maintenance()" >/dev/null ||
  fail "pg_partman's maintenance on the restored database"
assert_exit 0 pgd "${P[@]}" drill latest --db "$(pg_conninfo postgres)" --json
assert_eq "$(jq -c .mismatches "$LAST_STDOUT")" "[]" "drill verifies the configuration tables"
assert_exit 2 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ext_r)" --table partman.part_config
assert_contains "$LAST_STDERR" "is configuration of extension pg_partman" \
  "--table says a configuration table comes with the whole database"
# --schema-only then --data-only: the configuration rows come with the data; a second
# --data-only, once the tables are emptied, is refused for the configuration rows.
assert_exit 0 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ext_s)" --create --schema-only
assert_eq "$(psql_q edge_ext_s "SELECT count(*) FROM partman.part_config")" 0 "--schema-only: no configuration rows"
assert_exit 0 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ext_s)" --data-only
assert_eq "$(partman_state edge_ext_s)" "$(partman_state edge_ext)" "--schema-only, then --data-only"
psql_q edge_ext_s "TRUNCATE events, items" >/dev/null
assert_exit 2 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ext_s)" --data-only
assert_contains "$LAST_STDERR" "configuration of extension pg_partman, already holds rows" \
  "--data-only refuses to add configuration rows twice"
# The target's extension is another version whose configuration table does not take the
# backup's rows (an extra column here): the restore completes without them, says so, and
# names them in --json; drill reports them missing. With the same version, such a failure
# fails the restore.
psql_q edge_ext "ALTER TABLE partman.part_config ADD COLUMN legacy int DEFAULT 1" >/dev/null
psql_q edge_ext "UPDATE pg_extension SET extversion = '4.6.0' WHERE extname = 'pg_partman'" >/dev/null
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge_ext)"
assert_exit 0 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ext_v)" --create --json
assert_eq "$(jq -r .analyzed "$LAST_STDOUT")" true "restore --json: analyzed"
assert_eq "$(jq -c .skipped_tables "$LAST_STDOUT")" '["\"partman\".\"part_config\"","\"partman\".\"part_config_sub\""]' \
  "--json names the configuration tables not restored"
assert_contains "$LAST_STDERR" "are NOT restored: the backup is of version 4.6.0" "the warning says why"
assert_contains "$LAST_STDERR" "--stream '\"partman\".\"part_config\"' --output -" "and how to get the rows"
assert_eq "$(psql_q edge_ext_v "SELECT count(*) FROM events")" 3000 "the rest of the database is restored"
assert_exit 4 pgd "${P[@]}" drill latest --db "$(pg_conninfo postgres)" --json
assert_contains "$LAST_STDOUT" "part_config" "drill reports the configuration rows missing"
psql_q edge_ext "UPDATE pg_extension SET extversion = '4.7.2' WHERE extname = 'pg_partman'" >/dev/null
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge_ext)"
rc=0
pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ext_w)" --create >/dev/null 2>"$TEST_TMP/ext_w.err" || rc=$?
[[ $rc -ne 0 ]] || fail "a configuration load that fails with the same extension version fails the restore"
assert_contains "$TEST_TMP/ext_w.err" "configuration of extension pg_partman" "the failure names the extension"
assert_eq "$(psql_q postgres "SELECT count(*) FROM pg_database WHERE datname = 'edge_ext_w'")" 0 \
  "the failed restore leaves no database"
psql_q edge_ext "ALTER TABLE partman.part_config DROP COLUMN legacy" >/dev/null
# A configuration sequence (added to the extension by hand: pg_partman has none).
run_t 60 psql -X -q -v ON_ERROR_STOP=1 -d edge_ext -c "CREATE SEQUENCE partman.job_seq" \
  -c "SELECT setval('partman.job_seq', 41)" \
  -c "ALTER EXTENSION pg_partman ADD SEQUENCE partman.job_seq" \
  -c "UPDATE pg_extension SET extconfig = extconfig || 'partman.job_seq'::regclass::oid,
        extcondition = extcondition || ''::text WHERE extname = 'pg_partman'" >/dev/null ||
  fail "adding a configuration sequence"
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge_ext)"
assert_exit 0 pgd "${P[@]}" restore latest --stream sequences.sql --output -
assert_contains "$LAST_STDOUT" "setval('partman.job_seq', 41, true)" \
  "an extension's configuration sequence has its value saved"
for db in edge_ext edge_ext_r edge_ext_s edge_ext_v; do psql_q postgres "DROP DATABASE $db" >/dev/null; done

# A SQL_ASCII database holding bytes that are not UTF-8 (Latin-1 left by an old application):
# backed up and restored byte for byte, drilled, and one table brought back with --table.
psql_q postgres "CREATE DATABASE edge_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'
                 TEMPLATE template0" >/dev/null
run_t 60 psql -X -q -v ON_ERROR_STOP=1 -d edge_ascii \
  -c "CREATE TABLE t (id int PRIMARY KEY, v text)" \
  -c "INSERT INTO t VALUES (1, convert_from('\\x636166e9'::bytea, 'SQL_ASCII')), (2, 'plain'),
        (3, convert_from('\\xfffe41'::bytea, 'SQL_ASCII'))" >/dev/null ||
  fail "making the SQL_ASCII database"
ascii_rows() { psql_q "$1" "SELECT string_agg(id || ':' || encode(convert_to(v, 'SQL_ASCII'), 'hex'), ',' ORDER BY id) FROM t"; }
assert_contains "$(ascii_rows edge_ascii)" "1:636166e9" "the SQL_ASCII database holds a Latin-1 byte"
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge_ascii)"
assert_exit 0 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ascii_r)" --create
assert_eq "$(ascii_rows edge_ascii_r)" "$(ascii_rows edge_ascii)" "SQL_ASCII bytes restored as they were"
assert_exit 0 pgd "${P[@]}" drill latest --db "$(pg_conninfo postgres)"
psql_q edge_ascii_r "DROP TABLE t" >/dev/null
assert_exit 0 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ascii_r)" --table t
assert_eq "$(ascii_rows edge_ascii_r)" "$(ascii_rows edge_ascii)" "--table in a SQL_ASCII database"
# Into an existing UTF8 database those bytes cannot go: the failure says why and what to do.
psql_q postgres "CREATE DATABASE edge_ascii_utf8 ENCODING 'UTF8' TEMPLATE template0" >/dev/null
assert_exit 6 pgd "${P[@]}" restore latest --db "$(pg_conninfo edge_ascii_utf8)"
assert_contains "$LAST_STDERR" 'invalid byte sequence for encoding "UTF8"'
assert_contains "$LAST_STDERR" "the snapshot is of a SQL_ASCII database"
psql_q postgres "DROP DATABASE edge_ascii_utf8" >/dev/null
psql_q postgres "DROP DATABASE edge_ascii" >/dev/null
psql_q postgres "DROP DATABASE edge_ascii_r" >/dev/null

# A snapshot whose post-data holds only what the restore's pipeline builds itself (each table's
# indexes and constraints, foreign keys) runs psql once, for pre-data: post-data leaves nothing
# for a second run, whose session settings alone would do nothing.
psql_q postgres "CREATE DATABASE edge_plain" >/dev/null
psql_q edge_plain "CREATE TABLE a (id int PRIMARY KEY);
  CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a, v text);
  CREATE INDEX b_v ON b (v);
  INSERT INTO a SELECT generate_series(1, 100);
  INSERT INTO b SELECT g, g, 'v' || g FROM generate_series(1, 100) g" >/dev/null
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo edge_plain)" --json
plain_snap=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$LAST_STDOUT")
cat >"$TEST_TMP/counting-psql" <<SH
#!/bin/sh
for a in "\$@"; do [ "\$a" = --version ] && exec psql "\$@"; done
echo run >>"$TEST_TMP/psql-runs"
exec psql "\$@"
SH
chmod +x "$TEST_TMP/counting-psql"
PGDEDUP_PSQL="$TEST_TMP/counting-psql" assert_exit 0 pgd "${P[@]}" restore "$plain_snap" \
  --db "$(pg_conninfo edge_plain_r)" --create --jobs 2
assert_eq "$(wc -l <"$TEST_TMP/psql-runs")" 1 "psql runs of a restore whose post-data the pipeline took whole"
plain_q="SELECT (SELECT count(*) FROM b) || ':' || (SELECT string_agg(conname || '/' || contype, ',' ORDER BY conname)
  FROM pg_constraint WHERE conrelid IN ('a'::regclass, 'b'::regclass)) || ':' ||
  (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename IN ('a', 'b'))"
assert_eq "$(psql_q edge_plain_r "$plain_q")" "$(psql_q edge_plain "$plain_q")" \
  "the restored tables, constraints and indexes"
pass
