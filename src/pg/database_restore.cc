#include "pg/database_restore.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/hex.h"
#include "common/log.h"
#include "common/system.h"
#include "common/thread_pool.h"
#include "pg/connection.h"
#include "pg/dump_script.h"
#include "pg/new_database.h"
#include "pg/process.h"
#include "pg/restore_pipeline.h"
#include "pg/restore_steps.h"
#include "pg/table_restore.h"
#include "repo/crypto.h"
#include "repo/restore.h"

namespace pgdedup::pg {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Refuses a target that holds user objects: restoring over them mixes two databases. A new
// database (from template0, or a plain template1) holds the public schema and plpgsql only.
Status CheckEmpty(Connection* c, const std::string& dbname) {
  constexpr char kUserSchema[] =
      "nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' "
      "AND nspname NOT LIKE 'pg\\_temp%'";
  const std::string user_ns =
      std::string("(SELECT oid FROM pg_catalog.pg_namespace WHERE ") + kUserSchema + ")";
  auto rows = c->Query(
      "SELECT 'relations', count(*) FROM pg_catalog.pg_class WHERE relnamespace IN " + user_ns +
      " UNION ALL SELECT 'schemas', count(*) FROM pg_catalog.pg_namespace WHERE " + kUserSchema +
      " AND nspname <> 'public'"
      " UNION ALL SELECT 'functions', count(*) FROM pg_catalog.pg_proc WHERE pronamespace IN " +
      user_ns +
      " UNION ALL SELECT 'types', count(*) FROM pg_catalog.pg_type t WHERE typnamespace IN " +
      user_ns +
      " AND typrelid = 0 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = "
      "t.oid)"
      " UNION ALL SELECT 'extensions', count(*) FROM pg_catalog.pg_extension WHERE extname <> "
      "'plpgsql'"
      " UNION ALL SELECT 'large objects', count(*) FROM pg_catalog.pg_largeobject_metadata"
      " UNION ALL SELECT 'event triggers', count(*) FROM pg_catalog.pg_event_trigger"
      " UNION ALL SELECT 'publications', count(*) FROM pg_catalog.pg_publication"
      " UNION ALL SELECT 'foreign servers', count(*) FROM pg_catalog.pg_foreign_server"
      " UNION ALL SELECT 'subscriptions', count(*) FROM pg_catalog.pg_subscription WHERE "
      "subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
      " UNION ALL SELECT 'casts', count(*) FROM pg_catalog.pg_cast WHERE oid >= 16384"
      // What else lives in a schema (public included) besides relations, functions and types.
      " UNION ALL SELECT 'collations', count(*) FROM pg_catalog.pg_collation WHERE "
      "collnamespace IN " +
      user_ns +
      " UNION ALL SELECT 'operators', count(*) FROM pg_catalog.pg_operator WHERE oprnamespace IN " +
      user_ns +
      " UNION ALL SELECT 'operator families', count(*) FROM pg_catalog.pg_opfamily WHERE "
      "opfnamespace IN " +
      user_ns +
      " UNION ALL SELECT 'conversions', count(*) FROM pg_catalog.pg_conversion WHERE "
      "connamespace IN " +
      user_ns +
      " UNION ALL SELECT 'text search objects', (SELECT count(*) FROM pg_catalog.pg_ts_config "
      "WHERE cfgnamespace IN " +
      user_ns + ") + (SELECT count(*) FROM pg_catalog.pg_ts_dict WHERE dictnamespace IN " +
      user_ns + ") + (SELECT count(*) FROM pg_catalog.pg_ts_parser WHERE prsnamespace IN " +
      user_ns + ") + (SELECT count(*) FROM pg_catalog.pg_ts_template WHERE tmplnamespace IN " +
      user_ns +
      ")"
      // And in the database as a whole.
      " UNION ALL SELECT 'procedural languages', count(*) FROM pg_catalog.pg_language WHERE "
      "lanispl AND lanname <> 'plpgsql'"
      " UNION ALL SELECT 'access methods', count(*) FROM pg_catalog.pg_am WHERE oid >= 16384"
      " UNION ALL SELECT 'foreign-data wrappers', count(*) FROM "
      "pg_catalog.pg_foreign_data_wrapper"
      " UNION ALL SELECT 'transforms', count(*) FROM pg_catalog.pg_transform");
  if (!rows.ok()) return rows.status();
  std::string found;
  for (const auto& row : *rows) {
    std::string kind = row.size() == 2 ? row[0].value_or("") : "";
    std::string count = row.size() == 2 ? row[1].value_or("0") : "0";
    if (count != "0") found += (found.empty() ? "" : ", ") + count + " " + kind;
  }

  if (!found.empty()) {
    return Status::InvalidArgument("database \"" + dbname + "\" is not empty (" + found +
                                   "): refusing to restore into it. Restore into a new "
                                   "database with --create, or add --clean to drop everything in "
                                   "it first (--create --clean replaces the database with a new "
                                   "one)");
  }
  return Status::OK();
}

// For a data-only restore: every table of the snapshot exists and is empty; an extension's
// configuration table holds none of the rows its condition picks (the extension's own may be
// there).
Status CheckTablesEmpty(Connection* c, const repo::Manifest& m) {
  for (const auto& s : m.streams) {
    if (!s.holds_table_rows()) continue;
    std::string qualified = c->QuoteIdent(s.schema) + "." + c->QuoteIdent(s.table);
    auto any = c->Query("SELECT 1 FROM ONLY " + qualified +
                        (s.filter.empty() ? "" : " " + s.filter) + " LIMIT 1");
    if (!any.ok()) {
      return Status::InvalidArgument("--data-only needs the schema in place: table " + qualified +
                                     ": " + any.status().message());
    }
    if (!any->empty() && s.kind == "table") {
      return Status::InvalidArgument("--data-only: table " + qualified +
                                     " already holds rows; refusing to add to them");
    }
    if (!any->empty()) {
      return Status::InvalidArgument(
          "--data-only: " + qualified + ", configuration of extension " + s.extension +
          ", already holds rows besides the extension's own; refusing to add to them");
    }
  }
  return Status::OK();
}

// Drops every user object of the database `c` is connected to, in one transaction: the
// extensions (but plpgsql), every schema but public with everything in it, public's contents
// (the schema is created again with its owner, grants and comment), large objects,
// publications and event triggers. Roles, database settings and grants on the database stay.
Status CleanDatabase(Connection* c, const std::string& dbname, bool dry_run,
                     const std::function<void(const std::string&)>& step) {
  auto schemas = c->Query(
      "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', "
      "'information_schema', 'public') AND nspname NOT LIKE 'pg\\_toast%' "
      "AND nspname NOT LIKE 'pg\\_temp%' ORDER BY 1");
  if (!schemas.ok()) return schemas.status();
  auto relations = c->QueryValue(
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
      "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'");
  if (!relations.ok()) return relations.status();
  std::string list;
  for (const auto& r : *schemas) list += ", " + c->QuoteIdent(*r[0]);
  step("clean database \"" + dbname + "\": drop schema public's contents" + list + " (" +
       *relations +
       " relations), every extension but plpgsql, large objects, publications "
       "and event triggers");
  if (dry_run) return Status::OK();

  PGDEDUP_RETURN_IF_ERROR(c->Exec("BEGIN"));
  auto clean = [&]() -> Status {
    // Not one NOTICE per object dropped in cascade.
    PGDEDUP_RETURN_IF_ERROR(c->Exec("SET LOCAL client_min_messages = warning"));
    auto public_schema = c->Query(
        "SELECT quote_ident(pg_get_userbyid(nspowner)), "
        "obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'public'");
    if (!public_schema.ok()) return public_schema.status();
    auto grants = c->Query(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
        "ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type, a.is_grantable "
        "FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'public'");
    if (!grants.ok()) return grants.status();
    // Event triggers first: they would fire for every drop below. (Those an extension owns
    // cannot be dropped on their own; they go with their extension.)
    auto event_triggers = c->Query(
        "SELECT evtname FROM pg_event_trigger e WHERE NOT EXISTS (SELECT 1 FROM pg_depend d "
        "WHERE d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid AND d.deptype = "
        "'e')");
    if (!event_triggers.ok()) return event_triggers.status();
    for (const auto& r : *event_triggers) {
      PGDEDUP_RETURN_IF_ERROR(c->Exec("DROP EVENT TRIGGER " + c->QuoteIdent(*r[0])));
    }
    auto extensions = c->Query("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'");
    if (!extensions.ok()) return extensions.status();
    for (const auto& r : *extensions) {
      PGDEDUP_RETURN_IF_ERROR(
          c->Exec("DROP EXTENSION IF EXISTS " + c->QuoteIdent(*r[0]) + " CASCADE"));
    }
    for (const auto& r : *schemas) {
      PGDEDUP_RETURN_IF_ERROR(
          c->Exec("DROP SCHEMA IF EXISTS " + c->QuoteIdent(*r[0]) + " CASCADE"));
    }
    if (!public_schema->empty()) {
      const auto& row = (*public_schema)[0];
      PGDEDUP_RETURN_IF_ERROR(c->Exec("DROP SCHEMA public CASCADE"));
      PGDEDUP_RETURN_IF_ERROR(c->Exec("CREATE SCHEMA public AUTHORIZATION " + *row[0]));
      if (row[1]) {
        PGDEDUP_RETURN_IF_ERROR(c->Exec("COMMENT ON SCHEMA public IS " + c->QuoteLiteral(*row[1])));
      }
      for (const auto& g : *grants) {
        PGDEDUP_RETURN_IF_ERROR(c->Exec("GRANT " + *g[1] + " ON SCHEMA public TO " + *g[0] +
                                        (*g[2] == "t" ? " WITH GRANT OPTION" : "")));
      }
    }
    auto unlinked = c->Query("SELECT lo_unlink(oid) FROM pg_largeobject_metadata");
    if (!unlinked.ok()) return unlinked.status();
    auto publications = c->Query("SELECT pubname FROM pg_publication");
    if (!publications.ok()) return publications.status();
    for (const auto& r : *publications) {
      PGDEDUP_RETURN_IF_ERROR(c->Exec("DROP PUBLICATION " + c->QuoteIdent(*r[0])));
    }
    // Whatever is left (a subscription, whose drop would also drop its slot on the publisher,
    // is left to the operator) rolls everything back.
    PGDEDUP_RETURN_IF_ERROR(CheckEmpty(c, dbname));
    return c->Exec("COMMIT");
  };
  Status s = clean();
  if (!s.ok()) {
    (void)c->Exec("ROLLBACK");
    return s.WithContext("cleaning database \"" + dbname + "\" (nothing was dropped)");
  }
  return Status::OK();
}

// The database the restore goes into. With --create (which creates, and with --clean drops,
// a database by name on a maintenance connection) the conninfo must name it itself: a name
// libpq would take from a service file or the environment could differ from ours. Otherwise
// it is the database libpq connects to, as the server reports it.
Result<std::string> TargetDatabase(const DatabaseRestoreOptions& options) {
  if (options.create) {
    auto named = ExplicitDatabaseOf(options.conninfo);
    if (!named.ok()) return named.status();
    if (!named->has_value()) {
      return Status::InvalidArgument(
          "--create needs --db to name the database (dbname=NAME, or a URL ending in /NAME): "
          "it creates, and with --clean drops, the database of that name");
    }
    return **named;
  }
  auto c = Connection::Open(options.conninfo);
  if (!c.ok()) return c.status();
  return (*c)->QueryValue("SELECT pg_catalog.current_database()");
}

// Where a restore writes, as PrepareTarget made it ready.
struct Target {
  std::string dbname;    // the database the restore writes into
  std::string conninfo;  // reaches it (the --db conninfo, or that with dbname replaced)
  // --create: the database this restore created under a temporary name, dropped again unless
  // the restore completes; FinishTarget then gives it `final_name`, replacing the database of
  // that name with --clean.
  std::unique_ptr<NewDatabase> created;
  std::string final_name;
  bool replace_existing = false;
  std::string old_oid;  // of the database to replace, when the restore began
  std::string maintenance_conninfo;
  // --create: the server's pg_postmaster_start_time() when `created` was made (PutInPlace).
  std::string server_started;
};

// When the server `c` is connected to last started: a crash and restart changes it.
Result<std::string> ServerStartTime(Connection* c) {
  return c->QueryValue("SELECT pg_catalog.pg_postmaster_start_time()::text");
}

// Names of the databases a restore creates, and of one it replaces while it is renamed aside.
constexpr char kRestorePrefix[] = "pgdedup_restore_";
constexpr char kReplacedPrefix[] = "pgdedup_replaced_";

// Databases a restore leaves only when it is killed (SIGKILL, a crash) or still running.
void WarnOfLeftovers(Connection* mc) {
  auto found = mc->Query(
      "SELECT datname FROM pg_catalog.pg_database WHERE left(datname, length($1)) = $1 OR "
      "left(datname, length($2)) = $2 ORDER BY 1",
      {kRestorePrefix, kReplacedPrefix});
  if (!found.ok() || found->empty()) return;
  std::string names;
  for (const Row& r : *found) names += (names.empty() ? "" : ", ") + r[0].value_or("");
  LogWarning("databases left by restores that were killed or still run: " + names + " (" +
             kRestorePrefix + "*: a restore not finished, or finished but not renamed; " +
             kReplacedPrefix + "*: a database --clean was replacing). Check them before dropping");
}

// A connection to the server's maintenance database ("postgres", else "template1"), never to
// `avoid` (a database about to be dropped cannot be the one connected to).
Result<std::pair<std::unique_ptr<Connection>, std::string>> OpenMaintenance(
    const std::string& conninfo, const std::string& avoid) {
  Status last = Status::OK();
  for (const char* name : {"postgres", "template1"}) {
    if (avoid == name) continue;
    auto mci = WithDatabase(conninfo, name);
    if (!mci.ok()) return mci.status();
    auto c = Connection::Open(*mci);
    if (c.ok()) return std::make_pair(std::move(*c), *mci);
    last = c.status();
  }
  return last.WithContext("connecting to a maintenance database");
}

Result<Target> PrepareTarget(const repo::Manifest& m, const DatabaseRestoreOptions& options,
                             const std::string& dbname,
                             const std::function<void(const std::string&)>& step) {
  if (options.schema_only && options.data_only) {
    return Status::InvalidArgument("--schema-only and --data-only exclude each other");
  }
  if (options.data_only && options.create) {
    return Status::InvalidArgument("--data-only restores into an existing schema: drop --create");
  }
  if (!options.tables.empty() && options.create) {
    return Status::InvalidArgument("--table restores into an existing database: drop --create");
  }
  Target target;
  target.dbname = dbname;
  target.conninfo = options.conninfo;
  if (!options.create) {
    if (options.clean && options.data_only) {
      return Status::InvalidArgument(
          "--clean with --data-only would drop the schema the data needs");
    }
    auto c = Connection::Open(options.conninfo);
    if (!c.ok()) return c.status();
    if (!options.tables.empty()) return target;  // checked table by table
    if (options.data_only) {
      PGDEDUP_RETURN_IF_ERROR(CheckTablesEmpty(c->get(), m));
      return target;
    }
    if (options.clean) {
      auto is_template = (*c)->QueryValue(
          "SELECT datistemplate FROM pg_catalog.pg_database WHERE datname = current_database()");
      if (!is_template.ok()) return is_template.status();
      if (*is_template == "t") {
        return Status::InvalidArgument("database \"" + dbname +
                                       "\" is a template database: refusing to empty it");
      }
      PGDEDUP_RETURN_IF_ERROR(CleanDatabase(c->get(), dbname, options.dry_run, step));
      return target;
    }
    if (options.dry_run) step("check that database \"" + dbname + "\" is empty");
    PGDEDUP_RETURN_IF_ERROR(CheckEmpty(c->get(), dbname));
    return target;
  }
  auto maintenance = OpenMaintenance(options.conninfo, dbname);
  if (!maintenance.ok()) return maintenance.status();
  Connection* mc = maintenance->first.get();
  target.maintenance_conninfo = maintenance->second;
  auto exists = mc->Query(
      "SELECT datistemplate, pg_catalog.pg_has_role(datdba, 'USAGE'), "
      "pg_catalog.pg_get_userbyid(datdba), oid FROM pg_catalog.pg_database WHERE datname = $1",
      {dbname});
  if (!exists.ok()) return exists.status();
  std::string settings = "TEMPLATE template0";
  if (!m.encoding.empty()) settings += " ENCODING " + mc->QuoteLiteral(m.encoding);
  if (!m.collate.empty()) settings += " LC_COLLATE " + mc->QuoteLiteral(m.collate);
  if (!m.ctype.empty()) settings += " LC_CTYPE " + mc->QuoteLiteral(m.ctype);
  if (m.locale_provider == "i" || m.locale_provider == "b") {
    // The default collation came from ICU (15+) or the builtin provider (17+): the same, or
    // text would sort differently, and indexes built in the old order would not match.
    const bool icu = m.locale_provider == "i";
    const int needs = icu ? 150000 : 170000;
    if (mc->ServerVersion() < needs) {
      return Status::InvalidArgument(
          std::string("the backed-up database uses the ") + (icu ? "ICU" : "builtin") +
          " locale provider, which this server (version " +
          std::to_string(mc->ServerVersion() / 10000) + ") cannot give a database");
    }
    settings +=
        icu ? " LOCALE_PROVIDER icu ICU_LOCALE " : " LOCALE_PROVIDER builtin BUILTIN_LOCALE ";
    settings += mc->QuoteLiteral(m.provider_locale);
  }
  // Its default tablespace (CheckNeeds found it there), unless --no-tablespaces.
  if (!m.database_tablespace.empty() && !options.omit.tablespaces) {
    settings += " TABLESPACE " + mc->QuoteIdent(m.database_tablespace);
  }
  // The restore goes into a new database under a name of its own, which takes the name asked
  // for only once the restore is complete: a restore that fails, is interrupted or is killed
  // part way never leaves a half-restored database under that name, and with --clean the old
  // database is replaced only then.
  const std::string create_as =
      options.create_in_place ? dbname : kRestorePrefix + ToHex(repo::RandomBytes(8));
  if (exists->empty()) {
    step("create database \"" + dbname + "\"" +
         (options.create_in_place
              ? std::string()
              : " (restored under a temporary name, " + std::string(kRestorePrefix) +
                    "..., renamed when complete)"));
  } else {
    if (!options.clean || options.create_in_place) {
      return Status::InvalidArgument("database \"" + dbname +
                                     "\" already exists: refusing to overwrite it (add --clean "
                                     "to replace it)");
    }
    const Row& row = (*exists)[0];
    if (row[0].value_or("") == "t") {
      return Status::InvalidArgument("database \"" + dbname +
                                     "\" is a template database: refusing to replace it");
    }
    // Found out now rather than after hours of restoring: only its owner may rename and drop it.
    if (row[1].value_or("") != "t") {
      return Status::InvalidArgument("database \"" + dbname + "\" belongs to role " +
                                     row[2].value_or("?") +
                                     ": only its owner (or a superuser) can replace it");
    }
    step("restore into a new database under a temporary name (" + std::string(kRestorePrefix) +
         "...), then put it in the place of \"" + dbname + "\" and drop the old one");
    target.replace_existing = true;
    target.old_oid = row[3].value_or("");
  }
  if (options.dry_run) return target;
  WarnOfLeftovers(mc);
  target.final_name = dbname;
  auto created = NewDatabase::Create(
      mc, target.maintenance_conninfo, create_as, settings,
      target.replace_existing ? "database \"" + dbname + "\" is unchanged" : "");
  if (!created.ok()) return created.status().WithContext("creating the new database");
  target.created = std::move(*created);
  auto started = ServerStartTime(mc);
  if (!started.ok()) return started.status();
  target.server_started = *started;
  target.dbname = create_as;
  auto conninfo = WithDatabase(options.conninfo, create_as);
  if (!conninfo.ok()) return conninfo.status();
  target.conninfo = *conninfo;
  return target;
}

// Waits (up to 5 s, as PostgreSQL itself does before a rename) until no client session is
// connected to `name`; the restore's own sessions have just closed, and their server processes
// may take a moment. Autovacuum workers do not count: a rename ends them itself.
Status WaitForNoSessions(Connection* mc, const std::string& name) {
  const std::string clients =
      mc->ServerVersion() >= 100000 ? " AND backend_type = 'client backend'" : "";
  std::string sessions = "?";
  for (int i = 0; i < 500; ++i) {
    auto n = mc->QueryValue("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = $1" +
                                clients + " AND pid <> pg_catalog.pg_backend_pid()",
                            {name});
    if (!n.ok()) return n.status();
    sessions = *n;
    if (sessions == "0") return Status::OK();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status::Unavailable(sessions + " other sessions are connected to database " + name);
}

// The swap's transaction on `mc`: the old database (`final_name`, oid `old_oid`) renamed
// `aside` (unless `aside` is empty: nothing to replace), `new_name` renamed `final_name` and
// opened to connections, committed. PostgreSQL's rename first locks the database it renames
// (a session connecting from then on waits for the transaction's end, then connects to
// whichever database has the name) and then waits up to 5 s for the sessions in it to go:
// once `ender`, a second connection, sees the lock held by `swap_pid`, it ends them, as
// DROP DATABASE ... WITH (FORCE) does, so none can slip in between. On failure the transaction
// may still be open (or its COMMIT lost).
Status Swap(Connection* mc, Connection* ender, const std::string& swap_pid,
            const std::string& old_oid, const std::string& final_name, const std::string& new_name,
            const std::string& aside) {
  auto q = [mc](const std::string& n) { return mc->QuoteIdent(n); };
  // Should pgdedup stop between statements (its host gone), the lock goes after 10 s; and a
  // rename waits at most a minute for a lock another session holds on either database (an
  // interrupt waits for the swap to end).
  std::string begin = "BEGIN";
  if (mc->ServerVersion() >= 90300) begin += "; SET LOCAL lock_timeout = '60s'";
  if (mc->ServerVersion() >= 90600)
    begin += "; SET LOCAL idle_in_transaction_session_timeout = '10s'";
  PGDEDUP_RETURN_IF_ERROR(mc->Exec(begin));
  if (!aside.empty()) {
    std::atomic<bool> done{false};
    Status renamed;
    std::thread rename([&] {
      renamed = mc->Exec("ALTER DATABASE " + q(final_name) + " RENAME TO " + q(aside));
      done = true;
    });
    bool locked = false;
    auto last_end = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    while (!done) {
      if (!locked) {
        auto held = ender->Query(
            "SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'object' AND classid = "
            "'pg_catalog.pg_database'::pg_catalog.regclass AND objid = $1::pg_catalog.oid AND "
            "pid = $2::pg_catalog.int4 AND mode = 'AccessExclusiveLock' AND granted",
            {old_oid, swap_pid});
        locked = held.ok() && !held->empty();
      }
      // Again every 100 ms while the rename waits: a session whose start was under way when
      // the lock was taken shows up only once that start is done.
      if (locked && std::chrono::steady_clock::now() - last_end >= std::chrono::milliseconds(100)) {
        EndSessions(ender, final_name);
        last_end = std::chrono::steady_clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    rename.join();
    PGDEDUP_RETURN_IF_ERROR(renamed);
  }
  PGDEDUP_RETURN_IF_ERROR(
      mc->Exec("ALTER DATABASE " + q(new_name) + " RENAME TO " + q(final_name)));
  PGDEDUP_RETURN_IF_ERROR(mc->Exec("ALTER DATABASE " + q(final_name) + " ALLOW_CONNECTIONS true"));
  return mc->Exec("COMMIT");
}

// Gives the complete database `new_name` (ours, its connections shut off here) the name
// `final_name`. With `replace_existing` the database of that name, which must still be the one
// found when the restore began (by oid), is replaced in the same transaction (Swap): the name
// passes from one database to the other at once, and the old database itself is never altered
// before that commit. A failure, or pgdedup killed outright, before the commit therefore leaves
// the old database as it was, under its name and open to connections, and the complete restore
// under its temporary name. A session the restore's role may not end (a superuser's) fails the
// rename after PostgreSQL's 5 s wait. The old database is dropped only once its replacement
// stands. A failed swap is read back from the catalog on a fresh connection, after the swap's
// session has ended (a COMMIT whose answer was lost may have taken effect). Every failure's
// message says where each database is left.
Status PutInPlace(const Target& target) {
  const std::string& final_name = target.final_name;
  const std::string& new_name = target.created->name();
  const std::string kept = "the complete restore is kept as database " + new_name;
  auto maintenance = OpenMaintenance(target.maintenance_conninfo, final_name);
  if (!maintenance.ok()) return maintenance.status().WithContext(kept);
  Connection* mc = maintenance->first.get();
  auto allow_new = [&](bool on) {
    return mc->Exec("ALTER DATABASE " + mc->QuoteIdent(new_name) + " ALLOW_CONNECTIONS " +
                    (on ? "true" : "false"));
  };
  const std::string not_replaced =
      target.replace_existing ? "database \"" + final_name + "\" is not replaced; " : "";
  // Before the new database has its name: the old one (if any) as it was, the new one open.
  auto unchanged = [&](const Status& s) {
    (void)allow_new(true);
    return s.WithContext(not_replaced + kept + " (rename it to \"" + final_name + "\")");
  };
  // The restore's working sessions commit without waiting for the WAL (SetUpWorkingSession):
  // the rename's commit makes them durable, unless the server crashed and restarted in between
  // and lost the last of them. Such a restart shows in its start time; from here on one would
  // end `mc`, and the rename with it.
  auto started = ServerStartTime(mc);
  if (!started.ok()) return started.status().WithContext(kept);
  if (*started != target.server_started) {
    Status dropped = DropDatabase(target.maintenance_conninfo, new_name);
    return Status::SourceError(
        not_replaced + "the server restarted while the restore ran (it started again at " +
        *started + "), so the restore's last commits may be lost: " +
        (dropped.ok() ? "its database was dropped"
                      : "drop its database " + new_name + " (" + dropped.message() + ")") +
        "; run the restore again");
  }
  if (Status s = allow_new(false); !s.ok()) return unchanged(s);
  if (Status s = WaitForNoSessions(mc, new_name); !s.ok()) return unchanged(s);
  std::string aside;
  if (target.replace_existing) {
    auto found =
        mc->Query("SELECT oid FROM pg_catalog.pg_database WHERE datname = $1", {final_name});
    if (!found.ok()) return unchanged(found.status());
    if (found->empty() || (*found)[0][0].value_or("") != target.old_oid) {
      return unchanged(
          Status::Unavailable("database \"" + final_name +
                              "\" was dropped or replaced by someone else while the restore ran"));
    }
    aside = kReplacedPrefix + ToHex(repo::RandomBytes(8));
  }
  // The swap's own session, to be ended before its outcome is read should its COMMIT be lost.
  auto swap_pid = mc->QueryValue("SELECT pg_catalog.pg_backend_pid()");
  if (!swap_pid.ok()) return unchanged(swap_pid.status());
  std::unique_ptr<Connection> ender;
  if (target.replace_existing) {
    auto second = OpenMaintenance(target.maintenance_conninfo, final_name);
    if (!second.ok()) return unchanged(second.status());
    ender = std::move(second->first);
  }
  Status swapped = Swap(mc, ender.get(), *swap_pid, target.old_oid, final_name, new_name, aside);
  if (!swapped.ok()) {
    (void)mc->Exec("ROLLBACK");
    // What happened is read on a fresh connection (the swap's may be gone), once the swap's
    // session has ended: a COMMIT whose answer was lost may still be under way. The new
    // database is then either still under its own name (nothing changed) or not.
    bool replaced = false;
    auto check = OpenMaintenance(target.maintenance_conninfo, "");
    Status unknown = check.status();  // why the outcome could not be read
    if (check.ok()) {
      Connection* cc = check->first.get();
      (void)cc->Exec("SELECT pg_catalog.pg_terminate_backend(" + *swap_pid + ")");
      for (int i = 0; i < 1000; ++i) {
        auto alive =
            cc->Query("SELECT 1 FROM pg_catalog.pg_stat_activity WHERE pid = $1", {*swap_pid});
        if (!alive.ok() || alive->empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      auto still = cc->Query("SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", {new_name});
      if (still.ok() && still->empty()) {
        replaced = true;
      } else if (still.ok()) {
        // Not replaced: the new database open to connections again, the old one untouched.
        const bool reopened =
            cc->Exec("ALTER DATABASE " + cc->QuoteIdent(new_name) + " ALLOW_CONNECTIONS true").ok();
        return swapped.WithContext(not_replaced + kept + " (rename it to \"" + final_name + "\")" +
                                   (reopened
                                        ? std::string()
                                        : "; connections to it are still off (ALTER DATABASE ... "
                                          "ALLOW_CONNECTIONS true)"));
      } else {
        unknown = still.status();
      }
    }
    if (!replaced) {
      return swapped.WithContext("could not tell whether database " + new_name +
                                 " (the complete restore) took the name \"" + final_name + "\" (" +
                                 unknown.message() + "): look for databases " + new_name +
                                 (aside.empty() ? "" : " and " + aside) + " (connections to " +
                                 new_name +
                                 " may be off: ALTER DATABASE ... ALLOW_CONNECTIONS "
                                 "true)");
    }
  }
  // The new database has its name.
  if (!aside.empty()) {
    Status dropped = DropDatabase(target.maintenance_conninfo, aside);
    if (!dropped.ok()) {
      LogWarning("database \"" + final_name + "\" is replaced, but the old one, renamed " + aside +
                 ", could not be dropped (" + dropped.message() + "): drop it");
    }
  }
  return Status::OK();
}

// After a complete restore: the database it created takes its name (PutInPlace), with --clean
// in place of the old one. An interrupt before that begins drops the new database and leaves
// the old one; an interrupt while it runs waits for it to end (and a failure is then reported
// before the process ends).
Status FinishTarget(Target* target, const std::function<void(const std::string&)>& step) {
  if (!target->created) return Status::OK();
  if (target->created->name() == target->final_name) return target->created->Keep();
  std::mutex mu;
  std::atomic<bool> interrupt_waits{false};
  bool interrupted = false;
  OnInterrupt while_renaming([&] {
    interrupt_waits = true;
    std::lock_guard<std::mutex> l(mu);  // held while the new database is put in place
    interrupted = true;                 // before: the new database's own cleanup drops it
  });
  std::lock_guard<std::mutex> l(mu);
  if (interrupted) return Status::Unavailable("interrupted");
  PGDEDUP_RETURN_IF_ERROR(target->created->Keep());
  const std::string& final_name = target->final_name;
  step(target->replace_existing ? "replace database \"" + final_name + "\" with the restored one"
                                : "rename the restored database to \"" + final_name + "\"");
  Status s = PutInPlace(*target);
  // The process ends as soon as the lock is released: say it now.
  if (!s.ok() && interrupt_waits) LogWarning(s.ToString());
  return s;
}

// Before a restore drops or empties its target: what can be checked without changing anything
// is checked, so a snapshot that cannot be restored, or a psql that cannot run, is found while
// the old data is still there. Every chunk of the snapshot must be in the index, and the
// schema scripts are read whole (each chunk authenticated and checked against its id) —
// pre-data and post-data only unless `schema_read`: the caller has read them whole already.
Status PreflightBeforeClean(repo::Repository* repo, const repo::Manifest& m,
                            const DatabaseRestoreOptions& options, const std::string& program,
                            bool schema_read, const std::function<void(const std::string&)>& step) {
  step("check that the snapshot can be restored before replacing anything");
  for (const auto& s : m.streams) {
    if (schema_read && (s.kind == "pre-data" || s.kind == "post-data")) continue;
    if (s.kind == "pre-data" || s.kind == "post-data" || s.kind == "sequences") {
      // Read whole: every chunk found and checked, so no index lookups on top.
      auto text = ReadStream(repo, s, options);
      if (!text.ok()) return text.status();
      continue;
    }
    PGDEDUP_RETURN_IF_ERROR(repo::ForEachChunkId(repo, s, [&](const repo::Id& id) -> Status {
      auto loc = repo->index()->Lookup(id);
      if (!loc.ok()) return loc.status();
      if (!loc->has_value()) {
        return Status::Corruption("stream '" + s.name + "': chunk " + id.Hex() +
                                  " is in no index object (the repository is damaged; run "
                                  "`pgdedup repo check`)");
      }
      return Status::OK();
    }));
  }
  auto version = RunForOutput({ResolveClientProgram(program, /*major=*/0), "--version"});
  if (!version.ok()) return version.status().WithContext("running " + program);
  return Status::OK();
}

// ALTER DATABASE / ALTER ROLE ... IN DATABASE ... SET for each recorded setting. A setting for
// a role the target server does not have is skipped with a warning.
// The elements of a list setting as pg_db_role_setting stores it: `"$user", public`, `""`. An
// element in double quotes is an identifier's text (a doubled quote inside stands for one).
std::vector<std::string> SplitGucList(std::string_view v) {
  std::vector<std::string> out;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
  };
  skip_space();
  if (i == v.size()) return out;
  while (true) {
    std::string elem;
    if (i < v.size() && v[i] == '"') {
      for (++i; i < v.size(); ++i) {
        if (v[i] == '"') {
          if (i + 1 < v.size() && v[i + 1] == '"') {
            elem += '"';
            ++i;
          } else {
            ++i;
            break;
          }
        } else {
          elem += v[i];
        }
      }
    } else {
      while (i < v.size() && v[i] != ',') elem += v[i++];
      while (!elem.empty() && (elem.back() == ' ' || elem.back() == '\t')) elem.pop_back();
    }
    out.push_back(std::move(elem));
    skip_space();
    if (i >= v.size() || v[i] != ',') break;
    ++i;
    skip_space();
  }
  return out;
}

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
    // A list-valued setting is stored with its elements as identifiers ("$user", public, or
    // "" for an empty one); each becomes a literal, as pg_dump writes them.
    static const char* kListSettings[] = {"search_path", "temp_tablespaces",
                                          "session_preload_libraries", "local_preload_libraries",
                                          "shared_preload_libraries"};
    bool list = false;
    for (const char* l : kListSettings) list |= name == l;
    std::string to;
    if (list) {
      for (const std::string& e : SplitGucList(value)) {
        to += (to.empty() ? "" : ", ") + c->QuoteLiteral(e);
      }
      if (to.empty()) to = "''";
    } else {
      to = c->QuoteLiteral(value);
    }
    std::string sql = (role.empty() ? "ALTER DATABASE " + c->QuoteIdent(dbname)
                                    : "ALTER ROLE " + c->QuoteIdent(role) + " IN DATABASE " +
                                          c->QuoteIdent(dbname)) +
                      " SET " + c->QuoteIdent(name) + " TO " + to;
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

// With --create, the database's own properties as the manifest recorded them (a manifest
// older than them records none): its comment, connection limit and, when they were not the
// defaults and `privileges`, its privileges. A privilege for a role the target server does not have
// is skipped with a warning; the owner's own privileges go with ownership (SetDatabaseOwner).
Status ApplyDatabaseProperties(Connection* c, const repo::Manifest& m, const std::string& dbname,
                               bool privileges) {
  const std::string db = c->QuoteIdent(dbname);
  if (m.database_comment) {
    PGDEDUP_RETURN_IF_ERROR(
        c->Exec("COMMENT ON DATABASE " + db + " IS " + c->QuoteLiteral(*m.database_comment))
            .WithContext("database comment"));
  }
  if (m.database_connlimit >= 0) {
    PGDEDUP_RETURN_IF_ERROR(c->Exec("ALTER DATABASE " + db + " CONNECTION LIMIT " +
                                    std::to_string(m.database_connlimit))
                                .WithContext("database connection limit"));
  }
  if (!privileges || !m.database_acl_explicit) return Status::OK();
  PGDEDUP_RETURN_IF_ERROR(
      c->Exec("REVOKE ALL ON DATABASE " + db + " FROM PUBLIC").WithContext("database privileges"));
  for (const auto& entry : m.database_acl) {
    size_t t1 = entry.find('\t');
    size_t t2 = t1 == std::string::npos ? t1 : entry.find('\t', t1 + 1);
    if (t2 == std::string::npos)
      return Status::Corruption("manifest: malformed database privilege");
    const std::string grantee = entry.substr(0, t1);
    const std::string privilege = entry.substr(t1 + 1, t2 - t1 - 1);
    const bool grantable = entry.substr(t2 + 1) == "t";
    if (privilege != "CREATE" && privilege != "CONNECT" && privilege != "TEMPORARY") {
      return Status::Corruption("manifest: unknown database privilege " + privilege);
    }
    if (!grantee.empty() && grantee == m.database_owner) continue;
    Status s = c->Exec("GRANT " + privilege + " ON DATABASE " + db + " TO " +
                       (grantee.empty() ? std::string("PUBLIC") : c->QuoteIdent(grantee)) +
                       (grantable ? " WITH GRANT OPTION" : ""));
    if (!s.ok()) {
      if (grantee.empty()) return s.WithContext("database privileges");
      LogWarning("skipping the privilege " + privilege + " on the database for role " + grantee +
                 ": " + s.message());
    }
  }
  return Status::OK();
}

// The restored database goes to the owner the backup recorded, when that is not us. Only a
// superuser, or a member of that role, may do it: otherwise a warning says who owns it.
void SetDatabaseOwner(const repo::Manifest& m, const Target& target) {
  if (m.database_owner.empty() || !target.created) return;
  auto c = Connection::Open(target.maintenance_conninfo);
  Status s = c.status();
  if (c.ok()) {
    auto current = (*c)->QueryValue("SELECT current_user");
    if (current.ok() && *current == m.database_owner) return;
    s = (*c)->Exec("ALTER DATABASE " + (*c)->QuoteIdent(target.final_name) + " OWNER TO " +
                   (*c)->QuoteIdent(m.database_owner));
  }
  if (!s.ok()) {
    LogWarning("database \"" + target.final_name +
               "\" is owned by the role that restored it, not " + m.database_owner +
               " as in the backup: " + s.message());
  }
}

// After the restore's data and schema: the database's settings (last, so that a setting such
// as default_transaction_read_only cannot get in the restore's way) and, with --create, its
// properties; then the database takes its name (FinishTarget) and its owner.
Status FinishDatabase(const repo::Manifest& m, const DatabaseRestoreOptions& options,
                      Target* target, const std::function<void(const std::string&)>& step) {
  // Not for a drill's database (created in place): a connection limit or revoked privileges
  // could keep the drill's own verification out.
  const bool properties = target->created != nullptr && !options.create_in_place;
  if (!m.database_settings.empty() || properties) {
    step(properties ? "database settings and properties" : "database settings");
    auto conn = Connection::Open(options.conninfo);
    if (!conn.ok()) return conn.status();
    PGDEDUP_RETURN_IF_ERROR(ApplyDatabaseSettings(conn->get(), m, target->dbname));
    if (properties) {
      PGDEDUP_RETURN_IF_ERROR(
          ApplyDatabaseProperties(conn->get(), m, target->dbname, !options.omit.privileges));
    }
  }  // closed: a database with sessions cannot be renamed
  PGDEDUP_RETURN_IF_ERROR(FinishTarget(target, step));
  // Not for a drill's database (created in place), which stays ours to drop.
  if (!options.create_in_place && !options.omit.owner) SetDatabaseOwner(m, *target);
  return Status::OK();
}

// Refuses, before anything changes, a restore that names roles or tablespaces the target server
// lacks (CheckServerHas): in the schema and, with --create, as the database's owner or grantees.
Status CheckNeeds(const repo::Manifest& m, const DatabaseRestoreOptions& options,
                  const std::string& pre_sql, const std::string& post_sql) {
  ScriptNeeds needs;
  CollectScriptNeeds(ParseDumpScript(pre_sql), &needs);
  CollectScriptNeeds(ParseDumpScript(post_sql), &needs);
  if (options.create && !options.omit.tablespaces && !m.database_tablespace.empty()) {
    needs.tablespaces.insert(m.database_tablespace);  // CREATE DATABASE ... TABLESPACE
  }
  if (options.create && !options.create_in_place) {  // FinishDatabase's properties
    if (!options.omit.owner && !m.database_owner.empty()) needs.owners.insert(m.database_owner);
    if (!options.omit.privileges && m.database_acl_explicit) {
      for (const std::string& entry : m.database_acl) {
        // The owner's own privileges go with ownership (ApplyDatabaseProperties skips them).
        std::string grantee = entry.substr(0, entry.find('\t'));
        if (!grantee.empty() && grantee != m.database_owner) needs.privileges.insert(grantee);
      }
    }
  }
  if (needs.owners.empty() && needs.privileges.empty() && needs.policies.empty() &&
      needs.tablespaces.empty()) {
    return Status::OK();
  }
  // Roles are the server's: any database of it answers.
  if (options.create) {
    auto mc = OpenMaintenance(options.conninfo, "");
    if (!mc.ok()) return mc.status();
    return CheckServerHas(mc->first.get(), needs);
  }
  auto c = Connection::Open(options.conninfo);
  if (!c.ok()) return c.status();
  return CheckServerHas(c->get(), needs);
}

// A `backup --format pg_dump` snapshot: its archive goes to pg_restore on standard input.
Result<DatabaseRestoreStats> RestoreArchive(repo::Repository* repo,
                                            const repo::SnapshotRef& snapshot,
                                            const repo::StreamInfo& archive,
                                            const DatabaseRestoreOptions& opts) {
  DatabaseRestoreOptions options = opts;
  if (const char* env = std::getenv("PGDEDUP_PG_RESTORE"); env && *env) options.pg_restore = env;
  auto dbname = TargetDatabase(options);
  if (!dbname.ok()) return dbname.status();
  if (options.schema_only || options.data_only) {
    return Status::InvalidArgument(
        "--schema-only and --data-only are for native snapshots; this one is a pg_dump archive");
  }
  DatabaseRestoreStats stats;
  auto step = [&](const std::string& s) {
    if (options.progress) options.progress(s);
  };
  if (!options.tables.empty()) {
    return Status::InvalidArgument(
        "--table is for native snapshots; this one is a pg_dump archive (restore it into a "
        "scratch database and copy the table from there)");
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (options.clean && !options.dry_run) {
    PGDEDUP_RETURN_IF_ERROR(PreflightBeforeClean(repo, snapshot.manifest, options,
                                                 options.pg_restore,
                                                 /*schema_read=*/false, step));
  }
  auto target = PrepareTarget(snapshot.manifest, options, *dbname, step);
  if (!target.ok()) return target.status();
  if (options.dry_run) {
    step("pg_restore of " + archive.name);
    if (options.analyze) step("statistics (ANALYZE)");
    return stats;
  }
  options.conninfo = target->conninfo;
  auto t0 = Clock::now();
  step("pg_restore of " + archive.name);
  std::vector<std::string> argv = {options.pg_restore, "--exit-on-error", "--no-password",
                                   "--dbname=" + options.conninfo};
  if (options.omit.owner) argv.push_back("--no-owner");
  if (options.omit.privileges) argv.push_back("--no-privileges");
  if (options.omit.tablespaces) argv.push_back("--no-tablespaces");
  auto restore = Subprocess::Start(argv, Subprocess::kWriteStdin);
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
  if (options.analyze) {
    // As a native restore does, and pg_restore does not.
    auto t1 = Clock::now();
    step("statistics (ANALYZE)");
    PGDEDUP_RETURN_IF_ERROR(AnalyzeInParallel(options));
    stats.seconds_post = Since(t1);
  }
  PGDEDUP_RETURN_IF_ERROR(FinishDatabase(snapshot.manifest, options, &*target, step));
  return stats;
}

// Loads the extensions' configuration rows (the streams of kind extension-table, in the
// manifest's order: a table after those it references) into the tables CREATE EXTENSION made,
// each in its own transaction, without TRUNCATE or FREEZE (the extension's own rows stay). A
// load that fails where the target's extension is another version than the backup's (its
// configuration tables may have other columns, or its own rows may now collide) is skipped:
// a warning says how to get the rows, and the table is added to `skipped`. Any other failure
// is the restore's.
Result<LoadStats> LoadExtensionConfiguration(repo::Repository* repo,
                                             const repo::SnapshotRef& snapshot,
                                             const DatabaseRestoreOptions& options,
                                             const std::function<void(const std::string&)>& step,
                                             std::vector<std::string>* skipped) {
  LoadStats loaded;
  std::unique_ptr<Connection> loader;
  for (const auto& s : snapshot.manifest.streams) {
    if (s.kind != "extension-table") continue;
    step("configuration of extension " + s.extension + ": " + s.name);
    if (!loader) {
      auto opened = OpenLoader(options);
      if (!opened.ok()) return opened.status();
      loader = std::move(*opened);
    }
    Status st = LoadTable(repo, loader.get(), s, /*truncate=*/false, options);
    if (!st.ok()) {
      auto version = loader->Query(
          "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = $1", {s.extension});
      if (!version.ok() || version->size() != 1 || s.extension_version.empty() ||
          (*version)[0][0].value_or("") == s.extension_version) {
        return st.WithContext("configuration of extension " + s.extension);
      }
      LogWarning("configuration of extension " + s.extension + ": the " + std::to_string(s.rows) +
                 " rows of " + s.name + " are NOT restored: the backup is of version " +
                 s.extension_version + ", this server's CREATE EXTENSION made version " +
                 (*version)[0][0].value_or("") + ", and the rows do not fit (" + st.message() +
                 "). They are in the snapshot: pgdedup restore " + snapshot.id.ShortHex() +
                 " --stream '" + s.name + "' --output - prints them as COPY text (columns " +
                 s.columns + ")");
      skipped->push_back(s.name);
      continue;
    }
    loaded.tables++;
    loaded.rows += s.rows;
    loaded.bytes += s.size;
  }
  return loaded;
}

Result<DatabaseRestoreStats> RestoreSnapshot(repo::Repository* repo,
                                             const repo::SnapshotRef& snapshot,
                                             const DatabaseRestoreOptions& opts) {
  DatabaseRestoreOptions options = opts;
  if (const char* env = std::getenv("PGDEDUP_PSQL"); env && *env) options.psql = env;
  const repo::Manifest& m = snapshot.manifest;
  const repo::StreamInfo* pre = FindStreamOfKind(m, "pre-data");
  const repo::StreamInfo* post = FindStreamOfKind(m, "post-data");
  const repo::StreamInfo* seqs = FindStreamOfKind(m, "sequences");
  const repo::StreamInfo* archive = FindStreamOfKind(m, "pg_dump-archive");
  if (archive != nullptr && m.server_version != 0) {
    return RestoreArchive(repo, snapshot, *archive, options);
  }
  if (m.server_version == 0 || !pre || !post || !seqs) {
    return Status::InvalidArgument("snapshot " + snapshot.id.ShortHex() +
                                   " is not a native database backup; restore its stream with "
                                   "--stream NAME --output - instead");
  }
  auto dbname = TargetDatabase(options);
  if (!dbname.ok()) return dbname.status();
  auto step = [&](const std::string& s) {
    if (options.progress) options.progress(s);
  };
  // The schema scripts, read before anything changes: the roles they need are checked first.
  std::string pre_sql, post_sql;
  const bool schema_read = !options.data_only && options.tables.empty();
  if (schema_read) {
    auto text = ReadStream(repo, *pre, options);
    if (!text.ok()) return text.status();
    pre_sql = OmitFromScript(*text, options.omit);
    text = ReadStream(repo, *post, options);
    if (!text.ok()) return text.status();
    post_sql = OmitFromScript(*text, options.omit);
    PGDEDUP_RETURN_IF_ERROR(CheckNeeds(m, options, pre_sql, post_sql));
  }
  if (!options.dry_run) {
    ::signal(SIGPIPE, SIG_IGN);  // a psql that dies shows as an error, not a dead pgdedup
    if (options.clean && options.tables.empty()) {
      PGDEDUP_RETURN_IF_ERROR(
          PreflightBeforeClean(repo, m, options, options.psql, schema_read, step));
    }
  }
  auto target = PrepareTarget(m, options, *dbname, step);
  if (!target.ok()) return target.status();
  options.conninfo = target->conninfo;
  if (!options.tables.empty()) return RestoreTables(repo, snapshot, options);
  DatabaseRestoreStats stats;
  if (options.dry_run) {
    step("pre-data: " + pre->name);
    for (const auto& s : m.streams) {
      if (!s.holds_table_rows()) continue;
      step((s.kind == "table" ? "table " : "configuration of extension " + s.extension + ": ") +
           s.name + ": " + std::to_string(s.rows) + " rows");
      stats.tables++;
      stats.rows += s.rows;
      stats.bytes += s.size;
    }
    step(options.analyze && !options.schema_only ? "sequences, post-data, ANALYZE"
                                                 : "sequences, post-data");
    return stats;
  }

  auto t0 = Clock::now();
  if (!options.data_only) {
    step("pre-data");
    PGDEDUP_RETURN_IF_ERROR(RunSqlText(pre_sql, pre->name, options));
  }
  stats.seconds_schema = Since(t0);

  // The extensions' configuration first: post-data may add foreign keys that reference it.
  auto t1 = Clock::now();
  LoadStats config_loaded;
  if (!options.schema_only) {
    auto loaded = LoadExtensionConfiguration(repo, snapshot, options, step, &stats.skipped);
    if (!loaded.ok()) return loaded.status();
    config_loaded = *loaded;
  }

  // Sequence values and large objects first: they depend on no table's rows, and the tables'
  // indexes, constraints and statistics then follow their loads without a pause.
  if (!options.schema_only) {
    step("sequences");
    // Our own script of setval() calls, no psql meta-commands: one round trip through libpq
    // rather than another psql process.
    auto setvals = ReadStream(repo, *seqs, options);
    if (!setvals.ok()) return setvals.status();
    if (setvals->find_first_not_of(" \n") != std::string::npos) {
      auto sc = Connection::Open(options.conninfo);
      if (!sc.ok()) return sc.status();
      PGDEDUP_RETURN_IF_ERROR((*sc)->Exec(*setvals).WithContext(seqs->name));
    }
    if (const repo::StreamInfo* lobs = FindStreamOfKind(m, "large-objects")) {
      step("large objects");
      PGDEDUP_RETURN_IF_ERROR(RunSqlStream(repo, *lobs, options));
    }
  }
  std::vector<const repo::StreamInfo*> tables;
  if (!options.schema_only) {
    for (const auto& s : m.streams) {
      if (s.kind == "table") tables.push_back(&s);
    }
  }
  auto done = LoadAndBuild(repo, tables, post_sql, options, step);
  if (!done.ok()) return done.status();
  stats.tables = config_loaded.tables + done->loaded.tables;
  stats.rows = config_loaded.rows + done->loaded.rows;
  stats.bytes = config_loaded.bytes + done->loaded.bytes;
  stats.seconds_data = std::chrono::duration<double>(done->loads_done - t1).count();
  if (options.analyze && !options.schema_only) {  // (no rows to gather statistics of)
    step("statistics (ANALYZE)");
    PGDEDUP_RETURN_IF_ERROR(AnalyzeInParallel(options, done->analyzed));
  }
  if (!options.data_only) {
    PGDEDUP_RETURN_IF_ERROR(FinishDatabase(m, options, &*target, step));
  }
  stats.seconds_post = std::chrono::duration<double>(Clock::now() - done->loads_done).count();
  return stats;
}

}  // namespace

Result<DatabaseRestoreStats> RestoreDatabase(repo::Repository* repo,
                                             const repo::SnapshotRef& snapshot,
                                             const DatabaseRestoreOptions& options) {
  auto stats = RestoreSnapshot(repo, snapshot, options);
  // A role CheckNeeds could not see (a statement in a form it does not read, a user mapping, a
  // pg_dump archive): the server's own error from psql or pg_restore, and what to do about it.
  // Not for a connection refused because the login role itself is missing (FATAL).
  const std::string& error = stats.status().message();
  if (!stats.ok() && error.find("ERROR:  role \"") != std::string::npos &&
      error.find("\" does not exist") != std::string::npos) {
    return stats.status().WithDetail(
        "create the role on the target server first (pg_dumpall --roles-only on the source "
        "server prints every role), or restore with --no-owner and --no-privileges");
  }
  // A SQL_ASCII database holds bytes in no particular encoding: only a database of that
  // encoding is sure to take them.
  if (!stats.ok() && snapshot.manifest.encoding == "SQL_ASCII" &&
      error.find("invalid byte sequence for encoding") != std::string::npos) {
    return stats.status().WithDetail(
        "the snapshot is of a SQL_ASCII database, whose bytes need not be valid in the target "
        "database's encoding: restore it with --create (which gives the new database the "
        "original's encoding), or into a SQL_ASCII database, and convert it there");
  }
  return stats;
}

}  // namespace pgdedup::pg
