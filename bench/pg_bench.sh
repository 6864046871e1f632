#!/usr/bin/env bash
# Native PostgreSQL backup and restore: pgdedup against pg_dump (issue 4).
#
#   bench/pg_bench.sh [--scale S] [--runs N] [--nights K] [--workdir DIR]
#
#   --scale S    size of the shop database (bench/shopdb.sh; default 15, ~300 MB plain dump)
#   --runs N     best of N runs for every timing (default 3)
#   --nights K   nights of churn for the growth table (default 5; 0 skips it)
#   --workdir D  work directory (default: a new /var/tmp/pgdedup-pgbench.XXXXXX, removed at the
#                end; KEEP_WORK=1 keeps it). PGDEDUP_BIN=... uses that binary instead of building.
#
# Starts a throwaway server (scripts/pg-server.sh), builds the shop database, then measures,
# best of N, wall time, peak RSS and output size of
#   backup:  pgdedup backup --db dbname=shop --jobs 2 (native; into an empty repository, and
#            again unchanged into the same repository)
#            pg_dump shop | gzip > shop.sql.gz
#            pg_dump -Fc -f shop.dump shop
#   restore: pgdedup restore latest --db dbname=NEW --create --jobs 2 [--no-analyze]
#            createdb NEW && psql -f shop.sql NEW          (the plain dump, uncompressed)
#            createdb NEW && pg_restore -j 2 -d NEW shop.dump
#            and each of the last two followed by vacuumdb -j 2 --analyze-only NEW: pgdedup's
#            restore ends with ANALYZE (a restored database without statistics plans its
#            queries blind), pg_restore and psql leave that to the operator
#   (each restored database is checked table by table against the original, once per method)
# and then K nights of churn (bench/shopdb.sh churn), each followed by a native pgdedup backup,
# a restic backup of the plain pg_dump (--stdin) and a pg_dump | gzip, and prints what each night
# added. Prints Markdown tables on stdout; progress on stderr.
set -euo pipefail

SCALE=15
RUNS=3
NIGHTS=5
WORK=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) SCALE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --nights) NIGHTS=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
    *) echo "pg_bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/bench_lib.sh"
[[ -n "$WORK" ]] || WORK=$(mktemp -d /var/tmp/pgdedup-pgbench.XXXXXX)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
bench_start "$WORK" "$SCALE"
command -v restic >/dev/null || { echo "pg_bench.sh: restic is not installed" >&2; exit 1; }

export PGDEDUP_PASSWORD=bench-password RESTIC_PASSWORD=bench-password
export RESTIC_CACHE_DIR=$WORK/restic-cache
REPO=$WORK/pgd
CACHE=$WORK/pgd-cache
pgd() { "$PGDEDUP" --repo "$REPO" --cache-dir "$CACHE" -q "$@"; }
say() { echo "pg_bench.sh: $*" >&2; }

PLAIN_SIZE=$(pg_dump shop | wc -c)
say "plain pg_dump: $PLAIN_SIZE bytes"
ORIG_SUM=$(db_checksum shop)

T=$WORK/times
mkdir -p "$T"

# --- backup -------------------------------------------------------------------------------
for ((i = 1; i <= RUNS; i++)); do
  say "backup run $i of $RUNS"
  rm -rf "$REPO" "$CACHE"
  pgd init
  measure "$T/pgd_backup" "$PGDEDUP" --repo "$REPO" --cache-dir "$CACHE" -q \
    backup --db dbname=shop --jobs 2
  PGD_SIZE=$(dir_size "$REPO")
  measure "$T/pgd_backup_again" "$PGDEDUP" --repo "$REPO" --cache-dir "$CACHE" -q \
    backup --db dbname=shop --jobs 2
  PGD_AGAIN=$(($(dir_size "$REPO") - PGD_SIZE))
  measure "$T/gzip_backup" sh -c "pg_dump shop | gzip > '$WORK/shop.sql.gz'"
  GZIP_SIZE=$(stat -c %s "$WORK/shop.sql.gz")
  measure "$T/fc_backup" pg_dump -Fc -f "$WORK/shop.dump" shop
  FC_SIZE=$(stat -c %s "$WORK/shop.dump")
