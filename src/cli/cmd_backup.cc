// `pgdedup backup`: stores a stream (stdin) as a new snapshot.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "cli/commands.h"
#include "cli/json.h"
#include "common/system.h"
#include "pg/connection.h"
#include "pg/database_backup.h"
#include "repo/backup.h"

namespace pgdedup::cli {

namespace {

struct BackupArgs {
  bool stdin_input = false;
  std::string name;
  std::vector<std::string> tags;
  std::string time;
  bool time_given = false;
  std::string host;
  bool no_delta = false;
  std::string db;
  std::string format = "native";
  int jobs = 0;
};

// Parses "YYYY-MM-DD HH:MM:SS" (exactly that shape, a real calendar time) as local time.
Result<std::pair<int64_t, int32_t>> ParseLocalTime(const std::string& s) {
  auto bad = [&] {
    return Status::InvalidArgument("--time '" + s +
                                   "': expected a real local time as \"YYYY-MM-DD HH:MM:SS\"");
  };
  static constexpr char kShape[] = "dddd-dd-dd dd:dd:dd";
  if (s.size() != sizeof(kShape) - 1) return bad();
  for (size_t i = 0; i < s.size(); ++i) {
    if (kShape[i] == 'd' ? !isdigit(static_cast<unsigned char>(s[i])) : s[i] != kShape[i]) {
      return bad();
    }
  }
  struct tm tm = {};
  const char* end = strptime(s.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (end == nullptr || *end != '\0') return bad();
  struct tm given = tm;
  tm.tm_isdst = -1;
  time_t t = mktime(&tm);
  // mktime normalises (February 30th becomes March 2nd): a time that does not survive the
  // round trip did not exist.
  if (t == static_cast<time_t>(-1) || tm.tm_year != given.tm_year || tm.tm_mon != given.tm_mon ||
      tm.tm_mday != given.tm_mday || tm.tm_hour != given.tm_hour || tm.tm_min != given.tm_min) {
    return bad();
  }
  return std::make_pair(static_cast<int64_t>(t), static_cast<int32_t>(tm.tm_gmtoff));
}

std::pair<int64_t, int32_t> Now(uint32_t* nsec) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  *nsec = static_cast<uint32_t>(ts.tv_nsec);
  return {static_cast<int64_t>(ts.tv_sec), static_cast<int32_t>(tm.tm_gmtoff)};
}

int RunBackup(const Context& ctx, const BackupArgs& args) {
  if (args.db.empty() == !args.stdin_input) {
    return ctx.Fail(Status::InvalidArgument(
        "say what to back up: --db CONNINFO (a database) or --stdin --name NAME (a stream)"));
  }
  if (args.format != "native" && args.format != "pg_dump") {
    return ctx.Fail(Status::InvalidArgument("--format is native or pg_dump"));
  }
  if (args.format != "native" && args.db.empty()) {
    return ctx.Fail(Status::InvalidArgument("--format goes with --db"));
  }
  if (args.stdin_input && args.name.empty()) {
    return ctx.Fail(Status::InvalidArgument("--stdin needs --name NAME for the stream"));
  }
  if (args.stdin_input && isatty(STDIN_FILENO)) {
    return ctx.Fail(Status::InvalidArgument(
        "--stdin reads from a pipe or file, not a terminal (e.g. pg_dump db | pgdedup backup "
        "--stdin --name db.sql)"));
  }
  uint32_t nsec = 0;
  std::pair<int64_t, int32_t> when = Now(&nsec);
  if (args.time_given) {
    auto parsed = ParseLocalTime(args.time);
    if (!parsed.ok()) return ctx.Fail(parsed.status());
    when = *parsed;
    nsec = 0;
  }
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());

  auto start = std::chrono::steady_clock::now();
  Progress progress(ctx, "backup " + (args.db.empty() ? args.name : std::string("database")));
  repo::BackupOptions options;
  if (args.db.empty()) options.threads = args.jobs;  // with --db, --jobs counts connections
  options.progress = [&progress](uint64_t b) { progress.Update(b); };
  // Deltas are taken against this host's previous backup of the same database (or of the same
  // stream name, for --stdin).
  options.deltas = !args.no_delta;
  const std::string host = args.host.empty() ? Hostname() : args.host;
  std::string database;
  if (!args.db.empty()) {
    auto name = pg::DatabaseOf(args.db);
    if (!name.ok()) return ctx.Fail(name.status());
    database = *name;
  }
  options.parent_filter = [host, database](const repo::Manifest& m) {
    return m.hostname == host && m.database == database;
  };
  auto session = repo::BackupSession::Start(repo->get(), options);
  if (!session.ok()) return ctx.Fail(session.status());

