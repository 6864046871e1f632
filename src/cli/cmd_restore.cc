// `pgdedup restore`: writes a snapshot's stream to a file or stdout, or restores a native
// snapshot (or some of its tables) into a database.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "common/system.h"
#include "pg/database_restore.h"
#include "repo/lock.h"
#include "repo/restore.h"

namespace pgdedup::cli {

namespace {

struct RestoreArgs {
  std::string snapshot;
  std::string stream;
  std::string output;
  std::string db;
  bool create = false;
  bool clean = false;
  bool dry_run = false;
  bool schema_only = false;
  bool data_only = false;
  bool no_analyze = false;
  pg::ScriptOmissions omit;
  std::vector<std::string> tables;
  int jobs = 0;
};

int RunRestoreDatabase(const Context& ctx, const RestoreArgs& args) {
  auto reader = ctx.OpenSnapshot(args.snapshot);
  if (!reader.ok()) return ctx.Fail(reader.status());
  repo::Repository* repo = reader->repo.get();
  const repo::SnapshotRef* snap = &reader->snapshot;
  pg::DatabaseRestoreOptions options;
  options.conninfo = args.db;
  options.create = args.create;
  options.clean = args.clean;
  options.dry_run = args.dry_run;
  options.schema_only = args.schema_only;
  options.data_only = args.data_only;
  options.omit = args.omit;
  options.tables = args.tables;
  options.jobs = args.jobs;
  options.analyze = !args.no_analyze;
  options.progress = [&](const std::string& step) {
    if (args.dry_run) {
      if (!ctx.json()) std::printf("would restore: %s\n", step.c_str());
    } else {
      spdlog::info("restoring {}", step);
    }
  };
  auto start = std::chrono::steady_clock::now();
  auto stats = pg::RestoreDatabase(repo, *snap, options);
  if (!stats.ok()) {
    // A refused target (InvalidArgument) was left as it was; anything later left it half done.
    if (!args.dry_run && stats.status().code() != StatusCode::kInvalidArgument) {
      if (args.create) {
        // What became of the database it created, and of one it was to replace, has been
        // said (pg/new_database.h, the error's own text).
        spdlog::error("restore of snapshot {} FAILED", snap->id.ShortHex());
      } else if (args.tables.empty()) {
        spdlog::error("restore of snapshot {} into the database FAILED; the target is incomplete",
                      snap->id.ShortHex());
      } else {
        spdlog::error(
            "restore of tables from snapshot {} FAILED; the tables it created are said above, "
            "and of the tables that existed only those whose load completed hold the restored "
            "rows",
            snap->id.ShortHex());
      }
    }
    return ctx.Fail(stats.status());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("snapshot_id", snap->id.Hex());
    j.Field("database", snap->manifest.database);
    j.Field("dry_run", args.dry_run);
    j.Field("tables", stats->tables);
    j.Field("rows", stats->rows);
    j.Field("bytes", stats->bytes);
    j.Field("seconds_schema", stats->seconds_schema);
    j.Field("seconds_data", stats->seconds_data);
    j.Field("seconds_post_data", stats->seconds_post);
    j.Field("duration_seconds", secs);
    j.Field("analyzed", options.analyze && !args.schema_only && !args.dry_run);
    j.Key("skipped_tables");
    j.BeginArray();
    for (const std::string& name : stats->skipped) j.String(name);
    j.EndArray();
    WriteBackendStats(&j, repo->backend()->stats());
    j.EndObject();
    std::puts(j.str().c_str());
  } else if (!args.dry_run) {
    spdlog::info(
        "restored snapshot {} of database {}: {} tables, {} rows in {:.1f}s (schema "
        "{:.1f}s, data {:.1f}s with indexes built meanwhile, then the rest {:.1f}s)",
        snap->id.ShortHex(), snap->manifest.database, stats->tables, stats->rows, secs,
        stats->seconds_schema, stats->seconds_data, stats->seconds_post);
    if (!stats->skipped.empty()) {
      spdlog::warn("{} configuration table(s) of extensions NOT restored (said above)",
                   stats->skipped.size());
    }
    if (!options.analyze && !args.schema_only) {
      spdlog::info(
          "no planner statistics were gathered (--no-analyze): until autovacuum analyzes the "
          "restored tables, ANALYZE them (a whole database: vacuumdb --analyze-in-stages) "
          "before serving queries");
    }
  }
  return kExitOk;
}

// Writes everything; for a file, then starts writeback of every full 8 MiB written, so the
// final fsync has little left to wait for and the disk works while chunks are decoded.
Status WriteAll(int fd, std::string_view data, const std::string& what, uint64_t* offset,
                bool is_file) {
  constexpr uint64_t kWritebackStep = 8 << 20;
  PGDEDUP_RETURN_IF_ERROR(WriteFully(fd, data, what));
  uint64_t start = *offset;
  *offset += data.size();
  if (is_file && start / kWritebackStep != *offset / kWritebackStep) {
    // Every step completed by this write (one, unless `data` is larger than a step).
    uint64_t from = start / kWritebackStep * kWritebackStep;
    uint64_t upto = *offset / kWritebackStep * kWritebackStep;
    sync_file_range(fd, from, upto - from, SYNC_FILE_RANGE_WRITE);
  }
  return Status::OK();
}

int RunRestore(const Context& ctx, const RestoreArgs& args) {
  if (!args.db.empty()) {
    if (!args.output.empty()) {
      return ctx.Fail(Status::InvalidArgument("give --db or --output, not both"));
    }
    return RunRestoreDatabase(ctx, args);
  }
  if (args.create || args.clean || args.dry_run || args.schema_only || args.data_only ||
      args.no_analyze || !args.tables.empty()) {
    return ctx.Fail(Status::InvalidArgument(
        "--create, --clean, --table, --dry-run, --schema-only, --data-only and --no-analyze go "
        "with --db"));
  }
  if (args.output.empty()) {
    return ctx.Fail(
        Status::InvalidArgument("say where to: --output FILE, or --output - for stdout"));
  }
  if (args.output == "-" && ctx.json()) {
    return ctx.Fail(Status::InvalidArgument("--json and --output - would mix on stdout"));
  }
  auto reader = ctx.OpenSnapshot(args.snapshot);
  if (!reader.ok()) return ctx.Fail(reader.status());
  repo::Repository* repo = reader->repo.get();
  const repo::SnapshotRef* snap = &reader->snapshot;
  const repo::StreamInfo* stream = nullptr;
  std::string names;
  for (const auto& s : snap->manifest.streams) {
    names += (names.empty() ? "" : ", ") + s.name;
    if (s.name == args.stream) stream = &s;
  }
  if (args.stream.empty() && snap->manifest.streams.size() == 1) {
    stream = &snap->manifest.streams[0];
  }
  if (stream == nullptr) {
    return ctx.Fail(Status::NotFound("snapshot " + snap->id.ShortHex() + " has no stream '" +
                                     args.stream + "' (it has: " + names + ")"));
  }
  int fd = STDOUT_FILENO;
  std::string tmp;
  struct stat existing;
  bool special = args.output != "-" && ::stat(args.output.c_str(), &existing) == 0 &&
                 !S_ISREG(existing.st_mode);
  if (special) {
    // A device or a named pipe (/dev/null, a tape, a FIFO to another program): written in
    // place, never replaced.
    if (S_ISDIR(existing.st_mode)) {
      return ctx.Fail(Status::InvalidArgument(args.output + " is a directory"));
    }
    fd = ::open(args.output.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ctx.Fail(Status::FromErrno("open " + args.output, errno));
    signal(SIGPIPE, SIG_IGN);
  } else if (args.output != "-") {
    // Write next to the target and rename at the end: a failed restore leaves no partial file.
    tmp = args.output + ".pgdedup-partial";
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return ctx.Fail(Status::FromErrno("create " + tmp, errno));
  } else {
    signal(SIGPIPE, SIG_IGN);  // a closed pipe becomes an EPIPE error we report
  }
  auto start = std::chrono::steady_clock::now();
  Progress progress(ctx, "restore " + stream->name);
  repo::RestoreOptions options;
  options.threads = args.jobs;
  options.progress = [&progress](uint64_t b) { progress.Update(b); };
  std::string what = args.output == "-" ? "stdout" : args.output;
  uint64_t offset = 0;
  bool is_file = fd != STDOUT_FILENO && !special;
  Status s = repo::RestoreStream(
      repo, *stream, [&](std::string_view d) { return WriteAll(fd, d, what, &offset, is_file); },
      options);
  progress.Done();
  if (special) {
    if (::close(fd) != 0 && s.ok()) s = Status::FromErrno("close " + args.output, errno);
  } else if (fd != STDOUT_FILENO) {
    if (s.ok() && ::fdatasync(fd) != 0) s = Status::FromErrno("fsync " + tmp, errno);
    if (::close(fd) != 0 && s.ok()) s = Status::FromErrno("close " + tmp, errno);
    if (s.ok() && ::rename(tmp.c_str(), args.output.c_str()) != 0) {
      s = Status::FromErrno("rename to " + args.output, errno);
    }
    if (!s.ok()) ::unlink(tmp.c_str());
  }
  if (!s.ok()) {
    spdlog::error("restore of snapshot {} stream '{}' FAILED; the output is incomplete",
                  snap->id.ShortHex(), stream->name);
    return ctx.Fail(s);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("snapshot_id", snap->id.Hex());
    j.Field("stream", stream->name);
    j.Field("bytes_written", stream->size);
    j.Field("digest", stream->digest.Hex());
    j.Field("duration_seconds", secs);
    WriteBackendStats(&j, repo->backend()->stats());
    j.EndObject();
    std::puts(j.str().c_str());
  } else {
    spdlog::info("restored {} of stream '{}' from snapshot {} in {:.1f}s (verified)",
                 FormatBytes(stream->size), stream->name, snap->id.ShortHex(), secs);
  }
  return kExitOk;
}

}  // namespace

void AddRestore(CLI::App* app, Runner* run) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* cmd = app->add_subcommand("restore", "restore a snapshot's stream");
  cmd->add_option("snapshot", args->snapshot, "snapshot id, unique id prefix, or `latest`")
      ->required();
  cmd->add_option("--stream", args->stream,
                  "the stream to restore (may be left out when the snapshot has one)");
  cmd->add_option("--output", args->output, "file to write, or - for standard output");
  cmd->add_option("--db", args->db,
                  "restore a native snapshot into this database (libpq conninfo or URL)");
  cmd->add_flag("--create", args->create,
                "create the database (refused if it exists, unless --clean); a restore that "
                "fails or is interrupted drops it again");
  cmd->add_flag("--clean", args->clean,
                "with --create: replace an existing database (the snapshot is restored into a "
                "new database, which takes the old one's name only once it is complete); without "
                "--create: drop every object in the target database first (one transaction); "
                "with --table: replace the rows of tables that hold some");
  cmd->add_option("--table", args->tables,
                  "restore only this table (SCHEMA.TABLE or TABLE; repeatable) into the existing "
                  "database: created if missing, loaded if empty, refused if it holds rows "
                  "unless --clean; a partitioned table brings its partitions");
  cmd->add_flag("--dry-run", args->dry_run, "with --db: print what would be done");
  cmd->add_flag("--schema-only", args->schema_only,
                "with --db: only the schema (no rows, sequence values or large objects)");
  cmd->add_flag("--data-only", args->data_only,
                "with --db: only the data, into a database that has the schema and empty tables");
  cmd->add_flag("--no-owner", args->omit.owner,
                "with --db: objects (and with --create the database) belong to the role "
                "restoring them, not to their owners in the backup: for a server that lacks the "
                "source's roles (as pg_restore --no-owner). Without it, a role the schema needs "
                "that the server lacks refuses the restore before anything changes");
  cmd->add_flag("--no-privileges,--no-acl", args->omit.privileges,
                "with --db: restore no privileges (GRANT, REVOKE, default privileges, the "
                "database's own), as pg_restore --no-privileges");
  cmd->add_flag("--no-tablespaces", args->omit.tablespaces,
                "with --db: create every object in the database's default tablespace, not in "
                "the tablespace it was in (for a server that lacks them; as pg_restore "
                "--no-tablespaces). Without it, a tablespace the schema needs that the server "
                "lacks refuses the restore before anything changes");
  cmd->add_flag("--no-analyze", args->no_analyze,
                "with --db: skip ANALYZE of the restored tables (pg_restore does not run it "
                "either); queries are then planned without statistics until autovacuum, or the "
                "operator's vacuumdb --analyze-in-stages, analyzes them");
  cmd->add_option("--jobs", args->jobs,
                  "with --db: connections used at once to load tables and, as soon as a table "
                  "is loaded, to build its indexes and constraints and ANALYZE it (the tables "
                  "with the most work behind them first; with more than one connection, indexes "
                  "are built without the server's parallel workers); otherwise worker threads "
                  "(default: the number of cores)");
  cmd->callback([run, args] { *run = [args](const Context& c) { return RunRestore(c, *args); }; });
}

}  // namespace pgdedup::cli
