// Packs: many sealed blobs in one repository object (~16 MiB), so a bucket is not flooded with
// tiny objects. A pack ends with a sealed header that lists its blobs, so the index can always
// be rebuilt from the packs alone:
//
//   pack    := blob* sealed_header trailer
//   trailer := header_length:u32 | version:u32 | "PGDP"          (12 bytes, little-endian)
//   header  := Seal(AD = "PGDH" | version:u32, varint count | blob_entry*)
//
// A pack's name is "data/<xx>/<sha256 of the pack's bytes>", so a pack's bytes can be verified
// without a key. Byte layouts: docs/FORMAT.md.
//
// Thread safety: a PackBuilder is used by one thread at a time; the functions are thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "repo/backend.h"
#include "repo/blob.h"
#include "repo/config.h"

namespace pgdedup::repo {

constexpr uint32_t kPackVersion = 1;
constexpr size_t kPackTrailerSize = 12;

// The object name of the pack with id `id`.
std::string PackObjectName(const Id& id);
// The pack id in a name made by PackObjectName; nullopt for anything else.
std::optional<Id> PackIdFromName(const std::string& name);

// The buffer a pack needs when it takes blobs until it reaches the repository's pack_size: it
// may end a whole chunk (sealed: plus kSealOverhead) past it, then its header (up to ~1 MiB
// for a pack of very small blobs).
inline size_t PackBufferSize(const RepoConfig& config) {
  return size_t{config.pack_size} + config.chunker.max_size + kSealOverhead + (1 << 20);
}

class PackBuilder {
 public:
  // `expected_size` is reserved when a pack gets its first blob, so a pack is not copied as it
  // grows; the pages of a fresh buffer are mapped a few MiB at a time rather than faulted in
  // one by one as blobs are appended.
  PackBuilder(const MasterKeys* keys, size_t expected_size)
      : keys_(keys), expected_(expected_size) {}

  // Appends a sealed blob; `entry` describes it (its offset is set here).
  void Add(BlobEntry entry, std::string_view sealed);
  // Takes back the bytes of a pack Finish returned, once they are stored: the next pack is
  // built in that buffer, whose pages are mapped already, rather than in a fresh one (first
  // touches of fresh pages cost a new-data backup ~10% of its time on this project's VMs:
  // docs/BENCHMARKS.md). Keeps one such buffer, of about the expected size; returns a buffer
  // it does not keep, for the caller to free (outside its locks: a free of a pack's pages
  // takes a while).
  [[nodiscard]] std::string Recycle(std::string buffer);
  // Bytes so far (without header and trailer).
  size_t size() const { return data_.size(); }
  size_t count() const { return entries_.size(); }
  const std::vector<BlobEntry>& entries() const { return entries_; }

  // Appends the sealed header and trailer and returns the whole pack; the builder is then
  // empty and may be reused.
  std::string Finish();

 private:
  // Gives data_ its buffer: the recycled one, else a fresh one of expected_ bytes.
  void Reserve();
  // Maps the buffer's pages up to at least `upto` (best effort).
  void Populate(size_t upto);

  const MasterKeys* keys_;
  size_t expected_;
  size_t populated_ = 0;  // bytes of data_'s buffer already mapped
  std::string data_;
  std::vector<BlobEntry> entries_;
  std::string spare_;        // a stored pack's buffer, for the next pack
  size_t spare_mapped_ = 0;  // bytes of spare_'s buffer that were written (so mapped)
};

// Parses the header of a whole pack held in memory. Corruption if anything does not
// authenticate or an entry points outside the blob area.
Result<std::vector<BlobEntry>> ParsePackHeader(const MasterKeys& keys, std::string_view pack);

// Reads only the header of a pack of `size` bytes from the backend (two range reads).
Result<std::vector<BlobEntry>> ReadPackHeader(const MasterKeys& keys, Backend* backend,
                                              const std::string& name, uint64_t size);

}  // namespace pgdedup::repo
