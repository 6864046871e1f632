#include "repo/repository.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <optional>

#include "common/hex.h"
#include "common/log.h"
#include "repo/index_object.h"
#include "repo/pack.h"

namespace pgdedup::repo {

namespace {

constexpr char kConfigName[] = "config";
constexpr char kKeysDir[] = "keys/";

// An object under keys/ as read: `named` when its name is a key file's (the hash of its bytes,
// in hex), and then its `bytes`, `damaged` when they do not hash to that name. Objects of other
// names are not read. NotFound when the object has gone since the listing.
struct KeyObject {
  std::optional<Id> named;
  std::string bytes;
  bool damaged = false;
};

Result<KeyObject> ReadKeyObject(Backend* backend, const std::string& name) {
  KeyObject k;
  k.named = Id::FromHex(std::string_view(name).substr(sizeof(kKeysDir) - 1));
  if (!k.named) return k;
  auto bytes = backend->Get(name);
  if (!bytes.ok()) return bytes.status();
  k.damaged = Sha256(*bytes) != *k.named;
  k.bytes = std::move(*bytes);
  return k;
}

}  // namespace

std::string DefaultCacheRoot() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return std::string(xdg) + "/pgdedup";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::string(home) + "/.cache/pgdedup";
  }
  return "/tmp/pgdedup-cache-" + std::to_string(getuid());
}

Repository::~Repository() {
  index_.reset();
  if (!private_cache_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(private_cache_dir_, ec);
  }
}

Status Repository::Init(Backend* backend, std::string_view password, const InitOptions& options) {
  auto existing = backend->Size(kConfigName);
  if (existing.ok()) {
    return Status::InvalidArgument("a repository already exists at " + backend->Location());
  }
  if (!existing.status().IsNotFound()) return existing.status();
  auto others = backend->List("");
  if (!others.ok()) return others.status();
  if (!others->empty()) {
    return Status::InvalidArgument(backend->Location() +
                                   " is not empty; a repository needs an empty location");
  }
  if (password.empty()) return Status::InvalidArgument("the password must not be empty");
  PGDEDUP_RETURN_IF_ERROR(options.config.chunker.Validate());

  auto keys = MasterKeys::Generate();
  if (!keys.ok()) return keys.status();
  RepoConfig config = options.config;
  config.repository_id = Id::FromBytes(RandomBytes(Id::kSize));
  config.created = static_cast<uint64_t>(std::time(nullptr));

  auto key_file = MakeKeyFile(**keys, password, options.kdf);
  if (!key_file.ok()) return key_file.status();
  // The key first: a config without a key would be a repository nobody can open.
  PGDEDUP_RETURN_IF_ERROR(backend->Put(kKeysDir + Sha256(*key_file).Hex(), *key_file));
  return backend->Put(kConfigName, SealObject(**keys, ObjectType::kConfig, EncodeConfig(config)));
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<Backend> backend,
                                                     std::string_view password,
                                                     const OpenOptions& options) {
  auto sealed_config = backend->Get(kConfigName);
  if (!sealed_config.ok()) {
    if (sealed_config.status().IsNotFound()) {
      return Status::NotFound("no repository at " + backend->Location() +
                              " (run `pgdedup init` first)");
    }
    return sealed_config.status();
  }
  auto key_objects = backend->List(kKeysDir);
  if (!key_objects.ok()) return key_objects.status();

  std::unique_ptr<Repository> repo(new Repository());
  size_t key_files = 0;
  std::vector<std::string> damaged;
  Status untried;  // the first key file the password could not be tried against, and why
  for (const auto& obj : *key_objects) {
    auto k = ReadKeyObject(backend.get(), obj.name);
    if (k.status().IsNotFound()) continue;  // removed since the listing (key passwd)
    if (!k.ok()) return k.status();
    if (!k->named) {
      if (obj.name.size() > sizeof(kKeysDir) - 1) {
        LogWarning(obj.name + ": not the name of a key file; ignored");
      }
      continue;
    }
    key_files++;
    // A damaged key file is skipped before its key derivation, which damaged parameters could
    // make slow or memory-hungry.
    if (k->damaged) {
      LogWarning(obj.name + ": content does not match its name (damaged); skipped");
      damaged.push_back(obj.name);
      continue;
    }
    auto keys = UnwrapKeyFile(k->bytes, password);
    if (keys.ok()) {
      repo->keys_ = std::move(*keys);
      repo->key_id_ = k->named->Hex();
      break;
    }
    if (keys.status().code() == StatusCode::kPermission) continue;
    // A key file this version cannot read (Corruption: another version, another derivation), or
    // a derivation the machine could not do (IOError: out of memory).
    LogWarning(keys.status().WithContext("key " + obj.name).ToString());
    if (!keys.status().IsCorruption() && untried.ok()) {
      untried = keys.status().WithContext("key " + obj.name);
    }
  }
  if (!repo->keys_) {
    if (key_files == 0) return Status::Permission("the repository has no key files");
    if (!damaged.empty()) {
      std::string names;
      for (const auto& n : damaged) names += (names.empty() ? "" : ", ") + n;
      return Status::Corruption("no key of the repository at " + backend->Location() +
                                " opens with this password, and " + std::to_string(damaged.size()) +
                                " of its " + std::to_string(key_files) +
                                " key files are damaged: " + names +
                                " (if one was this password's, restore it from a copy)");
    }
    if (!untried.ok()) return untried;
    return Status::Permission("wrong password: no key of the repository at " + backend->Location() +
                              " opens with it");
  }
  auto config_plain = OpenObject(*repo->keys_, ObjectType::kConfig, *sealed_config);
  if (!config_plain.ok()) return config_plain.status().WithContext("config");
  auto config = DecodeConfig(*config_plain);
  if (!config.ok()) return config.status();
  repo->config_ = *config;
  repo->backend_ = std::move(backend);
  repo->cache_root_ = options.cache_root.empty() ? DefaultCacheRoot() : options.cache_root;
  return repo;
}