  repo::Manifest manifest;
  if (args.db.empty()) {
    // pg_dump | pgdedup: a 1 MiB pipe buffer instead of 64 KiB lets the writer run ahead with a
    // sixteenth of the context switches. Best effort: the kernel may refuse.
    struct stat st;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
      fcntl(STDIN_FILENO, F_SETPIPE_SZ, 1 << 20);
    }
    auto stream = (*session)->AddStreamFromFd(args.name, STDIN_FILENO);
    progress.Done();
    if (!stream.ok()) return ctx.Fail(stream.status());
    manifest.source = "stdin";
  } else {
    pg::DatabaseBackupOptions db;
    db.conninfo = args.db;
    db.jobs = args.jobs;
    Status s = args.format == "pg_dump" ? pg::BackupDatabaseArchive(db, session->get(), &manifest)
                                        : pg::BackupDatabase(db, session->get(), &manifest);
    progress.Done();
    if (!s.ok()) return ctx.Fail(s);
  }
  manifest.time = when.first;
  manifest.utc_offset = when.second;
  manifest.time_nsec = nsec;
  manifest.hostname = host;
  manifest.username = Username();
  manifest.tags = args.tags;
  manifest.program_version = PGDEDUP_VERSION;
  auto id = (*session)->Commit(manifest);
  if (!id.ok()) return ctx.Fail(id.status());
  repo::BackupStats stats = (*session)->stats();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("snapshot_id", id->Hex());
    j.Field("short_id", id->ShortHex());
    j.Field("time", repo::FormatTime(manifest.time, manifest.utc_offset));
    j.Field("bytes_read", stats.bytes_read);
    j.Field("chunks", stats.chunks);
    j.Field("predicted_chunks", stats.predicted_chunks);
    j.Field("new_chunks", stats.writer.new_data_blobs);
    j.Field("new_delta_chunks", stats.writer.new_delta_blobs);
    j.Field("new_bytes", stats.writer.new_raw_bytes);
    j.Field("bytes_added", stats.writer.stored_bytes);
    j.Field("packs_added", stats.writer.packs);
    j.Field("duration_seconds", secs);
    if (!manifest.database.empty()) j.Field("database", manifest.database);
    WriteBackendStats(&j, (*repo)->backend()->stats());
    j.Key("streams");
    j.BeginArray();
    for (const auto& st : (*session)->streams()) {
      j.BeginObject();
      j.Field("name", st.name);
      j.Field("size", st.size);
      j.Field("digest", st.digest.Hex());
      if (st.holds_table_rows()) j.Field("rows", st.rows);
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
    std::puts(j.str().c_str());
  } else {
    spdlog::info(
        "snapshot {} saved: read {}, {} new of {} chunks ({} as deltas), added {} to the "
        "repository in {:.1f}s ({}/s)",
        id->ShortHex(), FormatBytes(stats.bytes_read), stats.writer.new_data_blobs, stats.chunks,
        stats.writer.new_delta_blobs, FormatBytes(stats.writer.stored_bytes), secs,
        FormatBytes(static_cast<uint64_t>(secs > 0 ? stats.bytes_read / secs : 0)));
    spdlog::debug("repository traffic: {}", FormatBackendStats((*repo)->backend()->stats()));
  }
  return kExitOk;
}

}  // namespace

void AddBackup(CLI::App* app, Runner* run) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* cmd = app->add_subcommand(
      "backup",
      "back up a stream as a new snapshot (e.g. pg_dump db | pgdedup backup --stdin "
      "--name db.sql)");
  cmd->add_flag("--stdin", args->stdin_input, "read the stream to back up from standard input");
  cmd->add_option("--name", args->name, "name of the stream in the snapshot (with --stdin)");
  cmd->add_option("--tag", args->tags, "tag the snapshot (repeatable)");
  CLI::Option* time =
      cmd->add_option("--time", args->time,
                      "the snapshot's time, \"YYYY-MM-DD HH:MM:SS\" local time (default: now)");
  cmd->add_flag("--no-delta", args->no_delta,
                "store new chunks whole, never as deltas against the previous backup's chunks "
                "(for comparison; deltas are on by default)");
  cmd->add_option("--host", args->host, "the hostname recorded (default: this host's name)");
  cmd->add_option("--db", args->db, "back up a database (libpq conninfo or URL)");
  cmd->add_option("--format", args->format,
                  "with --db: native (one consistent snapshot, a stream per table; the default) "
                  "or pg_dump (one pg_dump custom-format archive, restored with pg_restore)");
  cmd->add_option("--jobs", args->jobs,
                  "with --db: tables copied at once on as many connections; with --stdin: worker "
                  "threads (default: the number of cores)");
  cmd->callback([run, args, time] {
    args->time_given = time->count() > 0;
    *run = [args](const Context& c) { return RunBackup(c, *args); };
  });
}

}  // namespace pgdedup::cli
