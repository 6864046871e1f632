#include "repo/delta_planner.h"

#include <algorithm>

#include "common/log.h"
#include "repo/restore.h"

namespace pgdedup::repo {

void DeltaPlanner::LoadLocked() {
  if (loaded_) return;
  loaded_ = true;
  uint64_t offset = 0;
  Status s = ForEachChunkId(repo_, parent_, [&](const Id& id) -> Status {
    auto loc = repo_->index()->Lookup(id);
    if (!loc.ok()) return loc.status();
    if (!loc->has_value()) {
      return Status::Corruption("parent chunk " + id.Hex() + " is not in any index object");
    }
    ids_.push_back(id);
    starts_.push_back(offset);
    start_of_.emplace(id, offset);
    offset += (*loc)->entry.raw_length;
    return Status::OK();
  });
  if (!s.ok()) {
    // A damaged parent is no reason to fail tonight's backup: store these chunks whole.
    LogWarning("stream '" + parent_.name + "': no deltas against the previous backup (" +
               s.message() + ")");
    ids_.clear();
    starts_.clear();
    start_of_.clear();
  }
  for (const auto& [id, at] : seen_) AnchorLocked(id, at);
  seen_.clear();
  seen_.shrink_to_fit();
}

void DeltaPlanner::AnchorLocked(const Id& id, uint64_t offset) {
  auto it = start_of_.find(id);
  if (it == start_of_.end()) return;
  anchors_[offset] = static_cast<int64_t>(it->second) - static_cast<int64_t>(offset);
}

void DeltaPlanner::Saw(const Id& id, uint64_t offset) {
  std::lock_guard<std::mutex> l(mu_);
  if (loaded_) {
    AnchorLocked(id, offset);
  } else {
    seen_.emplace_back(id, offset);
  }
}

std::optional<Id> DeltaPlanner::CandidateFor(uint64_t offset) {
  std::lock_guard<std::mutex> l(mu_);
  LoadLocked();
  if (ids_.empty()) return std::nullopt;
  int64_t shift = 0;
  auto anchor = anchors_.upper_bound(offset);
  if (anchor != anchors_.begin()) shift = std::prev(anchor)->second;
  int64_t target = static_cast<int64_t>(offset) + shift;
  if (target <= 0) return ids_.front();
  // The last chunk starting at or before the target (past the end: the last chunk).
  auto it = std::upper_bound(starts_.begin(), starts_.end(), static_cast<uint64_t>(target));
  return ids_[std::distance(starts_.begin(), it) - 1];
}

}  // namespace pgdedup::repo
