#!/usr/bin/env bash
# Nightly repository growth on a churning database: pgdedup (with and without delta chunks)
# against restic, borg and pg_dump | gzip, and against what really changed (issue 5).
#
#   bench/growth_bench.sh [--scale S] [--nights K] [--workdir DIR] [--svg FILE] [--tsv FILE]
#                         [--borg-compression C] [--no-verify] [--zstd-night0]
#
#   --scale S     size of the shop database (bench/shopdb.sh; default 15, ~300 MB plain dump)
#   --nights K    nights of churn after the first backup (default 7)
#   --svg FILE    write the chart of growth per night there (default: docs/growth.svg)
#   --tsv FILE    also keep the per-night figures as tab-separated values
#   --borg-compression C   borg create --compression (default zstd, i.e. zstd level 3)
#   --no-verify   skip the restore of the last pgdedup snapshots at the end
#   --zstd-night0 also compress all of night 0's rows with zstd -19 (the "changed" figure of the
#                 first night; ~10 CPU-minutes at scale 15, so off by default: printed as 0)
#   --workdir D   work directory (default: a new /var/tmp/pgdedup-growth.XXXXXX, removed at the
#                 end; KEEP_WORK=1 keeps it). PGDEDUP_BIN=... uses that binary instead of building.
#
# Night 0 backs up the new database; each night 1..K applies one day of changes
# (bench/shopdb.sh churn) and then backs it up with every tool, side by side:
#   gzip      pg_dump shop | gzip                        size of the file
#   restic    pg_dump shop | restic backup --stdin        growth of the repository (du -sb), and
#             restic's own "data_added" (its new chunks before compression: restic 0.14's
#             --json summary counts them uncompressed)
#   borg      pg_dump shop | borg create REPO::night-N -  growth of the repository (du -sb;
#             repokey encryption, BORG_PASSPHRASE)
#   pgdedup   pgdedup backup --db dbname=shop --no-delta  growth of the repository (du -sb)
#   pgdedup+delta  pgdedup backup --db dbname=shop        growth of the repository (du -sb)
#   changed   the rows that really changed (bench/shopdb.sh changed: new and changed rows,
#             keys of deleted rows), zstd -19; and the inserted rows alone, zstd -19 (what any
#             tool must store, short of compressing new rows against old ones)
# (one pg_dump per night feeds gzip, restic and borg.) Then, with the last night's snapshots,
# the restore speed: restic dump of the plain dump against pgdedup restoring the largest stream
# of its native snapshot, and every stream one process each (delta chains and all), to
# /dev/null, best of 3. If the pgdedup binary does not accept
# --no-delta yet, both pgdedup columns use the default and a note says so. Prints a Markdown
# table on stdout and writes the chart (bench/growth_chart.py, python3's standard library).
set -euo pipefail

SCALE=15
NIGHTS=7
WORK=""
SVG=""
TSV=""
BORG_COMPRESSION=zstd
VERIFY=1
ZSTD_NIGHT0=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) SCALE=$2; shift 2 ;;
    --nights) NIGHTS=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --svg) SVG=$2; shift 2 ;;
    --tsv) TSV=$2; shift 2 ;;
    --borg-compression) BORG_COMPRESSION=$2; shift 2 ;;
    --no-verify) VERIFY=0; shift ;;
    --zstd-night0) ZSTD_NIGHT0=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
    *) echo "growth_bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

source "$(dirname "$0")/bench_lib.sh"
[[ -n "$SVG" ]] || SVG=$BENCH_LIB_ROOT/docs/growth.svg
[[ -n "$WORK" ]] || WORK=$(mktemp -d /var/tmp/pgdedup-growth.XXXXXX)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
bench_start "$WORK" "$SCALE"
for tool in restic borg zstd gzip python3; do
  command -v "$tool" >/dev/null || { echo "growth_bench.sh: $tool is not installed" >&2; exit 1; }
