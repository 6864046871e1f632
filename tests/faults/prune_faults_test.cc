// A crash at every point of prune (FaultBackend: the process "dies" at its Nth put or Nth
// delete, and nothing after reaches the repository). After each crash every snapshot that was
// not forgotten restores byte for byte and `check --read-data` passes; a second prune then
// completes the job and leaves no unreferenced pack behind.
#include <catch2/catch.hpp>
#include <filesystem>

#include "repo/fault_backend.h"
#include "repo/local_backend.h"
#include "support/nightly_repo.h"

using namespace pgdedup;
using namespace pgdedup::repo;
using pgdedup::testing::Night;
using pgdedup::testing::TempDir;

namespace {

// A repository with nights 0-5, of which 0-3 are forgotten: prune has packs to delete and to
// repack. Built once, copied for each crash point.
struct Template {
  TempDir dir;
  std::vector<Night> kept;
  Template() {
    auto repo = testing::MakeRepo(dir);
    std::vector<Night> nights = testing::BackUpNights(repo.get(), 6, 1 << 20);
    auto lock = RepoLock::Acquire(repo.get(), true);
    REQUIRE(lock.ok());
    REQUIRE(ForgetSnapshots(repo.get(), **lock,
                            {nights[0].id, nights[1].id, nights[2].id, nights[3].id})
                .ok());
    kept = {nights[4], nights[5]};
  }
};

void CopyRepo(const TempDir& from, const TempDir& to) {
  std::filesystem::copy(from.path() + "/repo", to.path() + "/repo",
                        std::filesystem::copy_options::recursive);
}

// Runs prune on a copy of the template through a backend that crashes as told. Returns whether
// prune completed (the crash point lay beyond its last operation).
bool PruneWithCrash(const Template& t, const TempDir& dir, FaultOptions crash) {
  CopyRepo(t.dir, dir);
  auto base = OpenBackend(dir.path() + "/repo");
  REQUIRE(base.ok());
  auto repo = testing::OpenRepo(dir, std::make_unique<FaultBackend>(std::move(*base), crash));
  auto lock = RepoLock::Acquire(repo.get(), true);
  if (!lock.ok()) return false;  // crashed while taking the lock
  auto stats = Prune(repo.get(), **lock, {});
  if (stats.ok()) return true;
  CHECK(stats.status().message().find("injected crash") != std::string::npos);
  return false;
}

// After a crash: the survivors restore and check passes; a prune completes the job.
void ExpectRecovers(const Template& t, const TempDir& dir) {
  auto repo = testing::OpenRepo(dir);
  // The dead process's lock stays behind; it is this (living) test process's pid, so remove it
  // as `unlock --remove-all` would.
  REQUIRE(RepoLock::RemoveLocks(repo.get(), /*all=*/true).ok());
  testing::ExpectRestorable(repo.get(), t.kept);
  auto lock = RepoLock::Acquire(repo.get(), true);
  REQUIRE(lock.ok());
  auto stats = Prune(repo.get(), **lock, {});
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  lock->reset();
  testing::ExpectRestorable(repo.get(), t.kept);
  auto report = CheckRepository(repo.get(), {});
  REQUIRE(report.ok());
  for (const auto& w : report->warnings) UNSCOPED_INFO(w);
  CHECK(report->warnings.empty());  // no unindexed pack left
  auto snaps = repo->ListSnapshots();
  REQUIRE(snaps.ok());
  CHECK(snaps->size() == t.kept.size());
}

}  // namespace

TEST_CASE("prune killed at any put or delete leaves every kept snapshot restorable",
          "[faults][prune]") {
  Template t;
  // How many puts and deletes a whole prune makes (its lock included).
  int total_puts = 0, total_deletes = 0;
  {
    TempDir dir;
    CopyRepo(t.dir, dir);
    auto base = OpenBackend(dir.path() + "/repo");
    REQUIRE(base.ok());
    auto counting = std::make_unique<FaultBackend>(std::move(*base), FaultOptions{});
    FaultBackend* counter = counting.get();
    auto repo = testing::OpenRepo(dir, std::move(counting));
    {
      auto lock = RepoLock::Acquire(repo.get(), true);
      REQUIRE(lock.ok());
      auto stats = Prune(repo.get(), **lock, {});
      REQUIRE(stats.ok());
      CHECK(stats->packs_repacked > 0);
      CHECK(stats->packs_deleted > 0);
    }
    total_puts = counter->puts();
    total_deletes = counter->deletes();
  }
  INFO("a whole prune: " << total_puts << " puts, " << total_deletes << " deletes");
  REQUIRE(total_puts >= 3);     // lock, a new pack, an index object
  REQUIRE(total_deletes >= 3);  // an index object, packs, the lock

  // Plain loops, not sections: a section would rebuild the template each time.
  // crash_after_puts = n: the first n puts reach the repository (the first is the lock), then
  // the process is gone; n = total_puts crashes after the last put, before any delete.
  for (int n = 1; n <= total_puts; ++n) {
    INFO("crash at put " << n);
    TempDir dir;
    FaultOptions crash;
    crash.crash_after_puts = n;
    CHECK_FALSE(PruneWithCrash(t, dir, crash));
    ExpectRecovers(t, dir);
  }
  // The last delete is the lock's own release, after prune returned. A crash just before it
  // leaves prune's work done (its cache resync after the deletes fails, which is only a warning).
  for (int n = 1; n < total_deletes; ++n) {
    INFO("crash at delete " << n);
    TempDir dir;
    FaultOptions crash;
    crash.crash_after_deletes = n;
    bool completed = PruneWithCrash(t, dir, crash);
    CHECK(completed == (n == total_deletes - 1));
    ExpectRecovers(t, dir);
  }
}
