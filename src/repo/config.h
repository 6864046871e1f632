// RepoConfig: the repository-wide settings fixed at `init`, stored as the sealed object
// "config". A second machine reads everything it needs to write compatible data from here.
//
//   config := version:u32 | repository_id[32] | chunker min:u32 avg:u32 max:u32 |
//             pack_size:u32 | compression_level:u32 | created:u64
//
// Thread safety: a value type.
#pragma once

#include <cstdint>
#include <string>

#include "chunker/fastcdc.h"
#include "common/result.h"
#include "repo/id.h"

namespace pgdedup::repo {

constexpr uint32_t kRepoVersion = 1;

struct RepoConfig {
  uint32_t version = kRepoVersion;
  // Random; names the local cache directory. Not secret.
  Id repository_id;
  chunker::ChunkerParams chunker = chunker::ChunkerParams::Default();
  // Target size of a pack. Default: 16 MiB.
  uint32_t pack_size = 16u << 20;
  // zstd level for new blobs. Default: 1: on dump text level 3 compressed no better (ratio 4.05
  // against 4.07 on a generated dump) and ran 25% slower (docs/BENCHMARKS.md), and compression
  // bounds the speed of backing up new data.
  uint32_t compression_level = 1;
  uint64_t created = 0;
};

std::string EncodeConfig(const RepoConfig& c);
// Corruption when malformed; InvalidArgument for a newer repository version than this build.
Result<RepoConfig> DecodeConfig(std::string_view plain);

}  // namespace pgdedup::repo
