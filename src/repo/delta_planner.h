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
// Memory: 52 bytes per parent chunk (its id, its start, and an entry of a sorted table of id
// prefixes), about 0.8 MB per GB of parent stream at 64 KiB chunks. Only the kMaxAnchors
// latest anchors and chunks seen are kept: candidates are asked for chunks still in flight,
// which are all close behind the newest chunk seen.
//
// Thread safety: Saw and CandidateFor may be called concurrently (backup workers finish chunks
// out of order; a late anchor only makes a candidate less apt, never wrong: any base is
// correct, some are just smaller).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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

  // Anchors (and chunks seen before the load) kept: far more than the chunks in flight.
  static constexpr size_t kMaxAnchors = 4096;

  // The bytes the planner holds (container payloads and map nodes; allocator overhead aside).
  size_t ApproximateMemory();

 private:
  // REQUIRES: mu_ held. Reads the parent's chunk list on first use.
  void LoadLocked();
  void AnchorLocked(const Id& id, uint64_t offset);
  // REQUIRES: mu_ held, loaded. The start of the parent's first chunk with this id.
  std::optional<uint64_t> StartOf(const Id& id) const;

  Repository* repo_;
  const StreamInfo parent_;

  std::mutex mu_;
  bool loaded_ = false;
  std::deque<std::pair<Id, uint64_t>> seen_;  // the latest Saw() before the load
  std::vector<Id> ids_;                       // the parent's chunks, in order
  std::vector<uint64_t> starts_;              // and where each starts
  // The parent's chunks ordered by the first 8 bytes of their ids (then by position):
  // by_prefix_[i] is the prefix of ids_[by_index_[i]].
  std::vector<uint64_t> by_prefix_;
  std::vector<uint32_t> by_index_;
  std::map<uint64_t, int64_t> anchors_;  // new-stream offset -> parent offset minus it
};

}  // namespace pgdedup::repo
