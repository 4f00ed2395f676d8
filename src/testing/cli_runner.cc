#include "testing/cli_runner.h"

#include <sys/wait.h>

#include <cstdio>

#include "util/bytes.h"
#include "util/file.h"

namespace lares::testing {

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

RunResult run_lares(const std::string& binary, const std::string& home, const std::string& args,
                    const std::string& stdin_path, const std::string& err_path,
                    const std::string& env) {
  std::string command = "env LARES_HOME=" + shell_quote(home) + " " + env + " " +
                        shell_quote(binary) + " " + args + " <" + shell_quote(stdin_path) +
                        " 2>" + shell_quote(err_path);
  RunResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[65536];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  Result<Bytes> err = read_file(err_path);
  if (err.is_ok()) result.err = std::string(as_chars(*err));
  return result;
}

}  // namespace lares::testing
