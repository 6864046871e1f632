#!/usr/bin/env bash
# pgdedup against restic with the repository on S3 (s3rver on loopback, https): speed and the
# number of requests for a first backup, a nightly backup and a restore.
#
#   bench/s3_bench.sh [--rows N] [--workdir DIR]
#
# Both tools back up night 0 of gen_dump's shop database (new data), then night 1 (the nightly
# backup: a few percent of the rows changed), then restore night 1 to a file (with the caches
# the backups left, as a nightly restore test would). Wall time, MB/s of the stream, and the
# requests the server answered (counted in s3rver's log, one line per response; for pgdedup
# also its own count from --json). s3rver serves https with a throwaway CA: restic's S3 client
# signs plain-http uploads with streaming chunk signatures, which s3rver stores undecoded; both
# tools get the CA file (restic --cacert, pgdedup --cacert). Prints a Markdown table.
set -euo pipefail

ROWS=700000  # ~170 MB of generated dump, like the 165 MB dump of the issue
WORK=""
while [[ $# -gt 0 ]]; do
  case "$1" in
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

if [[ -z "$WORK" ]]; then WORK=$(mktemp -d /var/tmp/pgdedup-s3bench.XXXXXX); fi
cleanup() {
  [[ -n "${KEEP_BENCH:-}" ]] && { "$ROOT/scripts/s3-server.sh" stop "$WORK/s3" >/dev/null 2>&1; echo "kept $WORK" >&2; return; }
  "$ROOT/scripts/s3-server.sh" stop "$WORK/s3" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
eval "$("$ROOT/scripts/s3-server.sh" start "$WORK/s3" --tls --log --bucket bench)"
LOG=$WORK/s3/s3rver.log
export PGDEDUP_PASSWORD=bench-password RESTIC_PASSWORD=bench-password
export RESTIC_CACHE_DIR=$WORK/restic-cache
PGD=("$PGDEDUP" --repo "$S3_REPO/pgdedup" --cacert "$S3_CACERT" --cache-dir "$WORK/pgd-cache")
RESTIC=(restic --repo "s3:$S3_ENDPOINT/$S3_BUCKET/restic" --cacert "$S3_CACERT")

echo "generating nights 0 and 1 of $ROWS rows" >&2
for n in 0 1; do "$GEN_DUMP" --rows "$ROWS" --night "$n" >"$WORK/night$n.sql"; done
SIZE0=$(stat -c %s "$WORK/night0.sql")
SIZE1=$(stat -c %s "$WORK/night1.sql")

# Responses s3rver has logged so far (lines like "... 200 12ms 1.2kb" or "... 206 1,234ms 8mb").
responses() { grep -cE ' [1-5][0-9][0-9] [0-9][0-9.,]*m?s( |$)' "$LOG" || true; }

# measure OUT CMD...: runs CMD (stdout to OUT), prints "seconds requests".
measure() {
  local out=$1; shift
  local before after start end
  before=$(responses)
  start=$(date +%s.%N)
  "$@" >"$out" 2>"$WORK/cmd.err" || { cat "$WORK/cmd.err" >&2; return 1; }
  end=$(date +%s.%N)
  sleep 0.3  # let the server flush its log
  after=$(responses)
  echo "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') $((after - before))"
}

"${PGD[@]}" init -q
"${RESTIC[@]}" init -q >/dev/null

declare -A R
R[pgdedup,new]=$(measure "$WORK/p0.json" sh -c '"$@" backup --json --stdin --name dump.sql <"$0"' "$WORK/night0.sql" "${PGD[@]}")
R[pgdedup,night]=$(measure "$WORK/p1.json" sh -c '"$@" backup --json --stdin --name dump.sql <"$0"' "$WORK/night1.sql" "${PGD[@]}")
R[pgdedup,restore]=$(measure "$WORK/pr.json" "${PGD[@]}" restore --json latest --stream dump.sql --output "$WORK/pgd-out.sql")
cmp "$WORK/pgd-out.sql" "$WORK/night1.sql"
rm -f "$WORK/pgd-out.sql"

R[restic,new]=$(measure /dev/null sh -c '"$@" backup -q --stdin --stdin-filename dump.sql <"$0"' "$WORK/night0.sql" "${RESTIC[@]}")
R[restic,night]=$(measure /dev/null sh -c '"$@" backup -q --stdin --stdin-filename dump.sql <"$0"' "$WORK/night1.sql" "${RESTIC[@]}")
R[restic,restore]=$(measure /dev/null "${RESTIC[@]}" restore -q latest --target "$WORK/restic-out")
cmp "$WORK/restic-out/dump.sql" "$WORK/night1.sql"
rm -rf "$WORK/restic-out"

own() { python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["backend"]; print(b["requests"], b["retries"], round(b["bytes_sent"]/1e6, 1), round(b["bytes_received"]/1e6, 1))' "$1"; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }

echo
echo "Input: night 0 = $SIZE0 bytes, night 1 = $SIZE1 bytes (gen_dump --rows $ROWS), one run,"
echo "s3rver $(node -e 'console.log(require(process.argv[1]).version)' "$ROOT/.tools/s3rver-3.7.1/node_modules/s3rver/package.json" 2>/dev/null || echo '?') over https on loopback, $(nproc) cores, $(restic version | cut -d' ' -f1-2)."
echo
echo "| operation | pgdedup s | pgdedup MB/s | pgdedup requests | restic s | restic MB/s | restic requests |"
echo "|---|---|---|---|---|---|---|"
for op in new night restore; do
  read -r ps pq <<<"${R[pgdedup,$op]}"
  read -r rs rq <<<"${R[restic,$op]}"
  size=$SIZE1; [[ $op == new ]] && size=$SIZE0
  label="backup, night 0 (new data)"; [[ $op == night ]] && label="backup, night 1 (nightly)"
  [[ $op == restore ]] && label="restore night 1"
  echo "| $label | $ps | $(mbps "$size" "$ps") | $pq | $rs | $(mbps "$size" "$rs") | $rq |"
done
echo
echo "pgdedup's own counts (requests, retries, MB sent, MB received): night 0: $(own "$WORK/p0.json");" \
     "night 1: $(own "$WORK/p1.json"); restore: $(own "$WORK/pr.json")."
