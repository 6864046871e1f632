// Blobs: the unit of deduplication. A blob is a chunk of a stream (kData) or a piece of a
// stream's chunk list (kChunkList). It is stored compressed (zstd, when that helps) and sealed
// (XChaCha20-Poly1305, associated data = "PGDB" | type | id), inside a pack. A data blob may
// instead be stored as a delta: a zstd frame compressed with another blob's plaintext (its
// base) as prefix, so it costs little more than what differs from the base. A delta's base may
// itself be a delta, at most kMaxDeltaDepth deep; the id is always the keyed hash of the
// plaintext, whatever the stored form. A BlobEntry says
// where a blob is and how to read it; the same entry encoding is used in pack headers and index
// objects (docs/FORMAT.md, "blob entry").
//
// Thread safety: SealBlob and OpenBlob are thread-safe (each thread keeps its own zstd context).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/coding.h"
#include "common/result.h"
#include "repo/crypto.h"
#include "repo/id.h"

namespace pgdedup::repo {

enum class BlobType : uint8_t {
  kData = 1,       // a chunk of a stream
  kChunkList = 2,  // concatenated 32-byte ids of a stream's chunks (or of a part of them)
};

enum class Compression : uint8_t {
  kNone = 0,
  kZstd = 1,
  kZstdDelta = 2,  // zstd with the base blob's plaintext as prefix (ZSTD_CCtx_refPrefix)
};

// The longest chain of deltas the format allows: a reader follows at most this many bases.
// Backups keep chains shorter (BackupOptions::max_delta_depth).
constexpr uint8_t kMaxDeltaDepth = 16;

struct BlobEntry {
  Id id;
  BlobType type = BlobType::kData;
  Compression compression = Compression::kNone;
  uint64_t offset = 0;         // in the pack
  uint32_t stored_length = 0;  // sealed bytes in the pack
  uint32_t raw_length = 0;     // plaintext bytes
  // kZstdDelta only: the base blob, and the length of the chain (1 when the base is stored
  // whole, base depth + 1 otherwise).
  Id base;
  uint8_t depth = 0;

  bool is_delta() const { return compression == Compression::kZstdDelta; }
};

// The same blob may be stored more than once (by two hosts, or whole by one backup and as a
// delta by another); a copy's form is whether it is a delta and, if so, against which base.
inline bool SameForm(const BlobEntry& a, const BlobEntry& b) {
  return a.is_delta() == b.is_delta() && (!a.is_delta() || a.base == b.base);
}
// A strict order on forms: a whole copy before a delta, then the delta with the smaller base id.
// The index cache keeps the preferred form of a blob (IndexCache::Merge).
inline bool PreferredForm(const BlobEntry& a, const BlobEntry& b) {
  if (a.is_delta() != b.is_delta()) return !a.is_delta();
  return a.is_delta() && a.base < b.base;
}

// The largest plaintext a blob may hold; chunkers and chunk lists stay below it.
constexpr uint32_t kMaxBlobSize = 64u << 20;

void EncodeBlobEntry(const BlobEntry& e, std::string* dst);
// Returns false on malformed input or an unknown type/compression.
bool DecodeBlobEntry(Reader* in, BlobEntry* e);

// Compresses (zstd at `level`, kept only when smaller) and seals `plaintext` as a blob with id
// `id`. Returns the sealed bytes and fills entry->{id,type,compression,stored_length,raw_length}.
// REQUIRES: plaintext.size() <= kMaxBlobSize.
std::string SealBlob(const MasterKeys& keys, BlobType type, const Id& id,
                     std::string_view plaintext, int level, BlobEntry* entry);

// Seals `plaintext` as a delta against `base_plaintext` (the plaintext of `base`), unless the
// delta would not be smaller than `max_stored` sealed bytes: then returns an empty string.
// Fills entry like SealBlob, with compression kZstdDelta, base and depth.
// REQUIRES: base.depth < kMaxDeltaDepth.
std::string SealDeltaBlob(const MasterKeys& keys, BlobType type, const Id& id,
                          std::string_view plaintext, const BlobEntry& base,
                          std::string_view base_plaintext, int level, size_t max_stored,
                          BlobEntry* entry);

// Opens sealed blob bytes described by `entry`: authenticates, decompresses (a delta with
// `base_plaintext`, the plaintext of entry.base), and checks that the plaintext hashes to
// entry.id. Any mismatch is Corruption naming the blob.
Result<std::string> OpenBlob(const MasterKeys& keys, const BlobEntry& entry,
                             std::string_view sealed, std::string_view base_plaintext = {});
// The same, decrypting `sealed` in place (one copy and one allocation fewer per blob).
Result<std::string> OpenBlob(const MasterKeys& keys, const BlobEntry& entry, std::string&& sealed,
                             std::string_view base_plaintext = {});

}  // namespace pgdedup::repo
