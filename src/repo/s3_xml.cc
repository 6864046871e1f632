#include "repo/s3_xml.h"

#include <charconv>

namespace pgdedup::repo {

namespace {

// Calls fn with the inner text of each <tag>...</tag> (attributes allowed, no nesting of the
// same tag), in document order.
template <typename Fn>
void ForEachElement(std::string_view xml, std::string_view tag, Fn fn) {
  // Built with append: GCC 12 warns (-Wrestrict, falsely) about "<" + std::string(tag).
  std::string open(1, '<');
  open.append(tag);
  std::string close("</");
  close.append(tag).append(1, '>');
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t after = pos + open.size();
    if (after >= xml.size()) return;
    char c = xml[after];
    if (c != '>' && c != ' ' && c != '/') {  // <Keys> is not <Key>
      pos = after;
      continue;
    }
    size_t gt = xml.find('>', after);
    if (gt == std::string_view::npos) return;
    if (xml[gt - 1] == '/') {  // <Tag/>: empty
      fn(std::string_view());
      pos = gt + 1;
      continue;
    }
    size_t end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) return;
    fn(xml.substr(gt + 1, end - gt - 1));
    pos = end + close.size();
  }
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out.append(s.substr(i));
      break;
    }
    std::string_view entity = s.substr(i + 1, semi - i - 1);
    if (entity == "amp") {
      out.push_back('&');
    } else if (entity == "lt") {
      out.push_back('<');
    } else if (entity == "gt") {
      out.push_back('>');
    } else if (entity == "quot") {
      out.push_back('"');
    } else if (entity == "apos") {
      out.push_back('\'');
    } else if (entity.size() > 1 && entity[0] == '#') {
      bool hex = entity[1] == 'x' || entity[1] == 'X';
      std::string_view digits = entity.substr(hex ? 2 : 1);
      uint32_t cp = 0;
      auto [p, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (ec != std::errc() || p != digits.data() + digits.size()) {
        out.append(s.substr(i, semi - i + 1));
      } else {
        AppendUtf8(cp, &out);
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

}  // namespace

std::string XmlText(std::string_view xml, std::string_view tag) {
  std::string out;
  bool found = false;
  ForEachElement(xml, tag, [&](std::string_view inner) {
    if (!found) out = Unescape(inner);
    found = true;
  });
  return out;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Result<S3ListPage> ParseS3ListPage(std::string_view xml) {
  if (xml.find("<ListBucketResult") == std::string_view::npos) {
    return Status::Corruption("S3 list: the answer is not a ListBucketResult");
  }
  S3ListPage page;
  Status status;
  ForEachElement(xml, "Contents", [&](std::string_view contents) {
    ObjectInfo info;
    info.name = XmlText(contents, "Key");
    std::string size = XmlText(contents, "Size");
    auto [p, ec] = std::from_chars(size.data(), size.data() + size.size(), info.size);
    if (info.name.empty() || ec != std::errc() || p != size.data() + size.size()) {
      if (status.ok()) status = Status::Corruption("S3 list: an entry without a key or size");
      return;
    }
    page.objects.push_back(std::move(info));
  });
  if (!status.ok()) return status;
  page.truncated = XmlText(xml, "IsTruncated") == "true";
  page.next_token = XmlText(xml, "NextContinuationToken");
  if (page.truncated && page.next_token.empty()) {
    return Status::Corruption("S3 list: a truncated page without a continuation token");
  }
  return page;
}

S3Error ParseS3Error(std::string_view xml) {
  S3Error e;
  if (xml.find("<Error") == std::string_view::npos) return e;
  e.code = XmlText(xml, "Code");
  e.message = XmlText(xml, "Message");
  return e;
}

std::string S3DeleteRequest(const std::vector<std::string>& keys) {
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>";
  for (const auto& key : keys) body += "<Object><Key>" + XmlEscape(key) + "</Key></Object>";
  body += "</Delete>";
  return body;
}

std::vector<std::pair<std::string, S3Error>> ParseS3DeleteErrors(std::string_view xml) {
  std::vector<std::pair<std::string, S3Error>> out;
  ForEachElement(xml, "Error", [&](std::string_view e) {
    out.push_back({XmlText(e, "Key"), S3Error{XmlText(e, "Code"), XmlText(e, "Message")}});
  });
  return out;
}

}  // namespace pgdedup::repo
