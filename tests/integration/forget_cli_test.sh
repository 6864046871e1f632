#!/usr/bin/env bash
# The forget command line: groups (host and database by default, --group-by), --keep-last,
# --keep-within, --keep-tag, the text and JSON reports, --dry-run changing nothing, usage errors
# (exit 2), and `prune --dry-run --json`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export TZ=UTC
REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
pgd init --repo "$REPO" --cache-dir "$CACHE" --pack-size 1 2>/dev/null

backup() { # HOST NAME TIME [TAG]: prints the snapshot id
  local tag=()
  [[ -n "${4:-}" ]] && tag=(--tag "$4")
  head -c 200000 /dev/urandom | pgd backup --repo "$REPO" --cache-dir "$CACHE" --stdin --name "$2" \
    --host "$1" --time "$3" "${tag[@]}" --json | jq -r .snapshot_id
}
A1=$(backup alpha shop.sql "2026-05-01 02:00:00")
A2=$(backup alpha shop.sql "2026-05-08 02:00:00" audit)
A3=$(backup alpha shop.sql "2026-05-09 02:00:00")
A4=$(backup alpha shop.sql "2026-05-10 02:00:00")
B1=$(backup beta shop.sql "2026-05-01 02:00:00")
B2=$(backup beta shop.sql "2026-05-02 02:00:00")
C1=$(backup alpha crm.sql "2026-04-01 02:00:00")

kept() { jq -r '[.groups[].snapshots[] | select(.keep) | .id] | sort | join(" ")' "$LAST_STDOUT"; }
sorted() { printf '%s\n' "$@" | sort | paste -sd' '; }

# --keep-last 1 per host and database: the newest of alpha/shop, beta/shop, alpha/crm.
assert_exit 0 pgd forget --repo "$REPO" --cache-dir "$CACHE" --keep-last 1 --dry-run --json
assert_eq "$(jq '.groups | length' "$LAST_STDOUT")" 3 "groups by host and database"
assert_eq "$(kept)" "$(sorted "$A4" "$B2" "$C1")" "keep-last 1 per group"
assert_eq "$(jq -r '.groups[] | select(.key.hostname == "alpha" and .key.database == "shop.sql") |
  [.snapshots[].id] | join(" ")' "$LAST_STDOUT")" "$A4 $A3 $A2 $A1" "a group lists newest first"

# One group: the single newest snapshot overall is kept; --keep-tag and --keep-within add to it.
assert_exit 0 pgd forget --repo "$REPO" --cache-dir "$CACHE" --group-by '' --keep-last 1 \
  --keep-tag audit --keep-within 1d --dry-run --json
assert_eq "$(jq '.groups | length' "$LAST_STDOUT")" 1 "--group-by ''"
assert_eq "$(kept)" "$(sorted "$A4" "$A3" "$A2")" "keep-last 1, tag audit, within 1d"
assert_eq "$(jq -r --arg id "$A2" '.groups[0].snapshots[] | select(.id == $id) | .reasons | join(",")' \
  "$LAST_STDOUT")" "tag audit" "reason of the tagged snapshot"
assert_eq "$(jq -r --arg id "$A3" '.groups[0].snapshots[] | select(.id == $id) | .reasons | join(",")' \
  "$LAST_STDOUT")" "within 1d" "reason of the snapshot a day older than the newest"
assert_eq "$(find "$REPO/snapshots" -type f | wc -l)" 7 "a dry run deletes nothing"

# The text report: one table per group, each snapshot with keep/forget and its reasons.
assert_exit 0 pgd forget --repo "$REPO" --cache-dir "$CACHE" --group-by host --keep-daily 1
assert_contains "$LAST_STDOUT" "host alpha: keep 1 of 5 snapshots" "text report, group alpha"
assert_contains "$LAST_STDOUT" "host beta: keep 1 of 2 snapshots" "text report, group beta"
assert_contains "$LAST_STDOUT" "${A4:0:8}  2026-05-10 02:00:00 Sun  keep    daily" "text report line"
assert_contains "$LAST_STDOUT" "${A3:0:8}  2026-05-09 02:00:00 Sat  forget" "text report line"
assert_contains "$LAST_STDERR" "forgot 5 of 7 snapshots" "forget summary"
assert_exit 0 pgd snapshots --repo "$REPO" --cache-dir "$CACHE" --json
assert_eq "$(jq -r '[.[].id] | sort | join(" ")' "$LAST_STDOUT")" "$(sorted "$A4" "$B2")" "left after forget"

# prune --dry-run --json says what it would do, and does not do it.
packs=$(find "$REPO/data" -type f | wc -l)
assert_exit 0 pgd prune --repo "$REPO" --cache-dir "$CACHE" --dry-run --json
assert_eq "$(jq .dry_run "$LAST_STDOUT")" true "prune --dry-run"
assert_eq "$(jq .snapshots "$LAST_STDOUT")" 2 "prune --dry-run: snapshots"
(($(jq '.packs_deleted + .packs_repacked' "$LAST_STDOUT") > 0)) || fail "prune --dry-run found nothing"
assert_eq "$(find "$REPO/data" -type f | wc -l)" "$packs" "packs after prune --dry-run"
assert_exit 0 pgd prune --repo "$REPO" --cache-dir "$CACHE" --json
(($(jq .bytes_freed "$LAST_STDOUT") > 0)) || fail "prune freed nothing"
assert_exit 0 pgd repo check --repo "$REPO" --cache-dir "$CACHE" --read-data

# Usage errors.
assert_exit 2 pgd forget --repo "$REPO" --cache-dir "$CACHE" --dry-run
assert_exit 2 pgd forget --repo "$REPO" --cache-dir "$CACHE" --keep-last 1 --group-by path
assert_exit 2 pgd forget --repo "$REPO" --cache-dir "$CACHE" --keep-daily -1
assert_exit 2 pgd prune --repo "$REPO" --cache-dir "$CACHE" --max-unused 150
assert_exit 2 pgd prune --repo "$REPO" --cache-dir "$CACHE" --retry-lock soon
pass
