// Id: a 32-byte identifier. Blob ids are keyed hashes of a blob's plaintext; object ids (packs,
// index objects, snapshots) are the SHA-256 of the object's stored bytes, so an object's name
// proves its content. Printed as 64 lower-case hex digits.
//
// Thread safety: a value type.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace pgdedup::repo {

struct Id {
  static constexpr size_t kSize = 32;
  std::array<uint8_t, kSize> bytes{};

  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  std::string Hex() const;
  // The first 8 hex digits, for messages and short snapshot ids.
  std::string ShortHex() const { return Hex().substr(0, 8); }
  bool IsZero() const;

  // REQUIRES: raw.size() == kSize.
  static Id FromBytes(std::string_view raw) {
    Id id;
    std::memcpy(id.bytes.data(), raw.data(), kSize);
    return id;
  }
  // nullopt unless `hex` is exactly 64 hex digits.
  static std::optional<Id> FromHex(std::string_view hex);

  friend bool operator==(const Id& a, const Id& b) = default;
  friend auto operator<=>(const Id& a, const Id& b) = default;
};

struct IdHash {
  size_t operator()(const Id& id) const {
    size_t h;
    std::memcpy(&h, id.bytes.data(), sizeof h);  // ids are uniformly distributed already
    return h;
  }
};

}  // namespace pgdedup::repo
