// The pool registry: which pools this machine knows, by name, and where their
// devices are. It is a convenience index only — a pool describes itself on
// its devices (pool/label.h), so a lost registry is rebuilt with
// `lares pool import`.
//
// File: $LARES_HOME/pools.json, replaced atomically (util/json_file.h):
//   {"format": 1,
//    "pools": [{"name": "tank", "id": "<32 hex>", "devices": ["/abs/dir", ...]}]}
// Names are unique; device paths are absolute. Every field is validated on
// load: a damaged file is kCorruption naming the file, never a crash.
//
// Thread safety: none; a Registry is a value loaded, changed and saved by one
// caller. Two processes changing the file at once may lose one change (the
// last save wins), so callers load right before a change and save right after.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace lares {

struct RegistryEntry {
  std::string name;
  std::string id;                    // the pool id from its label (32 hex digits)
  std::vector<std::string> devices;  // absolute member paths, label order
  bool operator==(const RegistryEntry&) const = default;
};

// $LARES_HOME, or /var/lib/lares when it is unset or empty.
std::string lares_home();

// Pool names: 1..64 of [A-Za-z0-9_.-], not starting with '-' or '.', so a
// name is never mistaken for an option or a hidden file. kInvalidArgument
// with the reason otherwise.
Status validate_pool_name(const std::string& name);

class Registry {
 public:
  static constexpr int kFormat = 1;
  static constexpr char kFileName[] = "pools.json";

  // Reads <home>/pools.json; a missing file (or home) is an empty registry.
  static Result<Registry> load(const std::string& home);
  // Parses the text of a pools.json that lives at `path` (named in errors).
  static Result<Registry> parse(std::string_view text, const std::string& path);
  // Writes the file atomically, creating `home` if needed.
  Status save() const;

  const std::string& path() const { return path_; }
  const std::vector<RegistryEntry>& entries() const { return entries_; }
  // nullptr when no pool of that name is registered.
  const RegistryEntry* find(const std::string& name) const;

  // kAlreadyExists when the name is taken; kInvalidArgument for a bad name,
  // an empty device list or a relative path.
  Status add(RegistryEntry entry);
  // Replaces the device list of a registered pool (after add/replace/remove).
  Status set_devices(const std::string& name, std::vector<std::string> devices);
  // kNotFound when no pool of that name is registered.
  Status remove(const std::string& name);

 private:
  explicit Registry(std::string path) : path_(std::move(path)) {}
  std::string path_;
  std::vector<RegistryEntry> entries_;
};

}  // namespace lares
