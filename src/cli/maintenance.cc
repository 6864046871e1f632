#include "cli/maintenance.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdlib>

namespace pgdedup::cli {

Result<std::chrono::seconds> ParseRetryLock(const std::string& s) {
  auto bad = [&] {
    return Status::InvalidArgument("bad --retry-lock '" + s +
                                   "': give seconds, or a number with s, m or h (e.g. 10m)");
  };
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return bad();
  char* end = nullptr;
  long long n = std::strtoll(s.c_str(), &end, 10);
  if (n < 0 || n > 7 * 24 * 3600) return bad();
  std::string unit(end);
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::seconds(n * 60);
  if (unit == "h") return std::chrono::seconds(n * 3600);
  return bad();
}

Result<repo::PruneStats> RunPrune(const Context& ctx, repo::Repository* repo,
                                  const repo::RepoLock& lock, repo::PruneOptions options) {
  Progress progress(ctx, "repacking");
  options.phase = [&ctx, &progress](const std::string& phase) {
    progress.Done();
    if (!ctx.json()) spdlog::info("prune: {}", phase);
  };
  options.progress = [&progress](uint64_t done, uint64_t) { progress.Update(done); };
  auto stats = repo::Prune(repo, lock, options);
  progress.Done();
  return stats;
}

void WritePruneJson(JsonWriter* j, const repo::PruneStats& s, bool dry_run) {
  j->Field("dry_run", dry_run);
  j->Field("snapshots", s.snapshots);
  j->Field("live_blobs", s.live_blobs);
  j->Field("packs_before", s.packs_before);
  j->Field("packs_kept", s.packs_kept);
  j->Field("packs_repacked", s.packs_repacked);
  j->Field("packs_deleted", s.packs_deleted);
  j->Field("packs_unindexed_deleted", s.packs_unindexed);
  j->Field("packs_missing_dropped", s.packs_missing);
  j->Field("packs_written", s.packs_written);
  j->Field("blobs_repacked", s.blobs_repacked);
  j->Field("bytes_repacked", s.bytes_repacked);
  j->Field("index_objects_before", s.index_objects_before);
  j->Field("index_objects_written", s.index_objects_written);
  j->Field("index_objects_deleted", s.index_objects_deleted);
  j->Field("bytes_before", s.bytes_before);
  j->Field("bytes_after", s.bytes_after);
  j->Field("bytes_freed", s.bytes_freed());
  j->Field("bytes_unused_kept", s.bytes_unused_kept);
}

void LogPruneStats(const repo::PruneStats& s, bool dry_run) {
  const char* would = dry_run ? "would " : "";
  spdlog::info("prune: {} snapshots need {} blobs in {} of {} packs ({})", s.snapshots,
               s.live_blobs, s.packs_kept + s.packs_repacked, s.packs_before,
               FormatBytes(s.bytes_before));
  spdlog::info(
      "prune: {}delete {} packs with nothing live and {} left by interrupted runs; {}repack {} "
      "packs{}",
      would, s.packs_deleted, s.packs_unindexed, would, s.packs_repacked,
      dry_run ? "" : " into " + std::to_string(s.packs_written));
  if (s.packs_missing > 0) {
    spdlog::warn("prune: {} missing packs that no snapshot needs {}dropped from the index",
                 s.packs_missing, dry_run ? "would be " : "were ");
  }
  spdlog::info("prune: {} {}{} ({} -> {}); {} unused left in kept packs",
               FormatBytes(s.bytes_freed()), dry_run ? "would be " : "", "freed",
               FormatBytes(s.bytes_before), FormatBytes(s.bytes_after),
               FormatBytes(s.bytes_unused_kept));
}

}  // namespace pgdedup::cli
