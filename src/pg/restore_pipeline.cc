#include "pg/restore_pipeline.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/thread_pool.h"

namespace pgdedup::pg {

namespace {

// (parent schema, parent, descendant schema, descendant) for every table that inherits from a
// plain table, at any depth.
constexpr char kInheritanceSql[] =
    "WITH RECURSIVE tree(parent, child) AS ("
    " SELECT inhparent, inhrelid FROM pg_catalog.pg_inherits"
    " UNION SELECT t.parent, i.inhrelid FROM tree t"
    " JOIN pg_catalog.pg_inherits i ON i.inhparent = t.child) "
    "SELECT pn.nspname, p.relname, cn.nspname, c.relname FROM tree "
    "JOIN pg_catalog.pg_class p ON p.oid = tree.parent "
    "JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace "
    "JOIN pg_catalog.pg_class c ON c.oid = tree.child "
    "JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace "
    "WHERE p.relkind = 'r'";

// One entry, one statement in its own transaction. Two entries can deadlock only through a
// partitioned table and one of its partitions; the server then cancels one, which is retried.
Status RunEntry(Connection* c, const DumpEntry& e) {
  constexpr int kAttempts = 5;
  Status st;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    st = c->Exec(e.settings + e.text);
    if (st.ok() || st.ToString().find("deadlock detected") == std::string::npos) break;
  }
  return st.WithContext("post-data: " + e.type + " " + e.name);
}

Status RunGroup(Connection* c, const PostDataPlan& plan, const PostDataPlan::Group& g) {
  for (size_t i : g.entries) PGDEDUP_RETURN_IF_ERROR(RunEntry(c, plan.script.entries[i]));
  return Status::OK();
}

// The tasks of LoadAndBuild and the state of the run, under one mutex.
class Pipeline {
 public:
  // `descendants`: (inheritance parent, descendant) pairs of quoted names; pairs with a table
  // not in `tables` are ignored.
  Pipeline(repo::Repository* repo, std::vector<const repo::StreamInfo*> tables,
           const PostDataPlan& plan, const DatabaseRestoreOptions& options,
           const std::vector<std::pair<std::string, std::string>>& descendants,
           const std::function<void(const std::string&)>& step)
      : repo_(repo),
        tables_(std::move(tables)),
        plan_(plan),
        options_(options),
        step_(step),
        analyze_(plan.analyze_early && options.analyze) {
    std::stable_sort(tables_.begin(), tables_.end(),
                     [](const auto* a, const auto* b) { return a->size > b->size; });
    std::map<std::string, size_t> group_of;
    for (size_t g = 0; g < plan_.groups.size(); ++g) {
      if (!plan_.groups[g].table.empty()) group_of[plan_.groups[g].table] = g;
    }
    tasks_of_.resize(tables_.size());
    group_of_table_.assign(tables_.size(), nullptr);
    for (size_t t = 0; t < tables_.size(); ++t) {
      std::string name = TableName{tables_[t]->schema, tables_[t]->table}.Quoted();
      index_of_[name] = t;
      if (auto g = group_of.find(name); g != group_of.end()) {
        group_of_table_[t] = &plan_.groups[g->second];
      }
    }
    // SplitPostData took out only foreign keys between tables of `loaded`, which are these.
    for (size_t f = 0; f < plan_.foreign_keys.size(); ++f) {
      size_t a = index_of_.at(plan_.foreign_keys[f].table);
      size_t b = index_of_.at(plan_.foreign_keys[f].referenced);
      fk_tables_.push_back({a, b});
      tasks_of_[a].push_back(f);
      if (b != a) tasks_of_[b].push_back(f);
      waiting_on_.push_back(b != a ? 2 : 1);
    }
    // A table's build waits for its own load, and for those of its inheritance descendants:
    // its ANALYZE then samples their rows too, and neither it nor a build that checks the
    // children waits for a child's load (TRUNCATE and COPY) to let go of the child.
    loads_before_build_.assign(tables_.size(), 1);
    parents_of_.resize(tables_.size());
    for (const auto& [parent, child] : descendants) {
      auto p = index_of_.find(parent);
      auto c = index_of_.find(child);
      if (p == index_of_.end() || c == index_of_.end() || p->second == c->second) continue;
      loads_before_build_[p->second]++;
      parents_of_[c->second].push_back(p->second);
    }
    EstimateChains();
    loads_left_ = tables_.size();
    for (size_t t = 0; t < tables_.size(); ++t) {
      AddReady({Task::Kind::kLoad, t, Cost(t) + chain_[t], {}});
    }
    result_.loads_done = std::chrono::steady_clock::now();
  }

