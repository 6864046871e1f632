// Decoders against damaged input. Every prefix of a valid encoding, and thousands of random
// mutations of it (bytes flipped, inserted, removed), must be refused with a status or decoded,
// never crash or read outside their input; what a decoder accepts must encode and decode again
// to the same bytes. The inputs: index objects, manifests and the config (decoded after
// authentication, so damage there means a writer's bug), key files and pack trailers (parsed
// before anything is authenticated, so damage there is anyone's), blob entries, and the
// operator's retention arguments. `scripts/test.sh --sanitize` runs this under AddressSanitizer
// and UndefinedBehaviorSanitizer too.
#include <sodium.h>

#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "common/coding.h"
#include "repo/blob.h"
#include "repo/config.h"
#include "repo/crypto.h"
#include "repo/index_object.h"
#include "repo/key_file.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/retention.h"

using namespace pgdedup;
using namespace pgdedup::repo;

namespace {

// A copy of `s` with 1-3 random edits: a byte changed, a byte inserted, or a byte removed.
std::string Mutate(const std::string& s, std::mt19937_64* rng) {
  std::string out = s;
  const int edits = 1 + static_cast<int>((*rng)() % 3);
  for (int i = 0; i < edits; ++i) {
    const size_t at = (*rng)() % (out.size() + 1);  // an insertion may append
    const char byte = static_cast<char>((*rng)() & 0xff);
    switch ((*rng)() % 4) {
      case 0:
      case 1:
        if (at < out.size()) out[at] = byte;
        break;
      case 2:
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), byte);
        break;
      default:
        if (at < out.size()) out.erase(at, 1);
        break;
    }
  }
  return out;
}

// Runs decode on every strict prefix of `valid` (each must fail when `prefixes_fail`) and on
// `mutations` mutations of it; whatever decodes must re-encode to bytes that decode to the same
// encoding.
template <typename Decode, typename Encode>
void Hammer(const std::string& valid, Decode decode, Encode encode, bool prefixes_fail,
            int mutations, uint64_t seed) {
  REQUIRE(decode(valid).ok());
  for (size_t n = 0; n < valid.size(); ++n) {
    auto d = decode(valid.substr(0, n));
    if (prefixes_fail) {
      INFO("prefix of " << n << " of " << valid.size() << " bytes");
      CHECK_FALSE(d.ok());
    }
  }
  std::mt19937_64 rng(seed);
  for (int i = 0; i < mutations; ++i) {
    auto d = decode(Mutate(valid, &rng));
    if (!d.ok()) continue;
    const std::string again = encode(*d);
    auto d2 = decode(again);
    REQUIRE(d2.ok());
    CHECK(encode(*d2) == again);
  }
}

IndexObject SampleIndex() {
  IndexObject index;
  for (int p = 0; p < 2; ++p) {
    PackContents pc;
    pc.pack_id = Sha256("pack" + std::to_string(p));
    for (int b = 0; b < 4; ++b) {
      BlobEntry e;
      e.id = Sha256(std::to_string(p * 10 + b));
      e.type = b % 2 ? BlobType::kData : BlobType::kChunkList;
      e.compression = b == 3 ? Compression::kZstdDelta : Compression::kZstd;
      e.offset = static_cast<uint64_t>(b) * 1000;
      e.stored_length = 900 + b;
      e.raw_length = 3000 + b;
      if (e.is_delta()) {
        e.base = Sha256("base");
        e.depth = 2;
      }
      pc.blobs.push_back(e);
    }
    index.packs.push_back(pc);
  }
  return index;
}

Manifest SampleManifest() {
  Manifest m;
  m.time = 1790000000;
  m.utc_offset = 3600;
  m.hostname = "db1";
  m.username = "postgres";
  m.tags = {"nightly"};
  m.source = "postgresql";
  m.database = "shop";
  m.program_version = "0.1.0";
  m.server_version = 150018;
  StreamInfo s;
  s.name = "\"public\".\"orders\"";
  s.kind = "table";
  s.schema = "public";
  s.table = "orders";
  s.columns = "id, total";
  s.rows = 42;
  s.size = 12345;
  s.digest = Sha256("x");
  s.chunk_count = 3;
  s.chunk_lists = {Sha256("l1")};
  m.streams.push_back(s);
  m.database_settings = {"\twork_mem=64MB"};
  return m;
}

// Encodes `e` and decodes it again: every field the same, every byte read.
void CheckEntryRoundTrips(const BlobEntry& e) {
  std::string enc;
  EncodeBlobEntry(e, &enc);
  Reader in(enc);
  BlobEntry back;
  REQUIRE(DecodeBlobEntry(&in, &back));
  CHECK(in.remaining() == 0);
  CHECK(back.id == e.id);
  CHECK(back.type == e.type);
  CHECK(back.compression == e.compression);
  CHECK(back.offset == e.offset);
  CHECK(back.stored_length == e.stored_length);
  CHECK(back.raw_length == e.raw_length);
  CHECK(back.base == e.base);
  CHECK(back.depth == e.depth);
}

}  // namespace

TEST_CASE("index objects: prefixes fail, mutations never crash", "[decode]") {
  const std::string valid = EncodeIndexObject(SampleIndex());
  Hammer(
      valid, [](std::string_view s) { return DecodeIndexObject(s); },
      [](const IndexObject& i) { return EncodeIndexObject(i); }, /*prefixes_fail=*/true, 20000, 1);
}

