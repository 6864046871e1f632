// Tests for chunker::FastCdc and ChunkerParams.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "chunker/fastcdc.h"

namespace pgdedup::chunker {
namespace {

const std::string kSeed(32, '\x5a');

// Deterministic pseudo-random bytes (splitmix64).
std::string RandomBytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t state = seed;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (size_t b = 0; b < 8 && i + b < n; ++b) out[i + b] = static_cast<char>(z >> (8 * b));
  }
  return out;
}

// Feeds `data` to a fresh chunker in pieces of `piece` bytes and returns the end offset of every
// chunk, including the final one (end of stream) if it is not empty.
std::vector<size_t> CutPoints(const ChunkerParams& params, std::string_view seed,
                              std::string_view data, size_t piece) {
  FastCdc cdc(params, seed);
  std::vector<size_t> cuts;
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  size_t last_cut = 0;
  for (size_t off = 0; off < data.size(); off += piece) {
    size_t pos = off;
    const size_t end = std::min(off + piece, data.size());
    while (pos < end) {
      size_t k = cdc.Scan(bytes + pos, end - pos);
      if (k == FastCdc::kNeedMore) break;
      REQUIRE(k >= 1);
      REQUIRE(k <= end - pos);
      pos += k;
      cuts.push_back(pos);
      last_cut = pos;
    }
  }
  if (last_cut < data.size()) cuts.push_back(data.size());
  return cuts;
}

std::vector<std::string> Chunks(std::string_view data, const std::vector<size_t>& cuts) {
  std::vector<std::string> chunks;
  size_t start = 0;
  for (size_t c : cuts) {
    chunks.emplace_back(data.substr(start, c - start));
    start = c;
  }
  return chunks;
}

// Small sizes, so a few MB give thousands of chunks.
ChunkerParams SmallParams() { return ChunkerParams{1024, 4096, 16384}; }

}  // namespace

TEST_CASE("ChunkerParams::Validate accepts good parameters", "[chunker]") {
  CHECK(ChunkerParams::Default().Validate().ok());
  CHECK(ChunkerParams{64, 128, 129}.Validate().ok());
  CHECK(ChunkerParams{1 << 20, 8 << 20, 16 << 20}.Validate().ok());
  CHECK(SmallParams().Validate().ok());
}

TEST_CASE("ChunkerParams::Validate rejects bad parameters", "[chunker]") {
  const ChunkerParams bad[] = {
      {63, 4096, 16384},                   // min below 64
      {0, 4096, 16384},                    // min zero
      {4096, 4096, 16384},                 // min == avg
      {8192, 4096, 16384},                 // min > avg
      {1024, 4096, 4096},                  // avg == max
      {1024, 4096, 2048},                  // max < avg
      {1024, 6000, 16384},                 // avg not a power of two
      {1 << 20, 8 << 20, (16 << 20) + 1},  // max above 16 MiB
      {0, 0, 0},
  };
  for (const ChunkerParams& p : bad) {
    INFO("min " << p.min_size << " avg " << p.avg_size << " max " << p.max_size);
    Status st = p.Validate();
    CHECK(st.code() == StatusCode::kInvalidArgument);
    CHECK(!st.message().empty());
  }
}

TEST_CASE("FastCdc cut points do not depend on how the stream is split", "[chunker]") {
  const std::string data = RandomBytes(3 << 20, 1);
  for (const ChunkerParams& params : {ChunkerParams::Default(), SmallParams()}) {
    const std::vector<size_t> whole = CutPoints(params, kSeed, data, data.size());
    REQUIRE(whole.size() > 10);
    CHECK(CutPoints(params, kSeed, data, 1) == whole);
    CHECK(CutPoints(params, kSeed, data, 7) == whole);
    CHECK(CutPoints(params, kSeed, data, 4093) == whole);
    CHECK(CutPoints(params, kSeed, data, 65536) == whole);
  }
}

TEST_CASE("FastCdc chunk sizes stay within [min, max] except the last", "[chunker]") {
  const std::string random = RandomBytes(4 << 20, 2);
  const std::string zeros(1 << 20, '\0');  // constant input: no content-defined cut points
  std::string text;
  while (text.size() < (2 << 20)) text += "1234\tsome customer name\tnobody@example.com\tParis\n";
  for (const std::string* data : std::vector<const std::string*>{&random, &zeros, &text}) {
    for (const ChunkerParams& params :
         {ChunkerParams::Default(), SmallParams(), ChunkerParams{64, 128, 200}}) {
      const std::vector<size_t> cuts = CutPoints(params, kSeed, *data, 100000);
      size_t start = 0;
      for (size_t i = 0; i < cuts.size(); ++i) {
        const size_t len = cuts[i] - start;
        start = cuts[i];
        CHECK(len <= params.max_size);
        if (i + 1 < cuts.size()) CHECK(len >= params.min_size);
      }
      CHECK(cuts.back() == data->size());
    }
  }
}