  // The groups of tables that are not loaded (they run once every load is done).
  std::vector<const PostDataPlan::Group*> Ungrouped() const {
    std::vector<const PostDataPlan::Group*> out;
    for (const auto& g : plan_.groups) {
      if (index_of_.count(g.table) == 0) out.push_back(&g);
    }
    return out;
  }

  Result<LoadAndBuildResult> Run() {
    int jobs = options_.jobs > 0 ? options_.jobs : ThreadPool::DefaultThreads();
    jobs = std::max(1, std::min<int>(jobs, static_cast<int>(tables_.size())));
    if (tables_.empty()) return result_;
    workers_ = jobs;
    std::vector<std::thread> threads;
    for (int i = 1; i < jobs; ++i) threads.emplace_back([this] { Work(); });
    Work();
    for (auto& th : threads) th.join();
    if (!failure_.ok()) return failure_;
    return result_;
  }

 private:
  struct Task {
    enum class Kind { kLoad, kBuild, kForeignKey } kind;
    size_t index;   // into tables_ (kLoad, kBuild) or plan_.foreign_keys (kForeignKey)
    double weight;  // the estimated work of the task and of the longest chain behind it
    std::vector<std::string> locks;  // tables it holds while it runs (none for a load)
  };

  // The estimated work of going through table t once (COPY, an index build's scan and sort,
  // ANALYZE's sample): its stream's bytes, and kRowBytes for each row. Fitted to the loads of
  // the shop database (bench/pg_bench.sh, scale 15): 197 MB in 600,000 rows took 2.3 s, 24 MB
  // in 900,000 rows 1.0 s, that is ~9 ms a MB and ~0.9 s a million rows.
  static constexpr double kRowBytes = 100;
  double Cost(size_t t) const {
    return static_cast<double>(tables_[t]->size) +
           kRowBytes * static_cast<double>(tables_[t]->rows);
  }
  // A foreign key's check reads both of its tables once, through their new indexes: measured
  // at about a quarter of a load of the two.
  double ForeignKeyWork(size_t f) const {
    auto [a, b] = fk_tables_[f];
    return (Cost(a) + (b != a ? Cost(b) : 0)) / 4;
  }

  // ANALYZE reads a sample of at most 300 x default_statistics_target (100) blocks, ~240 MB: a
  // quarter of a load (0.36 s for the 2.3 s load above), up to that of a 0.5 s load.
  static constexpr double kAnalyzeCap = 64e6;

  // chain_[t]: the estimated work that waits on table t's load, along the longest path: its
  // build (each index or constraint about half a load, then ANALYZE), then the foreign keys
  // that need it, which follow one another (each locks both of its tables); or a parent's
  // build, which waits for t's load too. Tasks on the longest chains go first (the classic
  // critical-path order of list scheduling), so that the last minutes of a restore are not
  // one table's indexes and foreign keys run on one core while the others wait.
  void EstimateChains() {
    chain_.assign(tables_.size(), 0);
    std::vector<double> fks(tables_.size(), 0);
    for (size_t f = 0; f < fk_tables_.size(); ++f) {
      auto [a, b] = fk_tables_[f];
      fks[a] += ForeignKeyWork(f);
      if (b != a) fks[b] += ForeignKeyWork(f);
    }
    for (size_t t = 0; t < tables_.size(); ++t) {
      const size_t entries = group_of_table_[t] ? group_of_table_[t]->entries.size() : 0;
      const double build = Cost(t) * 0.5 * static_cast<double>(entries) +
                           (analyze_ ? std::min(Cost(t) / 4, kAnalyzeCap) : 0.0);
      chain_[t] = build + fks[t];
    }
    for (size_t t = 0; t < tables_.size(); ++t) {
      for (size_t p : parents_of_[t]) chain_[t] = std::max(chain_[t], chain_[p]);
    }
  }

