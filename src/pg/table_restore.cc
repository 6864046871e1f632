#include "pg/table_restore.h"

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
  int parent = -1;                           // for a partition: its parent's plan
  TableObjects objects;
};

// The first few of `tables`, quoted, and how many more: a partition tree may have thousands.
std::string FewNames(const std::vector<TableName>& tables) {
  constexpr size_t kNamed = 5;
  std::string list;
  for (size_t i = 0; i < tables.size() && i < kNamed; ++i) {
    list += (list.empty() ? "" : ", ") + tables[i].Quoted();
  }
  if (tables.size() > kNamed) list += " and " + std::to_string(tables.size() - kNamed) + " more";
  return list;
}

// Entries of a dump script by index, each with the session settings it was written under, as
// one batch for libpq (pg_dump's entries hold no psql meta-commands; its preamble does).
std::string Batch(const DumpScript& d, const std::set<size_t>& entries) {
  std::string out;
  for (size_t i : entries) out += d.entries[i].settings + d.entries[i].text;
  return out;
}

// Every entry of a dump script as one batch.
std::string BatchAll(const DumpScript& d) {
  std::string out;
  for (const DumpEntry& e : d.entries) out += e.settings + e.text;
  return out;
}

// Before a batch of a dump's entries on a connection that may have run others: the dump's own
// preamble settings (its client_encoding among them: the entries are in the source database's
// encoding), and nothing left over from earlier batches. Sent on its own, since the server
// reads a whole query string in the encoding in force when it arrives.
std::string BatchSettings(const DumpScript& d) {
  // (default_table_access_method exists from PostgreSQL 12: set_config of what pg_settings
  // has, not RESET of a name an older server does not know.)
  return "SELECT pg_catalog.set_config(name, reset_val, false) FROM pg_catalog.pg_settings "
         "WHERE name IN ('default_tablespace', 'default_table_access_method');\n" +
         PreambleSettings(d);
}

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
  Status CreateSchemas(Connection* c);
  // Creates every missing table, loads it, sets its sequences and gives it its indexes,
  // constraints, triggers, rules and policies, all in one transaction: the tables exist whole
  // once it commits, or not at all (even after SIGKILL: the server rolls back). One
  // transaction, in the dump's order, so that what one table's objects need of another's (a
  // policy's subquery, a default's sequence, a parent) is there.
  Status CreateTables(DatabaseRestoreStats* stats);
  // The setval lines of the snapshot for the sequences of `plans`.
  Result<std::string> SequenceSql(Connection* c, const std::vector<const Plan*>& plans);
  Status AddForeignKeys(Connection* c);
  // Everything after the checks: create, load, set sequences, finish, ANALYZE.
  Status Apply(Connection* c, const std::vector<const repo::StreamInfo*>& loads,
               const std::set<const repo::StreamInfo*>& truncate, DatabaseRestoreStats* stats);

  // Unavailable once interrupted: no step starts after that.
  Status CheckNotInterrupted() {
    std::lock_guard<std::mutex> l(mu_);
    return interrupted_ ? Status::Unavailable("interrupted") : Status::OK();
  }
  // Runs `sql` on `c` as a step of its own, which an interrupt cancels; Unavailable once
  // interrupted (then nothing more is sent).
  Status RunStatement(Connection* c, const std::string& sql);
  // COMMIT of the transaction on `c`, unless interrupted. `made` is then recorded as created.
  Status Commit(Connection* c, const std::vector<TableName>& tables,
                const std::vector<std::string>& schemas);
  // After a failure or on an interrupt, once: drops the tables (and schemas) this restore
  // created and committed, so that none is left for a later attempt to take for an existing
  // table. Returns what it could not drop (empty when everything went).
  std::string DropCreated();
  // The interrupt cleanup: stops this restore's statements, waits for a COMMIT under way, and
  // drops what was created (or waits for the drop a failure already started).
  void OnInterrupted();

  repo::Repository* repo_;
  const repo::Manifest& m_;
  const DatabaseRestoreOptions& options_;
  DumpScript pre_, post_;
  std::vector<Plan> plans_;

  std::mutex mu_;  // guards everything below: the interrupt thread reads it
  std::condition_variable cv_;
  bool interrupted_ = false;
  int committing_ = 0;                     // COMMITs under way
  bool dropping_ = false;                  // DropCreated is running
  bool settled_ = false;                   // DropCreated has run (or is running)
  std::set<Connection*> active_;           // connections running a statement of this restore
  std::vector<TableName> created_tables_;  // by this restore, committed, in order
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
    for (const auto& s : m_.streams) {
      if (s.kind == "extension-table" && s.table == parsed->table &&
          (parsed->schema.empty() || s.schema == parsed->schema)) {
        return Status::InvalidArgument(
            "--table " + spec + ": " + s.name + " is configuration of extension " + s.extension +
            ", made by CREATE EXTENSION; its rows are restored with the whole database, or "
            "printed as COPY text by restore --stream '" +
            s.name + "' --output -");
      }
    }
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

