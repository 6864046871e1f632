#include "pg/table_restore.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <set>
#include <sstream>

#include "common/interrupt.h"
#include "common/log.h"
#include "pg/connection.h"
#include "pg/dump_script.h"
#include "pg/restore_steps.h"

namespace pgdedup::pg {

namespace {

// One part of a table name: "quoted ""part""" or a plain part up to the next dot.
Result<std::string> ParseNamePart(std::string_view spec, size_t* pos) {
  std::string out;
  if (*pos < spec.size() && spec[*pos] == '"') {
    for (size_t i = *pos + 1; i < spec.size(); ++i) {
      if (spec[i] != '"') {
        out += spec[i];
      } else if (i + 1 < spec.size() && spec[i + 1] == '"') {
        out += '"';
        ++i;
      } else {
        *pos = i + 1;
        return out;
      }
    }
    return Status::InvalidArgument("--table " + std::string(spec) + ": unterminated quote");
  }
  size_t dot = spec.find('.', *pos);
  out = spec.substr(*pos, dot == std::string_view::npos ? std::string_view::npos : dot - *pos);
  *pos = dot == std::string_view::npos ? spec.size() : dot;
  return out;
}

// "schema.table", "table", either part optionally double-quoted. Empty schema: any.
Result<TableName> ParseTableSpec(std::string_view spec) {
  size_t pos = 0;
  auto first = ParseNamePart(spec, &pos);
  if (!first.ok()) return first.status();
  if (pos == spec.size()) {
    if (first->empty()) return Status::InvalidArgument("--table: empty table name");
    return TableName{"", *first};
  }
  if (spec[pos] != '.') {
    return Status::InvalidArgument("--table " + std::string(spec) + ": expected SCHEMA.TABLE");
  }
  ++pos;
  auto second = ParseNamePart(spec, &pos);
  if (!second.ok()) return second.status();
  if (pos != spec.size() || first->empty() || second->empty()) {
    return Status::InvalidArgument("--table " + std::string(spec) + ": expected SCHEMA.TABLE");
  }
  return TableName{*first, *second};
}

struct Plan {
  TableName name;
  const repo::StreamInfo* stream = nullptr;  // nullptr for a partitioned table
  bool create = false;                       // missing in the target
  bool truncate = false;                     // holds rows, replaced (--clean)
  TableObjects objects;
};

class TableRestorer {
 public:
  TableRestorer(repo::Repository* repo, const repo::SnapshotRef& snapshot,
                const DatabaseRestoreOptions& options)
      : repo_(repo), m_(snapshot.manifest), options_(options) {}

  Result<DatabaseRestoreStats> Run();

 private:
  void Step(const std::string& s) const {
    if (options_.progress) options_.progress(s);
  }
  Status LoadSchema();
  // Adds the table (or, for a partitioned one, itself and its partitions) to plans_.
  Status Resolve(const std::string& spec);
  Status AddTable(const TableName& name, int depth);
  Status Inspect(Connection* c, Plan* p);
  Status CreateTables(Connection* c);
  Status SetSequences(Connection* c);
  Status FinishTables();
  // Everything after the checks: create, load, set sequences, finish, ANALYZE.
  Status Apply(Connection* c, const std::vector<const repo::StreamInfo*>& loads,
               const std::set<const repo::StreamInfo*>& truncate, DatabaseRestoreStats* stats);
  // After a failure or on an interrupt: drops the tables (and schemas) this restore created,
  // so that none is left half made (without its rows, indexes or policies) for a later attempt
  // to take for an existing table. Sessions still holding locks on those tables (this
  // restore's own loads and scripts, which go on while an interrupt's cleanup runs) are ended
  // first. Returns what it could not drop (empty when everything went).
  std::string DropCreated();
  // A creation step is about to run: false once interrupted (nothing more is created then).
  bool BeginCreating();
  // Unavailable once interrupted: no step starts after that, to take locks on the tables the
  // cleanup is dropping.
  Status CheckNotInterrupted() {
    std::lock_guard<std::mutex> l(mu_);
    return interrupted_ ? Status::Unavailable("interrupted") : Status::OK();
  }
  // The creation step ended; `made` it made (nothing when it failed).
  void EndCreating(const TableName* table, const std::string* schema);
  // The interrupt cleanup: waits for a creation step under way, then DropCreated.
  void OnInterrupted();

