#include "pg/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "common/interrupt.h"

extern char** environ;

namespace pgdedup::pg {

Result<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::vector<std::string>& argv, Mode mode,
    const std::vector<std::string>& env_overrides) {
  int data[2];
  if (::pipe2(data, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
  // The child's stderr goes to an anonymous file, not a pipe: a chatty child must never block
  // on stderr while we wait on its stdout or stdin.
  int err = ::memfd_create("pgdedup-child-stderr", MFD_CLOEXEC);
  if (err < 0) {
    ::close(data[0]);
    ::close(data[1]);
    return Status::FromErrno("memfd_create", errno);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  for (const auto& e : env_overrides) env_store.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_store) env.push_back(e.data());
  env.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno("fork", errno);
  if (pid == 0) {
    // Child: only async-signal-safe calls from here.
    int devnull = ::open("/dev/null", O_RDWR);
    if (mode == kReadStdout) {
      ::dup2(devnull, 0);
      ::dup2(data[1], 1);
    } else {
      ::dup2(data[0], 0);
      ::dup2(devnull, 1);
    }
    ::dup2(err, 2);
    ::signal(SIGPIPE, SIG_DFL);
    RestoreSignalMaskInChild();
    ::execvpe(args[0], args.data(), env.data());
    const char msg[] = "cannot execute program\n";
    ssize_t w = ::write(2, msg, sizeof msg - 1);
    (void)w;
    ::_exit(127);
  }
  std::unique_ptr<Subprocess> p(new Subprocess());
  p->name_ = argv[0];
  p->pid_ = pid;
  if (mode == kReadStdout) {
    p->fd_ = data[0];
    ::close(data[1]);
  } else {
    p->fd_ = data[1];
    ::close(data[0]);
  }
  p->err_fd_ = err;
  return p;
}

Subprocess::~Subprocess() {
  CloseFd();
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  if (err_fd_ >= 0) ::close(err_fd_);
}

void Subprocess::CloseFd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status Subprocess::Wait() {
  CloseFd();
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno("waitpid " + name_, errno);
  }
  pid_ = -1;
  // The last 4 KiB of its stderr, for the message.
  std::string err;
  off_t size = ::lseek(err_fd_, 0, SEEK_END);
  if (size > 0) {
    off_t from = size > 4096 ? size - 4096 : 0;
    err.resize(static_cast<size_t>(size - from));
    ssize_t n = ::pread(err_fd_, err.data(), err.size(), from);
    err.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  stderr_tail_ = err;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return Status::OK();
  std::string how = WIFEXITED(st) ? "exited with status " + std::to_string(WEXITSTATUS(st))
                                  : "was killed by signal " + std::to_string(WTERMSIG(st));
  return Status::SourceError(name_ + " " + how + (err.empty() ? "" : ": " + err));
}

Result<std::string> RunForOutput(const std::vector<std::string>& argv) {
  auto p = Subprocess::Start(argv, Subprocess::kReadStdout);
  if (!p.ok()) return p.status();
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read((*p)->fd(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, n);
  }
  PGDEDUP_RETURN_IF_ERROR((*p)->Wait());
  return out;
}

namespace {

// An executable regular file (what execvp would run).
bool IsExecutable(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0;
}

// Whether the user or the system configured pg_wrapper's choice of cluster.
bool WrapperConfigured() {
  if (const char* c = std::getenv("PGCLUSTER"); c != nullptr && *c) return true;
  std::error_code ec;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home) {
    if (std::filesystem::exists(std::filesystem::path(home) / ".postgresqlrc", ec)) return true;
  }
  std::ifstream clusters("/etc/postgresql-common/user_clusters");
  for (std::string line; std::getline(clusters, line);) {
    size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] != '#') return true;
  }
  return false;
}

}  // namespace

std::string ResolveClientProgram(const std::string& name, int major, const std::string& binroot) {
  if (name.empty() || name.find('/') != std::string::npos || WrapperConfigured()) return name;
  // The first `name` in PATH, as execvp would find it.
  const char* path_env = std::getenv("PATH");
  std::string_view path = path_env != nullptr ? path_env : "/usr/bin:/bin";
  std::filesystem::path found;
  while (found.empty()) {
    size_t colon = path.find(':');
    std::string dir(path.substr(0, colon));
    std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
    if (IsExecutable(candidate)) found = candidate;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  std::error_code ec;
  if (found.empty() || std::filesystem::canonical(found, ec).filename() != "pg_wrapper") {
    return name;
  }
  // The installed versions: binroot<major>/bin/<name>.
  int newest = 0;
  std::string newest_path;
  std::filesystem::directory_iterator it(binroot, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string version = it->path().filename().string();
    if (version.empty() || version.size() > 4 ||
        !std::all_of(version.begin(), version.end(),
                     [](char ch) { return ch >= '0' && ch <= '9'; })) {
      continue;
    }
    std::filesystem::path bin = it->path() / "bin" / name;
    if (!IsExecutable(bin)) continue;
    int v = std::stoi(version);
    if (v == major) return bin.string();
    if (v > newest) {
      newest = v;
      newest_path = bin.string();
    }
  }
  return newest_path.empty() ? name : newest_path;
}

}  // namespace pgdedup::pg
