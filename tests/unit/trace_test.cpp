// Tracing (core/trace.h): W3C traceparent parsing, spans nested by context, sampling, the
// bounded export queue and the OTLP JSON encoding. Injected clock; export captured in memory.
// tests/integration/tracing.test.mjs checks the encoding against OpenTelemetry's own serializer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/trace.h"

namespace sightline {
namespace {

TEST(Traceparent, ParsesTheW3CFormatAndRefusesTheRest) {
  auto c = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->span_hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled);
  EXPECT_TRUE(c->remote);
  EXPECT_EQ(format_traceparent(*c), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->sampled);
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future")) << "later versions may add fields";
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        // no flags
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",         // zero trace id
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",         // zero span id
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",         // upper case
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",         // version ff
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",   // version 00 has no more
                          "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"})
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
}

struct Captured {
  std::vector<nlohmann::json> bodies;
  Tracer::Export exporter() {
    return [this](const std::string& body) {
      bodies.push_back(nlohmann::json::parse(body));
      return true;
    };
  }
  std::vector<nlohmann::json> spans() const {
    std::vector<nlohmann::json> out;
    for (const auto& b : bodies)
      for (const auto& rs : b["resourceSpans"])
        for (const auto& ss : rs["scopeSpans"])
          for (const auto& s : ss["spans"]) out.push_back(s);
    return out;
  }
};

TEST(Tracer, NestsSpansUnderTheirParentsAndEncodesOtlpJson) {
  Captured out;
  int64_t now = 1'700'000'000'000'000'000;
  Tracer tracer({.service_version = "9.9", .now_unix_ns = [&] { return now += 1000; }, .start_thread = false, .encoding = Tracer::Options::Encoding::Json}, out.exporter());
  auto caller = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  TraceContext request = tracer.start_trace(caller);
  EXPECT_EQ(request.trace_hex(), caller->trace_hex()) << "the caller's trace continues";
  {
    ScopedSpan statement(&tracer, request, "sightline.statement");
    statement.attr("sightline.rows", int64_t{12});
    statement.attr("sightline.cache", std::string("miss"));
    statement.attr("ratio", 0.5);
    statement.attr("ok", true);
    statement.fail("timeout");
  }
  tracer.flush();
  auto spans = out.spans();
  ASSERT_EQ(spans.size(), 1u);
  const auto& s = spans[0];
  EXPECT_EQ(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(s["parentSpanId"], request.span_hex());
  EXPECT_NE(s["spanId"], request.span_hex());
  EXPECT_EQ(s["name"], "sightline.statement");
  EXPECT_EQ(s["kind"], 1);
  EXPECT_EQ(s["startTimeUnixNano"], "1700000000000001000");
  EXPECT_EQ(s["endTimeUnixNano"], "1700000000000002000");
  EXPECT_EQ(s["attributes"][0], nlohmann::json::parse(R"({"key":"sightline.rows","value":{"intValue":12}})"));
  EXPECT_EQ(s["attributes"][2]["value"]["doubleValue"], 0.5);
  EXPECT_EQ(s["attributes"][3]["value"]["boolValue"], true);
  EXPECT_EQ(s["status"], nlohmann::json::parse(R"({"code":2,"message":"timeout"})"));
  EXPECT_EQ(s["flags"], 0x101) << "sampled, parent known to be local";
  EXPECT_EQ(out.bodies[0]["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"], "sightline");
}

TEST(Tracer, UnsampledTracesRecordNothingAndAFullQueueDropsAndCounts) {
  Captured out;
  Tracer none({.sample_ratio = 0.0, .start_thread = false, .encoding = Tracer::Options::Encoding::Json}, out.exporter());
  TraceContext t = none.start_trace(std::nullopt);
  EXPECT_FALSE(t.sampled);
  { ScopedSpan s(&none, t, "x"); }
  none.flush();
  EXPECT_TRUE(out.bodies.empty());

  Tracer small({.max_queue = 3, .batch = 2, .start_thread = false, .encoding = Tracer::Options::Encoding::Json}, out.exporter());
  TraceContext root = small.start_trace(std::nullopt);
  ASSERT_TRUE(root.sampled);
  for (int i = 0; i < 5; ++i) ScopedSpan s(&small, root, "s" + std::to_string(i));
  EXPECT_EQ(small.dropped(), 2u);
  small.flush();
  EXPECT_EQ(small.exported(), 3u);
  EXPECT_EQ(out.bodies.size(), 2u) << "batches of at most 2";
}

TEST(Tracer, AFailingCollectorIsCountedNotRetried) {
  Tracer t({.start_thread = false}, [](const std::string&) { return false; });
  TraceContext root = t.start_trace(std::nullopt);
  { ScopedSpan s(&t, root, "x"); }
  t.flush();
  EXPECT_EQ(t.failed(), 1u);
  EXPECT_EQ(t.exported(), 0u);
}

}  // namespace
}  // namespace sightline
