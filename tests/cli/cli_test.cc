// End-to-end tests of the `lares` binary: each runs the real executable with
// its own $LARES_HOME and device folders, and checks exit codes, stdout
// (JSON field names are an interface) and stderr messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "pool/pool.h"
#include "testing/cli_runner.h"
#include "testing/temp_dir.h"
#include "util/bytes.h"
#include "util/file.h"
#include "util/random.h"

namespace lares {
namespace {

constexpr uint64_t kSeed = 0x1a7e5c11;
constexpr size_t kDeviceCount = 4;
constexpr size_t kLargeFileBytes = 3 * 1024 * 1024;

using testing::RunResult;
using testing::shell_quote;

std::set<std::string> keys_of(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

Bytes random_bytes(size_t count, uint64_t seed) {
  SeededRandom random(seed);
  Bytes out(count);
  for (auto& byte : out) byte = static_cast<uint8_t>(random.next() >> 56);
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  CliTest() : home_(temp_.sub("home")) {
    for (size_t i = 0; i < kDeviceCount; ++i)
      devices_.push_back(temp_.sub("d" + std::to_string(i)));
  }

  // Runs `lares <args>` (args are shell words, already quoted where needed).
  RunResult lares(const std::string& args, const std::string& stdin_path = "/dev/null") {
    return testing::run_lares(LARES_BINARY, home_, args, stdin_path, temp_.sub("stderr.txt"));
  }

  std::string device_args() const {
    std::string words;
    for (const auto& device : devices_) words += " " + shell_quote(device);
    return words;
  }

  void create_pool() {
    RunResult created = lares("pool create tank --redundancy 2" + device_args());
    ASSERT_EQ(created.exit_code, 0) << created.err;
  }

  nlohmann::json json_of(const RunResult& result) {
    nlohmann::json value = nlohmann::json::parse(result.out, nullptr, false);
    EXPECT_FALSE(value.is_discarded()) << "not JSON: " << result.out;
    return value;
  }

  // Writes `data` to a file under the temporary folder and returns its path.
  std::string write_input(const std::string& name, const Bytes& data) {
    std::string path = temp_.sub(name);
    EXPECT_TRUE(write_file_atomic(path, data, Sync::kNo).is_ok());
    return path;
  }

  Bytes read_back(const std::string& path) {
    Result<Bytes> data = read_file(path);
    EXPECT_TRUE(data.is_ok()) << data.status().to_string();
    return data.is_ok() ? *data : Bytes();
  }

  lares::testing::TempDir temp_;
  std::string home_;
  std::vector<std::string> devices_;
};

TEST_F(CliTest, StatusJsonHasExactlyTheDocumentedFields) {
  create_pool();
  RunResult status = lares("pool status tank --json");
  ASSERT_EQ(status.exit_code, 0) << status.err;
  nlohmann::json pool = json_of(status);
  EXPECT_EQ(keys_of(pool), (std::set<std::string>{"name", "state", "redundancy", "devices"}));
  EXPECT_EQ(pool["name"], "tank");
  EXPECT_EQ(pool["state"], "ONLINE");
  EXPECT_EQ(pool["redundancy"], 2);
  ASSERT_EQ(pool["devices"].size(), kDeviceCount);
  const std::set<std::string> device_fields = {
      "path", "state", "size_bytes", "used_bytes", "read_errors", "checksum_errors", "repaired"};
  std::set<std::string> paths;
  for (const auto& device : pool["devices"]) {
    EXPECT_EQ(keys_of(device), device_fields);
    EXPECT_EQ(device["state"], "ONLINE");
    paths.insert(device["path"].get<std::string>());
  }
  for (const auto& dir : devices_) EXPECT_TRUE(paths.count(absolute_path(dir))) << dir;

  RunResult table = lares("pool status tank");
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("ONLINE"), std::string::npos) << table.out;
}

TEST_F(CliTest, ObjectPutGetRoundTripsARandomFile) {
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  create_pool();
  Bytes data = random_bytes(kLargeFileBytes, kSeed);
  std::string input = write_input("input.bin", data);
  RunResult put = lares("object put tank videos/clip.bin " + shell_quote(input));
  ASSERT_EQ(put.exit_code, 0) << put.err;

  std::string output = temp_.sub("output.bin");
  RunResult get = lares("object get tank videos/clip.bin " + shell_quote(output));
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_TRUE(read_back(output) == data);

  RunResult to_stdout = lares("object get tank videos/clip.bin -");
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  EXPECT_TRUE(to_stdout.out == as_chars(data));

  RunResult range = lares("object get tank videos/clip.bin --offset 1000 --length 70000");
  ASSERT_EQ(range.exit_code, 0) << range.err;
  EXPECT_TRUE(range.out == as_chars(ByteView(data).subspan(1000, 70000)));

  // "-" reads standard input.
  RunResult from_stdin = lares("object put tank small -", input);
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_TRUE(lares("object get tank small").out == as_chars(data));
}

TEST_F(CliTest, ListsPoolsAndObjectsAsJson) {
  create_pool();
  RunResult pools = lares("pool list --json");
  ASSERT_EQ(pools.exit_code, 0) << pools.err;
  nlohmann::json list = json_of(pools);
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(keys_of(list[0]), (std::set<std::string>{"name", "id", "state", "devices"}));
  EXPECT_EQ(list[0]["name"], "tank");
  EXPECT_EQ(list[0]["state"], "ONLINE");
  EXPECT_EQ(list[0]["devices"], kDeviceCount);
  EXPECT_EQ(list[0]["id"].get<std::string>().size(), 32u);

  std::string input = write_input("small.txt", Bytes{'h', 'i'});
  for (const char* name : {"a/1", "a/2", "b/1"}) {
    ASSERT_EQ(lares(std::string("object put tank ") + name + " " + input).exit_code, 0);
  }
  RunResult objects = lares("object list tank --prefix a/ --json");
  ASSERT_EQ(objects.exit_code, 0) << objects.err;
  EXPECT_EQ(json_of(objects), nlohmann::json({"a/1", "a/2"}));

  ASSERT_EQ(lares("object rm tank a/1").exit_code, 0);
  EXPECT_EQ(json_of(lares("object list tank --json")), nlohmann::json({"a/2", "b/1"}));
  EXPECT_EQ(lares("object rm tank a/1").exit_code, 1);
}

TEST_F(CliTest, ExportThenImportBringsThePoolBack) {
  create_pool();
  Bytes data = random_bytes(100000, kSeed + 1);
  std::string input = write_input("input.bin", data);
  ASSERT_EQ(lares("object put tank keep " + shell_quote(input)).exit_code, 0);

  RunResult exported = lares("pool export tank");
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(json_of(lares("pool list --json")), nlohmann::json::array());
  RunResult gone = lares("pool status tank");
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("lares pool import"), std::string::npos) << gone.err;

