#include "pg/database_restore.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/system.h"
#include "common/thread_pool.h"
#include "pg/connection.h"
#include "pg/process.h"
#include "repo/restore.h"

namespace pgdedup::pg {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

const repo::StreamInfo* FindKind(const repo::Manifest& m, const std::string& kind) {
  for (const auto& s : m.streams) {
    if (s.kind == kind) return &s;
  }
  return nullptr;
}

// Feeds an SQL stream to psql connected to the target.
Status RunSql(repo::Repository* repo, const repo::StreamInfo& stream,
              const DatabaseRestoreOptions& options) {
  auto psql = Subprocess::Start(
      {options.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-d", options.conninfo},
      Subprocess::kWriteStdin);
  if (!psql.ok()) return psql.status();
  repo::RestoreOptions ro;
  ro.threads = options.threads;
  Status s = repo::RestoreStream(
      repo, stream, [&](std::string_view d) { return WriteFully((*psql)->fd(), d, "to psql"); },
      ro);
  Status waited = (*psql)->Wait();
  // psql's own error says more than the broken pipe it caused.
  if (!waited.ok()) return waited.WithContext(stream.name);
  return s.WithContext(stream.name);
}

// Refuses a target that holds user objects: restoring over them mixes two databases.
Status CheckEmpty(Connection* c, const std::string& dbname) {
  auto n = c->QueryValue(
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
      "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'");
  if (!n.ok()) return n.status();
  if (*n != "0") {
    return Status::InvalidArgument("database \"" + dbname + "\" is not empty (" + *n +
                                   " relations): refusing to restore into it. Restore into a new "
                                   "database with --create, or --create --clean to replace it");
  }
  return Status::OK();
}

// For a data-only restore: every table of the snapshot exists and is empty.
Status CheckTablesEmpty(Connection* c, const repo::Manifest& m) {
  for (const auto& s : m.streams) {
    if (s.kind != "table") continue;
    std::string qualified = c->QuoteIdent(s.schema) + "." + c->QuoteIdent(s.table);
    auto any = c->Query("SELECT 1 FROM ONLY " + qualified + " LIMIT 1");
    if (!any.ok()) {
      return Status::InvalidArgument("--data-only needs the schema in place: table " + qualified +
                                     ": " + any.status().message());
    }
    if (!any->empty()) {
      return Status::InvalidArgument("--data-only: table " + qualified +
                                     " already holds rows; refusing to add to them");
    }
  }
  return Status::OK();
}

Status PrepareTarget(const repo::Manifest& m, const DatabaseRestoreOptions& options,
                     const std::string& dbname) {
  if (options.schema_only && options.data_only) {
    return Status::InvalidArgument("--schema-only and --data-only exclude each other");
  }
  if (options.data_only && options.create) {
    return Status::InvalidArgument("--data-only restores into an existing schema: drop --create");
  }
  if (!options.create) {
    if (options.clean) {
      return Status::InvalidArgument("--clean replaces a database: use it with --create");
    }
    auto c = Connection::Open(options.conninfo);
    if (!c.ok()) return c.status();
    if (options.data_only) return CheckTablesEmpty(c->get(), m);
    return CheckEmpty(c->get(), dbname);
  }
  auto maintenance_conninfo = WithDatabase(options.conninfo, "postgres");
  if (!maintenance_conninfo.ok()) return maintenance_conninfo.status();
  auto c = Connection::Open(*maintenance_conninfo);
  if (!c.ok()) {
    auto t1 = WithDatabase(options.conninfo, "template1");
    c = Connection::Open(*t1);
    if (!c.ok()) return c.status().WithContext("connecting to a maintenance database");
  }
  Connection* mc = c->get();
  auto exists = mc->Query("SELECT 1 FROM pg_database WHERE datname = $1", {dbname});
  if (!exists.ok()) return exists.status();
  std::string q = mc->QuoteIdent(dbname);
  if (!exists->empty()) {
    if (!options.clean) {
      return Status::InvalidArgument("database \"" + dbname +
                                     "\" already exists: refusing to overwrite it (add --clean "
                                     "to drop and recreate it)");
    }
    std::string force = mc->ServerVersion() >= 130000 ? " WITH (FORCE)" : "";
    PGDEDUP_RETURN_IF_ERROR(mc->Exec("DROP DATABASE " + q + force));
  }
  std::string create = "CREATE DATABASE " + q + " TEMPLATE template0";
  if (!m.encoding.empty()) create += " ENCODING " + mc->QuoteLiteral(m.encoding);
  if (!m.collate.empty()) create += " LC_COLLATE " + mc->QuoteLiteral(m.collate);
  if (!m.ctype.empty()) create += " LC_CTYPE " + mc->QuoteLiteral(m.ctype);
  return mc->Exec(create);
}

// ALTER DATABASE / ALTER ROLE ... IN DATABASE ... SET for each recorded setting. A setting for
// a role the target server does not have is skipped with a warning.
Status ApplyDatabaseSettings(Connection* c, const repo::Manifest& m, const std::string& dbname) {
  for (const auto& entry : m.database_settings) {
    size_t tab = entry.find('\t');
    size_t eq = entry.find('=', tab + 1);
    if (tab == std::string::npos || eq == std::string::npos) {
      return Status::Corruption("manifest: malformed database setting");
    }
    std::string role = entry.substr(0, tab);
    std::string name = entry.substr(tab + 1, eq - tab - 1);
    std::string value = entry.substr(eq + 1);
    // List-valued settings are stored as their SQL list form already (as pg_dump treats them).
    static const char* kListSettings[] = {"search_path", "temp_tablespaces",
                                          "session_preload_libraries", "local_preload_libraries",
                                          "shared_preload_libraries"};
    bool list = false;
    for (const char* l : kListSettings) list |= name == l;
    std::string sql =
        (role.empty()
             ? "ALTER DATABASE " + c->QuoteIdent(dbname)
             : "ALTER ROLE " + c->QuoteIdent(role) + " IN DATABASE " + c->QuoteIdent(dbname)) +
        " SET " + c->QuoteIdent(name) + " TO " + (list ? value : c->QuoteLiteral(value));
    Status s = c->Exec(sql);
    if (!s.ok()) {
      if (!role.empty()) {
        LogWarning("skipping the setting " + name + " of role " + role + ": " + s.message());
        continue;
      }
      return s.WithContext("database setting " + name);
    }
  }
  return Status::OK();
}

// Opens a connection for loading table data.
Result<std::unique_ptr<Connection>> OpenLoader(const DatabaseRestoreOptions& options) {
  auto conn = Connection::Open(options.conninfo);
  if (!conn.ok()) return conn.status();
  if (options.data_only) {
    // The schema's foreign keys and triggers are in place: load as a replica would, so rows
    // can arrive in any table order (as pg_restore --disable-triggers does; needs a superuser).
    Status s = (*conn)->Exec("SET session_replication_role = replica");
    if (!s.ok()) {
      LogWarning("could not disable triggers and foreign keys for the data-only load (" +
                 s.message() + ")");
    }
  }
  return conn;
}

// COPY FROM STDIN of one table's stream, checking its row count against the manifest.
Status LoadTable(repo::Repository* repo, Connection* c, const repo::StreamInfo& s,
                 const DatabaseRestoreOptions& options) {
  std::string qualified = c->QuoteIdent(s.schema) + "." + c->QuoteIdent(s.table);
  std::string copy =
      "COPY " + qualified + (s.columns.empty() ? "" : " (" + s.columns + ")") + " FROM STDIN";
  PGDEDUP_RETURN_IF_ERROR(c->BeginCopyIn(copy).WithContext("table " + qualified));
  uint64_t rows = 0;
  repo::RestoreOptions ro;
  ro.threads = options.threads;
  Status st = repo::RestoreStream(
      repo, s,
      [&](std::string_view d) {
        for (char ch : d) rows += ch == '\n';
        return c->WriteCopy(d);
      },
      ro);
  Status end = c->EndCopyIn();
  PGDEDUP_RETURN_IF_ERROR(st.WithContext("table " + qualified));
  PGDEDUP_RETURN_IF_ERROR(end.WithContext("table " + qualified));
  if (rows != s.rows) {
    return Status::Corruption("table " + qualified + ": restored " + std::to_string(rows) +
                              " rows, the manifest says " + std::to_string(s.rows));
  }
  return Status::OK();
}

// Loads every table on `jobs` connections at once, largest tables first so they do not all
// end up last on one connection. The first failure stops the others.
Result<DatabaseRestoreStats> LoadTables(repo::Repository* repo, const repo::Manifest& m,
                                        const DatabaseRestoreOptions& options,
                                        const std::function<void(const std::string&)>& step) {
  std::vector<const repo::StreamInfo*> tables;
  for (const auto& s : m.streams) {
    if (s.kind == "table") tables.push_back(&s);
  }
  std::stable_sort(tables.begin(), tables.end(),
                   [](const auto* a, const auto* b) { return a->size > b->size; });
  int jobs = options.jobs > 0 ? options.jobs : ThreadPool::DefaultThreads();
  jobs = std::max(1, std::min<int>(jobs, static_cast<int>(tables.size())));

  std::mutex mu;
  size_t next = 0;
  Status failure;
  DatabaseRestoreStats stats;
  auto worker = [&]() {
    auto conn = OpenLoader(options);
    if (!conn.ok()) {
      std::lock_guard<std::mutex> l(mu);
      if (failure.ok()) failure = conn.status();
      return;
    }
    for (;;) {
      const repo::StreamInfo* t;
      {
        std::lock_guard<std::mutex> l(mu);
        if (!failure.ok() || next == tables.size()) return;
        t = tables[next++];
        step("table " + t->name);
      }
      Status s = LoadTable(repo, conn->get(), *t, options);
      std::lock_guard<std::mutex> l(mu);
      if (!s.ok()) {
        if (failure.ok()) failure = s;
        return;
      }
      stats.tables++;
      stats.rows += t->rows;
      stats.bytes += t->size;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < jobs; ++i) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();
  if (!failure.ok()) return failure;
  return stats;
}

// A `backup --format pg_dump` snapshot: its archive goes to pg_restore on standard input.
Result<DatabaseRestoreStats> RestoreArchive(repo::Repository* repo,
                                            const repo::SnapshotRef& snapshot,
                                            const repo::StreamInfo& archive,
                                            const DatabaseRestoreOptions& opts) {
  DatabaseRestoreOptions options = opts;
  if (const char* env = std::getenv("PGDEDUP_PG_RESTORE"); env && *env) options.pg_restore = env;
  auto dbname = DatabaseOf(options.conninfo);
  if (!dbname.ok()) return dbname.status();
  if (options.schema_only || options.data_only) {
    return Status::InvalidArgument(
        "--schema-only and --data-only are for native snapshots; this one is a pg_dump archive");
  }
  DatabaseRestoreStats stats;
  auto step = [&](const std::string& s) {
    if (options.progress) options.progress(s);
  };
  if (options.dry_run) {
    step(std::string(options.create ? "create" : "check empty") + " database \"" + *dbname + "\"");
    step("pg_restore of " + archive.name);
    return stats;
  }
  ::signal(SIGPIPE, SIG_IGN);
  step("database \"" + *dbname + "\"");
  PGDEDUP_RETURN_IF_ERROR(PrepareTarget(snapshot.manifest, options, *dbname));
  auto t0 = Clock::now();
  step("pg_restore of " + archive.name);
  auto restore = Subprocess::Start(
      {options.pg_restore, "--exit-on-error", "--no-password", "--dbname=" + options.conninfo},
      Subprocess::kWriteStdin);
  if (!restore.ok()) return restore.status();
  repo::RestoreOptions ro;
  ro.threads = options.threads;
  Status s = repo::RestoreStream(
      repo, archive,
      [&](std::string_view d) { return WriteFully((*restore)->fd(), d, "to pg_restore"); }, ro);
  Status waited = (*restore)->Wait();
  if (!waited.ok()) return waited.WithContext("pg_restore");
  PGDEDUP_RETURN_IF_ERROR(s.WithContext(archive.name));
  stats.seconds_schema = Since(t0);
  stats.bytes = archive.size;
  auto conn = Connection::Open(options.conninfo);
  if (!conn.ok()) return conn.status();
  if (!snapshot.manifest.database_settings.empty()) {
    step("database settings");
    PGDEDUP_RETURN_IF_ERROR(ApplyDatabaseSettings(conn->get(), snapshot.manifest, *dbname));
  }
  return stats;
}

}  // namespace

Result<DatabaseRestoreStats> RestoreDatabase(repo::Repository* repo,
                                             const repo::SnapshotRef& snapshot,
                                             const DatabaseRestoreOptions& opts) {
  DatabaseRestoreOptions options = opts;
  if (const char* env = std::getenv("PGDEDUP_PSQL"); env && *env) options.psql = env;
  const repo::Manifest& m = snapshot.manifest;
  const repo::StreamInfo* pre = FindKind(m, "pre-data");
  const repo::StreamInfo* post = FindKind(m, "post-data");
  const repo::StreamInfo* seqs = FindKind(m, "sequences");
  const repo::StreamInfo* archive = FindKind(m, "pg_dump-archive");
  if (archive != nullptr && m.server_version != 0) {
    return RestoreArchive(repo, snapshot, *archive, options);
  }
  if (m.server_version == 0 || !pre || !post || !seqs) {
    return Status::InvalidArgument("snapshot " + snapshot.id.ShortHex() +
                                   " is not a native database backup; restore its stream with "
                                   "--stream NAME --output - instead");
  }
  auto dbname = DatabaseOf(options.conninfo);
  if (!dbname.ok()) return dbname.status();
  auto step = [&](const std::string& s) {
    if (options.progress) options.progress(s);
  };
  DatabaseRestoreStats stats;
  if (options.dry_run) {
    step(std::string(options.create ? (options.clean ? "drop and create" : "create")
                                    : "check empty") +
         " database \"" + *dbname + "\"");
    step("pre-data: " + pre->name);
    for (const auto& s : m.streams) {
      if (s.kind != "table") continue;
      step("table " + s.name + ": " + std::to_string(s.rows) + " rows");
      stats.tables++;
      stats.rows += s.rows;
      stats.bytes += s.size;
    }
    step("sequences, post-data, ANALYZE");
    return stats;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a psql that dies shows as an error, not a dead pgdedup

  step("database \"" + *dbname + "\"");
  PGDEDUP_RETURN_IF_ERROR(PrepareTarget(m, options, *dbname));

  auto t0 = Clock::now();
  if (!options.data_only) {
    step("pre-data");
    PGDEDUP_RETURN_IF_ERROR(RunSql(repo, *pre, options));
  }
  stats.seconds_schema = Since(t0);

  auto t1 = Clock::now();
  if (!options.schema_only) {
    auto loaded = LoadTables(repo, m, options, step);
    if (!loaded.ok()) return loaded.status();
    stats.tables = loaded->tables;
    stats.rows = loaded->rows;
    stats.bytes = loaded->bytes;
  }
  auto conn = Connection::Open(options.conninfo);
  if (!conn.ok()) return conn.status();
  Connection* c = conn->get();
  if (!options.schema_only) {
    step("sequences");
    PGDEDUP_RETURN_IF_ERROR(RunSql(repo, *seqs, options));
    if (const repo::StreamInfo* lobs = FindKind(m, "large-objects")) {
      step("large objects");
      PGDEDUP_RETURN_IF_ERROR(RunSql(repo, *lobs, options));
    }
  }
  stats.seconds_data = Since(t1);

  auto t2 = Clock::now();
  if (!options.data_only) {
    step("post-data");
    PGDEDUP_RETURN_IF_ERROR(RunSql(repo, *post, options));
  }
  step("ANALYZE");
  PGDEDUP_RETURN_IF_ERROR(c->Exec("ANALYZE"));
  if (!options.data_only && !m.database_settings.empty()) {
    // Last: a setting such as default_transaction_read_only must not get in the restore's way.
    step("database settings");
    PGDEDUP_RETURN_IF_ERROR(ApplyDatabaseSettings(c, m, *dbname));
  }
  stats.seconds_post = Since(t2);
  return stats;
}

}  // namespace pgdedup::pg
