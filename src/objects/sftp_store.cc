#include "objects/sftp_store.h"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <string_view>
#include <thread>

#include "util/random.h"

namespace lares {
namespace {

constexpr std::string_view kTemporarySuffix = ".tmp";
// Bytes per SFTP read or write request: every server accepts 32 KiB, OpenSSH
// up to 255 KiB; 64 KiB keeps the round trips few without testing limits.
constexpr size_t kRequestBytes = 64 * 1024;
constexpr int kMaxConnections = 64;

// SFTP packet types and the status reply's size limit (draft-ietf-secsh-
// filexfer-02, sections 3 and 7), for the one request libssh 0.10 lacks.
constexpr uint8_t kFxpStatus = 101;
constexpr uint8_t kFxpExtended = 200;
constexpr uint32_t kStatusReplyBytesMax = 64 * 1024;

struct SessionCloser {
  void operator()(ssh_session session) const {
    ssh_disconnect(session);
    ssh_free(session);
  }
};
struct SftpCloser {
  void operator()(sftp_session sftp) const { sftp_free(sftp); }
};
struct FileCloser {
  void operator()(sftp_file file) const { sftp_close(file); }
};
struct DirCloser {
  void operator()(sftp_dir dir) const { sftp_closedir(dir); }
};
struct AttributesFreer {
  void operator()(sftp_attributes attributes) const { sftp_attributes_free(attributes); }
};
struct KeyFreer {
  void operator()(ssh_key key) const { ssh_key_free(key); }
};
struct CharFreer {
  void operator()(char* text) const { ssh_string_free_char(text); }
};

using SessionPtr = std::unique_ptr<ssh_session_struct, SessionCloser>;
using SftpPtr = std::unique_ptr<sftp_session_struct, SftpCloser>;
using FilePtr = std::unique_ptr<sftp_file_struct, FileCloser>;
using DirPtr = std::unique_ptr<sftp_dir_struct, DirCloser>;
using AttributesPtr = std::unique_ptr<sftp_attributes_struct, AttributesFreer>;
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyFreer>;
using CharPtr = std::unique_ptr<char, CharFreer>;

std::string without_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// The host as known_hosts and ssh-keyscan name it: "host", or "[host]:port".
std::string known_hosts_name(const SftpOptions& options) {
  if (options.port == 22) return options.host;
  return "[" + options.host + "]:" + std::to_string(options.port);
}

Status check_options(const SftpOptions& options) {
  auto missing = [](const char* what) {
    return Status::invalid_argument(std::string("SFTP store options lack ") + what);
  };
  if (options.host.empty()) return missing("the host");
  if (options.user.empty()) return missing("the user");
  if (options.root.empty()) return missing("the folder on the server (root)");
  if (options.port == 0) return missing("a port");
  if (options.known_hosts_file.empty()) {
    return missing("a known_hosts file (the server's host key is always checked)");
  }
  if (options.identity_file.empty() && options.password.empty()) {
    return missing("a way to log in: a private key file or a password");
  }
  if (options.timeout_s < 1) return Status::invalid_argument("SFTP timeout must be >= 1 second");
  if (options.connections < 1 || options.connections > kMaxConnections) {
    return Status::invalid_argument("SFTP connections must be between 1 and " +
                                    std::to_string(kMaxConnections));
  }
  return Status::ok();
}

// "ssh-ed25519 SHA256:..." for the key the server presented.
std::string server_key_fingerprint(ssh_session session) {
  ssh_key raw_key = nullptr;
  if (ssh_get_server_publickey(session, &raw_key) != SSH_OK) return "(key unavailable)";
  const KeyPtr key(raw_key);
  unsigned char* hash = nullptr;
  size_t hash_size = 0;
  if (ssh_get_publickey_hash(key.get(), SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_size) != 0) {
    return "(key unavailable)";
  }
  const CharPtr fingerprint(ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_size));
  ssh_clean_pubkey_hash(&hash);
  const char* type = ssh_key_type_to_char(ssh_key_type(key.get()));
  return std::string(type != nullptr ? type : "unknown") + " " +
         (fingerprint != nullptr ? fingerprint.get() : "(no fingerprint)");
}

std::string keyscan_command(const SftpOptions& options, ssh_session session) {
  std::string command = "ssh-keyscan";
  if (options.port != 22) command += " -p " + std::to_string(options.port);
  ssh_key raw_key = nullptr;
  if (ssh_get_server_publickey(session, &raw_key) == SSH_OK) {
    const KeyPtr key(raw_key);
    const char* type = ssh_key_type_to_char(ssh_key_type(key.get()));
    if (type != nullptr) command += std::string(" -t ") + type;
  }
  return command + " " + options.host + " >> " + options.known_hosts_file;
}

// Refuses any host key that known_hosts does not hold: never trust on first use.
Status check_host_key(ssh_session session, const SftpOptions& options) {
  const std::string host = known_hosts_name(options);
  const std::string& file = options.known_hosts_file;
  const std::string presented = "the server presents " + server_key_fingerprint(session);
  const std::string check_it =
      "check that fingerprint on the server (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub)";
  const std::string add_it = "add the key: " + keyscan_command(options, session);
  switch (ssh_session_is_known_server(session)) {
    case SSH_KNOWN_HOSTS_OK: return Status::ok();
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      return Status::permission_denied(
          "host key for " + host + " changed: " + file + " holds another key for it (" + presented +
          "). This is a possible man-in-the-middle attack; no credentials were " +
          "sent. If the server was reinstalled, " + check_it + ", remove the old key (ssh-keygen " +
          "-R '" + host + "' -f " + file + ") and " + add_it);
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      return Status::permission_denied("unknown host key for " + host + ": " + file +
                                       " holds no key for it (" + presented + "). First " +
                                       check_it + ", then " + add_it);
    case SSH_KNOWN_HOSTS_ERROR: break;
  }
  return Status::io_error("cannot check the host key of " + host + " against " + file + ": " +
                          ssh_get_error(session));
}

Status authenticate(ssh_session session, const SftpOptions& options) {
  const std::string who = options.user + "@" + known_hosts_name(options);
  std::string refusals;
  if (!options.identity_file.empty()) {
    ssh_key raw_key = nullptr;
    if (ssh_pki_import_privkey_file(options.identity_file.c_str(), nullptr, nullptr, nullptr,
                                    &raw_key) != SSH_OK) {
      return Status::permission_denied(
          "cannot log in as " + who + ": cannot load private key " + options.identity_file +
          " (missing, unreadable, not a private key, or protected by a passphrase, which "
          "Lares does not support)");
    }
    const KeyPtr key(raw_key);
    const int rc = ssh_userauth_publickey(session, nullptr, key.get());
    if (rc == SSH_AUTH_SUCCESS) return Status::ok();
    if (rc != SSH_AUTH_DENIED && rc != SSH_AUTH_PARTIAL) {
      return Status::unavailable("public-key login as " + who +
                                 " failed: " + ssh_get_error(session));
    }
    refusals = "the server refused public-key login with " + options.identity_file +
               " (check that " + options.identity_file + ".pub is in the authorized_keys of " +
               options.user + " on the server)";
  }
  if (!options.password.empty()) {
    const int rc = ssh_userauth_password(session, nullptr, options.password.c_str());
    if (rc == SSH_AUTH_SUCCESS) return Status::ok();
    if (rc != SSH_AUTH_DENIED && rc != SSH_AUTH_PARTIAL) {
      return Status::unavailable("password login as " + who + " failed: " + ssh_get_error(session));
    }
    refusals += std::string(refusals.empty() ? "" : "; ") +
                "the server refused password login (check the password, and that the server "
                "allows PasswordAuthentication, and PermitRootLogin yes for root)";
  }
  return Status::permission_denied("cannot log in as " + who + ": " + refusals);
}

// Bounds how long a vanished server (power cut, cable) can hold a call: the
// kernel drops the link when sent bytes stay unacknowledged, or an idle link
// stops answering keepalives, for about timeout_s. A slow but live server
// still acknowledges, so this never cuts a long operation short.
void set_keepalive(int fd, int timeout_s) {
  const int on = 1;
  const int idle_s = timeout_s;
  const int interval_s = std::max(1, timeout_s / 3);
  const int probes = 3;
  const unsigned int user_timeout_ms = static_cast<unsigned int>(timeout_s) * 1000;
  // Best effort: a socket that refuses these still works, only less bounded.
  (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}

void append_u32(Bytes& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}
void append_string(Bytes& out, std::string_view text) {
  append_u32(out, static_cast<uint32_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
}
uint32_t read_u32(ByteView in, size_t at) {
  return static_cast<uint32_t>(in[at]) << 24 | static_cast<uint32_t>(in[at + 1]) << 16 |
         static_cast<uint32_t>(in[at + 2]) << 8 | static_cast<uint32_t>(in[at + 3]);
}

Status status_of_sftp_code(int code, const std::string& what, const std::string& detail) {
  switch (code) {
    case SSH_FX_NO_SUCH_FILE:
    case SSH_FX_NO_SUCH_PATH: return Status::not_found(what + ": no such file or folder");
    case SSH_FX_PERMISSION_DENIED:
    case SSH_FX_WRITE_PROTECT: return Status::permission_denied(what + ": " + detail);
    case SSH_FX_NO_CONNECTION:
    case SSH_FX_CONNECTION_LOST: return Status::unavailable(what + ": " + detail);
    default: return Status::io_error(what + ": " + detail);
  }
}

}  // namespace

// libssh 0.10 waits for an SFTP reply without limit (its timeout covers only
// connecting), so a server that hangs would hang its callers. The watchdog
// looks at each watched socket a few times per timeout and shuts it down
// once a call has run for longer than the timeout while the socket received
// nothing for as long; libssh then sees the link closed and fails the call.
// shutdown() leaves the descriptor open, so it never races with its reuse.
class ReplyWatchdog {
 public:
  explicit ReplyWatchdog(int timeout_s)
      : timeout_(std::chrono::seconds(timeout_s)), thread_([this] { run(); }) {}
  ~ReplyWatchdog() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  ReplyWatchdog(const ReplyWatchdog&) = delete;
  ReplyWatchdog& operator=(const ReplyWatchdog&) = delete;

  // Watches socket `fd` while it lives, setting *timed_out when it cuts the
  // link. REQUIRES: both stay valid while it lives.
  class Watch {
   public:
    Watch(ReplyWatchdog& watchdog, int fd, std::atomic<bool>* timed_out) : watchdog_(watchdog) {
      std::lock_guard lock(watchdog_.mu_);
      id_ = watchdog_.next_id_++;
      watchdog_.watched_[id_] = {fd, std::chrono::steady_clock::now(), timed_out};
    }
    ~Watch() {
      std::lock_guard lock(watchdog_.mu_);
      watchdog_.watched_.erase(id_);
    }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

   private:
    ReplyWatchdog& watchdog_;
    uint64_t id_ = 0;
  };

 private:
  struct Watched {
    int fd = -1;
    std::chrono::steady_clock::time_point since;
    std::atomic<bool>* timed_out = nullptr;
  };

  void run() {
    const auto period =
        std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(timeout_) / 4,
                   std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
    std::unique_lock lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, period);
      const auto now = std::chrono::steady_clock::now();
      for (auto& [id, watched] : watched_) {
        if (now - watched.since < timeout_ || watched.timed_out->load()) continue;
        tcp_info info{};
        socklen_t size = sizeof(info);
        if (::getsockopt(watched.fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) continue;
        if (std::chrono::milliseconds(info.tcpi_last_data_recv) < timeout_) continue;
        watched.timed_out->store(true);
        ::shutdown(watched.fd, SHUT_RDWR);
      }
    }
  }

  const std::chrono::seconds timeout_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                // GUARDED_BY(mu_)
  uint64_t next_id_ = 0;                 // GUARDED_BY(mu_)
  std::map<uint64_t, Watched> watched_;  // GUARDED_BY(mu_)
  std::thread thread_;                   // last: it uses the members above
};

// One logged-in SSH connection and its SFTP channel, used by one call at a
// time. Once its link fails it stays failed (alive() is false) and is
// replaced, never repaired.
class SftpConnection {
 public:
  // Connects, checks the host key, logs in and starts SFTP; the watchdog
  // bounds each wait for the server after the TCP connection is made.
  static Result<std::unique_ptr<SftpConnection>> open(const SftpOptions& options,
                                                      ReplyWatchdog& watchdog);

