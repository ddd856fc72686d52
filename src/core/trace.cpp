#include "core/trace.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace sightline {

namespace {

template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out(N * 2, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xF];
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}

template <size_t N>
bool from_hex(std::string_view text, std::array<uint8_t, N>& out) {
  if (text.size() != N * 2) return false;
  bool nonzero = false;
  for (size_t i = 0; i < N; ++i) {
    int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
    nonzero |= out[i] != 0;
  }
  return nonzero;
}

nlohmann::json attribute_json(const std::string& key, const AttributeValue& v) {
  nlohmann::json value;
  if (const auto* s = std::get_if<std::string>(&v))
    value = {{"stringValue", *s}};
  else if (const auto* i = std::get_if<int64_t>(&v))
    value = {{"intValue", *i}};  // a JSON number, as OpenTelemetry's own JSON serializer writes it
  else if (const auto* d = std::get_if<double>(&v))
    value = {{"doubleValue", *d}};
  else
    value = {{"boolValue", std::get<bool>(v)}};
  return {{"key", key}, {"value", value}};
}

// Protocol Buffers' wire format, as much as OTLP's trace messages need: varints, fixed 32/64-bit
// values, and length-delimited fields (strings, bytes, nested messages).
class ProtoWriter {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void tag(int field, int wire_type) { varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type)); }
  void varint_field(int field, uint64_t v) {
    tag(field, 0);
    varint(v);
  }
  void fixed64_field(int field, uint64_t v) {
    tag(field, 1);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void fixed32_field(int field, uint32_t v) {
    tag(field, 5);
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void double_field(int field, double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    fixed64_field(field, bits);
  }
  void bytes_field(int field, std::string_view bytes) {
    tag(field, 2);
    varint(bytes.size());
    out_.append(bytes);
  }
  // A nested message: written by `fill` into a writer of its own, then framed with its length.
  template <class Fill>
  void message_field(int field, Fill&& fill) {
    ProtoWriter inner;
    fill(inner);
    bytes_field(field, inner.out_);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

template <size_t N>
std::string_view raw(const std::array<uint8_t, N>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), N};
}

// common.v1.KeyValue {key = 1; AnyValue value = 2}; AnyValue {string 1, bool 2, int64 3, double 4}.
void key_value(ProtoWriter& w, const std::string& key, const AttributeValue& v) {
  w.bytes_field(1, key);
  w.message_field(2, [&](ProtoWriter& any) {
    if (const auto* s = std::get_if<std::string>(&v))
      any.bytes_field(1, *s);
    else if (const auto* b = std::get_if<bool>(&v))
      any.varint_field(2, *b ? 1 : 0);
    else if (const auto* i = std::get_if<int64_t>(&v))
      any.varint_field(3, static_cast<uint64_t>(*i));  // int64: two's complement as a varint
    else
      any.double_field(4, std::get<double>(v));
  });
}

// trace.v1.Span, field numbers as in opentelemetry/proto/trace/v1/trace.proto.
void span_message(ProtoWriter& w, const SpanRecord& s) {
  w.bytes_field(1, raw(s.context.trace_id));
  w.bytes_field(2, raw(s.context.span_id));
  if (s.parent) w.bytes_field(4, raw(s.parent->span_id));
  w.bytes_field(5, s.name);
  w.varint_field(6, static_cast<uint64_t>(s.kind));
  w.fixed64_field(7, static_cast<uint64_t>(s.start_unix_ns));
  w.fixed64_field(8, static_cast<uint64_t>(s.end_unix_ns));
  for (const auto& [k, v] : s.attributes) w.message_field(9, [&](ProtoWriter& kv) { key_value(kv, k, v); });
  if (s.error)
    w.message_field(15, [&](ProtoWriter& status) {
      status.bytes_field(2, s.status_message);
      status.varint_field(3, 2);  // STATUS_CODE_ERROR
    });
  else
    w.message_field(15, [](ProtoWriter&) {});  // STATUS_CODE_UNSET: an empty Status
  w.fixed32_field(16, (s.context.sampled ? 1u : 0u) | 0x100u | (s.parent && s.parent->remote ? 0x200u : 0u));
}

}  // namespace

