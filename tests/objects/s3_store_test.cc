// S3Store against a real S3 server: Ceph's radosgw on a one-node Ceph
// cluster on 127.0.0.1 (testing::S3Server, scripts/s3-test-server.sh). The
// server starts once per test binary, on the first test that needs it; each
// test uses a bucket of its own. Without the Ceph binaries the tests that
// need the server skip, except under CI=true, where they fail.
#include "objects/s3_store.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "objects/dir_store.h"
#include "testing/pool_fixture.h"
#include "testing/s3_server.h"
#include "testing/temp_dir.h"
#include "util/random.h"

namespace lares {
namespace {

using testing::S3Server;
using testing::test_bytes;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1 << 20;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string as_string(const Bytes& bytes) { return std::string(as_chars(bytes)); }

// The one server of this binary, started on first use and stopped at exit.
bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// A port on 127.0.0.1 where nothing listens (bound, then closed).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = testing::shared_s3_server(LARES_SOURCE_DIR "/scripts/s3-test-server.sh", &why);
    if (server_ == nullptr) {
      if (in_ci() || why.starts_with("radosgw did not start")) FAIL() << why;
      GTEST_SKIP() << why;
    }
    // Bucket names: 3..63 characters of [a-z0-9-].
    bucket_ = "lares-test-" + random_hex(6);
  }

  S3Options options() const { return server_->options(bucket_); }

  std::unique_ptr<S3Store> open_store(const S3Options& options) {
    Result<std::unique_ptr<S3Store>> store = S3Store::open(options, CreateIfMissing::kYes);
    EXPECT_TRUE(store.is_ok()) << store.status().to_string();
    return store.is_ok() ? std::move(store).value() : nullptr;
  }
  std::unique_ptr<S3Store> open_store() { return open_store(options()); }

  S3Server* server_ = nullptr;
  std::string bucket_;
};

// ---- Without a server --------------------------------------------------------

TEST(S3OptionsTest, FromEnvironmentFillsOnlyEmptyFields) {
  ::setenv("AWS_ACCESS_KEY_ID", "env-access", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  ::setenv("AWS_SESSION_TOKEN", "env-token", 1);
  ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
  ::unsetenv("AWS_REGION");
  ::setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
  S3Options filled = S3Options::from_environment();
  EXPECT_EQ(filled.access_key, "env-access");
  EXPECT_EQ(filled.secret_key, "env-secret");
  EXPECT_EQ(filled.session_token, "env-token");
  EXPECT_EQ(filled.endpoint, "http://127.0.0.1:9");
  EXPECT_EQ(filled.region, "eu-west-3");

  ::setenv("AWS_REGION", "ap-south-1", 1);  // wins over AWS_DEFAULT_REGION
  S3Options base;
  base.access_key = "mine";
  base.endpoint = "https://example.test";
  filled = S3Options::from_environment(base);
  EXPECT_EQ(filled.access_key, "mine");
  EXPECT_EQ(filled.secret_key, "env-secret");
  EXPECT_EQ(filled.endpoint, "https://example.test");
  EXPECT_EQ(filled.region, "ap-south-1");
  base.region = "sa-east-1";  // chosen: kept
  EXPECT_EQ(S3Options::from_environment(base).region, "sa-east-1");

  for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                           "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"}) {
    ::unsetenv(name);
  }
}

TEST(S3OptionsTest, OpenRejectsBadOptions) {
  S3Options good;
  good.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  good.bucket = "bucket";
  good.access_key = "a";
  good.secret_key = "s";
  std::vector<S3Options> bad(9, good);
  bad[0].bucket = "";
  bad[1].bucket = "a/b";
  bad[2].secret_key = "";
  bad[3].part_size_bytes = 1 * kMiB;
  bad[4].endpoint = "ftp://127.0.0.1";
  bad[5].endpoint = "http://127.0.0.1:7480/some/path";
  bad[6].connections = 0;
  bad[7].list_max_keys = 1001;
  bad[8].prefix = "/rooted";
  for (size_t i = 0; i < bad.size(); ++i) {
    Result<std::unique_ptr<S3Store>> store = S3Store::open(bad[i], CreateIfMissing::kYes);
    ASSERT_FALSE(store.is_ok()) << i;
    EXPECT_EQ(store.status().code(), Code::kInvalidArgument)
        << i << ": " << store.status().to_string();
  }
}

