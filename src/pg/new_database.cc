#include "pg/new_database.h"

#include <chrono>

#include "common/log.h"

namespace pgdedup::pg {

namespace {

// How long an interrupt waits for a cancelled CREATE DATABASE to end before dropping anyway.
constexpr auto kCancelWait = std::chrono::seconds(30);

}  // namespace

void EndSessions(Connection* c, const std::string& name) {
  // Only a superuser may end a superuser's session: asked by anyone else, the server fails the
  // whole statement, and the sessions it may end would be left too.
  (void)c->Query(
      "SELECT pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a "
      "JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid "
      "WHERE a.datname = $1 AND a.pid <> pg_catalog.pg_backend_pid() AND "
      "pg_catalog.pg_has_role(a.usesysid, 'USAGE') AND (NOT r.rolsuper OR "
      "(SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user))",
      {name});
}

Status DropDatabase(const std::string& maintenance_conninfo, const std::string& name) {
  auto c = Connection::Open(maintenance_conninfo);
  if (!c.ok()) return c.status();
  const std::string quoted = (*c)->QuoteIdent(name);
  if ((*c)->ServerVersion() >= 130000) {
    return (*c)->Exec("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)");
  }
  // No WITH (FORCE) before 13: refuse new sessions, end those we may end, then drop; a session
  // of another role makes the DROP fail, and the database is then opened again as it was.
  auto allowed =
      (*c)->Query("SELECT datallowconn FROM pg_catalog.pg_database WHERE datname = $1", {name});
  if (!allowed.ok()) return allowed.status();
  if (allowed->empty()) return Status::OK();
  const bool reopen = (*allowed)[0][0].value_or("f") == "t" &&
                      (*c)->Exec("ALTER DATABASE " + quoted + " ALLOW_CONNECTIONS false").ok();
  EndSessions(c->get(), name);
  Status dropped = (*c)->Exec("DROP DATABASE IF EXISTS " + quoted);
  if (!dropped.ok() && reopen) {
    (void)(*c)->Exec("ALTER DATABASE " + quoted + " ALLOW_CONNECTIONS true");
  }
  return dropped;
}

NewDatabase::NewDatabase(std::string maintenance_conninfo, std::string name, std::string note)
    : maintenance_conninfo_(std::move(maintenance_conninfo)),
      name_(std::move(name)),
      note_(std::move(note)),
      on_interrupt_([this] { OnInterrupted(); }) {}

Result<std::unique_ptr<NewDatabase>> NewDatabase::Create(Connection* maintenance,
                                                         const std::string& maintenance_conninfo,
                                                         const std::string& name,
                                                         const std::string& options,
                                                         const std::string& note) {
  std::unique_ptr<NewDatabase> db(new NewDatabase(maintenance_conninfo, name, note));
  {
    std::lock_guard<std::mutex> l(db->mu_);
    // An interrupt that came first has ended this run's cleanups: create nothing now.
    if (db->settled_) return Status::Unavailable("interrupted");
    db->creating_ = maintenance;
  }
  Status s = maintenance->Exec("CREATE DATABASE " + maintenance->QuoteIdent(name) +
                               (options.empty() ? "" : " " + options));
  {
    std::lock_guard<std::mutex> l(db->mu_);
    db->creating_ = nullptr;
    db->created_ = s.ok();
  }
  db->done_.notify_all();
  if (!s.ok()) return s;  // nothing was created: the destructor drops nothing
  return db;
}

NewDatabase::~NewDatabase() { Drop(); }

Status NewDatabase::Keep() {
  std::lock_guard<std::mutex> l(mu_);
  if (settled_ && !kept_) {
    return Status::Unavailable("interrupted: the new database " + name_ + " is being dropped");
  }
  settled_ = kept_ = true;
  return Status::OK();
}

void NewDatabase::Drop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (settled_ || !created_) return;
    settled_ = true;
    dropping_ = true;
  }
  DropAndReport();
  {
    std::lock_guard<std::mutex> l(mu_);
    dropping_ = false;
  }
  done_.notify_all();
}

void NewDatabase::DropAndReport() {
  Status s = DropDatabase(maintenance_conninfo_, name_);
  std::string tail = note_.empty() ? "" : "; " + note_;
  if (s.ok()) {
    LogWarning("dropped the database " + name_ + " this restore had created" + tail);
  } else {
    LogWarning("could not drop the database " + name_ + " this restore had created (" +
               s.message() + ")" + tail);
  }
}

void NewDatabase::OnInterrupted() {
  std::unique_lock<std::mutex> l(mu_);
  if (dropping_) {
    // The drop under way must reach the server before the process ends.
    done_.wait_for(l, kCancelWait, [this] { return !dropping_; });
    return;
  }
  if (creating_ != nullptr) {
    // The server would finish the CREATE after the process is gone: stop it, and wait to know
    // whether it got there first.
    (void)creating_->Cancel();
    if (!done_.wait_for(l, kCancelWait, [this] { return creating_ == nullptr; })) {
      // Whether it will be created is unknown, and the name may even be another session's
      // whose CREATE ours waits behind: not dropped, named.
      LogWarning("CREATE DATABASE " + name_ +
                 " had not ended 30 s after it was cancelled; if the database exists, drop it");
      return;
    }
  }
  // Before CREATE began: it will not begin now.
  const bool drop = !settled_ && created_;
  settled_ = true;
  if (!drop) return;
  l.unlock();
  DropAndReport();
}

}  // namespace pgdedup::pg
