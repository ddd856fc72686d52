// The pieces both stores share: URL encoding, the little XML their listings need, HTTP times,
// and what an error answer means.
#include "storage/object_store.h"

#include <chrono>
#include <ctime>

#include "auth/http_client.h"
#include "storage/store_internal.h"

namespace sightline::storage {

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x110000) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string decode_entities(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    const auto semi = text.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += text[i];
      continue;
    }
    const std::string_view name = text.substr(i + 1, semi - i - 1);
    if (name == "amp") out += '&';
    else if (name == "lt") out += '<';
    else if (name == "gt") out += '>';
    else if (name == "quot") out += '"';
    else if (name == "apos") out += '\'';
    else if (name.size() > 1 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      const std::string digits(name.substr(hex ? 2 : 1));
      char* end = nullptr;
      const unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (digits.empty() || *end != '\0') {
        out += text.substr(i, semi - i + 1);
      } else {
        append_utf8(out, static_cast<uint32_t>(cp));
      }
    } else {
      out += text.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

}  // namespace

std::string encode_key(std::string_view key) {
  std::string out;
  size_t start = 0;
  for (size_t slash = key.find('/'); slash != std::string_view::npos; start = slash + 1, slash = key.find('/', start))
    out += auth::percent_encode(key.substr(start, slash - start)) + "/";
  return out + auth::percent_encode(key.substr(start));
}
std::string encode_component(std::string_view text) { return auth::percent_encode(text); }

std::vector<std::string_view> xml_elements(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  size_t at = 0;
  while ((at = xml.find(open, at)) != std::string_view::npos) {
    const size_t after = at + open.size();
    if (after >= xml.size()) break;
    const char next = xml[after];
    if (next != '>' && next != ' ' && next != '/' && next != '\t' && next != '\n' && next != '\r') {
      at = after;  // a longer name that starts the same (<Key> vs <KeyCount>)
      continue;
    }
    const size_t end_of_open = xml.find('>', after);
    if (end_of_open == std::string_view::npos) break;
    if (xml[end_of_open - 1] == '/') {  // <Tag/>
      out.push_back(std::string_view());
      at = end_of_open + 1;
      continue;
    }
    const size_t closing = xml.find(close, end_of_open + 1);
    if (closing == std::string_view::npos) break;
    out.push_back(xml.substr(end_of_open + 1, closing - end_of_open - 1));
    at = closing + close.size();
  }
  return out;
}

std::optional<std::string> xml_text(std::string_view xml, std::string_view tag) {
  auto found = xml_elements(xml, tag);
  if (found.empty()) return std::nullopt;
  return decode_entities(found.front());
}

std::optional<int64_t> parse_http_time(std::string_view text) {
  std::tm tm{};
  const std::string s(text);
  int millis = 0;
  const char* end = nullptr;
  if (s.size() >= 19 && s[4] == '-' && s[10] == 'T') {
    end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end && *end == '.') {
      ++end;
      int digits = 0;
      while (*end >= '0' && *end <= '9') {
        if (digits < 3) millis = millis * 10 + (*end - '0');
        ++digits;
        ++end;
      }
      for (; digits < 3; ++digits) millis *= 10;
    }
    if (end && (*end == 'Z' || *end == '\0')) return static_cast<int64_t>(timegm(&tm)) * 1000 + millis;
    return std::nullopt;
  }
  end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

namespace detail {

std::string utc_time(int64_t seconds, const char* format) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

int64_t system_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string with_query(std::string url, const std::vector<std::pair<std::string, std::string>>& query, const std::string& extra) {
  std::string q;
  for (const auto& [name, value] : query) q += (q.empty() ? "" : "&") + encode_component(name) + "=" + encode_component(value);
  if (!extra.empty()) q += (q.empty() ? "" : "&") + extra;
  if (!q.empty()) url += "?" + q;
  return url;
}

Error answer_error(const HttpReply& reply, const std::string& what, const std::string& host) {
  // Both services answer errors with an XML document: <Code>AccessDenied</Code><Message>...
  const std::string code = xml_text(reply.body, "Code").value_or(reply.header("x-ms-error-code"));
  std::string message = what + ": the object store at " + host + " answered " + std::to_string(reply.status) +
                        (code.empty() ? "" : " (" + code.substr(0, 64) + ")");
  ErrorKind kind = ErrorKind::Unavailable;
  std::string hint;
  if (reply.status == 401 || reply.status == 403) {
    kind = ErrorKind::Forbidden;
    hint = "check the object store's credentials and what they may read";
  } else if (reply.status == 404) {
    kind = ErrorKind::NotFound;
    hint = "check the bucket or container name and the endpoint";
  } else if (reply.status == 412) {
    kind = ErrorKind::Conflict;
    hint = "the object changed while it was read; the next refresh reads it again";
  }
  return Error{kind, std::move(message), std::move(hint), {}};
}

}  // namespace detail

std::unique_ptr<ObjectStore> make_object_store(const config::ObjectStoreSpec& spec, std::shared_ptr<HttpTransport> http,
                                               SecondsClock now) {
  if (!now) now = detail::system_seconds;
  if (spec.kind == config::ObjectStoreKind::S3) return detail::make_s3_store(spec, std::move(http), std::move(now));
  return detail::make_azure_store(spec, std::move(http), std::move(now));
}

}  // namespace sightline::storage