  sftp_session sftp() const { return sftp_.get(); }
  bool has_fsync() const { return has_fsync_; }
  bool has_posix_rename() const { return has_posix_rename_; }
  // Lets `watchdog` cut this connection while the result lives.
  ReplyWatchdog::Watch watched_by(ReplyWatchdog& watchdog) {
    return ReplyWatchdog::Watch(watchdog, socket_fd_, &timed_out_);
  }

  bool alive() const {
    return !broken_ && !timed_out_.load() && ssh_is_connected(session_.get()) != 0 &&
           ssh_get_error_code(session_.get()) != SSH_FATAL && sftp_ != nullptr &&
           ssh_channel_is_open(sftp_->channel) != 0 && ssh_channel_is_eof(sftp_->channel) == 0;
  }
  // Forgets the SFTP error of a failure already handled, so error() never
  // reports a stale one.
  void clear_error() { sftp_->errnum = SSH_FX_OK; }
  // The Status for the SFTP call that just failed; `what` names it and its path.
  Status error(const std::string& what) const {
    const std::string detail = ssh_get_error(session_.get());
    if (timed_out_.load()) {
      return Status::unavailable(what + ": no reply from " + host_ + " within " +
                                 std::to_string(timeout_ms_ / 1000) + " s");
    }
    if (!alive()) {
      return Status::unavailable(what + ": lost the connection to " + host_ + ": " + detail);
    }
    return status_of_sftp_code(sftp_get_error(sftp_.get()), what, detail);
  }
  // Renames `from` over `to`, replacing it atomically (posix-rename@openssh.com).
  // REQUIRES: has_posix_rename().
  Status posix_rename(const std::string& from, const std::string& to);

