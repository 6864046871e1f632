// The S3 backend's parts that need no server (location syntax, the XML it reads and writes, the
// read-ahead decorator over a local directory), and — tagged [.s3server], run by
// tests/integration/s3_backend_test.sh with a real s3rver — the Backend contract on a bucket:
// ranges, short reads, missing objects, idempotent deletes, listings of more than one page,
// batch deletes, and the request counters.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "repo/crypto.h"
#include "repo/local_backend.h"
#include "repo/object_cache_backend.h"
#include "repo/read_ahead_backend.h"
#include "repo/s3_backend.h"
#include "repo/s3_xml.h"
#include "support/test_repo.h"

using namespace pgdedup;
using namespace pgdedup::repo;

TEST_CASE("S3 locations parse into endpoint, bucket and prefix", "[s3]") {
  auto o = ParseS3Location("s3:https://s3.eu-west-1.amazonaws.com:443/my-bucket/some/dir/");
  REQUIRE(o.ok());
  CHECK(o->scheme == "https");
  CHECK(o->host == "s3.eu-west-1.amazonaws.com:443");
  CHECK(o->bucket == "my-bucket");
  CHECK(o->prefix == "some/dir/");
  auto bare = ParseS3Location("s3:http://127.0.0.1:9000/b1");
  REQUIRE(bare.ok());
  CHECK(bare->prefix.empty());
  for (const char* bad :
       {"s3:127.0.0.1/bucket", "s3:http://host", "s3:http://host/", "s3:http://host/bucket?x=1",
        "s3:http://user@host/bucket", "s3:http://host/bu cket", "s3:http://host/b/../x"}) {
    INFO(bad);
    CHECK(ParseS3Location(bad).status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("S3 XML: list pages, errors and delete requests", "[s3]") {
  auto page = ParseS3ListPage(
      "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name><IsTruncated>true</IsTruncated>"
      "<Contents><Key>p/data/a&amp;b</Key><Size>12</Size></Contents>"
      "<Contents><Key>p/keys/k</Key><LastModified>x</LastModified><Size>0</Size></Contents>"
      "<NextContinuationToken>1/a+b=</NextContinuationToken></ListBucketResult>");
  REQUIRE(page.ok());
  REQUIRE(page->objects.size() == 2);
  CHECK(page->objects[0].name == "p/data/a&b");
  CHECK(page->objects[0].size == 12);
  CHECK(page->objects[1].size == 0);
  CHECK(page->truncated);
  CHECK(page->next_token == "1/a+b=");
  CHECK(ParseS3ListPage("<Error><Code>x</Code></Error>").status().IsCorruption());
  CHECK(ParseS3ListPage("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")
            .status()
            .IsCorruption());

  S3Error e =
      ParseS3Error("<Error><Code>SlowDown</Code><Message>a &lt;b&gt; &#233;</Message></Error>");
  CHECK(e.code == "SlowDown");
  CHECK(e.message == "a <b> \xC3\xA9");
  CHECK(ParseS3Error("<ListBucketResult/>").code.empty());

  std::string body = S3DeleteRequest({"a<b", "c"});
  CHECK(body.find("<Key>a&lt;b</Key>") != std::string::npos);
  CHECK(body.find("<Quiet>true</Quiet>") != std::string::npos);
  auto errors = ParseS3DeleteErrors(
      "<DeleteResult><Error><Key>k1</Key><Code>AccessDenied</Code><Message>no</Message></Error>"
      "</DeleteResult>");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].first == "k1");
  CHECK(errors[0].second.code == "AccessDenied");
}

TEST_CASE("read-ahead serves a pack's blobs from a few large reads", "[s3]") {
  testing::TempDir dir;
  auto local = LocalBackend::Open(dir.path() + "/r", true);
  REQUIRE(local.ok());
  std::string pack = testing::TestData(1000000, 3, /*text=*/false);
  REQUIRE((*local)->Put("data/aa/pack", pack).ok());
  REQUIRE((*local)->Put("index/x", "index bytes").ok());
  ReadAheadOptions options;
  options.window_size = 256 * 1024;
  options.cache_bytes = 4 << 20;
  ReadAheadBackend ra(std::move(*local), options);

  // 1000 blobs of 1000 bytes, read in order by four threads taking turns (as restore's workers
  // do): every byte comes back right, and the pack is fetched in about size / window reads,
  // each byte once, not in 1000 reads.
  auto read_all = [&](auto offset_of) {
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < 1000; i += 4) {
          uint64_t off = offset_of(i);
          auto got = ra.Get("data/aa/pack", off, 1000);
          if (!got.ok() || *got != pack.substr(off, 1000)) wrong++;
        }
      });
    }
    for (auto& t : threads) t.join();
    return wrong.load();
  };
  CHECK(read_all([](int i) { return static_cast<uint64_t>(i) * 1000; }) == 0);
  BackendStats s = ra.stats();
  CHECK(s.gets <= 8);  // 4 windows, the local GetUpTo's second read at the end, a sliver
  CHECK(s.bytes_received <= pack.size() + 4 * 1000);
  // Shuffled reads are served right too (at a cost in requests).
  CHECK(read_all([](int i) { return static_cast<uint64_t>((i * 7919) % 1000) * 1000; }) == 0);

  // A range past the end is still a short read; other objects and whole reads pass through.
  CHECK(ra.Get("data/aa/pack", 999500, 1000).status().IsCorruption());
  CHECK(*ra.Get("index/x", 0, 5) == "index");
  CHECK(ra.Get("data/aa/missing", 0, 10).status().IsNotFound());
  // A replaced object is not served from stale windows.
  REQUIRE(ra.Put("data/aa/pack", std::string(1000000, 'z')).ok());
  CHECK(*ra.Get("data/aa/pack", 5000, 3) == "zzz");
}