  // REQUIRES: mu_ held. Takes the next task a worker may start now, or returns false.
  bool TakeTask(Task* out) {
    for (auto it = ready_.begin(); it != ready_.end(); ++it) {
      const Task& task = it->second;
      bool free = std::none_of(task.locks.begin(), task.locks.end(),
                               [&](const std::string& l) { return held_.count(l) > 0; });
      if (!free) continue;
      *out = std::move(it->second);
      ready_.erase(it);
      for (const auto& l : out->locks) held_.insert(l);
      if (out->kind == Task::Kind::kLoad) {
        loads_running_++;
        loads_left_--;
        step_("table " + tables_[out->index]->name);
      } else if (out->kind == Task::Kind::kBuild && group_of_table_[out->index] != nullptr) {
        step_("indexes and constraints of " + tables_[out->index]->name);
      } else if (out->kind == Task::Kind::kForeignKey) {
        step_("foreign key " + plan_.script.entries[plan_.foreign_keys[out->index].entry].name);
      }
      return true;
    }
    return false;
  }

  // REQUIRES: mu_ held. Whether a worker with nothing to take should wait (true) or leave.
  bool MoreToCome() const { return loads_running_ > 0 || running_ > 0; }

  // REQUIRES: mu_ held, or no worker started yet.
  void AddReady(Task task) {
    const double weight = task.weight;
    ready_.emplace(weight, std::move(task));  // after those of the same weight
  }

  // REQUIRES: mu_ held. Table t, or a descendant of t, is loaded.
  void LoadDone(size_t t) {
    if (--loads_before_build_[t] > 0) return;
    if (group_of_table_[t] != nullptr || analyze_) {
      const repo::StreamInfo& s = *tables_[t];
      AddReady({Task::Kind::kBuild, t, chain_[t], {TableName{s.schema, s.table}.Quoted()}});
    } else {
      TableDone(t);
    }
  }

  // REQUIRES: mu_ held. Table t is loaded, built and analyzed: its foreign keys may follow.
  void TableDone(size_t t) {
    for (size_t f : tasks_of_[t]) {
      if (--waiting_on_[f] > 0) continue;
      const auto& fk = plan_.foreign_keys[f];
      AddReady({Task::Kind::kForeignKey, f, ForeignKeyWork(f), {fk.table, fk.referenced}});
    }
  }

