// BlobWriter: stores new blobs into packs and makes them findable, in commit order.
//
//   1. Store() seals a blob the repository does not have yet and appends it to the open pack;
//      a full pack (config.pack_size) goes to the writer's upload thread, so the workers go on
//      compressing while it is hashed, written and made durable. One pack at a time is in the
//      upload thread's hands: a Store that fills the next pack before that one is stored waits
//      (memory stays at two packs).
//   2. After its pack is uploaded, a blob waits in an index batch; every kPacksPerIndex packs,
//      and at Flush(), the batch becomes an index object, and only once that object is stored
//      is it merged into the local index cache.
//   3. Flush() uploads the last pack and writes the last index object. A manifest may refer to
//      the blobs only after Flush() returned OK.
// Until a blob's index object is stored it is "pending": Store() dedups against pending blobs
// too, so one backup never stores a blob twice, and the cache never claims a blob that no index
// object in the repository lists.
//
// After any failure every later call returns that failure: the run is abandoned and leaves only
// unreferenced packs (prune removes them).
//
// Thread safety: Store may be called concurrently; Flush only after every Store returned.
// Destroying a writer without Flush abandons the run: an upload under way completes, a pack
// waiting for upload is dropped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "repo/pack.h"
#include "repo/repository.h"

namespace pgdedup::repo {

struct BlobWriterStats {
  uint64_t new_blobs = 0;        // of any type
  uint64_t new_data_blobs = 0;   // chunks of streams (the rest are chunk lists)
  uint64_t new_delta_blobs = 0;  // of which stored as deltas
  uint64_t new_raw_bytes = 0;    // plaintext bytes of new blobs
  uint64_t stored_bytes = 0;     // bytes written to the repository (packs and index objects)
  uint64_t packs = 0;
  uint64_t index_objects = 0;
};

class BlobWriter {
 public:
  static constexpr int kPacksPerIndex = 16;

  // REQUIRES: repo->SyncIndex() returned OK; repo outlives the writer.
  explicit BlobWriter(Repository* repo);
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // A candidate base for storing a new blob as a delta: its entry and its plaintext.
  struct DeltaBase {
    BlobEntry entry;
    std::shared_ptr<const std::string> plaintext;
    // The delta is kept only when smaller than this share of the blob compressed whole.
    double max_share = 1.0;
  };
  // Called only for a blob that is new; nullopt when there is no candidate.
  using BaseFinder = std::function<std::optional<DeltaBase>()>;

  // Stores the blob unless the repository or this run already has it. Returns true when the
  // blob was new. The blob's id must be BlobIdOf(plaintext). With `find_base`, a new blob is
  // stored as a delta against the base it offers when that is smaller than storing it whole.
  Result<bool> Store(BlobType type, const Id& id, std::string_view plaintext,
                     const BaseFinder& find_base = nullptr);

  // Uploads the open pack and writes the index object for every pack not yet indexed.
  Status Flush();

  BlobWriterStats stats() const;
  // Ids of the index objects written so far.
  std::vector<Id> index_objects() const;

 private:
  struct FullPack {
    std::string bytes;
    std::vector<BlobEntry> entries;
  };
  Status Fail(Status s);
  // Gives a full pack to the upload thread, first waiting until the previous one is stored.
  void HandOff(FullPack pack);
  // Waits until the upload thread holds no pack.
  void WaitForUploads();
  void UploadLoop();
  Status UploadPack(std::string pack, std::vector<BlobEntry> entries);
  // REQUIRES: index_mu_ held.
  Status WriteIndexLocked();

  Repository* repo_;

  mutable std::mutex mu_;  // guards pending_, builder_, status_, stats_
  std::unordered_set<Id, IdHash> pending_;
  PackBuilder builder_;
  Status status_;
  BlobWriterStats stats_;

  mutable std::mutex index_mu_;  // guards batch_ and index_ids_; never taken while holding mu_
  IndexObject batch_;
  std::vector<Id> index_ids_;

  std::mutex upload_mu_;  // guards the three below; never taken while holding mu_
  std::condition_variable upload_cv_;
  std::optional<FullPack> upload_;  // the pack handed to the upload thread, until stored
  bool stopping_ = false;
  std::thread uploader_;  // last: started once everything above exists
};

}  // namespace pgdedup::repo
