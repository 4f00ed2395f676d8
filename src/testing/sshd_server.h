// SshdServer: a real OpenSSH sshd on 127.0.0.1 for SFTP tests.
//
// In a folder the test owns it generates a throw-away ed25519 host key and a
// client key pair (ssh-keygen), writes an sshd_config (a free port, the
// folder's authorized_keys, `Subsystem sftp internal-sftp`, no PAM) and runs
// `/usr/sbin/sshd -D -e` as a child, logging to <folder>/sshd.log. The client
// logs in as the user running the test with the generated key; for root,
// only by key (PermitRootLogin prohibit-password). known_hosts() holds the
// server's host key, as `[127.0.0.1]:PORT ssh-ed25519 ...`.
//
// kill() SIGKILLs the listener and every session process under it (sshd's
// per-connection children outlive the listener otherwise), as a crash of
// the server machine would; restart() brings it back on the same port with
// the same keys. The destructor stops it.
//
// Thread safety: none; kill() may be called from another thread while
// clients use the server, but not concurrently with the other methods.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "objects/sftp_store.h"
#include "util/status.h"

namespace lares::testing {

// Where sshd must be installed (Debian: openssh-server).
inline constexpr const char* kSshdPath = "/usr/sbin/sshd";

// Makes an unencrypted ed25519 key pair `path` and `path`.pub with ssh-keygen;
// returns the public key line ("ssh-ed25519 AAAA... comment").
Result<std::string> make_key_pair(const std::string& path);

class SshdServer {
 public:
  // Whether sshd and ssh-keygen are installed, so start() can work.
  static bool available();
  // Sets up `folder` (which must exist) and starts sshd; kUnavailable with
  // sshd's log when it does not come up.
  static Result<std::unique_ptr<SshdServer>> start(const std::string& folder);
  ~SshdServer();
  SshdServer(const SshdServer&) = delete;
  SshdServer& operator=(const SshdServer&) = delete;

  // Stops sshd and its sessions (SIGTERM, then SIGKILL after a few seconds).
  void stop();
  // SIGKILLs sshd and its sessions at once: the server dies mid-whatever.
  void kill();
  // Stops sshd if it runs, then starts it again: same port, same keys.
  Status restart();
  // Freezes (SIGSTOP) sshd and its sessions: the server hangs, connections
  // stay open. resume() thaws them.
  void pause();
  void resume();
  bool running() const { return pid_ > 0; }

  uint16_t port() const { return port_; }
  const std::string& folder() const { return folder_; }
  const std::string& known_hosts() const { return known_hosts_; }
  const std::string& client_key() const { return client_key_; }
  // The host's public key line, "ssh-ed25519 AAAA...".
  const std::string& host_public_key() const { return host_public_key_; }
  // The login the tests use (the user running them).
  const std::string& user() const { return user_; }
  // sshd's log so far, for failure messages.
  std::string log() const;

  // Options for a SftpStore in `root` on this server, logging in by key.
  SftpOptions options(const std::string& root) const;

 private:
  explicit SshdServer(std::string folder) : folder_(std::move(folder)) {}
  Status write_config();
  Status launch();
  // Sends `signal` to sshd and every process under it (frozen first, so none
  // forks a new one meanwhile), then reaps the listener.
  void signal_all(int signal);

  const std::string folder_;
  std::string known_hosts_;
  std::string client_key_;
  std::string host_public_key_;
  std::string user_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::vector<pid_t> paused_;  // frozen by pause()
};

}  // namespace lares::testing