  void Work() {
    std::unique_ptr<Connection> loader;
    std::unique_ptr<Connection> ddl;
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> l(mu_);
        for (;;) {
          if (!failure_.ok()) return;
          if (TakeTask(&task)) break;
          if (!MoreToCome()) return;
          cv_.wait(l);
        }
        if (task.kind != Task::Kind::kLoad) running_++;
      }
      Status st = task.kind == Task::Kind::kLoad ? Load(task.index, &loader) : RunDdl(task, &ddl);
      std::lock_guard<std::mutex> l(mu_);
      if (task.kind == Task::Kind::kLoad) {
        loads_running_--;
      } else {
        running_--;
      }
      for (const auto& lock : task.locks) held_.erase(lock);
      if (!st.ok()) {
        if (failure_.ok()) failure_ = st;
      } else if (task.kind == Task::Kind::kLoad) {
        const repo::StreamInfo& s = *tables_[task.index];
        result_.loaded.tables++;
        result_.loaded.rows += s.rows;
        result_.loaded.bytes += s.size;
        if (loads_left_ == 0 && loads_running_ == 0) {
          result_.loads_done = std::chrono::steady_clock::now();
        }
        LoadDone(task.index);
        for (size_t p : parents_of_[task.index]) LoadDone(p);
      } else if (task.kind == Task::Kind::kBuild) {
        TableDone(task.index);
      }
      cv_.notify_all();
    }
  }

  Status Load(size_t t, std::unique_ptr<Connection>* loader) {
    if (!*loader) {
      auto c = OpenLoader(options_);
      if (!c.ok()) return c.status();
      *loader = std::move(*c);
    }
    // A table the restore has just created is truncated all the same: COPY can then FREEZE.
    return LoadTable(repo_, loader->get(), *tables_[t], /*truncate=*/!options_.data_only, options_);
  }

  Status RunDdl(const Task& task, std::unique_ptr<Connection>* ddl) {
    if (!*ddl) {
      auto c = Connection::Open(options_.conninfo);
      if (!c.ok()) return c.status();
      PGDEDUP_RETURN_IF_ERROR(SetUpWorkingSession(c->get(), options_));
      if (!plan_.settings.empty()) PGDEDUP_RETURN_IF_ERROR((*c)->Exec(plan_.settings));
      if (workers_ > 1) PGDEDUP_RETURN_IF_ERROR((*c)->Exec(kNoParallelWorkers));
      *ddl = std::move(*c);
    }
    Connection* c = ddl->get();
    if (task.kind == Task::Kind::kForeignKey) {
      return RunEntry(c, plan_.script.entries[plan_.foreign_keys[task.index].entry]);
    }
    const repo::StreamInfo& s = *tables_[task.index];
    if (const PostDataPlan::Group* g = group_of_table_[task.index]) {
      PGDEDUP_RETURN_IF_ERROR(RunGroup(c, plan_, *g));
    }
    if (analyze_) {
      // The name is in the session's encoding, which the script's preamble may have changed.
      const std::string to_session = SessionEncodingSql(c);
      const bool switched =
          !plan_.settings.empty() && plan_.settings.find(to_session) == std::string::npos;
      if (switched) PGDEDUP_RETURN_IF_ERROR(c->Exec(to_session));
      std::string name = QualifiedName(c, s);
      Status analyzed = c->Exec("ANALYZE " + name);
      if (switched) PGDEDUP_RETURN_IF_ERROR(c->Exec(plan_.settings));
      // Statistics, not rows: a failure leaves the table to the ANALYZE at the end, on a
      // connection of its own, which warns if it fails again.
      if (!analyzed.ok()) {
        LogDebug("ANALYZE " + name +
                 " failed, to be tried again at the end: " + analyzed.message());
        return Status::OK();
      }
      std::lock_guard<std::mutex> l(mu_);
      result_.analyzed.insert({s.schema, s.table});
    }
    return Status::OK();
  }

  repo::Repository* const repo_;
  std::vector<const repo::StreamInfo*> tables_;  // the largest first
  const PostDataPlan& plan_;
  const DatabaseRestoreOptions& options_;
  const std::function<void(const std::string&)>& step_;
  const bool analyze_;                      // ANALYZE each table right after its build
  std::map<std::string, size_t> index_of_;  // quoted name -> index in tables_
  std::vector<const PostDataPlan::Group*> group_of_table_;  // per table; nullptr: none
  std::vector<std::vector<size_t>> tasks_of_;               // per table: its foreign keys
  std::vector<std::pair<size_t, size_t>> fk_tables_;        // per foreign key: its two tables
  std::vector<int> waiting_on_;                  // per foreign key: its tables not yet done
  std::vector<double> chain_;                    // per table: EstimateChains
  std::vector<int> loads_before_build_;          // per table: its and its descendants' loads to go
  std::vector<std::vector<size_t>> parents_of_;  // per table: its loaded inheritance ancestors

  std::mutex mu_;
  std::condition_variable cv_;
  int workers_ = 1;
  size_t loads_left_ = 0;  // loads not yet taken
  int loads_running_ = 0;
  int running_ = 0;                                    // builds and foreign keys
  std::multimap<double, Task, std::greater<>> ready_;  // the heaviest first
  std::set<std::string> held_;                         // tables locked by running tasks
  Status failure_;
  LoadAndBuildResult result_;
};

}  // namespace

