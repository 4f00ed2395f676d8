// Key slots and the recovery key; the format is specified in key_file.h.
//
// Slot JSON (format 1): the fields of key_file.h, nothing else. "argon2" and
// "salt" are present in a passphrase slot and absent from a recovery slot; any
// other key, in the slot or in "argon2", is kCorruption (a new key means a new
// format, docs/FORMAT.md "Versioning policy"). Hex is lowercase.
//
// Wrapping:
//   W       = Argon2id(passphrase, salt, argon2)  |  the recovery key bytes
//   wrapped = seal(AeadKeys::derive_subkeys(W, "LRSWRAP1"), master (32),
//                  ad = "LRSKEYS1" || repo id (16) || slot id (16 ASCII hex) ||
//                       kind ("passphrase" | "recovery", ASCII))
//           = 32 + kSealOverhead = 73 bytes, 146 hex digits.
//
// Recovery key: key (32) || BLAKE2b-256(key)[0..2) = 34 bytes = 272 bits, in
// Crockford base32, most significant bit first: 54 full characters and a 55th
// holding the last 2 bits followed by 3 zero bits. Printed as 11 groups of 5
// characters joined by '-'.
#include "chunks/key_file.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string_view>

#include "codec/aead.h"
#include "util/json_file.h"
#include "util/random.h"