 private:
  SftpConnection(SessionPtr session, std::string host, int timeout_ms)
      : session_(std::move(session)),
        host_(std::move(host)),
        timeout_ms_(timeout_ms),
        socket_fd_(ssh_get_fd(session_.get())) {}
  // Checks the host key, logs in and starts SFTP.
  Status start(const SftpOptions& options);
  // Reads exactly out.size() bytes of SFTP channel data, waiting at most
  // timeout_ms_ for each piece.
  Status read_channel(MutableByteView out, const std::string& what);

  SessionPtr session_;  // declared first: destroyed after sftp_
  SftpPtr sftp_;
  const std::string host_;
  const int timeout_ms_;
  const int socket_fd_;  // owned by session_
  bool has_fsync_ = false;
  bool has_posix_rename_ = false;
  bool broken_ = false;
  std::atomic<bool> timed_out_ = false;  // set by the watchdog
};

Result<std::unique_ptr<SftpConnection>> SftpConnection::open(const SftpOptions& options,
                                                             ReplyWatchdog& watchdog) {
  const std::string host = known_hosts_name(options);
  SessionPtr session(ssh_new());
  if (session == nullptr) return Status::io_error("cannot create an SSH session");
  const unsigned int port = options.port;
  const long timeout_s = options.timeout_s;
  const bool no = false;
  const int yes = 1;
  const int quiet = SSH_LOG_NOLOG;
  ssh_session s = session.get();
  // The user's ~/.ssh/config and the system's known hosts stay out of it:
  // the options alone decide where to connect and which host key to trust.
  if (ssh_options_set(s, SSH_OPTIONS_HOST, options.host.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_PORT, &port) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_USER, options.user.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, options.known_hosts_file.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      // Each SFTP request waits for its reply: Nagle's delay would add ~40 ms to each.
      ssh_options_set(s, SSH_OPTIONS_NODELAY, &yes) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &quiet) != SSH_OK) {
    return Status::invalid_argument("cannot set SSH options for " + host + ": " + ssh_get_error(s));
  }
  if (ssh_connect(s) != SSH_OK) {
    return Status::unavailable("cannot connect to " + host + ": " + ssh_get_error(s));
  }
  set_keepalive(ssh_get_fd(s), options.timeout_s);
  std::unique_ptr<SftpConnection> connection(
      new SftpConnection(std::move(session), host, options.timeout_s * 1000));
  Status status;
  {
    const ReplyWatchdog::Watch watch = connection->watched_by(watchdog);
    status = connection->start(options);
  }
  if (connection->timed_out_.load()) {
    return Status::unavailable("no reply from " + host + " within " +
                               std::to_string(options.timeout_s) + " s while logging in");
  }
  RETURN_IF_ERROR(status);
  return connection;
}

