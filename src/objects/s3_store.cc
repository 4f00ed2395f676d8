#include "objects/s3_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "objects/s3_xml.h"
#include "objects/sigv4.h"
#include "util/random.h"

namespace lares {
namespace {

constexpr uint64_t kMinPartSizeBytes = 5ull << 20;  // S3's minimum, except the last part
constexpr uint64_t kMaxPartSizeBytes = 5ull << 30;
constexpr uint64_t kMaxPartCount = 10000;
// Error and XML replies are small; a larger one is not S3 talking.
constexpr size_t kMaxReplyBytes = 16u << 20;
// Room for an error document beside a ranged GET's expected bytes.
constexpr size_t kErrorReplySlackBytes = 64u << 10;
constexpr std::string_view kDefaultRegion = "us-east-1";

using Query = std::vector<std::pair<std::string, std::string>>;
using Headers = std::vector<std::pair<std::string, std::string>>;

// curl_global_init is not thread-safe in every libcurl: run it once.
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { LARES_CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK); });
}

// Where requests go: "http" or "https", and the authority ("host[:port]")
// that is both the URL's and the signed Host header's.
struct Endpoint {
  std::string scheme;
  std::string authority;
};

Result<Endpoint> parse_endpoint(const S3Options& options) {
  const std::string url = options.endpoint.empty()
                              ? "https://s3." + options.region + ".amazonaws.com"
                              : options.endpoint;
  const size_t separator = url.find("://");
  if (separator == std::string::npos) {
    return Status::invalid_argument("S3 endpoint '" + url + "' is not http(s)://host[:port]");
  }
  Endpoint endpoint{url.substr(0, separator), url.substr(separator + 3)};
  while (endpoint.authority.ends_with('/')) endpoint.authority.pop_back();
  if ((endpoint.scheme != "http" && endpoint.scheme != "https") || endpoint.authority.empty() ||
      endpoint.authority.find_first_of("/?#@ ") != std::string::npos) {
    return Status::invalid_argument("S3 endpoint '" + url + "' is not http(s)://host[:port]");
  }
  if (!options.path_style) endpoint.authority = options.bucket + "." + endpoint.authority;
  return endpoint;
}

Status check_options(const S3Options& options) {
  auto invalid = [](const std::string& what) {
    return Status::invalid_argument("S3 options: " + what);
  };
  if (options.bucket.empty() || options.bucket.find('/') != std::string::npos) {
    return invalid("the bucket name '" + options.bucket + "' is empty or has a '/'");
  }
  if (options.access_key.empty() || options.secret_key.empty()) {
    return invalid("no access key or secret key (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)");
  }
  if (options.region.empty()) return invalid("no region");
  if (options.prefix.starts_with('/')) return invalid("the prefix starts with '/'");
  if (options.part_size_bytes < kMinPartSizeBytes || options.part_size_bytes > kMaxPartSizeBytes) {
    return invalid("part_size_bytes must be 5 MiB..5 GiB");
  }
  if (options.multipart_threshold_bytes == 0) return invalid("multipart_threshold_bytes is 0");
  if (options.connections < 1 || options.max_retries < 0 || options.timeout_s < 1 ||
      options.retry_delay_ms_initial < 0 || options.retry_delay_ms_max < 0) {
    return invalid("connections and timeout_s must be ≥ 1, retries and delays ≥ 0");
  }
  if (options.list_max_keys < 1 || options.list_max_keys > 1000) {
    return invalid("list_max_keys must be 1..1000");
  }
  return Status::ok();
}

struct HttpRequest {
  explicit HttpRequest(std::string method_in, std::string key_in = "", Query query_in = {})
      : method(std::move(method_in)), key(std::move(key_in)), query(std::move(query_in)) {}

  std::string method;
  std::string key;  // "" for the bucket itself
  Query query;
  Headers headers;  // besides the signing ones
  ByteView body;
  size_t max_reply_bytes = kMaxReplyBytes;
};

struct HttpReply {
  long status = 0;
  Bytes body;
  std::map<std::string, std::string> headers;  // lowercase names

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  std::string_view text() const { return as_chars(body); }
};

