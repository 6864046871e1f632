#include "pg/database_backup.h"

#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "common/log.h"
#include "common/thread_pool.h"
#include "pg/catalog.h"
#include "pg/connection.h"
#include "pg/process.h"

namespace pgdedup::pg {

namespace {

// How long the backup's sessions and pg_dump wait for a table's lock (milliseconds): see
// CopyTable and DumpSection.
constexpr int kDumpLockWaitMs = 10000;

// The major version in "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)".
int MajorVersion(const std::string& version_line) {
  static const std::regex re(R"(\(PostgreSQL\) (\d+))");
  std::smatch m;
  if (!std::regex_search(version_line, m, re)) return 0;
  return std::atoi(m[1].str().c_str());
}

// pg_dump's warnings when it succeeded, such as "subscriptions not dumped because current user
// is not a superuser": what the snapshot lacks must not go unsaid.
void LogDumpWarnings(const Subprocess& dump) {
  std::istringstream lines(dump.stderr_tail());
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) LogWarning(line);
  }
}

// Runs pg_dump for one section into a stream of the session. `restrict_key`, when not empty,
// is passed as --restrict-key so the psql \restrict line, random by default, is the same every
// night and the section deduplicates. The script is written in `encoding`, the backup's
// sessions' (UTF8, or SQL_ASCII): the names in it are then spelt as in the table streams and
// the manifest, whatever the database's encoding.
Status DumpSection(const DatabaseBackupOptions& options, const std::string& snapshot,
                   const std::string& section, const std::string& restrict_key,
                   const std::string& encoding, repo::BackupSession* session) {
  // pg_dump locks every table it dumps. The backup's main session has held its own locks since
  // the start, so a conflicting request now (an ALTER TABLE) waits behind it, and pg_dump
  // would wait behind that one for ever: a bounded wait, then the backup stops.
  std::vector<std::string> argv = {
      options.pg_dump,           "--section=" + section,
      "--snapshot=" + snapshot,  "--no-sync",
      "--quote-all-identifiers", "--lock-wait-timeout=" + std::to_string(kDumpLockWaitMs),
      "--encoding=" + encoding,  "--dbname=" + options.conninfo};
  if (!restrict_key.empty()) argv.push_back("--restrict-key=" + restrict_key);
  auto dump = Subprocess::Start(argv, Subprocess::kReadStdout);
  if (!dump.ok()) return dump.status();
  auto stream = session->AddStreamFromFd(section + ".sql", (*dump)->fd());
  Status waited = (*dump)->Wait();
  if (!waited.ok()) return waited.WithContext("pg_dump --section=" + section);
  LogDumpWarnings(**dump);
  if (!stream.ok()) return stream.status();
  session->MutableStream(section + ".sql")->kind = section;
  return Status::OK();
}

// Streams SQL text produced piece by piece into the session as one stream.
Status AddSqlStream(repo::BackupSession* session, const std::string& name, const std::string& kind,
                    const std::function<Result<std::string>()>& next_piece) {
  std::string piece;
  size_t pos = 0;
  bool done = false;
  auto stream = session->AddStream(name, [&](char* buf, size_t n) -> Result<size_t> {
    while (pos == piece.size() && !done) {
      auto p = next_piece();
      if (!p.ok()) return p.status();
      piece = std::move(*p);
      pos = 0;
      done = piece.empty();
    }
    size_t k = std::min(n, piece.size() - pos);
    std::memcpy(buf, piece.data() + pos, k);
    pos += k;
    return k;
  });
  if (!stream.ok()) return stream.status();
  session->MutableStream(name)->kind = kind;
  return Status::OK();
}