Status TableRestorer::RunStatement(Connection* c, const std::string& sql) {
  if (sql.empty()) return CheckNotInterrupted();  // PQexec("") is an error of its own
  {
    std::lock_guard<std::mutex> l(mu_);
    if (interrupted_) return Status::Unavailable("interrupted");
    active_.insert(c);
  }
  Status st = c->Exec(sql);
  {
    std::lock_guard<std::mutex> l(mu_);
    active_.erase(c);
    if (interrupted_ && st.ok()) st = Status::Unavailable("interrupted");
  }
  cv_.notify_all();
  return st;
}

Status TableRestorer::Commit(Connection* c, const std::vector<TableName>& tables,
                             const std::vector<std::string>& schemas) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (interrupted_) return Status::Unavailable("interrupted");
    ++committing_;
  }
  Status st = c->Exec("COMMIT");
  {
    std::lock_guard<std::mutex> l(mu_);
    --committing_;
    if (st.ok()) {
      created_tables_.insert(created_tables_.end(), tables.begin(), tables.end());
      created_schemas_.insert(created_schemas_.end(), schemas.begin(), schemas.end());
    }
  }
  cv_.notify_all();
  return st;
}

Status TableRestorer::CreateSchemas(Connection* c) {
  std::set<std::string> done;
  for (const Plan& p : plans_) {
    if (!p.create || !done.insert(p.name.schema).second) continue;
    auto exists = c->Query("SELECT 1 FROM pg_namespace WHERE nspname = $1", {p.name.schema});
    if (!exists.ok()) return exists.status();
    std::string script = SchemaScript(pre_, p.name.schema);
    if (!exists->empty() || script.empty()) continue;
    Step("create schema " + QuoteDumpIdent(p.name.schema));
    // One transaction: a schema is made whole (its comment and grants) or not at all.
    DumpScript d = ParseDumpScript(script);
    Status st = RunStatement(c, "BEGIN");
    if (st.ok()) st = RunStatement(c, BatchSettings(d));
    if (st.ok()) st = RunStatement(c, BatchAll(d));
    if (st.ok()) st = RunStatement(c, SessionEncodingSql(c));
    if (st.ok()) st = Commit(c, {}, {p.name.schema});
    if (!st.ok()) {
      (void)c->Exec("ROLLBACK");
      (void)c->Exec(SessionEncodingSql(c));
      return st.WithContext("schema " + QuoteDumpIdent(p.name.schema));
    }
  }
  return Status::OK();
}

Result<std::string> TableRestorer::SequenceSql(Connection* c,
                                               const std::vector<const Plan*>& plans) {
  std::vector<std::string> wanted;
  for (const Plan* p : plans) {
    for (const TableName& seq : p->objects.sequences) {
      auto quoted = c->QueryValue("SELECT quote_ident($1) || '.' || quote_ident($2)",
                                  {seq.schema, seq.table});
      if (!quoted.ok()) return quoted.status();
      wanted.push_back("setval(" + c->QuoteLiteral(*quoted) + ",");
    }
  }
  if (wanted.empty()) return std::string();
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
  return sql;
}

