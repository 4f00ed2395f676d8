// SftpStore against a real OpenSSH sshd on 127.0.0.1 (testing::SshdServer).
// The server's files are local, so tests look at them directly.
#include "objects/sftp_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "testing/crash_loop.h"
#include "testing/pool_fixture.h"
#include "testing/sshd_server.h"
#include "testing/temp_dir.h"
#include "util/file.h"
#include "util/random.h"

namespace lares {
namespace {

using testing::test_bytes;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Every *.tmp file under `root`, relative.
std::vector<std::string> temporary_files(const std::string& root) {
  std::vector<std::string> out;
  std::error_code error;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root, error)) {
    const std::string path = entry.path().string();
    if (entry.is_regular_file() && path.ends_with(".tmp")) out.push_back(path);
  }
  return out;
}

void write_plain_file(const std::string& path, std::string_view text) {
  ASSERT_TRUE(make_dirs(parent_dir(path)).is_ok());
  ASSERT_TRUE(write_file_atomic(path, as_bytes(text), Sync::kNo).is_ok());
}

// A TCP socket on 127.0.0.1 that listens but never answers: connections
// complete (the kernel accepts them) and then hear nothing.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(address);
    LARES_CHECK(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    LARES_CHECK(::listen(fd_, 16) == 0);
    LARES_CHECK(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

class SftpStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::SshdServer::available()) {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && std::string(ci) == "true") {
        FAIL() << testing::kSshdPath << " is missing, and CI must run the SFTP tests: "
               << "install openssh-server (scripts/install-deps.sh)";
      }
      GTEST_SKIP() << testing::kSshdPath << " is missing: install openssh-server "
                   << "(scripts/install-deps.sh) to run the SFTP tests";
    }
    auto server = testing::SshdServer::start(tmp_.sub(""));
    ASSERT_TRUE(server.is_ok()) << server.status().to_string();
    server_ = std::move(server).value();
    root_ = tmp_.sub("store");
  }

  std::unique_ptr<SftpStore> open_store() { return open_store(server_->options(root_)); }
  std::unique_ptr<SftpStore> open_store(const SftpOptions& options) {
    auto store = SftpStore::open(options, CreateIfMissing::kYes);
    EXPECT_TRUE(store.is_ok()) << store.status().to_string() << "\nsshd log:\n" << server_->log();
    return store.is_ok() ? std::move(store).value() : nullptr;
  }
  // The status of opening a store with `options`, which must fail.
  Status open_failure(const SftpOptions& options) {
    auto store = SftpStore::open(options, CreateIfMissing::kYes);
    EXPECT_FALSE(store.is_ok());
    return store.is_ok() ? Status::ok() : store.status();
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::SshdServer> server_;
  std::string root_;
};

// --- the ObjectStore contract ----------------------------------------------

TEST_F(SftpStoreTest, PutGetSizeRoundTripAndFilesAreWhereTheNameSays) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  for (size_t size : {0, 1, 4096, 65536, 65537, 1 << 20}) {
    const std::string name = "packs/ab/cd/" + std::to_string(size);
    const Bytes data = test_bytes(size, size);
    ASSERT_TRUE(store->put(name, data).is_ok()) << size;
    auto got = store->get(name);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_TRUE(*got == data) << size;
    // The same layout as DirStore: the file under the root, by its name.
    auto on_disk = read_file(root_ + "/" + name);
    ASSERT_TRUE(on_disk.is_ok());
    EXPECT_TRUE(*on_disk == data) << size;
    auto size_back = store->size(name);
    ASSERT_TRUE(size_back.is_ok()) << size_back.status().to_string();
    EXPECT_EQ(*size_back, size);
  }
  EXPECT_TRUE(temporary_files(root_).empty());
}

TEST_F(SftpStoreTest, OpenSshGivesDurableAndAtomicPuts) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->durable_puts());
  EXPECT_TRUE(store->atomic_overwrites());
  EXPECT_NE(store->description().find(root_), std::string::npos);
}

