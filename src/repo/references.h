// References: what a set of snapshots needs, blob by blob. Prune marks with it: whatever it
// visits must be kept, and that includes every delta base (and its bases), not only the chunks
// a stream lists.
//
// Thread safety: one call at a time per repository index.
#pragma once

#include <functional>
#include <vector>

#include "common/result.h"
#include "repo/repository.h"

namespace pgdedup::repo {

// Marks a blob; returns true when it was not marked before (the walk then follows its delta
// base), false when it was (its chain was followed already).
using MarkFn = std::function<Result<bool>(const Id& blob)>;

// Calls `mark` for every blob the snapshots need: each stream's chunk-list blobs, each chunk,
// and each delta base in the chunks' chains. A blob the index does not know is Corruption (the
// snapshot is damaged: deleting anything then would be premature).
// REQUIRES: repo->SyncIndex() returned OK.
Status MarkReferencedBlobs(Repository* repo, const std::vector<SnapshotRef>& snapshots,
                           const MarkFn& mark);

}  // namespace pgdedup::repo
