// Delta chunks: the stored form, chains and their bound, damage to a base, repositories
// written before deltas, and the reference walk prune marks with.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "repo/backup.h"
#include "repo/blob.h"
#include "repo/blob_cache.h"
#include "repo/check.h"
#include "repo/delta_planner.h"
#include "repo/live_blobs.h"
#include "repo/lock.h"
#include "repo/mark_set.h"
#include "repo/pack.h"
#include "repo/prune.h"
#include "repo/restore.h"
#include "support/test_repo.h"

namespace pgdedup {
namespace {

using repo::BlobEntry;
using repo::Id;

// One night of churn on a dump-like text: scattered small updates, rows appended at the end,
// the oldest rows deleted from the start.
std::string Churn(std::string data, uint64_t night) {
  std::mt19937_64 rng(night * 7919);
  for (int i = 0; i < 24; ++i) {
    size_t at = rng() % (data.size() - 16);
    for (int j = 0; j < 8; ++j) data[at + j] = static_cast<char>('a' + rng() % 26);
  }
  data += testing::TestData(6000, 1000 + night);
  data.erase(0, 3000);
  return data;
}

struct DeltaCensus {
  uint64_t blobs = 0;
  uint64_t deltas = 0;
  int max_depth = 0;  // the largest depth an index entry records
  int max_chain = 0;  // the longest chain found by following base links through the index
};

DeltaCensus Census(repo::Repository* repo) {
  DeltaCensus c;
  REQUIRE(repo->SyncIndex().ok());
  REQUIRE(repo->index()
              ->ForEachBlob([&](const repo::BlobLocation& loc) {
                c.blobs++;
                if (loc.entry.is_delta()) c.deltas++;
                c.max_depth = std::max<int>(c.max_depth, loc.entry.depth);
                int chain = 0;
                for (repo::BlobEntry e = loc.entry; e.is_delta() && chain <= 32; ++chain) {
                  auto base = repo->index()->Lookup(e.base);
                  REQUIRE(base.ok());
                  REQUIRE(base->has_value());
                  e = (*base)->entry;
                }
                c.max_chain = std::max(c.max_chain, chain);
                return Status::OK();
              })
              .ok());
  return c;
}

TEST_CASE("a delta blob seals, encodes and opens only with its base", "[delta]") {
  testing::TempDir dir;
  auto repo = testing::MakeRepo(dir);
  const repo::MasterKeys& keys = repo->keys();
  std::string base = testing::TestData(64 << 10, 1);
  std::string next = base;
  next.replace(1000, 5, "HELLO");
  BlobEntry base_entry;
  repo::SealBlob(keys, repo::BlobType::kData, repo::BlobIdOf(keys, base), base, 1, &base_entry);

  BlobEntry e;
  Id id = repo::BlobIdOf(keys, next);
  std::string sealed = repo::SealDeltaBlob(keys, repo::BlobType::kData, id, next, base_entry, base,
                                           1, next.size(), &e);
  REQUIRE_FALSE(sealed.empty());
  CHECK(e.is_delta());
  CHECK(e.depth == 1);
  CHECK(e.base == base_entry.id);
  CHECK(sealed.size() < 1000);  // the patch, not the chunk

  auto opened = repo::OpenBlob(keys, e, sealed, base);
  REQUIRE(opened.ok());
  CHECK(*opened == next);
  // With another base the bytes decode to something else (or nothing): Corruption either way.
  std::string other = testing::TestData(64 << 10, 2);
  auto wrong = repo::OpenBlob(keys, e, sealed, other);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().code() == StatusCode::kCorruption);

