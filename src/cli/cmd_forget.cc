// `pgdedup forget`: applies a retention policy (src/repo/retention.h) and deletes the snapshots
// it does not keep; with --prune, then deletes their data.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>

#include "cli/commands.h"
#include "cli/maintenance.h"
#include "repo/retention.h"

namespace pgdedup::cli {

namespace {

struct ForgetArgs {
  repo::RetentionPolicy policy;
  std::string within;
  std::string group_by = "host,database";
  bool prune = false;
  bool dry_run = false;
  double max_unused = 50;
  std::string retry_lock = "0";
};

std::string LocalTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %a", &tm);
  return buf;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string GroupTitle(const repo::RetentionGroup& g, const repo::GroupBy& by) {
  std::vector<std::string> parts;
  if (by.host) parts.push_back("host " + g.hostname);
  if (by.database) parts.push_back("database " + g.database);
  if (by.tags) parts.push_back("tags [" + Join(g.tags, ",") + "]");
  return parts.empty() ? "all snapshots" : Join(parts, ", ");
}

void WriteGroupsJson(JsonWriter* j, const std::vector<repo::RetentionGroup>& groups,
                     const repo::GroupBy& by) {
  j->Key("groups");
  j->BeginArray();
  for (const auto& g : groups) {
    j->BeginObject();
    j->Key("key");
    j->BeginObject();
    if (by.host) j->Field("hostname", g.hostname);
    if (by.database) j->Field("database", g.database);
    if (by.tags) {
      j->Key("tags");
      j->BeginArray();
      for (const auto& t : g.tags) j->String(t);
      j->EndArray();
    }
    j->EndObject();
    j->Key("snapshots");
    j->BeginArray();
    for (const auto& e : g.entries) {
      const auto& m = e.snapshot->manifest;
      j->BeginObject();
      j->Field("id", e.snapshot->id.Hex());
      j->Field("short_id", e.snapshot->id.ShortHex());
      j->Field("time", repo::FormatTime(m.time, m.utc_offset));
      j->Field("keep", e.verdict.keep);
      j->Key("reasons");
      j->BeginArray();
      for (const auto& r : e.verdict.reasons) j->String(r);
      j->EndArray();
      j->EndObject();
    }
    j->EndArray();
    j->EndObject();
  }
  j->EndArray();
}

void PrintGroups(const std::vector<repo::RetentionGroup>& groups, const repo::GroupBy& by) {
  for (const auto& g : groups) {
    size_t kept = 0;
    for (const auto& e : g.entries) kept += e.verdict.keep;
    std::printf("%s: keep %zu of %zu snapshots\n", GroupTitle(g, by).c_str(), kept,
                g.entries.size());
    std::printf("  %-8s  %-23s  %-6s  %s\n", "ID", "Time", "Action", "Reasons");
    for (const auto& e : g.entries) {
      std::printf("  %-8s  %-23s  %-6s  %s\n", e.snapshot->id.ShortHex().c_str(),
                  LocalTime(e.snapshot->manifest.time).c_str(), e.verdict.keep ? "keep" : "forget",
                  Join(e.verdict.reasons, ", ").c_str());
    }
  }
}

int RunForget(const Context& ctx, ForgetArgs args) {
  if (!args.within.empty()) {
    auto d = repo::ParseCalendarDuration(args.within);
    if (!d.ok()) return ctx.Fail(d.status().WithContext("--keep-within"));
    args.policy.has_within = true;
    args.policy.within = *d;
  }
  if (args.policy.Empty()) {
    return ctx.Fail(Status::InvalidArgument(
        "no policy: give at least one of --keep-last, --keep-hourly, --keep-daily, "
        "--keep-weekly, --keep-monthly, --keep-yearly, --keep-within, --keep-tag (forget refuses "
        "to remove every snapshot)"));
  }
  auto group_by = repo::ParseGroupBy(args.group_by);
  if (!group_by.ok()) return ctx.Fail(group_by.status());
  auto wait = ParseRetryLock(args.retry_lock);
  if (!wait.ok()) return ctx.Fail(wait.status());

  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  auto lock = repo::RepoLock::Acquire(repo->get(), /*exclusive=*/!args.dry_run, *wait);
  if (!lock.ok()) return ctx.Fail(lock.status());
  // A damaged manifest stops forget: it cannot be placed in a group, and a prune after it
  // would not know what it needs.
  auto snapshots = (*repo)->ListSnapshots();
  if (!snapshots.ok()) return ctx.Fail(snapshots.status());
  std::vector<repo::RetentionGroup> groups =
      repo::PlanRetention(*snapshots, args.policy, *group_by);
  std::vector<repo::Id> forget;
  for (const auto& g : groups) {
    for (const auto& e : g.entries) {
      if (!e.verdict.keep) forget.push_back(e.snapshot->id);
    }
  }
  if (!ctx.json()) PrintGroups(groups, *group_by);
  if (!args.dry_run) {
    if (Status s = repo::ForgetSnapshots(repo->get(), **lock, forget); !s.ok()) {
      return ctx.Fail(s);
    }
  }
  if (!ctx.json()) {
    spdlog::info("{} {} of {} snapshots", args.dry_run ? "would forget" : "forgot", forget.size(),
                 snapshots->size());
  }

  Result<repo::PruneStats> stats = repo::PruneStats{};
  if (args.prune) {
    repo::PruneOptions options;
    options.max_unused_percent = args.max_unused;
    options.dry_run = args.dry_run;
    options.assume_forgotten.insert(forget.begin(), forget.end());
    stats = RunPrune(ctx, repo->get(), **lock, options);
    if (!stats.ok()) return ctx.Fail(stats.status());
    if (!ctx.json()) LogPruneStats(*stats, args.dry_run);
  }
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("dry_run", args.dry_run);
    j.Field("snapshots", static_cast<uint64_t>(snapshots->size()));
    j.Field("kept", static_cast<uint64_t>(snapshots->size() - forget.size()));
    j.Field("forgotten", static_cast<uint64_t>(forget.size()));
    WriteGroupsJson(&j, groups, *group_by);
    if (args.prune) {
      j.Key("prune");
      j.BeginObject();
      WritePruneJson(&j, *stats, args.dry_run);
      j.EndObject();
    }
    j.EndObject();
    std::puts(j.str().c_str());
  }
  return kExitOk;
}

}  // namespace

