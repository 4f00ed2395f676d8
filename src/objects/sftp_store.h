// SftpStore: an ObjectStore in a folder on an SSH server (a NAS, a friend's
// box, a rented storage host), reached over SFTP with libssh.
//
// Layout: object "a/b/c" is the file <root>/a/b/c on the server, exactly as
// in DirStore, so a folder copied between a local disk and an SFTP target
// (rsync, scp -r) stays a valid store. A relative root is relative to the
// login folder of the user on the server.
//
// A put writes <root>/a/b/c.<random hex>.tmp (after making any missing
// folders), asks the server to fsync it, and renames it over c with
// posix-rename@openssh.com, which replaces the target atomically. So a
// reader, or a crash of either side or of the link, sees the old object or
// the new one, never a torn file; a put cut short leaves only its *.tmp file.
// Two limits depend on the server, and the store reports both:
//   - durable_puts(): the server offers fsync@openssh.com, so the bytes are on
//     its disk before the rename. Without it a power cut on the server may
//     lose a put that returned OK. SFTP has no way to fsync a folder, so the
//     rename itself (and a new folder) reach the disk with the server's
//     filesystem journal, typically within seconds.
//   - atomic_overwrites(): the server offers posix-rename@openssh.com. Without
//     it the plain SFTP rename refuses to replace a file, so an overwrite
//     removes the old object first: a crash in between leaves the name
//     absent. Puts of new names are atomic either way.
// OpenSSH offers both.
//
// Names follow validate_object_name(). A name cannot be both an object and a
// folder of objects: putting "a/b" while object "a" exists (or "a" while
// "a/b" exists) is kFailedPrecondition. list() reports every valid name
// under the root and skips *.tmp files; stray ones (from puts cut short) are
// left for the owner to remove, since another client may be writing them.
//
// Security: the server's host key must already be in `known_hosts_file`;
// an unknown key or a changed one is refused (kPermissionDenied), never
// accepted on first use. Authentication is by private key file (unencrypted)
// or password; the error says which one failed.
//
// Timeouts: libssh 0.10 waits for an SFTP reply without limit, so the store
// cuts the link when a call has received nothing from the server for
// `timeout_s` (a hung server, a vanished one): every single request, an
// fsync included, must be answered within it.
//
// Errors: a dropped link, a refused connection or a timeout is kUnavailable;
// a refused login or a server-side permission error kPermissionDenied; a
// missing object kNotFound; other server failures (a full disk, a quota)
// kIOError with the server's message.
//
// Thread safety: all methods may be called concurrently. The store keeps up
// to `connections` SSH connections, each used by one call at a time. A call
// whose connection fails reconnects once and retries before it reports
// kUnavailable, so a server restart costs one retry, not an error; a remove
// retried that way may report kNotFound when its first attempt had succeeded.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "objects/dir_store.h"  // CreateIfMissing
#include "objects/object_store.h"

namespace lares {

struct SftpOptions {
  std::string host;
  uint16_t port = 22;
  std::string user;
  std::string root;              // the store's folder on the server
  std::string identity_file;     // an unencrypted private key, or empty
  std::string password;          // or empty; tried after the key when both are set
  std::string known_hosts_file;  // required: the host key is always checked
  int timeout_s = 30;            // to connect, and for each reply of the server (see above)
  int connections = 2;           // SSH connections kept for concurrent calls
};

// One SSH connection with its SFTP channel, and the thread that cuts the
// link of a server that stops answering; defined in sftp_store.cc.
class SftpConnection;
class ReplyWatchdog;

class SftpStore final : public ObjectStore {
 public:
  // Connects (checking the host key and logging in) and opens the store in
  // folder `options.root`, creating it and its parents when asked. kNotFound
  // when it is missing and create is kNo; kFailedPrecondition when it is not
  // a folder; kInvalidArgument for incomplete options.
  static Result<std::unique_ptr<SftpStore>> open(const SftpOptions& options,
                                                 CreateIfMissing create);
  ~SftpStore() override;
  SftpStore(const SftpStore&) = delete;
  SftpStore& operator=(const SftpStore&) = delete;

  Status put(const std::string& name, ByteView data) override;
  Result<Bytes> get(const std::string& name, uint64_t offset, uint64_t length) override;
  using ObjectStore::get;
  Result<uint64_t> size(const std::string& name) override;
  Result<std::vector<std::string>> list(const std::string& prefix) override;
  Status remove(const std::string& name) override;

  // Whether the server fsyncs a put's bytes before it is renamed into place
  // (fsync@openssh.com); see above.
  bool durable_puts() const { return durable_puts_; }
  // Whether an overwrite replaces the old object atomically
  // (posix-rename@openssh.com); see above.
  bool atomic_overwrites() const { return atomic_overwrites_; }
  // "user@host:port:root", for messages.
  const std::string& description() const { return description_; }

 private:
  SftpStore(const SftpOptions& options, std::string root, std::unique_ptr<ReplyWatchdog> watchdog,
            std::unique_ptr<SftpConnection> first);

  std::string path_of(const std::string& name) const;
  Status object_not_found(const std::string& name) const;
  // Runs `operation` on a connection of the pool, waiting for a free one and
  // connecting it when needed. When the operation fails with kUnavailable
  // (the link broke), the connection is replaced and the operation run once
  // more; its result is returned either way.
  Status with_connection(const std::function<Status(SftpConnection&)>& operation);
  Status put_on(SftpConnection& connection, const std::string& name, ByteView data);
  Status make_folders(SftpConnection& connection, const std::string& name);
  Status rename_into_place(SftpConnection& connection, const std::string& from,
                           const std::string& to);
  // Calls visit(relative path) for each regular file below folder `start`
  // ("" for the root, else a relative path ending in '/'), entering a
  // sub-folder only when descend(its relative path, ending in '/') is true.
  Status walk(SftpConnection& connection, const std::string& start,
              const std::function<bool(const std::string&)>& descend,
              const std::function<void(const std::string&)>& visit);

  const SftpOptions options_;
  const std::string root_;  // no trailing '/', except a root of "/"
  const std::string description_;
  bool durable_puts_ = false;
  bool atomic_overwrites_ = false;
  const std::unique_ptr<ReplyWatchdog> watchdog_;  // outlives every connection

  std::mutex mu_;
  std::condition_variable connection_freed_;
  // Connections not in use; null entries are slots whose connection was
  // dropped (or not made yet) and is made again on use. Invariant: the free
  // slots plus those lent out number options_.connections.
  std::vector<std::unique_ptr<SftpConnection>> free_;  // GUARDED_BY(mu_)
};

}  // namespace lares