  // The index entry carries base and depth; old entries read as before.
  std::string encoded;
  repo::EncodeBlobEntry(e, &encoded);
  Reader in(encoded);
  BlobEntry back;
  REQUIRE(repo::DecodeBlobEntry(&in, &back));
  CHECK(back.base == e.base);
  CHECK(back.depth == 1);
  CHECK(back.compression == repo::Compression::kZstdDelta);
  std::string plain_encoded;
  repo::EncodeBlobEntry(base_entry, &plain_encoded);
  Reader plain_in(plain_encoded);
  REQUIRE(repo::DecodeBlobEntry(&plain_in, &back));
  CHECK_FALSE(back.is_delta());
  // A depth beyond the bound is malformed.
  encoded.back() = static_cast<char>(repo::kMaxDeltaDepth + 1);
  Reader bad(encoded);
  CHECK_FALSE(repo::DecodeBlobEntry(&bad, &back));

  // A delta that would not be smaller than the limit is not made.
  BlobEntry unused;
  CHECK(repo::SealDeltaBlob(keys, repo::BlobType::kData, id, next, base_entry, base, 1, 10, &unused)
            .empty());
}

TEST_CASE("deltas round-trip across 32 nights of churn, chains stay within the bound",
          "[delta][engine]") {
  testing::TempDir dir;
  auto repo = testing::MakeRepo(dir);
  testing::TempDir plain_dir;
  auto plain = testing::MakeRepo(plain_dir);

  std::string data = testing::TestData(1 << 20, 42);
  std::vector<std::pair<Id, std::string>> nights;
  for (uint64_t night = 1; night <= 32; ++night) {
    data = Churn(std::move(data), night);
    auto id = testing::BackupBytes(repo.get(), "db.sql", data, 1700000000 + night * 86400);
    REQUIRE(id.ok());
    nights.emplace_back(*id, data);
    // The same nights without deltas, for comparison.
    auto session = repo::BackupSession::Start(plain.get(), {.deltas = false});
    REQUIRE(session.ok());
    size_t pos = 0;
    REQUIRE((*session)
                ->AddStream("db.sql",
                            [&](char* buf, size_t n) -> Result<size_t> {
                              size_t k = std::min(n, data.size() - pos);
                              std::memcpy(buf, data.data() + pos, k);
                              pos += k;
                              return k;
                            })
                .ok());
    repo::Manifest m;
    m.time = 1700000000 + night * 86400;
    REQUIRE((*session)->Commit(m).ok());
  }
  for (const auto& [id, bytes] : nights) {
    auto back = testing::RestoreBytes(repo.get(), id, "db.sql");
    REQUIRE(back.ok());
    REQUIRE(*back == bytes);
  }
  DeltaCensus c = Census(repo.get());
  CHECK(c.deltas > 100);
  CHECK(c.max_depth == repo::kDefaultDeltaDepth);  // the bound is reached, and held
  CHECK(c.max_chain == repo::kDefaultDeltaDepth);  // by the chains as a reader follows them

  auto stored = [](const testing::TempDir& d) {
    auto backend = repo::OpenBackend(d.path() + "/repo");
    REQUIRE(backend.ok());
    auto objects = (*backend)->List("data/");
    REQUIRE(objects.ok());
    uint64_t total = 0;
    for (const auto& o : *objects) total += o.size;
    return total;
  };
  INFO("stored with deltas " << stored(dir) << ", without " << stored(plain_dir));
  // About half as much here; the chunker's cuts depend on the repository's random seed, and
  // over 32 nights the share varies by a few percent around one half, so ask for two thirds.
  CHECK(stored(dir) * 3 < stored(plain_dir) * 2);

  auto report = repo::CheckRepository(repo.get(), {.read_data = true});
  REQUIRE(report.ok());
  CHECK(report->errors.empty());
}

// Backs up stream "s" on two nights, the second a churn of the first (so with delta chunks
// against it); returns the two snapshot ids.
std::pair<repo::Id, repo::Id> BackUpTwoNights(repo::Repository* repo, uint64_t seed) {
  std::string night1 = testing::TestData(512 << 10, seed);
  auto first = testing::BackupBytes(repo, "s", night1, 1700000000);
  auto second = testing::BackupBytes(repo, "s", Churn(night1, 1), 1700086400);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  return {*first, *second};
}

// Flips a byte of a blob in its pack, on disk.
void Damage(const testing::TempDir& dir, const repo::BlobLocation& loc) {
  std::string path = dir.path() + "/repo/" + repo::PackObjectName(loc.pack_id);
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  char c;
  off_t at = static_cast<off_t>(loc.entry.offset + loc.entry.stored_length / 2);
  REQUIRE(::pread(fd, &c, 1, at) == 1);
  c ^= 0x40;
  REQUIRE(::pwrite(fd, &c, 1, at) == 1);
  ::close(fd);
}

TEST_CASE("a damaged base is caught by check and fails the restores that need it",
          "[delta][engine]") {
  testing::TempDir dir;
  auto repo = testing::MakeRepo(dir);
  auto [first, second] = BackUpTwoNights(repo.get(), 7);
  // A delta of night 2 and its base, a chunk of night 1.
  std::optional<repo::BlobLocation> delta;
  REQUIRE(repo->SyncIndex().ok());
  REQUIRE(repo->index()
              ->ForEachBlob([&](const repo::BlobLocation& loc) {
                if (loc.entry.is_delta() && !delta) delta = loc;
                return Status::OK();
              })
              .ok());
  REQUIRE(delta.has_value());
  auto base = repo->index()->Lookup(delta->entry.base);
  REQUIRE(base.ok());
  REQUIRE(base->has_value());
  Damage(dir, **base);

  auto reopened = testing::OpenRepo(dir);
  auto report = repo::CheckRepository(reopened.get(), {.read_data = true});
  REQUIRE(report.ok());
  std::string all;
  for (const auto& e : report->errors) all += e + "\n";
  INFO(all);
  // The base, the delta that cannot be decoded without it, and both snapshots are named.
  CHECK(all.find(delta->entry.base.Hex()) != std::string::npos);
  CHECK(all.find("blob " + delta->entry.id.Hex() + " (a delta): its base") != std::string::npos);
  CHECK(all.find("snapshot " + first.ShortHex()) != std::string::npos);
  CHECK(all.find("snapshot " + second.ShortHex()) != std::string::npos);

  auto restored = testing::RestoreBytes(reopened.get(), second, "s");
  REQUIRE_FALSE(restored.ok());
  CHECK(restored.status().code() == StatusCode::kCorruption);
}

TEST_CASE("a missing base is reported with the deltas and snapshots that need it",
          "[delta][engine]") {
  testing::TempDir dir;
  auto repo = testing::MakeRepo(dir);
  auto [first, second] = BackUpTwoNights(repo.get(), 8);
  // Every delta of night 2 whose base lives in one pack of night 1; that pack is deleted.
  REQUIRE(repo->SyncIndex().ok());
  std::map<Id, std::vector<Id>> deltas_by_base_pack;
  REQUIRE(repo->index()
              ->ForEachBlob([&](const repo::BlobLocation& loc) {
                if (!loc.entry.is_delta()) return Status::OK();
                auto base = repo->index()->Lookup(loc.entry.base);
                REQUIRE(base.ok());
                REQUIRE(base->has_value());
                deltas_by_base_pack[(*base)->pack_id].push_back(loc.entry.id);
                return Status::OK();
              })
              .ok());
  REQUIRE_FALSE(deltas_by_base_pack.empty());
  const auto& [pack, deltas] = *deltas_by_base_pack.begin();
  std::filesystem::remove(dir.path() + "/repo/" + repo::PackObjectName(pack));

  auto reopened = testing::OpenRepo(dir);
  for (bool read_data : {false, true}) {
    auto report = repo::CheckRepository(reopened.get(), {.read_data = read_data});
    REQUIRE(report.ok());
    std::string all;
    for (const auto& e : report->errors) all += e + "\n";
    INFO("read_data " << read_data << ":\n" << all);
    CHECK(all.find(pack.Hex()) != std::string::npos);
    CHECK(all.find("snapshot " + first.ShortHex()) != std::string::npos);
    CHECK(all.find("snapshot " + second.ShortHex()) != std::string::npos);
    // The error lines stop after a few chunks a stream; the report lists every one: each delta
    // of night 2 over a base in the lost pack, with the base named.
    CHECK(report->damaged_chunks_total == report->damaged_chunks.size());
    for (const Id& d : deltas) {
      bool listed = false;
      for (const auto& dc : report->damaged_chunks) {
        listed |= dc.chunk == d && dc.snapshot == second &&
                  dc.problem.find("is a delta whose base") != std::string::npos &&
                  dc.problem.find(pack.Hex()) != std::string::npos;
      }
      CHECK(listed);
    }
  }
  auto restored = testing::RestoreBytes(reopened.get(), second, "s");
  REQUIRE_FALSE(restored.ok());
}

TEST_CASE("a repository written without deltas keeps working with them", "[delta][engine]") {
  testing::TempDir dir;
  auto repo = testing::MakeRepo(dir);
  std::string data = testing::TestData(512 << 10, 9);
  std::vector<std::pair<Id, std::string>> nights;
  // Nights written the old way (every chunk whole), then nights with deltas against them.
  for (uint64_t night = 1; night <= 6; ++night) {
    data = Churn(std::move(data), night);
    repo::BackupOptions options;
    options.deltas = night > 3;
    auto session = repo::BackupSession::Start(repo.get(), options);
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
    repo::Manifest m;
    m.time = 1700000000 + static_cast<int64_t>(night) * 86400;
    auto id = (*session)->Commit(m);
    REQUIRE(id.ok());
    nights.emplace_back(*id, data);
    if (night == 3) CHECK(Census(repo.get()).deltas == 0);
  }
  CHECK(Census(repo.get()).deltas > 0);
  for (const auto& [id, bytes] : nights) {
    auto back = testing::RestoreBytes(repo.get(), id, "s");
    REQUIRE(back.ok());
    CHECK(*back == bytes);
  }
}

TEST_CASE("prune keeps the bases of live deltas that only forgotten snapshots listed",
          "[delta][engine][prune]") {
  testing::TempDir dir;
  auto repo = testing::MakeRepo(dir);
  std::string data = testing::TestData(512 << 10, 11);
  std::vector<std::pair<Id, std::string>> nights;
  for (uint64_t night = 1; night <= 4; ++night) {
    data = Churn(std::move(data), night);
    auto id = testing::BackupBytes(repo.get(), "s", data, 1700000000 + night * 86400);
    REQUIRE(id.ok());
    nights.emplace_back(*id, data);
  }
  // The newest snapshot alone: its chunks are deltas against chunks only older nights list.
  auto snapshots = repo->ListSnapshots();
  REQUIRE(snapshots.ok());
  std::set<Id> listed;
  for (const auto& stream : snapshots->back().manifest.streams) {
    listed.insert(stream.chunk_lists.begin(), stream.chunk_lists.end());
    REQUIRE(repo::ForEachChunkId(repo.get(), stream, [&](const Id& id) {
              listed.insert(id);
              return Status::OK();
            }).ok());
  }
  auto marks = repo::MarkSet::Create(dir.path() + "/marks");
  REQUIRE(marks.ok());
  repo::LiveBlobMarker marker(repo.get(), marks->get());
  REQUIRE(marker.MarkSnapshot(snapshots->back()).ok());
  uint64_t bases_only = 0;
  REQUIRE((*marks)
              ->ForEach([&](const Id& id, std::string_view) {
                if (!listed.count(id)) bases_only++;
                return Status::OK();
              })
              .ok());
  CHECK(marker.marked() == listed.size() + bases_only);
  CHECK(bases_only > 0);  // the walk went past what the snapshot lists, to the bases

  // Forget every night but the last, prune everything unused: the last night still restores.
  {
    auto lock = repo::RepoLock::Acquire(repo.get(), /*exclusive=*/true);
    REQUIRE(lock.ok());
    std::vector<Id> forget;
    for (size_t i = 0; i + 1 < nights.size(); ++i) forget.push_back(nights[i].first);
    REQUIRE(repo::ForgetSnapshots(repo.get(), **lock, forget).ok());
    repo::PruneOptions options;
    options.max_unused_percent = 0;  // repack anything with garbage in it
    auto pruned = repo::Prune(repo.get(), **lock, options);
    INFO(pruned.status().ToString());
    REQUIRE(pruned.ok());
    CHECK(pruned->packs_deleted + pruned->packs_repacked > 0);
  }
  auto reopened = testing::OpenRepo(dir);
  auto back = testing::RestoreBytes(reopened.get(), nights.back().first, "s");
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  CHECK(*back == nights.back().second);
  auto report = repo::CheckRepository(reopened.get(), {.read_data = true});
  REQUIRE(report.ok());
  CHECK(report->errors.empty());
  CHECK(Census(reopened.get()).deltas > 0);
}

}  // namespace
}  // namespace pgdedup