TEST_F(SftpStoreTest, EightMebibyteObjects) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const Bytes data = test_bytes(8, 8 << 20);
  const auto start = Clock::now();
  ASSERT_TRUE(store->put("big/object", data).is_ok());
  const double put_s = seconds_since(start);
  auto got = store->get("big/object");
  const double total_s = seconds_since(start);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_TRUE(*got == data);
  auto middle = store->get("big/object", (3 << 20) + 5, 1 << 20);
  ASSERT_TRUE(middle.is_ok());
  EXPECT_TRUE(std::equal(middle->begin(), middle->end(), data.begin() + (3 << 20) + 5));
  std::printf("8 MiB: put %.2f s, get %.2f s\n", put_s, total_s - put_s);
}

TEST_F(SftpStoreTest, RangedGetsClipAtTheEnd) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const Bytes data = test_bytes(1, 200000);
  ASSERT_TRUE(store->put("object", data).is_ok());
  struct Case {
    uint64_t offset, length, begin, end;
  };
  for (const Case& c :
       {Case{0, 10, 0, 10}, Case{199990, 100, 199990, 200000}, Case{200000, 5, 200000, 200000},
        Case{300000, 5, 200000, 200000}, Case{5, 0, 5, 5}, Case{3, UINT64_MAX, 3, 200000},
        Case{70000, 70000, 70000, 140000}, Case{UINT64_MAX, UINT64_MAX, 200000, 200000}}) {
    auto got = store->get("object", c.offset, c.length);
    ASSERT_TRUE(got.is_ok()) << c.offset << "+" << c.length << ": " << got.status().to_string();
    EXPECT_TRUE(*got == Bytes(data.begin() + static_cast<ptrdiff_t>(c.begin),
                              data.begin() + static_cast<ptrdiff_t>(c.end)))
        << c.offset << "+" << c.length;
  }
  ASSERT_TRUE(store->put("empty", {}).is_ok());
  auto empty = store->get("empty", 0, 100);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(*store->size("empty"), 0u);
}

TEST_F(SftpStoreTest, PutReplacesTheWholeValue) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  for (size_t size : {300000, 10, 0, 150000}) {
    const Bytes data = test_bytes(size + 7, size);
    ASSERT_TRUE(store->put("refs/main", data).is_ok()) << size;
    auto got = store->get("refs/main");
    ASSERT_TRUE(got.is_ok());
    EXPECT_TRUE(*got == data) << size;
  }
  EXPECT_TRUE(temporary_files(root_).empty());
}

TEST_F(SftpStoreTest, MissingObjectsAreNotFound) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("file", as_bytes("x")).is_ok());
  ASSERT_TRUE(store->put("folder/inside", as_bytes("y")).is_ok());
  // Absent; a path through an object; a folder.
  for (const std::string name : {"absent", "file/below", "folder", "folder/absent/deeper"}) {
    EXPECT_EQ(store->get(name).status().code(), Code::kNotFound) << name;
    EXPECT_EQ(store->get(name, 10, 10).status().code(), Code::kNotFound) << name;
    EXPECT_EQ(store->size(name).status().code(), Code::kNotFound) << name;
    EXPECT_EQ(store->remove(name).code(), Code::kNotFound) << name;
  }
  EXPECT_NE(store->get("absent").status().message().find("absent"), std::string::npos);
}

TEST_F(SftpStoreTest, RemoveDeletesAndSecondRemoveIsNotFound) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("refs/main", as_bytes("abc")).is_ok());
  ASSERT_TRUE(store->remove("refs/main").is_ok());
  EXPECT_EQ(store->get("refs/main").status().code(), Code::kNotFound);
  EXPECT_FALSE(path_exists(root_ + "/refs/main"));
  EXPECT_EQ(store->remove("refs/main").code(), Code::kNotFound);
  ASSERT_TRUE(store->put("refs/other", as_bytes("d")).is_ok());
}

