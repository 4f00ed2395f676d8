#include "testing/s3_server.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "testing/cli_runner.h"
#include "util/bytes.h"
#include "util/file.h"

namespace lares::testing {
namespace {

// The binaries scripts/s3-test-server.sh runs.
constexpr const char* kBinaries[] = {"ceph-mon", "ceph-osd",      "radosgw",    "radosgw-admin",
                                     "ceph",     "ceph-authtool", "monmaptool", "python3"};

bool on_path(const std::string& binary) {
  std::string path = getenv("PATH") != nullptr ? getenv("PATH") : "";
  path += ":/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream folders(path);
  std::string folder;
  while (std::getline(folders, folder, ':')) {
    if (!folder.empty() && ::access((folder + "/" + binary).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// KEY=VALUE lines.
std::map<std::string, std::string> parse_env_file(std::string_view text) {
  std::map<std::string, std::string> values;
  std::stringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    const size_t equals = line.find('=');
    if (equals != std::string::npos) values[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return values;
}

std::string tail(const std::string& path, size_t max_bytes) {
  Result<Bytes> bytes = read_file(path);
  if (!bytes.is_ok()) return "";
  std::string_view text = as_chars(*bytes);
  if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
  return std::string(text);
}

}  // namespace

std::string S3Server::unavailable_reason() {
  std::string missing;
  for (const char* binary : kBinaries) {
    if (!on_path(binary)) missing += std::string(missing.empty() ? "" : ", ") + binary;
  }
  if (missing.empty()) return "";
  return "Ceph's radosgw cannot run here: missing " + missing +
         " (Debian packages ceph-mon ceph-osd radosgw ceph-common: scripts/install-deps.sh)";
}

Result<std::string> S3Server::run_script(const std::string& command,
                                         const std::string& args) const {
  const std::string line = "S3_TEST_SERVER_OWNER_PID=" + std::to_string(::getpid()) + " " +
                           shell_quote(script_) + " " + command + " " + shell_quote(dir_.path()) +
                           " " + args + " 2>>" + shell_quote(dir_.sub("script.log"));
  FILE* pipe = ::popen(line.c_str(), "r");
  if (pipe == nullptr) return Status::from_errno(errno, "popen " + script_);
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  const int status = ::pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::unavailable(script_ + " " + command + " failed (status " +
                               std::to_string(status) + "):\n" + logs());
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

Result<std::unique_ptr<S3Server>> S3Server::start(const std::string& script) {
  std::unique_ptr<S3Server> server(new S3Server(script));
  const auto begin = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(server->endpoint_, server->run_script("start"));
  server->startup_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  ASSIGN_OR_RETURN(Bytes env, read_file(server->dir_.sub("s3.env")));
  std::map<std::string, std::string> values = parse_env_file(as_chars(env));
  server->region_ = values["S3_REGION"];
  server->access_key_ = values["AWS_ACCESS_KEY_ID"];
  server->secret_key_ = values["AWS_SECRET_ACCESS_KEY"];
  if (server->endpoint_ != values["S3_ENDPOINT"] || server->access_key_.empty()) {
    return Status::unavailable("s3.env does not match the started server:\n" + server->logs());
  }
  return server;
}

S3Server::~S3Server() { (void)stop(); }

S3Options S3Server::options(const std::string& bucket) const {
  S3Options options;
  options.endpoint = endpoint_;
  options.region = region_;
  options.bucket = bucket;
  options.access_key = access_key_;
  options.secret_key = secret_key_;
  options.retry_delay_ms_initial = 20;
  options.retry_delay_ms_max = 200;
  options.timeout_s = 20;
  return options;
}

Status S3Server::stop() {
  if (stopped_) return Status::ok();
  stopped_ = true;
  return run_script("stop").status();
}

Status S3Server::kill() { return run_script("kill-rgw").status(); }

Status S3Server::restart() {
  RETURN_IF_ERROR(run_script("kill-rgw").status());
  return run_script("start-rgw").status();
}

Result<std::string> S3Server::admin(const std::string& args) const {
  return run_script("admin", args);
}

std::string S3Server::logs() const {
  std::string out = "---- " + dir_.sub("script.log") + "\n" + tail(dir_.sub("script.log"), 4096);
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.sub("log"), error)) {
    out += "---- " + entry.path().string() + "\n" + tail(entry.path().string(), 2048);
  }
  return out;
}

namespace {

struct ServerSlot {
  std::unique_ptr<S3Server> server;
  std::string why_not;
  bool tried = false;
};

ServerSlot& server_slot() {
  static ServerSlot slot;
  return slot;
}

class StopServerAtExit : public ::testing::Environment {
 public:
  void TearDown() override { server_slot().server.reset(); }
};

}  // namespace

S3Server* shared_s3_server(const std::string& script, std::string* why_not) {
  ServerSlot& slot = server_slot();
  if (!slot.tried) {
    slot.tried = true;
    ::testing::AddGlobalTestEnvironment(new StopServerAtExit);
    slot.why_not = S3Server::unavailable_reason();
    if (slot.why_not.empty()) {
      Result<std::unique_ptr<S3Server>> server = S3Server::start(script);
      if (server.is_ok()) {
        slot.server = std::move(server).value();
        std::printf("radosgw answers at %s after %.2f s (folder %s)\n",
                    slot.server->endpoint().c_str(), slot.server->startup_seconds(),
                    slot.server->folder().c_str());
      } else {
        slot.why_not = "radosgw did not start: " + server.status().to_string();
      }
    }
  }
  if (why_not != nullptr) *why_not = slot.why_not;
  return slot.server.get();
}

}  // namespace lares::testing