namespace pgdedup {
namespace {

// The parent stream of a snapshot, with its chunks' ids and starts.
struct ParentChunks {
  repo::StreamInfo stream;
  std::vector<Id> ids;
  std::vector<uint64_t> starts;
  // The parent chunk covering `offset` (the last one past the end).
  Id Covering(uint64_t offset) const {
    size_t i = std::upper_bound(starts.begin(), starts.end(), offset) - starts.begin();
    return ids[i == 0 ? 0 : i - 1];
  }
};

ParentChunks LoadParent(repo::Repository* repo, const Id& snapshot, const std::string& name) {
  ParentChunks p;
  REQUIRE(repo->SyncIndex().ok());
  auto ref = repo->FindSnapshot(snapshot.Hex());
  REQUIRE(ref.ok());
  for (const auto& s : ref->manifest.streams) {
    if (s.name == name) p.stream = s;
  }
  uint64_t offset = 0;
  REQUIRE(repo::ForEachChunkId(repo, p.stream, [&](const Id& id) {
            auto loc = repo->index()->Lookup(id);
            REQUIRE(loc.ok());
            REQUIRE(loc->has_value());
            p.ids.push_back(id);
            p.starts.push_back(offset);
            offset += (*loc)->entry.raw_length;
            return Status::OK();
          }).ok());
  REQUIRE(p.ids.size() > 8);
  return p;
}

}  // namespace

TEST_CASE("the delta planner faces each new chunk with the parent chunk at the same place",
          "[delta]") {
  testing::TempDir dir;
  auto repo = testing::MakeRepo(dir);
  // The second half repeats the first, so some chunk ids occur twice in the parent.
  std::string half = testing::TestData(1 << 20, 7);
  auto snapshot = testing::BackupBytes(repo.get(), "t.sql", half + half);
  REQUIRE(snapshot.ok());
  ParentChunks parent = LoadParent(repo.get(), *snapshot, "t.sql");
  const size_t n = parent.ids.size();

  SECTION("before any shared chunk the streams are aligned at their starts") {
    repo::DeltaPlanner planner(repo.get(), parent.stream);
    for (uint64_t offset :
         {uint64_t{0}, uint64_t{12345}, parent.starts[n / 2] + 1, parent.stream.size + 999999}) {
      CHECK(planner.CandidateFor(offset) == parent.Covering(offset));
    }
  }
  SECTION("a shared chunk anchors what follows, seen before or after the parent is read") {
    for (bool early : {true, false}) {
      repo::DeltaPlanner planner(repo.get(), parent.stream);
      if (!early) (void)planner.CandidateFor(0);  // reads the parent's list
      // 1000 bytes were inserted before parent chunk 3: it now starts 1000 bytes later.
      const uint64_t at = parent.starts[3] + 1000;
      planner.Saw(parent.ids[3], at);
      for (uint64_t d : {uint64_t{0}, uint64_t{5000}, parent.starts[6] - parent.starts[3]}) {
        CHECK(planner.CandidateFor(at + d) == parent.Covering(parent.starts[3] + d));
      }
    }
  }
  SECTION("a chunk the parent holds twice anchors at its first occurrence") {
    size_t second = n;
    for (size_t i = n / 2; i < n && second == n; ++i) {
      for (size_t j = 0; j < n / 2; ++j) {
        if (parent.ids[j] == parent.ids[i]) second = i;
      }
    }
    REQUIRE(second < n);
    size_t first =
        std::find(parent.ids.begin(), parent.ids.end(), parent.ids[second]) - parent.ids.begin();
    repo::DeltaPlanner planner(repo.get(), parent.stream);
    planner.Saw(parent.ids[second], 50);
    CHECK(planner.CandidateFor(50) == parent.ids[first]);
  }
  SECTION("only the latest anchors are kept, and the latest one counts") {
    repo::DeltaPlanner planner(repo.get(), parent.stream);
    (void)planner.CandidateFor(0);
    // Many more anchors than are kept, each shifting the streams differently.
    const size_t count = repo::DeltaPlanner::kMaxAnchors * 3;
    uint64_t offset = 0;
    size_t k = 0;
    for (size_t i = 0; i < count; ++i) {
      k = i % n;
      offset += 70000;
      planner.Saw(parent.ids[k], offset);
    }
    CHECK(planner.CandidateFor(offset + 10) == parent.Covering(parent.starts[k] + 10));
    // Memory: the parent's list (52 bytes a chunk) and the anchors kept, whatever the number
    // of chunks seen.
    CHECK(planner.ApproximateMemory() <= 52 * n + 48 * repo::DeltaPlanner::kMaxAnchors);
  }
  SECTION("a parent that cannot be read gives no candidates") {
    repo::StreamInfo broken = parent.stream;
    broken.chunk_lists.assign(1, Id{});
    repo::DeltaPlanner planner(repo.get(), broken);
    CHECK_FALSE(planner.CandidateFor(0).has_value());
  }
}

}  // namespace pgdedup

