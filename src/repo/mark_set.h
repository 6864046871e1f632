// MarkSet: a set of blob ids, each with a small value, kept on disk in a private RocksDB database
// so that prune's memory stays bounded however many blobs a repository holds. Ids put recently
// wait in a bounded in-memory batch (kBatchSize entries) that every read consults, so a Put is
// visible at once; the batch is written to RocksDB when full and before any scan.
//
// The database lives in a fresh directory that the set owns and removes on destruction; it is
// scratch space (no write-ahead log, never reopened): a crash leaves at most a directory to
// delete, never anything in the repository.
//
// Thread safety: one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"
#include "repo/id.h"

namespace pgdedup::repo {

class MarkSet {
 public:
  // Entries buffered in memory before they are written to RocksDB.
  static constexpr size_t kBatchSize = 65536;

  // Creates an empty set in a new directory under `parent` (created if needed).
  static Result<std::unique_ptr<MarkSet>> Create(const std::string& parent);
  // Closes the database and removes its directory.
  ~MarkSet();

  // Inserts `id`, or replaces its value.
  Status Put(const Id& id, std::string_view value = {});
  // The value stored for `id`, or nullopt when `id` is not in the set.
  Result<std::optional<std::string>> Get(const Id& id);
  // Calls fn for every id in ascending order with its value; stops at the first non-OK status.
  Status ForEach(const std::function<Status(const Id& id, std::string_view value)>& fn);

 private:
  struct Db;
  MarkSet(std::string dir, std::unique_ptr<Db> db);
  Status Flush();

  std::string dir_;
  std::unique_ptr<Db> db_;
  std::unordered_map<Id, std::string, IdHash> batch_;
};

}  // namespace pgdedup::repo
