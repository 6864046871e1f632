// Faults injected below the engine (FaultBackend): a full disk, a crash between objects,
// storage that loses the tail of its acknowledged writes, and a disk that loses part of a
// write. Each must end with a clear error and leave every snapshot committed before restoring
// byte for byte.
#include <catch2/catch.hpp>
#include <filesystem>

#include "repo/check.h"
#include "repo/fault_backend.h"
#include "repo/local_backend.h"
#include "support/test_repo.h"

using namespace pgdedup;
using namespace pgdedup::repo;
using pgdedup::testing::TempDir;

namespace {

std::unique_ptr<Repository> OpenFaulty(const TempDir& dir, FaultOptions options) {
  auto base = OpenBackend(dir.path() + "/repo");
  REQUIRE(base.ok());
  return testing::OpenRepo(dir, std::make_unique<FaultBackend>(std::move(*base), options));
}

void ExpectIntact(const TempDir& dir, const Id& snapshot, const std::string& data) {
  auto repo = testing::OpenRepo(dir);
  auto back = testing::RestoreBytes(repo.get(), snapshot, "s");
  REQUIRE(back.ok());
  CHECK(*back == data);
  auto report = CheckRepository(repo.get(), {.read_data = true});
  REQUIRE(report.ok());
  for (const auto& e : report->errors) UNSCOPED_INFO(e);
  CHECK(report->ok());
}

}  // namespace

TEST_CASE("a full disk fails the backup clearly and loses nothing", "[faults]") {
  TempDir dir;
  std::string first = testing::TestData(2 << 20, 1, false);
  Id first_id = *testing::BackupBytes(testing::MakeRepo(dir).get(), "s", first);

  for (int after : {0, 1, 2, 3}) {
    DYNAMIC_SECTION("puts fail after " << after) {
      FaultOptions options;
      options.prefix = "data/";
      options.fail_puts_after = after;
      auto repo = OpenFaulty(dir, options);
      auto id = testing::BackupBytes(repo.get(), "s", testing::TestData(5 << 20, 2, false));
      REQUIRE_FALSE(id.ok());
      CHECK(id.status().message().find("No space left on device") != std::string::npos);
      auto snaps = repo->ListSnapshots();
      REQUIRE(snaps.ok());
      CHECK(snaps->size() == 1);
    }
  }
  ExpectIntact(dir, first_id, first);

  // After the disk has room again, the next backup works.
  auto repo = testing::OpenRepo(dir);
  std::string next = testing::TestData(5 << 20, 2, false);
  auto id = testing::BackupBytes(repo.get(), "s", next);
  REQUIRE(id.ok());
  CHECK(*testing::RestoreBytes(repo.get(), *id, "s") == next);
}

TEST_CASE("a crash between any two objects leaves earlier snapshots intact", "[faults]") {
  TempDir dir;
  std::string first = testing::TestData(2 << 20, 3, false);
  Id first_id = *testing::BackupBytes(testing::MakeRepo(dir).get(), "s", first);
  std::string second = testing::TestData(4 << 20, 4, false);

  for (int crash_at = 1; crash_at < 10; ++crash_at) {
    FaultOptions options;
    options.crash_after_puts = crash_at;  // counts every object: packs, index, manifest, locks
    auto repo = OpenFaulty(dir, options);
    auto id = testing::BackupBytes(repo.get(), "s", second);
    if (id.ok()) break;  // the crash point lies after the whole backup
    ExpectIntact(dir, first_id, first);
  }
  auto repo = testing::OpenRepo(dir);
  auto id = testing::BackupBytes(repo.get(), "s", second);
  REQUIRE(id.ok());
  CHECK(*testing::RestoreBytes(repo.get(), *id, "s") == second);
}

TEST_CASE("storage that loses any tail of a backup's writes keeps a consistent repository",
          "[faults]") {
  // Whatever suffix of its Puts is lost (packs, the index object, the manifest), the commit
  // order leaves a repository in which every snapshot listed restores, check finds no error,
  // and the next backup works. The backup's puts are the same in every round (the same data),
  // so round `kept` keeps the first `kept` of them.
  TempDir dir;
  std::string first = testing::TestData(2 << 20, 6, false);
  Id first_id = *testing::BackupBytes(testing::MakeRepo(dir).get(), "s", first);
  const std::string repo_dir = dir.path() + "/repo";
  const std::string saved = dir.path() + "/saved";
  std::filesystem::copy(repo_dir, saved, std::filesystem::copy_options::recursive);
  std::string second = testing::TestData(4 << 20, 7, false);

  size_t total = 0;
  for (size_t kept = 0;; ++kept) {
    std::filesystem::remove_all(repo_dir);
    std::filesystem::copy(saved, repo_dir, std::filesystem::copy_options::recursive);
    auto base = OpenBackend(repo_dir);
    REQUIRE(base.ok());
    auto faulty = std::make_unique<FaultBackend>(std::move(*base), FaultOptions{});
    FaultBackend* fault = faulty.get();
    Id second_id;
    {
      auto repo = testing::OpenRepo(dir, std::move(faulty));
      auto id = testing::BackupBytes(repo.get(), "s", second);
      REQUIRE(id.ok());
      second_id = *id;
      const std::vector<std::string> log = fault->put_log();
      if (total == 0) total = log.size();
      REQUIRE(log.size() == total);
      if (kept > total) break;
      INFO("kept the first " << kept << " of " << total << " puts");
      REQUIRE(fault->DropPutsAfter(kept).ok());
    }
    INFO("kept the first " << kept << " of " << total << " puts");
    auto repo = testing::OpenRepo(dir);
    auto snaps = repo->ListSnapshots();
    REQUIRE(snaps.ok());
    auto first_back = testing::RestoreBytes(repo.get(), first_id, "s");
    REQUIRE(first_back.ok());
    CHECK(*first_back == first);
    bool second_listed = false;
    for (const auto& s : *snaps) second_listed |= s.id == second_id;
    if (second_listed) {
      auto second_back = testing::RestoreBytes(repo.get(), second_id, "s");
      REQUIRE(second_back.ok());
      CHECK(*second_back == second);
    }
    // The manifest is among the last puts: only a loss before it loses the snapshot.
    if (kept >= total) CHECK(second_listed);
    if (kept == 0) CHECK_FALSE(second_listed);
    auto report = CheckRepository(repo.get(), {.read_data = true});
    REQUIRE(report.ok());
    for (const auto& e : report->errors) UNSCOPED_INFO(e);
    CHECK(report->ok());
    auto again = testing::BackupBytes(repo.get(), "s", second);
    REQUIRE(again.ok());
    auto again_back = testing::RestoreBytes(repo.get(), *again, "s");
    REQUIRE(again_back.ok());
    CHECK(*again_back == second);
  }
  CHECK(total >= 5);  // a lock, several packs, an index object, a manifest
}

TEST_CASE("a disk that drops half a pack is caught by check and restore", "[faults]") {
  TempDir dir;
  testing::MakeRepo(dir);
  FaultOptions options;
  options.prefix = "data/";
  options.truncate_put = 0;
  auto repo = OpenFaulty(dir, options);
  std::string data = testing::TestData(3 << 20, 5, false);
  auto id = testing::BackupBytes(repo.get(), "s", data);
  REQUIRE(id.ok());  // the lying disk said OK

  auto clean = testing::OpenRepo(dir);
  auto report = CheckRepository(clean.get(), {.read_data = true});
  REQUIRE(report.ok());
  CHECK_FALSE(report->ok());
  auto back = testing::RestoreBytes(clean.get(), *id, "s");
  CHECK_FALSE(back.ok());
}
