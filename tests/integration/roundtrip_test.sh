#!/usr/bin/env bash
# Round trips of `backup --stdin` / `restore --output`: empty, 1-byte, ~40 MB random and three
# nights of a pg_dump-like text each come back byte for byte (to a file and to stdout; by full
# id, by prefix and as `latest`). Deduplication of identical and of night-to-night data,
# `snapshots --json` (contract fields, tags, --time in local time) and `stats --json`.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -x "${GEN_DUMP:-}" ]] || fail "GEN_DUMP is not set to the gen_dump binary"

REPO=$TEST_TMP/repo
D=$TEST_TMP/data
mkdir -p "$D"
# Local time for --time: a zone with an offset, to see that the given time is local.
export TZ=America/New_York

p() { pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache" "$@"; }

# Read a field (a python expression on `d`) from a JSON file.
jq_py() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

assert_exit 0 p init --kdf interactive
[[ -f "$REPO/config" && -d "$REPO/keys" ]] || fail "init did not create the layout"

: >"$D/empty"
printf 'x' >"$D/one"
"$GEN_DUMP" --random-bytes 40000000 --seed 7 >"$D/random"
for n in 0 1 2; do "$GEN_DUMP" --rows 100000 --night "$n" >"$D/night$n"; done
assert_eq "$(stat -c %s "$D/random")" 40000000 "random input size"

# backup NAME FILE TIME [TAG...]: back up FILE, keep its JSON in $D/NAME.json, check its fields.
backup() {
  local name=$1 file=$2 time=$3; shift 3
  local tags=()
  local t
  for t in "$@"; do tags+=(--tag "$t"); done
  p backup --stdin --name "$name" --time "$time" "${tags[@]}" --json <"$file" >"$D/$name.json" ||
    fail "backup of $name failed"
  python3 - "$D/$name.json" "$file" "$name" <<'EOF' || fail "backup --json of $3 is wrong"
import hashlib, json, sys
d = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read()
for k in ("snapshot_id", "short_id", "time", "bytes_read", "chunks", "new_chunks", "new_bytes",
          "bytes_added", "packs_added", "duration_seconds", "streams"):
    assert k in d, f"missing {k}: {d}"
assert len(d["snapshot_id"]) == 64 and all(c in "0123456789abcdef" for c in d["snapshot_id"]), d
assert d["snapshot_id"].startswith(d["short_id"]) and len(d["short_id"]) >= 8, d
assert d["bytes_read"] == len(data), (d["bytes_read"], len(data))
assert len(d["streams"]) == 1, d
s = d["streams"][0]
assert s["name"] == sys.argv[3] and s["size"] == len(data), s
# The stream's checksum: "sha256" of the bytes, or "digest" (SHA-256 over the chunk ids).
if "sha256" in s:
    assert s["sha256"] == hashlib.sha256(data).hexdigest(), s
else:
    assert len(s["digest"]) == 64 and all(c in "0123456789abcdef" for c in s["digest"]), s
EOF
}

backup empty.bin "$D/empty" "2024-01-01 10:00:00" edge
backup one.bin "$D/one" "2024-01-02 10:00:00" edge
backup random.bin "$D/random" "2024-01-03 10:00:00" random
backup night0.sql "$D/night0" "2024-07-01 02:00:00" nightly night0
backup night1.sql "$D/night1" "2024-07-02 02:00:00" nightly
backup night2.sql "$D/night2" "2024-07-03 02:00:00" nightly
# The same night again: identical data adds (almost) nothing.
backup night2again.sql "$D/night2" "2024-07-03 03:00:00"

assert_eq "$(jq_py "$D/empty.bin.json" 'd["bytes_read"]')" 0 "empty input bytes_read"
read_n0=$(jq_py "$D/night0.sql.json" 'd["bytes_read"]')
added_n0=$(jq_py "$D/night0.sql.json" 'd["bytes_added"]')
added_n1=$(jq_py "$D/night1.sql.json" 'd["bytes_added"]')
read_again=$(jq_py "$D/night2again.sql.json" 'd["bytes_read"]')
added_again=$(jq_py "$D/night2again.sql.json" 'd["bytes_added"]')
new_again=$(jq_py "$D/night2again.sql.json" 'd["new_chunks"]')
echo "night0: read $read_n0 added $added_n0; night1 added $added_n1; night2 again: read $read_again added $added_again new_chunks $new_again"
((added_n0 > 0)) || fail "night 0 added nothing"
((added_again * 100 < read_again)) || fail "second backup of identical data added $added_again of $read_again bytes"
assert_eq "$new_again" 0 "new chunks in a second backup of identical data"
((added_n1 * 3 < added_n0)) || fail "night 1 added $added_n1 bytes, not much less than night 0's $added_n0"
# The random input is incompressible: what it adds is about its size (encrypted, not shrunk).
added_rand=$(jq_py "$D/random.bin.json" 'd["bytes_added"]')
((added_rand >= 40000000 && added_rand < 42000000)) || fail "random input added $added_rand bytes"

# Restore every snapshot to a file and to stdout, by full id and by prefix.
for name in empty.bin one.bin random.bin night0.sql night1.sql night2.sql night2again.sql; do
  case $name in
    empty.bin) src=$D/empty ;; one.bin) src=$D/one ;; random.bin) src=$D/random ;;
    night2again.sql) src=$D/night2 ;; *) src=$D/${name%.sql} ;;
  esac
  id=$(jq_py "$D/$name.json" 'd["snapshot_id"]')
  short=$(jq_py "$D/$name.json" 'd["short_id"]')
  rm -f "$D/out"
  assert_exit 0 p restore "$id" --stream "$name" --output "$D/out"
  cmp "$src" "$D/out" || fail "restore of $name by full id to a file differs"
  p restore "${short:0:6}" --output - >"$D/out.stdout" || fail "restore of $name by prefix to stdout failed"
  cmp "$src" "$D/out.stdout" || fail "restore of $name by prefix to stdout differs"
  p restore "$short" --stream "$name" --output - | cmp - "$src" || fail "restore of $name piped differs"
