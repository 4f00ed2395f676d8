// S3Store: an ObjectStore in a bucket of an S3-compatible server (AWS S3,
// Ceph's radosgw, ...), spoken to over HTTP(S) with libcurl and signed with
// AWS Signature Version 4 (objects/sigv4.h).
//
// Object "a/b" is the key <prefix>a/b in the bucket. Requests:
//   put     PUT <key>, the body signed whole (x-amz-content-sha256: its
//           SHA-256, which the server checks before it stores anything); from
//           multipart_threshold_bytes on, a multipart upload instead
//           (CreateMultipartUpload, UploadPart per part_size_bytes, each part
//           signed with its own SHA-256 and up to `connections` at a time,
//           CompleteMultipartUpload; AbortMultipartUpload when a part fails)
//   get     GET <key> with "Range: bytes=first-last", clipped at the end
//   size    HEAD <key>
//   list    ListObjectsV2 (GET ?list-type=2&prefix=...), page by page
//   remove  HEAD <key> (absent: kNotFound), then DELETE <key>
//
// Atomicity and durability: S3 PUTs are atomic by nature. An object appears
// whole or not at all, for single PUTs and multipart uploads alike: the parts
// of an upload are invisible until CompleteMultipartUpload makes the object in
// one step. A put that dies midway leaves the old value (or nothing), and
// possibly the parts of an unfinished upload, which take space but are never
// listed nor read; a bucket lifecycle rule (AbortIncompleteMultipartUpload)
// removes those. Once put() returns OK the server has acknowledged the
// object, which for S3 means it is stored durably.
//
// remove() races: S3's DELETE answers 204 for an absent key too, so remove()
// first checks with HEAD that the object exists; an object removed by someone
// else between the HEAD and the DELETE is reported removed, not kNotFound.
//
// Errors: 404 / NoSuchKey is kNotFound; 403 (a wrong key or secret, no
// permission) is kPermissionDenied, never retried; a server that cannot be
// reached is kUnavailable, after max_retries retries; any other refusal is
// kIOError naming S3's error Code and Message. Network errors, 5xx, 429 and
// S3's SlowDown and RequestTimeout are retried with exponential backoff and
// full jitter, up to max_retries times. A reply that breaks the protocol (a
// range other than asked, malformed XML) is kCorruption.
//
// Thread safety: all methods may be called concurrently; at most
// `connections` requests are in flight at once (one libcurl handle each,
// kept open between requests).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "objects/dir_store.h"  // CreateIfMissing
#include "objects/object_store.h"

namespace lares {

struct S3Options {
  // "http://127.0.0.1:7480" or "https://s3.eu-central-1.amazonaws.com";
  // empty: https://s3.<region>.amazonaws.com.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  // Key prefix inside the bucket, a folder: "" or e.g. "lares/" (a missing
  // trailing '/' is added).
  std::string prefix;
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // for temporary credentials; empty otherwise
  // true: http://host/bucket/key; false (virtual-hosted): http://bucket.host/key.
  bool path_style = true;
  // x-amz-storage-class of new objects ("STANDARD_IA", "GLACIER_IR", ...);
  // empty: the bucket's default. Objects in archive classes (GLACIER,
  // DEEP_ARCHIVE) cannot be read back without a restore, so a repository
  // should not live there.
  std::string storage_class;
  uint64_t multipart_threshold_bytes = 64ull << 20;
  // S3 wants 5 MiB..5 GiB per part (the last may be smaller), ≤ 10000 parts:
  // an object that needs more gets larger parts.
  uint64_t part_size_bytes = 16ull << 20;
  int max_retries = 5;
  int retry_delay_ms_initial = 200;  // doubles per retry, full jitter
  int retry_delay_ms_max = 20000;
  // A request that makes no progress for this long fails (and is retried);
  // also the connect timeout.
  int timeout_s = 60;
  int connections = 4;
  int list_max_keys = 1000;  // keys per ListObjectsV2 page (S3's maximum is 1000)
  // Called after each part of a multipart upload is stored, from the thread
  // that uploaded it (tests stop the server there). May be empty.
  std::function<void(uint32_t part_number)> part_uploaded_observer;

  // `base` with the fields it leaves empty filled from the environment:
  // credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
  // AWS_SESSION_TOKEN, the endpoint from AWS_ENDPOINT_URL, and the region
  // from AWS_REGION, else AWS_DEFAULT_REGION (when base.region is empty or
  // still the default "us-east-1").
  static S3Options from_environment(S3Options base);
  static S3Options from_environment() { return from_environment(S3Options()); }
};

class S3Store final : public ObjectStore {
 public:
  // Checks that the bucket exists (HEAD bucket) and creates it when asked.
  // kNotFound when it is missing and create is kNo; kInvalidArgument for bad
  // options; kPermissionDenied / kUnavailable as above.
  static Result<std::unique_ptr<S3Store>> open(const S3Options& options, CreateIfMissing create);
  ~S3Store() override;
  S3Store(const S3Store&) = delete;
  S3Store& operator=(const S3Store&) = delete;

  Status put(const std::string& name, ByteView data) override;
  Result<Bytes> get(const std::string& name, uint64_t offset, uint64_t length) override;
  using ObjectStore::get;
  Result<uint64_t> size(const std::string& name) override;
  Result<std::vector<std::string>> list(const std::string& prefix) override;
  Status remove(const std::string& name) override;
  // Last-Modified of a HEAD.
  Result<int64_t> modified_unix(const std::string& name) override;

  const S3Options& options() const { return options_; }
  // "s3://bucket/prefix", for messages.
  std::string location() const;

 private:
  class Http;  // the libcurl side, in s3_store.cc

  S3Store(S3Options options, std::unique_ptr<Http> http);

  Status check_bucket(CreateIfMissing create);
  Status put_single(const std::string& key, ByteView data);
  Status put_multipart(const std::string& key, ByteView data);
  Result<std::string> create_multipart_upload(const std::string& key);
  // Uploads every part, `connections` at a time; their ETags in part order.
  Result<std::vector<std::string>> upload_parts(const std::string& key,
                                                const std::string& upload_id, ByteView data);
  Status upload_part(const std::string& key, const std::string& upload_id, uint32_t part_number,
                     ByteView part, std::string* etag);
  Status complete_multipart_upload(const std::string& key, const std::string& upload_id,
                                   const std::vector<std::string>& etags, uint64_t size_bytes);
  Result<std::vector<std::string>> list_keys(const std::string& key_prefix);

  std::string key_of(const std::string& name) const { return options_.prefix + name; }

  const S3Options options_;
  const std::unique_ptr<Http> http_;
};

}  // namespace lares
