#include "testing/pool_fixture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "util/check.h"
#include "util/random.h"

namespace lares::testing {

Bytes test_bytes(uint64_t seed, size_t size) {
  SeededRandom random(seed * 0x9e3779b97f4a7c15ULL + size);
  Bytes out(size);
  size_t i = 0;
  while (i < size) {
    size_t run = 1 + random.uniform(512);
    bool noise = random.uniform(2) == 0;
    uint8_t fill = static_cast<uint8_t>(random.next());
    for (size_t j = 0; j < run && i < size; ++j, ++i) {
      out[i] = noise ? static_cast<uint8_t>(random.next()) : fill;
    }
  }
  return out;
}

std::vector<std::string> shard_files(const std::string& device_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  std::filesystem::path root = device_dir + "/shards";
  if (!std::filesystem::exists(root, ec)) return out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root, ec)) {
    if (!entry.is_regular_file()) continue;
    std::string name = entry.path().filename().string();
    if (name.size() == 32) out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void flip_bit(const std::string& path, uint64_t bit_offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  LARES_CHECK(fd >= 0);
  uint8_t byte = 0;
  LARES_CHECK(::pread(fd, &byte, 1, static_cast<off_t>(bit_offset / 8)) == 1);
  byte = static_cast<uint8_t>(byte ^ (1u << (bit_offset % 8)));
  LARES_CHECK(::pwrite(fd, &byte, 1, static_cast<off_t>(bit_offset / 8)) == 1);
  ::close(fd);
}

void truncate_to(const std::string& path, uint64_t size) {
  LARES_CHECK(::truncate(path.c_str(), static_cast<off_t>(size)) == 0);
}

void write_junk(const std::string& path, uint64_t seed, size_t size) {
  Bytes junk = test_bytes(seed, size);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  LARES_CHECK(fd >= 0);
  LARES_CHECK(::write(fd, junk.data(), junk.size()) == static_cast<ssize_t>(junk.size()));
  ::close(fd);
}

uint64_t size_of(const std::string& path) {
  struct stat st;
  LARES_CHECK(::stat(path.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_size);
}

Key32 sequential_key(uint8_t first) {
  Key32 key;
  for (size_t i = 0; i < Key32::kSize; ++i) key.data()[i] = static_cast<uint8_t>(first + i);
  return key;
}

uint64_t test_seed(uint64_t fixed_default) {
  const char* env = std::getenv("LARES_TEST_SEED");
  if (env != nullptr && *env != '\0') {
    if (std::string(env) == "random") return random_u64();
    return std::strtoull(env, nullptr, 0);
  }
  return fixed_default;
}

}  // namespace lares::testing
