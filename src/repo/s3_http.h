// HttpClient: HTTP requests to one S3 endpoint over a pool of kept-alive connections, signed
// with AWS Signature V4 (libcurl's built-in signer). The S3 backend's only door to the network;
// libcurl stays inside s3_http.cc.
//
// One Perform() is one attempt: it never retries. It returns the response, whatever its HTTP
// status, or a transport failure: Unavailable for what a retry may cure (refused or reset
// connections, timeouts, a stall of `stall_timeout_seconds`, a body cut short), IOError for what
// it will not (a certificate the CA store does not trust, a malformed URL).
//
// Thread safety: Perform may be called from any number of threads at once; each call borrows
// its own connection from the pool (a new one when none is idle) and returns it afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pgdedup::repo {

struct HttpClientOptions {
  // "aws:amz:<region>:s3", passed to CURLOPT_AWS_SIGV4. Default: "" (unsigned requests).
  std::string sigv4;
  std::string access_key;
  std::string secret_key;
  // A PEM file of CA certificates to trust instead of the system store. Default: "".
  std::string cacert;
  // Seconds to establish a connection. Default: 10.
  long connect_timeout_seconds = 10;
  // A request that moves no byte for this many seconds is aborted. Default: 60.
  long stall_timeout_seconds = 60;
  // Idle connections kept for reuse. Default: 16.
  size_t max_idle_connections = 16;
};

struct HttpRequest {
  std::string method;                // GET, HEAD, PUT, POST, DELETE
  std::string url;                   // already percent-encoded
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // sent with PUT and POST
  // Bytes the caller expects in the response body, to size the buffer. Default: 0 (unknown).
  uint64_t expected_body = 0;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::string etag;             // the ETag header, quotes removed
  std::string content_range;    // the Content-Range header
  int64_t content_length = -1;  // the Content-Length header; -1 when absent
  uint64_t bytes_sent = 0;      // request body bytes that left
};

class HttpClient {
 public:
  static Result<std::unique_ptr<HttpClient>> Create(const HttpClientOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs one attempt of `request`; see the top of this file for what fails how.
  Result<HttpResponse> Perform(const HttpRequest& request);

 private:
  struct Connection;
  explicit HttpClient(HttpClientOptions options);
  std::unique_ptr<Connection> Borrow();
  void Return(std::unique_ptr<Connection> connection);

  HttpClientOptions options_;
  std::mutex mu_;  // guards idle_
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace pgdedup::repo
