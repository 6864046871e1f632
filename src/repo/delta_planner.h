// DeltaPlanner: picks, for each new chunk of a stream, the chunk of the parent snapshot's same
// stream that sits at the same place: the first candidate base for storing it as a delta.
//
// "The same place" is found by byte offset, anchored at the last chunk that the two streams
// share: a new chunk at offset o, after a shared chunk that starts at o0 in the new stream and
// p0 in the parent, faces the parent chunk covering p0 + (o - o0). Offsets survive what chunk
// counts do not: an update that moves one cut point shifts every later chunk by one, but not
// the bytes. (Before any shared chunk the streams are aligned at their starts.)
//
// The parent's chunk list is read only when the first new chunk asks for a candidate: a stream
// that did not change costs no reads (on S3, no requests). Until then the chunks seen are
// remembered (an id and an offset each) and become anchors once the list is read. A parent
// that cannot be read gives no candidates (the chunks are then stored whole), with a warning.
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
#include <utility>
#include <vector>

#include "common/result.h"
#include "repo/manifest.h"
#include "repo/repository.h"

namespace pgdedup::repo {

class DeltaPlanner {
 public:
  // REQUIRES: repo->SyncIndex() returned OK; repo outlives the planner.
  DeltaPlanner(Repository* repo, StreamInfo parent) : repo_(repo), parent_(std::move(parent)) {}

  // The new stream's chunk starting at `offset` is `id`.
  void Saw(const Id& id, uint64_t offset);
  // The parent chunk facing a new chunk at `offset`; nullopt when there is none.
  std::optional<Id> CandidateFor(uint64_t offset);

 private:
  // REQUIRES: mu_ held. Reads the parent's chunk list on first use.
  void LoadLocked();
  void AnchorLocked(const Id& id, uint64_t offset);

  Repository* repo_;
  const StreamInfo parent_;

  std::mutex mu_;
  bool loaded_ = false;
  std::vector<std::pair<Id, uint64_t>> seen_;          // Saw() before the load
  std::vector<Id> ids_;                                // the parent's chunks, in order
  std::vector<uint64_t> starts_;                       // and where each starts
  std::unordered_map<Id, uint64_t, IdHash> start_of_;  // first occurrence
  std::map<uint64_t, int64_t> anchors_;  // new-stream offset -> parent offset minus it
};

}  // namespace pgdedup::repo
