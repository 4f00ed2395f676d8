#include "util/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lares {

namespace detail {
void check_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "lares: internal check failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}
}  // namespace detail

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "not found";
    case Code::kCorruption: return "corruption";
    case Code::kIOError: return "I/O error";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kAlreadyExists: return "already exists";
    case Code::kBusy: return "busy";
    case Code::kNoSpace: return "no space";
    case Code::kUnavailable: return "unavailable";
    case Code::kFailedPrecondition: return "failed precondition";
    case Code::kPermissionDenied: return "permission denied";
  }
  return "unknown";
}

Status Status::from_errno(int err, std::string_view what) {
  std::string msg = std::string(what) + ": " + std::strerror(err);
  switch (err) {
    case ENOENT: return not_found(std::move(msg));
    case EEXIST: return already_exists(std::move(msg));
    case ENOSPC:
    case EDQUOT: return no_space(std::move(msg));
    case EINVAL:
    case ENAMETOOLONG: return invalid_argument(std::move(msg));
    case EWOULDBLOCK: return busy(std::move(msg));
    default: return io_error(std::move(msg));
  }
}

std::string Status::to_string() const {
  if (is_ok()) return "OK";
  return std::string(code_name(code_)) + ": " + message_;
}

Status Status::with_context(std::string_view context) const {
  if (is_ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

}  // namespace lares