namespace lares {
namespace {

constexpr char kWhat[] = "key slot";
constexpr char kWrapContext[] = "LRSWRAP1";
constexpr char kAdPrefix[] = "LRSKEYS1";
constexpr size_t kSlotIdBytes = 8;  // 16 hex digits
constexpr size_t kMaxLabelBytes = 200;
constexpr size_t kWrappedBytes = Key32::kSize + kSealOverhead;
// A valid slot is well under 2 KiB even with a label of 200 escaped bytes;
// anything far larger is refused before the JSON parser sees it.
constexpr size_t kMaxSlotTextBytes = 16 << 10;

constexpr size_t kRecoveryCheckBytes = 2;
constexpr size_t kRecoveryBytes = Key32::kSize + kRecoveryCheckBytes;
constexpr size_t kRecoveryChars = (kRecoveryBytes * 8 + 4) / 5;
constexpr size_t kRecoveryGroupChars = 5;
constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static_assert(sizeof kWrapContext - 1 == kSubkeyContextSize);
static_assert(sizeof kCrockford - 1 == 32);
static_assert(kRecoveryChars == 55 && kRecoveryChars % kRecoveryGroupChars == 0,
              "the printed form of key_file.h");
static_assert(kWrappedBytes == 73);

const char* kind_name(KeySlotKind kind) {
  return kind == KeySlotKind::kPassphrase ? "passphrase" : "recovery";
}

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Lowercase hex of exactly `byte_count` bytes into out[0..byte_count).
bool decode_hex(const std::string& hex, size_t byte_count, uint8_t* out) {
  return lares::decode_hex(hex, MutableByteView(out, byte_count));
}

bool is_slot_id(const std::string& id) {
  if (id.size() != 2 * kSlotIdBytes) return false;
  for (char c : id) {
    if (!is_lower_hex(c)) return false;
  }
  return true;
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF), the rule nlohmann's parser and dump() apply.
bool is_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    size_t extra = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // the range of the first continuation byte
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      extra = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      extra = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      extra = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto c = static_cast<uint8_t>(s[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return false;
    }
    i += extra + 1;
  }
  return true;
}

// The checks shared by the decoder (on what it read) and the encoder (on what
// it is about to write, so a slot that would not read back is never written).
Status check_slot(const KeySlot& slot) {
  if (!is_slot_id(slot.slot_id)) {
    return Status::corruption("key slot: slot_id is not 16 lowercase hex digits");
  }
  if (slot.label.size() > kMaxLabelBytes || !is_utf8(slot.label)) {
    return Status::corruption("key slot: label is longer than 200 bytes or not UTF-8");
  }
  if (slot.wrapped.size() != kWrappedBytes) {
    return Status::corruption("key slot: wrapped key is " + std::to_string(slot.wrapped.size()) +
                              " bytes, not " + std::to_string(kWrappedBytes));
  }
  if (slot.kind == KeySlotKind::kPassphrase) {
    if (slot.salt.size() != kSaltSize) {
      return Status::corruption("key slot: salt is " + std::to_string(slot.salt.size()) +
                                " bytes, not " + std::to_string(kSaltSize));
    }
    Status params = validate_argon2_params(slot.argon2);
    if (!params.is_ok()) return Status::corruption("key slot: " + params.message());
  }
  return Status::ok();
}

Bytes wrap_associated_data(const RepoId& repo, const std::string& slot_id, KeySlotKind kind) {
  Bytes ad;
  ByteWriter w(&ad);
  w.raw(as_bytes(std::string_view(kAdPrefix, sizeof kAdPrefix - 1)));
  w.raw(repo);
  w.raw(as_bytes(slot_id));
  w.raw(as_bytes(kind_name(kind)));
  return ad;
}

// Seals `master` into slot->wrapped under the wrapping key `wrapping`.
// REQUIRES: slot's kind, repo id and slot id are final.
void wrap_master(const Key32& wrapping, const Key32& master, KeySlot* slot) {
  const AeadKeys keys = AeadKeys::derive_subkeys(wrapping, kWrapContext);
  slot->wrapped =
      seal(keys, master.view(), wrap_associated_data(slot->repo_id, slot->slot_id, slot->kind));
  LARES_CHECK(slot->wrapped.size() == kWrappedBytes);
}

Result<Key32> unwrap_master(const Key32& wrapping, const KeySlot& slot, const char* secret_name) {
  const AeadKeys keys = AeadKeys::derive_subkeys(wrapping, kWrapContext);
  Result<Bytes> opened =
      open(keys, slot.wrapped, wrap_associated_data(slot.repo_id, slot.slot_id, slot.kind));
  if (!opened.is_ok()) {
    return Status::permission_denied(std::string("the ") + secret_name +
                                     " does not open key slot " + slot.slot_id +
                                     " (or the slot is damaged)");
  }
  Bytes& plaintext = opened.value();
  Result<Key32> master = Key32::from_bytes(plaintext);
  sodium_memzero(plaintext.data(), plaintext.size());
  if (!master.is_ok()) {
    // Authentic but the wrong size: only a slot sealed by other software.
    return Status::corruption("key slot " + slot.slot_id + " holds a key of the wrong size");
  }
  return master;
}

KeySlot new_slot(KeySlotKind kind, const RepoId& repo, std::string label) {
  KeySlot slot;
  slot.kind = kind;
  slot.repo_id = repo;
  slot.slot_id = random_hex(kSlotIdBytes);
  slot.created_unix = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  slot.label = std::move(label);
  return slot;
}

template <typename T>
Status get_field(const nlohmann::json& obj, const char* key, T* out) {
  return json_field(obj, key, kWhat, out);
}

// kCorruption for a key of `obj` not among `allowed`.
Status check_keys(const nlohmann::json& obj, std::initializer_list<std::string_view> allowed,
                  const char* where) {
  for (const auto& item : obj.items()) {
    bool known = false;
    for (std::string_view key : allowed) known = known || item.key() == key;
    if (!known) {
      return Status::corruption(std::string("key slot: unexpected field '") +
                                item.key().substr(0, 64) + "' " + where);
    }
  }
  return Status::ok();
}

Status decode_hex_field(const nlohmann::json& obj, const char* key, size_t byte_count,
                        uint8_t* out) {
  std::string hex;
  RETURN_IF_ERROR(get_field(obj, key, &hex));
  if (!decode_hex(hex, byte_count, out)) {
    return Status::corruption(std::string("key slot: ") + key + " is not " +
                              std::to_string(2 * byte_count) + " lowercase hex digits");
  }
  return Status::ok();
}

Status decode_passphrase_fields(const nlohmann::json& j, KeySlot* slot) {
  auto argon2 = j.find("argon2");
  if (argon2 == j.end() || !argon2->is_object()) {
    return Status::corruption("key slot: missing or malformed field argon2");
  }
  RETURN_IF_ERROR(check_keys(*argon2, {"ops", "mem_bytes"}, "in argon2"));
  RETURN_IF_ERROR(get_field(*argon2, "ops", &slot->argon2.ops));
  RETURN_IF_ERROR(get_field(*argon2, "mem_bytes", &slot->argon2.mem_bytes));
  slot->salt.resize(kSaltSize);
  return decode_hex_field(j, "salt", kSaltSize, slot->salt.data());
}

}  // namespace

std::string key_slot_object_name(const std::string& slot_id) { return "keys/" + slot_id; }

