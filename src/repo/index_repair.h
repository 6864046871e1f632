// Index repair: rewrites the repository's index objects from the packs themselves, for a
// repository whose index objects were lost or damaged (`repo check` reports chunks "not in any
// index object" and names the packs no index object lists). Every pack ends with a sealed
// header listing its blobs (repo/pack.h), so the packs alone say where every blob lives.
//
//   auto lock = RepoLock::Acquire(repo, /*exclusive=*/true);
//   auto stats = RepairIndex(repo, **lock, options);        // `repo index rebuild --read-packs`
//
// Steps:
//   1. read every index object: which packs each lists (the entries themselves are not kept);
//      one that reads back wrong (Corruption) is damaged; any other failure stops the repair;
//   2. read the header of every pack (two range reads each, several packs at once) and list
//      its blobs in new index objects; a pack whose header is damaged is listed as a readable
//      old index object listed it, else left out (its blobs stay unindexed); a pack that old
//      index objects list but the backend lacks (asked for by name, not only listed) keeps its
//      old listing, so that `repo check` goes on naming it; each of these is reported;
//   3. only once every new index object is stored: delete the old ones, damaged ones too (so
//      that they stop failing every command that syncs the index), unless some pack was left
//      unindexed: then damaged ones are kept, as they may be its only record;
//   4. bring the local index cache up to date (it rebuilds itself: merged objects are gone).
// A crash before step 3 leaves packs listed twice (harmless: readers take either listing, and
// prune handles them); a crash during it leaves a subset of the old objects beside the new
// ones. Running the repair again finishes the job. Any backend error before step 3 stops the
// repair with nothing deleted.
//
// Memory: one record per pack (its id and which old index object listed it), the headers of
// at most 64 packs read ahead, and one index object being built (at most
// kMaxBlobsPerIndexObject entries, repo/index_object.h).
//
// Thread safety: one call at a time per repository (the exclusive lock sees to that).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "repo/lock.h"
#include "repo/repository.h"

namespace pgdedup::repo {

struct IndexRepairOptions {
  // Called after each pack with the bytes of the packs done and of all packs.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct IndexRepairStats {
  uint64_t packs = 0;                 // packs in the repository
  uint64_t packs_from_headers = 0;    // listed from their own header
  uint64_t packs_from_old_index = 0;  // header unreadable; listed as an old index object had them
  uint64_t packs_unreadable = 0;      // neither: their blobs stay unindexed
  uint64_t packs_newly_indexed = 0;   // listed now, and by no readable index object before
  uint64_t packs_missing = 0;         // listed by old index objects, gone from the backend
  uint64_t blobs = 0;                 // blob entries in the new index objects
  uint64_t index_objects_read = 0;
  uint64_t index_objects_damaged = 0;
  uint64_t index_objects_written = 0;
  uint64_t index_objects_deleted = 0;
  // What the repair could not mend, a line each: packs whose header cannot be read, packs
  // gone from the backend, damaged index objects kept. Empty when every blob of every pack is
  // listed again from the packs themselves.
  std::vector<std::string> problems;
  // Damaged index objects, a line each (deleted unless a problem says they were kept).
  std::vector<std::string> replaced;
};

// REQUIRES: `lock` is an exclusive lock on `repo`. An error from the backend before step 3
// stops the repair with nothing deleted (run it again).
Result<IndexRepairStats> RepairIndex(Repository* repo, const RepoLock& lock,
                                     const IndexRepairOptions& options);

}  // namespace pgdedup::repo
