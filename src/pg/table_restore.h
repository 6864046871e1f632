// TableRestore: brings chosen tables of a native snapshot back into an existing database
// (`restore --db ... --table T`), leaving every other table alone.
//
// For each table named (SCHEMA.TABLE, or TABLE when one schema has it; a partitioned table
// stands for its partitions):
//   - missing in the target: it is created from the snapshot's schema (its CREATE TABLE,
//     sequences, defaults, comments and grants; its schema too when missing), loaded, and then
//     given its constraints, indexes, triggers, rules and policies; its foreign keys are added
//     last, and one that cannot be (the table it references is missing, say) is a warning;
//   - present and empty: loaded;
//   - present with rows: refused, unless `clean`: then TRUNCATE ONLY and the load run in one
//     transaction, so a failed load leaves the old rows in place.
// The sequences the restored tables own are set to their values in the snapshot. Each restored
// table is ANALYZEd. Nothing is changed before every table named has been checked (and the
// roles the tables to create need: CheckServerHas). Each table is created in one
// transaction, and when anything after that fails, the tables (and schemas) the restore
// created are dropped again: none is left half made, without its rows, indexes or policies,
// for a later attempt to take for an existing table. An interrupt (SIGINT, SIGTERM, SIGHUP)
// does the same before the process ends: no step starts after it, a creation under way is
// waited for, the restore's sessions still holding locks on the created tables are ended, and
// the tables dropped. Only SIGKILL leaves them.
#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "pg/database_restore.h"
#include "repo/repository.h"

namespace pgdedup::pg {

// REQUIRES: options.tables is not empty; the target database exists.
Result<DatabaseRestoreStats> RestoreTables(repo::Repository* repo,
                                           const repo::SnapshotRef& snapshot,
                                           const DatabaseRestoreOptions& options);

}  // namespace pgdedup::pg
