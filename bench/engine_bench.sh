#!/usr/bin/env bash
# pgdedup against restic, side by side on the same dump-like text (issue: engine speed and memory).
#
#   bench/engine_bench.sh [--rows N] [--runs K] [--big-rows M] [--workdir DIR]
#
# Measures, best of K runs, wall time (and so MB/s) and peak RSS of:
#   new data   : a backup of the stream into an empty repository
#   same again : a second backup of the same stream
#   restore    : restoring the stream to a file, made durable (pgdedup fsyncs the file it
#                writes; restic does not, so its restore is followed by `sync FILE`)
#   restore, page cache only: the same without making it durable (pgdedup --output - > FILE;
#                restic restore alone)
# and then the peak RSS of backing up and restoring a multi-GB stream of new data (--big-rows;
# 0 skips it). Both tools read the same file from stdin; restic gets --stdin, pgdedup --stdin.
# Both use their default key derivation, compression and chunking. Prints a Markdown table.
set -euo pipefail

ROWS=1200000     # ~290 MB of generated dump
RUNS=3
BIG_ROWS=8500000 # ~2 GB
WORK=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --big-rows) BIG_ROWS=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/install-deps.sh" --bench >&2
PGDEDUP=${PGDEDUP_BIN:-$("$ROOT/scripts/build.sh")}
GEN_DUMP=${GEN_DUMP:-$(dirname "$PGDEDUP")/bench/gen_dump}
command -v restic >/dev/null || { echo "restic is not installed" >&2; exit 1; }

if [[ -z "$WORK" ]]; then WORK=$(mktemp -d /var/tmp/pgdedup-bench.XXXXXX); fi
trap 'rm -rf "$WORK"' EXIT
export PGDEDUP_PASSWORD=bench-password RESTIC_PASSWORD=bench-password
PGD_CACHE=$WORK/pgd-cache
export RESTIC_CACHE_DIR=$WORK/restic-cache

echo "generating $ROWS rows of dump text" >&2
"$GEN_DUMP" --rows "$ROWS" > "$WORK/dump.sql"
SIZE=$(stat -c %s "$WORK/dump.sql")

# run LABEL CMD... : runs CMD with stdin from the dump, records "seconds maxrss_kb".
measure() {
  local out=$WORK/time.out
  /usr/bin/time -f "%e %M" -o "$out" "$@" >/dev/null 2>"$WORK/cmd.err" || {
    cat "$WORK/cmd.err" >&2
    return 1
  }
  cat "$out"
}

best() {  # reads "sec rss" lines, prints the fastest line
  sort -n | head -n 1
}

pgd_init() { rm -rf "$WORK/pgd" "$PGD_CACHE"; "$PGDEDUP" init --repo "$WORK/pgd" --cache-dir "$PGD_CACHE" -q; }
restic_init() { rm -rf "$WORK/restic" "$RESTIC_CACHE_DIR"; restic init -q --repo "$WORK/restic" >/dev/null; }