  repo::Repository* repo_;
  const repo::Manifest& m_;
  const DatabaseRestoreOptions& options_;
  DumpScript pre_, post_;
  std::vector<Plan> plans_;  // parents before their partitions

  std::mutex mu_;  // guards the five below: the interrupt thread reads them
  std::condition_variable created_cv_;
  bool interrupted_ = false;
  bool creating_ = false;                  // a creation step is running
  std::vector<TableName> created_tables_;  // by this restore, in order
  std::vector<std::string> created_schemas_;
};

Status TableRestorer::LoadSchema() {
  const repo::StreamInfo* pre = FindStreamOfKind(m_, "pre-data");
  const repo::StreamInfo* post = FindStreamOfKind(m_, "post-data");
  auto pre_text = ReadStream(repo_, *pre, options_);
  if (!pre_text.ok()) return pre_text.status();
  auto post_text = ReadStream(repo_, *post, options_);
  if (!post_text.ok()) return post_text.status();
  pre_ = ParseDumpScript(OmitFromScript(*pre_text, options_.omit));
  post_ = ParseDumpScript(OmitFromScript(*post_text, options_.omit));
  return Status::OK();
}

Status TableRestorer::Resolve(const std::string& spec) {
  auto parsed = ParseTableSpec(spec);
  if (!parsed.ok()) return parsed.status();
  std::vector<TableName> matches;
  for (const DumpEntry& e : pre_.entries) {
    if (e.type == "TABLE" && e.name == parsed->table &&
        (parsed->schema.empty() || e.schema == parsed->schema)) {
      matches.push_back({e.schema, e.name});
    }
  }
  if (matches.empty()) {
    return Status::InvalidArgument("--table " + spec + ": the snapshot has no such table");
  }
  if (matches.size() > 1) {
    std::string names;
    for (const auto& t : matches) names += (names.empty() ? "" : ", ") + t.schema + "." + t.table;
    return Status::InvalidArgument("--table " + spec + " is ambiguous: " + names +
                                   "; give SCHEMA.TABLE");
  }
  return AddTable(matches[0], 0);
}

Status TableRestorer::AddTable(const TableName& name, int depth) {
  for (const Plan& p : plans_) {
    if (p.name.schema == name.schema && p.name.table == name.table) return Status::OK();
  }
  Plan p;
  p.name = name;
  p.objects = SelectTableObjects(pre_, post_, name);
  for (const auto& s : m_.streams) {
    if (s.kind == "table" && s.schema == name.schema && s.table == name.table) p.stream = &s;
  }
  if (p.stream == nullptr && !p.objects.partitioned) {
    return Status::InvalidArgument("table " + name.Quoted() +
                                   " has no data in the snapshot (is it a foreign table?)");
  }
  bool partitioned = p.objects.partitioned;
  plans_.push_back(std::move(p));
  if (partitioned) {
    if (depth > 16) return Status::InvalidArgument("partitions nested too deep: " + name.Quoted());
    for (const TableName& child : PartitionsOf(pre_, name)) {
      PGDEDUP_RETURN_IF_ERROR(AddTable(child, depth + 1));
    }
  }
  return Status::OK();
}

Status TableRestorer::Inspect(Connection* c, Plan* p) {
  auto kind = c->Query(
      "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = $1 AND c.relname = $2",
      {p->name.schema, p->name.table});
  if (!kind.ok()) return kind.status();
  if (kind->empty()) {
    if (options_.data_only) {
      return Status::InvalidArgument("--data-only: table " + p->name.Quoted() +
                                     " does not exist in the target");
    }
    p->create = true;
    return Status::OK();
  }
  const std::string relkind = (*kind)[0][0].value_or("");
  if (relkind != "r" && relkind != "p") {
    return Status::InvalidArgument(p->name.Quoted() + " exists in the target and is not a table");
  }
  if (p->stream == nullptr || options_.schema_only) return Status::OK();
  // Row-level security off: rows a policy hides from this role must count too (the query then
  // fails rather than look at an empty table).
  PGDEDUP_RETURN_IF_ERROR(c->Exec("SET row_security = off"));
  auto any = c->Query("SELECT 1 FROM ONLY " + p->name.Quoted() + " LIMIT 1");
  PGDEDUP_RETURN_IF_ERROR(c->Exec("RESET row_security"));
  if (!any.ok()) return any.status();
  if (!any->empty()) {
    if (!options_.clean) {
      return Status::InvalidArgument(
          "table " + p->name.Quoted() +
          " already holds rows: refusing to add to them (add --clean to replace its rows "
          "with the snapshot's)");
    }
    // TRUNCATE refuses a table other tables' foreign keys point at: say so before changing
    // anything.
    auto referencing = c->Query(
        "SELECT DISTINCT conrelid::regclass::text FROM pg_constraint "
        "WHERE contype = 'f' AND confrelid = $1::regclass AND conrelid <> confrelid",
        {p->name.Quoted()});
    if (!referencing.ok()) return referencing.status();
    if (!referencing->empty()) {
      std::string names;
      for (const auto& r : *referencing) names += (names.empty() ? "" : ", ") + *r[0];
      return Status::InvalidArgument(
          "table " + p->name.Quoted() + " is referenced by foreign keys of " + names +
          ": its rows cannot be replaced on their own. Restore the snapshot into a new "
          "database (--create) and copy the rows you need from there");
    }
    p->truncate = true;
  }
  return Status::OK();
}

Status TableRestorer::CreateTables(Connection* c) {
  std::set<std::string> schemas_done;
  for (const Plan& p : plans_) {
    if (!p.create) continue;
    if (schemas_done.insert(p.name.schema).second) {
      auto exists = c->Query("SELECT 1 FROM pg_namespace WHERE nspname = $1", {p.name.schema});
      if (!exists.ok()) return exists.status();
      std::string script = SchemaScript(pre_, p.name.schema);
      if (exists->empty() && !script.empty()) {
        Step("create schema " + QuoteDumpIdent(p.name.schema));
        if (!BeginCreating()) return Status::Unavailable("interrupted");
        Status made = RunSqlText(script, "schema " + p.name.schema, options_,
                                 /*single_transaction=*/true);
        EndCreating(nullptr, made.ok() ? &p.name.schema : nullptr);
        PGDEDUP_RETURN_IF_ERROR(made);
      }
    }
    Step("create table " + p.name.Quoted());
    // One transaction: a table whose creation fails part way (a GRANT to a missing role, a
    // missing type) is not left behind without its sequences, defaults or privileges, for the
    // next attempt to take for an existing table and load.
    if (!BeginCreating()) return Status::Unavailable("interrupted");
    Status made = RunSqlText(p.objects.pre_data, "creating table " + p.name.Quoted(), options_,
                             /*single_transaction=*/true);
    EndCreating(made.ok() ? &p.name : nullptr, nullptr);
    PGDEDUP_RETURN_IF_ERROR(made);
  }
  return Status::OK();
}

bool TableRestorer::BeginCreating() {
  std::lock_guard<std::mutex> l(mu_);
  if (interrupted_) return false;
  creating_ = true;
  return true;
}

void TableRestorer::EndCreating(const TableName* table, const std::string* schema) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (table != nullptr) created_tables_.push_back(*table);
    if (schema != nullptr) created_schemas_.push_back(*schema);
    creating_ = false;
  }
  created_cv_.notify_all();
}