// Large objects: pg_dump's pre-data creates each one (lo_create, owner, grants); their bytes
// come here, as lo_put statements in 1 MiB pieces, in oid order (read inside the snapshot).
Status AddLargeObjects(Connection* c, repo::BackupSession* session) {
  auto oids = c->Query("SELECT oid::text FROM pg_catalog.pg_largeobject_metadata ORDER BY oid");
  if (!oids.ok()) return oids.status().WithContext("listing large objects");
  if (oids->empty()) return Status::OK();
  constexpr int kPiece = 1 << 20;
  size_t index = 0;
  int64_t offset = 0;
  bool started = false;
  return AddSqlStream(session, "large-objects.sql", "large-objects", [&]() -> Result<std::string> {
    if (!started) {
      started = true;
      return std::string("SET standard_conforming_strings = on;\n");
    }
    while (index < oids->size()) {
      const std::string& oid = *(*oids)[index][0];
      // Hex whatever the session's bytea_output (escape output would not count two characters
      // a byte, and could hold a quote).
      auto data = c->QueryValue(
          "SELECT pg_catalog.encode(pg_catalog.lo_get($1::oid, $2::bigint, $3), 'hex')",
          {oid, std::to_string(offset), std::to_string(kPiece)});
      if (!data.ok()) return data.status().WithContext("large object " + oid);
      int64_t bytes = static_cast<int64_t>(data->size()) / 2;
      if (bytes == 0) {
        ++index;
        offset = 0;
        continue;
      }
      std::string sql = "SELECT pg_catalog.lo_put(" + oid + ", " + std::to_string(offset) +
                        ", '\\x" + *data + "'::bytea);\n";
      offset += bytes;
      if (bytes < kPiece) {
        ++index;
        offset = 0;
      }
      return sql;
    }
    return std::string();
  });
}

// Copies one table into a stream named "schema"."table", counting its rows.
Status CopyTable(Connection* c, const TableInfo& t, repo::BackupSession* session) {
  std::string sql = CopyOutSql(t);
  const std::string label =
      "table " + t.qualified +
      (t.extension.empty() ? ""
                           : " (configuration of extension " + t.extension +
                                 ", whose rows a backup copies as pg_dump does)");
  // The backup's main session holds its lock since the start: a session that asks for a
  // conflicting one now (an ALTER TABLE) waits behind it, and this COPY would wait behind that
  // one, for ever, and everything that touches the table after it. A bounded wait (as pg_dump's
  // --lock-wait-timeout, below), then the backup stops and the other session goes on.
  Status locked =
      c->Exec("SET LOCAL lock_timeout = " + std::to_string(kDumpLockWaitMs) + "; LOCK TABLE ONLY " +
              t.qualified + " IN ACCESS SHARE MODE; SET LOCAL lock_timeout = 0");
  if (!locked.ok()) {
    if (locked.message().find("lock timeout") == std::string::npos) {
      return locked.WithContext(label);
    }
    return locked.WithContext(
        label +
        ": another session is waiting for a lock on it (an ALTER TABLE, say), behind this "
        "backup's; stopping the backup rather than holding up that session and every query "
        "queued behind it. Run the backup again once it is done");
  }
  // Rows hidden by row-level security fail this COPY (row_security is off) rather than go
  // missing.
  PGDEDUP_RETURN_IF_ERROR(c->BeginCopyOut(sql).WithContext(label));
  uint64_t rows = 0;
  auto stream = session->AddStream(t.qualified, [&](char* buf, size_t n) -> Result<size_t> {
    auto got = c->ReadCopy(buf, n);
    if (got.ok()) {
      // COPY text format ends every row with a newline and escapes the ones inside values.
      rows += CountByte(std::string_view(buf, *got), '\n');
    }
    return got;
  });
  if (!stream.ok()) return stream.status().WithContext(label);
  repo::StreamInfo* info = session->MutableStream(t.qualified);
  info->kind = t.extension.empty() ? "table" : "extension-table";
  info->schema = t.schema;
  info->table = t.name;
  info->columns = t.columns;
  info->rows = rows;
  info->extension = t.extension;
  info->extension_version = t.extension_version;
  info->filter = t.filter;
  if (t.order_by.empty()) {
    LogDebug("table " + t.qualified + " has no primary key: copied in physical order");
  }
  return Status::OK();
}