Result<Id> Repository::SaveObject(ObjectType type, std::string_view plaintext) {
  std::string sealed = SealObject(*keys_, type, plaintext);
  Id id = Sha256(sealed);
  PGDEDUP_RETURN_IF_ERROR(backend_->Put(ObjectDir(type) + id.Hex(), sealed));
  return id;
}

Result<std::string> Repository::LoadObject(ObjectType type, const Id& id) {
  std::string name = ObjectDir(type) + id.Hex();
  auto stored = backend_->Get(name);
  if (!stored.ok()) return stored.status();
  if (Sha256(*stored) != id) {
    return Status::Corruption(name + ": content does not match its name (damaged or swapped)");
  }
  auto plain = OpenObject(*keys_, type, *stored);
  if (!plain.ok()) return plain.status().WithContext(name);
  return plain;
}

Result<IndexObject> Repository::LoadIndexObject(const Id& id) {
  auto plain = LoadObject(ObjectType::kIndex, id);
  if (!plain.ok()) return plain.status();
  auto index = DecodeIndexObject(*plain);
  if (!index.ok()) return index.status().WithContext(ObjectDir(ObjectType::kIndex) + id.Hex());
  return index;
}

Result<std::vector<Id>> Repository::ListObjects(ObjectType type) {
  std::string dir = ObjectDir(type);
  auto objects = backend_->List(dir);
  if (!objects.ok()) return objects.status();
  std::vector<Id> ids;
  for (const auto& o : *objects) {
    if (auto id = Id::FromHex(std::string_view(o.name).substr(dir.size()))) ids.push_back(*id);
  }
  return ids;
}

Status Repository::OpenCache(const std::string& cache_root) {
  std::string dir = cache_root + "/" + config_.repository_id.Hex();
  auto cache = IndexCache::Open(dir);
  if (cache.ok()) {
    index_ = std::move(*cache);
    return Status::OK();
  }
  if (cache.status().code() != StatusCode::kLocked) return cache.status();
  // Another pgdedup process on this host uses the cache: work in a private one.
  std::string tmpl = cache_root + "/tmp-XXXXXX";
  std::error_code ec;
  std::filesystem::create_directories(cache_root, ec);
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return Status::FromErrno("create temporary cache in " + cache_root, errno);
  }
  private_cache_dir_ = tmpl;
  LogInfo("the index cache is in use by another process; using a temporary cache");
  auto priv = IndexCache::Open(private_cache_dir_);
  if (!priv.ok()) return priv.status();
  index_ = std::move(*priv);
  return Status::OK();
}

Status Repository::SyncIndex() {
  if (!index_) PGDEDUP_RETURN_IF_ERROR(OpenCache(cache_root_));
  auto listed = ListObjects(ObjectType::kIndex);
  if (!listed.ok()) return listed.status();
  std::set<Id> present(listed->begin(), listed->end());
  auto merged = index_->MergedIndexObjects();
  if (!merged.ok()) return merged.status();
  bool stale = std::any_of(merged->begin(), merged->end(),
                           [&](const Id& id) { return present.count(id) == 0; });
  if (stale) {
    LogInfo("index objects were removed from the repository; rebuilding the local index cache");
    PGDEDUP_RETURN_IF_ERROR(index_->Clear());
    merged->clear();
  }
  for (const Id& id : present) {
    if (merged->count(id)) continue;
    auto index = LoadIndexObject(id);
    if (!index.ok()) return index.status();
    PGDEDUP_RETURN_IF_ERROR(index_->Merge(id, *index));
  }
  return Status::OK();
}

