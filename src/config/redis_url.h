// Redis URLs (`redis:` sources, cli/stream_reader.h): redis://[[user]:password@]host[:port][/db].
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

}  // namespace sightline::config
