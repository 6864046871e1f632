#!/usr/bin/env bash
# Restores into an existing database, and the source database's failures:
#   - `restore --table`: a table that holds rows is refused (exit 2) and left alone; a dropped
#     table comes back with its rows, sequence, indexes, constraints, trigger and foreign keys,
#     the same as in the source, catalog for catalog; --clean replaces a table's rows; a table
#     other tables reference is refused with --clean; a dropped partitioned table comes back
#     with its partitions; an unknown table is exit 2; --dry-run changes nothing; the triggers
#     of an existing table do not fire for restored rows and keep their modes; SIGTERM part way
#     drops the tables the restore had created (and ends no other session), SIGKILL while a
#     table is created leaves nothing, and the next attempt restores them whole.
#   - `restore --clean` without --create: a non-empty database is emptied (in one transaction)
#     and restored, the same as the source.
#   - a wrong database password is exit 6 with the server's message (a role with SCRAM auth);
#     pg_dump's warnings for such a role (subscriptions not dumped) are shown.
#   - a table dropped while the backup waits for its lock: exit 6, no snapshot.
#   - a pg_dump older than the server (a wrapper answering --version with 11): exit 6 naming
#     both versions, pg_dump run for nothing but --version, no snapshot.
#   - `restore --stream '"public"."ledger"' --output -` prints the table's rows byte for byte
#     as COPY of SELECT * ordered by its primary key (a two-column key out of column order,
#     rows stored out of key order); `--stream post-data.sql` holds its primary key and index,
#     which pre-data.sql does not.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/pg_state.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg_state.sh"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
S=$TEST_TMP/state
mkdir -p "$S"
p() { pgd --repo "$REPO" --cache-dir "$CACHE" "$@"; }
snapshot_count() { p snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
# table_state DB TABLE: the table's definition (pg_dump -s -t) and its rows, sorted.
table_state() {
  run_t 60 pg_dump --schema-only -d "$1" -t "$2" | grep -Ev '^(-- Dumped|\\(un)?restrict )'
  psql_q "$1" "COPY (SELECT * FROM ONLY $2) TO STDOUT" | LC_ALL=C sort
}

start_pg
run_t 60 createdb awk
run_t 120 psql -X -q -v ON_ERROR_STOP=1 -d awk -f "$SOURCE_DIR/tests/integration/fixtures/awkward.sql" >/dev/null ||
  fail "loading the fixture failed"
db_state awk "$S/awk"
assert_exit 0 p init --kdf interactive
assert_exit 0 p backup --db "$(pg_conninfo awk)"
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --create

# --- A table that holds rows is refused, and left alone -------------------------------------
table_state t1 public.customers >"$S/customers-before"
assert_exit 2 p restore latest --db "$(pg_conninfo t1)" --table public.customers
assert_contains "$LAST_STDERR" "already holds rows" "refusing a table with rows"
assert_contains "$LAST_STDERR" "--clean" "the refusal names --clean"
table_state t1 public.customers >"$S/customers-after"
cmp -s "$S/customers-before" "$S/customers-after" || fail "a refused --table changed the table"

assert_exit 2 p restore latest --db "$(pg_conninfo t1)" --table no_such_table
assert_contains "$LAST_STDERR" "no such table" "an unknown table"
assert_exit 2 p restore latest --db "$(pg_conninfo t1)" --table customers --create
assert_exit 2 p restore latest --db "$(pg_conninfo t1)" --table '"Sales"."Ordérs"' --clean
assert_contains "$LAST_STDERR" "referenced by foreign keys" "--clean of a referenced table"

# --- A dropped table comes back as it was ----------------------------------------------------
# "Sales"."Ordérs": identity key, generated column, enum, trigger, indexes, a foreign key to
# customers, and order_lines' foreign key to it (dropped with it, not restored: it belongs to
# order_lines); the views on it are gone for good (they are not part of the table).
table_state awk '"Sales"."Ordérs"' >"$S/orders-source"
psql_q t1 'DROP TABLE "Sales"."Ordérs" CASCADE' >/dev/null 2>&1
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table '"Sales"."Ordérs"' --dry-run
assert_contains "$LAST_STDOUT" 'create table "Sales"."Ordérs": load 1500 rows' "dry run of a missing table"
assert_eq "$(psql_q t1 "SELECT to_regclass('\"Sales\".\"Ordérs\"') IS NULL")" t "--dry-run created nothing"
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table '"Sales"."Ordérs"' --json
assert_eq "$(jpy "$LAST_STDOUT" 'd["rows"]')" 1500 "rows restored (--json)"
table_state t1 '"Sales"."Ordérs"' >"$S/orders-restored"
diff "$S/orders-source" "$S/orders-restored" >&2 || fail "the restored table differs from the source"
assert_eq "$(psql_q t1 "SELECT last_value FROM \"Sales\".\"Ordérs_OrderId_seq\"")" \
  "$(psql_q awk "SELECT last_value FROM \"Sales\".\"Ordérs_OrderId_seq\"")" "the identity sequence"