// S3's error Code in a reply body; "" when there is none.
std::string error_code(const HttpReply& reply) {
  if (reply.body.empty()) return "";
  Result<s3::ErrorDocument> error = s3::parse_error(reply.text());
  return error.is_ok() ? error->code : "";
}

bool is_retryable_code(const std::string& code) {
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
         code == "ServiceUnavailable" || code == "RequestTimeTooSkewed";
}

bool is_retryable(const HttpReply& reply) {
  if (reply.status >= 500 || reply.status == 429) return true;
  if (reply.status == 403) return false;  // never retry refused credentials
  return reply.status == 400 && is_retryable_code(error_code(reply));
}

// The Status for a reply S3 refused; `what` names the operation.
Status error_status(const HttpReply& reply, const std::string& what) {
  std::string detail = "HTTP " + std::to_string(reply.status);
  if (!reply.body.empty()) {
    Result<s3::ErrorDocument> error = s3::parse_error(reply.text());
    if (error.is_ok()) {
      detail += " " + error->code;
      if (!error->message.empty()) detail += ": " + error->message;
      if (!error->request_id.empty()) detail += " (request " + error->request_id + ")";
    }
  } else if (reply.status == 403) {
    detail += " (a wrong access key or secret, or no permission)";
  }
  const std::string message = what + ": " + detail;
  switch (reply.status) {
    case 404: return Status::not_found(message);
    case 403: return Status::permission_denied(message);
    case 503: return Status::unavailable(message);
    default: return Status::io_error(message);
  }
}

// Whether a libcurl failure may pass by retrying (the network, the server);
// not a bad URL or a TLS certificate that does not verify.
bool is_retryable_curl_error(CURLcode code) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR:  // our own reply limit
      return false;
    default: return true;
  }
}

// Content-Range "bytes FIRST-LAST/TOTAL" of a 206 reply.
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

std::optional<ContentRange> parse_content_range(std::string_view text) {
  ContentRange range;
  if (!text.starts_with("bytes ")) return std::nullopt;
  const char* p = text.data() + 6;
  const char* end = text.data() + text.size();
  auto [after_first, e1] = std::from_chars(p, end, range.first);
  if (e1 != std::errc() || after_first == end || *after_first != '-') return std::nullopt;
  auto [after_last, e2] = std::from_chars(after_first + 1, end, range.last);
  if (e2 != std::errc() || after_last == end || *after_last != '/') return std::nullopt;
  if (range.last < range.first) return std::nullopt;
  return range;
}

std::string getenv_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

S3Options S3Options::from_environment(S3Options base) {
  auto fill = [](std::string& field, const char* variable) {
    if (field.empty()) field = getenv_or_empty(variable);
  };
  fill(base.access_key, "AWS_ACCESS_KEY_ID");
  fill(base.secret_key, "AWS_SECRET_ACCESS_KEY");
  fill(base.session_token, "AWS_SESSION_TOKEN");
  fill(base.endpoint, "AWS_ENDPOINT_URL");
  if (base.region.empty() || base.region == kDefaultRegion) {
    std::string region = getenv_or_empty("AWS_REGION");
    if (region.empty()) region = getenv_or_empty("AWS_DEFAULT_REGION");
    if (!region.empty()) base.region = region;
  }
  return base;
}

// ---------------------------------------------------------------------------
// The libcurl side: a pool of easy handles, one per connection, sharing DNS
// and TLS session caches; signing; retries.

class S3Store::Http {
 public:
  Http(const S3Options& options, Endpoint endpoint);
  ~Http();
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  // Sends `request`, retrying as the header comment says. A reply of any
  // status comes back as a value; kUnavailable when the server cannot be
  // reached, kCorruption when the reply breaks the protocol.
  Result<HttpReply> perform(const HttpRequest& request, const std::string& what);

 private:
  struct HandleDeleter {
    void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
  };
  using Handle = std::unique_ptr<CURL, HandleDeleter>;

  // An easy handle for one request; waits while all `connections` are busy.
  Handle acquire();
  void release(Handle handle);
  // One try. Sets *curl_code when libcurl failed.
  Result<HttpReply> attempt(CURL* handle, const HttpRequest& request,
                            const std::string& payload_sha256, CURLcode* curl_code);
  std::string encoded_path(const std::string& key) const;
  void sleep_before_retry(int retry) const;

