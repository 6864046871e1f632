#include "repo/lock.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "common/coding.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/system.h"
#include "repo/object.h"

namespace pgdedup::repo {

namespace {

constexpr uint8_t kLockVersion = 1;

uint64_t Now() { return static_cast<uint64_t>(std::time(nullptr)); }

std::string DescribeLock(const LockInfo& l) {
  char when[32];
  time_t t = static_cast<time_t>(l.created);
  struct tm tm;
  localtime_r(&t, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  return std::string(l.exclusive ? "an exclusive" : "a shared") + " lock held by pid " +
         std::to_string(l.pid) + " on " + l.hostname + " (user " + l.username + ") since " + when;
}

Result<LockInfo> Decode(const std::string& name, std::string_view plain) {
  Reader in(plain);
  uint8_t version, exclusive;
  std::string_view host, user;
  LockInfo l;
  l.name = name;
  if (!in.GetFixed8(&version) || version != kLockVersion || !in.GetFixed8(&exclusive) ||
      !in.GetFixed32(&l.pid) || !in.GetFixed64(&l.created) || !in.GetFixed64(&l.refreshed) ||
      !in.GetLengthPrefixed(&host) || !in.GetLengthPrefixed(&user)) {
    return Status::Corruption(name + ": malformed lock");
  }
  l.exclusive = exclusive != 0;
  l.hostname = std::string(host);
  l.username = std::string(user);
  return l;
}

void JudgeStaleness(LockInfo* l) {
  uint64_t now = Now();
  if (l->hostname == Hostname() && l->pid != 0 && ::kill(static_cast<pid_t>(l->pid), 0) != 0 &&
      errno == ESRCH) {
    l->stale = true;
    l->stale_reason = "its process no longer exists";
  } else if (now > l->refreshed &&
             now - l->refreshed > static_cast<uint64_t>(RepoLock::kStaleAfter.count())) {
    l->stale = true;
    l->stale_reason =
        "it has not been refreshed for " + std::to_string((now - l->refreshed) / 60) + " minutes";
  }
}

// Live locks that conflict with a lock of kind `exclusive`, other than `own`.
Result<std::vector<LockInfo>> Conflicts(Repository* repo, bool exclusive, const std::string& own,
                                        bool report_stale) {
  auto all = RepoLock::List(repo);
  if (!all.ok()) return all.status();
  std::vector<LockInfo> out;
  for (auto& l : *all) {
    if (l.name == own) continue;
    if (l.stale) {
      if (report_stale)
        LogWarning("ignoring a stale lock (" + DescribeLock(l) + "): " + l.stale_reason);
      continue;
    }
    if (exclusive || l.exclusive) out.push_back(l);
  }
  return out;
}

}  // namespace

Result<std::vector<LockInfo>> RepoLock::List(Repository* repo) {
  auto objects = repo->backend()->List("locks/");
  if (!objects.ok()) return objects.status();
  std::vector<LockInfo> out;
  for (const auto& o : *objects) {
    auto bytes = repo->backend()->Get(o.name);
    if (!bytes.ok()) {
      if (bytes.status().IsNotFound()) continue;  // released meanwhile
      return bytes.status();
    }
    auto plain = OpenObject(repo->keys(), ObjectType::kLock, *bytes);
    auto info = plain.ok() ? Decode(o.name, *plain) : Result<LockInfo>(plain.status());
    if (!info.ok()) {
      LogWarning("ignoring unreadable lock " + o.name + ": " + info.status().message());
      continue;
    }
    JudgeStaleness(&*info);
    out.push_back(std::move(*info));
  }
  return out;
}

std::string RepoLock::Describe(const LockInfo& lock) { return DescribeLock(lock); }

Result<std::vector<LockInfo>> RepoLock::RemoveLocks(Repository* repo, bool all) {
  auto locks = List(repo);
  if (!locks.ok()) return locks.status();
  std::vector<LockInfo> removed;
  for (auto& l : *locks) {
    if (!all && !l.stale) continue;
    PGDEDUP_RETURN_IF_ERROR(repo->backend()->Delete(l.name));
    removed.push_back(std::move(l));
  }
  return removed;
}

Result<std::unique_ptr<RepoLock>> RepoLock::Acquire(Repository* repo, bool exclusive,
                                                    std::chrono::seconds retry_for) {
  const auto deadline = std::chrono::steady_clock::now() + retry_for;
  auto pause = std::chrono::milliseconds(500);
  for (;;) {
    auto lock = TryAcquire(repo, exclusive);
    if (lock.ok() || lock.status().code() != StatusCode::kLocked) return lock;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return lock;
    LogInfo(lock.status().message() + "; waiting");
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::seconds(5));
  }
}

Result<std::unique_ptr<RepoLock>> RepoLock::TryAcquire(Repository* repo, bool exclusive) {
  auto before = Conflicts(repo, exclusive, "", /*report_stale=*/true);
  if (!before.ok()) return before.status();
  if (!before->empty()) {
    return Status::Locked("the repository is locked: " + DescribeLock(before->front()));
  }
  std::unique_ptr<RepoLock> lock(new RepoLock(repo, exclusive));
  lock->created_ = Now();
  PGDEDUP_RETURN_IF_ERROR(lock->Write());
  // Two processes may have passed the first look at once; the second look sees both locks.
  auto after = Conflicts(repo, exclusive, lock->name_, /*report_stale=*/false);
  if (!after.ok()) return after.status();
  if (!after->empty()) {
    // Back off: the lock object goes with `lock`, so the other process (or a retry) can win.
    return Status::Locked("the repository is locked: " + DescribeLock(after->front()));
  }
  lock->refresher_ = std::thread([l = lock.get()] { l->RefreshLoop(); });
  return lock;
}

Status RepoLock::Write() {
  std::string plain;
  plain.push_back(static_cast<char>(kLockVersion));
  plain.push_back(exclusive_ ? 1 : 0);
  PutFixed32(&plain, static_cast<uint32_t>(getpid()));
  PutFixed64(&plain, created_);
  PutFixed64(&plain, Now());
  PutLengthPrefixed(&plain, Hostname());
  PutLengthPrefixed(&plain, Username());
  std::string name = "locks/" + ToHex(RandomBytes(16));
  PGDEDUP_RETURN_IF_ERROR(
      repo_->backend()->Put(name, SealObject(repo_->keys(), ObjectType::kLock, plain)));
  std::string old = std::move(name_);
  name_ = std::move(name);
  if (!old.empty()) {
    Status s = repo_->backend()->Delete(old);
    if (!s.ok()) LogWarning(s.WithContext("removing the previous lock object").ToString());
  }
  return Status::OK();
}

void RepoLock::RefreshLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!cv_.wait_for(l, kRefreshInterval, [this] { return stopping_; })) {
    Status s = Write();
    if (!s.ok()) LogWarning(s.WithContext("refreshing the repository lock").ToString());
  }
}

void RepoLock::DeleteOnInterrupt() {
  if (!on_interrupt_) {
    on_interrupt_ = std::make_unique<OnInterrupt>([this] { ReleaseOnInterrupt(); });
  }
}

void RepoLock::ReleaseOnInterrupt() {
  std::lock_guard<std::mutex> l(mu_);  // not while a refresh replaces the object
  stopping_ = true;
  if (name_.empty()) return;
  Status s = repo_->backend()->Delete(name_);
  if (!s.ok()) LogWarning(s.WithContext("releasing the repository lock").ToString());
  name_.clear();
}

RepoLock::~RepoLock() {
  // First, so that an interrupt's cleanup no longer runs beside what follows (this waits for
  // one that has begun; the process then ends with it).
  on_interrupt_.reset();
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  if (!name_.empty()) {
    Status s = repo_->backend()->Delete(name_);
    if (!s.ok()) LogWarning(s.WithContext("releasing the repository lock").ToString());
  }
}

}  // namespace pgdedup::repo
