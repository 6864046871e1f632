#!/usr/bin/env bash
# forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune on a year of nightly
# snapshots: pgdedup against `restic forget --prune` on the same data (issue 6).
#
#   bench/prune_bench.sh [--nights N] [--rows R] [--workdir DIR]
#
# Builds, for each tool, a repository of N nightly backups (default 365) of a generated shop
# database dump (gen_dump --rows R --night K, default R = 10000, ~2.5 MB a night) made with
# --time, one night a day at 02:00 from 2025-01-01. Then times the one forget-and-prune command
# under /usr/bin/time -v (wall time, peak RSS) and reports the repository size before and after
# and the snapshots left. Both tools use their defaults (pgdedup: 64 KiB chunks, 16 MiB packs,
# repack packs over 50% unused; restic: 1 MiB chunks, repack until at most 5% of the repository
# is unused). Prints a Markdown table on stdout.
set -euo pipefail

NIGHTS=365
ROWS=10000
WORK=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nights) NIGHTS=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/install-deps.sh" --bench >&2
PGDEDUP=${PGDEDUP_BIN:-$("$ROOT/scripts/build.sh")}
GEN_DUMP=${GEN_DUMP:-$(dirname "$PGDEDUP")/bench/gen_dump}
command -v restic >/dev/null || { echo "restic is not installed" >&2; exit 1; }

if [[ -z "$WORK" ]]; then WORK=$(mktemp -d /var/tmp/pgdedup-prune-bench.XXXXXX); fi
trap 'rm -rf "$WORK"' EXIT
export PGDEDUP_PASSWORD=bench-password RESTIC_PASSWORD=bench-password
export RESTIC_CACHE_DIR=$WORK/restic-cache
PGD_CACHE=$WORK/pgd-cache
POLICY=(--keep-daily 7 --keep-weekly 4 --keep-monthly 12)

size_of() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# measure OUT CMD...: runs CMD under /usr/bin/time -v; prints "seconds maxrss_kb".
measure() {
  local out=$1; shift
  /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$out" 2>"$WORK/cmd.err" || {
    cat "$WORK/cmd.err" >&2
    return 1
  }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
    for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$WORK/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
  echo "$wall $rss"
}

"$PGDEDUP" init -q --repo "$WORK/pgd" --cache-dir "$PGD_CACHE"
restic init -q --repo "$WORK/restic" >/dev/null
start=$SECONDS
for ((k = 0; k < NIGHTS; k++)); do
  when="$(date -d "2025-01-01 + $k days" +%F) 02:00:00"
  "$GEN_DUMP" --rows "$ROWS" --night "$k" >"$WORK/night.sql"
  "$PGDEDUP" backup -q --repo "$WORK/pgd" --cache-dir "$PGD_CACHE" --stdin --name shop.sql \
    --time "$when" <"$WORK/night.sql"
  restic backup -q --repo "$WORK/restic" --stdin --stdin-filename shop.sql --time "$when" \
    <"$WORK/night.sql" >/dev/null
  if ((k % 50 == 49)); then echo "$((k + 1)) nights backed up ($((SECONDS - start)) s)" >&2; fi
done
rm -f "$WORK/night.sql"

pgd_before=$(size_of "$WORK/pgd")
restic_before=$(size_of "$WORK/restic")
read -r pgd_s pgd_rss < <(measure "$WORK/pgd.json" "$PGDEDUP" forget --repo "$WORK/pgd" \
  --cache-dir "$PGD_CACHE" --json "${POLICY[@]}" --prune)
read -r restic_s restic_rss < <(measure "$WORK/restic.out" restic forget -q --repo "$WORK/restic" \
  "${POLICY[@]}" --prune)
pgd_after=$(size_of "$WORK/pgd")
restic_after=$(size_of "$WORK/restic")
pgd_left=$(jq .kept "$WORK/pgd.json")
restic_left=$(restic snapshots -q --repo "$WORK/restic" --json | jq length)

# Both must still restore the newest night.
"$PGDEDUP" restore -q --repo "$WORK/pgd" --cache-dir "$PGD_CACHE" latest --stream shop.sql \
  --output "$WORK/pgd.sql"
"$GEN_DUMP" --rows "$ROWS" --night $((NIGHTS - 1)) | cmp - "$WORK/pgd.sql"
"$PGDEDUP" repo check -q --repo "$WORK/pgd" --cache-dir "$PGD_CACHE" --read-data

echo "$NIGHTS nightly snapshots of gen_dump --rows $ROWS ($(stat -c %s "$WORK/pgd.sql") bytes the last night); forget ${POLICY[*]} --prune"
echo
echo "| tool | snapshots left | repository before | after | forget + prune wall | peak RSS |"
echo "|---|---|---|---|---|---|"
echo "| pgdedup | $pgd_left | $(mib "$pgd_before") MiB | $(mib "$pgd_after") MiB | ${pgd_s} s | $((pgd_rss / 1024)) MiB |"
echo "| restic 0.14 | $restic_left | $(mib "$restic_before") MiB | $(mib "$restic_after") MiB | ${restic_s} s | $((restic_rss / 1024)) MiB |"
echo
echo "pgdedup prune: $(jq -c .prune "$WORK/pgd.json")"