TEST_F(SftpStoreTest, InvalidNamesAreRefusedEverywhere) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  for (const std::string& name : std::vector<std::string>{
           "", "/abs", "a/../b", "..", "with space", "tab\tname", "a//b", "a/", "./a", "a/./b",
           "a/.", "..a", "x.tmp", "dir/x.123.tmp", std::string(1025, 'a')}) {
    EXPECT_EQ(store->put(name, as_bytes("x")).code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(store->get(name).status().code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(store->size(name).status().code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(store->remove(name).code(), Code::kInvalidArgument) << name;
  }
  EXPECT_FALSE(path_exists(tmp_.sub("abs")));
  for (const std::string name : {"a.b", ".hidden", "x.tmp/y", "a.tmp.b", "a.tmpx"}) {
    EXPECT_TRUE(store->put(name, as_bytes("x")).is_ok()) << name;
    EXPECT_TRUE(store->get(name).is_ok()) << name;
  }
}

TEST_F(SftpStoreTest, ObjectAndFolderOfTheSameNameConflict) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("a", as_bytes("object a")).is_ok());
  EXPECT_EQ(store->put("a/b", as_bytes("x")).code(), Code::kFailedPrecondition);
  EXPECT_EQ(store->put("a/b/c", as_bytes("x")).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(store->put("d/e", as_bytes("object d/e")).is_ok());
  EXPECT_EQ(store->put("d", as_bytes("x")).code(), Code::kFailedPrecondition);
  EXPECT_EQ(as_chars(*store->get("a")), "object a");
  EXPECT_EQ(as_chars(*store->get("d/e")), "object d/e");
  auto names = store->list("");
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "d/e"}));
  EXPECT_TRUE(temporary_files(root_).empty());
}

TEST_F(SftpStoreTest, ListIsSortedAndFiltersByPrefix) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> names = {
      "config",      "index/00/seg1", "index/01/seg2", "packs/ab/p1", "packs/ab/p2",
      "packs/ac/p3", "packs/b/p4",    "packsfile",     "refs/main",   "refs/snap/2026"};
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    ASSERT_TRUE(store->put(*it, as_bytes(*it)).is_ok());
  }
  auto all = store->list("");
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  EXPECT_EQ(*all, names);
  for (const std::string prefix :
       {"packs", "packs/", "packs/a", "packs/ab/", "packs/ab/p1", "packs/ab/p1x", "pa",
        "refs/snap/", "refs/s", "zzz", "index/0", "nothing/here/", "config"}) {
    std::vector<std::string> expected;
    for (const auto& n : names) {
      if (n.starts_with(prefix)) expected.push_back(n);
    }
    auto got = store->list(prefix);
    ASSERT_TRUE(got.is_ok()) << prefix;
    EXPECT_EQ(*got, expected) << "prefix '" << prefix << "'";
  }
}

TEST_F(SftpStoreTest, ListSkipsTemporariesForeignFilesAndSymlinksAndNeverLeavesTheRoot) {
  write_plain_file(tmp_.sub("outside/secret"), "not the store's");
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("a/real", as_bytes("x")).is_ok());
  write_plain_file(root_ + "/a/real.0123456789abcdef.tmp", "half a put");
  write_plain_file(root_ + "/a/has space", "a file a person dropped here");
  ASSERT_EQ(::symlink("/etc", (root_ + "/a/link").c_str()), 0);
  ASSERT_EQ(::symlink("real", (root_ + "/a/filelink").c_str()), 0);
  auto names = store->list("");
  ASSERT_TRUE(names.is_ok()) << names.status().to_string();
  EXPECT_EQ(*names, std::vector<std::string>{"a/real"});
  for (const std::string prefix : {"../", "../outside/", "/", "//", "./", "a//", "../outside/s"}) {
    auto got = store->list(prefix);
    ASSERT_TRUE(got.is_ok()) << prefix;
    EXPECT_TRUE(got->empty()) << prefix;
  }
}

TEST_F(SftpStoreTest, OpenCreatesOrRefuses) {
  SftpOptions options = server_->options(tmp_.sub("nope"));
  auto missing = SftpStore::open(options, CreateIfMissing::kNo);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().to_string();
  EXPECT_FALSE(path_exists(tmp_.sub("nope")));

  options.root = tmp_.sub("deep/new/store/");
  auto created = SftpStore::open(options, CreateIfMissing::kYes);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_TRUE(is_directory(tmp_.sub("deep/new/store")));
  ASSERT_TRUE((*created)->put("x", as_bytes("1")).is_ok());
  EXPECT_TRUE(path_exists(tmp_.sub("deep/new/store/x")));

  write_plain_file(tmp_.sub("a_file"), "x");
  options.root = tmp_.sub("a_file");
  auto on_file = SftpStore::open(options, CreateIfMissing::kYes);
  ASSERT_FALSE(on_file.is_ok());
  EXPECT_EQ(on_file.status().code(), Code::kFailedPrecondition);
}

