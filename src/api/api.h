// The HTTP API: request in, response out. Every error becomes an application/problem+json
// response here and only here (problem_response()).
//
//   Api api(holder, service, log);
//   HttpResponse r = api.handle(request);
//
// Thread-safe: handle() may run on many threads at once.
#pragma once

#include <atomic>
#include <optional>

#include <filesystem>

#include "api/auth_gate.h"
#include "arrow/batch_writer.h"
#include "api/http.h"
#include "api/snapshot.h"
#include "api/source_board.h"
#include "core/error.h"
#include "core/log.h"
#include "core/metrics.h"
#include "query/planner.h"
#include "query/service.h"
#include "query/widget_query.h"
#include "web/assets.h"

namespace sightline::api {

struct Target;

class Api {
 public:
  // `ui_assets`: the browser UI served at "/" (the embedded build by default; empty: the
  // placeholder page).
  Api(const SnapshotHolder& snapshots, query::QueryService& service, Logger& log,
      std::span<const web::Asset> ui_assets = web::embedded_assets());
  HttpResponse handle(const HttpRequest& request);
  // Health, readiness and metrics (GET/HEAD), which never wait for the engine: the server answers
  // them on its I/O thread, never behind queued queries. nullopt for every other request.
  std::optional<HttpResponse> handle_inline(const HttpRequest& request);
  // Whether a request runs queries (widget answers, filter options): it passes the server's
  // admission queue.
  static bool is_heavy(const HttpRequest& request);

  // Serves GET /metrics from `registry` to callers whose address is in one of `allow` (CIDR
  // blocks or addresses; empty: anyone), and records widget and cache metrics there. Call
  // before serving.
  // `on_this_port`: false when /metrics has a port of its own (see metrics_response).
  void enable_metrics(metrics::Registry& registry, std::vector<std::string> allow, bool on_this_port = true);
  // The /metrics answer for a request to the metrics port: the metrics (GET/HEAD /metrics, from
  // an allowed address), 403, 405 or 404. Only after enable_metrics.
  std::optional<HttpResponse> metrics_response(const HttpRequest& request) const;
  // Open event streams (GET /api/v1/events) allowed per caller and in all; beyond them the
  // stream is refused (429, 503). Call before serving (defaults: kMaxEventStreamsPerUser,
  // kMaxEventStreams).
  void set_event_stream_limits(size_t per_user, size_t total);
  // Widget queries are traced under each request's span (HttpRequest::trace). Call before serving.
  void enable_tracing(Tracer* tracer) { tracer_ = tracer; }
  // From now on /readyz answers 503 "draining" (shutdown began: load balancers stop sending).
  void set_draining() { draining_ = true; }
  // Where downloads are spooled (anonymous files; default: the system's temporary folder,
  // $TMPDIR). Call before serving.
  void set_spool_dir(std::filesystem::path dir) { spool_dir_ = std::move(dir); }
  // The most bytes downloads being prepared or sent may hold in spool files at once (null: no
  // limit). Call before serving.
  void set_spool_budget(std::shared_ptr<SpoolBudget> budget) { spool_budget_ = std::move(budget); }
  // The sources' freshness: data versions, refresh status and requests (the refresher, in
  // cli/refresher.h, does the work and reports here).
  SourceBoard& sources() { return sources_; }
  // $TMPDIR, else /tmp (never throws: a missing folder shows when a download is made).
  static std::filesystem::path default_spool_dir() {
    std::error_code ec;
    auto dir = std::filesystem::temp_directory_path(ec);
    return ec ? std::filesystem::path("/tmp") : dir;
  }

