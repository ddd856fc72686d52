#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/project.h"

namespace sightline::config {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string format_diagnostic(const Diagnostic& d) {
  std::string out = d.pos.file;
  if (d.pos.line > 0) out += ":" + std::to_string(d.pos.line) + ":" + std::to_string(d.pos.column);
  out += d.severity == Diagnostic::Severity::Error ? ": error: " : ": warning: ";
  out += d.message;
  if (!d.hint.empty()) out += "\n  hint: " + d.hint;
  return out;
}

const char* auth_mode_name(AuthMode m) {
  switch (m) {
    case AuthMode::None: return "none";
    case AuthMode::Oidc: return "oidc";
    case AuthMode::Proxy: return "proxy";
  }
  return "none";
}

const char* filter_type_name(FilterType t) {
  switch (t) {
    case FilterType::Select: return "select";
    case FilterType::MultiSelect: return "multiselect";
    case FilterType::Range: return "range";
    case FilterType::DateRange: return "daterange";
    case FilterType::Text: return "text";
  }
  return "select";
}

const char* widget_type_name(WidgetType t) {
  switch (t) {
    case WidgetType::Kpi: return "kpi";
    case WidgetType::Bar: return "bar";
    case WidgetType::Line: return "line";
    case WidgetType::Area: return "area";
    case WidgetType::Scatter: return "scatter";
    case WidgetType::Pie: return "pie";
    case WidgetType::Histogram: return "histogram";
    case WidgetType::Heatmap: return "heatmap";
    case WidgetType::Table: return "table";
    case WidgetType::Text: return "text";
  }
  return "kpi";
}

bool is_chart(WidgetType t) {
  return t != WidgetType::Kpi && t != WidgetType::Table && t != WidgetType::Text;
}

const WidgetSpec* DashboardSpec::find_widget(std::string_view id) const {
  for (const auto& p : pages)
    for (const auto& w : p.widgets)
      if (w.id == id) return &w;
  return nullptr;
}

const FilterSpec* DashboardSpec::find_filter(std::string_view id) const {
  for (const auto& f : filters)
    if (f.id == id) return &f;
  return nullptr;
}

const DashboardSpec* Project::find_dashboard(std::string_view id) const {
  for (const auto& d : dashboards)
    if (d.id == id) return &d;
  return nullptr;
}

const ObjectStoreSpec* Project::find_object_store(std::string_view name) const {
  for (const auto& o : object_stores)
    if (o.name == name) return &o;
  return nullptr;
}

std::string Project::engine_fingerprint() const {
  nlohmann::json j;
  j["timezone"] = timezone;
  j["threads"] = engine.threads;
  j["memory_limit"] = engine.memory_limit;
  j["pool_size"] = engine.pool_size;
  j["query_timeout_ms"] = engine.query_timeout_ms;
  j["max_rows"] = engine.max_rows;
  for (const auto& s : sources) {
    nlohmann::json c = {{"delimiter", s.csv.delimiter.value_or("")}, {"header", s.csv.header ? int(*s.csv.header) : -1},
                        {"quote", s.csv.quote.value_or("")},         {"escape", s.csv.escape.value_or("")},
                        {"skip", s.csv.skip.value_or(-1)},           {"null", s.csv.null_string.value_or("")},
                        {"date", s.csv.date_format.value_or("")},    {"ts", s.csv.timestamp_format.value_or("")}};
    j["sources"].push_back({{"name", s.name}, {"path", s.path}, {"format", int(s.format)},
                            {"hive", s.hive_partitioning ? int(*s.hive_partitioning) : -1},
                            {"union", s.union_by_name}, {"materialize", s.materialize}, {"order_by", s.order_by}, {"csv", c},
                            {"types", s.types}, {"table", s.table}});
    if (s.object) j["sources"].back()["local_files"] = s.local_files;
    // Only sources that keep appended rows get these keys, so other sources' recipes (and the
    // tables a state file holds for them) stay as they were.
    if (s.appends()) {
      j["sources"].back()["mode"] = "append";
      j["sources"].back()["columns"] = s.columns;
      j["sources"].back()["ingest"] = s.ingest.has_value();
      if (s.redis) j["sources"].back()["redis"] = s.redis->stream;
      if (s.mqtt) j["sources"].back()["mqtt"] = s.mqtt->topic;
    }
  }
  for (const auto& m : models) j["models"].push_back({{"name", m.name}, {"sql", m.sql}, {"materialize", m.materialize}});
  return j.dump();
}

std::string redact_secrets(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.size() < 3) continue;  // too short to be a secret worth hiding, and would mangle text
    for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
      text.replace(pos, secret.size(), "[redacted]");
      pos += 10;
    }
  }
  return text;
}

void redact_secrets(std::vector<Diagnostic>& diagnostics, const std::vector<std::string>& secrets) {
  for (auto& d : diagnostics) {
    d.message = redact_secrets(std::move(d.message), secrets);
    d.hint = redact_secrets(std::move(d.hint), secrets);
  }
}

Environment system_environment() {
  Environment env;
  env.get_env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
  env.read_file = [](const std::filesystem::path& p) -> std::optional<std::string> {
    std::ifstream in(p, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  return env;
}

}  // namespace sightline::config