std::string encode_key_slot(const KeySlot& slot) {
  // Invariant: what is written reads back (an unreadable slot loses the key).
  LARES_CHECK(check_slot(slot).is_ok());
  nlohmann::json j = {
      {"format", KeySlot::kFormat},        {"kind", kind_name(slot.kind)},
      {"repo_id", to_hex(slot.repo_id)},   {"slot_id", slot.slot_id},
      {"created_unix", slot.created_unix}, {"label", slot.label},
      {"wrapped", to_hex(slot.wrapped)},
  };
  if (slot.kind == KeySlotKind::kPassphrase) {
    j["argon2"] = {{"ops", slot.argon2.ops}, {"mem_bytes", slot.argon2.mem_bytes}};
    j["salt"] = to_hex(slot.salt);
  }
  return j.dump(2) + "\n";
}

Result<KeySlot> decode_key_slot(std::string_view text) {
  if (text.size() > kMaxSlotTextBytes) {
    return Status::corruption("key slot is " + std::to_string(text.size()) +
                              " bytes, far larger than any valid slot");
  }
  ASSIGN_OR_RETURN(nlohmann::json j, parse_json(text, kWhat));
  if (!j.is_object()) return Status::corruption("key slot is not a JSON object");
  int64_t format = 0;
  RETURN_IF_ERROR(get_field(j, "format", &format));
  if (format != KeySlot::kFormat) {
    return Status::failed_precondition("key slot format " + std::to_string(format) +
                                       " is not supported by this lares; upgrade lares");
  }
  KeySlot slot;
  std::string kind;
  RETURN_IF_ERROR(get_field(j, "kind", &kind));
  if (kind == "passphrase") {
    slot.kind = KeySlotKind::kPassphrase;
    RETURN_IF_ERROR(check_keys(j,
                               {"format", "kind", "repo_id", "slot_id", "created_unix", "label",
                                "argon2", "salt", "wrapped"},
                               "in a passphrase slot"));
    RETURN_IF_ERROR(decode_passphrase_fields(j, &slot));
  } else if (kind == "recovery") {
    slot.kind = KeySlotKind::kRecovery;
    RETURN_IF_ERROR(
        check_keys(j, {"format", "kind", "repo_id", "slot_id", "created_unix", "label", "wrapped"},
                   "in a recovery slot"));
  } else {
    return Status::corruption("key slot: unknown kind '" + kind.substr(0, 32) + "'");
  }
  RETURN_IF_ERROR(decode_hex_field(j, "repo_id", kRepoIdSize, slot.repo_id.data()));
  RETURN_IF_ERROR(get_field(j, "slot_id", &slot.slot_id));
  RETURN_IF_ERROR(get_field(j, "created_unix", &slot.created_unix));
  RETURN_IF_ERROR(get_field(j, "label", &slot.label));
  slot.wrapped.resize(kWrappedBytes);
  RETURN_IF_ERROR(decode_hex_field(j, "wrapped", kWrappedBytes, slot.wrapped.data()));
  RETURN_IF_ERROR(check_slot(slot));
  return slot;
}

Result<KeySlot> make_passphrase_slot(const Key32& master, const RepoId& repo,
                                     std::string_view passphrase, const Argon2Params& params,
                                     std::string label) {
  if (label.size() > kMaxLabelBytes || !is_utf8(label)) {
    return Status::invalid_argument("a key slot label is UTF-8 text of at most 200 bytes");
  }
  RETURN_IF_ERROR(validate_argon2_params(params));
  KeySlot slot = new_slot(KeySlotKind::kPassphrase, repo, std::move(label));
  slot.argon2 = params;
  slot.salt.resize(kSaltSize);
  fill_random(slot.salt);
  ASSIGN_OR_RETURN(Key32 wrapping, derive_key(passphrase, slot.salt, slot.argon2));
  wrap_master(wrapping, master, &slot);
  return slot;
}

KeySlot make_recovery_slot(const Key32& master, const RepoId& repo, const Key32& recovery_key) {
  KeySlot slot = new_slot(KeySlotKind::kRecovery, repo, "");
  wrap_master(recovery_key, master, &slot);
  return slot;
}

Result<Key32> open_passphrase_slot(const KeySlot& slot, std::string_view passphrase) {
  if (slot.kind != KeySlotKind::kPassphrase) {
    return Status::invalid_argument("key slot " + slot.slot_id +
                                    " is a recovery slot; it opens with the recovery key");
  }
  ASSIGN_OR_RETURN(Key32 wrapping, derive_key(passphrase, slot.salt, slot.argon2));
  return unwrap_master(wrapping, slot, "passphrase");
}

Result<Key32> open_recovery_slot(const KeySlot& slot, const Key32& recovery_key) {
  if (slot.kind != KeySlotKind::kRecovery) {
    return Status::invalid_argument("key slot " + slot.slot_id +
                                    " is a passphrase slot; it opens with a passphrase");
  }
  return unwrap_master(recovery_key, slot, "recovery key");
}

