#include "repo/s3_backend.h"

#include <openssl/evp.h>

#include <charconv>
#include <cstdio>
#include <random>
#include <thread>

#include "common/hex.h"
#include "common/log.h"
#include "repo/crypto.h"
#include "repo/s3_http.h"
#include "repo/s3_xml.h"

namespace pgdedup::repo {

namespace {

// Percent-encodes everything but RFC 3986's unreserved characters (and '/' when `keep_slash`),
// with upper-case hex as Signature V4 requires.
std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Md5(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool DnsCompatible(const std::string& bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (char c : bucket) {
    if (!(islower(static_cast<unsigned char>(c)) || isdigit(static_cast<unsigned char>(c)) ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Worth another attempt: the server is busy, failing inside, or timed out waiting for us.
bool RetryableHttp(long status, const S3Error& e) {
  return status >= 500 || status == 429 || status == 408 || e.code == "SlowDown" ||
         e.code == "RequestTimeout" || e.code == "InternalError";
}

// "bytes 0-99/1234" -> start 0, total 1234 (total UINT64_MAX when "*").
bool ParseContentRange(const std::string& v, uint64_t* start, uint64_t* total) {
  if (v.rfind("bytes ", 0) != 0) return false;
  size_t dash = v.find('-'), slash = v.find('/');
  if (dash == std::string::npos || slash == std::string::npos || slash < dash) return false;
  auto [p, ec] = std::from_chars(v.data() + 6, v.data() + dash, *start);
  if (ec != std::errc() || p != v.data() + dash) return false;
  if (v.compare(slash + 1, std::string::npos, "*") == 0) {
    *total = UINT64_MAX;
    return true;
  }
  auto [q, ec2] = std::from_chars(v.data() + slash + 1, v.data() + v.size(), *total);
  return ec2 == std::errc() && q == v.data() + v.size();
}

std::string Describe(const HttpResponse& r) {
  S3Error e = ParseS3Error(r.body);
  std::string s = "HTTP " + std::to_string(r.status);
  if (!e.code.empty()) s += " " + e.code;
  if (!e.message.empty()) s += " (" + e.message + ")";
  return s;
}

std::chrono::milliseconds Backoff(const S3RetryPolicy& policy, int retry) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto cap = policy.max_delay.count();
  auto d = policy.base_delay.count();
  for (int i = 1; i < retry && d < cap; ++i) d *= 2;
  d = std::min<decltype(d)>(d, cap);
  // Half fixed, half random: clients that failed together do not retry together.
  std::uniform_int_distribution<long long> jitter(0, d / 2);
  return std::chrono::milliseconds(d - d / 2 + jitter(rng));
}

}  // namespace

S3Backend::S3Backend(S3Options options, std::unique_ptr<HttpClient> http)
    : options_(std::move(options)), http_(std::move(http)) {
  switch (options_.lookup) {
    case S3BucketLookup::kPath:
      virtual_host_ = false;
      break;
    case S3BucketLookup::kVirtualHost:
      virtual_host_ = true;
      break;
    case S3BucketLookup::kAuto:
      virtual_host_ = DnsCompatible(options_.bucket) &&
                      EndsWith(options_.host.substr(0, options_.host.find(':')), ".amazonaws.com");
      break;
  }
}

S3Backend::~S3Backend() = default;

Result<std::unique_ptr<S3Backend>> S3Backend::Open(const S3Options& options, bool create) {
  HttpClientOptions http;
  http.sigv4 = "aws:amz:" + options.region + ":s3";
  http.access_key = options.access_key;
  http.secret_key = options.secret_key;
  http.cacert = options.cacert;
  http.stall_timeout_seconds = options.stall_timeout_seconds;
  auto client = HttpClient::Create(http);
  if (!client.ok()) return client.status();
  std::unique_ptr<S3Backend> backend(new S3Backend(options, std::move(*client)));
  if (create) PGDEDUP_RETURN_IF_ERROR(backend->CreateBucketIfMissing());
  return backend;
}

std::string S3Backend::Location() const {
  return "s3:" + options_.scheme + "://" + options_.host + "/" + options_.bucket +
         (options_.prefix.empty() ? ""
                                  : "/" + options_.prefix.substr(0, options_.prefix.size() - 1));
}

std::string S3Backend::ObjectUrl(const std::string& name) const {
  std::string key = UriEncode(options_.prefix + name, /*keep_slash=*/true);
  if (virtual_host_) {
    return options_.scheme + "://" + options_.bucket + "." + options_.host + "/" + key;
  }
  return options_.scheme + "://" + options_.host + "/" + options_.bucket + "/" + key;
}

std::string S3Backend::BucketUrl(const std::string& query) const {
  std::string url = virtual_host_
                        ? options_.scheme + "://" + options_.bucket + "." + options_.host + "/"
                        : options_.scheme + "://" + options_.host + "/" + options_.bucket;
  return query.empty() ? url : url + "?" + query;
}

std::vector<std::string> S3Backend::CommonHeaders(std::string_view payload_sha256) const {
  std::vector<std::string> h;
  h.push_back("x-amz-content-sha256: " + std::string(payload_sha256));
  if (!options_.session_token.empty()) {
    h.push_back("x-amz-security-token: " + options_.session_token);
  }
  return h;
}

Result<HttpResponse> S3Backend::Execute(BackendCounters::Kind kind, const std::string& what,
                                        const HttpRequest& request, const Check& check) {
  std::string last;
  auto start = std::chrono::steady_clock::now();
  int attempts = std::max(1, options_.retry.max_attempts);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) {
      counters_.Retry();
      auto wait = Backoff(options_.retry, attempt);
      LogDebug(what + ": " + last + "; retrying in " + std::to_string(wait.count()) + " ms");
      std::this_thread::sleep_for(wait);
    }
    counters_.Request(kind);
    auto r = http_->Perform(request);
    if (!r.ok()) {
      if (!r.status().IsUnavailable()) return r.status().WithContext(what);
      last = r.status().message();
      continue;
    }
    counters_.Sent(r->bytes_sent);
    counters_.Received(r->body.size());
    if (r->status >= 200 && r->status < 300) {
      Status s = check ? check(&*r) : Status::OK();
      if (s.ok()) return r;
      if (!s.IsUnavailable()) return s;
      last = s.message();
      continue;
    }
    if (!RetryableHttp(r->status, ParseS3Error(r->body))) return r;
    last = Describe(*r);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", secs);
  return Status::Unavailable(what + ": gave up after " + std::to_string(attempts) +
                             " attempts in " + took + " s; last failure: " + last);
}

Status S3Backend::HttpError(const std::string& what, const HttpResponse& r) const {
  S3Error e = ParseS3Error(r.body);
  std::string detail = Describe(r);
  if (r.status == 404) return Status::NotFound(what + ": not found (" + detail + ")");
  if (r.status == 401 || r.status == 403) {
    std::string hint;
    if (e.code == "InvalidAccessKeyId" || e.code == "SignatureDoesNotMatch") {
      hint = ": check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
    } else if (e.code == "RequestTimeTooSkewed") {
      hint = ": this machine's clock is off";
    }
    return Status::Permission("access to S3 bucket " + options_.bucket + " denied (" + detail +
                              ") for " + what + hint);
  }
  if (r.status == 416) return Status::Corruption(what + ": short read (" + detail + ")");
  return Status::IOError(what + ": " + detail);
}

Status S3Backend::CreateBucketIfMissing() {
  static const std::string kEmptySha = Sha256("").Hex();
  HttpRequest head{"HEAD", BucketUrl(""), CommonHeaders(kEmptySha), {}, 0};
  std::string what = "S3 bucket " + options_.bucket;
  auto r = Execute(BackendCounters::kHead, "HEAD " + what, head, nullptr);
  if (!r.ok()) return r.status();
  if (r->status < 300) return Status::OK();
  if (r->status != 404) return HttpError("HEAD " + what, *r);
  std::string body;
  if (options_.region != "us-east-1") {
    body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        XmlEscape(options_.region) + "</LocationConstraint></CreateBucketConfiguration>";
  }
  HttpRequest put{"PUT", BucketUrl(""), CommonHeaders(Sha256(body).Hex()), body, 0};
  r = Execute(BackendCounters::kPut, "create " + what, put, nullptr);
  if (!r.ok()) return r.status();
  if (r->status >= 300) {
    S3Error e = ParseS3Error(r->body);
    if (e.code == "BucketAlreadyOwnedByYou") return Status::OK();
    return HttpError("create " + what, *r);
  }
  LogInfo("created S3 bucket " + options_.bucket);
  return Status::OK();
}

Status S3Backend::Put(const std::string& name, std::string_view data) {
  std::string md5 = Md5(data);
  std::string md5_hex = ToHex(md5);
  HttpRequest request{"PUT", ObjectUrl(name), CommonHeaders(Sha256(data).Hex()), data, 0};
  request.headers.push_back("Content-MD5: " + Base64(md5));
  request.headers.push_back("Content-Type: application/octet-stream");
  std::string what = "S3 PUT " + name;
  auto r = Execute(BackendCounters::kPut, what, request, [&](HttpResponse* resp) {
    // A plain upload's ETag is the MD5 of the bytes the server stored.
    if (resp->etag.size() == 32 && IsHex(resp->etag) && resp->etag != md5_hex) {
      return Status::Unavailable("the server stored different bytes (ETag " + resp->etag +
                                 ", sent MD5 " + md5_hex + ")");
    }
    return Status::OK();
  });
  if (!r.ok()) return r.status();
  if (r->status >= 300) return HttpError(what, *r);
  return Status::OK();
}

Result<std::string> S3Backend::Fetch(const std::string& name, uint64_t offset, uint64_t length,
                                     bool up_to) {
  if (length == 0) {  // HTTP has no empty range: check that the object reaches `offset`
    auto size = Size(name);
    if (!size.ok()) return size.status();
    if (*size < offset)
      return Status::Corruption(name + ": read 0@" + std::to_string(offset) + ": short read");
    return std::string();
  }
  static const std::string kEmptySha = Sha256("").Hex();
  HttpRequest request{"GET", ObjectUrl(name), CommonHeaders(kEmptySha), {}, 0};
  bool ranged = offset > 0 || length != kToEnd;
  if (ranged) {
    std::string range = "Range: bytes=" + std::to_string(offset) + "-";
    if (length != kToEnd) {
      range += std::to_string(offset + length - 1);
      request.expected_body = length;
    }
    request.headers.push_back(range);
  }
  std::string what = "S3 GET " + name;
  if (length != kToEnd) what += " " + std::to_string(length) + "@" + std::to_string(offset);
  auto short_read = [&](uint64_t have) {
    return Status::Corruption(name + ": read " +
                              (length == kToEnd ? std::string("to end") : std::to_string(length)) +
                              "@" + std::to_string(offset) + ": short read (object has " +
                              std::to_string(have) + " bytes)");
  };
  auto r = Execute(BackendCounters::kGet, what, request, [&](HttpResponse* resp) -> Status {
    if (resp->content_length >= 0 &&
        resp->body.size() != static_cast<uint64_t>(resp->content_length)) {
      return Status::Unavailable("body cut short (" + std::to_string(resp->body.size()) + " of " +
                                 std::to_string(resp->content_length) + " bytes)");
    }
    if (!ranged) return Status::OK();
    if (resp->status == 200) {  // the server ignored the range and sent the whole object
      if (resp->body.size() < offset ||
          (length != kToEnd && !up_to && resp->body.size() - offset < length)) {
        return short_read(resp->body.size());
      }
      resp->body = resp->body.substr(offset, length == kToEnd ? std::string::npos : length);
      return Status::OK();
    }
    uint64_t start = 0, total = 0;
    if (!ParseContentRange(resp->content_range, &start, &total) || start != offset) {
      return Status::IOError(what + ": unexpected Content-Range '" + resp->content_range + "'");
    }
    if (length != kToEnd && resp->body.size() < length) {
      if (total != UINT64_MAX && total < offset + length) {
        if (up_to && total == offset + resp->body.size()) return Status::OK();
        return short_read(total);
      }
      return Status::Unavailable("short body (" + std::to_string(resp->body.size()) + " of " +
                                 std::to_string(length) + " bytes)");
    }
    return Status::OK();
  });
  if (!r.ok()) return r.status();
  if (r->status >= 300) {
    if (r->status == 416) {  // the range starts at or past the end
      auto size = Size(name);
      if (up_to && size.ok() && *size == offset) return std::string();
      return short_read(size.ok() ? *size : 0);
    }
    Status s = HttpError(what, *r);
    if (s.IsNotFound())
      return Status::NotFound("object " + name + " is missing from " + Location());
    return s;
  }
  return std::move(r->body);
}

Result<uint64_t> S3Backend::Size(const std::string& name) {
  static const std::string kEmptySha = Sha256("").Hex();
  HttpRequest request{"HEAD", ObjectUrl(name), CommonHeaders(kEmptySha), {}, 0};
  std::string what = "S3 HEAD " + name;
  auto r = Execute(BackendCounters::kHead, what, request, [&](HttpResponse* resp) {
    if (resp->content_length < 0) return Status::IOError(what + ": no Content-Length");
    return Status::OK();
  });
  if (!r.ok()) return r.status();
  if (r->status >= 300) {
    Status s = HttpError(what, *r);
    if (s.IsNotFound())
      return Status::NotFound("object " + name + " is missing from " + Location());
    return s;
  }
  return static_cast<uint64_t>(r->content_length);
}

Result<std::vector<ObjectInfo>> S3Backend::List(const std::string& prefix) {
  static const std::string kEmptySha = Sha256("").Hex();
  std::vector<ObjectInfo> out;
  std::string token;
  std::string full_prefix = options_.prefix + prefix;
  std::string what = "S3 list " + (prefix.empty() ? std::string("all objects") : prefix);
  for (;;) {
    // Query parameters in the sorted order Signature V4 signs them in.
    std::string query;
    if (!token.empty()) query += "continuation-token=" + UriEncode(token, false) + "&";
    query += "list-type=2";
    if (!full_prefix.empty()) query += "&prefix=" + UriEncode(full_prefix, false);
    HttpRequest request{"GET", BucketUrl(query), CommonHeaders(kEmptySha), {}, 0};
    S3ListPage page;
    auto r = Execute(BackendCounters::kList, what, request, [&](HttpResponse* resp) {
      auto parsed = ParseS3ListPage(resp->body);
      // A page cut short in transit does not parse: ask again.
      if (!parsed.ok()) return Status::Unavailable(parsed.status().message());
      page = std::move(*parsed);
      return Status::OK();
    });
    if (!r.ok()) return r.status();
    if (r->status >= 300) {
      Status s = HttpError(what, *r);
      if (s.IsNotFound())
        return Status::NotFound("S3 bucket " + options_.bucket + " does not exist");
      return s;
    }
    for (auto& o : page.objects) {
      if (o.name.rfind(full_prefix, 0) != 0) continue;
      o.name.erase(0, options_.prefix.size());
      out.push_back(std::move(o));
    }
    if (!page.truncated) break;
    token = page.next_token;
  }
  return out;
}

Status S3Backend::Delete(const std::string& name) {
  static const std::string kEmptySha = Sha256("").Hex();
  HttpRequest request{"DELETE", ObjectUrl(name), CommonHeaders(kEmptySha), {}, 0};
  std::string what = "S3 DELETE " + name;
  auto r = Execute(BackendCounters::kDelete, what, request, nullptr);
  if (!r.ok()) return r.status();
  if (r->status == 404) return Status::OK();
  if (r->status >= 300) return HttpError(what, *r);
  return Status::OK();
}

Status S3Backend::DeleteOneByOne(const std::vector<std::string>& names, size_t from) {
  for (size_t i = from; i < names.size(); ++i) PGDEDUP_RETURN_IF_ERROR(Delete(names[i]));
  return Status::OK();
}

Status S3Backend::DeleteAll(const std::vector<std::string>& names) {
  for (size_t from = 0; from < names.size(); from += kDeleteBatch) {
    size_t to = std::min(names.size(), from + kDeleteBatch);
    std::vector<std::string> keys;
    for (size_t i = from; i < to; ++i) keys.push_back(options_.prefix + names[i]);
    std::string body = S3DeleteRequest(keys);
    HttpRequest request{"POST", BucketUrl("delete="), CommonHeaders(Sha256(body).Hex()), body, 0};
    request.headers.push_back("Content-MD5: " + Base64(Md5(body)));
    request.headers.push_back("Content-Type: application/xml");
    std::string what = "S3 delete " + std::to_string(keys.size()) + " objects";
    auto r = Execute(BackendCounters::kDelete, what, request, nullptr);
    if (!r.ok()) return r.status();
    if (r->status >= 300) {
      S3Error e = ParseS3Error(r->body);
      if (r->status == 501 || e.code == "NotImplemented") return DeleteOneByOne(names, from);
      return HttpError(what, *r);
    }
    for (const auto& [key, error] : ParseS3DeleteErrors(r->body)) {
      if (error.code == "NoSuchKey") continue;
      return Status::IOError("S3 DELETE " + key + ": " + error.code + " (" + error.message + ")");
    }
  }
  return Status::OK();
}

}  // namespace pgdedup::repo
