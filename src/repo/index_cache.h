// IndexCache: the local, rebuildable materialisation of the repository's index objects in
// RocksDB (blob id -> pack id and blob entry), so lookups stay fast and memory stays bounded
// however many blobs the repository holds. It lives outside the repository
// ($XDG_CACHE_HOME/pgdedup/<repository id>): losing it costs a rebuild, never data.
//
// Keys:  "b" | blob id[32]        -> pack id[32] | blob_entry
//        "i" | index object id[32] -> ""   (the index objects merged so far)
// An index object is merged in one atomic write batch, so the cache never holds half of one.
//
// Thread safety: all methods may be called concurrently (RocksDB is thread-safe). One process
// at a time may open a cache directory; a second Open returns Locked.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/result.h"
#include "repo/index_object.h"

namespace pgdedup::repo {

struct BlobLocation {
  Id pack_id;
  BlobEntry entry;
};

class IndexCache {
 public:
  // Opens (creating if needed) the cache in `dir`. Locked when another process holds it.
  static Result<std::unique_ptr<IndexCache>> Open(const std::string& dir);
  ~IndexCache();

  // The location of a blob, or nullopt when the cache does not know it.
  Result<std::optional<BlobLocation>> Lookup(const Id& blob_id) const;
  bool Contains(const Id& blob_id) const;

  // Merges an index object (atomically) and records it as seen. A blob listed more than once
  // (stored twice: by two hosts, or in two forms) keeps one location, of its preferred form: a
  // whole copy over a delta, then the delta with the smaller base id. The form the cache holds
  // is therefore the same whatever order index objects are merged in (prune relies on that);
  // which of several copies of that form it holds is not specified.
  Status Merge(const Id& index_id, const IndexObject& index);
  // The ids of the index objects merged so far.
  Result<std::set<Id>> MergedIndexObjects() const;
  // Drops everything (before a rebuild).
  Status Clear();
  // Calls fn for every blob known to the cache; stops at the first non-OK status fn returns.
  Status ForEachBlob(const std::function<Status(const BlobLocation&)>& fn) const;

 private:
  struct Impl;
  explicit IndexCache(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgdedup::repo
