#include "repo/blob.h"

#include <zstd.h>

#include <algorithm>
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

// Delta compression sets parameters and a prefix on its context: kept apart from the plain one.
ZSTD_CCtx* ThreadDeltaCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}

// A window that covers the base and the new data, so every match into the base is reachable.
int WindowLogFor(size_t bytes) {
  int log = 10;
  while (log < 27 && (size_t{1} << log) < bytes) log++;
  return log;
}

ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}

ZSTD_DCtx* ThreadDeltaDCtx() {
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
  if (e.is_delta()) {
    dst->append(e.base.view());
    dst->push_back(static_cast<char>(e.depth));
  }
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
  if (comp > static_cast<uint8_t>(Compression::kZstdDelta)) return false;
  if (stored > kMaxBlobSize + 1024 || raw > kMaxBlobSize) return false;
  if (comp == static_cast<uint8_t>(Compression::kZstdDelta)) {
    std::string_view base;
    uint8_t depth;
    if (!in->GetBytes(Id::kSize, &base) || !in->GetFixed8(&depth)) return false;
    if (depth < 1 || depth > kMaxDeltaDepth) return false;
    e->base = Id::FromBytes(base);
    e->depth = depth;
  } else {
    e->base = Id();
    e->depth = 0;
  }
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

std::string SealDeltaBlob(const MasterKeys& keys, BlobType type, const Id& id,
                          std::string_view plaintext, const BlobEntry& base,
                          std::string_view base_plaintext, int level, size_t max_stored,
                          BlobEntry* entry) {
  ZSTD_CCtx* cctx = ThreadDeltaCCtx();
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, std::max(level, 1));
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog,
                         WindowLogFor(base_plaintext.size() + plaintext.size()));
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
  if (ZSTD_isError(ZSTD_CCtx_refPrefix(cctx, base_plaintext.data(), base_plaintext.size()))) {
    return std::string();
  }
  std::string patch(ZSTD_compressBound(plaintext.size()), '\0');
  size_t n = ZSTD_compress2(cctx, patch.data(), patch.size(), plaintext.data(), plaintext.size());
  if (ZSTD_isError(n) || n + kSealOverhead >= max_stored) return std::string();
  patch.resize(n);
  std::string sealed;
  sealed.reserve(patch.size() + kSealOverhead);
  Seal(keys.encryption_key(), AssociatedData(type, id), patch, &sealed);
  entry->id = id;
  entry->type = type;
  entry->compression = Compression::kZstdDelta;
  entry->stored_length = static_cast<uint32_t>(sealed.size());
  entry->raw_length = static_cast<uint32_t>(plaintext.size());
  entry->base = base.id;
  entry->depth = static_cast<uint8_t>(base.is_delta() ? base.depth + 1 : 1);
  return sealed;
}

namespace {

// The plaintext of a blob from its opened payload: decompressed (a delta with the plaintext of
// its base), then checked against the blob's id.
Result<std::string> DecodePayload(const MasterKeys& keys, const BlobEntry& entry,
                                  std::string_view payload, std::string_view base_plaintext) {
  auto where = [&] { return "blob " + entry.id.Hex(); };
  std::string plain;
  if (entry.compression == Compression::kZstd) {
    plain.resize(entry.raw_length);
    size_t n = ZSTD_decompressDCtx(ThreadDCtx(), plain.data(), plain.size(), payload.data(),
                                   payload.size());
    if (ZSTD_isError(n) || n != entry.raw_length) {
      return Status::Corruption(where() + ": bad compressed data");
    }
  } else if (entry.is_delta()) {
    ZSTD_DCtx* dctx = ThreadDeltaDCtx();
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
    ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 27);
    if (ZSTD_isError(ZSTD_DCtx_refPrefix(dctx, base_plaintext.data(), base_plaintext.size()))) {
      return Status::Corruption(where() + ": cannot use its base " + entry.base.Hex());
    }
    plain.resize(entry.raw_length);
    size_t n =
        ZSTD_decompressDCtx(dctx, plain.data(), plain.size(), payload.data(), payload.size());
    if (ZSTD_isError(n) || n != entry.raw_length) {
      return Status::Corruption(where() + ": bad delta against base " + entry.base.Hex());
    }
  } else {
    plain.assign(payload);
  }
  if (plain.size() != entry.raw_length) return Status::Corruption(where() + ": wrong length");
  if (BlobIdOf(keys, plain) != entry.id) {
    return Status::Corruption(where() + ": content does not match its id");
  }
  return plain;
}

}  // namespace

Result<std::string> OpenBlob(const MasterKeys& keys, const BlobEntry& entry,
                             std::string_view sealed, std::string_view base_plaintext) {
  auto payload = Open(keys.encryption_key(), AssociatedData(entry.type, entry.id), sealed);
  if (!payload.ok()) return payload.status().WithContext("blob " + entry.id.Hex());
  return DecodePayload(keys, entry, *payload, base_plaintext);
}

Result<std::string> OpenBlob(const MasterKeys& keys, const BlobEntry& entry, std::string&& sealed,
                             std::string_view base_plaintext) {
  std::string owned = std::move(sealed);
  auto payload = OpenInPlace(keys.encryption_key(), AssociatedData(entry.type, entry.id), &owned);
  if (!payload.ok()) return payload.status().WithContext("blob " + entry.id.Hex());
  return DecodePayload(keys, entry, *payload, base_plaintext);
}

}  // namespace pgdedup::repo
