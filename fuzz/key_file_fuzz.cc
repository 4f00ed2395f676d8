// Fuzzes the two parsers of chunks/key_file.h: decode_key_slot (the JSON of a
// keys/<slot id> object) and parse_recovery_key (what a user types in), both
// on the same input as text.
//
// Whatever decodes must come back unchanged through its encoder:
// decode(encode(slot)) == slot, and parse(format(key)) == key. A decoded
// recovery slot is also opened with a fixed key, which must fail cleanly
// (or succeed) without crashing. Passphrase slots are not opened: their
// Argon2 cost is the input's to choose, up to 4 GiB per run.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "chunks/key_file.h"

namespace {

bool same_slot(const lares::KeySlot& a, const lares::KeySlot& b) {
  return a.kind == b.kind && a.repo_id == b.repo_id && a.slot_id == b.slot_id &&
         a.created_unix == b.created_unix && a.label == b.label && a.argon2.ops == b.argon2.ops &&
         a.argon2.mem_bytes == b.argon2.mem_bytes && a.salt == b.salt && a.wrapped == b.wrapped;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "key_file round trip: %s\n", what);
  std::abort();
}

void check_slot(std::string_view text) {
  auto slot = lares::decode_key_slot(text);
  if (!slot.is_ok()) {
    const lares::Code code = slot.status().code();
    if (code != lares::Code::kCorruption && code != lares::Code::kFailedPrecondition) {
      fail("decode: unexpected error code");
    }
    return;
  }
  const std::string encoded = lares::encode_key_slot(*slot);
  auto again = lares::decode_key_slot(encoded);
  if (!again.is_ok()) fail(again.status().to_string().c_str());
  if (!same_slot(*again, *slot)) fail("decode(encode(slot)) != slot");
  if (lares::encode_key_slot(*again) != encoded) fail("encode is not deterministic");
  if (slot->kind == lares::KeySlotKind::kRecovery) {
    auto opened = lares::open_recovery_slot(*slot, lares::Key32());
    if (!opened.is_ok() && opened.status().code() != lares::Code::kPermissionDenied) {
      fail(opened.status().to_string().c_str());
    }
  }
}

void check_recovery_key(std::string_view text) {
  auto key = lares::parse_recovery_key(text);
  if (!key.is_ok()) {
    if (key.status().code() != lares::Code::kInvalidArgument) fail("parse: unexpected error code");
    return;
  }
  const std::string printed = lares::format_recovery_key(*key);
  auto again = lares::parse_recovery_key(printed);
  if (!again.is_ok()) fail(again.status().to_string().c_str());
  if (!(*again == *key)) fail("parse(format(key)) != key");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_slot(text);
  check_recovery_key(text);
  return 0;
}
