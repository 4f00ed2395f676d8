// S3Server: a real S3 server on 127.0.0.1 for S3Store tests: Ceph's radosgw
// on a one-node Ceph cluster (a monitor, one memstore OSD), brought up by
// scripts/s3-test-server.sh in a temporary folder of its own. Every daemon's
// log and pid file lie in that folder; stop() (and the destructor) leave
// nothing running, and a watchdog started by the script stops the cluster if
// the test process dies without doing so.
//
// kill() SIGKILLs radosgw only (the monitor and the OSD, and so the stored
// objects, live on), as if the S3 server died mid-request; restart() starts
// radosgw again on the same port.
//
// Thread safety: kill() may be called from any thread (a test calls it from
// inside an upload); the other methods from one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "objects/s3_store.h"
#include "testing/temp_dir.h"
#include "util/status.h"

namespace lares::testing {

class S3Server {
 public:
  // Why the server cannot run on this machine ("" when it can): the Ceph
  // binaries that are missing, and the packages that bring them.
  static std::string unavailable_reason();
  // Starts the cluster with `script` (the path of scripts/s3-test-server.sh);
  // kUnavailable with the script's output and the daemons' logs when it does
  // not come up.
  static Result<std::unique_ptr<S3Server>> start(const std::string& script);
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  // Options for an S3Store in `bucket` with the test user's keys; short
  // retry delays so failure tests stay quick.
  S3Options options(const std::string& bucket) const;
  const std::string& endpoint() const { return endpoint_; }
  double startup_seconds() const { return startup_seconds_; }
  const std::string& folder() const { return dir_.path(); }

  Status stop();
  Status kill();
  Status restart();
  // Runs radosgw-admin with `args` (shell words, quoted where needed) on the
  // cluster, e.g. to make another user or change a key; its output.
  Result<std::string> admin(const std::string& args) const;
  // The script's output and the tails of the daemons' logs, for messages.
  std::string logs() const;

 private:
  explicit S3Server(std::string script) : script_(std::move(script)) {}
  // Runs `script <command> <folder> <args>`; its stderr goes to
  // <folder>/script.log.
  Result<std::string> run_script(const std::string& command, const std::string& args = "") const;

  const std::string script_;
  TempDir dir_;
  std::string endpoint_;
  std::string region_;
  std::string access_key_;
  std::string secret_key_;
  double startup_seconds_ = 0;
  bool stopped_ = false;
};

// One server per test process, started on first use with `script` and
// stopped when the process's tests end (a gtest Environment registered by
// the first call). Null, with the reason in *why_not, when it cannot run;
// a reason starting "radosgw did not start" means it should have.
S3Server* shared_s3_server(const std::string& script, std::string* why_not);

}  // namespace lares::testing
