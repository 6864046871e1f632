// A repository of "nightly" snapshots of one evolving stream, for prune tests: each night
// rewrites a region of the previous night's bytes and appends a little, so consecutive
// snapshots share most chunks and forgetting some leaves packs partly and wholly unused.
// Header-only test support.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "repo/check.h"
#include "repo/lock.h"
#include "repo/prune.h"
#include "support/test_repo.h"

namespace pgdedup::testing {

struct Night {
  repo::Id id;
  std::string data;
};

// Backs up `count` nights (1 day apart from `first_time`) of a stream of ~`size` random bytes.
inline std::vector<Night> BackUpNights(repo::Repository* repo, int count, size_t size = 2 << 20,
                                       int64_t first_time = 1767225600 /* 2026-01-01 */) {
  std::vector<Night> nights;
  std::string data = TestData(size, 1000, /*text=*/false);
  for (int i = 0; i < count; ++i) {
    if (i > 0) {
      // Rewrite a quarter of the stream at a place that moves every night, and append 32 KiB.
      size_t at = (static_cast<size_t>(i) * size / 5) % (data.size() - size / 4);
      std::string fresh = TestData(size / 4, 2000 + i, false);
      data.replace(at, fresh.size(), fresh);
      data += TestData(32 << 10, 3000 + i, false);
    }
    auto id = BackupBytes(repo, "s", data, first_time + int64_t{86400} * i);
    INFO(id.status().ToString());
    REQUIRE(id.ok());
    nights.push_back({*id, data});
  }
  return nights;
}

// Bytes of all packs in the repository at dir/repo.
inline uint64_t PackBytes(const TempDir& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() + "/repo/data")) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

// Every listed night restores byte for byte and `check --read-data` finds no error.
inline void ExpectRestorable(repo::Repository* repo, const std::vector<Night>& nights) {
  for (const Night& n : nights) {
    auto back = RestoreBytes(repo, n.id, "s");
    INFO("snapshot " << n.id.ShortHex() << ": " << back.status().ToString());
    REQUIRE(back.ok());
    CHECK(*back == n.data);
  }
  auto report = repo::CheckRepository(repo, {.read_data = true});
  REQUIRE(report.ok());
  for (const auto& e : report->errors) UNSCOPED_INFO(e);
  CHECK(report->ok());
}

}  // namespace pgdedup::testing
