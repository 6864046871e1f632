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
#include <vector>

#include "common/result.h"
#include "pg/connection.h"
#include "pg/database_restore.h"
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
// table is loaded in its own transaction, which for the tables in `truncate` begins with
// TRUNCATE ONLY, and commits only when the row count matches the manifest: a failed load
// leaves the table as it was. The first failure stops the others. `step` is called with each
// table as it starts.
Result<LoadStats> LoadTables(repo::Repository* repo, std::vector<const repo::StreamInfo*> tables,
                             const std::set<const repo::StreamInfo*>& truncate,
                             const DatabaseRestoreOptions& options,
                             const std::function<void(const std::string&)>& step);

// Runs a snapshot's post-data script. With more than one job, its indexes and its primary-key,
// unique, check and exclusion constraints are built first, on `options.jobs` connections at
// once (as pg_restore -j does): each table's in turn on one connection, the tables largest
// first by `table_bytes` (keyed "schema"."table" as the dump quotes it; tables not in it count
// as empty). The rest of the script (foreign keys, which need those indexes; index
// attachments; triggers, rules, comments, ...) then runs through psql in the dump's order. With
// one job, the whole script goes through psql as it is.
Status RunPostData(const std::string& post_data, const std::map<std::string, uint64_t>& table_bytes,
                   const DatabaseRestoreOptions& options);

// ANALYZE of every user table, partitioned table and materialized view of the target, spread
// over `options.jobs` connections (a whole-database ANALYZE runs on one).
Status AnalyzeInParallel(const DatabaseRestoreOptions& options);

// The qualified, quoted name of a table stream: "schema"."table".
std::string QualifiedName(Connection* c, const repo::StreamInfo& s);

}  // namespace pgdedup::pg