namespace {

// BLAKE2b-256(key), first kRecoveryCheckBytes bytes.
std::array<uint8_t, kRecoveryCheckBytes> recovery_check(ByteView key) {
  ensure_sodium();
  std::array<uint8_t, crypto_generichash_BYTES> digest;
  static_assert(crypto_generichash_BYTES == 32);
  const int rc =
      crypto_generichash(digest.data(), digest.size(), key.data(), key.size(), nullptr, 0);
  LARES_CHECK(rc == 0);  // fails only on out-of-range lengths, fixed here
  return {digest[0], digest[1]};
}

// The value of a Crockford character after the parser's folding, or -1.
int crockford_value(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (c == 'O') return 0;
  if (c == 'I' || c == 'L') return 1;
  for (int v = 0; v < 32; ++v) {
    if (kCrockford[v] == c) return v;
  }
  return -1;
}

}  // namespace

std::string format_recovery_key(const Key32& key) {
  std::array<uint8_t, kRecoveryBytes> bytes;
  std::copy(key.data(), key.data() + key.size(), bytes.begin());
  const auto check = recovery_check(key.view());
  std::copy(check.begin(), check.end(), bytes.begin() + Key32::kSize);

  std::string out;
  out.reserve(kRecoveryChars + kRecoveryChars / kRecoveryGroupChars);
  uint32_t buffer = 0;  // holds fewer than 5 + 8 bits between steps
  int bit_count = 0;
  size_t char_count = 0;
  auto emit = [&](uint32_t value) {
    if (char_count > 0 && char_count % kRecoveryGroupChars == 0) out.push_back('-');
    out.push_back(kCrockford[value & 31]);
    ++char_count;
  };
  for (uint8_t b : bytes) {
    buffer = buffer << 8 | b;
    bit_count += 8;
    while (bit_count >= 5) {
      bit_count -= 5;
      emit(buffer >> bit_count);
    }
    buffer &= (1u << bit_count) - 1;
  }
  if (bit_count > 0) emit(buffer << (5 - bit_count));
  sodium_memzero(bytes.data(), bytes.size());
  sodium_memzero(&buffer, sizeof buffer);
  LARES_CHECK(char_count == kRecoveryChars);
  return out;
}

Result<Key32> parse_recovery_key(std::string_view text) {
  std::array<uint8_t, kRecoveryChars> values;  // one 5-bit value per character
  size_t count = 0;
  for (char c : text) {
    if (c == ' ' || c == '-') continue;
    const int v = crockford_value(c);
    if (v < 0) {
      sodium_memzero(values.data(), values.size());
      const bool printable = c > ' ' && c < 0x7f;
      return Status::invalid_argument(
          "a recovery key has only the characters 0-9 and A-Z without U, not " +
          (printable ? "'" + std::string(1, c) + "'"
                     : "byte " + std::to_string(static_cast<uint8_t>(c))));
    }
    if (count < values.size()) values[count] = static_cast<uint8_t>(v);
    ++count;
  }
  if (count != kRecoveryChars) {
    sodium_memzero(values.data(), values.size());
    return Status::invalid_argument("a recovery key has " + std::to_string(kRecoveryChars) +
                                    " characters (not counting '-' and spaces), this one has " +
                                    std::to_string(count));
  }
  std::array<uint8_t, kRecoveryBytes> bytes;
  uint32_t buffer = 0;
  int bit_count = 0;
  size_t byte_count = 0;
  for (uint8_t v : values) {
    buffer = buffer << 5 | v;
    bit_count += 5;
    if (bit_count >= 8) {
      bit_count -= 8;
      bytes[byte_count++] = static_cast<uint8_t>(buffer >> bit_count);
      buffer &= (1u << bit_count) - 1;
    }
  }
  LARES_CHECK(byte_count == kRecoveryBytes && bit_count == 3);
  // The 3 padding bits are zero in every printed key, so a typo that changes
  // only them is caught too.
  const bool padding_ok = buffer == 0;
  const ByteView key_bytes(bytes.data(), Key32::kSize);
  const auto check = recovery_check(key_bytes);
  const bool check_ok =
      padding_ok && bytes[Key32::kSize] == check[0] && bytes[Key32::kSize + 1] == check[1];
  Result<Key32> key = Key32::from_bytes(key_bytes);
  sodium_memzero(values.data(), values.size());
  sodium_memzero(bytes.data(), bytes.size());
  if (!check_ok) {
    return Status::invalid_argument(
        "the recovery key fails its typo check: a character is wrong or two are swapped");
  }
  return key;
}

}  // namespace lares
