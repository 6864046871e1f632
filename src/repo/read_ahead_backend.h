// ReadAheadBackend: a Backend decorator that reads packs in large windows, so that a restore
// asking for one blob after another costs a few large range requests per pack instead of one
// request per blob (a bucket bills per request).
//
// A ranged Get of a pack ("data/...") shorter than the window is served from a cached window
// that covers it; on a miss, the decorator reads [offset, offset + window_size) (GetUpTo: the
// server cuts that at the object's end, so reading a pack's header at its tail costs no extra
// bytes), or less where a cached window of the object begins sooner, and caches it. A window
// starts a little before `offset` when the previous window (or the object's start) is within a
// quarter window: workers reading in order reach a border out of order. With `prefetch`, a read
// past the middle of a full window starts reading the next window in the background, so the
// download overlaps the work on the bytes already there. Concurrent misses on one window wait
// for the single read in flight. The cache holds at most `cache_bytes`, least recently used out
// first. Packs are immutable, so a cached window never goes stale; a window whose read failed
// is forgotten (the next Get tries again). Everything else (whole-object Gets, other objects,
// Put, List, Delete) passes straight through.
//
// Thread safety: as the wrapped backend; the cache has its own lock, never held during I/O.
#pragma once

#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <mutex>

#include "repo/backend.h"

namespace pgdedup {
class ThreadPool;
}

namespace pgdedup::repo {

struct ReadAheadOptions {
  // Bytes read per window. Default: 20 MiB: a whole pack (16 MiB and the last blob's overshoot)
  // in one request, as measured in docs/BENCHMARKS.md (8 MiB windows with prefetch cost 40% more
  // requests for no gain in speed).
  uint64_t window_size = 20u << 20;
  // Bytes of windows kept. Default: 64 MiB.
  uint64_t cache_bytes = 64u << 20;
  // Objects whose names start with this are read ahead. Default: "data/" (packs).
  std::string prefix = "data/";
  // Read the next window in the background (one thread). Default: true.
  bool prefetch = true;
};

class ReadAheadBackend : public Backend {
 public:
  ReadAheadBackend(std::unique_ptr<Backend> base, ReadAheadOptions options);
  ~ReadAheadBackend() override;

  std::string Location() const override { return base_->Location(); }
  Status Put(const std::string& name, std::string_view data) override;
  Result<std::string> Get(const std::string& name, uint64_t offset, uint64_t length) override;
  Result<std::string> GetUpTo(const std::string& name, uint64_t offset,
                              uint64_t max_length) override {
    return base_->GetUpTo(name, offset, max_length);
  }
  Result<uint64_t> Size(const std::string& name) override { return base_->Size(name); }
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    return base_->List(prefix);
  }
  Status Delete(const std::string& name) override;
  Status DeleteAll(const std::vector<std::string>& names) override;
  bool HasBatchDelete() const override { return base_->HasBatchDelete(); }
  BackendStats stats() const override { return base_->stats(); }
  bool remote() const override { return base_->remote(); }

 private:
  using Bytes = std::shared_ptr<const std::string>;
  struct Window {
    std::string name;
    uint64_t start = 0;
    uint64_t size = 0;  // bytes asked for; the object may end sooner
    std::shared_future<Result<Bytes>> bytes;
  };

  // Reads a window and fulfils its promise; a failed window is dropped from the cache.
  void Load(const std::string& name, uint64_t start, uint64_t size,
            std::promise<Result<Bytes>> promise);
  // Starts reading the window at `start` in the background unless one covers it already.
  void Prefetch(const std::string& name, uint64_t start);
  // Forgets the cached windows of `name`. REQUIRES: mu_ held.
  void ForgetLocked(const std::string& name);
  // Evicts least recently used windows beyond the budget. REQUIRES: mu_ held.
  void EvictLocked();

  std::unique_ptr<Backend> base_;
  ReadAheadOptions options_;
  std::mutex mu_;                     // guards windows_ and cached_bytes_
  std::list<Window> windows_;         // most recently used first
  uint64_t cached_bytes_ = 0;         // sum of Window::size
  std::unique_ptr<ThreadPool> pool_;  // prefetches; destroyed first (see the destructor)
};

}  // namespace pgdedup::repo
