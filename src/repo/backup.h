// Backup: turns byte streams into a snapshot.
//
//   auto session = BackupSession::Start(repo, options);   // takes a shared lock
//   session->AddStream("shop.sql", reader);                // any number of streams
//   auto snapshot_id = session->Commit(manifest);          // packs, index, then the manifest
//
// The pipeline: the calling thread reads, hashes the whole stream (SHA-256) and cuts chunks
// (FastCDC); a pool of workers computes each chunk's id, skips chunks the repository already
// has, and compresses, seals and packs the rest (BlobWriter). At most kMaxInFlight chunks are
// in flight, so memory stays bounded whatever the stream size. The ordered chunk ids become the
// stream's chunk list blobs.
//
// If anything fails, the session is abandoned: nothing refers to what it wrote, no snapshot
// appears, and every earlier snapshot is untouched.
//
// Thread safety: streams may be added from several threads at once (a native backup copies
// tables on several connections); Commit and stats only after every AddStream returned.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "common/result.h"
#include "common/thread_pool.h"
#include "repo/blob_writer.h"
#include "repo/delta_planner.h"
#include "repo/lock.h"
#include "repo/manifest.h"
#include "repo/repository.h"

namespace pgdedup::repo {

// Reads up to n bytes into buf; returns the count, 0 at end of stream.
using ReadFn = std::function<Result<size_t>(char* buf, size_t n)>;

// Chosen by measurement (docs/BENCHMARKS.md, "Delta chunks").
constexpr int kDefaultDeltaDepth = 8;

struct BackupOptions {
  // Worker threads for hashing, compression and encryption. Default: the machine's cores.
  int threads = 0;
  // Called with the total bytes read so far (for progress); calls are serialised.
  std::function<void(uint64_t bytes_read)> progress;
  // Store a new chunk as a delta against the chunk at the same place of the same stream in the
  // parent snapshot when that is smaller (delta_planner.h). The parent of a stream is the
  // newest snapshot that has a stream of that name and that `parent_filter` accepts (default:
  // any).
  bool deltas = true;
  std::function<bool(const Manifest&)> parent_filter;
  // The longest delta chain a backup makes (at most kMaxDeltaDepth). Restore reads every base
  // of a chain, so each level costs restore speed; see FindBase in backup.cc for what happens
  // at the bound.
  int max_delta_depth = kDefaultDeltaDepth;
  // For a stream read from a regular file (AddStreamFromFd): predict that the parent's chunks
  // come again and check each by its id instead of chunking (cut_predictor.h). The chunks are
  // the same either way; false chunks everything (tests compare the two). Never on a remote
  // backend: the parent's chunk list is read first, which on a bucket costs requests and
  // downloads even when nothing changed.
  bool predict_cuts = true;
};

struct BackupStats {
  uint64_t bytes_read = 0;
  uint64_t chunks = 0;
  uint64_t predicted_chunks = 0;  // of those, the parent's cuts checked instead of chunked
  BlobWriterStats writer;
};

// Chunks and hashes a stream exactly as a backup would, storing nothing, and returns its size,
// chunk count and digest (the other StreamInfo fields are empty): a restored database can be
// compared with the manifest this way (`drill`).
Result<StreamInfo> DigestStream(Repository* repo, const ReadFn& read);

class BackupSession {
 public:
  // Chunks handed to the workers and not yet written into the chunk list. Bounds memory: per
  // stream, (kMaxInFlight + 16 chunks of a batch being gathered) * max chunk size.
  static constexpr size_t kMaxInFlight = 64;
  // Bytes asked of the reader at a time.
  static constexpr size_t kReadSize = 128 << 10;

  // Syncs the index cache and takes a shared lock. REQUIRES: repo outlives the session.
  static Result<std::unique_ptr<BackupSession>> Start(Repository* repo,
                                                      const BackupOptions& options);
  ~BackupSession();

  // Reads `read` to its end as a stream called `name` (unique within the snapshot).
  Result<StreamInfo> AddStream(const std::string& name, const ReadFn& read);
  // The same for a file descriptor. A regular file read from its start is mapped and chunked in
  // place (nothing is copied unless new, and pages are released as they are hashed); anything
  // else (a pipe) is read.
  Result<StreamInfo> AddStreamFromFd(const std::string& name, int fd);

  // The stream added under `name`, to annotate (native backups record what a stream holds);
  // nullptr if there is none.
  StreamInfo* MutableStream(const std::string& name);
  // The streams added so far, in the order they were added (or as OrderStreams set).
  std::vector<StreamInfo> streams() const;
  // Puts the streams named in `names` first, in that order (streams added concurrently finish
  // in any order; the manifest should not depend on that).
  void OrderStreams(const std::vector<std::string>& names);
  // Hex of the repository's keyed hash of `label`: a name that is stable for this repository
  // and unpredictable without its keys.
  std::string KeyedName(const std::string& label) const {
    return BlobIdOf(repo_->keys(), label).Hex();
  }

  // Flushes packs and index objects, then writes the manifest (its streams are the ones added;
  // other fields come from `manifest`). Returns the snapshot id.
  Result<Id> Commit(Manifest manifest);

  BackupStats stats() const;

 private:
  class ChunkQueue;
  Status LoadParents();
  // The delta planner for a stream: nullptr when it has no parent.
  Result<std::unique_ptr<DeltaPlanner>> PlannerFor(const std::string& name);
  BackupSession(Repository* repo, const BackupOptions& options);
  // Reserves a stream name; InvalidArgument if taken or empty.
  Status ReserveName(const std::string& name);
  void AddRead(uint64_t n);
  void Finished(const StreamInfo& info);

  Repository* repo_;
  BackupOptions options_;
  std::unique_ptr<RepoLock> lock_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<BlobWriter> writer_;
  mutable std::mutex mu_;  // guards names_, streams_, bytes_read_, chunks_ and progress calls
  std::set<std::string> names_;
  std::deque<StreamInfo> streams_;             // a deque: MutableStream's pointers stay valid
  std::map<std::string, StreamInfo> parents_;  // stream name -> the parent's stream
  int max_delta_depth_ = kDefaultDeltaDepth;
  int delta_level_ = 0;  // 0: the repository's compression level
  uint64_t bytes_read_ = 0;
  uint64_t chunks_ = 0;
  std::atomic<uint64_t> predicted_chunks_{0};
};

}  // namespace pgdedup::repo
