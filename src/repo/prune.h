// Prune: deletes the data that no snapshot needs, without ever endangering one that remains.
//
//   auto lock = RepoLock::Acquire(repo, /*exclusive=*/true);   // no backup may run meanwhile
//   ForgetSnapshots(repo, **lock, ids);                         // `forget`: drop manifests
//   auto stats = Prune(repo, **lock, options);                  // `prune`
//
// Phases (docs/ARCHITECTURE.md, "Prune"):
//   1. mark   — every blob the remaining snapshots need (LiveBlobMarker) into an on-disk set;
//   2. plan   — read every index object; give each live blob one pack to live in (the smallest
//               pack id among its copies); decide per pack: keep, repack (unused share above
//               max_unused), or delete (nothing live, or listed in no index object: left by an
//               interrupted backup or prune); then move the home of a blob stored twice to a
//               kept pack that holds it. Neither choice depends on the order index objects are
//               read in, so a prune right after a finished one finds nothing to do;
//   3. repack — copy the live blobs of the packs to repack (read by range: only them) into new
//               packs (sealed bytes copied unchanged, each verified first); write index objects
//               for the new packs;
//   4. index  — write index objects re-listing the kept packs of every index object that is
//               superseded (one listing a pack that goes away); only then
//   5. delete — the superseded index objects, then the packs to delete.
// Nothing is deleted before index objects covering every live blob in a pack that stays are
// durable, and a pack is deleted only after no index object lists it. So a crash at any point
// leaves every remaining snapshot restorable, and the next prune finishes the job (packs written
// by the interrupted run are unindexed or listed twice; both are handled).
//
// Prune refuses to delete anything when the repository is damaged in a way that hides what is
// live: an unreadable manifest or index object, a live blob that no index lists or whose packs
// are all missing, a live blob that fails verification while being repacked.
//
// Memory: the marks live in RocksDB (MarkSet); in RAM are one record per pack and per index
// object, one range of a pack being read (at most 8 MiB) and one pack being built.
//
// Thread safety: one call at a time per repository (the exclusive lock sees to that).
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "repo/lock.h"
#include "repo/repository.h"

namespace pgdedup::repo {

struct PruneOptions {
  // A pack whose unused bytes (blobs no snapshot needs, or copies of blobs kept elsewhere) are
  // more than this percentage of its blob bytes is repacked: its live blobs are copied into new
  // packs and it is deleted. Packs at or below it keep their unused bytes for a later prune.
  // Packs with nothing live are always deleted. Default: 50 ("mostly garbage"): repacking
  // rewrites the live part, so a lower value trades upload for space.
  double max_unused_percent = 50;
  // Plan only: compute and return the statistics, change nothing.
  bool dry_run = false;
  // Snapshots to treat as forgotten (a dry run of `forget --prune`, which deletes nothing).
  std::set<Id> assume_forgotten;
  // Scratch directory for the on-disk mark set (as large as the live blob ids; /tmp may be
  // memory). A prune that is not a dry run first removes what a killed run left there, so it
  // must be this repository's alone. Default: <repo->cache_root()>/prune-<repository id>.
  std::string work_dir;
  // Called with a short description of each phase.
  std::function<void(const std::string& phase)> phase;
  // Called while repacking with the bytes of packs read so far and the total to read.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct PruneStats {
  uint64_t snapshots = 0;   // snapshots whose blobs were kept
  uint64_t live_blobs = 0;  // distinct blobs they need
  uint64_t index_objects_before = 0;
  uint64_t index_objects_written = 0;
  uint64_t index_objects_deleted = 0;
  uint64_t packs_before = 0;
  uint64_t bytes_before = 0;  // bytes of all packs before
  uint64_t packs_kept = 0;    // unchanged (some may hold unused blobs below max_unused)
  uint64_t packs_repacked = 0;
  uint64_t packs_deleted = 0;    // indexed, with nothing live; deleted
  uint64_t packs_unindexed = 0;  // listed in no index object; deleted
  uint64_t packs_missing = 0;    // listed in an index object but absent; dropped from the index
  uint64_t packs_written = 0;    // new packs holding repacked blobs
  uint64_t blobs_repacked = 0;
  uint64_t bytes_repacked = 0;     // sealed bytes copied into new packs
  uint64_t bytes_unused_kept = 0;  // unused bytes left in kept packs
  uint64_t bytes_after = 0;        // bytes of all packs after (predicted for a dry run)
  uint64_t bytes_freed() const {
    return bytes_before > bytes_after ? bytes_before - bytes_after : 0;
  }
};

// Runs prune. REQUIRES: `lock` is an exclusive lock on `repo` (a shared one for a dry run),
// held for the whole call.
Result<PruneStats> Prune(Repository* repo, const RepoLock& lock, const PruneOptions& options);

// Deletes the manifests of `snapshots` (forget): their data stays until a prune. Stops at the
// first failure (the manifests deleted so far stay deleted). REQUIRES: `lock` is exclusive.
Status ForgetSnapshots(Repository* repo, const RepoLock& lock, const std::vector<Id>& snapshots);

}  // namespace pgdedup::repo