TEST_F(SftpStoreTest, IncompleteOptionsAreInvalidArgument) {
  const SftpOptions good = server_->options(root_);
  std::vector<SftpOptions> bad(7, good);
  bad[0].host.clear();
  bad[1].user.clear();
  bad[2].root.clear();
  bad[3].known_hosts_file.clear();
  bad[4].identity_file.clear();  // and no password
  bad[5].connections = 0;
  bad[6].timeout_s = 0;
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(open_failure(bad[i]).code(), Code::kInvalidArgument) << i;
  }
}

TEST_F(SftpStoreTest, ConcurrentPutsGetsAndRemovesFromFourThreads) {
  auto store = open_store();  // two connections for four threads: callers wait their turn
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 4;
  constexpr int kObjectsPerThread = 30;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kObjectsPerThread; ++i) {
        // Threads share folders, so they race to create them.
        const std::string name =
            "shared/" + std::to_string(i % 5) + "/t" + std::to_string(t) + "-" + std::to_string(i);
        const Bytes data = test_bytes(static_cast<uint64_t>(t * 1000 + i), 20000 + 1000 * i);
        if (!store->put(name, data).is_ok()) ++failures;
        auto got = store->get(name);
        if (!got.is_ok() || *got != data) ++failures;
        if (i % 3 == 0 && !store->remove(name).is_ok()) ++failures;
        // One name every thread overwrites: each read sees one whole value.
        if (!store->put("hot", test_bytes(static_cast<uint64_t>(t), 100000)).is_ok()) ++failures;
        auto hot = store->get("hot");
        bool whole = false;
        for (int u = 0; hot.is_ok() && u < kThreads; ++u) {
          whole = whole || *hot == test_bytes(static_cast<uint64_t>(u), 100000);
        }
        if (!whole) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  auto names = store->list("shared/");
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(names->size(), static_cast<size_t>(kThreads * (kObjectsPerThread - 10)));
  EXPECT_TRUE(temporary_files(root_).empty());
}

// --- host keys and logins -----------------------------------------------------

