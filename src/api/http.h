// Transport-neutral HTTP request/response, so handlers are testable without sockets and the
// API layer does not include Beast.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cancel.h"
#include "core/spool.h"
#include "core/trace.h"

namespace sightline::api {

struct HttpRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // path and query string, as received
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string request_id;
  std::string peer;  // the client's address as the socket sees it (a proxy's, behind one)
  bool tls = false;  // arrived over Sightline's own TLS
  // Cancelled by the server when the client hangs up before the answer (a browser aborting a
  // superseded request closes its connection), so the request's queries stop; null when the
  // connection cannot be watched (TLS served by Sightline itself).
  std::shared_ptr<Cancellation> cancel;
  // The request's span when tracing is on (the server's root span; see core/trace.h).
  std::optional<TraceContext> trace;

  // The first header named `name` (lower-case), or "".
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // A body too large to hold in memory (a download of many rows), in a spool file: the server
  // sends it from there in pieces, with its length. `body` is then empty.
  std::shared_ptr<const SpooledBody> file_body;
  int64_t rows = -1;  // rows of data returned, for the request log (-1: not a data request)
  std::string log_user;  // who asked (the subject), for the request log; "" before sign-in
  // The route template that answered ("/api/v1/dashboards/{id}"), for metrics: from a fixed set,
  // never the raw path. "" counts as "other".
  std::string route;
};

}  // namespace sightline::api
