#include "repo/object_cache_backend.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "common/hex.h"
#include "repo/crypto.h"

namespace pgdedup::repo {

namespace {

constexpr const char* kCachedDirs[] = {"keys/", "snapshots/"};

// The hex name after the directory, if the name is "<cached dir><64 hex digits>".
std::string_view HashPart(const std::string& name) {
  for (const char* dir : kCachedDirs) {
    std::string_view d(dir);
    if (name.size() == d.size() + 64 && name.compare(0, d.size(), d) == 0) {
      std::string_view hex = std::string_view(name).substr(d.size());
      if (IsHex(hex)) return hex;
    }
  }
  return {};
}

}  // namespace

bool ObjectCacheBackend::Cacheable(const std::string& name) { return !HashPart(name).empty(); }

void ObjectCacheBackend::Store(const std::string& name, std::string_view data) const {
  std::error_code ec;
  std::filesystem::path path = std::filesystem::path(dir_) / name;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return;
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + ToHex(RandomBytes(6));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) {
      out.close();
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

void ObjectCacheBackend::Forget(const std::string& name) const {
  std::error_code ec;
  std::filesystem::remove(std::filesystem::path(dir_) / name, ec);
}

Status ObjectCacheBackend::Put(const std::string& name, std::string_view data) {
  PGDEDUP_RETURN_IF_ERROR(base_->Put(name, data));
  if (Cacheable(name)) Store(name, data);
  return Status::OK();
}

Result<std::string> ObjectCacheBackend::Get(const std::string& name, uint64_t offset,
                                            uint64_t length) {
  std::string_view hash = HashPart(name);
  if (hash.empty() || offset != 0 || length != kToEnd) return base_->Get(name, offset, length);
  {
    std::ifstream in(std::filesystem::path(dir_) / name, std::ios::binary);
    if (in) {
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in.bad() && Sha256(bytes).Hex() == hash) return bytes;
    }
  }
  auto bytes = base_->Get(name, offset, length);
  if (bytes.ok() && Sha256(*bytes).Hex() == hash) Store(name, *bytes);
  return bytes;
}

Result<std::vector<ObjectInfo>> ObjectCacheBackend::List(const std::string& prefix) {
  auto listed = base_->List(prefix);
  if (!listed.ok()) return listed;
  // Drop the copies of objects that are gone, in the directories this listing covers.
  std::set<std::string> present;
  for (const auto& o : *listed) present.insert(o.name);
  for (const char* dir : kCachedDirs) {
    std::string d(dir);
    if (d.compare(0, prefix.size(), prefix) != 0) continue;  // the listing does not cover it
    std::error_code ec;
    for (std::filesystem::directory_iterator it(std::filesystem::path(dir_) / d, ec), end;
         !ec && it != end; it.increment(ec)) {
      std::string name = d + it->path().filename().string();
      if (Cacheable(name) && !present.count(name)) Forget(name);
    }
  }
  return listed;
}

Status ObjectCacheBackend::Delete(const std::string& name) {
  if (Cacheable(name)) Forget(name);
  return base_->Delete(name);
}

Status ObjectCacheBackend::DeleteAll(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (Cacheable(name)) Forget(name);
  }
  return base_->DeleteAll(names);
}

}  // namespace pgdedup::repo
