#!/usr/bin/env bash
# Native restores onto a server that lacks the source's roles or tablespaces (a new server
# after a disaster): the restore names every missing role, and what it is needed for, and
# every missing tablespace, before it changes anything (--dry-run too); --no-owner,
# --no-privileges and --no-tablespaces restore without them (as pg_restore's -O, -x and
# --no-tablespaces), for --create, into an existing database, for --table, for a drill and for
# a pg_dump archive; a role that a policy names must exist either way. With the tablespace
# there, tables and indexes come back in it (the database's own default tablespace too).
# --create --clean whose swap a session blocks keeps the old database as it was, open to
# connections, even when pgdedup is killed (kill -9) while its rename waits. A function
# body that contains lines like the statements left out comes back byte for byte. A --table
# restore that fails while it creates a table, or after it created one, leaves no table it
# created behind. A backup role without SELECT on one table fails (exit 6) naming that table,
# and adds no snapshot; granted it, the same role's backup succeeds.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_pg
REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
pgd -q init --repo "$REPO" --cache-dir "$CACHE" --kdf interactive
P=(--repo "$REPO" --cache-dir "$CACHE")

# The source: a database owned by app, with objects owned by app, privileges for reader and
# auditor (one granted by auditor, not by the owner), default privileges, a large object, a
# policy for reader and auditor, and its own database privileges.
psql_q postgres "CREATE ROLE app LOGIN; CREATE ROLE reader; CREATE ROLE auditor" >/dev/null
psql_q postgres "CREATE DATABASE rdb OWNER app" >/dev/null
psql_q rdb "CREATE SCHEMA s AUTHORIZATION app" >/dev/null
psql_q rdb "
  SET ROLE app;
  CREATE TABLE s.t (id serial PRIMARY KEY, v text, n int);
  INSERT INTO s.t (v, n) SELECT 'row ' || g, g FROM generate_series(1, 500) g;
  CREATE VIEW s.v AS SELECT id, v FROM s.t WHERE n > 10;
  CREATE FUNCTION s.f() RETURNS text LANGUAGE sql AS \$body\$
SELECT 'not a statement:
ALTER TABLE \"s\".\"t\" OWNER TO \"app\";
GRANT ALL ON TABLE \"s\".\"t\" TO \"nobody\";'
\$body\$;
  GRANT SELECT ON s.t TO reader;
  GRANT UPDATE (v) ON s.t TO auditor;
  GRANT USAGE ON SCHEMA s TO auditor;
  GRANT SELECT ON s.v TO auditor WITH GRANT OPTION;
  REVOKE EXECUTE ON FUNCTION s.f() FROM PUBLIC;
  GRANT EXECUTE ON FUNCTION s.f() TO reader;
  SELECT lo_from_bytea(4242, 'large object'::bytea);
  GRANT SELECT ON LARGE OBJECT 4242 TO reader;
  ALTER DEFAULT PRIVILEGES FOR ROLE app IN SCHEMA s GRANT SELECT ON TABLES TO reader;
  ALTER TABLE s.t ENABLE ROW LEVEL SECURITY;
  CREATE POLICY p ON s.t TO reader, auditor USING (n > 10);
  RESET ROLE;
  SET ROLE auditor;
  GRANT SELECT ON s.v TO reader;" >/dev/null
psql_q postgres "REVOKE CONNECT ON DATABASE rdb FROM PUBLIC;
  GRANT CONNECT ON DATABASE rdb TO reader" >/dev/null

body_q="SELECT md5(prosrc) FROM pg_proc WHERE proname = 'f'"
rows_q="SELECT count(*) || ':' || sum(n) || ':' || md5(string_agg(v, ',' ORDER BY id)) FROM s.t"
body=$(psql_q rdb "$body_q")
rows=$(psql_q rdb "$rows_q")

assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo rdb)" --json
snap=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$LAST_STDOUT")
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo rdb)" --format pg_dump --json
archive=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$LAST_STDOUT")

# With the roles there, everything comes back as it was.
assert_exit 0 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb_copy)" --create
owners_q="SELECT string_agg(c.relname || '=' || c.relowner::regrole || coalesce(c.relacl::text, ''),
  ' ' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 's'"
assert_eq "$(psql_q rdb_copy "$owners_q")" "$(psql_q rdb "$owners_q")" "owners and privileges"

# A new server: the same server once the roles are gone.
psql_q postgres "DROP DATABASE rdb" >/dev/null
psql_q postgres "DROP DATABASE rdb_copy" >/dev/null
psql_q postgres "DROP ROLE app; DROP ROLE reader; DROP ROLE auditor" >/dev/null
dbs_q="SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"
dbs_before=$(psql_q postgres "$dbs_q")

