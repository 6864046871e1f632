// The repository engine end to end through its own API: backup, dedup, restore, check, index
// cache behaviour, locks.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include "common/coding.h"
#include "common/hex.h"
#include "common/system.h"
#include "repo/backup.h"
#include "repo/check.h"
#include "repo/cut_predictor.h"
#include "repo/index_cache.h"
#include "repo/lock.h"
#include "repo/object.h"
#include "repo/pack.h"
#include "repo/restore.h"
#include "support/test_repo.h"

using namespace pgdedup;
using namespace pgdedup::repo;
using pgdedup::testing::TempDir;

TEST_CASE("streams round-trip byte for byte, whatever their size", "[engine]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{5} << 20}) {
    std::string data = testing::TestData(size, size);
    auto id = testing::BackupBytes(repo.get(), "s", data);
    INFO(id.status().ToString());
    REQUIRE(id.ok());
    auto back = testing::RestoreBytes(repo.get(), *id, "s");
    REQUIRE(back.ok());
    CHECK(back->size() == data.size());
    CHECK(*back == data);
  }
  auto report = CheckRepository(repo.get(), {.read_data = true});
  REQUIRE(report.ok());
  CHECK(report->errors.empty());
  CHECK(report->snapshots == 4);
}

TEST_CASE("unchanged data is stored once, a small change adds little", "[engine]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  std::string night0 = testing::TestData(8 << 20, 1);
  std::string night1 = night0;
  for (size_t pos = 1 << 20; pos < night1.size(); pos += 3 << 20) night1.replace(pos, 5, "CHANGED");

  BackupOptions options;
  auto run = [&](const std::string& data) {
    auto session = BackupSession::Start(repo.get(), options);
    REQUIRE(session.ok());
    size_t pos = 0;
    auto st = (*session)->AddStream("dump", [&](char* buf, size_t n) -> Result<size_t> {
      size_t k = std::min(n, data.size() - pos);
      std::memcpy(buf, data.data() + pos, k);
      pos += k;
      return k;
    });
    REQUIRE(st.ok());
    Manifest m;
    m.time = 1;
    REQUIRE((*session)->Commit(m).ok());
    return (*session)->stats();
  };
  BackupStats first = run(night0);
  CHECK(first.writer.new_raw_bytes >= night0.size());
  BackupStats again = run(night0);
  CHECK(again.writer.new_blobs == 0);
  CHECK(again.writer.stored_bytes == 0);
  BackupStats changed = run(night1);
  CHECK(changed.writer.new_raw_bytes < night1.size() / 4);
  CHECK(changed.writer.new_blobs > 0);
}

TEST_CASE("a second host with its own cache dedups and restores", "[engine][cache]") {
  TempDir dir;
  std::string data = testing::TestData(3 << 20, 7);
  Id first;
  {
    auto repo = testing::MakeRepo(dir);
    first = *testing::BackupBytes(repo.get(), "s", data);
  }
  // Another cache directory stands for another machine.
  auto backend = OpenBackend(dir.path() + "/repo");
  auto other =
      Repository::Open(std::move(*backend), testing::kTestPassword, {dir.path() + "/other-cache"});
  REQUIRE(other.ok());
  auto back = testing::RestoreBytes(other->get(), first, "s");
  REQUIRE(back.ok());
  CHECK(*back == data);

  BackupOptions options;
  auto session = BackupSession::Start(other->get(), options);
  REQUIRE(session.ok());
  size_t pos = 0;
  REQUIRE((*session)
              ->AddStream("s",
                          [&](char* buf, size_t n) -> Result<size_t> {
                            size_t k = std::min(n, data.size() - pos);
                            std::memcpy(buf, data.data() + pos, k);
                            pos += k;
                            return k;
                          })
              .ok());
  Manifest m;
  REQUIRE((*session)->Commit(m).ok());
  CHECK((*session)->stats().writer.new_blobs == 0);
}

