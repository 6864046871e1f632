#!/usr/bin/env bash
# How the chunk size and the delta chain bound shape nightly growth and restore speed: the
# measurement behind the defaults (64 KiB chunks, chains of at most 8).
#
#   bench/delta_params_bench.sh [--scale S] [--nights K]
#
#   --scale S   size of the shop database (bench/shopdb.sh; default 3, ~60 MB plain dump)
#   --nights K  nights of churn after the first backup (default 12)
#
# One repository per configuration, all fed the same native backups night after night:
#   c16/c64/c256/c1m   chunks of 16 KiB, 64 KiB, 256 KiB, 1 MiB on average (init --chunk-avg),
#                      deltas with the default chain bound
#   d4/d16             64 KiB chunks, chains of at most 4 and 16 (PGDEDUP_MAX_DELTA_DEPTH)
#   none               64 KiB chunks, backup --no-delta
# Prints the growth of each repository per night (KB), the mean over nights 1..K, and the time
# to restore the four largest tables of the last snapshot to /dev/null (best of 3).
set -euo pipefail

SCALE=3
NIGHTS=12
while [[ $# -gt 0 ]]; do
  case $1 in
    --scale) SCALE=$2; shift 2 ;;
    --nights) NIGHTS=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "delta_params_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
WORK=$(mktemp -d /var/tmp/pgdedup-delta-params.XXXXXX)
chmod 755 "$WORK"
bench_start "$WORK" "$SCALE"
export PGDEDUP_PASSWORD=bench

CONFIGS=(c16 c64 c256 c1m d4 d16 none)
declare -A INIT=([c16]=16384 [c64]=65536 [c256]=262144 [c1m]=1048576 [d4]=65536 [d16]=65536 [none]=65536)
declare -A DEPTH=([c16]=8 [c64]=8 [c256]=8 [c1m]=8 [d4]=4 [d16]=16 [none]=8)
declare -A TOTAL
for c in "${CONFIGS[@]}"; do
  "$PGDEDUP" init --repo "$WORK/$c" -q --chunk-avg "${INIT[$c]}"
  TOTAL[$c]=0
done

printf 'night'
for c in "${CONFIGS[@]}"; do printf '\t%s' "$c"; done
printf '\n'
for night in $(seq 0 "$NIGHTS"); do
  ((night > 0)) && "$SHOPDB" churn dbname=shop "$night" 2>/dev/null
  printf '%s' "$night"
  for c in "${CONFIGS[@]}"; do
    extra=()
    [[ $c == none ]] && extra=(--no-delta)
    before=$(dir_size "$WORK/$c")
    PGDEDUP_MAX_DELTA_DEPTH=${DEPTH[$c]} "$PGDEDUP" backup --repo "$WORK/$c" --db dbname=shop -q "${extra[@]}"
    grown=$(( ($(dir_size "$WORK/$c") - before) / 1000 ))
    ((night > 0)) && TOTAL[$c]=$((TOTAL[$c] + grown))
    printf '\t%s' "$grown"
  done
  printf '\n'
done
printf 'mean 1..%s' "$NIGHTS"
for c in "${CONFIGS[@]}"; do printf '\t%s' $((TOTAL[$c] / NIGHTS)); done
printf '\n'

printf 'restore s'
for c in "${CONFIGS[@]}"; do
  best=""
  for _ in 1 2 3; do
    t0=$(date +%s.%N)
    for t in events customers orders order_items; do
      "$PGDEDUP" restore --repo "$WORK/$c" latest --stream "\"public\".\"$t\"" --output /dev/null -q
    done
    t=$(echo "$(date +%s.%N) - $t0" | bc)
    if [[ -z "$best" ]] || (($(echo "$t < $best" | bc))); then best=$t; fi
  done
  printf '\t%.2f' "$best"
done
printf '\n'
