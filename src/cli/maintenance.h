// Shared by `forget`, `prune` and `unlock`: running prune with progress, reporting its figures
// in text or JSON, and the --retry-lock duration.
//
// Thread safety: main thread only.
#pragma once

#include <chrono>
#include <string>

#include "cli/context.h"
#include "cli/json.h"
#include "repo/prune.h"

namespace pgdedup::cli {

// "90s", "5m", "1h" or a bare number of seconds. InvalidArgument otherwise.
Result<std::chrono::seconds> ParseRetryLock(const std::string& s);

// Runs prune, logging its phases (unless --json) and drawing repack progress on a terminal.
Result<repo::PruneStats> RunPrune(const Context& ctx, repo::Repository* repo,
                                  const repo::RepoLock& lock, repo::PruneOptions options);

// The figures of a prune as members of the JSON object being written.
void WritePruneJson(JsonWriter* j, const repo::PruneStats& stats, bool dry_run);
// The figures of a prune as log lines.
void LogPruneStats(const repo::PruneStats& stats, bool dry_run);

}  // namespace pgdedup::cli
