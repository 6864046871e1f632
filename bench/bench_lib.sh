# Shared helpers of bench/pg_bench.sh and bench/growth_bench.sh (sourced, not run).
#
#   bench_start WORK SCALE   installs the bench peers, builds pgdedup (unless $PGDEDUP_BIN),
#                            starts a throwaway server in WORK/pg (autovacuum off, so the runs
#                            are reproducible), creates the database "shop" at SCALE, and sets
#                            ROOT, PGDEDUP, SHOPDB and the PG* variables. Installs an EXIT trap
#                            that stops the server and removes WORK (unless KEEP_WORK=1).
#   measure OUT CMD...       runs CMD (stdout/stderr to WORK/cmd.out/err), appends
#                            "seconds peak_rss_kib" to the file OUT; fails with CMD's stderr.
#   best FILE                the fastest "seconds rss" line of FILE.
#   dir_size DIR             bytes under DIR (du -sb).
#   mb BYTES                 BYTES in MB (10^6) with one decimal (two below 10 MB).
#   db_checksum DB           one line per table: name, row count, order-independent row hash.

BENCH_LIB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_cleanup() {
  local rc=$?
  set +e
  if [[ -n "${BENCH_WORK:-}" ]]; then
    "$BENCH_LIB_ROOT/scripts/pg-server.sh" stop "$BENCH_WORK/pg" >/dev/null 2>&1
    if [[ "${KEEP_WORK:-0}" == 1 ]]; then
      echo "bench: kept $BENCH_WORK" >&2
    else
      rm -rf "$BENCH_WORK"
    fi
  fi
  exit "$rc"
}

bench_start() {
  local work=$1 scale=$2
  ROOT=$BENCH_LIB_ROOT
  SHOPDB=$ROOT/bench/shopdb.sh
  BENCH_WORK=$work
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "$ROOT/scripts/install-deps.sh" --bench >&2
  if [[ -n "${PGDEDUP_BIN:-}" ]]; then
    PGDEDUP=$PGDEDUP_BIN
  else
    PGDEDUP=$("$ROOT/scripts/build.sh")
  fi
  [[ -x "$PGDEDUP" ]] || { echo "bench: no pgdedup binary at $PGDEDUP" >&2; exit 1; }
  eval "$("$ROOT/scripts/pg-server.sh" start "$work/pg")"
  psql -X -q -d postgres -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
  createdb shop
  local t0=$SECONDS
  "$SHOPDB" create dbname=shop "$scale"
  echo "bench: shop database (scale $scale) created in $((SECONDS - t0)) s" >&2
}

measure() {
  local out=$1; shift
  local t=$BENCH_WORK/time.out
  if ! /usr/bin/time -f "%e %M" -o "$t" "$@" >"$BENCH_WORK/cmd.out" 2>"$BENCH_WORK/cmd.err"; then
    echo "bench: failed: $*" >&2
    tail -n 20 "$BENCH_WORK/cmd.err" >&2
    return 1
  fi
  tail -n 1 "$t" >>"$out"
}

best() { sort -n "$1" | head -n 1; }

dir_size() { du -sb "$1" | cut -f1; }

mb() { awk -v b="$1" 'BEGIN { v = b / 1e6; printf (v < 10 ? "%.2f" : "%.1f"), v }'; }

db_checksum() {
  local db=$1 t
  for t in $("$SHOPDB" tables); do
    psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" \
      -c "SELECT '$t', count(*), coalesce(sum(hashtext(x::text)::bigint), 0) FROM $t x"
  done
}