TEST(S3OptionsTest, AnUnreachableServerIsUnavailableAfterRetries) {
  S3Options options;
  options.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  options.bucket = "bucket";
  options.access_key = "a";
  options.secret_key = "s";
  options.max_retries = 3;
  options.retry_delay_ms_initial = 10;
  options.retry_delay_ms_max = 40;
  const auto start = Clock::now();
  Result<std::unique_ptr<S3Store>> store = S3Store::open(options, CreateIfMissing::kYes);
  ASSERT_FALSE(store.is_ok());
  EXPECT_EQ(store.status().code(), Code::kUnavailable) << store.status().to_string();
  EXPECT_NE(store.status().message().find("after 4 attempts"), std::string::npos)
      << store.status().message();
  EXPECT_LT(seconds_since(start), 5.0);
}

// ---- Against radosgw ---------------------------------------------------------

TEST_F(S3StoreTest, OpenFindsOrCreatesTheBucket) {
  Result<std::unique_ptr<S3Store>> missing = S3Store::open(options(), CreateIfMissing::kNo);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().to_string();
  ASSERT_NE(open_store(), nullptr);  // creates it
  Result<std::unique_ptr<S3Store>> found = S3Store::open(options(), CreateIfMissing::kNo);
  ASSERT_TRUE(found.is_ok()) << found.status().to_string();
  ASSERT_NE(open_store(), nullptr);  // exists already: fine
}

TEST_F(S3StoreTest, PutGetSizeListRemoveRoundTrip) {
  S3Options with_prefix = options();
  with_prefix.prefix = "lares/repo";  // a '/' is added
  auto store = open_store(with_prefix);
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> names = {"a", "dir/b", "dir/sub/c",
                                          "odd-chars/a+b=c~d&e%20f(g)'h,i;j:k@l$m!n*o", "z"};
  for (size_t i = 0; i < names.size(); ++i) {
    const Status put = store->put(names[i], test_bytes(i, 100 + i));
    ASSERT_TRUE(put.is_ok()) << names[i] << ": " << put.to_string();
  }
  for (size_t i = 0; i < names.size(); ++i) {
    Result<Bytes> data = store->get(names[i]);
    ASSERT_TRUE(data.is_ok()) << names[i] << ": " << data.status().to_string();
    EXPECT_EQ(*data, test_bytes(i, 100 + i)) << names[i];
    Result<uint64_t> size = store->size(names[i]);
    ASSERT_TRUE(size.is_ok()) << size.status().to_string();
    EXPECT_EQ(*size, 100 + i);
  }
  Result<std::vector<std::string>> all = store->list("");
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  EXPECT_EQ(*all, names);
  EXPECT_EQ(*store->list("dir/"), (std::vector<std::string>{"dir/b", "dir/sub/c"}));
  EXPECT_EQ(*store->list("di"), (std::vector<std::string>{"dir/b", "dir/sub/c"}));
  EXPECT_TRUE(store->list("nothing/")->empty());

  // The prefix is a folder of the bucket: a store without it sees the keys.
  auto whole_bucket = open_store();
  ASSERT_NE(whole_bucket, nullptr);
  EXPECT_EQ(whole_bucket->list("")->size(), names.size());
  EXPECT_EQ(whole_bucket->list("")->front(), "lares/repo/a");

  // A put replaces the value whole.
  ASSERT_TRUE(store->put("a", as_bytes("new value")).is_ok());
  EXPECT_EQ(as_string(*store->get("a")), "new value");

  // When it was written, from Last-Modified (a minimum storage duration
  // depends on it): within a minute of now, on a loopback server.
  Result<int64_t> written = store->modified_unix("a");
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  EXPECT_LE(std::abs(*written - static_cast<int64_t>(std::time(nullptr))), 60);
  EXPECT_EQ(store->modified_unix("nothing").status().code(), Code::kNotFound);

  ASSERT_TRUE(store->remove("dir/b").is_ok());
  EXPECT_EQ(store->get("dir/b").status().code(), Code::kNotFound);
  EXPECT_EQ(store->size("dir/b").status().code(), Code::kNotFound);
  EXPECT_EQ(store->remove("dir/b").code(), Code::kNotFound);
  EXPECT_EQ(*store->list("dir/"), (std::vector<std::string>{"dir/sub/c"}));
}

