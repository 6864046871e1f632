// LocalBackend: a repository in a local directory (a disk or a NAS mount).
//
// Put writes "<dir>/.tmp-<random>" with O_EXCL, fsyncs it, renames it over the final name and
// fsyncs the directory, so an object is never seen half-written and survives a power cut once
// Put returns. Leftover .tmp- files from a crash are ignored by List and may be deleted by hand.
//
// Thread safety: all methods are safe to call concurrently.
#pragma once

#include <memory>

#include "repo/backend.h"

namespace pgdedup::repo {

class LocalBackend : public Backend {
 public:
  // Opens `root`, which must exist unless `create` (then it and its parents are created).
  static Result<std::unique_ptr<LocalBackend>> Open(const std::string& root, bool create);

  std::string Location() const override { return root_; }
  Status Put(const std::string& name, std::string_view data) override;
  Result<std::string> Get(const std::string& name, uint64_t offset, uint64_t length) override;
  Result<uint64_t> Size(const std::string& name) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& name) override;
  BackendStats stats() const override { return counters_.Snapshot(); }

 private:
  explicit LocalBackend(std::string root) : root_(std::move(root)) {}
  std::string PathOf(const std::string& name) const { return root_ + "/" + name; }

  std::string root_;
  BackendCounters counters_;
};

}  // namespace pgdedup::repo
