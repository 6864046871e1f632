// The steps a database restore is made of, shared by the whole-database restore
// (database_restore.cc) and the restore of chosen tables (table_restore.cc).
//
// Every stream is verified chunk by chunk as it is read (repo/restore.h); an SQL script goes
// through psql with ON_ERROR_STOP, so its first error stops it and is reported.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "pg/connection.h"
#include "pg/database_restore.h"
#include "pg/dump_script.h"
#include "repo/repository.h"

namespace pgdedup::pg {

// The stream of a snapshot with this kind ("pre-data", "sequences", ...), or nullptr.
const repo::StreamInfo* FindStreamOfKind(const repo::Manifest& m, const std::string& kind);

// A whole stream in memory (for the schema scripts, which are small).
Result<std::string> ReadStream(repo::Repository* repo, const repo::StreamInfo& stream,
                               const DatabaseRestoreOptions& options);

// Feeds an SQL stream, or SQL text, to psql connected to the target. `what` names the script
// in errors.
Status RunSqlStream(repo::Repository* repo, const repo::StreamInfo& stream,
                    const DatabaseRestoreOptions& options);
Status RunSqlText(const std::string& sql, const std::string& what,
                  const DatabaseRestoreOptions& options);

struct LoadStats {
  uint64_t tables = 0;
  uint64_t rows = 0;
  uint64_t bytes = 0;
};

// Loads tables with COPY FROM STDIN on `options.jobs` connections at once, largest first. Each
// table is loaded in its own transaction (LoadTable), which for the tables in `truncate` begins
// with TRUNCATE ONLY, and commits only when the row count matches the manifest: a failed load
// leaves the table as it was. The first failure stops the others. `step` is called with each
// table as it starts.
Result<LoadStats> LoadTables(repo::Repository* repo, std::vector<const repo::StreamInfo*> tables,
                             const std::set<const repo::StreamInfo*>& truncate,
                             const DatabaseRestoreOptions& options,
                             const std::function<void(const std::string&)>& step);

// For the DDL connections of a restore on several connections at once. Those already keep as
// many server processes busy; a parallel index build or foreign-key check on top would start
// more processes than there are cores and split maintenance_work_mem between them (sorts then
// spill to disk): on 2 cores this cost a restore ~8% of its server CPU (docs/BENCHMARKS.md).
// The settings exist from PostgreSQL 11; on an older server this does nothing.
inline constexpr char kNoParallelWorkers[] =
    "SELECT pg_catalog.set_config('max_parallel_maintenance_workers', '0', false), "
    "pg_catalog.set_config('max_parallel_workers_per_gather', '0', false) "
    "WHERE pg_catalog.current_setting('server_version_num')::int >= 110000";

// A restore that creates its database (`create`: restore --create, and a drill's database)
// runs its working sessions (loads, index and constraint builds, ANALYZE, and psql for the
// schema scripts and large objects) with `synchronous_commit = off`: their commits do not wait for
// the WAL to reach disk. A restore commits once per pre-data statement (psql autocommits), table,
// index and ANALYZE, and on a server that syncs its WAL each of those waits was ~0.5 ms here: the
// pre-data script of 1,500 partitions ran in 7.4-13.0 s with them and 5.5-7.0 s without
// (docs/BENCHMARKS.md). Nothing is lost by it: such a database takes its name only at the end,
// by a commit on the maintenance connection (the rename, or the swap with --clean) that writes
// WAL after every one of those commits and so, with the server's own synchronous_commit, waits
// until all of them are flushed (and confirmed by synchronous standbys where the server asks
// for that). A crash before it ends the restore's sessions or, in the moment between the last
// of them and the rename's connection, shows as a new server start time there (PutInPlace):
// either way the restore fails and its database is not put in place. A drill's database is
// dropped at its end. A restore into an existing database (and --table) has no such closing
// commit, so its sessions commit as the server says.
inline constexpr char kAsyncCommit[] = "SET synchronous_commit = off";
// Runs kAsyncCommit on `c` when `options.create`; else does nothing.
Status SetUpWorkingSession(Connection* c, const DatabaseRestoreOptions& options);

// Opens a working session for loading table data (SetUpWorkingSession; for a data-only
// restore: with triggers and foreign keys disabled, as a replica loads).
Result<std::unique_ptr<Connection>> OpenLoader(const DatabaseRestoreOptions& options);

// Loads one table in one transaction: [TRUNCATE ONLY,] COPY FROM STDIN, row count check against
// the manifest, COMMIT. After TRUNCATE, the COPY is WITH (FREEZE). A failure rolls back and
// leaves the table as it was. With `into_existing` (restore --table: the table may have
// existed before the restore):
//   - unless truncated, the table is locked against writers and must still be empty (checked
//     with row-level security off, so rows a policy hides count too);
//   - its enabled user triggers are disabled for the load and enabled again, each in its own
//     mode, before the commit: restored rows are the backup's rows, not what an INSERT trigger
//     would make of them, and they are not audited or queued again. Foreign keys are still
//     checked.
Status LoadTable(repo::Repository* repo, Connection* c, const repo::StreamInfo& s, bool truncate,
                 const DatabaseRestoreOptions& options, bool into_existing = false);
// The same inside the caller's transaction (no BEGIN, COMMIT or ROLLBACK): for loads that
// must succeed or fail together.
Status LoadTableInTransaction(repo::Repository* repo, Connection* c, const repo::StreamInfo& s,
                              bool truncate, const DatabaseRestoreOptions& options,
                              bool into_existing);

// Runs fn(connection, i) for i in [0, count) on up to `options.jobs` working sessions at once
// (SetUpWorkingSession), each first running `setup` (if not empty). Items are taken in order;
// the first failure stops the others from taking more, and is returned once every connection
// is done.
Status ForEachOnConnections(const DatabaseRestoreOptions& options, size_t count,
                            const std::string& setup,
                            const std::function<Status(Connection*, size_t)>& fn);

// ANALYZE of every user table, partitioned table and materialized view of the target but those
// in `done` ((schema, name) pairs), spread over `options.jobs` connections (a whole-database
// ANALYZE runs on one), the largest first. A failed ANALYZE does not fail it (the rows are
// restored; what is missing is statistics): WarnAnalyzeFailed says so. Fails when the
// relations cannot be listed or a connection cannot be opened.
Status AnalyzeInParallel(const DatabaseRestoreOptions& options,
                         const std::set<std::pair<std::string, std::string>>& done = {});

// The warning for an ANALYZE of `name` (quoted) that failed with `s`, saying what to run.
void WarnAnalyzeFailed(const std::string& name, const Status& s);

// OK when the server `c` is connected to has every role and tablespace in `needs`; otherwise
// InvalidArgument naming each missing one (a role with what it is for), and what to do: create
// them, or restore with --no-owner (for owners), --no-privileges (for privileges) or
// --no-tablespaces; a policy's roles must exist either way. Called before a restore changes
// anything: psql would stop at the first missing one part way through the schema, and an
// operator restoring onto a new server learns them all at once here.
Status CheckServerHas(Connection* c, const ScriptNeeds& needs);

// The statement that puts `c` back in its own client encoding (Connection::ClientEncoding), the
// encoding of the COPY streams and of pgdedup's own SQL, after a script's preamble set the
// script's (snapshots taken before pg_dump ran with --encoding hold scripts in the database's
// encoding).
std::string SessionEncodingSql(const Connection* c);

// The qualified, quoted name of a table stream: "schema"."table".
std::string QualifiedName(Connection* c, const repo::StreamInfo& s);

}  // namespace pgdedup::pg