TEST_F(S3StoreTest, VirtualHostedAddressing) {
  S3Options virtual_hosted = options();
  virtual_hosted.path_style = false;
  const std::string port = virtual_hosted.endpoint.substr(virtual_hosted.endpoint.rfind(':'));
  virtual_hosted.endpoint = "http://localhost" + port;  // requests go to BUCKET.localhost
  auto store = open_store(virtual_hosted);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("dir/a+b", as_bytes("virtual")).is_ok());
  EXPECT_EQ(as_string(*store->get("dir/a+b")), "virtual");
  EXPECT_EQ(*store->list(""), std::vector<std::string>{"dir/a+b"});
  // The same bucket, path-style.
  auto path_style = open_store();
  ASSERT_NE(path_style, nullptr);
  EXPECT_EQ(as_string(*path_style->get("dir/a+b")), "virtual");
  EXPECT_TRUE(store->remove("dir/a+b").is_ok());
}

TEST_F(S3StoreTest, InvalidNamesAreRefusedBeforeAnyRequest) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  for (const std::string name : {"", "/a", "a//b", "a/../b", "x.tmp", "tab\there"}) {
    EXPECT_EQ(store->put(name, as_bytes("x")).code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(store->get(name).status().code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(store->remove(name).code(), Code::kInvalidArgument) << name;
  }
}

// Ranged reads behave as DirStore's: clipped at the end, empty past it.
TEST_F(S3StoreTest, RangedGetsMatchDirStore) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  testing::TempDir dir;
  Result<std::unique_ptr<DirStore>> reference = DirStore::open(dir.path(), CreateIfMissing::kYes);
  ASSERT_TRUE(reference.is_ok());
  const Bytes data = test_bytes(7, 1000);
  ASSERT_TRUE(store->put("object", data).is_ok());
  ASSERT_TRUE((*reference)->put("object", data).is_ok());
  ASSERT_TRUE(store->put("empty", {}).is_ok());
  ASSERT_TRUE((*reference)->put("empty", {}).is_ok());

  struct Range {
    uint64_t offset;
    uint64_t length;
  };
  const Range ranges[] = {{0, 10},          {0, 1000},
                          {0, 1001},        {1, 998},
                          {990, 100},       {999, 1},
                          {1000, 1},        {1000, 0},
                          {5000, 10},       {0, 0},
                          {10, UINT64_MAX}, {0, UINT64_MAX},
                          {UINT64_MAX, 1},  {UINT64_MAX - 5, UINT64_MAX}};
  for (const std::string name : {"object", "empty"}) {
    for (const Range& range : ranges) {
      Result<Bytes> got = store->get(name, range.offset, range.length);
      Result<Bytes> want = (*reference)->get(name, range.offset, range.length);
      ASSERT_TRUE(want.is_ok());
      ASSERT_TRUE(got.is_ok()) << name << " " << range.offset << "+" << range.length << ": "
                               << got.status().to_string();
      EXPECT_EQ(*got, *want) << name << " " << range.offset << "+" << range.length;
    }
  }
  for (const Range& range : ranges) {
    EXPECT_EQ(store->get("missing", range.offset, range.length).status().code(), Code::kNotFound);
  }
}

TEST_F(S3StoreTest, EmptyObject) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("empty", {}).is_ok());
  Result<Bytes> data = store->get("empty");
  ASSERT_TRUE(data.is_ok()) << data.status().to_string();
  EXPECT_TRUE(data->empty());
  EXPECT_EQ(*store->size("empty"), 0u);
  EXPECT_EQ(*store->list(""), std::vector<std::string>{"empty"});
}