done
# Restoring to an existing file replaces it; no temp files are left behind.
printf 'old content that is longer than one byte\n' >"$D/out"
before=$(ls -A "$D")
assert_exit 0 p restore "$(jq_py "$D/one.bin.json" 'd["snapshot_id"]')" --output "$D/out"
cmp "$D/one" "$D/out" || fail "restore over an existing file differs"
assert_eq "$(ls -A "$D")" "$before" "files in the restore target's directory"

# `latest` is the snapshot with the newest time: night2again (2024-07-03 03:00).
p restore latest --output - | cmp - "$D/night2" || fail "restore latest differs"
# --output to a named pipe (or a device) writes into it; it is never replaced by a file.
mkfifo "$TEST_TMP/fifo"
cat "$TEST_TMP/fifo" >"$TEST_TMP/from-fifo" &
reader=$!
assert_exit 0 p restore latest --output "$TEST_TMP/fifo"
wait "$reader"
cmp "$TEST_TMP/from-fifo" "$D/night2" || fail "restore --output FIFO differs"
[[ -p "$TEST_TMP/fifo" ]] || fail "restore --output replaced the named pipe with a file"
# The empty stream restores to an empty file (created, not missing).
rm -f "$D/out"
assert_exit 0 p restore "$(jq_py "$D/empty.bin.json" 'd["snapshot_id"]')" --output "$D/out"
[[ -f "$D/out" && ! -s "$D/out" ]] || fail "restore of the empty stream did not give an empty file"

# snapshots --json: the contract fields, the count, tags, times.
p snapshots --json >"$D/snaps.json" || fail "snapshots --json failed"
python3 - "$D" <<'EOF' || fail "snapshots --json is wrong"
import json, os, re, sys
D = sys.argv[1]
snaps = json.load(open(os.path.join(D, "snaps.json")))
assert isinstance(snaps, list) and len(snaps) == 7, len(snaps)
by_id = {s["id"]: s for s in snaps}
for s in snaps:
    for k in ("id", "short_id", "time", "hostname", "username", "tags", "source",
              "program_version", "streams", "size"):
        assert k in s, f"missing {k}: {s}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)", s["time"]), s["time"]
    assert s["id"].startswith(s["short_id"]), s
    assert s["size"] == sum(st["size"] for st in s["streams"]), s
    for st in s["streams"]:
        for k in ("name", "size", "chunks"):
            assert k in st, f"missing stream field {k}: {st}"
        assert "sha256" in st or "digest" in st, f"no checksum in stream: {st}"
# the same bytes give the same checksum, different bytes a different one
def ck(s):
    st = s["streams"][0]
    return st.get("sha256") or st["digest"]