namespace {

// The bucket of the s3rver the test script started (s3_backend_test.sh), under a fresh prefix.
std::unique_ptr<Backend> TestBucket(const std::string& prefix) {
  const char* endpoint = std::getenv("S3_ENDPOINT");
  const char* bucket = std::getenv("S3_BUCKET");
  REQUIRE(endpoint != nullptr);
  REQUIRE(bucket != nullptr);
  auto options = ParseS3Location(std::string("s3:") + endpoint + "/" + bucket + "/" + prefix);
  REQUIRE(options.ok());
  REQUIRE(ApplyS3Environment(&*options).ok());
  if (const char* ca = std::getenv("S3_CACERT")) options->cacert = ca;
  auto backend = S3Backend::Open(*options, false);
  REQUIRE(backend.ok());
  return std::move(*backend);
}

}  // namespace

TEST_CASE("the S3 backend keeps the Backend contract", "[.s3server]") {
  auto backend = TestBucket("contract-" + std::to_string(std::rand()));
  std::string big = testing::TestData(3 << 20, 5, /*text=*/false);
  REQUIRE(backend->Put("data/ab/big", big).ok());
  REQUIRE(backend->Put("keys/k", "0123456789").ok());
  REQUIRE(backend->Put("snapshots/empty", "").ok());
  CHECK(*backend->Get("data/ab/big") == big);
  CHECK(*backend->Get("keys/k", 3, 4) == "3456");
  CHECK(*backend->Get("keys/k", 4) == "456789");
  CHECK(*backend->Get("keys/k", 10, 0) == "");
  CHECK(*backend->Get("snapshots/empty") == "");
  CHECK(*backend->Get("data/ab/big", 1 << 20, 1 << 20) == big.substr(1 << 20, 1 << 20));
  CHECK(*backend->Size("data/ab/big") == big.size());
  CHECK(*backend->Size("snapshots/empty") == 0);
  CHECK(backend->Get("keys/k", 8, 5).status().IsCorruption());   // short read
  CHECK(backend->Get("keys/k", 12, 5).status().IsCorruption());  // starts past the end
  CHECK(*backend->GetUpTo("keys/k", 8, 5) == "89");
  CHECK(*backend->GetUpTo("keys/k", 10, 5) == "");
  CHECK(backend->Get("keys/missing").status().IsNotFound());
  CHECK(backend->Size("keys/missing").status().IsNotFound());

  auto all = backend->List("");
  REQUIRE(all.ok());
  std::set<std::string> names;
  for (const auto& o : *all) names.insert(o.name);
  CHECK(names == std::set<std::string>{"data/ab/big", "keys/k", "snapshots/empty"});
  auto keys = backend->List("keys/");
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  CHECK((*keys)[0].size == 10);

  CHECK(backend->Delete("keys/k").ok());
  CHECK(backend->Delete("keys/k").ok());  // idempotent
  CHECK(backend->Get("keys/k").status().IsNotFound());

  BackendStats s = backend->stats();
  CHECK(s.puts == 3);
  CHECK(s.deletes == 2);
  CHECK(s.lists == 2);
  CHECK(s.retries == 0);
  CHECK(s.bytes_sent == big.size() + 10);
  CHECK(s.bytes_received >= big.size() + (1 << 20) + 10);
}

