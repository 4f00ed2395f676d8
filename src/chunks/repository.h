// The repository: encrypted, deduplicated, content-addressed blobs and the
// snapshots that refer to them, over any ObjectStore (the pool, a folder on a
// USB disk, later SFTP and S3).
//
// Objects it keeps in the store (docs/FORMAT.md, "Repository"):
//
//   config                 plaintext JSON: format, repository id, chunker
//                          parameters, compression level, pack size
//   keys/<slot id>         key slots wrapping the master key (chunks/key_file.h)
//   packs/<hh>/<pack id>   packs of sealed blobs (chunks/pack.h)
//   index/<segment id>     index segments: which pack holds which blob
//   snapshots/<id>         sealed snapshot records (the refs): written last,
//                          atomically, once everything they point to is durable
//
// Keys: every key derives from the 32-byte master key:
//   id key    derive_subkey(master, 1, "LRSIDKEY")   blob ids, pack ids
//   data      AeadKeys::derive_subkeys(master, "LRSDATA1")   blobs
//   meta      AeadKeys::derive_subkeys(master, "LRSMETA1")   trailers, index,
//                                                            snapshots
//
// Memory: the index of every committed blob is one sorted array of 56-byte
// entries (binary search), plus a hash map of the blobs added since it was
// loaded; memory grows with the number of blobs (about 56 MiB per million,
// i.e. per TiB at the 1 MiB average chunk), never with the bytes stored.
//
// Thread safety: add_blob(), has_blob() and load_blob() may be called from
// many threads at once; everything else from one thread at a time. One writer
// per repository: the caller holds the store's writer lock (the pool's own,
// or a FileLock for a folder) while it adds blobs, flushes or changes refs.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chunks/chunker.h"
#include "chunks/key_file.h"
#include "chunks/pack.h"
#include "codec/aead.h"
#include "codec/kdf.h"
#include "codec/key.h"
#include "codec/keyed_hash.h"
#include "objects/object_store.h"
#include "util/bytes.h"
#include "util/status.h"

namespace lares {

struct RepoConfig {
  static constexpr int kFormat = 1;
  RepoId id{};
  int64_t created_unix = 0;
  ChunkerParams chunker;
  int compression_level = kDefaultCompressionLevel;
  // A pack is sealed once its blobs reach this size.
  uint64_t pack_size_bytes = uint64_t{16} << 20;
};

std::string encode_repo_config(const RepoConfig& config);
// Strict: kCorruption for anything malformed, kFailedPrecondition for a format
// this version does not know.
Result<RepoConfig> decode_repo_config(std::string_view text);

// How to unlock a repository: a passphrase, or the recovery key.
struct Unlock {
  std::string passphrase;
  std::optional<Key32> recovery_key;
};

struct InitOptions {
  Argon2Params argon2 = kArgon2Default;
  ChunkerParams chunker;
  int compression_level = kDefaultCompressionLevel;
  uint64_t pack_size_bytes = uint64_t{16} << 20;
};

// What a snapshot's root is: a backup's directory tree (fs/tree.h), or the
// B+tree root of a live dataset (fs/live_fs.h).
enum class SnapshotLayout { kBackup, kLive };

// A snapshot: one version of one dataset.
struct SnapshotRecord {
  static constexpr int kFormat = 1;
  std::string id;  // 64 hex digits; the object name's last part (not stored inside)
  std::string dataset;
  std::string name;
  int64_t time_ns = 0;  // when the snapshot was taken (ns since the epoch, UTC)
  ChunkId tree;         // root tree blob (kBackup) or root node (kLive)
  SnapshotLayout layout = SnapshotLayout::kBackup;
  uint64_t next_ino = 0;  // kLive: the dataset's next inode number when taken
  std::string parent;   // the snapshot this one was based on ("" if none)
  std::string hostname;
  std::string source;   // the folder that was backed up
  std::vector<std::string> excludes;
  // Statistics of the run that made it.
  uint64_t files = 0, dirs = 0, bytes = 0;
  uint64_t new_blobs = 0, new_bytes_stored = 0;
  double duration_s = 0;
};

// The JSON text of a snapshot record (docs/FORMAT.md), and back. Decoding is
// strict: kCorruption for anything malformed (names included),
// kFailedPrecondition for an unknown format. `id` is not part of the text.
std::string encode_snapshot_record(const SnapshotRecord& record);
Result<SnapshotRecord> decode_snapshot_record(std::string_view text);

// Dataset and snapshot names: 1..64 of [A-Za-z0-9._:-], not starting with '.'
// or '-'. kInvalidArgument saying what is wrong.
Status validate_dataset_name(std::string_view name);
Status validate_snapshot_name(std::string_view name);

struct BlobLocation {
  ChunkId pack;
  PackEntry entry;
};

struct RepoStats {
  uint64_t blobs = 0;
  uint64_t packs = 0;
  uint64_t index_memory_bytes = 0;
};

class Repository {
 public:
  // Creates a repository in an empty store (kAlreadyExists if it has a
  // config) with one passphrase slot and one recovery slot. Returns the
  // repository and, in *recovery_key, the printable recovery key: the caller
  // shows it once; it is not stored anywhere in clear.
  static Result<std::unique_ptr<Repository>> init(ObjectStore& store, std::string_view passphrase,
                                                  const InitOptions& options,
                                                  std::string* recovery_key);
  // Opens an existing repository: reads the config, unlocks the master key
  // from a slot, and loads the index. kNotFound when the store holds no
  // repository; kPermissionDenied when no slot opens with what was given
  // (nothing is changed).
  static Result<std::unique_ptr<Repository>> open(ObjectStore& store, const Unlock& unlock);
  // True when the store holds a repository config.
  static Result<bool> exists(ObjectStore& store);
  // The replica of `source` in `store` (protect/replicate.h): the same
  // repository (same id, same master key, same key slots) with its own packs,
  // index and snapshot records. An empty store becomes one: the key slots are
  // copied first, the config last (so a store with a config has its keys).
  // An existing replica has its key slots made the source's (slots added
  // there are copied, slots removed there are removed: a revoked passphrase
  // no longer opens the off-site copy either). kFailedPrecondition when the
  // store holds a different repository. No passphrase is needed: the master
  // key comes from `source`. *created tells whether the store was empty.
  static Result<std::unique_ptr<Repository>> open_replica(ObjectStore& store,
                                                          const Repository& source, bool* created);

