// LiveBlobMarker: the mark phase of prune. Puts into a MarkSet every blob that the given
// snapshots need to restore: each stream's chunk-list blobs and every chunk they list.
//
// Every blob is marked through one function, MarkBlob, which first looks the blob up in the
// repository's index: a live blob that no index object lists is damage, and prune must not go
// on (it would otherwise delete the last packs that could repair it). MarkBlob is also where a
// blob's own dependencies are followed: a delta chunk needs its base (and the base's base), so
// MarkBlob marks the base from the blob's index entry.
//
// Marks have an empty value; prune's plan later stores in it the pack chosen to keep the blob.
//
// Thread safety: one thread at a time.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "repo/mark_set.h"
#include "repo/repository.h"

namespace pgdedup::repo {

class LiveBlobMarker {
 public:
  // REQUIRES: repo->SyncIndex() returned OK; repo and marks outlive the marker.
  LiveBlobMarker(Repository* repo, MarkSet* marks) : repo_(repo), marks_(marks) {}

  // Marks every blob of every stream of the snapshot.
  Status MarkSnapshot(const SnapshotRef& snapshot);

  // Marks blob `id` and everything it needs. `needed_by` names what needs it, for messages.
  // Corruption when the index does not know the blob.
  Status MarkBlob(const Id& id, const std::string& needed_by);

  // Distinct blobs marked so far.
  uint64_t marked() const { return marked_; }

 private:
  Repository* repo_;
  MarkSet* marks_;
  uint64_t marked_ = 0;
};

}  // namespace pgdedup::repo
