// Sealed objects: the repository's small whole objects (config, index objects, snapshot
// manifests, locks) are each one sealed message:
//
//   object := "PGDO" | version:u8 | type:u8 | Seal(AD = the first 6 bytes, plaintext)
//
// Index objects and manifests are named "<dir>/<sha256 of the stored bytes>", so renaming or
// swapping one is detected, and the type byte in the associated data keeps an index object
// from being read as a manifest. Byte layouts: docs/FORMAT.md.
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include "common/result.h"
#include "repo/crypto.h"

namespace pgdedup::repo {

enum class ObjectType : uint8_t {
  kConfig = 1,
  kIndex = 2,
  kSnapshot = 3,
  kLock = 4,
};

constexpr uint8_t kObjectVersion = 1;

std::string SealObject(const MasterKeys& keys, ObjectType type, std::string_view plaintext);
// Corruption when the bytes are not a sealed object of `type` under these keys.
Result<std::string> OpenObject(const MasterKeys& keys, ObjectType type, std::string_view stored);

// The directory of content-named objects of a type: "index/", "snapshots/", "locks/".
const char* ObjectDir(ObjectType type);

}  // namespace pgdedup::repo
