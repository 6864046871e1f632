#include "repo/index_object.h"

namespace pgdedup::repo {

std::string EncodeIndexObject(const IndexObject& index) {
  std::string out;
  out.push_back(static_cast<char>(kIndexVersion));
  PutVarint64(&out, index.packs.size());
  for (const auto& pack : index.packs) {
    out.append(pack.pack_id.view());
    PutVarint64(&out, pack.blobs.size());
    for (const auto& b : pack.blobs) EncodeBlobEntry(b, &out);
  }
  return out;
}

Result<IndexObject> DecodeIndexObject(std::string_view plain) {
  Reader in(plain);
  uint8_t version;
  uint64_t pack_count;
  if (!in.GetFixed8(&version)) return Status::Corruption("index object: empty");
  if (version != kIndexVersion) {
    return Status::Corruption("index object: unsupported version " + std::to_string(version));
  }
  // Each pack takes at least 33 bytes, each blob entry at least 37: bound counts by the input.
  if (!in.GetVarint64(&pack_count) || pack_count > in.remaining() / 33) {
    return Status::Corruption("index object: bad pack count");
  }
  IndexObject index;
  index.packs.resize(pack_count);
  for (auto& pack : index.packs) {
    std::string_view id;
    uint64_t blob_count;
    if (!in.GetBytes(Id::kSize, &id) || !in.GetVarint64(&blob_count) ||
        blob_count > in.remaining() / 37) {
      return Status::Corruption("index object: truncated pack record");
    }
    pack.pack_id = Id::FromBytes(id);
    pack.blobs.resize(blob_count);
    for (auto& b : pack.blobs) {
      if (!DecodeBlobEntry(&in, &b)) return Status::Corruption("index object: bad blob entry");
    }
  }
  if (!in.empty()) return Status::Corruption("index object: trailing bytes");
  return index;
}

}  // namespace pgdedup::repo