# Every missing role is named, with what it is for, before anything is created.
for dry in "" --dry-run; do
  # shellcheck disable=SC2086  # $dry is one word or none
  assert_exit 2 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb)" --create $dry
  assert_contains "$LAST_STDERR" 'no role "app" (owns objects, privileges), "auditor" (privileges, a policy), "reader" (privileges, a policy)'
  assert_contains "$LAST_STDERR" "--no-owner"
  assert_contains "$LAST_STDERR" "--no-privileges"
  assert_contains "$LAST_STDERR" "Nothing was changed"
  assert_eq "$(psql_q postgres "$dbs_q")" "$dbs_before" "databases after a refused restore $dry"
done

# --no-owner leaves app needed for its default privileges; a policy's roles are needed
# whatever the options.
assert_exit 2 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb)" --create --no-owner
assert_contains "$LAST_STDERR" 'no role "app" (privileges), "auditor" (privileges, a policy), "reader" (privileges, a policy)'
assert_exit 2 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb)" --create --no-owner --no-privileges
assert_contains "$LAST_STDERR" 'no role "auditor" (a policy), "reader" (a policy)'
assert_eq "$(psql_q postgres "$dbs_q")" "$dbs_before" "databases after refused restores"

# With the policy's roles only: the restoring role owns everything, no privileges come back,
# the rows and the function body do.
psql_q postgres "CREATE ROLE reader; CREATE ROLE auditor" >/dev/null
me=$(psql_q postgres "SELECT current_user")
check_bare() {  # check_bare DB WHAT
  assert_eq "$(psql_q "$1" "$rows_q")" "$rows" "$2: rows"
  assert_eq "$(psql_q "$1" "SELECT string_agg(DISTINCT c.relowner::regrole::text, ',')
    || ':' || count(c.relacl) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 's'")" "$me:0" "$2: owners and privileges of the tables"
  assert_eq "$(psql_q "$1" "SELECT polroles::regrole[]::text FROM pg_policy")" "{reader,auditor}" \
    "$2: the policy's roles"
}
assert_exit 0 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb)" --create --no-owner --no-privileges
check_bare rdb "--create --no-owner --no-privileges"
assert_eq "$(psql_q rdb "$body_q")" "$body" "the function body"
assert_eq "$(psql_q rdb "SELECT proowner::regrole::text || ':' || (proacl IS NULL) FROM pg_proc
  WHERE proname = 'f'")" "$me:true" "the function's owner and privileges"
assert_eq "$(psql_q rdb "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 's'")" \
  "$me" "the schema's owner"
assert_eq "$(psql_q rdb "SELECT lomowner::regrole::text || ':' || (lomacl IS NULL) || ':' ||
  convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata")" "$me:true:large object" \
  "the large object"
assert_eq "$(psql_q rdb "SELECT count(*) FROM pg_default_acl")" 0 "default privileges"
assert_eq "$(psql_q postgres "SELECT datdba::regrole::text || ':' || (datacl IS NULL) FROM
  pg_database WHERE datname = 'rdb'")" "$me:true" "the database's owner and privileges"

# Into an existing empty database, and one table into another.
psql_q postgres "CREATE DATABASE rdb_into" >/dev/null
psql_q postgres "CREATE DATABASE rdb_table" >/dev/null
assert_exit 2 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb_into)"
assert_contains "$LAST_STDERR" 'no role "app"'
assert_eq "$(psql_q rdb_into "SELECT count(*) FROM pg_namespace WHERE nspname = 's'")" 0 \
  "a refused restore into an existing database changes nothing"
assert_exit 0 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb_into)" --no-owner --no-privileges
check_bare rdb_into "into an existing database"
psql_q rdb_table "CREATE SCHEMA s" >/dev/null
assert_exit 2 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb_table)" --table s.t
assert_contains "$LAST_STDERR" 'no role "app" (owns objects), which'  # the table's objects only
assert_eq "$(psql_q rdb_table "SELECT count(*) FROM pg_class WHERE relnamespace = 's'::regnamespace")" \
  0 "relations left by a refused --table restore"
# A creation that fails part way anyway (here the table's sequence meets a relation of its
# name, after CREATE TABLE succeeded) leaves no table without its sequence and default for the
# next attempt to take for an existing one.
psql_q rdb_table "CREATE TABLE s.t_id_seq (x int)" >/dev/null
assert_exit 6 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb_table)" --table s.t \
  --no-owner --no-privileges
