#include "cli/json.h"

#include <cmath>
#include <cstdio>

namespace pgdedup::cli {

void JsonWriter::Sep() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_) out_ += ',';
  first_ = false;
}

void JsonWriter::Key(std::string_view k) {
  Sep();
  Escape(k);
  out_ += ':';
  after_key_ = true;
}

void JsonWriter::String(std::string_view s) {
  Sep();
  Escape(s);
}

void JsonWriter::Escape(std::string_view s) {
  out_ += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out_ += buf;
        } else {
          out_ += static_cast<char>(c);
        }
    }
  }
  out_ += '"';
}

void JsonWriter::Number(uint64_t v) {
  Sep();
  out_ += std::to_string(v);
}

void JsonWriter::Number(int64_t v) {
  Sep();
  out_ += std::to_string(v);
}

void JsonWriter::Double(double v) {
  Sep();
  if (!std::isfinite(v)) {
    out_ += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  out_ += buf;
}

void JsonWriter::Bool(bool v) {
  Sep();
  out_ += v ? "true" : "false";
}

void JsonWriter::Null() {
  Sep();
  out_ += "null";
}

}  // namespace pgdedup::cli
