#!/usr/bin/env bash
# Smoke test of the test harness: start a throwaway PostgreSQL server with
# scripts/pg-server.sh, create a database, query it, restart it, stop it.
# Does not need pgdedup.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_pg
[[ -n "${PGHOST:-}" && -n "${PGPORT:-}" && -n "${PGUSER:-}" ]] || fail "start_pg did not export PGHOST/PGPORT/PGUSER"
assert_eq "$PGHOST" "$TEST_TMP/pg" "PGHOST is the socket directory"

run_t 60 createdb smoke
psql_q smoke "CREATE TABLE t (id int PRIMARY KEY, v text);
              INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;"
assert_eq "$(psql_q smoke 'SELECT count(*) FROM t')" 1000 "row count"
assert_eq "$(psql_q smoke 'SELECT current_user')" postgres "superuser role"
assert_eq "$(psql_q "$(pg_conninfo smoke)" 'SELECT v FROM t WHERE id = 1')" "$(printf 1 | md5sum | cut -d' ' -f1)" "query through pg_conninfo"

# A failing command and its exit status.
assert_exit 1 psql -X -q -v ON_ERROR_STOP=1 -d smoke -c 'SELECT * FROM no_such_table'
assert_contains "$LAST_STDERR" 'no_such_table' "psql error message"

# Stop and start again: the data survives (the cluster in $TEST_TMP/pg is reused).
stop_pg
assert_exit 2 pg_isready -h "$PGHOST" -p "$PGPORT"
start_pg
assert_eq "$(psql_q smoke 'SELECT count(*) FROM t')" 1000 "row count after restart"

stop_pg
pass
