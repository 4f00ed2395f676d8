// The XML documents of the S3 REST API that S3Store reads and writes.
//
// Read (response bodies, namespace http://s3.amazonaws.com/doc/2006-03-01/
// or none; element names are matched without it):
//
//   <Error><Code/><Message/><Resource/><RequestId/></Error>
//   <ListBucketResult>  (ListObjectsV2)
//     <IsTruncated>true|false</IsTruncated>
//     <NextContinuationToken/>     present when truncated
//     <Contents><Key/><Size/>...</Contents>*
//   </ListBucketResult>
//   <InitiateMultipartUploadResult><UploadId/>...</InitiateMultipartUploadResult>
//   <CompleteMultipartUploadResult><ETag/>...</CompleteMultipartUploadResult>
//     or, with status 200 all the same, an <Error> document
//
// Written: <CompleteMultipartUpload> (the parts' numbers and ETags) and
// <CreateBucketConfiguration> (a bucket's region).
//
// The bytes come from the network: nothing here asserts on them. A body that
// is not well-formed XML, has another root element, or lacks a required
// element is kCorruption with a message that names what is wrong.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace lares::s3 {

struct ErrorDocument {
  std::string code;  // "NoSuchKey", "SignatureDoesNotMatch", ...
  std::string message;
  std::string resource;
  std::string request_id;
};

struct ListedObject {
  std::string key;  // the full key in the bucket
  uint64_t size_bytes = 0;
};

struct ListObjectsPage {
  std::vector<ListedObject> objects;  // in the server's order
  bool truncated = false;
  std::string next_continuation_token;  // non-empty when truncated
};

struct CompletedPart {
  uint32_t part_number = 0;  // 1..10000
  std::string etag;          // as UploadPart returned it, quotes included
};

struct CompleteMultipartUploadResult {
  std::string etag;                    // of the whole object, when it succeeded
  std::optional<ErrorDocument> error;  // set when the 200 reply held an <Error>
};

Result<ErrorDocument> parse_error(std::string_view body);
Result<ListObjectsPage> parse_list_objects_v2(std::string_view body);
// The UploadId of a CreateMultipartUpload reply.
Result<std::string> parse_initiate_multipart_upload(std::string_view body);
Result<CompleteMultipartUploadResult> parse_complete_multipart_upload(std::string_view body);
// An HTTP date header (Last-Modified) in the one form RFC 9110 says senders
// use, "Sun, 06 Nov 1994 08:49:37 GMT", as Unix seconds. kCorruption for
// anything else.
Result<int64_t> parse_http_date(std::string_view text);

// REQUIRES: parts sorted by part_number, ascending.
std::string complete_multipart_upload_body(const std::vector<CompletedPart>& parts);
std::string create_bucket_body(std::string_view region);

}  // namespace lares::s3