TEST_CASE("a cache that claims a removed index object is rebuilt", "[engine][cache]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  std::string a = testing::TestData(2 << 20, 1);
  REQUIRE(testing::BackupBytes(repo.get(), "s", a).ok());
  auto ids = repo->ListObjects(ObjectType::kIndex);
  REQUIRE(ids.ok());
  REQUIRE_FALSE(ids->empty());
  // Remove the index object behind the cache's back (as prune will when it rewrites indexes).
  REQUIRE(repo->backend()->Delete("index/" + (*ids)[0].Hex()).ok());
  REQUIRE(repo->SyncIndex().ok());
  auto merged = repo->index()->MergedIndexObjects();
  REQUIRE(merged.ok());
  CHECK(merged->count((*ids)[0]) == 0);
  // The blobs it listed are no longer trusted: a new backup stores them again.
  auto again = testing::BackupBytes(repo.get(), "s", a);
  REQUIRE(again.ok());
  auto back = testing::RestoreBytes(repo.get(), *again, "s");
  REQUIRE(back.ok());
  CHECK(*back == a);
}

namespace {

Result<std::unique_ptr<Repository>> OpenWith(const TempDir& dir, const std::string& password) {
  auto b = OpenBackend(dir.path() + "/repo");
  REQUIRE(b.ok());
  return Repository::Open(std::move(*b), password, {dir.path() + "/cache"});
}

// Rewrites the key file keys/<id> in place with byte `at` (from the end when negative) flipped.
void DamageKeyFile(const TempDir& dir, const std::string& id, long at) {
  const std::string path = dir.path() + "/repo/keys/" + id;
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  REQUIRE(bytes.size() > 20);
  const size_t i = at < 0 ? bytes.size() - static_cast<size_t>(-at) : static_cast<size_t>(at);
  bytes[i] ^= 0x40;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

}  // namespace

TEST_CASE("a damaged key file is skipped before its key derivation, listed and removable",
          "[engine][keys]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  auto other = AddKey(repo.get(), "other-password", KdfStrength::kInteractive);
  REQUIRE(other.ok());
  const std::string first = repo->key_id();
  repo.reset();

  // A flipped bit among the wrapped keys: the name no longer matches. Unwrapped, it would only
  // have failed as a wrong password, after its key derivation.
  DamageKeyFile(dir, *other, -5);
  auto opened = OpenWith(dir, testing::kTestPassword);
  REQUIRE(opened.ok());
  auto denied = OpenWith(dir, "other-password");
  CHECK(denied.status().IsCorruption());
  CHECK(denied.status().message().find("keys/" + *other) != std::string::npos);
  CHECK(OpenWith(dir, "no such password").status().IsCorruption());

  auto keys = ListKeys(opened->get());
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  for (const auto& k : *keys) CHECK(k.problem.empty() == (k.id == first));
  auto report = CheckRepository(opened->get(), {});
  REQUIRE(report.ok());
  CHECK_FALSE(report->ok());
  REQUIRE(report->errors.size() == 1);
  CHECK(report->errors[0].find("keys/" + *other) != std::string::npos);
  REQUIRE(RemoveKey(opened->get(), other->substr(0, 12)).ok());
  report = CheckRepository(opened->get(), {});
  REQUIRE(report.ok());
  CHECK(report->ok());
  keys = ListKeys(opened->get());
  REQUIRE(keys.ok());
  CHECK(keys->size() == 1);
  CHECK(OpenWith(dir, "no such password").status().code() == StatusCode::kPermission);

  // Something under keys/ that is not named by a hash is no key file: not read, no damage.
  {
    std::ofstream stray(dir.path() + "/repo/keys/README");
    stray << "not a key";
  }
  CHECK(OpenWith(dir, "no such password").status().code() == StatusCode::kPermission);
  keys = ListKeys(opened->get());
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  for (const auto& k : *keys) CHECK(k.problem.empty() == (k.id == first));
  REQUIRE(RemoveKey(opened->get(), "README").ok());

  // A sound key file of a version this one cannot read (named by its hash, so not damaged):
  // warned of and listed as unreadable, and a wrong password stays a wrong password.
  {
    std::ifstream in(dir.path() + "/repo/keys/" + first, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes[4] = 99;  // the key file version
    std::ofstream out(dir.path() + "/repo/keys/" + Sha256(bytes).Hex(), std::ios::binary);
    out << bytes;
  }
  CHECK(OpenWith(dir, "no such password").status().code() == StatusCode::kPermission);
  REQUIRE(OpenWith(dir, testing::kTestPassword).ok());
  keys = ListKeys(opened->get());
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  for (const auto& k : *keys) {
    if (k.id != first) CHECK(k.problem.rfind("unreadable: ", 0) == 0);
  }
  for (const auto& k : *keys) {
    if (k.id != first) REQUIRE(RemoveKey(opened->get(), k.id).ok());
  }

  // The only key damaged: no password can be checked, and the open says why (exit 4).
  DamageKeyFile(dir, first, 13);  // (its opslimit: no matter, the name check comes first)
  auto lost = OpenWith(dir, testing::kTestPassword);
  CHECK(lost.status().IsCorruption());
  CHECK(lost.status().message().find("1 of its 1 key files are damaged") != std::string::npos);

  // Nothing under keys/ but other names: the repository has no key files.
  std::filesystem::remove(dir.path() + "/repo/keys/" + first);
  {
    std::ofstream stray(dir.path() + "/repo/keys/README");
    stray << "not a key";
  }
  auto none = OpenWith(dir, testing::kTestPassword);
  CHECK(none.status().code() == StatusCode::kPermission);
  CHECK(none.status().message().find("has no key files") != std::string::npos);
}

TEST_CASE("a busy cache directory falls back to a private cache", "[engine][cache]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  REQUIRE(repo->SyncIndex().ok());  // holds the cache's RocksDB lock
  auto second = testing::OpenRepo(dir);
  std::string data = testing::TestData(1 << 20, 3);
  auto id = testing::BackupBytes(second.get(), "s", data);
  REQUIRE(id.ok());
  CHECK(*testing::RestoreBytes(repo.get(), *id, "s") == data);
}

TEST_CASE("locks: shared locks coexist, an exclusive one excludes, stale ones are ignored",
          "[engine][lock]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  {
    auto a = RepoLock::Acquire(repo.get(), false);
    auto b = RepoLock::Acquire(repo.get(), false);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    auto x = RepoLock::Acquire(repo.get(), true);
    CHECK(x.status().code() == StatusCode::kLocked);
  }
  {
    auto x = RepoLock::Acquire(repo.get(), true);
    REQUIRE(x.ok());
    auto s = RepoLock::Acquire(repo.get(), false);
    CHECK(s.status().code() == StatusCode::kLocked);
    CHECK(s.status().message().find("exclusive") != std::string::npos);
  }
  auto left = RepoLock::List(repo.get());
  REQUIRE(left.ok());
  CHECK(left->empty());  // released locks are removed
}

namespace {

// Writes a lock object as a RepoLock of another process would (lock.h gives the layout).
void PutLock(Repository* repo, const std::string& host, uint32_t pid, bool exclusive,
             uint64_t refreshed) {
  std::string plain;
  plain.push_back(1);  // version
  plain.push_back(exclusive ? 1 : 0);
  PutFixed32(&plain, pid);
  PutFixed64(&plain, refreshed);  // created
  PutFixed64(&plain, refreshed);
  PutLengthPrefixed(&plain, host);
  PutLengthPrefixed(&plain, "someone");
  REQUIRE(repo->backend()
              ->Put("locks/" + ToHex(RandomBytes(16)),
                    SealObject(repo->keys(), ObjectType::kLock, plain))
              .ok());
}

uint64_t SecondsAgo(uint64_t s) { return static_cast<uint64_t>(std::time(nullptr)) - s; }

}  // namespace

TEST_CASE("locks: a lock not refreshed for kStaleAfter is stale even when its process lives",
          "[engine][lock]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  const uint64_t stale_after = static_cast<uint64_t>(RepoLock::kStaleAfter.count());
  // A live process of this host (this one) whose lock was last refreshed two hours ago: hung,
  // or its host's clock jumped. It no longer holds anyone off.
  PutLock(repo.get(), Hostname(), static_cast<uint32_t>(getpid()), /*exclusive=*/true,
          SecondsAgo(2 * 3600));
  auto locks = RepoLock::List(repo.get());
  REQUIRE(locks.ok());
  REQUIRE(locks->size() == 1);
  CHECK((*locks)[0].stale);
  CHECK((*locks)[0].stale_reason.find("not been refreshed for 120 minutes") != std::string::npos);
  {
    auto x = RepoLock::Acquire(repo.get(), /*exclusive=*/true);
    CHECK(x.ok());
  }
  // `unlock` removes it; nothing else.
  auto removed = RepoLock::RemoveLocks(repo.get(), /*all=*/false);
  REQUIRE(removed.ok());
  CHECK(removed->size() == 1);

  // Another host's exclusive lock: its pid means nothing here, so only its age decides. Fresh
  // (refreshed within kStaleAfter), it excludes; older, it is ignored.
  PutLock(repo.get(), "another-host", 1, /*exclusive=*/true, SecondsAgo(stale_after - 60));
  auto s = RepoLock::Acquire(repo.get(), /*exclusive=*/false);
  CHECK(s.status().code() == StatusCode::kLocked);
  CHECK(s.status().message().find("another-host") != std::string::npos);
  REQUIRE(RepoLock::RemoveLocks(repo.get(), /*all=*/true).ok());
  PutLock(repo.get(), "another-host", 1, /*exclusive=*/true, SecondsAgo(stale_after + 60));
  {
    auto shared = RepoLock::Acquire(repo.get(), /*exclusive=*/false);
    CHECK(shared.ok());
  }

  // This host, refreshed a moment ago, but its process is gone: stale at once.
  REQUIRE(RepoLock::RemoveLocks(repo.get(), /*all=*/true).ok());
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(0);
  REQUIRE(waitpid(child, nullptr, 0) == child);
  PutLock(repo.get(), Hostname(), static_cast<uint32_t>(child), /*exclusive=*/true, SecondsAgo(1));
  locks = RepoLock::List(repo.get());
  REQUIRE(locks.ok());
  REQUIRE(locks->size() == 1);
  if (::kill(child, 0) == 0) {
    WARN("pid " << child << " was reused at once; the dead-process case is not checked");
  } else {
    CHECK((*locks)[0].stale);
    CHECK((*locks)[0].stale_reason == "its process no longer exists");
  }
}

TEST_CASE("a damaged blob makes restore fail and check name the pack", "[engine][check]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  std::string data = testing::TestData(3 << 20, 11, /*text=*/false);
  auto id = testing::BackupBytes(repo.get(), "s", data);
  REQUIRE(id.ok());
  auto packs = repo->backend()->List("data/");
  REQUIRE(packs.ok());
  REQUIRE(!packs->empty());
  const ObjectInfo& victim = (*packs)[0];
  auto bytes = repo->backend()->Get(victim.name);
  std::string damaged = *bytes;
  damaged[100] ^= 0x20;
  REQUIRE(repo->backend()->Put(victim.name, damaged).ok());

  auto back = testing::RestoreBytes(repo.get(), *id, "s");
  CHECK(back.status().IsCorruption());
  auto report = CheckRepository(repo.get(), {.read_data = true});
  REQUIRE(report.ok());
  REQUIRE_FALSE(report->ok());
  std::string pack_hex = victim.name.substr(8);
  bool named = false;
  for (const auto& e : report->errors) named |= e.find(pack_hex) != std::string::npos;
  CHECK(named);
}

TEST_CASE("a restore that meets a damaged chunk writes nothing past it", "[engine]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  std::string data = testing::TestData(4 << 20, 12, /*text=*/false);
  auto id = testing::BackupBytes(repo.get(), "s", data);
  REQUIRE(id.ok());
  REQUIRE(repo->SyncIndex().ok());
  auto snapshot = repo->FindSnapshot(id->Hex());
  REQUIRE(snapshot.ok());
  const StreamInfo& stream = snapshot->manifest.streams.at(0);
  std::vector<Id> chunks;
  REQUIRE(ForEachChunkId(repo.get(), stream, [&](const Id& c) {
            chunks.push_back(c);
            return Status::OK();
          }).ok());
  REQUIRE(chunks.size() > 20);
  // Damage the third chunk: the chunks after it are read (in flight) but must not be written.
  uint64_t damaged_at = 0;
  for (size_t i = 0; i < 2; ++i)
    damaged_at += (*repo->index()->Lookup(chunks[i]))->entry.raw_length;
  auto loc = repo->index()->Lookup(chunks[2]);
  REQUIRE(loc.ok());
  REQUIRE(loc->has_value());
  const std::string pack = PackObjectName((*loc)->pack_id);
  auto bytes = repo->backend()->Get(pack);
  REQUIRE(bytes.ok());
  (*bytes)[(*loc)->entry.offset + 10] ^= 0x01;
  REQUIRE(repo->backend()->Put(pack, *bytes).ok());

  std::string written;
  Status s = RestoreStream(repo.get(), stream,
                           [&](std::string_view d) {
                             written.append(d);
                             return Status::OK();
                           },
                           {});
  CHECK(s.IsCorruption());
  CHECK(written.size() <= damaged_at);
  CHECK(written == data.substr(0, written.size()));
}

TEST_CASE("a mapped file and a pipe give the same chunks and restore alike", "[engine]") {
  // Default sizes, and sizes whose maximum is far above twice the mean (a pipe's read, up to
  // 64 KiB here, can then leave a tail longer than a chunk buffer's first size).
  // And sizes whose maximum is below twice the mean.
  const chunker::ChunkerParams wide{1 << 10, 4 << 10, 64 << 10};
  const chunker::ChunkerParams narrow{16 << 10, 64 << 10, 100 << 10};
  const int sizes = GENERATE(0, 1, 2);
  const size_t piece = sizes == 0 ? 7777 : 65536;
  const chunker::ChunkerParams* params = sizes == 0 ? nullptr : sizes == 1 ? &wide : &narrow;
  TempDir dir;
  auto repo = testing::MakeRepo(dir, 1u << 20, params);
  std::string data = testing::TestData((3 << 20) + 12345, 21);
  std::string path = dir.path() + "/input";
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(data.data(), 1, data.size(), f) == data.size());
    REQUIRE(std::fclose(f) == 0);
  }
  auto backup_fd = [&](int fd) {
    auto session = BackupSession::Start(repo.get(), {});
    REQUIRE(session.ok());
    auto stream = (*session)->AddStreamFromFd("s", fd);
    INFO(stream.status().ToString());
    REQUIRE(stream.ok());
    Manifest m;
    auto id = (*session)->Commit(m);
    REQUIRE(id.ok());
    return std::make_pair(*id, *stream);
  };
  int file_fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(file_fd >= 0);
  auto [file_snap, file_stream] = backup_fd(file_fd);
  ::close(file_fd);

  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::thread writer([&] {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fds[1], data.data() + off, std::min<size_t>(piece, data.size() - off));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(fds[1]);
  });
  auto [pipe_snap, pipe_stream] = backup_fd(fds[0]);
  writer.join();
  ::close(fds[0]);

  CHECK(file_stream.size == data.size());
  CHECK(file_stream.digest == pipe_stream.digest);
  CHECK(file_stream.chunk_count == pipe_stream.chunk_count);
  CHECK(*testing::RestoreBytes(repo.get(), file_snap, "s") == data);
  CHECK(*testing::RestoreBytes(repo.get(), pipe_snap, "s") == data);
}