std::string Tracer::encode_protobuf(const std::vector<SpanRecord>& spans, const std::string& service_name,
                                    const std::string& service_version) {
  ProtoWriter request;
  request.message_field(1, [&](ProtoWriter& resource_spans) {
    resource_spans.message_field(1, [&](ProtoWriter& resource) {
      resource.message_field(1, [&](ProtoWriter& kv) { key_value(kv, "service.name", service_name); });
      if (!service_version.empty()) resource.message_field(1, [&](ProtoWriter& kv) { key_value(kv, "service.version", service_version); });
    });
    resource_spans.message_field(2, [&](ProtoWriter& scope_spans) {
      scope_spans.message_field(1, [](ProtoWriter& scope) { scope.bytes_field(1, "sightline"); });
      for (const auto& s : spans) scope_spans.message_field(2, [&](ProtoWriter& span) { span_message(span, s); });
    });
  });
  return request.take();
}

std::string TraceContext::trace_hex() const { return to_hex(trace_id); }
std::string TraceContext::span_hex() const { return to_hex(span_id); }

std::optional<TraceContext> parse_traceparent(std::string_view h) {
  // version "00": exactly 55 characters; later versions may append fields after a dash.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  if (h.substr(0, 2) == "ff" || hex_digit(h[0]) < 0 || hex_digit(h[1]) < 0) return std::nullopt;
  if (h.substr(0, 2) == "00" && h.size() != 55) return std::nullopt;
  if (h.size() > 55 && h[55] != '-') return std::nullopt;
  TraceContext c;
  if (!from_hex(h.substr(3, 32), c.trace_id) || !from_hex(h.substr(36, 16), c.span_id)) return std::nullopt;
  int f1 = hex_digit(h[53]), f2 = hex_digit(h[54]);
  if (f1 < 0 || f2 < 0) return std::nullopt;
  c.sampled = ((f1 << 4 | f2) & 1) != 0;
  c.remote = true;
  return c;
}

std::string format_traceparent(const TraceContext& c) {
  return "00-" + c.trace_hex() + "-" + c.span_hex() + (c.sampled ? "-01" : "-00");
}

Tracer::Tracer(Options options, Export exporter)
    : options_(std::move(options)), exporter_(std::move(exporter)), rng_(std::random_device{}()) {
  if (!options_.now_unix_ns)
    options_.now_unix_ns = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    };
  if (options_.start_thread) thread_ = std::thread([this] { run(); });
}

Tracer::~Tracer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  flush();
}

int64_t Tracer::now_unix_ns() const { return options_.now_unix_ns(); }

std::array<uint8_t, 8> Tracer::new_span_id() {
  std::lock_guard lock(rng_mutex_);
  std::array<uint8_t, 8> id{};
  do {
    uint64_t v = rng_();
    for (int i = 0; i < 8; ++i) id[i] = static_cast<uint8_t>(v >> (8 * i));
  } while (id == std::array<uint8_t, 8>{});
  return id;
}

TraceContext Tracer::start_trace(const std::optional<TraceContext>& parent) {
  if (parent) return child_of(*parent);
  TraceContext c;
  {
    std::lock_guard lock(rng_mutex_);
    do {
      uint64_t a = rng_(), b = rng_();
      for (int i = 0; i < 8; ++i) {
        c.trace_id[i] = static_cast<uint8_t>(a >> (8 * i));
        c.trace_id[8 + i] = static_cast<uint8_t>(b >> (8 * i));
      }
    } while (c.trace_id == std::array<uint8_t, 16>{});
    c.sampled = std::uniform_real_distribution<double>(0, 1)(rng_) < options_.sample_ratio;
  }
  c.span_id = new_span_id();
  return c;
}

TraceContext Tracer::child_of(const TraceContext& parent) {
  TraceContext c = parent;
  c.span_id = new_span_id();
  c.remote = false;
  return c;
}

