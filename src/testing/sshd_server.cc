#include "testing/sshd_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "util/file.h"

extern char** environ;

namespace lares::testing {
namespace {

constexpr const char* kSshKeygenPath = "/usr/bin/ssh-keygen";
// sshd's privilege separation folder; Debian creates it only when the
// service starts, which a test box never does.
constexpr const char* kPrivsepFolder = "/run/sshd";
constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kStopTimeout = std::chrono::seconds(5);

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Status write_text(const std::string& path, const std::string& text) {
  return write_file_atomic(path, as_bytes(text), Sync::kNo);
}

// Starts `argv` (argv[0] an absolute path) with stdin from /dev/null and
// stdout and stderr appended to `log_path`.
Result<pid_t> spawn(std::vector<std::string> argv, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::from_errno(rc, "spawn " + argv[0]);
  return pid;
}

// Runs `argv` as spawn() does; kIOError (with the log) unless it exits 0.
Status run_program(const std::vector<std::string>& argv, const std::string& log_path) {
  ASSIGN_OR_RETURN(const pid_t pid, spawn(argv, log_path));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::from_errno(errno, "waitpid " + argv[0]);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::io_error(argv[0] + " failed: " + read_text(log_path));
  }
  return Status::ok();
}

// A port on 127.0.0.1 that nothing listens on right now.
Result<uint16_t> free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::from_errno(errno, "socket");
  const UniqueFd owner(fd);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    return Status::from_errno(errno, "bind 127.0.0.1:0");
  }
  return ntohs(address.sin_port);
}

bool accepts_connections(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const UniqueFd owner(fd);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
}

// The state letter and parent of process `pid` from /proc, or nullopt when
// it is gone.
struct ProcessState {
  char state = '?';
  pid_t parent = -1;
};
std::optional<ProcessState> process_state(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  // "pid (comm) S ppid ...", where comm may hold spaces and parentheses.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  ProcessState out;
  if (!(rest >> out.state >> out.parent)) return std::nullopt;
  return out;
}

// Stops `pid` and waits (briefly) until it is stopped, so it forks no more.
void freeze(pid_t pid) {
  if (::kill(pid, SIGSTOP) != 0) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto state = process_state(pid);
    if (!state.has_value() || state->state == 'T' || state->state == 'Z') return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// `root` and every process below it, each frozen before its children are
// looked for.
std::vector<pid_t> freeze_tree(pid_t root) {
  std::vector<pid_t> tree{root};
  freeze(root);
  for (bool grew = true; grew;) {
    grew = false;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() ||
          !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
        continue;
      const auto pid = static_cast<pid_t>(std::stol(name));
      if (std::find(tree.begin(), tree.end(), pid) != tree.end()) continue;
      const auto state = process_state(pid);
      if (!state.has_value() || std::find(tree.begin(), tree.end(), state->parent) == tree.end()) {
        continue;
      }
      freeze(pid);
      tree.push_back(pid);
      grew = true;
    }
  }
  return tree;
}

