#include "repo/index_cache.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "repo/crypto.h"
#include "support/test_repo.h"

using namespace pgdedup;
using namespace pgdedup::repo;

namespace {
IndexObject MakeIndex(int seed, int blobs) {
  IndexObject index;
  PackContents pack;
  pack.pack_id = Sha256("pack" + std::to_string(seed));
  for (int i = 0; i < blobs; ++i) {
    BlobEntry e;
    e.id = Sha256(std::to_string(seed) + "/" + std::to_string(i));
    e.offset = i * 100;
    e.stored_length = 90;
    e.raw_length = 300;
    pack.blobs.push_back(e);
  }
  index.packs.push_back(pack);
  return index;
}
}  // namespace

TEST_CASE("the index cache merges, persists across opens, and clears", "[index]") {
  testing::TempDir dir;
  std::string path = dir.path() + "/cache";
  IndexObject a = MakeIndex(1, 50);
  {
    auto cache = IndexCache::Open(path);
    REQUIRE(cache.ok());
    REQUIRE((*cache)->Merge(Sha256("index-a"), a).ok());
    CHECK((*cache)->Contains(a.packs[0].blobs[7].id));
    CHECK_FALSE((*cache)->Contains(Sha256("nope")));
    SECTION("a second process cannot open it at the same time") {
      CHECK(IndexCache::Open(path).status().code() == StatusCode::kLocked);
    }
  }
  auto cache = IndexCache::Open(path);
  REQUIRE(cache.ok());
  auto loc = (*cache)->Lookup(a.packs[0].blobs[7].id);
  REQUIRE(loc.ok());
  REQUIRE(loc->has_value());
  CHECK((*loc)->pack_id == a.packs[0].pack_id);
  CHECK((*loc)->entry.offset == 700);
  auto merged = (*cache)->MergedIndexObjects();
  REQUIRE(merged.ok());
  CHECK(merged->count(Sha256("index-a")) == 1);
  uint64_t n = 0;
  REQUIRE((*cache)
              ->ForEachBlob([&](const BlobLocation&) {
                n++;
                return Status::OK();
              })
              .ok());
  CHECK(n == 50);
  REQUIRE((*cache)->Clear().ok());
  CHECK_FALSE((*cache)->Contains(a.packs[0].blobs[7].id));
  CHECK((*cache)->MergedIndexObjects()->empty());
}

TEST_CASE("regression: reopening the index cache does not pile up log files", "[index]") {
  testing::TempDir dir;
  std::string path = dir.path() + "/cache";
  for (int i = 0; i < 8; ++i) {
    auto cache = IndexCache::Open(path);
    REQUIRE(cache.ok());
    REQUIRE((*cache)->Merge(Sha256("index" + std::to_string(i)), MakeIndex(i, 3)).ok());
  }
  int logs = 0, files = 0;
  for (const auto& e : std::filesystem::directory_iterator(path)) {
    files++;
    if (e.path().extension() == ".log") logs++;
  }
  CHECK(logs <= 1);
  CHECK(files < 20);
  auto cache = IndexCache::Open(path);
  REQUIRE(cache.ok());
  CHECK((*cache)->MergedIndexObjects()->size() == 8);
}