  static void lock_share(CURL*, curl_lock_data data, curl_lock_access, void* self);
  static void unlock_share(CURL*, curl_lock_data data, void* self);

  const Endpoint endpoint_;
  const std::string bucket_;
  const bool path_style_;
  const std::string region_;
  const sigv4::Credentials credentials_;
  const int max_retries_;
  const int retry_delay_ms_initial_;
  const int retry_delay_ms_max_;
  const long timeout_s_;
  const int connections_;

  CURLSH* share_ = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks_;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  std::vector<Handle> idle_;  // GUARDED_BY(mu_)
  int handles_made_ = 0;      // GUARDED_BY(mu_); ≤ connections_
};

S3Store::Http::Http(const S3Options& options, Endpoint endpoint)
    : endpoint_(std::move(endpoint)),
      bucket_(options.bucket),
      path_style_(options.path_style),
      region_(options.region),
      credentials_{options.access_key, options.secret_key, options.session_token},
      max_retries_(options.max_retries),
      retry_delay_ms_initial_(options.retry_delay_ms_initial),
      retry_delay_ms_max_(options.retry_delay_ms_max),
      timeout_s_(options.timeout_s),
      connections_(options.connections) {
  init_curl_once();
  share_ = curl_share_init();
  LARES_CHECK(share_ != nullptr);
  curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &Http::lock_share);
  curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &Http::unlock_share);
  curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

S3Store::Http::~Http() {
  idle_.clear();  // handles first: they use the share
  curl_share_cleanup(share_);
}

void S3Store::Http::lock_share(CURL*, curl_lock_data data, curl_lock_access, void* self) {
  static_cast<Http*>(self)->share_locks_[static_cast<size_t>(data)].lock();
}

void S3Store::Http::unlock_share(CURL*, curl_lock_data data, void* self) {
  static_cast<Http*>(self)->share_locks_[static_cast<size_t>(data)].unlock();
}

S3Store::Http::Handle S3Store::Http::acquire() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return !idle_.empty() || handles_made_ < connections_; });
  if (!idle_.empty()) {
    Handle handle = std::move(idle_.back());
    idle_.pop_back();
    return handle;
  }
  ++handles_made_;
  Handle handle(curl_easy_init());
  LARES_CHECK(handle != nullptr);
  return handle;
}

void S3Store::Http::release(Handle handle) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(handle));
  }
  idle_cv_.notify_one();
}

std::string S3Store::Http::encoded_path(const std::string& key) const {
  if (!path_style_) return sigv4::encode_path(key);
  return sigv4::encode_path(key.empty() ? bucket_ : bucket_ + "/" + key);
}

