// ParseS3Location and ApplyS3Environment (s3_backend.h): where a bucket is and how to reach it.
#include <charconv>
#include <cstdlib>

#include "repo/s3_backend.h"

namespace pgdedup::repo {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

Status EnvNumber(const char* name, long min, long max, long* out) {
  std::string v = Env(name);
  if (v.empty()) return Status::OK();
  long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < min || n > max) {
    return Status::InvalidArgument(std::string(name) + "='" + v + "': expected a number from " +
                                   std::to_string(min) + " to " + std::to_string(max));
  }
  *out = n;
  return Status::OK();
}

// Bucket names as S3 allows them (3-63 of [a-z0-9.-]); older servers are laxer, so only what
// cannot be a path segment is refused outright.
bool ValidBucket(const std::string& b) {
  if (b.empty() || b.size() > 255) return false;
  for (char c : b) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<S3Options> ParseS3Location(const std::string& location) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("S3 location '" + location + "': " + why +
                                   " (expected s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX])");
  };
  if (location.rfind("s3:", 0) != 0) return bad("no s3: scheme");
  std::string rest = location.substr(3);
  S3Options o;
  if (rest.rfind("https://", 0) == 0) {
    o.scheme = "https";
    rest = rest.substr(8);
  } else if (rest.rfind("http://", 0) == 0) {
    o.scheme = "http";
    rest = rest.substr(7);
  } else {
    return bad("the endpoint must start with http:// or https://");
  }
  if (rest.find_first_of("?#@") != std::string::npos) {
    return bad("no query, fragment or user name allowed");
  }
  size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return bad("no host or no bucket");
  o.host = rest.substr(0, slash);
  std::string path = rest.substr(slash + 1);
  size_t next = path.find('/');
  o.bucket = path.substr(0, next);
  if (!ValidBucket(o.bucket)) return bad("bad bucket name '" + o.bucket + "'");
  if (next != std::string::npos) {
    std::string prefix = path.substr(next + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (prefix.find("//") != std::string::npos || prefix.find("..") != std::string::npos) {
      return bad("bad prefix '" + prefix + "'");
    }
    if (!prefix.empty()) o.prefix = prefix + "/";
  }
  return o;
}

Status ApplyS3Environment(S3Options* o) {
  o->access_key = Env("AWS_ACCESS_KEY_ID");
  o->secret_key = Env("AWS_SECRET_ACCESS_KEY");
  o->session_token = Env("AWS_SESSION_TOKEN");
  if (o->access_key.empty() || o->secret_key.empty()) {
    return Status::Permission("no S3 credentials for bucket " + o->bucket +
                              ": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  if (std::string region = Env("AWS_DEFAULT_REGION"); !region.empty()) o->region = region;
  std::string lookup = Env("PGDEDUP_S3_BUCKET_LOOKUP");
  if (lookup.empty() || lookup == "auto") {
    o->lookup = S3BucketLookup::kAuto;
  } else if (lookup == "path") {
    o->lookup = S3BucketLookup::kPath;
  } else if (lookup == "dns") {
    o->lookup = S3BucketLookup::kVirtualHost;
  } else {
    return Status::InvalidArgument("PGDEDUP_S3_BUCKET_LOOKUP='" + lookup +
                                   "': expected auto, path or dns");
  }
  long attempts = o->retry.max_attempts;
  PGDEDUP_RETURN_IF_ERROR(EnvNumber("PGDEDUP_S3_MAX_ATTEMPTS", 1, 100, &attempts));
  o->retry.max_attempts = static_cast<int>(attempts);
  long base_ms = static_cast<long>(o->retry.base_delay.count());
  PGDEDUP_RETURN_IF_ERROR(EnvNumber("PGDEDUP_S3_RETRY_BASE_MS", 1, 60000, &base_ms));
  o->retry.base_delay = std::chrono::milliseconds(base_ms);
  PGDEDUP_RETURN_IF_ERROR(EnvNumber("PGDEDUP_S3_TIMEOUT", 1, 3600, &o->stall_timeout_seconds));
  return Status::OK();
}

}  // namespace pgdedup::repo
