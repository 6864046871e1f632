// forget and prune through the engine's API: what goes, what stays, and what prune refuses.
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <random>

#include "repo/backup.h"
#include "repo/fault_backend.h"
#include "repo/local_backend.h"
#include "repo/mark_set.h"
#include "support/nightly_repo.h"

using namespace pgdedup;
using namespace pgdedup::repo;
using pgdedup::testing::Night;
using pgdedup::testing::TempDir;

namespace {

std::unique_ptr<RepoLock> Exclusive(Repository* repo) {
  auto lock = RepoLock::Acquire(repo, /*exclusive=*/true);
  INFO(lock.status().ToString());
  REQUIRE(lock.ok());
  return std::move(*lock);
}

PruneStats PruneOk(Repository* repo, PruneOptions options = {}) {
  auto lock = Exclusive(repo);
  auto stats = Prune(repo, *lock, options);
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  return *stats;
}

size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  if (!std::filesystem::exists(dir)) return 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    n += e.is_regular_file();
  }
  return n;
}

}  // namespace

TEST_CASE("MarkSet keeps ids and values, sorted, beyond its in-memory batch", "[prune]") {
  TempDir dir;
  auto set = MarkSet::Create(dir.path() + "/work");
  REQUIRE(set.ok());
  const int n = static_cast<int>(MarkSet::kBatchSize) + 1000;
  for (int i = 0; i < n; ++i) {
    Id id;
    std::memcpy(id.bytes.data(), &i, sizeof i);
    id.bytes[31] = static_cast<uint8_t>(i * 7);
    REQUIRE((*set)->Put(id, i % 2 ? "odd" : "").ok());
  }
  Id probe;
  int k = 17;
  std::memcpy(probe.bytes.data(), &k, sizeof k);
  probe.bytes[31] = static_cast<uint8_t>(k * 7);
  auto v = (*set)->Get(probe);
  REQUIRE(v.ok());
  REQUIRE(v->has_value());
  CHECK(**v == "odd");
  REQUIRE((*set)->Put(probe, "changed").ok());
  CHECK(*(*(*set)->Get(probe)) == "changed");
  Id absent;
  absent.bytes[10] = 0xff;  // the ids put have zeros in bytes 4..30
  CHECK_FALSE((*set)->Get(absent)->has_value());

  int seen = 0;
  Id previous;
  REQUIRE((*set)
              ->ForEach([&](const Id& id, std::string_view) {
                if (seen > 0) CHECK(previous < id);
                previous = id;
                seen++;
                return Status::OK();
              })
              .ok());
  CHECK(seen == n);
  std::string where = dir.path() + "/work";
  set->reset();
  CHECK(std::filesystem::is_empty(where));  // the set removed its database
}

TEST_CASE("prune after forget frees space and every remaining snapshot restores", "[prune]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  std::vector<Night> nights = testing::BackUpNights(repo.get(), 8);
  const uint64_t before = testing::PackBytes(dir);

  // Nothing forgotten: prune finds nothing to do and changes nothing.
  PruneStats idle = PruneOk(repo.get());
  CHECK(idle.packs_deleted + idle.packs_repacked + idle.packs_unindexed == 0);
  CHECK(idle.index_objects_written == 0);
  CHECK(idle.index_objects_deleted == 0);
  CHECK(idle.live_blobs > 0);
  CHECK(testing::PackBytes(dir) == before);

  // Forget the first five nights.
  std::vector<Id> forget;
  for (int i = 0; i < 5; ++i) forget.push_back(nights[i].id);
  {
    auto lock = Exclusive(repo.get());
    REQUIRE(ForgetSnapshots(repo.get(), *lock, forget).ok());
  }
  std::vector<Night> kept(nights.begin() + 5, nights.end());

  PruneOptions dry;
  dry.dry_run = true;
  PruneStats planned = PruneOk(repo.get(), dry);
  CHECK(testing::PackBytes(dir) == before);  // a dry run changes nothing
  CHECK(planned.packs_deleted + planned.packs_repacked > 0);

  PruneStats done = PruneOk(repo.get());
  CHECK(done.snapshots == 3);
  CHECK(done.packs_deleted == planned.packs_deleted);
  CHECK(done.packs_repacked == planned.packs_repacked);
  CHECK(done.bytes_before == before);
  CHECK(done.bytes_after == testing::PackBytes(dir));
  CHECK(done.bytes_after < before);
  INFO("before " << before << " after " << done.bytes_after << " repacked " << done.packs_repacked
                 << " deleted " << done.packs_deleted);
  testing::ExpectRestorable(repo.get(), kept);

  // With a cold cache too, and a second prune has nothing left to do.
  repo.reset();
  std::filesystem::remove_all(dir.path() + "/cache");
  repo = testing::OpenRepo(dir);
  testing::ExpectRestorable(repo.get(), kept);
  PruneStats again = PruneOk(repo.get());
  CHECK(again.packs_deleted + again.packs_repacked + again.packs_unindexed == 0);
  CHECK(again.index_objects_deleted == 0);

  // Backups after a prune dedup against what is left and restore.
  std::string next = kept.back().data + testing::TestData(100 << 10, 77, false);
  auto id = testing::BackupBytes(repo.get(), "s", next, 1800000000);
  REQUIRE(id.ok());
  kept.push_back({*id, next});
  testing::ExpectRestorable(repo.get(), kept);
}