Status TableRestorer::CreateTables(DatabaseRestoreStats* stats) {
  std::vector<const Plan*> created;
  for (const Plan& p : plans_) {
    if (p.create) created.push_back(&p);
  }
  if (created.empty()) return Status::OK();
  auto conn = Connection::Open(options_.conninfo);
  if (!conn.ok()) return conn.status();
  Connection* c = conn->get();
  // A partition of an existing table is attached last, once its own indexes are built: ATTACH
  // PARTITION then takes them for the parent's partitioned indexes. Attached first, it would be
  // given new ones, and its own primary key would then be its second.
  std::set<size_t> pre, post, attach_pre, attach_post;
  for (const Plan* p : created) {
    const bool attach_last = !(p->parent >= 0 && plans_[p->parent].create);
    for (size_t i : p->objects.pre_entries) {
      (attach_last && pre_.entries[i].type == "TABLE ATTACH" ? attach_pre : pre).insert(i);
    }
    for (size_t i : p->objects.post_entries) {
      (attach_last && post_.entries[i].type == "INDEX ATTACH" ? attach_post : post).insert(i);
    }
  }
  auto sequences = SequenceSql(c, created);
  if (!sequences.ok()) return sequences.status();
  std::vector<TableName> created_names;
  for (const Plan* p : created) created_names.push_back(p->name);
  const std::string list = FewNames(created_names);  // for errors
  const std::string names = (created.size() == 1 ? "table " : "tables ") + list;

  Status st = [&]() -> Status {
    PGDEDUP_RETURN_IF_ERROR(RunStatement(c, "BEGIN"));
    for (const Plan* p : created) Step("create table " + p->name.Quoted());
    PGDEDUP_RETURN_IF_ERROR(RunStatement(c, BatchSettings(pre_)));
    PGDEDUP_RETURN_IF_ERROR(RunStatement(c, Batch(pre_, pre)).WithContext("creating " + names));
    PGDEDUP_RETURN_IF_ERROR(RunStatement(c, SessionEncodingSql(c)));
    for (const Plan* p : created) {
      if (p->stream == nullptr || options_.schema_only) continue;
      Step("table " + p->name.Quoted());
      // Created in this transaction: truncating it costs nothing and lets COPY write the rows
      // frozen (the table then needs no first VACUUM). An interrupt cancels the COPY.
      {
        std::lock_guard<std::mutex> l(mu_);
        if (interrupted_) return Status::Unavailable("interrupted");
        active_.insert(c);
      }
      Status loaded = LoadTableInTransaction(repo_, c, *p->stream, /*truncate=*/true, options_,
                                             /*into_existing=*/false);
      {
        std::lock_guard<std::mutex> l(mu_);
        active_.erase(c);
      }
      cv_.notify_all();
      PGDEDUP_RETURN_IF_ERROR(loaded);
    }
    if (!options_.schema_only && !sequences->empty()) {
      Step("sequences");
      PGDEDUP_RETURN_IF_ERROR(RunStatement(c, *sequences).WithContext("sequences"));
    }
    if (!options_.data_only && !post.empty()) {
      for (const Plan* p : created) Step("indexes and constraints of " + p->name.Quoted());
      PGDEDUP_RETURN_IF_ERROR(RunStatement(c, BatchSettings(post_)));
      PGDEDUP_RETURN_IF_ERROR(
          RunStatement(c, Batch(post_, post)).WithContext("indexes and constraints of " + list));
    }
    if (!attach_pre.empty()) {
      Step("attach partitions");
      PGDEDUP_RETURN_IF_ERROR(RunStatement(c, BatchSettings(pre_)));
      PGDEDUP_RETURN_IF_ERROR(RunStatement(c, Batch(pre_, attach_pre) + Batch(post_, attach_post))
                                  .WithContext("attaching " + names));
    }
    PGDEDUP_RETURN_IF_ERROR(RunStatement(c, SessionEncodingSql(c)));
    return Commit(c, created_names, {});
  }();
  if (!st.ok()) return st;  // the connection closes: the transaction is rolled back
  for (const Plan* p : created) {
    if (p->stream == nullptr || options_.schema_only) continue;
    stats->tables++;
    stats->rows += p->stream->rows;
    stats->bytes += p->stream->size;
  }
  return Status::OK();
}

