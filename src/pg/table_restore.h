// TableRestore: brings chosen tables of a native snapshot back into an existing database
// (`restore --db ... --table T`), leaving every other table alone.
//
// For each table named (SCHEMA.TABLE, or TABLE when one schema has it; a partitioned table
// stands for its partitions):
//   - missing in the target: it is created from the snapshot's schema (its CREATE TABLE,
//     sequences, defaults, comments and grants; its schema too when missing, in a transaction
//     of its own), loaded, its sequences set, and given its constraints, indexes, triggers,
//     rules and policies. Every table to create goes in one transaction on one connection,
//     its objects in the dump's order (what one table's objects need of another's is there):
//     the tables exist whole once it commits, or not at all, whatever happens to pgdedup (even
//     SIGKILL: the server rolls back). A large partitioned tree holds a lock per partition and
//     index until the commit (max_locks_per_transaction). Foreign keys are added after every
//     table is in, and one that cannot be (the table it references is missing, say) is a
//     warning;
//   - present and empty: loaded;
//   - present with rows: refused, unless `clean`: then TRUNCATE ONLY and the load run in one
//     transaction, so a failed load leaves the old rows in place.
// The sequences the restored tables own are set to their values in the snapshot. Each restored
// table is ANALYZEd. Nothing is changed before every table named has been checked (and the
// roles the tables to create need: CheckServerHas). When a step after the creation fails, the
// tables (and schemas) the restore created are dropped again, so that a later attempt does not
// find them existing and empty and load them without what had not run. An interrupt (SIGINT,
// SIGTERM, SIGHUP) does the same before the process ends: no step starts after it, the
// restore's statements under way are cancelled (the creation, if not committed, rolls back), a
// COMMIT under way is waited for, and the committed tables are dropped (the drop waits at
// most 10 s for a lock another session holds, and names what it could not drop). The loads
// of existing tables are not cancelled: each commits whole or not at all.
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
