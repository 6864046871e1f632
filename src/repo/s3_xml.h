// The few S3 XML documents the S3 backend reads and writes: ListObjectsV2 pages, error bodies,
// DeleteObjects requests and results. A minimal reader for these flat, machine-written
// documents (elements found by name, text with the five XML entities and character
// references); not a general XML parser.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "repo/backend.h"

namespace pgdedup::repo {

struct S3ListPage {
  std::vector<ObjectInfo> objects;  // full keys, prefix included
  bool truncated = false;
  std::string next_token;  // NextContinuationToken when truncated
};

// Parses a ListBucketResult. Corruption when it is not one, or is truncated without a token.
Result<S3ListPage> ParseS3ListPage(std::string_view xml);

struct S3Error {
  std::string code;     // "NoSuchKey", "SlowDown", ...; empty when the body is not an Error
  std::string message;  // the server's Message
};
S3Error ParseS3Error(std::string_view xml);

// The body of a DeleteObjects (POST ?delete) request in quiet mode.
std::string S3DeleteRequest(const std::vector<std::string>& keys);
// The keys a DeleteResult reports as not deleted, with the reason.
std::vector<std::pair<std::string, S3Error>> ParseS3DeleteErrors(std::string_view xml);

// The text of the first <tag>...</tag> in xml, unescaped; empty when absent.
std::string XmlText(std::string_view xml, std::string_view tag);
std::string XmlEscape(std::string_view text);

}  // namespace pgdedup::repo
