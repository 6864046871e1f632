#include "repo/backend.h"

#include "repo/crypto.h"
#include "repo/local_backend.h"
#include "repo/object_cache_backend.h"
#include "repo/read_ahead_backend.h"
#include "repo/s3_backend.h"

namespace pgdedup::repo {

BackendStats BackendCounters::Snapshot() const {
  BackendStats s;
  s.puts = requests_[kPut].load(std::memory_order_relaxed);
  s.gets = requests_[kGet].load(std::memory_order_relaxed);
  s.heads = requests_[kHead].load(std::memory_order_relaxed);
  s.lists = requests_[kList].load(std::memory_order_relaxed);
  s.deletes = requests_[kDelete].load(std::memory_order_relaxed);
  s.retries = retries_.load(std::memory_order_relaxed);
  s.bytes_sent = sent_.load(std::memory_order_relaxed);
  s.bytes_received = received_.load(std::memory_order_relaxed);
  return s;
}

Result<std::string> Backend::GetUpTo(const std::string& name, uint64_t offset,
                                     uint64_t max_length) {
  auto bytes = Get(name, offset, max_length);
  if (bytes.ok() || !bytes.status().IsCorruption()) return bytes;
  return Get(name, offset, kToEnd);
}

Status Backend::DeleteAll(const std::vector<std::string>& names) {
  for (const auto& name : names) PGDEDUP_RETURN_IF_ERROR(Delete(name));
  return Status::OK();
}

Result<std::unique_ptr<Backend>> OpenBackend(const std::string& location,
                                             const BackendOptions& options) {
  if (location.rfind("s3:", 0) == 0) {
    auto s3_options = ParseS3Location(location);
    if (!s3_options.ok()) return s3_options.status();
    s3_options->cacert = options.cacert;
    PGDEDUP_RETURN_IF_ERROR(ApplyS3Environment(&*s3_options));
    auto s3 = S3Backend::Open(*s3_options, options.create);
    if (!s3.ok()) return s3.status();
    // A bucket pays per request: read packs in a few large ranges, not blob by blob, and keep
    // the manifests and key files that every command reads.
    std::unique_ptr<Backend> backend =
        std::make_unique<ReadAheadBackend>(std::move(*s3), ReadAheadOptions());
    if (!options.cache_dir.empty()) {
      std::string dir =
          options.cache_dir + "/objects/" + Sha256(backend->Location()).Hex().substr(0, 16);
      backend = std::make_unique<ObjectCacheBackend>(std::move(backend), dir);
    }
    return backend;
  }
  auto local = LocalBackend::Open(location, options.create);
  if (!local.ok()) return local.status();
  return std::unique_ptr<Backend>(std::move(local).value());
}

Result<std::unique_ptr<Backend>> OpenBackend(const std::string& location, bool create) {
  BackendOptions options;
  options.create = create;
  return OpenBackend(location, options);
}

}  // namespace pgdedup::repo
