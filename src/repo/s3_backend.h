// S3Backend: a repository in an S3 bucket (AWS or any S3-compatible server), under an optional
// key prefix. Object "data/3f/3f2a..." is key "<prefix>data/3f/3f2a...".
//
// Location syntax: s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]. Requests are signed with AWS
// Signature V4 (credentials and region from the environment, see ApplyS3Environment) and carry
// x-amz-content-sha256. Buckets are addressed path-style (http://HOST/BUCKET/KEY) or
// virtual-host style (http://BUCKET.HOST/KEY): by default virtual-host for *.amazonaws.com and
// path-style elsewhere.
//
// How each Backend operation maps to requests:
//  - Put: one PUT with Content-MD5 (the server rejects damaged bodies); an ETag that is an MD5
//    and differs from ours is retried as a damaged upload. A PUT is atomic in S3.
//  - Get: one GET, with a Range header for a part; a short body is retried, a range past the
//    object's end is Corruption ("short read").
//  - Size: one HEAD. List: ListObjectsV2 pages of up to 1000 keys. Delete: one DELETE;
//    DeleteAll: DeleteObjects batches of 1000 (one DELETE per key where the server lacks it).
// Every request is retried on what may pass: transport failures (refused, reset or stalled
// connections, short bodies), HTTP 5xx, 429, SlowDown and RequestTimeout, with exponential
// backoff and jitter, up to S3RetryPolicy::max_attempts. Then the error names the object, the
// attempts and the last failure (Unavailable). HTTP 403 is never retried: it is Permission,
// naming the bucket and the server's reason. 404 is NotFound.
//
// Thread safety: every method may be called concurrently; requests share a pool of kept-alive
// connections (one per concurrent caller).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "repo/backend.h"

namespace pgdedup::repo {

class HttpClient;
struct HttpRequest;
struct HttpResponse;

struct S3RetryPolicy {
  // Attempts per request, the first included. Default: 10.
  int max_attempts = 10;
  // The wait before the n-th retry is base_delay * 2^(n-1), capped at max_delay, of which a
  // random half is jitter. Defaults: 200 ms and 20 s (about a minute and a half in all).
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{20000};
};

enum class S3BucketLookup { kAuto, kPath, kVirtualHost };

struct S3Options {
  std::string scheme;  // "http" or "https"
  std::string host;    // "HOST" or "HOST:PORT"
  std::string bucket;
  std::string prefix;  // "" or "some/dir/" (always ending in '/')
  std::string region = "us-east-1";
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // Default: "" (none)
  // A PEM file of CA certificates to trust instead of the system store. Default: "".
  std::string cacert;
  S3BucketLookup lookup = S3BucketLookup::kAuto;
  S3RetryPolicy retry;
  // A request that moves no byte for this long is aborted and retried. Default: 60 s.
  long stall_timeout_seconds = 60;
};

// Parses "s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]" into the endpoint fields of S3Options.
// InvalidArgument for anything else.
Result<S3Options> ParseS3Location(const std::string& location);

// Fills credentials, region and tuning from the environment:
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (both required: Permission when missing),
//   AWS_SESSION_TOKEN, AWS_DEFAULT_REGION (default us-east-1),
//   PGDEDUP_S3_BUCKET_LOOKUP = auto | path | dns,
//   PGDEDUP_S3_MAX_ATTEMPTS, PGDEDUP_S3_RETRY_BASE_MS, PGDEDUP_S3_TIMEOUT (stall seconds).
// InvalidArgument for a malformed value.
Status ApplyS3Environment(S3Options* options);

class S3Backend : public Backend {
 public:
  // Makes a backend for the bucket. Sends no request, unless `create`: then the bucket is
  // created when it does not exist.
  static Result<std::unique_ptr<S3Backend>> Open(const S3Options& options, bool create);
  ~S3Backend() override;

  // "s3:http://HOST/BUCKET/PREFIX".
  std::string Location() const override;
  Status Put(const std::string& name, std::string_view data) override;
  Result<std::string> Get(const std::string& name, uint64_t offset, uint64_t length) override {
    return Fetch(name, offset, length, /*up_to=*/false);
  }
  // One ranged GET: S3 ends a range at the object's end.
  Result<std::string> GetUpTo(const std::string& name, uint64_t offset,
                              uint64_t max_length) override {
    return Fetch(name, offset, max_length, /*up_to=*/true);
  }
  Result<uint64_t> Size(const std::string& name) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& name) override;
  Status DeleteAll(const std::vector<std::string>& names) override;
  bool HasBatchDelete() const override { return true; }
  BackendStats stats() const override { return counters_.Snapshot(); }
  bool remote() const override { return true; }

  // Keys per DeleteObjects request (the S3 maximum).
  static constexpr size_t kDeleteBatch = 1000;

 private:
  // Judges a 2xx response: OK accepts it, Unavailable retries the request, anything else fails.
  using Check = std::function<Status(HttpResponse*)>;

  S3Backend(S3Options options, std::unique_ptr<HttpClient> http);
  Status CreateBucketIfMissing();
  // The URL of an object, or of the bucket with a (canonical, sorted) query string.
  std::string ObjectUrl(const std::string& name) const;
  std::string BucketUrl(const std::string& query) const;
  std::vector<std::string> CommonHeaders(std::string_view payload_sha256) const;
  // Sends `request` until it succeeds or fails for good; see the top of this file. Returns a
  // 2xx response `check` accepted, or a final HTTP error response (status >= 300) for the
  // caller to map with HttpError; transport failures and exhausted retries are Unavailable.
  Result<HttpResponse> Execute(BackendCounters::Kind kind, const std::string& what,
                               const HttpRequest& request, const Check& check);
  Status HttpError(const std::string& what, const HttpResponse& response) const;
  // Get, or with `up_to` GetUpTo.
  Result<std::string> Fetch(const std::string& name, uint64_t offset, uint64_t length, bool up_to);
  Status DeleteOneByOne(const std::vector<std::string>& names, size_t from);

  S3Options options_;
  bool virtual_host_ = false;
  std::unique_ptr<HttpClient> http_;
  BackendCounters counters_;
};

}  // namespace pgdedup::repo