TEST_CASE("max-unused decides between repacking and keeping partly used packs", "[prune]") {
  for (double max_unused : {0.0, 100.0}) {
    DYNAMIC_SECTION("max-unused " << max_unused) {
      TempDir dir;
      auto repo = testing::MakeRepo(dir);
      std::vector<Night> nights = testing::BackUpNights(repo.get(), 4);
      {
        auto lock = Exclusive(repo.get());
        REQUIRE(ForgetSnapshots(repo.get(), *lock, {nights[0].id, nights[1].id}).ok());
      }
      PruneOptions options;
      options.max_unused_percent = max_unused;
      PruneStats s = PruneOk(repo.get(), options);
      if (max_unused == 100.0) {
        CHECK(s.packs_repacked == 0);
        CHECK(s.bytes_unused_kept > 0);
      } else {
        CHECK(s.packs_repacked > 0);
        CHECK(s.bytes_unused_kept == 0);
        CHECK(s.packs_written > 0);
      }
      testing::ExpectRestorable(repo.get(), {nights[2], nights[3]});
    }
  }
}

TEST_CASE("prune deletes the packs an interrupted backup left", "[prune]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  std::vector<Night> nights = testing::BackUpNights(repo.get(), 2);
  {
    FaultOptions crash;
    crash.prefix = "data/";
    crash.crash_after_puts = 2;
    auto base = OpenBackend(dir.path() + "/repo");
    REQUIRE(base.ok());
    auto faulty = testing::OpenRepo(dir, std::make_unique<FaultBackend>(std::move(*base), crash));
    REQUIRE_FALSE(
        testing::BackupBytes(faulty.get(), "s", testing::TestData(4 << 20, 9, false)).ok());
  }
  // The crashed backup's lock is the test process's own (alive): remove it as unlock would.
  REQUIRE(RepoLock::RemoveLocks(repo.get(), /*all=*/true).ok());
  auto report = CheckRepository(repo.get(), {});
  REQUIRE(report.ok());
  CHECK(report->warnings.size() >= 2);  // unindexed packs
  PruneStats s = PruneOk(repo.get());
  CHECK(s.packs_unindexed == 2);
  report = CheckRepository(repo.get(), {.read_data = true});
  REQUIRE(report.ok());
  CHECK(report->errors.empty());
  CHECK(report->warnings.empty());
  testing::ExpectRestorable(repo.get(), nights);
}