// Copies every table on `jobs` connections, largest tables first; the first failure stops the
// others. Each table is copied in a transaction of its own that imports the exported snapshot,
// so a connection's locks (the table's, and its indexes' that planning the ordered COPY takes)
// go when the table is done, while the main session's locks keep every table from being altered
// or dropped. The server's lock table then needs about the room pg_dump alone does (the main
// session's locks and pg_dump's share their lock objects), not one entry per table and index on
// top: a database of thousands of partitions ran out of shared memory that way where pg_dump
// did not.
Status CopyTables(const DatabaseBackupOptions& options, const std::string& snapshot,
                  const std::vector<TableInfo>& tables, repo::BackupSession* session) {
  std::vector<const TableInfo*> order;
  for (const auto& t : tables) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(),
                   [](const TableInfo* a, const TableInfo* b) { return a->size > b->size; });
  int jobs = options.jobs > 0 ? options.jobs : ThreadPool::DefaultThreads();
  jobs = std::max(1, std::min<int>(jobs, static_cast<int>(order.size())));
  std::mutex mu;
  size_t next = 0;
  Status failure;
  auto worker = [&]() {
    auto conn = Connection::Open(options.conninfo);
    Status s = conn.ok() ? (*conn)->Exec("SET row_security = off") : conn.status();
    const std::string begin = s.ok()
                                  ? "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
                                    "SET TRANSACTION SNAPSHOT " +
                                        (*conn)->QuoteLiteral(snapshot)
                                  : std::string();
    while (s.ok()) {
      const TableInfo* t;
      {
        std::lock_guard<std::mutex> l(mu);
        if (!failure.ok() || next == order.size()) return;
        t = order[next++];
      }
      s = (*conn)->Exec(begin);
      if (s.ok()) s = CopyTable(conn->get(), *t, session);
      if (s.ok()) s = (*conn)->Exec("COMMIT");
    }
    std::lock_guard<std::mutex> l(mu);
    if (failure.ok()) failure = s;
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < jobs; ++i) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();
  return failure;
}

// A \restrict key for pg_dump that is the same every night for this repository and database
// yet unpredictable to anyone without the repository's keys: hex of a keyed hash.
std::string RestrictKey(repo::BackupSession* session, const std::string& database) {
  return session->KeyedName("pg_dump restrict key: " + database).substr(0, 32);
}

// After a LOCK TABLE that failed: when the backup's role lacks SELECT on some tables (the
// server names only the first), every one of them, so that one message lets the operator
// grant them all. The catalog decides, not the wording of the server's message (which
// follows its lc_messages). `failure` unchanged when the role may read every table, or when
// the list cannot be had. Ends the (failed) transaction.
Status WithUnreadableTables(Connection* c, const std::vector<TableInfo>& tables, Status failure) {
  c->Exec("ROLLBACK").PermitUncheckedError();
  auto rows = c->Query(
      "SELECT c.oid::pg_catalog.regclass::text FROM pg_catalog.pg_class c "
      "WHERE c.oid = ANY($1::pg_catalog.oid[]) "
      "AND NOT pg_catalog.has_table_privilege(c.oid, 'SELECT') ORDER BY 1",
      {OidArrayLiteral(tables)});
  auto role = c->QueryValue("SELECT pg_catalog.quote_ident(current_user)");
  if (!rows.ok() || rows->empty() || !role.ok()) return failure;
  constexpr size_t kNamed = 10;
  std::string names;
  for (size_t i = 0; i < rows->size() && i < kNamed; ++i) {
    names += (i ? ", " : "") + (*rows)[i][0].value_or("");
  }
  if (rows->size() > kNamed) names += " and " + std::to_string(rows->size() - kNamed) + " more";
  return failure.WithDetail("the role " + *role + " cannot read " + std::to_string(rows->size()) +
                            (rows->size() == 1 ? " table: " : " tables: ") + names +
                            ". Grant it SELECT on them (on PostgreSQL 14 and later, `GRANT "
                            "pg_read_all_data TO " +
                            *role + "` covers every table)");
}

