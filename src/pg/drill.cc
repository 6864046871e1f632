#include "pg/drill.h"

#include <atomic>
#include <chrono>
#include <optional>

#include "common/bytes.h"
#include "common/hex.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "pg/catalog.h"
#include "pg/connection.h"
#include "pg/new_database.h"
#include "repo/backup.h"
#include "repo/crypto.h"

namespace pgdedup::pg {

namespace {

// Drops the temporary database when the drill ends, however it ends: on every return path,
// and on SIGINT, SIGTERM or SIGHUP (OnInterrupt). Only SIGKILL leaves it behind, under a name
// that says what it is. Armed only for a name no database had when the drill began, so it
// never drops anyone else's.
class TempDatabase {
 public:
  TempDatabase(std::string maintenance, std::string name)
      : maintenance_(std::move(maintenance)), name_(std::move(name)) {}
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;
  void Arm() { armed_ = true; }
  ~TempDatabase() { Drop(); }
  // Drops the database once (later calls do nothing). Safe from another thread: an interrupt
  // drops it, its sessions ended first, while the drill's own connections still use it.
  void Drop() {
    if (!armed_.exchange(false)) return;
    Status s = DropDatabase(maintenance_, name_);
    if (!s.ok()) LogWarning("could not drop the drill database " + name_ + ": " + s.message());
  }

 private:
  std::string maintenance_;
  std::string name_;
  std::atomic<bool> armed_{false};
};

}  // namespace

Result<DrillReport> Drill(repo::Repository* repo, const repo::SnapshotRef& snapshot,
                          const DrillOptions& options) {
  DrillReport report;
  // 64 random bits: drills on several hosts (or in containers where every pid is 1) never
  // pick the same name.
  report.database = "pgdedup_drill_" + snapshot.id.ShortHex() + "_" + ToHex(repo::RandomBytes(8));
  auto target = WithDatabase(options.maintenance_conninfo, report.database);
  if (!target.ok()) return target.status();
  TempDatabase cleanup(options.maintenance_conninfo, report.database);
  {
    // Reach the server before creating anything, and make sure the name is free.
    auto c = Connection::Open(options.maintenance_conninfo);
    if (!c.ok()) return c.status();
    auto taken =
        (*c)->Query("SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", {report.database});
    if (!taken.ok()) return taken.status();
    if (!taken->empty()) {
      return Status::InvalidArgument("a database named " + report.database + " already exists");
    }
  }
  cleanup.Arm();
  OnInterrupt on_interrupt([&cleanup] { cleanup.Drop(); });

  DatabaseRestoreOptions ro;
  ro.conninfo = *target;
  ro.create = true;
  ro.create_in_place = true;  // the name is temporary already
  ro.jobs = options.jobs;
  ro.threads = options.threads;
  ro.omit = options.omit;
  ro.progress = options.progress;
  auto restored = RestoreDatabase(repo, snapshot, ro);
  if (!restored.ok()) return restored.status().WithContext("drill restore");
  report.restore = *restored;

  auto t0 = std::chrono::steady_clock::now();
  auto conn = Connection::Open(*target);
  if (!conn.ok()) return conn.status();
  Connection* c = conn->get();
  // Read back as the backup wrote: a backup before manifests said so wrote bytea in the
  // format the database's settings chose (restored with it, to the drill's database).
  if (!snapshot.manifest.bytea_hex) PGDEDUP_RETURN_IF_ERROR(c->Exec("RESET bytea_output"));
  PGDEDUP_RETURN_IF_ERROR(c->Exec("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
  // The order each table was copied in, as the backup chose it.
  auto tables = ListTables(c);
  if (!tables.ok()) return tables.status();
  auto config = ListExtensionConfiguration(c);
  if (!config.ok()) return config.status();
  // An extension's configuration table holds the extension's own rows too: the rows are
  // picked by the condition the backup recorded.
  tables->insert(tables->end(), config->tables.begin(), config->tables.end());
  // Each table is then read in a transaction of its own (no one else writes to the drill's
  // database): its locks go when it is done, so thousands of partitions need no more room in
  // the server's lock table than one of them.
  PGDEDUP_RETURN_IF_ERROR(c->Exec("COMMIT"));
  for (const auto& s : snapshot.manifest.streams) {
    if (!s.holds_table_rows()) continue;
    report.tables_in_backup++;
    if (options.progress) options.progress("verify " + s.name);
    std::optional<TableInfo> t;
    for (const auto& candidate : *tables) {
      if (candidate.schema == s.schema && candidate.name == s.table) t = candidate;
    }
    if (!t) {
      report.mismatches.push_back("table " + s.name + " is missing after the restore");
      continue;
    }
    t->filter = s.filter;
    PGDEDUP_RETURN_IF_ERROR(c->BeginCopyOut(CopyOutSql(*t)));
    uint64_t rows = 0;
    auto got = repo::DigestStream(repo, [&](char* buf, size_t n) -> Result<size_t> {
      auto r = c->ReadCopy(buf, n);
      if (r.ok()) {
        rows += CountByte(std::string_view(buf, *r), '\n');
      }
      return r;
    });
    if (!got.ok()) return got.status().WithContext("verifying " + s.name);
    report.tables_verified++;
    if (rows != s.rows) {
      report.mismatches.push_back("table " + s.name + ": " + std::to_string(rows) +
                                  " rows after the restore, " + std::to_string(s.rows) +
                                  " in the backup");
    } else if (got->digest != s.digest || got->size != s.size) {
      report.mismatches.push_back("table " + s.name +
                                  ": its content after the restore differs from the backup's");
    }
  }
  report.seconds_verify =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace pgdedup::pg