void TableRestorer::OnInterrupted() {
  {
    std::unique_lock<std::mutex> l(mu_);
    interrupted_ = true;
    // A creation script under way is short: wait for it, so that what it made is dropped too.
    if (!created_cv_.wait_for(l, std::chrono::seconds(30), [this] { return !creating_; })) {
      LogWarning(
          "a table creation had not ended 30 s after the interrupt; check the tables "
          "named with --table");
    }
    if (created_tables_.empty() && created_schemas_.empty()) return;
  }
  std::string left = DropCreated();
  if (left.empty()) {
    LogWarning("interrupted: dropped the tables this restore had created");
  } else {
    LogWarning("interrupted: could not drop what this restore had created: " + left);
  }
}

std::string TableRestorer::DropCreated() {
  std::vector<TableName> tables;
  std::vector<std::string> schemas;
  {
    std::lock_guard<std::mutex> l(mu_);
    tables = created_tables_;
    schemas = created_schemas_;
  }
  // A fresh connection: the one that failed may be what broke.
  auto conn = Connection::Open(options_.conninfo);
  if (!conn.ok()) {
    std::string all;
    for (const TableName& t : tables) all += (all.empty() ? "" : ", ") + t.Quoted();
    return all + " (" + conn.status().message() + ")";
  }
  Connection* c = conn->get();
  // Never wait on a lock for ever: the process may be ending (an interrupt).
  (void)c->Exec("SET lock_timeout = '10s'");
  // The tables are this restore's own, made minutes ago: the sessions holding locks on them
  // are its loads and scripts (a failed or interrupted restore's, still running).
  for (const TableName& t : tables) {
    (void)c->Query(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'relation' AND l.relation = to_regclass($1) "
        "AND l.pid <> pg_backend_pid() AND a.usename = current_user",
        {t.Quoted()});
  }
  std::string left;
  if (!tables.empty()) {
    // One statement: foreign keys between the tables, and partitions of a parent, go with
    // them; each table's own sequences go with it.
    std::string list;
    for (const TableName& t : tables) list += (list.empty() ? "" : ", ") + t.Quoted();
    Status s = c->Exec("DROP TABLE IF EXISTS " + list);
    if (!s.ok()) left = list + " (" + s.message() + ")";
  }
  for (auto n = schemas.rbegin(); n != schemas.rend(); ++n) {
    Status s = c->Exec("DROP SCHEMA IF EXISTS " + QuoteDumpIdent(*n));
    if (!s.ok()) left += (left.empty() ? "" : ", ") + QuoteDumpIdent(*n) + " (" + s.message() + ")";
  }
  return left;
}