// pg_dump must be at least as new as the server, or its output may not restore. Returns its
// --version line.
Result<std::string> CheckPgDump(const DatabaseBackupOptions& options, Connection* c) {
  auto version = RunForOutput({options.pg_dump, "--version"});
  if (!version.ok()) return version.status().WithContext("running " + options.pg_dump);
  while (!version->empty() && version->back() == '\n') version->pop_back();
  int dump_major = MajorVersion(*version);
  int server_major = c->ServerVersion() / 10000;
  if (dump_major == 0) {
    return Status::SourceError(options.pg_dump + " --version printed \"" + *version +
                               "\", which names no PostgreSQL version: is it pg_dump? (set "
                               "PGDEDUP_PG_DUMP to the pg_dump to use)");
  }
  if (dump_major < server_major) {
    return Status::SourceError(options.pg_dump + " is version " + std::to_string(dump_major) +
                               " but the server is version " + std::to_string(server_major) +
                               ": install a pg_dump at least as new as the server (or set "
                               "PGDEDUP_PG_DUMP)");
  }
  return version;
}

void DescribeInto(const DatabaseInfo& db, Connection* c, const std::string& pg_dump_version,
                  repo::Manifest* manifest) {
  manifest->source = "postgresql";
  manifest->database = db.name;
  manifest->server_version = c->ServerVersion();
  manifest->pg_dump_version = pg_dump_version;
  manifest->encoding = db.encoding;
  manifest->collate = db.collate;
  manifest->ctype = db.ctype;
  manifest->database_size = db.size;
  manifest->database_settings = db.settings;
  manifest->locale_provider = db.locale_provider;
  manifest->provider_locale = db.provider_locale;
  manifest->database_tablespace = db.tablespace;
  manifest->bytea_hex = true;  // every connection sets bytea_output = hex
  manifest->database_owner = db.owner;
  manifest->database_comment = db.comment;
  manifest->database_connlimit = db.connlimit;
  manifest->database_acl_explicit = db.acl_explicit;
  manifest->database_acl = db.acl;
}

// The recovery state of the server a backup reads, taken on the backup's own connection as it
// opens (a failure is explained with it, without connecting again).
struct StandbyState {
  bool standby = false;   // pg_is_in_recovery()
  bool feedback = false;  // hot_standby_feedback
  std::string streaming_delay, archive_delay;
};

StandbyState ReadStandbyState(Connection* c) {
  StandbyState st;
  auto r = c->Query(
      "SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('hot_standby_feedback'), "
      "pg_catalog.current_setting('max_standby_streaming_delay'), "
      "pg_catalog.current_setting('max_standby_archive_delay')");
  if (!r.ok() || r->size() != 1) return st;
  const Row& row = (*r)[0];
  st.standby = row[0].value_or("") == "t";
  st.feedback = row[1].value_or("") == "on";
  st.streaming_delay = row[2].value_or("?");
  st.archive_delay = row[3].value_or("?");
  return st;
}

Status ArchiveDatabase(const DatabaseBackupOptions& opts, repo::BackupSession* session,
                       repo::Manifest* manifest, StandbyState* standby) {
  DatabaseBackupOptions options = opts;
  if (const char* env = std::getenv("PGDEDUP_PG_DUMP"); env && *env) options.pg_dump = env;
  auto conn = Connection::Open(options.conninfo);
  if (!conn.ok()) return conn.status();
  *standby = ReadStandbyState(conn->get());
  options.pg_dump = ResolveClientProgram(options.pg_dump, (*conn)->ServerVersion() / 10000);
  auto version = CheckPgDump(options, conn->get());
  if (!version.ok()) return version.status();
  auto db = DescribeDatabase(conn->get());
  if (!db.ok()) return db.status();
  std::vector<std::string> argv = {options.pg_dump, "--format=custom", "--compress=0", "--no-sync",
                                   "--dbname=" + options.conninfo};
  auto dump = Subprocess::Start(argv, Subprocess::kReadStdout);
  if (!dump.ok()) return dump.status();
  std::string name = db->name + ".dump";
  auto stream = session->AddStreamFromFd(name, (*dump)->fd());
  Status waited = (*dump)->Wait();
  if (!waited.ok()) return waited;
  LogDumpWarnings(**dump);
  if (!stream.ok()) return stream.status();
  session->MutableStream(name)->kind = "pg_dump-archive";
  DescribeInto(*db, conn->get(), *version, manifest);
  return Status::OK();
}

