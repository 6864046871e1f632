#include "pg/table_restore.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "common/interrupt.h"
#include "common/log.h"
#include "common/thread_pool.h"
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

// A pg_dump script as libpq can run it: its preamble's session settings and its entries (those
// `keep` accepts), each with the settings it was written under, without psql meta-commands
// (\restrict).
std::string ForLibpq(const std::string& script,
                     const std::function<bool(const DumpEntry&)>& keep = nullptr) {
  DumpScript d = ParseDumpScript(script);
  std::string out = PreambleSettings(d);
  for (const DumpEntry& e : d.entries) {
    if (!keep || keep(e)) out += e.settings + e.text;
  }
  return out;
}

class TableRestorer {
 public:
  TableRestorer(repo::Repository* repo, const repo::SnapshotRef& snapshot,
                const DatabaseRestoreOptions& options)
      : repo_(repo), m_(snapshot.manifest), options_(options) {}

  Result<DatabaseRestoreStats> Run();

 private:
  void Step(const std::string& s) const {
    std::lock_guard<std::mutex> l(step_mu_);  // creations run on several connections
    if (options_.progress) options_.progress(s);
  }
  Status LoadSchema();
  // Adds the table (or, for a partitioned one, itself and its partitions) to plans_.
  Status Resolve(const std::string& spec);
  Status AddTable(const TableName& name, int depth, int parent);
  Status Inspect(Connection* c, Plan* p);
  Status CreateSchemas(Connection* c);
  // The tables to create, each with the partitions to create under it: one transaction each.
  std::vector<std::vector<size_t>> CreationUnits() const;
  // Creates, loads and finishes (indexes, constraints, triggers, policies) the unit's tables
  // in one transaction on `c`: they exist whole once committed, or not at all.
  Status CreateUnit(Connection* c, const std::vector<size_t>& unit, DatabaseRestoreStats* stats);
  Status SetSequences(Connection* c);
  Status AddForeignKeys(Connection* c);
  // Everything after the checks: create, load, set sequences, finish, ANALYZE.
  Status Apply(Connection* c, const std::vector<const repo::StreamInfo*>& loads,
               const std::set<const repo::StreamInfo*>& truncate, DatabaseRestoreStats* stats);

  // Unavailable once interrupted: no step starts after that.
  Status CheckNotInterrupted() {
    std::lock_guard<std::mutex> l(mu_);
    return interrupted_ ? Status::Unavailable("interrupted") : Status::OK();
  }
  // While alive, `c` is cancelled by an interrupt (its statement stops; its transaction is
  // rolled back by whoever runs it, or by the server when the process ends).
  class Active {
   public:
    Active(TableRestorer* r, Connection* c) : r_(r), c_(c) {
      std::lock_guard<std::mutex> l(r_->mu_);
      r_->active_.insert(c_);
    }
    ~Active() {
      std::lock_guard<std::mutex> l(r_->mu_);
      r_->active_.erase(c_);
    }

   private:
    TableRestorer* r_;
    Connection* c_;
  };
  // COMMIT of a unit's transaction, unless interrupted; what it made is then recorded.
  Status CommitUnit(Connection* c, const std::vector<size_t>& unit);
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
  mutable std::mutex step_mu_;

  std::mutex mu_;  // guards everything below: the interrupt thread reads it
  std::condition_variable cv_;
  bool interrupted_ = false;
  int committing_ = 0;                     // units whose COMMIT is under way
  bool dropping_ = false;                  // DropCreated is running
  bool settled_ = false;                   // DropCreated has run (or is running)
  std::set<Connection*> active_;           // connections running this restore's statements
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
    return Status::InvalidArgument("--table " + spec + ": the snapshot has no such table");
  }
  if (matches.size() > 1) {
    std::string names;
    for (const auto& t : matches) names += (names.empty() ? "" : ", ") + t.schema + "." + t.table;
    return Status::InvalidArgument("--table " + spec + " is ambiguous: " + names +
                                   "; give SCHEMA.TABLE");
  }
  return AddTable(matches[0], 0, -1);
}

