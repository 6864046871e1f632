#include "repo/cut_predictor.h"

#include "common/log.h"
#include "repo/restore.h"

namespace pgdedup::repo {

std::unique_ptr<CutPredictor> CutPredictor::Load(Repository* repo, const StreamInfo& parent) {
  if (parent.chunk_count > kMaxChunks) return nullptr;
  auto p = std::unique_ptr<CutPredictor>(new CutPredictor());
  p->ids_.reserve(parent.chunk_count);
  p->lengths_.reserve(parent.chunk_count);
  Status s = ForEachChunkId(repo, parent, [&](const Id& id) -> Status {
    auto loc = repo->index()->Lookup(id);
    if (!loc.ok()) return loc.status();
    if (!loc->has_value()) {
      return Status::Corruption("parent chunk " + id.Hex() + " is not in any index object");
    }
    p->ids_.push_back(id);
    p->lengths_.push_back((*loc)->entry.raw_length);
    return Status::OK();
  });
  if (!s.ok()) {
    LogDebug("stream '" + parent.name + "': chunking without the previous backup's cuts (" +
             s.message() + ")");
    return nullptr;
  }
  if (p->ids_.empty()) return nullptr;
  for (size_t i = 0; i + 2 <= p->lengths_.size(); ++i) {
    p->after_pair_.emplace(p->lengths_[i] << 32 | p->lengths_[i + 1], i + 2);
  }
  return p;
}

}  // namespace pgdedup::repo