declare -A R
for tool in pgdedup restic; do
  new="" same="" rest="" rest_cached=""
  for ((i = 0; i < RUNS; i++)); do
    if [[ $tool == pgdedup ]]; then
      pgd_init
      new+=$(measure sh -c "\"$PGDEDUP\" backup --repo \"$WORK/pgd\" --cache-dir \"$PGD_CACHE\" -q --stdin --name dump.sql < \"$WORK/dump.sql\"")$'\n'
      same+=$(measure sh -c "\"$PGDEDUP\" backup --repo \"$WORK/pgd\" --cache-dir \"$PGD_CACHE\" -q --stdin --name dump.sql < \"$WORK/dump.sql\"")$'\n'
      sync  # earlier runs' writeback is not this run's
      rest+=$(measure "$PGDEDUP" restore --repo "$WORK/pgd" --cache-dir "$PGD_CACHE" -q latest --stream dump.sql --output "$WORK/restored.sql")$'\n'
      cmp "$WORK/restored.sql" "$WORK/dump.sql"
      rm -f "$WORK/restored.sql"
      sync
      rest_cached+=$(measure sh -c "\"$PGDEDUP\" restore --repo \"$WORK/pgd\" --cache-dir \"$PGD_CACHE\" -q latest --stream dump.sql --output - > \"$WORK/restored.sql\"")$'\n'
      cmp "$WORK/restored.sql" "$WORK/dump.sql"
    else
      restic_init
      new+=$(measure sh -c "restic backup -q --repo \"$WORK/restic\" --stdin --stdin-filename dump.sql < \"$WORK/dump.sql\"")$'\n'
      same+=$(measure sh -c "restic backup -q --repo \"$WORK/restic\" --stdin --stdin-filename dump.sql < \"$WORK/dump.sql\"")$'\n'
      rm -rf "$WORK/restic-out"
      sync
      rest+=$(measure sh -c "restic restore -q --repo \"$WORK/restic\" latest --target \"$WORK/restic-out\" && sync \"$WORK/restic-out/dump.sql\"")$'\n'
      cmp "$WORK/restic-out/dump.sql" "$WORK/dump.sql"
      rm -rf "$WORK/restic-out"
      sync
      rest_cached+=$(measure restic restore -q --repo "$WORK/restic" latest --target "$WORK/restic-out")$'\n'
      cmp "$WORK/restic-out/dump.sql" "$WORK/dump.sql"
      rm -rf "$WORK/restic-out"
    fi
    rm -f "$WORK/restored.sql"
  done
  R[$tool,new]=$(printf '%s' "$new" | best)
  R[$tool,same]=$(printf '%s' "$same" | best)
  R[$tool,restore]=$(printf '%s' "$rest" | best)
  R[$tool,restore_cached]=$(printf '%s' "$rest_cached" | best)
done

mbps() { awk -v b="$SIZE" -v s="$1" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", b / a }'; }

echo
echo "Input: $SIZE bytes of generated dump (gen_dump --rows $ROWS), best of $RUNS, $(nproc) cores."
echo
echo "| operation | pgdedup s | pgdedup MB/s | pgdedup peak RSS | restic s | restic MB/s | restic peak RSS | pgdedup speed-up |"
echo "|---|---|---|---|---|---|---|---|"
for op in new same restore restore_cached; do
  read -r ps pr <<<"${R[pgdedup,$op]}"
  read -r rs rr <<<"${R[restic,$op]}"
  case $op in
    new) label="backup, new data" ;;
    same) label="backup, same data again" ;;
    restore) label="restore to a file, durable (pgdedup fsyncs; restic + sync FILE)" ;;
    restore_cached) label="restore to a file, page cache only" ;;
  esac
  echo "| $label | $ps | $(mbps "$ps") | $((pr / 1024)) MiB | $rs | $(mbps "$rs") | $((rr / 1024)) MiB | $(ratio "$ps" "$rs") |"
done

if [[ "$BIG_ROWS" -gt 0 ]]; then
  rm -f "$WORK/dump.sql"
  pgd_init
  restic_init
  echo "generating and backing up $BIG_ROWS rows (streamed, not stored)" >&2
  BIG=$("$GEN_DUMP" --rows "$BIG_ROWS" | wc -c)
  pb=$(measure sh -c "\"$GEN_DUMP\" --rows $BIG_ROWS | \"$PGDEDUP\" backup --repo \"$WORK/pgd\" --cache-dir \"$PGD_CACHE\" -q --stdin --name big.sql")
  rb=$(measure sh -c "\"$GEN_DUMP\" --rows $BIG_ROWS | restic backup -q --repo \"$WORK/restic\" --stdin --stdin-filename big.sql")
  pr=$(measure sh -c "\"$PGDEDUP\" restore --repo \"$WORK/pgd\" --cache-dir \"$PGD_CACHE\" -q latest --stream big.sql --output - > /dev/null")
  rr=$(measure sh -c "restic dump -q --repo \"$WORK/restic\" latest big.sql > /dev/null")
  echo
  echo "Peak RSS on a $BIG-byte stream of new data (gen_dump --rows $BIG_ROWS, piped):"
  echo
  echo "| operation | pgdedup s | pgdedup peak RSS | restic s | restic peak RSS |"
  echo "|---|---|---|---|---|"
  echo "| backup | ${pb% *} | $(( ${pb#* } / 1024 )) MiB | ${rb% *} | $(( ${rb#* } / 1024 )) MiB |"
  echo "| restore to stdout | ${pr% *} | $(( ${pr#* } / 1024 )) MiB | ${rr% *} | $(( ${rr#* } / 1024 )) MiB |"
fi