// Waits up to `timeout` for child `pid` to exit; true once reaped.
bool reap(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

Result<std::string> make_key_pair(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::filesystem::remove(path + ".pub", ignored);
  RETURN_IF_ERROR(
      run_program({kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-C", "lares-test", "-f", path},
                  path + ".log"));
  std::string line = read_text(path + ".pub");
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.empty()) return Status::io_error("ssh-keygen wrote no public key to " + path + ".pub");
  return line;
}

bool SshdServer::available() {
  return ::access(kSshdPath, X_OK) == 0 && ::access(kSshKeygenPath, X_OK) == 0;
}

Result<std::unique_ptr<SshdServer>> SshdServer::start(const std::string& folder) {
  if (!available()) {
    return Status::unavailable(std::string(kSshdPath) + " or " + kSshKeygenPath +
                               " is missing (Debian: apt-get install openssh-server)");
  }
  std::unique_ptr<SshdServer> server(new SshdServer(folder));
  const passwd* account = ::getpwuid(::geteuid());
  if (account == nullptr) return Status::io_error("no user name for the current uid");
  server->user_ = account->pw_name;

  ASSIGN_OR_RETURN(std::string host_key, make_key_pair(folder + "/ssh_host_ed25519_key"));
  // "ssh-ed25519 AAAA... comment" -> "ssh-ed25519 AAAA..."
  server->host_public_key_ = host_key.substr(0, host_key.find(' ', host_key.find(' ') + 1));
  server->client_key_ = folder + "/client_key";
  ASSIGN_OR_RETURN(std::string client_key, make_key_pair(server->client_key_));
  RETURN_IF_ERROR(write_text(folder + "/authorized_keys", client_key + "\n"));

  ASSIGN_OR_RETURN(server->port_, free_port());
  server->known_hosts_ = folder + "/known_hosts";
  RETURN_IF_ERROR(write_text(server->known_hosts_, "[127.0.0.1]:" + std::to_string(server->port_) +
                                                       " " + server->host_public_key_ + "\n"));
  if (::geteuid() == 0 && ::mkdir(kPrivsepFolder, 0755) != 0 && errno != EEXIST) {
    return Status::from_errno(errno, std::string("mkdir ") + kPrivsepFolder);
  }
  RETURN_IF_ERROR(server->write_config());
  RETURN_IF_ERROR(server->launch());
  return server;
}

SshdServer::~SshdServer() { stop(); }

Status SshdServer::write_config() {
  std::string config = "# Written by lares::testing::SshdServer for one test.\n";
  config += "Port " + std::to_string(port_) + "\n";
  config += "HostKey " + folder_ + "/ssh_host_ed25519_key\n";
  config += "PidFile " + folder_ + "/sshd.pid\n";
  config += "AuthorizedKeysFile " + folder_ + "/authorized_keys\n";
  config +=
      "ListenAddress 127.0.0.1\n"
      "PubkeyAuthentication yes\n"
      // Password logins are allowed so that tests see a wrong password
      // refused; root may log in only by key.
      "PasswordAuthentication yes\n"
      "KbdInteractiveAuthentication no\n"
      "PermitRootLogin prohibit-password\n"
      "StrictModes no\n"
      "UsePAM no\n"
      "UseDNS no\n"
      "MaxStartups 100\n"
      "MaxSessions 100\n"
      "Subsystem sftp internal-sftp\n"
      "LogLevel VERBOSE\n";
  return write_text(folder_ + "/sshd_config", config);
}

Status SshdServer::launch() {
  LARES_CHECK(pid_ < 0);
  // sshd re-executes itself, so it needs its absolute path.
  ASSIGN_OR_RETURN(
      pid_, spawn({kSshdPath, "-D", "-e", "-f", folder_ + "/sshd_config"}, folder_ + "/sshd.log"));
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (!accepts_connections(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::unavailable("sshd exited at start: " + log());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill();
      return Status::unavailable("sshd did not listen on port " + std::to_string(port_) +
                                 " within 10 s: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status::ok();
}

void SshdServer::signal_all(int signal) {
  if (pid_ < 0) return;
  const std::vector<pid_t> tree = freeze_tree(pid_);
  for (pid_t pid : tree) ::kill(pid, signal);
  if (signal != SIGKILL) {
    for (pid_t pid : tree) ::kill(pid, SIGCONT);  // so they can act on it
  }
  if (!reap(pid_, std::chrono::duration_cast<std::chrono::milliseconds>(kStopTimeout))) {
    for (pid_t pid : tree) ::kill(pid, SIGKILL);
    reap(pid_, std::chrono::hours(1));
  }
  pid_ = -1;
}

void SshdServer::stop() {
  resume();
  signal_all(SIGTERM);
}

void SshdServer::pause() {
  if (pid_ > 0 && paused_.empty()) paused_ = freeze_tree(pid_);
}

void SshdServer::resume() {
  for (pid_t pid : paused_) ::kill(pid, SIGCONT);
  paused_.clear();
}

void SshdServer::kill() {
  signal_all(SIGKILL);
  paused_.clear();
}

Status SshdServer::restart() {
  stop();
  return launch();
}

std::string SshdServer::log() const { return read_text(folder_ + "/sshd.log"); }

SftpOptions SshdServer::options(const std::string& root) const {
  SftpOptions options;
  options.host = "127.0.0.1";
  options.port = port_;
  options.user = user_;
  options.root = root;
  options.identity_file = client_key_;
  options.known_hosts_file = known_hosts_;
  options.timeout_s = 10;
  options.connections = 2;
  return options;
}

}  // namespace lares::testing