assert_eq "$(psql_q t1 "INSERT INTO \"Sales\".\"Ordérs\" (customer_id, qty, unit_price, placed_at)
                       VALUES (1, 2, 1.25, '2024-12-31') RETURNING \"OrderId\" || ' ' || total")" "1501 2.50" \
  "identity and generated column after a table restore"
assert_eq "$(psql_q t1 "SELECT count(*) FROM app.audit WHERE order_id = 1501")" 1 "the trigger fires"
assert_exit 1 psql -X -q -v ON_ERROR_STOP=1 -d t1 -c "INSERT INTO \"Sales\".\"Ordérs\" (customer_id, qty, unit_price, placed_at) VALUES (99999, 1, 1, now())"
assert_contains "$LAST_STDERR" "foreign key" "the table's own foreign key is back"

# An identity-keyed table, restored with --clean over changed rows.
psql_q t1 "UPDATE app.settings_kv SET value = 'changed' WHERE id % 2 = 0; DELETE FROM app.settings_kv WHERE id % 3 = 0" >/dev/null
table_state awk app.settings_kv >"$S/kv-source"
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table app.settings_kv --clean
table_state t1 app.settings_kv >"$S/kv-restored"
diff "$S/kv-source" "$S/kv-restored" >&2 || fail "--table --clean did not bring back the snapshot's rows"

# A partitioned table comes back with its partitions (and their indexes attached).
psql_q t1 "DROP TABLE app.measurements CASCADE" >/dev/null 2>&1
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table app.measurements
assert_eq "$(psql_q t1 "SELECT count(*) FROM app.measurements")" 906 "rows of the partitioned table"
for t in app.measurements app.measurements_2023 'app."Measurements 2024"' app.measurements_default; do
  table_state awk "$t" >"$S/part-source"
  table_state t1 "$t" >"$S/part-restored"
  diff "$S/part-source" "$S/part-restored" >&2 || fail "partition $t differs from the source"
done

# --clean of a partitioned table replaces every partition's rows, or none: a partition whose
# load fails (the last one loaded, refusing every row) leaves the others as they were.
psql_q t1 "DROP TABLE app.measurement_notes; UPDATE app.measurements SET sensor = 'changed'" >/dev/null
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table app.measurements --clean --dry-run
last=$(grep -o 'table .*: replace its rows' "$LAST_STDOUT" | tail -1 | sed 's/^table //; s/: replace its rows$//')
[[ -n "$last" ]] || { cat "$LAST_STDOUT" >&2; fail "--dry-run listed no partition to replace"; }
psql_q t1 "ALTER TABLE $last ADD CONSTRAINT refuse_all CHECK (false) NOT VALID" >/dev/null
assert_fails p restore latest --db "$(pg_conninfo t1)" --table app.measurements --clean
assert_eq "$(psql_q t1 "SELECT count(*) FROM app.measurements WHERE sensor <> 'changed'")" 0 \
  "a failed --clean of a partitioned table changed no partition"