done
# Keep a repository with one snapshot for the restores.
rm -rf "$REPO" "$CACHE"
pgd init
pgd backup --db dbname=shop --jobs 2
pg_dump -f "$WORK/shop.sql" shop

# --- restore ------------------------------------------------------------------------------
check_restored() {  # check_restored DB LABEL
  local sum
  sum=$(db_checksum "$1")
  if [[ "$sum" != "$ORIG_SUM" ]]; then
    echo "pg_bench.sh: $2 restored database differs from the original:" >&2
    diff <(echo "$ORIG_SUM") <(echo "$sum") >&2 || true
    exit 1
  fi
  say "$2: restored database verified (row counts and row hashes of every table)"
}
# pgdedup's restore with and without ANALYZE, in turn first (neither always after the other).
pgd_restore() {  # pgd_restore RUN [--no-analyze]
  local out=$T/pgd_restore label=pgdedup
  [[ -z "${2:-}" ]] || { out=$T/pgd_restore_na; label="pgdedup --no-analyze"; }
  measure "$out" "$PGDEDUP" --repo "$REPO" --cache-dir "$CACHE" -q \
    restore latest --db dbname=r_pgd --create --jobs 2 ${2:-}
  (($1 > 1)) || check_restored r_pgd "$label"
  dropdb r_pgd
}
for ((i = 1; i <= RUNS; i++)); do
  say "restore run $i of $RUNS"
  if ((i % 2)); then
    pgd_restore "$i"
    pgd_restore "$i" --no-analyze
  else
    pgd_restore "$i" --no-analyze
    pgd_restore "$i"
  fi
  measure "$T/psql_restore" sh -c "createdb r_psql && psql -X -q -v ON_ERROR_STOP=1 -f '$WORK/shop.sql' r_psql"
  ((i == 1)) && check_restored r_psql psql
  measure "$T/psql_analyze" vacuumdb -q -j 2 --analyze-only r_psql
  dropdb r_psql
  measure "$T/pgr_restore" sh -c "createdb r_pgr && pg_restore -j 2 -d r_pgr '$WORK/shop.dump'"
  ((i == 1)) && check_restored r_pgr pg_restore
  measure "$T/pgr_analyze" vacuumdb -q -j 2 --analyze-only r_pgr
  dropdb r_pgr
done

# --- report: speed -----------------------------------------------------------------------
row() {  # row LABEL FILE SIZE [no-rss]
  local s r rss
  read -r s r <<<"$(best "$2")"
  rss="$((r / 1024)) MiB"
  [[ "${4:-}" != no-rss ]] || rss="n/a"
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$s" \
    "$(awk -v b="$PLAIN_SIZE" -v s="$s" 'BEGIN { printf "%.0f", b / s / 1e6 }')" "$rss" "$3"
}
echo
echo "Shop database, scale $SCALE: plain pg_dump $PLAIN_SIZE bytes ($(mb "$PLAIN_SIZE") MB);" \
  "best of $RUNS runs; $(nproc) cores (shared); PostgreSQL $(psql -X -A -t -d shop -c 'SHOW server_version' | cut -d' ' -f1)."
