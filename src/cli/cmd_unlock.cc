// `pgdedup unlock`: removes stale locks (or, with --remove-all, every lock).
#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/lock.h"

namespace pgdedup::cli {

namespace {

int RunUnlock(const Context& ctx, bool remove_all) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  auto removed = repo::RepoLock::RemoveLocks(repo->get(), remove_all);
  if (!removed.ok()) return ctx.Fail(removed.status());
  auto left = repo::RepoLock::List(repo->get());
  if (!left.ok()) return ctx.Fail(left.status());
  if (ctx.json()) {
    auto write = [](JsonWriter* j, const repo::LockInfo& l) {
      j->BeginObject();
      j->Field("name", l.name);
      j->Field("exclusive", l.exclusive);
      j->Field("pid", static_cast<uint64_t>(l.pid));
      j->Field("hostname", l.hostname);
      j->Field("username", l.username);
      j->Field("created", l.created);
      j->Field("stale", l.stale);
      if (l.stale) j->Field("stale_reason", l.stale_reason);
      j->EndObject();
    };
    JsonWriter j;
    j.BeginObject();
    j.Key("removed");
    j.BeginArray();
    for (const auto& l : *removed) write(&j, l);
    j.EndArray();
    j.Key("remaining");
    j.BeginArray();
    for (const auto& l : *left) write(&j, l);
    j.EndArray();
    j.EndObject();
    std::puts(j.str().c_str());
    return kExitOk;
  }
  for (const auto& l : *removed) {
    spdlog::info("removed {}{}", repo::RepoLock::Describe(l),
                 l.stale ? " (stale: " + l.stale_reason + ")" : std::string(" (live)"));
  }
  for (const auto& l : *left) {
    spdlog::info("kept {}: it is live (use --remove-all only if that process is gone)",
                 repo::RepoLock::Describe(l));
  }
  if (removed->empty() && left->empty()) spdlog::info("the repository has no locks");
  return kExitOk;
}

}  // namespace

void AddUnlock(CLI::App* app, Runner* run) {
  auto remove_all = std::make_shared<bool>(false);
  CLI::App* cmd = app->add_subcommand(
      "unlock",
      "remove stale locks (a process that no longer exists on this host, or a lock not "
      "refreshed for 30 minutes)");
  cmd->add_flag("--remove-all", *remove_all,
                "remove every lock, live ones too: only when their processes are known to be gone");
  cmd->callback([run, remove_all] {
    *run = [remove_all](const Context& c) { return RunUnlock(c, *remove_all); };
  });
}

}  // namespace pgdedup::cli
