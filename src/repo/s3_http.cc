#include "repo/s3_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace pgdedup::repo {

namespace {

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

Status GlobalInit() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (rc != CURLE_OK) {
    return Status::IOError(std::string("libcurl initialisation failed: ") + curl_easy_strerror(rc));
  }
  return Status::OK();
}

// The state of one transfer, shared with curl's callbacks.
struct Transfer {
  std::string_view upload;
  size_t uploaded = 0;
  HttpResponse* response = nullptr;
};

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->response->body.append(data, size * n);
  return size * n;
}

size_t OnRead(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = std::min(size * n, t->upload.size() - t->uploaded);
  std::memcpy(buffer, t->upload.data() + t->uploaded, len);
  t->uploaded += len;
  return len;
}

// curl rewinds an upload when it resends a request (e.g. on a kept-alive connection the
// server had closed).
int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->uploaded = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool HeaderIs(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  return true;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a 100 Continue, say)
    t->response->etag.clear();
    t->response->content_range.clear();
  } else if (HeaderIs(line, "etag")) {
    std::string_view v = Trim(line.substr(5));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    t->response->etag = v;
  } else if (HeaderIs(line, "content-range")) {
    t->response->content_range = Trim(line.substr(14));
  }
  return size * n;
}

bool Retryable(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_READ_ERROR:
    case CURLE_WRITE_ERROR:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct HttpClient::Connection {
  std::unique_ptr<CURL, CurlEasyDeleter> easy;
};

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) {}

HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const HttpClientOptions& options) {
  PGDEDUP_RETURN_IF_ERROR(GlobalInit());
  return std::unique_ptr<HttpClient>(new HttpClient(options));
}

std::unique_ptr<HttpClient::Connection> HttpClient::Borrow() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Connection>();
  c->easy.reset(curl_easy_init());
  return c;
}

void HttpClient::Return(std::unique_ptr<Connection> connection) {
  std::lock_guard<std::mutex> l(mu_);
  if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(connection));
}

Result<HttpResponse> HttpClient::Perform(const HttpRequest& request) {
  auto connection = Borrow();
  CURL* h = connection->easy.get();
  if (h == nullptr) return Status::IOError("libcurl: cannot create a handle");
  // Reset forgets the last request's options but keeps the open connection for reuse.
  curl_easy_reset(h);

  HttpResponse response;
  if (request.expected_body > 0 && request.expected_body < (256u << 20)) {
    response.body.reserve(request.expected_body);
  }
  Transfer transfer{request.body, 0, &response};
  char error[CURL_ERROR_SIZE] = {0};

  CurlSlist headers;
  auto add_header = [&](const std::string& header) {
    curl_slist* l = curl_slist_append(headers.get(), header.c_str());
    if (l != nullptr) {
      (void)headers.release();
      headers.reset(l);
    }
    return l != nullptr;
  };
  bool headers_ok = add_header("Expect:");  // no 100-continue round trip before each upload
  for (const auto& header : request.headers) headers_ok = headers_ok && add_header(header);
  if (!headers_ok) return Status::IOError("libcurl: out of memory for headers");

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_seconds);
  // A transfer that moves less than one byte a second for the stall timeout is aborted.
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, options_.stall_timeout_seconds);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  if (!options_.cacert.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.cacert.c_str());
  if (!options_.sigv4.empty()) {
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, options_.sigv4.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, options_.access_key.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, options_.secret_key.c_str());
  }

  if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, OnSeek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "DELETE") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  } else {
    return Status::InvalidArgument("HTTP method " + request.method + " is not supported");
  }

  CURLcode rc = curl_easy_perform(h);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);  // `error` goes out of scope
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);   // so does `headers`
  if (rc != CURLE_OK) {
    std::string what = request.method + " " + request.url + ": " + curl_easy_strerror(rc);
    if (error[0] != '\0') what += std::string(" (") + error + ")";
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
      what += "; for a server with a private CA, give its certificate with --cacert FILE";
    }
    Return(std::move(connection));
    return Retryable(rc) ? Status::Unavailable(what) : Status::IOError(what);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  curl_off_t length = -1;
  if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK) {
    response.content_length = length;
  }
  response.bytes_sent = request.method == "POST" ? request.body.size() : transfer.uploaded;
  Return(std::move(connection));
  return response;
}

}  // namespace pgdedup::repo