void Tracer::finish(SpanRecord span) {
  if (!span.context.sampled) return;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.max_queue) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(span));
    wake = queue_.size() >= options_.batch;
  }
  if (wake) wake_.notify_one();
}

void Tracer::flush() {
  std::lock_guard exporting(export_mutex_);
  for (;;) {
    std::vector<SpanRecord> batch;
    {
      std::lock_guard lock(mutex_);
      while (!queue_.empty() && batch.size() < options_.batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (batch.empty()) return;
    bool ok = false;
    try {
      ok = exporter_ && exporter_(options_.encoding == Options::Encoding::Json
                                      ? encode_json(batch, options_.service_name, options_.service_version)
                                      : encode_protobuf(batch, options_.service_name, options_.service_version));
    } catch (const std::exception&) {
      ok = false;
    }
    if (ok)
      exported_ += batch.size();
    else
      failed_ += batch.size();  // not retried: traces are best effort, requests come first
  }
}

void Tracer::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.interval, [&] { return stopping_ || queue_.size() >= options_.batch; });
    lock.unlock();
    flush();
    lock.lock();
  }
}

std::string Tracer::encode_json(const std::vector<SpanRecord>& spans, const std::string& service_name,
                               const std::string& service_version) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& s : spans) {
    nlohmann::json attributes = nlohmann::json::array();
    for (const auto& [k, v] : s.attributes) attributes.push_back(attribute_json(k, v));
    nlohmann::json span = {{"traceId", s.context.trace_hex()},
                           {"spanId", s.context.span_hex()},
                           {"name", s.name},
                           {"kind", s.kind},
                           {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
                           {"endTimeUnixNano", std::to_string(s.end_unix_ns)},
                           {"attributes", attributes},
                           {"droppedAttributesCount", 0},
                           {"events", nlohmann::json::array()},
                           {"droppedEventsCount", 0},
                           {"status", s.error ? nlohmann::json{{"code", 2}, {"message", s.status_message}} : nlohmann::json{{"code", 0}}},
                           {"links", nlohmann::json::array()},
                           {"droppedLinksCount", 0},
                           // W3C flags in the low byte; 0x100: whether the parent is remote is known; 0x200: it is.
                           {"flags", (s.context.sampled ? 1 : 0) | 0x100 | (s.parent && s.parent->remote ? 0x200 : 0)}};
    if (s.parent) span["parentSpanId"] = s.parent->span_hex();
    list.push_back(std::move(span));
  }
  nlohmann::json resource_attributes = nlohmann::json::array({attribute_json("service.name", service_name)});
  if (!service_version.empty()) resource_attributes.push_back(attribute_json("service.version", service_version));
  nlohmann::json body = {
      {"resourceSpans",
       nlohmann::json::array({{{"resource", {{"attributes", resource_attributes}, {"droppedAttributesCount", 0}}},
                               {"scopeSpans", nlohmann::json::array({{{"scope", {{"name", "sightline"}}}, {"spans", list}}})}}})}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ScopedSpan::ScopedSpan(Tracer* tracer, const std::optional<TraceContext>& parent, std::string name, int kind)
    : tracer_(tracer && parent && parent->sampled ? tracer : nullptr) {
  if (!tracer_) return;
  record_.name = std::move(name);
  record_.kind = kind;
  record_.parent = parent;
  record_.context = tracer_->child_of(*parent);
  record_.start_unix_ns = tracer_->now_unix_ns();
}

ScopedSpan::~ScopedSpan() {
  if (!tracer_) return;
  record_.end_unix_ns = tracer_->now_unix_ns();
  tracer_->finish(std::move(record_));
}

void ScopedSpan::attr(std::string key, AttributeValue value) {
  if (tracer_) record_.attributes.emplace_back(std::move(key), std::move(value));
}

void ScopedSpan::fail(std::string message) {
  if (!tracer_) return;
  record_.error = true;
  record_.status_message = std::move(message);
}

std::optional<TraceContext> ScopedSpan::context() const {
  if (!tracer_) return std::nullopt;
  return record_.context;
}

}  // namespace sightline
