#include "core/log.h"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

namespace sightline {

Logger::Logger(std::ostream& out, WallClock clock) : out_(out), clock_(std::move(clock)) {}

void Logger::info(std::string_view event, const nlohmann::json& fields, const LogContext* context) {
  write("info", event, fields, context);
}
void Logger::warn(std::string_view event, const nlohmann::json& fields, const LogContext* context) {
  write("warn", event, fields, context);
}
void Logger::error(std::string_view event, const nlohmann::json& fields, const LogContext* context) {
  write("error", event, fields, context);
}

namespace {

void redact(nlohmann::json& value, const std::vector<std::string>& hidden) {
  if (value.is_string()) {
    auto& text = value.get_ref<std::string&>();
    for (const auto& secret : hidden)
      for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 10))
        text.replace(pos, secret.size(), "[redacted]");
  } else if (value.is_structured()) {
    for (auto& child : value) redact(child, hidden);
  }
}

}  // namespace

void Logger::hide(const std::vector<std::string>& secrets) {
  std::lock_guard lock(mutex_);
  for (const auto& s : secrets)
    if (s.size() >= 3 && std::find(hidden_.begin(), hidden_.end(), s) == hidden_.end()) hidden_.push_back(s);
}

void Logger::write(std::string_view level, std::string_view event, const nlohmann::json& fields, const LogContext* context) {
  nlohmann::json line = {{"time", format_utc(clock_())}, {"level", level}, {"event", event}};
  if (context)
    for (const auto& [key, value] : *context) line[key] = value;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  std::lock_guard lock(mutex_);
  if (!hidden_.empty()) redact(line, hidden_);
  // Invalid UTF-8 in a field (a hostile path, say) is replaced rather than throwing.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
