#include "pg/restore_steps.h"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/bytes.h"
#include "common/log.h"
#include "common/system.h"
#include "common/thread_pool.h"
#include "pg/process.h"
#include "repo/restore.h"

namespace pgdedup::pg {

namespace {

Result<std::unique_ptr<Subprocess>> StartPsql(const DatabaseRestoreOptions& options) {
  std::vector<std::string> argv = {ResolveClientProgram(options.psql, /*major=*/0),
                                   "-X",
                                   "-q",
                                   "-v",
                                   "ON_ERROR_STOP=1",
                                   "--no-psqlrc"};
  if (options.create) {
    // A working session (SetUpWorkingSession), set before the script, which psql then reads
    // from standard input ("-f -"). As SQL, not PGOPTIONS, which a connection pooler may
    // refuse. (psql before 9.6 runs only the last of -c and -f: its sessions then just wait.)
    argv.insert(argv.end(), {"-c", kAsyncCommit, "-f", "-"});
  }
  argv.insert(argv.end(), {"-d", options.conninfo});
  return Subprocess::Start(argv, Subprocess::kWriteStdin);
}

}  // namespace

Status SetUpWorkingSession(Connection* c, const DatabaseRestoreOptions& options) {
  return options.create ? c->Exec(kAsyncCommit) : Status::OK();
}

Result<std::unique_ptr<Connection>> OpenLoader(const DatabaseRestoreOptions& options) {
  auto conn = Connection::Open(options.conninfo);
  if (!conn.ok()) return conn.status();
  PGDEDUP_RETURN_IF_ERROR(SetUpWorkingSession(conn->get(), options));
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

namespace {

// LoadTableInTransaction without the table's name in its errors.
Status LoadRows(repo::Repository* repo, Connection* c, const repo::StreamInfo& s,
                const std::string& qualified, bool truncate, const DatabaseRestoreOptions& options,
                bool into_existing) {
  std::vector<Row> triggers;  // (name, mode) of the user triggers enabled before the load
  if (into_existing && !truncate) {
    // Found empty before the restore began: still empty, and kept so until the commit.
    PGDEDUP_RETURN_IF_ERROR(
        c->Exec("LOCK TABLE ONLY " + qualified + " IN SHARE ROW EXCLUSIVE MODE"));
    PGDEDUP_RETURN_IF_ERROR(c->Exec("SET LOCAL row_security = off"));
    auto any = c->Query("SELECT 1 FROM ONLY " + qualified + " LIMIT 1");
    if (!any.ok()) return any.status();
    if (!any->empty()) {
      return Status::InvalidArgument(
          "the table gained rows since the restore began: "
          "refusing to add to them (add --clean to replace them)");
    }
  }
  if (into_existing) {
    auto found =
        c->Query(std::string("SELECT tgname, tgenabled FROM pg_catalog.pg_trigger WHERE tgrelid = "
                             "$1::regclass AND tgenabled <> 'D' AND ") +
                     // 13 and 14 mark a partition's clone of its parent's trigger internal.
                     (c->ServerVersion() >= 130000 && c->ServerVersion() < 150000
                          ? "(NOT tgisinternal OR tgparentid <> 0)"
                          : "NOT tgisinternal") +
                     " ORDER BY tgname",
                 {qualified});
    if (!found.ok()) return found.status();
    triggers = std::move(*found);
    for (const Row& t : triggers) {
      PGDEDUP_RETURN_IF_ERROR(c->Exec("ALTER TABLE ONLY " + qualified + " DISABLE TRIGGER " +
                                      c->QuoteIdent(t[0].value_or(""))));
    }
  }
  // After the triggers are quiet: an ON TRUNCATE trigger must not fire either.
  if (truncate) {
    PGDEDUP_RETURN_IF_ERROR(c->Exec("TRUNCATE ONLY " + qualified));
  }
  std::string copy =
      "COPY " + qualified + (s.columns.empty() ? "" : " (" + s.columns + ")") + " FROM STDIN";
  // Truncated in this transaction: the rows may be written frozen and their pages marked
  // all-visible, so no first reader (the index builds, ANALYZE) rewrites every page to set
  // hint bits, and no anti-wraparound VACUUM has to freeze the whole table later.
  if (truncate) copy += " WITH (FREEZE)";
  PGDEDUP_RETURN_IF_ERROR(c->BeginCopyIn(copy));
  uint64_t rows = 0;
  repo::RestoreOptions ro;
  ro.threads = options.threads;
  Status st = repo::RestoreStream(
      repo, s,
      [&](std::string_view d) {
        rows += CountByte(d, '\n');
        return c->WriteCopy(d);
      },
      ro);
  // A stream that failed half way must not end the COPY as if it were complete.
  Status end = c->EndCopyIn(st.ok() ? nullptr : "pgdedup: the backup stream could not be read");
  PGDEDUP_RETURN_IF_ERROR(st);
  PGDEDUP_RETURN_IF_ERROR(end);
  if (rows != s.rows) {
    return Status::Corruption("restored " + std::to_string(rows) + " rows, the manifest says " +
                              std::to_string(s.rows));
  }
  for (const Row& t : triggers) {
    const std::string mode = t[1].value_or("O");
    const char* enable = mode == "A"   ? " ENABLE ALWAYS TRIGGER "
                         : mode == "R" ? " ENABLE REPLICA TRIGGER "
                                       : " ENABLE TRIGGER ";
    PGDEDUP_RETURN_IF_ERROR(
        c->Exec("ALTER TABLE ONLY " + qualified + enable + c->QuoteIdent(t[0].value_or(""))));
  }
  return Status::OK();
}

}  // namespace

Status LoadTableInTransaction(repo::Repository* repo, Connection* c, const repo::StreamInfo& s,
                              bool truncate, const DatabaseRestoreOptions& options,
                              bool into_existing) {
  std::string qualified = QualifiedName(c, s);
  return LoadRows(repo, c, s, qualified, truncate, options, into_existing)
      .WithContext("table " + qualified);
}

Status LoadTable(repo::Repository* repo, Connection* c, const repo::StreamInfo& s, bool truncate,
                 const DatabaseRestoreOptions& options, bool into_existing) {
  PGDEDUP_RETURN_IF_ERROR(c->Exec("BEGIN"));
  Status st = LoadTableInTransaction(repo, c, s, truncate, options, into_existing);
  if (st.ok()) st = c->Exec("COMMIT").WithContext("table " + QualifiedName(c, s));
  if (!st.ok()) (void)c->Exec("ROLLBACK");  // best effort: the connection may be gone
  return st;
}

const repo::StreamInfo* FindStreamOfKind(const repo::Manifest& m, const std::string& kind) {
  for (const auto& s : m.streams) {
    if (s.kind == kind) return &s;
  }
  return nullptr;
}

namespace {

// What CheckServerHas says of the roles `needs` names that the server lacks; empty when none.
Result<std::string> MissingRoles(Connection* c, const ScriptNeeds& needs) {
  if (needs.owners.empty() && needs.privileges.empty() && needs.policies.empty()) {
    return std::string();
  }
  auto rows = c->Query("SELECT rolname FROM pg_catalog.pg_roles");
  if (!rows.ok()) return rows.status();
  std::set<std::string> existing;
  for (const Row& r : *rows) existing.insert(r[0].value_or(""));

  enum Need : unsigned { kOwns = 1, kPrivileges = 2, kPolicy = 4 };
  std::map<std::string, unsigned> missing;  // role -> what for (Need bits)
  auto note = [&](const std::set<std::string>& names, Need need) {
    for (const std::string& n : names) {
      if (!existing.count(n)) missing[n] |= need;
    }
  };
  note(needs.owners, kOwns);
  note(needs.privileges, kPrivileges);
  note(needs.policies, kPolicy);
  if (missing.empty()) return std::string();
  std::string list;
  unsigned all = 0;
  for (const auto& [name, needs] : missing) {
    std::string what;
    for (auto [bit, text] : {std::pair{kOwns, "owns objects"}, std::pair{kPrivileges, "privileges"},
                             std::pair{kPolicy, "a policy"}}) {
      if (needs & bit) what += (what.empty() ? "" : ", ") + std::string(text);
    }
    list += (list.empty() ? "" : ", ") + c->QuoteIdent(name) + " (" + what + ")";
    all |= needs;
  }
  std::string what_to_do =
      "create them first (on the source server, pg_dumpall --roles-only prints every role)";
  if (all & (kOwns | kPrivileges)) {
    std::string flags;
    if (all & kOwns) flags += "--no-owner (objects then belong to the role restoring them)";
    if (all & kPrivileges) {
      flags += std::string((all & kOwns) ? " and " : "") +
               "--no-privileges (no GRANT, REVOKE or default privileges are restored)";
    }
    what_to_do += ", or restore with " + flags;
  }
  if (all & kPolicy) what_to_do += "; a role a policy names must exist either way";
  return "the target server has no role " + list + ", which the snapshot needs: " + what_to_do;
}

// What CheckServerHas says of the tablespaces `needs` names that the server lacks.
Result<std::string> MissingTablespaces(Connection* c, const ScriptNeeds& needs) {
  if (needs.tablespaces.empty()) return std::string();
  auto rows = c->Query("SELECT spcname FROM pg_catalog.pg_tablespace");
  if (!rows.ok()) return rows.status();
  std::set<std::string> existing;
  for (const Row& r : *rows) existing.insert(r[0].value_or(""));
  std::string list;
  for (const std::string& t : needs.tablespaces) {
    if (!existing.count(t)) list += (list.empty() ? "" : ", ") + c->QuoteIdent(t);
  }
  if (list.empty()) return std::string();
  return "the target server has no tablespace " + list +
         ", which the snapshot's objects are in: create it first (CREATE TABLESPACE), "
         "or restore with --no-tablespaces (everything then goes to the database's default "
         "tablespace)";
}

}  // namespace

Status CheckServerHas(Connection* c, const ScriptNeeds& needs) {
  auto roles = MissingRoles(c, needs);
  if (!roles.ok()) return roles.status();
  auto tablespaces = MissingTablespaces(c, needs);
  if (!tablespaces.ok()) return tablespaces.status();
  if (roles->empty() && tablespaces->empty()) return Status::OK();
  return Status::InvalidArgument(*roles + (roles->empty() || tablespaces->empty() ? "" : "; ") +
                                 *tablespaces + ". Nothing was changed");
}

std::string QualifiedName(Connection* c, const repo::StreamInfo& s) {
  return c->QuoteIdent(s.schema) + "." + c->QuoteIdent(s.table);
}

Result<std::string> ReadStream(repo::Repository* repo, const repo::StreamInfo& stream,
                               const DatabaseRestoreOptions& options) {
  std::string out;
  out.reserve(stream.size);
  repo::RestoreOptions ro;
  ro.threads = options.threads;
  Status s = repo::RestoreStream(
      repo, stream,
      [&](std::string_view d) {
        out.append(d);
        return Status::OK();
      },
      ro);
  if (!s.ok()) return s.WithContext(stream.name);
  return out;
}

Status RunSqlStream(repo::Repository* repo, const repo::StreamInfo& stream,
                    const DatabaseRestoreOptions& options) {
  auto psql = StartPsql(options);
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

Status RunSqlText(const std::string& sql, const std::string& what,
                  const DatabaseRestoreOptions& options) {
  auto psql = StartPsql(options);
  if (!psql.ok()) return psql.status();
  Status s = WriteFully((*psql)->fd(), sql, "to psql");
  Status waited = (*psql)->Wait();
  if (!waited.ok()) return waited.WithContext(what);
  return s.WithContext(what);
}

Result<LoadStats> LoadTables(repo::Repository* repo, std::vector<const repo::StreamInfo*> tables,
                             const std::set<const repo::StreamInfo*>& truncate,
                             const DatabaseRestoreOptions& options,
                             const std::function<void(const std::string&)>& step) {
  // Largest first, so the big ones do not all end up last on one connection.
  std::stable_sort(tables.begin(), tables.end(),
                   [](const auto* a, const auto* b) { return a->size > b->size; });
  int jobs = options.jobs > 0 ? options.jobs : ThreadPool::DefaultThreads();
  jobs = std::max(1, std::min<int>(jobs, static_cast<int>(tables.size())));

  std::mutex mu;
  size_t next = 0;
  Status failure;
  LoadStats stats;
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
      // Every table this loads already existed or was created by this restore before the
      // load; either way, triggers already on it must not fire for restored rows.
      Status s = LoadTable(repo, conn->get(), *t, truncate.count(t) > 0, options,
                           /*into_existing=*/true);
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

Status ForEachOnConnections(const DatabaseRestoreOptions& options, size_t count,
                            const std::string& setup,
                            const std::function<Status(Connection*, size_t)>& fn) {
  if (count == 0) return Status::OK();
  int jobs = options.jobs > 0 ? options.jobs : ThreadPool::DefaultThreads();
  jobs = std::max(1, std::min<int>(jobs, static_cast<int>(count)));
  std::vector<std::unique_ptr<Connection>> conns;
  for (int i = 0; i < jobs; ++i) {
    auto c = Connection::Open(options.conninfo);
    if (!c.ok()) return c.status();
    PGDEDUP_RETURN_IF_ERROR(SetUpWorkingSession(c->get(), options));
    if (!setup.empty()) PGDEDUP_RETURN_IF_ERROR((*c)->Exec(setup));
    conns.push_back(std::move(*c));
  }
  std::mutex mu;
  size_t next = 0;
  Status failure;
  auto worker = [&](Connection* c) {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> l(mu);
        if (!failure.ok() || next == count) return;
        i = next++;
      }
      Status s = fn(c, i);
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (failure.ok()) failure = s;
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < conns.size(); ++i) threads.emplace_back(worker, conns[i].get());
  worker(conns[0].get());
  for (auto& t : threads) t.join();
  return failure;
}

Status AnalyzeInParallel(const DatabaseRestoreOptions& options,
                         const std::set<std::pair<std::string, std::string>>& done) {
  auto conn = Connection::Open(options.conninfo);
  if (!conn.ok()) return conn.status();
  auto rels = (*conn)->Query(
      "SELECT n.nspname, c.relname FROM pg_class c "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', "
      "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
      "ORDER BY pg_relation_size(c.oid) DESC");
  if (!rels.ok()) return rels.status();
  std::vector<std::string> todo;
  for (const auto& row : *rels) {
    if (done.count({*row[0], *row[1]}) > 0) continue;
    todo.push_back((*conn)->QuoteIdent(*row[0]) + "." + (*conn)->QuoteIdent(*row[1]));
  }
  conn->reset();
  return ForEachOnConnections(options, todo.size(), "", [&](Connection* c, size_t i) {
    if (Status s = c->Exec("ANALYZE " + todo[i]); !s.ok()) WarnAnalyzeFailed(todo[i], s);
    return Status::OK();
  });
}

std::string SessionEncodingSql(const Connection* c) {
  return "SET client_encoding = '" + c->ClientEncoding() + "'";
}

void WarnAnalyzeFailed(const std::string& name, const Status& s) {
  LogWarning("ANALYZE " + name + " failed (" + s.message() +
             "): the table is restored, without planner statistics; run ANALYZE " + name +
             " once the cause is fixed");
}

}  // namespace pgdedup::pg
