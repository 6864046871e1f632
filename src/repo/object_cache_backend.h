// ObjectCacheBackend: a Backend decorator that keeps local copies of the small immutable objects
// every command reads whole — key files and snapshot manifests — so that a command on a bucket
// does not download every manifest again each time it looks for `latest`.
//
// Only objects under `keys/` and `snapshots/` whose name ends in the SHA-256 of their bytes are
// cached (those names are content hashes, docs/FORMAT.md): a cached copy is used only when its
// bytes still hash to its name, so a damaged or foreign file in the cache is never believed (it
// is fetched again). Whole-object Gets of such names are served from `dir` when present, and
// stored there after a fetch or a Put; Delete removes the copy; a List of a cached directory
// removes the copies of objects the listing no longer has (deleted by another machine's prune).
// Everything else passes straight through. The cache is a cache: writes to it are best effort
// and never fail an operation.
//
// Thread safety: as the wrapped backend; files are published by rename, so concurrent readers
// and writers (threads or processes) see whole files or none.
#pragma once

#include <memory>
#include <string>

#include "repo/backend.h"

namespace pgdedup::repo {

class ObjectCacheBackend : public Backend {
 public:
  // Caches under `dir` (created on first use).
  ObjectCacheBackend(std::unique_ptr<Backend> base, std::string dir)
      : base_(std::move(base)), dir_(std::move(dir)) {}

  std::string Location() const override { return base_->Location(); }
  Status Put(const std::string& name, std::string_view data) override;
  Result<std::string> Get(const std::string& name, uint64_t offset, uint64_t length) override;
  Result<std::string> GetUpTo(const std::string& name, uint64_t offset,
                              uint64_t max_length) override {
    return base_->GetUpTo(name, offset, max_length);
  }
  Result<uint64_t> Size(const std::string& name) override { return base_->Size(name); }
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& name) override;
  Status DeleteAll(const std::vector<std::string>& names) override;
  bool HasBatchDelete() const override { return base_->HasBatchDelete(); }
  BackendStats stats() const override { return base_->stats(); }
  bool remote() const override { return base_->remote(); }

  // True for the names this decorator caches.
  static bool Cacheable(const std::string& name);

 private:
  void Store(const std::string& name, std::string_view data) const;
  void Forget(const std::string& name) const;

  std::unique_ptr<Backend> base_;
  std::string dir_;
};

}  // namespace pgdedup::repo
