// Helpers for engine tests: a temporary directory, a fresh repository in it, and shortcuts to
// back up and restore byte strings through the real engine.
#pragma once

#include <memory>
#include <string>

#include "repo/backend.h"
#include "repo/backup.h"
#include "repo/repository.h"

namespace pgdedup::testing {

// A temporary directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr char kTestPassword[] = "test-password";

// Creates a repository in dir/repo (small packs so tests see several) and opens it through
// `backend` (default: the plain local backend). Aborts the test on failure.
// `chunker`, when given, replaces the default chunk sizes.
std::unique_ptr<repo::Repository> MakeRepo(const TempDir& dir, uint32_t pack_size = 1u << 20,
                                           const chunker::ChunkerParams* chunker = nullptr);
std::unique_ptr<repo::Repository> OpenRepo(const TempDir& dir,
                                           std::unique_ptr<repo::Backend> backend = nullptr);
// The same through the local backend, with the index cache under `cache_root` (another host's).
std::unique_ptr<repo::Repository> OpenRepoWithCache(const TempDir& dir,
                                                    const std::string& cache_root);

// A backup source that reads `data` (which must outlive it) from the start.
repo::ReadFn StringReader(const std::string& data);

// Backs up `data` as one stream; returns the snapshot id or the failure.
Result<repo::Id> BackupBytes(repo::Repository* repo, const std::string& name,
                             const std::string& data, int64_t time = 1700000000);
// Restores a stream of a snapshot into a string.
Result<std::string> RestoreBytes(repo::Repository* repo, const repo::Id& snapshot,
                                 const std::string& name);

// Deterministic pseudo-random bytes; `text` makes them dump-like (compressible lines).
std::string TestData(size_t n, uint64_t seed, bool text = true);

}  // namespace pgdedup::testing
