// `pgdedup stats`: how much the repository holds and how well it dedups.
#include <cstdio>

#include "cli/commands.h"
#include "cli/json.h"

namespace pgdedup::cli {

namespace {

int RunStats(const Context& ctx) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ctx.Fail(repo.status());
  auto snapshots = (*repo)->ListSnapshots();
  if (!snapshots.ok()) return ctx.Fail(snapshots.status());
  uint64_t logical = 0;
  for (const auto& s : *snapshots) {
    for (const auto& st : s.manifest.streams) logical += st.size;
  }
  auto objects = (*repo)->backend()->List("");
  if (!objects.ok()) return ctx.Fail(objects.status());
  uint64_t stored = 0, pack_bytes = 0, packs = 0, index_objects = 0;
  for (const auto& o : *objects) {
    stored += o.size;
    if (o.name.rfind("data/", 0) == 0) {
      pack_bytes += o.size;
      packs++;
    } else if (o.name.rfind("index/", 0) == 0) {
      index_objects++;
    }
  }
  if (Status s = (*repo)->SyncIndex(); !s.ok()) return ctx.Fail(s);
  uint64_t blobs = 0, raw = 0, deltas = 0;
  Status s = (*repo)->index()->ForEachBlob([&](const repo::BlobLocation& loc) {
    blobs++;
    if (loc.entry.is_delta()) deltas++;
    raw += loc.entry.raw_length;
    return Status::OK();
  });
  if (!s.ok()) return ctx.Fail(s);
  double ratio = stored > 0 ? static_cast<double>(logical) / static_cast<double>(stored) : 0;
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject();
    j.Field("snapshots", static_cast<uint64_t>(snapshots->size()));
    j.Field("logical_bytes", logical);
    j.Field("unique_bytes", raw);
    j.Field("stored_bytes", stored);
    j.Field("pack_bytes", pack_bytes);
    j.Field("packs", packs);
    j.Field("index_objects", index_objects);
    j.Field("blobs", blobs);
    j.Field("delta_blobs", deltas);
    j.Field("dedup_ratio", ratio);
    WriteBackendStats(&j, (*repo)->backend()->stats());
    j.EndObject();
    std::puts(j.str().c_str());
  } else {
    std::printf("snapshots:      %zu\n", snapshots->size());
    std::printf("logical size:   %s (all snapshots' streams)\n", FormatBytes(logical).c_str());
    std::printf("unique data:    %s in %llu blobs (%llu stored as deltas)\n",
                FormatBytes(raw).c_str(), static_cast<unsigned long long>(blobs),
                static_cast<unsigned long long>(deltas));
    std::printf("stored size:    %s (%llu packs)\n", FormatBytes(stored).c_str(),
                static_cast<unsigned long long>(packs));
    std::printf("ratio:          %.2fx (logical / stored)\n", ratio);
    std::printf("this command:   %s\n", FormatBackendStats((*repo)->backend()->stats()).c_str());
  }
  return kExitOk;
}

}  // namespace

void AddStats(CLI::App* app, Runner* run) {
  CLI::App* cmd = app->add_subcommand("stats", "sizes and the deduplication ratio");
  cmd->callback([run] { *run = [](const Context& c) { return RunStats(c); }; });
}

}  // namespace pgdedup::cli
