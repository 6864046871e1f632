#!/usr/bin/env bash
# The command line: --help, options before and after the command, usage errors (exit 2),
# $PGDEDUP_REPO, snapshot selection errors (unknown and ambiguous prefixes), an unknown stream,
# --time validation, `backup --db` of an unreachable server, delta chunks and `--no-delta`, and
# progress drawn on a terminal only.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
unset PGDEDUP_REPO

# --help and --version: exit 0, the commands are named.
assert_exit 0 pgd --help
for c in init backup snapshots restore repo key stats; do
  grep -qE "^ +$c( |$)" "$LAST_STDOUT" || fail "--help does not mention the command $c"
done
assert_contains "$LAST_STDOUT" "--repo" "--help mentions --repo"
assert_contains "$LAST_STDOUT" "Exit codes" "--help documents the exit codes"
assert_exit 0 pgd backup --help
assert_contains "$LAST_STDOUT" "--stdin" "backup --help mentions --stdin"
assert_contains "$LAST_STDOUT" "--tag" "backup --help mentions --tag"
assert_exit 0 pgd restore --help
assert_contains "$LAST_STDOUT" "--output" "restore --help mentions --output"
assert_exit 0 pgd repo --help
assert_contains "$LAST_STDOUT" "check" "repo --help mentions check"
assert_exit 0 pgd key --help
for c in list add remove passwd; do assert_contains "$LAST_STDOUT" "$c" "key --help mentions $c"; done
assert_exit 0 pgd --version
[[ -s "$LAST_STDOUT" ]] || fail "--version printed nothing"
# No command at all is a usage error.
assert_exit 2 pgd

# Options before the command, after it, and mixed.
assert_exit 0 pgd --repo "$REPO" --cache-dir "$CACHE" --kdf interactive init
assert_exit 0 pgd snapshots --repo "$REPO" --cache-dir "$CACHE" --json
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <"$LAST_STDOUT")" 0 "snapshots in a new repository"
printf 'alpha\n' >"$TEST_TMP/a"
printf 'beta\n' >"$TEST_TMP/b"
pgd --repo "$REPO" backup --stdin --cache-dir "$CACHE" --name a.txt --json <"$TEST_TMP/a" >"$TEST_TMP/a.json" ||
  fail "backup with options before and after the command failed"
pgd -q backup --repo "$REPO" --cache-dir "$CACHE" --json --stdin --name b.txt --time "2020-01-01 00:00:00" <"$TEST_TMP/b" >"$TEST_TMP/b.json" 2>"$TEST_TMP/b.err" ||
  fail "backup with all options after the command failed"
[[ ! -s "$TEST_TMP/b.err" ]] || fail "-q still printed: $(cat "$TEST_TMP/b.err")"
id_a=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$TEST_TMP/a.json")
id_b=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])' <"$TEST_TMP/b.json")
assert_exit 0 pgd --json --cache-dir "$CACHE" snapshots --repo "$REPO"
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <"$LAST_STDOUT")" 2 "snapshots --json (global --json before the command)"
assert_exit 0 pgd --repo "$REPO" --cache-dir "$CACHE" restore "$id_a" --output -
assert_eq "$(cat "$LAST_STDOUT")" alpha "restore with options on both sides"
assert_exit 0 pgd restore --output - --cache-dir "$CACHE" "${id_b:0:8}" --repo "$REPO"
assert_eq "$(cat "$LAST_STDOUT")" beta "restore with the snapshot among the options"
# --json output is one JSON document on stdout, logs go to stderr.
assert_exit 0 pgd --repo "$REPO" --cache-dir "$CACHE" -v stats --json
python3 -c 'import json,sys; json.load(sys.stdin)' <"$LAST_STDOUT" || fail "stats --json -v: stdout is not one JSON document"

# $PGDEDUP_REPO stands in for --repo; --repo wins over it.
assert_exit 0 env PGDEDUP_REPO="$REPO" "$PGDEDUP_BIN" --cache-dir "$CACHE" snapshots --json
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <"$LAST_STDOUT")" 2 "snapshots via PGDEDUP_REPO"
assert_exit 0 env PGDEDUP_REPO="$TEST_TMP/elsewhere" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" snapshots