assert_contains "$LAST_STDERR" 'creating table "s"."t"'
assert_eq "$(psql_q rdb_table "SELECT count(*) FROM pg_class WHERE relname = 't'")" \
  0 "a table left by a failed --table restore"
psql_q rdb_table "DROP TABLE s.t_id_seq" >/dev/null
# A failure after the table was created and loaded (its primary key's index meets a relation
# of its name): creation, load and indexes were one transaction, rolled back; what was there
# before stays.
psql_q rdb_table "CREATE TABLE s.t_pkey (x int)" >/dev/null
assert_exit 6 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb_table)" --table s.t \
  --no-owner --no-privileges
assert_contains "$LAST_STDERR" 'indexes and constraints of "s"."t"'
assert_eq "$(psql_q rdb_table "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
  WHERE relnamespace = 's'::regnamespace")" "t_pkey" "relations after a failed --table restore"
psql_q rdb_table "DROP TABLE s.t_pkey" >/dev/null
assert_exit 0 pgd "${P[@]}" restore "$snap" --db "$(pg_conninfo rdb_table)" --table s.t \
  --no-owner --no-privileges
check_bare rdb_table "--table"

# A drill on such a server.
assert_exit 2 pgd "${P[@]}" drill "$snap" --db "$(pg_conninfo postgres)"
assert_contains "$LAST_STDERR" 'no role "app"'
assert_exit 0 pgd "${P[@]}" drill "$snap" --db "$(pg_conninfo postgres)" --no-owner --no-privileges

# A pg_dump archive: pg_restore's own error, with the way out, and then -O -x.
assert_exit 6 pgd "${P[@]}" restore "$archive" --db "$(pg_conninfo rdb_archive)" --create
assert_contains "$LAST_STDERR" 'role "app" does not exist'
assert_contains "$LAST_STDERR" "or restore with --no-owner and --no-privileges"
assert_exit 0 pgd "${P[@]}" restore "$archive" --db "$(pg_conninfo rdb_archive)" --create \
  --no-owner --no-privileges
check_bare rdb_archive "a pg_dump archive"

# --create --clean as a database's owner, when a session the owner may not end (a superuser's)
# keeps the old database busy: the swap fails whole, the old database stays as it was and open
# to connections, and the complete restore is kept under its temporary name.
psql_q postgres "CREATE ROLE owner1 LOGIN CREATEDB" >/dev/null
psql_q postgres "CREATE DATABASE swapdb OWNER owner1" >/dev/null
psql_q swapdb "SET ROLE owner1; CREATE TABLE k (id int PRIMARY KEY); INSERT INTO k VALUES (1)" >/dev/null
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo swapdb)" --json
swap_snap=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$LAST_STDOUT")
oid_q="SELECT oid || ':' || datallowconn FROM pg_database WHERE datname = 'swapdb'"
swap_before=$(psql_q postgres "$oid_q")
psql -X -q -d swapdb -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
sleeper=$!
sleeper_in() {
  test "$(psql_q postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = 'swapdb'
    AND query LIKE '%pg_sleep%'")" = 1
}
wait_until 100 sleeper_in
swap_err=$TEST_TMP/swap.err
swap_rc=0
pgd "${P[@]}" restore "$swap_snap" --create --clean \
  --db "host=$PGHOST port=$PGPORT user=owner1 dbname=swapdb" 2>"$swap_err" &