  ~Repository();

  const RepoConfig& config() const { return config_; }
  ObjectStore& store() { return store_; }

  // ---- key slots ----
  struct SlotInfo {
    std::string slot_id;
    KeySlotKind kind;
    std::string label;
    int64_t created_unix;
  };
  Result<std::vector<SlotInfo>> list_slots();
  // Adds a passphrase slot; returns its id.
  Result<std::string> add_passphrase(std::string_view passphrase, const Argon2Params& params,
                                     std::string label);
  // Removes a slot. Refuses (kFailedPrecondition) to remove the last
  // passphrase slot.
  Status remove_slot(const std::string& slot_id);
  // Replaces the passphrase slot this repository was unlocked with by one for
  // `new_passphrase` (the new slot is written before the old one goes).
  // kFailedPrecondition when it was unlocked with the recovery key (use
  // add_passphrase then: the recovery slot stays).
  Status change_passphrase(std::string_view new_passphrase, const Argon2Params& params);

  // ---- blobs ----
  ChunkId blob_id(ByteView data) const;
  // Known (committed, or added and pending since the last flush).
  bool has_blob(const ChunkId& id) const;
  // Stores a blob whose id is `id` (= blob_id(data), which the caller has
  // computed). Returns true if it was new, false if the repository already had
  // it or another thread is adding it. Compression and encryption run in the
  // calling thread; a pack is written when full.
  Result<bool> add_blob(BlobType type, const ChunkId& id, ByteView data);
  // Appends a blob that is already sealed (copied from another pack by gc)
  // to the open pack, whether or not the index knows it already.
  Status add_sealed_blob(const PackEntry& entry, ByteView sealed);
  // Opens a sealed blob as load_blob does (authenticate, decrypt, decompress,
  // check the id); kCorruption otherwise.
  Result<Bytes> open_blob(const PackEntry& entry, ByteView sealed) {
    return open_sealed_blob(entry, sealed);
  }
  // Writes the open pack, if any, and an index segment for every pack written
  // since the last flush. Once it returns, every blob added so far is durable
  // and findable by a later open().
  Status flush();
  // Stored size of the blobs added since open (after compression and
  // encryption) and their count.
  uint64_t added_bytes_stored() const { return added_bytes_stored_.load(); }
  uint64_t added_blobs() const { return added_blobs_.load(); }

