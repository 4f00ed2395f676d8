#include "util/bytes.h"

#include <cmath>
#include <cstdio>

namespace lares {

std::string to_hex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

bool parse_size(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 32) return false;
  std::string s(text);
  char* end = nullptr;
  double value = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !(value >= 0) || !std::isfinite(value)) return false;
  std::string_view suffix(end);
  if (!suffix.empty() && (suffix.back() == 'B' || suffix.back() == 'b')) suffix.remove_suffix(1);
  if (suffix.size() > 1 && suffix.back() == 'i') suffix.remove_suffix(1);
  double multiplier = 1;
  if (suffix.size() > 1) return false;
  if (suffix.size() == 1) {
    switch (suffix[0]) {
      case 'k':
      case 'K': multiplier = 1024.0; break;
      case 'm':
      case 'M': multiplier = 1024.0 * 1024; break;
      case 'g':
      case 'G': multiplier = 1024.0 * 1024 * 1024; break;
      case 't':
      case 'T': multiplier = 1024.0 * 1024 * 1024 * 1024; break;
      default: return false;
    }
  }
  double total = value * multiplier;
  if (total > 1.8e19) return false;
  *out = static_cast<uint64_t>(total);
  return true;
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  }
  return buf;
}

namespace {

int hex_digit(char c, HexCase accept) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (accept == HexCase::kEither && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool decode_hex(std::string_view hex, MutableByteView out, HexCase accept) {
  if (hex.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int high = hex_digit(hex[2 * i], accept);
    const int low = hex_digit(hex[2 * i + 1], accept);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return true;
}

}  // namespace lares
