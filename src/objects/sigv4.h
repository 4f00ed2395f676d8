// AWS Signature Version 4 for S3 requests (the Authorization header form,
// payload signed whole: "Transferring Payload in a Single Chunk").
//
// The signature is an HMAC-SHA256 chain over a canonical form of the request:
//
//   CanonicalRequest = Method '\n' CanonicalURI '\n' CanonicalQuery '\n'
//                      (lowercase-name ':' trimmed-value '\n')* '\n'
//                      SignedHeaders '\n' HexPayloadHash
//   StringToSign     = "AWS4-HMAC-SHA256" '\n' AmzDate '\n' Scope '\n'
//                      Hex(SHA256(CanonicalRequest))
//   Scope            = Date8 '/' region '/' service '/' "aws4_request"
//   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, Date8), region),
//                      service), "aws4_request")
//   Signature        = Hex(HMAC(SigningKey, StringToSign))
//
// S3 differs from the other services in one rule: the path is encoded once,
// segment by segment ('/' kept), never twice. Query names and values are
// encoded in full ('/' too) and sorted by encoded name, then value. Every
// header given is signed (the caller passes only those it sends).
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/bytes.h"

namespace lares::sigv4 {

using Digest = std::array<uint8_t, 32>;

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty unless temporary credentials
};

// One HTTP request, as it is sent.
struct Request {
  std::string method;        // "GET", "PUT", ...
  std::string encoded_path;  // already URI-encoded, e.g. "/bucket/a%20b" (see encode_path)
  // Unencoded name/value pairs; a bare flag ("?uploads") has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign; must include "host". Names in any case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256_hex;  // or "UNSIGNED-PAYLOAD"
};

// The hex SHA-256 of an empty payload.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

Digest sha256(ByteView data);
Digest hmac_sha256(ByteView key, ByteView data);
std::string hex(ByteView data);  // lowercase
inline std::string sha256_hex(ByteView data) { return hex(sha256(data)); }

// RFC 3986 percent-encoding: unreserved characters (A-Z a-z 0-9 - . _ ~)
// stay, every other byte is %XX (uppercase hex); '/' stays only when
// `keep_slash` is kYes.
enum class KeepSlash { kNo, kYes };
std::string uri_encode(std::string_view text, KeepSlash keep_slash);
// "/" + each '/'-separated segment of `path` encoded: encode_path("a b/c")
// is "/a%20b/c".
inline std::string encode_path(std::string_view path) {
  return "/" + uri_encode(path, KeepSlash::kYes);
}
// The canonical query string: pairs encoded, sorted, joined with '&'. Also
// the query string to send, so that what is signed is what is sent.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);

// "host;range;x-amz-date": the lowercase header names, sorted, ';'-joined.
std::string signed_headers(const Request& request);
std::string canonical_request(const Request& request);
// `amz_date` is "YYYYMMDDTHHMMSSZ"; `scope` as above.
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);
// REQUIRES: date8 is "YYYYMMDD".
Digest signing_key(std::string_view secret_key, std::string_view date8, std::string_view region,
                   std::string_view service);
std::string scope(std::string_view date8, std::string_view region, std::string_view service);

// The value of the Authorization header for `request`, which must already
// carry every header it will be sent with (x-amz-date, x-amz-content-sha256,
// x-amz-security-token when there is a session token).
// REQUIRES: amz_date is "YYYYMMDDTHHMMSSZ".
std::string authorization(const Credentials& credentials, const Request& request,
                          std::string_view amz_date, std::string_view region,
                          std::string_view service = "s3");

// Adds x-amz-date, x-amz-content-sha256 (the request's payload hash) and
// x-amz-security-token (with a session token) to `request`, then returns its
// Authorization value. `unix_seconds` is the signing time.
std::string sign(const Credentials& credentials, Request& request, int64_t unix_seconds,
                 std::string_view region, std::string_view service = "s3");

// "YYYYMMDDTHHMMSSZ" for a time in seconds since the epoch (UTC).
std::string amz_date(int64_t unix_seconds);

}  // namespace lares::sigv4