PostDataPlan SplitPostData(const std::string& post_data, int jobs,
                           const std::set<std::string>& loaded) {
  PostDataPlan plan;
  plan.script = ParseDumpScript(post_data);
  plan.settings = PreambleSettings(plan.script);
  plan.rest = plan.script.preamble;
  // Foreign keys go early only when every index and constraint is known to be on its table's
  // group: the unique index a foreign key needs is then built before it.
  const bool fks_early =
      jobs > 1 &&
      std::none_of(plan.script.entries.begin(), plan.script.entries.end(), [](const DumpEntry& e) {
        return (e.type == "INDEX" || e.type == "CONSTRAINT") && EntryTable(e).empty();
      });
  // Relations post-data itself creates (pg_dump postpones a view or materialized view that
  // needs a constraint, such as one grouping by a primary key): their indexes stay in the
  // script, after them.
  std::set<std::string> made_here;
  for (const DumpEntry& e : plan.script.entries) {
    if (e.type == "MATERIALIZED VIEW" || e.type == "VIEW") {
      made_here.insert(QuoteDumpIdent(e.schema) + "." + QuoteDumpIdent(e.name));
    }
  }
  std::map<std::string, size_t> group_of;  // table -> index in plan.groups
  size_t rest_entries = 0;                 // entries left in plan.rest
  for (size_t i = 0; i < plan.script.entries.size(); ++i) {
    const DumpEntry& e = plan.script.entries[i];
    if (e.type == "STATISTICS") plan.analyze_early = false;
    if (fks_early && e.type == "FK CONSTRAINT") {
      ForeignKey fk = ForeignKeyTables(e);
      if (loaded.count(fk.table) > 0 && loaded.count(fk.referenced) > 0) {
        plan.foreign_keys.push_back({i, std::move(fk.table), std::move(fk.referenced)});
        continue;
      }
    }
    const std::string table = EntryTable(e);
    if (jobs <= 1 || (e.type != "INDEX" && e.type != "CONSTRAINT") || made_here.count(table) > 0) {
      plan.rest += e.settings + e.text;
      rest_entries++;
      continue;
    }
    // An entry whose table cannot be told is a group of its own.
    if (auto known = group_of.find(table); !table.empty() && known != group_of.end()) {
      plan.groups[known->second].entries.push_back(i);
      continue;
    }
    if (!table.empty()) group_of[table] = plan.groups.size();
    plan.groups.push_back({table, {i}});
  }
  plan.rest += plan.script.epilogue;
  plan.rest_needed =
      plan.script.entries.empty() || rest_entries > 0 || !PreambleIsSettingsOnly(plan.script);
  // Nothing taken out: run it as it was written.
  if (plan.groups.empty() && plan.foreign_keys.empty()) plan.rest = post_data;
  if (jobs <= 1) plan.analyze_early = false;
  return plan;
}

Result<LoadAndBuildResult> LoadAndBuild(repo::Repository* repo,
                                        std::vector<const repo::StreamInfo*> tables,
                                        const std::string& post_data,
                                        const DatabaseRestoreOptions& options,
                                        const std::function<void(const std::string&)>& step) {
  std::set<std::string> loaded;
  for (const auto* s : tables) loaded.insert(TableName{s->schema, s->table}.Quoted());
  const int jobs = options.jobs > 0 ? options.jobs : ThreadPool::DefaultThreads();
  const PostDataPlan plan = SplitPostData(post_data, jobs, loaded);
  // Inheritance trees among the tables (not partitions: a partitioned parent has no rows of
  // its own, and its group waits for every load).
  std::vector<std::pair<std::string, std::string>> descendants;
  if (jobs > 1 && !tables.empty()) {
    auto c = Connection::Open(options.conninfo);
    if (!c.ok()) return c.status();
    auto rows = (*c)->Query(kInheritanceSql);
    if (!rows.ok()) return rows.status().WithContext("reading the inheritance trees");
    for (const Row& r : *rows) {
      descendants.emplace_back(TableName{r[0].value_or(""), r[1].value_or("")}.Quoted(),
                               TableName{r[2].value_or(""), r[3].value_or("")}.Quoted());
    }
  }
  Pipeline pipeline(repo, std::move(tables), plan, options, descendants, step);
  auto result = pipeline.Run();
  if (!result.ok()) return result.status();
  // The groups that wait for no load of their own, then everything else in the dump's order.
  std::vector<const PostDataPlan::Group*> last = pipeline.Ungrouped();
  if (!last.empty()) step("indexes and constraints");
  std::string setup = plan.settings;
  if (std::min<size_t>(jobs, last.size()) > 1) setup += std::string(";\n") + kNoParallelWorkers;
  PGDEDUP_RETURN_IF_ERROR(
      ForEachOnConnections(options, last.size(), setup,
                           [&](Connection* c, size_t i) { return RunGroup(c, plan, *last[i]); }));
  if (!plan.rest.empty() && plan.rest_needed) {
    step("post-data");
    PGDEDUP_RETURN_IF_ERROR(RunSqlText(plan.rest, "post-data", options));
  }
  return result;
}

}  // namespace pgdedup::pg
