#include "common/status.h"

#include <cstring>

namespace pgdedup {

namespace {
const std::string& EmptyString() {
  static const std::string* empty = new std::string();
  return *empty;
}
}  // namespace

Status::Status(StatusCode code, std::string_view msg)
    : rep_(code == StatusCode::kOk ? nullptr : new Rep{code, std::string(msg)}) {}

Status::Status(const Status& other) : rep_(other.rep_ ? new Rep(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) rep_.reset(other.rep_ ? new Rep(*other.rep_) : nullptr);
  return *this;
}

Status Status::FromErrno(std::string_view context, int err) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  return Status(StatusCode::kIOError, msg);
}

const std::string& Status::message() const { return rep_ ? rep_->message : EmptyString(); }

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = StatusCodeName(rep_->code);
  s += ": ";
  s += rep_->message;
  return s;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return Status();
  std::string msg(context);
  msg += ": ";
  msg += rep_->message;
  return Status(rep_->code, msg);
}

Status Status::WithDetail(std::string_view detail) const {
  if (ok()) return Status();
  std::string msg = rep_->message;
  msg += "; ";
  msg += detail;
  return Status(rep_->code, msg);
}

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kIOError:
      return "I/O error";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kPermission:
      return "permission denied";
    case StatusCode::kLocked:
      return "locked";
    case StatusCode::kSourceError:
      return "source database error";
  }
  return "unknown";
}

}  // namespace pgdedup
