// Key slots: the repository's master key, wrapped by passphrases and by a
// printable recovery key.
//
// One 32-byte master key encrypts a repository (every subkey derives from it,
// see chunks/repository.h). It is stored only wrapped, once per key slot, in
// the object keys/<slot id>. A slot is a small JSON document, format 1:
//
//   {
//     "format": 1,
//     "kind": "passphrase" | "recovery",
//     "repo_id": "<32 hex digits>",
//     "slot_id": "<16 hex digits, equal to the object name's last part>",
//     "created_unix": <int>,
//     "label": "<free text, at most 200 bytes, may be empty>",
//     "argon2": {"ops": <int>, "mem_bytes": <int>},   // "passphrase" only
//     "salt": "<32 hex digits>",                      // "passphrase" only
//     "wrapped": "<hex of the sealed master key>"
//   }
//
// The wrapping key W is Argon2id(passphrase, salt, argon2) for a passphrase
// slot, and the 32 recovery-key bytes themselves for a recovery slot (they are
// uniformly random, so stretching adds nothing). The master key is sealed as
//   seal(AeadKeys::derive_subkeys(W, "LRSWRAP1"), master,
//        ad = "LRSKEYS1" || repo id (16 bytes) || slot id (16 hex chars) ||
//             kind (its JSON string, "passphrase" or "recovery"))
// so a slot copied to another repository, renamed, or relabelled as the other
// kind does not open. A wrong passphrase and a damaged slot both fail the AEAD
// check and cannot be told apart; either way nothing is changed.
//
// Recovery key, as printed: the 32 key bytes followed by the first 2 bytes of
// BLAKE2b-256(key bytes) (a typo check), 34 bytes in Crockford base32 (digits
// and A-Z without I, L, O, U; most significant bit first, the 55th character
// ending in 3 zero bits), 55 characters, written in 11 groups of 5 joined
// by '-'. Parsing ignores case, spaces and '-', and reads O as 0 and I or L
// as 1.
#pragma once

#include <string>
#include <string_view>

#include "chunks/pack.h"
#include "codec/kdf.h"
#include "codec/key.h"
#include "util/status.h"

namespace lares {

enum class KeySlotKind { kPassphrase, kRecovery };

struct KeySlot {
  static constexpr int kFormat = 1;
  KeySlotKind kind = KeySlotKind::kPassphrase;
  RepoId repo_id{};
  std::string slot_id;  // 16 lowercase hex digits
  int64_t created_unix = 0;
  std::string label;
  Argon2Params argon2;  // passphrase slots only
  Bytes salt;           // passphrase slots only: kSaltSize bytes
  Bytes wrapped;        // the sealed master key (32 + kSealOverhead bytes)
};

// keys/<slot id>
std::string key_slot_object_name(const std::string& slot_id);

// Encodes a slot as its JSON text, and back. decode_key_slot is strict:
// kCorruption for invalid JSON, missing or mistyped fields, an unknown kind,
// bad hex or lengths, a label over 200 bytes; kFailedPrecondition for a format
// other than 1; never kInvalidArgument: Argon2 parameters outside
// validate_argon2_params() are kCorruption too. Unknown fields, and "argon2" or
// "salt" in a recovery slot, are kCorruption. decode_key_slot cannot see the
// object name: the caller checks it equals key_slot_object_name(slot_id).
// REQUIRES (encode): a slot that decode would accept (checked; a slot that
// could not be read back is never written).
std::string encode_key_slot(const KeySlot& slot);
Result<KeySlot> decode_key_slot(std::string_view text);

// A new slot wrapping `master` under `passphrase` (fresh random salt and slot
// id; created_unix = now). kInvalidArgument for parameters outside
// validate_argon2_params() or a label that is not UTF-8 of at most 200 bytes.
Result<KeySlot> make_passphrase_slot(const Key32& master, const RepoId& repo,
                                     std::string_view passphrase, const Argon2Params& params,
                                     std::string label);
// A new slot wrapping `master` under `recovery_key` (label empty).
KeySlot make_recovery_slot(const Key32& master, const RepoId& repo, const Key32& recovery_key);

// Unwraps the master key. kPermissionDenied when the passphrase (or recovery
// key) does not open the slot, with a message that says so;
// kInvalidArgument when the slot is of the other kind.
Result<Key32> open_passphrase_slot(const KeySlot& slot, std::string_view passphrase);
Result<Key32> open_recovery_slot(const KeySlot& slot, const Key32& recovery_key);

// The printable form above, and back. parse_recovery_key: kInvalidArgument
// for a wrong length, a character outside the alphabet, or a failed typo check
// (the message says which).
std::string format_recovery_key(const Key32& key);
Result<Key32> parse_recovery_key(std::string_view text);

}  // namespace lares