TEST_CASE("predicting the parent's cuts gives exactly the chunks the chunker gives", "[engine]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  const std::string path = dir.path() + "/input";
  int64_t clock = 1000;
  auto backup_file = [&](const std::string& data, bool predict, BackupStats* stats) {
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(data.data(), 1, data.size(), f) == data.size());
    REQUIRE(std::fclose(f) == 0);
    BackupOptions options;
    options.predict_cuts = predict;
    auto session = BackupSession::Start(repo.get(), options);
    REQUIRE(session.ok());
    int fd = ::open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    auto stream = (*session)->AddStreamFromFd("s", fd);
    ::close(fd);
    INFO(stream.status().ToString());
    REQUIRE(stream.ok());
    Manifest m;
    m.time = ++clock;  // the newest snapshot is the parent of the next backup
    auto id = (*session)->Commit(m);
    REQUIRE(id.ok());
    *stats = (*session)->stats();
    return std::make_pair(*id, *stream);
  };
  const std::string base = testing::TestData(3 << 20, 5);  // ~50 chunks
  auto changed = [&](size_t every, size_t len) {
    std::string s = base;
    for (size_t at = every / 2; at + len < s.size(); at += every) s.replace(at, len, len, '#');
    return s;
  };
  std::string spanning = base;
  spanning.replace(1 << 20, 500000, testing::TestData(500000, 77));
  std::string last_byte = base;
  last_byte.back() ^= 1;
  struct Version {
    const char* what;
    std::string data;
    bool all_predicted;  // every chunk should come from a prediction
  };
  std::vector<Version> versions = {
      {"the first backup (nothing to predict)", base, false},
      {"unchanged", base, true},
      {"one byte changed in the middle", changed(3 << 20, 1), false},
      {"bytes inserted at the start", "inserted " + base, false},
      {"a region deleted", std::string(base).erase(1 << 20, 100000), false},
      {"data appended (the parent's last chunk was cut by its end)",
       base + testing::TestData(200000, 9), false},
      {"truncated", base.substr(0, base.size() - 300000), false},
      {"the last byte changed", last_byte, false},
      {"a region spanning chunks replaced", spanning, false},
      {"shorter than one chunk", base.substr(0, 10000), false},
      {"back to the base", base, false},
      {"scattered changes", changed(100000, 3), false},
      {"unchanged again", changed(100000, 3), true},
  };
  for (const Version& v : versions) {
    INFO(v.what);
    BackupStats predicted_stats, plain_stats;
    auto [snap, predicted] = backup_file(v.data, true, &predicted_stats);
    // The same bytes chunked for real (its parent is the backup just made: it predicts nothing).
    auto [plain_snap, plain] = backup_file(v.data, false, &plain_stats);
    CHECK(plain_stats.predicted_chunks == 0);
    CHECK(predicted.size == v.data.size());
    CHECK(predicted.chunk_count == plain.chunk_count);
    CHECK(predicted.digest == plain.digest);
    CHECK(predicted.chunk_lists == plain.chunk_lists);
    if (v.all_predicted) CHECK(predicted_stats.predicted_chunks == predicted.chunk_count);
    // Where a change begins: the chunks after it are found again, and predictions resume
    // past it. How many chunks that takes depends on the repository's (random) chunker seed:
    // a third of those after the change are asked for, not a share of all (two thirds of all
    // failed about one run in fifty, 26 of 40 chunks, after a deletion a third of the way in).
    const std::map<std::string, uint64_t> change_at = {
        {"one byte changed in the middle", (3 << 20) / 2},
        {"bytes inserted at the start", 0},
        {"a region deleted", 1 << 20}};
    if (auto at = change_at.find(v.what); at != change_at.end()) {
      REQUIRE(repo->SyncIndex().ok());
      auto chunks = CutPredictor::Load(repo.get(), plain);
      REQUIRE(chunks != nullptr);
      uint64_t before = 0, end = 0;  // the chunks that end before the change
      for (size_t i = 0; i < chunks->size() && (end += chunks->length(i)) <= at->second; ++i) {
        before++;
      }
      CHECK(predicted_stats.predicted_chunks > before + (predicted.chunk_count - before) / 3);
      CHECK(predicted_stats.predicted_chunks < predicted.chunk_count);
    }
    auto back = testing::RestoreBytes(repo.get(), snap, "s");
    REQUIRE(back.ok());
    CHECK(*back == v.data);
  }
  auto report = CheckRepository(repo.get(), {.read_data = true});
  REQUIRE(report.ok());
  CHECK(report->errors.empty());
}