TEST_CASE("FastCdc mean chunk size is near avg_size on random data", "[chunker]") {
  const std::string data = RandomBytes(16 << 20, 3);
  for (const ChunkerParams& params : {ChunkerParams::Default(), SmallParams()}) {
    const std::vector<size_t> cuts = CutPoints(params, kSeed, data, data.size());
    const double mean = static_cast<double>(data.size()) / cuts.size();
    INFO("avg " << params.avg_size << " measured mean " << mean << " over " << cuts.size()
                << " chunks");
    CHECK(mean > 0.75 * params.avg_size);
    CHECK(mean < 1.5 * params.avg_size);
  }
}

TEST_CASE("FastCdc cut points depend on the seed", "[chunker]") {
  const std::string data = RandomBytes(2 << 20, 4);
  const ChunkerParams params = SmallParams();
  const std::vector<size_t> a = CutPoints(params, kSeed, data, data.size());
  const std::vector<size_t> b = CutPoints(params, std::string(32, '\x5b'), data, data.size());
  const std::vector<size_t> c = CutPoints(params, "", data, data.size());
  CHECK(a != b);
  CHECK(a != c);
  CHECK(b != c);
  // Not just shifted: few cut points in common.
  std::set<size_t> sa(a.begin(), a.end());
  size_t common = 0;
  for (size_t x : b) common += sa.count(x);
  CHECK(common < a.size() / 4);
}

TEST_CASE("FastCdc insertion near the start changes only nearby chunks", "[chunker]") {
  const std::string data = RandomBytes(4 << 20, 5);
  std::string edited = data;
  edited.insert(3000, "hello");
  for (const ChunkerParams& params : {ChunkerParams::Default(), SmallParams()}) {
    const std::vector<std::string> before =
        Chunks(data, CutPoints(params, kSeed, data, data.size()));
    const std::vector<std::string> after = Chunks(edited, CutPoints(params, kSeed, edited, 4093));
    const std::set<std::string> old_chunks(before.begin(), before.end());
    size_t new_chunks = 0;
    for (const std::string& c : after) new_chunks += old_chunks.count(c) == 0;
    INFO(after.size() << " chunks, " << new_chunks << " new");
    CHECK(new_chunks >= 1);
    CHECK(new_chunks <= 3);
    // All chunks after the first few are byte-identical and in the same order.
    REQUIRE(after.size() == before.size());
    for (size_t i = 3; i < after.size(); ++i) CHECK(after[i] == before[i]);
  }
}

TEST_CASE("FastCdc Reset starts a new stream", "[chunker]") {
  const std::string data = RandomBytes(1 << 20, 6);
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  FastCdc cdc(SmallParams(), kSeed);
  CHECK(cdc.Scan(bytes, 0) == FastCdc::kNeedMore);
  CHECK(cdc.Scan(nullptr, 0) == FastCdc::kNeedMore);
  const size_t first = cdc.Scan(bytes, data.size());
  REQUIRE(first != FastCdc::kNeedMore);
  // Feed some unrelated bytes, then Reset: the same input gives the same first cut.
  CHECK(cdc.Scan(bytes + 12345, 100) == FastCdc::kNeedMore);
  cdc.Reset();
  CHECK(cdc.Scan(bytes, data.size()) == first);
  CHECK(cdc.params().avg_size == SmallParams().avg_size);
}

// Guards the on-repository format: changing the gear table derivation, the masks or the phase
// boundaries moves every cut point and silently stops deduplication against existing backups.
TEST_CASE("FastCdc cut points are stable across versions", "[chunker]") {
  const std::string data = RandomBytes(1 << 20, 7);
  const std::vector<size_t> cuts = CutPoints(ChunkerParams::Default(), kSeed, data, data.size());
  const std::vector<size_t> expected = {68329,  98960,  175322, 233210,  324447,
                                        421604, 496706, 579205, 657186,  723940,
                                        793805, 859946, 930309, 1038973, 1048576};
  CHECK(cuts == expected);
}

}  // namespace pgdedup::chunker
