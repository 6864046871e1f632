// Manifest: what one backup contains. A snapshot exists exactly when its manifest object
// "snapshots/<sha256>" exists; the manifest is written last, after every pack and index object
// it needs (commit order: packs, index objects, manifest). The snapshot id is the manifest's
// object id.
//
// A stream's chunk ids are not inline: they are concatenated and stored as kChunkList blobs,
// cut by the content-defined chunker, so an unchanged stream's list dedups and a nightly
// manifest stays small whatever the stream size.
//
//   manifest (plaintext of a sealed object of type kSnapshot) := version:u8 | field*
//   field := varint tag | length-prefixed value          (unknown tags are skipped)
// Tags and value layouts: docs/FORMAT.md.
//
// Thread safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "repo/id.h"

namespace pgdedup::repo {

constexpr uint8_t kManifestVersion = 1;

struct StreamInfo {
  std::string name;
  uint64_t size = 0;  // bytes in the stream
  // Identifies the whole stream: SHA-256 of the concatenated chunk ids. Each id is a keyed hash
  // of its chunk, so the digest pins every byte of the stream (and reveals nothing without the
  // key), yet costs nothing to compute: hashing the stream itself a second time would cost as
  // much as the chunk ids do on the hot path of a nightly backup of unchanged data.
  Id digest;
  uint64_t chunk_count = 0;     // data chunks in the stream
  std::vector<Id> chunk_lists;  // ids of the kChunkList blobs, in order

  // Native database backups (empty otherwise): what the stream holds ("pre-data", "table",
  // "extension-table", "sequences", "post-data"), and for a table its schema, name, the column
  // list of its COPY (quoted SQL, as COPY ... (columns) FROM STDIN takes it) and its row count.
  std::string kind;
  std::string schema;
  std::string table;
  std::string columns;
  uint64_t rows = 0;
  // An extension's configuration table (kind "extension-table"): the extension, its version
  // at backup time, and the condition it gave pg_extension_config_dump ("WHERE ...", or empty
  // for every row), which picked the rows copied.
  std::string extension;
  std::string extension_version;
  std::string filter;

  // A table's rows (kind "table" or "extension-table"), in COPY text format.
  bool holds_table_rows() const { return kind == "table" || kind == "extension-table"; }
};

struct Manifest {
  int64_t time = 0;        // unix seconds
  uint32_t time_nsec = 0;  // and nanoseconds: orders backups taken within one second
  int32_t utc_offset = 0;  // seconds east of UTC at backup time (local time of the host)
  std::string hostname;
  std::string username;
  std::vector<std::string> tags;
  std::string source;    // "stdin" for a piped stream
  std::string database;  // database name for native backups; empty otherwise
  std::string program_version;
  std::vector<StreamInfo> streams;

  // Native database backups: the server and the database as they were.
  int64_t server_version = 0;   // server_version_num, e.g. 150018
  std::string pg_dump_version;  // "pg_dump (PostgreSQL) 15.18 ..."
  std::string encoding;         // database encoding, e.g. UTF8
  std::string collate;          // datcollate
  std::string ctype;            // datctype
  uint64_t database_size = 0;   // pg_database_size at backup time
  // The database's own settings (ALTER DATABASE ... SET, ALTER ROLE ... IN DATABASE ... SET):
  // "role\tname=value", role empty for database-wide settings.
  std::vector<std::string> database_settings;
  // The database's own properties, for `restore --create` (absent in manifests before them):
  // its owner, comment (nullopt: none), connection limit (-1: none), and its privileges when
  // they are not the defaults (`database_acl`: "grantee<TAB>PRIVILEGE<TAB>t|f" per privilege
  // granted, grantee empty for PUBLIC; `database_acl_explicit` false: the defaults).
  // The locale provider of the database's default collation ("c" libc, "i" ICU, "b" builtin;
  // empty: libc, or a server before 15) and that provider's locale (ICU or builtin).
  std::string locale_provider;
  std::string provider_locale;
  // The database's default tablespace (empty: pg_default).
  std::string database_tablespace;
  // The table streams write bytea in hex whatever the database's bytea_output (false: in the
  // format its settings chose, as backups before this field did).
  bool bytea_hex = false;
  std::string database_owner;
  std::optional<std::string> database_comment;
  int64_t database_connlimit = -1;
  bool database_acl_explicit = false;
  std::vector<std::string> database_acl;
};

std::string EncodeManifest(const Manifest& m);
Result<Manifest> DecodeManifest(std::string_view plain);

// RFC 3339 with the recorded offset: "2026-11-23T02:00:00+01:00".
std::string FormatTime(int64_t time, int32_t utc_offset);

}  // namespace pgdedup::repo
