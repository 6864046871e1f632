#!/usr/bin/env bash
# Native backups taken from a hot standby (where operators take them to spare the primary):
# the snapshot is the standby's and restores equal to it. A standby without
# hot_standby_feedback cancels a backup whose snapshot still needs rows that the primary's
# VACUUM removed: the backup fails, commits nothing, and says how to avoid it.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_pg
REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
P=(--repo "$REPO" --cache-dir "$CACHE")
pgd -q init "${P[@]}" --kdf interactive

psql_q postgres "CREATE DATABASE src" >/dev/null
psql_q src "CREATE TABLE t (id int PRIMARY KEY, v text);
  INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g" >/dev/null
start_standby "$TEST_TMP/sb" "hot_standby_feedback = off" "max_standby_streaming_delay = 0"
standby() { echo "host=$TEST_TMP/sb port=$STANDBY_PORT user=$PGUSER dbname=${1:-src}"; }
in_recovery=$(psql -X -At -d "$(standby)" -c "SELECT pg_is_in_recovery()")
assert_eq "$in_recovery" t "the standby in recovery"
digest_q="SELECT count(*) || ':' || md5(string_agg(id || v, ',' ORDER BY id)) FROM t"
replayed() {
  test "$(psql -X -At -d "$(standby)" -c "$digest_q")" = "$(psql_q src "$digest_q")"
}
wait_until 300 replayed || fail "the standby never caught up"

# A backup of the standby restores equal.
assert_exit 0 pgd "${P[@]}" backup --db "$(standby)" --jobs 2
assert_exit 0 pgd "${P[@]}" restore latest --db "$(pg_conninfo copy)" --create
assert_eq "$(psql_q copy "$digest_q")" "$(psql_q src "$digest_q")" "the restored standby backup"

# Rows deleted on the primary after the backup's snapshot was taken, then vacuumed away: the
# standby replays that while pg_dump is held back (a wrapper waits for a file), ends the
# backup's session holding the snapshot, and the backup fails.
cat >"$TEST_TMP/held-pg_dump" <<SH
#!/usr/bin/env bash
if [[ " \$* " == *" --section=pre-data "* ]]; then
  touch "$TEST_TMP/dump-waiting"
  for _ in \$(seq 600); do [[ -e "$TEST_TMP/dump-go" ]] && break; sleep 0.1; done
fi
exec pg_dump "\$@"
SH
chmod +x "$TEST_TMP/held-pg_dump"
snapshots_before=$(pgd "${P[@]}" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
PGDEDUP_PG_DUMP="$TEST_TMP/held-pg_dump" "$PGDEDUP_BIN" "${P[@]}" backup --db "$(standby)" \
  >/dev/null 2>"$TEST_TMP/conflict.err" &
backup_job=$!
wait_until 300 test -e "$TEST_TMP/dump-waiting" ||
  { kill "$backup_job"; cat "$TEST_TMP/conflict.err" >&2; fail "the backup never reached pre-data"; }
psql_q src "DELETE FROM t WHERE id % 2 = 0" >/dev/null
psql_q src "VACUUM t" >/dev/null
backup_session_gone() {
  test "$(psql -X -At -d "$(standby postgres)" -c "SELECT count(*) FROM pg_stat_activity
    WHERE application_name = 'pgdedup' AND datname = 'src'")" = 0
}
wait_until 300 backup_session_gone ||
  { kill "$backup_job"; fail "the standby's replay did not end the backup's session"; }
touch "$TEST_TMP/dump-go"
backup_rc=0
wait "$backup_job" || backup_rc=$?
assert_eq "$backup_rc" 6 "exit status of a backup the standby's replay cancelled"
cp "$TEST_TMP/conflict.err" "$LAST_STDERR"
assert_contains "$LAST_STDERR" "the server is a standby without hot_standby_feedback"
assert_contains "$LAST_STDERR" "Set hot_standby_feedback = on on the standby"
assert_eq "$(pgd "${P[@]}" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" \
  "$snapshots_before" "snapshots after the cancelled backup"

# With hot_standby_feedback on, the same sequence leaves the backup alone.
echo "hot_standby_feedback = on" >>"$TEST_TMP/sb/data/postgresql.conf"
psql -X -q -d "$(standby postgres)" -c "SELECT pg_reload_conf()" >/dev/null
feedback_on() { test "$(psql -X -At -d "$(standby postgres)" -c "SHOW hot_standby_feedback")" = on; }
wait_until 100 feedback_on || fail "hot_standby_feedback did not turn on"
# The primary holds rows back once the standby's WAL receiver has sent its first feedback.
feedback_received() {
  test "$(psql_q postgres "SELECT count(*) FROM pg_stat_replication WHERE backend_xmin IS NOT NULL")" = 1
}
wait_until 300 feedback_received || fail "the primary never received the standby's feedback"
rm -f "$TEST_TMP/dump-waiting" "$TEST_TMP/dump-go"
wait_until 300 replayed || fail "the standby never caught up"
PGDEDUP_PG_DUMP="$TEST_TMP/held-pg_dump" "$PGDEDUP_BIN" "${P[@]}" backup --db "$(standby)" \
  >/dev/null 2>"$TEST_TMP/feedback.err" &
backup_job=$!
wait_until 300 test -e "$TEST_TMP/dump-waiting" ||
  { kill "$backup_job"; cat "$TEST_TMP/feedback.err" >&2; fail "the second backup never reached pre-data"; }
want=$(psql_q src "$digest_q")
psql_q src "DELETE FROM t WHERE id % 3 = 0" >/dev/null
psql_q src "VACUUM t" >/dev/null
wait_until 300 replayed || { kill "$backup_job"; fail "the standby never caught up"; }
touch "$TEST_TMP/dump-go"
backup_rc=0
wait "$backup_job" || backup_rc=$?
[[ "$backup_rc" == 0 ]] || { cat "$TEST_TMP/feedback.err" >&2; fail "backup with hot_standby_feedback on failed"; }
assert_exit 0 pgd "${P[@]}" restore latest --db "$(pg_conninfo copy2)" --create
assert_eq "$(psql_q copy2 "$digest_q")" "$want" "the backup's snapshot, taken before the delete"

pass