echo "MB/s is the plain dump's size over the wall time. Peak RSS is that of the one process measured (n/a for shell pipelines)."
echo
echo "| backup | seconds | MB/s | peak RSS | stored |"
echo "|---|---|---|---|---|"
row "pgdedup backup --db --jobs 2 (empty repository)" "$T/pgd_backup" "$(mb "$PGD_SIZE") MB (repository)"
row "pgdedup backup --db --jobs 2 (again, unchanged)" "$T/pgd_backup_again" "+$(mb "$PGD_AGAIN") MB"
row "pg_dump \\| gzip" "$T/gzip_backup" "$(mb "$GZIP_SIZE") MB" no-rss
row "pg_dump -Fc" "$T/fc_backup" "$(mb "$FC_SIZE") MB"
echo
echo "| restore (into a new database) | seconds | MB/s | peak RSS | |"
echo "|---|---|---|---|---|"
row "pgdedup restore latest --db --create --jobs 2" "$T/pgd_restore" ""
row "pgdedup restore latest --db --create --jobs 2 --no-analyze" "$T/pgd_restore_na" ""
row "createdb + psql -f shop.sql (plain)" "$T/psql_restore" "" no-rss
row "createdb + pg_restore -j 2 (-Fc)" "$T/pgr_restore" "" no-rss
# The same work as pgdedup's restore: each run's restore and ANALYZE added, then the best run.
sum_runs() { paste -d' ' "$1" "$2" | awk '{ printf "%.2f 0\n", $1 + $3 }'; }
sum_runs "$T/psql_restore" "$T/psql_analyze" >"$T/psql_restore_analyze"
sum_runs "$T/pgr_restore" "$T/pgr_analyze" >"$T/pgr_restore_analyze"
row "createdb + psql -f shop.sql, then vacuumdb -j 2 --analyze-only" "$T/psql_restore_analyze" "" no-rss
row "createdb + pg_restore -j 2, then vacuumdb -j 2 --analyze-only" "$T/pgr_restore_analyze" "" no-rss
# Each round's pgdedup restores, psql and pg_restore run within a minute of each other, so
# their ratio within a round is steadier than the best of each over all rounds on a machine
# whose speed drifts.
ratio() {  # ratio LABEL A B: the median, lowest and highest over the rounds of A's time / B's
  paste -d' ' "$2" "$3" | awk '{ print $1 / $3 }' | sort -n | awk -v l="$1" '
    { r[NR] = $1 }
    END { m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
          printf "| %s | %.2f | %.2f-%.2f |\n", l, m, r[1], r[NR] }'
}
echo
echo "| restore times, paired within each of the $RUNS rounds | median ratio | range |"
echo "|---|---|---|"
ratio "pgdedup restore / pg_restore -j 2" "$T/pgd_restore" "$T/pgr_restore"
ratio "pgdedup restore --no-analyze / pg_restore -j 2" "$T/pgd_restore_na" "$T/pgr_restore"
ratio "pgdedup restore / (pg_restore -j 2, then vacuumdb --analyze-only)" "$T/pgd_restore" \
  "$T/pgr_restore_analyze"
ratio "pgdedup restore / psql -f" "$T/pgd_restore" "$T/psql_restore"

# --- nightly growth ---------------------------------------------------------------------
if ((NIGHTS > 0)); then
  rm -rf "$REPO" "$CACHE" "$WORK/restic" "$RESTIC_CACHE_DIR" "$WORK/shop.sql" "$WORK/shop.dump"
  pgd init
  restic init -q --repo "$WORK/restic" >/dev/null
  echo
  echo "| night | plain pg_dump | pg_dump \\| gzip | restic growth (plain dump, --stdin) | pgdedup growth (native) | pgdedup backup s |"
  echo "|---|---|---|---|---|---|"
  tot_gzip=0 tot_restic=0 tot_pgd=0
  for ((n = 0; n <= NIGHTS; n++)); do
    if ((n > 0)); then
      say "night $n: churn"
      "$SHOPDB" churn dbname=shop "$n"
    fi
    when=$(date -d "2026-11-01 + $n days" '+%Y-%m-%d 02:00:00')
    pg_dump -f "$WORK/night.sql" shop
    plain=$(stat -c %s "$WORK/night.sql")
    gz=$(gzip -c "$WORK/night.sql" | wc -c)
    r0=$(dir_size "$WORK/restic")
    restic backup -q --repo "$WORK/restic" --stdin --stdin-filename shop.sql <"$WORK/night.sql" >/dev/null
    r1=$(dir_size "$WORK/restic")
    p0=$(dir_size "$REPO")
    start=$(date +%s.%N)
    pgd backup --db dbname=shop --jobs 2 --time "$when"
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    p1=$(dir_size "$REPO")
    tot_gzip=$((tot_gzip + gz)) tot_restic=$((tot_restic + r1 - r0)) tot_pgd=$((tot_pgd + p1 - p0))
    echo "| $n | $(mb "$plain") MB | $(mb "$gz") MB | $(mb $((r1 - r0))) MB | $(mb $((p1 - p0))) MB | $secs |"
  done
  echo "| total | | $(mb "$tot_gzip") MB | $(mb "$tot_restic") MB | $(mb "$tot_pgd") MB | |"
  rm -f "$WORK/night.sql"
fi