void S3Store::Http::sleep_before_retry(int retry) const {
  // Full jitter: uniform in [0, min(max, initial · 2^retry)].
  const uint64_t ceiling_ms =
      std::min<uint64_t>(static_cast<uint64_t>(retry_delay_ms_max_),
                         static_cast<uint64_t>(retry_delay_ms_initial_) << std::min(retry, 20));
  const uint64_t delay_ms = ceiling_ms == 0 ? 0 : random_u64() % (ceiling_ms + 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
}

Result<HttpReply> S3Store::Http::perform(const HttpRequest& request, const std::string& what) {
  // Hashed once: a 16 MiB part is not hashed again per retry.
  const std::string payload_sha256 = sigv4::sha256_hex(request.body);
  for (int retry = 0;; ++retry) {
    if (retry > 0) sleep_before_retry(retry - 1);
    Handle handle = acquire();
    CURLcode curl_code = CURLE_OK;
    Result<HttpReply> reply = attempt(handle.get(), request, payload_sha256, &curl_code);
    release(std::move(handle));
    const bool out_of_tries = retry >= max_retries_;
    if (!reply.is_ok()) {
      if (!is_retryable_curl_error(curl_code) || out_of_tries) {
        return reply.status().with_context(what + " (after " + std::to_string(retry + 1) +
                                           " attempts)");
      }
      continue;
    }
    if (!is_retryable(*reply) || out_of_tries) return reply;
  }
}

namespace {

// libcurl callbacks.
struct UploadSource {
  ByteView body;
  size_t offset = 0;
};

size_t read_body(char* buffer, size_t size, size_t count, void* user) {
  auto* source = static_cast<UploadSource*>(user);
  const size_t n = std::min(size * count, source->body.size() - source->offset);
  std::memcpy(buffer, source->body.data() + source->offset, n);
  source->offset += n;
  return n;
}

int seek_body(void* user, curl_off_t offset, int origin) {
  auto* source = static_cast<UploadSource*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > source->body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  source->offset = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

struct ReplySink {
  HttpReply* reply;
  size_t max_bytes;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<ReplySink*>(user);
  const size_t n = size * count;
  if (n > sink->max_bytes - std::min(sink->max_bytes, sink->reply->body.size())) return 0;
  sink->reply->body.insert(sink->reply->body.end(), data, data + n);
  return n;
}

size_t write_header(char* data, size_t size, size_t count, void* user) {
  auto* reply = static_cast<HttpReply*>(user);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) reply->headers.clear();  // a new reply (after a 100)
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
    value.remove_suffix(1);
  }
  reply->headers[name] = std::string(value);
  return size * count;
}

struct HeaderListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using HeaderList = std::unique_ptr<curl_slist, HeaderListDeleter>;

void append_header(HeaderList& list, const std::string& line) {
  curl_slist* appended = curl_slist_append(list.get(), line.c_str());
  LARES_CHECK(appended != nullptr);
  (void)list.release();
  list.reset(appended);
}

}  // namespace

Result<HttpReply> S3Store::Http::attempt(CURL* handle, const HttpRequest& request,
                                         const std::string& payload_sha256, CURLcode* curl_code) {
  sigv4::Request signing{request.method, encoded_path(request.key), request.query, request.headers,
                         payload_sha256};
  signing.headers.emplace_back("host", endpoint_.authority);
  const std::string authorization =
      sigv4::sign(credentials_, signing, static_cast<int64_t>(std::time(nullptr)), region_);
  HeaderList header_list;
  for (const auto& [name, value] : signing.headers) append_header(header_list, name + ": " + value);
  append_header(header_list, "Authorization: " + authorization);
  append_header(header_list, "Expect:");  // no 100-continue round trip

  const std::string query = sigv4::canonical_query(request.query);
  const std::string url = endpoint_.scheme + "://" + endpoint_.authority + signing.encoded_path +
                          (query.empty() ? "" : "?" + query);
  HttpReply reply;
  UploadSource source{request.body};
  ReplySink sink{&reply, request.max_reply_bytes};

  curl_easy_reset(handle);  // keeps the open connection and the caches
  curl_easy_setopt(handle, CURLOPT_SHARE, share_);
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, timeout_s_);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, timeout_s_);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &write_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &write_header);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &reply);
  if (request.method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(handle, CURLOPT_READFUNCTION, &read_body);
    curl_easy_setopt(handle, CURLOPT_READDATA, &source);
    curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, &seek_body);
    curl_easy_setopt(handle, CURLOPT_SEEKDATA, &source);
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  *curl_code = curl_easy_perform(handle);
  if (*curl_code == CURLE_WRITE_ERROR) {
    return Status::corruption("S3 reply from " + endpoint_.authority + " is over " +
                              std::to_string(request.max_reply_bytes) + " bytes");
  }
  if (*curl_code != CURLE_OK) {
    return Status::unavailable("cannot reach S3 at " + endpoint_.scheme + "://" +
                               endpoint_.authority + ": " + curl_easy_strerror(*curl_code));
  }
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

// ---------------------------------------------------------------------------

S3Store::S3Store(S3Options options, std::unique_ptr<Http> http)
    : options_(std::move(options)), http_(std::move(http)) {}

S3Store::~S3Store() = default;

std::string S3Store::location() const { return "s3://" + options_.bucket + "/" + options_.prefix; }

