// Small JSON state files (registry, scrub cursor, device counters), replaced
// atomically. Parse errors are kCorruption, never exceptions.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "util/status.h"

namespace lares {

Result<nlohmann::json> parse_json(std::string_view text, const std::string& what);
Result<nlohmann::json> read_json_file(const std::string& path);
Status write_json_file(const std::string& path, const nlohmann::json& value);

// True when `value` is an integer JSON number that fits T exactly. Floats,
// strings and out-of-range integers are rejected, never converted: nlohmann's
// get<T>() on those is undefined behaviour or silent wrapping.
template <typename T>
bool json_integer_fits(const nlohmann::json& value) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  if (value.is_number_unsigned()) {
    return value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  }
  if (value.is_number_integer()) {
    int64_t v = value.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      return v >= 0 && static_cast<uint64_t>(v) <= std::numeric_limits<T>::max();
    } else {
      return v >= std::numeric_limits<T>::min() && v <= std::numeric_limits<T>::max();
    }
  }
  return false;
}

// Reads obj[key] as T (std::string, bool or an integer type), checking type and
// range. A missing key or a wrong type is kCorruption naming `what` and the key.
template <typename T>
Status json_field(const nlohmann::json& obj, const char* key, const std::string& what, T* out) {
  if (!obj.is_object()) return Status::corruption(what + ": not a JSON object");
  auto it = obj.find(key);
  if (it == obj.end()) return Status::corruption(what + ": missing field " + key);
  bool ok;
  if constexpr (std::is_same_v<T, std::string>) {
    ok = it->is_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    ok = it->is_boolean();
  } else {
    ok = json_integer_fits<T>(*it);
  }
  if (!ok) return Status::corruption(what + ": bad type or range for " + key);
  *out = it->template get<T>();
  return Status::ok();
}

}  // namespace lares
