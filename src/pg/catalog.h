// Catalog: what a native backup needs to know about a database, read inside the backup's
// snapshot: its tables (with the column list and the order that makes their COPY stable), its
// sequences, and its own settings.
//
// Thread safety: functions on one Connection, used by one thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "pg/connection.h"

namespace pgdedup::pg {

struct TableInfo {
  std::string schema;
  std::string name;
  std::string qualified;  // "schema"."name", quoted
  std::string columns;    // quoted, comma-separated: every stored column (no generated ones)
  // ORDER BY list that makes the COPY's bytes stable from night to night: the primary key,
  // else a unique index over NOT NULL columns; empty when the table has neither (physical
  // order).
  std::string order_by;
  uint64_t size = 0;  // pg_relation_size: to copy the largest tables first
  std::string oid;    // as text
  // An extension's configuration table: the extension, its version, and the condition
  // ("WHERE ...", or empty) that picks the rows the extension's own script did not make.
  std::string extension;
  std::string extension_version;
  std::string filter;
};

// What extensions keep as configuration (pg_extension_config_dump: PostGIS's spatial_ref_sys,
// pg_partman's part_config, pg_cron's jobs). CREATE EXTENSION on restore makes these tables
// with the extension's own rows; the rows their conditions pick are the operator's, and are
// copied as pg_dump copies them.
struct ExtensionConfiguration {
  // Ordinary tables, each after the configuration tables it references by a foreign key.
  std::vector<TableInfo> tables;
  // Configuration relations that are neither ordinary tables nor sequences (a partitioned
  // table), quoted and named with their relkind and extension: not copied (pg_dump does not
  // copy them either).
  std::vector<std::string> unsupported;
};

struct DatabaseInfo {
  std::string name;
  std::string encoding;
  std::string collate;
  std::string ctype;
  std::string locale_provider;  // "c", "i" or "b" from PostgreSQL 15 (empty before)
  std::string provider_locale;  // the ICU or builtin locale
  std::string tablespace;       // its default tablespace; empty for pg_default
  uint64_t size = 0;
  // "role\tname=value" from pg_db_role_setting; role empty for database-wide settings.
  std::vector<std::string> settings;
  std::string owner;
  std::optional<std::string> comment;
  int64_t connlimit = -1;
  // Privileges on the database when they are not the defaults (datacl not NULL): one
  // "grantee\tPRIVILEGE\tt|f" per privilege, grantee empty for PUBLIC.
  bool acl_explicit = false;
  std::vector<std::string> acl;
};

// The COPY that reads a table the way a backup stores it: its stored columns in its order key
// (`COPY (SELECT columns FROM ONLY t [filter] ORDER BY key) TO STDOUT`). Backup and drill must read
// tables identically, or a drill would report differences that are not there.
std::string CopyOutSql(const TableInfo& table);

// Tables with data to copy: ordinary and unlogged tables and leaf partitions, outside the
// system schemas, not belonging to an extension. Partitioned parents hold no rows themselves.
// Sorted by schema and name.
Result<std::vector<TableInfo>> ListTables(Connection* conn);

// The extensions' configuration tables, with their columns and order keys as ListTables gives
// them, their extensions and conditions. Their sequences are in SequenceSetvalSql's.
Result<ExtensionConfiguration> ListExtensionConfiguration(Connection* conn);

// The tables' oids as an array literal ("{16384,16390}") for a `$1::pg_catalog.oid[]` parameter.
std::string OidArrayLiteral(const std::vector<TableInfo>& tables);

// The tables (quoted names) that were rewritten (TRUNCATE, a rewriting ALTER TABLE, VACUUM
// FULL, CLUSTER) or replaced under their name after the snapshot of `conn`'s transaction was
// taken: their rows as the snapshot sees them are gone, and a COPY would find none. Neither is
// MVCC-safe; a transaction that did one and was still open when the snapshot was taken makes
// the snapshot's table look empty once it commits. REQUIRES: the tables are locked.
Result<std::vector<std::string>> TablesRewrittenSinceSnapshot(Connection* conn,
                                                              const std::vector<TableInfo>& tables);

// SQL that sets every sequence to its current state (`SELECT pg_catalog.setval(...)` lines):
// the sequences outside the system schemas that belong to no extension, and those an extension
// marks as its configuration.
Result<std::string> SequenceSetvalSql(Connection* conn);

Result<DatabaseInfo> DescribeDatabase(Connection* conn);

}  // namespace pgdedup::pg
