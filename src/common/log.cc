#include "common/log.h"

#include <cstdio>
#include <string>

namespace pgdedup {

namespace {
LogSink& Sink() {
  static LogSink* sink = new LogSink([](LogLevel level, std::string_view m) {
    if (level == LogLevel::kDebug) return;
    std::fprintf(stderr, "%.*s\n", static_cast<int>(m.size()), m.data());
  });
  return *sink;
}
}  // namespace

void SetLogSink(LogSink sink) { Sink() = std::move(sink); }

void Log(LogLevel level, std::string_view message) { Sink()(level, message); }

}  // namespace pgdedup
