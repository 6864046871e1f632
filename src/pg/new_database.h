// NewDatabase: a database a restore creates, kept only if the restore completes.
//
//   auto db = NewDatabase::Create(mc, maintenance_conninfo, "shop", "TEMPLATE template0");
//   if (!db.ok()) return db.status();
//   ... restore into (*db)->name() ...
//   PGDEDUP_RETURN_IF_ERROR((*db)->Keep());   // done: the database stays
//
// Until Keep(), the database is dropped when the object is destroyed (every error path) and on
// SIGINT, SIGTERM or SIGHUP (common/interrupt.h), so a failed, timed-out or interrupted restore
// leaves no half-restored database behind. An interrupt that comes while CREATE DATABASE itself
// runs cancels it and waits for it to end, then drops the database if the server created it
// after all. Only a database this object created is ever dropped: when CREATE DATABASE fails
// (the name is taken, say), nothing is.
//
// Dropping ends the database's sessions first (WITH (FORCE) from PostgreSQL 13; before, new
// connections are refused and the sessions of roles whose privileges we have are terminated),
// because the restore's own connections may still be open when an interrupt comes. Only SIGKILL
// leaves the database behind, or a CREATE DATABASE that the server has not ended 30 s after its
// cancel (then named in a warning).
//
// Thread safety: Create, Keep, Drop and the destructor are called by one thread; the interrupt
// cleanup runs on the interrupt thread, synchronised with them.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "common/interrupt.h"
#include "common/result.h"
#include "pg/connection.h"

namespace pgdedup::pg {

// Drops `name` if it exists, ending its sessions first, through a new connection to the
// maintenance database (not `name` itself). Before PostgreSQL 13 only sessions of roles whose
// privileges we have (every session, for a superuser) can be ended; another role's session makes
// the drop fail.
Status DropDatabase(const std::string& maintenance_conninfo, const std::string& name);

// Ends the sessions connected to database `name` that `c` may end (those of roles whose
// privileges it has, superusers' excepted; every one for a superuser), as DROP DATABASE ...
// WITH (FORCE) would. Best
// effort: a session it may not end is left, and whatever needs the database alone then fails.
void EndSessions(Connection* c, const std::string& name);

class NewDatabase {
 public:
  // Runs `CREATE DATABASE <name> <options>` on `maintenance` (a connection to another database
  // of the same server, which must outlive this call). `maintenance_conninfo` reaches that
  // database again for the drop. A drop is reported with a warning, followed by `note` if any.
  static Result<std::unique_ptr<NewDatabase>> Create(Connection* maintenance,
                                                     const std::string& maintenance_conninfo,
                                                     const std::string& name,
                                                     const std::string& options,
                                                     const std::string& note = "");
  ~NewDatabase();
  NewDatabase(const NewDatabase&) = delete;
  NewDatabase& operator=(const NewDatabase&) = delete;

  const std::string& name() const { return name_; }

  // The database stays. Fails only when an interrupt has already begun dropping it: the
  // caller must then not act as if it were there (the process is about to end).
  Status Keep();
  // Drops it now (nothing after Keep or a first Drop), and says so in a warning.
  void Drop();

 private:
  NewDatabase(std::string maintenance_conninfo, std::string name, std::string note);
  void OnInterrupted();
  void DropAndReport();

  const std::string maintenance_conninfo_;
  const std::string name_;
  const std::string note_;
  std::mutex mu_;
  std::condition_variable done_;    // a CREATE or a drop by the owning thread ended
  Connection* creating_ = nullptr;  // the connection running CREATE DATABASE, while it runs
  bool created_ = false;
  bool settled_ = false;  // kept, dropped (or being dropped), or interrupted before creation
  bool kept_ = false;
  bool dropping_ = false;     // Drop() on the owning thread is under way
  OnInterrupt on_interrupt_;  // last: unregistered before the members it uses go
};

}  // namespace pgdedup::pg