  RunResult imported = lares("pool import" + device_args());
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.out.find("tank"), std::string::npos) << imported.out;
  EXPECT_NE(imported.out.find("ONLINE"), std::string::npos) << imported.out;
  EXPECT_TRUE(lares("object get tank keep").out == as_chars(data));

  RunResult again = lares("pool import" + device_args());
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already"), std::string::npos) << again.err;
}

TEST_F(CliTest, UsageErrorsExitTwoWithAHint) {
  RunResult unknown = lares("frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("lares --help"), std::string::npos) << unknown.err;

  RunResult bad_redundancy = lares("pool create tank --redundancy 7" + device_args());
  EXPECT_EQ(bad_redundancy.exit_code, 2);
  EXPECT_NE(bad_redundancy.err.find("lares pool create --help"), std::string::npos)
      << bad_redundancy.err;
  EXPECT_FALSE(path_exists(join_path(devices_[0], "lares-label")));

  EXPECT_EQ(lares("pool").exit_code, 2);
  EXPECT_EQ(lares("pool frobnicate").exit_code, 2);
  EXPECT_EQ(lares("object get tank").exit_code, 2);
  EXPECT_EQ(lares("pool scrub tank --max-rate fast").exit_code, 2);
  EXPECT_EQ(lares("pool create 'bad name'" + device_args()).exit_code, 1);

  RunResult version = lares("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("lares"), std::string::npos) << version.out;
  EXPECT_EQ(lares("pool --help").exit_code, 0);
}

TEST_F(CliTest, UnknownPoolSaysWhatToDo) {
  RunResult status = lares("pool status nothere");
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_NE(status.err.find("lares: "), std::string::npos) << status.err;
  EXPECT_NE(status.err.find("lares pool list"), std::string::npos) << status.err;
}

TEST_F(CliTest, ScrubOfAHealthyPoolExitsZero) {
  create_pool();
  std::string input = write_input("input.bin", random_bytes(300000, kSeed + 2));
  ASSERT_EQ(lares("object put tank one " + shell_quote(input)).exit_code, 0);
  RunResult scrub = lares("pool scrub tank --json --max-rate 500M/s");
  ASSERT_EQ(scrub.exit_code, 0) << scrub.err;
  nlohmann::json report = json_of(scrub);
  for (const char* field : {"bytes_scanned", "objects_scanned", "errors_found", "repaired",
                            "unrecoverable", "seconds"}) {
    EXPECT_TRUE(report.contains(field)) << field;
  }
  EXPECT_EQ(report["unrecoverable"], 0);
  EXPECT_EQ(report["errors_found"], 0);
  EXPECT_GE(report["objects_scanned"].get<uint64_t>(), 1u);

  RunResult again = lares("pool scrub tank --restart");
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST_F(CliTest, MissingDeviceDegradesThePoolButObjectsStillRead) {
  create_pool();
  Bytes data = random_bytes(kLargeFileBytes, kSeed + 3);
  std::string input = write_input("input.bin", data);
  ASSERT_EQ(lares("object put tank precious " + shell_quote(input)).exit_code, 0);

  std::filesystem::remove_all(devices_[1]);
  RunResult status = lares("pool status tank --json");
  ASSERT_EQ(status.exit_code, 0) << status.err;
  nlohmann::json pool = json_of(status);
  EXPECT_EQ(pool["state"], "DEGRADED");
  int online = 0;
  for (const auto& device : pool["devices"]) online += device["state"] == "ONLINE" ? 1 : 0;
  EXPECT_EQ(online, static_cast<int>(kDeviceCount) - 1);

  RunResult get = lares("object get tank precious");
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_TRUE(get.out == as_chars(data));
  EXPECT_EQ(json_of(lares("pool list --json"))[0]["state"], "DEGRADED");
}

TEST_F(CliTest, CorruptRegistryIsAClearErrorNamingTheFile) {
  create_pool();
  std::string registry = join_path(home_, "pools.json");
  for (const char* text : {"{ not json", "{\"format\": 1, \"pools\": [{\"name\": 7}]}", "[]"}) {
    ASSERT_TRUE(write_file_atomic(registry, as_bytes(text), Sync::kNo).is_ok());
    RunResult list = lares("pool list");
    EXPECT_EQ(list.exit_code, 1) << text;
    EXPECT_NE(list.err.find("lares: "), std::string::npos) << list.err;
    EXPECT_NE(list.err.find(registry), std::string::npos) << list.err;
  }
}

TEST_F(CliTest, SecondWriterIsToldThePoolIsInUse) {
  create_pool();
  std::vector<std::string> dirs;
  for (const auto& device : devices_) dirs.push_back(absolute_path(device));
  {
    // This process holds the pool open for writing, as `lares serve` would.
    Result<std::unique_ptr<Pool>> holder = Pool::open(dirs);
    ASSERT_TRUE(holder.is_ok()) << holder.status().to_string();
    for (const char* command : {"pool export tank", "object rm tank x", "pool scrub tank"}) {
      RunResult busy = lares(command);
      EXPECT_EQ(busy.exit_code, 1) << command;
      EXPECT_NE(busy.err.find("in use"), std::string::npos) << busy.err;
    }
    EXPECT_EQ(lares("pool export --force tank").exit_code, 1);
    // Readers never wait for the writer.
    EXPECT_EQ(lares("pool status tank --json").exit_code, 0);
  }
  EXPECT_EQ(lares("pool export tank").exit_code, 0);
}

TEST_F(CliTest, ForcedExportForgetsAPoolWhoseDevicesAreGone) {
  create_pool();
  for (const auto& device : devices_) std::filesystem::remove_all(device);
  EXPECT_EQ(json_of(lares("pool list --json"))[0]["state"], "FAULTED");
  RunResult refused = lares("pool export tank");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
  RunResult forced = lares("pool export --force tank");
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(json_of(lares("pool list --json")), nlohmann::json::array());
}

TEST_F(CliTest, AddReplaceAndRemoveKeepTheRegistryInStep) {
  create_pool();
  std::string input = write_input("input.bin", random_bytes(200000, kSeed + 4));
  ASSERT_EQ(lares("object put tank one " + shell_quote(input)).exit_code, 0);
  std::string extra = temp_.sub("d4");
  std::string spare = temp_.sub("d5");

  RunResult added = lares("pool add tank " + shell_quote(extra));
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_EQ(json_of(lares("pool list --json"))[0]["devices"], kDeviceCount + 1);

  RunResult replaced =
      lares("pool replace tank " + shell_quote(devices_[0]) + " " + shell_quote(spare));
  ASSERT_EQ(replaced.exit_code, 0) << replaced.err;
  std::string registry = std::string(as_chars(read_back(join_path(home_, "pools.json"))));
  EXPECT_NE(registry.find(absolute_path(spare)), std::string::npos) << registry;
  EXPECT_EQ(registry.find(absolute_path(devices_[0]) + "\""), std::string::npos) << registry;

  RunResult removed = lares("pool remove tank " + shell_quote(extra));
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(json_of(lares("pool list --json"))[0]["devices"], kDeviceCount);
  EXPECT_TRUE(lares("object get tank one").out == as_chars(read_back(input)));
}

}  // namespace
}  // namespace lares