Result<std::unique_ptr<S3Store>> S3Store::open(const S3Options& options_in,
                                               CreateIfMissing create) {
  S3Options options = options_in;
  if (!options.prefix.empty() && !options.prefix.ends_with('/')) options.prefix += '/';
  RETURN_IF_ERROR(check_options(options));
  ASSIGN_OR_RETURN(Endpoint endpoint, parse_endpoint(options));
  auto http = std::make_unique<Http>(options, std::move(endpoint));
  std::unique_ptr<S3Store> store(new S3Store(std::move(options), std::move(http)));
  RETURN_IF_ERROR(store->check_bucket(create));
  return store;
}

Status S3Store::check_bucket(CreateIfMissing create) {
  const std::string bucket = "bucket " + options_.bucket;
  ASSIGN_OR_RETURN(HttpReply head, http_->perform(HttpRequest("HEAD"), "open " + bucket));
  if (head.status == 200) return Status::ok();
  if (head.status != 404) return error_status(head, "open " + bucket);
  if (create == CreateIfMissing::kNo) {
    return Status::not_found("S3 bucket " + options_.bucket + " does not exist");
  }
  // us-east-1 is the one region named by no LocationConstraint.
  const std::string body =
      options_.region == kDefaultRegion ? "" : s3::create_bucket_body(options_.region);
  HttpRequest request("PUT");
  request.body = as_bytes(body);
  ASSIGN_OR_RETURN(HttpReply made, http_->perform(request, "create " + bucket));
  if (made.status == 200) return Status::ok();
  // Made meanwhile by another client of ours.
  if (made.status == 409 && error_code(made) == "BucketAlreadyOwnedByYou") return Status::ok();
  return error_status(made, "create " + bucket);
}

Status S3Store::put(const std::string& name, ByteView data) {
  RETURN_IF_ERROR(validate_object_name(name));
  if (data.size() >= options_.multipart_threshold_bytes) return put_multipart(key_of(name), data);
  return put_single(key_of(name), data);
}

Status S3Store::put_single(const std::string& key, ByteView data) {
  HttpRequest request("PUT", key);
  request.body = data;
  if (!options_.storage_class.empty()) {
    request.headers.emplace_back("x-amz-storage-class", options_.storage_class);
  }
  const std::string what = "put '" + key + "' in bucket " + options_.bucket;
  ASSIGN_OR_RETURN(HttpReply reply, http_->perform(request, what));
  if (reply.status != 200) return error_status(reply, what);
  return Status::ok();
}

Status S3Store::put_multipart(const std::string& key, ByteView data) {
  ASSIGN_OR_RETURN(const std::string upload_id, create_multipart_upload(key));
  Result<std::vector<std::string>> etags = upload_parts(key, upload_id, data);
  Status status = etags.is_ok() ? complete_multipart_upload(key, upload_id, *etags, data.size())
                                : etags.status();
  if (status.is_ok()) return status;
  // Best effort: the parts are invisible either way, this frees their space.
  const std::string what = "abort multipart upload of '" + key + "'";
  (void)http_->perform(HttpRequest("DELETE", key, {{"uploadId", upload_id}}), what);
  return status;
}

Result<std::string> S3Store::create_multipart_upload(const std::string& key) {
  HttpRequest request("POST", key, {{"uploads", ""}});
  if (!options_.storage_class.empty()) {
    request.headers.emplace_back("x-amz-storage-class", options_.storage_class);
  }
  const std::string what = "start multipart upload of '" + key + "' in bucket " + options_.bucket;
  ASSIGN_OR_RETURN(HttpReply reply, http_->perform(request, what));
  if (reply.status != 200) return error_status(reply, what);
  return s3::parse_initiate_multipart_upload(reply.text());
}