TEST_F(S3StoreTest, LargeObjectsGoUpInParts) {
  S3Options multipart = options();
  multipart.multipart_threshold_bytes = 5 * kMiB;
  multipart.part_size_bytes = 5 * kMiB;  // S3's minimum
  std::atomic<int> parts_uploaded{0};
  multipart.part_uploaded_observer = [&](uint32_t) { ++parts_uploaded; };
  auto store = open_store(multipart);
  ASSERT_NE(store, nullptr);

  const Bytes data = test_bytes(11, 12 * kMiB + 123);  // 3 parts, the last one short
  ASSERT_TRUE(store->put("big", data).is_ok());
  EXPECT_EQ(parts_uploaded, 3);
  EXPECT_EQ(*store->size("big"), data.size());
  Result<Bytes> back = store->get("big");
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_TRUE(*back == data);
  // A range across the first part boundary.
  Result<Bytes> across = store->get("big", 5 * kMiB - 10, 20);
  ASSERT_TRUE(across.is_ok());
  EXPECT_TRUE(std::equal(across->begin(), across->end(), data.begin() + 5 * kMiB - 10));

  // At the threshold exactly: one part.
  parts_uploaded = 0;
  const Bytes one_part = test_bytes(12, 5 * kMiB);
  ASSERT_TRUE(store->put("one-part", one_part).is_ok());
  EXPECT_EQ(parts_uploaded, 1);
  EXPECT_TRUE(*store->get("one-part") == one_part);
  // Just under it: a single PUT.
  parts_uploaded = 0;
  ASSERT_TRUE(store->put("single", test_bytes(13, 5 * kMiB - 1)).is_ok());
  EXPECT_EQ(parts_uploaded, 0);
  EXPECT_EQ(*store->list(""), (std::vector<std::string>{"big", "one-part", "single"}));
}

TEST_F(S3StoreTest, ListingsSpanManyPages) {
  S3Options small_pages = options();
  small_pages.list_max_keys = 3;
  auto store = open_store(small_pages);
  ASSERT_NE(store, nullptr);
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("p/" + std::to_string(9 - i));
  names.push_back("q/a");
  names.push_back("a");
  for (const std::string& name : names) ASSERT_TRUE(store->put(name, as_bytes(name)).is_ok());
  std::sort(names.begin(), names.end());
  Result<std::vector<std::string>> all = store->list("");
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  EXPECT_EQ(*all, names);  // 12 keys, 4 pages
  Result<std::vector<std::string>> p = store->list("p/");
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->size(), 10u);
  EXPECT_EQ(p->front(), "p/0");
  EXPECT_EQ(p->back(), "p/9");
}

TEST_F(S3StoreTest, ConcurrentUseFromFourThreads) {
  S3Options few_connections = options();
  few_connections.connections = 2;  // threads wait for connections
  auto store = open_store(few_connections);
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 4;
  constexpr int kObjectsPerThread = 12;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kObjectsPerThread; ++i) {
        const std::string name = "t" + std::to_string(t) + "/" + std::to_string(i);
        const Bytes data = test_bytes(static_cast<uint64_t>(t * 100 + i), 1000 + i * 37);
        if (!store->put(name, data).is_ok()) ++failures;
        Result<Bytes> back = store->get(name);
        if (!back.is_ok() || *back != data) ++failures;
        Result<Bytes> part = store->get(name, 10, 20);
        if (!part.is_ok() || !std::equal(part->begin(), part->end(), data.begin() + 10)) {
          ++failures;
        }
        if (!store->list("t" + std::to_string(t) + "/").is_ok()) ++failures;
        if (i % 3 == 0 && !store->remove(name).is_ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(store->list("")->size(), static_cast<size_t>(kThreads * (kObjectsPerThread * 2 / 3)));
}

TEST_F(S3StoreTest, AWrongSecretIsPermissionDeniedAndNotRetried) {
  auto store = open_store();  // makes the bucket
  ASSERT_NE(store, nullptr);
  S3Options wrong = options();
  wrong.secret_key += "x";
  wrong.retry_delay_ms_initial = 2000;  // a retry would show in the time taken
  wrong.retry_delay_ms_max = 2000;
  const auto start = Clock::now();
  Result<std::unique_ptr<S3Store>> opened = S3Store::open(wrong, CreateIfMissing::kNo);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().code(), Code::kPermissionDenied) << opened.status().to_string();
  EXPECT_LT(seconds_since(start), 1.0);
}

// Keys revoked while a store is open: the requests S3 refuses with an error
// body report S3's code.
TEST_F(S3StoreTest, AChangedSecretIsPermissionDeniedWithTheS3Code) {
  const std::string user = "other-" + random_hex(4);
  const std::string access_key = "OTHER" + random_hex(8);
  ASSERT_TRUE(server_
                  ->admin("user create --uid=" + user + " --display-name=other --access-key=" +
                          access_key + " --secret-key=first-secret")
                  .is_ok());
  S3Options other = options();
  other.access_key = access_key;
  other.secret_key = "first-secret";
  auto store = open_store(other);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("a", as_bytes("a")).is_ok());
  ASSERT_TRUE(server_
                  ->admin("key create --uid=" + user + " --access-key=" + access_key +
                          " --secret-key=second-secret")
                  .is_ok());
  Status put = store->put("b", as_bytes("b"));
  EXPECT_EQ(put.code(), Code::kPermissionDenied) << put.to_string();
  EXPECT_NE(put.message().find("SignatureDoesNotMatch"), std::string::npos) << put.to_string();
  Result<Bytes> get = store->get("a");
  EXPECT_EQ(get.status().code(), Code::kPermissionDenied) << get.status().to_string();
}