Result<std::string> Repository::ReadBlob(const BlobLocation& loc, const IndexCache* index) {
  return ReadBlobAt(loc, index, 0);
}

Result<std::string> Repository::ReadBlobAt(const BlobLocation& loc, const IndexCache* index,
                                           int hops) {
  std::string pack = PackObjectName(loc.pack_id);
  auto sealed = backend_->Get(pack, loc.entry.offset, loc.entry.stored_length);
  if (sealed.status().IsNotFound()) {
    return Status::Corruption("blob " + loc.entry.id.Hex() + ": its pack " + loc.pack_id.Hex() +
                              " is missing");
  }
  if (!sealed.ok()) {
    return sealed.status().WithContext("blob " + loc.entry.id.Hex() + " in pack " +
                                       loc.pack_id.Hex());
  }
  std::shared_ptr<const std::string> base;
  if (loc.entry.is_delta()) {
    auto b = ReadBaseAt(loc.entry, index, hops);
    if (!b.ok()) return b.status().WithContext("blob " + loc.entry.id.Hex() + " (a delta)");
    base = std::move(*b);
  }
  auto plain = OpenBlob(*keys_, loc.entry, std::move(*sealed), base ? std::string_view(*base) : "");
  if (!plain.ok()) return plain.status().WithContext("pack " + loc.pack_id.Hex());
  return plain;
}

Result<std::string> Repository::OpenSealedBlob(const BlobEntry& entry, std::string_view sealed,
                                               const IndexCache* index) {
  if (!entry.is_delta()) return OpenBlob(*keys_, entry, sealed);
  auto base = ReadBase(entry, index);
  if (!base.ok()) return base.status().WithContext("blob " + entry.id.Hex() + " (a delta)");
  return OpenBlob(*keys_, entry, sealed, **base);
}

Result<std::shared_ptr<const std::string>> Repository::ReadBase(const BlobEntry& entry,
                                                                const IndexCache* index) {
  return ReadBaseAt(entry, index, 0);
}

Result<std::shared_ptr<const std::string>> Repository::ReadBaseAt(const BlobEntry& entry,
                                                                  const IndexCache* index,
                                                                  int hops) {
  if (auto hit = base_cache_.Get(entry.base)) return hit;
  if (hops >= 2 * kMaxDeltaDepth) {
    return Status::Corruption("its chain of bases is too long (a damaged index?) at " +
                              entry.base.Hex());
  }
  if (index == nullptr) index = index_.get();
  auto loc = index->Lookup(entry.base);
  if (!loc.ok()) return loc.status();
  if (!loc->has_value()) {
    return Status::Corruption("its base " + entry.base.Hex() + " is not in any index object");
  }
  auto plain = ReadBlobAt(**loc, index, hops + 1);
  if (!plain.ok()) return plain.status().WithContext("its base " + entry.base.Hex());
  auto shared = std::make_shared<const std::string>(std::move(*plain));
  base_cache_.Put(entry.base, shared);
  return shared;
}

Result<std::string> Repository::ReadBlob(const Id& id) {
  auto loc = index_->Lookup(id);
  if (!loc.ok()) return loc.status();
  if (!loc->has_value()) {
    return Status::Corruption("blob " + id.Hex() +
                              " is not in any index object (the repository is damaged; run "
                              "`pgdedup repo check`)");
  }
  return ReadBlob(**loc);
}

Result<std::vector<SnapshotRef>> Repository::ListSnapshots(std::vector<Status>* damaged) {
  auto ids = ListObjects(ObjectType::kSnapshot);
  if (!ids.ok()) return ids.status();
  std::vector<SnapshotRef> out;
  for (const Id& id : *ids) {
    auto plain = LoadObject(ObjectType::kSnapshot, id);
    Result<Manifest> m = plain.ok() ? DecodeManifest(*plain) : Result<Manifest>(plain.status());
    if (!m.ok()) {
      Status s = plain.ok() ? m.status().WithContext("snapshots/" + id.Hex()) : m.status();
      if (damaged == nullptr || s.code() != StatusCode::kCorruption) return s;
      damaged->push_back(s);
      continue;
    }
    out.push_back({id, std::move(*m)});
  }
  std::sort(out.begin(), out.end(), [](const SnapshotRef& a, const SnapshotRef& b) {
    if (a.manifest.time != b.manifest.time) return a.manifest.time < b.manifest.time;
    if (a.manifest.time_nsec != b.manifest.time_nsec) {
      return a.manifest.time_nsec < b.manifest.time_nsec;
    }
    return a.id < b.id;
  });
  return out;
}

