// Prometheus metrics (core/metrics.h): the text exposition format, label escaping, histograms'
// cumulative buckets; and the route templates that keep HTTP labels bounded (api/api.h).
// Debian's promtool checks a real server's output in tests/integration/metrics.test.mjs.
#include <gtest/gtest.h>

#include <thread>

#include "api/api.h"
#include "core/metrics.h"

namespace sightline {
namespace {

TEST(Metrics, CountersAndGaugesRenderWithHelpTypeAndLabels) {
  metrics::Registry r;
  auto& requests = r.counter("demo_requests_total", "Requests.", {"route", "code"});
  requests.with({"/a", "200"}).inc();
  requests.with({"/a", "200"}).inc(2);
  requests.with({"/b", "404"}).inc();
  r.gauge("demo_temperature", "A gauge.").with({}).set(-1.5);
  const std::string text = r.render();
  EXPECT_NE(text.find("# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("demo_requests_total{route=\"/a\",code=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("demo_requests_total{route=\"/b\",code=\"404\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE demo_temperature gauge\ndemo_temperature -1.5\n"), std::string::npos) << text;
}

TEST(Metrics, LabelValuesAreEscaped) {
  metrics::Registry r;
  r.counter("demo_total", "x", {"name"}).with({"a\"b\\c\nd"}).inc();
  EXPECT_NE(r.render().find(R"(demo_total{name="a\"b\\c\nd"} 1)"), std::string::npos) << r.render();
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  metrics::Registry r;
  auto& h = r.histogram("demo_seconds", "Latency.", {"route"}, {0.1, 1}).with({"/x"});
  h.observe(0.05);
  h.observe(0.1);  // on a bound: counted in that bucket (le = less or equal)
  h.observe(0.5);
  h.observe(7);
  const std::string text = r.render();
  EXPECT_NE(text.find("demo_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("demo_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("demo_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("demo_seconds_sum{route=\"/x\"} 7.65\n"), std::string::npos) << text;
  EXPECT_NE(text.find("demo_seconds_count{route=\"/x\"} 4\n"), std::string::npos) << text;
}

TEST(Metrics, FunctionsAreReadAtEachScrape) {
  metrics::Registry r;
  int calls = 0;
  r.gauge_function("demo_open", "x", {"kind"}, [&] {
    ++calls;
    return std::vector<metrics::Sample>{{{"a"}, static_cast<double>(calls)}};
  });
  r.counter_function("demo_done_total", "y", {}, [] { return std::vector<metrics::Sample>{{{}, 42}}; });
  EXPECT_NE(r.render().find("demo_open{kind=\"a\"} 1\n"), std::string::npos);
  const std::string second = r.render();
  EXPECT_NE(second.find("demo_open{kind=\"a\"} 2\n"), std::string::npos) << second;
  EXPECT_NE(second.find("# TYPE demo_done_total counter\ndemo_done_total 42\n"), std::string::npos) << second;
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
  metrics::Registry r;
  auto& family = r.counter("demo_total", "x", {"t"});
  auto& h = r.histogram("demo_seconds", "y", {}).with({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        family.with({std::to_string(t % 2)}).inc();
        h.observe(0.001 * (i % 7));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(family.with({"0"}).value() + family.with({"1"}).value(), 40000);
  EXPECT_EQ(h.count(), 40000u);
}

TEST(RouteTemplate, NamesRoutesWithPlaceholdersAndEverythingElseOther) {
  EXPECT_EQ(api::route_template("/"), "/");
  EXPECT_EQ(api::route_template("/healthz"), "/healthz");
  EXPECT_EQ(api::route_template("/metrics"), "/metrics");
  EXPECT_EQ(api::route_template("/d/sales"), "/d/{dashboard}");
  EXPECT_EQ(api::route_template("/assets/index-abc123.js"), "/assets/{file}");
  EXPECT_EQ(api::route_template("/auth/callback"), "/auth/callback");
  EXPECT_EQ(api::route_template("/api/v1/dashboards"), "/api/v1/dashboards");
  EXPECT_EQ(api::route_template("/api/v1/dashboards/sales"), "/api/v1/dashboards/{dashboard}");
  EXPECT_EQ(api::route_template("/api/v1/dashboards/sales/widgets/revenue/query"), "/api/v1/dashboards/{dashboard}/widgets/{widget}/query");
  EXPECT_EQ(api::route_template("/api/v1/dashboards/sales/filters/region/options"),
            "/api/v1/dashboards/{dashboard}/filters/{filter}/options");
  // Made-up paths never become labels of their own.
  EXPECT_EQ(api::route_template("/wp-admin/setup.php"), "other");
  EXPECT_EQ(api::route_template("/api/v1/dashboards/a/b/c/d/e/f"), "other");
  EXPECT_EQ(api::route_template("/api/v2/x"), "other");
  EXPECT_EQ(api::route_template("/d/sales/extra"), "other");
}

TEST(RouteTemplate, OnlyQueriesAreHeavy) {
  auto req = [](std::string method, std::string target) {
    api::HttpRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    return r;
  };
  EXPECT_TRUE(api::Api::is_heavy(req("POST", "/api/v1/dashboards/sales/widgets/revenue/query?format=csv")));
  EXPECT_TRUE(api::Api::is_heavy(req("GET", "/api/v1/dashboards/sales/filters/region/options?q=N")));
  EXPECT_FALSE(api::Api::is_heavy(req("GET", "/api/v1/dashboards/sales")));
  EXPECT_FALSE(api::Api::is_heavy(req("GET", "/assets/app.js")));
  EXPECT_FALSE(api::Api::is_heavy(req("GET", "/healthz")));
}

}  // namespace
}  // namespace sightline