TEST_CASE("S3 listings page past 1000 objects and deletes go in batches", "[.s3server]") {
  auto backend = TestBucket("many-" + std::to_string(std::rand()));
  constexpr int kObjects = 1234;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kObjects; i += 8) {
        if (!backend->Put("index/" + std::to_string(100000 + i), std::to_string(i)).ok()) failed++;
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(failed.load() == 0);
  REQUIRE(backend->Put("other/x", "x").ok());

  BackendStats before = backend->stats();
  auto listed = backend->List("index/");
  INFO(listed.status().ToString());
  REQUIRE(listed.ok());
  CHECK(backend->stats().lists - before.lists == 2);  // 1000 + 234
  std::set<std::string> names;
  for (const auto& o : *listed) names.insert(o.name);
  CHECK(names.size() == kObjects);
  CHECK(names.count("index/100000") == 1);
  CHECK(names.count("index/101233") == 1);

  std::vector<std::string> doomed(names.begin(), names.end());
  doomed.push_back("index/never-existed");
  before = backend->stats();
  Status deleted = backend->DeleteAll(doomed);
  INFO(deleted.ToString());
  REQUIRE(deleted.ok());
  // Two DeleteObjects requests (1000 + 235), plus any retries: s3rver 3.7.1 deletes a batch's
  // keys in parallel and races with itself removing the emptied directory, answering 500 now
  // and then — retried like any 500.
  BackendStats after = backend->stats();
  CHECK(after.deletes - before.deletes - (after.retries - before.retries) == 2);
  auto left = backend->List("");
  REQUIRE(left.ok());
  REQUIRE(left->size() == 1);
  CHECK((*left)[0].name == "other/x");
}

TEST_CASE("the object cache keeps key files and manifests, and never believes a bad copy", "[s3]") {
  testing::TempDir dir;
  auto local = LocalBackend::Open(dir.path() + "/r", true);
  REQUIRE(local.ok());
  std::string manifest = "a sealed manifest";
  std::string name = "snapshots/" + Sha256(manifest).Hex();
  REQUIRE((*local)->Put(name, manifest).ok());
  REQUIRE((*local)->Put("locks/abc", "lock").ok());
  ObjectCacheBackend cache(std::move(*local), dir.path() + "/cache");
  Backend& b = cache;  // the interface, with its default arguments

  CHECK(*b.Get(name) == manifest);  // fetched and kept
  uint64_t gets = cache.stats().gets;
  CHECK(*b.Get(name) == manifest);  // from the copy
  CHECK(cache.stats().gets == gets);
  CHECK(*b.Get("locks/abc") == "lock");  // not cached
  CHECK(*b.Get("locks/abc") == "lock");
  CHECK(cache.stats().gets == gets + 2);

  // A damaged copy is not believed: the object is fetched again.
  {
    std::ofstream out(dir.path() + "/cache/" + name, std::ios::trunc);
    out << "tampered";
  }
  CHECK(*b.Get(name) == manifest);
  CHECK(cache.stats().gets == gets + 3);

  // Gone from the backend (another machine's prune): a listing drops the copy.
  std::string other = "snapshots/" + Sha256("another").Hex();
  REQUIRE(cache.Put(other, "another").ok());
  CHECK(std::filesystem::exists(dir.path() + "/cache/" + other));
  auto base = LocalBackend::Open(dir.path() + "/r", false);
  REQUIRE(base.ok());
  REQUIRE((*base)->Delete(other).ok());
  REQUIRE(cache.List("snapshots/").ok());
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/cache/" + other));
  CHECK(std::filesystem::exists(dir.path() + "/cache/" + name));
  REQUIRE(cache.Delete(name).ok());
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/cache/" + name));
  CHECK(b.Get(name).status().IsNotFound());
}
