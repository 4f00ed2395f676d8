#include "objects/object_store.h"

namespace lares {

Status validate_object_name(const std::string& name) {
  if (name.empty()) return Status::invalid_argument("object name is empty");
  if (name.size() > 1024) return Status::invalid_argument("object name is longer than 1024 bytes");
  if (name[0] == '/') return Status::invalid_argument("object name starts with '/': " + name);
  if (name.find("..") != std::string::npos) {
    return Status::invalid_argument("object name contains '..': " + name);
  }
  for (char c : name) {
    if (c < 0x21 || c > 0x7e) {
      return Status::invalid_argument("object name has a space or non-printable byte: " + name);
    }
  }
  // Every backend may map names to paths: each name must map to exactly one.
  size_t begin = 0;
  for (;;) {
    size_t slash = name.find('/', begin);
    std::string part =
        name.substr(begin, slash == std::string::npos ? std::string::npos : slash - begin);
    if (part.empty() || part == ".") {
      return Status::invalid_argument("object name has an empty or '.' path part: " + name);
    }
    if (slash == std::string::npos) break;
    begin = slash + 1;
  }
  if (name.size() >= 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
    return Status::invalid_argument("object names ending in .tmp are reserved: " + name);
  }
  return Status::ok();
}

}  // namespace lares