 private:
  // `user`: set to the caller's subject once they are known (for the request log).
  Result<HttpResponse> route(const HttpRequest& request, std::string& user);
  Result<HttpResponse> data_route(const HttpRequest& request, const Snapshot& snap, const auth::User& user);
  void add_security_headers(HttpResponse& response, const Snapshot* snap, bool tls) const;
  void log_failure(const HttpRequest& request, const std::string& user, const Error& error) const;
  Result<HttpResponse> query_widget(const HttpRequest& req, const Target& target, const Snapshot& snap, const query::QueryContext& ctx,
                                    const auth::User& user, const config::DashboardSpec& dash, const config::WidgetSpec& widget);
  // A widget query asking for more rows than engine.max_rows: every row up to
  // engine.max_export_rows, spooled to a file and sent from there (HttpResponse::file_body).
  Result<HttpResponse> download_widget(const HttpRequest& req, const Snapshot& snap, const query::QueryContext& ctx, const auth::User& user,
                                       const config::DashboardSpec& dash, const config::WidgetSpec& widget, arrow::Encoding encoding,
                                       query::QueryRequest request);
  Result<HttpResponse> filter_options(const HttpRequest& req, const Target& target, const Snapshot& snap, const query::QueryContext& ctx,
                                      const auth::User& user, const config::DashboardSpec& dash, const config::FilterSpec& filter);
  // GET /api/v1/sources[/{name}], POST /api/v1/sources/{name}/refresh (api/sources_api.cpp).
  // POST /api/v1/sources/{name}/rows (sources_api.cpp).
  Result<HttpResponse> ingest_rows(const HttpRequest& req, const Snapshot& snap, const config::SourceSpec& source, const auth::User& user);
  Result<HttpResponse> sources_route(const HttpRequest& req, const std::vector<std::string>& segments, const Snapshot& snap,
                                     const auth::User& user);
  // GET /api/v1/events?dashboard=ID: an open stream of the dashboard's data versions
  // (api/events_api.cpp).
  Result<HttpResponse> events_route(const HttpRequest& req, const std::string& dashboard, const Snapshot& snap, const auth::User& user);
  // The relation `widget` reads and the version of its data, as the request's context took it.
  std::pair<std::string, DataVersion> widget_data_version(const Snapshot& snap, const query::QueryContext& ctx, const config::DashboardSpec& dash,
                                  const config::WidgetSpec& widget);
  // Adds the version of the data `widget` reads (X-Sightline-Data-Relation, -Version, -As-Of) to
  // an answer or a download.
  void add_data_version(HttpResponse& response, const Snapshot& snap, const query::QueryContext& ctx, const config::DashboardSpec& dash,
                        const config::WidgetSpec& widget);
  const SnapshotHolder& snapshots_;
  query::QueryService& service_;
  Logger& log_;
  std::span<const web::Asset> ui_assets_;
  mutable AuthGate gate_;
  std::atomic<bool> draining_{false};
  metrics::Registry* metrics_ = nullptr;
  std::vector<std::string> metrics_allow_;
  bool metrics_here_ = false;  // served on the API's port
  Tracer* tracer_ = nullptr;
  std::filesystem::path spool_dir_ = default_spool_dir();
  std::shared_ptr<SpoolBudget> spool_budget_;
  metrics::Family<metrics::Histogram>* widget_seconds_ = nullptr;
  SourceBoard sources_;
  // Open event streams, per caller and in all (api/events_api.cpp has the limits).
  struct StreamCounts;
  static std::shared_ptr<StreamCounts> make_stream_counts();
  std::shared_ptr<StreamCounts> streams_ = make_stream_counts();
};

// The "data" block of a dashboard's description for `user`: the version of the relation it reads,
// whether a source it may read is failing to refresh, and whether the user may refresh it.
nlohmann::json dashboard_data_json(SourceBoard& board, const Snapshot& snap, const config::DashboardSpec& dash, const auth::User& user);

// The route template of a request path, for metrics: "/api/v1/dashboards/{dashboard}" and the
// like, "other" for paths the server does not serve (bounded label values).
std::string route_template(std::string_view path);

// HTTP status for an error kind.
int http_status(ErrorKind kind);
// 405 with an Allow header and a problem document.
HttpResponse method_not_allowed(const HttpRequest& req, const char* allow);
// RFC 9457 problem details for an error.
HttpResponse problem_response(const Error& error, const std::string& request_id);

// Open event streams (GET /api/v1/events, one per open dashboard) allowed per user and in all:
// each holds a socket for as long as the page is open, so a client must not be able to take them
// all. 8 per user covers a few tabs (browsers keep at most 6 HTTP/1.1 connections per site
// anyway); 1,000 in all stays well below the server's connection limit and the usual 1,024 open
// files.
inline constexpr size_t kMaxEventStreamsPerUser = 8;
inline constexpr size_t kMaxEventStreams = 1000;

// Largest request body the server reads (bytes).
inline constexpr size_t kMaxBodyBytes = 1 << 20;
// Deepest JSON nesting accepted in a request body.
inline constexpr int kMaxJsonDepth = 32;

}  // namespace sightline::api
