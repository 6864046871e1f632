// pgdedup: deduplicating, encrypted backups of PostgreSQL databases.
//
// Global options may stand before or after the command. Logs go to stderr; with --json each
// command prints one JSON document on stdout. Exit codes: see cli/context.h and docs/CLI.md.
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/interrupt.h"
#include "common/log.h"

namespace {

void SetUpLogging(const pgdedup::cli::GlobalOptions& o) {
  auto logger = spdlog::stderr_color_mt("pgdedup");
  logger->set_pattern("%^pgdedup %l:%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(o.quiet         ? spdlog::level::warn
                    : o.verbose > 0 ? spdlog::level::debug
                                    : spdlog::level::info);
  pgdedup::SetLogSink([](pgdedup::LogLevel level, std::string_view m) {
    switch (level) {
      case pgdedup::LogLevel::kDebug:
        spdlog::debug("{}", m);
        break;
      case pgdedup::LogLevel::kInfo:
        spdlog::info("{}", m);
        break;
      case pgdedup::LogLevel::kWarning:
        spdlog::warn("{}", m);
        break;
      case pgdedup::LogLevel::kError:
        spdlog::error("{}", m);
        break;
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pgdedup::cli;
  // Before any thread starts: SIGINT, SIGTERM and SIGHUP go to one thread that runs the
  // registered cleanups (a drill's temporary database) before the process ends.
  pgdedup::InstallInterruptHandler();
  // Packs (16 MiB) and other large buffers are mmap'ed and returned to the system when freed.
  // Left to itself glibc raises this threshold after the first large free and keeps later
  // packs in its arenas: measured, that took a 2 GB backup's peak RSS from ~80 to ~130 MiB.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // Chunk buffers (up to 256 KiB) come and go by the thousand in worker threads' arenas. glibc
  // gives a thread arena's free top back to the system above 128 KiB (MADV_DONTNEED, a TLB
  // shootdown on every core), and the next chunk faults the pages in again and zeroes them:
  // measured, that was a third of a restore's CPU. Keep up to 64 MiB free per arena instead.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  CLI::App app{
      "pgdedup: deduplicating, encrypted backups of PostgreSQL databases.\n"
      "Exit codes: 0 success, 1 failure, 2 usage error, 3 wrong password or no key,\n"
      "4 repository damaged, 5 locked by another process, 6 source database error."};
  app.set_version_flag("--version", PGDEDUP_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  GlobalOptions global;
  app.add_option("-r,--repo", global.repo,
                 "repository: a directory, or s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX] "
                 "(default: $PGDEDUP_REPO)");
  app.add_option("--password-file", global.password_file,
                 "read the repository password from the first line of this file "
                 "(default: $PGDEDUP_PASSWORD, else a prompt on the terminal)");
  app.add_option("--cache-dir", global.cache_dir,
                 "directory for the local caches: the index, and for S3 the key files and "
                 "manifests "
                 "(default: $XDG_CACHE_HOME/pgdedup or ~/.cache/pgdedup)");
  app.add_option("--kdf", global.kdf,
                 "Argon2id cost for new keys (init, key add, key passwd): interactive, "
                 "moderate (256 MiB) or sensitive (1 GiB) (default: interactive, 64 MiB, as "
                 "much memory as restic's scrypt)");
  app.add_option("--cacert", global.cacert,
                 "trust the CA certificates in this PEM file for an https S3 endpoint, instead "
                 "of the system store (default: $PGDEDUP_CACERT)");
  app.add_flag("--json", global.json, "print one JSON document on stdout");
  app.add_flag("-q,--quiet", global.quiet, "print only warnings and errors");
  app.add_flag("-v,--verbose", global.verbose, "print debugging output");

  Runner run;
  AddInit(&app, &run);
  AddBackup(&app, &run);
  AddSnapshots(&app, &run);
  AddRestore(&app, &run);
  AddRepo(&app, &run);
  AddKey(&app, &run);
  AddStats(&app, &run);
  AddDrill(&app, &run);
  AddForget(&app, &run);
  AddPrune(&app, &run);
  AddUnlock(&app, &run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  SetUpLogging(global);
  if (!run) {
    spdlog::error("no command given (see --help)");
    return kExitUsage;
  }
  Context ctx(global);
  return run(ctx);
}
