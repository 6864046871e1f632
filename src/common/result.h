// Result<T>: either a value of type T or a non-OK Status, shaped like std::expected.
//
//   Result<std::string> r = backend.Get(name);
//   if (!r.ok()) return r.status();
//   Use(*r);
//
// REQUIRES: value() / operator* only on an ok() result; status() is always valid (OK when a
// value is held). Thread safety: a value type, like Status.
#pragma once

#include <cassert>
#include <optional>
#include <utility>

#include "common/status.h"

namespace pgdedup {

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value or from an error status, so `return value;` and `return status;` read
  // naturally. REQUIRES: `status` is not OK.
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok());
    if (status_.ok()) status_ = Status::InvalidArgument("Result built from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace pgdedup

// Evaluates `rexpr` (a Result); on error returns its status, else moves the value into `lhs`.
#define PGDEDUP_ASSIGN_OR_RETURN(lhs, rexpr) \
  PGDEDUP_ASSIGN_OR_RETURN_IMPL(PGDEDUP_CONCAT(_res_, __LINE__), lhs, rexpr)
#define PGDEDUP_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                  \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
#define PGDEDUP_CONCAT(a, b) PGDEDUP_CONCAT_INNER(a, b)
#define PGDEDUP_CONCAT_INNER(a, b) a##b