Status SftpConnection::start(const SftpOptions& options) {
  ssh_session s = session_.get();
  RETURN_IF_ERROR(check_host_key(s, options));
  RETURN_IF_ERROR(authenticate(s, options));
  sftp_.reset(sftp_new(s));
  if (sftp_ == nullptr) {
    return Status::unavailable("cannot start SFTP on " + host_ +
                               " (is its sftp subsystem enabled?): " + ssh_get_error(s));
  }
  if (sftp_init(sftp_.get()) != SSH_OK) {
    return Status::unavailable("cannot start SFTP on " + host_ + ": " + ssh_get_error(s));
  }
  has_fsync_ = sftp_extension_supported(sftp_.get(), "fsync@openssh.com", "1") == 1;
  has_posix_rename_ = sftp_extension_supported(sftp_.get(), "posix-rename@openssh.com", "1") == 1;
  return Status::ok();
}

Status SftpConnection::read_channel(MutableByteView out, const std::string& what) {
  size_t done = 0;
  while (done < out.size()) {
    const int n =
        ssh_channel_read_timeout(sftp_->channel, out.data() + done,
                                 static_cast<uint32_t>(out.size() - done), 0, timeout_ms_);
    if (n <= 0) {
      // Half a reply read (or none within the timeout): the channel is out of
      // step with the protocol, so this connection is done.
      broken_ = true;
      const bool timed_out = n == 0 && ssh_channel_is_eof(sftp_->channel) == 0;
      return Status::unavailable(
          what + ": " +
          (timed_out ? "no reply from " + host_ + " in time"
                     : "lost the connection to " + host_ + ": " + ssh_get_error(session_.get())));
    }
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

// libssh 0.10's sftp_rename sends the plain SFTP rename, which OpenSSH
// refuses when the target exists; so the extension request is built here.
// This is safe only between calls: libssh reads replies synchronously, so no
// reply of its own is pending on the channel.
Status SftpConnection::posix_rename(const std::string& from, const std::string& to) {
  LARES_CHECK(has_posix_rename_);
  const std::string what = "rename " + from + " to " + to;
  const uint32_t id = ++sftp_->id_counter;  // the next id libssh would use
  Bytes packet;
  append_u32(packet, 0);  // length, set below
  packet.push_back(kFxpExtended);
  append_u32(packet, id);
  append_string(packet, "posix-rename@openssh.com");
  append_string(packet, from);
  append_string(packet, to);
  const auto length = static_cast<uint32_t>(packet.size() - 4);
  for (int i = 0; i < 4; ++i) packet[i] = static_cast<uint8_t>(length >> (24 - 8 * i));
  if (ssh_channel_write(sftp_->channel, packet.data(), static_cast<uint32_t>(packet.size())) !=
      static_cast<int>(packet.size())) {
    broken_ = true;
    return Status::unavailable(what + ": lost the connection to " + host_ + ": " +
                               ssh_get_error(session_.get()));
  }
  // Reply: uint32 length, byte type, uint32 id, uint32 code, string message, ...
  Bytes header(4);
  RETURN_IF_ERROR(read_channel(header, what));
  const uint32_t reply_bytes = read_u32(header, 0);
  if (reply_bytes < 13 || reply_bytes > kStatusReplyBytesMax) {
    broken_ = true;
    return Status::io_error(what + ": malformed reply from " + host_);
  }
  Bytes reply(reply_bytes);
  RETURN_IF_ERROR(read_channel(reply, what));
  const uint32_t message_bytes = read_u32(reply, 9);
  if (reply[0] != kFxpStatus || read_u32(reply, 1) != id || message_bytes > reply_bytes - 13) {
    broken_ = true;
    return Status::io_error(what + ": unexpected reply from " + host_);
  }
  const uint32_t code = read_u32(reply, 5);
  if (code == SSH_FX_OK) return Status::ok();
  const std::string message(reinterpret_cast<const char*>(reply.data()) + 13, message_bytes);
  return status_of_sftp_code(static_cast<int>(code), what, "SFTP server: " + message);
}

namespace {

// Creates each folder of `folders` in order (each the parent of the next)
// unless it exists. kFailedPrecondition when one is a file.
Status make_folder_chain(SftpConnection& connection, const std::vector<std::string>& folders) {
  for (const std::string& folder : folders) {
    if (sftp_mkdir(connection.sftp(), folder.c_str(), 0755) == 0) continue;
    // Usually it exists (made by another put); OpenSSH says only "failure".
    const Status mkdir_error = connection.error("mkdir " + folder);
    if (!connection.alive()) return mkdir_error;
    connection.clear_error();
    const AttributesPtr attributes(sftp_stat(connection.sftp(), folder.c_str()));
    if (attributes == nullptr) return mkdir_error;
    if (attributes->type == SSH_FILEXFER_TYPE_DIRECTORY) continue;
    return Status::failed_precondition(folder + " is a file, so it cannot be a folder");
  }
  return Status::ok();
}

// The SFTP attributes' size is optional: a server that leaves it out must
// not make an object look empty.
Status check_size_reported(const sftp_attributes_struct& attributes, const std::string& path) {
  if ((attributes.flags & SSH_FILEXFER_ATTR_SIZE) != 0) return Status::ok();
  return Status::io_error("stat " + path + ": the server did not report the size");
}

// The type of `path` on the server, or nullopt when it is missing.
Result<std::optional<uint8_t>> remote_type(SftpConnection& connection, const std::string& path) {
  const AttributesPtr attributes(sftp_stat(connection.sftp(), path.c_str()));
  if (attributes != nullptr) return std::optional<uint8_t>(attributes->type);
  Status status = connection.error("stat " + path);
  if (status.code() == Code::kNotFound) return std::optional<uint8_t>();
  return status;
}

// Finds folder `root`, or makes it (and its parents) when asked.
Status open_root(SftpConnection& connection, const std::string& root, CreateIfMissing create,
                 const std::string& where) {
  ASSIGN_OR_RETURN(std::optional<uint8_t> type, remote_type(connection, root));
  if (!type.has_value()) {
    if (create == CreateIfMissing::kNo) {
      return Status::not_found("SFTP store folder " + where + " does not exist");
    }
    // Every ancestor of the root, then the root ("a/b/c": "a", "a/b", "a/b/c").
    std::vector<std::string> folders;
    for (size_t slash = root.find('/', 1); slash != std::string::npos;
         slash = root.find('/', slash + 1)) {
      folders.push_back(root.substr(0, slash));
    }
    folders.push_back(root);
    return make_folder_chain(connection, folders).with_context("create " + where);
  }
  if (*type != SSH_FILEXFER_TYPE_DIRECTORY) {
    return Status::failed_precondition(where + " is not a folder");
  }
  return Status::ok();
}

}  // namespace

SftpStore::SftpStore(const SftpOptions& options, std::string root,
                     std::unique_ptr<ReplyWatchdog> watchdog, std::unique_ptr<SftpConnection> first)
    : options_(options),
      root_(std::move(root)),
      description_(options.user + "@" + known_hosts_name(options) + ":" + root_),
      durable_puts_(first->has_fsync()),
      atomic_overwrites_(first->has_posix_rename()),
      watchdog_(std::move(watchdog)) {
  free_.push_back(std::move(first));
  free_.resize(static_cast<size_t>(options.connections));
}

SftpStore::~SftpStore() = default;

Result<std::unique_ptr<SftpStore>> SftpStore::open(const SftpOptions& options,
                                                   CreateIfMissing create) {
  RETURN_IF_ERROR(check_options(options));
  auto watchdog = std::make_unique<ReplyWatchdog>(options.timeout_s);
  ASSIGN_OR_RETURN(std::unique_ptr<SftpConnection> connection,
                   SftpConnection::open(options, *watchdog));
  const std::string root = without_trailing_slashes(options.root);
  Status status;
  {
    const ReplyWatchdog::Watch watch = connection->watched_by(*watchdog);
    status = open_root(*connection, root, create, known_hosts_name(options) + ":" + root);
  }
  RETURN_IF_ERROR(status);
  return std::unique_ptr<SftpStore>(
      new SftpStore(options, root, std::move(watchdog), std::move(connection)));
}

Status SftpStore::object_not_found(const std::string& name) const {
  return Status::not_found("object '" + name + "' not found in " + description_);
}

std::string SftpStore::path_of(const std::string& name) const {
  return root_ == "/" ? "/" + name : root_ + "/" + name;
}

Status SftpStore::with_connection(const std::function<Status(SftpConnection&)>& operation) {
  std::unique_ptr<SftpConnection> connection;
  {
    std::unique_lock lock(mu_);
    connection_freed_.wait(lock, [&] { return !free_.empty(); });
    // A connected slot if there is one.
    auto chosen = std::find_if(free_.begin(), free_.end(),
                               [](const auto& candidate) { return candidate != nullptr; });
    if (chosen == free_.end()) chosen = free_.begin();
    connection = std::move(*chosen);
    free_.erase(chosen);
  }
  Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (connection == nullptr || !connection->alive()) {
      connection.reset();
      auto made = SftpConnection::open(options_, *watchdog_);
      if (!made.is_ok()) {
        status = attempt == 0
                     ? made.status()
                     : made.status().with_context(status.message() + "; then reconnecting failed");
        break;
      }
      connection = std::move(made).value();
    }
    connection->clear_error();
    {
      const ReplyWatchdog::Watch watch = connection->watched_by(*watchdog_);
      status = operation(*connection);
    }
    if (status.code() != Code::kUnavailable) break;
    connection.reset();  // its link failed: the retry (or the next call) reconnects
  }
  {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(connection));
  }
  connection_freed_.notify_one();
  return status;
}