// The setval lines of sequences.sql for the restored tables' sequences.
Status TableRestorer::SetSequences(Connection* c) {
  std::vector<std::string> wanted;
  for (const Plan& p : plans_) {
    for (const TableName& seq : p.objects.sequences) {
      auto quoted = c->QueryValue("SELECT quote_ident($1) || '.' || quote_ident($2)",
                                  {seq.schema, seq.table});
      if (!quoted.ok()) return quoted.status();
      wanted.push_back("setval(" + c->QuoteLiteral(*quoted) + ",");
    }
  }
  if (wanted.empty()) return Status::OK();
  const repo::StreamInfo* seqs = FindStreamOfKind(m_, "sequences");
  auto text = ReadStream(repo_, *seqs, options_);
  if (!text.ok()) return text.status();
  std::istringstream in(*text);
  std::string line, sql;
  while (std::getline(in, line)) {
    for (const std::string& w : wanted) {
      if (line.find(w) != std::string::npos) {
        sql += line + "\n";
        break;
      }
    }
  }
  if (sql.empty()) return Status::OK();
  Step("sequences");
  return RunSqlText(sql, "sequences", options_);
}

Status TableRestorer::FinishTables() {
  for (const Plan& p : plans_) {
    if (!p.create) continue;
    PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
    Step("indexes and constraints of " + p.name.Quoted());
    PGDEDUP_RETURN_IF_ERROR(RunSqlText(p.objects.post_data,
                                       "indexes and constraints of " + p.name.Quoted(), options_,
                                       /*single_transaction=*/true));
  }
  for (const Plan& p : plans_) {
    if (!p.create) continue;
    for (const std::string& fk : p.objects.foreign_keys) {
      PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
      Status s = RunSqlText(fk, "a foreign key of " + p.name.Quoted(), options_);
      if (!s.ok()) LogWarning("not restored: " + s.message());
    }
  }
  return Status::OK();
}

