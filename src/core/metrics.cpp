#include "core/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace sightline::metrics {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::bucket_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::vector<double> latency_buckets() { return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}; }

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back the same
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

// {a="x",b="y"} with an optional extra label (a histogram's le); "" without labels.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values, const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "{" : ",") + extra;
  if (!out.empty()) out += "}";
  return out;
}

std::string escape_help(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

}  // namespace

Registry::Entry* Registry::find(const std::string& name) {
  for (auto& e : entries_)
    if (e->name == name) return e.get();
  return nullptr;
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  if (auto* e = find(name); e && e->counters) return *e->counters;
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "counter";
  e->counters = std::make_unique<Family<Counter>>(std::move(labels), [] { return std::make_unique<Counter>(); });
  entries_.push_back(std::move(e));
  return *entries_.back()->counters;
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  if (auto* e = find(name); e && e->gauges) return *e->gauges;
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "gauge";
  e->gauges = std::make_unique<Family<Gauge>>(std::move(labels), [] { return std::make_unique<Gauge>(); });
  entries_.push_back(std::move(e));
  return *entries_.back()->gauges;
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                                       std::vector<double> bounds) {
  std::lock_guard lock(mutex_);
  if (auto* e = find(name); e && e->histograms) return *e->histograms;
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "histogram";
  e->histograms =
      std::make_unique<Family<Histogram>>(std::move(labels), [bounds] { return std::make_unique<Histogram>(bounds); });
  entries_.push_back(std::move(e));
  return *entries_.back()->histograms;
}

void Registry::gauge_function(const std::string& name, const std::string& help, std::vector<std::string> labels,
                              std::function<std::vector<Sample>()> fn) {
  add_function(name, help, "gauge", std::move(labels), std::move(fn));
}

void Registry::counter_function(const std::string& name, const std::string& help, std::vector<std::string> labels,
                                std::function<std::vector<Sample>()> fn) {
  add_function(name, help, "counter", std::move(labels), std::move(fn));
}

void Registry::add_function(const std::string& name, const std::string& help, const char* type, std::vector<std::string> labels,
                            std::function<std::vector<Sample>()> fn) {
  std::lock_guard lock(mutex_);
  if (find(name)) return;
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = type;
  e->function_labels = std::move(labels);
  e->function = std::move(fn);
  entries_.push_back(std::move(e));
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& e : entries_) {
    std::string lines;
    if (e->counters) {
      e->counters->each([&](const std::vector<std::string>& values, const Counter& c) {
        lines += e->name + label_set(e->counters->label_names(), values) + " " + number(c.value()) + "\n";
      });
    } else if (e->gauges) {
      e->gauges->each([&](const std::vector<std::string>& values, const Gauge& g) {
        lines += e->name + label_set(e->gauges->label_names(), values) + " " + number(g.value()) + "\n";
      });
    } else if (e->histograms) {
      e->histograms->each([&](const std::vector<std::string>& values, const Histogram& h) {
        const auto& names = e->histograms->label_names();
        auto counts = h.bucket_counts();
        uint64_t cumulative = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          std::string le = i < h.bounds().size() ? number(h.bounds()[i]) : "+Inf";
          lines += e->name + "_bucket" + label_set(names, values, "le=\"" + le + "\"") + " " + number(static_cast<double>(cumulative)) + "\n";
        }
        lines += e->name + "_sum" + label_set(names, values) + " " + number(h.sum()) + "\n";
        // The count equals the +Inf bucket as read above, even while observations race the scrape.
        lines += e->name + "_count" + label_set(names, values) + " " + number(static_cast<double>(cumulative)) + "\n";
      });
    } else if (e->function) {
      for (const auto& s : e->function()) lines += e->name + label_set(e->function_labels, s.labels) + " " + number(s.value) + "\n";
    }
    // A family with no series yet is still described, so dashboards can see it exists.
    out += "# HELP " + e->name + " " + escape_help(e->help) + "\n";
    out += "# TYPE " + e->name + " " + e->type + "\n";
    out += lines;
  }
  return out;
}

}  // namespace sightline::metrics
