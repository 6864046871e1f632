#include "repo/fault_backend.h"

#include <algorithm>
#include <set>

namespace pgdedup::repo {

bool FaultBackend::Crashed() const {
  return (options_.crash_after_puts >= 0 && puts_.load() >= options_.crash_after_puts) ||
         (options_.crash_after_deletes >= 0 && deletes_.load() >= options_.crash_after_deletes);
}

Status FaultBackend::Put(const std::string& name, std::string_view data) {
  if (Crashed()) return Status::IOError("put " + name + ": injected crash");
  if (name.rfind(options_.prefix, 0) != 0) return base_->Put(name, data);
  int n = puts_.fetch_add(1);
  if (options_.crash_after_puts >= 0 && n >= options_.crash_after_puts) {
    return Status::IOError("put " + name + ": injected crash");
  }
  if (options_.fail_puts_after >= 0 && n >= options_.fail_puts_after) {
    return Status::IOError("write " + name + ": No space left on device (injected)");
  }
  Status s = n == options_.truncate_put ? base_->Put(name, data.substr(0, data.size() / 2))
                                        : base_->Put(name, data);
  if (s.ok()) {
    std::lock_guard<std::mutex> l(log_mu_);
    put_log_.push_back(name);
  }
  return s;
}

std::vector<std::string> FaultBackend::put_log() const {
  std::lock_guard<std::mutex> l(log_mu_);
  return put_log_;
}

Status FaultBackend::DropPutsAfter(size_t kept) {
  std::lock_guard<std::mutex> l(log_mu_);
  kept = std::min(kept, put_log_.size());
  const std::set<std::string> synced(put_log_.begin(), put_log_.begin() + kept);
  while (put_log_.size() > kept) {
    // An object also put within the kept prefix (the same content put twice) is durable.
    if (synced.count(put_log_.back()) == 0) {
      PGDEDUP_RETURN_IF_ERROR(base_->Delete(put_log_.back()));
    }
    put_log_.pop_back();
  }
  return Status::OK();
}

Result<std::string> FaultBackend::Get(const std::string& name, uint64_t offset, uint64_t length) {
  if (Crashed()) return Status::IOError("get " + name + ": injected crash");
  return base_->Get(name, offset, length);
}

Result<uint64_t> FaultBackend::Size(const std::string& name) {
  if (Crashed()) return Status::IOError("stat " + name + ": injected crash");
  return base_->Size(name);
}

Result<std::vector<ObjectInfo>> FaultBackend::List(const std::string& prefix) {
  if (Crashed()) return Status::IOError("list " + prefix + ": injected crash");
  return base_->List(prefix);
}

Status FaultBackend::Delete(const std::string& name) {
  if (Crashed()) return Status::IOError("delete " + name + ": injected crash");
  if (name.rfind(options_.prefix, 0) != 0) return base_->Delete(name);
  int n = deletes_.fetch_add(1);
  if (options_.crash_after_deletes >= 0 && n >= options_.crash_after_deletes) {
    return Status::IOError("delete " + name + ": injected crash");
  }
  return base_->Delete(name);
}

}  // namespace pgdedup::repo
