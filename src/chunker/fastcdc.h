// FastCdc: content-defined chunking of a byte stream (FastCDC, Xia et al., USENIX ATC 2016).
//
// A backup splits each dump stream into chunks whose boundaries depend on the content, not on
// offsets, so an insertion early in a dump moves only the boundaries next to it and every later
// chunk is found again in the repository.
//
// How to use it: feed the stream to Scan() in pieces of any size. When Scan() returns
// kNeedMore, all the bytes passed belong to the current chunk; when it returns k, the first k
// bytes close the current chunk and the caller continues with Scan(data + k, n - k). At end of
// stream whatever was accumulated since the last boundary is the final chunk. The chunker does
// no I/O and keeps no copy of the data: only a byte count and the rolling hash.
//
// The algorithm. A gear hash rolls over the bytes: h = (h << 1) + gear[byte]. Because each byte
// is shifted one bit further per step, bit i of h depends only on the last i + 1 bytes, so the
// whole 64-bit h is a function of the last 64 bytes (a sliding window with no "remove" step:
// one shift, one add and one table load per byte). A boundary is declared after a byte when
// (h & mask) == 0. On top of that, FastCDC:
//   - skips cut-point detection for the first min_size bytes of each chunk: those bytes are not
//     even hashed, which is where much of its speed comes from. We skip all but the last 64 of
//     them and hash those 64 without testing (warm-up), so that every test sees a full window
//     and a cut decision depends on the 64 bytes before it only, never on where the chunk began
//     (equal content in two streams gives equal candidate points).
//   - normalized chunking, level 2: before avg_size bytes a "hard" mask with log2(avg) + 2 bits
//     is used, after it an "easy" mask with log2(avg) - 2 bits. This squeezes the chunk size
//     distribution around avg_size (few tiny or huge chunks) without the dedup loss of a plain
//     size cap, and brings the mean close to avg_size despite the skipped minimum.
//   - masks whose one-bits are spread over the upper 48 bits of the word rather than packed at
//     the bottom: low bits of h depend on few bytes (bit 0 on one byte), so a packed low mask
//     would in effect use a window of ~16 bytes; spread high bits use the whole 64-byte window.
//   - a hard cut at max_size bytes.
//
// Why the default parameters (see ChunkerParams::Default()). Plain-text pg_dump streams are the
// input; a 64 KiB mean keeps the number of chunks (index entries, pack entries, per-chunk
// encryption overhead) at ~14 per MiB, i.e. ~15 million for a 1 TiB database, while still
// deduplicating unchanged runs of tables. Smaller chunks dedup scattered row updates better but
// multiply metadata; larger ones do the opposite. min = avg / 4 and max = avg * 4 are the
// FastCDC paper's ratios (with min = avg / 4 the skip saves ~20% of the hashing).
//
// Known weaknesses (in the spirit of borg's chunker comment):
//   - The gear table is derived from a per-repository secret seed, so someone who sees only
//     chunk sizes cannot compute boundaries for guessed content. But the seed is folded into a
//     64-bit PRNG state, and gear hashing is linear enough that an attacker who can both submit
//     chosen content and observe the resulting chunk sizes can recover the table (Truong et al.,
//     "Breaking and Fixing Content-Defined Chunking", 2023). Chunk sizes of known files may
//     therefore still fingerprint them; pad or hide sizes at the pack layer if that matters.
//   - A window of 64 bytes means long runs of identical bytes (zeroed pages, repeated padding)
//     give a constant h: either every position matches (chunks of exactly min_size) or none does
//     (chunks of max_size). Both are deterministic, so dedup still works, only chunking is poor.
//   - Cut points within the first min_size bytes after a change cannot be found, so an edit
//     costs at least one chunk plus up to min_size of re-synchronisation.
//   - Changes to the parameters or the seed change every boundary: they are fixed per
//     repository at init.
//
// Thread safety: a FastCdc holds per-stream state; use one object per stream and thread.
// Distinct objects (even with the same seed) are independent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace pgdedup::chunker {

// Chunk size bounds in bytes. Stored in the repository config; every backup of a repository
// must use the same values (and seed), or nothing deduplicates.
struct ChunkerParams {
  // No chunk except the last of a stream is shorter. Bytes up to here are not hashed.
  // Default: 16 KiB.
  uint32_t min_size;
  // The target mean chunk size; selects the masks. Must be a power of two. Default: 64 KiB.
  uint32_t avg_size;
  // No chunk is longer; a cut is forced here. Default: 256 KiB.
  uint32_t max_size;

  // min 16 KiB / avg 64 KiB / max 256 KiB. The measurements behind these values (chunk count
  // against dedup on generated dumps) are in fastcdc.cc, above the definition.
  static ChunkerParams Default();

  // Returns OK if 64 <= min_size < avg_size < max_size <= 16 MiB and avg_size is a power of
  // two; otherwise InvalidArgument naming the violated bound.
  Status Validate() const;
};

class FastCdc {
 public:
  // Returned by Scan() when no boundary falls within the bytes given.
  static constexpr size_t kNeedMore = SIZE_MAX;

  // `seed` is the per-repository chunker secret (any length, normally 32 random bytes); the
  // gear table is derived from it deterministically, so equal (params, seed) give equal cut
  // points on every machine. REQUIRES: params.Validate().ok().
  FastCdc(const ChunkerParams& params, std::string_view seed);

  FastCdc(const FastCdc&) = default;
  FastCdc& operator=(const FastCdc&) = default;

  // Scans the next n bytes of the stream. If a chunk boundary falls within them, returns k
  // (1 <= k <= n): the first k bytes complete the current chunk and the state is reset for the
  // next chunk (the caller then calls Scan again on data + k). Otherwise returns kNeedMore: all
  // n bytes belong to the current chunk. A chunk is never longer than max_size, and never
  // shorter than min_size unless it is the last of the stream. The cut points are the same
  // however the stream is split into Scan calls. REQUIRES: data is valid for n bytes (data may
  // be null if n == 0).
  size_t Scan(const uint8_t* data, size_t n);

  // Forgets the bytes of the current chunk: the next Scan starts a new stream.
  void Reset();

  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_hard_;  // log2(avg) + 2 bits, tested while the chunk is shorter than avg_size
  uint64_t mask_easy_;  // log2(avg) - 2 bits, tested from avg_size to max_size
  uint64_t hash_;       // gear hash of the bytes hashed so far in the current chunk
  uint64_t len_;        // bytes of the current chunk seen so far
  uint64_t gear_[256];
};

}  // namespace pgdedup::chunker
