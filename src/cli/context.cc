#include "cli/context.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/json.h"
#include "repo/backend.h"

namespace pgdedup::cli {

namespace {

Result<std::string> ReadPasswordFile(const std::string& path) {
  std::ifstream in(path);
  // No password to be had is exit code 3, like a wrong one.
  if (!in)
    return Status::Permission(Status::FromErrno("read password file " + path, errno).message());
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Status::Permission("password file " + path + " is empty");
  return line;
}

// Reads a line from /dev/tty with echo off. Permission when there is no terminal.
Result<std::string> Prompt(const std::string& prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return Status::Permission(
        "no password: set PGDEDUP_PASSWORD, give --password-file, or run on a terminal");
  }
  struct termios old_t;
  bool have_t = tcgetattr(fd, &old_t) == 0;
  if (have_t) {
    struct termios t = old_t;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &t);
  }
  ssize_t w = ::write(fd, prompt.data(), prompt.size());
  (void)w;
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  if (have_t) tcsetattr(fd, TCSAFLUSH, &old_t);
  w = ::write(fd, "\n", 1);
  ::close(fd);
  if (line.empty()) return Status::Permission("empty password");
  return line;
}

}  // namespace

Result<std::string> Context::RepoLocation() const {
  if (!options_.repo.empty()) return options_.repo;
  if (const char* env = std::getenv("PGDEDUP_REPO"); env && *env) return std::string(env);
  return Status::InvalidArgument("no repository: give --repo or set PGDEDUP_REPO");
}

Result<std::string> Context::Password(const std::string& prompt) const {
  if (!options_.password_file.empty()) return ReadPasswordFile(options_.password_file);
  if (const char* env = std::getenv("PGDEDUP_PASSWORD"); env && *env) return std::string(env);
  return Prompt(prompt);
}

Result<std::string> Context::NewPassword(const std::string& new_password_file) const {
  if (!new_password_file.empty()) return ReadPasswordFile(new_password_file);
  if (const char* env = std::getenv("PGDEDUP_NEW_PASSWORD"); env && *env) {
    return std::string(env);
  }
  auto first = Prompt("new password: ");
  if (!first.ok()) {
    return Status::Permission(
        "no new password: set PGDEDUP_NEW_PASSWORD, give --new-password-file, or run on a "
        "terminal");
  }
  auto again = Prompt("repeat the new password: ");
  if (!again.ok()) return again.status();
  if (*first != *again) return Status::InvalidArgument("the passwords do not match");
  return first;
}

Result<repo::KdfStrength> Context::Kdf() const {
  if (options_.kdf == "interactive") return repo::KdfStrength::kInteractive;
  if (options_.kdf == "moderate") return repo::KdfStrength::kModerate;
  if (options_.kdf == "sensitive") return repo::KdfStrength::kSensitive;
  return Status::InvalidArgument("--kdf must be interactive, moderate or sensitive");
}

Result<std::unique_ptr<repo::Backend>> Context::OpenBackend(bool create, bool local_copies) const {
  auto location = RepoLocation();
  if (!location.ok()) return location.status();
  repo::BackendOptions options;
  options.create = create;
  options.cacert = options_.cacert;
  options.cache_dir = options_.cache_dir.empty() ? repo::DefaultCacheRoot() : options_.cache_dir;
  if (!local_copies) options.cache_dir.clear();
  if (options.cacert.empty()) {
    if (const char* env = std::getenv("PGDEDUP_CACERT"); env && *env) options.cacert = env;
  }
  return repo::OpenBackend(*location, options);
}

Result<std::unique_ptr<repo::Repository>> Context::OpenRepository(bool local_copies) const {
  auto backend = OpenBackend(/*create=*/false, local_copies);
  if (!backend.ok()) return backend.status();
  auto password = Password();
  if (!password.ok()) return password.status();
  repo::OpenOptions open;
  open.cache_root = options_.cache_dir;
  return repo::Repository::Open(std::move(*backend), *password, open);
}

Result<Context::SnapshotReader> Context::OpenSnapshot(const std::string& spec) const {
  SnapshotReader r;
  auto repo = OpenRepository();
  if (!repo.ok()) return repo.status();
  r.repo = std::move(*repo);
  auto lock = repo::RepoLock::Acquire(r.repo.get(), /*exclusive=*/false);
  if (!lock.ok()) return lock.status();
  r.lock = std::move(*lock);
  r.lock->DeleteOnInterrupt();  // readers only: restore, drill
  auto snap = r.repo->FindSnapshot(spec);
  if (!snap.ok()) return snap.status();
  r.snapshot = std::move(*snap);
  PGDEDUP_RETURN_IF_ERROR(r.repo->SyncIndex());
  return r;
}

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kPermission:
      return kExitPassword;
    case StatusCode::kCorruption:
      return kExitDamaged;
    case StatusCode::kLocked:
      return kExitLocked;
    case StatusCode::kSourceError:
      return kExitSource;
    default:
      return kExitFailure;
  }
}

int Context::Fail(const Status& s) const {
  spdlog::error("{}", s.message());
  return ExitCodeFor(s);
}

void WriteBackendStats(JsonWriter* j, const repo::BackendStats& s) {
  j->Key("backend");
  j->BeginObject();
  j->Field("requests", s.requests());
  j->Field("puts", s.puts);
  j->Field("gets", s.gets);
  j->Field("heads", s.heads);
  j->Field("lists", s.lists);
  j->Field("deletes", s.deletes);
  j->Field("retries", s.retries);
  j->Field("bytes_sent", s.bytes_sent);
  j->Field("bytes_received", s.bytes_received);
  j->EndObject();
}

std::string FormatBackendStats(const repo::BackendStats& s) {
  return std::to_string(s.requests()) + " requests (" + std::to_string(s.puts) + " put, " +
         std::to_string(s.gets) + " get, " + std::to_string(s.heads) + " head, " +
         std::to_string(s.lists) + " list, " + std::to_string(s.deletes) + " delete; " +
         std::to_string(s.retries) + " retries), " + FormatBytes(s.bytes_sent) + " sent, " +
         FormatBytes(s.bytes_received) + " received";
}

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[u]);
  }
  return buf;
}

Progress::Progress(const Context& ctx, std::string what)
    : enabled_(isatty(STDERR_FILENO) && !ctx.options().quiet && !ctx.json()),
      what_(std::move(what)),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() { Done(); }

void Progress::Update(uint64_t bytes) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? static_cast<double>(bytes) / secs : 0;
  std::fprintf(stderr, "\r\033[K%s %s  %s/s  %.0fs", what_.c_str(), FormatBytes(bytes).c_str(),
               FormatBytes(static_cast<uint64_t>(rate)).c_str(), secs);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::Done() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace pgdedup::cli
