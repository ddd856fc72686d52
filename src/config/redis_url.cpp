#include "config/redis_url.h"

#include <charconv>

namespace sightline::config {

Result<RedisAddress> parse_redis_url(const std::string& url) {
  constexpr std::string_view scheme = "redis://";
  if (!url.starts_with(scheme)) return fail(ErrorKind::InvalidInput, "a Redis URL begins with redis://");
  std::string rest = url.substr(scheme.size());
  RedisAddress a;
  if (size_t at = rest.rfind('@'); at != std::string::npos) {
    const std::string credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = credentials.find(':');
    if (colon == std::string::npos) {
      a.password = credentials;
    } else {
      a.user = credentials.substr(0, colon);
      a.password = credentials.substr(colon + 1);
    }
  }
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      auto r = std::from_chars(db.data(), db.data() + db.size(), a.database);
      if (r.ec != std::errc() || r.ptr != db.data() + db.size() || a.database < 0)
        return fail(ErrorKind::InvalidInput, "the Redis URL's database must be a number");
    }
  }
  if (size_t colon = rest.rfind(':'); colon != std::string::npos && rest.find(']') == std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    auto r = std::from_chars(port.data(), port.data() + port.size(), a.port);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || a.port < 1 || a.port > 65535)
      return fail(ErrorKind::InvalidInput, "the Redis URL's port must be a number from 1 to 65535");
  }
  a.host = rest;
  if (a.host.empty()) return fail(ErrorKind::InvalidInput, "the Redis URL names no host");
  return a;
}

}  // namespace sightline::config
