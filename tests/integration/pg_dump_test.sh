#!/usr/bin/env bash
# A real PostgreSQL database through pg_dump: `pg_dump db | pgdedup backup --stdin`, change
# rows, back up again, then restore each snapshot with `--output - | psql` into a new database
# and compare every table (and the sequences) with the state at the time of its backup.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
S=$TEST_TMP/state
mkdir -p "$S"
p() { pgd --repo "$REPO" --cache-dir "$CACHE" "$@"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

start_pg
run_t 60 createdb shop

psql_q shop "
CREATE TABLE people (
  id     serial PRIMARY KEY,
  name   text NOT NULL,
  note   text,
  born   date,
  score  numeric(12,4),
  active boolean,
  attrs  jsonb,
  tags   text[]
);
CREATE TABLE files (
  id   integer PRIMARY KEY,
  name text,
  data bytea
);
CREATE TABLE events (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at      timestamptz NOT NULL,
  kind    varchar(20),
  payload text
);
CREATE SEQUENCE invoice_no START 1000 INCREMENT 7;
CREATE TABLE invoices (
  no     integer PRIMARY KEY DEFAULT nextval('invoice_no'),
  person integer REFERENCES people(id),
  amount numeric(10,2) NOT NULL
);
CREATE VIEW active_people AS SELECT id, name FROM people WHERE active;
CREATE INDEX ON events (at);

INSERT INTO people (name, note, born, score, active, attrs, tags) VALUES
  ('plain', 'nothing special', '1980-01-31', 1.5, true, '{\"a\": 1}', '{x,y}'),
  (E'tab\there', E'line one\nline two\r\nline three', '1999-12-31', -0.0001, false, '{\"nested\": {\"k\": [1, 2, null]}}', '{}'),
  (E'back\\\\slash', E'C:\\\\path\\\\to\\\\file and \\\\N and \\\\. alone', NULL, NULL, NULL, NULL, NULL),
  ('ünïcödé — 日本語 — emoji 🐘', E'Grüße\u00a0non-breaking, Ω, 𝄞 (outside the BMP)', '2000-02-29', 12345678.1234, true, '{\"name\": \"Zoë 🐘\"}', '{\"with space\",\"with,comma\",\"quote\\\"d\"}'),
  ('', '', '0001-01-01', 0, true, '[]', '{NULL}'),
  ('copy-end', E'\\\\.\n\\\\.', '2024-06-30', 99, false, 'null', '{a}'),
  ('nulls', NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO people (name, note, born, score, active)
  SELECT 'person ' || g, repeat(md5(g::text), 1 + g % 5), DATE '1950-01-01' + g, g / 7.0, g % 3 = 0
  FROM generate_series(1, 20000) g;

INSERT INTO files VALUES
  (1, 'all bytes', (SELECT string_agg(set_byte('\\x00'::bytea, 0, b), ''::bytea) FROM generate_series(0, 255) b)),
  (2, 'empty', ''::bytea),
  (3, 'null', NULL),
  (4, 'zeros', decode(repeat('00', 5000), 'hex')),
  (5, E'bin\tname\n', decode('5c4e0a5c2e0d09', 'hex'));
INSERT INTO files SELECT 100 + g, 'blob ' || g, decode(repeat(md5(g::text), 40), 'hex') FROM generate_series(1, 200) g;

INSERT INTO events (at, kind, payload)
  SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * INTERVAL '17 minutes', (ARRAY['login','logout','buy'])[1 + g % 3],
         CASE WHEN g % 10 = 0 THEN NULL ELSE 'event ' || g || E'\t' || md5(g::text) END
  FROM generate_series(1, 5000) g;

INSERT INTO invoices (person, amount) SELECT g, g * 1.25 FROM generate_series(1, 300) g;
SELECT setval('invoice_no', 5000, false);
" >/dev/null

TABLES="people files events invoices"
# save_state DB DIR: each table's rows ordered by key, the sequences, and the view.
save_state() {
  local db=$1 dir=$2 t
  mkdir -p "$dir"
  for t in $TABLES; do
    run_t 60 psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
      -c "COPY (SELECT * FROM $t ORDER BY 1) TO STDOUT" >"$dir/$t.copy" || fail "COPY $t from $db"
  done
  psql_q "$db" "SELECT last_value, is_called FROM invoice_no" >"$dir/seq.invoice_no"
  psql_q "$db" "SELECT last_value, is_called FROM people_id_seq" >"$dir/seq.people_id"
  psql_q "$db" "SELECT last_value, is_called FROM events_id_seq" >"$dir/seq.events_id"
  psql_q "$db" "SELECT count(*), sum(id) FROM active_people" >"$dir/view.active_people"
  psql_q "$db" "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'" >"$dir/indexes"
}
# compare_state EXPECTED_DIR ACTUAL_DIR LABEL
compare_state() {
  local f
  for f in "$1"/*; do
    cmp -s "$f" "$2/$(basename "$f")" || {
      diff <(head -c 2000 "$f") <(head -c 2000 "$2/$(basename "$f")") >&2 || true
      fail "$3: $(basename "$f") differs from the original"
    }
  done
}

save_state shop "$S/v1"
[[ $(wc -l <"$S/v1/people.copy") == 20007 ]] || fail "people rows in v1: $(wc -l <"$S/v1/people.copy")"
assert_eq "$(cat "$S/v1/seq.invoice_no")" "5000|f" "sequence state before the backup"

# Smaller chunks than the default suit this small (3.5 MB) dump.
assert_exit 0 p init --kdf interactive --chunk-avg 16384

# Backup 1: pg_dump piped straight into pgdedup (a copy of the dump is kept for a check later).
run_t 120 pg_dump -d shop | tee "$S/dump1.sql" | p backup --stdin --name shop.sql --tag pg --json \
  --time "2024-06-01 01:00:00" >"$S/b1.json" || fail "pg_dump | backup (1) failed"
grep -q "COPY public.people" "$S/dump1.sql" || fail "the dump has no COPY for people"

# Change some rows (in a few places, as a day's work might): updates, deletes, inserts, a
# bytea, the sequences.
psql_q shop "
UPDATE people SET note = E'changed\\nnote\\twith tab', score = score + 1 WHERE id BETWEEN 7000 AND 7020;
UPDATE people SET name = 'renamed ünïcödé' WHERE id = 4;
DELETE FROM invoices WHERE person BETWEEN 100 AND 120;
DELETE FROM people WHERE id BETWEEN 15000 AND 15100;
INSERT INTO people (name, note) VALUES ('new after backup 1', E'x\\\\y');
UPDATE files SET data = decode('deadbeef', 'hex') WHERE id = 1;
DELETE FROM events WHERE id BETWEEN 2000 AND 2050;
INSERT INTO events (at, kind, payload) VALUES (now(), 'late', 'after backup 1');
INSERT INTO invoices (person, amount) VALUES (1, 1.00), (2, 2.00);
"
save_state shop "$S/v2"
cmp -s "$S/v1/people.copy" "$S/v2/people.copy" && fail "the changes did not change people"

# Backup 2.
run_t 120 pg_dump -d shop | p backup --stdin --name shop.sql --tag pg --json \
  --time "2024-06-02 01:00:00" >"$S/b2.json" || fail "pg_dump | backup (2) failed"
read2=$(field "$S/b2.json" bytes_read)
added1=$(field "$S/b1.json" bytes_added)
added2=$(field "$S/b2.json" bytes_added)
echo "dump 1: $(field "$S/b1.json" bytes_read) bytes, added $added1; dump 2: $read2 bytes, added $added2"
((added2 * 3 < added1)) || fail "the second dump added $added2 bytes, not much less than the first's $added1"

id1=$(field "$S/b1.json" snapshot_id)
id2=$(field "$S/b2.json" snapshot_id)

# Restore snapshot 1 into a new database through psql, compare with v1.
run_t 60 createdb restored1
p restore "$id1" --stream shop.sql --output - |
  run_t 120 psql -X -q -v ON_ERROR_STOP=1 -d restored1 >"$S/psql1.out" 2>"$S/psql1.err" ||
  { cat "$S/psql1.err" >&2; fail "restore of snapshot 1 | psql failed"; }
[[ ! -s "$S/psql1.err" ]] || { cat "$S/psql1.err" >&2; fail "psql printed errors restoring snapshot 1"; }
save_state restored1 "$S/r1"
compare_state "$S/v1" "$S/r1" "snapshot 1 restored"
# The stream restores byte for byte as pg_dump wrote it.
p restore "$id1" --output - | cmp - "$S/dump1.sql" || fail "snapshot 1 is not byte for byte the first dump"
# Spot checks that the comparison is not vacuous: the odd values are there.
assert_eq "$(psql_q restored1 "SELECT name FROM people WHERE id = 4")" "ünïcödé — 日本語 — emoji 🐘" "unicode text"
assert_eq "$(psql_q restored1 "SELECT note FROM people WHERE id = 3")" 'C:\path\to\file and \N and \. alone' "backslashes"
assert_eq "$(psql_q restored1 "SELECT note = E'line one\nline two\r\nline three' FROM people WHERE id = 2")" t "newlines"
assert_eq "$(psql_q restored1 "SELECT md5(data) FROM files WHERE id = 1")" \
  "$(python3 -c 'import hashlib; print(hashlib.md5(bytes(range(256))).hexdigest())')" "bytea with all byte values"
assert_eq "$(psql_q restored1 "SELECT count(*) FROM people WHERE born IS NULL AND score IS NULL AND active IS NULL")" 2 "NULLs"
assert_eq "$(psql_q restored1 "SELECT data IS NULL FROM files WHERE id = 3")" t "NULL bytea"
# A sequence continues where it was.
assert_eq "$(psql_q restored1 "SELECT nextval('invoice_no')")" 5000 "nextval after restore"

# Restore the latest (snapshot 2) by prefix into another database, compare with v2.
run_t 60 createdb restored2
p restore "${id2:0:8}" --output - | run_t 120 psql -X -q -v ON_ERROR_STOP=1 -d restored2 >/dev/null 2>"$S/psql2.err" ||
  { cat "$S/psql2.err" >&2; fail "restore of snapshot 2 | psql failed"; }
save_state restored2 "$S/r2"
compare_state "$S/v2" "$S/r2" "snapshot 2 restored"
p restore latest --output - | cmp - <(p restore "$id2" --output -) || fail "latest is not snapshot 2"

# The original database is unchanged by all this.
save_state shop "$S/v2-again"
compare_state "$S/v2" "$S/v2-again" "original database"

assert_exit 0 p repo check --read-data
pass
