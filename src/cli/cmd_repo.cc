// `pgdedup repo check` and `pgdedup repo index rebuild [--read-packs]`.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"
#include "repo/check.h"
#include "repo/index_repair.h"
#include "repo/lock.h"

namespace pgdedup::cli {

namespace {

struct CheckArgs {
  bool read_data = false;
  int jobs = 0;
};

int RunCheck(const Context& ctx, const CheckArgs& args) {
  // The bucket's own key files and manifests, not this machine's copies of them.
  auto repo = ctx.OpenRepository(/*local_copies=*/false);
  if (!repo.ok()) return ctx.Fail(repo.status());
  auto lock = repo::RepoLock::Acquire(repo->get(), /*exclusive=*/false);
  if (!lock.ok()) return ctx.Fail(lock.status());
  (*lock)->DeleteOnInterrupt();  // check writes nothing to the repository
  repo::CheckOptions options;
  options.read_data = args.read_data;
  options.threads = args.jobs;
  options.progress = [&ctx](const std::string& phase) {
    if (!ctx.json()) spdlog::info("checking {}", phase);
  };
  auto report = repo::CheckRepository(repo->get(), options);
  if (!report.ok()) return ctx.Fail(report.status());
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("ok", report->ok());
    j.Field("read_data", args.read_data);
    j.Field("snapshots", report->snapshots);
    j.Field("index_objects", report->index_objects);
    j.Field("packs", report->packs);
    j.Field("packs_read", report->packs_read);
    j.Field("bytes_read", report->bytes_read);
    j.Field("blobs_read", report->blobs);
    j.Field("errors", report->errors);
    j.Field("warnings", report->warnings);
    // Every chunk a snapshot cannot restore, with why (up to repo::kMaxDamagedChunks).
    j.Field("damaged_chunks_total", report->damaged_chunks_total);
    j.Key("damaged_chunks");
    j.BeginArray();
    for (const auto& d : report->damaged_chunks) {
      j.BeginObject();
      j.Field("snapshot", d.snapshot.Hex());
      j.Field("stream", d.stream);
      j.Field("chunk", d.chunk.Hex());
      j.Field("problem", d.problem);
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
    std::puts(j.str().c_str());
  } else {
    for (const auto& w : report->warnings) spdlog::warn("{}", w);
    for (const auto& e : report->errors) spdlog::error("{}", e);
    if (report->ok()) {
      spdlog::info(
          "no errors: {} snapshots, {} index objects, {} packs{}", report->snapshots,
          report->index_objects, report->packs,
          args.read_data ? ", " + FormatBytes(report->bytes_read) + " read and verified" : "");
    } else {
      spdlog::error("the repository is damaged: {} errors", report->errors.size());
    }
  }
  return report->ok() ? kExitOk : kExitDamaged;
}

// `repo index rebuild --read-packs`: new index objects from the packs' headers.
int RunIndexRepair(const Context& ctx) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  auto lock = repo::RepoLock::Acquire(repo->get(), /*exclusive=*/true);
  if (!lock.ok()) return ctx.Fail(lock.status());
  repo::IndexRepairOptions options;
  Progress progress(ctx, "indexing packs");
  options.progress = [&progress](uint64_t done, uint64_t) { progress.Update(done); };
  auto stats = repo::RepairIndex(repo->get(), **lock, options);
  progress.Done();
  if (!stats.ok()) return ctx.Fail(stats.status());
  const bool clean = stats->problems.empty();
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("ok", clean);
    j.Field("packs", stats->packs);
    j.Field("packs_from_headers", stats->packs_from_headers);
    j.Field("packs_from_old_index", stats->packs_from_old_index);
    j.Field("packs_unreadable", stats->packs_unreadable);
    j.Field("packs_newly_indexed", stats->packs_newly_indexed);
    j.Field("packs_missing", stats->packs_missing);
    j.Field("blobs", stats->blobs);
    j.Field("index_objects_read", stats->index_objects_read);
    j.Field("index_objects_damaged", stats->index_objects_damaged);
    j.Field("index_objects_written", stats->index_objects_written);
    j.Field("index_objects_deleted", stats->index_objects_deleted);
    j.Field("problems", stats->problems);
    j.Field("replaced", stats->replaced);
    j.EndObject();
    std::puts(j.str().c_str());
  } else {
    for (const auto& r : stats->replaced) spdlog::warn("{}", r);
    for (const auto& p : stats->problems) spdlog::error("{}", p);
    spdlog::info(
        "index rebuilt from {} packs ({} listed by no index object before): {} index objects "
        "written, {} old ones deleted ({} damaged)",
        stats->packs, stats->packs_newly_indexed, stats->index_objects_written,
        stats->index_objects_deleted, stats->index_objects_damaged);
    if (!clean) {
      spdlog::error(
          "the repository is still damaged: {} problems; run `pgdedup repo check "
          "--read-data`",
          stats->problems.size());
    }
  }
  return clean ? kExitOk : kExitDamaged;
}

struct IndexRebuildArgs {
  bool read_packs = false;
};

int RunIndexRebuild(const Context& ctx, const IndexRebuildArgs& args) {
  if (args.read_packs) return RunIndexRepair(ctx);
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  if (Status s = (*repo)->SyncIndex(); !s.ok()) return ctx.Fail(s);
  if (Status s = (*repo)->index()->Clear(); !s.ok()) return ctx.Fail(s);
  if (Status s = (*repo)->SyncIndex(); !s.ok()) return ctx.Fail(s);
  if (!ctx.json())
    spdlog::info("the local index cache was rebuilt from the index objects");
  else
    std::puts("{\"ok\":true}");
  return kExitOk;
}

}  // namespace

void AddRepo(CLI::App* app, Runner* run) {
  CLI::App* repo = app->add_subcommand("repo", "repository maintenance");
  repo->require_subcommand(1);
  repo->fallthrough();

  auto args = std::make_shared<CheckArgs>();
  CLI::App* check = repo->add_subcommand(
      "check",
      "verify the repository's structure (and with --read-data, every byte); exit 4 "
      "when damage is found");
  check->add_flag("--read-data", args->read_data,
                  "read and verify every pack and blob (reads the whole repository)");
  check->add_option("--jobs", args->jobs, "worker threads (default: the number of cores)");
  check->callback([run, args] { *run = [args](const Context& c) { return RunCheck(c, *args); }; });

  CLI::App* index = repo->add_subcommand("index", "the local index cache");
  index->require_subcommand(1);
  index->fallthrough();
  auto rebuild_args = std::make_shared<IndexRebuildArgs>();
  CLI::App* rebuild = index->add_subcommand(
      "rebuild",
      "rebuild the local index cache from the index objects; with --read-packs, first rewrite "
      "the index objects themselves from the packs' headers");
  rebuild->add_flag(
      "--read-packs", rebuild_args->read_packs,
      "repair lost or damaged index objects (`repo check` reports chunks \"not in any index "
      "object\"): read the header of every pack, write new index objects listing every blob, "
      "then delete the old ones. Holds an exclusive lock (backups meanwhile fail with exit 5); "
      "reads two small ranges of each pack; exit 4 when some pack's blobs still cannot be "
      "listed");
  rebuild->callback([run, rebuild_args] {
    *run = [rebuild_args](const Context& c) { return RunIndexRebuild(c, *rebuild_args); };
  });
}

}  // namespace pgdedup::cli
