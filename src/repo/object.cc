#include "repo/object.h"

namespace pgdedup::repo {

namespace {
std::string Prefix(ObjectType type) {
  std::string p = "PGDO";
  p.push_back(static_cast<char>(kObjectVersion));
  p.push_back(static_cast<char>(type));
  return p;
}
}  // namespace

std::string SealObject(const MasterKeys& keys, ObjectType type, std::string_view plaintext) {
  std::string out = Prefix(type);
  std::string ad = out;
  Seal(keys.encryption_key(), ad, plaintext, &out);
  return out;
}

Result<std::string> OpenObject(const MasterKeys& keys, ObjectType type, std::string_view stored) {
  std::string prefix = Prefix(type);
  if (stored.size() < prefix.size() || stored.compare(0, 4, "PGDO") != 0) {
    return Status::Corruption("not a pgdedup object (bad magic)");
  }
  if (static_cast<uint8_t>(stored[4]) != kObjectVersion) {
    return Status::Corruption("unsupported object version " +
                              std::to_string(static_cast<uint8_t>(stored[4])));
  }
  if (stored.compare(0, prefix.size(), prefix) != 0) {
    return Status::Corruption("object has the wrong type");
  }
  return Open(keys.encryption_key(), prefix, stored.substr(prefix.size()));
}

const char* ObjectDir(ObjectType type) {
  switch (type) {
    case ObjectType::kConfig:
      return "";
    case ObjectType::kIndex:
      return "index/";
    case ObjectType::kSnapshot:
      return "snapshots/";
    case ObjectType::kLock:
      return "locks/";
  }
  return "";
}

}  // namespace pgdedup::repo
