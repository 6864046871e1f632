#include "repo/blob_cache.h"

namespace pgdedup::repo {

std::shared_ptr<const std::string> BlobCache::Get(const Id& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = map_.find(id);
  if (it == map_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void BlobCache::SetCapacity(size_t capacity_bytes) {
  std::lock_guard<std::mutex> l(mu_);
  capacity_ = capacity_bytes;
  EvictLocked();
}

void BlobCache::EvictLocked() {
  while (bytes_ > capacity_) {
    bytes_ -= lru_.back().second->size();
    map_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void BlobCache::Put(const Id& id, std::shared_ptr<const std::string> plain) {
  std::lock_guard<std::mutex> l(mu_);
  if (plain->size() > capacity_) return;
  if (map_.count(id)) return;
  bytes_ += plain->size();
  lru_.emplace_front(id, std::move(plain));
  map_[id] = lru_.begin();
  EvictLocked();
}

}  // namespace pgdedup::repo