TEST_F(SftpStoreTest, UnknownHostKeyIsRefusedWithHowToAddIt) {
  SftpOptions options = server_->options(root_);
  options.known_hosts_file = tmp_.sub("empty_known_hosts");
  write_plain_file(options.known_hosts_file, "");
  const Status refused = open_failure(options);
  EXPECT_EQ(refused.code(), Code::kPermissionDenied);
  EXPECT_NE(refused.message().find("unknown host key"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("SHA256:"), std::string::npos) << refused.message();
  const std::string keyscan = "ssh-keyscan -p " + std::to_string(server_->port()) +
                              " -t ssh-ed25519 127.0.0.1 >> " + options.known_hosts_file;
  EXPECT_NE(refused.message().find(keyscan), std::string::npos) << refused.message();
  EXPECT_FALSE(path_exists(root_)) << "nothing may be written to an unverified server";

  // A missing file is the same case.
  options.known_hosts_file = tmp_.sub("no_such_known_hosts");
  EXPECT_EQ(open_failure(options).code(), Code::kPermissionDenied);

  // Following the advice works.
  options.known_hosts_file = tmp_.sub("empty_known_hosts");
  ASSERT_EQ(std::system((keyscan + " 2>/dev/null").c_str()), 0);
  EXPECT_NE(open_store(options), nullptr);
}

TEST_F(SftpStoreTest, ChangedHostKeyIsRefusedAsAPossibleAttack) {
  auto other_key = testing::make_key_pair(tmp_.sub("impostor_host_key"));
  ASSERT_TRUE(other_key.is_ok()) << other_key.status().to_string();
  SftpOptions options = server_->options(root_);
  options.known_hosts_file = tmp_.sub("stale_known_hosts");
  const std::string key = other_key->substr(0, other_key->rfind(' '));
  write_plain_file(options.known_hosts_file,
                   "[127.0.0.1]:" + std::to_string(server_->port()) + " " + key + "\n");
  const Status refused = open_failure(options);
  EXPECT_EQ(refused.code(), Code::kPermissionDenied);
  const std::string& message = refused.message();
  EXPECT_NE(
      message.find("host key for [127.0.0.1]:" + std::to_string(server_->port()) + " changed"),
      std::string::npos)
      << message;
  EXPECT_NE(message.find("man-in-the-middle"), std::string::npos) << message;
  EXPECT_NE(message.find("ssh-keygen -R"), std::string::npos) << message;
  EXPECT_NE(message.find(options.known_hosts_file), std::string::npos) << message;
  EXPECT_EQ(message.find("unknown host key"), std::string::npos) << message;
  EXPECT_FALSE(path_exists(root_)) << "nothing may be written to an unverified server";
  EXPECT_EQ(server_->log().find("Accepted publickey"), std::string::npos)
      << "no login may be attempted";
}

TEST_F(SftpStoreTest, WrongKeyIsPermissionDenied) {
  auto other_key = testing::make_key_pair(tmp_.sub("unauthorized_key"));
  ASSERT_TRUE(other_key.is_ok());
  SftpOptions options = server_->options(root_);
  options.identity_file = tmp_.sub("unauthorized_key");
  const Status refused = open_failure(options);
  EXPECT_EQ(refused.code(), Code::kPermissionDenied);
  EXPECT_NE(refused.message().find("public-key login with " + options.identity_file),
            std::string::npos)
      << refused.message();
  EXPECT_NE(refused.message().find("authorized_keys"), std::string::npos) << refused.message();

  options.identity_file = tmp_.sub("no_such_key");
  const Status missing = open_failure(options);
  EXPECT_EQ(missing.code(), Code::kPermissionDenied);
  EXPECT_NE(missing.message().find("cannot load private key"), std::string::npos)
      << missing.message();
  EXPECT_FALSE(path_exists(root_));
}

TEST_F(SftpStoreTest, WrongPasswordIsPermissionDenied) {
  SftpOptions options = server_->options(root_);
  options.identity_file.clear();
  options.password = "not the password";
  const Status refused = open_failure(options);
  EXPECT_EQ(refused.code(), Code::kPermissionDenied);
  EXPECT_NE(refused.message().find("refused password login"), std::string::npos)
      << refused.message();
  EXPECT_EQ(refused.message().find("public-key"), std::string::npos) << refused.message();
}

TEST_F(SftpStoreTest, NoServerIsUnavailableAtOnce) {
  server_->stop();
  SftpOptions options = server_->options(root_);
  options.timeout_s = 5;
  const auto start = Clock::now();
  const Status refused = open_failure(options);
  EXPECT_EQ(refused.code(), Code::kUnavailable) << refused.to_string();
  EXPECT_LT(seconds_since(start), 2.0);
}

TEST_F(SftpStoreTest, SilentServerIsUnavailableWithinTheTimeout) {
  SilentListener silent;
  SftpOptions options = server_->options(root_);
  options.port = silent.port();
  options.timeout_s = 2;
  const auto start = Clock::now();
  const Status refused = open_failure(options);
  const double elapsed_s = seconds_since(start);
  EXPECT_EQ(refused.code(), Code::kUnavailable) << refused.to_string();
  EXPECT_GE(elapsed_s, 1.5);
  EXPECT_LT(elapsed_s, 6.0);
}

// --- a server that fails -------------------------------------------------------

TEST_F(SftpStoreTest, HungServerIsUnavailableWithinTheTimeoutThenRecovers) {
  SftpOptions options = server_->options(root_);
  options.timeout_s = 2;
  auto store = open_store(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("x", as_bytes("before")).is_ok());
  server_->pause();
  // Should the call hang for good, thaw the server late so that the test
  // fails on the time taken instead of hanging.
  std::mutex mu;
  std::condition_variable returned;
  bool done = false;
  std::thread rescuer([&] {
    std::unique_lock lock(mu);
    if (!returned.wait_for(lock, std::chrono::seconds(6 * options.timeout_s),
                           [&] { return done; })) {
      server_->resume();
    }
  });
  const auto start = Clock::now();
  auto got = store->get("x");
  const double elapsed_s = seconds_since(start);
  {
    std::lock_guard lock(mu);
    done = true;
  }
  returned.notify_one();
  rescuer.join();
  server_->resume();
  EXPECT_EQ(got.status().code(), Code::kUnavailable) << got.status().to_string();
  EXPECT_NE(got.status().message().find("no reply"), std::string::npos) << got.status().to_string();
  // One timeout for the reply, one for the reconnection attempt, and slack.
  EXPECT_LT(elapsed_s, 2 * options.timeout_s + 3.0);
  auto again = store->get("x");
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(as_chars(*again), "before");
}

TEST_F(SftpStoreTest, ServerRestartBetweenCallsIsTransparent) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("a/x", as_bytes("one")).is_ok());
  ASSERT_TRUE(server_->restart().is_ok());
  // Each pooled connection notices the restart on its next call and
  // reconnects once: no call fails.
  for (int i = 0; i < 6; ++i) {
    auto got = store->get("a/x");
    ASSERT_TRUE(got.is_ok()) << i << ": " << got.status().to_string();
    ASSERT_TRUE(store->put("a/y" + std::to_string(i), as_bytes("two")).is_ok()) << i;
  }
  server_->kill();
  EXPECT_EQ(store->get("a/x").status().code(), Code::kUnavailable);
  EXPECT_EQ(store->put("a/z", as_bytes("three")).code(), Code::kUnavailable);
  EXPECT_EQ(store->list("").status().code(), Code::kUnavailable);
  ASSERT_TRUE(server_->restart().is_ok());
  auto names = store->list("a/");
  ASSERT_TRUE(names.is_ok()) << names.status().to_string();
  EXPECT_EQ(names->size(), 7u);
}

