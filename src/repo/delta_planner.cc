#include "repo/delta_planner.h"

#include <algorithm>

#include "common/log.h"
#include "repo/restore.h"

namespace pgdedup::repo {

namespace {

uint64_t PrefixOf(const Id& id) {
  uint64_t p = 0;
  for (size_t i = 0; i < sizeof(p); ++i) p = p << 8 | id.bytes[i];
  return p;
}

}  // namespace

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
    if (ids_.size() == UINT32_MAX) return Status::Corruption("too many chunks in the parent");
    ids_.push_back(id);
    starts_.push_back(offset);
    offset += (*loc)->entry.raw_length;
    return Status::OK();
  });
  if (s.ok()) {
    ids_.shrink_to_fit();
    starts_.shrink_to_fit();
    by_index_.resize(ids_.size());
    for (uint32_t i = 0; i < by_index_.size(); ++i) by_index_[i] = i;
    std::vector<uint64_t> prefix(ids_.size());
    for (size_t i = 0; i < ids_.size(); ++i) prefix[i] = PrefixOf(ids_[i]);
    std::stable_sort(by_index_.begin(), by_index_.end(),
                     [&](uint32_t a, uint32_t b) { return prefix[a] < prefix[b]; });
    by_prefix_.resize(ids_.size());
    for (size_t i = 0; i < by_index_.size(); ++i) by_prefix_[i] = prefix[by_index_[i]];
  } else {
    // A damaged parent is no reason to fail tonight's backup: store these chunks whole.
    LogWarning("stream '" + parent_.name + "': no deltas against the previous backup (" +
               s.message() + ")");
    ids_ = {};
    starts_ = {};
  }
  for (const auto& [id, at] : seen_) AnchorLocked(id, at);
  seen_ = {};
}

std::optional<uint64_t> DeltaPlanner::StartOf(const Id& id) const {
  const uint64_t prefix = PrefixOf(id);
  auto it = std::lower_bound(by_prefix_.begin(), by_prefix_.end(), prefix);
  // Equal prefixes are in chunk order: the first full match is the first occurrence.
  for (; it != by_prefix_.end() && *it == prefix; ++it) {
    uint32_t index = by_index_[std::distance(by_prefix_.begin(), it)];
    if (ids_[index] == id) return starts_[index];
  }
  return std::nullopt;
}

void DeltaPlanner::AnchorLocked(const Id& id, uint64_t offset) {
  auto start = StartOf(id);
  if (!start) return;
  anchors_[offset] = static_cast<int64_t>(*start) - static_cast<int64_t>(offset);
  if (anchors_.size() > kMaxAnchors) anchors_.erase(anchors_.begin());
}

void DeltaPlanner::Saw(const Id& id, uint64_t offset) {
  std::lock_guard<std::mutex> l(mu_);
  if (loaded_) {
    AnchorLocked(id, offset);
  } else {
    seen_.emplace_back(id, offset);
    if (seen_.size() > kMaxAnchors) seen_.pop_front();
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

size_t DeltaPlanner::ApproximateMemory() {
  std::lock_guard<std::mutex> l(mu_);
  constexpr size_t kMapNode = 32 + sizeof(std::pair<const uint64_t, int64_t>);  // rb-tree node
  return ids_.capacity() * sizeof(Id) + starts_.capacity() * sizeof(uint64_t) +
         by_prefix_.capacity() * sizeof(uint64_t) + by_index_.capacity() * sizeof(uint32_t) +
         anchors_.size() * kMapNode + seen_.size() * sizeof(std::pair<Id, uint64_t>);
}

}  // namespace pgdedup::repo