Status SftpStore::put(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(validate_object_name(name));
  return with_connection([&](SftpConnection& connection) { return put_on(connection, name, data); })
      .with_context("put '" + name + "' in " + description_);
}

Status SftpStore::put_on(SftpConnection& connection, const std::string& name, ByteView data) {
  const std::string path = path_of(name);
  // A fresh temporary name per attempt: a retried put never shares a file
  // with one whose connection died mid-write.
  const std::string temporary = path + "." + random_hex(8) + std::string(kTemporarySuffix);
  sftp_session sftp = connection.sftp();
  const int flags = O_WRONLY | O_CREAT | O_EXCL;
  FilePtr file(sftp_open(sftp, temporary.c_str(), flags, 0644));
  if (file == nullptr) {
    const Status status = connection.error("create " + temporary);
    if (status.code() != Code::kNotFound) return status;
    connection.clear_error();  // a folder is missing
    RETURN_IF_ERROR(make_folders(connection, name));
    file.reset(sftp_open(sftp, temporary.c_str(), flags, 0644));
    if (file == nullptr) return connection.error("create " + temporary);
  }

  Status status;
  for (size_t done = 0; done < data.size() && status.is_ok();) {
    const size_t count = std::min(kRequestBytes, data.size() - done);
    const ssize_t written = sftp_write(file.get(), data.data() + done, count);
    if (written <= 0) {
      status = connection.error("write " + temporary);
    } else {
      done += static_cast<size_t>(written);
    }
  }
  if (status.is_ok() && connection.has_fsync() && sftp_fsync(file.get()) != 0) {
    status = connection.error("fsync " + temporary);
  }
  // Closing reports write errors some servers defer (NFS, quotas).
  if (sftp_close(file.release()) != 0 && status.is_ok()) {
    status = connection.error("close " + temporary);
  }
  if (status.is_ok()) status = rename_into_place(connection, temporary, path);
  if (!status.is_ok() && connection.alive()) {
    if (sftp_unlink(sftp, temporary.c_str()) != 0) connection.clear_error();
    // A rename refused because the name is a folder is the caller's mistake.
    auto type = remote_type(connection, path);
    if (type.is_ok() && *type == std::optional<uint8_t>(SSH_FILEXFER_TYPE_DIRECTORY)) {
      return Status::failed_precondition("it is a folder of other objects");
    }
  }
  return status;
}

