// DatabaseRestore: brings a native snapshot back into a database.
//
//   1. the target: with `create`, CREATE DATABASE (refused if it exists, unless `clean`, which
//      drops it first) with the snapshot's encoding and collation; without it, the target must
//      exist and hold no user objects (refused otherwise: this is where operators lose data)
//      unless `clean`, which first drops every user object in it (one transaction) — or, for
//      `data_only`, hold every table of the snapshot, empty. With `tables`, only those tables
//      are restored, into the existing database (table_restore.h);
//   2. pre-data.sql through psql (ON_ERROR_STOP), without ownership or privileges when asked
//      (`omit`; the roles and tablespaces the schema needs are checked before step 1);
//   3. sequences.sql and large objects; then the tables on `jobs` connections at once
//      (restore_pipeline.h): COPY ... FROM STDIN, checking each row count against the manifest,
//      with more than one job, each table's indexes and constraints built and ANALYZE run as
//      soon as its rows (and its inheritance descendants' rows) are in, while other tables
//      load; then the rest of post-data.sql (foreign keys, triggers, matview data, ...) through
//      psql;
//   4. ANALYZE of what is left (everything with one job; partitioned parents, materialized
//      views), unless `analyze` is false or `schema_only`; then the database's settings.
//      seconds_data ends when the last table is loaded (builds of loaded tables overlap it),
//      seconds_post then.
// Every stream is verified chunk by chunk as it is read (restore.h). Any failure stops the
// restore with an error naming the step; the target is then incomplete and says so.
//
// Thread safety: one call drives everything from the calling thread (and the restore workers).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "pg/dump_script.h"
#include "repo/repository.h"

namespace pgdedup::pg {

struct DatabaseRestoreOptions {
  std::string conninfo;  // names the target database
  // Create the database. It is restored under a temporary name and renamed once complete
  // (with `clean`, in place of the database of that name), unless `create_in_place`: then it
  // is created under its own name (for a name that is itself temporary, a drill's). Either
  // way a failed or interrupted restore drops it again.
  bool create = false;
  bool create_in_place = false;
  bool clean = false;
  bool dry_run = false;
  // Only the schema (pre-data and post-data), or only the data (tables, sequences, large
  // objects) into a database that already has the schema and empty tables.
  bool schema_only = false;
  bool data_only = false;
  // Only these tables ("schema.table" or "table"), into the existing database.
  std::vector<std::string> tables;
  // What the schema scripts leave out, as pg_restore's --no-owner, --no-privileges and
  // --no-tablespaces do, for a server without the source's roles or tablespaces: with `owner`
  // objects (and, with `create`, the database) belong to the role restoring them; with
  // `privileges` no GRANT, REVOKE, default privileges or database privileges are restored;
  // with `tablespaces` objects (and the database) go to the default tablespace. Otherwise
  // every role the schema gives objects or privileges to, or names in a policy (and with
  // `create` the database's owner and grantees), and every tablespace it selects, must exist
  // on the target server: the restore, or with `tables` the creation of those tables, is
  // refused before it changes anything. Only statements in pg_dump's own forms are read (not,
  // say, a user mapping's role), and a pg_dump archive is left to pg_restore: there a missing
  // role shows as the server's error, with what to do.
  ScriptOmissions omit;
  // Gather planner statistics (ANALYZE) for every table restored (after pg_restore, for a
  // pg_dump archive). Without, the restored tables have none until autovacuum or the
  // operator's ANALYZE (as after pg_restore): queries are planned from row estimates alone.
  bool analyze = true;
  // Connections loading tables at once. Default: the machine's cores.
  int jobs = 0;
  // Worker threads decoding each table's stream. Default: the machine's cores.
  int threads = 0;
  // The psql program. Default: "psql" from PATH (or $PGDEDUP_PSQL).
  std::string psql = "psql";
  // The pg_restore program, for `--format pg_dump` snapshots. Default: "pg_restore" from PATH
  // (or $PGDEDUP_PG_RESTORE).
  std::string pg_restore = "pg_restore";
  // Called with each step as it starts ("pre-data", "table \"public\".\"t\"", ...).
  std::function<void(const std::string&)> progress;
};

struct DatabaseRestoreStats {
  uint64_t tables = 0;
  uint64_t rows = 0;
  uint64_t bytes = 0;
  double seconds_schema = 0;  // pre-data
  double seconds_data = 0;    // sequences and tables, until the last table is loaded
  double seconds_post = 0;    // from then: the rest of post-data and ANALYZE
  // Extensions' configuration tables whose rows were not restored (a warning said why and how
  // to get them): the target's extension is another version, and the rows do not fit it.
  std::vector<std::string> skipped;
};

// REQUIRES: repo->SyncIndex() returned OK. InvalidArgument when the snapshot is not a native
// database backup or the target is refused; SourceError for what the server refuses.
Result<DatabaseRestoreStats> RestoreDatabase(repo::Repository* repo,
                                             const repo::SnapshotRef& snapshot,
                                             const DatabaseRestoreOptions& options);

}  // namespace pgdedup::pg
