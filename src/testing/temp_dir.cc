#include "testing/temp_dir.h"

#include <cstdlib>
#include <filesystem>
#include <string>

#include "util/check.h"

namespace lares::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base ? base : "/tmp") + "/lares-test-XXXXXX";
  LARES_CHECK(::mkdtemp(pattern.data()) != nullptr);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace lares::testing
