// Subprocess: runs a program (pg_dump, psql) with its stdin or stdout on a pipe to us and its
// stderr captured, and reports how it ended. Killed and reaped on destruction if still running.
//
//   auto dump = Subprocess::Start({"pg_dump", "--section=pre-data", ...}, Subprocess::kReadStdout);
//   ... read (*dump)->fd() to its end ...
//   Status s = (*dump)->Wait();   // SourceError with the program's stderr unless it exited 0
//
// Thread safety: one thread drives a Subprocess.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace pgdedup::pg {

class Subprocess {
 public:
  enum Mode {
    kReadStdout,  // fd() reads the child's stdout; its stdin is /dev/null
    kWriteStdin,  // fd() writes the child's stdin; its stdout is discarded
  };

  // Starts argv[0] (looked up in PATH) with `env_overrides` ("NAME=value") added to the
  // environment. SourceError when it cannot be started.
  static Result<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv, Mode mode,
      const std::vector<std::string>& env_overrides = {});
  ~Subprocess();

  int fd() const { return fd_; }
  // Closes our end of the pipe (for kWriteStdin: the child sees end of input).
  void CloseFd();
  // Waits for the child. OK if it exited 0; else SourceError naming the program, its exit
  // status, and the last of its stderr.
  Status Wait();
  // After Wait: the last 4 KiB of the child's stderr (its warnings, when it succeeded).
  const std::string& stderr_tail() const { return stderr_tail_; }

 private:
  Subprocess() = default;
  std::string name_;
  pid_t pid_ = -1;
  int fd_ = -1;
  int err_fd_ = -1;  // the child's stderr
  std::string stderr_tail_;
};

// Runs a program to completion with no input, returning its stdout. SourceError on failure.
Result<std::string> RunForOutput(const std::vector<std::string>& argv);

// The program to start for the PostgreSQL client tool `name` ("psql", "pg_dump").
//
// Debian and Ubuntu install these as links to postgresql-common's pg_wrapper, a Perl script
// that picks a PostgreSQL version at every start and costs 50-100 ms each time. When `name` is
// a bare name found in PATH as such a link, and neither PGCLUSTER, ~/.postgresqlrc nor
// /etc/postgresql-common/user_clusters configures pg_wrapper's choice of cluster, this returns
// the binary itself, under `binroot`<major>/bin/: version `major` when it is installed, else
// the newest installed. (pg_wrapper runs the newest psql. For pg_dump the server's own version
// is preferred: PostgreSQL does not promise that a newer pg_dump's SQL loads into an older
// server, and pgdedup restores into servers like the source; to move to a newer server, set
// PGDEDUP_PG_DUMP to the newer pg_dump.) In every other case, `name`
// unchanged: a path, another PATH, another system.
std::string ResolveClientProgram(const std::string& name, int major,
                                 const std::string& binroot = "/usr/lib/postgresql/");

}  // namespace pgdedup::pg
