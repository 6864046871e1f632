// CutPredictor: the chunks of a stream's parent snapshot, as predictions of where the chunker
// will cut the new stream, so that unchanged data is hashed but not chunked.
//
// Why a prediction can be checked instead of computed. The chunker starts every chunk from a
// reset state, and where it cuts depends only on the bytes of that chunk (chunker/fastcdc.h).
// So if the new stream has a cut at offset s, and the bytes [s, s + L) hash to the id of a
// parent chunk of length L that the chunker cut (any parent chunk but the parent stream's last,
// which the end of the stream cut), then the chunker would cut the new stream at s + L too: the
// bytes are the parent chunk's (the keyed hash is collision resistant), and so is the decision.
// A backup that predicts, verifies each prediction by the chunk's id, and chunks for real from
// the first prediction that fails, produces exactly the chunks (and snapshot) it would have
// produced without predicting. The parent's last chunk is predicted only where the new stream
// ends with it.
//
// Following the parent again after a change: when two chunks cut for real in a row have the
// lengths of two parent chunks in a row, j and j + 1, the chunks after them are predicted from
// parent chunk j + 2 (ResumeAfter). Cut points are content-defined, so after a change the cuts
// fall where the parent's fell again within a chunk or two; two lengths (16 KiB to 256 KiB
// each) rarely agree by chance, and a wrong guess costs one chunk hashed twice.
//
// Thread safety: immutable after Load; any number of threads may read it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "repo/id.h"
#include "repo/manifest.h"
#include "repo/repository.h"

namespace pgdedup::repo {

class CutPredictor {
 public:
  // Memory is about 90 bytes a parent chunk; a parent with more chunks than this (a stream of
  // ~16 GiB at the default 64 KiB chunks, ~22 MiB of predictions) is not predicted.
  static constexpr uint64_t kMaxChunks = 256 * 1024;

  // The parent stream's chunks, each looked up in the index for its length. nullptr when the
  // parent has no chunks, too many, or cannot be read (then nothing is predicted: the backup
  // chunks as usual). REQUIRES: repo->SyncIndex() returned OK.
  static std::unique_ptr<CutPredictor> Load(Repository* repo, const StreamInfo& parent);

  size_t size() const { return ids_.size(); }
  const Id& id(size_t i) const { return ids_[i]; }
  uint64_t length(size_t i) const { return lengths_[i]; }
  // Whether parent chunk i may be predicted at stream offset `at` of a stream `stream_size`
  // long: it fits, and it is not the parent's last chunk unless it ends the new stream too.
  bool Fits(size_t i, uint64_t at, uint64_t stream_size) const {
    if (i >= ids_.size() || at + lengths_[i] > stream_size) return false;
    return i + 1 < ids_.size() || at + lengths_[i] == stream_size;
  }
  // The parent chunk to predict after two chunks in a row of lengths `a` and `b`, when two
  // chunks in a row of the parent have those lengths (the first such pair); nullopt otherwise.
  std::optional<size_t> ResumeAfter(uint64_t a, uint64_t b) const {
    if (a == 0 || b == 0) return std::nullopt;
    auto it = after_pair_.find(a << 32 | b);
    if (it == after_pair_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::vector<Id> ids_;
  std::vector<uint64_t> lengths_;
  // (length of chunk i) << 32 | (length of chunk i + 1) -> i + 2, first occurrence.
  std::unordered_map<uint64_t, size_t> after_pair_;
};

}  // namespace pgdedup::repo
