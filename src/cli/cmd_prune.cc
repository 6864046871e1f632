// `pgdedup prune`: deletes the data no snapshot needs (docs/ARCHITECTURE.md, "Prune").
#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/maintenance.h"

namespace pgdedup::cli {

namespace {

struct PruneArgs {
  bool dry_run = false;
  double max_unused = 50;
  std::string retry_lock = "0";
};

int RunPruneCommand(const Context& ctx, const PruneArgs& args) {
  auto wait = ParseRetryLock(args.retry_lock);
  if (!wait.ok()) return ctx.Fail(wait.status());
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  // A dry run changes nothing: a shared lock keeps other prunes out and lets backups run.
  auto lock = repo::RepoLock::Acquire(repo->get(), /*exclusive=*/!args.dry_run, *wait);
  if (!lock.ok()) return ctx.Fail(lock.status());
  repo::PruneOptions options;
  options.dry_run = args.dry_run;
  options.max_unused_percent = args.max_unused;
  auto stats = RunPrune(ctx, repo->get(), **lock, options);
  if (!stats.ok()) return ctx.Fail(stats.status());
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    WritePruneJson(&j, *stats, args.dry_run);
    j.EndObject();
    std::puts(j.str().c_str());
  } else {
    LogPruneStats(*stats, args.dry_run);
  }
  return kExitOk;
}

}  // namespace

void AddPrune(CLI::App* app, Runner* run) {
  auto args = std::make_shared<PruneArgs>();
  CLI::App* cmd = app->add_subcommand(
      "prune",
      "delete the data that no snapshot needs: packs with nothing live are deleted, packs mostly "
      "unused are repacked; holds an exclusive lock: backups meanwhile fail with exit 5");
  cmd->add_flag("--dry-run", args->dry_run,
                "say what would be deleted and repacked; change nothing");
  cmd->add_option("--max-unused", args->max_unused,
                  "repack a pack when more than this percentage of its bytes is unused "
                  "(default: 50; lower frees more space and uploads more)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--retry-lock", args->retry_lock,
                  "wait up to this long for other processes' locks, e.g. 30m (default: 0, fail "
                  "with exit 5 at once)");
  cmd->callback(
      [run, args] { *run = [args](const Context& c) { return RunPruneCommand(c, *args); }; });
}

}  // namespace pgdedup::cli
