#include "repo/blob.h"

#include <zstd.h>

#include <memory>

namespace pgdedup::repo {

namespace {

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}

ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}

std::string AssociatedData(BlobType type, const Id& id) {
  std::string ad = "PGDB";
  ad.push_back(static_cast<char>(type));
  ad.append(id.view());
  return ad;
}

}  // namespace

void EncodeBlobEntry(const BlobEntry& e, std::string* dst) {
  dst->push_back(static_cast<char>(e.type));
  dst->push_back(static_cast<char>(e.compression));
  dst->append(e.id.view());
  PutVarint64(dst, e.offset);
  PutVarint64(dst, e.stored_length);
  PutVarint64(dst, e.raw_length);
}

bool DecodeBlobEntry(Reader* in, BlobEntry* e) {
  uint8_t type, comp;
  std::string_view id;
  uint64_t offset, stored, raw;
  if (!in->GetFixed8(&type) || !in->GetFixed8(&comp) || !in->GetBytes(Id::kSize, &id) ||
      !in->GetVarint64(&offset) || !in->GetVarint64(&stored) || !in->GetVarint64(&raw)) {
    return false;
  }
  if (type != static_cast<uint8_t>(BlobType::kData) &&
      type != static_cast<uint8_t>(BlobType::kChunkList)) {
    return false;
  }
  if (comp > static_cast<uint8_t>(Compression::kZstd)) return false;
  if (stored > kMaxBlobSize + 1024 || raw > kMaxBlobSize) return false;
  e->type = static_cast<BlobType>(type);
  e->compression = static_cast<Compression>(comp);
  e->id = Id::FromBytes(id);
  e->offset = offset;
  e->stored_length = static_cast<uint32_t>(stored);
  e->raw_length = static_cast<uint32_t>(raw);
  return true;
}

std::string SealBlob(const MasterKeys& keys, BlobType type, const Id& id,
                     std::string_view plaintext, int level, BlobEntry* entry) {
  std::string compressed;
  std::string_view payload = plaintext;
  Compression comp = Compression::kNone;
  if (level > 0 && plaintext.size() > 64) {
    compressed.resize(ZSTD_compressBound(plaintext.size()));
    size_t n = ZSTD_compressCCtx(ThreadCCtx(), compressed.data(), compressed.size(),
                                 plaintext.data(), plaintext.size(), level);
    if (!ZSTD_isError(n) && n < plaintext.size()) {
      compressed.resize(n);
      payload = compressed;
      comp = Compression::kZstd;
    }
  }
  std::string sealed;
  sealed.reserve(payload.size() + kSealOverhead);
  Seal(keys.encryption_key(), AssociatedData(type, id), payload, &sealed);
  entry->id = id;
  entry->type = type;
  entry->compression = comp;
  entry->stored_length = static_cast<uint32_t>(sealed.size());
  entry->raw_length = static_cast<uint32_t>(plaintext.size());
  return sealed;
}

Result<std::string> OpenBlob(const MasterKeys& keys, const BlobEntry& entry,
                             std::string_view sealed) {
  auto where = [&] { return "blob " + entry.id.Hex(); };
  auto payload = Open(keys.encryption_key(), AssociatedData(entry.type, entry.id), sealed);
  if (!payload.ok()) return payload.status().WithContext(where());
  std::string plain;
  if (entry.compression == Compression::kZstd) {
    plain.resize(entry.raw_length);
    size_t n = ZSTD_decompressDCtx(ThreadDCtx(), plain.data(), plain.size(), payload->data(),
                                   payload->size());
    if (ZSTD_isError(n) || n != entry.raw_length) {
      return Status::Corruption(where() + ": bad compressed data");
    }
  } else {
    plain = std::move(*payload);
  }
  if (plain.size() != entry.raw_length) return Status::Corruption(where() + ": wrong length");
  if (BlobIdOf(keys, plain) != entry.id) {
    return Status::Corruption(where() + ": content does not match its id");
  }
  return plain;
}

}  // namespace pgdedup::repo
