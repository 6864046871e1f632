#include "repo/config.h"

#include "common/coding.h"

namespace pgdedup::repo {

std::string EncodeConfig(const RepoConfig& c) {
  std::string out;
  PutFixed32(&out, c.version);
  out.append(c.repository_id.view());
  PutFixed32(&out, c.chunker.min_size);
  PutFixed32(&out, c.chunker.avg_size);
  PutFixed32(&out, c.chunker.max_size);
  PutFixed32(&out, c.pack_size);
  PutFixed32(&out, c.compression_level);
  PutFixed64(&out, c.created);
  return out;
}

Result<RepoConfig> DecodeConfig(std::string_view plain) {
  Reader in(plain);
  RepoConfig c;
  std::string_view id;
  if (!in.GetFixed32(&c.version)) return Status::Corruption("config: truncated");
  if (c.version > kRepoVersion) {
    return Status::InvalidArgument("repository version " + std::to_string(c.version) +
                                   " is newer than this pgdedup supports (" +
                                   std::to_string(kRepoVersion) + "); upgrade pgdedup");
  }
  if (!in.GetBytes(Id::kSize, &id) || !in.GetFixed32(&c.chunker.min_size) ||
      !in.GetFixed32(&c.chunker.avg_size) || !in.GetFixed32(&c.chunker.max_size) ||
      !in.GetFixed32(&c.pack_size) || !in.GetFixed32(&c.compression_level) ||
      !in.GetFixed64(&c.created)) {
    return Status::Corruption("config: truncated");
  }
  c.repository_id = Id::FromBytes(id);
  PGDEDUP_RETURN_IF_ERROR(c.chunker.Validate().WithContext("config"));
  if (c.pack_size < (1u << 16) || c.pack_size > (1u << 30) || c.compression_level > 22) {
    return Status::Corruption("config: implausible pack size or compression level");
  }
  return c;
}

}  // namespace pgdedup::repo