  std::optional<BlobLocation> find_blob(const ChunkId& id) const;
  // Reads, authenticates, decrypts, decompresses a blob and checks its id.
  // kNotFound when no index entry has it; kCorruption naming the pack when
  // the stored bytes fail a check.
  Result<Bytes> load_blob(const ChunkId& id, BlobType expected_type);

  // ---- snapshots ----
  // All snapshots (or those of one dataset), oldest first.
  Result<std::vector<SnapshotRecord>> list_snapshots(const std::string& dataset = "");
  // Stores a snapshot record; fills in record->id.
  Status put_snapshot(SnapshotRecord* record);
  Status remove_snapshot(const std::string& id);
  // Finds "<dataset>" (its newest snapshot) or "<dataset>@<name>".
  Result<SnapshotRecord> find_snapshot(const std::string& dataset, const std::string& name);

  // ---- index ----
  // Re-reads every index segment.
  Status reload_index();
  // Reads the trailer of every pack and writes one new index segment that
  // covers them all, then removes the old segments. Packs whose trailer cannot
  // be read are reported in *bad_packs and left alone.
  Status rebuild_index(std::vector<std::string>* bad_packs);
  RepoStats stats() const;
  // Indexes the packs the store holds that no index segment names (written
  // by a run cut short before its index segment): their trailers are read
  // and one new segment names those that authenticate. Returns how many were
  // indexed; packs whose trailer fails are left alone and named in *bad_packs.
  // Replication calls it before it starts, so an interrupted transfer resumes
  // without sending again the packs that had arrived.
  Result<size_t> index_unindexed_packs(std::vector<std::string>* bad_packs);
  // Every pack id the index knows, with its entries.
  std::vector<IndexPack> index_packs() const;
  // Index segment object names as loaded.
  const std::vector<std::string>& index_segments() const { return segments_; }

  // The entries of a pack, from its trailer only.
  Result<std::vector<PackEntry>> read_pack_trailer(const std::string& name);
  // Reads and checks a whole pack (id, header, trailer, every blob opened and
  // its id checked). Used by check --read-data.
  Status verify_pack(const ChunkId& pack_id, std::vector<ChunkId>* bad_blobs);
  // Writes a pack of already-sealed blobs copied from other packs (gc).
  // Returns the new pack id. The index is updated in memory; call
  // write_index_segment to persist.
  const AeadKeys& meta_keys() const { return meta_; }
  const AeadKeys& data_keys() const { return data_; }

  // Replaces the whole index with `packs`: writes one segment holding them,
  // then removes every other segment. Used by gc and rebuild-index.
  Status rewrite_index(const std::vector<IndexPack>& packs);

 private:
  struct CompactEntry;  // one committed blob, 56 bytes
  Repository(ObjectStore& store, RepoConfig config, Key32 master, std::string slot_id,
             KeySlotKind slot_kind);
  Status load_index();
  // The entries of a pack, from its trailer only.
  Status write_pack(Bytes pack, std::vector<PackEntry> entries);
  // Writes `packs` as one or more segments (each well under the decoder's
  // limit), appending their names to *names when given.
  Status write_index_segment(const std::vector<IndexPack>& packs, std::vector<std::string>* names);
  bool pack_is_full(const PackBuilder& pack) const;
  std::unique_ptr<PackBuilder> new_pack_builder();
  Result<Bytes> open_sealed_blob(const PackEntry& entry, ByteView sealed);

  ObjectStore& store_;
  RepoConfig config_;
  Key32 master_;
  Key32 id_key_;
  AeadKeys data_;
  AeadKeys meta_;
  std::string unlocked_slot_;
  KeySlotKind unlocked_kind_ = KeySlotKind::kPassphrase;

  // Committed index: sorted by id. pack_ids_ maps a pack number to its id.
  mutable std::shared_mutex index_mu_;
  std::vector<ChunkId> pack_ids_;
  std::vector<CompactEntry> committed_;
  std::unordered_map<ChunkId, BlobLocation, ChunkIdHash> recent_;  // written since load
  std::vector<std::string> segments_;

  // Writing.
  mutable std::mutex write_mu_;
  std::unordered_set<ChunkId, ChunkIdHash> pending_;  // being added, not yet in a pack written
  std::unique_ptr<PackBuilder> open_pack_;
  std::vector<IndexPack> unindexed_;  // packs written since the last index segment
  std::mutex spare_mu_;
  std::vector<Bytes> spare_packs_;  // buffers of written packs, for the next ones
  std::atomic<uint64_t> added_bytes_stored_{0};
  std::atomic<uint64_t> added_blobs_{0};
};

}  // namespace lares
