#include "pg/new_database.h"

#include <chrono>

#include "common/log.h"

namespace pgdedup::pg {

namespace {

// How long an interrupt waits for a cancelled CREATE DATABASE to end before dropping anyway.
constexpr auto kCancelWait = std::chrono::seconds(30);

}  // namespace

Status DropDatabase(const std::string& maintenance_conninfo, const std::string& name) {
  auto c = Connection::Open(maintenance_conninfo);
  if (!c.ok()) return c.status();
  const bool force = (*c)->ServerVersion() >= 130000;
  if (!force) {
    // No WITH (FORCE) before 13: end the database's sessions the way FORCE would.
    auto ended = (*c)->Query(
        "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()",
        {name});
    if (!ended.ok()) return ended.status();
  }
  return (*c)->Exec("DROP DATABASE IF EXISTS " + (*c)->QuoteIdent(name) +
                    (force ? " WITH (FORCE)" : ""));
}

NewDatabase::NewDatabase(std::string maintenance_conninfo, std::string name)
    : maintenance_conninfo_(std::move(maintenance_conninfo)),
      name_(std::move(name)),
      on_interrupt_([this] { OnInterrupted(); }) {}

Result<std::unique_ptr<NewDatabase>> NewDatabase::Create(Connection* maintenance,
                                                         const std::string& maintenance_conninfo,
                                                         const std::string& name,
                                                         const std::string& options) {
  std::unique_ptr<NewDatabase> db(new NewDatabase(maintenance_conninfo, name));
  {
    std::lock_guard<std::mutex> l(db->mu_);
    db->creating_ = maintenance;
  }
  Status s = maintenance->Exec("CREATE DATABASE " + maintenance->QuoteIdent(name) +
                               (options.empty() ? "" : " " + options));
  {
    std::lock_guard<std::mutex> l(db->mu_);
    db->creating_ = nullptr;
    db->created_ = s.ok();
  }
  db->create_done_.notify_all();
  if (!s.ok()) return s;  // nothing was created: the destructor drops nothing
  return db;
}

NewDatabase::~NewDatabase() { (void)Drop(); }

Status NewDatabase::Keep() {
  std::lock_guard<std::mutex> l(mu_);
  if (settled_ && !kept_) {
    return Status::Unavailable("interrupted: the new database " + name_ + " is being dropped");
  }
  settled_ = kept_ = true;
  return Status::OK();
}

Status NewDatabase::Drop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (settled_ || !created_) return Status::OK();
    settled_ = true;
  }
  Status s = DropDatabase(maintenance_conninfo_, name_);
  if (!s.ok()) {
    LogWarning("could not drop the database " + name_ + " this restore created: " + s.message());
  }
  return s;
}

void NewDatabase::OnInterrupted() {
  std::unique_lock<std::mutex> l(mu_);
  if (creating_ != nullptr) {
    // The server would finish the CREATE after the process is gone: stop it, and wait to know
    // whether it got there first.
    (void)creating_->Cancel();
    create_done_.wait_for(l, kCancelWait, [this] { return creating_ == nullptr; });
    // Still running after the wait: try the drop all the same (IF EXISTS).
    if (creating_ != nullptr) created_ = true;
  }
  if (settled_ || !created_) return;
  settled_ = true;
  l.unlock();
  Status s = DropDatabase(maintenance_conninfo_, name_);
  if (!s.ok()) {
    LogWarning("could not drop the database " + name_ + " this restore created: " + s.message());
  }
}

}  // namespace pgdedup::pg
