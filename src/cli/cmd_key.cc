// `pgdedup key add|list|remove|passwd`.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>

#include "cli/commands.h"
#include "cli/json.h"

namespace pgdedup::cli {

namespace {

struct KeyArgs {
  std::string new_password_file;
  std::string key_id;
};

int RunKeyList(const Context& ctx) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  auto keys = repo::ListKeys(repo->get());
  if (!keys.ok()) return ctx.Fail(keys.status());
  JsonWriter j;
  j.BeginArray();
  if (!ctx.json()) std::printf("   %-12s  %-19s  %-16s  %s\n", "ID", "Created", "Host", "User");
  for (const auto& k : *keys) {
    bool current = k.id == (*repo)->key_id();
    time_t t = static_cast<time_t>(k.created);
    struct tm tm;
    localtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    if (ctx.json()) {
      j.BeginObject();
      j.Field("id", k.id);
      j.Field("current", current);
      j.Field("usable", k.problem.empty());
      if (k.problem.empty()) {
        j.Field("created", std::string(when));
        j.Field("hostname", k.hostname);
        j.Field("username", k.username);
      } else {
        j.Field("problem", k.problem);
      }
      j.EndObject();
    } else if (!k.problem.empty()) {
      std::printf("!  %-12s  %s (no password opens it; `key remove %s` deletes it)\n",
                  k.id.substr(0, 12).c_str(), k.problem.c_str(), k.id.substr(0, 12).c_str());
    } else {
      std::printf("%s  %-12s  %-19s  %-16s  %s\n", current ? "*" : " ", k.id.substr(0, 12).c_str(),
                  when, k.hostname.c_str(), k.username.c_str());
    }
  }
  j.EndArray();
  if (ctx.json()) std::puts(j.str().c_str());
  return kExitOk;
}

int RunKeyAdd(const Context& ctx, const KeyArgs& args, bool replace_current) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  auto kdf = ctx.Kdf();
  if (!kdf.ok()) return ctx.Fail(kdf.status());
  auto password = ctx.NewPassword(args.new_password_file);
  if (!password.ok()) return ctx.Fail(password.status());
  auto id = repo::AddKey(repo->get(), *password, *kdf);
  if (!id.ok()) return ctx.Fail(id.status());
  if (replace_current) {
    // The new key is stored before the old one goes: a crash in between leaves two keys.
    if (Status s = (*repo)->backend()->Delete("keys/" + (*repo)->key_id()); !s.ok()) {
      return ctx.Fail(s.WithContext("the new key was added, but removing the old one failed"));
    }
  }
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("id", *id);
    j.EndObject();
    std::puts(j.str().c_str());
  } else {
    spdlog::info("{} {}", replace_current ? "password changed; new key" : "added key",
                 id->substr(0, 12));
  }
  return kExitOk;
}

int RunKeyRemove(const Context& ctx, const KeyArgs& args) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  if (Status s = repo::RemoveKey(repo->get(), args.key_id); !s.ok()) return ctx.Fail(s);
  if (ctx.json())
    std::puts("{\"ok\":true}");
  else
    spdlog::info("removed key {}", args.key_id);
  return kExitOk;
}

}  // namespace

void AddKey(CLI::App* app, Runner* run) {
  auto args = std::make_shared<KeyArgs>();
  CLI::App* key = app->add_subcommand("key", "manage the passwords that open the repository");
  key->require_subcommand(1);
  key->fallthrough();
  CLI::App* list = key->add_subcommand("list", "list the keys (* marks the one in use)");
  list->callback([run] { *run = [](const Context& c) { return RunKeyList(c); }; });

  CLI::App* add = key->add_subcommand(
      "add",
      "add a key for a new password ($PGDEDUP_NEW_PASSWORD, --new-password-file, or a "
      "prompt)");
  add->add_option("--new-password-file", args->new_password_file,
                  "read the new password from this file");
  add->callback([run, args] {
    *run = [args](const Context& c) { return RunKeyAdd(c, *args, /*replace_current=*/false); };
  });

  CLI::App* passwd = key->add_subcommand("passwd", "change the password of the key in use");
  passwd->add_option("--new-password-file", args->new_password_file,
                     "read the new password from this file");
  passwd->callback([run, args] {
    *run = [args](const Context& c) { return RunKeyAdd(c, *args, /*replace_current=*/true); };
  });

  CLI::App* remove = key->add_subcommand("remove", "remove a key (not the one in use)");
  remove->add_option("id", args->key_id, "key id or unique prefix")->required();
  remove->callback(
      [run, args] { *run = [args](const Context& c) { return RunKeyRemove(c, *args); }; });
}

}  // namespace pgdedup::cli
