// SigV4 against the examples AWS publishes: the S3 ones ("Signature
// Calculations for the Authorization Header: Transferring Payload in a Single
// Chunk", examplebucket, 2013-05-24) and the signing-key derivation of the
// general Signature Version 4 documentation.
#include "objects/sigv4.h"

#include <gtest/gtest.h>

namespace lares::sigv4 {
namespace {

constexpr std::string_view kAccessKey = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view kSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kDate = "20130524T000000Z";
constexpr std::string_view kHost = "examplebucket.s3.amazonaws.com";

Credentials example_credentials() {
  return Credentials{std::string(kAccessKey), std::string(kSecretKey), ""};
}

// A request of the S3 examples, with the headers they sign.
Request example_request(std::string method, std::string path,
                        std::vector<std::pair<std::string, std::string>> query,
                        std::string payload_sha256,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
  Request request{std::move(method), std::move(path), std::move(query), std::move(headers),
                  payload_sha256};
  request.headers.emplace_back("Host", std::string(kHost));
  request.headers.emplace_back("x-amz-date", std::string(kDate));
  request.headers.emplace_back("x-amz-content-sha256", std::move(payload_sha256));
  return request;
}

std::string signature_of(const std::string& authorization) {
  return authorization.substr(authorization.find("Signature=") + 10);
}

TEST(SigV4Test, GetObjectWithRangeMatchesThePublishedExample) {
  const Request request =
      example_request("GET", encode_path("test.txt"), {}, std::string(kEmptyPayloadSha256),
                      {{"Range", "bytes=0-9"}});
  EXPECT_EQ(
      canonical_request(request),
      "GET\n"
      "/test.txt\n"
      "\n"
      "host:examplebucket.s3.amazonaws.com\n"
      "range:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n"
      "\n"
      "host;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(string_to_sign(kDate, scope("20130524", "us-east-1", "s3"), canonical_request(request)),
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(authorization(example_credentials(), request, kDate, "us-east-1"),
            "AWS4-HMAC-SHA256 "
            "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, PutObjectWithAnEncodedKeyMatchesThePublishedExample) {
  const std::string body = "Welcome to Amazon S3.";
  const std::string payload = sha256_hex(as_bytes(body));
  ASSERT_EQ(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  const Request request = example_request(
      "PUT", encode_path("test$file.text"), {}, payload,
      {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}});
  EXPECT_EQ(request.encoded_path, "/test%24file.text");
  EXPECT_EQ(sha256_hex(as_bytes(canonical_request(request))),
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  EXPECT_EQ(signed_headers(request),
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(signature_of(authorization(example_credentials(), request, kDate, "us-east-1")),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Test, GetBucketLifecycleMatchesThePublishedExample) {
  // "?lifecycle": a query flag signs as "lifecycle=".
  const Request request =
      example_request("GET", "/", {{"lifecycle", ""}}, std::string(kEmptyPayloadSha256));
  EXPECT_EQ(canonical_query(request.query), "lifecycle=");
  EXPECT_EQ(signature_of(authorization(example_credentials(), request, kDate, "us-east-1")),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4Test, ListObjectsMatchesThePublishedExample) {
  // Given out of order: the canonical query sorts them.
  const Request request = example_request("GET", "/", {{"prefix", "J"}, {"max-keys", "2"}},
                                          std::string(kEmptyPayloadSha256));
  EXPECT_EQ(canonical_query(request.query), "max-keys=2&prefix=J");
  EXPECT_EQ(signature_of(authorization(example_credentials(), request, kDate, "us-east-1")),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4Test, SigningKeyMatchesThePublishedDerivation) {
  const Digest key =
      signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
  EXPECT_EQ(hex(key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST(SigV4Test, HmacAndShaMatchTheirStandards) {
  // RFC 4231, test case 2.
  EXPECT_EQ(hex(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(sha256_hex({}), kEmptyPayloadSha256);
  EXPECT_EQ(sha256_hex(as_bytes("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(SigV4Test, SignAddsAndSignsTheAmzHeaders) {
  Credentials credentials = example_credentials();
  credentials.session_token = "token/with+chars";
  Request request{
      "GET", "/bucket/key", {}, {{"host", "127.0.0.1:7480"}}, std::string(kEmptyPayloadSha256)};
  const int64_t when = 1369353600;  // 2013-05-24T00:00:00Z
  const std::string value = sign(credentials, request, when, "eu-central-1");
  EXPECT_EQ(signed_headers(request), "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
  EXPECT_EQ(value, authorization(credentials, request, kDate, "eu-central-1"));
  EXPECT_NE(value.find("Credential=AKIAIOSFODNN7EXAMPLE/20130524/eu-central-1/s3/aws4_request,"),
            std::string::npos);
  // The session token is part of the signature.
  Request other = request;
  other.headers.back().second = "another-token";
  EXPECT_NE(signature_of(authorization(credentials, other, kDate, "eu-central-1")),
            signature_of(value));
}

TEST(SigV4Test, AmzDateIsUtc) {
  EXPECT_EQ(amz_date(0), "19700101T000000Z");
  EXPECT_EQ(amz_date(1369353600), kDate);
  EXPECT_EQ(amz_date(1700000000), "20231114T221320Z");
}

TEST(SigV4Test, UriEncodingKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(uri_encode("AZaz09-._~", KeepSlash::kNo), "AZaz09-._~");
  EXPECT_EQ(uri_encode("a b", KeepSlash::kNo), "a%20b");  // never '+'
  EXPECT_EQ(uri_encode("a+b=c&d*e", KeepSlash::kNo), "a%2Bb%3Dc%26d%2Ae");
  EXPECT_EQ(uri_encode("%", KeepSlash::kNo), "%25");
  EXPECT_EQ(uri_encode("\xe2\x82\xac", KeepSlash::kNo), "%E2%82%AC");  // UTF-8 bytes, uppercase hex
  EXPECT_EQ(uri_encode(std::string("\0\x7f", 2), KeepSlash::kNo), "%00%7F");
  EXPECT_EQ(uri_encode("a/b", KeepSlash::kNo), "a%2Fb");
  EXPECT_EQ(uri_encode("a/b", KeepSlash::kYes), "a/b");
}

TEST(SigV4Test, PathsAreEncodedOncePerSegment) {
  EXPECT_EQ(encode_path(""), "/");
  EXPECT_EQ(encode_path("bucket/dir/a b+c"), "/bucket/dir/a%20b%2Bc");
  // An already-encoded name is encoded once more, as S3 stores it literally:
  // the key "a%20b" is not the key "a b".
  EXPECT_EQ(encode_path("a%20b"), "/a%2520b");
}

TEST(SigV4Test, CanonicalQueryEncodesAndSortsByEncodedName) {
  EXPECT_EQ(canonical_query({}), "");
  EXPECT_EQ(
      canonical_query({{"prefix", "a/b c"}, {"list-type", "2"}, {"continuation-token", "x+y="}}),
      "continuation-token=x%2By%3D&list-type=2&prefix=a%2Fb%20c");
  EXPECT_EQ(canonical_query({{"uploadId", "u"}, {"partNumber", "10"}}), "partNumber=10&uploadId=u");
  // Uppercase sorts before lowercase (byte order), and equal names by value.
  EXPECT_EQ(canonical_query({{"b", "2"}, {"B", "1"}, {"b", "1"}}), "B=1&b=1&b=2");
}

TEST(SigV4Test, HeadersAreLowercasedTrimmedAndSorted) {
  Request request{"GET", "/", {}, {{"X-Amz-Meta-B", "  two   words  "}, {"HOST", "h"}}, "p"};
  EXPECT_EQ(canonical_request(request),
            "GET\n/\n\nhost:h\nx-amz-meta-b:two words\n\nhost;x-amz-meta-b\np");
}

TEST(SigV4Test, AnyChangeChangesTheSignature) {
  const Request base = example_request("GET", "/test.txt", {}, std::string(kEmptyPayloadSha256));
  const std::string reference =
      signature_of(authorization(example_credentials(), base, kDate, "us-east-1"));
  Request other_path = base;
  other_path.encoded_path = "/test.txu";
  Request other_method = base;
  other_method.method = "HEAD";
  Request other_query = base;
  other_query.query = {{"a", "b"}};
  Credentials other_secret = example_credentials();
  other_secret.secret_key += "x";
  EXPECT_NE(signature_of(authorization(example_credentials(), other_path, kDate, "us-east-1")),
            reference);
  EXPECT_NE(signature_of(authorization(example_credentials(), other_method, kDate, "us-east-1")),
            reference);
  EXPECT_NE(signature_of(authorization(example_credentials(), other_query, kDate, "us-east-1")),
            reference);
  EXPECT_NE(signature_of(authorization(other_secret, base, kDate, "us-east-1")), reference);
  EXPECT_NE(signature_of(authorization(example_credentials(), base, kDate, "us-west-2")),
            reference);
}

}  // namespace
}  // namespace lares::sigv4
