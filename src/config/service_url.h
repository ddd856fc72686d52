// URLs of the services stream sources read from (cli/stream_reader.h):
//   redis://[[user]:password@]host[:port][/db]   (`redis:` sources)
//   mqtt://[user[:password]@]host[:port]          (`mqtt:` sources)
// Pure; thread-safe.
#pragma once

#include <string>

#include "core/error.h"

namespace sightline::config {

struct RedisAddress {
  std::string host;
  int port = 6379;
  std::string user;      // ACL user ("" for the default user)
  std::string password;  // "" for none
  int database = 0;
};

// InvalidInput saying what is wrong; the message never repeats the password.
Result<RedisAddress> parse_redis_url(const std::string& url);

struct MqttAddress {
  std::string host;
  int port = 1883;
  std::string user;      // "" for none
  std::string password;  // "" for none (sent only with a user)
};

// InvalidInput saying what is wrong (mqtts:// is refused: TLS is not supported yet); the
// message never repeats the password.
Result<MqttAddress> parse_mqtt_url(const std::string& url);

}  // namespace sightline::config
