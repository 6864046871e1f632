#include "repo/references.h"

#include "repo/restore.h"

namespace pgdedup::repo {

namespace {

// Marks `id` and, if it is new and a delta, its chain of bases.
Status MarkWithBases(Repository* repo, Id id, const MarkFn& mark) {
  for (int depth = 0; depth <= kMaxDeltaDepth + 1; ++depth) {
    auto fresh = mark(id);
    if (!fresh.ok()) return fresh.status();
    if (!*fresh) return Status::OK();
    auto loc = repo->index()->Lookup(id);
    if (!loc.ok()) return loc.status();
    if (!loc->has_value()) {
      return Status::Corruption("blob " + id.Hex() + " is needed but not in any index object");
    }
    if (!(*loc)->entry.is_delta()) return Status::OK();
    id = (*loc)->entry.base;
  }
  return Status::Corruption("the delta chain of blob " + id.Hex() + " is too long");
}

}  // namespace

Status MarkReferencedBlobs(Repository* repo, const std::vector<SnapshotRef>& snapshots,
                           const MarkFn& mark) {
  for (const SnapshotRef& snapshot : snapshots) {
    for (const StreamInfo& stream : snapshot.manifest.streams) {
      for (const Id& list : stream.chunk_lists) {
        PGDEDUP_RETURN_IF_ERROR(MarkWithBases(repo, list, mark));
      }
      Status s = ForEachChunkId(repo, stream,
                                [&](const Id& chunk) { return MarkWithBases(repo, chunk, mark); });
      if (!s.ok()) return s.WithContext("snapshot " + snapshot.id.ShortHex());
    }
  }
  return Status::OK();
}

}  // namespace pgdedup::repo
