#include "objects/s3_xml.h"

#include <tinyxml2.h>

#include <charconv>

#include "util/check.h"

namespace lares::s3 {
namespace {

using tinyxml2::XMLDocument;
using tinyxml2::XMLElement;

// Element names without a namespace prefix ("s3:Key" → "Key").
std::string_view local_name(const XMLElement& element) {
  std::string_view name = element.Name();
  const size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

const XMLElement* child(const XMLElement& parent, std::string_view name) {
  for (const XMLElement* e = parent.FirstChildElement(); e; e = e->NextSiblingElement()) {
    if (local_name(*e) == name) return e;
  }
  return nullptr;
}

std::string text_of(const XMLElement* element) {
  if (element == nullptr || element->GetText() == nullptr) return "";
  return element->GetText();
}

Status malformed(std::string_view document, std::string_view what) {
  return Status::corruption("malformed S3 " + std::string(document) +
                            " reply: " + std::string(what));
}

// Parses `body` into `doc` and returns its root, which must be `root_name`;
// errors name `document`.
Result<const XMLElement*> parse_root(XMLDocument& doc, std::string_view body,
                                     std::string_view root_name, std::string_view document) {
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS) {
    return malformed(document, std::string("not XML (") + doc.ErrorStr() + ")");
  }
  const XMLElement* root = doc.RootElement();
  if (root == nullptr) return malformed(document, "no root element");
  if (local_name(*root) != root_name) {
    return malformed(document, "root element is <" + std::string(root->Name()) + ">, not <" +
                                   std::string(root_name) + ">");
  }
  return root;
}

Result<std::string> required_text(const XMLElement& parent, std::string_view name,
                                  std::string_view document) {
  const XMLElement* element = child(parent, name);
  if (element == nullptr) return malformed(document, "no <" + std::string(name) + ">");
  return text_of(element);
}

Result<uint64_t> parse_size(const std::string& text, std::string_view document) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || ptr != end) {
    return malformed(document, "<Size> is not a byte count: '" + text + "'");
  }
  return value;
}

ErrorDocument error_from(const XMLElement& root) {
  return ErrorDocument{text_of(child(root, "Code")), text_of(child(root, "Message")),
                       text_of(child(root, "Resource")), text_of(child(root, "RequestId"))};
}

Result<ListedObject> parse_contents(const XMLElement& contents) {
  constexpr std::string_view kDocument = "ListObjectsV2";
  ListedObject object;
  ASSIGN_OR_RETURN(object.key, required_text(contents, "Key", kDocument));
  if (object.key.empty()) return malformed(kDocument, "empty <Key>");
  ASSIGN_OR_RETURN(const std::string size, required_text(contents, "Size", kDocument));
  ASSIGN_OR_RETURN(object.size_bytes, parse_size(size, kDocument));
  return object;
}

// Escapes text for element content.
std::string escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

Result<ErrorDocument> parse_error(std::string_view body) {
  XMLDocument doc;
  ASSIGN_OR_RETURN(const XMLElement* root, parse_root(doc, body, "Error", "Error"));
  ErrorDocument error = error_from(*root);
  if (error.code.empty()) return malformed("Error", "no <Code>");
  return error;
}

Result<ListObjectsPage> parse_list_objects_v2(std::string_view body) {
  constexpr std::string_view kDocument = "ListObjectsV2";
  XMLDocument doc;
  ASSIGN_OR_RETURN(const XMLElement* root, parse_root(doc, body, "ListBucketResult", kDocument));
  ListObjectsPage page;
  ASSIGN_OR_RETURN(const std::string truncated, required_text(*root, "IsTruncated", kDocument));
  if (truncated != "true" && truncated != "false") {
    return malformed(kDocument, "<IsTruncated> is '" + truncated + "'");
  }
  page.truncated = truncated == "true";
  page.next_continuation_token = text_of(child(*root, "NextContinuationToken"));
  if (page.truncated && page.next_continuation_token.empty()) {
    return malformed(kDocument, "truncated, but no <NextContinuationToken>");
  }
  for (const XMLElement* e = root->FirstChildElement(); e; e = e->NextSiblingElement()) {
    if (local_name(*e) != "Contents") continue;
    ASSIGN_OR_RETURN(ListedObject object, parse_contents(*e));
    page.objects.push_back(std::move(object));
  }
  return page;
}

