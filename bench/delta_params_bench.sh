#!/usr/bin/env bash
# How the chunk size and the delta chain bound shape nightly growth and restore speed: the
# measurement behind the defaults (64 KiB chunks, chains of at most 8).
#
#   bench/delta_params_bench.sh [--scale S] [--nights K] [--configs "c64 dl3 ..."]
#
#   --scale S     size of the shop database (bench/shopdb.sh; default 3, ~60 MB plain dump)
#   --nights K    nights of churn after the first backup (default 12)
#   --configs L   the configurations to run (default: c16 c64 c256 c1m d4 d16 none)
#
# One repository per configuration, all fed the same native backups night after night:
#   c16/c64/c256/c1m   chunks of 16 KiB, 64 KiB, 256 KiB, 1 MiB on average (init --chunk-avg),
#                      deltas with the default chain bound
#   d4/d16             64 KiB chunks, chains of at most 4 and 16 (PGDEDUP_MAX_DELTA_DEPTH)
#   none               64 KiB chunks, backup --no-delta
#   dl3/dl6/dl9/dl19   64 KiB chunks, deltas compressed at zstd level 3, 6, 9, 19
#                      (PGDEDUP_DELTA_LEVEL; the default is the repository's level, 1)
#   z3/z9              64 KiB chunks, the repository's level 3 or 9 (init --compression)
# Prints the growth of each repository per night (KB), the mean over nights 1..K, the backup
# time over nights 1..K (s), and the time to restore the four largest tables of the last
# snapshot to /dev/null (best of 3).
set -euo pipefail

SCALE=3
NIGHTS=12
CONFIGS=(c16 c64 c256 c1m d4 d16 none)
while [[ $# -gt 0 ]]; do
  case $1 in
    --scale) SCALE=$2; shift 2 ;;
    --nights) NIGHTS=$2; shift 2 ;;
    --configs) read -r -a CONFIGS <<<"$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "delta_params_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
WORK=$(mktemp -d /var/tmp/pgdedup-delta-params.XXXXXX)
chmod 755 "$WORK"
bench_start "$WORK" "$SCALE"
export PGDEDUP_PASSWORD=bench

declare -A INIT=([c16]=16384 [c64]=65536 [c256]=262144 [c1m]=1048576)
declare -A DEPTH=([d4]=4 [d16]=16)
declare -A DLEVEL=([dl3]=3 [dl6]=6 [dl9]=9 [dl19]=19)
declare -A ZLEVEL=([z3]=3 [z9]=9)
declare -A TOTAL BACKUP_S
for c in "${CONFIGS[@]}"; do
  case $c in
    c16|c64|c256|c1m|d4|d16|none|dl3|dl6|dl9|dl19|z3|z9) ;;
    *) echo "delta_params_bench.sh: unknown configuration $c" >&2; exit 2 ;;
  esac
  "$PGDEDUP" init --repo "$WORK/$c" -q --chunk-avg "${INIT[$c]:-65536}" --compression "${ZLEVEL[$c]:-1}"
  TOTAL[$c]=0
  BACKUP_S[$c]=0
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
    t0=$(date +%s.%N)
    PGDEDUP_MAX_DELTA_DEPTH=${DEPTH[$c]:-8} PGDEDUP_DELTA_LEVEL=${DLEVEL[$c]:-0} \
      "$PGDEDUP" backup --repo "$WORK/$c" --db dbname=shop -q "${extra[@]}"
    t=$(echo "$(date +%s.%N) - $t0" | bc)
    grown=$(( ($(dir_size "$WORK/$c") - before) / 1000 ))
    if ((night > 0)); then
      TOTAL[$c]=$((TOTAL[$c] + grown))
      BACKUP_S[$c]=$(echo "${BACKUP_S[$c]} + $t" | bc)
    fi
    printf '\t%s' "$grown"
  done
  printf '\n'
done
printf 'mean 1..%s' "$NIGHTS"
for c in "${CONFIGS[@]}"; do printf '\t%s' $((TOTAL[$c] / NIGHTS)); done
printf '\n'
printf 'backup s 1..%s' "$NIGHTS"
for c in "${CONFIGS[@]}"; do printf '\t%.1f' "${BACKUP_S[$c]}"; done
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
