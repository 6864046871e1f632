// DatabaseBackup: one consistent, stable logical backup of a PostgreSQL database into a
// BackupSession, as separate streams:
//
//   pre-data.sql     pg_dump --section=pre-data  (schema: types, tables, functions, ...)
//   "schema"."table" one per table: COPY (SELECT columns FROM ONLY table ORDER BY key) TO STDOUT
//   sequences.sql    SELECT pg_catalog.setval(...) for every sequence
//   large-objects.sql  lo_put(...) of every large object's bytes (only if there are any; their
//                    creation, owners and grants are in pre-data)
//   post-data.sql    pg_dump --section=post-data (indexes, constraints, triggers, matview data)
//
// Consistency: one REPEATABLE READ, READ ONLY transaction exports its snapshot; pg_dump runs
// with --snapshot of it, and the tables are copied inside it, after an ACCESS SHARE lock on each
// (so none can be dropped or rewritten under the backup; one dropped between listing and
// locking fails the backup with a clear error). Stability: each table is copied in the order of
// its primary key (or a unique NOT NULL index), so unchanged rows keep their bytes and their
// place from night to night and deduplicate.
//
// Thread safety: drives one session from the calling thread.
#pragma once

#include <string>

#include "common/result.h"
#include "repo/backup.h"
#include "repo/manifest.h"

namespace pgdedup::pg {

struct DatabaseBackupOptions {
  std::string conninfo;
  // The pg_dump program. Default: "pg_dump" from PATH (or $PGDEDUP_PG_DUMP).
  std::string pg_dump = "pg_dump";
  // Connections copying tables at once, each in the same exported snapshot. Default: the
  // machine's cores.
  int jobs = 0;
};

// Backs up the database into `session` and fills the manifest's database fields. SourceError
// (exit code 6) for anything the server or pg_dump refuses; nothing is committed then. The
// server may be a hot standby; a failure there says how to keep its replay from cancelling the
// backup (hot_standby_feedback).
Status BackupDatabase(const DatabaseBackupOptions& options, repo::BackupSession* session,
                      repo::Manifest* manifest);

// The fallback for whatever the native path does not cover: one plain `pg_dump
// --format=custom --compress=0` archive as a single stream "<database>.dump" (kind
// "pg_dump-archive"; uncompressed so that it deduplicates), restored with pg_restore.
Status BackupDatabaseArchive(const DatabaseBackupOptions& options, repo::BackupSession* session,
                             repo::Manifest* manifest);

}  // namespace pgdedup::pg
