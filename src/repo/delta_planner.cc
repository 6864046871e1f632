#include "repo/delta_planner.h"

#include <algorithm>

#include "repo/restore.h"

namespace pgdedup::repo {

Result<std::unique_ptr<DeltaPlanner>> DeltaPlanner::Load(Repository* repo,
                                                         const StreamInfo& parent) {
  std::unique_ptr<DeltaPlanner> p(new DeltaPlanner());
  p->ids_.reserve(parent.chunk_count);
  p->starts_.reserve(parent.chunk_count);
  uint64_t offset = 0;
  Status s = ForEachChunkId(repo, parent, [&](const Id& id) -> Status {
    auto loc = repo->index()->Lookup(id);
    if (!loc.ok()) return loc.status();
    if (!loc->has_value()) {
      return Status::Corruption("parent chunk " + id.Hex() + " is not in any index object");
    }
    p->ids_.push_back(id);
    p->starts_.push_back(offset);
    p->start_of_.emplace(id, offset);
    offset += (*loc)->entry.raw_length;
    return Status::OK();
  });
  if (!s.ok()) return s;
  return p;
}

void DeltaPlanner::Saw(const Id& id, uint64_t offset) {
  auto it = start_of_.find(id);
  if (it == start_of_.end()) return;
  std::lock_guard<std::mutex> l(mu_);
  anchors_[offset] = static_cast<int64_t>(it->second) - static_cast<int64_t>(offset);
}

std::optional<Id> DeltaPlanner::CandidateFor(uint64_t offset) const {
  if (ids_.empty()) return std::nullopt;
  int64_t shift = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = anchors_.upper_bound(offset);
    if (it != anchors_.begin()) shift = std::prev(it)->second;
  }
  int64_t target = static_cast<int64_t>(offset) + shift;
  if (target <= 0) return ids_.front();
  // The last chunk starting at or before the target (past the end: the last chunk).
  auto it = std::upper_bound(starts_.begin(), starts_.end(), static_cast<uint64_t>(target));
  return ids_[std::distance(starts_.begin(), it) - 1];
}

}  // namespace pgdedup::repo