TEST_CASE("prune refuses to delete anything when it cannot see what is live", "[prune]") {
  TempDir dir;
  auto repo = testing::MakeRepo(dir);
  std::vector<Night> nights = testing::BackUpNights(repo.get(), 3);
  {
    auto lock = Exclusive(repo.get());
    REQUIRE(ForgetSnapshots(repo.get(), *lock, {nights[0].id}).ok());
  }
  const size_t packs = CountFiles(dir.path() + "/repo/data");

  SECTION("a shared lock is not enough") {
    auto lock = RepoLock::Acquire(repo.get(), /*exclusive=*/false);
    REQUIRE(lock.ok());
    CHECK(Prune(repo.get(), **lock, {}).status().code() == StatusCode::kInvalidArgument);
  }
  SECTION("an index object is lost") {
    auto indexes = repo->ListObjects(ObjectType::kIndex);
    REQUIRE(indexes.ok());
    REQUIRE(repo->backend()->Delete("index/" + indexes->front().Hex()).ok());
    // A fresh process (cold cache) no longer finds the blobs that index listed.
    repo.reset();
    std::filesystem::remove_all(dir.path() + "/cache");
    repo = testing::OpenRepo(dir);
    auto lock = Exclusive(repo.get());
    auto s = Prune(repo.get(), *lock, {});
    CHECK(s.status().code() == StatusCode::kCorruption);
    CHECK(s.status().message().find("nothing was deleted") != std::string::npos);
  }
  // Where the newest snapshot's last chunk list is stored: marking must read it.
  auto newest_chunk_list = [&] {
    auto snap = repo->FindSnapshot(nights[2].id.Hex());
    REQUIRE(snap.ok());
    REQUIRE(repo->SyncIndex().ok());
    auto loc = repo->index()->Lookup(snap->manifest.streams[0].chunk_lists.back());
    REQUIRE(loc.ok());
    REQUIRE(loc->has_value());
    return **loc;
  };
  SECTION("a pack holding live blobs is missing") {
    // The pack of the newest snapshot's last blobs.
    std::filesystem::remove(dir.path() + "/repo/" + PackObjectName(newest_chunk_list().pack_id));
    auto lock = Exclusive(repo.get());
    auto s = Prune(repo.get(), *lock, {});
    CHECK(s.status().code() == StatusCode::kCorruption);
    CHECK(CountFiles(dir.path() + "/repo/data") == packs - 1);
  }
  SECTION("packs are damaged") {
    // A byte flipped in the middle of every pack, and one in the newest snapshot's last chunk
    // list, which marking must read (the middle of a pack may be a blob nothing reads, with
    // the layout a repository's random chunker seed gives): prune stops at the first damaged
    // live blob it reads (a chunk list while marking, or a blob it would copy) and deletes
    // nothing.
    // (Two masks: should both flips hit one byte, it is still changed.)
    auto flip = [](const std::string& path, long at, int mask) {
      std::FILE* f = std::fopen(path.c_str(), "r+b");
      REQUIRE(f != nullptr);
      std::fseek(f, at, SEEK_SET);
      int c = std::fgetc(f);
      std::fseek(f, at, SEEK_SET);
      std::fputc(c ^ mask, f);
      std::fclose(f);
    };
    const BlobLocation list = newest_chunk_list();
    flip(dir.path() + "/repo/" + PackObjectName(list.pack_id),
         static_cast<long>(list.entry.offset + list.entry.stored_length / 2), 0xa5);
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() + "/repo/data")) {
      if (e.is_regular_file()) flip(e.path(), static_cast<long>(e.file_size() / 2), 0x5a);
    }
    repo.reset();
    std::filesystem::remove_all(dir.path() + "/cache");
    repo = testing::OpenRepo(dir);
    auto lock = Exclusive(repo.get());
    PruneOptions options;
    options.max_unused_percent = 0;
    auto s = Prune(repo.get(), *lock, options);
    CHECK(s.status().code() == StatusCode::kCorruption);
    CHECK(s.status().message().find("nothing was deleted") != std::string::npos);
    // Every pack is still there (a new pack written before the damage was found may be too:
    // unindexed, the next prune deletes it).
    CHECK(CountFiles(dir.path() + "/repo/data") >= packs);
  }
  SECTION("a manifest is damaged") {
    std::string path = dir.path() + "/repo/snapshots/" + nights[1].id.Hex();
    std::filesystem::resize_file(path, 10);
    auto lock = Exclusive(repo.get());
    CHECK_FALSE(Prune(repo.get(), *lock, {}).ok());
  }
  CHECK(CountFiles(dir.path() + "/repo/data") >= packs - 1);
}