TEST_F(S3StoreTest, StorageClassHeaderIsSent) {
  S3Options standard = options();
  standard.storage_class = "STANDARD";
  standard.multipart_threshold_bytes = 5 * kMiB;
  standard.part_size_bytes = 5 * kMiB;
  auto store = open_store(standard);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("small", as_bytes("x")).is_ok());
  ASSERT_TRUE(store->put("large", test_bytes(3, 6 * kMiB)).is_ok());

  // radosgw knows only the classes of its placement targets: an unknown one
  // is refused (400 InvalidArgument), which shows the header reaches it.
  S3Options unknown = standard;
  unknown.storage_class = "NO_SUCH_CLASS";
  auto refusing = open_store(unknown);
  ASSERT_NE(refusing, nullptr);
  Status small = refusing->put("small2", as_bytes("x"));
  EXPECT_EQ(small.code(), Code::kIOError) << small.to_string();
  EXPECT_NE(small.message().find("HTTP 400"), std::string::npos) << small.to_string();
  Status large = refusing->put("large2", test_bytes(3, 6 * kMiB));
  EXPECT_EQ(large.code(), Code::kIOError) << large.to_string();
  EXPECT_EQ(*store->list(""), (std::vector<std::string>{"large", "small"}));
}

TEST_F(S3StoreTest, ADeadServerIsUnavailableAndComesBack) {
  S3Options quick = options();
  quick.max_retries = 2;
  auto store = open_store(quick);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put("a", as_bytes("before")).is_ok());
  ASSERT_TRUE(server_->kill().is_ok());
  Result<Bytes> get = store->get("a");
  EXPECT_EQ(get.status().code(), Code::kUnavailable) << get.status().to_string();
  EXPECT_EQ(store->put("b", as_bytes("x")).code(), Code::kUnavailable);
  ASSERT_TRUE(server_->restart().is_ok()) << server_->logs();
  // The same store (its pooled connections broke) works again.
  Result<Bytes> again = store->get("a");
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(as_string(*again), "before");
  EXPECT_EQ(store->get("b").status().code(), Code::kNotFound);
}

// radosgw dies mid multipart upload: the object keeps its old value, whole,
// and a later put succeeds.
TEST_F(S3StoreTest, ServerKilledMidMultipartUploadLeavesTheOldValue) {
  S3Options multipart = options();
  multipart.multipart_threshold_bytes = 5 * kMiB;
  multipart.part_size_bytes = 5 * kMiB;
  multipart.connections = 1;  // parts in order
  multipart.max_retries = 2;
  std::atomic<bool> killed{false};
  multipart.part_uploaded_observer = [&](uint32_t part_number) {
    if (part_number == 2 && !killed.exchange(true)) {
      ASSERT_TRUE(server_->kill().is_ok());
    }
  };
  auto store = open_store(multipart);
  ASSERT_NE(store, nullptr);
  const Bytes old_value = test_bytes(1, 1000);
  ASSERT_TRUE(store->put("object", old_value).is_ok());

  const Bytes new_value = test_bytes(2, 22 * kMiB);  // 5 parts
  Status put = store->put("object", new_value);
  ASSERT_TRUE(killed);
  EXPECT_EQ(put.code(), Code::kUnavailable) << put.to_string();
  ASSERT_TRUE(server_->restart().is_ok()) << server_->logs();

  Result<Bytes> after = store->get("object");
  ASSERT_TRUE(after.is_ok()) << after.status().to_string();
  EXPECT_TRUE(*after == old_value) << "a torn object of " << after->size() << " bytes";
  EXPECT_EQ(*store->list(""), std::vector<std::string>{"object"});

  killed = true;  // no more kills
  ASSERT_TRUE(store->put("object", new_value).is_ok());
  EXPECT_TRUE(*store->get("object") == new_value);
}

}  // namespace
}  // namespace lares
