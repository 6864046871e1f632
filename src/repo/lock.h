// RepoLock: a lock object "locks/<random>" that says who is using the repository. Backups,
// restores and checks hold shared locks; prune holds an exclusive one. A lock is refreshed
// (rewritten under a new name) every kRefreshInterval while held, and removed on release.
//
// A lock is stale, and is reported and ignored, when its process is gone (same host, pid not
// alive) or it has not been refreshed for kStaleAfter: a backup killed by cron's timeout or the
// OOM killer never needs a manual unlock.
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
  static Result<std::unique_ptr<RepoLock>> Acquire(Repository* repo, bool exclusive);
  // Releases the lock (stops refreshing, deletes the object).
  ~RepoLock();

  // Every lock in the repository, with staleness judged now.
  static Result<std::vector<LockInfo>> List(Repository* repo);

 private:
  RepoLock(Repository* repo, bool exclusive) : repo_(repo), exclusive_(exclusive) {}
  Status Write();
  void RefreshLoop();

  Repository* repo_;
  bool exclusive_;
  uint64_t created_ = 0;
  std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread refresher_;
};

}  // namespace pgdedup::repo