Result<std::vector<std::string>> S3Store::upload_parts(const std::string& key,
                                                       const std::string& upload_id,
                                                       ByteView data) {
  // Parts grow past part_size_bytes when the object needs more than 10000.
  const uint64_t part_size =
      std::max(options_.part_size_bytes, (data.size() + kMaxPartCount - 1) / kMaxPartCount);
  const auto part_count = static_cast<uint32_t>((data.size() + part_size - 1) / part_size);
  LARES_CHECK(part_count >= 1 && part_count <= kMaxPartCount);
  std::vector<std::string> etags(part_count);
  std::atomic<uint32_t> next_index{0};
  std::mutex failure_mu;
  Status failure;  // GUARDED_BY(failure_mu): the first part that failed
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (uint32_t index = next_index++; index < part_count && !failed; index = next_index++) {
      const uint64_t begin = index * part_size;
      const ByteView part = data.subspan(begin, std::min<uint64_t>(part_size, data.size() - begin));
      Status status = upload_part(key, upload_id, index + 1, part, &etags[index]);
      if (!status.is_ok()) {
        std::lock_guard lock(failure_mu);
        if (failure.is_ok()) failure = std::move(status);
        failed = true;
      }
    }
  };
  {
    std::vector<std::jthread> workers;
    const auto worker_count =
        std::min<uint32_t>(static_cast<uint32_t>(options_.connections), part_count);
    for (uint32_t i = 1; i < worker_count; ++i) workers.emplace_back(work);
    work();
  }
  if (failed) return failure;
  return etags;
}

Status S3Store::upload_part(const std::string& key, const std::string& upload_id,
                            uint32_t part_number, ByteView part, std::string* etag) {
  HttpRequest request("PUT", key,
                      {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}});
  request.body = part;
  const std::string what = "upload part " + std::to_string(part_number) + " of '" + key + "'";
  ASSIGN_OR_RETURN(HttpReply reply, http_->perform(request, what));
  if (reply.status != 200) return error_status(reply, what);
  *etag = reply.header("etag");
  if (etag->empty()) return Status::corruption(what + ": the reply has no ETag");
  if (options_.part_uploaded_observer) options_.part_uploaded_observer(part_number);
  return Status::ok();
}

Status S3Store::complete_multipart_upload(const std::string& key, const std::string& upload_id,
                                          const std::vector<std::string>& etags,
                                          uint64_t size_bytes) {
  std::vector<s3::CompletedPart> parts;
  for (size_t i = 0; i < etags.size(); ++i) {
    parts.push_back({static_cast<uint32_t>(i + 1), etags[i]});
  }
  const std::string body = s3::complete_multipart_upload_body(parts);
  HttpRequest request("POST", key, {{"uploadId", upload_id}});
  request.body = as_bytes(body);
  const std::string what = "complete multipart upload of '" + key + "'";
  // A 200 reply may still carry an <Error> (S3 sends the status before it
  // has finished): such errors are retried here, as perform() does the rest.
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(HttpReply reply, http_->perform(request, what));
    if (reply.status == 404 && error_code(reply) == "NoSuchUpload") {
      // An earlier try that we saw fail may have completed it: if the object
      // is there whole, it is ours (no one else knows this upload).
      Result<uint64_t> stored = size(key.substr(options_.prefix.size()));
      if (stored.is_ok() && *stored == size_bytes) return Status::ok();
    }
    if (reply.status != 200) return error_status(reply, what);
    ASSIGN_OR_RETURN(s3::CompleteMultipartUploadResult result,
                     s3::parse_complete_multipart_upload(reply.text()));
    if (!result.error) return Status::ok();
    if (!is_retryable_code(result.error->code) || attempt >= options_.max_retries) {
      return Status::io_error(what + ": " + result.error->code + ": " + result.error->message);
    }
  }
}

Result<Bytes> S3Store::get(const std::string& name, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(validate_object_name(name));
  if (length == 0) {
    RETURN_IF_ERROR(size(name).status());
    return Bytes();
  }
  const std::string key = key_of(name);
  const std::string what = "get '" + key + "' from bucket " + options_.bucket;
  HttpRequest request("GET", key);
  request.max_reply_bytes = SIZE_MAX;
  const bool whole = offset == 0 && length == UINT64_MAX;
  if (!whole) {
    const bool open_ended = length > UINT64_MAX - offset;
    const std::string last = open_ended ? "" : std::to_string(offset + length - 1);
    request.headers.emplace_back("range", "bytes=" + std::to_string(offset) + "-" + last);
    if (length < SIZE_MAX - kErrorReplySlackBytes) {
      request.max_reply_bytes = static_cast<size_t>(length) + kErrorReplySlackBytes;
    }
  }
  ASSIGN_OR_RETURN(HttpReply reply, http_->perform(request, what));
  // Reads are clipped at the end: a range starting at or past it is empty.
  if (reply.status == 416) return Bytes();
  if (reply.status == 200 && whole) return std::move(reply.body);
  if (reply.status == 200) {
    return Status::corruption(what + ": the server ignored the Range header");
  }
  if (reply.status != 206) return error_status(reply, what);
  const std::optional<ContentRange> range = parse_content_range(reply.header("content-range"));
  if (!range || range->first != offset || range->last - range->first + 1 != reply.body.size() ||
      reply.body.size() > length) {
    return Status::corruption(what + ": the reply's range '" + reply.header("content-range") +
                              "' is not the one asked for (" + std::to_string(reply.body.size()) +
                              " bytes)");
  }
  return std::move(reply.body);
}

