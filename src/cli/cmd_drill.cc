// `pgdedup drill`: restore a snapshot into a temporary database, verify it, time it, drop it.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "pg/drill.h"
#include "repo/lock.h"

namespace pgdedup::cli {

namespace {

struct DrillArgs {
  std::string snapshot;
  std::string db;
  int jobs = 0;
  pg::ScriptOmissions omit;
};

int RunDrill(const Context& ctx, const DrillArgs& args) {
  if (args.db.empty()) {
    return ctx.Fail(Status::InvalidArgument(
        "drill needs --db CONNINFO: a database on the server to create the temporary one from "
        "(e.g. dbname=postgres)"));
  }
  auto reader = ctx.OpenSnapshot(args.snapshot);
  if (!reader.ok()) return ctx.Fail(reader.status());
  const repo::SnapshotRef* snap = &reader->snapshot;
  pg::DrillOptions options;
  options.maintenance_conninfo = args.db;
  options.jobs = args.jobs;
  options.threads = args.jobs;
  options.omit = args.omit;
  options.progress = [&](const std::string& step) { spdlog::debug("drill: {}", step); };
  auto start = std::chrono::steady_clock::now();
  auto report = pg::Drill(reader->repo.get(), *snap, options);
  if (!report.ok()) return ctx.Fail(report.status());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& r = *report;
  double restore_secs = r.restore.seconds_schema + r.restore.seconds_data + r.restore.seconds_post;
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("ok", r.ok());
    j.Field("snapshot_id", snap->id.Hex());
    j.Field("database", snap->manifest.database);
    j.Field("temporary_database", r.database);
    j.Field("tables", r.restore.tables);
    j.Field("tables_verified", r.tables_verified);
    j.Field("rows", r.restore.rows);
    j.Field("bytes", r.restore.bytes);
    j.Key("seconds");
    j.BeginObject();
    j.Field("schema", r.restore.seconds_schema);
    j.Field("data", r.restore.seconds_data);
    j.Field("post_data", r.restore.seconds_post);
    j.Field("restore", restore_secs);
    j.Field("verify", r.seconds_verify);
    j.Field("total", secs);
    j.EndObject();
    j.Field("mismatches", r.mismatches);
    j.EndObject();
    std::puts(j.str().c_str());
  } else {
    for (const auto& m : r.mismatches) spdlog::error("{}", m);
    if (r.ok()) {
      spdlog::info(
          "drill passed: snapshot {} of database {} restored in {:.1f}s (schema {:.1f}s, "
          "data {:.1f}s with indexes built meanwhile, then the rest {:.1f}s); {} tables, {} "
          "rows verified "
          "in {:.1f}s",
          snap->id.ShortHex(), snap->manifest.database, restore_secs, r.restore.seconds_schema,
          r.restore.seconds_data, r.restore.seconds_post, r.tables_verified, r.restore.rows,
          r.seconds_verify);
    } else {
      spdlog::error("drill FAILED: {} of {} tables do not match the backup", r.mismatches.size(),
                    r.tables_in_backup);
    }
  }
  return r.ok() ? kExitOk : kExitDamaged;
}

}  // namespace

void AddDrill(CLI::App* app, Runner* run) {
  auto args = std::make_shared<DrillArgs>();
  CLI::App* cmd = app->add_subcommand(
      "drill",
      "restore a snapshot into a temporary database, verify every table against the "
      "backup, report the time of each phase, and drop it (exit 4 on a mismatch)");
  cmd->add_option("snapshot", args->snapshot, "snapshot id, unique id prefix, or `latest`")
      ->required();
  cmd->add_option("--db", args->db,
                  "a database on the target server to create the temporary one from (e.g. "
                  "dbname=postgres)");
  cmd->add_option("--jobs", args->jobs,
                  "connections used at once to load tables (and build their indexes), and "
                  "worker threads decoding streams, as restore --jobs (default: the number of "
                  "cores)");
  cmd->add_flag("--no-owner", args->omit.owner,
                "the temporary database's objects belong to the role running the drill (for a "
                "server that lacks the source's roles; as restore --no-owner)");
  cmd->add_flag("--no-privileges,--no-acl", args->omit.privileges,
                "restore no privileges into the temporary database (as restore --no-privileges)");
  cmd->add_flag("--no-tablespaces", args->omit.tablespaces,
                "create the temporary database's objects in its default tablespace (for a "
                "server that lacks the source's tablespaces; as restore --no-tablespaces)");
  cmd->callback([run, args] { *run = [args](const Context& c) { return RunDrill(c, *args); }; });
}

}  // namespace pgdedup::cli