psql_q t1 "ALTER TABLE $last DROP CONSTRAINT refuse_all" >/dev/null
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table app.measurements --clean
assert_eq "$(psql_q t1 "SELECT count(*) FROM app.measurements WHERE sensor = 'changed'")" 0 \
  "--clean of a partitioned table brings back every partition's rows"

# --- An interrupted --table leaves no table behind -------------------------------------------
# "Sales"."Ordérs" is created, loaded and indexed; its foreign key to customers then waits for a
# lock another session holds. SIGTERM there: the table is dropped again (a later attempt would
# otherwise find it existing and empty, and load it without the steps that had not run), and
# the other session is left alone.
psql_q t1 'DROP TABLE "Sales"."Ordérs" CASCADE' >/dev/null 2>&1
run_t 700 psql -X -q -d t1 -c "BEGIN; LOCK TABLE public.customers IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600); COMMIT;" >/dev/null 2>&1 &
locker=$!
locked() { # SCHEMA.TABLE: another session holds an ACCESS EXCLUSIVE lock on it
  [[ $(psql_q t1 "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND granted
                  AND mode = 'AccessExclusiveLock' AND relation = '$1'::regclass") == 1 ]]
}
waits_for_lock() { # a session of the restore waits for a lock (its statement may be longer than
  # pg_stat_activity shows)
  [[ $(psql_q postgres "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                        AND application_name = 'pgdedup'") -ge 1 ]]
}
release_locks() {
  psql_q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                   WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()" >/dev/null
  wait "$locker" 2>/dev/null || true
}
wait_until 100 locked public.customers || fail "the lock on customers was never taken"
# Not under `timeout`: the signal must reach pgdedup itself, and its cleanup end before it exits.
"$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" restore latest --db "$(pg_conninfo t1)" \
  --table '"Sales"."Ordérs"' >"$S/interrupted.out" 2>"$S/interrupted.err" &
restorer=$!
wait_until 600 waits_for_lock ||
  { cat "$S/interrupted.err" >&2; release_locks; fail "the foreign key never waited for the lock"; }
stop_job TERM "$restorer"
assert_eq "$STOPPED_RC" 143 "exit status of a --table restore stopped by SIGTERM"
assert_contains "$(cat "$S/interrupted.err")" "dropped the tables this restore had created" \
  "the interrupted restore says what it dropped"
assert_eq "$(psql_q t1 "SELECT to_regclass('\"Sales\".\"Ordérs\"') IS NULL")" t \
  "an interrupted --table restore left no table"
locked public.customers || fail "the interrupted restore ended another session"
release_locks
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table '"Sales"."Ordérs"'
table_state t1 '"Sales"."Ordérs"' >"$S/orders-after-interrupt"
diff "$S/orders-source" "$S/orders-after-interrupt" >&2 ||
  fail "the table restored after an interrupted attempt differs from the source"

# A failure after a table was created and committed (the load of another, existing table
# fails): the created table is dropped again.
psql_q t1 'DROP TABLE "Sales"."Ordérs" CASCADE' >/dev/null 2>&1
psql_q t1 "TRUNCATE app.settings_kv" >/dev/null
psql_q t1 "ALTER TABLE app.settings_kv ADD CONSTRAINT refuse_all CHECK (false) NOT VALID" >/dev/null
assert_fails p restore latest --db "$(pg_conninfo t1)" --table '"Sales"."Ordérs"' --table app.settings_kv
assert_contains "$LAST_STDERR" "the tables this restore had created were dropped again" \
  "a failed --table restore drops the tables it created"
assert_eq "$(psql_q t1 "SELECT to_regclass('\"Sales\".\"Ordérs\"') IS NULL")" t \
  "a failed --table restore left the table it created"
psql_q t1 "ALTER TABLE app.settings_kv DROP CONSTRAINT refuse_all" >/dev/null
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table '"Sales"."Ordérs"' --table app.settings_kv
table_state t1 '"Sales"."Ordérs"' >"$S/orders-after-failure"
diff "$S/orders-source" "$S/orders-after-failure" >&2 ||
  fail "the table restored after a failed attempt differs from the source"
table_state t1 app.settings_kv >"$S/kv-after-failure"
diff "$S/kv-source" "$S/kv-after-failure" >&2 || fail "app.settings_kv after a failed attempt"

# kill -9 while a partition of an existing table is being created (its ATTACH waits for a lock
# on the parent): the creation, load and indexes are one transaction, which the server rolls
# back; nothing is left, and the next attempt restores the partition whole.
table_state awk app.measurements_2023 >"$S/partition-source"
psql_q t1 "DROP TABLE app.measurements_2023" >/dev/null
run_t 700 psql -X -q -d t1 -c "BEGIN; LOCK TABLE app.measurements IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600); COMMIT;" >/dev/null 2>&1 &
locker=$!
wait_until 100 locked app.measurements || fail "the lock on measurements was never taken"
"$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" restore latest --db "$(pg_conninfo t1)" \
  --table app.measurements_2023 >"$S/killed.out" 2>"$S/killed.err" &
restorer=$!
wait_until 600 waits_for_lock ||
  { cat "$S/killed.err" >&2; release_locks; fail "the partition's ATTACH never waited for the lock"; }
stop_job KILL "$restorer"
assert_eq "$STOPPED_RC" 137 "exit status of a --table restore killed with SIGKILL"
release_locks
# The server ends the killed restore's session when it notices the closed connection.
gone() { [[ $(psql_q postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgdedup'") == 0 ]]; }
wait_until 100 gone || fail "the killed restore's session stayed"
assert_eq "$(psql_q t1 "SELECT to_regclass('app.measurements_2023') IS NULL")" t \
  "a --table restore killed with SIGKILL left no partition"
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table app.measurements_2023
table_state t1 app.measurements_2023 >"$S/partition-restored"
diff "$S/partition-source" "$S/partition-restored" >&2 ||
  fail "the partition restored after a killed attempt differs from the source"

# Every partition of an existing partitioned table missing: they are created and loaded, and
# the parent's own sequence is set too.
parts=$(psql_q t1 "SELECT string_agg(inhrelid::regclass::text, ', ') FROM pg_inherits
                   WHERE inhparent = 'app.measurements'::regclass")
psql_q t1 "DROP TABLE $parts" >/dev/null
psql_q t1 "SELECT setval('app.measurements_id_seq', 1)" >/dev/null
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --table app.measurements
assert_eq "$(psql_q t1 "SELECT count(*) FROM app.measurements")" 906 "rows of the re-created partitions"
assert_eq "$(psql_q t1 "SELECT last_value FROM app.measurements_id_seq")" \
  "$(psql_q awk "SELECT last_value FROM app.measurements_id_seq")" "the existing parent's sequence"

# --- --clean without --create: everything in the database is replaced ---------------------
psql_q t1 "CREATE TABLE stray (x int); INSERT INTO stray VALUES (1); CREATE SCHEMA extra;
           CREATE TABLE extra.t (y text); SELECT lo_create(0);" >/dev/null
assert_exit 2 p restore latest --db "$(pg_conninfo t1)"
assert_contains "$LAST_STDERR" "is not empty" "restore into a non-empty database"
assert_exit 2 p restore latest --db "$(pg_conninfo template1)" --clean
assert_contains "$LAST_STDERR" "template database" "--clean refuses a template database"
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --clean --dry-run
assert_contains "$LAST_STDOUT" 'clean database "t1"' "--clean --dry-run says what it drops"
assert_eq "$(psql_q t1 "SELECT count(*) FROM stray")" 1 "--dry-run dropped nothing"
assert_exit 0 p restore latest --db "$(pg_conninfo t1)" --clean
db_state t1 "$S/t1-clean"
compare_state "$S/awk" "$S/t1-clean" "restore --clean into an existing database"
assert_eq "$(psql_q t1 "SELECT count(*) FROM pg_largeobject_metadata")" 0 "large objects of the old contents"

# --- A wrong database password: exit 6 and the server's message ------------------------------
psql_q postgres "CREATE ROLE secret_user LOGIN PASSWORD 'right-password'; GRANT pg_read_all_data TO secret_user;" >/dev/null
hba=$TEST_TMP/pg/data/pg_hba.conf
{ echo "local all secret_user scram-sha-256"; echo "host all secret_user 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$hba.new"
cat "$hba.new" >"$hba"
psql_q postgres "SELECT pg_reload_conf()" >/dev/null
sleep 1
n_before=$(snapshot_count)
assert_exit 6 p backup --db "host=$PGHOST port=$PGPORT dbname=awk user=secret_user password=wrong-password"
assert_contains "$LAST_STDERR" "password authentication failed" "a wrong database password"
# ... and what pg_dump leaves out for such a role (subscriptions) is said, not dropped silently.
psql_q awk "CREATE SUBSCRIPTION pgdedup_sub CONNECTION 'dbname=nowhere' PUBLICATION p WITH (connect = false)" >/dev/null
assert_exit 0 p backup --db "host=$PGHOST port=$PGPORT dbname=awk user=secret_user password=right-password"
assert_contains "$LAST_STDERR" "subscriptions not dumped" "pg_dump's warning reaches the operator"
psql_q awk "ALTER SUBSCRIPTION pgdedup_sub SET (slot_name = NONE)" >/dev/null
psql_q awk "DROP SUBSCRIPTION pgdedup_sub" >/dev/null
assert_eq "$(snapshot_count)" "$((n_before + 1))" "snapshots after a wrong and a right password"

# --- A table that vanishes while the backup waits for its lock: exit 6, no snapshot ----------
psql_q awk "CREATE TABLE doomed (id int PRIMARY KEY); INSERT INTO doomed VALUES (1)" >/dev/null
n_before=$(snapshot_count)
# The drop holds its lock for 4 s; the backup lists the table, waits for the lock, and then
# finds the table gone.
run_t 60 psql -X -q -d awk -c "BEGIN; DROP TABLE doomed; SELECT pg_sleep(4); COMMIT;" >/dev/null &
dropper=$!
for _ in $(seq 1 50); do
  [[ $(psql_q postgres "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%DROP TABLE doomed%' AND pid <> pg_backend_pid()") == 1 ]] && break
  sleep 0.1
done
assert_exit 6 p backup --db "$(pg_conninfo awk)"
assert_contains "$LAST_STDERR" "doomed" "the vanished table is named"
echo "a table dropped mid-backup: $(tr '\n' ' ' <"$LAST_STDERR")"
wait "$dropper"
assert_eq "$(snapshot_count)" "$n_before" "no snapshot from a backup whose table vanished"
assert_exit 0 p backup --db "$(pg_conninfo awk)"
assert_exit 0 p repo check

# --- A pg_dump older than the server: exit 6 before anything is dumped, no snapshot ---------
# A wrapper that says it is pg_dump 11 (and logs how it was run): the backup checks the version
# first, names both versions, and never runs it for a section.
cat >"$S/old-pg_dump" <<SCRIPT
#!/bin/sh
echo "\$*" >>"$S/old-pg_dump.log"
[ "\$1" = --version ] && { echo "pg_dump (PostgreSQL) 11.22"; exit 0; }
exec pg_dump "\$@"
SCRIPT
chmod +x "$S/old-pg_dump"
server_major=$(( $(psql_q postgres "SHOW server_version_num") / 10000 ))
n_before=$(snapshot_count)
PGDEDUP_PG_DUMP="$S/old-pg_dump" assert_exit 6 p backup --db "$(pg_conninfo awk)"
assert_contains "$LAST_STDERR" "$S/old-pg_dump is version 11 but the server is version $server_major" \
  "an old pg_dump is refused, both versions named"
assert_eq "$(cat "$S/old-pg_dump.log")" "--version" "how the old pg_dump was run"
assert_eq "$(snapshot_count)" "$n_before" "no snapshot from a backup refused for its pg_dump"
# A program that is not pg_dump at all (its --version names no PostgreSQL version) is refused
# by what it printed, not taken for version 0.
cat >"$S/not-pg_dump" <<SCRIPT
#!/bin/sh
echo "not-pg_dump 1.0"
SCRIPT
chmod +x "$S/not-pg_dump"
PGDEDUP_PG_DUMP="$S/not-pg_dump" assert_exit 6 p backup --db "$(pg_conninfo awk)"
assert_contains "$LAST_STDERR" '--version printed "not-pg_dump 1.0", which names no PostgreSQL version' \
  "a program that is not pg_dump is refused by what it printed"
assert_eq "$(snapshot_count)" "$n_before" "no snapshot from a backup refused for its pg_dump"

# --- Triggers on an existing table do not fire for restored rows ---------------------------
# The rows that come back are the backup's: a BEFORE INSERT trigger must not rewrite them, an
# AFTER INSERT trigger must not audit them again. Each trigger keeps its mode afterwards.
psql_q "CREATE DATABASE trg"
psql_q trg "CREATE TABLE things (id int PRIMARY KEY, v text);
            INSERT INTO things SELECT i, 'v' || i FROM generate_series(1, 500) i;
            CREATE TABLE audit (id int)" >/dev/null
assert_exit 0 p backup --db "$(pg_conninfo trg)"
psql_q trg "CREATE FUNCTION rewrite() RETURNS trigger LANGUAGE plpgsql AS
              \$\$BEGIN NEW.v := 'rewritten'; RETURN NEW; END\$\$;
            CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS
              \$\$BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NULL; END\$\$;
            CREATE TRIGGER a_rewrite BEFORE INSERT ON things FOR EACH ROW EXECUTE FUNCTION rewrite();
            CREATE TRIGGER b_audit AFTER INSERT ON things FOR EACH ROW EXECUTE FUNCTION audit();
            CREATE TRIGGER c_always AFTER INSERT ON things FOR EACH ROW EXECUTE FUNCTION audit();
            ALTER TABLE things ENABLE ALWAYS TRIGGER c_always;
            CREATE TRIGGER d_off AFTER INSERT ON things FOR EACH ROW EXECUTE FUNCTION audit();
            ALTER TABLE things DISABLE TRIGGER d_off" >/dev/null
expected_rows=$(psql_q trg "SELECT md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM things")
trigger_modes() { psql_q trg "SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'things'::regclass"; }
modes_before=$(trigger_modes)
for clean in "" --clean; do
  [[ -z "$clean" ]] && psql_q trg "TRUNCATE things" >/dev/null
  assert_exit 0 p restore latest --db "$(pg_conninfo trg)" --table public.things $clean
  assert_eq "$(psql_q trg "SELECT md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM things")" \
    "$expected_rows" "restored rows, not rewritten by a trigger (${clean:-empty table})"
  assert_eq "$(psql_q trg "SELECT count(*) FROM audit")" 0 "no trigger audited restored rows (${clean:-empty table})"
  assert_eq "$(trigger_modes)" "$modes_before" "each trigger keeps its mode (${clean:-empty table})"
done
psql_q "DROP DATABASE trg"

# A LATIN1 database: its scripts, its rows and pgdedup's own SQL go in UTF8 (the server
# converts); --table brings back the text as it was.
psql_q postgres "CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null
psql_q latin "CREATE TABLE loose (w text); INSERT INTO loose VALUES ('no index, no key, no trigger');
              CREATE TABLE words (id int PRIMARY KEY, w text DEFAULT 'café');
              COMMENT ON COLUMN words.w IS 'déjà vu';
              INSERT INTO words VALUES (1, 'naïve'), (2, 'crème brûlée'), (3, DEFAULT)" >/dev/null
assert_exit 0 p backup --db "$(pg_conninfo latin)"
table_state latin public.words >"$S/latin-source"
psql_q latin "DROP TABLE words" >/dev/null
assert_exit 0 p restore latest --db "$(pg_conninfo latin)" --table words
table_state latin public.words >"$S/latin-restored"
diff "$S/latin-source" "$S/latin-restored" >&2 || fail "a LATIN1 table restored with --table differs"
# Names that are not ASCII in a LATIN1 database (written here in UTF-8, which the server
# converts): the dump's scripts are in the sessions' encoding, so the whole database comes back
# (--jobs 2: each table analyzed by name as soon as it is built), and so does the table alone.
latin_names() {
  PGCLIENTENCODING=UTF8 psql_q "$1" "SELECT string_agg(format('%s:%s', \"höhe\", w), ',' ORDER BY \"höhe\")
    FROM \"größe\"" 2>&1
  PGCLIENTENCODING=UTF8 psql_q "$1" "SELECT indexdef FROM pg_indexes WHERE tablename = 'größe' ORDER BY 1"
}
PGCLIENTENCODING=UTF8 psql_q latin "CREATE TABLE \"größe\" (\"höhe\" int PRIMARY KEY, w text CHECK (w <> 'ñ'));
  CREATE INDEX \"größe_w\" ON \"größe\" (w);
  INSERT INTO \"größe\" VALUES (1, 'äöü'), (2, 'ß')" >/dev/null
assert_exit 0 p backup --db "$(pg_conninfo latin)"
assert_exit 0 p restore latest --db "$(pg_conninfo latin_r)" --create --jobs 2
assert_eq "$(latin_names latin_r)" "$(latin_names latin)" "a LATIN1 database with non-ASCII names, restored"
assert_contains "$(latin_names latin)" "1:äöü,2:ß" "the LATIN1 table as written"
PGCLIENTENCODING=UTF8 psql_q latin "DROP TABLE \"größe\"" >/dev/null
assert_exit 0 p restore latest --db "$(pg_conninfo latin)" --table größe
assert_eq "$(latin_names latin)" "$(latin_names latin_r)" "--table with a non-ASCII name in a LATIN1 database"
psql_q postgres "DROP DATABASE latin_r" >/dev/null
# Snapshots taken before pg_dump ran with --encoding hold the schema scripts in the database's
# own encoding (LATIN1 here): a pg_dump without that option makes one, and it restores whole.
cat >"$S/pg_dump_own_encoding" <<'SCRIPT'
#!/usr/bin/env bash
args=()
for a in "$@"; do [[ $a == --encoding=* ]] || args+=("$a"); done
exec pg_dump "${args[@]}"
SCRIPT
chmod +x "$S/pg_dump_own_encoding"
PGDEDUP_PG_DUMP="$S/pg_dump_own_encoding" assert_exit 0 p backup --db "$(pg_conninfo latin)"
assert_exit 0 p restore latest --stream pre-data.sql --output "$S/latin-pre-data.sql"
assert_contains "$S/latin-pre-data.sql" "SET client_encoding = 'LATIN1'" "the old snapshot's script encoding"
assert_exit 0 p restore latest --db "$(pg_conninfo latin_r)" --create --jobs 2 -v
assert_eq "$(latin_names latin_r)" "$(latin_names latin)" "a LATIN1 snapshot with LATIN1 scripts, restored"
# (each table analyzed as soon as it was built: by its name in the session's encoding)
if grep -qF "to be tried again" "$LAST_STDERR"; then cat "$LAST_STDERR" >&2; fail "an ANALYZE tried again"; fi
assert_eq "$(PGCLIENTENCODING=UTF8 psql_q latin_r "SELECT analyze_count > 0 FROM pg_stat_user_tables WHERE relname = 'größe'")" t \
  "a table with a non-ASCII name analyzed, restored from LATIN1 scripts"
if grep -qF "failed (" "$LAST_STDERR"; then cat "$LAST_STDERR" >&2; fail "a warning of a failed ANALYZE"; fi
psql_q postgres "DROP DATABASE latin_r" >/dev/null
# A table with nothing in post-data (no index, key, trigger or policy).
table_state latin public.loose >"$S/loose-source"
psql_q latin "DROP TABLE loose" >/dev/null
assert_exit 0 p restore latest --db "$(pg_conninfo latin)" --table loose --no-analyze
table_state latin public.loose >"$S/loose-restored"
diff "$S/loose-source" "$S/loose-restored" >&2 || fail "a table without post-data objects differs"
assert_eq "$(psql_q latin "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'loose'")" 0 \
  "a table restored with --table --no-analyze analyzed"
assert_eq "$(psql_q latin "SELECT analyze_count > 0 FROM pg_stat_user_tables WHERE relname = 'words'")" t \
  "a table restored with --table not analyzed"
psql_q postgres "DROP DATABASE latin" >/dev/null

# --- A table's stream and post-data.sql, printed with restore --stream --output - -----------
# A table's stream is COPY text of its stored columns in primary-key order, the key's own
# column order (here (account, id), not the table's): byte for byte what COPY (SELECT * ...
# ORDER BY account, id) prints under the backup's session settings (DateStyle, IntervalStyle,
# extra_float_digits, bytea_output, UTF8). Rows stored out of that order (inserted backwards,
# a third of them updated) make sure the order is the key's, not the heap's. post-data.sql
# holds the table's primary key and index, and pre-data.sql holds neither.
psql_q postgres "CREATE DATABASE streams" >/dev/null
psql_q streams "CREATE TABLE ledger (id int, account text, amount numeric(12,2), ratio float8,
    at timestamptz, span interval, note text, raw bytea, PRIMARY KEY (account, id));
  CREATE INDEX ledger_note_idx ON ledger (note);
  INSERT INTO ledger SELECT g, 'acct ' || (g % 7), g * 1.25, g / 3.0,
      '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour 1 second', g * interval '90 minutes',
      CASE WHEN g % 10 = 0 THEN NULL ELSE E'tab\\there, line\\nbreak, back\\\\slash, é ' || g END,
      decode(md5(g::text), 'hex')
    FROM generate_series(500, 1, -1) g;
  UPDATE ledger SET amount = amount + 1 WHERE id % 3 = 0" >/dev/null
ledger_copy() {  # ledger_copy SQL: COPY's output of SQL as the backup's sessions would print it
  PGOPTIONS="-c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex" \
    PGCLIENTENCODING=UTF8 run_t 60 psql -X -q -v ON_ERROR_STOP=1 -d streams -c "COPY ($1) TO STDOUT"
}
ledger_copy "SELECT * FROM ledger ORDER BY account, id" >"$S/ledger-ordered"
ledger_copy "SELECT * FROM ledger" >"$S/ledger-heap"
assert_eq "$(wc -l <"$S/ledger-ordered")" 500 "rows of the ledger"
! cmp -s "$S/ledger-ordered" "$S/ledger-heap" || fail "the ledger's rows are stored in key order already"
assert_exit 0 p backup --db "$(pg_conninfo streams)" --json
streams_snap=$(jpy "$LAST_STDOUT" 'd["snapshot_id"]')
assert_exit 0 p restore "$streams_snap" --stream '"public"."ledger"' --output -
cmp "$LAST_STDOUT" "$S/ledger-ordered" >&2 ||
  fail "the ledger's stream differs from COPY (SELECT * FROM ledger ORDER BY account, id)"
assert_exit 0 p restore "$streams_snap" --stream post-data.sql --output -
cp "$LAST_STDOUT" "$S/streams-post-data.sql"
assert_contains "$S/streams-post-data.sql" \
  'CREATE INDEX "ledger_note_idx" ON "public"."ledger" USING "btree" ("note");' \
  "post-data.sql holds the ledger's index"
assert_contains "$S/streams-post-data.sql" \
  'ADD CONSTRAINT "ledger_pkey" PRIMARY KEY ("account", "id");' \
  "post-data.sql holds the ledger's primary key"
assert_exit 0 p restore "$streams_snap" --stream pre-data.sql --output -
assert_contains "$LAST_STDOUT" 'CREATE TABLE "public"."ledger"' "pre-data.sql creates the ledger"
if grep -E 'ledger_note_idx|ledger_pkey' "$LAST_STDOUT" >&2; then
  fail "pre-data.sql holds the ledger's index or primary key"
fi
psql_q postgres "DROP DATABASE streams" >/dev/null

pass
