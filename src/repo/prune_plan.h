// PrunePlan: phase 2 of prune (prune.h), private to prune.cc. Given the marks of every live
// blob, it reads the repository's index objects and decides where each live blob lives and
// what becomes of each pack and each index object:
//
//   PrunePlan plan(repo, marks, scratch_dir, max_unused_percent, &stats);
//   PGDEDUP_RETURN_IF_ERROR(plan.Build());
//   for (auto& [id, pack] : plan.packs()) ... pack.fate ...;   // then repack, index, delete
//
// The choices are the same whatever order index objects are read in (their ids change with
// every prune): a live blob's home is, of its copies in present packs in the form the index
// cache holds, the one in the pack with the smallest id; once the fates are known, a blob stored
// more than once moves to the kept pack with the smallest id that holds it, if one does. So a
// prune that follows a finished one finds nothing to do.
//
// Memory: one record per pack and per index object; homes live in the mark set (on disk), and
// blobs stored more than once in a second on-disk set, made only when there are some.
//
// Thread safety: one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "repo/index_object.h"
#include "repo/mark_set.h"
#include "repo/prune.h"
#include "repo/repository.h"

namespace pgdedup::repo {

enum class PackFate {
  kKeep,       // stays as it is
  kRepack,     // live blobs copied into new packs, then deleted
  kDelete,     // nothing live: deleted
  kUnindexed,  // in no index object (an interrupted backup or prune wrote it): deleted
  kMissing,    // listed by an index object but absent: dropped from the index
};

struct PackRecord {
  bool present = false;  // in data/
  bool indexed = false;  // listed by an index object (the first one read counts)
  uint64_t size = 0;     // object size, when present
  uint64_t blobs = 0;
  uint64_t blob_bytes = 0;
  // The live blobs whose home this pack is: what a repack copies.
  uint64_t live_blobs = 0;
  uint64_t live_bytes = 0;
  PackFate fate = PackFate::kKeep;
};

struct IndexRecord {
  Id id;
  std::vector<Id> packs;  // as listed
  bool retained = false;  // every pack it lists is kept and listed by no other retained object
};

class PrunePlan {
 public:
  // REQUIRES: `marks` holds every live blob with an empty value (LiveBlobMarker), marked
  // through the same synced index cache as `repo` has; repo, marks and stats outlive the plan.
  // `scratch_dir` is where a second on-disk set may be made.
  PrunePlan(Repository* repo, MarkSet* marks, std::string scratch_dir, double max_unused_percent,
            PruneStats* stats)
      : repo_(repo),
        marks_(marks),
        scratch_dir_(std::move(scratch_dir)),
        max_unused_percent_(max_unused_percent),
        stats_(stats) {}

  // Lists the packs, reads every index object, places every live blob and decides the fate of
  // every pack and index object; fills the plan's fields of *stats. On failure (an unreadable
  // index object, a live blob in no present pack) prune must delete nothing.
  Status Build();

  // The pack that keeps live blob `id`, or nullopt when `id` is not live.
  // REQUIRES: Build() returned OK.
  Result<std::optional<Id>> HomeOf(const Id& id);

  // Reads an index object; errors say that prune deleted nothing.
  Result<IndexObject> LoadIndex(const Id& id);

  // What a dry run reports as the bytes of all packs after prune.
  uint64_t PredictBytesAfter() const;

  std::map<Id, PackRecord>& packs() { return packs_; }
  const std::vector<IndexRecord>& index_objects() const { return index_objects_; }
  // Kept packs listed by a retained index object; prune adds those it re-lists.
  std::set<Id>& covered() { return covered_; }

 private:
  Status ListPacks();
  Status ReadIndexObjects();
  Status RecordDuplicate(const Id& blob, const std::string& first_home, const Id& pack,
                         uint32_t stored_length);
  Status CheckEveryLiveBlobPlaced();
  void DecideFates();
  Status ChooseHomes();
  void CountUnusedKept();
  void DecideRetainedIndexObjects();

  Repository* repo_;
  MarkSet* marks_;
  std::string scratch_dir_;
  double max_unused_percent_;
  PruneStats* stats_;
  std::unique_ptr<MarkSet> dups_;  // live blobs met more than once (made when one is)
  std::map<Id, PackRecord> packs_;
  std::vector<IndexRecord> index_objects_;
  std::set<Id> covered_;
};

}  // namespace pgdedup::repo
