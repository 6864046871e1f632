#!/usr/bin/env bash
# Passwords and keys: a wrong password (exit 3), no password and no terminal (exit 3),
# --password-file, key add / list / remove / passwd, a damaged key file, init on an existing
# repository, and a repository path that does not exist.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO=$TEST_TMP/repo
CACHE=$TEST_TMP/cache
PW1=first-password
PW2='second password with spaces'
PW3=third-password
export PGDEDUP_PASSWORD=$PW1

p() { pgd --repo "$REPO" --cache-dir "$CACHE" "$@"; }
# Run pgdedup with no password in the environment, in a new session without a controlling
# terminal (so /dev/tty cannot be opened) and with stdin from /dev/null.
nopw() { env -u PGDEDUP_PASSWORD setsid -w timeout 60 "$PGDEDUP_BIN" "$@" </dev/null; }
# key IDs from `key list --json`
key_ids() { python3 -c 'import json,sys; print(" ".join(k["id"] for k in json.load(sys.stdin)))'; }
current_key() { python3 -c 'import json,sys; print([k["id"] for k in json.load(sys.stdin) if k["current"]][0])'; }
# assert_exit_in "CODES" CMD...: like assert_exit, for any of several exit statuses
assert_exit_in() {
  local want=$1; shift
  local got=0
  "$@" >"$LAST_STDOUT" 2>"$LAST_STDERR" || got=$?
  [[ " $want " == *" $got "* ]] || { cat "$LAST_STDERR" >&2; fail "expected exit status in [$want], got $got: $*"; }
}
snap_count() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

assert_exit 0 p init --kdf interactive
printf 'hello\n' | p backup --stdin --name hello.txt -q || fail "backup failed"

# A wrong password: exit 3, a clear message, and nothing is written.
before=$(find "$REPO" -type f | sort)
assert_exit 3 env PGDEDUP_PASSWORD=not-the-password "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" snapshots
assert_contains "$LAST_STDERR" "wrong password" "message for a wrong password"
assert_exit 3 env PGDEDUP_PASSWORD=not-the-password "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" restore latest --output "$TEST_TMP/out"
assert_contains "$LAST_STDERR" "wrong password" "message for a wrong password (restore)"
[[ ! -e "$TEST_TMP/out" ]] || fail "restore with a wrong password created its output"
echo data | env PGDEDUP_PASSWORD=not-the-password "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" backup --stdin --name x 2>"$TEST_TMP/err" && fail "backup with a wrong password succeeded"
assert_exit 3 env PGDEDUP_PASSWORD=not-the-password "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" key list
assert_exit 3 env PGDEDUP_PASSWORD= "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" snapshots
assert_eq "$(find "$REPO" -type f | sort)" "$before" "repository files after wrong-password commands"

# No password and no terminal: exit 3 with a message that says how to give one.
assert_exit 3 nopw --repo "$REPO" --cache-dir "$CACHE" snapshots
assert_contains "$LAST_STDERR" "PGDEDUP_PASSWORD" "message for no password mentions PGDEDUP_PASSWORD"
assert_contains "$LAST_STDERR" "--password-file" "message for no password mentions --password-file"
assert_exit 3 nopw --repo "$REPO" --cache-dir "$CACHE" restore latest --output -
assert_exit 3 nopw init --repo "$TEST_TMP/repo-nopw" --kdf interactive --cache-dir "$CACHE"
[[ ! -e "$TEST_TMP/repo-nopw/config" ]] || fail "init without a password created a repository"

# --password-file: the first line is the password (with or without a newline at its end).
printf '%s\n' "$PW1" >"$TEST_TMP/pw-nl"
printf '%s' "$PW1" >"$TEST_TMP/pw-raw"
printf '%s\nsecond line is ignored\n' "$PW1" >"$TEST_TMP/pw-2lines"
printf 'wrong\n' >"$TEST_TMP/pw-wrong"
for f in pw-nl pw-raw pw-2lines; do
  assert_exit 0 nopw --repo "$REPO" --cache-dir "$CACHE" --password-file "$TEST_TMP/$f" snapshots --json
  assert_eq "$(snap_count <"$LAST_STDOUT")" 1 "snapshots with --password-file $f"
