// Index objects: "index/<sha256>" objects written by each backup, listing the blobs of the packs
// it wrote. They are the truth about where blobs live (the local RocksDB cache is rebuilt from
// them), and they are written after their packs and before any manifest that needs them.
//
//   index_object (plaintext of a sealed object of type kIndex) :=
//     version:u8 | varint pack_count | (pack_id[32] | varint blob_count | blob_entry*)*
//
// Thread safety: value types and pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "repo/blob.h"

namespace pgdedup::repo {

constexpr uint8_t kIndexVersion = 1;

// Index objects written by prune and by the index repair (IndexWriter) hold at most this many
// blob entries (~2.5 MiB), so neither they nor a reader hold more than that of one in memory.
// (A backup's are bounded by its packs per index object.)
constexpr size_t kMaxBlobsPerIndexObject = 40000;

struct PackContents {
  Id pack_id;
  std::vector<BlobEntry> blobs;
};

struct IndexObject {
  std::vector<PackContents> packs;
};

std::string EncodeIndexObject(const IndexObject& index);
Result<IndexObject> DecodeIndexObject(std::string_view plain);

}  // namespace pgdedup::repo