Status TableRestorer::AddTable(const TableName& name, int depth, int parent) {
  for (const Plan& p : plans_) {
    if (p.name.schema == name.schema && p.name.table == name.table) return Status::OK();
  }
  Plan p;
  p.name = name;
  p.parent = parent;
  p.objects = SelectTableObjects(pre_, post_, name);
  for (const auto& s : m_.streams) {
    if (s.kind == "table" && s.schema == name.schema && s.table == name.table) p.stream = &s;
  }
  if (p.stream == nullptr && !p.objects.partitioned) {
    return Status::InvalidArgument("table " + name.Quoted() +
                                   " has no data in the snapshot (is it a foreign table?)");
  }
  bool partitioned = p.objects.partitioned;
  const int self = static_cast<int>(plans_.size());
  plans_.push_back(std::move(p));
  if (partitioned) {
    if (depth > 16) return Status::InvalidArgument("partitions nested too deep: " + name.Quoted());
    for (const TableName& child : PartitionsOf(pre_, name)) {
      PGDEDUP_RETURN_IF_ERROR(AddTable(child, depth + 1, self));
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

Status TableRestorer::CreateSchemas(Connection* c) {
  std::set<std::string> done;
  for (const Plan& p : plans_) {
    if (!p.create || !done.insert(p.name.schema).second) continue;
    auto exists = c->Query("SELECT 1 FROM pg_namespace WHERE nspname = $1", {p.name.schema});
    if (!exists.ok()) return exists.status();
    std::string script = SchemaScript(pre_, p.name.schema);
    if (!exists->empty() || script.empty()) continue;
    PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
    Step("create schema " + QuoteDumpIdent(p.name.schema));
    Active active(this, c);
    // One transaction: a schema is made whole (its comment and grants) or not at all.
    Status st = c->Exec("BEGIN;\n" + ForLibpq(script));
    if (st.ok()) {
      std::unique_lock<std::mutex> l(mu_);
      if (interrupted_) {
        st = Status::Unavailable("interrupted");
      } else {
        st = c->Exec("COMMIT");
        if (st.ok()) created_schemas_.push_back(p.name.schema);
      }
    }
    if (!st.ok()) {
      (void)c->Exec("ROLLBACK");
      return st.WithContext("schema " + QuoteDumpIdent(p.name.schema));
    }
  }
  return Status::OK();
}

std::vector<std::vector<size_t>> TableRestorer::CreationUnits() const {
  // A created partition of a created table goes with it (it cannot be made before its parent
  // is, nor attached in another transaction before the parent commits); a created partition
  // of an existing table is a unit of its own.
  std::map<size_t, std::vector<size_t>> by_root;
  std::vector<size_t> roots;
  auto depth_of = [this](size_t i) {
    int d = 0;
    for (int p = plans_[i].parent; p >= 0; p = plans_[p].parent) ++d;
    return d;
  };
  for (size_t i = 0; i < plans_.size(); ++i) {
    if (!plans_[i].create) continue;
    size_t root = i;
    while (plans_[root].parent >= 0 && plans_[plans_[root].parent].create) {
      root = static_cast<size_t>(plans_[root].parent);
    }
    if (by_root.find(root) == by_root.end()) roots.push_back(root);
    by_root[root].push_back(i);
  }
  std::vector<std::vector<size_t>> units;
  for (size_t root : roots) {
    std::vector<size_t> unit = by_root[root];
    // Parents before their partitions.
    std::stable_sort(unit.begin(), unit.end(),
                     [&](size_t a, size_t b) { return depth_of(a) < depth_of(b); });
    units.push_back(std::move(unit));
  }
  return units;
}

Status TableRestorer::CreateUnit(Connection* c, const std::vector<size_t>& unit,
                                 DatabaseRestoreStats* stats) {
  PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
  Active active(this, c);
  PGDEDUP_RETURN_IF_ERROR(c->Exec("BEGIN"));
  // A partition of an existing table is attached last, once its own indexes are built:
  // ATTACH PARTITION then takes them for the parent's partitioned indexes. Attached first, it
  // would be given new ones, and the partition's own primary key would then be its second.
  auto attach = [](const DumpEntry& e) {
    return e.type == "TABLE ATTACH" || e.type == "INDEX ATTACH";
  };
  // The unit's first table is a partition (of a table not created here) when its script
  // attaches it.
  const DumpScript root_pre = ParseDumpScript(plans_[unit[0]].objects.pre_data);
  const bool attach_last = std::any_of(root_pre.entries.begin(), root_pre.entries.end(),
                                       [](const DumpEntry& e) { return e.type == "TABLE ATTACH"; });
  const std::function<bool(const DumpEntry&)> not_attach = [&](const DumpEntry& e) {
    return !attach(e);
  };
  const std::function<bool(const DumpEntry&)> all;
  Status st = [&]() -> Status {
    for (size_t i : unit) {
      const Plan& p = plans_[i];
      Step("create table " + p.name.Quoted());
      PGDEDUP_RETURN_IF_ERROR(
          c->Exec(ForLibpq(p.objects.pre_data, attach_last && i == unit[0] ? not_attach : all))
              .WithContext("creating table " + p.name.Quoted()));
    }
    for (size_t i : unit) {
      const Plan& p = plans_[i];
      if (p.stream == nullptr || options_.schema_only) continue;
      Step("table " + p.name.Quoted());
      // Created in this transaction: truncating it costs nothing and lets COPY write the rows
      // frozen (the table then needs no first VACUUM).
      PGDEDUP_RETURN_IF_ERROR(LoadTableInTransaction(repo_, c, *p.stream, /*truncate=*/true,
                                                     options_, /*into_existing=*/false));
    }
    for (size_t i : unit) {
      const Plan& p = plans_[i];
      Step("indexes and constraints of " + p.name.Quoted());
      PGDEDUP_RETURN_IF_ERROR(
          c->Exec(ForLibpq(p.objects.post_data, attach_last && i == unit[0] ? not_attach : all))
              .WithContext("indexes and constraints of " + p.name.Quoted()));
    }
    if (attach_last) {
      const Plan& p = plans_[unit[0]];
      Step("attach partition " + p.name.Quoted());
      PGDEDUP_RETURN_IF_ERROR(
          c->Exec(ForLibpq(p.objects.pre_data, attach) + ForLibpq(p.objects.post_data, attach))
              .WithContext("attaching partition " + p.name.Quoted()));
    }
    return CommitUnit(c, unit);
  }();
  if (!st.ok()) {
    (void)c->Exec("ROLLBACK");
    return st;
  }
  std::lock_guard<std::mutex> l(mu_);
  for (size_t i : unit) {
    const Plan& p = plans_[i];
    if (p.stream == nullptr || options_.schema_only) continue;
    stats->tables++;
    stats->rows += p.stream->rows;
    stats->bytes += p.stream->size;
  }
  return Status::OK();
}

Status TableRestorer::CommitUnit(Connection* c, const std::vector<size_t>& unit) {
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
      for (size_t i : unit) created_tables_.push_back(plans_[i].name);
    }
  }
  cv_.notify_all();
  return st;
}

void TableRestorer::OnInterrupted() {
  std::vector<Connection*> active;
  {
    std::lock_guard<std::mutex> l(mu_);
    interrupted_ = true;
    active.assign(active_.begin(), active_.end());
  }
  // Stops the statements under way (a load, an index build, a lock wait): uncommitted units
  // are rolled back, by their thread or by the server when the process ends.
  for (Connection* c : active) (void)c->Cancel();
  {
    std::unique_lock<std::mutex> l(mu_);
    // A COMMIT under way makes its tables this run's: wait for it to be known.
    if (!cv_.wait_for(l, std::chrono::seconds(30), [this] { return committing_ == 0; })) {
      LogWarning(
          "a COMMIT had not ended 30 s after the interrupt; check the tables named "
          "with --table");
    }
    if (dropping_) {
      // A failure's drop is under way: it must reach the server before the process ends.
      cv_.wait_for(l, std::chrono::seconds(30), [this] { return !dropping_; });
      return;
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
      if (!s.ok()) left = list + " (" + s.message() + ")";
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
  PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
  Step("sequences");
  Active active(this, c);
  return c->Exec(sql).WithContext("sequences");
}

Status TableRestorer::AddForeignKeys(Connection* c) {
  for (const Plan& p : plans_) {
    if (!p.create) continue;
    for (const std::string& fk : p.objects.foreign_keys) {
      PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
      Step("a foreign key of " + p.name.Quoted());
      Active active(this, c);
      Status s = c->Exec(ForLibpq(fk));
      if (!s.ok())
        LogWarning("not restored: a foreign key of " + p.name.Quoted() + ": " + s.message());
    }
  }
  return Status::OK();
}

Result<DatabaseRestoreStats> TableRestorer::Run() {
  PGDEDUP_RETURN_IF_ERROR(LoadSchema());
  for (const std::string& spec : options_.tables) PGDEDUP_RETURN_IF_ERROR(Resolve(spec));
  // A partition named before its parent was added without one: link every partition to its
  // parent's plan (CreationUnits puts parents first).
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
    // A created table is loaded in its creation's transaction (CreateUnit).
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
  // Phases as reported: schemas; the tables created (each made, loaded and indexed in one
  // transaction) and the loads of existing ones; foreign keys and ANALYZE.
  auto t0 = std::chrono::steady_clock::now();
  PGDEDUP_RETURN_IF_ERROR(CreateSchemas(c));
  auto t1 = std::chrono::steady_clock::now();
  stats->seconds_schema = std::chrono::duration<double>(t1 - t0).count();
  const std::vector<std::vector<size_t>> units = CreationUnits();
  if (!units.empty()) {
    const int jobs = options_.jobs > 0 ? options_.jobs : ThreadPool::DefaultThreads();
    // The jobs are the parallelism: no parallel workers for the index builds beside them.
    const std::string setup = jobs > 1 && units.size() > 1 ? kNoParallelWorkers : "";
    PGDEDUP_RETURN_IF_ERROR(ForEachOnConnections(
        options_, units.size(), setup,
        [&](Connection* uc, size_t i) { return CreateUnit(uc, units[i], stats); }));
  }
  if (!loads.empty()) PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
  if (!loads.empty() && !truncate.empty()) {
    // Rows are replaced (--clean): every table chosen, every partition of a partitioned one,
    // in one transaction on one connection, so that a failure leaves all of them as they were
    // rather than some replaced and some not.
    auto loader = OpenLoader(options_);
    if (!loader.ok()) return loader.status();
    Connection* lc = loader->get();
    Active active(this, lc);
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
    if (st.ok()) st = CheckNotInterrupted();
    if (st.ok()) st = lc->Exec("COMMIT");
    if (!st.ok()) {
      (void)lc->Exec("ROLLBACK");
      return st.WithContext("no rows were changed");
    }
  } else if (!loads.empty()) {
    auto loaded =
        LoadTables(repo_, loads, truncate, options_, [&](const std::string& s) { Step(s); });
    if (!loaded.ok()) return loaded.status();
    stats->tables += loaded->tables;
    stats->rows += loaded->rows;
    stats->bytes += loaded->bytes;
  }
  if (!options_.schema_only) PGDEDUP_RETURN_IF_ERROR(SetSequences(c));
  auto t2 = std::chrono::steady_clock::now();
  stats->seconds_data = std::chrono::duration<double>(t2 - t1).count();
  if (!options_.data_only) PGDEDUP_RETURN_IF_ERROR(AddForeignKeys(c));
  for (const Plan& p : plans_) {
    if (p.stream == nullptr || options_.schema_only) continue;
    PGDEDUP_RETURN_IF_ERROR(CheckNotInterrupted());
    Active active(this, c);
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
