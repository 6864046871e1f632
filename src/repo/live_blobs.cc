#include "repo/live_blobs.h"

#include "repo/restore.h"

namespace pgdedup::repo {

Status LiveBlobMarker::MarkSnapshot(const SnapshotRef& snapshot) {
  for (const StreamInfo& stream : snapshot.manifest.streams) {
    const std::string where =
        "snapshot " + snapshot.id.ShortHex() + " stream '" + stream.name + "'";
    for (const Id& list : stream.chunk_lists) PGDEDUP_RETURN_IF_ERROR(MarkBlob(list, where));
    Status s =
        ForEachChunkId(repo_, stream, [&](const Id& chunk) { return MarkBlob(chunk, where); });
    if (!s.ok()) return s.WithContext("snapshot " + snapshot.id.ShortHex());
  }
  return Status::OK();
}

Status LiveBlobMarker::MarkBlob(const Id& id, const std::string& needed_by) {
  auto seen = marks_->Get(id);
  if (!seen.ok()) return seen.status();
  // Marked before, and with it everything it needs.
  if (seen->has_value()) return Status::OK();
  auto loc = repo_->index()->Lookup(id);
  if (!loc.ok()) return loc.status();
  if (!loc->has_value()) {
    return Status::Corruption("blob " + id.Hex() + " (needed by " + needed_by +
                              ") is not in any index object; the repository is damaged (run "
                              "`pgdedup repo check`)");
  }
  PGDEDUP_RETURN_IF_ERROR(marks_->Put(id));
  marked_++;
  // A delta is useless without its base: keep the base (and, through this call, the base's
  // base). Marking stops at a blob marked before, so the recursion ends.
  const BlobEntry& entry = (*loc)->entry;
  if (entry.is_delta()) {
    return MarkBlob(entry.base, "the delta " + id.Hex() + " (needed by " + needed_by + ")");
  }
  return Status::OK();
}

}  // namespace pgdedup::repo
