#include "repo/read_ahead_backend.h"

#include "common/thread_pool.h"

namespace pgdedup::repo {

Status ReadAheadBackend::Put(const std::string& name, std::string_view data) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ForgetLocked(name);
  }
  return base_->Put(name, data);
}

Status ReadAheadBackend::Delete(const std::string& name) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ForgetLocked(name);
  }
  return base_->Delete(name);
}

Status ReadAheadBackend::DeleteAll(const std::vector<std::string>& names) {
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& name : names) ForgetLocked(name);
  }
  return base_->DeleteAll(names);
}

void ReadAheadBackend::ForgetLocked(const std::string& name) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (it->name == name) {
      cached_bytes_ -= it->size;
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
}

void ReadAheadBackend::EvictLocked() {
  // Windows still being read stay: a waiter holds their future, and they are the newest.
  auto it = windows_.end();
  while (cached_bytes_ > options_.cache_bytes && it != windows_.begin()) {
    --it;
    if (it->bytes.wait_for(std::chrono::seconds(0)) != std::future_status::ready) continue;
    cached_bytes_ -= it->size;
    it = windows_.erase(it);
  }
}

ReadAheadBackend::ReadAheadBackend(std::unique_ptr<Backend> base, ReadAheadOptions options)
    : base_(std::move(base)), options_(std::move(options)) {
  if (options_.prefetch) pool_ = std::make_unique<ThreadPool>(1);
}

ReadAheadBackend::~ReadAheadBackend() {
  pool_.reset();  // finishes a prefetch under way while base_ is still there
}

void ReadAheadBackend::Load(const std::string& name, uint64_t start, uint64_t size,
                            std::promise<Result<Bytes>> promise) {
  auto bytes = base_->GetUpTo(name, start, size);
  if (bytes.ok()) {
    promise.set_value(Bytes(std::make_shared<const std::string>(std::move(*bytes))));
    return;
  }
  promise.set_value(bytes.status());
  // Forget the failed window, so that the next Get tries again.
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = windows_.begin(); it != windows_.end(); ++it) {
    if (it->name == name && it->start == start &&
        it->bytes.wait_for(std::chrono::seconds(0)) == std::future_status::ready &&
        !it->bytes.get().ok()) {
      cached_bytes_ -= it->size;
      windows_.erase(it);
      break;
    }
  }
}

void ReadAheadBackend::Prefetch(const std::string& name, uint64_t start) {
  uint64_t size = options_.window_size;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& w : windows_) {
      if (w.name != name) continue;
      if (w.start <= start && start < w.start + w.size) return;  // cached or under way
      if (w.start > start) size = std::min(size, w.start - start);
    }
    std::promise<Result<Bytes>> promise;
    windows_.push_front(Window{name, start, size, promise.get_future().share()});
    cached_bytes_ += size;
    EvictLocked();
    auto shared = std::make_shared<std::promise<Result<Bytes>>>(std::move(promise));
    (void)pool_->Submit([this, name, start, size, shared] {
      Load(name, start, size, std::move(*shared));
      return 0;
    });
  }
}

Result<std::string> ReadAheadBackend::Get(const std::string& name, uint64_t offset,
                                          uint64_t length) {
  if (length == kToEnd || length == 0 || length >= options_.window_size ||
      name.rfind(options_.prefix, 0) != 0) {
    return base_->Get(name, offset, length);
  }
  std::shared_future<Result<Bytes>> window;
  uint64_t window_start = 0;
  uint64_t window_size = options_.window_size;
  std::promise<Result<Bytes>> promise;
  bool reader = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t next_start = UINT64_MAX;  // the nearest window of this object after `offset`
    uint64_t prev_end = 0;             // the end of the nearest window before `offset`
    for (auto it = windows_.begin(); it != windows_.end(); ++it) {
      if (it->name != name) continue;
      if (it->start <= offset && offset + length <= it->start + it->size) {
        windows_.splice(windows_.begin(), windows_, it);
        window = it->bytes;
        window_start = it->start;
        window_size = it->size;
        break;
      }
      if (it->start > offset) next_start = std::min(next_start, it->start);
      if (it->start + it->size <= offset) prev_end = std::max(prev_end, it->start + it->size);
    }
    if (!window.valid()) {
      // Workers reading a pack in order reach a window's border out of order. Starting the new
      // window at the previous one's end (or the object's start) when that is near keeps one
      // window after the other instead of leaving a sliver for one more request.
      window_start = offset - prev_end <= options_.window_size / 4 ? prev_end : offset;
      // Read up to the next window, so that no byte is fetched twice while both are cached.
      uint64_t end = std::max(window_start + options_.window_size, offset + length);
      if (next_start != UINT64_MAX) end = std::min(end, std::max(next_start, offset + length));
      window_size = end - window_start;
      reader = true;
      window = promise.get_future().share();
      windows_.push_front(Window{name, window_start, window_size, window});
      cached_bytes_ += window_size;
      EvictLocked();
    }
  }
  if (reader) Load(name, window_start, window_size, std::move(promise));
  const Result<Bytes>& bytes = window.get();
  if (!bytes.ok()) return bytes.status();
  uint64_t from = offset - window_start;
  const std::string& data = **bytes;
  if (data.size() < from + length) {
    // The object ends inside the range: let the backend report the short read in its words.
    return base_->Get(name, offset, length);
  }
  // A reader past the middle of a full window will want the next one: fetch it meanwhile, so
  // the download overlaps the decoding. (A window cut short is the object's end.)
  if (pool_ && data.size() == window_size && from + length > data.size() / 2) {
    Prefetch(name, window_start + window_size);
  }
  return data.substr(from, length);
}

}  // namespace pgdedup::repo
