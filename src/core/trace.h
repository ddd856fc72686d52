// Distributed tracing: W3C trace context and spans exported over OTLP/HTTP, as binary protobuf
// (the protocol's default, which every collector and backend reads) or as JSON.
//
//   Tracer tracer({.sample_ratio = 0.1}, [&](const std::string& body) { return post(url, body); });
//   TraceContext request = tracer.start_trace(parse_traceparent(header));   // or a new trace
//   {
//     ScopedSpan span(&tracer, request, "engine.statement");
//     span.attr("sightline.statement", "sales/revenue");
//   }  // ended and queued here
//
// Export never blocks a request: finished spans go to a bounded queue (beyond it they are
// dropped and counted) that one background thread sends in batches. Unsampled traces record
// nothing. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace sightline {

struct TraceContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  bool sampled = false;
  bool remote = false;  // taken from a caller's traceparent (not made here)
  std::string trace_hex() const;
  std::string span_hex() const;
};

// A `traceparent` header (version 00: "00-<32 hex>-<16 hex>-<2 hex>", ids not all zero); nullopt
// when malformed.
std::optional<TraceContext> parse_traceparent(std::string_view header);
std::string format_traceparent(const TraceContext& context);

using AttributeValue = std::variant<std::string, int64_t, double, bool>;

struct SpanRecord {
  std::string name;
  TraceContext context;
  std::optional<TraceContext> parent;
  int kind = 1;  // OTLP: 1 internal, 2 server, 3 client
  int64_t start_unix_ns = 0;
  int64_t end_unix_ns = 0;
  std::vector<std::pair<std::string, AttributeValue>> attributes;
  bool error = false;
  std::string status_message;
};

class Tracer {
 public:
  struct Options {
    double sample_ratio = 1.0;  // of new traces; a caller's sampled flag is followed
    size_t max_queue = 2048;    // finished spans waiting for export; more are dropped
    size_t batch = 512;
    std::chrono::milliseconds interval{1000};
    std::string service_name = "sightline";
    std::string service_version;
    std::function<int64_t()> now_unix_ns;  // injected clock; default: the system clock
    bool start_thread = true;               // false in tests that call flush()
    // How request bodies are written: application/x-protobuf or application/json.
    enum class Encoding { Protobuf, Json } encoding = Encoding::Protobuf;
  };
  // Sends one OTLP/HTTP request body (an ExportTraceServiceRequest in the options' encoding);
  // false when it was not accepted.
  using Export = std::function<bool(const std::string& body)>;

  Tracer(Options options, Export exporter);
  ~Tracer();  // exports what is queued, then stops
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // A request's context: a child of `parent` (a caller's) or the root of a new trace.
  TraceContext start_trace(const std::optional<TraceContext>& parent);
  // A new span id in `parent`'s trace, with its sampling decision.
  TraceContext child_of(const TraceContext& parent);
  int64_t now_unix_ns() const;
  // Queues a finished span (sampled ones only).
  void finish(SpanRecord span);
  // Sends everything queued now (on the calling thread).
  void flush();

  uint64_t exported() const { return exported_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t failed() const { return failed_.load(); }

  // The OTLP/HTTP request for `spans` (ExportTraceServiceRequest) as JSON, and as binary protobuf
  // (opentelemetry/proto/collector/trace/v1; fields written in number order, defaults left out).
  static std::string encode_json(const std::vector<SpanRecord>& spans, const std::string& service_name, const std::string& service_version);
  static std::string encode_protobuf(const std::vector<SpanRecord>& spans, const std::string& service_name,
                                     const std::string& service_version);

 private:
  void run();
  std::array<uint8_t, 8> new_span_id();

  Options options_;
  Export exporter_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<SpanRecord> queue_;
  bool stopping_ = false;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
  std::mutex export_mutex_;  // one export at a time
  std::atomic<uint64_t> exported_{0}, dropped_{0}, failed_{0};
  std::thread thread_;
};

// A span from construction to destruction, child of `parent`; records nothing when `tracer` is
// null or the trace is not sampled. Not thread-safe (one span, one thread).
class ScopedSpan {
 public:
  ScopedSpan(Tracer* tracer, const std::optional<TraceContext>& parent, std::string name, int kind = 1);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;
  void attr(std::string key, AttributeValue value);
  void fail(std::string message);
  // This span's context, for its children (nullopt when not recording).
  std::optional<TraceContext> context() const;

 private:
  Tracer* tracer_;
  SpanRecord record_;
};

}  // namespace sightline