TEST_CASE("manifests: prefixes and mutations never crash", "[decode]") {
  // A manifest is a list of tagged fields, so a prefix ending between two fields decodes (to a
  // manifest without the rest): sealing, not the encoding, is what catches truncation.
  const std::string valid = EncodeManifest(SampleManifest());
  Hammer(
      valid, [](std::string_view s) { return DecodeManifest(s); },
      [](const Manifest& m) { return EncodeManifest(m); }, /*prefixes_fail=*/false, 20000, 2);
}

TEST_CASE("the config: prefixes fail, mutations never crash", "[decode]") {
  RepoConfig c;
  c.repository_id = Sha256("repo");
  c.created = 1790000000;
  const std::string valid = EncodeConfig(c);
  Hammer(
      valid, [](std::string_view s) { return DecodeConfig(s); },
      [](const RepoConfig& r) { return EncodeConfig(r); }, /*prefixes_fail=*/true, 20000, 3);
}

TEST_CASE("key files: prefixes fail; Argon2id parameters out of bounds are refused unrun",
          "[decode][keys]") {
  auto keys = MasterKeys::Generate();
  REQUIRE(keys.ok());
  auto file = MakeKeyFile(**keys, "pw", KdfStrength::kInteractive);
  REQUIRE(file.ok());
  for (size_t n = 0; n < file->size(); ++n) {
    CHECK_FALSE(ParseKeyFile(std::string_view(*file).substr(0, n)).ok());
  }
  std::mt19937_64 rng(4);
  int out_of_bounds = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string damaged = Mutate(*file, &rng);
    auto info = ParseKeyFile(damaged);
    if (!info.ok()) continue;
    CHECK(info->hostname.size() + info->username.size() < damaged.size());
    if (info->opslimit > kMaxArgonOpslimit || info->memlimit > kMaxArgonMemlimit ||
        info->opslimit < crypto_pwhash_OPSLIMIT_MIN ||
        info->memlimit < crypto_pwhash_MEMLIMIT_MIN) {
      // Refused before any derivation (one would take hours, or more memory than there is):
      // Corruption, where a derivation that ran would end in the wrong password.
      out_of_bounds++;
      CHECK(UnwrapKeyFile(damaged, "pw").status().IsCorruption());
    }
  }
  CHECK(out_of_bounds > 100);
}

TEST_CASE("pack trailers and headers: damage is refused, never read past", "[decode][pack]") {
  auto keys = MasterKeys::Generate();
  REQUIRE(keys.ok());
  PackBuilder builder(keys->get(), 1 << 16);
  for (int i = 0; i < 3; ++i) {
    const std::string plain(100 + i, static_cast<char>('a' + i));
    BlobEntry e;
    builder.Add(e, SealBlob(**keys, BlobType::kData, BlobIdOf(**keys, plain), plain, 1, &e));
  }
  const std::string pack = builder.Finish();
  REQUIRE(ParsePackHeader(**keys, pack).ok());
  for (size_t n = 0; n < pack.size(); ++n) {
    CHECK_FALSE(ParsePackHeader(**keys, std::string_view(pack).substr(0, n)).ok());
  }
  // Every byte of the header and trailer, and every value of each byte of the trailer's length
  // field.
  const size_t tail =
      DecodeFixed32(pack.data() + pack.size() - kPackTrailerSize) + kPackTrailerSize;
  REQUIRE(tail < pack.size());
  for (size_t back = 1; back <= tail; ++back) {
    std::string bad = pack;
    bad[bad.size() - back] ^= 0x5a;
    CHECK_FALSE(ParsePackHeader(**keys, bad).ok());
  }
  for (int v = 0; v < 256; ++v) {
    for (size_t byte = 0; byte < 4; ++byte) {
      std::string bad = pack;
      char& c = bad[bad.size() - kPackTrailerSize + byte];
      if (static_cast<unsigned char>(c) == v) continue;
      c = static_cast<char>(v);
      CHECK_FALSE(ParsePackHeader(**keys, bad).ok());
    }
  }
}

TEST_CASE("blob entries: damaged ones are refused or decoded, never read past", "[decode]") {
  // Mutations of every form's encoding, and random bytes.
  std::vector<std::string> valid;
  for (const auto& pack : SampleIndex().packs) {
    for (const BlobEntry& e : pack.blobs) EncodeBlobEntry(e, &valid.emplace_back());
  }
  std::mt19937_64 rng(5);
  int decoded = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string bytes;
    if (i % 5 == 0) {
      bytes.assign(rng() % 120, '\0');
      for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
    } else {
      bytes = Mutate(valid[rng() % valid.size()], &rng);
    }
    Reader in(bytes);
    BlobEntry e;
    if (!DecodeBlobEntry(&in, &e)) continue;
    decoded++;
    CheckEntryRoundTrips(e);  // what decodes encodes to an entry that decodes the same
  }
  for (const auto& pack : SampleIndex().packs) {
    for (const BlobEntry& e : pack.blobs) CheckEntryRoundTrips(e);
  }
  CHECK(decoded > 1000);
}

TEST_CASE("retention arguments: any text is refused or parsed, never crashes", "[decode]") {
  std::mt19937_64 rng(6);
  const std::string alphabet = "0123456789ymwdh,hostdatabasetags -+";
  for (int i = 0; i < 50000; ++i) {
    std::string s(rng() % 12, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    (void)ParseCalendarDuration(s);
    (void)ParseGroupBy(s);
  }
  CHECK(ParseCalendarDuration("1y6m").ok());
  CHECK(ParseGroupBy("host,database").ok());
}
