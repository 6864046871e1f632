// Backend: where a repository's objects live. An object is an immutable byte string with a
// slash-separated name ("data/3f/3f2a...", "snapshots/9c1e..."). The engine only ever creates,
// reads, lists and deletes whole objects; it never modifies one in place.
//
// Contract every implementation keeps:
//  - Put is atomic: after a crash, an object is either absent or complete with the bytes given.
//    Put returns OK only once the object is durable. Putting an existing name replaces it
//    atomically (the engine does so only for objects whose name is their content hash, so a
//    replacement carries the same bytes).
//  - Get returns NotFound for a missing object, and Corruption ("short read") when fewer bytes
//    exist than a range asks for.
//  - List returns every object whose name starts with `prefix`, in no particular order.
//  - Delete of a missing object is OK (deletes may be retried).
//  - Transient failures return Unavailable; callers may retry those.
//
// Thread safety: every method may be called concurrently from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pgdedup::repo {

struct ObjectInfo {
  std::string name;
  uint64_t size = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // A human-readable location for messages ("/mnt/nas/repo").
  virtual std::string Location() const = 0;

  virtual Status Put(const std::string& name, std::string_view data) = 0;
  // Reads `length` bytes from `offset`; length == kToEnd reads to the end of the object.
  static constexpr uint64_t kToEnd = UINT64_MAX;
  virtual Result<std::string> Get(const std::string& name, uint64_t offset = 0,
                                  uint64_t length = kToEnd) = 0;
  // The object's size; NotFound if it does not exist.
  virtual Result<uint64_t> Size(const std::string& name) = 0;
  virtual Result<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;
  virtual Status Delete(const std::string& name) = 0;
};

// Opens the backend a repository location names: a directory path for now (created with its
// parents when `create`). `s3:http[s]://...` arrives with the S3 backend; until then it is an
// InvalidArgument.
Result<std::unique_ptr<Backend>> OpenBackend(const std::string& location, bool create = false);

}  // namespace pgdedup::repo