Status SftpStore::make_folders(SftpConnection& connection, const std::string& name) {
  std::vector<std::string> folders;
  for (size_t slash = name.find('/'); slash != std::string::npos;
       slash = name.find('/', slash + 1)) {
    folders.push_back(path_of(name.substr(0, slash)));
  }
  return make_folder_chain(connection, folders);
}

Status SftpStore::rename_into_place(SftpConnection& connection, const std::string& from,
                                    const std::string& to) {
  if (connection.has_posix_rename()) return connection.posix_rename(from, to);
  // The plain SFTP rename refuses to replace a file on most servers: remove
  // the old object first (not atomic, see atomic_overwrites()).
  if (sftp_rename(connection.sftp(), from.c_str(), to.c_str()) == 0) return Status::ok();
  if (!connection.alive()) return connection.error("rename " + from + " to " + to);
  connection.clear_error();
  if (sftp_unlink(connection.sftp(), to.c_str()) != 0) connection.clear_error();
  if (sftp_rename(connection.sftp(), from.c_str(), to.c_str()) == 0) return Status::ok();
  return connection.error("rename " + from + " to " + to);
}

Result<Bytes> SftpStore::get(const std::string& name, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(validate_object_name(name));
  const std::string path = path_of(name);
  auto not_found = [&] { return object_not_found(name); };
  Bytes out;
  Status status = with_connection([&](SftpConnection& connection) -> Status {
    FilePtr file(sftp_open(connection.sftp(), path.c_str(), O_RDONLY, 0));
    if (file == nullptr) {
      Status error = connection.error("open " + path);
      return error.code() == Code::kNotFound ? not_found() : error;
    }
    const AttributesPtr attributes(sftp_fstat(file.get()));
    if (attributes == nullptr) return connection.error("stat " + path);
    if (attributes->type != SSH_FILEXFER_TYPE_REGULAR) return not_found();
    RETURN_IF_ERROR(check_size_reported(*attributes, path));
    const uint64_t size = attributes->size;
    const uint64_t begin = std::min(offset, size);
    const uint64_t end = length > size - begin ? size : begin + length;
    out.resize(static_cast<size_t>(end - begin));
    if (begin > 0 && sftp_seek64(file.get(), begin) != 0) return connection.error("seek " + path);
    for (size_t done = 0; done < out.size();) {
      const size_t count = std::min(kRequestBytes, out.size() - done);
      const ssize_t n = sftp_read(file.get(), out.data() + done, count);
      if (n < 0) return connection.error("read " + path);
      // Objects are replaced, never changed in place: a short file is damage.
      if (n == 0) return Status::io_error("read " + path + ": the file ended early");
      done += static_cast<size_t>(n);
    }
    return Status::ok();
  });
  RETURN_IF_ERROR(status);
  return out;
}

