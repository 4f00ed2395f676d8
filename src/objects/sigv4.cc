#include "objects/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "util/check.h"

namespace lares::sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Header values are signed trimmed, with inner runs of spaces made one.
std::string trimmed(std::string_view value) {
  std::string out;
  bool in_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      in_space = true;
      continue;
    }
    if (in_space && !out.empty()) out += ' ';
    in_space = false;
    out += c;
  }
  return out;
}

// (lowercase name, trimmed value), sorted by name.
std::vector<std::pair<std::string, std::string>> canonical_headers(const Request& request) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(lowercase(name), trimmed(value));
  }
  std::sort(headers.begin(), headers.end());
  return headers;
}

ByteView view(const Digest& digest) { return {digest.data(), digest.size()}; }

}  // namespace

Digest sha256(ByteView data) {
  Digest digest;
  LARES_CHECK(EVP_Digest(data.data(), data.size(), digest.data(), nullptr, EVP_sha256(), nullptr) ==
              1);
  return digest;
}

Digest hmac_sha256(ByteView key, ByteView data) {
  Digest digest;
  unsigned int size = 0;
  LARES_CHECK(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
                   digest.data(), &size) != nullptr);
  LARES_CHECK(size == digest.size());
  return digest;
}

std::string hex(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t byte : data) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xf];
  }
  return out;
}

std::string uri_encode(std::string_view text, KeepSlash keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (c == '/' && keep_slash == KeepSlash::kYes)) {
      out += ch;
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 0xf];
    }
  }
  return out;
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(uri_encode(name, KeepSlash::kNo), uri_encode(value, KeepSlash::kNo));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

std::string signed_headers(const Request& request) {
  std::string out;
  for (const auto& [name, value] : canonical_headers(request)) {
    if (!out.empty()) out += ';';
    out += name;
  }
  return out;
}

std::string canonical_request(const Request& request) {
  std::string out =
      request.method + "\n" + request.encoded_path + "\n" + canonical_query(request.query) + "\n";
  for (const auto& [name, value] : canonical_headers(request)) out += name + ":" + value + "\n";
  out += "\n" + signed_headers(request) + "\n" + request.payload_sha256_hex;
  return out;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request) {
  return std::string(kAlgorithm) + "\n" + std::string(amz_date) + "\n" + std::string(scope) + "\n" +
         sha256_hex(as_bytes(canonical_request));
}

Digest signing_key(std::string_view secret_key, std::string_view date8, std::string_view region,
                   std::string_view service) {
  LARES_DCHECK(date8.size() == 8);
  const std::string initial = "AWS4" + std::string(secret_key);
  const Digest date_key = hmac_sha256(as_bytes(initial), as_bytes(date8));
  const Digest region_key = hmac_sha256(view(date_key), as_bytes(region));
  const Digest service_key = hmac_sha256(view(region_key), as_bytes(service));
  return hmac_sha256(view(service_key), as_bytes("aws4_request"));
}

std::string scope(std::string_view date8, std::string_view region, std::string_view service) {
  return std::string(date8) + "/" + std::string(region) + "/" + std::string(service) +
         "/aws4_request";
}

std::string authorization(const Credentials& credentials, const Request& request,
                          std::string_view amz_date, std::string_view region,
                          std::string_view service) {
  LARES_DCHECK(amz_date.size() == 16);
  const std::string_view date8 = amz_date.substr(0, 8);
  const std::string request_scope = scope(date8, region, service);
  const std::string to_sign = string_to_sign(amz_date, request_scope, canonical_request(request));
  const Digest key = signing_key(credentials.secret_key, date8, region, service);
  const std::string signature = hex(hmac_sha256(view(key), as_bytes(to_sign)));
  return std::string(kAlgorithm) + " Credential=" + credentials.access_key + "/" + request_scope +
         ",SignedHeaders=" + signed_headers(request) + ",Signature=" + signature;
}

std::string sign(const Credentials& credentials, Request& request, int64_t unix_seconds,
                 std::string_view region, std::string_view service) {
  const std::string date = amz_date(unix_seconds);
  request.headers.emplace_back("x-amz-date", date);
  request.headers.emplace_back("x-amz-content-sha256", request.payload_sha256_hex);
  if (!credentials.session_token.empty()) {
    request.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  return authorization(credentials, request, date, region, service);
}

std::string amz_date(int64_t unix_seconds) {
  const auto seconds = static_cast<time_t>(unix_seconds);
  std::tm utc{};
  LARES_CHECK(gmtime_r(&seconds, &utc) != nullptr);
  char out[17];
  LARES_CHECK(std::strftime(out, sizeof out, "%Y%m%dT%H%M%SZ", &utc) == 16);
  return out;
}

}  // namespace lares::sigv4
