# shellcheck shell=bash
# Helpers for tests that compare databases, sourced after lib.sh (they use $S, a directory for
# state files, which the test sets before calling them):
#
#   db_state DB DIR            what must survive a backup and restore of DB, one file per aspect
#   compare_state EXP ACT MSG  fail with the diff unless two db_state directories are the same
#   jpy FILE EXPR              print a python expression on d, the JSON document in FILE
#   assert_fails CMD...        like assert_exit, but any non-zero status will do ($LAST_RC)

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
            c.conname, c.contype, pg_get_constraintdef(c.oid), c.convalidated, c.conislocal,
            obj_description(c.oid, 'pg_constraint')
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

