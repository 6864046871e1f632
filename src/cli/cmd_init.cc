// `pgdedup init`: creates a repository.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/backend.h"

namespace pgdedup::cli {

namespace {

struct InitArgs {
  uint32_t chunk_min = 0, chunk_avg = 0, chunk_max = 0;
  uint32_t pack_size_mib = 16;
  uint32_t compression = 1;
};

int RunInit(const Context& ctx, const InitArgs& args) {
  auto location = ctx.RepoLocation();
  if (!location.ok()) return ctx.Fail(location.status());
  auto kdf = ctx.Kdf();
  if (!kdf.ok()) return ctx.Fail(kdf.status());
  repo::InitOptions options;
  options.kdf = *kdf;
  if (args.chunk_avg != 0) {
    options.config.chunker = {args.chunk_min ? args.chunk_min : args.chunk_avg / 4, args.chunk_avg,
                              args.chunk_max ? args.chunk_max : args.chunk_avg * 4};
  }
  if (args.pack_size_mib < 1 || args.pack_size_mib > 1024) {
    return ctx.Fail(Status::InvalidArgument("--pack-size must be 1..1024 MiB"));
  }
  if (args.compression > 19) return ctx.Fail(Status::InvalidArgument("--compression is 0..19"));
  options.config.pack_size = args.pack_size_mib << 20;
  options.config.compression_level = args.compression;
  if (Status s = options.config.chunker.Validate(); !s.ok()) return ctx.Fail(s);

  auto backend = ctx.OpenBackend(/*create=*/true);
  if (!backend.ok()) return ctx.Fail(backend.status());
  auto password = ctx.Password("password for the new repository: ");
  if (!password.ok()) return ctx.Fail(password.status());
  if (Status s = repo::Repository::Init(backend->get(), *password, options); !s.ok()) {
    return ctx.Fail(s);
  }
  auto repo = repo::Repository::Open(std::move(*backend), *password, {ctx.options().cache_dir});
  if (!repo.ok()) return ctx.Fail(repo.status());
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("repository_id", (*repo)->config().repository_id.Hex());
    j.Field("location", *location);
    j.EndObject();
    std::puts(j.str().c_str());
  } else {
    spdlog::info("created repository {} at {}", (*repo)->config().repository_id.ShortHex(),
                 *location);
    spdlog::info("keep the password safe: without it the backups cannot be read");
  }
  return kExitOk;
}

}  // namespace

void AddInit(CLI::App* app, Runner* run) {
  auto args = std::make_shared<InitArgs>();
  CLI::App* cmd = app->add_subcommand("init", "create a new repository");
  cmd->add_option("--chunk-avg", args->chunk_avg,
                  "average chunk size in bytes, a power of two (default: 65536)");
  cmd->add_option("--chunk-min", args->chunk_min, "minimum chunk size (default: avg/4)");
  cmd->add_option("--chunk-max", args->chunk_max, "maximum chunk size (default: avg*4)");
  cmd->add_option("--pack-size", args->pack_size_mib, "target pack size in MiB (default: 16)");
  cmd->add_option("--compression", args->compression,
                  "zstd level for new data, 0 for none (default: 1)");
  cmd->callback([run, args] { *run = [args](const Context& c) { return RunInit(c, *args); }; });
}

}  // namespace pgdedup::cli