Result<SnapshotRef> Repository::FindSnapshot(std::string_view spec) {
  if (spec != "latest" && (spec.size() < 4 || spec.size() > 64 || !IsHex(spec))) {
    return Status::InvalidArgument("bad snapshot '" + std::string(spec) +
                                   "': give `latest`, an id, or an id prefix of 4+ hex digits");
  }
  if (spec == "latest") {
    std::vector<Status> damaged;
    auto all = ListSnapshots(&damaged);
    if (!all.ok()) return all.status();
    for (const auto& d : damaged) LogWarning("skipping a damaged snapshot: " + d.message());
    if (all->empty()) return Status::NotFound("the repository has no snapshots");
    return std::move(all->back());
  }
  auto ids = ListObjects(ObjectType::kSnapshot);
  if (!ids.ok()) return ids.status();
  std::string prefix(spec);
  std::transform(prefix.begin(), prefix.end(), prefix.begin(), ::tolower);
  std::vector<Id> matches;
  for (const Id& id : *ids) {
    if (id.Hex().compare(0, prefix.size(), prefix) == 0) matches.push_back(id);
  }
  if (matches.empty()) return Status::NotFound("no snapshot matches '" + prefix + "'");
  if (matches.size() > 1) {
    return Status::InvalidArgument("snapshot prefix '" + prefix + "' is ambiguous (" +
                                   std::to_string(matches.size()) + " snapshots match)");
  }
  auto plain = LoadObject(ObjectType::kSnapshot, matches[0]);
  if (!plain.ok()) return plain.status();
  auto m = DecodeManifest(*plain);
  if (!m.ok()) return m.status().WithContext("snapshots/" + matches[0].Hex());
  return SnapshotRef{matches[0], std::move(*m)};
}

Result<std::vector<KeyFileInfo>> ListKeys(Repository* repo) {
  auto objects = repo->backend()->List(kKeysDir);
  if (!objects.ok()) return objects.status();
  std::vector<KeyFileInfo> out;
  for (const auto& obj : *objects) {
    const std::string id = obj.name.substr(sizeof(kKeysDir) - 1);
    if (id.empty()) continue;  // the directory itself (an S3 folder marker)
    auto k = ReadKeyObject(repo->backend(), obj.name);
    if (k.status().IsNotFound()) continue;  // removed since the listing
    if (!k.ok()) return k.status();
    KeyFileInfo info;
    if (!k->named) {
      info.problem = "not the name of a key file (ignored)";
    } else if (k->damaged) {
      info.problem = "damaged: its content does not match its name";
    } else if (auto parsed = ParseKeyFile(k->bytes); !parsed.ok()) {
      info.problem = "unreadable: " + parsed.status().message();
    } else {
      info = std::move(*parsed);
    }
    info.id = id;
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(),
            [](const KeyFileInfo& a, const KeyFileInfo& b) { return a.created < b.created; });
  return out;
}

Result<std::string> AddKey(Repository* repo, std::string_view password, KdfStrength kdf) {
  if (password.empty()) return Status::InvalidArgument("the password must not be empty");
  auto file = MakeKeyFile(repo->keys(), password, kdf);
  if (!file.ok()) return file.status();
  std::string id = Sha256(*file).Hex();
  PGDEDUP_RETURN_IF_ERROR(repo->backend()->Put(kKeysDir + id, *file));
  return id;
}

Status RemoveKey(Repository* repo, std::string_view key_id_prefix) {
  auto keys = ListKeys(repo);
  if (!keys.ok()) return keys.status();
  std::vector<std::string> matches;
  size_t sound = 0;
  bool match_sound = false;
  for (const auto& k : *keys) {
    if (k.problem.empty()) sound++;
    if (!key_id_prefix.empty() && k.id.compare(0, key_id_prefix.size(), key_id_prefix) == 0) {
      matches.push_back(k.id);
      match_sound = k.problem.empty();
    }
  }
  if (matches.empty())
    return Status::NotFound("no key matches '" + std::string(key_id_prefix) + "'");
  if (matches.size() > 1) return Status::InvalidArgument("key id prefix is ambiguous");
  if (matches[0] == repo->key_id()) {
    return Status::InvalidArgument(
        "refusing to remove the key this command was opened with; open with another key");
  }
  if (match_sound && sound <= 1) return Status::InvalidArgument("refusing to remove the last key");
  return repo->backend()->Delete(kKeysDir + matches[0]);
}

}  // namespace pgdedup::repo