# Usage errors: exit 2 with a message.
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" snapshots --no-such-option
assert_contains "$LAST_STDERR" "--no-such-option" "message for an unknown option names it"
assert_exit 2 pgd --no-such-option --repo "$REPO" --cache-dir "$CACHE" snapshots
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" no-such-command
assert_exit 2 pgd --cache-dir "$CACHE" snapshots
assert_contains "$LAST_STDERR" "PGDEDUP_REPO" "message for a missing --repo mentions PGDEDUP_REPO"
assert_exit 2 pgd --cache-dir "$CACHE" init --kdf interactive
assert_exit 2 pgd --cache-dir "$CACHE" restore latest --output -
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" restore --output -
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" restore latest
assert_contains "$LAST_STDERR" "--output" "message for restore without --output"
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" backup --name x </dev/null
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" backup --stdin </dev/null
assert_contains "$LAST_STDERR" "--name" "message for backup --stdin without --name"
assert_exit 2 env PGDEDUP_NEW_PASSWORD=x "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" --kdf no-such-cost key add
assert_exit 2 pgd --repo "$TEST_TMP/repo2" --cache-dir "$CACHE" init --chunk-avg 1000 --kdf interactive
[[ ! -e "$TEST_TMP/repo2/config" ]] || fail "init with a bad --chunk-avg created a repository"
# --time: only real "YYYY-MM-DD HH:MM:SS" times
for t in "yesterday" "2024-13-01 00:00:00" "2024-01-01 25:00:00" "2024-01-01T00:00:00" "2024-01-01 00:00:00 x"; do
  assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" backup --stdin --name t --time "$t" </dev/null
  assert_contains "$LAST_STDERR" "YYYY-MM-DD HH:MM:SS" "message for --time '$t'"
done
# A day that does not exist must be refused, not silently moved to another day.
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" backup --stdin --name t --time "2023-02-29 00:00:00" </dev/null
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" backup --stdin --name t --time "2024-04-31 12:00:00" </dev/null
# None of the refused commands wrote a snapshot.
assert_eq "$(find "$REPO/snapshots" -type f | wc -l)" 2 "snapshots after the refused commands"

# Snapshot selection: unknown prefix, too-short prefix, non-hex, ambiguous prefix.
assert_exit 1 pgd --repo "$REPO" --cache-dir "$CACHE" restore "$(printf '%s' "$id_a" | tr '0-9a-f' '1-9a-f0' | cut -c1-12)" --output -
assert_contains "$LAST_STDERR" "no snapshot" "message for an unknown snapshot"
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" restore "${id_a:0:3}" --output -
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" restore zzzzzzzz --output -
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" restore "${id_a}0" --output -
assert_exit 1 pgd --repo "$REPO" --cache-dir "$CACHE" restore "${id_a:0:4}ffffffffffff" --output "$TEST_TMP/none.out"
[[ ! -e "$TEST_TMP/none.out" ]] || fail "a failed restore left its output file"
# The shortest prefix allowed: 4 hex digits.
assert_exit 0 pgd --repo "$REPO" --cache-dir "$CACHE" restore "${id_a:0:4}" --output -
assert_eq "$(cat "$LAST_STDOUT")" alpha "restore by a 4-digit prefix"

# An ambiguous prefix: put a second manifest name beside id_a sharing its first four hex digits
# (a copy under a name that does not match its bytes; prefix matching sees the names first, and
# waiting for two real ids to collide would take ~320 backups).
fake="${id_a:0:4}$(printf '%060d' 0)"
[[ "$fake" != "$id_a" ]] || fake="${id_a:0:4}$(printf '%060d' 1)"
cp "$REPO/snapshots/$id_a" "$REPO/snapshots/$fake"
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" restore "${id_a:0:4}" --output -
assert_contains "$LAST_STDERR" "${id_a:0:4}" "message for an ambiguous prefix names it"
assert_contains "$LAST_STDERR" "ambiguous" "message for an ambiguous prefix"
# A longer prefix tells them apart again.
assert_exit 0 pgd --repo "$REPO" --cache-dir "$CACHE" restore "${id_a:0:8}" --output -
assert_eq "$(cat "$LAST_STDOUT")" alpha "restore by an 8-digit prefix"
rm "$REPO/snapshots/$fake"