by_name = {s["streams"][0]["name"]: s for s in snaps}
assert ck(by_name["night2.sql"]) == ck(by_name["night2again.sql"])
assert len({ck(by_name[n]) for n in ("empty.bin", "one.bin", "random.bin", "night0.sql", "night1.sql", "night2.sql")}) == 6
expect = {
    "empty.bin": ("2024-01-01T10:00:00-05:00", ["edge"]),
    "one.bin": ("2024-01-02T10:00:00-05:00", ["edge"]),
    "random.bin": ("2024-01-03T10:00:00-05:00", ["random"]),
    "night0.sql": ("2024-07-01T02:00:00-04:00", ["nightly", "night0"]),
    "night1.sql": ("2024-07-02T02:00:00-04:00", ["nightly"]),
    "night2.sql": ("2024-07-03T02:00:00-04:00", ["nightly"]),
    "night2again.sql": ("2024-07-03T03:00:00-04:00", []),
}
names = [s["streams"][0]["name"] for s in snaps]
assert names == list(expect), f"not oldest first: {names}"
for s in snaps:
    name = s["streams"][0]["name"]
    b = json.load(open(os.path.join(D, name + ".json")))
    assert s["id"] == b["snapshot_id"], (s["id"], b["snapshot_id"])
    assert s["short_id"] == b["short_id"]
    assert s["time"] == expect[name][0], (name, s["time"], expect[name][0])
    assert b["time"] == expect[name][0], (name, "backup --json time", b["time"])
    assert sorted(s["tags"]) == sorted(expect[name][1]), (name, s["tags"])
    key = "sha256" if "sha256" in b["streams"][0] else "digest"
    assert s["streams"][0][key] == b["streams"][0][key], (name, key)
    assert s["streams"][0]["size"] == b["streams"][0]["size"]
    assert s["source"] == "stdin", s["source"]
EOF

# The table output shows the local time as given.
p snapshots >"$D/snaps.txt" || fail "snapshots failed"
assert_contains "$D/snaps.txt" "2024-07-01 02:00:00" "snapshots table shows the given local time"
assert_contains "$D/snaps.txt" "7 snapshots" "snapshots table count"

# stats --json is consistent with the snapshots.
p stats --json >"$D/stats.json" || fail "stats --json failed"
python3 - "$D" <<'EOF' || fail "stats --json is inconsistent"
import json, os, sys
D = sys.argv[1]
st = json.load(open(os.path.join(D, "stats.json")))
snaps = json.load(open(os.path.join(D, "snaps.json")))
for k in ("snapshots", "logical_bytes", "unique_bytes", "stored_bytes", "pack_bytes", "packs",
          "index_objects", "blobs", "dedup_ratio"):
    assert k in st, f"missing {k}: {st}"
assert st["snapshots"] == len(snaps) == 7, st
logical = sum(s["streams"][0]["size"] for s in snaps)
assert st["logical_bytes"] == logical, (st["logical_bytes"], logical)
data_files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(D, "..", "repo", "data")) for f in fs]
assert st["packs"] == len(data_files), (st["packs"], len(data_files))
assert st["pack_bytes"] == sum(os.path.getsize(f) for f in data_files), st
# unique data: at least the random input plus one night, at most everything read
assert 40_000_000 < st["unique_bytes"] <= logical * 1.01, st
assert st["stored_bytes"] <= st["pack_bytes"] * 1.05 + 65536, st
assert abs(st["dedup_ratio"] - logical / st["stored_bytes"]) < 0.01 * st["dedup_ratio"], st
assert st["blobs"] > 0 and st["index_objects"] >= 1, st
EOF

assert_exit 0 p repo check --read-data --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is True and d["errors"] == [] and d["snapshots"] == 7, d' "$LAST_STDOUT" ||
  fail "repo check --read-data is not clean"

# A file backed up again under its name: the parent's cuts are predicted and all of them hold
# (nothing is chunked, nothing is new), and the snapshot is the one the first backup made.
assert_exit 0 p backup --stdin --name night2.sql --time "2024-07-04 02:00:00" --json <"$D/night2"
python3 - "$LAST_STDOUT" "$D/night2.sql.json" <<'EOF' || fail "an unchanged file backed up again did not follow its parent's cuts"
import json, sys
d = json.load(open(sys.argv[1]))
first = json.load(open(sys.argv[2]))
assert d["predicted_chunks"] == d["chunks"] > 0 and d["new_chunks"] == 0, d
assert d["streams"][0]["digest"] == first["streams"][0]["digest"], (d, first)
EOF

pass
