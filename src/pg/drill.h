// Drill: proves a native snapshot restores, and measures how long it takes (the recovery time
// an operator can promise). It restores the snapshot into a temporary database on the server
// the maintenance conninfo reaches, then re-reads every table in the backup's order and checks
// its row count and stream digest against the manifest (so every byte must have come back),
// reports the time of each phase, and drops the temporary database whatever happened.
//
// Thread safety: one call drives everything from the calling thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "pg/database_restore.h"
#include "repo/repository.h"

namespace pgdedup::pg {

struct DrillOptions {
  std::string maintenance_conninfo;  // a database on the server to create the temporary one from
  // As restore's: connections loading tables at once, and worker threads decoding streams
  // (default: the machine's cores).
  int jobs = 0;
  int threads = 0;
  // As restore's (DatabaseRestoreOptions::omit): for a drill on a server that lacks the
  // source's roles or tablespaces.
  ScriptOmissions omit;
  std::function<void(const std::string&)> progress;
};

struct DrillReport {
  std::string database;  // the temporary database (dropped by the time this returns)
  DatabaseRestoreStats restore;
  double seconds_verify = 0;
  uint64_t tables_in_backup = 0;        // the snapshot's tables (with their rows)
  uint64_t tables_verified = 0;         // of them, found after the restore and read back
  std::vector<std::string> mismatches;  // empty when every table matched
  bool ok() const { return mismatches.empty(); }
};

// A report (mismatches listed) when the drill ran; a non-OK status when it could not run.
Result<DrillReport> Drill(repo::Repository* repo, const repo::SnapshotRef& snapshot,
                          const DrillOptions& options);

}  // namespace pgdedup::pg
