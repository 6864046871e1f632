// FaultBackend: a Backend decorator that injects failures, for tests (after leveldb's
// fault-injection Env). It forwards to the wrapped backend until a configured fault fires:
//  - a full disk: every Put after the first `fail_puts_after` fails with an I/O error;
//  - a lying disk: the `truncate_put`-th Put stores only half of its bytes yet reports OK;
//  - a crash: after `crash_after_puts` Puts, or after `crash_after_deletes` Deletes, every
//    operation fails (as if the process had died and nothing later reached the disk; a Put in
//    this backend is atomic, so no torn object);
//  - unsynced data dropped: every successful Put is logged, and DropPutsAfter(n) removes the
//    objects of all but the first n of them, as storage that acknowledged writes from a
//    volatile cache loses them in a power cut, newest first (leveldb's DropUnsyncedFileData
//    for a store of whole objects).
// Faults count only objects whose name starts with `prefix`.
//
// Thread safety: as the wrapped backend; the counters are atomic, the log locked.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "repo/backend.h"

namespace pgdedup::repo {

struct FaultOptions {
  // Only objects whose names start with this are counted and faulted. Default: "" (all).
  std::string prefix;
  // Puts after this many succeed fail with "No space left on device". Default: -1 (never).
  int fail_puts_after = -1;
  // The Put with this 0-based number stores only half its bytes and returns OK. Default: -1.
  int truncate_put = -1;
  // After this many Puts, every operation fails with an I/O error. Default: -1 (never).
  int crash_after_puts = -1;
  // After this many Deletes, every operation fails with an I/O error. Default: -1 (never).
  int crash_after_deletes = -1;
};

class FaultBackend : public Backend {
 public:
  FaultBackend(std::unique_ptr<Backend> base, FaultOptions options)
      : base_(std::move(base)), options_(std::move(options)) {}

  std::string Location() const override { return base_->Location(); }
  Status Put(const std::string& name, std::string_view data) override;
  Result<std::string> Get(const std::string& name, uint64_t offset, uint64_t length) override;
  Result<uint64_t> Size(const std::string& name) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& name) override;
  BackendStats stats() const override { return base_->stats(); }
  bool remote() const override { return base_->remote(); }

  // Puts of matching objects attempted so far.
  int puts() const { return puts_.load(); }
  // Deletes of matching objects attempted so far.
  int deletes() const { return deletes_.load(); }

  // The names of the matching objects Put successfully so far, in the order the Puts returned.
  std::vector<std::string> put_log() const;
  // Drops unsynced data: deletes from the wrapped backend the objects of every logged Put
  // after the first `kept` (an object the backup deleted itself meanwhile, such as a released
  // lock, is simply gone already). The log keeps the first `kept`.
  Status DropPutsAfter(size_t kept);

 private:
  bool Crashed() const;

  std::unique_ptr<Backend> base_;
  FaultOptions options_;
  std::atomic<int> puts_{0};
  std::atomic<int> deletes_{0};
  mutable std::mutex log_mu_;
  std::vector<std::string> put_log_;  // guarded by log_mu_
};

}  // namespace pgdedup::repo