void AddForget(CLI::App* app, Runner* run) {
  auto args = std::make_shared<ForgetArgs>();
  CLI::App* cmd = app->add_subcommand(
      "forget",
      "remove the snapshots a retention policy does not keep (rules combine: a snapshot is kept "
      "when any rule keeps it; buckets use local time; the newest snapshot of each bucket is "
      "kept); --prune then deletes their data");
  auto& p = args->policy;
  cmd->add_option("--keep-last", p.last, "keep the N newest snapshots")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-hourly", p.hourly,
                  "keep the newest snapshot of each of the last N hours that have one")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-daily", p.daily,
                  "keep the newest snapshot of each of the last N days that have one")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option(
         "--keep-weekly", p.weekly,
         "keep the newest snapshot of each of the last N ISO weeks (Monday-Sunday) that have one")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-monthly", p.monthly,
                  "keep the newest snapshot of each of the last N months that have one")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-yearly", p.yearly,
                  "keep the newest snapshot of each of the last N years that have one")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-within", args->within,
                  "keep every snapshot within this span before the group's newest one: numbers "
                  "with units y, m (months), w, d, h, e.g. 30d or 1y6m");
  cmd->add_option("--keep-tag", p.tags, "keep every snapshot with this tag (repeatable)");
  cmd->add_option("--group-by", args->group_by,
                  "apply the policy to each group of snapshots with the same host, database "
                  "(for --stdin backups: stream names) and/or tags; '' for one group "
                  "(default: host,database)");
  cmd->add_flag("--prune", args->prune, "then delete the data no remaining snapshot needs");
  cmd->add_flag("--dry-run", args->dry_run, "say what would be kept and forgotten; change nothing");
  cmd->add_option("--max-unused", args->max_unused,
                  "with --prune: repack a pack when more than this percentage of it is unused "
                  "(default: 50)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--retry-lock", args->retry_lock,
                  "wait up to this long for other processes' locks, e.g. 30m (default: 0)");
  cmd->callback([run, args] { *run = [args](const Context& c) { return RunForget(c, *args); }; });
}

}  // namespace pgdedup::cli