done
# the option after the command works too
assert_exit 0 nopw snapshots --repo "$REPO" --password-file "$TEST_TMP/pw-nl" --cache-dir "$CACHE"
assert_exit 3 nopw --repo "$REPO" --cache-dir "$CACHE" --password-file "$TEST_TMP/pw-wrong" snapshots
assert_contains "$LAST_STDERR" "wrong password" "message for a wrong password file"
# No password to be had (a missing password file) is exit code 3, like a wrong password.
assert_exit 3 nopw --repo "$REPO" --cache-dir "$CACHE" --password-file "$TEST_TMP/no-such-file" snapshots
assert_contains "$LAST_STDERR" "no-such-file" "message for a missing password file names it"
# A repository created with --password-file opens with the same password from the environment.
assert_exit 0 nopw init --repo "$TEST_TMP/repo-pwfile" --password-file "$TEST_TMP/pw-raw" --kdf interactive --cache-dir "$CACHE"
assert_exit 0 env PGDEDUP_PASSWORD="$PW1" "$PGDEDUP_BIN" --repo "$TEST_TMP/repo-pwfile" --cache-dir "$CACHE" snapshots

# key list: one key, the current one.
assert_exit 0 p key list --json
key1=$(current_key <"$LAST_STDOUT")
assert_eq "$(key_ids <"$LAST_STDOUT")" "$key1" "keys after init"
[[ -f "$REPO/keys/$key1" ]] || fail "key $key1 is not in keys/"

# key add: a second password opens the repository; both keys are listed.
assert_exit 0 env PGDEDUP_NEW_PASSWORD="$PW2" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" key add --kdf interactive
assert_exit 0 env PGDEDUP_PASSWORD="$PW2" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" key list --json
key2=$(current_key <"$LAST_STDOUT")
[[ "$key2" != "$key1" ]] || fail "key add did not add a new key"
assert_eq "$(key_ids <"$LAST_STDOUT" | tr ' ' '\n' | sort | xargs)" "$(printf '%s\n' "$key1" "$key2" | sort | xargs)" "keys after key add"
assert_exit 0 env PGDEDUP_PASSWORD="$PW2" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" restore latest --output "$TEST_TMP/out"
assert_eq "$(cat "$TEST_TMP/out")" hello "restore with the added key"
assert_exit 0 p key list
assert_contains "$LAST_STDOUT" "${key2:0:12}" "key list shows the added key"
# the new password from a file
printf '%s\n' "$PW3" >"$TEST_TMP/pw3"
assert_exit 0 p key add --new-password-file "$TEST_TMP/pw3" --kdf interactive
assert_exit 0 env PGDEDUP_PASSWORD="$PW3" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" key list --json
key3=$(current_key <"$LAST_STDOUT")
assert_eq "$(key_ids <"$LAST_STDOUT" | wc -w)" 3 "keys after the second key add"

# key remove: the key in use is refused (exit 2), by full id and by prefix; another key goes.
assert_exit 2 p key remove "$key1"
assert_contains "$LAST_STDERR" "refusing to remove the key" "message for removing the key in use"
assert_exit 2 p key remove "${key1:0:8}"
[[ -f "$REPO/keys/$key1" ]] || fail "the key in use was removed"
assert_exit 1 p key remove ffffffffffff
assert_contains "$LAST_STDERR" "ffffffffffff" "message for removing an unknown key"
assert_exit 0 p key remove "$key3"
[[ ! -e "$REPO/keys/$key3" ]] || fail "key remove left the key file"
assert_exit 3 env PGDEDUP_PASSWORD="$PW3" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" snapshots
# The second password removes the first key.
assert_exit 0 env PGDEDUP_PASSWORD="$PW2" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" key remove "$key1"
assert_exit 3 p snapshots
assert_exit 0 env PGDEDUP_PASSWORD="$PW2" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" key list --json
assert_eq "$(key_ids <"$LAST_STDOUT")" "$key2" "keys after removing two"

# key passwd: afterwards the old password fails with 3, the new one works.
assert_exit 0 env PGDEDUP_PASSWORD="$PW2" PGDEDUP_NEW_PASSWORD="$PW1" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" key passwd --kdf interactive
assert_exit 3 env PGDEDUP_PASSWORD="$PW2" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" snapshots
assert_contains "$LAST_STDERR" "wrong password" "old password after key passwd"
assert_exit 0 p key list --json
assert_eq "$(key_ids <"$LAST_STDOUT" | wc -w)" 1 "keys after key passwd"
assert_exit 0 p restore latest --output "$TEST_TMP/out2"
assert_eq "$(cat "$TEST_TMP/out2")" hello "restore after key passwd"
printf 'more\n' | p backup --stdin --name more.txt -q || fail "backup after key passwd failed"
# passwd with the new password from a file
assert_exit 0 p key passwd --new-password-file "$TEST_TMP/pw3" --kdf interactive
assert_exit 3 p snapshots
assert_exit 0 env PGDEDUP_PASSWORD="$PW3" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" snapshots --json
assert_eq "$(snap_count <"$LAST_STDOUT")" 2 "snapshots after the second key passwd"
export PGDEDUP_PASSWORD=$PW3
assert_exit 0 p repo check --read-data

