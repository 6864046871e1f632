#include "common/coding.h"

#include <catch2/catch.hpp>

#include "common/hex.h"
#include "common/result.h"

using namespace pgdedup;

TEST_CASE("varints and fixed integers round-trip", "[coding]") {
  std::string buf;
  const uint64_t values[] = {0, 1, 127, 128, 300, 1ull << 32, UINT64_MAX};
  for (uint64_t v : values) PutVarint64(&buf, v);
  PutFixed32(&buf, 0xdeadbeef);
  PutFixed64(&buf, 0x0123456789abcdefull);
  PutLengthPrefixed(&buf, "hello");
  Reader in(buf);
  for (uint64_t v : values) {
    uint64_t got;
    REQUIRE(in.GetVarint64(&got));
    CHECK(got == v);
  }
  uint32_t f32;
  uint64_t f64;
  std::string_view s;
  REQUIRE(in.GetFixed32(&f32));
  REQUIRE(in.GetFixed64(&f64));
  REQUIRE(in.GetLengthPrefixed(&s));
  CHECK(f32 == 0xdeadbeef);
  CHECK(f64 == 0x0123456789abcdefull);
  CHECK(s == "hello");
  CHECK(in.empty());
}

TEST_CASE("a reader refuses truncated input", "[coding]") {
  std::string buf;
  PutLengthPrefixed(&buf, "a longer string");
  for (size_t cut = 0; cut < buf.size(); ++cut) {
    Reader in(std::string_view(buf).substr(0, cut));
    std::string_view s;
    CHECK_FALSE(in.GetLengthPrefixed(&s));
  }
  Reader unterminated("\xff\xff");
  uint64_t v;
  CHECK_FALSE(unterminated.GetVarint64(&v));
}

TEST_CASE("hex round-trips and rejects junk", "[coding]") {
  CHECK(ToHex(std::string("\x00\xff\x10", 3)) == "00ff10");
  CHECK(FromHex("00FF10").value() == std::string("\x00\xff\x10", 3));
  CHECK_FALSE(FromHex("abc").has_value());
  CHECK_FALSE(FromHex("zz").has_value());
}

TEST_CASE("status carries code and context", "[status]") {
  Status ok;
  CHECK(ok.ok());
  Status s = Status::Corruption("short read").WithContext("pack 3f2a");
  CHECK(s.IsCorruption());
  CHECK(s.message() == "pack 3f2a: short read");
  Status copy = s;
  CHECK(copy.ToString() == "corruption: pack 3f2a: short read");
  Result<int> r = Status::NotFound("x");
  CHECK_FALSE(r.ok());
  CHECK(r.status().IsNotFound());
  Result<int> v = 7;
  CHECK(*v == 7);
}
