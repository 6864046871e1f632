// BlobCache: recently decoded blob plaintexts, bounded in bytes, least recently used out first.
// Restore and check read a delta's base once for all the deltas that need it.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "repo/id.h"

namespace pgdedup::repo {

class BlobCache {
 public:
  explicit BlobCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // Changes the bound (evicting at once when lowered).
  void SetCapacity(size_t capacity_bytes);

  // nullptr when absent.
  std::shared_ptr<const std::string> Get(const Id& id);
  // Keeps `plain` unless it alone exceeds the capacity; evicts the least recently used.
  void Put(const Id& id, std::shared_ptr<const std::string> plain);

 private:
  using Entry = std::pair<Id, std::shared_ptr<const std::string>>;
  void EvictLocked();

  size_t capacity_;
  std::mutex mu_;
  size_t bytes_ = 0;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<Id, std::list<Entry>::iterator, IdHash> map_;
};

}  // namespace pgdedup::repo