Result<uint64_t> S3Store::size(const std::string& name) {
  RETURN_IF_ERROR(validate_object_name(name));
  const std::string key = key_of(name);
  const std::string what = "size of '" + key + "' in bucket " + options_.bucket;
  ASSIGN_OR_RETURN(HttpReply reply, http_->perform(HttpRequest("HEAD", key), what));
  if (reply.status != 200) return error_status(reply, what);
  const std::string text = reply.header("content-length");
  uint64_t size_bytes = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), size_bytes);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return Status::corruption(what + ": Content-Length is '" + text + "'");
  }
  return size_bytes;
}

Result<int64_t> S3Store::modified_unix(const std::string& name) {
  RETURN_IF_ERROR(validate_object_name(name));
  const std::string key = key_of(name);
  const std::string what = "age of '" + key + "' in bucket " + options_.bucket;
  ASSIGN_OR_RETURN(HttpReply reply, http_->perform(HttpRequest("HEAD", key), what));
  if (reply.status != 200) return error_status(reply, what);
  auto time = s3::parse_http_date(reply.header("last-modified"));
  if (!time.is_ok()) return time.status().with_context(what + ": ");
  return time;
}

Result<std::vector<std::string>> S3Store::list_keys(const std::string& key_prefix) {
  std::vector<std::string> keys;
  std::string token;
  const std::string what = "list '" + key_prefix + "' in bucket " + options_.bucket;
  while (true) {
    HttpRequest request("GET", "",
                        {{"list-type", "2"},
                         {"prefix", key_prefix},
                         {"max-keys", std::to_string(options_.list_max_keys)}});
    if (!token.empty()) request.query.emplace_back("continuation-token", token);
    ASSIGN_OR_RETURN(HttpReply reply, http_->perform(request, what));
    if (reply.status != 200) return error_status(reply, what);
    ASSIGN_OR_RETURN(s3::ListObjectsPage page, s3::parse_list_objects_v2(reply.text()));
    for (s3::ListedObject& object : page.objects) keys.push_back(std::move(object.key));
    if (!page.truncated) return keys;
    // Invariant: each page moves on, so the loop ends.
    if (page.next_continuation_token == token) {
      return Status::corruption(what + ": the server repeats a continuation token");
    }
    token = std::move(page.next_continuation_token);
  }
}

Result<std::vector<std::string>> S3Store::list(const std::string& prefix) {
  ASSIGN_OR_RETURN(std::vector<std::string> keys, list_keys(key_of(prefix)));
  std::vector<std::string> names;
  names.reserve(keys.size());
  for (std::string& key : keys) {
    // Keys not made by an ObjectStore (a console's "folder/" markers) are no objects.
    if (!key.starts_with(options_.prefix)) continue;
    std::string name = key.substr(options_.prefix.size());
    if (name.starts_with(prefix) && validate_object_name(name).is_ok()) {
      names.push_back(std::move(name));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status S3Store::remove(const std::string& name) {
  // DELETE answers 204 for absent keys too; the contract wants kNotFound.
  const std::string key = key_of(name);
  const std::string what = "remove '" + key + "' from bucket " + options_.bucket;
  RETURN_IF_ERROR(size(name).status().with_context(what));
  ASSIGN_OR_RETURN(HttpReply reply, http_->perform(HttpRequest("DELETE", key), what));
  if (reply.status != 204 && reply.status != 200) return error_status(reply, what);
  return Status::ok();
}

}  // namespace lares