Result<DatabaseRestoreStats> TableRestorer::Run() {
  PGDEDUP_RETURN_IF_ERROR(LoadSchema());
  for (const std::string& spec : options_.tables) PGDEDUP_RETURN_IF_ERROR(Resolve(spec));

  auto conn = Connection::Open(options_.conninfo);
  if (!conn.ok()) return conn.status();
  Connection* c = conn->get();
  for (Plan& p : plans_) PGDEDUP_RETURN_IF_ERROR(Inspect(c, &p));

  // The roles and tablespaces what is to be created needs, checked before anything is: a
  // missing one would stop the creation part way, with some tables made and others not.
  ScriptNeeds needs;
  std::set<std::string> schemas;
  for (const Plan& p : plans_) {
    if (!p.create) continue;
    CollectScriptNeeds(ParseDumpScript(p.objects.pre_data), &needs);
    CollectScriptNeeds(ParseDumpScript(p.objects.post_data), &needs);
    if (!schemas.insert(p.name.schema).second) continue;
    auto exists = c->Query("SELECT 1 FROM pg_namespace WHERE nspname = $1", {p.name.schema});
    if (!exists.ok()) return exists.status();
    if (exists->empty()) {
      CollectScriptNeeds(ParseDumpScript(SchemaScript(pre_, p.name.schema)), &needs);
    }
  }
  PGDEDUP_RETURN_IF_ERROR(CheckServerHas(c, needs));

  DatabaseRestoreStats stats;
  std::vector<const repo::StreamInfo*> loads;
  std::set<const repo::StreamInfo*> truncate;
  for (const Plan& p : plans_) {
    if (p.stream == nullptr || options_.schema_only) continue;
    loads.push_back(p.stream);
    if (p.truncate) truncate.insert(p.stream);
  }
  if (options_.dry_run) {
    for (const Plan& p : plans_) {
      std::string what = p.create ? "create table " : "table ";
      if (p.stream == nullptr || options_.schema_only) {
        Step(what + p.name.Quoted() + (p.create ? "" : ": exists, nothing to do"));
        continue;
      }
      Step(what + p.name.Quoted() + (p.truncate ? ": replace its rows with " : ": load ") +
           std::to_string(p.stream->rows) + " rows");
      stats.tables++;
      stats.rows += p.stream->rows;
      stats.bytes += p.stream->size;
    }
    return stats;
  }
  ::signal(SIGPIPE, SIG_IGN);
  OnInterrupt on_interrupt([this] { OnInterrupted(); });
  Status applied = Apply(c, loads, truncate, &stats);
  if (applied.ok()) return stats;
  {
    std::lock_guard<std::mutex> l(mu_);
    // Interrupted: the cleanup drops them (and this thread never gets past ~OnInterrupt).
    if (interrupted_) return applied;
    if (created_tables_.empty() && created_schemas_.empty()) return applied;
  }
  std::string left = DropCreated();
  return applied.WithDetail(left.empty()
                                ? "the tables this restore had created were dropped again"
                                : "could not drop again what this restore had created: " + left);
}

Status TableRestorer::Apply(Connection* c, const std::vector<const repo::StreamInfo*>& loads,
                            const std::set<const repo::StreamInfo*>& truncate,
                            DatabaseRestoreStats* stats) {
  auto t0 = std::chrono::steady_clock::now();
  PGDEDUP_RETURN_IF_ERROR(CreateTables(c));
  auto t1 = std::chrono::steady_clock::now();
  stats->seconds_schema = std::chrono::duration<double>(t1 - t0).count();
  if (!loads.empty() && !truncate.empty()) {
    // Rows are replaced (--clean): every table chosen, every partition of a partitioned one,
    // in one transaction on one connection, so that a failure leaves all of them as they were
    // rather than some replaced and some not.
    auto loader = OpenLoader(options_);
    if (!loader.ok()) return loader.status();
    Connection* lc = loader->get();
    PGDEDUP_RETURN_IF_ERROR(lc->Exec("BEGIN"));
    Status st;
    for (const repo::StreamInfo* t : loads) {
      Step("table " + t->name);
      st = LoadTableInTransaction(repo_, lc, *t, truncate.count(t) > 0, options_,
                                  /*into_existing=*/true);
      if (!st.ok()) break;
      stats->tables++;
      stats->rows += t->rows;
      stats->bytes += t->size;
    }
    if (st.ok()) st = lc->Exec("COMMIT");
    if (!st.ok()) {
      (void)lc->Exec("ROLLBACK");
      return st.WithContext("no rows were changed");
    }
    PGDEDUP_RETURN_IF_ERROR(SetSequences(c));
  } else if (!loads.empty()) {
    auto loaded =
        LoadTables(repo_, loads, truncate, options_, [&](const std::string& s) { Step(s); });
    if (!loaded.ok()) return loaded.status();
    stats->tables = loaded->tables;
    stats->rows = loaded->rows;
    stats->bytes = loaded->bytes;
    PGDEDUP_RETURN_IF_ERROR(SetSequences(c));
  }
  auto t2 = std::chrono::steady_clock::now();
  stats->seconds_data = std::chrono::duration<double>(t2 - t1).count();
  if (!options_.data_only) PGDEDUP_RETURN_IF_ERROR(FinishTables());
  for (const Plan& p : plans_) {
    if (p.stream == nullptr || options_.schema_only) continue;
    PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
    PGDEDUP_RETURN_IF_ERROR(c->Exec("ANALYZE " + p.name.Quoted()));
  }
  stats->seconds_post =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();
  return Status::OK();
}

}  // namespace

Result<DatabaseRestoreStats> RestoreTables(repo::Repository* repo,
                                           const repo::SnapshotRef& snapshot,
                                           const DatabaseRestoreOptions& options) {
  TableRestorer restorer(repo, snapshot, options);
  return restorer.Run();
}

}  // namespace pgdedup::pg
