// The HTTP API: request in, response out. Every error becomes an application/problem+json
// response here and only here (problem_response()).
//
//   Api api(holder, service, log);
//   HttpResponse r = api.handle(request);
//
// Thread-safe: handle() may run on many threads at once.
#pragma once

#include "api/auth_gate.h"
#include "api/http.h"
#include "api/snapshot.h"
#include "core/error.h"
#include "core/log.h"
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

 private:
  // `user`: set to the caller's subject once they are known (for the request log).
  Result<HttpResponse> route(const HttpRequest& request, std::string& user);
  Result<HttpResponse> data_route(const HttpRequest& request, const Snapshot& snap, const auth::User& user);
  void add_security_headers(HttpResponse& response, const Snapshot* snap, bool tls) const;
  void log_failure(const HttpRequest& request, const std::string& user, const Error& error) const;
  Result<HttpResponse> query_widget(const HttpRequest& req, const Target& target, const Snapshot& snap, const query::QueryContext& ctx,
                                    const auth::User& user, const config::DashboardSpec& dash, const config::WidgetSpec& widget);
  Result<HttpResponse> filter_options(const HttpRequest& req, const Target& target, const Snapshot& snap, const query::QueryContext& ctx,
                                      const auth::User& user, const config::DashboardSpec& dash, const config::FilterSpec& filter);
  const SnapshotHolder& snapshots_;
  query::QueryService& service_;
  Logger& log_;
  std::span<const web::Asset> ui_assets_;
  mutable AuthGate gate_;
};

// HTTP status for an error kind.
int http_status(ErrorKind kind);
// 405 with an Allow header and a problem document.
HttpResponse method_not_allowed(const HttpRequest& req, const char* allow);
// RFC 9457 problem details for an error.
HttpResponse problem_response(const Error& error, const std::string& request_id);

// Largest request body the server reads (bytes).
inline constexpr size_t kMaxBodyBytes = 1 << 20;
// Deepest JSON nesting accepted in a request body.
inline constexpr int kMaxJsonDepth = 32;

}  // namespace sightline::api
