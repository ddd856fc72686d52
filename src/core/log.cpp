#include "core/log.h"

#include <ctime>
#include <nlohmann/json.hpp>

namespace sightline {

Logger::Logger(std::ostream& out, WallClock clock) : out_(out), clock_(std::move(clock)) {}

void Logger::info(std::string_view event, const nlohmann::json& fields) { write("info", event, fields); }
void Logger::warn(std::string_view event, const nlohmann::json& fields) { write("warn", event, fields); }
void Logger::error(std::string_view event, const nlohmann::json& fields) { write("error", event, fields); }

void Logger::write(std::string_view level, std::string_view event, const nlohmann::json& fields) {
  nlohmann::json line = {{"time", format_utc(clock_())}, {"level", level}, {"event", event}};
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  // Invalid UTF-8 in a field (a hostile path, say) is replaced rather than throwing.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(mutex_);
  out_ << text << '\n';
  out_.flush();
}

std::string format_utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

}  // namespace sightline
