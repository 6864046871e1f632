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
//  - stats() counts the requests made so far, by kind, and the payload bytes moved (operators of
//    a bucket pay per request).
//
// Thread safety: every method may be called concurrently from several threads.
#pragma once

#include <atomic>
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

// Requests a backend made, by kind, and the payload bytes it moved. For the local backend a
// "request" is one Put/Get/Size/List/Delete call; for S3 it is one HTTP request (a List of many
// objects counts every page, and each retry counts again in its kind and in `retries`).
struct BackendStats {
  uint64_t puts = 0;
  uint64_t gets = 0;
  uint64_t heads = 0;    // Size()
  uint64_t lists = 0;    // pages of a listing
  uint64_t deletes = 0;  // a batch delete counts once
  uint64_t retries = 0;  // requests repeated after a transient failure
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;

  uint64_t requests() const { return puts + gets + heads + lists + deletes; }
};

// Thread-safe counters behind BackendStats, for implementations.
class BackendCounters {
 public:
  enum Kind { kPut, kGet, kHead, kList, kDelete };
  void Request(Kind kind) { requests_[kind].fetch_add(1, std::memory_order_relaxed); }
  void Retry() { retries_.fetch_add(1, std::memory_order_relaxed); }
  void Sent(uint64_t n) { sent_.fetch_add(n, std::memory_order_relaxed); }
  void Received(uint64_t n) { received_.fetch_add(n, std::memory_order_relaxed); }
  BackendStats Snapshot() const;

 private:
  std::atomic<uint64_t> requests_[5] = {};
  std::atomic<uint64_t> retries_{0}, sent_{0}, received_{0};
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
  // Reads up to `max_length` bytes from `offset`: fewer only where the object ends (none when
  // it ends at `offset`; Corruption "short read" when it ends before). The default asks Get and,
  // on a short read, Get again to the end; backends that can do it in one request override it.
  virtual Result<std::string> GetUpTo(const std::string& name, uint64_t offset,
                                      uint64_t max_length);
  // The object's size; NotFound if it does not exist.
  virtual Result<uint64_t> Size(const std::string& name) = 0;
  virtual Result<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;
  virtual Status Delete(const std::string& name) = 0;
  // Deletes every named object (missing ones are fine), stopping at the first failure. Backends
  // with a batch request override this; the default calls Delete for each name.
  virtual Status DeleteAll(const std::vector<std::string>& names);
  // Whether DeleteAll is one request for many objects (then callers prefer it to many Deletes).
  virtual bool HasBatchDelete() const { return false; }

  // The requests made through this backend so far. Decorators forward to the backend they wrap.
  // Default: nothing counted (for test doubles).
  virtual BackendStats stats() const { return {}; }

  // Whether every request goes over the network and is paid for (a bucket), so that reading
  // ahead of need costs more than it saves. Decorators forward. Default: false.
  virtual bool remote() const { return false; }
};

struct BackendOptions {
  // Create what the location names when it is missing: a directory and its parents, or a bucket.
  // Default: false.
  bool create = false;
  // A PEM file of CA certificates to trust for https (S3 servers with a private CA), in place of
  // the system store. Default: "" (the system store).
  std::string cacert;
  // A directory under which a bucket's key files and manifests are cached locally
  // (ObjectCacheBackend, in "<cache_dir>/objects/<hash of the location>"). Default: "" (none).
  std::string cache_dir;
};

// Opens the backend a repository location names: `s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]`
// (see s3_backend.h), otherwise a directory path. InvalidArgument for a malformed location.
// Opening does not contact a server; the first request reports an unreachable one.
Result<std::unique_ptr<Backend>> OpenBackend(const std::string& location,
                                             const BackendOptions& options);
Result<std::unique_ptr<Backend>> OpenBackend(const std::string& location, bool create = false);

}  // namespace pgdedup::repo
