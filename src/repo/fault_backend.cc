#include "repo/fault_backend.h"

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
  if (n == options_.truncate_put) return base_->Put(name, data.substr(0, data.size() / 2));
  return base_->Put(name, data);
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