namespace {

// Backs up `data` from two hosts at once (two caches, both sessions started before either
// commits), so each stores every new chunk: the repository then holds each blob twice. Host b
// makes deltas only when `b_deltas`; else it stores whole what host a may store as deltas.
std::pair<Id, Id> BackUpTwice(Repository* a, Repository* b, const std::string& data_a,
                              const std::string& data_b, int64_t t, bool b_deltas) {
  BackupOptions options;
  options.threads = 2;
  // Each host's deltas are against its own previous snapshot, so a chunk both store may get two
  // different bases.
  options.parent_filter = [](const Manifest& m) { return m.hostname == "host-a"; };
  auto sa = BackupSession::Start(a, options);
  options.deltas = b_deltas;
  options.parent_filter = [](const Manifest& m) { return m.hostname == "host-b"; };
  auto sb = BackupSession::Start(b, options);
  REQUIRE(sa.ok());
  REQUIRE(sb.ok());
  for (auto* s : {&*sa, &*sb}) {
    auto stream = (*s)->AddStream("s", testing::StringReader(s == &*sa ? data_a : data_b));
    INFO(stream.status().ToString());
    REQUIRE(stream.ok());
  }
  Manifest m;
  m.time = t;
  m.hostname = "host-a";
  m.source = "stdin";
  auto ida = (*sa)->Commit(m);
  m.hostname = "host-b";
  m.time = t + 1;
  auto idb = (*sb)->Commit(m);
  REQUIRE(ida.ok());
  REQUIRE(idb.ok());
  return {*ida, *idb};
}

}  // namespace

// Regression: prune gave a blob stored twice the home met first in index-object order, and that
// order changes when prune writes new index objects; and marking followed whichever form of a
// blob stored in two forms the cache had merged last. A second prune then found packs to repack.
// Two hosts back up streams that share some of each night's changes, so packs hold both copies
// of shared chunks and chunks of their own.
TEST_CASE("prune_twice_finds_nothing_to_do_when_blobs_are_stored_twice", "[prune]") {
  const bool b_deltas = GENERATE(true, false);
  const int seed = GENERATE(1, 2, 3, 4, 5, 6);
  INFO("host b makes deltas: " << b_deltas << ", seed " << seed);
  TempDir dir;
  testing::MakeRepo(dir, 128 << 10).reset();
  auto a = testing::OpenRepoWithCache(dir, dir.path() + "/cache-a");
  auto b = testing::OpenRepoWithCache(dir, dir.path() + "/cache-b");
  std::vector<Night> nights;
  // Text, so that chunks changed a little are stored as deltas.
  std::string data_a = testing::TestData(512 << 10, 1000 + seed, /*text=*/true);
  std::string data_b = data_a;
  std::mt19937_64 rng(seed);
  auto edit = [&](std::string* data, size_t at, size_t len, int night) {
    for (size_t k = at; k < at + len && k < data->size(); k += 2048) {
      (*data)[k] = static_cast<char>('a' + (night + k) % 26);
    }
  };
  for (int i = 0; i < 10; ++i) {
    if (i > 0) {
      const size_t n = data_a.size();
      size_t common = rng() % (n / 2), own_a = rng() % (n / 2), own_b = rng() % (n / 2);
      edit(&data_a, common, n / 8, i);
      edit(&data_b, common, n / 8, i);
      edit(&data_a, own_a, n / 8, i + 7);
      edit(&data_b, own_b, n / 8, i + 13);
      std::string tail = testing::TestData(16 << 10, 3000 + i, true);
      data_a += tail;
      data_b += tail;
    }
    auto [ida, idb] =
        BackUpTwice(a.get(), b.get(), data_a, data_b, 1767225600 + int64_t{86400} * i, b_deltas);
    nights.push_back({ida, data_a});
    nights.push_back({idb, data_b});
  }
  {
    auto lock = Exclusive(a.get());
    std::vector<Id> forget;
    for (int i = 0; i < 8; ++i) forget.push_back(nights[i].id);
    REQUIRE(ForgetSnapshots(a.get(), *lock, forget).ok());
  }
  std::vector<Night> kept(nights.begin() + 8, nights.end());

  PruneStats first = PruneOk(a.get());
  CHECK(first.packs_deleted + first.packs_repacked > 0);
  // Every other cache (merged in another order, or rebuilt cold) plans nothing more.
  for (auto* repo : {b.get(), a.get()}) {
    PruneStats again = PruneOk(repo);
    INFO("repacked " << again.packs_repacked << " deleted " << again.packs_deleted);
    CHECK(again.packs_deleted + again.packs_repacked + again.packs_unindexed == 0);
    CHECK(again.index_objects_deleted == 0);
    CHECK(again.bytes_unused_kept == first.bytes_unused_kept);
  }
  a.reset();
  std::filesystem::remove_all(dir.path() + "/cache-a");
  a = testing::OpenRepoWithCache(dir, dir.path() + "/cache-a");
  PruneStats cold = PruneOk(a.get());
  CHECK(cold.packs_deleted + cold.packs_repacked + cold.packs_unindexed == 0);
  testing::ExpectRestorable(a.get(), kept);
}
