// Seeds for key_file_fuzz (fuzz/corpus/key_file/): key slots of both kinds,
// slots one defect away from valid, and recovery keys as a user types them.
//
// The valid slots really open: they are sealed as chunks/key_file.h specifies,
// from fixed keys, salt and ids, so the seeds are the same on every run.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "chunks/key_file.h"
#include "codec/aead.h"
#include "fuzz/seeds.h"
#include "util/check.h"

namespace lares::fuzz {
namespace {

constexpr char kSlotId[] = "5a1e0c3d9b7f2468";

Key32 counting_key(uint8_t first) {
  Key32 key;
  for (size_t i = 0; i < Key32::kSize; ++i) key.data()[i] = static_cast<uint8_t>(first + i);
  return key;
}

// A slot of `kind` wrapping the master key 0x40.. under `wrapping`.
KeySlot sealed_slot(KeySlotKind kind, const Key32& wrapping) {
  KeySlot slot;
  slot.kind = kind;
  for (size_t i = 0; i < slot.repo_id.size(); ++i) slot.repo_id[i] = static_cast<uint8_t>(0x30 + i);
  slot.slot_id = kSlotId;
  slot.created_unix = 1700000000;
  slot.label = kind == KeySlotKind::kPassphrase ? "laptop" : "";
  Bytes ad;
  ByteWriter w(&ad);
  w.raw(as_bytes("LRSKEYS1"));
  w.raw(slot.repo_id);
  w.raw(as_bytes(kSlotId));
  w.raw(as_bytes(kind == KeySlotKind::kPassphrase ? "passphrase" : "recovery"));
  const Key32 master = counting_key(0x40);
  slot.wrapped = seal(AeadKeys::derive_subkeys(wrapping, "LRSWRAP1"), master.view(), ad);
  return slot;
}

KeySlot passphrase_slot() {
  Bytes salt(kSaltSize);
  for (size_t i = 0; i < salt.size(); ++i) salt[i] = static_cast<uint8_t>(0xc0 + i);
  auto wrapping = derive_key("correct horse battery staple", salt, kArgon2ForTests);
  LARES_CHECK(wrapping.is_ok());
  KeySlot slot = sealed_slot(KeySlotKind::kPassphrase, *wrapping);
  slot.argon2 = kArgon2ForTests;
  slot.salt = salt;
  return slot;
}

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

// The slot's JSON after one edit, compact.
template <typename Edit>
Bytes edited(const KeySlot& slot, Edit edit) {
  nlohmann::json j = nlohmann::json::parse(encode_key_slot(slot));
  edit(j);
  return text(j.dump());
}

void add_slot_seeds(Seeds& seeds) {
  const KeySlot passphrase = passphrase_slot();
  const KeySlot recovery = sealed_slot(KeySlotKind::kRecovery, counting_key(0x00));
  const std::string valid = encode_key_slot(passphrase);
  seeds.emplace_back("valid_passphrase", text(valid));
  seeds.emplace_back("valid_recovery", text(encode_key_slot(recovery)));
  seeds.emplace_back("valid_passphrase_compact", edited(passphrase, [](nlohmann::json&) {}));
  auto defect = [&](const char* name, auto edit) {
    seeds.emplace_back(name, edited(passphrase, edit));
  };
  defect("format_2", [](nlohmann::json& j) { j["format"] = 2; });
  defect("format_string", [](nlohmann::json& j) { j["format"] = "1"; });
  defect("missing_salt", [](nlohmann::json& j) { j.erase("salt"); });
  defect("salt_15_bytes", [](nlohmann::json& j) { j["salt"] = std::string(30, 'c'); });
  defect("repo_id_uppercase",
         [](nlohmann::json& j) { j["repo_id"] = "303132333435363738393A3B3C3D3E3F"; });
  defect("slot_id_short", [](nlohmann::json& j) { j["slot_id"] = "5a1e0c3d9b7f246"; });
  defect("argon2_ops_0", [](nlohmann::json& j) { j["argon2"]["ops"] = 0; });
  defect("argon2_mem_8_gib",
         [](nlohmann::json& j) { j["argon2"]["mem_bytes"] = uint64_t{8} << 30; });
  defect("argon2_extra_field", [](nlohmann::json& j) { j["argon2"]["lanes"] = 4; });
  defect("unknown_kind", [](nlohmann::json& j) { j["kind"] = "fingerprint"; });
  defect("label_201_bytes", [](nlohmann::json& j) { j["label"] = std::string(201, 'x'); });
  defect("unknown_field", [](nlohmann::json& j) { j["comment"] = "hello"; });
  defect("created_unix_float", [](nlohmann::json& j) { j["created_unix"] = 1.5; });
  defect("wrapped_short",
         [](nlohmann::json& j) { j["wrapped"] = j["wrapped"].get<std::string>().substr(2); });
  seeds.emplace_back("recovery_with_salt",
                     edited(recovery, [](nlohmann::json& j) { j["salt"] = std::string(32, 'c'); }));
  seeds.emplace_back("truncated", text(valid.substr(0, valid.size() / 2)));
  seeds.emplace_back("not_object", text("[1]"));
}

void add_recovery_key_seeds(Seeds& seeds) {
  const std::string printed = format_recovery_key(counting_key(0x00));
  seeds.emplace_back("recovery_key_valid", text(printed));
  std::string typed;  // lowercase, spaces for dashes, O/I/L for 0/1
  for (char c : printed) {
    if (c == '-')
      c = ' ';
    else if (c == '0')
      c = 'o';
    else if (c == '1')
      c = 'L';
    else if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    typed.push_back(c);
  }
  seeds.emplace_back("recovery_key_typed", text(typed));
  std::string typo = printed;
  typo[7] = typo[7] == 'X' ? 'Y' : 'X';
  seeds.emplace_back("recovery_key_typo", text(typo));
  seeds.emplace_back("recovery_key_short", text(printed.substr(0, printed.size() - 1)));
}

}  // namespace

Seeds key_file_seeds() {
  Seeds seeds;
  add_slot_seeds(seeds);
  add_recovery_key_seeds(seeds);
  return seeds;
}

}  // namespace lares::fuzz