Status CopyDatabase(const DatabaseBackupOptions& opts, repo::BackupSession* session,
                    repo::Manifest* manifest, StandbyState* standby) {
  DatabaseBackupOptions options = opts;
  if (const char* env = std::getenv("PGDEDUP_PG_DUMP"); env && *env) options.pg_dump = env;

  auto conn = Connection::Open(options.conninfo);
  if (!conn.ok()) return conn.status();
  Connection* c = conn->get();
  *standby = ReadStandbyState(c);
  // The catalog queries read columns that PostgreSQL 12 added (pg_attribute.attgenerated).
  if (c->ServerVersion() < 120000) {
    const int v = c->ServerVersion();
    const std::string version =
        v >= 100000 ? std::to_string(v / 10000)
                    : std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100);
    return Status::SourceError("native backups need PostgreSQL 12 or newer; this server is " +
                               version + ". Back it up with --format pg_dump (a pg_dump archive)");
  }
  options.pg_dump = ResolveClientProgram(options.pg_dump, c->ServerVersion() / 10000);
  auto version = CheckPgDump(options, c);
  if (!version.ok()) return version.status();

  // Row-level security must not filter rows silently: with it off, a table whose policies would
  // hide rows from this role makes the COPY fail (as pg_dump does).
  PGDEDUP_RETURN_IF_ERROR(c->Exec("SET row_security = off"));
  Result<std::string> snapshot = std::string();
  Result<std::vector<TableInfo>> tables = std::vector<TableInfo>();
  Result<ExtensionConfiguration> config = ExtensionConfiguration();
  for (int attempt = 1;; ++attempt) {
    PGDEDUP_RETURN_IF_ERROR(
        c->Exec("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
    snapshot = c->QueryValue("SELECT pg_catalog.pg_export_snapshot()");
    if (!snapshot.ok()) return snapshot.status();
    tables = ListTables(c);
    if (!tables.ok()) return tables.status();
    // An extension's configuration tables are copied like the others (their streams restore
    // after pre-data, into the tables CREATE EXTENSION made), with only the rows the
    // extension's condition picks.
    config = ListExtensionConfiguration(c);
    if (!config.ok()) return config.status();
    tables->insert(tables->begin(), config->tables.begin(), config->tables.end());
    if (!tables->empty()) {
      std::string lock = "LOCK TABLE ";
      for (size_t i = 0; i < tables->size(); ++i) {
        lock += (i ? ", " : "") + std::string("ONLY ") + (*tables)[i].qualified;
      }
      lock += " IN ACCESS SHARE MODE";
      if (Status s = c->Exec(lock); !s.ok()) {
        return WithUnreadableTables(c, *tables, s.WithContext("locking the tables"));
      }
    }
    // A table truncated or rewritten by a transaction still open when the snapshot was taken
    // would be copied empty: take a new snapshot, which sees that transaction's result.
    auto rewritten = TablesRewrittenSinceSnapshot(c, *tables);
    if (!rewritten.ok()) return rewritten.status();
    if (rewritten->empty()) break;
    std::string names;
    for (const std::string& n : *rewritten) names += (names.empty() ? "" : ", ") + n;
    PGDEDUP_RETURN_IF_ERROR(c->Exec("ROLLBACK"));
    if (attempt == 3) {
      return Status::SourceError(
          "tables were truncated or rewritten (TRUNCATE, ALTER TABLE, VACUUM FULL, CLUSTER) "
          "as the backup took its snapshot, three times in a row: " +
          names + ". Run the backup when that job is done");
    }
    LogInfo("truncated or rewritten as the snapshot was taken: " + names +
            "; taking a new snapshot");
  }
  auto db = DescribeDatabase(c);
  if (!db.ok()) return db.status();
  for (const std::string& relation : config->unsupported) {
    LogWarning("extension configuration " + relation +
               " is not an ordinary table or a sequence: its rows are not copied (nor does "
               "pg_dump copy them), and a restore has only what CREATE EXTENSION makes; rows in "
               "partitions created apart from the extension are copied with those tables");
  }

  auto help = RunForOutput({options.pg_dump, "--help"});
  std::string restrict_key = help.ok() && help->find("--restrict-key") != std::string::npos
                                 ? RestrictKey(session, db->name)
                                 : "";
  PGDEDUP_RETURN_IF_ERROR(
      DumpSection(options, *snapshot, "pre-data", restrict_key, c->ClientEncoding(), session));

  PGDEDUP_RETURN_IF_ERROR(CopyTables(options, *snapshot, *tables, session));

  auto setval = SequenceSetvalSql(c);
  if (!setval.ok()) return setval.status();
  bool given = false;
  PGDEDUP_RETURN_IF_ERROR(
      AddSqlStream(session, "sequences.sql", "sequences", [&]() -> Result<std::string> {
        if (given) return std::string();
        given = true;
        return *setval;
      }));

  PGDEDUP_RETURN_IF_ERROR(AddLargeObjects(c, session));
  PGDEDUP_RETURN_IF_ERROR(
      DumpSection(options, *snapshot, "post-data", restrict_key, c->ClientEncoding(), session));
  PGDEDUP_RETURN_IF_ERROR(c->Exec("COMMIT"));

  // The manifest lists the streams in restore order, whatever order the copies finished in
  // (the extensions' configuration first, in its own order).
  std::vector<std::string> order = {"pre-data.sql"};
  for (const auto& t : *tables) order.push_back(t.qualified);
  order.insert(order.end(), {"sequences.sql", "large-objects.sql", "post-data.sql"});
  session->OrderStreams(order);

  DescribeInto(*db, c, *version, manifest);
  return Status::OK();
}

// A failed backup of a hot standby: the likely cause and the way out. As a standby replays the
// primary's changes it cancels the sessions whose snapshot still needs rows that the primary's
// VACUUM removed (after max_standby_streaming_delay, or max_standby_archive_delay when it
// replays from an archive), unless hot_standby_feedback tells the primary to keep them; other
// conflicts (locks, a VACUUM truncating a table's empty end) cancel it even then. Such a
// failure reads "conflict with recovery", or, once the session holding the exported snapshot is
// gone, "invalid snapshot identifier" or a lost connection; anything else is left as it is.
Status ExplainStandbyFailure(const StandbyState& st, const Status& failed) {
  if (failed.ok() || !st.standby) return failed;
  const std::string& m = failed.message();
  const bool conflict = m.find("conflict with recovery") != std::string::npos;
  bool lost = false;
  for (const char* sign : {"invalid snapshot identifier", "terminating connection",
                           "server closed the connection", "no connection to the server"}) {
    lost = lost || m.find(sign) != std::string::npos;
  }
  // Without feedback, a lost session is likely a conflict too, unless the standby never
  // cancels (a delay of -1).
  if (!conflict && !(lost && !st.feedback && st.streaming_delay != "-1")) return failed;
  if (!st.feedback) {
    return failed.WithDetail(
        "the server is a standby without hot_standby_feedback, and its replay of the "
        "primary's changes likely cancelled the backup, whose snapshot still needed rows the "
        "primary had removed (after max_standby_streaming_delay, here " +
        st.streaming_delay + ", or max_standby_archive_delay, here " + st.archive_delay +
        "). Set hot_standby_feedback = on on the standby (or raise those delays, or back up the "
        "primary) and run the backup again");
  }
  return failed.WithDetail(
      "the server is a standby whose replay of the primary's changes cancelled the backup (a "
      "lock, or a VACUUM truncating a table's empty end, conflicts even with "
      "hot_standby_feedback on). Raise max_standby_streaming_delay (here " +
      st.streaming_delay + ") and max_standby_archive_delay (here " + st.archive_delay +
      ") on the standby, or back up the primary, and run the backup again");
}

}  // namespace

Status BackupDatabase(const DatabaseBackupOptions& options, repo::BackupSession* session,
                      repo::Manifest* manifest) {
  StandbyState st;
  return ExplainStandbyFailure(st, CopyDatabase(options, session, manifest, &st));
}

Status BackupDatabaseArchive(const DatabaseBackupOptions& options, repo::BackupSession* session,
                             repo::Manifest* manifest) {
  StandbyState st;
  return ExplainStandbyFailure(st, ArchiveDatabase(options, session, manifest, &st));
}

}  // namespace pgdedup::pg
