// RepoLock: a lock object "locks/<random>" that says who is using the repository. Backups,
// restores and checks hold shared locks; prune holds an exclusive one. A lock is refreshed
// (rewritten under a new name) every kRefreshInterval while held, and removed on release.
//
// A lock is stale, and is reported and ignored, when its process is gone (same host, pid not
// alive) or it has not been refreshed for kStaleAfter: a backup killed by cron's timeout or the
// OOM killer never needs a manual unlock. RemoveLocks (`pgdedup unlock`) deletes stale locks, or
// every lock when told to (for a lock of a process on another host that is known to be gone).
// A command that writes nothing to the repository (restore, drill, check) may ask for its lock
// to be deleted by an interrupt on the way out (DeleteOnInterrupt), so that a drill stopped by a
// timeout does not hold up another host's prune until kStaleAfter. A writer's lock stays: a
// request it has in flight could still land after the lock is gone, while a prune that took
// the repository trusts the lock.
//
//   lock (plaintext of a sealed object of type kLock) :=
//     version:u8 | exclusive:u8 | pid:u32 | created:u64 | refreshed:u64 | hostname:lp | username:lp
//
// Thread safety: a RepoLock refreshes itself on its own thread; its methods are not shared.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/interrupt.h"
#include "common/result.h"
#include "repo/repository.h"

namespace pgdedup::repo {

struct LockInfo {
  std::string name;  // object name
  bool exclusive = false;
  uint32_t pid = 0;
  uint64_t created = 0;
  uint64_t refreshed = 0;
  std::string hostname;
  std::string username;
  bool stale = false;
  std::string stale_reason;
};

class RepoLock {
 public:
  static constexpr std::chrono::seconds kRefreshInterval{300};
  static constexpr std::chrono::seconds kStaleAfter{1800};

  // Takes a lock. Locked (naming the holder) when a live lock conflicts: any live exclusive
  // lock for a shared request, any live lock for an exclusive one.
  // With `retry_for` > 0, a conflict is retried (every few seconds, saying what it waits for)
  // until the lock is taken or `retry_for` has passed.
  static Result<std::unique_ptr<RepoLock>> Acquire(
      Repository* repo, bool exclusive, std::chrono::seconds retry_for = std::chrono::seconds(0));
  // Releases the lock (stops refreshing, deletes the object).
  ~RepoLock();

  bool exclusive() const { return exclusive_; }

  // For a command that writes nothing to the repository: an interrupt (SIGINT, SIGTERM, SIGHUP;
  // common/interrupt.h) deletes the lock object before the process ends.
  void DeleteOnInterrupt();

  // Every lock in the repository, with staleness judged now.
  static Result<std::vector<LockInfo>> List(Repository* repo);
  // Deletes the stale locks, or with `all` every lock (including live ones: only for locks of
  // processes known to be gone). Returns the locks deleted.
  static Result<std::vector<LockInfo>> RemoveLocks(Repository* repo, bool all);
  // "an exclusive lock held by pid 123 on host (user u) since 2026-11-23 02:00:00".
  static std::string Describe(const LockInfo& lock);

 private:
  RepoLock(Repository* repo, bool exclusive) : repo_(repo), exclusive_(exclusive) {}
  static Result<std::unique_ptr<RepoLock>> TryAcquire(Repository* repo, bool exclusive);
  Status Write();
  void RefreshLoop();
  void ReleaseOnInterrupt();

  Repository* repo_;
  bool exclusive_;
  uint64_t created_ = 0;
  std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread refresher_;
  std::unique_ptr<OnInterrupt> on_interrupt_;  // set by DeleteOnInterrupt
};

}  // namespace pgdedup::repo
