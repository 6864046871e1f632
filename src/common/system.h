// Small facts about this process's host, and a write that finishes.
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace pgdedup {

// This host's name ("unknown" if it cannot be had).
std::string Hostname();
// The user running this process: $USER, else the numeric uid.
std::string Username();
// Writes all of `data` to `fd`, retrying short writes and EINTR. `what` names the target in
// the error ("write <what>: <strerror>").
Status WriteFully(int fd, std::string_view data, std::string_view what);

}  // namespace pgdedup