// Waits until some file under `folder` holds at least `bytes`: a put
// bigger than that is under way.
bool wait_for_a_file_of(const std::string& folder, uint64_t bytes) {
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    std::error_code error;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(folder, error)) {
      std::error_code size_error;
      if (entry.is_regular_file(size_error) && entry.file_size(size_error) >= bytes) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST_F(SftpStoreTest, ServerKilledMidPutLeavesTheOldValueOrNothingAndTheStoreRecovers) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const Bytes old_value = test_bytes(1, 1 << 20);
  const Bytes new_value = test_bytes(2, 64 << 20);
  ASSERT_TRUE(store->put("refs/main", old_value).is_ok());
  for (const std::string name : {"refs/main", "packs/new"}) {
    SCOPED_TRACE(name);
    Status put_status;
    std::thread writer([&] { put_status = store->put(name, new_value); });
    // Kill once the put has sent a few MiB of its 64: it is mid-way.
    const bool mid_way = wait_for_a_file_of(root_, 4 << 20);
    server_->kill();
    writer.join();
    ASSERT_TRUE(mid_way) << "the put never got going: " << put_status.to_string();
    EXPECT_EQ(put_status.code(), Code::kUnavailable) << put_status.to_string();
    if (name == "refs/main") {
      auto on_disk = read_file(root_ + "/" + name);
      ASSERT_TRUE(on_disk.is_ok());
      EXPECT_TRUE(*on_disk == old_value) << "the old value must survive whole";
    } else {
      EXPECT_FALSE(path_exists(root_ + "/" + name)) << "no partial object under its name";
    }
    // The same store works again once the server is back, and the put can be redone.
    ASSERT_TRUE(server_->restart().is_ok());
    auto listed = store->list("");
    ASSERT_TRUE(listed.is_ok()) << listed.status().to_string();
    EXPECT_EQ(std::count(listed->begin(), listed->end(), name), name == "refs/main" ? 1 : 0);
    ASSERT_TRUE(store->put(name, new_value).is_ok());
    auto got = store->get(name);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_TRUE(*got == new_value);
  }
}

