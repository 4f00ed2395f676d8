// Fuzzes the parsers of S3 XML replies (objects/s3_xml.h): bytes a server,
// or anything between us and it, sends. Each input goes through every parser;
// none may crash, and what parses must keep the parsers' promises. Seeds in
// fuzz/corpus/s3_xml/ are real radosgw replies.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "objects/s3_xml.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "s3_xml: %s\n", what);
  std::abort();
}

void check_list(std::string_view body) {
  auto page = lares::s3::parse_list_objects_v2(body);
  if (!page.is_ok()) {
    if (page.status().code() != lares::Code::kCorruption) fail("list: error is not kCorruption");
    return;
  }
  if (page->truncated && page->next_continuation_token.empty()) fail("truncated without token");
  for (const auto& object : page->objects) {
    if (object.key.empty()) fail("list: an empty key");
  }
}

void check_others(std::string_view body) {
  auto date = lares::s3::parse_http_date(body);
  if (date.is_ok() && *date < 0) std::abort();  // dates before 1970 are refused
  auto error = lares::s3::parse_error(body);
  if (error.is_ok() && error->code.empty()) fail("error: an empty code");
  auto upload_id = lares::s3::parse_initiate_multipart_upload(body);
  if (upload_id.is_ok() && upload_id->empty()) fail("initiate: an empty upload id");
  auto complete = lares::s3::parse_complete_multipart_upload(body);
  if (complete.is_ok() && complete->error && complete->error->code.empty()) {
    fail("complete: an error without a code");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check_list(body);
  check_others(body);
  return 0;
}