TEST_CASE("the cache of decoded bases stays within its bound, least recently used out first",
          "[delta]") {
  pgdedup::repo::BlobCache cache(3 << 10);
  using pgdedup::repo::Id;
  auto id = [](int i) { return Id::FromBytes(std::string(Id::kSize, static_cast<char>(i))); };
  auto blob = [](char c) { return std::make_shared<const std::string>(1 << 10, c); };
  cache.Put(id(1), blob('a'));
  cache.Put(id(2), blob('b'));
  cache.Put(id(3), blob('c'));
  REQUIRE(cache.Get(id(1)) != nullptr);  // now the most recently used
  cache.Put(id(4), blob('d'));           // 4 KiB > 3 KiB: the least recently used (2) goes
  CHECK(cache.Get(id(2)) == nullptr);
  CHECK(cache.Get(id(1)) != nullptr);
  CHECK(cache.Get(id(3)) != nullptr);
  CHECK(*cache.Get(id(4)) == std::string(1 << 10, 'd'));
  // A blob larger than the whole bound is not kept, and evicts nothing.
  cache.Put(id(5), std::make_shared<const std::string>(4 << 10, 'e'));
  CHECK(cache.Get(id(5)) == nullptr);
  CHECK(cache.Get(id(4)) != nullptr);
  // Lowering the bound evicts at once, oldest first.
  cache.SetCapacity(1 << 10);
  CHECK(cache.Get(id(4)) != nullptr);
  CHECK(cache.Get(id(1)) == nullptr);
  CHECK(cache.Get(id(3)) == nullptr);
}
