#include "repo/pack.h"

#include <catch2/catch.hpp>

#include "repo/index_object.h"
#include "repo/manifest.h"

using namespace pgdedup;
using namespace pgdedup::repo;

namespace {
std::string Text(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "row " + std::to_string(i % 50) + "\tsome text\n";
  return s;
}
}  // namespace

TEST_CASE("a stored pack's buffer is kept for the next pack, one at a time", "[pack]") {
  auto keys = MasterKeys::Generate();
  const size_t expected = 1 << 20;
  PackBuilder builder(keys->get(), expected);
  auto build = [&](int seed) {
    std::string p = Text(3000 + seed);
    BlobEntry e;
    Id id = BlobIdOf(**keys, p);
    builder.Add(e, SealBlob(**keys, BlobType::kData, id, p, 3, &e));
    return std::make_pair(builder.Finish(), p);
  };
  auto [first, first_plain] = build(1);
  auto [second, second_plain] = build(2);
  const char* first_buffer = first.data();
  CHECK(builder.Recycle(std::move(first)).empty());  // kept
  std::string other = second;
  other.reserve(expected);
  CHECK(builder.Recycle(std::move(other)).capacity() >= expected);  // one is kept already
  auto [third, third_plain] = build(3);
  CHECK(third.data() == first_buffer);  // built in the kept buffer
  auto entries = ParsePackHeader(**keys, third);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 1);
  auto plain =
      OpenBlob(**keys, (*entries)[0],
               std::string_view(third).substr((*entries)[0].offset, (*entries)[0].stored_length));
  REQUIRE(plain.ok());
  CHECK(*plain == third_plain);
  // A buffer that grew well past the expected size is not kept.
  std::string grown;
  grown.reserve(2 * expected);
  CHECK(builder.Recycle(std::move(grown)).capacity() >= 2 * expected);
}

TEST_CASE("a pack lists its blobs and every blob opens to its id", "[pack]") {
  auto keys = MasterKeys::Generate();
  PackBuilder builder(keys->get(), 1 << 20);
  std::vector<std::string> plains = {Text(100), std::string(1, 'x'), "", Text(5000)};
  for (const auto& p : plains) {
    BlobEntry e;
    Id id = BlobIdOf(**keys, p);
    std::string sealed = SealBlob(**keys, BlobType::kData, id, p, 3, &e);
    builder.Add(e, sealed);
  }
  std::string pack = builder.Finish();
  CHECK(builder.count() == 0);
  auto entries = ParsePackHeader(**keys, pack);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == plains.size());
  for (size_t i = 0; i < plains.size(); ++i) {
    const auto& e = (*entries)[i];
    auto plain = OpenBlob(**keys, e, std::string_view(pack).substr(e.offset, e.stored_length));
    REQUIRE(plain.ok());
    CHECK(*plain == plains[i]);
  }
  CHECK((*entries)[3].compression == Compression::kZstd);
  CHECK((*entries)[1].compression == Compression::kNone);

  SECTION("a truncated pack is rejected") {
    CHECK(ParsePackHeader(**keys, pack.substr(0, pack.size() - 1)).status().IsCorruption());
    CHECK(ParsePackHeader(**keys, pack.substr(0, pack.size() / 2)).status().IsCorruption());
  }
  SECTION("a flipped byte in a blob fails that blob") {
    const auto& e = (*entries)[3];
    std::string bad = pack;
    bad[e.offset + e.stored_length / 2] ^= 0x40;
    auto plain = OpenBlob(**keys, e, std::string_view(bad).substr(e.offset, e.stored_length));
    CHECK(plain.status().IsCorruption());
  }
  SECTION("a blob presented under another id is rejected") {
    BlobEntry e = (*entries)[0];
    e.id = (*entries)[1].id;
    CHECK(OpenBlob(**keys, e, std::string_view(pack).substr(e.offset, e.stored_length))
              .status()
              .IsCorruption());
  }
  SECTION("a flipped byte in the header is rejected") {
    std::string bad = pack;
    bad[bad.size() - kPackTrailerSize - 5] ^= 1;
    CHECK(ParsePackHeader(**keys, bad).status().IsCorruption());
  }
}

TEST_CASE("pack names carry their id", "[pack]") {
  Id id = Sha256("x");
  std::string name = PackObjectName(id);
  CHECK(name.substr(0, 8) == "data/" + id.Hex().substr(0, 2) + "/");
  CHECK(PackIdFromName(name) == id);
  CHECK_FALSE(PackIdFromName("data/00/" + id.Hex()).has_value());
  CHECK_FALSE(PackIdFromName("index/" + id.Hex()).has_value());
}

