#include "repo/manifest.h"

#include <cstdint>
#include <cstdio>
#include <ctime>

#include "common/coding.h"

namespace pgdedup::repo {

namespace {

enum Tag : uint64_t {
  kTime = 1,
  kUtcOffset = 2,
  kHostname = 3,
  kUsername = 4,
  kTagName = 5,
  kSource = 6,
  kDatabase = 7,
  kProgramVersion = 8,
  kStream = 9,
  kServerVersion = 10,
  kPgDumpVersion = 11,
  kEncoding = 12,
  kCollate = 13,
  kCtype = 14,
  kDatabaseSize = 15,
  kTimeNsec = 16,
  kDatabaseSetting = 17,
  kDatabaseOwner = 18,
  kDatabaseComment = 19,
  kDatabaseConnLimit = 20,
  kDatabaseAclExplicit = 21,
  kDatabaseAcl = 22,
  kLocaleProvider = 23,
  kProviderLocale = 24,
  kDatabaseTablespace = 25,
  kByteaHex = 26,
};

enum StreamTag : uint64_t {
  kStreamName = 1,
  kStreamSize = 2,
  kStreamDigest = 3,
  kStreamChunkCount = 4,
  kStreamChunkList = 5,
  kStreamKind = 6,
  kStreamSchema = 7,
  kStreamTable = 8,
  kStreamColumns = 9,
  kStreamRows = 10,
  kStreamFilter = 11,
  kStreamExtension = 12,
  kStreamExtensionVersion = 13,
};

void PutField(std::string* out, uint64_t tag, std::string_view value) {
  PutVarint64(out, tag);
  PutLengthPrefixed(out, value);
}

void PutIntField(std::string* out, uint64_t tag, uint64_t v) {
  std::string s;
  PutVarint64(&s, v);
  PutField(out, tag, s);
}

bool ParseInt(std::string_view v, uint64_t* out) {
  Reader r(v);
  return r.GetVarint64(out) && r.empty();
}

Result<StreamInfo> DecodeStream(std::string_view value) {
  Reader in(value);
  StreamInfo s;
  bool have_hash = false;
  while (!in.empty()) {
    uint64_t tag;
    std::string_view v;
    if (!in.GetVarint64(&tag) || !in.GetLengthPrefixed(&v)) {
      return Status::Corruption("manifest: truncated stream record");
    }
    bool ok = true;
    switch (tag) {
      case kStreamName:
        s.name = std::string(v);
        break;
      case kStreamSize:
        ok = ParseInt(v, &s.size);
        break;
      case kStreamDigest:
        ok = v.size() == Id::kSize;
        if (ok) s.digest = Id::FromBytes(v);
        have_hash = ok;
        break;
      case kStreamChunkCount:
        ok = ParseInt(v, &s.chunk_count);
        break;
      case kStreamChunkList:
        ok = v.size() == Id::kSize;
        if (ok) s.chunk_lists.push_back(Id::FromBytes(v));
        break;
      case kStreamKind:
        s.kind = std::string(v);
        break;
      case kStreamSchema:
        s.schema = std::string(v);
        break;
      case kStreamTable:
        s.table = std::string(v);
        break;
      case kStreamColumns:
        s.columns = std::string(v);
        break;
      case kStreamRows:
        ok = ParseInt(v, &s.rows);
        break;
      case kStreamFilter:
        s.filter = std::string(v);
        break;
      case kStreamExtension:
        s.extension = std::string(v);
        break;
      case kStreamExtensionVersion:
        s.extension_version = std::string(v);
        break;
      default:
        break;  // a field from a newer version
    }
    if (!ok) return Status::Corruption("manifest: bad stream field " + std::to_string(tag));
  }
  if (s.name.empty() || !have_hash) return Status::Corruption("manifest: incomplete stream");
  return s;
}

}  // namespace

std::string EncodeManifest(const Manifest& m) {
  std::string out;
  out.push_back(static_cast<char>(kManifestVersion));
  PutIntField(&out, kTime, static_cast<uint64_t>(m.time));
  PutIntField(&out, kUtcOffset, static_cast<uint64_t>(static_cast<int64_t>(m.utc_offset)));
  if (m.time_nsec != 0) PutIntField(&out, kTimeNsec, m.time_nsec);
  PutField(&out, kHostname, m.hostname);
  PutField(&out, kUsername, m.username);
  for (const auto& t : m.tags) PutField(&out, kTagName, t);
  PutField(&out, kSource, m.source);
  PutField(&out, kDatabase, m.database);
  PutField(&out, kProgramVersion, m.program_version);
  for (const auto& s : m.streams) {
    std::string rec;
    PutField(&rec, kStreamName, s.name);
    PutIntField(&rec, kStreamSize, s.size);
    PutField(&rec, kStreamDigest, s.digest.view());
    PutIntField(&rec, kStreamChunkCount, s.chunk_count);
    for (const auto& id : s.chunk_lists) PutField(&rec, kStreamChunkList, id.view());
    if (!s.kind.empty()) {
      PutField(&rec, kStreamKind, s.kind);
      PutField(&rec, kStreamSchema, s.schema);
      PutField(&rec, kStreamTable, s.table);
      PutField(&rec, kStreamColumns, s.columns);
      PutIntField(&rec, kStreamRows, s.rows);
      if (!s.filter.empty()) PutField(&rec, kStreamFilter, s.filter);
      if (!s.extension.empty()) PutField(&rec, kStreamExtension, s.extension);
      if (!s.extension_version.empty()) {
        PutField(&rec, kStreamExtensionVersion, s.extension_version);
      }
    }
    PutField(&out, kStream, rec);
  }
  if (m.server_version != 0) {
    PutIntField(&out, kServerVersion, static_cast<uint64_t>(m.server_version));
    PutField(&out, kPgDumpVersion, m.pg_dump_version);
    PutField(&out, kEncoding, m.encoding);
    PutField(&out, kCollate, m.collate);
    PutField(&out, kCtype, m.ctype);
    PutIntField(&out, kDatabaseSize, m.database_size);
    for (const auto& s : m.database_settings) PutField(&out, kDatabaseSetting, s);
    if (!m.locale_provider.empty()) {
      PutField(&out, kLocaleProvider, m.locale_provider);
      PutField(&out, kProviderLocale, m.provider_locale);
    }
    if (!m.database_tablespace.empty()) {
      PutField(&out, kDatabaseTablespace, m.database_tablespace);
    }
    if (m.bytea_hex) PutIntField(&out, kByteaHex, 1);
    if (!m.database_owner.empty()) PutField(&out, kDatabaseOwner, m.database_owner);
    if (m.database_comment) PutField(&out, kDatabaseComment, *m.database_comment);
    if (m.database_connlimit >= 0) {
      PutIntField(&out, kDatabaseConnLimit, static_cast<uint64_t>(m.database_connlimit));
    }
    if (m.database_acl_explicit) {
      PutIntField(&out, kDatabaseAclExplicit, 1);
      for (const auto& a : m.database_acl) PutField(&out, kDatabaseAcl, a);
    }
  }
  return out;
}

Result<Manifest> DecodeManifest(std::string_view plain) {
  Reader in(plain);
  uint8_t version;
  if (!in.GetFixed8(&version)) return Status::Corruption("manifest: empty");
  if (version != kManifestVersion) {
    return Status::Corruption("manifest: unsupported version " + std::to_string(version));
  }
  Manifest m;
  bool have_time = false;
  while (!in.empty()) {
    uint64_t tag, n;
    std::string_view v;
    if (!in.GetVarint64(&tag) || !in.GetLengthPrefixed(&v)) {
      return Status::Corruption("manifest: truncated field");
    }
    bool ok = true;
    switch (tag) {
      case kTime:
        ok = ParseInt(v, &n);
        m.time = static_cast<int64_t>(n);
        have_time = ok;
        break;
      case kUtcOffset:
        ok = ParseInt(v, &n);
        m.utc_offset = static_cast<int32_t>(static_cast<int64_t>(n));
        break;
      case kHostname:
        m.hostname = std::string(v);
        break;
      case kUsername:
        m.username = std::string(v);
        break;
      case kTagName:
        m.tags.emplace_back(v);
        break;
      case kSource:
        m.source = std::string(v);
        break;
      case kDatabase:
        m.database = std::string(v);
        break;
      case kProgramVersion:
        m.program_version = std::string(v);
        break;
      case kServerVersion:
        ok = ParseInt(v, &n);
        m.server_version = static_cast<int64_t>(n);
        break;
      case kPgDumpVersion:
        m.pg_dump_version = std::string(v);
        break;
      case kEncoding:
        m.encoding = std::string(v);
        break;
      case kCollate:
        m.collate = std::string(v);
        break;
      case kCtype:
        m.ctype = std::string(v);
        break;
      case kDatabaseSetting:
        m.database_settings.emplace_back(v);
        break;
      case kLocaleProvider:
        m.locale_provider = std::string(v);
        break;
      case kProviderLocale:
        m.provider_locale = std::string(v);
        break;
      case kDatabaseTablespace:
        m.database_tablespace = std::string(v);
        break;
      case kDatabaseOwner:
        m.database_owner = std::string(v);
        break;
      case kDatabaseComment:
        m.database_comment = std::string(v);
        break;
      case kDatabaseConnLimit:
        ok = ParseInt(v, &n) && n <= static_cast<uint64_t>(INT32_MAX);
        m.database_connlimit = static_cast<int64_t>(n);
        break;
      case kDatabaseAclExplicit:
        ok = ParseInt(v, &n);
        m.database_acl_explicit = n != 0;
        break;
      case kByteaHex:
        ok = ParseInt(v, &n);
        m.bytea_hex = n != 0;
        break;
      case kDatabaseAcl:
        m.database_acl.emplace_back(v);
        break;
      case kTimeNsec:
        ok = ParseInt(v, &n) && n < 1000000000;
        m.time_nsec = static_cast<uint32_t>(n);
        break;
      case kDatabaseSize:
        ok = ParseInt(v, &m.database_size);
        break;
      case kStream: {
        auto s = DecodeStream(v);
        if (!s.ok()) return s.status();
        m.streams.push_back(std::move(*s));
        break;
      }
      default:
        break;  // a field from a newer version
    }
    if (!ok) return Status::Corruption("manifest: bad field " + std::to_string(tag));
  }
  if (!have_time) return Status::Corruption("manifest: no time");
  return m;
}

std::string FormatTime(int64_t time, int32_t utc_offset) {
  time_t shifted = static_cast<time_t>(time + utc_offset);
  struct tm tm;
  gmtime_r(&shifted, &tm);
  char buf[64];
  int off = utc_offset;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 3600,
                (off % 3600) / 60);
  return buf;
}

}  // namespace pgdedup::repo
