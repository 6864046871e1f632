// Check: proves a repository intact, or names what is wrong.
//
// Without read_data: every key file matches its name and parses; every index object loads and
// matches its name; every pack an index lists exists and is long enough; every manifest loads
// and matches its name; every chunk of every snapshot is listed by an index object whose pack
// exists. With read_data, also: every pack is
// read whole, its bytes match its name, its header authenticates and agrees with the index, and
// every blob in it authenticates, decompresses and hashes to its id; chunks in damaged packs
// are then reported with the snapshots that need them.
//
// The check builds its own index from the index objects in a temporary directory: it never
// trusts the local cache.
//
// Thread safety: one call drives its own workers.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "repo/repository.h"

namespace pgdedup::repo {

struct CheckOptions {
  bool read_data = false;
  // Worker threads for read_data. Default: the machine's cores.
  int threads = 0;
  // Called with a short description of each phase.
  std::function<void(const std::string& phase)> progress;
};

// A chunk a snapshot needs that cannot be read as it is: unindexed, in a missing or damaged
// pack, damaged itself, or a delta with such a base somewhere in its chain; or a chunk list
// blob of the stream that cannot be read (then `chunk` is the list's id).
struct DamagedChunk {
  Id snapshot;
  std::string stream;
  Id chunk;
  std::string problem;  // e.g. "is a delta whose base <id> is in missing pack <id>"
};

struct CheckReport {
  // Damage: each names the object. At most kMaxErrorsPerStream lines for the chunks of one
  // stream (then a count); every one is in damaged_chunks.
  std::vector<std::string> errors;
  std::vector<std::string> warnings;  // harmless leftovers (unreferenced packs, stale files)
  uint64_t snapshots = 0;
  uint64_t index_objects = 0;
  uint64_t packs = 0;
  uint64_t blobs = 0;
  uint64_t packs_read = 0;
  uint64_t bytes_read = 0;
  // Every damaged chunk of every snapshot stream, up to kMaxDamagedChunks (their count is
  // damaged_chunks_total).
  std::vector<DamagedChunk> damaged_chunks;
  uint64_t damaged_chunks_total = 0;
  bool ok() const { return errors.empty(); }
};

// Lines of `errors` for the chunks of one stream, and damaged chunks listed in a report.
constexpr int kMaxErrorsPerStream = 5;
constexpr size_t kMaxDamagedChunks = 100000;

// Returns a report (OK status even when damage was found); a non-OK status only when the check
// itself could not run (e.g. the backend is unreachable).
Result<CheckReport> CheckRepository(Repository* repo, const CheckOptions& options);

}  // namespace pgdedup::repo
