#include "pool/registry.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "util/file.h"
#include "util/json_file.h"

namespace lares {
namespace {

constexpr size_t kMaxPoolNameBytes = 64;
constexpr char kDefaultHome[] = "/var/lib/lares";

bool is_pool_id(const std::string& s) {
  if (s.size() != 32) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Says what is wrong with a device list, or "" when it is usable.
std::string device_list_problem(const std::vector<std::string>& devices) {
  if (devices.empty()) return "no devices";
  for (const auto& device : devices) {
    if (device.empty() || device[0] != '/') return "device path '" + device + "' is not absolute";
  }
  return "";
}

// One element of "pools", checked field by field; `path` names the file in
// every message so the user knows what to repair.
Result<RegistryEntry> parse_entry(const nlohmann::json& value, const std::string& path) {
  auto bad = [&](const std::string& what) {
    return Status::corruption(path + ": " + what +
                              " (repair or remove the file, then 'lares pool import' each pool)");
  };
  if (!value.is_object()) return bad("a pool entry is not an object");
  RegistryEntry entry;
  auto name = value.find("name");
  if (name == value.end() || !name->is_string()) return bad("a pool entry has no string 'name'");
  entry.name = name->get<std::string>();
  if (!validate_pool_name(entry.name).is_ok()) return bad("bad pool name '" + entry.name + "'");
  auto id = value.find("id");
  if (id == value.end() || !id->is_string() || !is_pool_id(id->get<std::string>())) {
    return bad("pool '" + entry.name + "' has no valid 'id'");
  }
  entry.id = id->get<std::string>();
  auto devices = value.find("devices");
  if (devices == value.end() || !devices->is_array()) {
    return bad("pool '" + entry.name + "' has no 'devices' array");
  }
  for (const auto& device : *devices) {
    if (!device.is_string()) return bad("pool '" + entry.name + "' has a non-string device");
    entry.devices.push_back(device.get<std::string>());
  }
  std::string problem = device_list_problem(entry.devices);
  if (!problem.empty()) return bad("pool '" + entry.name + "': " + problem);
  return entry;
}

}  // namespace

std::string lares_home() {
  const char* home = std::getenv("LARES_HOME");
  if (home == nullptr || *home == '\0') return kDefaultHome;
  return absolute_path(home);
}

Status validate_pool_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxPoolNameBytes) {
    return Status::invalid_argument("pool name '" + name + "' must be 1 to 64 characters");
  }
  if (name[0] == '-' || name[0] == '.') {
    return Status::invalid_argument("pool name '" + name + "' must not start with '-' or '.'");
  }
  for (char c : name) {
    bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '.' || c == '-';
    if (!allowed) {
      return Status::invalid_argument("pool name '" + name +
                                      "' may only hold letters, digits, '_', '.' and '-'");
    }
  }
  return Status::ok();
}

Result<Registry> Registry::load(const std::string& home) {
  const std::string path = join_path(home, kFileName);
  if (!path_exists(path)) return Registry(path);
  ASSIGN_OR_RETURN(Bytes text, read_file(path));
  return parse(as_chars(text), path);
}

Result<Registry> Registry::parse(std::string_view text, const std::string& path) {
  Registry registry(path);
  ASSIGN_OR_RETURN(nlohmann::json root, parse_json(text, path));
  auto format = root.is_object() ? root.find("format") : root.end();
  if (!root.is_object() || format == root.end() || !format->is_number_integer()) {
    return Status::corruption(path + ": not a Lares pool registry (no 'format')");
  }
  if (format->get<int64_t>() != kFormat) {
    return Status::invalid_argument(path + ": registry format " + format->dump() +
                                    " is not supported by this version of lares");
  }
  auto pools = root.find("pools");
  if (pools == root.end() || !pools->is_array()) {
    return Status::corruption(path + ": no 'pools' array");
  }
  for (const auto& value : *pools) {
    ASSIGN_OR_RETURN(RegistryEntry entry, parse_entry(value, path));
    if (registry.find(entry.name) != nullptr) {
      return Status::corruption(path + ": pool '" + entry.name + "' is listed twice");
    }
    registry.entries_.push_back(std::move(entry));
  }
  return registry;
}

Status Registry::save() const {
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& entry : entries_) {
    pools.push_back({{"name", entry.name}, {"id", entry.id}, {"devices", entry.devices}});
  }
  nlohmann::json root = {{"format", kFormat}, {"pools", std::move(pools)}};
  RETURN_IF_ERROR(make_dirs(parent_dir(path_)));
  return write_json_file(path_, root);
}

const RegistryEntry* Registry::find(const std::string& name) const {
  for (const auto& entry : entries_) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

Status Registry::add(RegistryEntry entry) {
  RETURN_IF_ERROR(validate_pool_name(entry.name));
  if (!is_pool_id(entry.id)) {
    return Status::invalid_argument("pool id '" + entry.id + "' is not 32 hex digits");
  }
  std::string problem = device_list_problem(entry.devices);
  if (!problem.empty()) return Status::invalid_argument("pool '" + entry.name + "': " + problem);
  if (const RegistryEntry* existing = find(entry.name); existing != nullptr) {
    return Status::already_exists("a pool named '" + entry.name + "' is already registered (id " +
                                  existing->id + ")");
  }
  entries_.push_back(std::move(entry));
  return Status::ok();
}

Status Registry::set_devices(const std::string& name, std::vector<std::string> devices) {
  std::string problem = device_list_problem(devices);
  if (!problem.empty()) return Status::invalid_argument("pool '" + name + "': " + problem);
  for (auto& entry : entries_) {
    if (entry.name == name) {
      entry.devices = std::move(devices);
      return Status::ok();
    }
  }
  return Status::not_found("no pool named '" + name + "' is registered in " + path_);
}

Status Registry::remove(const std::string& name) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const RegistryEntry& entry) { return entry.name == name; });
  if (it == entries_.end()) {
    return Status::not_found("no pool named '" + name + "' is registered in " + path_);
  }
  entries_.erase(it);
  return Status::ok();
}

}  // namespace lares
