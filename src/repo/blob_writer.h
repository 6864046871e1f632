// BlobWriter: stores new blobs into packs and makes them findable, in commit order.
//
//   1. Store() seals a blob the repository does not have yet and appends it to the open pack;
//      a full pack (config.pack_size) goes to the writer's upload threads, so the workers go on
//      compressing while it is hashed, stored and made durable. At most `uploads` finished
//      packs exist at a time: a full pack is finished only once an upload slot is free, and
//      until then every Store that has a blob to add waits (memory: 1 + `uploads` packs).
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
// Destroying a writer without Flush abandons the run: uploads under way complete, packs waiting
// for upload are dropped. REQUIRES: no Store or Flush is running then.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
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

  // REQUIRES: repo->SyncIndex() returned OK; repo outlives the writer; uploads >= 1. One
  // upload at a time keeps a local disk busy; a bucket takes several at once.
  explicit BlobWriter(Repository* repo, int uploads = 1);
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // A candidate base for storing a new blob as a delta: its entry and its plaintext.
  struct DeltaBase {
    BlobEntry entry;
    std::shared_ptr<const std::string> plaintext;
    // The delta is kept only when smaller than this share of the blob compressed whole.
    double max_share = 1.0;
    // The zstd level of the delta; 0: the repository's compression level.
    int level = 0;
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
  // Waits for an upload slot, then finishes the open pack and takes the slot. Returns an empty
  // pack if the run failed meanwhile. REQUIRES: l holds mu_.
  FullPack FinishPackLocked(std::unique_lock<std::mutex>& l);
  // Gives a finished pack to the upload threads.
  void HandOff(FullPack pack);
  void UploadLoop();
  Status UploadPack(const std::string& pack, std::vector<BlobEntry> entries);
  // REQUIRES: index_mu_ held.
  Status WriteIndexLocked();

  Repository* repo_;

  const int max_uploads_;
  mutable std::mutex mu_;            // guards pending_, builder_, status_, stats_, packs_out_
  std::condition_variable pack_cv_;  // packs_out_ fell, the open pack was emptied, or a failure
  std::unordered_set<Id, IdHash> pending_;
  PackBuilder builder_;
  Status status_;
  BlobWriterStats stats_;
  int packs_out_ = 0;  // finished packs not yet stored (or dropped)

  mutable std::mutex index_mu_;  // guards batch_ and index_ids_; never taken while holding mu_
  IndexObject batch_;
  std::vector<Id> index_ids_;

  std::mutex upload_mu_;  // guards the two below; never held together with another lock
  std::condition_variable upload_cv_;
  std::deque<FullPack> upload_queue_;  // finished, no upload thread has taken it yet
  bool stopping_ = false;
  std::vector<std::thread> uploaders_;  // last: started once everything above exists
};

}  // namespace pgdedup::repo
