// Log: the library modules' way to tell the operator something without depending on a logging
// library. The CLI installs a sink that forwards to spdlog; by default messages go to stderr.
//
// Thread safety: Log may be called from any thread; SetLogSink must be called before any other
// thread logs (at program start).
#pragma once

#include <functional>
#include <string_view>

namespace pgdedup {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

using LogSink = std::function<void(LogLevel, std::string_view)>;

void SetLogSink(LogSink sink);
void Log(LogLevel level, std::string_view message);

inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }

}  // namespace pgdedup