Result<uint64_t> SftpStore::size(const std::string& name) {
  RETURN_IF_ERROR(validate_object_name(name));
  const std::string path = path_of(name);
  uint64_t size = 0;
  const Status status = with_connection([&](SftpConnection& connection) -> Status {
    const AttributesPtr attributes(sftp_stat(connection.sftp(), path.c_str()));
    if (attributes == nullptr) {
      Status error = connection.error("stat " + path);
      return error.code() == Code::kNotFound ? object_not_found(name) : error;
    }
    if (attributes->type != SSH_FILEXFER_TYPE_REGULAR) return object_not_found(name);
    RETURN_IF_ERROR(check_size_reported(*attributes, path));
    size = attributes->size;
    return Status::ok();
  });
  RETURN_IF_ERROR(status);
  return size;
}

Status SftpStore::remove(const std::string& name) {
  RETURN_IF_ERROR(validate_object_name(name));
  const std::string path = path_of(name);
  return with_connection([&](SftpConnection& connection) -> Status {
    if (sftp_unlink(connection.sftp(), path.c_str()) == 0) return Status::ok();
    Status status = connection.error("remove " + path);
    if (status.code() == Code::kNotFound) return object_not_found(name);
    if (!connection.alive()) return status;
    // OpenSSH reports unlinking a folder as a plain failure.
    connection.clear_error();
    auto type = remote_type(connection, path);
    if (type.is_ok() && *type != std::optional<uint8_t>(SSH_FILEXFER_TYPE_REGULAR)) {
      return object_not_found(name);
    }
    return status;
  });
}