done
say() { echo "growth_bench.sh: $*" >&2; }

export PGDEDUP_PASSWORD=bench-password RESTIC_PASSWORD=bench-password BORG_PASSPHRASE=bench-password
export RESTIC_CACHE_DIR=$WORK/restic-cache
export BORG_BASE_DIR=$WORK/borg-base   # borg's cache, config and security dirs
export BORG_REPO=$WORK/borg

NODELTA=(--no-delta)
NOTE=""
if ! "$PGDEDUP" backup --help 2>&1 | grep -q -- '--no-delta'; then
  NODELTA=()
  NOTE="Note: this pgdedup binary has no \`backup --no-delta\` yet; both pgdedup columns use its default."
  say "$NOTE"
fi

"$PGDEDUP" init --repo "$WORK/pgd-plain" --cache-dir "$WORK/pgd-cache-plain" -q
"$PGDEDUP" init --repo "$WORK/pgd-delta" --cache-dir "$WORK/pgd-cache-delta" -q
restic init -q --repo "$WORK/restic" >/dev/null
borg init -e repokey "$BORG_REPO" 2>/dev/null

# Seconds since START with one decimal.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

DATA=$WORK/nights.tsv
printf 'night\tplain\tgzip\trestic\tborg\tpgdedup\tpgdedup_delta\tchanged\trestic_s\tborg_s\tpgdedup_s\tpgdedup_delta_s\trestic_new\tinserted\n' >"$DATA"
"$SHOPDB" rows dbname=shop "$WORK/rows-prev"
for ((n = 0; n <= NIGHTS; n++)); do
  if ((n > 0)); then
    say "night $n: churn"
    "$SHOPDB" churn dbname=shop "$n"
  fi
  say "night $n: backups"
  when=$(date -d "2026-11-01 + $n days" '+%Y-%m-%d 02:00:00')
  pg_dump -f "$WORK/night.sql" shop
  plain=$(stat -c %s "$WORK/night.sql")
  gz=$(gzip -c "$WORK/night.sql" | wc -c)

  a=$(dir_size "$WORK/restic"); t=$(date +%s.%N)
  restic_new=$(restic backup --json --repo "$WORK/restic" --stdin --stdin-filename shop.sql \
    --time "$when" <"$WORK/night.sql" | sed -n 's/.*"message_type":"summary".*"data_added":\([0-9]*\).*/\1/p')
  restic_s=$(since "$t"); restic=$(($(dir_size "$WORK/restic") - a))
  [[ -n "$restic_new" ]] || { say "restic printed no summary"; exit 1; }

  a=$(dir_size "$BORG_REPO"); t=$(date +%s.%N)
  borg create --compression "$BORG_COMPRESSION" --stdin-name shop.sql --timestamp "${when/ /T}" \
    "::night-$n" - <"$WORK/night.sql"
  borg_s=$(since "$t"); borg=$(($(dir_size "$BORG_REPO") - a))

  a=$(dir_size "$WORK/pgd-plain"); t=$(date +%s.%N)
  "$PGDEDUP" --repo "$WORK/pgd-plain" --cache-dir "$WORK/pgd-cache-plain" -q \
    backup --db dbname=shop --jobs 2 --time "$when" "${NODELTA[@]}"
  pgd_s=$(since "$t"); pgd=$(($(dir_size "$WORK/pgd-plain") - a))

  a=$(dir_size "$WORK/pgd-delta"); t=$(date +%s.%N)
  "$PGDEDUP" --repo "$WORK/pgd-delta" --cache-dir "$WORK/pgd-cache-delta" -q \
    backup --db dbname=shop --jobs 2 --time "$when"
  pgdd_s=$(since "$t"); pgdd=$(($(dir_size "$WORK/pgd-delta") - a))

  if ((n == 0)); then
    changed=0 inserted=0   # night 0: everything is new
    ((ZSTD_NIGHT0 == 0)) || changed=$(zstd -19 -q -c "$WORK"/rows-prev/*.rows | wc -c)
  else
    "$SHOPDB" rows dbname=shop "$WORK/rows-cur"
    "$SHOPDB" changed "$WORK/rows-prev" "$WORK/rows-cur" >"$WORK/changed.txt"
    changed=$(zstd -19 -q -c "$WORK/changed.txt" | wc -c)
    inserted=$(grep '^+' "$WORK/changed.txt" | zstd -19 -q -c | wc -c)
    rm -f "$WORK/changed.txt"
    rm -rf "$WORK/rows-prev"
    mv "$WORK/rows-cur" "$WORK/rows-prev"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$plain" "$gz" "$restic" "$borg" \
    "$pgd" "$pgdd" "$changed" "$restic_s" "$borg_s" "$pgd_s" "$pgdd_s" "$restic_new" "$inserted" >>"$DATA"
  say "night $n: plain $plain, gzip $gz, restic +$restic, borg +$borg, pgdedup +$pgd, pgdedup+delta +$pgdd, changed $changed"
done
rm -f "$WORK/night.sql"
[[ -z "$TSV" ]] || cp "$DATA" "$TSV"

if ((VERIFY)); then
  # The last snapshot of each pgdedup repository must restore to the database as it is now.
  orig=$(db_checksum shop)
  for r in plain delta; do
    "$PGDEDUP" --repo "$WORK/pgd-$r" --cache-dir "$WORK/pgd-cache-$r" -q \
      restore latest --db "dbname=verify_$r" --create --jobs 2
    restored=$(db_checksum "verify_$r")
    if [[ "$restored" != "$orig" ]]; then
      echo "growth_bench.sh: the restore of the last snapshot of pgd-$r differs from the database:" >&2
      diff <(echo "$orig") <(echo "$restored") >&2 || true
      exit 1
    fi
    dropdb "verify_$r"
    say "pgd-$r: last snapshot restored and verified table by table"
  done
fi

# Restore speed of the last night's snapshot, deltas and all: bytes to /dev/null, best of 3,
# alternating. restic dumps its plain pg_dump (one process); pgdedup restores the largest stream
# of its native snapshot (one process: the like-for-like rate), and every stream, one process
# each (so its start, Argon2id included, counts once per stream).
latest_streams() {  # latest_streams REPO_NAME: "size<TAB>name" per stream of the latest snapshot
  "$PGDEDUP" --repo "$WORK/pgd-$1" --cache-dir "$WORK/pgd-cache-$1" --json snapshots |
    python3 -c 'import json, sys; [print("%d\t%s" % (s["size"], s["name"])) for s in json.load(sys.stdin)[-1]["streams"]]'
}
restore_stream() {  # restore_stream REPO_NAME STREAM
  "$PGDEDUP" --repo "$WORK/pgd-$1" --cache-dir "$WORK/pgd-cache-$1" -q \
    restore latest --stream "$2" --output - >/dev/null
}
declare -A RESTORE_BEST=() RESTORE_BYTES=()
RESTORE_BYTES[restic]=$(tail -n 1 "$DATA" | cut -f2)
for r in plain delta; do
  latest_streams "$r" >"$WORK/streams-$r"
  RESTORE_BYTES[$r-all]=$(awk -F '\t' '{ s += $1 } END { print s }' "$WORK/streams-$r")
  RESTORE_BYTES[$r-largest]=$(sort -n -r "$WORK/streams-$r" | head -n 1 | cut -f1)
done
LARGEST=$(sort -n -r "$WORK/streams-delta" | head -n 1 | cut -f2-)
for _ in 1 2 3; do
  for who in restic plain-largest delta-largest plain-all delta-all; do
    t=$(date +%s.%N)
    case $who in
      restic) restic dump -q --repo "$WORK/restic" latest shop.sql >/dev/null ;;
      *-largest) restore_stream "${who%-largest}" "$LARGEST" ;;
      *-all) while IFS=$'\t' read -r _ name; do restore_stream "${who%-all}" "$name"; done <"$WORK/streams-${who%-all}" ;;
    esac
    t=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    best=${RESTORE_BEST[$who]:-}
    if [[ -z "$best" ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
      RESTORE_BEST[$who]=$t
    fi
  done
done
say "restore of the last night: restic ${RESTORE_BEST[restic]} s; pgdedup largest stream ${RESTORE_BEST[plain-largest]} s (no deltas), ${RESTORE_BEST[delta-largest]} s (deltas)"

# --- report --------------------------------------------------------------------------------
echo
echo "Shop database, scale $SCALE, $NIGHTS nights of churn; growth of each repository per night (du -sb), MB = 10^6 bytes."
[[ -z "$NOTE" ]] || { echo; echo "$NOTE"; }
echo
echo "| night | plain pg_dump | pg_dump \\| gzip | restic (plain dump) | restic's new chunks, uncompressed | borg (plain dump, $BORG_COMPRESSION) | pgdedup --no-delta | pgdedup (deltas) | really changed rows, zstd -19 | inserted rows alone, zstd -19 |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk -F '\t' '
  function mb(b) { v = b / 1e6; return sprintf(v < 10 ? "%.2f" : "%.1f", v) }
  NR == 1 { next }
  { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, mb($2), mb($3), mb($4), mb($13), mb($5), mb($6), mb($7), ($1 == 0 && $8 == 0) ? "(all rows)" : mb($8), ($1 == 0) ? "" : mb($14)
    if ($1 > 0) { n++; for (i = 3; i <= 14; i++) s[i] += $i } }
  END { if (n > 0) printf "| mean of nights 1-%d | | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, mb(s[3] / n), mb(s[4] / n), mb(s[13] / n), mb(s[5] / n), mb(s[6] / n), mb(s[7] / n), mb(s[8] / n), mb(s[14] / n) }
' "$DATA"
echo
echo "Backup wall time per night, seconds (restic and borg read the dump from a file; pgdedup includes dumping the database):"
echo
echo "| night | restic | borg | pgdedup --no-delta | pgdedup (deltas) |"
echo "|---|---|---|---|---|"
awk -F '\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s |\n", $1, $9, $10, $11, $12 }' "$DATA"
echo
echo "Restore of the last night's snapshot to /dev/null, best of 3: restic dumps the plain dump; pgdedup restores its largest stream ($LARGEST), then every stream, one process each:"
echo
echo "| | bytes | seconds | MB/s | rate against restic's |"
echo "|---|---|---|---|---|"
for who in restic plain-largest delta-largest plain-all delta-all; do
  case $who in
    restic) label="restic dump (plain dump)" ;;
    plain-largest) label="pgdedup --no-delta, largest stream" ;;
    delta-largest) label="pgdedup (deltas), largest stream" ;;
    plain-all) label="pgdedup --no-delta, every stream" ;;
    delta-all) label="pgdedup (deltas), every stream" ;;
  esac
  awk -v l="$label" -v b="${RESTORE_BYTES[$who]}" -v t="${RESTORE_BEST[$who]}" \
      -v rb="${RESTORE_BYTES[restic]}" -v rt="${RESTORE_BEST[restic]}" \
    'BEGIN { printf "| %s | %d | %.2f | %.0f | %.1fx |\n", l, b, t, b / t / 1e6, (b / t) / (rb / rt) }'
done
echo

python3 "$ROOT/bench/growth_chart.py" --title "Nightly growth, shop database scale $SCALE ($(mb "$(sed -n 2p "$DATA" | cut -f2)") MB plain dump)" \
  ${NOTE:+--note "$NOTE"} "$DATA" >"$SVG.tmp"
mv "$SVG.tmp" "$SVG"
say "wrote $SVG"
