// Structured logging: one JSON object per line.
//
//   Logger log(std::cerr);
//   log.info("request", {{"method", "GET"}, {"status", 200}});
//
// Thread-safe: lines from concurrent threads never interleave. The clock is injected so tests
// can pin timestamps. Callers must not pass secrets as field values.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string_view>

namespace sightline {

using WallClock = std::function<std::chrono::system_clock::time_point()>;

class Logger {
 public:
  explicit Logger(std::ostream& out, WallClock clock = [] { return std::chrono::system_clock::now(); });

  void info(std::string_view event, const nlohmann::json& fields);
  void warn(std::string_view event, const nlohmann::json& fields);
  void error(std::string_view event, const nlohmann::json& fields);

 private:
  void write(std::string_view level, std::string_view event, const nlohmann::json& fields);
  std::ostream& out_;
  WallClock clock_;
  std::mutex mutex_;
};

// RFC 3339 UTC time with milliseconds, e.g. 2026-11-23T16:15:02.123Z.
std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace sightline
