// Byte encoding helpers for the on-disk formats: little-endian fixed-width integers, varints,
// length-prefixed strings, and a bounds-checked Reader over a byte string. Every format in
// docs/FORMAT.md is built from these.
//
// Thread safety: free functions are pure; a Reader is not shared between threads.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pgdedup {

void PutFixed32(std::string* dst, uint32_t v);
void PutFixed64(std::string* dst, uint64_t v);
void PutVarint64(std::string* dst, uint64_t v);
// A varint length followed by the bytes.
void PutLengthPrefixed(std::string* dst, std::string_view s);

inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);  // the formats are little-endian, as is every supported host
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Reads fields from the front of a byte string. Each Get* returns false (and leaves the reader
// failed) when the input is too short or malformed; callers turn that into a Corruption status.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool GetFixed8(uint8_t* v);
  bool GetFixed32(uint32_t* v);
  bool GetFixed64(uint64_t* v);
  bool GetVarint64(uint64_t* v);
  bool GetLengthPrefixed(std::string_view* s);
  // Exactly n bytes.
  bool GetBytes(size_t n, std::string_view* s);

  bool empty() const { return in_.empty(); }
  size_t remaining() const { return in_.size(); }

 private:
  std::string_view in_;
};

}  // namespace pgdedup
