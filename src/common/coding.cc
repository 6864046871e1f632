#include "common/coding.h"

namespace pgdedup {

void PutFixed32(std::string* dst, uint32_t v) {
  char buf[sizeof v];
  std::memcpy(buf, &v, sizeof v);
  dst->append(buf, sizeof buf);
}

void PutFixed64(std::string* dst, uint64_t v) {
  char buf[sizeof v];
  std::memcpy(buf, &v, sizeof v);
  dst->append(buf, sizeof buf);
}

void PutVarint64(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint64(dst, s.size());
  dst->append(s.data(), s.size());
}

bool Reader::GetFixed8(uint8_t* v) {
  if (in_.empty()) return false;
  *v = static_cast<uint8_t>(in_[0]);
  in_.remove_prefix(1);
  return true;
}

bool Reader::GetFixed32(uint32_t* v) {
  if (in_.size() < 4) return false;
  *v = DecodeFixed32(in_.data());
  in_.remove_prefix(4);
  return true;
}

bool Reader::GetFixed64(uint64_t* v) {
  if (in_.size() < 8) return false;
  *v = DecodeFixed64(in_.data());
  in_.remove_prefix(8);
  return true;
}

bool Reader::GetVarint64(uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in_.empty(); shift += 7) {
    uint64_t byte = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  in_ = {};
  return false;
}

bool Reader::GetLengthPrefixed(std::string_view* s) {
  uint64_t n;
  if (!GetVarint64(&n)) return false;
  return GetBytes(n, s);
}

bool Reader::GetBytes(size_t n, std::string_view* s) {
  if (in_.size() < n) {
    in_ = {};
    return false;
  }
  *s = in_.substr(0, n);
  in_.remove_prefix(n);
  return true;
}

}  // namespace pgdedup