swap_job=$!
# While the rename waits for the session, pg_stat_activity shows whose it is.
renaming_as_pgdedup() {
  test "$(psql_q postgres "SELECT count(*) FROM pg_stat_activity
    WHERE application_name = 'pgdedup' AND usename = 'owner1' AND state = 'active'
      AND query LIKE 'ALTER DATABASE%RENAME TO%'")" = 1
}
wait_until 100 renaming_as_pgdedup
wait "$swap_job" || swap_rc=$?
assert_eq "$swap_rc" 6 "exit status of a swap a session blocks"
cp "$swap_err" "$LAST_STDERR"
assert_contains "$LAST_STDERR" 'database "swapdb" is not replaced; the complete restore is kept as database pgdedup_restore_'
assert_eq "$(psql_q postgres "$oid_q")" "$swap_before" "the old database, and its connections"
kept=$(psql_q postgres "SELECT datname || ':' || datallowconn FROM pg_database
  WHERE datname LIKE 'pgdedup_restore_%'")
[[ "$kept" == pgdedup_restore_*:true ]] || fail "the complete restore kept, open: [$kept]"
assert_eq "$(psql_q "${kept%:true}" "SELECT count(*) FROM k")" 1 "the kept restore's rows"
psql_q postgres "DROP DATABASE \"${kept%:true}\"" >/dev/null

# The same swap with pgdedup killed outright (kill -9) while its rename waits: the swap
# committed nothing, so the old database is as it was, under its name and open to connections
# (an application can connect at once), and the next restore replaces it and names the
# complete copy the killed one left under its temporary name.
renaming_gone() { ! renaming_as_pgdedup; }
sleeper_in || fail "the superuser's session in swapdb ended early"
"$PGDEDUP_BIN" "${P[@]}" restore "$swap_snap" --create --clean \
  --db "host=$PGHOST port=$PGPORT user=owner1 dbname=swapdb" >/dev/null 2>"$swap_err" &
swap_job=$!
wait_until 100 renaming_as_pgdedup || { cat "$swap_err" >&2; fail "the swap to kill never began"; }
stop_job KILL "$swap_job"
assert_eq "$STOPPED_RC" 137 "exit status of a restore killed with SIGKILL during its swap"
# The server ends the killed restore's session once the rename's wait is over.
wait_until 100 renaming_gone
assert_eq "$(psql_q postgres "$oid_q")" "$swap_before" \
  "the old database, and its connections, after a swap killed with SIGKILL"
assert_eq "$(psql -X -At -d "host=$PGHOST port=$PGPORT user=owner1 dbname=swapdb" \
  -c "SELECT count(*) FROM k")" 1 "a new session in the old database after a killed swap"
left=$(psql_q postgres "SELECT datname FROM pg_database WHERE datname LIKE 'pgdedup\_restore\_%'")
[[ "$left" == pgdedup_restore_* ]] || fail "the killed swap's complete restore kept: [$left]"
psql_q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'swapdb'
  AND query LIKE '%pg_sleep%'" >/dev/null
wait "$sleeper" 2>/dev/null || true
assert_exit 0 pgd "${P[@]}" restore "$swap_snap" --create --clean \
  --db "host=$PGHOST port=$PGPORT user=owner1 dbname=swapdb"
assert_contains "$LAST_STDERR" "$left" "the next restore names what the killed swap left"
[[ "$(psql_q postgres "$oid_q")" != "$swap_before" ]] || fail "swapdb was not replaced"
assert_eq "$(psql_q swapdb "SELECT count(*) FROM k")" 1 "the replaced database's rows"
psql_q postgres "DROP DATABASE \"$left\"" >/dev/null

# Tablespaces: restored where they were when the server has them (the database's own default
# tablespace too); a server that lacks them is refused before anything changes (with the roles
# it lacks, all in one message); --no-tablespaces restores into the default tablespace, and
# --no-owner still finds the owner line of an object whose header names its tablespace.
server_user=$(stat -c %U "$TEST_TMP/pg/data")
for ts in fast slow; do
  mkdir -p "$TEST_TMP/ts-$ts"
  chown "$server_user" "$TEST_TMP/ts-$ts"
  psql_q postgres "CREATE TABLESPACE $ts LOCATION '$TEST_TMP/ts-$ts'" >/dev/null
done
psql_q postgres "CREATE ROLE tsowner" >/dev/null
psql_q postgres "CREATE DATABASE tsdb TABLESPACE fast" >/dev/null
psql_q tsdb "CREATE TABLE a (id int PRIMARY KEY USING INDEX TABLESPACE slow, v text) TABLESPACE slow;
  CREATE INDEX a_v ON a (v) TABLESPACE slow;
  CREATE TABLE b (id int PRIMARY KEY);
  CREATE TABLE p (id int, k int) PARTITION BY RANGE (id) TABLESPACE slow;
  CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (1000);
  INSERT INTO a SELECT g, 'v' || g FROM generate_series(1, 300) g;
  INSERT INTO b SELECT g FROM generate_series(1, 30) g;
  INSERT INTO p SELECT g, g FROM generate_series(1, 300) g;
  ALTER TABLE a OWNER TO tsowner" >/dev/null
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo tsdb)" --json
ts_snap=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$LAST_STDOUT")
ts_q="SELECT string_agg(c.relname || '=' || coalesce(t.spcname, '-'), ' ' ORDER BY c.relname)
  FROM pg_class c LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
  WHERE c.relnamespace = 'public'::regnamespace"
db_ts_q="SELECT t.spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
  WHERE d.datname = current_database()"
ts_rows_q="SELECT (SELECT count(*) FROM a) || ':' || (SELECT count(*) FROM b) || ':' ||
  (SELECT sum(k) FROM p)"
ts_before=$(psql_q tsdb "$ts_q")
[[ "$ts_before" == *"a=slow"* && "$ts_before" == *"a_pkey=slow"* && "$ts_before" == *"b=-"* ]] ||
  fail "the fixture's tablespaces: [$ts_before]"
