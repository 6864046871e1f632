// The CLI's shared plumbing: global options, password sources, opening the repository, exit
// codes, progress on a terminal, and byte formatting. Every command receives a Context.
//
// Exit codes (a contract with operators' scripts; docs/CLI.md):
//   0 success, 1 failure, 2 usage error, 3 wrong password or no key, 4 repository damaged,
//   5 locked by another process, 6 source database error.
//
// Thread safety: used from the main thread; Progress::Update may be called from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "repo/key_file.h"
#include "repo/lock.h"
#include "repo/repository.h"

namespace pgdedup::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,
  kExitUsage = 2,
  kExitPassword = 3,
  kExitDamaged = 4,
  kExitLocked = 5,
  kExitSource = 6,
};

struct GlobalOptions {
  std::string repo;                 // --repo, default $PGDEDUP_REPO
  std::string password_file;        // --password-file
  std::string cache_dir;            // --cache-dir
  std::string kdf = "interactive";  // --kdf for init / key add|passwd
  std::string cacert;               // --cacert, default $PGDEDUP_CACERT
  bool json = false;
  bool quiet = false;
  int verbose = 0;
};

class Context {
 public:
  explicit Context(GlobalOptions options) : options_(std::move(options)) {}
  const GlobalOptions& options() const { return options_; }
  bool json() const { return options_.json; }

  // The repository location; InvalidArgument when neither --repo nor $PGDEDUP_REPO is set.
  Result<std::string> RepoLocation() const;
  // The password from $PGDEDUP_PASSWORD, --password-file, or a prompt on the terminal.
  // Permission when there is none to be had.
  Result<std::string> Password(const std::string& prompt = "repository password: ") const;
  // Asks for a new password twice on a terminal, or takes $PGDEDUP_NEW_PASSWORD /
  // --new-password-file.
  Result<std::string> NewPassword(const std::string& new_password_file) const;
  Result<repo::KdfStrength> Kdf() const;
  // Opens the backend of the repository location (with --cacert), creating it when `create`;
  // for a bucket, with local copies of its key files and manifests unless `local_copies` is
  // false (repo check: what it proves is the bucket's own bytes).
  Result<std::unique_ptr<repo::Backend>> OpenBackend(bool create, bool local_copies = true) const;
  // Opens the repository with the password (`local_copies` as for OpenBackend).
  Result<std::unique_ptr<repo::Repository>> OpenRepository(bool local_copies = true) const;

  // A repository opened to read one snapshot: a shared lock held, the snapshot found, the
  // index cache synced. (Members are destroyed in reverse order: the lock before the repo.)
  struct SnapshotReader {
    std::unique_ptr<repo::Repository> repo;
    std::unique_ptr<repo::RepoLock> lock;
    repo::SnapshotRef snapshot;
  };
  Result<SnapshotReader> OpenSnapshot(const std::string& spec) const;

  // Prints an error for `s` (stderr) and returns the exit code it maps to.
  int Fail(const Status& s) const;

 private:
  GlobalOptions options_;
};

int ExitCodeFor(const Status& s);

class JsonWriter;
// Writes "backend": {"requests", "puts", "gets", "heads", "lists", "deletes", "retries",
// "bytes_sent", "bytes_received"} into the object being written.
void WriteBackendStats(JsonWriter* j, const repo::BackendStats& stats);
// "12 requests (3 PUT, 9 GET, ...), 1.2 MiB sent, 3.4 MiB received" for logs.
std::string FormatBackendStats(const repo::BackendStats& stats);

// "1.5 GiB", "300 B".
std::string FormatBytes(uint64_t bytes);

// A one-line progress display on stderr, shown only when stderr is a terminal and the output is
// not quiet or JSON. Redraws at most 5 times a second.
class Progress {
 public:
  Progress(const Context& ctx, std::string what);
  ~Progress();
  void Update(uint64_t bytes);
  void Done();

 private:
  bool enabled_;
  std::string what_;
  std::chrono::steady_clock::time_point start_, last_;
  bool drawn_ = false;
};

}  // namespace pgdedup::cli
