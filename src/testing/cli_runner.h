// Runs the real `lares` binary for end-to-end tests of the CLI.
#pragma once

#include <string>

namespace lares::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Single-quotes `text` for /bin/sh.
std::string shell_quote(const std::string& text);

// Runs `<binary> <args>` (args are shell words, already quoted where needed)
// with LARES_HOME=home plus `env` ("NAME=value ...", quoted), stdin from
// `stdin_path`, stderr captured through the file `err_path`.
RunResult run_lares(const std::string& binary, const std::string& home, const std::string& args,
                    const std::string& stdin_path, const std::string& err_path,
                    const std::string& env = "");

}  // namespace lares::testing
