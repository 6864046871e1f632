// `pgdedup snapshots`: lists the snapshots.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/lock.h"

namespace pgdedup::cli {

namespace {

std::string LocalTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

int RunSnapshots(const Context& ctx) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  std::vector<Status> damaged;
  auto snapshots = (*repo)->ListSnapshots(&damaged);
  if (!snapshots.ok()) return ctx.Fail(snapshots.status());
  // Damaged manifests are reported (and make the exit code 4) but do not hide the others.
  for (const auto& d : damaged) spdlog::error("{}", d.message());
  const int rc = damaged.empty() ? kExitOk : kExitDamaged;
  if (ctx.json()) {
    JsonWriter j;
    j.BeginArray();
    for (const auto& s : *snapshots) {
      const auto& m = s.manifest;
      j.BeginObject();
      j.Field("id", s.id.Hex());
      j.Field("short_id", s.id.ShortHex());
      j.Field("time", repo::FormatTime(m.time, m.utc_offset));
      j.Field("hostname", m.hostname);
      j.Field("username", m.username);
      j.Field("tags", m.tags);
      j.Field("source", m.source);
      if (!m.database.empty()) j.Field("database", m.database);
      j.Field("program_version", m.program_version);
      if (m.source == "postgresql") {
        // What the native backup read: the server, the pg_dump that dumped the schema, and the
        // database as it was.
        j.Field("server_version", m.server_version);
        j.Field("pg_dump_version", m.pg_dump_version);
        j.Field("database_size", m.database_size);
        j.Field("encoding", m.encoding);
      }
      uint64_t total = 0;
      j.Key("streams");
      j.BeginArray();
      for (const auto& st : m.streams) {
        total += st.size;
        j.BeginObject();
        j.Field("name", st.name);
        j.Field("size", st.size);
        j.Field("digest", st.digest.Hex());
        j.Field("chunks", st.chunk_count);
        if (!st.kind.empty()) j.Field("kind", st.kind);
        if (st.holds_table_rows()) j.Field("rows", st.rows);
        j.EndObject();
      }
      j.EndArray();
      j.Field("size", total);
      j.EndObject();
    }
    j.EndArray();
    std::puts(j.str().c_str());
    return rc;
  }
  std::printf("%-8s  %-19s  %-16s  %-12s  %12s  %s\n", "ID", "Time", "Host", "Tags", "Size",
              "Contents");
  for (const auto& s : *snapshots) {
    const auto& m = s.manifest;
    uint64_t total = 0;
    std::vector<std::string> names;
    size_t tables = 0;
    for (const auto& st : m.streams) {
      total += st.size;
      tables += st.kind == "table";
      names.push_back(st.name);
    }
    if (!m.database.empty()) {
      // A native backup: its streams are the schema and one per table.
      names = {"database " + m.database + " (" + std::to_string(tables) + " tables)"};
    }
    std::printf("%-8s  %-19s  %-16s  %-12s  %12s  %s\n", s.id.ShortHex().c_str(),
                LocalTime(m.time).c_str(), m.hostname.c_str(), Join(m.tags).c_str(),
                FormatBytes(total).c_str(), Join(names).c_str());
  }
  std::printf("%zu snapshots\n", snapshots->size());
  return rc;
}

}  // namespace

void AddSnapshots(CLI::App* app, Runner* run) {
  CLI::App* cmd = app->add_subcommand("snapshots", "list the snapshots, oldest first");
  cmd->callback([run] { *run = [](const Context& c) { return RunSnapshots(c); }; });
}

}  // namespace pgdedup::cli