# A damaged key file (a bit flipped among its wrapped keys): an open that reaches it skips it
# with a warning naming it; a password only it opened fails as damage (exit 4), naming it; the
# other key still opens; `key list` shows it as damaged, `repo check` finds it (exit 4), and
# `key remove` deletes it.
assert_exit 0 env PGDEDUP_NEW_PASSWORD="$PW1" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" key add --kdf interactive
assert_exit 0 env PGDEDUP_PASSWORD="$PW1" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" key list --json
keyd=$(current_key <"$LAST_STDOUT")
python3 - "$REPO/keys/$keyd" <<'PY' || fail "could not damage the key file"
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[-5] ^= 0x40
open(path, "wb").write(data)
PY
assert_exit 4 env PGDEDUP_PASSWORD="$PW1" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" snapshots
assert_contains "$LAST_STDERR" "keys/$keyd: content does not match its name" "the warning for a damaged key file"
assert_contains "$LAST_STDERR" "1 of its 2 key files are damaged: keys/$keyd" "an open with the damaged key's password names it"
assert_exit 0 p snapshots
assert_exit 0 p key list --json
assert_eq "$(python3 -c 'import json,sys; print([(k["usable"], k["problem"][:8]) for k in json.load(sys.stdin) if k["id"] == sys.argv[1]])' "$keyd" <"$LAST_STDOUT")" \
  "[(False, 'damaged:')]" "key list --json marks the damaged key"
assert_exit 0 p key list
assert_contains "$LAST_STDOUT" "${keyd:0:12}  damaged" "key list shows the damaged key"
assert_exit 4 p repo check
assert_contains "$LAST_STDERR" "key file keys/$keyd: damaged" "check names the damaged key file"
assert_exit 0 p key remove "${keyd:0:12}"
assert_exit 0 p repo check
[[ ! -e "$REPO/keys/$keyd" ]] || fail "key remove left the damaged key file"
assert_exit 3 env PGDEDUP_PASSWORD="$PW1" "$PGDEDUP_BIN" --repo "$REPO" --cache-dir "$CACHE" snapshots

# init on an existing repository fails clearly and changes nothing.
before=$(find "$REPO" -type f -exec sha256sum {} + | sort)
assert_exit_in "1 2" p init --kdf interactive
assert_contains "$LAST_STDERR" "already exists" "message for init on an existing repository"
assert_exit_in "1 2" env PGDEDUP_PASSWORD=other "$PGDEDUP_BIN" init --repo "$REPO" --kdf interactive --cache-dir "$CACHE"
assert_eq "$(find "$REPO" -type f -exec sha256sum {} + | sort)" "$before" "repository after a refused init"
assert_exit 0 p snapshots

# A repository path that does not exist: a clear error naming it, nothing created.
assert_exit 1 pgd --repo "$TEST_TMP/no-such-repo" --cache-dir "$CACHE" snapshots
assert_contains "$LAST_STDERR" "no-such-repo" "message for a missing repository names it"
assert_contains "$LAST_STDERR" "does not exist" "message for a missing repository"
echo x | pgd --repo "$TEST_TMP/no-such-repo" --cache-dir "$CACHE" backup --stdin --name x 2>"$TEST_TMP/err" && fail "backup into a missing repository succeeded"
assert_contains "$TEST_TMP/err" "does not exist" "message for backup into a missing repository"
[[ ! -e "$TEST_TMP/no-such-repo" ]] || fail "a command created the missing repository"
# A directory that is not a repository.
mkdir "$TEST_TMP/not-a-repo"
got=0; pgd --repo "$TEST_TMP/not-a-repo" --cache-dir "$CACHE" snapshots >/dev/null 2>"$TEST_TMP/err" || got=$?
[[ $got -ne 0 ]] || fail "snapshots in an empty directory succeeded"
grep -qi "repository" "$TEST_TMP/err" || fail "message for a directory that is not a repository: $(cat "$TEST_TMP/err")"

pass
