// Status: the outcome of an operation that can fail, carried as a value.
//
// An OK status costs one null pointer; an error holds a code and a message that carries its
// context ("pack 3f2a..: read 4096@81920: short read"). Functions that can fail return a Status
// (or a Result<T>, see result.h) and never throw across a module boundary. Statuses are
// [[nodiscard]]: ignoring one on purpose is spelled `PermitUncheckedError()` so grep finds it.
//
// Thread safety: a Status is a value; distinct objects may be used from distinct threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace pgdedup {

// The few kinds of failure callers act on differently. The CLI maps them to exit codes.
enum class StatusCode {
  kOk = 0,
  kNotFound,         // an object, key or snapshot that does not exist
  kCorruption,       // data failed authentication, a checksum or a format check
  kIOError,          // the operating system or a backend reported an error
  kInvalidArgument,  // bad input from the user or a caller
  kUnavailable,      // a transient failure; retrying may succeed
  kPermission,       // wrong password, no key, or access denied
  kLocked,           // the repository is locked by another process
  kSourceError,      // the source database failed or refused
};

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(StatusCode::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(StatusCode::kCorruption, msg); }
  static Status IOError(std::string_view msg) { return Status(StatusCode::kIOError, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(StatusCode::kInvalidArgument, msg);
  }
  static Status Unavailable(std::string_view msg) { return Status(StatusCode::kUnavailable, msg); }
  static Status Permission(std::string_view msg) { return Status(StatusCode::kPermission, msg); }
  static Status Locked(std::string_view msg) { return Status(StatusCode::kLocked, msg); }
  static Status SourceError(std::string_view msg) { return Status(StatusCode::kSourceError, msg); }
  // An I/O error built from errno: "<context>: <strerror(err)>".
  static Status FromErrno(std::string_view context, int err);

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsCorruption() const { return code() == StatusCode::kCorruption; }
  bool IsUnavailable() const { return code() == StatusCode::kUnavailable; }

  // The message without the code name; empty when OK.
  const std::string& message() const;
  // "OK" or "<code name>: <message>".
  std::string ToString() const;

  // Returns a status with the same code and "<context>: <message>". OK stays OK.
  Status WithContext(std::string_view context) const;
  // Returns a status with the same code and "<message>; <detail>". OK stays OK.
  Status WithDetail(std::string_view detail) const;

  // Marks a status as deliberately ignored.
  void PermitUncheckedError() const {}

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  Status(StatusCode code, std::string_view msg);

  std::unique_ptr<Rep> rep_;
};

const char* StatusCodeName(StatusCode code);

}  // namespace pgdedup

// Returns from the enclosing function if `expr` yields a non-OK Status.
#define PGDEDUP_RETURN_IF_ERROR(expr) \
  do {                                \
    ::pgdedup::Status _st = (expr);   \
    if (!_st.ok()) return _st;        \
  } while (0)
