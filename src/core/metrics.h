// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4) that Prometheus scrapes.
//
//   metrics::Registry registry;
//   auto& requests = registry.counter("sightline_http_requests_total", "HTTP requests answered.", {"route", "code"});
//   requests.with({"/healthz", "200"}).inc();
//   registry.gauge_function("process_open_fds", "Open file descriptors.", {}, [] { return std::vector<metrics::Sample>{{{}, 12}}; });
//   std::string text = registry.render();
//
// Label values must come from a bounded set (the project's ids, route templates, status codes),
// never from user input: every distinct combination is a series kept for the process's life.
//
// Thread-safe: metrics are updated with atomics from any thread; with() and render() take a
// family's lock. A family's children live as long as the registry, so references from with()
// may be kept.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sightline::metrics {

class Counter {
 public:
  void inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets with upper bounds `bounds` (ascending) and +Inf.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket counts (not cumulative), the last one for +Inf; the sum and the count.
  std::vector<uint64_t> bucket_counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// Latency buckets in seconds, from 1 ms to 30 s.
std::vector<double> latency_buckets();

// A value computed when scraped (process memory, pool use), with its label values.
struct Sample {
  std::vector<std::string> labels;
  double value = 0;
};

template <class Metric>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}
  // The child for these label values (as many as the family's label names), made on first use.
  Metric& with(const std::vector<std::string>& values) {
    std::lock_guard lock(mutex_);
    auto& slot = children_[values];
    if (!slot) slot = make_();
    return *slot;
  }
  const std::vector<std::string>& label_names() const { return label_names_; }
  template <class Fn>
  void each(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [values, metric] : children_) fn(values, *metric);
  }

 private:
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<Metric>()> make_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering a name twice returns the first family (same kind expected).
  Family<Counter>& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                               std::vector<double> bounds = latency_buckets());
  // A gauge whose samples `fn` computes at each scrape. `fn` must be quick and must not block.
  void gauge_function(const std::string& name, const std::string& help, std::vector<std::string> labels,
                      std::function<std::vector<Sample>()> fn);

  // A counter whose samples `fn` reads at each scrape (a total kept elsewhere). Same rules.
  void counter_function(const std::string& name, const std::string& help, std::vector<std::string> labels,
                        std::function<std::vector<Sample>()> fn);

  // The text exposition of every metric, families in registration order.
  std::string render() const;

 private:
  struct Entry {
    std::string name, help, type;
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
    std::vector<std::string> function_labels;
    std::function<std::vector<Sample>()> function;
  };
  Entry* find(const std::string& name);
  void add_function(const std::string& name, const std::string& help, const char* type, std::vector<std::string> labels,
                    std::function<std::vector<Sample>()> fn);
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Escapes a label value for the exposition format (backslash, double quote, newline).
std::string escape_label_value(const std::string& v);

}  // namespace sightline::metrics
