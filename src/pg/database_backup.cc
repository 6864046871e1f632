#include "pg/database_backup.h"

#include <cstdlib>
#include <regex>

#include "common/log.h"
#include "pg/catalog.h"
#include "pg/connection.h"
#include "pg/process.h"

namespace pgdedup::pg {

namespace {

// The major version in "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)".
int MajorVersion(const std::string& version_line) {
  static const std::regex re(R"(\(PostgreSQL\) (\d+))");
  std::smatch m;
  if (!std::regex_search(version_line, m, re)) return 0;
  return std::atoi(m[1].str().c_str());
}

// Runs pg_dump for one section into a stream of the session.
Status DumpSection(const DatabaseBackupOptions& options, const std::string& snapshot,
                   const std::string& section, repo::BackupSession* session) {
  auto dump = Subprocess::Start({options.pg_dump, "--section=" + section, "--snapshot=" + snapshot,
                                 "--no-sync", "--quote-all-identifiers",
                                 "--dbname=" + options.conninfo},
                                Subprocess::kReadStdout);
  if (!dump.ok()) return dump.status();
  auto stream = session->AddStreamFromFd(section + ".sql", (*dump)->fd());
  Status waited = (*dump)->Wait();
  if (!waited.ok()) return waited.WithContext("pg_dump --section=" + section);
  if (!stream.ok()) return stream.status();
  session->MutableStream(section + ".sql")->kind = section;
  return Status::OK();
}

}  // namespace

Status BackupDatabase(const DatabaseBackupOptions& opts, repo::BackupSession* session,
                      repo::Manifest* manifest) {
  DatabaseBackupOptions options = opts;
  if (const char* env = std::getenv("PGDEDUP_PG_DUMP"); env && *env) options.pg_dump = env;

  auto conn = Connection::Open(options.conninfo);
  if (!conn.ok()) return conn.status();
  Connection* c = conn->get();

  // pg_dump must be at least as new as the server, or its output may not restore.
  auto version = RunForOutput({options.pg_dump, "--version"});
  if (!version.ok()) return version.status().WithContext("running " + options.pg_dump);
  while (!version->empty() && version->back() == '\n') version->pop_back();
  int dump_major = MajorVersion(*version);
  int server_major = c->ServerVersion() / 10000;
  if (dump_major < server_major) {
    return Status::SourceError(options.pg_dump + " is version " + std::to_string(dump_major) +
                               " but the server is version " + std::to_string(server_major) +
                               ": install a pg_dump at least as new as the server (or set "
                               "PGDEDUP_PG_DUMP)");
  }

  PGDEDUP_RETURN_IF_ERROR(
      c->Exec("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
  auto snapshot = c->QueryValue("SELECT pg_catalog.pg_export_snapshot()");
  if (!snapshot.ok()) return snapshot.status();
  auto tables = ListTables(c);
  if (!tables.ok()) return tables.status();
  if (!tables->empty()) {
    std::string lock = "LOCK TABLE ";
    for (size_t i = 0; i < tables->size(); ++i) {
      lock += (i ? ", " : "") + std::string("ONLY ") + (*tables)[i].qualified;
    }
    lock += " IN ACCESS SHARE MODE";
    PGDEDUP_RETURN_IF_ERROR(c->Exec(lock).WithContext("locking the tables"));
  }
  auto db = DescribeDatabase(c);
  if (!db.ok()) return db.status();

  PGDEDUP_RETURN_IF_ERROR(DumpSection(options, *snapshot, "pre-data", session));

  for (const auto& t : *tables) {
    std::string sql = "COPY (SELECT " + t.columns + " FROM ONLY " + t.qualified +
                      (t.order_by.empty() ? "" : " ORDER BY " + t.order_by) + ") TO STDOUT";
    if (t.columns.empty()) {
      // A table without columns still has rows; COPY of a table name handles that.
      sql = "COPY " + t.qualified + " TO STDOUT";
    }
    PGDEDUP_RETURN_IF_ERROR(c->BeginCopyOut(sql).WithContext("table " + t.qualified));
    uint64_t rows = 0;
    auto stream = session->AddStream(t.qualified, [&](char* buf, size_t n) -> Result<size_t> {
      auto got = c->ReadCopy(buf, n);
      if (got.ok()) {
        // COPY text format ends every row with a newline and escapes the ones inside values.
        for (size_t i = 0; i < *got; ++i) rows += buf[i] == '\n';
      }
      return got;
    });
    if (!stream.ok()) return stream.status().WithContext("table " + t.qualified);
    repo::StreamInfo* info = session->MutableStream(t.qualified);
    info->kind = "table";
    info->schema = t.schema;
    info->table = t.name;
    info->columns = t.columns;
    info->rows = rows;
    if (t.order_by.empty()) {
      LogDebug("table " + t.qualified + " has no primary key: copied in physical order");
    }
  }

  auto setval = SequenceSetvalSql(c);
  if (!setval.ok()) return setval.status();
  size_t pos = 0;
  auto seq = session->AddStream("sequences.sql", [&](char* buf, size_t n) -> Result<size_t> {
    size_t k = std::min(n, setval->size() - pos);
    std::memcpy(buf, setval->data() + pos, k);
    pos += k;
    return k;
  });
  if (!seq.ok()) return seq.status();
  session->MutableStream("sequences.sql")->kind = "sequences";

  PGDEDUP_RETURN_IF_ERROR(DumpSection(options, *snapshot, "post-data", session));
  PGDEDUP_RETURN_IF_ERROR(c->Exec("COMMIT"));

  manifest->source = "postgresql";
  manifest->database = db->name;
  manifest->server_version = c->ServerVersion();
  manifest->pg_dump_version = *version;
  manifest->encoding = db->encoding;
  manifest->collate = db->collate;
  manifest->ctype = db->ctype;
  manifest->database_size = db->size;
  return Status::OK();
}

}  // namespace pgdedup::pg