Result<std::string> parse_initiate_multipart_upload(std::string_view body) {
  constexpr std::string_view kDocument = "InitiateMultipartUploadResult";
  XMLDocument doc;
  ASSIGN_OR_RETURN(const XMLElement* root, parse_root(doc, body, kDocument, kDocument));
  ASSIGN_OR_RETURN(std::string upload_id, required_text(*root, "UploadId", kDocument));
  if (upload_id.empty()) return malformed(kDocument, "empty <UploadId>");
  return upload_id;
}

Result<CompleteMultipartUploadResult> parse_complete_multipart_upload(std::string_view body) {
  constexpr std::string_view kDocument = "CompleteMultipartUploadResult";
  XMLDocument doc;
  if (doc.Parse(body.data(), body.size()) == tinyxml2::XML_SUCCESS && doc.RootElement() &&
      local_name(*doc.RootElement()) == "Error") {
    CompleteMultipartUploadResult result;
    result.error = error_from(*doc.RootElement());
    if (result.error->code.empty()) return malformed("Error", "no <Code>");
    return result;
  }
  ASSIGN_OR_RETURN(const XMLElement* root, parse_root(doc, body, kDocument, kDocument));
  CompleteMultipartUploadResult result;
  ASSIGN_OR_RETURN(result.etag, required_text(*root, "ETag", kDocument));
  return result;
}

std::string complete_multipart_upload_body(const std::vector<CompletedPart>& parts) {
  std::string out = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < parts.size(); ++i) {
    LARES_DCHECK(i == 0 || parts[i - 1].part_number < parts[i].part_number);
    out += "<Part><PartNumber>" + std::to_string(parts[i].part_number) + "</PartNumber><ETag>" +
           escaped(parts[i].etag) + "</ETag></Part>";
  }
  return out + "</CompleteMultipartUpload>";
}

std::string create_bucket_body(std::string_view region) {
  return "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
         "<LocationConstraint>" +
         escaped(region) + "</LocationConstraint></CreateBucketConfiguration>";
}

Result<int64_t> parse_http_date(std::string_view text) {
  // Exactly "Www, DD Mon YYYY HH:MM:SS GMT": 29 characters.
  static constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto bad = [&] {
    return Status::corruption("not an HTTP date: '" + std::string(text.substr(0, 64)) + "'");
  };
  if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' ||
      text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT") {
    return bad();
  }
  auto number = [&](size_t at, size_t digits, int* out) {
    int value = 0;
    for (size_t i = at; i < at + digits; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      value = value * 10 + (text[i] - '0');
    }
    *out = value;
    return true;
  };
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (!number(5, 2, &day) || !number(12, 4, &year) || !number(17, 2, &hour) ||
      !number(20, 2, &minute) || !number(23, 2, &second)) {
    return bad();
  }
  int month = -1;
  for (int m = 0; m < 12; ++m) {
    if (text.substr(8, 3) == kMonths[m]) month = m;
  }
  bool weekday_known = false;
  for (const auto& d : kDays) weekday_known = weekday_known || text.substr(0, 3) == d;
  if (month < 0 || !weekday_known || day < 1 || day > 31 || year < 1970 || hour > 23 ||
      minute > 59 || second > 60) {
    return bad();
  }
  // Days since the epoch (civil calendar, proleptic Gregorian).
  static constexpr int kMonthDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kMonthDays[month] || (month == 1 && day == 29 && !leap)) return bad();
  const int m = month + 1;  // 1..12
  const int y = m <= 2 ? year - 1 : year;
  const int era = y / 400;
  const int yoe = y - era * 400;
  const int mp = (m + 9) % 12;  // March is 0
  const int doy = (153 * mp + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = int64_t{era} * 146097 + doe - 719468;
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace lares::s3