// Kills the server at random moments of puts that replace an object, so
// some kills land in the fsync or the rename: the name always holds one
// whole value. Replay a failure with LARES_TEST_SEED=<seed>.
TEST_F(SftpStoreTest, ServerKilledAtRandomMomentsNeverTearsAnObject) {
  const uint64_t seed = testing::test_seed(20260607);
  SCOPED_TRACE("LARES_TEST_SEED=" + std::to_string(seed));
  SeededRandom random(seed);
  SftpOptions options = server_->options(root_);
  options.connections = 1;
  auto store = open_store(options);
  ASSERT_NE(store, nullptr);
  constexpr size_t kObjectBytes = 4 << 20;
  uint64_t current = 0;  // data seed of the value last known committed
  const auto start = Clock::now();
  ASSERT_TRUE(store->put("hot", test_bytes(current, kObjectBytes)).is_ok());
  // Kills fall anywhere in about one put's time.
  const auto put_us = static_cast<uint64_t>(seconds_since(start) * 1.5e6) + 1000;
  constexpr int kRounds = 10;
  int interrupted = 0;
  for (int round = 1; round <= kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const auto next = static_cast<uint64_t>(round);
    const Bytes next_value = test_bytes(next, kObjectBytes);
    Status put_status;
    std::thread writer([&] { put_status = store->put("hot", next_value); });
    std::this_thread::sleep_for(std::chrono::microseconds(random.uniform(put_us)));
    server_->kill();
    writer.join();
    auto on_disk = read_file(root_ + "/hot");
    ASSERT_TRUE(on_disk.is_ok());
    const bool is_old = *on_disk == test_bytes(current, kObjectBytes);
    const bool is_new = *on_disk == next_value;
    ASSERT_TRUE(is_new || (is_old && !put_status.is_ok())) << put_status.to_string();
    if (!put_status.is_ok()) ++interrupted;
    if (is_new) current = next;
    ASSERT_TRUE(server_->restart().is_ok());
  }
  std::printf("%d of %d kills interrupted a put\n", interrupted, kRounds);
  EXPECT_GT(interrupted, 0);
  auto got = store->get("hot");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_TRUE(*got == test_bytes(current, kObjectBytes));
}

// --- the client killed ---------------------------------------------------------
//
// A child process opens the store, puts, overwrites and removes objects and
// is killed with SIGKILL at a random moment; the objects it committed must
// all be there, the operation in flight all or nothing.

TEST_F(SftpStoreTest, ClientKilledAtRandomPointsLosesNothingCommitted) {
  const uint64_t seed = testing::test_seed(20260608);
  SCOPED_TRACE("LARES_TEST_SEED=" + std::to_string(seed));
  const SftpOptions options = server_->options(root_);
  ASSERT_NE(open_store(options), nullptr);
  testing::CrashLoopModel model(256 * 1024);
  auto open = [&]() -> Result<std::unique_ptr<ObjectStore>> {
    ASSIGN_OR_RETURN(auto store, SftpStore::open(options, CreateIfMissing::kNo));
    return std::unique_ptr<ObjectStore>(std::move(store));
  };
  auto new_name = [](SeededRandom& random, uint64_t round_seed, int j) {
    return "f" + std::to_string(random.uniform(3)) + "/" + std::to_string(round_seed) + "-" +
           std::to_string(j);
  };
  SeededRandom random(seed);
  for (int iteration = 0; iteration < 10; ++iteration) {
    SCOPED_TRACE("iteration " + std::to_string(iteration));
    auto in_flight =
        model.run_round(open, new_name, random.next() ^ static_cast<uint64_t>(iteration),
                        static_cast<uint32_t>(100'000 + random.uniform(300'000)));
    ASSERT_TRUE(in_flight.is_ok()) << in_flight.status().to_string();
    auto store = SftpStore::open(options, CreateIfMissing::kNo);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    Status verified = model.verify(**store, *in_flight);
    ASSERT_TRUE(verified.is_ok()) << verified.to_string();
  }
  EXPECT_GT(model.committed().size(), 5u);
}

}  // namespace
}  // namespace lares
