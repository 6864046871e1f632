#include "common/system.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace pgdedup {

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string Username() {
  const char* u = std::getenv("USER");
  return u && *u ? u : std::to_string(getuid());
}

Status WriteFully(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + std::string(what), errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

}  // namespace pgdedup