void TableRestorer::OnInterrupted() {
  std::unique_lock<std::mutex> l(mu_);
  interrupted_ = true;
  // Stops the statements under way (a load, an index build, a lock wait); no new one starts.
  // The uncommitted transaction is rolled back, by its thread or by the server when the
  // process ends. Under mu_: a connection cannot go away while it is cancelled. A cancel that
  // reaches a backend between two statements is lost, so it is repeated until each statement
  // has returned.
  for (int i = 0; i < 300 && !active_.empty(); ++i) {
    for (Connection* c : active_) (void)c->Cancel();
    cv_.wait_for(l, std::chrono::milliseconds(100), [this] { return active_.empty(); });
  }
  // A COMMIT under way makes its tables this run's: wait for it to be known.
  if (!cv_.wait_for(l, std::chrono::seconds(30), [this] { return committing_ == 0; })) {
    LogWarning(
        "a COMMIT had not ended 30 s after the interrupt; check the tables named with "
        "--table");
  }
  if (dropping_) {
    // A failure's drop is under way: it must reach the server before the process ends.
    cv_.wait_for(l, std::chrono::seconds(30), [this] { return !dropping_; });
    return;
  }
  if (created_tables_.empty() && created_schemas_.empty()) return;
  l.unlock();
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
    if (settled_) return "";
    settled_ = dropping_ = true;
    tables = created_tables_;
    schemas = created_schemas_;
  }
  std::string left;
  // A fresh connection: the one that failed may be what broke.
  auto conn = Connection::Open(options_.conninfo);
  if (!conn.ok()) {
    for (const TableName& t : tables) left += (left.empty() ? "" : ", ") + t.Quoted();
    left += " (" + conn.status().message() + ")";
  } else {
    Connection* c = conn->get();
    // Never wait for a lock for ever (the process may be ending): a session that still uses a
    // table makes the drop fail, and the table is named.
    (void)c->Exec("SET lock_timeout = '10s'");
    if (!tables.empty()) {
      // One statement: foreign keys between the tables, and partitions of a parent, go with
      // them; each table's own sequences go with it.
      std::string list;
      for (const TableName& t : tables) list += (list.empty() ? "" : ", ") + t.Quoted();
      Status s = c->Exec("DROP TABLE IF EXISTS " + list);
      if (!s.ok()) left = FewNames(tables) + " (" + s.message() + ")";
    }
    for (auto n = schemas.rbegin(); n != schemas.rend(); ++n) {
      Status s = c->Exec("DROP SCHEMA IF EXISTS " + QuoteDumpIdent(*n));
      if (!s.ok()) {
        left += (left.empty() ? "" : ", ") + QuoteDumpIdent(*n) + " (" + s.message() + ")";
      }
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    dropping_ = false;
  }
  cv_.notify_all();
  return left;
}

Status TableRestorer::AddForeignKeys(Connection* c) {
  for (const Plan& p : plans_) {
    if (!p.create) continue;
    for (const std::string& fk : p.objects.foreign_keys) {
      Step("a foreign key of " + p.name.Quoted());
      DumpScript d = ParseDumpScript(fk);
      Status s = RunStatement(c, BatchSettings(d));
      if (s.ok()) s = RunStatement(c, BatchAll(d));
      PGDEDUP_RETURN_IF_ERROR(RunStatement(c, SessionEncodingSql(c)));
      if (s.IsUnavailable()) return s;  // interrupted
      if (!s.ok())
        LogWarning("not restored: a foreign key of " + p.name.Quoted() + ": " + s.message());
    }
  }
  return Status::OK();
}

