#include "repo/local_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "common/hex.h"
#include "repo/crypto.h"

namespace pgdedup::repo {

namespace {

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the result (close can report a deferred write error).
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status ValidName(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.find("..") != std::string::npos ||
      name.find("/.") != std::string::npos || name.front() == '.') {
    return Status::InvalidArgument("bad object name '" + name + "'");
  }
  return Status::OK();
}

Status FsyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno("open directory " + dir, errno);
  if (::fsync(fd.get()) != 0) return Status::FromErrno("fsync directory " + dir, errno);
  return Status::OK();
}

Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create directory " + dir + ": " + ec.message());
  return Status::OK();
}

void ListRecursive(const std::string& root, const std::string& rel, const std::string& prefix,
                   std::vector<ObjectInfo>* out, Status* status) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno != ENOENT && status->ok()) *status = Status::FromErrno("list " + dir, errno);
    return;
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string entry = e->d_name;
    if (entry.empty() || entry[0] == '.') continue;  // ".", "..", and temp files
    std::string name = rel.empty() ? entry : rel + "/" + entry;
    // Only descend where the prefix can still match.
    size_t n = std::min(name.size(), prefix.size());
    if (name.compare(0, n, prefix, 0, n) != 0) continue;
    struct stat st;
    if (::fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // raced away
    if (S_ISDIR(st.st_mode)) {
      ListRecursive(root, name, prefix, out, status);
    } else if (S_ISREG(st.st_mode) && name.size() >= prefix.size()) {
      out->push_back({name, static_cast<uint64_t>(st.st_size)});
    }
  }
  ::closedir(d);
}

}  // namespace

Result<std::unique_ptr<LocalBackend>> LocalBackend::Open(const std::string& root, bool create) {
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (r.empty()) return Status::InvalidArgument("empty repository path");
  if (create) PGDEDUP_RETURN_IF_ERROR(MakeDirs(r));
  struct stat st;
  if (::stat(r.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound("repository directory " + r + " does not exist");
    return Status::FromErrno("stat " + r, errno);
  }
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(r + " is not a directory");
  return std::unique_ptr<LocalBackend>(new LocalBackend(r));
}

Status LocalBackend::Put(const std::string& name, std::string_view data) {
  PGDEDUP_RETURN_IF_ERROR(ValidName(name));
  counters_.Request(BackendCounters::kPut);
  counters_.Sent(data.size());
  std::string path = PathOf(name);
  std::string dir = path.substr(0, path.rfind('/'));
  std::string tmp = dir + "/.tmp-" + ToHex(RandomBytes(8));
  int raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (raw < 0 && errno == ENOENT) {
    PGDEDUP_RETURN_IF_ERROR(MakeDirs(dir));
    raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  if (raw < 0) return Status::FromErrno("create " + tmp, errno);
  Fd fd(raw);
  auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    return Status::FromErrno(what + " " + name, err);
  };
  const char* p = data.data();
  size_t left = data.size();
  // In pieces of 1 MiB: one 16 MiB write() of a pack measured up to 5x slower here than the
  // same bytes in 1 MiB writes (and never faster).
  constexpr size_t kPiece = 1 << 20;
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, std::min(left, kPiece));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write", errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fdatasync(fd.get()) != 0) return fail("fsync", errno);
  if (fd.Close() != 0) return fail("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename", errno);
  return FsyncDir(dir);
}

Result<std::string> LocalBackend::Get(const std::string& name, uint64_t offset, uint64_t length) {
  PGDEDUP_RETURN_IF_ERROR(ValidName(name));
  counters_.Request(BackendCounters::kGet);
  std::string path = PathOf(name);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::NotFound("object " + name + " is missing");
    return Status::FromErrno("open " + name, errno);
  }
  if (length == kToEnd) {
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("stat " + name, errno);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (offset > size) {
      return Status::Corruption(name + ": read from " + std::to_string(offset) +
                                ": short read (object has " + std::to_string(size) + " bytes)");
    }
    length = size - offset;
  }
  std::string out(length, '\0');
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd.get(), out.data() + done, length - done, offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + name, errno);
    }
    if (n == 0) {
      return Status::Corruption(name + ": read " + std::to_string(length) + "@" +
                                std::to_string(offset) + ": short read");
    }
    done += static_cast<uint64_t>(n);
  }
  counters_.Received(out.size());
  return out;
}

Result<uint64_t> LocalBackend::Size(const std::string& name) {
  PGDEDUP_RETURN_IF_ERROR(ValidName(name));
  counters_.Request(BackendCounters::kHead);
  struct stat st;
  if (::stat(PathOf(name).c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound("object " + name + " is missing");
    return Status::FromErrno("stat " + name, errno);
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<std::vector<ObjectInfo>> LocalBackend::List(const std::string& prefix) {
  counters_.Request(BackendCounters::kList);
  std::vector<ObjectInfo> out;
  Status status;
  ListRecursive(root_, "", prefix, &out, &status);
  if (!status.ok()) return status;
  return out;
}

Status LocalBackend::Delete(const std::string& name) {
  PGDEDUP_RETURN_IF_ERROR(ValidName(name));
  counters_.Request(BackendCounters::kDelete);
  std::string path = PathOf(name);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::OK();
    return Status::FromErrno("delete " + name, errno);
  }
  return FsyncDir(path.substr(0, path.rfind('/')));
}

}  // namespace pgdedup::repo