assert_exit 0 pgd "${P[@]}" restore "$ts_snap" --db "$(pg_conninfo tsdb_copy)" --create
assert_eq "$(psql_q tsdb_copy "$ts_q")" "$ts_before" "tablespaces after a restore"
assert_eq "$(psql_q tsdb_copy "$db_ts_q")" "fast" "the database's tablespace after a restore"
psql_q postgres "DROP DATABASE tsdb" >/dev/null
psql_q postgres "DROP DATABASE tsdb_copy" >/dev/null
psql_q postgres "DROP TABLESPACE fast" >/dev/null
psql_q postgres "DROP TABLESPACE slow" >/dev/null
psql_q postgres "DROP ROLE tsowner" >/dev/null
assert_exit 2 pgd "${P[@]}" restore "$ts_snap" --db "$(pg_conninfo tsdb)" --create
assert_contains "$LAST_STDERR" 'no role "tsowner" (owns objects)'
assert_contains "$LAST_STDERR" 'no tablespace "fast", "slow", which the snapshot'
assert_contains "$LAST_STDERR" "--no-tablespaces"
assert_eq "$(psql_q postgres "SELECT count(*) FROM pg_database WHERE datname LIKE 'tsdb%'
  OR datname LIKE 'pgdedup_%'")" 0 "databases after a refused restore"
assert_exit 0 pgd "${P[@]}" restore "$ts_snap" --db "$(pg_conninfo tsdb)" --create \
  --no-tablespaces --no-owner
assert_eq "$(psql_q tsdb "$ts_q")" "${ts_before//=slow/=-}" "relations in the default tablespace"
assert_eq "$(psql_q tsdb "$db_ts_q")" "pg_default" "the database's tablespace"
assert_eq "$(psql_q tsdb "$ts_rows_q")" "300:30:45150" "rows restored without their tablespace"

# A backup role that may read every table but two (SELECT revoked on "hidden" and "hidden_too",
# beside two it may read): the backup fails (exit 6) naming both, with the grant that would let
# it read them, before pg_dump or any COPY, and adds no snapshot; once granted, the same role's
# backup succeeds.
psql_q postgres "CREATE ROLE partial_reader LOGIN" >/dev/null
psql_q postgres "CREATE DATABASE privdb" >/dev/null
psql_q privdb "CREATE TABLE a_open (id int PRIMARY KEY); CREATE TABLE hidden (id int PRIMARY KEY);
  CREATE TABLE z_open (id int PRIMARY KEY); CREATE TABLE hidden_too (id int PRIMARY KEY);
  INSERT INTO a_open VALUES (1); INSERT INTO hidden VALUES (1); INSERT INTO z_open VALUES (1);
  GRANT SELECT ON ALL TABLES IN SCHEMA public TO partial_reader;
  REVOKE SELECT ON hidden, hidden_too FROM partial_reader" >/dev/null
psql_q postgres "REVOKE CONNECT ON DATABASE privdb FROM PUBLIC;
  GRANT CONNECT ON DATABASE privdb TO partial_reader" >/dev/null
assert_eq "$(psql_q privdb "SELECT string_agg(c.relname || '=' ||
    has_table_privilege('partial_reader', c.oid, 'SELECT'), ',' ORDER BY c.relname)
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'")" \
  "a_open=true,hidden=false,hidden_too=false,z_open=true" "the partial reader's privileges"
snapshot_count() { pgd "${P[@]}" snapshots --json | jq length; }
n_before=$(snapshot_count)
assert_exit 6 pgd "${P[@]}" backup --db "$(pg_conninfo privdb) user=partial_reader"
assert_contains "$LAST_STDERR" 'locking the tables: query failed: ERROR:  permission denied for table hidden' \
  "a backup role without SELECT on two tables"
assert_contains "$LAST_STDERR" 'the role partial_reader cannot read 2 tables: public.hidden, public.hidden_too' \
  "the failure lists every table the role cannot read"
assert_contains "$LAST_STDERR" 'GRANT pg_read_all_data TO partial_reader' "the failure says what to grant"
assert_eq "$(snapshot_count)" "$n_before" "no snapshot from a backup refused a table"
psql_q privdb "GRANT SELECT ON hidden, hidden_too TO partial_reader" >/dev/null
assert_exit 0 pgd "${P[@]}" backup --db "$(pg_conninfo privdb) user=partial_reader"
assert_eq "$(snapshot_count)" "$((n_before + 1))" "snapshots once the role may read every table"

pass
