// Hex encoding for ids in object names, messages and JSON.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgdedup {

// Lower-case hex of the bytes.
std::string ToHex(std::string_view bytes);
// The bytes of a hex string (either case); nullopt when `hex` has odd length or a non-hex char.
std::optional<std::string> FromHex(std::string_view hex);
// True when every char is a lower- or upper-case hex digit.
bool IsHex(std::string_view s);

}  // namespace pgdedup
