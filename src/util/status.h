// Status and Result<T>: the one error type of Lares.
//
// A Status is either OK or carries a Code and a message that says what failed
// and, where possible, what to do next. Corruption (bytes that fail a check)
// is a different kind from IOError (the device refused): callers repair the
// first from redundancy and fault the device on the second.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "util/check.h"

namespace lares {

enum class Code {
  kOk = 0,
  kNotFound,
  kCorruption,
  kIOError,
  kInvalidArgument,
  kAlreadyExists,
  kBusy,  // held by another process (pool lock)
  kNoSpace,
  kUnavailable,         // not enough healthy devices to serve the request
  kFailedPrecondition,  // the operation does not fit the current state
  kPermissionDenied,    // a wrong passphrase or key
};

std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status not_found(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status io_error(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status invalid_argument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status already_exists(std::string msg) {
    return Status(Code::kAlreadyExists, std::move(msg));
  }
  static Status busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status no_space(std::string msg) { return Status(Code::kNoSpace, std::move(msg)); }
  static Status unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status permission_denied(std::string msg) {
    return Status(Code::kPermissionDenied, std::move(msg));
  }
  static Status failed_precondition(std::string msg) {
    return Status(Code::kFailedPrecondition, std::move(msg));
  }
  // An errno from a system call, mapped to a Code; `what` names the call and path.
  static Status from_errno(int err, std::string_view what);

  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

  // Prefixes context ("reading shard 3: ") to the message; OK stays OK.
  Status with_context(std::string_view context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that explains its absence.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    LARES_CHECK(!status_.is_ok());
  }

  bool is_ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & {
    LARES_CHECK(value_.has_value());
    return *value_;
  }
  const T& value() const& {
    LARES_CHECK(value_.has_value());
    return *value_;
  }
  T&& value() && {
    LARES_CHECK(value_.has_value());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace lares

#define LARES_CONCAT_INNER(a, b) a##b
#define LARES_CONCAT(a, b) LARES_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    ::lares::Status lares_status_ = (expr);           \
    if (!lares_status_.is_ok()) return lares_status_; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.is_ok()) return tmp.status();      \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(LARES_CONCAT(lares_result_, __LINE__), lhs, expr)
