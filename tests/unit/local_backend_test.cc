#include "repo/local_backend.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>

#include "support/test_repo.h"

using namespace pgdedup;
using namespace pgdedup::repo;

TEST_CASE("the local backend stores objects atomically and reads ranges", "[backend]") {
  testing::TempDir dir;
  auto b = LocalBackend::Open(dir.path() + "/r", /*create=*/true);
  REQUIRE(b.ok());
  Backend* backend = b->get();
  REQUIRE(backend->Put("data/ab/abc", "0123456789").ok());
  REQUIRE(backend->Put("index/x", "idx").ok());
  CHECK(*backend->Get("data/ab/abc") == "0123456789");
  CHECK(*backend->Get("data/ab/abc", 3, 4) == "3456");
  CHECK(*backend->Get("data/ab/abc", 4) == "456789");
  CHECK(*backend->Size("data/ab/abc") == 10);
  CHECK(backend->Get("data/ab/abc", 8, 5).status().IsCorruption());  // short read
  CHECK(backend->Get("missing").status().IsNotFound());
  CHECK(backend->Size("missing").status().IsNotFound());

  auto all = backend->List("");
  REQUIRE(all.ok());
  CHECK(all->size() == 2);
  auto data = backend->List("data/");
  REQUIRE(data.ok());
  REQUIRE(data->size() == 1);
  CHECK((*data)[0].name == "data/ab/abc");
  CHECK((*data)[0].size == 10);

  REQUIRE(backend->Put("data/ab/abc", "replaced").ok());
  CHECK(*backend->Get("data/ab/abc") == "replaced");
  REQUIRE(backend->Delete("data/ab/abc").ok());
  CHECK(backend->Delete("data/ab/abc").ok());  // deleting twice is fine
  CHECK(backend->Delete("data/zz/never").ok());
  CHECK(backend->Get("data/ab/abc").status().IsNotFound());

  // No temporary files are left behind.
  for (auto& e : std::filesystem::recursive_directory_iterator(dir.path() + "/r")) {
    CHECK(e.path().filename().string().rfind(".tmp-", 0) != 0);
  }
  CHECK(backend->Put("../escape", "x").code() == StatusCode::kInvalidArgument);
  CHECK(backend->Put("/abs", "x").code() == StatusCode::kInvalidArgument);
}

TEST_CASE("a missing repository directory is reported", "[backend]") {
  testing::TempDir dir;
  CHECK(LocalBackend::Open(dir.path() + "/nope", false).status().IsNotFound());
  CHECK(OpenBackend("s3:ftp://127.0.0.1:1/bucket").status().code() == StatusCode::kInvalidArgument);
  CHECK(OpenBackend("s3:http://127.0.0.1:1").status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("the local backend counts its requests and bytes", "[backend]") {
  testing::TempDir dir;
  auto b = LocalBackend::Open(dir.path() + "/r", /*create=*/true);
  REQUIRE(b.ok());
  Backend* backend = b->get();
  REQUIRE(backend->Put("data/ab/abc", "0123456789").ok());
  REQUIRE(backend->Put("keys/k", "key").ok());
  CHECK(*backend->Get("data/ab/abc", 2, 3) == "234");
  CHECK(backend->Size("keys/k").ok());
  CHECK(backend->List("").ok());
  CHECK(backend->DeleteAll({"keys/k", "keys/missing"}).ok());
  BackendStats s = backend->stats();
  CHECK(s.puts == 2);
  CHECK(s.gets == 1);
  CHECK(s.heads == 1);
  CHECK(s.lists == 1);
  CHECK(s.deletes == 2);
  CHECK(s.retries == 0);
  CHECK(s.requests() == 7);
  CHECK(s.bytes_sent == 13);
  CHECK(s.bytes_received == 3);
}
