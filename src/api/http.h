// Transport-neutral HTTP request/response, so handlers are testable without sockets and the
// API layer does not include Beast.
#pragma once

#include <cstdint>
#include <functional>
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

// An answer that stays open: after its header the server keeps writing what the handler pushes
// (Server-Sent Events: `text/event-stream`), until the client goes away or the server stops.
//
//   class Clock final : public EventStream {
//     Subscription start(Push push) override {
//       push("event: hello\ndata: {}\n\n");
//       return std::make_shared<Ticker>(std::move(push));  // pushes until destroyed
//     }
//   };
//   HttpResponse r;  r.events = std::make_shared<Clock>();
//
// The server calls start() once, after the header reached the socket, on its I/O thread (so
// start() must not block). `push` is thread-safe and cheap (it queues the chunk for the
// connection and returns): chunks are written in the order push() was called, one after the
// other; after the stream ended it does nothing, so a late call is harmless. The server keeps the
// returned subscription (and this object) while the stream is open and destroys both when it ends;
// after that, push() must not be called any more (a subscription whose destruction stops
// deliveries, e.g. a SourceBoard::Subscription, ensures it). If the stream never starts (the
// client left before the header was written), start() is not called and this object is destroyed.
class EventStream {
 public:
  using Push = std::function<void(std::string chunk)>;
  using Subscription = std::shared_ptr<void>;
  virtual ~EventStream() = default;
  virtual Subscription start(Push push) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // A body too large to hold in memory (a download of many rows), in a spool file: the server
  // sends it from there in pieces, with its length. `body` is then empty.
  std::shared_ptr<const SpooledBody> file_body;
  // An open event stream (status 200, no body): the server writes the header with
  // `Content-Type: text/event-stream`, `Cache-Control: no-store`, `X-Accel-Buffering: no`, no
  // length and `Connection: close`, then whatever the stream pushes (see EventStream).
  std::shared_ptr<EventStream> events;
  int64_t rows = -1;  // rows of data returned, for the request log (-1: not a data request)
  std::string log_user;  // who asked (the subject), for the request log; "" before sign-in
  // The route template that answered ("/api/v1/dashboards/{id}"), for metrics: from a fixed set,
  // never the raw path. "" counts as "other".
  std::string route;
};

}  // namespace sightline::api
