// BlobWriter's upload threads: full packs are stored beside the workers, never more at once than
// the writer was given, every blob is findable and readable after Flush, and a failed upload
// fails the run.
#include "repo/blob_writer.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "repo/local_backend.h"
#include "support/test_repo.h"

using namespace pgdedup;
using namespace pgdedup::repo;
using pgdedup::testing::TempDir;

namespace {

// A local backend whose pack puts take a while and are counted while under way; the Nth pack
// put (from 1; 0: none) fails as a full disk would.
class SlowPacks : public Backend {
 public:
  SlowPacks(std::unique_ptr<Backend> base, int fail_pack)
      : base_(std::move(base)), fail_(fail_pack) {}

  std::string Location() const override { return base_->Location(); }
  Status Put(const std::string& name, std::string_view data) override {
    if (name.rfind("data/", 0) != 0) return base_->Put(name, data);
    int n = ++puts_;
    int now = ++under_way_;
    int seen = most_.load();
    while (now > seen && !most_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    Status s = n == fail_ ? Status::IOError("No space left on device") : base_->Put(name, data);
    --under_way_;
    return s;
  }
  Result<std::string> Get(const std::string& name, uint64_t offset, uint64_t length) override {
    return base_->Get(name, offset, length);
  }
  Result<uint64_t> Size(const std::string& name) override { return base_->Size(name); }
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    return base_->List(prefix);
  }
  Status Delete(const std::string& name) override { return base_->Delete(name); }

  int most_at_once() const { return most_.load(); }
  int puts() const { return puts_.load(); }

 private:
  std::unique_ptr<Backend> base_;
  const int fail_;
  std::atomic<int> puts_{0}, under_way_{0}, most_{0};
};

struct Writer {
  Writer(const TempDir& dir, int fail_pack) {
    testing::MakeRepo(dir);  // packs of 1 MiB
    auto base = OpenBackend(dir.path() + "/repo");
    REQUIRE(base.ok());
    auto slow = std::make_unique<SlowPacks>(std::move(*base), fail_pack);
    backend = slow.get();
    repo = testing::OpenRepo(dir, std::move(slow));
    REQUIRE(repo->SyncIndex().ok());
  }
  SlowPacks* backend;
  std::unique_ptr<Repository> repo;
};

// Stores `count` incompressible 64 KiB blobs from `threads` threads; returns them in order and
// the first failure any Store returned.
Status StoreMany(Repository* repo, BlobWriter* writer, int threads, int count,
                 std::vector<std::string>* blobs) {
  for (int i = 0; i < count; ++i) blobs->push_back(testing::TestData(64 << 10, 100 + i, false));
  std::atomic<int> next{0};
  std::mutex mu;
  Status first;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        const std::string& b = (*blobs)[i];
        auto stored = writer->Store(BlobType::kData, BlobIdOf(repo->keys(), b), b);
        if (!stored.ok()) {
          std::lock_guard<std::mutex> l(mu);
          if (first.ok()) first = stored.status();
          return;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return first;
}

}  // namespace

TEST_CASE("packs are uploaded beside the workers, at most `uploads` at once", "[engine]") {
  for (int uploads : {1, 3}) {
    DYNAMIC_SECTION("uploads " << uploads) {
      TempDir dir;
      Writer w(dir, /*fail_pack=*/0);
      std::vector<std::string> blobs;
      {
        BlobWriter writer(w.repo.get(), uploads);
        REQUIRE(StoreMany(w.repo.get(), &writer, 4, 160, &blobs).ok());  // ~10 packs
        REQUIRE(writer.Flush().ok());
        CHECK(writer.stats().packs == static_cast<uint64_t>(w.backend->puts()));
        CHECK(writer.stats().new_blobs == blobs.size());
      }
      CHECK(w.backend->puts() >= 9);
      CHECK(w.backend->most_at_once() <= uploads);
      if (uploads > 1) CHECK(w.backend->most_at_once() > 1);
      for (const std::string& b : blobs) {
        auto back = w.repo->ReadBlob(BlobIdOf(w.repo->keys(), b));
        REQUIRE(back.ok());
        CHECK(*back == b);
      }
    }
  }
}

TEST_CASE("a failed pack upload fails the run, whichever call sees it", "[engine]") {
  for (int uploads : {1, 2}) {
    DYNAMIC_SECTION("uploads " << uploads) {
      TempDir dir;
      Writer w(dir, /*fail_pack=*/3);
      std::vector<std::string> blobs;
      BlobWriter writer(w.repo.get(), uploads);
      Status stored = StoreMany(w.repo.get(), &writer, 3, 160, &blobs);
      Status flushed = writer.Flush();
      REQUIRE_FALSE(flushed.ok());
      CHECK(flushed.message().find("No space left on device") != std::string::npos);
      CHECK(flushed.message().find("storing a pack") != std::string::npos);
      if (!stored.ok()) CHECK(stored.message() == flushed.message());
      // Nothing after the failure was stored: the run stopped there.
      CHECK(w.backend->puts() <= 3 + uploads);
    }
  }
}