# An unknown stream: fail naming the streams there.
assert_exit 1 pgd --repo "$REPO" --cache-dir "$CACHE" restore "$id_a" --stream no-such-stream --output -
assert_contains "$LAST_STDERR" "no-such-stream" "message for an unknown stream names it"
assert_contains "$LAST_STDERR" "a.txt" "message for an unknown stream names the streams there"

# backup --db of a server that is not there: exit 6, a clear message, no snapshot written.
n=$(find "$REPO/snapshots" -type f | wc -l)
got=0
pgd --repo "$REPO" --cache-dir "$CACHE" backup --db "host=/nonexistent dbname=x" >"$LAST_STDOUT" 2>"$LAST_STDERR" || got=$?
assert_eq "$got" 6 "exit status of backup --db with no server"
assert_contains "$LAST_STDERR" "cannot connect to PostgreSQL" "message for backup --db with no server"
# Neither or both of --db and --stdin: a usage error.
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" backup
assert_exit 2 pgd --repo "$REPO" --cache-dir "$CACHE" backup --db "dbname=x" --stdin --name x
assert_eq "$(find "$REPO/snapshots" -type f | wc -l)" "$n" "snapshots after backup --db"

assert_exit 0 pgd --repo "$REPO" --cache-dir "$CACHE" repo check

# Delta chunks from the command line: the next night of a dump stores some of its new chunks as
# deltas (backup --json counts them), and with --no-delta none. (How much they save is
# measured elsewhere: on one small night, two repositories' random chunker seeds make more
# difference than deltas do.)
"$GEN_DUMP" --rows 20000 --seed 5 >"$TEST_TMP/night0.sql"
"$GEN_DUMP" --rows 20000 --night 1 --seed 5 >"$TEST_TMP/night1.sql"
for mode in delta plain; do
  r=$TEST_TMP/repo-$mode
  pgd -q init --repo "$r" --kdf interactive --cache-dir "$CACHE-$mode"
  assert_exit 0 pgd --repo "$r" --cache-dir "$CACHE-$mode" backup --stdin --name db.sql <"$TEST_TMP/night0.sql"
  flags=()
  [[ $mode == plain ]] && flags=(--no-delta)
  assert_exit 0 pgd --repo "$r" --cache-dir "$CACHE-$mode" backup --stdin --name db.sql --json \
    "${flags[@]}" <"$TEST_TMP/night1.sql"
  declare "deltas_$mode=$(jq .new_delta_chunks "$LAST_STDOUT")"
  assert_exit 0 pgd --repo "$r" --cache-dir "$CACHE-$mode" restore latest --stream db.sql --output "$TEST_TMP/back-$mode.sql"
  cmp -s "$TEST_TMP/back-$mode.sql" "$TEST_TMP/night1.sql" || fail "night 1 ($mode) does not restore byte for byte"
done
((deltas_delta > 0)) || fail "the next night stored no delta chunks"
assert_eq "$deltas_plain" 0 "delta chunks stored with --no-delta"

# Progress: drawn on a terminal (script(1) gives the backup one), never into a file or pipe.
slow_input() { head -c 4000000 "$TEST_TMP/night0.sql"; sleep 1; tail -c +4000001 "$TEST_TMP/night0.sql"; }
export -f slow_input
export TEST_TMP
SHELL=/bin/bash script -qefc "slow_input | '$PGDEDUP_BIN' --repo '$REPO' --cache-dir '$CACHE' backup --stdin --name progress.sql" \
  "$TEST_TMP/tty.log" >/dev/null </dev/null
grep -q $'\r\033\[K' "$TEST_TMP/tty.log" || fail "no progress line on a terminal: $(cat -v "$TEST_TMP/tty.log")"
grep -qa "backup progress.sql" "$TEST_TMP/tty.log" || fail "the progress line does not name the stream"
slow_input | pgd --repo "$REPO" --cache-dir "$CACHE" backup --stdin --name progress.sql >"$LAST_STDOUT" 2>"$LAST_STDERR"
if grep -q $'\r' "$LAST_STDERR"; then fail "progress drawn into a file: $(cat -v "$LAST_STDERR")"; fi
pass
