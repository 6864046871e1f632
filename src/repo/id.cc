#include "repo/id.h"

#include "common/hex.h"

namespace pgdedup::repo {

std::string Id::Hex() const { return ToHex(view()); }

bool Id::IsZero() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::optional<Id> Id::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize) return std::nullopt;
  auto raw = pgdedup::FromHex(hex);
  if (!raw) return std::nullopt;
  return FromBytes(*raw);
}

}  // namespace pgdedup::repo
