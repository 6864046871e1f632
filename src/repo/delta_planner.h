// DeltaPlanner: picks, for each new chunk of a stream, the chunk of the parent snapshot's same
// stream that sits at the same place: the first candidate base for storing it as a delta.
//
// "The same place" is found by byte offset, anchored at the last chunk that the two streams
// share: a new chunk at offset o, after a shared chunk that starts at o0 in the new stream and
// p0 in the parent, faces the parent chunk covering p0 + (o - o0). Offsets survive what chunk
// counts do not: an update that moves one cut point shifts every later chunk by one, but not
// the bytes. (Before any shared chunk the streams are aligned at their starts.)
//
// Thread safety: Saw and CandidateFor may be called concurrently (backup workers finish chunks
// out of order; a late anchor only makes a candidate less apt, never wrong: any base is
// correct, some are just smaller).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "repo/manifest.h"
#include "repo/repository.h"

namespace pgdedup::repo {

class DeltaPlanner {
 public:
  // Reads the parent stream's chunk list and the chunks' sizes (from the index).
  // REQUIRES: repo->SyncIndex() returned OK.
  static Result<std::unique_ptr<DeltaPlanner>> Load(Repository* repo, const StreamInfo& parent);

  // The new stream's chunk [offset, offset + size) is `id`.
  void Saw(const Id& id, uint64_t offset);
  // The parent chunk facing a new chunk at `offset`; nullopt when the parent stream is empty.
  std::optional<Id> CandidateFor(uint64_t offset) const;

  size_t parent_chunks() const { return ids_.size(); }

 private:
  DeltaPlanner() = default;

  std::vector<Id> ids_;                                // the parent's chunks, in order
  std::vector<uint64_t> starts_;                       // and where each starts
  std::unordered_map<Id, uint64_t, IdHash> start_of_;  // first occurrence

  mutable std::mutex mu_;
  std::map<uint64_t, int64_t> anchors_;  // new-stream offset -> parent offset minus it
};

}  // namespace pgdedup::repo
