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
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sightline {

using WallClock = std::function<std::chrono::system_clock::time_point()>;

// Fields every line about one request carries (its request id, the user), so that the lines of
// one request can be found together: `log.info("query", {...}, &context)`.
using LogContext = std::vector<std::pair<std::string, std::string>>;

class Logger {
 public:
  explicit Logger(
      std::ostream& out, WallClock clock = [] { return std::chrono::system_clock::now(); });

  // Values never written: from now on every occurrence in a line's text becomes "[redacted]".
  // For the project's ${env:}/${file:} values, which engine messages can quote (a path, a DSN).
  // Adds to the values given before (a reload keeps the old ones hidden too).
  void hide(const std::vector<std::string>& secrets);

  // `context` (optional) adds its fields to the line; `fields` win over it on a clash.
  void info(std::string_view event, const nlohmann::json& fields, const LogContext* context = nullptr);
  void warn(std::string_view event, const nlohmann::json& fields, const LogContext* context = nullptr);
  void error(std::string_view event, const nlohmann::json& fields, const LogContext* context = nullptr);

 private:
  void write(std::string_view level, std::string_view event, const nlohmann::json& fields, const LogContext* context);
  std::ostream& out_;
  WallClock clock_;
  std::mutex mutex_;
  std::vector<std::string> hidden_;  // guarded by mutex_
};

// RFC 3339 UTC time with milliseconds, e.g. 2026-11-23T16:15:02.123Z.
std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace sightline