TEST_CASE("index objects round-trip and reject damage", "[index]") {
  IndexObject index;
  for (int p = 0; p < 3; ++p) {
    PackContents pc;
    pc.pack_id = Sha256("pack" + std::to_string(p));
    for (int b = 0; b < 10; ++b) {
      BlobEntry e;
      e.id = Sha256(std::to_string(p * 100 + b));
      e.type = b % 2 ? BlobType::kData : BlobType::kChunkList;
      e.compression = Compression::kZstd;
      e.offset = b * 1000;
      e.stored_length = 900 + b;
      e.raw_length = 3000 + b;
      pc.blobs.push_back(e);
    }
    index.packs.push_back(pc);
  }
  std::string enc = EncodeIndexObject(index);
  auto dec = DecodeIndexObject(enc);
  REQUIRE(dec.ok());
  REQUIRE(dec->packs.size() == 3);
  CHECK(dec->packs[2].pack_id == index.packs[2].pack_id);
  CHECK(dec->packs[1].blobs[7].id == index.packs[1].blobs[7].id);
  CHECK(dec->packs[1].blobs[7].raw_length == 3007);
  CHECK(dec->packs[1].blobs[7].type == BlobType::kData);
  for (size_t cut = 0; cut < enc.size(); cut += 13) {
    CHECK_FALSE(DecodeIndexObject(enc.substr(0, cut)).ok());
  }
}

TEST_CASE("manifests round-trip and skip unknown fields", "[manifest]") {
  Manifest m;
  m.time = 1790000000;
  m.utc_offset = -5 * 3600;
  m.hostname = "db1";
  m.username = "postgres";
  m.tags = {"nightly", "shop"};
  m.source = "stdin";
  m.program_version = "0.1.0";
  StreamInfo s;
  s.name = "shop.sql";
  s.size = 12345;
  s.digest = Sha256("x");
  s.chunk_count = 7;
  s.chunk_lists = {Sha256("l1"), Sha256("l2")};
  m.streams.push_back(s);
  StreamInfo config;
  config.name = "\"partman\".\"part_config\"";
  config.digest = Sha256("y");
  config.kind = "extension-table";
  config.schema = "partman";
  config.table = "part_config";
  config.columns = "parent_table, control";
  config.rows = 4;
  config.extension = "pg_partman";
  config.extension_version = "4.7.2";
  config.filter = "WHERE NOT builtin";
  m.streams.push_back(config);
  m.server_version = 150018;
  m.database_settings = {"\twork_mem=64MB"};
  m.locale_provider = "i";
  m.provider_locale = "de-DE";
  m.database_tablespace = "fast disks";
  m.bytea_hex = true;
  m.database_owner = "shop_owner";
  m.database_comment = "the shop";
  m.database_connlimit = 40;
  m.database_acl_explicit = true;
  m.database_acl = {"app\tCONNECT\tf", "\tTEMPORARY\tf"};
  std::string enc = EncodeManifest(m);
  // A field from a newer version: tag 99 with some value, appended.
  enc +=
      "\x63\x03"
      "abc";
  auto dec = DecodeManifest(enc);
  REQUIRE(dec.ok());
  CHECK(dec->time == m.time);
  CHECK(dec->utc_offset == m.utc_offset);
  CHECK(dec->tags == m.tags);
  REQUIRE(dec->streams.size() == 2);
  CHECK(dec->streams[0].chunk_lists == s.chunk_lists);
  CHECK(dec->streams[0].digest == s.digest);
  CHECK(dec->streams[0].kind.empty());
  CHECK(dec->streams[1].kind == "extension-table");
  CHECK(dec->streams[1].table == "part_config");
  CHECK(dec->streams[1].rows == 4);
  CHECK(dec->streams[1].extension == "pg_partman");
  CHECK(dec->streams[1].extension_version == "4.7.2");
  CHECK(dec->streams[1].filter == "WHERE NOT builtin");
  CHECK(dec->database_settings == m.database_settings);
  CHECK(dec->database_owner == "shop_owner");
  CHECK(dec->locale_provider == "i");
  CHECK(dec->provider_locale == "de-DE");
  CHECK(dec->database_tablespace == "fast disks");
  CHECK(dec->bytea_hex);
  CHECK(dec->database_comment == m.database_comment);
  CHECK(dec->database_connlimit == 40);
  CHECK(dec->database_acl_explicit);
  CHECK(dec->database_acl == m.database_acl);
  // Defaults: no comment, no limit, default privileges.
  Manifest plain;
  plain.time = 1;
  plain.server_version = 150018;
  auto dec_plain = DecodeManifest(EncodeManifest(plain));
  REQUIRE(dec_plain.ok());
  CHECK_FALSE(dec_plain->database_comment.has_value());
  CHECK(dec_plain->database_connlimit == -1);
  CHECK_FALSE(dec_plain->database_acl_explicit);
  CHECK(dec_plain->database_tablespace.empty());
  CHECK_FALSE(dec_plain->bytea_hex);
  CHECK(FormatTime(m.time, m.utc_offset) == "2026-09-21T09:13:20-05:00");
  CHECK_FALSE(DecodeManifest(enc.substr(0, enc.size() / 2)).ok());
}
