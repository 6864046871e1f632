// JsonWriter: builds one JSON document for `--json` output (no parsing needed anywhere).
//
//   JsonWriter j;
//   j.BeginObject(); j.Key("id"); j.String(id); j.Key("size"); j.Number(n); j.EndObject();
//   puts(j.str().c_str());
//
// Thread safety: one writer per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgdedup::cli {

class JsonWriter {
 public:
  void BeginObject() {
    Sep();
    out_ += '{';
    first_ = true;
  }
  void EndObject() {
    out_ += '}';
    first_ = false;
  }
  void BeginArray() {
    Sep();
    out_ += '[';
    first_ = true;
  }
  void EndArray() {
    out_ += ']';
    first_ = false;
  }
  void Key(std::string_view k);
  void String(std::string_view s);
  void Number(uint64_t v);
  void Number(int64_t v);
  void Double(double v);
  void Bool(bool v);
  void Null();

  // Key/value shorthands.
  void Field(std::string_view k, std::string_view v) {
    Key(k);
    String(v);
  }
  void Field(std::string_view k, const char* v) {
    Key(k);
    String(v);
  }
  void Field(std::string_view k, uint64_t v) {
    Key(k);
    Number(v);
  }
  void Field(std::string_view k, int64_t v) {
    Key(k);
    Number(v);
  }
  void Field(std::string_view k, double v) {
    Key(k);
    Double(v);
  }
  void Field(std::string_view k, bool v) {
    Key(k);
    Bool(v);
  }
  // An array of strings.
  void Field(std::string_view k, const std::vector<std::string>& v) {
    Key(k);
    BeginArray();
    for (const std::string& s : v) String(s);
    EndArray();
  }

  const std::string& str() const { return out_; }

 private:
  void Sep();
  void Escape(std::string_view s);
  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace pgdedup::cli
