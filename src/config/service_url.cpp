#include "config/service_url.h"

#include <charconv>

namespace sightline::config {
namespace {

// user:password@host:port, as both URL kinds write it after the scheme (and before any path).
struct Authority {
  std::string user, password, host;
  bool has_user_part = false;  // "user:" or "user" before '@'
  int port = 0;
};

// `service` names the URL kind in messages ("Redis", "MQTT"); `password_only` reads a
// credential without ':' as a password (Redis), otherwise as a user (MQTT).
Result<Authority> parse_authority(std::string rest, const std::string& service, bool password_only, int default_port) {
  Authority a;
  a.port = default_port;
  if (size_t at = rest.rfind('@'); at != std::string::npos) {
    const std::string credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = credentials.find(':');
    if (colon == std::string::npos) {
      (password_only ? a.password : a.user) = credentials;
    } else {
      a.user = credentials.substr(0, colon);
      a.password = credentials.substr(colon + 1);
    }
  }
  if (size_t colon = rest.rfind(':'); colon != std::string::npos && rest.find(']') == std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    auto r = std::from_chars(port.data(), port.data() + port.size(), a.port);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || a.port < 1 || a.port > 65535)
      return fail(ErrorKind::InvalidInput, "the " + service + " URL's port must be a number from 1 to 65535");
  }
  a.host = rest;
  if (a.host.empty()) return fail(ErrorKind::InvalidInput, "the " + service + " URL names no host");
  return a;
}

}  // namespace

Result<RedisAddress> parse_redis_url(const std::string& url) {
  constexpr std::string_view scheme = "redis://";
  if (!url.starts_with(scheme)) return fail(ErrorKind::InvalidInput, "a Redis URL begins with redis://");
  std::string rest = url.substr(scheme.size());
  RedisAddress a;
  if (size_t slash = rest.find('/', rest.rfind('@') == std::string::npos ? 0 : rest.rfind('@')); slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      auto r = std::from_chars(db.data(), db.data() + db.size(), a.database);
      if (r.ec != std::errc() || r.ptr != db.data() + db.size() || a.database < 0)
        return fail(ErrorKind::InvalidInput, "the Redis URL's database must be a number");
    }
  }
  auto authority = parse_authority(std::move(rest), "Redis", true, 6379);
  if (!authority) return fail(authority.error());
  a.host = authority->host;
  a.port = authority->port;
  a.user = authority->user;
  a.password = authority->password;
  return a;
}

Result<MqttAddress> parse_mqtt_url(const std::string& url) {
  if (url.starts_with("mqtts://") || url.starts_with("ssl://"))
    return fail(ErrorKind::InvalidInput, "TLS to the broker (mqtts://) is not supported yet; use mqtt:// on a trusted network or through a TLS tunnel");
  constexpr std::string_view scheme = "mqtt://";
  if (!url.starts_with(scheme)) return fail(ErrorKind::InvalidInput, "an MQTT URL begins with mqtt://");
  std::string rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/', rest.rfind('@') == std::string::npos ? 0 : rest.rfind('@')) != std::string::npos)
    return fail(ErrorKind::InvalidInput, "an MQTT URL has no path: the topic is given by topic:");
  auto authority = parse_authority(std::move(rest), "MQTT", false, 1883);
  if (!authority) return fail(authority.error());
  if (authority->user.empty() && !authority->password.empty())
    return fail(ErrorKind::InvalidInput, "the MQTT URL has a password but no user name");
  return MqttAddress{authority->host, authority->port, authority->user, authority->password};
}

}  // namespace sightline::config