Result<DatabaseRestoreStats> TableRestorer::Run() {
  PGDEDUP_RETURN_IF_ERROR(LoadSchema());
  for (const std::string& spec : options_.tables) PGDEDUP_RETURN_IF_ERROR(Resolve(spec));
  // Every partition to its parent's plan, whichever --table named first.
  for (size_t i = 0; i < plans_.size(); ++i) {
    if (!plans_[i].objects.partitioned) continue;
    for (const TableName& child : PartitionsOf(pre_, plans_[i].name)) {
      for (Plan& p : plans_) {
        if (p.name.schema == child.schema && p.name.table == child.table) {
          p.parent = static_cast<int>(i);
        }
      }
    }
  }

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
    // A created table is loaded in its creation's transaction (CreateTables).
    if (p.stream == nullptr || options_.schema_only || p.create) continue;
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
  std::string left = DropCreated();  // an interrupt meanwhile waits for it
  return applied.WithDetail(left.empty()
                                ? "the tables this restore had created were dropped again"
                                : "could not drop again what this restore had created: " + left);
}

Status TableRestorer::Apply(Connection* c, const std::vector<const repo::StreamInfo*>& loads,
                            const std::set<const repo::StreamInfo*>& truncate,
                            DatabaseRestoreStats* stats) {
  // Phases as reported: schemas; the tables created (made, loaded and indexed in one
  // transaction) and the loads of existing ones; foreign keys and ANALYZE.
  auto t0 = std::chrono::steady_clock::now();
  PGDEDUP_RETURN_IF_ERROR(CreateSchemas(c));
  auto t1 = std::chrono::steady_clock::now();
  stats->seconds_schema = std::chrono::duration<double>(t1 - t0).count();
  PGDEDUP_RETURN_IF_ERROR(CreateTables(stats));
  if (!loads.empty()) PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
  if (!loads.empty() && !truncate.empty()) {
    // Rows are replaced (--clean): every table chosen, every partition of a partitioned one,
    // in one transaction on one connection, so that a failure leaves all of them as they were
    // rather than some replaced and some not.
    auto loader = OpenLoader(options_);
    if (!loader.ok()) return loader.status();
    Connection* lc = loader->get();
    Status st = RunStatement(lc, "BEGIN");
    for (const repo::StreamInfo* t : loads) {
      if (!st.ok()) break;
      Step("table " + t->name);
      st = LoadTableInTransaction(repo_, lc, *t, truncate.count(t) > 0, options_,
                                  /*into_existing=*/true);
      if (!st.ok()) break;
      stats->tables++;
      stats->rows += t->rows;
      stats->bytes += t->size;
    }
    if (st.ok()) st = Commit(lc, {}, {});
    if (!st.ok()) {
      (void)lc->Exec("ROLLBACK");
      return st.WithContext("no rows were changed");
    }
  } else if (!loads.empty()) {
    // (Not cancelled by an interrupt: each table's load commits whole or not at all.)
    auto loaded =
        LoadTables(repo_, loads, truncate, options_, [&](const std::string& s) { Step(s); });
    if (!loaded.ok()) return loaded.status();
    stats->tables += loaded->tables;
    stats->rows += loaded->rows;
    stats->bytes += loaded->bytes;
  }
  if (!options_.schema_only) {  // (an existing parent's sequence, its partitions created)
    std::vector<const Plan*> existing;
    for (const Plan& p : plans_) {
      if (!p.create) existing.push_back(&p);
    }
    auto sequences = SequenceSql(c, existing);
    if (!sequences.ok()) return sequences.status();
    if (!sequences->empty()) {
      Step("sequences");
      PGDEDUP_RETURN_IF_ERROR(RunStatement(c, *sequences).WithContext("sequences"));
    }
  }
  auto t2 = std::chrono::steady_clock::now();
  stats->seconds_data = std::chrono::duration<double>(t2 - t1).count();
  if (!options_.data_only) PGDEDUP_RETURN_IF_ERROR(AddForeignKeys(c));
  for (const Plan& p : plans_) {
    if (p.stream == nullptr || options_.schema_only || !options_.analyze) continue;
    // Statistics, not rows: a failure is said, unless the restore was interrupted.
    if (Status st = RunStatement(c, "ANALYZE " + p.name.Quoted()); !st.ok()) {
      PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
      WarnAnalyzeFailed(p.name.Quoted(), st);
    }
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
