// The commands of the pgdedup CLI. Each Add* registers one subcommand (its options and help) on
// the app; when the user picks it, its callback stores in *run the function that carries it out
// once every option (including global ones after the subcommand) has been parsed.
//
// Thread safety: main thread only.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "cli/context.h"

namespace pgdedup::cli {

using Runner = std::function<int(const Context&)>;

void AddInit(CLI::App* app, Runner* run);
void AddBackup(CLI::App* app, Runner* run);
void AddSnapshots(CLI::App* app, Runner* run);
void AddRestore(CLI::App* app, Runner* run);
void AddRepo(CLI::App* app, Runner* run);
void AddKey(CLI::App* app, Runner* run);
void AddStats(CLI::App* app, Runner* run);
void AddDrill(CLI::App* app, Runner* run);
void AddForget(CLI::App* app, Runner* run);
void AddPrune(CLI::App* app, Runner* run);
void AddUnlock(CLI::App* app, Runner* run);

}  // namespace pgdedup::cli