Status SftpStore::walk(SftpConnection& connection, const std::string& start,
                       const std::function<bool(const std::string&)>& descend,
                       const std::function<void(const std::string&)>& visit) {
  std::vector<std::string> folders{start};  // relative, "" or ending in '/'
  while (!folders.empty()) {
    const std::string folder = std::move(folders.back());
    folders.pop_back();
    const std::string path = folder.empty() ? root_ : path_of(folder.substr(0, folder.size() - 1));
    DirPtr dir(sftp_opendir(connection.sftp(), path.c_str()));
    if (dir == nullptr) {
      Status status = connection.error("list " + path);
      if (status.code() != Code::kNotFound) return status;
      connection.clear_error();  // missing, or removed by someone else meanwhile
      continue;
    }
    while (true) {
      const AttributesPtr entry(sftp_readdir(connection.sftp(), dir.get()));
      if (entry == nullptr) {
        if (sftp_dir_eof(dir.get()) != 0) break;
        return connection.error("list " + path);
      }
      const std::string entry_name = entry->name != nullptr ? entry->name : "";
      if (entry_name.empty() || entry_name == "." || entry_name == "..") continue;
      const std::string relative = folder + entry_name;
      // Symbolic links and special files are skipped, as in DirStore.
      if (entry->type == SSH_FILEXFER_TYPE_DIRECTORY && descend(relative + "/")) {
        folders.push_back(relative + "/");
      }
      if (entry->type == SSH_FILEXFER_TYPE_REGULAR) visit(relative);
    }
  }
  return Status::ok();
}

Result<std::vector<std::string>> SftpStore::list(const std::string& prefix) {
  // Walk only the deepest folder the prefix names, and below it only the
  // folders that can hold a match.
  const std::string start = prefix.substr(0, prefix.rfind('/') + 1);
  std::vector<std::string> names;
  if (!start.empty() && !validate_object_name(start.substr(0, start.size() - 1)).is_ok()) {
    return names;  // no valid name lies in such a folder (and it may point outside the root)
  }
  RETURN_IF_ERROR(with_connection([&](SftpConnection& connection) {
                    names.clear();  // a retry starts over
                    return walk(
                        connection, start,
                        [&](const std::string& folder) {
                          return folder.starts_with(prefix) || prefix.starts_with(folder);
                        },
                        [&](const std::string& file) {
                          if (file.starts_with(prefix) && validate_object_name(file).is_ok()) {
                            names.push_back(file);
                          }
                        });
                  }).with_context("list '" + prefix + "' in " + description_));
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace lares
