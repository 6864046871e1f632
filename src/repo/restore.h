// Restore: writes a snapshot's stream back out, byte for byte.
//
// The chunk lists are read in order; a pool of workers fetches, authenticates, decompresses and
// verifies each chunk against its id, in batches of consecutive chunks (at most
// kRestoreMaxInFlight chunks at once, so memory stays bounded),
// and the calling thread writes them in order while hashing the stream. At the end the size,
// chunk count and SHA-256 must match the manifest. Any damaged or missing chunk stops the
// restore with Corruption naming the chunk and its pack: never a wrong byte silently.
//
// Thread safety: one call drives its own workers; the repository may be shared.
#pragma once

#include <functional>
#include <string_view>

#include "common/result.h"
#include "repo/manifest.h"
#include "repo/repository.h"

namespace pgdedup::repo {

using WriteFn = std::function<Status(std::string_view data)>;

struct RestoreOptions {
  // Worker threads. Default: the machine's cores.
  int threads = 0;
  // Called from the writing thread with the bytes written so far.
  std::function<void(uint64_t bytes_written)> progress;
};

// Chunks read at once, and at most how many go to a worker together (consecutive ones; fewer
// with many workers, so that each has two batches in flight).
constexpr size_t kRestoreMaxInFlight = 64;
constexpr size_t kRestoreBatch = 8;

// REQUIRES: repo->SyncIndex() returned OK.
Status RestoreStream(Repository* repo, const StreamInfo& stream, const WriteFn& write,
                     const RestoreOptions& options);

// Calls fn with each chunk id of the stream, in order (reads the chunk list blobs only).
Status ForEachChunkId(Repository* repo, const StreamInfo& stream,
                      const std::function<Status(const Id&)>& fn);

}  // namespace pgdedup::repo
