#include "util/random.h"

#include <sys/random.h>

#include <cerrno>

#include "util/check.h"

namespace lares {

void fill_random(MutableByteView out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0 && errno == EINTR) continue;
    LARES_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
}

uint64_t random_u64() {
  uint8_t buf[8];
  fill_random(buf);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(buf[i]) << (8 * i);
  return v;
}

std::string random_hex(size_t byte_count) {
  Bytes buf(byte_count);
  fill_random(buf);
  return to_hex(buf);
}

}  // namespace lares
