// Repository: an opened repository — backend, master keys, config, and the local index cache.
// The entry point of the engine: `init` creates one, Open unlocks one with a password, and the
// backup, restore and check engines work through it.
//
// Layout of the backend (docs/FORMAT.md):
//   config                 sealed RepoConfig
//   keys/<sha256>          key files (master keys wrapped by a password)
//   data/<xx>/<sha256>     packs
//   index/<sha256>         index objects
//   snapshots/<sha256>     manifests
//   locks/<random>         locks
//
// Thread safety: after Open, every method may be called concurrently except SyncIndex, which
// the caller runs before sharing the repository between threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "repo/backend.h"
#include "repo/blob_cache.h"
#include "repo/config.h"
#include "repo/crypto.h"
#include "repo/index_cache.h"
#include "repo/index_object.h"
#include "repo/key_file.h"
#include "repo/manifest.h"
#include "repo/object.h"

namespace pgdedup::repo {

struct InitOptions {
  RepoConfig config;  // repository_id and created are filled in by Init
  KdfStrength kdf = KdfStrength::kInteractive;
};

// $XDG_CACHE_HOME/pgdedup, else $HOME/.cache/pgdedup, else /tmp/pgdedup-cache-<uid>.
std::string DefaultCacheRoot();

struct OpenOptions {
  // Directory under which the index cache lives, one subdirectory per repository id.
  // Default: $XDG_CACHE_HOME/pgdedup, else $HOME/.cache/pgdedup.
  std::string cache_root;
};

struct SnapshotRef {
  Id id;
  Manifest manifest;
};

class Repository {
 public:
  // Decoded delta bases kept in memory (restore and check read a base once for every delta
  // that needs it; a backup lowers this, since it reads each base once anyway).
  static constexpr size_t kBaseCacheBytes = 64 << 20;

  // Creates a new repository in an empty backend, with one key for `password`. InvalidArgument
  // when the backend already holds a repository.
  static Status Init(Backend* backend, std::string_view password, const InitOptions& options);

  // Unlocks the repository with `password`, tried against every key file (an object under
  // keys/ named by a hash; one whose content does not match its name is skipped, with a
  // warning, before its key derivation). When none opens: Corruption if some key file is
  // damaged (it may have been this password's), else the first failure that kept the password
  // from being tried against a key file (out of memory for its derivation), else Permission.
  // NotFound when the backend holds no repository.
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<Backend> backend,
                                                  std::string_view password,
                                                  const OpenOptions& options);
  ~Repository();

  Backend* backend() const { return backend_.get(); }
  const MasterKeys& keys() const { return *keys_; }
  const RepoConfig& config() const { return config_; }
  // The id of the key file the password opened.
  const std::string& key_id() const { return key_id_; }
  // The directory under which local caches and scratch space live (OpenOptions::cache_root or
  // its default).
  const std::string& cache_root() const { return cache_root_; }

  // Seals `plaintext` and stores it as "<dir of type>/<sha256 of the stored bytes>".
  Result<Id> SaveObject(ObjectType type, std::string_view plaintext);
  // Loads and opens a content-named object; Corruption when its bytes do not match its name or
  // do not authenticate, NotFound when missing.
  Result<std::string> LoadObject(ObjectType type, const Id& id);
  // The ids of the content-named objects of a type (names that are not ids are skipped).
  Result<std::vector<Id>> ListObjects(ObjectType type);
  // LoadObject of an index object, decoded; a decoding failure is Corruption naming it.
  Result<IndexObject> LoadIndexObject(const Id& id);

  // Brings the local index cache up to date with the repository's index objects: merges the
  // ones not seen yet, and rebuilds from scratch when one it merged has disappeared (so entries
  // for removed packs are never trusted). Opens the cache on first use; when another process
  // holds the cache, works in a private temporary cache instead.
  Status SyncIndex();
  // REQUIRES: SyncIndex() returned OK.
  IndexCache* index() const { return index_.get(); }

  // Reads a blob's plaintext, verified against its id. Corruption when no index knows the
  // blob. A delta's bases are found through `index` (default: the cache; `repo check` passes
  // its own) and kept decoded in a bounded cache shared by every reader of this repository.
  Result<std::string> ReadBlob(const Id& id);
  Result<std::string> ReadBlob(const BlobLocation& loc, const IndexCache* index = nullptr);
  // The plaintext of a delta's base (entry.base), from the cache of decoded bases or read.
  Result<std::shared_ptr<const std::string>> ReadBase(const BlobEntry& entry,
                                                      const IndexCache* index = nullptr);
  void SetBaseCacheCapacity(size_t bytes) { base_cache_.SetCapacity(bytes); }
  // Opens a blob's sealed bytes (read by the caller, e.g. from a whole pack): OpenBlob, with
  // the base of a delta read as ReadBase does.
  Result<std::string> OpenSealedBlob(const BlobEntry& entry, std::string_view sealed,
                                     const IndexCache* index = nullptr);

  // Every snapshot, oldest first. A manifest that fails to load is an error naming it, unless
  // `damaged` is given: then the error is appended there and the snapshot skipped.
  Result<std::vector<SnapshotRef>> ListSnapshots(std::vector<Status>* damaged = nullptr);
  // "latest", a full id, or a unique id prefix (at least 4 hex digits).
  Result<SnapshotRef> FindSnapshot(std::string_view spec);

 private:
  Repository() = default;
  Status OpenCache(const std::string& cache_root);
  // ReadBlob and ReadBase, `hops` bases into a chain. Two backups running at once may store one
  // chunk twice, in different forms, so a chain's depths need not fall; the hop count bounds it.
  Result<std::string> ReadBlobAt(const BlobLocation& loc, const IndexCache* index, int hops);
  Result<std::shared_ptr<const std::string>> ReadBaseAt(const BlobEntry& entry,
                                                        const IndexCache* index, int hops);

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<MasterKeys> keys_;
  RepoConfig config_;
  std::string key_id_;
  std::string cache_root_;
  std::string private_cache_dir_;  // set when working in a temporary cache; removed on close
  std::unique_ptr<IndexCache> index_;
  BlobCache base_cache_{kBaseCacheBytes};
};

// Key management on an opened repository. ListKeys lists the files under keys/ that are not
// sound keys too (their `problem` says why; they open with no password), so that they can be
// seen and removed.
Result<std::vector<KeyFileInfo>> ListKeys(Repository* repo);
// Adds a key for `password`; returns its id.
Result<std::string> AddKey(Repository* repo, std::string_view password, KdfStrength kdf);
// Removes a key. InvalidArgument for the key in use or the last sound key.
Status RemoveKey(Repository* repo, std::string_view key_id_prefix);

}  // namespace pgdedup::repo
